"""PLS-SEM (partial least squares path modelling), Mode A outer weights and the path weighting scheme.

The algorithm is Lohmöller's (1989) as implemented by seminr and SmartPLS: items are standardised (N - 1),
outer weights start at 1, and in each iteration the inner proxy of a construct is the weighted sum of its
neighbours (path weighting: regression coefficients for its predecessors, correlations for its
successors); Mode A weights are the correlations of the items with that proxy. Everything runs on the
item correlation matrix, so a bootstrap resample costs one ``n x p`` product plus a few ``p x p`` steps.

The model uses lavaan syntax: ``=~`` defines a Mode A (reflective) block, ``~`` a structural path.
"""

from __future__ import annotations

import os
import warnings as _warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from patron.stats._pls_engine import (
    _boot_chunk,
    _estimate,
    _PLSModel,
    _regress,
    _standardise,
)
from patron.stats._validation import (
    ModelSpecificationError,
    StatsInputError,
    StatsWarning,
    as_frame,
    json_ready,
    numeric_columns,
    single_thread_blas,
)

__all__ = ["PLSBootstrap", "PLSResult", "pls_sem"]


@dataclass(frozen=True)
class PLSBootstrap:
    """Bootstrap of a PLS model.

    Attributes
    ----------
    paths, loadings, weights : pandas.DataFrame
        ``est`` (original sample), ``boot_mean``, ``se`` (bootstrap SD), ``t`` (est / se), ``pvalue`` (two-sided,
        t distribution with n_boot - 1 df), ``ci_low``/``ci_high`` (percentile interval at level ``ci``).
    n_boot : int
        Resamples used (resamples with a constant item are dropped and counted in ``warnings``).
    """

    paths: pd.DataFrame
    loadings: pd.DataFrame
    weights: pd.DataFrame
    n_boot: int
    seed: int
    ci: float
    warnings: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        return self.paths


