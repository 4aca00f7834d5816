"""Draw customer summaries from the BG/NBD and Gamma-Gamma generative models.

Used by the planted-parameter tests and by ``bench/analytics_models.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from patron.analytics.errors import InvalidParameterError

__all__ = ["simulate_customers"]


def simulate_customers(
    n: int,
    *,
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: object,
    p: float | None = None,
    q: float | None = None,
    v: float | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """Draw a customer summary from the BG/NBD (and optionally Gamma-Gamma) generative model.

    Each customer makes a first purchase at time 0, then buys as a Poisson process with rate
    λ ~ Gamma(r, α) and drops out after each repeat purchase with probability p ~ Beta(a, b).
    With ``p``, ``q``, ``v`` the mean spend of the repeat purchases is drawn from the Gamma-Gamma
    model. Used by the planted-parameter tests and the benchmark.

    Parameters
    ----------
    n : int
        Number of customers.
    r, alpha, a, b : float
        BG/NBD parameters.
    T : float or array-like
        Length of each customer's observation period (one value for all, or ``n`` values).
    p, q, v : float, optional
        Gamma-Gamma parameters; adds ``monetary_value``.
    seed : int, optional

    Returns
    -------
    DataFrame
        ``frequency``, ``recency``, ``T`` (and ``monetary_value``), indexed 0..n-1.

    Examples
    --------
    >>> s = simulate_customers(3, r=0.25, alpha=4.0, a=0.8, b=2.5, T=39.0, seed=1)
    >>> list(s.columns)
    ['frequency', 'recency', 'T']
    """
    if n < 1:
        raise InvalidParameterError(f"n must be >= 1, got {n}")
    if min(r, alpha, a, b) <= 0:
        raise InvalidParameterError("r, alpha, a and b must be > 0")
    rng = np.random.default_rng(seed)
    big_t = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    rate = rng.gamma(r, 1.0 / alpha, size=n)
    dropout = rng.beta(a, b, size=n)
    # repeat purchases made before dropping out: geometric on 1, 2, ... (death after the j-th)
    lifetime_purchases = rng.geometric(np.clip(dropout, 1e-12, 1.0))
    possible = rng.poisson(rate * big_t)
    x = np.minimum(possible, lifetime_purchases)
    # given N(T) = m arrivals, they are uniform on (0, T]; the x-th is T * Beta(x, m - x + 1)
    has = x > 0
    t_x = np.zeros(n)
    t_x[has] = big_t[has] * rng.beta(x[has], possible[has] - x[has] + 1)
    summary = pd.DataFrame({"frequency": x.astype(int), "recency": t_x, "T": big_t})
    if p is not None or q is not None or v is not None:
        if p is None or q is None or v is None or min(p, q, v) <= 0:
            raise InvalidParameterError("p, q and v must all be given and > 0")
        nu = rng.gamma(q, 1.0 / v, size=n)
        zbar = np.zeros(n)
        zbar[has] = rng.gamma(p * x[has], 1.0 / (nu[has] * x[has]))
        summary["monetary_value"] = zbar
    return summary
