"""Multi-criteria decision making: entropy weights, VIKOR and TOPSIS.

These rank *alternatives* (segments, factor groups, offers...) scored against *criteria*, as
study §2 does: the criteria are weighted by Shannon entropy, then the alternatives are ranked
by VIKOR for a grid of the strategy weight ``v`` with the acceptable-advantage and
acceptable-stability conditions deciding the compromise set. TOPSIS is offered beside it.

Input is a decision matrix: a DataFrame whose index names the alternatives and whose columns
are the criteria (a 2-D array is accepted too; its rows become ``A1``, ``A2``... and its
columns ``c1``, ``c2``...). Field names follow the literature: ``S`` (group utility), ``R``
(individual regret), ``Q`` (VIKOR index), ``d_plus``/``d_minus`` and ``closeness`` (TOPSIS).

References
----------
Opricovic, S. & Tzeng, G.-H. (2004). Compromise solution by MCDM methods: a comparative
analysis of VIKOR and TOPSIS. *European Journal of Operational Research* 156(2), 445-455.
Hwang, C.-L. & Yoon, K. (1981). *Multiple Attribute Decision Making*. Springer.
Shannon entropy weights: Hwang & Yoon (1981), §4; Xu, X. (2004). *EJOR* 156(2), 530-532.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from patron.analytics._validation import as_frame, numeric_matrix, require_rows, weight_vector
from patron.analytics.errors import InvalidParameterError, InvalidValueError, MissingColumnError

__all__ = ["TopsisResult", "VikorResult", "criteria_summary", "entropy_weights", "topsis", "vikor"]

#: the v grid of study §2
DEFAULT_V_GRID: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

_BENEFIT = {"benefit", "max", "+", "1", "+1"}
_COST = {"cost", "min", "-", "-1"}


def _decision_matrix(data: object) -> tuple[pd.DataFrame, np.ndarray]:
    frame = as_frame(data, what="decision matrix")
    if not isinstance(data, pd.DataFrame):
        frame.index = [f"A{i + 1}" for i in range(frame.shape[0])]
    matrix = numeric_matrix(frame)
    return frame, matrix


def _benefit_mask(criteria_types: object, criteria: Sequence[str]) -> np.ndarray:
    """True where a criterion is to be maximised ("benefit"), False where minimised ("cost")."""
    if criteria_types is None:
        return np.ones(len(criteria), dtype=bool)
    if isinstance(criteria_types, str):
        kinds = [criteria_types] * len(criteria)
    elif isinstance(criteria_types, Mapping | pd.Series):
        mapping = dict(criteria_types)
        for name in mapping:
            if name not in criteria:
                raise MissingColumnError(
                    f"criterion type given for unknown criterion {name!r}", column=str(name)
                )
        kinds = [mapping.get(c, "benefit") for c in criteria]
    else:
        kinds = list(criteria_types)
        if len(kinds) != len(criteria):
            raise InvalidParameterError(f"{len(kinds)} criterion type(s) for {len(criteria)} criteria")
    mask = []
    for criterion, kind in zip(criteria, kinds, strict=True):
        key = str(kind).strip().lower()
        if key in _BENEFIT:
            mask.append(True)
        elif key in _COST:
            mask.append(False)
        else:
            raise InvalidParameterError(
                f"criterion type {kind!r} is neither 'benefit' (max) nor 'cost' (min)", column=str(criterion)
            )
    return np.array(mask)


def entropy_weights(data: object) -> pd.DataFrame:
    """Objective criterion weights by Shannon entropy.

    Each criterion's column is turned into shares ``p_ij = x_ij / sum_i x_ij``; its entropy is
    ``E_j = -sum_i p_ij ln p_ij / ln m`` (with ``0 ln 0 = 0``), its divergence ``d_j = 1 - E_j``,
    and its weight ``w_j = d_j / sum_j d_j``. A criterion on which the alternatives differ more
    carries more information and gets more weight.

    Parameters
    ----------
    data : DataFrame or array-like
        Decision matrix, alternatives in rows, criteria in columns; values must be >= 0.

    Returns
    -------
    DataFrame
        Indexed by criterion, columns ``entropy``, ``divergence``, ``weight`` (weights sum to 1).

    Raises
    ------
    InsufficientDataError
        Fewer than two alternatives.
    InvalidValueError
        A NaN, negative or non-numeric value, or a criterion whose values are all zero.

    Examples
    --------
    >>> w = entropy_weights(pd.DataFrame({"price": [30, 19, 19, 68], "range": [30, 54, 15, 70]}))
    >>> w["weight"].round(3).tolist()
    [0.537, 0.463]
    """
    frame, matrix = _decision_matrix(data)
    require_rows(matrix.shape[0], 2, what="entropy weights need alternatives")
    totals = matrix.sum(axis=0)
    # re-check non-negativity here to name the column in the message
    for j, column in enumerate(frame.columns):
        if (matrix[:, j] < 0).any():
            raise InvalidValueError("entropy weights need non-negative values", column=str(column))
        if totals[j] == 0:
            raise InvalidValueError(
                "every value is zero, so the criterion has no distribution", column=str(column)
            )
    shares = matrix / totals
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(shares > 0, shares * np.log(shares), 0.0)
    entropy = -plogp.sum(axis=0) / np.log(matrix.shape[0])
    divergence = 1.0 - entropy
    if divergence.sum() <= 0:
        weights = np.full(matrix.shape[1], 1.0 / matrix.shape[1])
    else:
        weights = divergence / divergence.sum()
    return pd.DataFrame(
        {"entropy": entropy, "divergence": divergence, "weight": weights},
        index=pd.Index(frame.columns, name="criterion"),
    )


@dataclass(frozen=True)
class VikorResult:
    """Outcome of :func:`vikor`.

    Attributes
    ----------
    scores : DataFrame
        One row per alternative: ``S`` (group utility, weighted Manhattan distance to the
        ideal), ``R`` (individual regret, weighted Chebyshev distance), ``Q`` (VIKOR index at
        ``v``) and their ranks ``rank_S``, ``rank_R``, ``rank_Q`` (1 = best, i.e. smallest).
    q_by_v : DataFrame
        ``Q`` of every alternative (rows) for every ``v`` of the grid (columns).
    conditions : DataFrame
        One row per ``v``: ``best`` and ``second`` alternative by Q, ``advantage`` =
        Q(second) - Q(best), ``acceptable_advantage`` (advantage >= DQ),
        ``acceptable_stability`` (best is also best by S or by R) and ``compromise`` (tuple).
    v : float
        The strategy weight of ``scores`` (weight of group utility; 1 - v of regret).
    dq : float
        Acceptable-advantage threshold ``DQ = 1 / (m - 1)``.
    weights : Series
        The normalised criterion weights used.
    """

    scores: pd.DataFrame
    q_by_v: pd.DataFrame
    conditions: pd.DataFrame
    v: float
    dq: float
    weights: pd.Series

    @property
    def best(self) -> object:
        """The alternative ranked first by Q at ``v``."""
        return self.conditions.loc[self.v, "best"]

    @property
    def acceptable_advantage(self) -> bool:
        """Condition C1 at ``v``."""
        return bool(self.conditions.loc[self.v, "acceptable_advantage"])

    @property
    def acceptable_stability(self) -> bool:
        """Condition C2 at ``v``."""
        return bool(self.conditions.loc[self.v, "acceptable_stability"])

    @property
    def compromise(self) -> tuple:
        """The compromise set at ``v``: one alternative when C1 and C2 hold, else several."""
        return self.conditions.loc[self.v, "compromise"]

    @property
    def ranking(self) -> list:
        """Alternatives ordered by Q at ``v`` (best first)."""
        return list(self.scores.sort_values(["Q", "S", "R"], kind="stable").index)


def _scaled(values: np.ndarray) -> np.ndarray:
    spread = values.max() - values.min()
    if spread == 0:
        return np.zeros_like(values)
    return (values - values.min()) / spread


def _compromise(q: np.ndarray, s: np.ndarray, r: np.ndarray, names: Sequence, dq: float) -> dict:
    order = np.lexsort((r, s, q))  # by Q, ties broken by S then R
    first, second = order[0], order[1]
    advantage = float(q[second] - q[first])
    # a tiny tolerance keeps an exact tie at DQ (common in small textbook examples) acceptable
    c1 = advantage >= dq - 1e-12
    c2 = bool(np.isclose(s[first], s.min()) or np.isclose(r[first], r.min()))
    if c1 and c2:
        members = [first]
    elif c1:  # only stability fails
        members = [first, second]
    else:  # advantage fails: every alternative closer than DQ to the best
        members = [i for i in order if q[i] - q[first] < dq - 1e-12]
    return {
        "best": names[first],
        "second": names[second],
        "advantage": advantage,
        "acceptable_advantage": bool(c1),
        "acceptable_stability": c2,
        "compromise": tuple(names[i] for i in members),
    }


def vikor(
    data: object,
    *,
    weights: object,
    criteria_types: object = None,
    v: float = 0.5,
    v_grid: Sequence[float] = DEFAULT_V_GRID,
) -> VikorResult:
    """Rank alternatives by VIKOR (compromise ranking), for one ``v`` and a grid of ``v``.

    For criterion ``j`` with best value ``f*_j`` and worst ``f-_j`` (max/min for a benefit
    criterion, min/max for a cost criterion) and weight ``w_j``::

        S_i = sum_j w_j (f*_j - f_ij) / (f*_j - f-_j)
        R_i = max_j w_j (f*_j - f_ij) / (f*_j - f-_j)
        Q_i = v (S_i - S*) / (S- - S*) + (1 - v) (R_i - R*) / (R- - R*)

    The best alternative by Q is a single compromise solution when (C1) its advantage over the
    second, ``Q(A2) - Q(A1)``, is at least ``DQ = 1/(m-1)`` and (C2) it is also best by S or by
    R. Otherwise the compromise set is {A1, A2} when only C2 fails, or every alternative whose
    Q is within DQ of A1 when C1 fails (Opricovic & Tzeng 2004). A criterion on which all
    alternatives are equal contributes nothing.

    Parameters
    ----------
    data : DataFrame or array-like
        Decision matrix, alternatives in rows, criteria in columns.
    weights : mapping, Series or sequence
        Criterion weights (normalised to sum to 1), e.g. ``entropy_weights(data)["weight"]``.
    criteria_types : str, mapping or sequence, optional
        ``"benefit"``/``"max"`` or ``"cost"``/``"min"`` per criterion; default all benefit.
    v : float
        Weight of the strategy of maximum group utility, in [0, 1]; 0.5 is "by consensus".
    v_grid : sequence of float
        Further values of ``v`` to report (study §2 uses 0.1 ... 0.9); ``v`` is added if absent.

    Returns
    -------
    VikorResult

    Raises
    ------
    InsufficientDataError
        Fewer than two alternatives.
    InvalidValueError, InvalidParameterError, MissingColumnError
        Bad values, weights, criterion types or ``v``.

    Examples
    --------
    Opricovic & Tzeng (2004): A1..A3 scored on a cost and a benefit criterion.

    >>> m = pd.DataFrame({"f1": [1, 2, 5], "f2": [3000, 3750, 4500]}, index=["A1", "A2", "A3"])
    >>> res = vikor(m, weights=[0.5, 0.5], criteria_types=["cost", "benefit"])
    >>> res.scores["Q"].tolist(), res.compromise
    ([1.0, 0.0, 1.0], ('A2',))
    """
    frame, matrix = _decision_matrix(data)
    require_rows(matrix.shape[0], 2, what="VIKOR needs alternatives")
    criteria = [str(c) for c in frame.columns]
    w = weight_vector(weights, list(frame.columns))
    benefit = _benefit_mask(criteria_types, list(frame.columns))
    grid = sorted({round(float(x), 10) for x in [*v_grid, v]})
    for value in grid:
        if not 0.0 <= value <= 1.0:
            raise InvalidParameterError(f"v must lie in [0, 1], got {value}")
    v = round(float(v), 10)

    best = np.where(benefit, matrix.max(axis=0), matrix.min(axis=0))
    worst = np.where(benefit, matrix.min(axis=0), matrix.max(axis=0))
    span = best - worst
    with np.errstate(divide="ignore", invalid="ignore"):
        regret = np.where(span != 0, (best - matrix) / span, 0.0) * w
    s = regret.sum(axis=1)
    r = regret.max(axis=1)
    s_scaled, r_scaled = _scaled(s), _scaled(r)
    names = list(frame.index)
    dq = 1.0 / (matrix.shape[0] - 1)

    q_columns = {}
    rows = []
    for value in grid:
        q = value * s_scaled + (1.0 - value) * r_scaled
        q_columns[value] = q
        rows.append({"v": value, **_compromise(q, s, r, names, dq)})
    q_by_v = pd.DataFrame(q_columns, index=frame.index)
    q_by_v.columns.name = "v"
    conditions = pd.DataFrame(rows).set_index("v")

    scores = pd.DataFrame({"S": s, "R": r, "Q": q_columns[v]}, index=frame.index)
    for column in ("S", "R", "Q"):
        scores[f"rank_{column}"] = scores[column].rank(method="min").astype(int)
    return VikorResult(
        scores=scores,
        q_by_v=q_by_v,
        conditions=conditions,
        v=v,
        dq=dq,
        weights=pd.Series(w, index=pd.Index(criteria, name="criterion"), name="weight"),
    )


@dataclass(frozen=True)
class TopsisResult:
    """Outcome of :func:`topsis`.

    Attributes
    ----------
    scores : DataFrame
        One row per alternative: ``d_plus`` (distance to the positive-ideal solution),
        ``d_minus`` (distance to the negative-ideal solution), ``closeness``
        (``d_minus / (d_plus + d_minus)``, higher is better) and ``rank`` (1 = best).
    weights : Series
        The normalised criterion weights used.
    normalization : str
        ``"vector"`` or ``"linear"``.
    """

    scores: pd.DataFrame
    weights: pd.Series
    normalization: str

    @property
    def ranking(self) -> list:
        """Alternatives ordered by closeness (best first)."""
        return list(self.scores.sort_values("closeness", ascending=False, kind="stable").index)


def topsis(
    data: object,
    *,
    weights: object,
    criteria_types: object = None,
    normalization: str = "vector",
) -> TopsisResult:
    """Rank alternatives by TOPSIS (similarity to the ideal solution).

    The matrix is normalised per criterion, weighted, and each alternative's Euclidean
    distances to the positive-ideal (best of every criterion) and negative-ideal (worst of
    every criterion) points give its relative closeness ``C = d- / (d+ + d-)``.

    Parameters
    ----------
    data : DataFrame or array-like
        Decision matrix, alternatives in rows, criteria in columns.
    weights : mapping, Series or sequence
        Criterion weights (normalised to sum to 1).
    criteria_types : str, mapping or sequence, optional
        ``"benefit"`` or ``"cost"`` per criterion; default all benefit.
    normalization : {"vector", "linear"}
        ``"vector"``: ``x_ij / sqrt(sum_i x_ij^2)`` (Hwang & Yoon 1981, the usual TOPSIS);
        ``"linear"``: ``(x_ij - worst_j) / (best_j - worst_j)``, the normalisation of VIKOR,
        used by Opricovic & Tzeng (2004) to compare the two methods.

    Returns
    -------
    TopsisResult

    Examples
    --------
    >>> m = pd.DataFrame({"f1": [1, 2, 5], "f2": [3000, 3750, 4500]}, index=["A1", "A2", "A3"])
    >>> res = topsis(m, weights=[0.5, 0.5], criteria_types=["cost", "benefit"], normalization="linear")
    >>> res.scores["closeness"].round(3).tolist()
    [0.5, 0.617, 0.5]
    """
    frame, matrix = _decision_matrix(data)
    require_rows(matrix.shape[0], 2, what="TOPSIS needs alternatives")
    w = weight_vector(weights, list(frame.columns))
    benefit = _benefit_mask(criteria_types, list(frame.columns))
    if normalization == "vector":
        norms = np.sqrt((matrix**2).sum(axis=0))
        with np.errstate(divide="ignore", invalid="ignore"):
            normalised = np.where(norms > 0, matrix / norms, 0.0)
    elif normalization == "linear":
        best = np.where(benefit, matrix.max(axis=0), matrix.min(axis=0))
        worst = np.where(benefit, matrix.min(axis=0), matrix.max(axis=0))
        span = best - worst
        with np.errstate(divide="ignore", invalid="ignore"):
            normalised = np.where(span != 0, (matrix - worst) / span, 0.0)
        benefit = np.ones_like(benefit)  # after this normalisation every criterion is "higher is better"
    else:
        raise InvalidParameterError(f"normalization must be 'vector' or 'linear', got {normalization!r}")
    weighted = normalised * w
    ideal = np.where(benefit, weighted.max(axis=0), weighted.min(axis=0))
    anti_ideal = np.where(benefit, weighted.min(axis=0), weighted.max(axis=0))
    d_plus = np.sqrt(((weighted - ideal) ** 2).sum(axis=1))
    d_minus = np.sqrt(((weighted - anti_ideal) ** 2).sum(axis=1))
    total = d_plus + d_minus
    with np.errstate(divide="ignore", invalid="ignore"):
        closeness = np.where(total > 0, d_minus / total, 0.5)
    scores = pd.DataFrame({"d_plus": d_plus, "d_minus": d_minus, "closeness": closeness}, index=frame.index)
    scores["rank"] = scores["closeness"].rank(ascending=False, method="min").astype(int)
    return TopsisResult(
        scores=scores,
        weights=pd.Series(
            w, index=pd.Index([str(c) for c in frame.columns], name="criterion"), name="weight"
        ),
        normalization=normalization,
    )


def criteria_summary(
    criteria: Sequence[tuple[str, str]], weights: Mapping[str, float], entropy: pd.DataFrame | None = None
) -> list[dict]:
    """One JSON-ready row per criterion: ``name``, ``type`` (benefit or cost), ``weight`` and, when the
    weights came from :func:`entropy_weights` (its table given as ``entropy``), the criterion's
    ``entropy`` and ``divergence`` (else None).

    Examples
    --------
    >>> criteria_summary([("price", "cost")], {"price": 1.0})
    [{'name': 'price', 'type': 'cost', 'weight': 1.0, 'entropy': None, 'divergence': None}]
    """
    return [
        {
            "name": name,
            "type": kind,
            "weight": float(weights[name]),
            "entropy": None if entropy is None else float(entropy.loc[name, "entropy"]),
            "divergence": None if entropy is None else float(entropy.loc[name, "divergence"]),
        }
        for name, kind in criteria
    ]
