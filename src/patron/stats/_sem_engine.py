"""ML machinery of :mod:`patron.stats.cbsem`: model specification in RAM form, discrepancy, gradient,
expected information, estimation, fit indices and modification indices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, optimize, stats

from patron.stats._validation import ModelSpecificationError
from patron.stats.syntax import parse_model


@dataclass
class _Param:
    lhs: str
    op: str
    rhs: str
    matrix: str  # "A" or "S"
    row: int
    col: int
    free: bool
    value: float
    fixed_x: bool = False
    user: bool = True


class _Spec:
    """Variables and parameters of a model, built from parsed statements with lavaan's defaults."""

    def __init__(self, model: str, columns: Sequence[str]) -> None:
        statements = parse_model(model)
        latent: list[str] = []
        for s in statements:
            if s.op == "=~" and s.lhs not in latent:
                latent.append(s.lhs)
        names_in_order: list[str] = []
        for s in statements:
            for name in (s.lhs, s.rhs):
                if name not in names_in_order:
                    names_in_order.append(name)
        # Indicators first (in order of appearance), then the other observed variables.
        indicators = [s.rhs for s in statements if s.op == "=~" and s.rhs not in latent]
        observed: list[str] = []
        for name in indicators + names_in_order:
            if name not in latent and name not in observed:
                observed.append(name)
        missing = [name for name in observed if name not in columns]
        if missing:
            raise ModelSpecificationError(
                f"variable {missing[0]!r} of the model is neither a column of the data nor a latent variable "
                "(defined with =~)",
                column=missing[0],
            )
        self.latent = latent
        self.observed = observed
        self.variables = observed + latent
        index = {name: i for i, name in enumerate(self.variables)}
        self.index = index
        regress_lhs = {s.lhs for s in statements if s.op == "~"}
        regress_rhs = {s.rhs for s in statements if s.op == "~"}
        measured = {s.rhs for s in statements if s.op == "=~"}
        for lv in latent:
            if not any(s.op == "=~" and s.lhs == lv for s in statements):
                raise ModelSpecificationError(f"latent variable {lv!r} has no indicators", column=lv)
        params: list[_Param] = []
        # Loadings.
        for lv in latent:
            block = [s for s in statements if s.op == "=~" and s.lhs == lv]
            for k, s in enumerate(block):
                if s.fixed is not None:
                    free, value = False, s.fixed
                elif k == 0 and not s.free_marker:
                    free, value = False, 1.0
                else:
                    free, value = True, np.nan
                params.append(_Param(s.lhs, "=~", s.rhs, "A", index[s.rhs], index[s.lhs], free, value))
        # Regressions.
        for s in statements:
            if s.op == "~":
                free = s.fixed is None
                params.append(
                    _Param(s.lhs, "~", s.rhs, "A", index[s.lhs], index[s.rhs], free, 0.0 if free else s.fixed)
                )
        # User (co)variances.
        user_cov = set()
        for s in statements:
            if s.op == "~~":
                i, j = index[s.lhs], index[s.rhs]
                user_cov.add((min(i, j), max(i, j)))
                free = s.fixed is None
                params.append(_Param(s.lhs, "~~", s.rhs, "S", i, j, free, np.nan if free else s.fixed))
        # Exogenous observed covariates (fixed.x) and pure dependent variables (auto.cov.y).
        self.fixed_x = [
            v for v in observed if v in regress_rhs and v not in regress_lhs and v not in measured
        ]
        pure_y = [
            v for v in self.variables if v in regress_lhs and v not in regress_rhs and v not in measured
        ]
        lv_x = [v for v in latent if v not in regress_lhs and v not in measured]
        auto_pairs: list[tuple[str, str, bool]] = []
        for group, is_x in ((lv_x, False), (self.fixed_x, True), (pure_y, False)):
            for a_pos, a in enumerate(group):
                for b in group[a_pos + 1 :]:
                    auto_pairs.append((a, b, is_x))
        for a, b, is_x in auto_pairs:
            i, j = index[a], index[b]
            if (min(i, j), max(i, j)) not in user_cov:
                params.append(_Param(a, "~~", b, "S", i, j, True, np.nan, fixed_x=is_x, user=False))
        # A single-indicator latent variable: its indicator's residual variance is fixed to zero (lavaan does
        # the same), otherwise the latent variance and that residual are not separately identified.
        single = {
            block[0]
            for lv in latent
            if len(block := [s.rhs for s in statements if s.op == "=~" and s.lhs == lv]) == 1
            and block[0] in observed
        }
        for v in self.variables:
            i = index[v]
            if (i, i) not in user_cov:
                if v in single:
                    params.append(_Param(v, "~~", v, "S", i, i, False, 0.0, user=False))
                    continue
                params.append(
                    _Param(v, "~~", v, "S", i, i, True, np.nan, fixed_x=v in self.fixed_x, user=False)
                )
        self.params = params
        self.free = [p for p in params if p.free]


