"""PLS-SEM against seminr's published test fixtures on the ECSI `mobi` data, planted structure, bad input."""

import numpy as np
import pandas as pd
import pytest

from patron.stats import ModelSpecificationError, StatsInputError
from patron.stats.pls import pls_sem
from tests.stats.conftest import DATA

MOBI_MODEL = """
Image        =~ IMAG1 + IMAG2 + IMAG3 + IMAG4 + IMAG5
Expectation  =~ CUEX1 + CUEX2 + CUEX3
Value        =~ PERV1 + PERV2
Satisfaction =~ CUSA1 + CUSA2 + CUSA3
Satisfaction ~ Image + Expectation + Value
"""


@pytest.fixture(scope="module")
def mobi() -> pd.DataFrame:
    return pd.read_csv(DATA / "mobi.csv")


@pytest.fixture(scope="module")
def mobi_fit(mobi):
    return pls_sem(MOBI_MODEL, data=mobi)


# seminr 2.x (R), tests/testthat/test-inner_weighting.R and test-summary.R:
#   mobi_mm <- constructs(composite("Image", multi_items("IMAG", 1:5), weights = mode_A),
#                         composite("Expectation", multi_items("CUEX", 1:3), weights = mode_A),
#                         composite("Value", multi_items("PERV", 1:2), weights = mode_A),
#                         composite("Satisfaction", multi_items("CUSA", 1:3), weights = mode_A))
#   mobi_sm <- relationships(paths(to = "Satisfaction", from = c("Image", "Expectation", "Value")))
#   estimate_pls(mobi, mobi_mm, mobi_sm, inner_weights = path_weighting)
# fixtures V_3_6_0/inner_weights_coefficients.csv, V_3_5_X/inner_weights_weights.csv,
# V_3_5_X/cross_loadings.csv, V_3_6_0/reliability.csv.
SEMINR_PATHS = {"Image": 0.447003896753383, "Expectation": 0.171830104491586, "Value": 0.316425319256027}
SEMINR_WEIGHTS = {
    "IMAG1": 0.331565496837403, "IMAG2": 0.253381407777625, "IMAG3": 0.19957423850573,
    "IMAG4": 0.330983162965217, "IMAG5": 0.310490528776397, "CUEX1": 0.505837721216892,
    "CUEX2": 0.49867124599148, "CUEX3": 0.43608211325906, "PERV1": 0.476812933927711,
    "PERV2": 0.606425335428161, "CUSA1": 0.387272947521168, "CUSA2": 0.373939896289369,
    "CUSA3": 0.439128431593844,
}  # fmt: skip
SEMINR_LOADINGS = {
    "IMAG1": 0.763199100938388, "IMAG2": 0.598825742061012, "IMAG3": 0.561373435201573,
    "IMAG4": 0.76917060820122, "IMAG5": 0.73625435746935, "CUEX1": 0.76152466539557,
    "CUEX2": 0.710214472518844, "CUEX3": 0.597659373657607, "PERV1": 0.901400554962628,
    "PERV2": 0.940265063862509, "CUSA1": 0.804053676874834, "CUSA2": 0.842878555812946,
    "CUSA3": 0.850379560919916,
}  # fmt: skip
SEMINR_CROSS = {  # cross-loadings = item correlations with the other construct scores
    ("IMAG1", "Satisfaction"): 0.549181935347663, ("CUEX1", "Image"): 0.350272365836377,
    ("PERV2", "Image"): 0.530183701954831, ("CUSA3", "Value"): 0.598952326330781,
}  # fmt: skip
SEMINR_RELIABILITY = {  # alpha, rhoC, AVE, rhoA
    "Image": (0.722834595427083, 0.818325774056256, 0.477979834838268, 0.745291554480322),
    "Expectation": (0.451902555978063, 0.733177801505283, 0.480507046633952, 0.461657986928213),
    "Value": (0.823631979352573, 0.917897281748515, 0.84831067540365, 0.857527048393235),
    "Satisfaction": (0.779195021918597, 0.871457927643628, 0.693363990925202, 0.784023593590752),
}


def test_paths_match_seminr(mobi_fit):
    got = dict(zip(mobi_fit.paths["rhs"], mobi_fit.paths["est"], strict=True))
    for name, value in SEMINR_PATHS.items():
        assert got[name] == pytest.approx(value, abs=1e-6)


