"""Covariance-based SEM (CFA and full SEM) by maximum likelihood, following lavaan's defaults.

The model is held in RAM form (McArdle & McDonald 1984): ``A`` holds directed paths (loadings and
regressions), ``S`` the (residual) variances and covariances, and the implied covariance of the observed
variables is ``Sigma = F (I - A)^-1 S (I - A)^-T F'``. The ML discrepancy
``F = log|Sigma| + tr(S_obs Sigma^-1) - log|S_obs| - p`` is minimised by Fisher scoring with the analytic
gradient and expected information (then BFGS if convergence turns slow); standard errors come from the expected information with N (not N - 1),
as lavaan's defaults (``likelihood = "normal"``, ``information = "expected"``).

lavaan defaults reproduced: the first loading of each latent variable fixed to 1 (marker variable),
residual variances free, covariances among exogenous latent variables free, residual covariances among
"pure" dependent variables free (``sem()``'s ``auto.cov.y``), and exogenous observed covariates treated as
fixed (``fixed.x = TRUE``: their variances/covariances are the sample values and are not counted in
``npar``).
"""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from patron.stats._sem_engine import (
    _Engine,
    _fit_engine,
    _fit_indices,
    _modification_indices,
    _Spec,
    _start_values,
)
from patron.stats._validation import (
    ModelSpecificationError,
    StatsInputError,
    StatsWarning,
    json_ready,
    numeric_columns,
    single_thread_blas,
)

__all__ = ["CBSEMResult", "cfa", "sem"]


