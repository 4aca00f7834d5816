"""survey analysis: lavaan's HS figures through analyze(), a planted 3-construct model, missing answers, CX
sections and bad input."""

import json

import numpy as np
import pandas as pd
import pytest

from patron.stats import ModelSpecificationError, StatsInputError
from patron.surveys.analysis import METHODS, THRESHOLDS, AnalysisSpec, analyze, passes
from tests.stats.conftest import DATA, HS_MODEL

ESTIMATE_COLUMNS = ["lhs", "op", "rhs", "est", "se", "z", "pvalue", "std_all"]


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return pd.read_csv(DATA / "HolzingerSwineford1939.csv", index_col=0)


@pytest.fixture(scope="module")
def hs_result(hs):
    return analyze(hs, AnalysisSpec(HS_MODEL, title="Holzinger & Swineford"))


# lavaan 0.6: cfa(HS.model, data = HolzingerSwineford1939); summary(fit, fit.measures = TRUE) -- the lavaan
# tutorial "cfa" page (lavaan.ugent.be/tutorial/cfa.html), as quoted in tests/stats/test_cbsem.py.
LAVAAN_HS_FIT = {
    "chi2": 85.306,
    "df": 24,
    "cfi": 0.931,
    "tli": 0.896,
    "rmsea": 0.092,
    "srmr": 0.065,
    "rmsea_ci_low": 0.071,
    "rmsea_ci_high": 0.114,
    "aic": 7517.490,
    "bic": 7595.339,
}


@pytest.mark.parametrize(("key", "value"), LAVAAN_HS_FIT.items())
def test_hs_fit_matches_lavaan(hs_result, key, value):
    assert hs_result["fit"][key] == pytest.approx(value, abs=0.0005 + 1e-9)


def test_hs_result_shape(hs_result, hs):
    assert hs_result["method"] == "cb-sem"
    assert hs_result["n"] == len(hs) == 301
    assert hs_result["n_dropped"] == 0
    assert hs_result["converged"] is True
    assert set(hs_result["fit"]) >= {
        "chi2",
        "df",
        "pvalue",
        "chi2_df",
        "rmsea",
        "rmsea_ci_low",
        "rmsea_ci_high",
        "cfi",
        "tli",
        "srmr",
        "gfi",
        "agfi",
        "nfi",
        "ifi",
        "aic",
        "bic",
    }
    assert hs_result["fit"]["chi2_df"] == pytest.approx(85.306 / 24, abs=1e-3)
    for row in hs_result["estimates"]:
        assert list(row)[:8] == ESTIMATE_COLUMNS
    # lavaan: visual =~ x2  0.554  0.100  5.554  std.all 0.424
    x2 = next(r for r in hs_result["estimates"] if (r["lhs"], r["op"], r["rhs"]) == ("visual", "=~", "x2"))
    assert (x2["est"], x2["se"], x2["z"], x2["std_all"]) == pytest.approx(
        (0.554, 0.100, 5.554, 0.424), abs=5e-4
    )
    # The marker loading is fixed: no standard error, reported as None (never NaN).
    x1 = next(r for r in hs_result["estimates"] if (r["lhs"], r["op"], r["rhs"]) == ("visual", "=~", "x1"))
    assert x1["est"] == 1.0 and x1["se"] is None and x1["pvalue"] is None
    json.dumps(hs_result, allow_nan=False)


def test_hs_reliability_and_validity(hs_result):
    rel = hs_result["reliability"]
    assert set(rel) == {"visual", "textual", "speed"}
    assert set(rel["visual"]) == {"alpha", "omega", "cr", "ave"}
    # R psych::alpha on x1-x3 / x4-x6 / x7-x9 (raw alpha), as quoted in tests/stats/test_cbsem.py.
    assert [rel[c]["alpha"] for c in ("visual", "textual", "speed")] == pytest.approx(
        [0.6261171319, 0.8827069129, 0.6884550230], abs=1e-9
    )
    # semTools::compRelSEM omega: 0.612 / 0.885 / 0.686.
    assert [rel[c]["omega"] for c in ("visual", "textual", "speed")] == pytest.approx(
        [0.612, 0.885, 0.686], abs=1e-3
    )
    fl = hs_result["validity"]["fornell_larcker"]
    # diagonal sqrt(AVE); below it lavaan's latent correlations (std.all of visual ~~ textual: 0.459)
    assert fl["visual"]["visual"] == pytest.approx(np.sqrt(rel["visual"]["ave"]))
    assert fl["textual"]["visual"] == pytest.approx(0.459, abs=5e-4)
    assert fl["speed"]["textual"] == pytest.approx(0.283, abs=5e-4)
    assert fl["visual"]["textual"] is None
    assert hs_result["validity"]["htmt"]["visual"]["textual"] == pytest.approx(
        hs_result["validity"]["htmt"]["textual"]["visual"]
    )
    assert hs_result["r2"] == {}  # a CFA has no endogenous constructs


