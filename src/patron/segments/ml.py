"""ML segments: cluster the feature table, profile and name the clusters, map them to the archetypes of
study §2 with their playbooks, and materialise one segment per cluster.

:func:`run_ml_segmentation` is one run: features -> :class:`~patron.analytics.segmentation.CustomerSegmenter`
(k chosen over ``k_range`` by the silhouette for k-means, by BIC for a Gaussian mixture; every candidate's
scores kept) -> stability (adjusted Rand index of refits with other seeds at the chosen k) -> cluster
profiles (z-scored centroids, sizes, key differences, names) -> archetype and playbook per cluster ->
segments with memberships (history) and size snapshots. The segments of the organisation's previous
run are retired: their memberships close, their history stays. :func:`run_nightly_segmentations` (a
scheduler job) repeats the latest run of every organisation that has one, once a day.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.analytics.archetypes import DEFAULT_FEATURE_ARCHETYPES, assign_archetypes
from patron.analytics.errors import AnalyticsError
from patron.analytics.segmentation import CustomerSegmenter, cluster_stability
from patron.core import audit
from patron.core.config import Settings, get_settings
from patron.core.db import utcnow
from patron.core.errors import Invalid, NotFound
from patron.customers.models import Customer
from patron.segments import service as segments_service
from patron.segments.evaluate import active_customers
from patron.segments.models import RUN_METHODS, Segment, SegmentRun

log = logging.getLogger("patron.segments")

STABILITY_SEEDS = (0, 1, 2)
NIGHTLY = timedelta(hours=24)


def _finite(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else float(value)


def feature_archetypes(columns: list[str]) -> dict[str, str]:
    """Tie each feature to an archetype by the longest known name it starts with (``recency_days`` is a
    ``recency``, ``orders_per_month`` a ``frequency`` only if so named), from
    :data:`~patron.analytics.archetypes.DEFAULT_FEATURE_ARCHETYPES`."""
    known = sorted(DEFAULT_FEATURE_ARCHETYPES, key=len, reverse=True)
    mapping = {}
    for column in columns:
        match = next((name for name in known if column == name or column.startswith(f"{name}_")), None)
        if match is not None:
            mapping[column] = DEFAULT_FEATURE_ARCHETYPES[match]
    return mapping


def _features(
    session: Session, *, org_id: int, settings: Settings, table: pd.DataFrame | None
) -> pd.DataFrame:
    """The numeric feature columns of the organisation's active customers, indexed by customer id."""
    if table is None:
        table = segments_service.feature_table(session, org_id=org_id, settings=settings)
    if table is None or table.empty:
        raise Invalid(
            "There is no feature table for this organisation yet (no customers with data).", field="features"
        )
    active = set(session.scalars(select(Customer.id).where(active_customers(org_id))))
    frame = table[table["customer_id"].isin(active)].set_index("customer_id")
    numeric = frame.select_dtypes(include=["number", "bool"]).astype(float)
    numeric = numeric.loc[:, numeric.notna().any()]  # a feature nobody has says nothing
    if numeric.shape[1] == 0:
        raise Invalid("The feature table has no numeric feature with a value.", field="features")
    return numeric


def _text(value: Any) -> str | None:
    """A text cell of a pandas row, None for any missing value (None, NaN, NA)."""
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _cluster_rows(segmenter: CustomerSegmenter, archetypes: pd.DataFrame | None) -> list[dict]:
    profiles = segmenter.profiles_
    rows = []
    for cluster in profiles.sizes.index:
        keys = profiles.key_differences[profiles.key_differences["cluster"] == cluster]
        archetype = None if archetypes is None else archetypes.loc[cluster]
        rows.append({
            "cluster": int(cluster),
            "name": str(profiles.names.loc[cluster]),
            "size": int(profiles.sizes.loc[cluster, "size"]),
            "share": float(profiles.sizes.loc[cluster, "share"]),
            "z": {str(f): round(float(v), 4) for f, v in profiles.z_centroids.loc[cluster].items()},
            "centroid": {str(f): _finite(float(v)) for f, v in profiles.centroids.loc[cluster].items()},
            "key_differences": [{"feature": str(r.feature), "z": round(float(r.z), 4), "direction": r.direction}
                                for r in keys.itertuples()],
            "archetype": None if archetype is None else _text(archetype["archetype"]),
            "title": None if archetype is None else _text(archetype["title"]),
            "playbook": [] if archetype is None or _text(archetype["archetype"]) is None else list(archetype["playbook"]),
        })  # fmt: skip
    return rows


