"""CB-SEM (CFA and SEM) against lavaan's published output, planted structures and bad input."""

import numpy as np
import pandas as pd
import pytest

from patron.stats import ModelSpecificationError, StatsInputError, cfa, fornell_larcker, htmt, sem
from patron.stats.syntax import parse_model
from tests.stats.conftest import HS_MODEL, PD_MODEL


def _row(fit, lhs, op, rhs):
    est = fit.estimates
    hit = est[(est["lhs"] == lhs) & (est["op"] == op) & (est["rhs"] == rhs)]
    assert len(hit) == 1, (lhs, op, rhs)
    return hit.iloc[0]


@pytest.fixture(scope="module")
def hs_fit(hs):
    return cfa(HS_MODEL, data=hs)


# lavaan 0.6-20: fit <- cfa(HS.model, data = HolzingerSwineford1939); summary(fit, fit.measures = TRUE,
# standardized = TRUE) -- the lavaan tutorial "cfa" page (lavaan.ugent.be/tutorial/cfa.html).
HS_FIT = {
    "chi2": 85.306,
    "df": 24,
    "pvalue": 0.000,
    "baseline_chi2": 918.852,
    "baseline_df": 36,
    "cfi": 0.931,
    "tli": 0.896,
    "loglik": -3737.745,
    "loglik_h1": -3695.092,
    "aic": 7517.490,
    "bic": 7595.339,
    "rmsea": 0.092,
    "rmsea_ci_low": 0.071,
    "rmsea_ci_high": 0.114,
    "rmsea_pvalue": 0.001,
    "srmr": 0.065,
    "npar": 21,
    # fitMeasures(fit, c("nfi", "ifi")): from the published chi2 and baseline chi2,
    # NFI = (918.852 - 85.306) / 918.852 = 0.907, IFI = (918.852 - 85.306) / (918.852 - 24) = 0.931.
    "nfi": 0.907,
    "ifi": 0.931,
}
#            lhs, op, rhs, est, se, z, std_all
HS_ESTIMATES = [
    ("visual", "=~", "x1", 1.000, None, None, 0.772),
    ("visual", "=~", "x2", 0.554, 0.100, 5.554, 0.424),
    ("visual", "=~", "x3", 0.729, 0.109, 6.685, 0.581),
    ("textual", "=~", "x4", 1.000, None, None, 0.852),
    ("textual", "=~", "x5", 1.113, 0.065, 17.014, 0.855),
    ("textual", "=~", "x6", 0.926, 0.055, 16.703, 0.838),
    ("speed", "=~", "x7", 1.000, None, None, 0.570),
    ("speed", "=~", "x8", 1.180, 0.165, 7.152, 0.723),
    ("speed", "=~", "x9", 1.082, 0.151, 7.155, 0.665),
    ("visual", "~~", "textual", 0.408, 0.074, 5.552, 0.459),
    ("visual", "~~", "speed", 0.262, 0.056, 4.660, 0.471),
    ("textual", "~~", "speed", 0.173, 0.049, 3.518, 0.283),
    ("x1", "~~", "x1", 0.549, 0.114, 4.833, None),
    ("x2", "~~", "x2", 1.134, 0.102, 11.146, None),
    ("x3", "~~", "x3", 0.844, 0.091, 9.317, None),
    ("x4", "~~", "x4", 0.371, 0.048, 7.779, None),
    ("x5", "~~", "x5", 0.446, 0.058, 7.642, None),
    ("x6", "~~", "x6", 0.356, 0.043, 8.277, None),
    ("x7", "~~", "x7", 0.799, 0.081, 9.823, None),
    ("x8", "~~", "x8", 0.488, 0.074, 6.573, None),
    ("x9", "~~", "x9", 0.566, 0.071, 8.003, None),
    ("visual", "~~", "visual", 0.809, 0.145, 5.564, 1.000),
    ("textual", "~~", "textual", 0.979, 0.112, 8.737, 1.000),
    ("speed", "~~", "speed", 0.384, 0.086, 4.451, 1.000),
]


