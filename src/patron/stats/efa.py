"""Exploratory factor analysis: KMO, Bartlett's sphericity test, principal-axis and ML extraction, rotations.

Written on numpy/scipy (``factor_analyzer`` does not work with scikit-learn 1.9 and pandas 3). The ML
extraction follows R's ``factanal`` (uniquenesses by L-BFGS-B on the concentrated likelihood, Bartlett's
corrected chi-square); principal axis follows ``psych::fa(fm = "pa")`` (iterated communalities from
squared multiple correlations). Rotations: varimax with Kaiser normalisation, promax (power 4, from
varimax) and direct quartimin (``oblimin``, gamma = 0) by gradient projection (Bernaards & Jennrich 2005).
"""

from __future__ import annotations

import warnings as _warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from patron.stats._validation import StatsInputError, StatsWarning, numeric_columns

__all__ = ["BartlettResult", "EFAResult", "KMOResult", "bartlett_sphericity", "efa", "kmo"]


def _correlation(
    data: pd.DataFrame, columns: Sequence[str] | None, min_rows: int
) -> tuple[np.ndarray, list, int]:
    frame = numeric_columns(data, columns, min_rows=min_rows)
    if frame.shape[1] < 3:
        raise StatsInputError("factor analysis needs at least three items")
    R = np.corrcoef(frame.to_numpy(), rowvar=False)
    if np.linalg.eigvalsh(R).min() <= 1e-10:
        raise StatsInputError(
            "the correlation matrix is singular: some items are linear combinations of others"
        )
    return R, list(frame.columns), frame.shape[0]


@dataclass(frozen=True)
class KMOResult:
    """Kaiser-Meyer-Olkin measure of sampling adequacy.

    Attributes
    ----------
    kmo : float
        Overall MSA: sum r² / (sum r² + sum q²) over the off-diagonal correlations r and partial
        correlations q (> 0.6 is usually required, > 0.8 is good).
    items : pandas.Series
        MSA per item.
    """

    kmo: float
    items: pd.Series

    def to_frame(self) -> pd.DataFrame:
        return self.items.to_frame("msa")


def kmo(data: pd.DataFrame, columns: Sequence[str] | None = None) -> KMOResult:
    """Kaiser-Meyer-Olkin measure of sampling adequacy, overall and per item.

    Parameters
    ----------
    data : pandas.DataFrame
    columns : sequence of str, optional
        At least three numeric, complete, non-constant items.

    Returns
    -------
    KMOResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> f = rng.normal(size=(500, 1))
    >>> df = pd.DataFrame(f @ np.ones((1, 4)) + rng.normal(size=(500, 4)), columns=list("abcd"))
    >>> 0.7 < kmo(df).kmo < 0.9
    True
    """
    R, names, _ = _correlation(data, columns, min_rows=4)
    inv = np.linalg.inv(R)
    d = np.sqrt(np.diag(inv))
    Q = -inv / np.outer(d, d)
    np.fill_diagonal(Q, 0.0)
    r2 = R**2
    np.fill_diagonal(r2, 0.0)
    q2 = Q**2
    items = r2.sum(axis=0) / (r2.sum(axis=0) + q2.sum(axis=0))
    return KMOResult(
        kmo=float(r2.sum() / (r2.sum() + q2.sum())), items=pd.Series(items, index=names, name="msa")
    )


@dataclass(frozen=True)
class BartlettResult:
    """Bartlett's test of sphericity: ``chi2 = -(n - 1 - (2p + 5) / 6) ln|R|`` on ``p(p - 1)/2`` df."""

    chi2: float
    df: int
    pvalue: float
    n: int

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.__dict__])