@dataclass(frozen=True)
class CBSEMResult:
    """A fitted CFA/SEM model.

    Attributes
    ----------
    estimates : pandas.DataFrame
        lavaan's parameter table: ``lhs``, ``op``, ``rhs``, ``est``, ``se``, ``z``, ``pvalue``, ``std_all``,
        ``free``. Fixed parameters (marker loadings, fixed.x covariates) have NaN ``se``/``z``/``pvalue``.
    fit : dict
        ``chi2``, ``df``, ``pvalue``, ``chi2_df``, ``baseline_chi2``, ``baseline_df``, ``cfi``, ``tli``,
        ``nfi``, ``ifi``, ``rmsea``, ``rmsea_ci_low``, ``rmsea_ci_high``, ``rmsea_pvalue`` (H0: RMSEA <= .05),
        ``srmr``, ``gfi``, ``agfi``, ``loglik``, ``loglik_h1``, ``aic``, ``bic``, ``npar``, ``n_obs``. For a
        saturated model (df = 0) the indices that divide by df (``pvalue``, ``chi2_df``, ``tli``, ``agfi``,
        RMSEA's interval) are NaN by definition, and ``rmsea`` is 0.
    r2 : pandas.Series
        R² of every endogenous variable (indicators and dependent latent variables).
    converged : bool
    warnings : tuple of str
        Non-convergence, negative variances (Heywood cases), non-positive-definite latent covariance.
    """

    estimates: pd.DataFrame
    fit: dict[str, float]
    r2: pd.Series
    converged: bool
    iterations: int
    n_obs: int
    implied_cov: pd.DataFrame
    sample_cov: pd.DataFrame
    warnings: tuple[str, ...] = ()
    _engine: Any = field(default=None, repr=False, compare=False)
    _theta: Any = field(default=None, repr=False, compare=False)

    def to_frame(self) -> pd.DataFrame:
        return self.estimates

    def to_dict(self, data: pd.DataFrame | None = None) -> dict[str, Any]:
        """JSON-ready summary: ``fit`` (the fit indices), ``estimates`` (rows with lavaan's column names
        ``lhs``, ``op``, ``rhs``, ``est``, ``se``, ``z``, ``pvalue``, ``std_all``), ``r2`` (variable -> value),
        ``reliability`` (latent -> ``alpha``, ``omega``, ``cr``, ``ave``; alpha needs ``data``), ``converged``
        and ``warnings``. NaN becomes ``None``.
        """
        columns = ["lhs", "op", "rhs", "est", "se", "z", "pvalue", "std_all"]
        return json_ready(
            {
                "fit": dict(self.fit),
                "estimates": self.estimates[columns].to_dict(orient="records"),
                "r2": self.r2.to_dict(),
                "reliability": self.reliability(data).to_dict(orient="index"),
                "converged": self.converged,
                "warnings": list(self.warnings),
            }
        )

    def loadings(self) -> pd.DataFrame:
        """The ``=~`` rows of :attr:`estimates`."""
        return self.estimates[self.estimates["op"] == "=~"].reset_index(drop=True)

    def modification_indices(self, *, min_mi: float = 0.0) -> pd.DataFrame:
        """Modification indices (score tests) for parameters fixed at zero, as lavaan's ``modindices()``.

        Candidates: cross-loadings of every latent on every observed indicator it does not load, residual
        covariances between observed variables and covariances between latent variables that are not in
        the model. ``mi`` is the expected drop in chi2 when the parameter is freed and ``epc`` its expected
        value; sorted by ``mi`` descending.

        Examples
        --------
        >>> # fit = cfa(model, data=df); fit.modification_indices(min_mi=3.84).head()
        """
        return _modification_indices(self._engine, self._theta, min_mi)

    def latent_correlations(self) -> pd.DataFrame:
        """Model-implied correlation matrix of the latent variables (lavaan:
        ``lavInspect(fit, "cor.lv")``): what the Fornell-Larcker criterion compares sqrt(AVE) with.

        Examples
        --------
        >>> # fit = cfa("a =~ x1 + x2 + x3\\nb =~ x4 + x5 + x6", data=df); fit.latent_correlations()
        """
        engine, theta = self._engine, self._theta
        names = [name for name in engine.spec.latent if name in engine.spec.index]
        omega = engine.implied(theta)[2]
        idx = [engine.spec.index[name] for name in names]
        cov = omega[np.ix_(idx, idx)]
        sd = np.sqrt(np.clip(np.diag(cov), 1e-300, None))
        return pd.DataFrame(cov / np.outer(sd, sd), index=names, columns=names)

    def _omega(self, block: pd.DataFrame) -> float:
        return _omega_of(self, block)

    def reliability(self, data: pd.DataFrame | None = None) -> pd.DataFrame:
        """Reliability per latent variable.

        Columns: ``alpha`` (Cronbach's, of its observed indicators; needs ``data``), ``omega``
        (``(sum lambda)**2 psi`` over the observed variance of the item sum, as ``semTools::compRelSEM``;
        NaN for a latent with correlated residuals or latent indicators), ``cr`` and ``ave`` from the
        standardised loadings (``std_all``, Fornell & Larcker 1981).
        """
        from patron.stats.reliability import average_variance_extracted, composite_reliability, cronbach_alpha

        rows = {}
        lo = self.loadings()
        for lv in dict.fromkeys(lo["lhs"]):
            block = lo[lo["lhs"] == lv]
            lam = block["std_all"].to_numpy()
            row: dict[str, float] = {"alpha": float("nan")}
            if data is not None and len(block) >= 2 and set(block["rhs"]).issubset(data.columns):
                row["alpha"] = cronbach_alpha(data, list(block["rhs"])).alpha
            row["omega"] = self._omega(block)
            try:
                row["cr"] = composite_reliability(lam)
                row["ave"] = average_variance_extracted(lam)
            except StatsInputError:
                row["cr"] = row["ave"] = float("nan")
            rows[lv] = row
        return pd.DataFrame.from_dict(rows, orient="index")


def _omega_of(result: CBSEMResult, block: pd.DataFrame) -> float:
    items = list(block["rhs"])
    if not set(items).issubset(result.sample_cov.index):
        return float("nan")
    est = result.estimates
    lv = block["lhs"].iloc[0]
    psi = est[(est["op"] == "~~") & (est["lhs"] == lv) & (est["rhs"] == lv)]["est"]
    if psi.empty:
        return float("nan")
    true_var = block["est"].sum() ** 2 * float(psi.iloc[0])
    return float(true_var / result.sample_cov.loc[items, items].to_numpy().sum())


