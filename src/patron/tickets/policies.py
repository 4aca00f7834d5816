"""SLA policies: one per priority and organisation, with built-in defaults created on first use.

Part of the tickets service layer (see :mod:`patron.tickets.service`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.accounts import service as accounts_service
from patron.core.errors import Conflict, Invalid, NotFound
from patron.tickets import sla
from patron.tickets.history import check_choice
from patron.tickets.models import PRIORITIES, SlaPolicy

#: built-in targets (first response, resolution) in calendar minutes, used when an org has no policies
DEFAULT_TARGETS: dict[str, tuple[int, int]] = {
    "urgent": (15, 4 * 60),
    "high": (60, 8 * 60),
    "normal": (4 * 60, 24 * 60),
    "low": (8 * 60, 72 * 60),
}


def _validate_policy(*, first: int, resolution: int, start_hour: int, end_hour: int, days: str) -> None:
    if not 1 <= first <= 527_040:
        raise Invalid(
            "first_response_minutes must be between 1 and 527040 (a year).", field="first_response_minutes"
        )
    if not first <= resolution <= 527_040:
        raise Invalid(
            "resolution_minutes must be at least first_response_minutes and at most a year.",
            field="resolution_minutes",
        )
    if not 0 <= start_hour < end_hour <= 24:
        raise Invalid(
            "business_start_hour must be before business_end_hour (hours 0-24).", field="business_start_hour"
        )
    if not days or any(d not in "0123456" for d in days) or len(set(days)) != len(days):
        raise Invalid(
            "business_days lists weekday digits 0-6 (Monday=0) at most once each.", field="business_days"
        )


def ensure_default_sla_policies(session: Session, *, org_id: int) -> None:
    """Give an organisation without any policy the built-in targets (calendar time)."""
    exists = session.scalar(select(SlaPolicy.id).where(SlaPolicy.org_id == org_id).limit(1))
    if exists is not None:
        return
    policies = [
        SlaPolicy(org_id=org_id, priority=priority, first_response_minutes=first, resolution_minutes=res)
        for priority, (first, res) in DEFAULT_TARGETS.items()
    ]
    if session.get_bind().dialect.name == "sqlite":  # one writer at a time; no race to lose
        session.add_all(policies)
        session.flush()
        return
    try:
        with session.begin_nested():
            session.add_all(policies)
    except IntegrityError:  # a concurrent request created them first
        pass


def list_sla_policies(session: Session, *, org_id: int) -> list[SlaPolicy]:
    """The organisation's policies in priority order (the defaults are created on first use)."""
    ensure_default_sla_policies(session, org_id=org_id)
    rows = session.scalars(select(SlaPolicy).where(SlaPolicy.org_id == org_id))
    return sorted(rows, key=lambda p: PRIORITIES.index(p.priority) if p.priority in PRIORITIES else 99)


def get_sla_policy_or_raise(session: Session, *, org_id: int, policy_id: int) -> SlaPolicy:
    policy = session.scalar(select(SlaPolicy).where(SlaPolicy.org_id == org_id, SlaPolicy.id == policy_id))
    if policy is None:
        raise NotFound(f"No SLA policy {policy_id}.", field="policy_id")
    return policy


def create_sla_policy(
    session: Session,
    *,
    org_id: int,
    priority: str,
    first_response_minutes: int,
    resolution_minutes: int,
    business_hours: bool = False,
    business_start_hour: int = 9,
    business_end_hour: int = 17,
    business_days: str = "01234",
) -> SlaPolicy:
    check_choice(priority, PRIORITIES, "priority")
    _validate_policy(
        first=first_response_minutes,
        resolution=resolution_minutes,
        start_hour=business_start_hour,
        end_hour=business_end_hour,
        days=business_days,
    )
    taken = session.scalar(
        select(SlaPolicy.id).where(SlaPolicy.org_id == org_id, SlaPolicy.priority == priority)
    )
    if taken is not None:
        raise Conflict(
            f"There is already a policy for {priority} tickets (id {taken}); change that one.",
            field="priority",
        )
    policy = SlaPolicy(
        org_id=org_id,
        priority=priority,
        first_response_minutes=first_response_minutes,
        resolution_minutes=resolution_minutes,
        business_hours=business_hours,
        business_start_hour=business_start_hour,
        business_end_hour=business_end_hour,
        business_days="".join(sorted(business_days)),
    )
    session.add(policy)
    session.flush()
    return policy


def update_sla_policy(session: Session, *, policy: SlaPolicy, changes: dict) -> SlaPolicy:
    """Change targets or business hours; tickets already open keep their due times."""
    merged = {
        name: changes.get(name, getattr(policy, name))
        for name in (
            "first_response_minutes",
            "resolution_minutes",
            "business_hours",
            "business_start_hour",
            "business_end_hour",
            "business_days",
        )
    }
    _validate_policy(
        first=merged["first_response_minutes"],
        resolution=merged["resolution_minutes"],
        start_hour=merged["business_start_hour"],
        end_hour=merged["business_end_hour"],
        days=merged["business_days"],
    )
    merged["business_days"] = "".join(sorted(merged["business_days"]))
    for name, value in merged.items():
        setattr(policy, name, value)
    session.flush()
    return policy


def delete_sla_policy(session: Session, *, policy: SlaPolicy) -> None:
    """Remove a policy; tickets of that priority then use the built-in targets."""
    session.delete(policy)
    session.flush()


@dataclass(frozen=True)
class Clock:
    """The targets that apply to one priority, and the working hours they count in (None: calendar)."""

    first_response_minutes: int
    resolution_minutes: int
    hours: sla.BusinessHours | None


def sla_clock(session: Session, *, org_id: int, priority: str) -> Clock:
    policy = session.scalar(
        select(SlaPolicy).where(SlaPolicy.org_id == org_id, SlaPolicy.priority == priority)
    )
    if policy is None:
        first, resolution = DEFAULT_TARGETS[priority]
        return Clock(first, resolution, None)
    hours = None
    if policy.business_hours:
        org = accounts_service.get_organisation(session, org_id=org_id)
        hours = sla.BusinessHours.from_policy(
            start_hour=policy.business_start_hour,
            end_hour=policy.business_end_hour,
            days=policy.business_days,
            timezone=org.timezone if org else "UTC",
        )
    return Clock(policy.first_response_minutes, policy.resolution_minutes, hours)
