"""Customer lifetime value: the BG/NBD purchase model, the Gamma-Gamma spend model, CLV.

Both models are fitted by maximum likelihood: the log-likelihood is written in log space with
:func:`scipy.special.gammaln`/:func:`~scipy.special.betaln`, its analytic gradient with
:func:`~scipy.special.digamma`, and L-BFGS-B works on the logarithms of the (positive)
parameters. Standard errors come from the inverse of a finite-difference Hessian of the
analytic gradient.

Input is the summary of :func:`patron.analytics.rfm.summarize_transactions`: a DataFrame with
``frequency`` (x, repeat purchases), ``recency`` (t_x), ``T`` and, for the spend model,
``monetary_value`` (mean spend of repeat purchases).

References
----------
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005a). "Counting your customers" the easy way:
an alternative to the Pareto/NBD model. *Marketing Science* 24(2), 275-284.
Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005b). RFM and CLV: using iso-value curves for
customer base analysis. *Journal of Marketing Research* 42(4), 415-430.
Fader, P. S. & Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value (note).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import optimize, special
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from patron.analytics._validation import numeric_column, require_columns, require_rows
from patron.analytics.errors import (
    ConvergenceError,
    EmptyDataError,
    InsufficientDataError,
    InvalidParameterError,
    InvalidValueError,
)
from patron.analytics.rfm import TIME_UNITS

__all__ = ["BetaGeoModel", "GammaGammaModel", "customer_lifetime_value"]

_LOG_BOUND = 25.0  # parameters live in [e^-25, e^25]


def _as_summary(summary: object) -> pd.DataFrame:
    if not isinstance(summary, pd.DataFrame):
        raise InvalidValueError("the customer summary must be a DataFrame (see summarize_transactions)")
    if len(summary) == 0:
        raise EmptyDataError("the customer summary has no rows")
    return summary


def _rfm_arrays(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    require_columns(summary, ["frequency", "recency", "T"], what="customer summary")
    x = numeric_column(summary, "frequency", nonnegative=True)
    t_x = numeric_column(summary, "recency", nonnegative=True)
    big_t = numeric_column(summary, "T", nonnegative=True)
    if np.any(x != np.round(x)):
        raise InvalidValueError("frequency must be a whole number of repeat purchases", column="frequency")
    if np.any(t_x > big_t + 1e-9):
        raise InvalidValueError("recency is larger than T for some customers", column="recency")
    if np.any((x == 0) & (t_x > 0)):
        raise InvalidValueError("recency must be 0 for customers without repeat purchases", column="recency")
    return x, t_x, big_t


def _fit_log_params(
    neg_loglik_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
    start: np.ndarray,
    names: tuple[str, ...],
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, optimize.OptimizeResult]:
    """Minimise a mean negative log-likelihood over log-parameters with L-BFGS-B."""

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad_params = neg_loglik_and_grad(np.exp(theta))
        return value, grad_params * np.exp(theta)  # chain rule: d/dlog p = p d/dp

    result = optimize.minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-_LOG_BOUND, _LOG_BOUND)] * len(start),
        options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-14},
    )
    _, grad = objective(result.x)
    if not np.isfinite(result.fun) or np.max(np.abs(grad)) > 1e-3:
        raise ConvergenceError(
            f"the likelihood maximisation did not converge ({result.message}); "
            f"gradient {dict(zip(names, np.round(grad, 6), strict=True))}"
        )
    if np.any(np.abs(result.x) >= _LOG_BOUND - 1e-6):
        raise ConvergenceError(
            "a parameter ran to its bound; the data do not identify the model "
            f"({dict(zip(names, np.exp(result.x), strict=True))})"
        )
    return np.exp(result.x), result


def _standard_errors(
    neg_loglik_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]], params: np.ndarray, n: float
) -> np.ndarray:
    """Standard errors from the inverse observed information (finite differences of the gradient)."""
    k = len(params)
    hessian = np.empty((k, k))
    for j in range(k):
        h = 1e-5 * max(abs(params[j]), 1e-3)
        up, down = params.copy(), params.copy()
        up[j] += h
        down[j] -= h
        hessian[:, j] = (neg_loglik_and_grad(up)[1] - neg_loglik_and_grad(down)[1]) * n / (2 * h)
    hessian = (hessian + hessian.T) / 2
    try:
        covariance = np.linalg.inv(hessian)
    except np.linalg.LinAlgError:
        return np.full(k, np.nan)
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.diag(covariance))


def _summary_table(names: tuple[str, ...], params: np.ndarray, se: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {"coef": params, "se": se, "ci_lower": params - 1.96 * se, "ci_upper": params + 1.96 * se},
        index=pd.Index(names, name="parameter"),
    )


class BetaGeoModel(BaseEstimator):
    """The BG/NBD model of repeat buying (Fader, Hardie & Lee 2005a), by maximum likelihood.

    While alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after each
    purchase they drop out with probability p ~ Beta(a, b).

    Parameters
    ----------
    max_iter : int
        Iteration limit of L-BFGS-B.
    tol : float
        Gradient tolerance of L-BFGS-B (on the mean log-likelihood).

    Attributes
    ----------
    r_, alpha_, a_, b_ : float
        The fitted parameters (``alpha_`` in the time unit of the summary).
    params_ : dict
        ``{"r": ..., "alpha": ..., "a": ..., "b": ...}``.
    loglik_ : float
        Maximised log-likelihood (sum over customers).
    summary_ : DataFrame
        ``coef``, ``se``, ``ci_lower``, ``ci_upper`` per parameter.
    n_customers_ : int
        Number of customers fitted.

    Examples
    --------
    >>> from patron.analytics.simulate import simulate_customers
    >>> summary = simulate_customers(5000, r=0.25, alpha=4.0, a=0.8, b=2.5, T=39.0, seed=7)
    >>> model = BetaGeoModel().fit(summary)
    >>> sorted(model.params_), round(model.r_, 1)
    (['a', 'alpha', 'b', 'r'], 0.3)
    """

    def __init__(self, max_iter: int = 2000, tol: float = 1e-8) -> None:
        self.max_iter = max_iter
        self.tol = tol

    @staticmethod
    def _neg_loglik(params: np.ndarray, data: dict[str, np.ndarray]) -> tuple[float, np.ndarray]:
        """Mean negative log-likelihood and its gradient in (r, α, a, b).

        Functions of x alone (log-gammas, digammas) are evaluated once per distinct x and
        gathered, which keeps a million-customer evaluation to a few vectorised passes.
        """
        r, alpha, a, b = params
        x, t_x, big_t, w, xu, inv = (data[k] for k in ("x", "t_x", "T", "w", "xu", "inv"))
        repeat = x > 0
        xu_safe = np.where(xu > 0, xu, 1.0)
        # per distinct x
        u_common = special.gammaln(r + xu) - special.gammaln(r) + r * np.log(alpha) - special.betaln(a, b)
        u_beta1 = special.betaln(a, b + xu)
        u_beta2 = special.betaln(a + 1.0, b + xu_safe - 1.0)
        u_dr = special.digamma(r + xu) - special.digamma(r) + np.log(alpha)
        dig_ab = special.digamma(a + b)
        u_dig_abx = special.digamma(a + b + xu)
        u_da_common = -(special.digamma(a) - dig_ab)
        u_da1 = special.digamma(a) - u_dig_abx
        u_da2 = special.digamma(a + 1.0) - u_dig_abx
        u_db1 = special.digamma(b + xu) - u_dig_abx
        u_db2 = special.digamma(b + xu_safe - 1.0) - u_dig_abx
        u_db_common = -(special.digamma(b) - dig_ab)
        # per customer
        log_at = np.log(alpha + big_t)
        log_atx = np.log(alpha + t_x)
        term1 = u_beta1[inv] - (r + x) * log_at
        term2 = np.where(repeat, u_beta2[inv] - (r + x) * log_atx, -np.inf)
        mixture = np.logaddexp(term1, term2)
        w1 = np.exp(term1 - mixture)
        w2 = 1.0 - w1
        loglik = u_common[inv] + mixture
        d_r = u_dr[inv] - w1 * log_at - w2 * log_atx
        d_alpha = r / alpha - (r + x) * (w1 / (alpha + big_t) + w2 / (alpha + t_x))
        d_a = u_da_common + w1 * u_da1[inv] + w2 * u_da2[inv]
        d_b = u_db_common + w1 * u_db1[inv] + w2 * u_db2[inv]
        total = w.sum()
        value = -np.dot(w, loglik) / total
        grad = -np.array([np.dot(w, d_r), np.dot(w, d_alpha), np.dot(w, d_a), np.dot(w, d_b)]) / total
        return value, grad

    def fit(self, X: pd.DataFrame, y: object = None, sample_weight: object = None) -> BetaGeoModel:
        """Fit the model to a customer summary (``frequency``, ``recency``, ``T``).

        Parameters
        ----------
        X : DataFrame
            One row per customer.
        y : ignored
        sample_weight : array-like, optional
            Number of customers each row stands for (for a summary compressed to unique rows).

        Raises
        ------
        EmptyDataError, InsufficientDataError, InvalidValueError, ConvergenceError
        """
        summary = _as_summary(X)
        x, t_x, big_t = _rfm_arrays(summary)
        require_rows(len(summary), 2, what="BG/NBD needs customers")
        if not np.any(x > 0):
            raise InsufficientDataError(
                "no customer made a repeat purchase, so the BG/NBD model cannot be fitted"
            )
        if np.all(big_t == 0):
            raise InsufficientDataError("every customer has T = 0; the calibration period is empty")
        w = np.ones_like(x) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        if w.shape != x.shape or np.any(w < 0) or not np.all(np.isfinite(w)):
            raise InvalidParameterError("sample_weight must be one non-negative number per customer")
        # rescale time so that the optimiser starts near the optimum whatever the time unit
        scale = float(np.max(big_t)) / 10.0
        xu, inv = np.unique(x, return_inverse=True)
        data = {"x": x, "t_x": t_x / scale, "T": big_t / scale, "w": w, "xu": xu, "inv": inv}

        def scaled(params: np.ndarray) -> tuple[float, np.ndarray]:
            return self._neg_loglik(params, data)

        params, result = _fit_log_params(
            scaled, np.zeros(4), ("r", "alpha", "a", "b"), self.max_iter, self.tol
        )
        params[1] *= scale
        data_unscaled = {**data, "t_x": t_x, "T": big_t}

        def unscaled(p: np.ndarray) -> tuple[float, np.ndarray]:
            return self._neg_loglik(p, data_unscaled)

        value, _ = unscaled(params)
        self.r_, self.alpha_, self.a_, self.b_ = (float(v) for v in params)
        self.params_ = {"r": self.r_, "alpha": self.alpha_, "a": self.a_, "b": self.b_}
        self.loglik_ = float(-value * w.sum())
        self.n_customers_ = int(len(summary))
        self.n_iter_ = int(result.nit)
        self.summary_ = _summary_table(
            ("r", "alpha", "a", "b"), params, _standard_errors(unscaled, params, float(w.sum()))
        )
        return self

    # -- predictions -------------------------------------------------------------------------

    def _log_death_odds(self, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray) -> np.ndarray:
        """log of a/(b+x-1) ((α+T)/(α+t_x))^(r+x) for repeat buyers, -inf otherwise."""
        r, alpha, a, b = self.r_, self.alpha_, self.a_, self.b_
        repeat = x > 0
        x_safe = np.where(repeat, x, 1.0)
        log_odds = (
            np.log(a) - np.log(b + x_safe - 1.0) + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
        )
        return np.where(repeat, log_odds, -np.inf)

    def probability_alive(self, frequency: object, recency: object, T: object) -> np.ndarray:
        """P(alive | x, t_x, T) = 1 / (1 + δ(x>0) a/(b+x-1) ((α+T)/(α+t_x))^(r+x)).

        Examples
        --------
        >>> m = BetaGeoModel(); m.r_, m.alpha_, m.a_, m.b_ = 0.243, 4.414, 0.793, 2.426
        >>> float(m.probability_alive(0, 0, 38.86))
        1.0
        """
        check_is_fitted(self, "r_")
        x, t_x, big_t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        return special.expit(-self._log_death_odds(x, t_x, big_t))

    def expected_purchases(self, t: float) -> float:
        """Expected number of purchases in a period of length ``t`` by a customer just acquired.

        E[X(t)] = (a+b-1)/(a-1) [1 - (α/(α+t))^r 2F1(r, b; a+b-1; t/(α+t))]  (FHL 2005a, eq. 9;
        valid for any a != 1 — for a < 1 both factors are negative).

        Examples
        --------
        >>> m = BetaGeoModel(); m.r_, m.alpha_, m.a_, m.b_ = 0.243, 4.414, 0.793, 2.426
        >>> round(m.expected_purchases(39), 2)
        1.2
        """
        check_is_fitted(self, "r_")
        r, alpha, a, b = self.r_, self.alpha_, self.a_, self.b_
        if t < 0:
            raise InvalidParameterError(f"t must be >= 0, got {t}")
        a = a if a != 1.0 else 1.0 + 1e-9  # the expression has a removable singularity at a = 1
        z = t / (alpha + t)
        return float(
            (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, z))
        )

    def conditional_expected_purchases(
        self, t: float, frequency: object, recency: object, T: object
    ) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` time units (FHL 2005a, eq. 10).

        Examples
        --------
        >>> m = BetaGeoModel(); m.r_, m.alpha_, m.a_, m.b_ = 0.2426, 4.4136, 0.7929, 2.4259
        >>> round(float(m.conditional_expected_purchases(39, 2, 30.43, 38.86)), 3)
        1.226
        """
        check_is_fitted(self, "r_")
        if np.any(np.asarray(t) < 0):
            raise InvalidParameterError(f"t must be >= 0, got {t}")
        x, t_x, big_t = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        r, alpha, a, b = self.r_, self.alpha_, self.a_, self.b_
        a = a if a != 1.0 else 1.0 + 1e-9
        z = t / (alpha + big_t + t)
        log_ratio = (r + x) * (np.log(alpha + big_t) - np.log(alpha + big_t + t))
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1.0, z)
        numerator = (a + b + x - 1.0) / (a - 1.0) * (1.0 - np.exp(log_ratio) * hyp)
        return numerator * self.probability_alive(x, t_x, big_t)

    def predict(self, X: pd.DataFrame, t: float) -> pd.DataFrame:
        """Per customer ``p_alive`` and ``expected_purchases`` in the next ``t`` time units."""
        summary = _as_summary(X)
        x, t_x, big_t = _rfm_arrays(summary)
        return pd.DataFrame(
            {
                "p_alive": self.probability_alive(x, t_x, big_t),
                "expected_purchases": self.conditional_expected_purchases(t, x, t_x, big_t),
            },
            index=summary.index,
        )