@pytest.mark.parametrize(("key", "value"), HS_FIT.items())
def test_hs_cfa_fit_measures_match_lavaan(hs_fit, key, value):
    assert hs_fit.fit[key] == pytest.approx(value, abs=0.0005 + 1e-9)


@pytest.mark.parametrize("row", HS_ESTIMATES, ids=lambda r: f"{r[0]}{r[1]}{r[2]}")
def test_hs_cfa_estimates_match_lavaan(hs_fit, row):
    lhs, op, rhs, est, se, z, std_all = row
    got = _row(hs_fit, lhs, op, rhs)
    assert got["est"] == pytest.approx(est, abs=0.0005)
    if se is None:
        assert np.isnan(got["se"]) and not got["free"]
    else:
        assert got["se"] == pytest.approx(se, abs=0.0005)
        assert got["z"] == pytest.approx(z, abs=0.0005)
    if std_all is not None:
        assert got["std_all"] == pytest.approx(std_all, abs=0.0005)


def test_hs_gfi_agfi(hs_fit):
    # lavaan 0.6: fitMeasures(fit, c("gfi", "agfi")) for cfa(HS.model, HolzingerSwineford1939) prints
    # gfi 0.943, agfi 0.894 (values as lavaan reports them; no public page quoting them was found to cite, so
    # the formula is also checked: GFI = 1 - tr((W S - I)^2) / tr((W S)^2), AGFI = 1 - p(p+1)/(2 df)(1 - GFI)).
    assert hs_fit.fit["gfi"] == pytest.approx(0.943, abs=0.0005)
    assert hs_fit.fit["agfi"] == pytest.approx(0.894, abs=0.0005)
    assert hs_fit.fit["agfi"] == pytest.approx(1 - 45 / 24 * (1 - hs_fit.fit["gfi"]))
    W = np.linalg.inv(hs_fit.implied_cov.to_numpy())
    WS = W @ hs_fit.sample_cov.to_numpy()
    gfi = 1 - np.trace((WS - np.eye(9)) @ (WS - np.eye(9))) / np.trace(WS @ WS)
    assert hs_fit.fit["gfi"] == pytest.approx(gfi)


def test_hs_modification_indices_match_lavaan(hs_fit):
    # lavaan tutorial "cfa"/modindices: modindices(fit, sort = TRUE, maximum.number = 5):
    # visual=~x9 36.411 (epc 0.577), x7~~x8 34.145 (0.536), visual=~x7 18.631 (-0.422),
    # x8~~x9 14.946 (-0.423), textual=~x3 9.151 (-0.272).
    mi = hs_fit.modification_indices().head(5)
    expected = [
        ("visual", "=~", "x9", 36.411, 0.577),
        ("x7", "~~", "x8", 34.145, 0.536),
        ("visual", "=~", "x7", 18.631, -0.422),
        ("x8", "~~", "x9", 14.946, -0.423),
        ("textual", "=~", "x3", 9.151, -0.272),
    ]
    for (_, row), (lhs, op, rhs, value, epc) in zip(mi.iterrows(), expected, strict=True):
        assert (row["lhs"], row["op"], row["rhs"]) == (lhs, op, rhs)
        assert row["mi"] == pytest.approx(value, abs=0.0005)
        assert row["epc"] == pytest.approx(epc, abs=0.0005)


def test_hs_reliability_matches_semtools(hs_fit, hs):
    # R 4.6.0, lavaan::cfa(HS.model) + semTools::compRelSEM (omega, obs.var = TRUE), psych::alpha (raw):
    # omega visual 0.6120051511, textual 0.8850607732, speed 0.6858416922;
    # alpha 0.6261171319, 0.8827069129, 0.6884550230.
    rel = hs_fit.reliability(hs)
    assert rel["omega"].tolist() == pytest.approx([0.6120051511, 0.8850607732, 0.6858416922], abs=1e-6)
    assert rel["alpha"].tolist() == pytest.approx([0.6261171319, 0.8827069129, 0.6884550230], abs=1e-9)
    # AVE and CR are Fornell & Larcker's, from the std_all loadings (lavaan: .772 .424 .581 for visual).
    assert rel.loc["visual", "ave"] == pytest.approx((0.772**2 + 0.424**2 + 0.581**2) / 3, abs=1e-3)
    assert rel.loc["visual", "cr"] == pytest.approx(1.777**2 / (1.777**2 + 3 - 3 * 0.3710), abs=1e-3)


