"""Rules service: rules (stored as data and checked strictly), their firings, triggers for campaigns,
and the rule test that replays stored events without running any action.

Every write to a rule marks the session so that, once it commits, the engine of this process reloads
its compiled rules (:mod:`patron.rules.versions`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from patron.accounts import service as accounts_service
from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid, NotFound
from patron.devices.models import Device
from patron.events.store import EVENT_COLUMNS, EventStore, row_to_event
from patron.rules import versions
from patron.rules.actions import event_snapshot, template_context
from patron.rules.definition import MAX_DEFINITION_BYTES, CompiledRule, compile_rule, plan
from patron.rules.evaluator import Decision, Evaluator
from patron.rules.facts import Facts
from patron.rules.models import Rule, RuleFiring, RuleState, Trigger

MAX_SHOWN_FIRINGS = 1000
RULE_FIELDS = ("name", "description", "enabled", "definition")


# --- definitions ---------------------------------------------------------------------------------------


def parse_definition(value: Any) -> dict:
    """A definition sent as an object, or as JSON (or, with PyYAML installed, YAML) text."""
    if isinstance(value, str):
        if len(value.encode()) > MAX_DEFINITION_BYTES:
            raise Invalid(f"definition: at most {MAX_DEFINITION_BYTES // 1024} KB.", field="definition")
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            try:
                import yaml  # optional: not a dependency
            except ImportError:
                raise Invalid("definition: the text is not valid JSON.", field="definition") from None
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError as exc:
                raise Invalid(
                    f"definition: the text is neither JSON nor YAML ({exc.__class__.__name__}).",
                    field="definition",
                ) from None
    if not isinstance(value, dict):
        raise Invalid("definition: must be an object (or its JSON text).", field="definition")
    return value


def check_definition(
    session: Session, *, org_id: int, definition: Any, name: str = "", rule_id: int = 0
) -> tuple[dict, CompiledRule]:
    """The parsed definition and its compiled rule; also checks the devices and users it names belong
    to the organisation. Raises :class:`Invalid` naming the path."""
    definition = parse_definition(definition)
    compiled = compile_rule(definition, rule_id=rule_id, org_id=org_id, name=name)
    if compiled.device_ids:
        wanted = sorted(compiled.device_ids)
        found = set(session.scalars(select(Device.id).where(Device.org_id == org_id, Device.id.in_(wanted))))
        listed = definition["when"]["device_ids"]
        for i, device_id in enumerate(listed):
            if device_id not in found:
                raise Invalid(
                    f"definition.when.device_ids[{i}]: no device {device_id} in this organisation.",
                    field=f"definition.when.device_ids[{i}]",
                )
    for i, action in enumerate(compiled.actions):
        user_id = action.params.get("user_id") if action.type == "notify" else None
        if user_id is not None and accounts_service.get_user(session, org_id=org_id, user_id=user_id) is None:
            path = f"definition.actions[{i}].user_id"
            raise Invalid(f"{path}: no user {user_id} in this organisation.", field=path)
    return definition, compiled


# --- rules ---------------------------------------------------------------------------------------------


def get_rule(session: Session, *, org_id: int, rule_id: int) -> Rule | None:
    return session.scalar(select(Rule).where(Rule.org_id == org_id, Rule.id == rule_id))


def get_rule_or_raise(session: Session, *, org_id: int, rule_id: int) -> Rule:
    """The rule, or NotFound (also for another organisation's rule)."""
    rule = get_rule(session, org_id=org_id, rule_id=rule_id)
    if rule is None:
        raise NotFound(f"No rule {rule_id}.", field="rule_id")
    return rule


def list_rules(
    session: Session, *, org_id: int, enabled: bool | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Rule], int]:
    query = select(Rule).where(Rule.org_id == org_id)
    if enabled is not None:
        query = query.where(Rule.enabled.is_(enabled))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return list(session.scalars(query.order_by(Rule.name, Rule.id).limit(limit).offset(offset))), total


def _name_free(session: Session, *, org_id: int, name: str, rule_id: int | None = None) -> None:
    query = select(Rule.id).where(Rule.org_id == org_id, Rule.name == name)
    if rule_id is not None:
        query = query.where(Rule.id != rule_id)
    if session.scalar(query) is not None:
        raise Conflict(f"A rule named '{name}' already exists.", field="name")


def create_rule(
    session: Session,
    *,
    org_id: int,
    name: str,
    definition: Any,
    description: str = "",
    enabled: bool = True,
    created_by_id: int | None = None,
) -> Rule:
    name = name.strip()
    definition, _ = check_definition(session, org_id=org_id, definition=definition, name=name)
    _name_free(session, org_id=org_id, name=name)
    rule = Rule(
        org_id=org_id,
        name=name,
        description=description,
        enabled=enabled,
        definition=definition,
        created_by_id=created_by_id,
    )
    session.add(rule)
    session.flush()
    versions.mark_changed(session)
    return rule


