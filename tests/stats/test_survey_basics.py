"""Descriptives, sample size, content validity and reliability against published reference values."""

import numpy as np
import pandas as pd
import pytest

from patron.stats import (
    StatsInputError,
    average_variance_extracted,
    cochran_sample_size,
    composite_reliability,
    construct_scores,
    content_validity,
    cronbach_alpha,
    describe,
    frequencies,
    krejcie_morgan_sample_size,
    lawshe_critical_value,
    mcdonald_omega,
)

# ---------------------------------------------------------------- descriptives


def test_describe_matches_hand_computed_values():
    df = pd.DataFrame({"q": [1, 2, 2, 3, 3, 3, 4, 5]})
    row = describe(df).loc["q"]
    assert row["n"] == 8
    assert row["mean"] == pytest.approx(2.875)
    assert row["variance"] == pytest.approx(np.var(df["q"], ddof=1))
    assert row["sd"] == pytest.approx(np.std(df["q"], ddof=1))
    assert (row["min"], row["max"], row["range"], row["median"], row["mode"]) == (1, 5, 4, 3, 3)
    # Bias-corrected G1/G2 (SPSS, Excel SKEW/KURT): computed from the textbook formulas.
    x = df["q"].to_numpy(float)
    n, m, s = len(x), x.mean(), x.std(ddof=1)
    g1 = n / ((n - 1) * (n - 2)) * np.sum(((x - m) / s) ** 3)
    g2 = n * (n + 1) / ((n - 1) * (n - 2) * (n - 3)) * np.sum(((x - m) / s) ** 4) - 3 * (n - 1) ** 2 / (
        (n - 2) * (n - 3)
    )
    assert row["skew"] == pytest.approx(g1)
    assert row["kurtosis"] == pytest.approx(g2)


def test_frequencies_reproduce_the_gender_table_of_study_1():
    # Study §1 (seeds/000), Table "Gender": Male 59 33.9 33.9, Female 115 66.1 100, Total 174.
    df = pd.DataFrame(
        {"gender": pd.Categorical(["Male"] * 59 + ["Female"] * 115, ["Male", "Female"], ordered=True)}
    )
    table = frequencies(df, "gender")
    assert table["count"].tolist() == [59, 115]
    assert table["percent"].round(1).tolist() == [33.9, 66.1]
    assert table["cumulative_percent"].round(1).tolist() == [33.9, 100.0]


def test_construct_scores_mean_and_sum():
    df = pd.DataFrame({"a1": [1, 5], "a2": [3, 5], "b1": [2, 2]})
    scores = construct_scores(df, {"a": ["a1", "a2"], "b": ["b1"]}, method="sum")
    assert scores["a"].tolist() == [4, 10]


# ---------------------------------------------------------------- sample size


def test_cochran_checks_the_study_figure():
    # Study §1: n = (1.96 * 0.5)**2 / 0.074**2 "≅ 174". The formula gives 175.38 -> 176 when rounded up;
    # with z = 1.96 exactly: 0.9604 / 0.005476 = 175.38. The study's 174 is a slight understatement.
    result = cochran_sample_size(margin=0.074)
    assert result.n_exact == pytest.approx(0.9604 / 0.005476, rel=1e-4)
    assert result.n == 176
    # Textbook value: 385 at +/- 5 % and 95 % confidence (Cochran 1977).
    assert cochran_sample_size(margin=0.05).n == 385
    # Finite-population correction: n0 / (1 + (n0 - 1) / N), N = 1,000 -> 278.
    assert cochran_sample_size(margin=0.05, population=1000).n == 278


@pytest.mark.parametrize(
    ("population", "expected"),
    # Krejcie & Morgan (1970), Table 1.
    [
        (10, 10),
        (50, 44),
        (100, 80),
        (200, 132),
        (500, 217),
        (1000, 278),
        (5000, 357),
        (10000, 370),
        (20000, 377),
        (50000, 381),
        (75000, 382),
        (1000000, 384),
    ],
)
def test_krejcie_morgan_table(population, expected):
    assert krejcie_morgan_sample_size(population).n == expected


@pytest.mark.parametrize("bad", [0, 1, -0.1, 1.5])
def test_sample_size_rejects_bad_margin(bad):
    with pytest.raises(StatsInputError, match="margin"):
        cochran_sample_size(margin=bad)


# ---------------------------------------------------------------- content validity


@pytest.mark.parametrize(
    ("n", "critical"),
    # Lawshe (1975), Table 1 (one-tailed p = .05).
    [(5, 0.99), (8, 0.75), (9, 0.78), (10, 0.62), (15, 0.49), (20, 0.42), (40, 0.29)],
)
def test_lawshe_table(n, critical):
    assert lawshe_critical_value(n) == critical


@pytest.mark.parametrize(
    ("n", "critical"),
    # Ayre & Scally (2014), Table 2: exact binomial critical CVR.
    [(5, 1.0), (8, 0.75), (10, 0.8), (15, 0.6), (20, 0.5), (40, 0.3)],
)
def test_exact_critical_values(n, critical):
    assert lawshe_critical_value(n, method="exact") == pytest.approx(critical)


