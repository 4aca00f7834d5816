"""The predictions panel of the customer page: what it shows is prepared here, the markup lives in
``web/templates/predictions/_customer_panel.html``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from patron.orders import service as orders_service
from patron.predictions import service as predictions_service

SPARK_WIDTH, SPARK_HEIGHT = 120, 28


def sparkline(history: list) -> str:
    """SVG polyline points of scores in [-1, 1] over a ``SPARK_WIDTH`` x ``SPARK_HEIGHT`` box (0 in the middle)."""
    if len(history) < 2:
        return ""
    step = SPARK_WIDTH / (len(history) - 1)
    return " ".join(
        f"{i * step:.1f},{(1 - float(score)) / 2 * SPARK_HEIGHT:.1f}"
        for i, (_day, score) in enumerate(history)
    )


def panel_context(session: Session, *, viewer: Any, customer_id: int) -> dict[str, Any] | None:
    """What the panel shows, or None when the viewer may not see predictions."""
    if not viewer.can("predictions.read"):
        return None
    prediction = predictions_service.get_prediction(session, org_id=viewer.org_id, customer_id=customer_id)
    if prediction is None:
        return {"prediction": None, "can_run": viewer.can("predictions.run")}
    drivers = [
        {**driver, "label": predictions_service.FEATURE_LABELS.get(driver["feature"], driver["feature"])}
        for driver in prediction.churn_drivers or []
    ]
    return {
        "prediction": prediction,
        "drivers": drivers,
        "products": predictions_service.recommended_with_names(
            session, org_id=viewer.org_id, prediction=prediction
        ),
        "currency": orders_service.org_currency(session, org_id=viewer.org_id),
        "spark": sparkline(prediction.sentiment_history or []),
        "spark_size": (SPARK_WIDTH, SPARK_HEIGHT),
        "can_run": viewer.can("predictions.run"),
    }