def test_hs_discriminant_validity_matches_semtools(hs_fit, hs):
    # R 4.6.0, semTools::htmt(HS.model, HolzingerSwineford1939) with geometric means (HTMT2):
    # visual-textual 0.3840885639, visual-speed 0.3867729305, textual-speed 0.2796835510. Latent
    # correlations (lavInspect(fit, "cor.lv")): 0.4585093004, 0.4705345445, 0.2829847304.
    constructs = {"visual": ["x1", "x2", "x3"], "textual": ["x4", "x5", "x6"], "speed": ["x7", "x8", "x9"]}
    with pytest.raises(StatsInputError, match="positive"):
        htmt(hs, constructs, method="htmt2")  # r(x2, x7) = -0.076: HTMT2 is undefined on the full HS set
    table = htmt(hs, {k: v for k, v in constructs.items() if k != "speed"}, method="htmt2")
    assert table.loc["visual", "textual"] == pytest.approx(0.3840885639, abs=1e-9)
    # Arithmetic HTMT (Henseler et al. 2015) by hand: mean hetero r = 0.2158, mono r 0.3593 and 0.7190.
    assert htmt(hs, constructs).loc["visual", "textual"] == pytest.approx(0.4243, abs=5e-4)
    est = hs_fit.estimates
    cov = est[(est["op"] == "~~") & (est["lhs"] != est["rhs"])]
    assert cov["std_all"].tolist() == pytest.approx([0.4585093004, 0.4705345445, 0.2829847304], abs=1e-6)
    names = list(constructs)
    corr = pd.DataFrame(np.eye(3), index=names, columns=names)
    for _, r in cov.iterrows():
        corr.loc[r["lhs"], r["rhs"]] = corr.loc[r["rhs"], r["lhs"]] = r["std_all"]
    fl = fornell_larcker(hs_fit.reliability(hs)["ave"], corr)
    assert fl["valid"].all()


# lavaan 0.6-2: fit <- sem(model, data = PoliticalDemocracy); summary(fit, standardized = TRUE) -- the
# lavaan tutorial "sem" page (lavaan.ugent.be/tutorial/sem.html). AIC/BIC/loglik: summary(fit,
# fit.measures = TRUE): loglik -1547.791, AIC 3157.582, BIC 3229.424.
PD_ESTIMATES = [
    ("ind60", "=~", "x2", 2.180, 0.139, 15.742, 0.973),
    ("ind60", "=~", "x3", 1.819, 0.152, 11.967, 0.872),
    ("dem60", "=~", "y2", 1.257, 0.182, 6.889, 0.717),
    ("dem60", "=~", "y3", 1.058, 0.151, 6.987, 0.722),
    ("dem60", "=~", "y4", 1.265, 0.145, 8.722, 0.846),
    ("dem65", "=~", "y6", 1.186, 0.169, 7.024, 0.746),
    ("dem65", "=~", "y7", 1.280, 0.160, 8.002, 0.824),
    ("dem65", "=~", "y8", 1.266, 0.158, 8.007, 0.828),
    ("dem60", "~", "ind60", 1.483, 0.399, 3.715, 0.447),
    ("dem65", "~", "ind60", 0.572, 0.221, 2.586, 0.182),
    ("dem65", "~", "dem60", 0.837, 0.098, 8.514, 0.885),
    ("y1", "~~", "y5", 0.624, 0.358, 1.741, 0.296),
    ("y2", "~~", "y4", 1.313, 0.702, 1.871, 0.273),
    ("y2", "~~", "y6", 2.153, 0.734, 2.934, 0.356),
    ("y3", "~~", "y7", 0.795, 0.608, 1.308, 0.191),
    ("y4", "~~", "y8", 0.348, 0.442, 0.787, 0.109),
    ("y6", "~~", "y8", 1.356, 0.568, 2.386, 0.338),
    ("x1", "~~", "x1", 0.082, 0.019, 4.184, 0.154),
    ("x2", "~~", "x2", 0.120, 0.070, 1.718, 0.053),
    ("x3", "~~", "x3", 0.467, 0.090, 5.177, 0.239),
    ("y1", "~~", "y1", 1.891, 0.444, 4.256, 0.277),
    ("y2", "~~", "y2", 7.373, 1.374, 5.366, 0.486),
    ("y3", "~~", "y3", 5.067, 0.952, 5.324, 0.478),
    ("y4", "~~", "y4", 3.148, 0.739, 4.261, 0.285),
    ("y5", "~~", "y5", 2.351, 0.480, 4.895, 0.347),
    ("y6", "~~", "y6", 4.954, 0.914, 5.419, 0.443),
    ("y7", "~~", "y7", 3.431, 0.713, 4.814, 0.322),
    ("y8", "~~", "y8", 3.254, 0.695, 4.685, 0.315),
    ("ind60", "~~", "ind60", 0.448, 0.087, 5.173, 1.000),
    ("dem60", "~~", "dem60", 3.956, 0.921, 4.295, 0.800),
    ("dem65", "~~", "dem65", 0.172, 0.215, 0.803, 0.039),
]


