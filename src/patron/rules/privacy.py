"""Customer-data hooks of real-time rules, called by the customers domain on merge, erase and export
(listed in :data:`patron.customers.hooks.CUSTOMER_HOOK_MODULES`).

Firings keep a snapshot of the event that caused them (props, positions) and triggers carry data for
campaigns: both are about a customer and follow them through a merge, leave with an erasure and
appear in a privacy export.
"""

from __future__ import annotations

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from patron.core import audit
from patron.core.reassign import reassign_customer_rows
from patron.rules.models import RuleFiring, RuleState, Trigger

FIRING_EXPORT_FIELDS = (
    "id",
    "rule_id",
    "fired_at",
    "event_id",
    "event_type",
    "device_id",
    "customer_id",
    "event",
    "reason",
    "actions",
)
TRIGGER_EXPORT_FIELDS = (
    "id",
    "name",
    "rule_id",
    "device_id",
    "customer_id",
    "data",
    "created_at",
    "consumed_at",
    "consumed_by",
)


def _forget_states(session: Session, *, org_id: int, customer_id: int) -> None:
    """Rule memory about the customer: geofence sides, silences, the open ticket a rule deduplicates on."""
    session.execute(
        delete(RuleState)
        .where(
            RuleState.org_id == org_id,
            or_(
                RuleState.subject == f"customer:{customer_id}",
                RuleState.subject.like(f"ticket:c{customer_id}:%"),
                RuleState.subject == f"ticket:c{customer_id}",
            ),
        )
        .execution_options(synchronize_session=False)
    )


def reassign_customer(session: Session, *, org_id: int, from_customer_id: int, to_customer_id: int) -> int:
    """Move the duplicate's firings and triggers to the survivor. Returns how many moved."""
    moved = 0
    for model in (RuleFiring, Trigger):
        moved += reassign_customer_rows(
            session, model, org_id=org_id, from_customer_id=from_customer_id, to_customer_id=to_customer_id
        )
    _forget_states(session, org_id=org_id, customer_id=from_customer_id)
    return moved


def erase_customer(session: Session, *, org_id: int, customer_id: int) -> int:
    """Blank the event snapshots and reasons of the customer's firings and the data of their triggers;
    times, rules and action outcomes stay for anonymous figures. Returns the records erased."""
    firings = (
        session.execute(
            update(RuleFiring)
            .where(RuleFiring.org_id == org_id, RuleFiring.customer_id == customer_id)
            .values(event={}, reason="")
            .execution_options(synchronize_session="fetch")
        ).rowcount
        or 0
    )
    triggers = (
        session.execute(
            update(Trigger)
            .where(Trigger.org_id == org_id, Trigger.customer_id == customer_id)
            .values(data={})
            .execution_options(synchronize_session="fetch")
        ).rowcount
        or 0
    )
    _forget_states(session, org_id=org_id, customer_id=customer_id)
    if firings or triggers:
        audit.record(
            session,
            action="erase",
            entity="rule_firings",
            org_id=org_id,
            after={"customer_id": customer_id, "firings": firings, "triggers": triggers},
        )
    return firings + triggers


def export_customer(session: Session, *, org_id: int, customer_id: int) -> dict[str, list[dict]]:
    """The customer's rule firings and triggers, as JSON-ready dicts."""
    firings = session.scalars(
        select(RuleFiring)
        .where(RuleFiring.org_id == org_id, RuleFiring.customer_id == customer_id)
        .order_by(RuleFiring.fired_at, RuleFiring.id)
    )
    triggers = session.scalars(
        select(Trigger)
        .where(Trigger.org_id == org_id, Trigger.customer_id == customer_id)
        .order_by(Trigger.created_at, Trigger.id)
    )
    return {
        "rule_firings": [
            {name: audit.jsonable(getattr(f, name)) for name in FIRING_EXPORT_FIELDS} for f in firings
        ],
        "triggers": [
            {name: audit.jsonable(getattr(t, name)) for name in TRIGGER_EXPORT_FIELDS} for t in triggers
        ],
    }