class GammaGammaModel(BaseEstimator):
    """The Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005b).

    A customer's transaction values are Gamma(p, ν) with ν ~ Gamma(q, v) across customers, so
    the mean spend z̄ of x transactions has the density
    ``Γ(px+q) / (Γ(px) Γ(q)) · v^q x^(px) z̄^(px-1) / (v + x z̄)^(px+q)``.
    It is fitted on repeat buyers only (x > 0, z̄ > 0), as in the paper.

    Parameters
    ----------
    max_iter : int
        Iteration limit of L-BFGS-B.
    tol : float
        Gradient tolerance of L-BFGS-B.

    Attributes
    ----------
    p_, q_, v_ : float
        The fitted parameters (``v_`` is the paper's γ).
    params_ : dict
    loglik_ : float
    summary_ : DataFrame
    n_customers_ : int
        Number of repeat buyers fitted.

    Examples
    --------
    >>> m = GammaGammaModel(); m.p_, m.q_, m.v_ = 6.25, 3.74, 15.44
    >>> round(float(m.expected_spend(0, 0)), 2)  # population mean spend p v / (q - 1)
    35.22
    """

    def __init__(self, max_iter: int = 2000, tol: float = 1e-8) -> None:
        self.max_iter = max_iter
        self.tol = tol

    @staticmethod
    def _neg_loglik(params: np.ndarray, data: dict[str, np.ndarray]) -> tuple[float, np.ndarray]:
        """Mean negative log-likelihood and its gradient in (p, q, v); functions of x once per distinct x."""
        p, q, v = params
        x, zbar, xu, inv = (data[k] for k in ("x", "zbar", "xu", "inv"))
        log_zbar, log_x = data["log_zbar"], data["log_x"]
        pxu = p * xu
        u_gamma = special.gammaln(pxu + q) - special.gammaln(pxu)
        u_dig = special.digamma(pxu + q)
        u_dp = u_dig - special.digamma(pxu)
        u_dq = u_dig - special.digamma(q) + np.log(v)
        px = p * x
        log_total = np.log(v + x * zbar)
        loglik = u_gamma[inv] - special.gammaln(q) + q * np.log(v) + (px - 1.0) * log_zbar + px * log_x
        loglik -= (px + q) * log_total
        d_p = x * (u_dp[inv] + log_zbar + log_x - log_total)
        d_q = u_dq[inv] - log_total
        d_v = q / v - (px + q) / (v + x * zbar)
        n = len(x)
        return -loglik.sum() / n, -np.array([d_p.sum(), d_q.sum(), d_v.sum()]) / n

    def fit(self, X: pd.DataFrame, y: object = None) -> GammaGammaModel:
        """Fit on a customer summary with ``frequency`` and ``monetary_value``; rows with x = 0 are skipped.

        Raises
        ------
        EmptyDataError, InsufficientDataError, InvalidValueError, ConvergenceError
        """
        summary = _as_summary(X)
        require_columns(summary, ["frequency", "monetary_value"], what="customer summary")
        x = numeric_column(summary, "frequency", nonnegative=True)
        zbar = numeric_column(summary, "monetary_value", nonnegative=True)
        repeat = x > 0
        if np.any(repeat & (zbar <= 0)):
            raise InvalidValueError(
                "repeat buyers need a positive mean spend (the Gamma-Gamma model has no zero spend)",
                column="monetary_value",
            )
        x, zbar = x[repeat], zbar[repeat]
        require_rows(len(x), 2, what="the Gamma-Gamma model needs repeat buyers")

        xu, inv = np.unique(x, return_inverse=True)
        data = {"x": x, "zbar": zbar, "xu": xu, "inv": inv, "log_zbar": np.log(zbar), "log_x": np.log(x)}

        def objective(params: np.ndarray) -> tuple[float, np.ndarray]:
            return self._neg_loglik(params, data)

        start = np.array([0.0, np.log(2.0), np.log(float(np.mean(zbar)))])
        params, result = _fit_log_params(objective, start, ("p", "q", "v"), self.max_iter, self.tol)
        self.p_, self.q_, self.v_ = (float(v) for v in params)
        self.params_ = {"p": self.p_, "q": self.q_, "v": self.v_}
        self.loglik_ = float(-objective(params)[0] * len(x))
        self.n_customers_ = int(len(x))
        self.n_iter_ = int(result.nit)
        self.summary_ = _summary_table(
            ("p", "q", "v"), params, _standard_errors(objective, params, float(len(x)))
        )
        return self

    def expected_spend(self, frequency: object, monetary_value: object) -> np.ndarray:
        """E[Z | x, z̄] = p (v + x z̄) / (p x + q - 1): a weighted mean of the population mean
        ``p v / (q - 1)`` and the customer's own mean z̄ (needs q > 1)."""
        check_is_fitted(self, "p_")
        if self.q_ <= 1:
            raise InvalidParameterError("the expected spend needs q > 1")
        x = np.asarray(frequency, dtype=float)
        zbar = np.asarray(monetary_value, dtype=float)
        return self.p_ * (self.v_ + x * zbar) / (self.p_ * x + self.q_ - 1.0)

    def predict(self, X: pd.DataFrame) -> pd.Series:
        """Expected spend per transaction for every customer of a summary."""
        summary = _as_summary(X)
        require_columns(summary, ["frequency", "monetary_value"], what="customer summary")
        x = numeric_column(summary, "frequency", nonnegative=True)
        zbar = numeric_column(summary, "monetary_value", nonnegative=True)
        return pd.Series(self.expected_spend(x, zbar), index=summary.index, name="expected_spend")