def test_outer_weights_and_loadings_match_seminr(mobi_fit):
    for item, value in SEMINR_WEIGHTS.items():
        assert mobi_fit.outer.loc[item, "weight"] == pytest.approx(value, abs=1e-6)
    for item, value in SEMINR_LOADINGS.items():
        assert mobi_fit.outer.loc[item, "loading"] == pytest.approx(value, abs=1e-6)


def test_cross_loadings_match_seminr(mobi_fit, mobi):
    for (item, construct), value in SEMINR_CROSS.items():
        r = np.corrcoef(mobi[item], mobi_fit.scores[construct])[0, 1]
        assert r == pytest.approx(value, abs=1e-6)


def test_reliability_matches_seminr(mobi_fit):
    for name, (alpha, rho_c, ave, rho_a) in SEMINR_RELIABILITY.items():
        row = mobi_fit.reliability.loc[name]
        assert row["alpha"] == pytest.approx(alpha, abs=1e-6)
        assert row["cr"] == pytest.approx(rho_c, abs=1e-6)
        assert row["ave"] == pytest.approx(ave, abs=1e-6)
        assert row["rho_a"] == pytest.approx(rho_a, abs=1e-6)


def test_r2_f2_and_fornell_larcker(mobi_fit):
    r2 = mobi_fit.r2["Satisfaction"]
    # R² = sum(beta_i * r(Y, X_i)) over the predictors (standardised regression).
    corr = mobi_fit.construct_corr
    expected = sum(v * corr.loc["Satisfaction", k] for k, v in SEMINR_PATHS.items())
    assert r2 == pytest.approx(expected, abs=1e-6)
    assert mobi_fit.r2_adj["Satisfaction"] == pytest.approx(1 - (1 - r2) * 249 / 246)
    # f² of Image: (R² - R²_without_Image) / (1 - R²), re-estimating the regression without Image.
    x = corr.loc[["Expectation", "Value"], ["Expectation", "Value"]].to_numpy()
    y = corr.loc[["Expectation", "Value"], "Satisfaction"].to_numpy()
    r2_reduced = y @ np.linalg.solve(x, y)
    f2 = mobi_fit.paths.set_index("rhs").loc["Image", "f2"]
    assert f2 == pytest.approx((r2 - r2_reduced) / (1 - r2))
    table = mobi_fit.fornell_larcker()
    assert table.loc["Value", "Value"] == pytest.approx(np.sqrt(SEMINR_RELIABILITY["Value"][2]))


def test_htmt_and_q2(mobi_fit):
    htmt = mobi_fit.htmt()
    assert htmt.shape == (4, 4) and np.isnan(htmt.loc["Image", "Image"])
    q2 = mobi_fit.q2()
    # Blindfolding Q² must show predictive relevance and stay below R² for this model.
    assert 0 < q2["Satisfaction"] < mobi_fit.r2["Satisfaction"]
    with pytest.raises(StatsInputError, match="omission_distance"):
        mobi_fit.q2(omission_distance=5)  # 250 cases: 5 divides 250


def test_bootstrap_is_seeded_and_independent_of_workers(mobi_fit):
    one = mobi_fit.bootstrap(200, seed=42, n_jobs=1)
    two = mobi_fit.bootstrap(200, seed=42, n_jobs=2)
    pd.testing.assert_frame_equal(one.paths, two.paths)
    other = mobi_fit.bootstrap(200, seed=43, n_jobs=1)
    assert not one.paths["se"].equals(other.paths["se"])
    paths = one.paths
    assert (paths["ci_low"] < paths["est"]).all() and (paths["est"] < paths["ci_high"]).all()
    # Sanity bounds: n = 250 standardised paths have bootstrap SEs of a few hundredths.
    assert paths["se"].between(0.03, 0.1).all()
    assert paths.loc["Satisfaction ~ Image", "pvalue"] < 0.001
    assert one.loadings.shape[0] == 13


