"""EFA: KMO, Bartlett, ML and principal-axis extraction, rotations — R references and planted structure."""

import numpy as np
import pandas as pd
import pytest

from patron.stats import StatsInputError, bartlett_sphericity, efa, kmo

# R: datasets::ability.cov (Smith & Stanley 1983), covariance of six tests, n.obs = 112.
ABILITY_NAMES = ["general", "picture", "blocks", "maze", "reading", "vocab"]
ABILITY_COV = np.array(
    [[24.641, 5.991, 33.520, 6.023, 20.755, 29.701],
     [5.991, 6.700, 18.137, 1.782, 4.936, 7.204],
     [33.520, 18.137, 149.831, 19.424, 31.430, 50.753],
     [6.023, 1.782, 19.424, 12.711, 4.757, 9.075],
     [20.755, 4.936, 31.430, 4.757, 52.604, 66.762],
     [29.701, 7.204, 50.753, 9.075, 66.762, 135.292]]
)  # fmt: skip


@pytest.fixture(scope="module")
def ability() -> pd.DataFrame:
    """112 rows whose sample covariance is exactly ability.cov (EFA only sees the correlation matrix)."""
    z = np.random.default_rng(0).normal(size=(112, 6))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False)).T)
    return pd.DataFrame(z @ np.linalg.cholesky(ABILITY_COV).T, columns=ABILITY_NAMES)


def test_ml_two_factors_match_factanal(ability):
    # R ?factanal example: factanal(factors = 2, covmat = ability.cov)
    # Uniquenesses: 0.455 0.589 0.218 0.769 0.052 0.334
    # Test of the hypothesis that 2 factors are sufficient: chi square 6.11 on 4 df, p-value 0.191
    # Loadings (varimax): general 0.499 0.543; picture 0.156 0.622; blocks 0.206 0.860; maze 0.109 0.468;
    # reading 0.956 0.182; vocab 0.785 0.225
    res = efa(ability, n_factors=2, method="ml", rotation="varimax")
    assert res.uniquenesses.tolist() == pytest.approx([0.455, 0.589, 0.218, 0.769, 0.052, 0.334], abs=5e-4)
    assert res.chi2 == pytest.approx(6.11, abs=5e-3)
    assert res.df == 4
    assert res.pvalue == pytest.approx(0.191, abs=5e-4)
    # Full-precision varimax loadings of that fit, as GPArotation's test suite records them (MASS 4th ed.,
    # pp. 322-324): factanal's Factor1 is reading/vocab; ours orders by explained variance, which agrees here.
    expected = [
        [0.499437829039896530, 0.54344904693111962],
        [0.156070079431279873, 0.62153798991197484],
        [0.205786989958578748, 0.85992588538426895],
        [0.108530754440558652, 0.46776101732283504],
        [0.956242470279811574, 0.18209631992182243],
        [0.784768183877880943, 0.22482213687364205],
    ]
    assert res.loadings.to_numpy() == pytest.approx(np.array(expected), abs=1e-5)


def test_ml_promax_matches_factanal(ability):
    # R: factanal(factors = 2, covmat = ability.cov, rotation = "promax")
    # Loadings: general 0.364 0.470; picture 0.671; blocks 0.932; maze 0.508; reading 1.023; vocab 0.811
    # (|loading| < 0.1 not printed by R)
    res = efa(ability, n_factors=2, method="ml", rotation="promax")
    got = res.loadings
    assert got.loc["general"].tolist() == pytest.approx([0.364, 0.470], abs=5e-4)
    assert got.loc["picture", "F2"] == pytest.approx(0.671, abs=5e-4)
    assert got.loc["blocks", "F2"] == pytest.approx(0.932, abs=5e-4)
    assert got.loc["maze", "F2"] == pytest.approx(0.508, abs=5e-4)
    assert got.loc["reading", "F1"] == pytest.approx(1.023, abs=5e-4)
    assert got.loc["vocab", "F1"] == pytest.approx(0.811, abs=5e-4)
    assert (got.loc[["picture", "blocks", "maze"], "F1"].abs() < 0.1).all()
    # Rotation does not change the fit or the communalities; the structure matrix is P @ phi.
    assert res.uniquenesses.tolist() == pytest.approx([0.455, 0.589, 0.218, 0.769, 0.052, 0.334], abs=5e-4)
    assert res.structure.to_numpy() == pytest.approx(got.to_numpy() @ res.phi.to_numpy())


def test_ml_one_factor_matches_factanal(ability):
    # R: factanal(factors = 1, covmat = ability.cov)
    # Uniquenesses: 0.535 0.853 0.748 0.910 0.232 0.280; chi square 75.18 on 9 df, p-value 1.46e-12
    res = efa(ability, n_factors=1, method="ml", rotation=None)
    assert res.uniquenesses.tolist() == pytest.approx([0.535, 0.853, 0.748, 0.910, 0.232, 0.280], abs=5e-4)
    assert res.chi2 == pytest.approx(75.18, abs=5e-3)
    assert res.pvalue == pytest.approx(1.46e-12, rel=5e-3)