def _estimates(engine: _Engine, theta: np.ndarray, cov_theta: np.ndarray) -> tuple[pd.DataFrame, pd.Series]:
    spec = engine.spec
    A, Sm = engine.matrices(theta)
    _, _, omega = engine.implied(theta)
    sd = np.sqrt(np.clip(np.diag(omega), 0.0, None))
    free_pos = {id(p): k for k, p in enumerate(spec.free)}
    rows = []
    order = {"=~": 0, "~": 1}
    for p in spec.params:
        k = free_pos.get(id(p))
        est = float(theta[k]) if k is not None else float(p.value)
        se = float(np.sqrt(cov_theta[k, k])) if k is not None and np.isfinite(cov_theta[k, k]) else np.nan
        if p.fixed_x:
            se = np.nan
        if p.matrix == "A":
            std = est * sd[p.col] / sd[p.row] if sd[p.row] > 0 else np.nan
        elif p.row == p.col:
            std = est / omega[p.row, p.row] if omega[p.row, p.row] > 0 else np.nan
        else:
            denom = Sm[p.row, p.row] * Sm[p.col, p.col]
            std = est / np.sqrt(denom) if denom > 0 else np.nan
        z = est / se if se and np.isfinite(se) and se > 0 else np.nan
        rows.append(
            {
                "lhs": p.lhs,
                "op": p.op,
                "rhs": p.rhs,
                "est": est,
                "se": se,
                "z": z,
                "std_all": float(std),
                "free": bool(p.free and not p.fixed_x),
                "_order": order.get(p.op, 2 if p.user or p.row != p.col else 3),
            }
        )
    table = pd.DataFrame(rows)
    table.insert(6, "pvalue", 2.0 * stats.norm.sf(np.abs(table["z"].to_numpy())))
    table = table.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)
    endogenous = [v for v in spec.variables if np.any(A[spec.index[v], :] != 0)]
    r2 = pd.Series(
        {v: 1.0 - Sm[spec.index[v], spec.index[v]] / omega[spec.index[v], spec.index[v]] for v in endogenous},
        dtype=float,
    )
    return table, r2


def sem(
    model: str,
    data: pd.DataFrame,
    *,
    max_iter: int = 500,
    tol: float = 1e-9,
) -> CBSEMResult:
    """Fit a structural equation model by maximum likelihood (lavaan's ``sem()`` defaults).

    Parameters
    ----------
    model : str
        lavaan syntax: ``=~`` measurement, ``~`` regression, ``~~`` (residual) (co)variance, numeric
        modifiers ``1*x``, ``NA*x``. See :mod:`patron.stats.syntax`.
    data : pandas.DataFrame
        Complete numeric data; one column per observed variable of the model.
    max_iter : int
        Iterations (Fisher scoring, then BFGS) before giving up with a warning.
    tol : float
        Convergence criterion on the largest absolute gradient element of the ML discrepancy.

    Returns
    -------
    CBSEMResult

    Raises
    ------
    ModelSpecificationError
        Syntax errors, unknown variables, negative degrees of freedom or a non-identified model (singular
        information matrix; the message names the parameters involved).
    StatsInputError
        Missing, non-numeric or constant columns, or fewer rows than observed variables + 1.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> f = rng.normal(size=(400, 1))
    >>> df = pd.DataFrame(f @ [[1.0, 0.8, 0.6]] + rng.normal(scale=0.5, size=(400, 3)), columns=["a", "b", "c"])
    >>> fit = sem("f =~ a + b + c", data=df)
    >>> round(float(fit.estimates.loc[1, "est"]), 1)
    0.8
    """
    with single_thread_blas():
        return _sem(model, data, max_iter=max_iter, tol=tol)


