"""Priority of an ML run's clusters: which cluster to serve first, by entropy (or equal) criterion
weights, VIKOR with its two conditions and compromise set, and TOPSIS beside it.

Study §2 ranks factor groups against criteria this way; here the alternatives are the clusters of a
segmentation run and the criteria come from the cluster profiles: the cluster's ``share`` of the
customers and the cluster mean (centroid) of any feature the run clustered on. Each criterion is a
*benefit* (higher is better) or a *cost* (lower is better). A criterion is written ``name``,
``name:benefit`` or ``name:cost``; a bare name takes its usual direction (:data:`LOWER_IS_BETTER`
features are costs, everything else a benefit). Without criteria the default set is used:
:data:`DEFAULT_CRITERIA` as far as the run has them and they differ between clusters.

Nothing is written: a ranking is computed from the stored run each time it is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from patron.analytics.errors import AnalyticsError
from patron.analytics.mcdm import (
    DEFAULT_V_GRID,
    VikorResult,
    criteria_summary,
    entropy_weights,
    topsis,
    vikor,
)
from patron.core.errors import Invalid
from patron.segments import ml as segments_ml
from patron.segments.models import SegmentRun

#: the criterion holding each cluster's fraction of the clustered customers
SHARE = "share"
#: the default criteria, each taken when the run has it: reach (share), value (monetary), engagement
#: (frequency) and how long ago the cluster last bought (recency_days, a cost)
DEFAULT_CRITERIA: tuple[str, ...] = (SHARE, "monetary", "frequency", "recency_days")
#: features where a lower cluster mean is better; any other criterion is a benefit unless marked ``:cost``
LOWER_IS_BETTER: frozenset[str] = frozenset(
    {"recency_days", "days_since_last_event", "return_rate", "tickets_open", "tickets_total"}
)
KINDS = ("benefit", "cost")
WEIGHTINGS = ("entropy", "equal")
FIELD = "criterion"


def default_kind(name: str) -> str:
    """The usual direction of a criterion: ``cost`` for :data:`LOWER_IS_BETTER` features, else ``benefit``."""
    return "cost" if name in LOWER_IS_BETTER else "benefit"


def available_criteria(run: SegmentRun) -> list[str]:
    """What a run's clusters can be ranked on: ``share`` and every feature the run clustered on."""
    return [SHARE, *[str(f) for f in run.features if f != SHARE]]


def _value(cluster: dict, name: str) -> float | None:
    value = cluster.get("share") if name == SHARE else (cluster.get("centroid") or {}).get(name)
    return None if value is None or not np.isfinite(float(value)) else float(value)


def _column(run: SegmentRun, name: str) -> list[float | None]:
    return [_value(cluster, name) for cluster in run.clusters]


def _varies(values: list[float | None]) -> bool:
    return all(v is not None for v in values) and len(set(values)) > 1


def parse_criteria(run: SegmentRun, entries: Sequence[str] | None) -> list[tuple[str, str]]:
    """``[(name, kind), ...]`` from ``name``/``name:benefit``/``name:cost`` entries (empty ones are
    skipped); the default set when ``entries`` is None. Unknown or repeated names raise
    :class:`~patron.core.errors.Invalid` naming the ``criterion`` field."""
    available = available_criteria(run)
    if entries is None:
        chosen = [
            (n, default_kind(n)) for n in DEFAULT_CRITERIA if n in available and _varies(_column(run, n))
        ]
        if not chosen:
            raise Invalid("None of the default criteria (" + ", ".join(DEFAULT_CRITERIA) + ") differs between "
                          "the clusters of this run; choose the criteria.", field=FIELD)  # fmt: skip
        return chosen
    chosen = []
    for entry in entries:
        text = entry.strip()
        if not text:
            continue
        name, kind = text, None
        if ":" in text:
            name, _, kind = text.rpartition(":")
            name, kind = name.strip(), kind.strip().lower()
            if kind not in KINDS:
                raise Invalid(f"The direction of criterion '{name}' must be benefit or cost, not '{kind}'.",
                              field=FIELD)  # fmt: skip
        if name not in available:
            raise Invalid(f"Unknown criterion '{name}'; this run's clusters can be ranked on "
                          f"{', '.join(available)}.", field=FIELD)  # fmt: skip
        if any(name == seen for seen, _ in chosen):
            raise Invalid(f"Criterion '{name}' is named more than once.", field=FIELD)
        chosen.append((name, kind or default_kind(name)))
    if not chosen:
        raise Invalid("Choose at least one criterion.", field=FIELD)
    return chosen


def _matrix(run: SegmentRun, criteria: list[tuple[str, str]]) -> pd.DataFrame:
    columns = {}
    for name, _ in criteria:
        values = _column(run, name)
        for cluster, value in zip(run.clusters, values, strict=True):
            if value is None:
                raise Invalid(f"Cluster {cluster['cluster']} has no mean of '{name}', so it cannot be a criterion.",
                              field=FIELD)  # fmt: skip
        columns[name] = values
    return pd.DataFrame(columns, index=pd.Index([int(c["cluster"]) for c in run.clusters], name="cluster"))


