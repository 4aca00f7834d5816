"""Interactions: the only module that queries the interactions table.

Every interaction also writes an ``interaction.<kind>`` entry to the customer's timeline.
Other domains call :func:`count_by_user` (staff activity) and the customer hooks
:func:`reassign_customer`, :func:`erase_customer` and :func:`export_customer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from patron.accounts import service as accounts_service
from patron.core import audit
from patron.core.db import utcnow
from patron.core.errors import Invalid, NotFound
from patron.core.reassign import reassign_customer_rows
from patron.customers import service as customers_service
from patron.interactions import complaints
from patron.interactions.models import DIRECTIONS, INTERACTION_KINDS, Interaction

#: the channel an interaction of each kind happens on when none is given
DEFAULT_CHANNELS = {
    "call": "phone",
    "email": "email",
    "chat": "chat",
    "meeting": "in_person",
    "social": "social",
    "note": "internal",
    "sms": "sms",
}

KIND_LABELS = {
    "call": "Call",
    "email": "E-mail",
    "chat": "Chat",
    "meeting": "Meeting",
    "social": "Social message",
    "note": "Note",
    "sms": "SMS",
}

EXPORTED_FIELDS = (
    "id",
    "customer_id",
    "kind",
    "channel",
    "direction",
    "user_id",
    "subject",
    "body",
    "outcome",
    "duration_seconds",
    "occurred_at",
    "sentiment",
    "ticket_id",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class InteractionFilter:
    customer_id: int | None = None
    kind: str | None = None
    user_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def _check_choice(value: str, choices: tuple[str, ...], field: str) -> None:
    if value not in choices:
        raise Invalid(f"Unknown {field} '{value}'; choose one of {', '.join(choices)}.", field=field)


def _check_aware(value: datetime | None, field: str) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise Invalid(f"{field} needs a time zone (e.g. 2024-05-01T10:00:00Z).", field=field)


def _summary(interaction: Interaction) -> str:
    label = KIND_LABELS.get(interaction.kind, interaction.kind)
    text = f"{label} ({interaction.direction}"
    text += f", {interaction.channel})" if interaction.channel else ")"
    if interaction.subject:
        text += f": {interaction.subject}"
    if interaction.outcome:
        text += f" — {interaction.outcome}"
    return text


# --- reads ---------------------------------------------------------------------------------------


def get_interaction(session: Session, *, org_id: int, interaction_id: int) -> Interaction | None:
    return session.scalar(
        select(Interaction).where(Interaction.org_id == org_id, Interaction.id == interaction_id)
    )


def get_interaction_or_raise(session: Session, *, org_id: int, interaction_id: int) -> Interaction:
    """The interaction, or NotFound (also when it belongs to another organisation)."""
    interaction = get_interaction(session, org_id=org_id, interaction_id=interaction_id)
    if interaction is None:
        raise NotFound(f"No interaction {interaction_id}.", field="interaction_id")
    return interaction


def list_interactions(
    session: Session,
    *,
    org_id: int,
    filters: InteractionFilter | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Interaction], int]:
    """Interactions matching ``filters``, newest first, and the total that match."""
    filters = filters or InteractionFilter()
    _check_aware(filters.since, "since")
    _check_aware(filters.until, "until")
    query = select(Interaction).where(Interaction.org_id == org_id)
    if filters.customer_id is not None:
        query = query.where(Interaction.customer_id == filters.customer_id)
    if filters.kind is not None:
        query = query.where(Interaction.kind == filters.kind)
    if filters.user_id is not None:
        query = query.where(Interaction.user_id == filters.user_id)
    if filters.since is not None:
        query = query.where(Interaction.occurred_at >= filters.since)
    if filters.until is not None:
        query = query.where(Interaction.occurred_at < filters.until)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Interaction.occurred_at.desc(), Interaction.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), total


def count_by_user(session: Session, *, org_id: int, since: datetime, until: datetime) -> dict[int, int]:
    """Interactions per staff member that occurred in ``[since, until)`` (staff activity metrics)."""
    _check_aware(since, "since")
    _check_aware(until, "until")
    rows = session.execute(
        select(Interaction.user_id, func.count())
        .where(
            Interaction.org_id == org_id,
            Interaction.user_id.is_not(None),
            Interaction.occurred_at >= since,
            Interaction.occurred_at < until,
        )
        .group_by(Interaction.user_id)
    )
    return {user_id: count for user_id, count in rows}


# --- writes --------------------------------------------------------------------------------------


def _check_staff(session: Session, *, org_id: int, user_id: int | None) -> None:
    if user_id is not None:
        accounts_service.get_user_or_raise(session, org_id=org_id, user_id=user_id, field="user_id")


def create_interaction(
    session: Session,
    *,
    org_id: int,
    customer_id: int,
    kind: str,
    channel: str = "",
    direction: str = "outbound",
    user_id: int | None = None,
    subject: str = "",
    body: str = "",
    outcome: str = "",
    duration_seconds: int | None = None,
    occurred_at: datetime | None = None,
    actor_user_id: int | None = None,
    complaint_tickets: bool = True,
) -> Interaction:
    """Log an interaction and put it on the customer's timeline.

    ``user_id`` defaults to ``actor_user_id`` (the caller); either must be staff of ``org_id``. An
    inbound message is scored; with ``complaint_tickets`` a written complaint opens or joins a ticket
    (:mod:`patron.interactions.complaints`) - history written afterwards passes ``False``.
    """
    _check_choice(kind, INTERACTION_KINDS, "kind")
    _check_choice(direction, DIRECTIONS, "direction")
    _check_aware(occurred_at, "occurred_at")
    customers_service.get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    user_id = user_id if user_id is not None else actor_user_id
    _check_staff(session, org_id=org_id, user_id=user_id)
    interaction = Interaction(
        org_id=org_id,
        customer_id=customer_id,
        kind=kind,
        channel=channel or DEFAULT_CHANNELS[kind],
        direction=direction,
        user_id=user_id,
        subject=subject.strip(),
        body=body,
        outcome=outcome.strip(),
        duration_seconds=duration_seconds,
        occurred_at=occurred_at or utcnow(),
    )
    complaints.handle_message(
        session, interaction=interaction, actor_user_id=actor_user_id, open_tickets=complaint_tickets
    )
    session.add(interaction)
    session.flush()
    customers_service.record_timeline(
        session,
        org_id=org_id,
        customer_id=customer_id,
        kind=f"interaction.{kind}",
        summary=_summary(interaction),
        ref_type="interaction",
        ref_id=interaction.id,
        occurred_at=interaction.occurred_at,
        data={
            "channel": interaction.channel,
            "direction": direction,
            "user_id": user_id,
            "outcome": interaction.outcome,
            "duration_seconds": duration_seconds,
            "sentiment": interaction.sentiment,
            "ticket_id": interaction.ticket_id,
        },
        actor_user_id=actor_user_id,
    )
    return interaction


def update_interaction(session: Session, *, interaction: Interaction, changes: dict) -> Interaction:
    """Apply ``changes`` (field -> new value; only the fields to change)."""
    if "kind" in changes:
        _check_choice(changes["kind"], INTERACTION_KINDS, "kind")
    if "direction" in changes:
        _check_choice(changes["direction"], DIRECTIONS, "direction")
    if "occurred_at" in changes:
        _check_aware(changes["occurred_at"], "occurred_at")
    if "user_id" in changes:
        _check_staff(session, org_id=interaction.org_id, user_id=changes["user_id"])
    editable = {
        "kind",
        "channel",
        "direction",
        "user_id",
        "subject",
        "body",
        "outcome",
        "duration_seconds",
        "occurred_at",
    }
    unknown = set(changes) - editable
    if unknown:
        raise Invalid(f"Cannot change {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    for name, value in changes.items():
        if name in ("subject", "outcome"):
            value = value.strip()
        if name == "channel" and not value:
            value = DEFAULT_CHANNELS[changes.get("kind", interaction.kind)]
        setattr(interaction, name, value)
    if changes.keys() & {"subject", "body", "direction"}:
        # the words changed: the score follows them (an already opened ticket stays)
        complaints.handle_message(session, interaction=interaction, actor_user_id=None)
    session.flush()
    return interaction


def delete_interaction(session: Session, *, interaction: Interaction) -> None:
    customers_service.delete_timeline_entries(
        session, org_id=interaction.org_id, ref_type="interaction", ref_id=interaction.id
    )
    session.delete(interaction)
    session.flush()


# --- customer hooks (called by the customers domain on merge, erase and export) --------------------


def reassign_customer(session: Session, *, org_id: int, from_customer_id: int, to_customer_id: int) -> int:
    """Move every interaction of one customer to another (merge of duplicates). Returns how many moved."""
    return reassign_customer_rows(session, Interaction, org_id=org_id, from_customer_id=from_customer_id,
                                  to_customer_id=to_customer_id)


def erase_customer(session: Session, *, org_id: int, customer_id: int) -> int:
    """Blank the subject and body of every interaction with the customer; counts and times stay for
    anonymous aggregates. Returns how many interactions were blanked."""
    result = session.execute(
        update(Interaction)
        .where(Interaction.org_id == org_id, Interaction.customer_id == customer_id)
        .values(subject="", body="", outcome="", sentiment=None, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    erased = result.rowcount or 0
    if erased:
        audit.record(
            session,
            action="erase",
            entity="interactions",
            org_id=org_id,
            after={"customer_id": customer_id, "count": erased},
        )
    return erased


def export_customer(session: Session, *, org_id: int, customer_id: int) -> dict[str, list[dict]]:
    """Everything this domain holds about one customer, as JSON-ready dicts."""
    rows = session.scalars(
        select(Interaction)
        .where(Interaction.org_id == org_id, Interaction.customer_id == customer_id)
        .order_by(Interaction.occurred_at, Interaction.id)
    )
    return {
        "interactions": [
            {name: audit.jsonable(getattr(row, name)) for name in EXPORTED_FIELDS} for row in rows
        ]
    }


def customer_texts(session: Session, *, org_id: int, until: datetime | None = None) -> list[tuple]:
    """``(customer_id, occurred_at, text)`` of every inbound interaction with words in it (the customer's
    own calls, e-mails, chats, messages and social posts; subject and body joined), oldest first."""
    query = select(Interaction.customer_id, Interaction.occurred_at, Interaction.subject, Interaction.body).where(
        Interaction.org_id == org_id, Interaction.direction == "inbound",
        (Interaction.body != "") | (Interaction.subject != ""),
    )  # fmt: skip
    if until is not None:
        query = query.where(Interaction.occurred_at <= until)
    rows = session.execute(query.order_by(Interaction.occurred_at, Interaction.id))
    return [(c, at, ". ".join(part for part in (subject, body) if part)) for c, at, subject, body in rows]