@pytest.fixture(scope="module")
def pd_fit(political_democracy):
    return sem(PD_MODEL, data=political_democracy)


def test_political_democracy_fit_matches_lavaan(pd_fit):
    assert pd_fit.fit["chi2"] == pytest.approx(38.125, abs=0.0005)
    assert pd_fit.fit["df"] == 35
    assert pd_fit.fit["pvalue"] == pytest.approx(0.329, abs=0.0005)
    assert pd_fit.fit["npar"] == 31
    assert pd_fit.fit["loglik"] == pytest.approx(-1547.791, abs=0.0005)
    assert pd_fit.fit["aic"] == pytest.approx(3157.582, abs=0.0005)
    assert pd_fit.fit["bic"] == pytest.approx(3229.424, abs=0.0005)


@pytest.mark.parametrize("row", PD_ESTIMATES, ids=lambda r: f"{r[0]}{r[1]}{r[2]}")
def test_political_democracy_estimates_match_lavaan(pd_fit, row):
    lhs, op, rhs, est, se, z, std_all = row
    got = _row(pd_fit, lhs, op, rhs)
    assert got["est"] == pytest.approx(est, abs=0.0005)
    assert got["se"] == pytest.approx(se, abs=0.0005)
    assert got["z"] == pytest.approx(z, abs=0.0005)
    assert got["std_all"] == pytest.approx(std_all, abs=0.0005)


def test_political_democracy_r2(pd_fit):
    # R² = 1 - std_all of the residual variance (lavaan: inspect(fit, "r2")): dem60 0.200, dem65 0.961.
    assert pd_fit.r2["dem60"] == pytest.approx(0.200, abs=0.0005)
    assert pd_fit.r2["dem65"] == pytest.approx(0.961, abs=0.0005)
    assert pd_fit.r2["x2"] == pytest.approx(0.947, abs=0.0005)


# ---------------------------------------------------------------- planted structure


def _simulate_crm(n: int, seed: int) -> tuple[pd.DataFrame, dict[str, float]]:
    """Six CRM components (study §1) -> success, four items each, known loadings and paths."""
    rng = np.random.default_rng(seed)
    components = ["loyalty", "demands", "quality", "orientation", "flexibility", "interaction"]
    corr = np.full((6, 6), 0.3) + 0.7 * np.eye(6)
    eta = rng.multivariate_normal(np.zeros(6), corr, size=n)
    paths = dict(zip(components, [0.30, 0.20, 0.25, 0.10, 0.15, 0.20], strict=True))
    success = eta @ np.array(list(paths.values())) + rng.normal(scale=0.6, size=n)
    loadings = [1.0, 0.9, 0.8, 0.7]
    cols = {}
    for k, name in enumerate(components + ["success"]):
        score = eta[:, k] if k < 6 else success
        for j, lam in enumerate(loadings):
            cols[f"{name}{j + 1}"] = lam * score + rng.normal(scale=0.6, size=n)
    return pd.DataFrame(cols), paths


