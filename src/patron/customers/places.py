"""Saved places: home, work, the gym. A visit near a saved place counts towards it, so the next driver
already knows where the customer usually goes ("the driver needs no directions")."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.db import utcnow
from patron.core.errors import Invalid, NotFound
from patron.customers.base import get_customer_or_raise, get_writable_customer_or_raise, in_org
from patron.customers.models import Place

VISIT_RADIUS_M = 150.0
EARTH_RADIUS_M = 6_371_008.8
MAX_PLACES = 200


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS 84 points."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _check_position(latitude: Any, longitude: Any) -> None:
    for name, value, bound in (("latitude", latitude, 90), ("longitude", longitude, 180)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not -bound <= value <= bound
        ):
            raise Invalid(f"{name} must be a number between -{bound} and {bound}.", field=name)


def _check_text(name: str, value: Any, limit: int, *, required: bool) -> str:
    if not isinstance(value, str) or len(value.strip()) > limit or (required and not value.strip()):
        raise Invalid(f"{name} is {'1' if required else '0'}-{limit} characters.", field=name)
    return value.strip()


def list_places(session: Session, *, org_id: int, customer_id: int) -> list[Place]:
    """The customer's saved places, most visited first."""
    get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    return list(
        session.scalars(
            select(Place)
            .where(in_org(Place.org_id, org_id), Place.customer_id == customer_id)
            .order_by(Place.visit_count.desc(), Place.last_visited_at.desc().nulls_last(), Place.id)
        )
    )


def get_place_or_raise(session: Session, *, org_id: int, customer_id: int, place_id: int) -> Place:
    get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    place = session.scalar(
        select(Place).where(
            in_org(Place.org_id, org_id), Place.customer_id == customer_id, Place.id == place_id
        )
    )
    if place is None:
        raise NotFound(f"No place {place_id} for customer {customer_id}.", field="place_id")
    return place


def _place_count(session: Session, org_id: int, customer_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Place)
            .where(in_org(Place.org_id, org_id), Place.customer_id == customer_id)
        )
        or 0
    )


def create_place(
    session: Session,
    *,
    org_id: int,
    customer_id: int,
    label: str,
    latitude: float,
    longitude: float,
    address: str = "",
) -> Place:
    get_writable_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    _check_position(latitude, longitude)
    label = _check_text("label", label, 100, required=True)
    address = _check_text("address", address, 300, required=False)
    if _place_count(session, org_id, customer_id) >= MAX_PLACES:
        raise Invalid(f"A customer can have at most {MAX_PLACES} saved places.", field="customer_id")
    place = Place(
        org_id=org_id,
        customer_id=customer_id,
        label=label,
        latitude=float(latitude),
        longitude=float(longitude),
        address=address,
        visit_count=0,
    )
    session.add(place)
    session.flush()
    return place


def update_place(
    session: Session, *, org_id: int, customer_id: int, place_id: int, changes: dict[str, Any]
) -> Place:
    get_writable_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    place = get_place_or_raise(session, org_id=org_id, customer_id=customer_id, place_id=place_id)
    latitude = changes.get("latitude", place.latitude)
    longitude = changes.get("longitude", place.longitude)
    _check_position(latitude, longitude)
    if changes.get("label") is not None:
        place.label = _check_text("label", changes["label"], 100, required=True)
    if changes.get("address") is not None:
        place.address = _check_text("address", changes["address"], 300, required=False)
    place.latitude, place.longitude = float(latitude), float(longitude)
    session.flush()
    return place


def delete_place(session: Session, *, org_id: int, customer_id: int, place_id: int) -> None:
    place = get_place_or_raise(session, org_id=org_id, customer_id=customer_id, place_id=place_id)
    session.delete(place)
    session.flush()


def nearest_place(
    places: list[Place], latitude: float, longitude: float
) -> tuple[Place | None, float | None]:
    best, best_distance = None, None
    for place in places:
        distance = haversine_m(latitude, longitude, place.latitude, place.longitude)
        if best_distance is None or distance < best_distance:
            best, best_distance = place, distance
    return best, best_distance


def do_record_visit(
    session: Session,
    *,
    org_id: int,
    customer_id: int,
    latitude: float,
    longitude: float,
    label: str | None = None,
) -> tuple[Place, bool, float | None]:
    """Count a visit: the nearest saved place within 150 m gets ``visit_count + 1``; otherwise a new place is
    saved (labelled ``label`` or "Visited place"). Returns ``(place, created, distance in metres)``."""
    get_writable_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    _check_position(latitude, longitude)
    places = list(
        session.scalars(select(Place).where(in_org(Place.org_id, org_id), Place.customer_id == customer_id))
    )
    place, distance = nearest_place(places, latitude, longitude)
    now = utcnow()
    if place is not None and distance is not None and distance <= VISIT_RADIUS_M:
        place.visit_count = (place.visit_count or 0) + 1
        place.last_visited_at = now
        session.flush()
        return place, False, distance
    chosen = label if label is not None and label.strip() else "Visited place"
    place = create_place(
        session, org_id=org_id, customer_id=customer_id, label=chosen, latitude=latitude, longitude=longitude
    )
    place.visit_count = 1
    place.last_visited_at = now
    session.flush()
    return place, True, None