def run_ml_segmentation(
    session: Session, *, org_id: int, settings: Settings, k_range: tuple[int, int] = (2, 8),
    method: str = "kmeans", created_by_id: int | None = None, now: datetime | None = None,
    table: pd.DataFrame | None = None,
) -> SegmentRun:  # fmt: skip
    """Cluster the organisation's customers on their features and materialise the clusters as segments.

    ``table`` is a feature table to use instead of the organisation's own (``customer_id`` + numeric
    columns). Bad parameters or too little data raise :class:`~patron.core.errors.Invalid`.
    """
    if method not in RUN_METHODS:
        raise Invalid(f"method is one of {', '.join(RUN_METHODS)}.", field="method")
    low, high = k_range
    if not 2 <= low <= high <= 20:
        raise Invalid("k_range needs 2 <= k_min <= k_max <= 20.", field="k_range")
    now = now or utcnow()
    features = _features(session, org_id=org_id, settings=settings, table=table)
    criterion = "bic" if method == "gmm" else "silhouette"
    try:
        segmenter = CustomerSegmenter(algorithm=method, k_range=(low, high), criterion=criterion,
                                      random_state=0).fit(features)  # fmt: skip
        stability = cluster_stability(CustomerSegmenter(algorithm=method, n_clusters=segmenter.n_clusters_),
                                      features, seeds=STABILITY_SEEDS)  # fmt: skip
    except AnalyticsError as exc:
        raise Invalid(f"The customers cannot be clustered: {exc}", field="features") from None
    mapping = feature_archetypes(list(features.columns))
    try:
        archetypes = assign_archetypes(segmenter.profiles_, mapping) if mapping else None
    except AnalyticsError:
        archetypes = None
    scores = [{"k": int(k), **{c: _finite(row[c]) for c in ("silhouette", "bic", "inertia")}}
              for k, row in segmenter.selection_scores_.iterrows()]  # fmt: skip
    run = SegmentRun(org_id=org_id, method=method, criterion=criterion, k_min=low, k_max=high,
                     k=int(segmenter.n_clusters_), scores=scores, stability_ari=stability.mean_ari,
                     stability_min_ari=stability.min_ari, n_customers=len(features),
                     features=[str(c) for c in features.columns], clusters=[], started_at=now,
                     created_by_id=created_by_id)  # fmt: skip
    session.add(run)
    session.flush()
    _retire_previous(session, org_id=org_id, run_id=run.id, now=now)
    clusters = _cluster_rows(segmenter, archetypes)
    labels = pd.Series(segmenter.labels_, index=features.index)
    for row in clusters:
        segment = Segment(org_id=org_id, name=_unique_name(session, org_id, f"{row['name']} · run {run.id}"),
                          kind="ml", description=row["title"] or "", run_id=run.id,
                          definition={"run_id": run.id, "cluster": row["cluster"]}, status="active",
                          created_by_id=created_by_id)  # fmt: skip
        session.add(segment)
        session.flush()
        ids = [int(i) for i in labels.index[labels.to_numpy() == row["cluster"]]]
        segments_service.apply_members(session, segment=segment, customer_ids=ids, now=now)
        row["segment_id"] = segment.id
    run.clusters = clusters
    run.finished_at = utcnow()
    audit.record(session, action="ml_run", entity="segment_runs", entity_id=run.id, org_id=org_id,
                 after={"k": run.k, "criterion": criterion, "customers": run.n_customers})  # fmt: skip
    session.flush()
    return run


def _unique_name(session: Session, org_id: int, name: str) -> str:
    candidate, n = name[:120], 2
    while segments_service.get_segment_by_name(session, org_id=org_id, name=candidate) is not None:
        candidate = f"{name[:110]} ({n})"
        n += 1
    return candidate


def _retire_previous(session: Session, *, org_id: int, run_id: int, now: datetime) -> None:
    previous = session.scalars(select(Segment).where(Segment.org_id == org_id, Segment.kind == "ml",
                                                     Segment.status != "retired", Segment.run_id != run_id))  # fmt: skip
    for segment in previous:
        segments_service.apply_members(session, segment=segment, customer_ids=(), now=now)
        segment.status = "retired"
    session.flush()


def get_run_or_raise(session: Session, *, org_id: int, run_id: int) -> SegmentRun:
    run = session.scalar(select(SegmentRun).where(SegmentRun.org_id == org_id, SegmentRun.id == run_id))
    if run is None:
        raise NotFound(f"No segmentation run {run_id}.", field="run_id")
    return run


def latest_run(session: Session, *, org_id: int) -> SegmentRun | None:
    return session.scalar(
        select(SegmentRun).where(SegmentRun.org_id == org_id).order_by(SegmentRun.id.desc()).limit(1)
    )


def list_runs(session: Session, *, org_id: int, limit: int = 20) -> list[SegmentRun]:
    return list(session.scalars(select(SegmentRun).where(SegmentRun.org_id == org_id)
                                .order_by(SegmentRun.id.desc()).limit(limit)))  # fmt: skip


def run_nightly_segmentations(session: Session, *, now: datetime) -> int:
    """Scheduler job: for every organisation whose latest run is a day old, run again with its method
    and k range. Returns how many runs were made."""
    settings = get_settings()
    org_ids = session.scalars(select(SegmentRun.org_id).distinct())
    done = 0
    for org_id in list(org_ids):
        last = latest_run(session, org_id=org_id)
        if last is None or last.started_at > now - NIGHTLY:
            continue
        try:
            with session.begin_nested():
                run_ml_segmentation(session, org_id=org_id, settings=settings, k_range=(last.k_min, last.k_max),
                                    method=last.method, now=now)  # fmt: skip
            done += 1
        except Exception:
            log.exception("nightly segmentation of org %s failed", org_id)
    return done


def selection_chart(run: SegmentRun) -> list[dict[str, Any]]:
    """The k-selection scores with the chosen k marked, for the explorer."""
    column = "bic" if run.criterion == "bic" else "silhouette"
    values = [s[column] for s in run.scores if s.get(column) is not None]
    top = max(np.abs(values)) if values else 1.0
    return [{"k": s["k"], "value": s.get(column), "chosen": s["k"] == run.k,
             "bar": 0.0 if s.get(column) is None or not top else abs(s[column]) / top} for s in run.scores]  # fmt: skip