def test_planted_crm_model_is_recovered():
    data, paths = _simulate_crm(3000, seed=7)
    names = list(paths)
    lines = [f"{c} =~ {c}1 + {c}2 + {c}3 + {c}4" for c in names + ["success"]]
    lines.append("success ~ " + " + ".join(names))
    fit = sem("\n".join(lines), data=data)
    assert fit.converged
    for name, beta in paths.items():
        assert _row(fit, "success", "~", name)["est"] == pytest.approx(beta, abs=0.05)
    for c in names:
        assert _row(fit, c, "=~", f"{c}2")["est"] == pytest.approx(0.9, abs=0.05)
        assert _row(fit, c, "=~", f"{c}4")["est"] == pytest.approx(0.7, abs=0.05)
    # A correct model fits: chi2 is not significant at the 1 % level in most draws, RMSEA small.
    assert fit.fit["rmsea"] < 0.02
    assert fit.fit["cfi"] > 0.99


def test_observed_path_model_uses_fixed_x():
    rng = np.random.default_rng(3)
    x1, x2 = rng.normal(size=(2, 500))
    y = 0.5 * x1 - 0.3 * x2 + rng.normal(scale=0.8, size=500)
    df = pd.DataFrame({"x1": x1, "x2": x2, "y": y})
    fit = sem("y ~ x1 + x2", data=df)
    # Saturated regression: OLS coefficients, df = 0, x variances fixed to the sample values (not counted).
    beta = np.linalg.lstsq(np.c_[np.ones(500), x1, x2], y, rcond=None)[0]
    assert _row(fit, "y", "~", "x1")["est"] == pytest.approx(beta[1], abs=1e-6)
    assert _row(fit, "y", "~", "x2")["est"] == pytest.approx(beta[2], abs=1e-6)
    assert fit.fit["df"] == 0 and fit.fit["npar"] == 3
    assert np.isnan(_row(fit, "x1", "~~", "x1")["se"])


# ---------------------------------------------------------------- bad input


def test_unknown_variable_is_named(hs):
    with pytest.raises(ModelSpecificationError, match="'x10'"):
        cfa("visual =~ x1 + x2 + x10", data=hs)


def test_non_identified_model_is_refused(hs):
    with pytest.raises(ModelSpecificationError, match="not identified"):
        cfa("f =~ x1 + x2", data=hs)  # 4 free parameters (l2, two residuals, psi) for 3 moments: df = -1


def test_empirically_unidentified_model_names_parameters(hs):
    # Two-indicator factor with an uncorrelated partner: identified by counting, not empirically.
    with pytest.raises(ModelSpecificationError, match="not identified"):
        cfa("f =~ x1 + x2\ng =~ x4 + x5 + x6\nf ~~ 0*g", data=hs)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("", "empty"),
        ("visual x1 + x2", "no operator"),
        ("f =~ a*x1 + x2 + x3", "labels"),
        ("f =~ x1 + x2 + x3\nind := a*b", "not supported"),
        ("f =~ x1 + x2 +", "incomplete"),
        ("f =~ x1 + x1 + x2", "twice"),
    ],
)
def test_syntax_errors(model, message):
    with pytest.raises(ModelSpecificationError, match=message):
        parse_model(model)


def test_missing_and_non_numeric_data_are_refused(hs):
    bad = hs.copy()
    bad.loc[bad.index[3], "x5"] = np.nan
    with pytest.raises(StatsInputError, match="'x5' has 1 missing"):
        cfa(HS_MODEL, data=bad)
    bad = hs.astype({"x6": object}).copy()
    bad.loc[bad.index[0], "x6"] = "n/a"
    with pytest.raises(StatsInputError, match="'x6' has non-numeric"):
        cfa(HS_MODEL, data=bad)