def update_rule(session: Session, *, rule: Rule, changes: dict[str, Any]) -> Rule:
    """Change fields of a rule. A new definition restarts the rule's memory (windows, geofence sides,
    silences); open tickets it deduplicates against are kept."""
    unknown = set(changes) - set(RULE_FIELDS)
    if unknown:
        raise Invalid(f"Unknown field {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    if "name" in changes:
        changes["name"] = changes["name"].strip()
        _name_free(session, org_id=rule.org_id, name=changes["name"], rule_id=rule.id)
    if "definition" in changes:
        changes["definition"], _ = check_definition(
            session, org_id=rule.org_id, definition=changes["definition"], rule_id=rule.id
        )
        if changes["definition"] != rule.definition:
            session.execute(
                delete(RuleState).where(RuleState.rule_id == rule.id, RuleState.subject.not_like("ticket:%"))
            )
    for key, value in changes.items():
        setattr(rule, key, value)
    rule.updated_at = utcnow()
    session.flush()
    versions.mark_changed(session)
    return rule


def delete_rule(session: Session, *, rule: Rule) -> None:
    """Delete a rule with its firings and state; triggers it emitted stay (without the link)."""
    session.execute(update(Trigger).where(Trigger.rule_id == rule.id).values(rule_id=None, firing_id=None))
    session.execute(delete(RuleState).where(RuleState.rule_id == rule.id))
    session.execute(delete(RuleFiring).where(RuleFiring.rule_id == rule.id))
    session.delete(rule)
    session.flush()
    versions.mark_changed(session)


# --- firings and triggers ------------------------------------------------------------------------------


def list_firings(
    session: Session,
    *,
    org_id: int,
    rule_id: int | None = None,
    customer_id: int | None = None,
    device_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[RuleFiring], int]:
    """Firings of the organisation, newest first."""
    query = select(RuleFiring).where(RuleFiring.org_id == org_id)
    if rule_id is not None:
        query = query.where(RuleFiring.rule_id == rule_id)
    if customer_id is not None:
        query = query.where(RuleFiring.customer_id == customer_id)
    if device_id is not None:
        query = query.where(RuleFiring.device_id == device_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(RuleFiring.fired_at.desc(), RuleFiring.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), total


def list_triggers(
    session: Session,
    *,
    org_id: int,
    name: str | None = None,
    consumed: bool | None = None,
    customer_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Trigger], int]:
    """Triggers of the organisation, oldest first (the order a consumer should take them in)."""
    query = select(Trigger).where(Trigger.org_id == org_id)
    if name is not None:
        query = query.where(Trigger.name == name)
    if consumed is not None:
        query = query.where(Trigger.consumed_at.is_not(None) if consumed else Trigger.consumed_at.is_(None))
    if customer_id is not None:
        query = query.where(Trigger.customer_id == customer_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Trigger.created_at, Trigger.id).limit(limit).offset(offset))
    return list(rows), total


def get_trigger_or_raise(session: Session, *, org_id: int, trigger_id: int) -> Trigger:
    trigger = session.scalar(select(Trigger).where(Trigger.org_id == org_id, Trigger.id == trigger_id))
    if trigger is None:
        raise NotFound(f"No trigger {trigger_id}.", field="trigger_id")
    return trigger


def do_consume_trigger(
    session: Session, *, org_id: int, trigger_id: int, consumed_by: str, now: datetime | None = None
) -> Trigger:
    """Claim a trigger once: Conflict if someone already has (safe for several consumers at once)."""
    trigger = get_trigger_or_raise(session, org_id=org_id, trigger_id=trigger_id)
    claimed = session.execute(
        update(Trigger)
        .where(Trigger.id == trigger.id, Trigger.consumed_at.is_(None))
        .values(consumed_at=now or utcnow(), consumed_by=consumed_by[:120])
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(trigger)
    if not claimed:
        raise Conflict(
            f"Trigger {trigger_id} was already consumed by {trigger.consumed_by}.", field="trigger_id"
        )
    return trigger


# --- testing a rule ------------------------------------------------------------------------------------


def dry_run_rule(
    session: Session,
    *,
    store: EventStore,
    org_id: int,
    rule: CompiledRule,
    last: int,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Replay the organisation's ``last`` stored events (oldest first) through the rule with fresh state
    (empty windows, every subject outside every geofence) and say what would fire. No action runs and
    nothing is written; customer conditions see customers as they are now."""
    rows = store.query(
        f"SELECT {EVENT_COLUMNS} FROM events WHERE org_id = ? ORDER BY seq DESC LIMIT ?", [org_id, last]
    )
    facts = Facts(session)
    evaluator = Evaluator(facts)
    decisions: list[Decision] = []
    events = [row_to_event(row) for row in reversed(rows)]
    facts.prefetch_devices({event.device_id for event in events if event.device_id is not None})
    for event in events:
        if rule.inactivity is not None:
            decisions.extend(evaluator.silences(rule, event.received_at))
        if rule.matches_type(event.type):
            decision = evaluator.on_event(rule, event)
            if decision is not None:
                decisions.append(decision)
    if rule.inactivity is not None:
        decisions.extend(evaluator.silences(rule, now or utcnow()))
    shown = []
    for decision in decisions[:MAX_SHOWN_FIRINGS]:
        context = template_context(decision, facts)
        shown.append(
            {
                "event": event_snapshot(decision),
                "reason": decision.reason,
                "actions": [plan(action, context) for action in rule.actions],
            }
        )
    return {"evaluated": len(events), "would_fire": shown, "would_fire_count": len(decisions)}
