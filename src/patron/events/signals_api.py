"""``GET /api/v1/customers/{id}/signals``: what a customer's devices say about them, kept current by
:mod:`patron.events.enrichment`."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from patron.accounts.deps import Allowed
from patron.core.api import SessionDep
from patron.customers import places as places_service
from patron.events import signals

router = APIRouter(prefix="/api/v1", tags=["customers"])


class LearnedPlaceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(..., description="Id of the saved place (see the customer's places).")
    kind: str = Field(..., description="`home`, `work` or `other`, from when the customer stops there.")
    label: str = Field(..., description="Display label: Home, Work or Frequent place unless renamed.")
    latitude: float = Field(..., description="Centre of the place (WGS 84).")
    longitude: float = Field(..., description="Centre of the place (WGS 84).")
    visit_count: int = Field(..., description="Stops there seen in the last 60 days of device positions.")
    last_visited_at: datetime | None = Field(None, description="Arrival of the latest stop there.")


class SignalsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    customer_id: int = Field(..., description="The customer these signals describe.")
    last_seen_at: datetime | None = Field(
        None, description="Time of the customer's latest event from any device."
    )
    events_today: int = Field(
        ..., description="Events since midnight in the customer's time zone (UTC if unset)."
    )
    events_7d: int = Field(..., description="Events in the last 7 days.")
    events_30d: int = Field(..., description="Events in the last 30 days.")
    usage_by_type: dict[str, int] = Field(..., description="Event type -> count over the last 30 days.")
    usage_trend: str = Field(
        ...,
        description="Churn signal from weekly event counts of the last 4 weeks: `rising` (> +15 %/week), "
        "`steady`, `falling` (< -15 %/week), `new` (under 2 weeks of data) or `inactive` (nothing in 14 days).",
    )
    trend_slope: float | None = Field(
        None,
        description="Least-squares change of weekly events per week, relative to their mean (0.2 = +20 %).",
    )
    device_count: int = Field(..., description="The customer's devices that are not retired.")
    device_health: str = Field(
        ...,
        description="Worst health of their devices: fault, offline, warning, ok or unknown (no device seen).",
    )
    places_learned_at: datetime | None = Field(
        None, description="When the frequent places were last learned."
    )
    updated_at: datetime | None = Field(None, description="When these signals were computed; null: not yet.")
    learned_places: list[LearnedPlaceOut] = Field(
        ...,
        description="Places learned from the devices' GPS stops (manual places are listed with the places).",
    )


@router.get(
    "/customers/{customer_id}/signals",
    response_model=SignalsOut,
    summary="A customer's device signals: activity, usage trend, device health, learned places",
)
def get_customer_signals(
    customer_id: int, principal: Allowed("customers.read"), session: SessionDep
) -> SignalsOut:
    """Derived from the customer's device events. A customer without events yet gets zero counts,
    trend `new` and health `unknown`. Another organisation's customer: 404."""
    row = signals.get_signals(session, org_id=principal.org_id, customer_id=customer_id)
    learned = [
        LearnedPlaceOut.model_validate(place)
        for place in places_service.list_places(session, org_id=principal.org_id, customer_id=customer_id)
        if place.source == "learned"
    ]
    base = SignalsOut.model_validate({**{k: getattr(row, k) for k in _ROW_FIELDS}, "learned_places": learned})
    return base


_ROW_FIELDS = tuple(name for name in SignalsOut.model_fields if name != "learned_places")
