"""Campaigns: create, read, change and delete them with their A/B variants, checked strictly (templates
compiled in the sandbox, the schedule, the trigger, the audience). Sending lives in
:mod:`patron.campaigns.sending`, attribution and results in :mod:`patron.campaigns.results`."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from patron.campaigns import audience as audience_module
from patron.campaigns import templates
from patron.campaigns.models import (
    CONVERSION_KINDS,
    KINDS,
    STATUSES,
    Campaign,
    CampaignRecipient,
    CampaignVariant,
)
from patron.campaigns.schedule import check_recurrence, zone_or_raise
from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid, NotFound
from patron.events.ingest import TYPE_RE
from patron.notify.models import CHANNELS

MAX_VARIANTS = 10
MAX_HOLDOUT = 50
MAX_WINDOW_HOURS = 24 * 90
MAX_COOLDOWN_HOURS = 24 * 365
MAX_MONEY = Decimal("1000000000")
#: the trigger name of a campaign sent on the customer's birthday (see :mod:`patron.campaigns.birthday`),
#: ``conditions.days_before`` (0-30) days ahead
BIRTHDAY = "birthday"
MAX_DAYS_BEFORE = 30
#: props an event conversion may require
MAX_WHERE = 10
PROP_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
#: statuses in which a campaign may still be changed
EDITABLE = ("draft", "scheduled", "paused")


def get_campaign(session: Session, *, org_id: int, campaign_id: int) -> Campaign | None:
    return session.scalar(select(Campaign).where(Campaign.org_id == org_id, Campaign.id == campaign_id))


def get_campaign_or_raise(session: Session, *, org_id: int, campaign_id: int) -> Campaign:
    campaign = get_campaign(session, org_id=org_id, campaign_id=campaign_id)
    if campaign is None:
        raise NotFound(f"No campaign {campaign_id}.", field="campaign_id")
    return campaign


@dataclass(frozen=True)
class CampaignFilter:
    status: str | None = None
    kind: str | None = None


def list_campaigns(session: Session, *, org_id: int, filters: CampaignFilter | None = None, limit: int = 50,
                   offset: int = 0) -> tuple[list[Campaign], int]:  # fmt: skip
    """Campaigns of the organisation, newest first, and how many match."""
    filters = filters or CampaignFilter()
    query = select(Campaign).where(Campaign.org_id == org_id)
    if filters.status is not None:
        _choice(filters.status, STATUSES, "status")
        query = query.where(Campaign.status == filters.status)
    if filters.kind is not None:
        _choice(filters.kind, KINDS, "kind")
        query = query.where(Campaign.kind == filters.kind)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return list(session.scalars(query.order_by(Campaign.id.desc()).limit(limit).offset(offset))), total


def list_variants(session: Session, *, campaign: Campaign) -> list[CampaignVariant]:
    return list(session.scalars(
        select(CampaignVariant).where(CampaignVariant.org_id == campaign.org_id,
                                      CampaignVariant.campaign_id == campaign.id)
        .order_by(CampaignVariant.position, CampaignVariant.id)
    ))  # fmt: skip


def has_recipients(session: Session, *, campaign: Campaign) -> bool:
    return (
        session.scalar(
            select(CampaignRecipient.id).where(CampaignRecipient.campaign_id == campaign.id).limit(1)
        )
        is not None
    )


# --- checks ------------------------------------------------------------------------------------------


def _choice(value: Any, choices: tuple[str, ...], field: str) -> str:
    if value not in choices:
        raise Invalid(f"{field} must be one of {', '.join(choices)}.", field=field)
    return value


def _money(value: Any, field: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise Invalid(f"{field} must be an amount.", field=field) from None
    if not amount.is_finite() or amount < 0 or amount > MAX_MONEY:
        raise Invalid(f"{field} must be an amount from 0 to {MAX_MONEY:,}.", field=field)
    return amount.quantize(Decimal("0.0001"))


def _channels(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise Invalid("Give at least one channel.", field="channels")
    for channel in value:
        _choice(channel, CHANNELS, "channels")
    if len(set(value)) != len(value):
        raise Invalid("A channel is named twice.", field="channels")
    return list(value)


def _trigger(value: Any) -> dict:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"].strip():
        raise Invalid("A triggered campaign needs the trigger's name.", field="trigger.name")
    conditions = value.get("conditions") or {}
    if not isinstance(conditions, dict) or not all(
        isinstance(v, str | int | float | bool) for v in conditions.values()
    ):
        raise Invalid(
            "trigger.conditions maps data keys to the values they must have.", field="trigger.conditions"
        )
    cooldown = value.get("cooldown_hours", 24)
    if isinstance(cooldown, bool) or not isinstance(cooldown, int) or not 0 <= cooldown <= MAX_COOLDOWN_HOURS:
        raise Invalid(f"trigger.cooldown_hours is 0-{MAX_COOLDOWN_HOURS}.", field="trigger.cooldown_hours")
    if value["name"].strip() == "no_purchase":
        days = str(conditions.get("days", 60))
        if not days.isdigit() or not 1 <= int(days) <= 3650:
            raise Invalid(
                "conditions.days of a no_purchase campaign is 1-3650.", field="trigger.conditions.days"
            )
    if value["name"].strip() == BIRTHDAY:
        other = sorted(set(conditions) - {"days_before"})
        if other:
            raise Invalid(f"A birthday campaign takes only conditions.days_before, not {', '.join(other)}.",
                          field=f"trigger.conditions.{other[0]}")  # fmt: skip
        ahead = conditions.get("days_before", 0)
        ahead = str(ahead) if not isinstance(ahead, bool) else ""
        if not ahead.isdigit() or not 0 <= int(ahead) <= MAX_DAYS_BEFORE:
            raise Invalid(f"conditions.days_before of a birthday campaign is 0-{MAX_DAYS_BEFORE}.",
                          field="trigger.conditions.days_before")  # fmt: skip
        conditions = {"days_before": int(ahead)}
    return {"name": value["name"].strip()[:120], "conditions": {str(k): str(v) for k, v in conditions.items()},
            "cooldown_hours": cooldown}  # fmt: skip


def _event_conversion(value: dict) -> dict:
    """The parts of an ``event`` conversion: the event type, the props it must have, the prop giving its value."""
    event_type = value.get("type")
    if not isinstance(event_type, str) or not TYPE_RE.match(event_type.strip()):
        raise Invalid("An event conversion names the event type (1-64 letters, digits or _ . : -), e.g. "
                      "app_purchase.", field="conversion.type")  # fmt: skip
    clean: dict[str, Any] = {"type": event_type.strip()}
    where = value.get("where") or {}
    if not isinstance(where, dict) or len(where) > MAX_WHERE:
        raise Invalid(f"conversion.where maps at most {MAX_WHERE} event props to the values they must have.",
                      field="conversion.where")  # fmt: skip
    for key, expected in where.items():
        if not isinstance(key, str) or not PROP_RE.match(key):
            raise Invalid("An event prop's name is 1-64 letters, digits or _ . -.", field="conversion.where")
        if (
            not isinstance(expected, str | int | float | bool)
            or (isinstance(expected, float) and not math.isfinite(expected))
            or (isinstance(expected, str) and len(expected) > 200)
        ):
            raise Invalid(f"conversion.where.{key} is a text of at most 200 characters, a number or true/false.",
                          field=f"conversion.where.{key}")  # fmt: skip
    if where:
        clean["where"] = dict(where)
    prop = value.get("value_prop")
    if prop is not None and prop != "":
        if not isinstance(prop, str) or not PROP_RE.match(prop):
            raise Invalid("conversion.value_prop is the name of a numeric event prop (1-64 letters, digits or "
                          "_ . -).", field="conversion.value_prop")  # fmt: skip
        clean["value_prop"] = prop
    return clean


def _conversion(value: Any) -> dict:
    value = value or {"kind": "order"}
    if not isinstance(value, dict):
        raise Invalid("conversion is an object with its kind and window.", field="conversion")
    kind = _choice(value.get("kind"), CONVERSION_KINDS, "conversion.kind")
    window = value.get("window_hours", 72)
    if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= MAX_WINDOW_HOURS:
        raise Invalid(f"conversion.window_hours is 1-{MAX_WINDOW_HOURS}.", field="conversion.window_hours")
    clean = {"kind": kind, "window_hours": window}
    if kind == "visit":
        name = value.get("name")
        if not isinstance(name, str) or not name.strip():
            raise Invalid(
                "A visit conversion names the trigger that records the visit.", field="conversion.name"
            )
        clean["name"] = name.strip()[:120]
    elif kind == "event":
        clean |= _event_conversion(value)
    return clean


def _variants(value: Any, channels: list[str]) -> list[dict]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_VARIANTS:
        raise Invalid(f"Give 1-{MAX_VARIANTS} variants.", field="variants")
    names: set[str] = set()
    clean = []
    for i, variant in enumerate(value):
        name = str(variant.get("name") or "").strip()
        if not name or len(name) > 40 or name == "holdout":
            raise Invalid(
                "A variant's name is 1-40 characters and not 'holdout'.", field=f"variants[{i}].name"
            )
        if name in names:
            raise Invalid(f"Two variants are called '{name}'.", field=f"variants[{i}].name")
        names.add(name)
        weight = variant.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 1000:
            raise Invalid("A variant's weight is 1-1000.", field=f"variants[{i}].weight")
        subject, body = str(variant.get("subject") or ""), str(variant.get("body") or "")
        if "email" in channels and not subject.strip():
            raise Invalid("An e-mail campaign's variants need a subject.", field=f"variants[{i}].subject")
        if not body.strip():
            raise Invalid("The body must not be empty.", field=f"variants[{i}].body")
        for field, source in ((f"variants[{i}].subject", subject), (f"variants[{i}].body", body)):
            templates.check_template(source, field=field)
            templates.render(source, templates.sample_context(), field=field)
        clean.append({"name": name, "weight": weight, "subject": subject, "body": body, "position": i})
    return clean


def _check(session: Session, *, org_id: int, values: dict[str, Any]) -> dict[str, Any]:
    """The campaign's fields, checked and normalised together (kind decides what else is needed)."""
    clean = dict(values)
    kind = clean["kind"] = _choice(values.get("kind") or "one_off", KINDS, "kind")
    name = str(values.get("name") or "").strip()
    if not name or len(name) > 120:
        raise Invalid("name is 1-120 characters.", field="name")
    clean["name"] = name
    clean["channels"] = _channels(values.get("channels"))
    clean["audience"] = audience_module.check_audience(values.get("audience"))
    audience_module.validate(session, org_id=org_id, audience=clean["audience"])
    clean["timezone"] = values.get("timezone") or "UTC"
    zone_or_raise(clean["timezone"])
    send_at = values.get("send_at")
    if send_at is not None and (not isinstance(send_at, datetime) or send_at.tzinfo is None):
        raise Invalid("send_at is a date and time with its offset.", field="send_at")
    clean["recurrence"] = None
    clean["trigger"] = None
    if kind == "one_off":
        pass
    elif kind == "recurring":
        if not values.get("recurrence"):
            raise Invalid("A recurring campaign needs a recurrence.", field="recurrence")
        clean["recurrence"] = check_recurrence(values["recurrence"])
        clean["send_at"] = None
    else:
        clean["trigger"] = _trigger(values.get("trigger"))
        clean["send_at"] = None
    clean["conversion"] = _conversion(values.get("conversion"))
    holdout = values.get("holdout_percent", 0)
    if isinstance(holdout, bool) or not isinstance(holdout, int) or not 0 <= holdout <= MAX_HOLDOUT:
        raise Invalid(f"holdout_percent is 0-{MAX_HOLDOUT}.", field="holdout_percent")
    clean["holdout_percent"] = holdout
    clean["budget"] = None if values.get("budget") is None else _money(values["budget"], "budget")
    costs = values.get("costs") or {}
    if not isinstance(costs, dict):
        raise Invalid("costs maps channels to the cost of one message.", field="costs")
    clean["costs"] = {
        _choice(ch, CHANNELS, "costs"): str(_money(amount, f"costs.{ch}")) for ch, amount in costs.items()
    }
    clean["variants"] = _variants(values.get("variants"), clean["channels"])
    return clean