def test_planted_structure_is_recovered():
    rng = np.random.default_rng(5)
    n = 2000
    components = ["loyalty", "quality", "interaction"]
    eta = rng.multivariate_normal(np.zeros(3), [[1, 0.3, 0.3], [0.3, 1, 0.3], [0.3, 0.3, 1]], size=n)
    beta = np.array([0.4, 0.3, 0.2])
    success = eta @ beta + rng.normal(scale=np.sqrt(1 - beta @ np.cov(eta.T) @ beta), size=n)
    cols = {}
    for name, score in zip(components + ["success"], [*eta.T, success], strict=True):
        for j in range(4):
            cols[f"{name}{j}"] = 0.85 * score + np.sqrt(1 - 0.85**2) * rng.normal(size=n)
    model = "\n".join(f"{c} =~ " + " + ".join(f"{c}{j}" for j in range(4)) for c in components + ["success"])
    res = pls_sem(model + "\nsuccess ~ loyalty + quality + interaction", data=pd.DataFrame(cols))
    # Composite scores attenuate a little (reliability ~0.9), so allow 0.05.
    assert res.paths["est"].to_numpy() == pytest.approx(beta, abs=0.05)
    assert res.outer["loading"].between(0.8, 0.92).all()


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("A =~ IMAG1 + IMAG2\nB =~ CUEX1 + CUEX2", "at least one structural path"),
        ("A =~ IMAG1 + IMAG2\nB =~ CUEX1 + IMAG2\nB ~ A", "more than one block"),
        ("A =~ IMAG1 + IMAG2\nB =~ CUEX1\nB ~ C", "'C' is not a construct"),
        ("A =~ IMAG1 + IMAG2\nB =~ CUEX1\nB ~ A\nA ~~ B", "no \\(co\\)variance"),
        ("A =~ IMAG1 + NOPE\nB =~ CUEX1\nB ~ A", "'NOPE' is not a column"),
        ("A =~ IMAG1\nB =~ CUEX1\nC =~ CUSA1\nB ~ A", "'C' is in no structural path"),
    ],
)
def test_bad_models(mobi, model, message):
    with pytest.raises(ModelSpecificationError, match=message):
        pls_sem(model, data=mobi)


def test_bad_data(mobi):
    bad = mobi.copy()
    bad.loc[0, "CUEX2"] = np.nan
    with pytest.raises(StatsInputError, match="'CUEX2' has 1 missing"):
        pls_sem(MOBI_MODEL, data=bad)
    bad = mobi.copy()
    bad["IMAG3"] = 5
    with pytest.raises(StatsInputError, match="'IMAG3' is constant"):
        pls_sem(MOBI_MODEL, data=bad)


def test_negative_loading_is_a_documented_warning(mobi):
    flipped = mobi.copy()
    flipped["IMAG3"] = 11 - flipped["IMAG3"]
    with pytest.warns(UserWarning, match="IMAG3"):
        res = pls_sem(MOBI_MODEL, data=flipped)
    assert any("reverse-code" in w for w in res.warnings)


def test_batched_bootstrap_estimator_equals_the_single_one(mobi_fit):
    from patron.stats._pls_engine import _estimate, _estimate_batch

    model = mobi_fit._model
    x = mobi_fit._x
    rng = np.random.default_rng(0)
    Rs = np.stack([np.corrcoef(x[rng.integers(0, len(x), len(x))], rowvar=False) for _ in range(5)])
    paths, loadings, weights, converged = _estimate_batch(model, Rs, 300, 1e-10, mobi_fit._weights_matrix())
    assert converged.all()
    for b in range(5):
        single = _estimate(model, Rs[b], 300, 1e-10)
        assert paths[b] == pytest.approx([single["B"][a, c] for a, c in model.paths], abs=1e-8)
        assert loadings[b] == pytest.approx(single["loadings"], abs=1e-8)
        assert weights[b] == pytest.approx(single["weights"], abs=1e-8)


def test_to_dict_is_json(mobi_fit):
    import json

    summary = json.loads(json.dumps(mobi_fit.to_dict()))
    assert summary["paths"][0]["est"] == pytest.approx(SEMINR_PATHS["Image"], abs=1e-6)
    assert summary["reliability"]["Value"]["rho_a"] == pytest.approx(SEMINR_RELIABILITY["Value"][3], abs=1e-6)


def test_q2_with_a_block_of_seven_items_and_a_single_item_block(mobi):
    # Quality has 7 items (= the omission distance) and Complaints one item: every round must still omit
    # a diagonal band, never a whole item, so every Q² is a number.
    model = """
    Image =~ IMAG1 + IMAG2 + IMAG3 + IMAG4 + IMAG5
    Expectation =~ CUEX1 + CUEX2 + CUEX3
    Quality =~ PERQ1 + PERQ2 + PERQ3 + PERQ4 + PERQ5 + PERQ6 + PERQ7
    Complaints =~ CUSCO
    Expectation ~ Image
    Quality ~ Expectation
    Complaints ~ Quality
    """
    q2 = pls_sem(model, data=mobi).q2()
    assert q2.notna().all() and (q2 > 0).all()
