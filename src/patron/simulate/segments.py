"""The demo's segments and predictions, computed at the end of the history (after orders, surveys and the
loyalty programme), through the predictions and segments services.

* **Predictions**: one run of the organisation's models (lifetime value, probability of being alive,
  churn risk, recommendations, sentiment) as of the anchor.
* **Rule segments**, refreshed once: *Lapsed high spenders* (spent 400 EUR or more, nothing in the
  last 180 days), *Berlin e-mail opt-ins*, *VIPs at risk* (VIP, churn risk 0.5 or more) and *Young
  riders* (born 1995 or later, using rides).
* **An ML segmentation**: k-means on the customers' features, the number of clusters chosen by the
  silhouette from 2 to 6, each cluster a segment (none in a demo of too few customers to cluster).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from patron.core.config import get_settings
from patron.core.errors import Invalid
from patron.predictions import service as predictions_service
from patron.segments import ml as segments_ml
from patron.segments import service as segments_service
from patron.simulate.clock import SimulatedClock

Progress = Callable[[str, int, int], None]

#: (name, description, definition)
SEGMENTS = (
    ("Lapsed high spenders", "Spent 400 EUR or more, but nothing in the last 180 days.",
     {"all": [{"field": "feature.monetary", "op": "gte", "value": 400},
              {"field": "feature.recency_days", "op": "gte", "value": 180}]}),
    ("Berlin e-mail opt-ins", "Customers in Berlin who agreed to e-mails.",
     {"all": [{"field": "city", "op": "eq", "value": "Berlin"},
              {"field": "consent.email", "op": "eq", "value": True}]}),
    ("VIPs at risk", "VIP customers whose churn risk is 0.5 or more.",
     {"all": [{"field": "tags", "op": "contains", "value": "vip"},
              {"field": "prediction.churn_risk", "op": "gte", "value": 0.5}]}),
    ("Young riders", "Born in 1995 or later and using rides.",
     {"all": [{"field": "birth_year", "op": "gte", "value": 1995},
              {"field": "tags", "op": "contains", "value": "rides"}]}),
)  # fmt: skip


def seed_demo_segments(
    session: Session, *, org_id: int, clock: SimulatedClock, anchor: datetime, progress: Progress
) -> dict[str, int]:
    """Predictions, the rule segments and an ML run, as of ``anchor``; returns counts."""
    settings = get_settings()
    total = len(SEGMENTS) + 2
    clock.set(anchor)
    progress("Predictions and segments", 0, total)
    predictions_service.run_predictions(session, org_id=org_id, as_of=anchor)
    progress("Predictions and segments", 1, total)
    evaluators = segments_service.Evaluators(session, settings=settings, now=anchor)
    for done, (name, description, definition) in enumerate(SEGMENTS, start=2):
        segment = segments_service.create_segment(
            session, org_id=org_id, name=name, description=description, definition=definition
        )
        segments_service.do_refresh_segment(session, segment=segment, settings=settings, evaluators=evaluators)
        progress("Predictions and segments", done, total)
    clusters = 0
    try:
        with session.begin_nested():
            run = segments_ml.run_ml_segmentation(
                session, org_id=org_id, settings=settings, k_range=(2, 6), now=anchor
            )
            clusters = run.k
    except Invalid:
        pass  # a demo of a handful of customers: too few to cluster
    progress("Predictions and segments", total, total)
    return {"prediction_runs": 1, "segments": len(SEGMENTS) + clusters, "ml_clusters": clusters}