def test_cvr_of_study_1():
    # Study §1: CVR 0.8 with 10 experts > 0.62 critical -> the item is kept.
    votes = pd.DataFrame({"q1": ["essential"] * 9 + ["useful"], "q2": ["essential"] * 7 + ["useful"] * 3})
    result = content_validity(votes, essential="essential")
    assert result.items.loc["q1", "cvr"] == pytest.approx(0.8)
    assert result.critical == 0.62
    assert result.items["retained"].tolist() == [True, False]
    assert result.cvi == pytest.approx(0.8)


def test_cvr_with_missing_votes_is_refused():
    votes = pd.DataFrame({"q1": [1, 1, None, 1, 1, 1, 1, 1, 1, 1]})
    with pytest.raises(StatsInputError, match="q1"):
        content_validity(votes)


def test_cvi_undefined_is_a_documented_warning():
    votes = pd.DataFrame({"q1": [1] * 5 + [0] * 5})
    result = content_validity(votes)
    assert np.isnan(result.cvi) and result.warnings


# ---------------------------------------------------------------- reliability


def test_alpha_matches_psych_on_holzinger_swineford(hs):
    # R psych::alpha(HolzingerSwineford1939[, c("x1","x2","x3")])$total$raw_alpha = 0.6261171319;
    # textual 0.8827069129, speed 0.6884550230 (values published with lavaan/semTools HS examples).
    assert cronbach_alpha(hs, ["x1", "x2", "x3"]).alpha == pytest.approx(0.6261171319, abs=1e-9)
    assert cronbach_alpha(hs, ["x4", "x5", "x6"]).alpha == pytest.approx(0.8827069129, abs=1e-9)
    assert cronbach_alpha(hs, ["x7", "x8", "x9"]).alpha == pytest.approx(0.6884550230, abs=1e-9)


def test_alpha_feldt_ci_and_item_deleted(hs):
    res = cronbach_alpha(hs, ["x4", "x5", "x6"])
    # Feldt (1965) interval from the F distribution, df1 = n - 1, df2 = (n - 1)(k - 1).
    from scipy import stats

    n, k = 301, 3
    assert res.ci_low == pytest.approx(1 - (1 - res.alpha) * stats.f.ppf(0.975, n - 1, (n - 1) * (k - 1)))
    assert res.ci_low < res.alpha < res.ci_high
    # Alpha if x4 is deleted = alpha of (x5, x6).
    assert res.items.loc["x4", "alpha_if_deleted"] == pytest.approx(cronbach_alpha(hs, ["x5", "x6"]).alpha)


def test_cr_and_ave_from_standardised_loadings():
    # Fornell & Larcker (1981) formulas; HS visual std loadings (lavaan std.all) .772 .424 .581:
    # AVE = (.772² + .424² + .581²) / 3 = 0.3711 (semTools::AVE 0.3706 from unrounded loadings).
    assert average_variance_extracted([0.772, 0.424, 0.581]) == pytest.approx(0.3711, abs=5e-4)
    # CR = (0.7 + 0.8 + 0.9)² / ((0.7 + 0.8 + 0.9)² + (0.51 + 0.36 + 0.19)) = 5.76 / 6.82
    assert composite_reliability([0.7, 0.8, 0.9]) == pytest.approx(5.76 / 6.82)


def test_omega_matches_semtools(hs):
    # semTools::compRelSEM(cfa(HS.model, HolzingerSwineford1939)) (obs.var = TRUE):
    # visual 0.6120051511, textual 0.8850607732, speed 0.6858416922. One-factor models per construct
    # give the same loadings/variances as the three-factor CFA here only approximately, so the test uses
    # the single-construct omega on textual, whose block is nearly independent of the others.
    res = mcdonald_omega(hs, ["x4", "x5", "x6"])
    # A three-indicator one-factor model is saturated: omega_observed = model-implied omega exactly.
    assert res.omega == pytest.approx(res.omega_observed, abs=1e-6)
    assert res.omega == pytest.approx(0.8850607732, abs=5e-3)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"a": [1, 2, 3], "b": [3, 3, 3]}), "'b' is constant"),
        (pd.DataFrame({"a": [1, 2, 3], "b": [1, None, 3]}), "'b' has 1 missing"),
        (pd.DataFrame({"a": [1, 2, 3], "b": ["1", "x", "3"]}), "'b' has non-numeric cells"),
        (pd.DataFrame({"a": [1, 2], "b": [2, 1]}), "at least 3 complete rows"),
        (pd.DataFrame({"a": [1, 2, 3]}), "at least two items"),
    ],
)
def test_alpha_bad_input(frame, message):
    with pytest.raises(StatsInputError, match=message):
        cronbach_alpha(frame)


def test_error_names_the_column():
    with pytest.raises(StatsInputError) as info:
        cronbach_alpha(pd.DataFrame({"a": [1, 2, 3], "loyalty_3": [2, 2, 2]}))
    assert info.value.column == "loyalty_3"
    assert isinstance(info.value, ValueError)