def test_too_few_rows_and_constant_items(hs):
    with pytest.raises(StatsInputError, match="at least 10 complete rows"):
        cfa(HS_MODEL, data=hs.head(6))
    const = hs.copy()
    const["x2"] = 3.0
    with pytest.raises(StatsInputError, match="'x2' is constant"):
        cfa(HS_MODEL, data=const)


def test_heywood_case_is_a_documented_warning():
    # Sample covariance with cov(a,b) cov(a,c) / cov(b,c) = 1.2 > var(a) = 1: a's residual variance is -0.2.
    target = np.array([[1.0, 0.6, 0.6], [0.6, 1.0, 0.3], [0.6, 0.3, 1.0]])
    z = np.random.default_rng(11).normal(size=(200, 3))
    z = (z - z.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False, ddof=0)).T)
    df = pd.DataFrame(z @ np.linalg.cholesky(target).T, columns=["a", "b", "c"])
    with pytest.warns(UserWarning, match="negative variance"):
        fit = cfa("f =~ b + c + a", data=df)
    assert any("Heywood" in w for w in fit.warnings)


def test_non_convergence_is_reported(hs):
    with pytest.warns(UserWarning, match="did not converge"):
        fit = sem(HS_MODEL, data=hs, max_iter=1, tol=1e-30)
    assert not fit.converged
    assert fit.warnings


def test_to_dict_is_json_with_lavaan_column_names(hs_fit, hs):
    import json

    summary = json.loads(json.dumps(hs_fit.to_dict(hs)))
    assert {"chi2", "df", "pvalue", "rmsea", "cfi", "tli", "srmr", "gfi", "agfi", "nfi", "ifi"} <= set(
        summary["fit"]
    )
    row = summary["estimates"][1]
    assert set(row) == {"lhs", "op", "rhs", "est", "se", "z", "pvalue", "std_all"}
    assert summary["estimates"][0]["se"] is None  # fixed marker loading: no SE, null rather than NaN
    assert set(summary["reliability"]["visual"]) == {"alpha", "omega", "cr", "ave"}
    assert summary["r2"]["x1"] == pytest.approx(0.596, abs=0.001)


def test_single_indicator_latent_fixes_the_residual_variance(political_democracy):
    # lavaan fixes the residual variance of a lone indicator to 0, so "dem =~ y1" is y1 itself and the model
    # is the same as regressing on the observed variable.
    via_latent = sem("ind60 =~ x1 + x2 + x3\ndem =~ y1\ndem ~ ind60", data=political_democracy)
    direct = sem("ind60 =~ x1 + x2 + x3\ny1 ~ ind60", data=political_democracy)
    assert _row(via_latent, "y1", "~~", "y1")["est"] == 0 and not _row(via_latent, "y1", "~~", "y1")["free"]
    assert via_latent.fit["chi2"] == pytest.approx(direct.fit["chi2"], abs=1e-6)
    assert _row(via_latent, "dem", "~", "ind60")["est"] == pytest.approx(
        _row(direct, "y1", "~", "ind60")["est"]
    )


def test_hs_latent_correlations_match_lavaan(hs_fit):
    # lavaan tutorial "cfa" (lavaan.ugent.be/tutorial/cfa.html), summary(fit, standardized = TRUE), the std.all
    # column of the latent covariances: visual ~~ textual .459, visual ~~ speed .471, textual ~~ speed .283.
    table = hs_fit.latent_correlations()
    assert list(table.index) == ["visual", "textual", "speed"]
    assert table.loc["visual", "textual"] == pytest.approx(0.459, abs=5e-4)
    assert table.loc["visual", "speed"] == pytest.approx(0.471, abs=5e-4)
    assert table.loc["textual", "speed"] == pytest.approx(0.283, abs=5e-4)
    assert np.allclose(np.diag(table), 1.0) and np.allclose(table, table.T)