def test_bartlett_matches_lavaan_baseline(hs):
    # Bartlett's statistic is -(n - 1 - (2p + 5)/6) ln|R|; lavaan's baseline chi2 for HS x1-x9 is
    # -N ln|R| = 918.852 (cfa(HS.model) summary), so Bartlett = 918.852 * (300 - 23/6) / 301 = 904.10.
    res = bartlett_sphericity(hs, [f"x{i}" for i in range(1, 10)])
    assert res.chi2 == pytest.approx(918.852 * (300 - 23 / 6) / 301, abs=5e-3)
    assert res.df == 36 and res.pvalue < 1e-100


def test_kmo_formula_and_reference(hs):
    cols = [f"x{i}" for i in range(1, 10)]
    res = kmo(hs, cols)
    R = hs[cols].corr().to_numpy()
    inv = np.linalg.inv(R)
    partial = -inv / np.sqrt(np.outer(np.diag(inv), np.diag(inv)))
    off = ~np.eye(9, dtype=bool)
    expected = np.sum(R[off] ** 2) / (np.sum(R[off] ** 2) + np.sum(partial[off] ** 2))
    assert res.kmo == pytest.approx(expected)
    # psych::KMO on a 300-row copy of HS (x1-x9): Overall MSA = 0.75; speeded addition (x7) 0.59.
    assert res.kmo == pytest.approx(0.75, abs=0.005)
    assert res.items["x7"] == pytest.approx(0.59, abs=0.005)


@pytest.mark.parametrize("rotation", ["varimax", "promax", "oblimin", None])
@pytest.mark.parametrize("method", ["pa", "ml"])
def test_planted_two_factor_structure_is_recovered(method, rotation):
    rng = np.random.default_rng(3)
    n = 3000
    f = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], size=n)
    lam = np.array([[0.8, 0], [0.7, 0], [0.6, 0], [0.75, 0], [0, 0.8], [0, 0.7], [0, 0.6], [0, 0.75]])
    x = f @ lam.T + rng.normal(size=(n, 8)) * np.sqrt(1 - np.sum(lam**2, axis=1))
    res = efa(
        pd.DataFrame(x, columns=[f"q{i}" for i in range(8)]), n_factors=2, method=method, rotation=rotation
    )
    assert res.communalities.to_numpy() == pytest.approx(np.sum(lam**2, axis=1), abs=0.05)
    if rotation in ("promax", "oblimin"):
        # Oblique rotations recover the simple structure and the factor correlation (0.4).
        main = res.loadings.abs().idxmax(axis=1).tolist()
        assert main == ["F1"] * 4 + ["F2"] * 4 or main == ["F2"] * 4 + ["F1"] * 4
        assert res.phi.iloc[0, 1] == pytest.approx(0.4, abs=0.07)
        pattern = np.sort(res.loadings.abs().to_numpy().max(axis=1))
        assert pattern == pytest.approx(np.sort(lam.max(axis=1)), abs=0.06)
    if rotation == "varimax":
        assert res.phi.to_numpy() == pytest.approx(np.eye(2))
    assert res.variance["cumulative"].iloc[-1] == pytest.approx(res.communalities.sum() / 8, abs=1e-6)


def test_efa_bad_input(ability):
    with pytest.raises(StatsInputError, match="n_factors"):
        efa(ability, n_factors=6)
    with pytest.raises(StatsInputError, match="too many"):
        efa(ability, n_factors=4, method="ml")
    with pytest.raises(StatsInputError, match="rotation"):
        efa(ability, n_factors=2, rotation="quartimax")
    with pytest.raises(StatsInputError, match="at least three items"):
        efa(ability, ["general", "picture"], n_factors=1)
    const = ability.assign(maze=1.0)
    with pytest.raises(StatsInputError, match="'maze' is constant"):
        efa(const, n_factors=2)
    dup = ability.assign(copy=ability["general"] * 2)
    with pytest.raises(StatsInputError, match="singular"):
        kmo(dup)


def test_heywood_case_is_a_documented_warning():
    # r(a,b) r(a,c) / r(b,c) = 1.2 > 1: a's uniqueness would be negative and stops at factanal's bound.
    target = np.array(
        [[1.0, 0.6, 0.6, 0.3], [0.6, 1.0, 0.3, 0.15], [0.6, 0.3, 1.0, 0.15], [0.3, 0.15, 0.15, 1.0]]
    )
    z = np.random.default_rng(1).normal(size=(300, 4))
    z = (z - z.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False)).T)
    df = pd.DataFrame(z @ np.linalg.cholesky(target).T, columns=list("abcd"))
    with pytest.warns(UserWarning, match="Heywood"):
        res = efa(df, n_factors=1, method="ml", rotation=None)
    assert res.uniquenesses["a"] == pytest.approx(0.005, abs=1e-3)
    assert res.warnings