def bartlett_sphericity(data: pd.DataFrame, columns: Sequence[str] | None = None) -> BartlettResult:
    """Bartlett's test that the item correlation matrix is an identity matrix.

    Parameters
    ----------
    data : pandas.DataFrame
    columns : sequence of str, optional

    Returns
    -------
    BartlettResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> f = rng.normal(size=(200, 1))
    >>> df = pd.DataFrame(f @ np.ones((1, 3)) + rng.normal(size=(200, 3)), columns=list("abc"))
    >>> bartlett_sphericity(df).pvalue < 0.001
    True
    """
    R, names, n = _correlation(data, columns, min_rows=4)
    p = len(names)
    chi2 = -(n - 1 - (2 * p + 5) / 6.0) * np.linalg.slogdet(R)[1]
    df = p * (p - 1) // 2
    return BartlettResult(chi2=float(chi2), df=df, pvalue=float(stats.chi2.sf(chi2, df)), n=n)


# ------------------------------------------------------------------ extraction


def _principal_axis(R: np.ndarray, k: int, max_iter: int, tol: float) -> tuple[np.ndarray, bool, int]:
    h2 = 1.0 - 1.0 / np.diag(np.linalg.inv(R))
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        Rr = R.copy()
        np.fill_diagonal(Rr, h2)
        values, vectors = np.linalg.eigh(Rr)
        order = np.argsort(values)[::-1][:k]
        L = vectors[:, order] * np.sqrt(np.clip(values[order], 0.0, None))
        h2_new = np.sum(L**2, axis=1)
        change = np.max(np.abs(h2_new - h2))
        h2 = h2_new
        if change < tol:
            converged = True
            break
    return L, converged, it


def _ml_objective(psi: np.ndarray, R: np.ndarray, k: int) -> float:
    s = 1.0 / np.sqrt(psi)
    values = np.linalg.eigvalsh(R * np.outer(s, s))[::-1]
    e = values[k:]
    return float(-(np.sum(np.log(e) - e) - k + R.shape[0]))


def _ml_loadings(psi: np.ndarray, R: np.ndarray, k: int) -> np.ndarray:
    s = 1.0 / np.sqrt(psi)
    values, vectors = np.linalg.eigh(R * np.outer(s, s))
    order = np.argsort(values)[::-1][:k]
    L = vectors[:, order] * np.sqrt(np.clip(values[order] - 1.0, 0.0, None))
    return np.sqrt(psi)[:, None] * L


def _ml_gradient(psi: np.ndarray, R: np.ndarray, k: int) -> np.ndarray:
    L = _ml_loadings(psi, R, k)
    g = L @ L.T + np.diag(psi) - R
    return np.diag(g) / psi**2


def _maximum_likelihood(
    R: np.ndarray, k: int, max_iter: int, tol: float
) -> tuple[np.ndarray, np.ndarray, bool, int]:
    p = R.shape[0]
    start = (1.0 - 0.5 * k / p) / np.diag(np.linalg.inv(R))
    res = optimize.minimize(
        _ml_objective,
        start,
        args=(R, k),
        jac=_ml_gradient,
        method="L-BFGS-B",
        bounds=[(0.005, 1.0)] * p,
        options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-10},
    )
    return _ml_loadings(res.x, R, k), res.x, bool(res.success), int(res.nit)


# ------------------------------------------------------------------ rotation