def test_hs_survey_tables(hs_result, hs):
    items = {row["item"]: row for row in hs_result["descriptives"]["items"]}
    assert items["x1"]["mean"] == pytest.approx(hs["x1"].mean())
    assert items["x1"]["sd"] == pytest.approx(hs["x1"].std(ddof=1))
    assert items["x1"]["construct"] == "visual"
    constructs = {row["construct"]: row for row in hs_result["descriptives"]["constructs"]}
    assert constructs["speed"]["mean"] == pytest.approx(hs[["x7", "x8", "x9"]].mean(axis=1).mean())
    # HS items run from 0.67 to 10 (not Likert): the inferred scale is 0-10 and the midpoint 5.
    assert hs_result["scale"] == [0.0, 10.0] and hs_result["midpoint"] == 5.0
    t = {row["construct"]: row for row in hs_result["one_sample_t"]}
    score = hs[["x4", "x5", "x6"]].mean(axis=1)
    expected_t = (score.mean() - 5) / (score.std(ddof=1) / np.sqrt(len(score)))
    assert t["textual"]["t"] == pytest.approx(expected_t)
    assert t["textual"]["df"] == 300
    assert {r["construct"] for r in hs_result["friedman"]["ranking"]} == {"visual", "textual", "speed"}
    assert hs_result["friedman"]["df"] == 2
    assert [r["item"] for r in hs_result["normality"]["items"]] == [f"x{i}" for i in range(1, 10)]
    assert set(hs_result["normality"]["items"][0]) >= {
        "ks_d",
        "lilliefors_pvalue",
        "shapiro_w",
        "shapiro_pvalue",
    }
    dist = hs_result["distributions"][0]
    assert dist["binned"] is True and sum(dist["counts"]) == 301
    assert "nps" not in hs_result and "csat" not in hs_result and "servqual" not in hs_result
    assert hs_result["thresholds"]["rmsea"]["max"] == 0.08


def likert_sample(n: int = 400, seed: int = 7) -> pd.DataFrame:
    """Three constructs on a 1-5 scale: service -> satisfaction (0.6), price unrelated to satisfaction."""
    rng = np.random.default_rng(seed)
    service = rng.normal(size=n)
    price = rng.normal(size=n)
    satisfaction = 0.6 * service + np.sqrt(1 - 0.36) * rng.normal(size=n)
    cuts = [-1.5, -0.5, 0.5, 1.5]
    columns = {}
    for name, factor in (("sv", service), ("pr", price), ("sa", satisfaction)):
        for i in range(1, 5):
            latent = 0.85 * factor + np.sqrt(1 - 0.85**2) * rng.normal(size=n)
            columns[f"{name}{i}"] = np.digitize(latent, cuts) + 1
    return pd.DataFrame(columns)


PLANTED_MODEL = """
service      =~ sv1 + sv2 + sv3 + sv4
price        =~ pr1 + pr2 + pr3 + pr4
satisfaction =~ sa1 + sa2 + sa3 + sa4
satisfaction ~ service + price
"""


@pytest.mark.parametrize("method", METHODS)
def test_planted_structure_is_recovered(method):
    data = likert_sample()
    result = analyze(data, AnalysisSpec(PLANTED_MODEL, method=method, n_boot=100))
    assert result["scale"] == [1.0, 5.0] and result["midpoint"] == 3.0
    paths = {(r["lhs"], r["rhs"]): r for r in result["estimates"] if r["op"] == "~"}
    planted = paths[("satisfaction", "service")]
    # Standardised path 0.6 planted; PLS composites are attenuated by item error, so a wider band there.
    assert 0.5 < planted["std_all"] < 0.7
    assert planted["pvalue"] < 0.001
    assert abs(paths[("satisfaction", "price")]["std_all"]) < 0.12
    for construct, rel in result["reliability"].items():
        assert passes("alpha", rel["alpha"]), construct
        assert passes("cr", rel["cr"]), construct
        assert passes("ave", rel["ave"]), construct
    assert all(result["validity"]["fornell_larcker_valid"].values())
    assert result["r2"]["satisfaction"] == pytest.approx(0.36, abs=0.1)
    dist = {d["item"]: d for d in result["distributions"]}
    assert dist["sv1"]["labels"] == ["1", "2", "3", "4", "5"]
    assert dist["sv1"]["counts"] == [int((data["sv1"] == k).sum()) for k in range(1, 6)]
    if method == "pls":
        assert result["fit"] == {}
        assert set(result["quality"]) >= {"r2", "r2_adj", "f2", "q2"}
        assert 0 < result["quality"]["q2"]["satisfaction"] < result["quality"]["r2"]["satisfaction"]
        assert planted["ci_low"] < planted["est"] < planted["ci_high"]
        assert result["n_boot"] == 100
    else:
        assert result["fit"]["cfi"] > 0.95  # the model is the one that generated the data
    json.dumps(result, allow_nan=False)


