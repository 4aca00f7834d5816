"""The context a template is rendered with, for one customer: only the fields the campaign's templates
use are looked up (a template without ``recommended_products`` costs no order queries).

Recommended products come from the predictions capability when it is installed (its service's
``recommended_products(session, *, org_id, customer_id) -> list[str]``); otherwise from the customer's
own history: the best sellers of the category they bought most items of, leaving out what they already
bought. A customer without purchases gets none.
"""

from __future__ import annotations

import math
from importlib import import_module
from typing import Any

from sqlalchemy.orm import Session

from patron.customers import service as customers_service
from patron.customers.places import haversine_m
from patron.loyalty import service as loyalty_service
from patron.orders import insights as order_insights

RECOMMENDATIONS = 3


def _predictions_service():
    try:
        module = import_module("patron.predictions.service")
    except ModuleNotFoundError as exc:
        if exc.name and "patron.predictions".startswith(exc.name):
            return None
        raise
    return module if callable(getattr(module, "recommended_products", None)) else None


def recommended_products(session: Session, *, org_id: int, customer_id: int) -> list[str]:
    """Names of up to three products to recommend to the customer (see the module's description)."""
    predictions = _predictions_service()
    if predictions is not None:
        names = predictions.recommended_products(session, org_id=org_id, customer_id=customer_id)
        if names:
            return [str(n) for n in names][:RECOMMENDATIONS]
    category_id = order_insights.favourite_category_id(session, org_id=org_id, customer_id=customer_id)
    if category_id is None:
        return []
    return order_insights.best_sellers(session, org_id=org_id, category_id=category_id, limit=RECOMMENDATIONS,
                                       exclude_customer_id=customer_id)  # fmt: skip


def _position(data: dict[str, Any]) -> tuple[float, float] | None:
    try:
        lat, lon = float(data["lat"]), float(data["lon"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


def nearest_place(session: Session, *, org_id: int, customer_id: int, data: dict[str, Any]) -> dict | None:
    """The customer's saved place nearest to the position in the trigger's data (``lat``, ``lon``) with
    the distance in whole metres; without a position, their most visited place (distance unknown)."""
    places = customers_service.list_places(session, org_id=org_id, customer_id=customer_id)
    if not places:
        return None
    position = _position(data)
    if position is None:
        return {"label": places[0].label, "distance_m": None}
    distance, place = min(
        ((haversine_m(position[0], position[1], p.latitude, p.longitude), p) for p in places),
        key=lambda pair: (pair[0], pair[1].id),
    )
    return {"label": place.label, "distance_m": round(distance)}


def build_context(
    session: Session,
    *,
    org_id: int,
    customer,
    campaign_name: str,
    needed: set[str],
    trigger_data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The template context for ``customer`` (a Customer row), with the costly fields only if in
    ``needed``."""
    data = {str(k): str(v) for k, v in (trigger_data or {}).items()}
    context: dict[str, Any] = {
        "first_name": customer.first_name or "", "last_name": customer.last_name or "", "campaign": campaign_name,
        "trigger": data, "shop": data.get("shop") or data.get("geofence"), "points": 0,
        "recommended_products": [], "nearest_place": None,
    }  # fmt: skip
    if "points" in needed:
        balance = loyalty_service.get_balance(session, org_id=org_id, customer_id=customer.id)
        context["points"] = balance.balance if balance is not None else 0
    if "recommended_products" in needed:
        context["recommended_products"] = recommended_products(
            session, org_id=org_id, customer_id=customer.id
        )
    if "nearest_place" in needed:
        context["nearest_place"] = nearest_place(session, org_id=org_id, customer_id=customer.id, data=data)
    return context