def _weights(matrix: pd.DataFrame, weighting: str) -> tuple[pd.Series, pd.DataFrame | None]:
    if weighting == "equal":
        return pd.Series(1.0 / matrix.shape[1], index=matrix.columns), None
    for name in matrix.columns:
        if matrix[name].nunique() == 1:
            raise Invalid(f"'{name}' has the same value in every cluster, so entropy weighting cannot use it; "
                          "drop it or use equal weights.", field=FIELD)  # fmt: skip
        if (matrix[name] < 0).any():
            cluster = int(matrix.index[int(np.argmax(matrix[name].to_numpy() < 0))])
            raise Invalid(f"Entropy weights need values of at least 0, and cluster {cluster} has a negative mean "
                          f"of '{name}'; use equal weights or drop that criterion.", field="weights")  # fmt: skip
    table = entropy_weights(matrix)
    return table["weight"], table


def _score(value: float) -> float:
    """A score as a plain float, with -0.0 (a zero distance on a cost criterion) written as 0.0."""
    return float(value) + 0.0


def _order_at(result: VikorResult, v: float) -> list[int]:
    frame = pd.DataFrame({"Q": result.q_by_v[v], "S": result.scores["S"], "R": result.scores["R"]})
    return [int(c) for c in frame.sort_values(["Q", "S", "R"], kind="stable").index]


def _conditions_at(result: VikorResult, v: float) -> dict[str, Any]:
    row = result.conditions.loc[v]
    return {
        "v": float(v),
        "ranking": _order_at(result, v),
        "best": int(row["best"]),
        "second": int(row["second"]),
        "advantage": _score(row["advantage"]),
        "acceptable_advantage": bool(row["acceptable_advantage"]),
        "acceptable_stability": bool(row["acceptable_stability"]),
        "compromise": [int(c) for c in row["compromise"]],
    }


def rank_clusters(
    run: SegmentRun, *, criteria: Sequence[str] | None = None, weighting: str = "entropy", v: float = 0.5
) -> dict[str, Any]:
    """Rank the clusters of ``run`` against ``criteria`` (see the module docstring for their form).

    Returns the criteria with their types and weights (and entropy and divergence under entropy
    weighting), one row per cluster in VIKOR order with its criterion values, ``S``, ``R``, ``Q``, their
    ranks and the TOPSIS closeness and rank, the two conditions and the compromise set at ``v``, and
    the ranking and compromise set for every ``v`` of 0.1 ... 0.9 (``stability``).
    """
    if weighting not in WEIGHTINGS:
        raise Invalid(f"weights is one of {', '.join(WEIGHTINGS)}.", field="weights")
    if not 0.0 <= v <= 1.0:
        raise Invalid("v must be a number from 0 to 1.", field="v")
    if len(run.clusters) < 2:
        raise Invalid("Ranking needs at least two clusters.", field="run_id")
    chosen = parse_criteria(run, criteria)
    matrix = _matrix(run, chosen)
    kinds = [kind for _, kind in chosen]
    try:
        weights, entropy = _weights(matrix, weighting)
        result = vikor(matrix, weights=weights, criteria_types=kinds, v=v, v_grid=DEFAULT_V_GRID)
        closeness = topsis(matrix, weights=weights, criteria_types=kinds)
    except AnalyticsError as exc:
        raise Invalid(f"The clusters cannot be ranked on these criteria: {exc}", field=FIELD) from None

    scores, by_cluster = result.scores, {int(c["cluster"]): c for c in run.clusters}
    best = result.best
    rows = []
    for number in _order_at(result, result.v):
        cluster, score = by_cluster[number], scores.loc[number]
        rows.append({
            "cluster": number, "name": cluster.get("name", str(number)), "segment_id": cluster.get("segment_id"),
            "size": int(cluster.get("size", 0)), "values": {n: float(matrix.loc[number, n]) for n in matrix.columns},
            "S": _score(score["S"]), "R": _score(score["R"]), "Q": _score(score["Q"]),
            "rank_S": int(score["rank_S"]), "rank_R": int(score["rank_R"]), "rank_Q": int(score["rank_Q"]),
            "closeness": _score(closeness.scores.loc[number, "closeness"]),
            "topsis_rank": int(closeness.scores.loc[number, "rank"]),
        })  # fmt: skip
    return {
        "run_id": run.id,
        "weighting": weighting,
        "criteria": criteria_summary(chosen, weights, entropy),
        "available_criteria": [{"name": n, "default_type": default_kind(n)} for n in available_criteria(run)],
        "clusters": rows,
        "dq": float(result.dq),
        **_conditions_at(result, result.v),
        "best_by_S": bool(np.isclose(scores.loc[best, "S"], scores["S"].min())),
        "best_by_R": bool(np.isclose(scores.loc[best, "R"], scores["R"].min())),
        "stability": [_conditions_at(result, value) for value in result.q_by_v.columns],
        "topsis_ranking": [int(c) for c in closeness.ranking],
    }


def rank_run_clusters(
    session: Session, *, org_id: int, run_id: int, criteria: Sequence[str] | None = None,
    weighting: str = "entropy", v: float = 0.5,
) -> dict[str, Any]:  # fmt: skip
    """:func:`rank_clusters` of the organisation's run ``run_id`` (another organisation's run is not found)."""
    run = segments_ml.get_run_or_raise(session, org_id=org_id, run_id=run_id)
    return rank_clusters(run, criteria=criteria, weighting=weighting, v=v)