def _varimax(L: np.ndarray, eps: float = 1e-5, max_iter: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Kaiser-normalised varimax by SVD steps; stops when the criterion gains less than ``eps`` (relative),
    R's ``stats::varimax`` default, so that loadings agree with R to the printed decimals."""
    k = L.shape[1]
    if k < 2:
        return L, np.eye(k)
    sc = np.sqrt(np.sum(L**2, axis=1))
    x = L / sc[:, None]
    p = x.shape[0]
    T = np.eye(k)
    d = 0.0
    for _ in range(max_iter):
        z = x @ T
        B = x.T @ (z**3 - z * (np.sum(z**2, axis=0) / p))
        u, s, vt = np.linalg.svd(B)
        T = u @ vt
        d_past, d = d, float(np.sum(s))
        if d < d_past * (1 + eps):
            break
    return (x @ T) * sc[:, None], T


def _promax(L: np.ndarray, power: int = 4) -> tuple[np.ndarray, np.ndarray]:
    k = L.shape[1]
    if k < 2:
        return L, np.eye(k)
    x, T_vari = _varimax(L)
    target = x * np.abs(x) ** (power - 1)
    U = np.linalg.lstsq(x, target, rcond=None)[0]
    d = np.diag(np.linalg.inv(U.T @ U))
    U = U @ np.diag(np.sqrt(d))
    return x @ U, T_vari @ U


def _quartimin(L: np.ndarray, eps: float = 1e-8, max_iter: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Direct quartimin by the oblique gradient projection algorithm; returns pattern and T (L T'^-1)."""
    k = L.shape[1]
    if k < 2:
        return L, np.eye(k)
    N = np.ones((k, k)) - np.eye(k)

    def criterion(P: np.ndarray) -> tuple[float, np.ndarray]:
        X = P**2
        XN = X @ N
        return float(np.sum(X * XN) / 4.0), P * XN

    T = np.eye(k)
    P = L @ np.linalg.inv(T).T
    f, Gq = criterion(P)
    G = -(P.T @ Gq @ np.linalg.inv(T)).T
    alpha = 1.0
    for _ in range(max_iter):
        Gp = G - T @ np.diag(np.sum(T * G, axis=0))
        s = np.sqrt(np.sum(Gp**2))
        if s < eps:
            break
        alpha *= 2.0
        for _ in range(11):
            X = T - alpha * Gp
            T_new = X / np.sqrt(np.sum(X**2, axis=0))
            P_new = L @ np.linalg.inv(T_new).T
            f_new, Gq_new = criterion(P_new)
            if f - f_new > 0.5 * s**2 * alpha:
                break
            alpha /= 2.0
        T, P, f = T_new, P_new, f_new
        G = -(P.T @ Gq_new @ np.linalg.inv(T)).T
    return P, T


@dataclass(frozen=True)
class EFAResult:
    """An exploratory factor analysis.

    Attributes
    ----------
    loadings : pandas.DataFrame
        Rotated loadings (the pattern matrix for oblique rotations), factors ordered by explained
        variance and signed so that each column sums to a positive number.
    structure : pandas.DataFrame
        Structure matrix (item-factor correlations) = loadings @ phi.
    phi : pandas.DataFrame
        Factor correlations (identity for orthogonal rotations).
    communalities, uniquenesses : pandas.Series
        h² (from the unrotated solution) and 1 - h².
    variance : pandas.DataFrame
        Per factor: ``ss_loadings``, ``proportion``, ``cumulative`` (of the total item variance).
    chi2, df, pvalue : float
        ML only: Bartlett-corrected likelihood-ratio test that ``n_factors`` are sufficient (as R's
        ``factanal``); NaN for principal axis.
    """

    loadings: pd.DataFrame
    structure: pd.DataFrame
    phi: pd.DataFrame
    communalities: pd.Series
    uniquenesses: pd.Series
    variance: pd.DataFrame
    method: str
    rotation: str | None
    chi2: float
    df: float
    pvalue: float
    n_obs: int
    converged: bool
    iterations: int
    warnings: tuple[str, ...] = field(default=())

    def to_frame(self) -> pd.DataFrame:
        return self.loadings.assign(h2=self.communalities, u2=self.uniquenesses)


def efa(
    data: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    n_factors: int,
    method: str = "pa",
    rotation: str | None = "varimax",
    max_iter: int = 1000,
    tol: float = 1e-9,
) -> EFAResult:
    """Exploratory factor analysis with principal-axis or maximum-likelihood extraction.

    Parameters
    ----------
    data : pandas.DataFrame
    columns : sequence of str, optional
        Items (default: all); numeric, complete, not constant.
    n_factors : int
        Number of factors; ML needs a non-negative number of degrees of freedom
        (``((p - k)**2 - p - k) / 2 >= 0``).
    method : {"pa", "ml"}
        Principal axis (iterated communalities, starting from squared multiple correlations) or maximum
        likelihood (R's ``factanal``).
    rotation : {"varimax", "promax", "oblimin", None}
        ``oblimin`` is direct quartimin (gamma = 0).
    max_iter, tol : convergence controls of the extraction.

    Returns
    -------
    EFAResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> f = rng.normal(size=(600, 2))
    >>> lam = np.array([[0.8, 0], [0.7, 0], [0.6, 0], [0, 0.8], [0, 0.7], [0, 0.6]])
    >>> df = pd.DataFrame(f @ lam.T + rng.normal(scale=0.6, size=(600, 6)), columns=list("abcdef"))
    >>> res = efa(df, n_factors=2, method="ml", rotation="varimax")
    >>> res.loadings.abs().idxmax(axis=1).tolist()
    ['F1', 'F1', 'F1', 'F2', 'F2', 'F2']
    """
    if method not in ("pa", "ml"):
        raise StatsInputError(f"method must be 'pa' or 'ml', got {method!r}")
    if rotation not in ("varimax", "promax", "oblimin", None):
        raise StatsInputError(f"rotation must be 'varimax', 'promax', 'oblimin' or None, got {rotation!r}")
    R, names, n = _correlation(data, columns, min_rows=4)
    p = len(names)
    k = int(n_factors)
    if k != n_factors or k < 1 or k >= p:
        raise StatsInputError(f"n_factors must be an integer from 1 to {p - 1}, got {n_factors!r}")
    dof = ((p - k) ** 2 - p - k) / 2.0
    warnings: list[str] = []
    chi2 = pvalue = float("nan")
    if method == "ml":
        if dof < 0:
            raise StatsInputError(f"{k} factors are too many for {p} items under ML (df = {dof:g})")
        L, psi, converged, iterations = _maximum_likelihood(R, k, max_iter, tol)
        objective = _ml_objective(psi, R, k)
        chi2 = float((n - 1 - (2 * p + 5) / 6.0 - 2 * k / 3.0) * objective)
        pvalue = float(stats.chi2.sf(chi2, dof)) if dof > 0 else float("nan")
        if np.any(psi <= 0.005 + 1e-9):
            warnings.append("a uniqueness reached the lower bound 0.005: a Heywood case")
    else:
        L, converged, iterations = _principal_axis(R, k, max_iter, tol)
    if not converged:
        warnings.append(f"the {method} extraction did not converge in {max_iter} iterations")
    h2 = np.sum(L**2, axis=1)
    if np.any(h2 >= 1.0) and method == "pa":
        warnings.append("a communality reached 1 or more: a Heywood case")
    if rotation == "varimax":
        P, T = _varimax(L)
        phi = np.eye(k)
    elif rotation == "promax":
        P, T = _promax(L)
        phi = np.linalg.inv(T.T @ T)
    elif rotation == "oblimin":
        P, T = _quartimin(L)
        phi = T.T @ T
    else:
        P, phi = L, np.eye(k)
    # Sign: each factor positive on balance; order: by explained variance (of the pattern, as psych).
    signs = np.where(P.sum(axis=0) < 0, -1.0, 1.0)
    P = P * signs
    phi = phi * np.outer(signs, signs)
    order = np.argsort(-np.sum(P**2, axis=0), kind="stable")
    P = P[:, order]
    phi = phi[np.ix_(order, order)]
    factors = [f"F{i + 1}" for i in range(k)]
    structure = P @ phi
    ss = np.sum(P * structure, axis=0) if rotation in ("promax", "oblimin") else np.sum(P**2, axis=0)
    variance = pd.DataFrame(
        {"ss_loadings": ss, "proportion": ss / p, "cumulative": np.cumsum(ss) / p}, index=factors
    )
    for message in warnings:
        _warnings.warn(message, StatsWarning, stacklevel=2)
    return EFAResult(
        loadings=pd.DataFrame(P, index=names, columns=factors),
        structure=pd.DataFrame(structure, index=names, columns=factors),
        phi=pd.DataFrame(phi, index=factors, columns=factors),
        communalities=pd.Series(h2, index=names, name="h2"),
        uniquenesses=pd.Series(1.0 - h2, index=names, name="u2"),
        variance=variance,
        method=method,
        rotation=rotation,
        chi2=chi2,
        df=dof,
        pvalue=pvalue,
        n_obs=n,
        converged=converged,
        iterations=iterations,
        warnings=tuple(warnings),
    )