FIELDS = ("name", "description", "kind", "channels", "audience", "timezone", "send_at", "recurrence", "trigger",
          "conversion", "budget", "costs", "holdout_percent")  # fmt: skip


def _name_free(session: Session, *, org_id: int, name: str, campaign_id: int | None = None) -> None:
    query = select(Campaign.id).where(Campaign.org_id == org_id, Campaign.name == name)
    if campaign_id is not None:
        query = query.where(Campaign.id != campaign_id)
    if session.scalar(query) is not None:
        raise Conflict(f"A campaign called '{name}' exists.", field="name")


def _write_variants(session: Session, campaign: Campaign, variants: list[dict]) -> None:
    session.execute(delete(CampaignVariant).where(CampaignVariant.campaign_id == campaign.id))
    for variant in variants:
        session.add(CampaignVariant(org_id=campaign.org_id, campaign_id=campaign.id, **variant))
    session.flush()


def create_campaign(
    session: Session, *, org_id: int, values: dict[str, Any], created_by_id: int | None = None
) -> Campaign:
    """A new campaign in ``draft`` with its variants."""
    clean = _check(session, org_id=org_id, values=values)
    _name_free(session, org_id=org_id, name=clean["name"])
    campaign = Campaign(org_id=org_id, status="draft", created_by_id=created_by_id, spent=Decimal("0"),
                        **{f: clean.get(f) for f in FIELDS if f != "description"})  # fmt: skip
    campaign.description = str(values.get("description") or "")
    session.add(campaign)
    session.flush()
    _write_variants(session, campaign, clean["variants"])
    return campaign