def test_missing_answers_are_dropped_listwise_and_counted():
    data = likert_sample(200).astype(float)
    data.loc[[3, 10, 11], "sv2"] = np.nan
    data.loc[[10, 50], "sa4"] = np.nan  # row 10 twice: counted once
    data.loc[[60], "unused"] = np.nan  # a column outside the model never drops a row
    result = analyze(data, AnalysisSpec(PLANTED_MODEL))
    assert result["n_dropped"] == 4
    assert result["n"] == 196
    assert result["descriptives"]["items"][0]["n"] == 196
    assert any("4 of 200 rows" in w for w in result["warnings"])


def test_cx_sections():
    data = likert_sample(200)
    rng = np.random.default_rng(1)
    data["recommend"] = [10, 9, 8, 7, 6, 3, 10, 9, 5, 10] * 20
    data["sat"] = rng.integers(1, 6, size=200)
    data.loc[0, "sat"] = np.nan
    servqual = {"assurance": {"expectation": ["sv1", "sv2"], "perception": ["sa1", "sa2"]}}
    result = analyze(data, AnalysisSpec(PLANTED_MODEL, nps="recommend", csat="sat", servqual=servqual))
    # per block of 10: promoters 10 9 10 9 10, passives 8 7, detractors 6 3 5 -> NPS = 100 * (5 - 3) / 10 = 20
    assert result["nps"]["nps"] == pytest.approx(20.0)
    assert (result["nps"]["promoters"], result["nps"]["passives"], result["nps"]["detractors"]) == (
        100,
        40,
        60,
    )
    sat = data["sat"].dropna()
    assert result["csat"]["n"] == 199
    assert result["csat"]["csat"] == pytest.approx(100 * (sat >= 4).mean())
    assert result["csat"]["scale_max"] == 5
    assert any("CSAT: 1 rows" in w for w in result["warnings"])
    gap = ((data["sa1"] - data["sv1"]).mean() + (data["sa2"] - data["sv2"]).mean()) / 2
    assert result["servqual"]["dimensions"][0]["gap"] == pytest.approx(gap)
    assert result["servqual"]["score"] == pytest.approx(gap)
    json.dumps(result, allow_nan=False)


def test_passes_and_thresholds():
    assert passes("cfi", 0.95) is True and passes("cfi", 0.949) is False
    assert passes("srmr", 0.08) is True and passes("srmr", 0.081) is False
    assert passes("alpha", None) is None and passes("unknown", 1.0) is None
    for rule in THRESHOLDS.values():
        assert rule["source"] and ("min" in rule) != ("max" in rule)


@pytest.mark.parametrize(
    ("change", "spec", "error", "message"),
    [
        (None, AnalysisSpec(PLANTED_MODEL + "price =~ pr5"), StatsInputError, "'pr5' is not in the data"),
        ("text", AnalysisSpec(PLANTED_MODEL), StatsInputError, "'sv3' has non-numeric cells"),
        ("constant", AnalysisSpec(PLANTED_MODEL), StatsInputError, "'pr1' is constant"),
        ("few", AnalysisSpec(PLANTED_MODEL), StatsInputError, "at least 13 complete rows"),
        (None, AnalysisSpec("service =~ sv1 + + sv2"), ModelSpecificationError, "empty term"),
        (None, AnalysisSpec("service sv1 sv2"), ModelSpecificationError, "no operator"),
        (None, AnalysisSpec("a ~ b"), ModelSpecificationError, "defines no construct"),
        (None, AnalysisSpec(PLANTED_MODEL, method="lisrel"), StatsInputError, "method must be one of"),
        (None, AnalysisSpec(PLANTED_MODEL, scale=(1, 4)), StatsInputError, "outside the scale 1-4"),
        (None, AnalysisSpec(PLANTED_MODEL, nps="nope"), StatsInputError, "'nope' is not in the data"),
        (None, AnalysisSpec(PLANTED_MODEL, method="pls", n_boot=5), StatsInputError, "n_boot"),
    ],
)
def test_bad_input_raises_naming_the_problem(change, spec, error, message):
    data = likert_sample(100)
    if change == "text":
        data["sv3"] = data["sv3"].astype(object)
        data.loc[5, "sv3"] = "agree"
    elif change == "constant":
        data["pr1"] = 3
    elif change == "few":
        data = data.head(8)
    with pytest.raises(error, match=message):
        analyze(data, spec)


def test_bad_column_is_named_on_the_error():
    data = likert_sample(100).astype(object)
    data.loc[2, "pr2"] = "n/a"
    with pytest.raises(StatsInputError) as info:
        analyze(data, AnalysisSpec(PLANTED_MODEL))
    assert info.value.column == "pr2"


def test_non_converged_fit_is_a_warning_not_an_error(monkeypatch):
    from patron import stats

    real_sem = stats.sem
    monkeypatch.setattr(stats, "sem", lambda model, data: real_sem(model, data, max_iter=1, tol=1e-30))
    result = analyze(likert_sample(150), AnalysisSpec(PLANTED_MODEL))
    assert result["converged"] is False
    assert any("did not converge" in w for w in result["warnings"])
    json.dumps(result, allow_nan=False)