class _Engine:
    """Implied covariance, ML discrepancy, gradient and expected information of one model on one S."""

    def __init__(self, spec: _Spec, sample_cov: np.ndarray, n_obs: int) -> None:
        self.spec = spec
        self.S = sample_cov
        self.n = n_obs
        self.m = len(spec.variables)
        self.p = len(spec.observed)
        self.logdet_S = float(np.linalg.slogdet(sample_cov)[1])
        free = spec.free
        self.kind_a = np.array([p.matrix == "A" for p in free])
        self.rows = np.array([p.row for p in free], dtype=int)
        self.cols = np.array([p.col for p in free], dtype=int)
        self.diag_s = (~self.kind_a) & (self.rows == self.cols)
        self.A0 = np.zeros((self.m, self.m))
        self.S0 = np.zeros((self.m, self.m))
        for p in spec.params:
            if not p.free:
                if p.matrix == "A":
                    self.A0[p.row, p.col] = p.value
                else:
                    self.S0[p.row, p.col] = self.S0[p.col, p.row] = p.value

    def matrices(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        A, Sm = self.A0.copy(), self.S0.copy()
        ka = self.kind_a
        A[self.rows[ka], self.cols[ka]] = theta[ka]
        Sm[self.rows[~ka], self.cols[~ka]] = theta[~ka]
        Sm[self.cols[~ka], self.rows[~ka]] = theta[~ka]
        return A, Sm

    def implied(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        A, Sm = self.matrices(theta)
        B = np.linalg.inv(np.eye(self.m) - A)
        omega = B @ Sm @ B.T
        return omega[: self.p, : self.p], B, omega

    def discrepancy(self, theta: np.ndarray) -> float:
        try:
            sigma = self.implied(theta)[0]
            chol = linalg.cho_factor(sigma, lower=True, check_finite=True)
        except (np.linalg.LinAlgError, ValueError):
            return np.inf
        logdet = 2.0 * np.sum(np.log(np.diag(chol[0])))
        trace = np.trace(linalg.cho_solve(chol, self.S))
        return float(logdet + trace - self.logdet_S - self.p)

    def gradient(self, theta: np.ndarray) -> np.ndarray:
        """dF/dtheta in closed matrix form (no per-parameter derivative matrices)."""
        try:
            sigma, B, omega = self.implied(theta)
            W = np.linalg.inv(sigma)
        except np.linalg.LinAlgError:
            return np.full(len(theta), np.nan)
        G = W @ (sigma - self.S) @ W
        Bo = B[: self.p, :]
        BG = Bo.T @ G
        grad_a = 2.0 * BG @ omega[:, : self.p].T
        grad_s = BG @ Bo
        r, c = self.rows, self.cols
        return np.where(self.kind_a, grad_a[r, c], np.where(r == c, 1.0, 2.0) * grad_s[r, c])

    def gradient_and_information(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient of F and the expected information ``H_kl = tr(W D_k W D_l)``.

        Every derivative matrix has rank two, ``D_k = c_k (u_k v_k' + v_k u_k')`` (c = 1/2 for a variance), so
        ``H = 2 (c c') * (P_uv * P_uv' + P_uu * P_vv)`` with ``P_ab = A W B'``: O(q p² + q² p) instead of the
        O(q p³) of forming every ``W D_k W``.
        """
        sigma, B, omega = self.implied(theta)
        W = np.linalg.inv(sigma)
        Bo = B[: self.p, :]
        U = Bo[:, self.rows].T  # (q, p)
        V = np.where(self.kind_a[:, None], omega[self.cols, : self.p], Bo[:, self.cols].T)
        c = np.where(self.diag_s, 0.5, 1.0)
        G = W @ (sigma - self.S) @ W
        grad = 2.0 * c * np.einsum("kp,pq,kq->k", U, G, V)
        WU = U @ W
        P_uu = WU @ U.T
        P_uv = WU @ V.T
        P_vv = (V @ W) @ V.T
        H = 2.0 * np.outer(c, c) * (P_uv * P_uv.T + P_uu * P_vv)
        return grad, 0.5 * (H + H.T)


def _start_values(spec: _Spec, S: np.ndarray) -> np.ndarray:
    idx = {name: i for i, name in enumerate(spec.observed)}
    var = np.diag(S)
    psi: dict[str, float] = {}
    loads: dict[tuple[str, str], float] = {}
    for lv in spec.latent:
        block = [p for p in spec.params if p.op == "=~" and p.lhs == lv]
        obs = [p.rhs for p in block if p.rhs in idx]
        if not obs:
            psi[lv] = 0.05
            continue
        marker = obs[0]
        others = [idx[o] for o in obs[1:]]
        if others:
            c = float(np.mean([S[idx[marker], j] for j in others]))
            c = c if c > 0.05 * var[idx[marker]] else 0.5 * var[idx[marker]]
        else:
            c = 0.5 * var[idx[marker]]
        psi[lv] = c
        for o in obs[1:]:
            loads[(lv, o)] = S[idx[marker], idx[o]] / c
    theta = []
    for p in spec.free:
        if p.op == "=~":
            theta.append(loads.get((p.lhs, p.rhs), 1.0))
        elif p.op == "~":
            theta.append(0.0)
        elif p.fixed_x:
            theta.append(S[idx[p.lhs], idx[p.rhs]])
        elif p.row == p.col:
            theta.append(0.5 * var[idx[p.lhs]] if p.lhs in idx else psi.get(p.lhs, 0.05))
        else:
            theta.append(0.0)
    return np.asarray(theta, dtype=float)


def _fit_engine(
    engine: _Engine, theta: np.ndarray, max_iter: int, tol: float
) -> tuple[np.ndarray, bool, int]:
    """Fisher scoring from the start values, then BFGS seeded with the inverse expected information.

    Scoring is robust far from the optimum but only linearly convergent for a misfitting model; the
    quasi-Newton phase finishes in a few dozen cheap gradient evaluations.
    """
    f = engine.discrepancy(theta)
    if not np.isfinite(f):
        raise ModelSpecificationError("the starting values give a non-positive-definite implied covariance")
    it = 0
    H = None
    previous = np.inf
    while it < max_iter:
        it += 1
        grad, H = engine.gradient_and_information(theta)
        size = float(np.max(np.abs(grad)))
        if size < tol:
            return theta, True, it
        if size < 1e-2 and size > 0.5 * previous:
            break  # near the optimum but contracting slowly (a misfitting model): switch to BFGS
        previous = size
        try:
            step = np.linalg.solve(H + 1e-10 * np.eye(len(theta)), grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(H, grad, rcond=None)[0]
        t = 1.0
        while t > 1e-10:
            candidate = theta - t * step
            f_new = engine.discrepancy(candidate)
            if np.isfinite(f_new) and f_new <= f + 1e-4 * t * float(grad @ (-step)) + 1e-14:
                break
            t *= 0.5
        else:
            break
        theta, f = candidate, f_new
    if it >= max_iter:
        grad = engine.gradient(theta)
        return theta, bool(np.max(np.abs(grad)) < tol), it
    if H is None:
        H = engine.gradient_and_information(theta)[1]
    try:
        hess_inv0 = np.linalg.inv(H + 1e-10 * np.eye(len(theta)))
        hess_inv0 = 0.5 * (hess_inv0 + hess_inv0.T)
        if np.linalg.eigvalsh(hess_inv0).min() <= 0:
            hess_inv0 = None
    except np.linalg.LinAlgError:
        hess_inv0 = None
    res = optimize.minimize(
        engine.discrepancy,
        theta,
        jac=engine.gradient,
        method="BFGS",
        # Below ~1e-8 the gradient is at the level of rounding noise and line searches only stall.
        options={"maxiter": max(max_iter - it, 1), "gtol": max(tol, 1e-8), "hess_inv0": hess_inv0},
    )
    if np.isfinite(res.fun) and res.fun <= f + 1e-12:
        theta = res.x
    it += int(res.nit)
    converged = bool(np.max(np.abs(engine.gradient(theta))) < max(tol, 1e-6))
    return theta, converged, it


def _rmsea_ci(chi2: float, df: int, n: int, level: float = 0.90) -> tuple[float, float]:
    if df <= 0:
        return float("nan"), float("nan")

    def bound(prob: float) -> float:
        # Smallest non-centrality lam with P(X <= chi2 | df, lam) = prob; 0 if even lam = 0 is below prob.
        if stats.chi2.cdf(chi2, df) < prob:
            return 0.0
        hi = max(chi2, 1.0)
        while stats.ncx2.cdf(chi2, df, hi) > prob:
            hi *= 2.0
        return optimize.brentq(lambda lam: stats.ncx2.cdf(chi2, df, lam) - prob, 1e-12, hi, xtol=1e-12)

    lower = bound(0.5 + level / 2.0)
    upper = bound(0.5 - level / 2.0)
    return float(np.sqrt(lower / (n * df))), float(np.sqrt(upper / (n * df)))


def _fit_indices(engine: _Engine, theta: np.ndarray) -> dict[str, float]:
    spec, S, n, p = engine.spec, engine.S, engine.n, engine.p
    f_min = engine.discrepancy(theta)
    sigma = engine.implied(theta)[0]
    n_x = sum(1 for q in spec.free if q.fixed_x)
    q = len(spec.free)
    npar = q - n_x
    df = p * (p + 1) // 2 - q
    chi2 = n * f_min
    # Baseline: independent observed variables, except the fixed.x block, which keeps its covariances.
    base = np.diag(np.diag(S))
    xi = [spec.index[x] for x in spec.fixed_x]
    if xi:
        base[np.ix_(xi, xi)] = S[np.ix_(xi, xi)]
    base_f = float(np.linalg.slogdet(base)[1] + np.trace(np.linalg.solve(base, S)) - engine.logdet_S - p)
    base_chi2 = n * base_f
    base_df = p * (p - 1) // 2 - len(xi) * (len(xi) - 1) // 2
    W = np.linalg.inv(sigma)
    loglik_h1 = -n / 2.0 * (p * np.log(2 * np.pi) + engine.logdet_S + p)
    loglik = -n / 2.0 * (p * np.log(2 * np.pi) + np.linalg.slogdet(sigma)[1] + np.trace(W @ S))
    d_model = max(chi2 - df, 0.0)
    d_base = max(base_chi2 - base_df, 0.0)
    cfi = 1.0 - d_model / max(d_model, d_base) if max(d_model, d_base) > 0 else 1.0
    tli = (
        (base_chi2 / base_df - chi2 / df) / (base_chi2 / base_df - 1.0)
        if df > 0 and base_df > 0
        else float("nan")
    )
    rmsea = float(np.sqrt(max(chi2 - df, 0.0) / (df * n))) if df > 0 else 0.0
    lo, hi = _rmsea_ci(chi2, df, n)
    rmsea_p = float(stats.ncx2.sf(chi2, df, 0.05**2 * n * df)) if df > 0 else float("nan")
    sd = np.sqrt(np.diag(S))
    resid = (S - sigma) / np.outer(sd, sd)
    tri = np.tril_indices(p)
    srmr = float(np.sqrt(np.mean(resid[tri] ** 2)))
    ws = W @ S
    gfi = 1.0 - np.trace((ws - np.eye(p)) @ (ws - np.eye(p))) / np.trace(ws @ ws)
    agfi = 1.0 - (p * (p + 1) / 2.0) / df * (1.0 - gfi) if df > 0 else float("nan")
    return {
        "chi2": float(chi2),
        "df": int(df),
        "pvalue": float(stats.chi2.sf(chi2, df)) if df > 0 else float("nan"),
        "chi2_df": float(chi2 / df) if df > 0 else float("nan"),
        "baseline_chi2": float(base_chi2),
        "baseline_df": int(base_df),
        "cfi": float(cfi),
        "tli": float(tli),
        "nfi": float((base_chi2 - chi2) / base_chi2),
        "ifi": float((base_chi2 - chi2) / (base_chi2 - df)),
        "rmsea": rmsea,
        "rmsea_ci_low": lo,
        "rmsea_ci_high": hi,
        "rmsea_pvalue": rmsea_p,
        "srmr": srmr,
        "gfi": float(gfi),
        "agfi": float(agfi),
        "loglik": float(loglik),
        "loglik_h1": float(loglik_h1),
        "aic": float(-2.0 * loglik + 2.0 * npar),
        "bic": float(-2.0 * loglik + np.log(n) * npar),
        "npar": int(npar),
        "n_obs": int(n),
    }


def _modification_indices(engine: _Engine, theta: np.ndarray, min_mi: float) -> pd.DataFrame:
    spec = engine.spec
    existing = set()
    for p in spec.params:
        existing.add(
            (p.matrix, min(p.row, p.col), max(p.row, p.col)) if p.matrix == "S" else ("A", p.row, p.col)
        )
    candidates: list[_Param] = []
    for lv in spec.latent:
        for ov in spec.observed:
            if ov in spec.fixed_x:
                continue
            if ("A", spec.index[ov], spec.index[lv]) not in existing and any(
                q.op == "=~" and q.rhs == ov for q in spec.params
            ):
                candidates.append(_Param(lv, "=~", ov, "A", spec.index[ov], spec.index[lv], True, 0.0))
    for group in (spec.observed, spec.latent):
        for a_pos, a in enumerate(group):
            for b in group[a_pos + 1 :]:
                i, j = spec.index[a], spec.index[b]
                if ("S", min(i, j), max(i, j)) not in existing and not (
                    a in spec.fixed_x and b in spec.fixed_x
                ):
                    candidates.append(_Param(a, "~~", b, "S", i, j, True, 0.0))
    if not candidates:
        return pd.DataFrame(columns=["lhs", "op", "rhs", "mi", "epc"])
    # Extended engine: the free parameters followed by the candidates (at zero); fixed.x parameters are
    # held at their estimates.
    fixed_x_values = {id(p): float(theta[k]) for k, p in enumerate(spec.free) if p.fixed_x}
    ext = _Spec.__new__(_Spec)
    ext.__dict__.update(spec.__dict__)
    ext.free = [p for p in spec.free if not p.fixed_x] + candidates
    ext.params = [
        _Param(p.lhs, p.op, p.rhs, p.matrix, p.row, p.col, False, fixed_x_values[id(p)], True)
        for p in spec.free
        if p.fixed_x
    ]
    ext.params += [p for p in spec.params if not p.free] + ext.free
    eng = _Engine(ext, engine.S, engine.n)
    base_theta = [float(theta[k]) for k, p in enumerate(spec.free) if not p.fixed_x]
    th = np.concatenate([base_theta, np.zeros(len(candidates))])
    grad, H = eng.gradient_and_information(th)
    nf = len(base_theta)
    H_ff = H[:nf, :nf]
    H_ff_inv = np.linalg.pinv(H_ff)
    rows = []
    for c in range(len(candidates)):
        j = nf + c
        reduced = H[j, j] - H[j, :nf] @ H_ff_inv @ H[:nf, j]
        if reduced <= 1e-12:
            mi, epc = np.nan, np.nan
        else:
            mi = engine.n * grad[j] ** 2 / (2.0 * reduced)
            epc = -grad[j] / reduced
        cand = candidates[c]
        rows.append({"lhs": cand.lhs, "op": cand.op, "rhs": cand.rhs, "mi": float(mi), "epc": float(epc)})
    table = pd.DataFrame(rows)
    table = table[table["mi"] >= min_mi] if min_mi > 0 else table
    return table.sort_values("mi", ascending=False, kind="stable").reset_index(drop=True)