def update_campaign(session: Session, *, campaign: Campaign, changes: dict[str, Any]) -> Campaign:
    """Change a campaign that is not running or done. Its variants may change only before anyone was
    assigned to them (attribution needs them fixed)."""
    if campaign.status not in EDITABLE:
        raise Conflict(f"A {campaign.status} campaign cannot be changed; pause it first.", field="status")
    current = {f: getattr(campaign, f) for f in FIELDS}
    current["variants"] = [{"name": v.name, "weight": v.weight, "subject": v.subject, "body": v.body}
                           for v in list_variants(session, campaign=campaign)]  # fmt: skip
    if "kind" in changes and changes["kind"] != campaign.kind and has_recipients(session, campaign=campaign):
        raise Conflict("The kind of a campaign that has sent cannot change.", field="kind")
    if "variants" in changes and has_recipients(session, campaign=campaign):
        raise Conflict("The variants of a campaign that has sent cannot change.", field="variants")
    clean = _check(session, org_id=campaign.org_id, values={**current, **changes})
    _name_free(session, org_id=campaign.org_id, name=clean["name"], campaign_id=campaign.id)
    for field in FIELDS:
        if field == "description":
            campaign.description = str(clean.get("description") or "")
        else:
            setattr(campaign, field, clean.get(field))
    if "variants" in changes:
        _write_variants(session, campaign, clean["variants"])
    campaign.updated_at = utcnow()
    session.flush()
    return campaign


def delete_campaign(session: Session, *, campaign: Campaign) -> None:
    """Delete a campaign that never sent (a campaign with recipients keeps its results: pause it)."""
    if has_recipients(session, campaign=campaign):
        raise Conflict(
            "A campaign that has sent is kept for its results; pause it instead.", field="campaign_id"
        )
    session.delete(campaign)
    session.flush()