def customer_lifetime_value(
    purchases: BetaGeoModel,
    spend: GammaGammaModel,
    summary: pd.DataFrame,
    *,
    time_unit: str = "week",
    months: int = 12,
    monthly_discount_rate: float = 0.01,
    margin: float = 1.0,
) -> pd.DataFrame:
    """Discounted customer lifetime value over the next ``months`` months.

    CLV_i = margin · E[Z_i] · Σ_{k=1..months} (E[Y_i(k L)] - E[Y_i((k-1) L)]) / (1 + d)^k

    with L one month in the summary's time unit (365.25/12 days), E[Y] the BG/NBD conditional
    expectation and E[Z] the Gamma-Gamma expected spend: expected purchases month by month,
    valued at the expected spend and discounted to today at the monthly rate d.

    Parameters
    ----------
    purchases : BetaGeoModel
        Fitted purchase model.
    spend : GammaGammaModel
        Fitted spend model.
    summary : DataFrame
        ``frequency``, ``recency``, ``T``, ``monetary_value`` per customer.
    time_unit : {"week", "day"}
        The unit the summary (and the BG/NBD fit) use.
    months : int
        Horizon in months (>= 1).
    monthly_discount_rate : float
        d >= 0, e.g. 0.01 (about 12.7 % a year).
    margin : float
        Profit margin applied to spend, in (0, 1] for profit or 1 for revenue.

    Returns
    -------
    DataFrame
        Indexed like ``summary``: ``p_alive``, ``expected_purchases`` (over the horizon,
        undiscounted), ``expected_spend`` (per purchase) and ``clv``.

    Examples
    --------
    >>> bg = BetaGeoModel(); bg.r_, bg.alpha_, bg.a_, bg.b_ = 0.243, 4.414, 0.793, 2.426
    >>> gg = GammaGammaModel(); gg.p_, gg.q_, gg.v_ = 6.25, 3.74, 15.44
    >>> s = pd.DataFrame({"frequency": [2], "recency": [30.43], "T": [38.86], "monetary_value": [22.35]})
    >>> customer_lifetime_value(bg, gg, s, months=12, monthly_discount_rate=0.0)["clv"].round(1).tolist()
    [38.6]
    """
    if time_unit not in TIME_UNITS:
        raise InvalidParameterError(f"time_unit must be one of {', '.join(TIME_UNITS)}, got {time_unit!r}")
    if not isinstance(months, int | np.integer) or months < 1:
        raise InvalidParameterError(f"months must be a whole number >= 1, got {months!r}")
    if monthly_discount_rate < 0:
        raise InvalidParameterError(f"monthly_discount_rate must be >= 0, got {monthly_discount_rate}")
    if margin <= 0:
        raise InvalidParameterError(f"margin must be > 0, got {margin}")
    check_is_fitted(purchases, "r_")
    check_is_fitted(spend, "p_")
    summary = _as_summary(summary)
    x, t_x, big_t = _rfm_arrays(summary)
    require_columns(summary, ["monetary_value"], what="customer summary")
    zbar = numeric_column(summary, "monetary_value", nonnegative=True)
    month = (365.25 / 12.0) / TIME_UNITS[time_unit]
    expected_spend = spend.expected_spend(x, zbar)
    previous = np.zeros_like(x)
    value = np.zeros_like(x)
    for k in range(1, months + 1):
        cumulative = purchases.conditional_expected_purchases(k * month, x, t_x, big_t)
        value += (cumulative - previous) / (1.0 + monthly_discount_rate) ** k
        previous = cumulative
    return pd.DataFrame(
        {
            "p_alive": purchases.probability_alive(x, t_x, big_t),
            "expected_purchases": previous,
            "expected_spend": expected_spend,
            "clv": margin * expected_spend * value,
        },
        index=summary.index,
    )