def _sem(
    model: str,
    data: pd.DataFrame,
    *,
    max_iter: int = 500,
    tol: float = 1e-9,
) -> CBSEMResult:
    if not isinstance(data, pd.DataFrame):
        raise StatsInputError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    spec = _Spec(model, list(map(str, data.columns)))
    p = len(spec.observed)
    frame = numeric_columns(data, spec.observed, min_rows=p + 1)
    x = frame.to_numpy()
    n = x.shape[0]
    S = np.cov(x, rowvar=False, ddof=0).reshape(p, p)
    eig = np.linalg.eigvalsh(S)
    if eig.min() <= 1e-10 * eig.max():
        raise StatsInputError(
            "the sample covariance matrix is singular: some observed variables are linear combinations of others"
        )
    q = len(spec.free) - sum(1 for f in spec.free if f.fixed_x)
    moments = p * (p + 1) // 2 - sum(1 for f in spec.free if f.fixed_x)
    if q > moments:
        raise ModelSpecificationError(
            f"the model is not identified: {q} free parameters but only {moments} variances and covariances "
            f"(df = {moments - q})"
        )
    engine = _Engine(spec, S, n)
    theta0 = _start_values(spec, S)
    theta, converged, iterations = _fit_engine(engine, theta0, max_iter, tol)
    warnings: list[str] = []
    if not converged:
        warnings.append("the ML estimation did not converge; estimates and fit indices are unreliable")
    _, H = engine.gradient_and_information(theta)
    keep = np.array([not f.fixed_x for f in spec.free])
    H_free = H[np.ix_(keep, keep)]
    eigvals, eigvecs = np.linalg.eigh(H_free)
    if eigvals.min() <= 1e-9 * max(eigvals.max(), 1e-300):
        names = [f for f, k in zip(spec.free, keep, strict=True) if k]
        weak = np.argsort(-np.abs(eigvecs[:, 0]))[:3]
        involved = ", ".join(f"{names[i].lhs} {names[i].op} {names[i].rhs}" for i in weak)
        raise ModelSpecificationError(
            f"the model is not identified (singular information matrix); check the parameters {involved}"
        )
    cov_theta = np.full((len(spec.free), len(spec.free)), np.nan)
    cov_theta[np.ix_(keep, keep)] = 2.0 / n * np.linalg.inv(H_free)
    table, r2 = _estimates(engine, theta, cov_theta)
    fit = _fit_indices(engine, theta)
    variances = table[(table["op"] == "~~") & (table["lhs"] == table["rhs"])]
    negative = variances[variances["est"] < 0]
    for _, row in negative.iterrows():
        warnings.append(f"negative variance estimate for {row['lhs']} ({row['est']:.4g}): a Heywood case")
    _, _, omega = engine.implied(theta)
    li = [spec.index[v] for v in spec.latent]
    if li and np.linalg.eigvalsh(omega[np.ix_(li, li)]).min() < -1e-10:
        warnings.append("the latent covariance matrix is not positive definite")
    for message in warnings:
        _warnings.warn(message, StatsWarning, stacklevel=3)
    sigma = engine.implied(theta)[0]
    return CBSEMResult(
        estimates=table,
        fit=fit,
        r2=r2,
        converged=converged,
        iterations=iterations,
        n_obs=n,
        implied_cov=pd.DataFrame(sigma, index=spec.observed, columns=spec.observed),
        sample_cov=pd.DataFrame(S, index=spec.observed, columns=spec.observed),
        warnings=tuple(warnings),
        _engine=engine,
        _theta=theta,
    )


def cfa(model: str, data: pd.DataFrame, **kwargs: Any) -> CBSEMResult:
    """Confirmatory factor analysis by maximum likelihood (lavaan's ``cfa()``; same engine as :func:`sem`).

    Parameters
    ----------
    model : str
        Measurement model in lavaan syntax, e.g. ``"visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6"``.
    data : pandas.DataFrame
    **kwargs
        ``max_iter``, ``tol``; see :func:`sem`.

    Returns
    -------
    CBSEMResult

    Examples
    --------
    >>> # lavaan: cfa(HS.model, data = HolzingerSwineford1939)
    >>> # fit = cfa("visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9", data=hs)
    >>> # round(fit.fit["chi2"], 3) -> 85.306
    """
    return sem(model, data, **kwargs)
