"""The context a template is rendered with, for one customer: only the fields the campaign's templates
use are looked up (a template without ``recommended_products`` costs no order queries).

Recommended products come from the predictions capability when it is installed (its service's
``recommended_products(session, *, org_id, customer_id) -> list[str]``, and for many customers
``recommended_products_many(session, *, org_id, customer_ids) -> dict``); otherwise from the customer's
own history: the best sellers of the category they bought most items of, leaving out what they already
bought. A customer without purchases gets none. A chunk of customers gets them by a few reads for the
whole chunk (:func:`recommended_products_many`), the same names as one by one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.customers import service as customers_service
from patron.customers.models import Place
from patron.customers.places import haversine_m
from patron.loyalty.models import PointsBalance
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


@dataclass
class SharedReads:
    """What :func:`build_contexts` reads that is the same for every customer, kept from one chunk of a send
    to the next: each category's best sellers (read when a customer first needs them)."""

    best_sellers: dict[int, list[tuple[int, str]]] = field(default_factory=dict)


def recommended_products_many(
    session: Session, *, org_id: int, customer_ids: list[int], shared: SharedReads | None = None
) -> dict[int, list[str]]:
    """:func:`recommended_products` of many customers at once, ``{customer_id: names}``: the predictions of
    all of them by one bulk read, then the favourite categories and best sellers of those left without
    any by one bulk read each (instead of two or three queries per customer). With ``shared``, the best
    sellers of a category read for an earlier chunk are not read again."""
    ids = list(dict.fromkeys(customer_ids))
    found: dict[int, list[str]] = {}
    predictions = _predictions_service()
    if predictions is not None and ids:
        many = getattr(predictions, "recommended_products_many", None)
        if callable(many):
            predicted = many(session, org_id=org_id, customer_ids=ids)
        else:
            predicted = {
                i: predictions.recommended_products(session, org_id=org_id, customer_id=i) for i in ids
            }
        for customer_id in ids:
            names = predicted.get(customer_id) or []
            if names:
                found[customer_id] = [str(n) for n in names][:RECOMMENDATIONS]
    left = [i for i in ids if i not in found]
    if left:
        categories = order_insights.favourite_category_ids(session, org_id=org_id, customer_ids=left)
        sellers = order_insights.best_sellers_many(session, org_id=org_id, category_by_customer=categories,
                                                   limit=RECOMMENDATIONS,
                                                   rankings=shared.best_sellers if shared else None)  # fmt: skip
        for customer_id in left:
            found[customer_id] = sellers.get(customer_id, [])
    return found


def _position(data: dict[str, Any]) -> tuple[float, float] | None:
    try:
        lat, lon = float(data["lat"]), float(data["lon"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


def _nearest(places: list, data: dict[str, Any]) -> dict | None:
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


def nearest_place(session: Session, *, org_id: int, customer_id: int, data: dict[str, Any]) -> dict | None:
    """The customer's saved place nearest to the position in the trigger's data (``lat``, ``lon``) with
    the distance in whole metres; without a position, their most visited place (distance unknown)."""
    return _nearest(customers_service.list_places(session, org_id=org_id, customer_id=customer_id), data)


def _places_by_customer(session: Session, *, org_id: int, customer_ids: list[int]) -> dict[int, list[Place]]:
    """The saved places of many customers by one read, each customer's most visited first."""
    found: dict[int, list[Place]] = {}
    rows = session.scalars(select(Place).where(Place.org_id == org_id, Place.customer_id.in_(customer_ids))
                           .order_by(Place.customer_id, Place.visit_count.desc(),
                                     Place.last_visited_at.desc().nulls_last(), Place.id))  # fmt: skip
    for place in rows:
        found.setdefault(place.customer_id, []).append(place)
    return found


def _points_by_customer(session: Session, *, org_id: int, customer_ids: list[int]) -> dict[int, int]:
    rows = session.execute(select(PointsBalance.customer_id, PointsBalance.balance).where(
        PointsBalance.org_id == org_id, PointsBalance.customer_id.in_(customer_ids)))  # fmt: skip
    return {customer_id: balance for customer_id, balance in rows}


def build_contexts(
    session: Session,
    *,
    org_id: int,
    customers: list,
    campaign_name: str,
    needed: set[str],
    trigger_data: dict[str, Any] | None = None,
    shared: SharedReads | None = None,
) -> dict[int, dict[str, Any]]:
    """The template context of each of ``customers`` (rows with ``id``, ``first_name``, ``last_name``) by
    customer id. The costly fields are looked up only if in ``needed``, each by a few reads for all of
    them: points, saved places and recommended products. A send working through its customers in chunks
    passes the same ``shared`` for every chunk (see :class:`SharedReads`)."""
    data = {str(k): str(v) for k, v in (trigger_data or {}).items()}
    ids = [c.id for c in customers]
    points = (
        _points_by_customer(session, org_id=org_id, customer_ids=ids) if "points" in needed and ids else {}
    )
    places = (
        _places_by_customer(session, org_id=org_id, customer_ids=ids)
        if "nearest_place" in needed and ids
        else {}
    )
    recommended = (
        recommended_products_many(session, org_id=org_id, customer_ids=ids, shared=shared)
        if "recommended_products" in needed and ids
        else {}
    )
    contexts: dict[int, dict[str, Any]] = {}
    for customer in customers:
        context: dict[str, Any] = {
            "first_name": customer.first_name or "", "last_name": customer.last_name or "",
            "campaign": campaign_name, "trigger": data, "shop": data.get("shop") or data.get("geofence"),
            "points": points.get(customer.id, 0), "recommended_products": recommended.get(customer.id, []),
            "nearest_place": None,
        }  # fmt: skip
        if "nearest_place" in needed:
            context["nearest_place"] = _nearest(places.get(customer.id, []), data)
        contexts[customer.id] = context
    return contexts


def build_context(
    session: Session,
    *,
    org_id: int,
    customer,
    campaign_name: str,
    needed: set[str],
    trigger_data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The template context for one customer (see :func:`build_contexts`)."""
    return build_contexts(session, org_id=org_id, customers=[customer], campaign_name=campaign_name,
                          needed=needed, trigger_data=trigger_data)[customer.id]  # fmt: skip