@dataclass(frozen=True)
class PLSResult:
    """A fitted PLS path model.

    Attributes
    ----------
    paths : pandas.DataFrame
        ``lhs``, ``op`` (``~``), ``rhs``, ``est`` (standardised path coefficient), ``f2`` (Cohen's effect size).
    outer : pandas.DataFrame
        One row per item: ``construct``, ``loading``, ``weight``.
    r2, r2_adj : pandas.Series
        R² and adjusted R² of the endogenous constructs.
    reliability : pandas.DataFrame
        Per construct: ``alpha``, ``rho_a`` (Dijkstra-Henseler), ``cr`` (rho_C) and ``ave``. ``alpha`` and
        ``rho_a`` are undefined (NaN, by definition) for a single-item block; ``cr`` and ``ave`` are 1 there.
    construct_corr : pandas.DataFrame
        Correlations of the construct scores.
    scores : pandas.DataFrame
        Standardised construct scores.
    """

    paths: pd.DataFrame
    outer: pd.DataFrame
    r2: pd.Series
    r2_adj: pd.Series
    reliability: pd.DataFrame
    construct_corr: pd.DataFrame
    scores: pd.DataFrame
    converged: bool
    iterations: int
    n_obs: int
    warnings: tuple[str, ...] = ()
    _model: Any = field(default=None, repr=False, compare=False)
    _x: Any = field(default=None, repr=False, compare=False)
    _options: Any = field(default=None, repr=False, compare=False)

    def to_frame(self) -> pd.DataFrame:
        return self.paths

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: ``paths`` (rows ``lhs``, ``op``, ``rhs``, ``est``, ``f2``), ``outer`` (item ->
        ``construct``, ``loading``, ``weight``), ``r2``, ``r2_adj``, ``reliability`` (construct -> ``alpha``,
        ``rho_a``, ``cr``, ``ave``), ``converged`` and ``warnings``. NaN becomes ``None``.
        """
        return json_ready(
            {
                "paths": self.paths.to_dict(orient="records"),
                "outer": self.outer.to_dict(orient="index"),
                "r2": self.r2.to_dict(),
                "r2_adj": self.r2_adj.to_dict(),
                "reliability": self.reliability.to_dict(orient="index"),
                "converged": self.converged,
                "warnings": list(self.warnings),
            }
        )

    def _weights_matrix(self) -> np.ndarray:
        model: _PLSModel = self._model
        W = np.zeros((len(model.items), len(model.constructs)))
        W[np.arange(len(model.items)), model.item_block] = self.outer["weight"].to_numpy()
        return W

    def fornell_larcker(self) -> pd.DataFrame:
        """Fornell-Larcker table from the AVEs and the construct-score correlations."""
        from patron.stats.discriminant import fornell_larcker

        return fornell_larcker(self.reliability["ave"], self.construct_corr)

    def htmt(self) -> pd.DataFrame:
        """HTMT of the blocks with at least two items (Henseler et al. 2015)."""
        from patron.stats.discriminant import htmt

        model: _PLSModel = self._model
        blocks = {c: list(b) for c, b in zip(model.constructs, model.blocks, strict=True) if len(b) >= 2}
        frame = pd.DataFrame(self._x, columns=list(model.items))
        return htmt(frame, blocks)

    def bootstrap(
        self, n_boot: int = 5000, *, seed: int = 0, n_jobs: int | None = None, ci: float = 0.95
    ) -> PLSBootstrap:
        """Bootstrap standard errors, t-values, p-values and percentile intervals.

        Parameters
        ----------
        n_boot : int, default 5000
        seed : int, default 0
            Resample ``b`` always uses the ``b``-th child of ``numpy.random.SeedSequence(seed)``, so the
            result does not depend on ``n_jobs``.
        n_jobs : int, optional
            Worker processes (default: the CPU count, at most 8; 1 runs in this process).
        ci : float, default 0.95

        Returns
        -------
        PLSBootstrap

        Examples
        --------
        >>> # boot = pls_sem(model, data=df).bootstrap(5000, seed=1); boot.paths[["est", "t", "pvalue"]]
        """
        if n_boot < 10:
            raise StatsInputError(f"n_boot must be at least 10, got {n_boot}")
        if not 0 < ci < 1:
            raise StatsInputError(f"ci must lie in (0, 1), got {ci}")
        model: _PLSModel = self._model
        max_iter, tol = self._options
        children = np.random.SeedSequence(seed).spawn(n_boot)
        n_jobs = min(os.cpu_count() or 1, 8) if n_jobs is None else max(1, int(n_jobs))
        # Fixed-size chunks (not one per worker), so that results do not depend on n_jobs.
        chunks = [np.arange(i, min(i + 100, n_boot)) for i in range(0, n_boot, 100)]
        W0 = self._weights_matrix()
        tasks = [
            (model, self._x, [children[i] for i in chunk], max_iter, tol, W0)
            for chunk in chunks
            if len(chunk)
        ]
        if n_jobs == 1:
            results = [_boot_chunk(t) for t in tasks]
        else:
            with ProcessPoolExecutor(max_workers=n_jobs) as pool:
                results = list(pool.map(_boot_chunk, tasks))
        paths = np.vstack([r[0] for r in results])
        loads = np.vstack([r[1] for r in results])
        weights = np.vstack([r[2] for r in results])
        failed = sum(r[3] for r in results)
        warnings = ()
        if failed:
            warnings = (f"{failed} of {n_boot} resamples had a constant item and were dropped",)
        alpha = 1 - ci

        def table(draws: np.ndarray, est: np.ndarray, index: pd.MultiIndex | pd.Index) -> pd.DataFrame:
            draws = draws[~np.isnan(draws).any(axis=1)]
            se = draws.std(axis=0, ddof=1)
            t = np.divide(est, se, out=np.full_like(est, np.nan), where=se > 0)
            return pd.DataFrame(
                {
                    "est": est,
                    "boot_mean": draws.mean(axis=0),
                    "se": se,
                    "t": t,
                    "pvalue": 2 * stats.t.sf(np.abs(t), len(draws) - 1),
                    "ci_low": np.quantile(draws, alpha / 2, axis=0),
                    "ci_high": np.quantile(draws, 1 - alpha / 2, axis=0),
                },
                index=index,
            )

        path_index = pd.Index([f"{r.lhs} ~ {r.rhs}" for r in self.paths.itertuples()], name="path")
        item_index = pd.Index(self.outer.index, name="item")
        return PLSBootstrap(
            paths=table(paths, self.paths["est"].to_numpy(), path_index),
            loadings=table(loads, self.outer["loading"].to_numpy(), item_index),
            weights=table(weights, self.outer["weight"].to_numpy(), item_index),
            n_boot=n_boot - failed,
            seed=seed,
            ci=ci,
            warnings=warnings,
        )

    def q2(self, omission_distance: int = 7) -> pd.Series:
        """Stone-Geisser Q² by blindfolding (cross-validated redundancy) for each endogenous construct.

        Data points of a construct's items are omitted in the diagonal pattern of SmartPLS (point number
        ``item * n_cases + case``, every ``omission_distance``-th one per round), replaced by the item mean of
        the kept points, the model re-estimated, and the omitted points predicted from the construct's
        predecessors: ``x_hat = loading * sum(path * score)``. ``Q² = 1 - SSE / SSO`` with SSO the squared
        deviations from the kept-point mean. Q² > 0 means predictive relevance.

        Parameters
        ----------
        omission_distance : int, default 7
            Must not divide the number of cases (otherwise whole cases are left out together).
        """
        model: _PLSModel = self._model
        max_iter, tol = self._options
        x = self._x
        n = x.shape[0]
        d = int(omission_distance)
        if d < 2 or n % d == 0:
            raise StatsInputError(f"omission_distance must be >= 2 and not divide the {n} cases, got {d}")
        out = {}
        for j, name in enumerate(model.constructs):
            preds = [a for a, b in model.paths if b == j]
            if not preds:
                continue
            cols = np.flatnonzero(model.item_block == j)
            sse = sso = 0.0
            # Data points are numbered down the columns (case fastest), so with n not a multiple of d every
            # round omits a diagonal band: some points of every item and of every case.
            point = (np.arange(len(cols))[None, :] * n + np.arange(n)[:, None]) % d
            for r in range(d):
                mask = point == r
                xr = x.copy()
                block = xr[:, cols]
                for c in range(len(cols)):
                    kept_mean = block[~mask[:, c], c].mean()
                    block[mask[:, c], c] = kept_mean
                xr[:, cols] = block
                z = _standardise(xr)
                est = _estimate(model, np.corrcoef(z, rowvar=False), max_iter, tol)
                scores = z @ est["W"]
                predicted_score = scores[:, preds] @ est["B"][preds, j]
                # Back to the raw item scale of the kept data.
                mu = xr[:, cols].mean(axis=0)
                sd = xr[:, cols].std(axis=0, ddof=1)
                x_hat = mu + sd * (predicted_score[:, None] * est["loadings"][cols][None, :])
                original = x[:, cols]
                sse += float(np.sum(((original - x_hat) ** 2)[mask]))
                sso += float(np.sum(((original - mu) ** 2)[mask]))
            out[name] = 1.0 - sse / sso
        return pd.Series(out, name="q2")


def pls_sem(
    model: str,
    data: pd.DataFrame,
    *,
    max_iter: int = 300,
    tol: float = 1e-7,
) -> PLSResult:
    """Estimate a PLS path model (Mode A blocks, path weighting scheme), as seminr/SmartPLS.

    Parameters
    ----------
    model : str
        lavaan syntax: ``=~`` blocks (each item in one block) and ``~`` structural paths between blocks.
    data : pandas.DataFrame
        Complete numeric item columns, none constant.
    max_iter : int, default 300
    tol : float, default 1e-7
        Stop when no outer weight changes by more than ``tol``.

    Returns
    -------
    PLSResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> f = rng.normal(size=300); g = 0.6 * f + 0.8 * rng.normal(size=300)
    >>> df = pd.DataFrame({f"a{i}": f + 0.5 * rng.normal(size=300) for i in range(3)}
    ...                   | {f"b{i}": g + 0.5 * rng.normal(size=300) for i in range(3)})
    >>> res = pls_sem("A =~ a0 + a1 + a2\\nB =~ b0 + b1 + b2\\nB ~ A", data=df)
    >>> round(float(res.paths["est"].iloc[0]), 1)
    0.6
    """
    with single_thread_blas():
        return _pls_sem(model, data, max_iter=max_iter, tol=tol)


def _pls_sem(model: str, data: pd.DataFrame, *, max_iter: int, tol: float) -> PLSResult:
    data = as_frame(data)
    spec = _PLSModel.from_syntax(model)
    missing = [i for i in spec.items if i not in data.columns]
    if missing:
        raise ModelSpecificationError(f"item {missing[0]!r} is not a column of the data", column=missing[0])
    frame = numeric_columns(data, list(spec.items), min_rows=max(len(spec.constructs) + 2, 5))
    x = frame.to_numpy()
    z = _standardise(x)
    R = np.corrcoef(z, rowvar=False)
    eig = np.linalg.eigvalsh(R)
    warnings: list[str] = []
    if eig.min() <= 1e-10:
        raise StatsInputError(
            "the item correlation matrix is singular: some items are linear combinations of others"
        )
    est = _estimate(spec, R, max_iter, tol)
    if not est["converged"]:
        warnings.append(
            f"the PLS algorithm did not converge in {max_iter} iterations; estimates are unreliable"
        )
    k = len(spec.constructs)
    n = x.shape[0]
    names = list(spec.constructs)
    C = est["C"]
    rows = []
    for a, b in spec.paths:
        preds = [i for i, j in spec.paths if j == b]
        others = [i for i in preds if i != a]
        r2_full = est["r2"][b]
        r2_reduced = _regress(C, b, others)[1] if others else 0.0
        rows.append(
            {
                "lhs": names[b],
                "op": "~",
                "rhs": names[a],
                "est": float(est["B"][a, b]),
                "f2": float((r2_full - r2_reduced) / (1.0 - r2_full)),
            }
        )
    r2 = {}
    r2_adj = {}
    for j in range(k):
        preds = [a for a, b in spec.paths if b == j]
        if preds:
            r2[names[j]] = float(est["r2"][j])
            r2_adj[names[j]] = float(1 - (1 - est["r2"][j]) * (n - 1) / (n - len(preds) - 1))
    outer = pd.DataFrame(
        {
            "construct": [names[j] for j in spec.item_block],
            "loading": est["loadings"],
            "weight": est["weights"],
        },
        index=pd.Index(spec.items, name="item"),
    )
    rel = {}
    for j, name in enumerate(names):
        cols = np.flatnonzero(spec.item_block == j)
        lam = est["loadings"][cols]
        w = est["weights"][cols]
        row = {"alpha": float("nan"), "rho_a": float("nan")}
        if len(cols) >= 2:
            # Cronbach's alpha of the standardised items, as seminr and SmartPLS print it.
            Rb = R[np.ix_(cols, cols)]
            row["alpha"] = float(len(cols) / (len(cols) - 1) * (1 - len(cols) / Rb.sum()))
            off = Rb - np.diag(np.diag(Rb))
            ww = np.outer(w, w)
            row["rho_a"] = float((w @ w) ** 2 * (w @ off @ w) / (w @ (ww - np.diag(np.diag(ww))) @ w))
        row["cr"] = float(lam.sum() ** 2 / (lam.sum() ** 2 + np.sum(1 - lam**2)))
        row["ave"] = float(np.mean(lam**2))
        rel[name] = row
    negative = outer[outer["loading"] < 0]
    for item, r in negative.iterrows():
        warnings.append(f"item {item!r} loads negatively on {r['construct']!r}; reverse-code it")
    for message in warnings:
        _warnings.warn(message, StatsWarning, stacklevel=3)
    scores = pd.DataFrame(z @ est["W"], columns=names, index=frame.index)
    return PLSResult(
        paths=pd.DataFrame(rows),
        outer=outer,
        r2=pd.Series(r2, name="r2"),
        r2_adj=pd.Series(r2_adj, name="r2_adj"),
        reliability=pd.DataFrame.from_dict(rel, orient="index"),
        construct_corr=pd.DataFrame(C, index=names, columns=names),
        scores=scores,
        converged=bool(est["converged"]),
        iterations=int(est["iterations"]),
        n_obs=n,
        warnings=tuple(warnings),
        _model=spec,
        _x=x,
        _options=(max_iter, tol),
    )
