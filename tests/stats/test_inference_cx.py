"""t-tests, Friedman, correlations, normality, NPS, CSAT and SERVQUAL against R reference values."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from patron.stats import (
    StatsInputError,
    correlation_matrix,
    csat,
    friedman,
    independent_t,
    normality,
    nps,
    one_sample_t,
    paired_t,
    servqual,
    servqual_change,
)

# R's `sleep` data (Cushny & Peebles 1905): extra sleep with drug 1 and drug 2, ten patients.
SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_welch_t_matches_r_sleep():
    # R: t.test(extra ~ group, data = sleep)
    # t = -1.8608, df = 17.776, p-value = 0.07939; 95 % CI -3.3654832 0.2054832
    df = pd.DataFrame({"extra": SLEEP_1 + SLEEP_2, "group": ["1"] * 10 + ["2"] * 10})
    res = independent_t(df, "extra", "group")
    assert res.t == pytest.approx(-1.8608, abs=5e-5)
    assert res.df == pytest.approx(17.776, abs=5e-4)
    assert res.pvalue == pytest.approx(0.07939, abs=5e-6)
    assert (res.ci_low, res.ci_high) == pytest.approx((-3.3654832, 0.2054832), abs=1e-7)


def test_student_t_matches_scipy():
    df = pd.DataFrame({"extra": SLEEP_1 + SLEEP_2, "group": ["1"] * 10 + ["2"] * 10})
    res = independent_t(df, "extra", "group", equal_var=True)
    ref = stats.ttest_ind(SLEEP_1, SLEEP_2)
    assert res.t == pytest.approx(ref.statistic) and res.df == 18


def test_paired_t_matches_r_sleep():
    # R: t.test(sleep$extra[1:10], sleep$extra[11:20], paired = TRUE)
    # t = -4.0621, df = 9, p-value = 0.002833; 95 % CI -2.4598858 -0.7001142; mean difference -1.58
    res = paired_t(pd.DataFrame({"a": SLEEP_1, "b": SLEEP_2}), "a", "b")
    assert res.t == pytest.approx(-4.0621, abs=5e-5)
    assert res.df == 9
    assert res.pvalue == pytest.approx(0.002833, abs=5e-7)
    assert (res.ci_low, res.ci_high) == pytest.approx((-2.4598858, -0.7001142), abs=1e-7)


def test_one_sample_t_against_midpoint_equals_paired_differences():
    # The paired test is a one-sample test of the differences against 0 (same R output as above).
    diff = np.array(SLEEP_1) - np.array(SLEEP_2)
    row = one_sample_t(pd.DataFrame({"d": diff}), mu=0).loc["d"]
    assert row["t"] == pytest.approx(-4.0621, abs=5e-5)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((-2.4598858, -0.7001142), abs=1e-7)
    # Against the Likert midpoint 3: CI of (mean - 3).
    likert = pd.DataFrame({"loyalty": [4, 5, 4, 3, 4, 5, 4, 4]})
    row = one_sample_t(likert, mu=3).loc["loyalty"]
    ref = stats.ttest_1samp(likert["loyalty"], 3)
    assert row["t"] == pytest.approx(ref.statistic) and row["pvalue"] == pytest.approx(ref.pvalue)
    ci = ref.confidence_interval()
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low - 3, ci.high - 3))


ROUNDING_TIMES = np.array(
    # R: datasets in ?friedman.test (Hollander & Wolfe 1973, p. 140): "round out", "narrow angle",
    # "wide angle" for 22 baseball players.
    [[5.40, 5.50, 5.55], [5.85, 5.70, 5.75], [5.20, 5.60, 5.50], [5.55, 5.50, 5.40], [5.90, 5.85, 5.70],
     [5.45, 5.55, 5.60], [5.40, 5.40, 5.35], [5.45, 5.50, 5.35], [5.25, 5.15, 5.00], [5.85, 5.80, 5.70],
     [5.25, 5.20, 5.10], [5.65, 5.55, 5.45], [5.60, 5.35, 5.45], [5.05, 5.00, 4.95], [5.50, 5.50, 5.40],
     [5.45, 5.55, 5.50], [5.55, 5.55, 5.35], [5.45, 5.50, 5.55], [5.50, 5.45, 5.25], [5.65, 5.60, 5.40],
     [5.70, 5.65, 5.55], [6.30, 6.30, 6.25]]
)  # fmt: skip


def test_friedman_matches_r_rounding_times():
    # R: friedman.test(RoundingTimes) -> Friedman chi-squared = 11.143, df = 2, p-value = 0.003805
    res = friedman(pd.DataFrame(ROUNDING_TIMES, columns=["round_out", "narrow", "wide"]))
    assert res.chi2 == pytest.approx(11.143, abs=5e-4)
    assert res.df == 2
    assert res.pvalue == pytest.approx(0.003805, abs=5e-7)
    # Kendall's W = chi2 / (n (k - 1)) = 0.2532468 (R: as.numeric(ft$statistic) / (22 * 2)).
    assert res.kendall_w == pytest.approx(0.2532468, abs=1e-7)
    assert res.ranking.index.tolist() == ["round_out", "narrow", "wide"]
    assert res.ranking["mean_rank"].sum() == pytest.approx(6.0)  # k(k+1)/2


def test_friedman_bad_input():
    with pytest.raises(StatsInputError, match="at least three"):
        friedman(pd.DataFrame({"a": [1, 2], "b": [2, 1]}))
    with pytest.raises(StatsInputError, match="same value"):
        friedman(pd.DataFrame({"a": [1, 1], "b": [1, 1], "c": [1, 1]}))


def test_correlation_matrix_pvalues():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    x[:, 1] += x[:, 0]
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    res = correlation_matrix(df)
    ref = stats.pearsonr(df["a"], df["b"])
    assert res.r.loc["a", "b"] == pytest.approx(ref.statistic)
    assert res.pvalue.loc["a", "b"] == pytest.approx(ref.pvalue)
    sp = correlation_matrix(df, method="spearman")
    assert sp.r.loc["a", "c"] == pytest.approx(stats.spearmanr(df["a"], df["c"]).statistic)
    assert len(res.to_frame()) == 3


def test_normality_columns_and_values():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"normal": rng.normal(size=300), "skewed": rng.exponential(size=300)})
    res = normality(df)
    mc = normality(df, lilliefors="monte_carlo", n_resamples=4999, seed=1)
    # The analytic approximation agrees with the Monte Carlo Lilliefors p-value.
    assert res["lilliefors_pvalue"].to_numpy() == pytest.approx(mc["lilliefors_pvalue"].to_numpy(), abs=0.03)
    x = df["skewed"]
    ks = stats.kstest(x, "norm", args=(x.mean(), x.std(ddof=1)))
    assert res.loc["skewed", "ks_stat"] == pytest.approx(ks.statistic)
    assert res.loc["skewed", "shapiro_w"] == pytest.approx(stats.shapiro(x).statistic)
    assert res.loc["skewed", "lilliefors_pvalue"] < 0.01
    assert res.loc["normal", "lilliefors_pvalue"] > 0.01
    # Lilliefors' critical D at n = 300, alpha = .05 is about 0.886 / sqrt(n) = 0.0512 (Lilliefors 1967):
    # the corrected p-value is always smaller than the uncorrected KS p-value.
    assert (res["lilliefors_pvalue"] <= res["ks_pvalue"] + 1e-3).all()


def test_normality_is_reproducible_with_a_seed():
    df = pd.DataFrame({"x": np.random.default_rng(2).normal(size=40)})
    first = normality(df, lilliefors="monte_carlo", n_resamples=199, seed=5)
    assert first.equals(normality(df, lilliefors="monte_carlo", n_resamples=199, seed=5))


@pytest.mark.parametrize(
    ("n", "d_05", "d_01"),
    # Lilliefors (1967), Table 1: critical D at the 5 % and 1 % levels.
    [(10, 0.258, 0.294), (20, 0.190, 0.231), (30, 0.161, 0.187)],
)
def test_lilliefors_approximation_reproduces_the_critical_values(n, d_05, d_01):
    from patron.stats.inference import lilliefors_pvalue

    # Lilliefors' table came from 1,000 simulated samples; Dallal & Wilkinson (1986) found it slightly off,
    # so their approximation is held to within 0.01 (5 %) and 0.005 (1 %) of the nominal level.
    assert lilliefors_pvalue(d_05, n) == pytest.approx(0.05, abs=0.01)
    assert lilliefors_pvalue(d_01, n) == pytest.approx(0.01, abs=0.005)


# ---------------------------------------------------------------- NPS, CSAT, SERVQUAL


def test_nps_and_its_interval():
    answers = [10] * 50 + [8] * 30 + [3] * 20  # 50 % promoters, 20 % detractors
    res = nps(pd.DataFrame({"r": answers}), "r")
    assert res.nps == pytest.approx(30.0)
    assert (res.promoters, res.passives, res.detractors) == (50, 30, 20)
    # Var = (pP + pD - (pP - pD)^2) / n = (0.5 + 0.2 - 0.09) / 100
    se = np.sqrt(0.61 / 100)
    assert res.ci_low == pytest.approx(100 * (0.3 - 1.959964 * se), abs=1e-4)


@pytest.mark.parametrize("bad", [[11, 9], [9.5, 9], [-1, 9]])
def test_nps_refuses_out_of_scale(bad):
    with pytest.raises(StatsInputError, match="0 to 10"):
        nps(pd.DataFrame({"r": bad}), "r")


def test_csat_wilson_interval():
    res = csat(pd.DataFrame({"s": [5] * 40 + [4] * 40 + [2] * 20}), "s")
    assert res.csat == pytest.approx(80.0)
    # Wilson 95 % interval for 80/100: 0.7112 to 0.8666 (Newcombe 1998, method 3).
    assert (res.ci_low, res.ci_high) == pytest.approx((71.12, 86.66), abs=0.01)


def _servqual_wave(shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 120
    cols = {}
    for d in range(5):
        for i in range(2):
            cols[f"e{d}{i}"] = np.clip(np.round(rng.normal(4.4, 0.5, n)), 1, 5)
            cols[f"p{d}{i}"] = np.clip(np.round(rng.normal(3.4 + shift, 0.7, n)), 1, 5)
    return pd.DataFrame(cols)


DIMENSIONS = {
    name: [(f"e{d}{i}", f"p{d}{i}") for i in range(2)]
    for d, name in enumerate(["tangibles", "reliability", "responsiveness", "assurance", "empathy"])
}


def test_servqual_gaps_and_weighted_score():
    wave = _servqual_wave(0.0, seed=1)
    weights = {"tangibles": 10, "reliability": 30, "responsiveness": 25, "assurance": 20, "empathy": 15}
    res = servqual(wave, DIMENSIONS, weights=weights)
    gap = (wave["p00"] - wave["e00"]).mean()
    assert res.items.loc["p00-e00", "gap"] == pytest.approx(gap)
    tangibles = ((wave["p00"] - wave["e00"]) + (wave["p01"] - wave["e01"])).mean() / 2
    assert res.dimensions.loc["tangibles", "gap"] == pytest.approx(tangibles)
    assert res.dimensions["weight"].sum() == pytest.approx(1.0)
    assert res.weighted_score == pytest.approx((res.dimensions["gap"] * res.dimensions["weight"]).sum())
    assert res.score < 0  # expectations exceed perceptions in this simulation


def test_servqual_wave_to_wave_change_is_detected():
    before = servqual(_servqual_wave(0.0, seed=1), DIMENSIONS)
    after = servqual(_servqual_wave(0.5, seed=2), DIMENSIONS)
    change = servqual_change(before, after)
    assert change.loc["overall", "change"] > 0.3
    assert change.loc["overall", "pvalue"] < 1e-6
    same = servqual_change(before, servqual(_servqual_wave(0.0, seed=3), DIMENSIONS))
    assert same.loc["overall", "pvalue"] > 0.01


def test_servqual_bad_input():
    with pytest.raises(StatsInputError, match="'p99'"):
        servqual(_servqual_wave(0, 1), {"tangibles": [("e00", "p99")]})
    with pytest.raises(StatsInputError, match="no weight"):
        servqual(_servqual_wave(0, 1), DIMENSIONS, weights={"tangibles": 1})
