"""The rule engine: the event processor ``patron.rules.engine:RuleProcessor``.

The event runtime hands it every durable batch (``process``) and calls ``tick`` about once a second.
Enabled rules of every organisation are compiled once and indexed by organisation and event type, so
an event meets only the rules that can match it. The compiled set is reloaded when the rules service
commits a change in this process (a version counter) and, for changes made by other processes, when
a cheap fingerprint of the rules table changes (checked every few seconds).

On (re)load the engine warms what lives in memory: window contents from the store's last minutes,
last-heard times of inactivity rules from the store, cooldowns from recent firings, and inactivity
firings from ``RuleState``. Geofence sides are read from ``RuleState`` on first use and written back
only when they change. Each ``process`` call uses one database session and one commit for all its
firings and their actions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from patron.core.audit import Actor
from patron.core.errors import Invalid
from patron.events.store import EVENT_COLUMNS, StoredEvent, row_to_event
from patron.rules import versions
from patron.rules.actions import ActionRunner, PendingFiring, event_snapshot, template_context
from patron.rules.definition import CompiledRule, compile_rule
from patron.rules.evaluator import Decision, Evaluator, Heard, subject_for
from patron.rules.facts import Facts
from patron.rules.models import Rule, RuleFiring, RuleState
from patron.rules.plan import Plan

log = logging.getLogger("patron.rules")

FINGERPRINT_CHECK_SECONDS = 5.0
#: actions that change what conditions read of a customer: with any of them loaded, a batch's events
#: are evaluated and fired one after the other (see :meth:`RuleProcessor._run`)
CUSTOMER_CHANGING_ACTIONS = frozenset({"tag_customer", "untag_customer", "flag"})
SWEEP_SECONDS = 60.0


def naive(moment: datetime) -> datetime:
    """A UTC datetime as DuckDB's naive TIMESTAMP parameter."""
    return moment.astimezone(UTC).replace(tzinfo=None)


_RULES = Rule.__table__
#: the batch's firings counted on their rules, one executemany (a Core statement: the ORM's bulk update
#: costs more to prepare than the update itself)
_COUNT_FIRINGS = (
    _RULES.update()
    .where(_RULES.c.id == bindparam("rule"))
    .values(fire_count=_RULES.c.fire_count + bindparam("fired"), last_fired_at=bindparam("last"))
)


def _audited_changes(session: Session) -> bool:
    """Whether the session holds unflushed changes to records the audit log keeps (firings, triggers
    and rule state are not among them)."""
    return any(
        getattr(obj, "__audited__", False)
        for group in (session.new, session.dirty, session.deleted)
        for obj in group
    )


def type_filter(rule: CompiledRule) -> tuple[str, list[Any]]:
    """SQL (DuckDB) condition on ``type`` selecting the events a rule can meet, and its parameters."""
    if rule.any_type:
        return "TRUE", []
    parts: list[str] = []
    params: list[Any] = []
    if rule.exact_types:
        parts.append("type IN (" + ", ".join("?" for _ in rule.exact_types) + ")")
        params.extend(sorted(rule.exact_types))
    for family in rule.families:
        parts.append("starts_with(type, ?)")
        params.append(family)
    return "(" + " OR ".join(parts) + ")", params


class OrgRules:
    """The enabled rules of one organisation, indexed by event type into evaluation plans."""

    def __init__(self, rules: list[CompiledRule]) -> None:
        self.exact: dict[str, list[CompiledRule]] = {}
        self.families: list[tuple[str, CompiledRule]] = []
        self.any: list[CompiledRule] = []
        self.inactivity = [rule for rule in rules if rule.kind == "inactivity"]
        self.fence_ids = sorted(rule.id for rule in rules if rule.kind == "geofence")
        for rule in rules:
            if rule.any_type:
                self.any.append(rule)
                continue
            for event_type in rule.exact_types:
                self.exact.setdefault(event_type, []).append(rule)
            for family in rule.families:
                self.families.append((family, rule))
        self._by_type: dict[str, Plan] = {}

    def for_type(self, event_type: str) -> Plan:
        found = self._by_type.get(event_type)
        if found is None:
            seen: dict[int, CompiledRule] = {rule.id: rule for rule in self.exact.get(event_type, ())}
            for family, rule in self.families:
                if event_type.startswith(family):
                    seen.setdefault(rule.id, rule)
            for rule in self.any:
                seen.setdefault(rule.id, rule)
            found = Plan.of(list(seen.values()))
            if len(self._by_type) < 10_000:
                self._by_type[event_type] = found
        return found


class RuleProcessor:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.factory = runtime.factory
        self.facts = Facts()
        self.evaluator = Evaluator(self.facts)
        self.actions = ActionRunner(runtime.factory)
        self.rules: dict[int, CompiledRule] = {}
        self.orgs: dict[int, OrgRules] = {}
        self._lock = threading.RLock()
        self._version = -1
        self._actions_change_customers = False
        self._fingerprint: tuple | None = None
        self._next_check = 0.0
        self._next_sweep = time.monotonic() + SWEEP_SECONDS

    # --- loading ------------------------------------------------------------------------------------
    def refresh(self, *, force: bool = False) -> None:
        """Reload the rules if the service changed them (or another process did)."""
        version = versions.current()
        now = time.monotonic()
        if not force and version == self._version and now < self._next_check:
            return
        self._next_check = now + FINGERPRINT_CHECK_SECONDS
        with self.factory() as session:
            fingerprint = tuple(
                session.execute(
                    select(func.count(Rule.id), func.max(Rule.id), func.max(Rule.updated_at))
                ).one()
            )
            if not force and version == self._version and fingerprint == self._fingerprint:
                return
            self._version, self._fingerprint = version, fingerprint
            rows = session.scalars(select(Rule).where(Rule.enabled.is_(True)).order_by(Rule.id)).all()
            self._load(session, rows)

    def _load(self, session: Session, rows: list[Rule]) -> None:
        compiled: dict[int, CompiledRule] = {}
        for row in rows:
            try:
                compiled[row.id] = compile_rule(
                    row.definition, rule_id=row.id, org_id=row.org_id, name=row.name
                )
            except Invalid as exc:
                log.warning(
                    "rule %s of organisation %s is not valid and is skipped: %s",
                    row.id,
                    row.org_id,
                    exc.detail,
                )
        fresh = [
            rule
            for rule in compiled.values()
            if rule.id not in self.rules or self.rules[rule.id].fingerprint != rule.fingerprint
        ]
        for rule_id, old in self.rules.items():
            if rule_id not in compiled or compiled[rule_id].fingerprint != old.fingerprint:
                self.evaluator.forget_rule(rule_id)
        self.rules = compiled
        self._actions_change_customers = any(
            action.type in CUSTOMER_CHANGING_ACTIONS for rule in compiled.values() for action in rule.actions
        )
        self.evaluator.retain_window_sources({r.window_source for r in compiled.values() if r.window_source})
        by_org: dict[int, list[CompiledRule]] = {}
        for rule in compiled.values():
            by_org.setdefault(rule.org_id, []).append(rule)
        self.orgs = {org_id: OrgRules(rules) for org_id, rules in by_org.items()}
        if any(rule.kind == "geofence" for rule in fresh):
            self.evaluator.sides_loaded.clear()  # read sides again, the new fences' among them
        if fresh:
            self.facts.begin(session)
            try:
                self._warm(session, fresh)
            finally:
                self.facts.end()

    def _warm(self, session: Session, rules: list[CompiledRule]) -> None:
        now = self.runtime.clock()
        processed = self.runtime.processed_seq
        store = self.runtime.store
        for rule in rules:
            try:
                if rule.window_source is not None and rule.window_source not in self.evaluator.warm_sources:
                    self.evaluator.warm_sources.add(rule.window_source)
                    since = now - timedelta(minutes=rule.window.minutes) - timedelta(minutes=1)
                    condition, params = type_filter(rule)
                    rows = store.query(
                        f"SELECT {EVENT_COLUMNS} FROM events WHERE org_id = ? AND seq <= ? AND ts >= ? AND {condition} "
                        "ORDER BY seq",
                        [rule.org_id, processed, naive(since), *params],
                    )
                    for row in rows:
                        self.evaluator.on_event(rule, row_to_event(row), fire=False)
                if rule.inactivity is not None:
                    self._warm_silence(session, rule, processed)
                if rule.cooldown:
                    self._warm_cooldown(session, rule, now)
            except Exception:
                log.exception("warming rule %s failed", rule.id)

    def _warm_silence(self, session: Session, rule: CompiledRule, processed: int) -> None:
        """Last heard times from the store, per device and customer, kept to the rule's device filters.
        (The rule's conditions are not applied here: a restart may count a non-matching event as heard,
        which can only delay an inactivity firing, never cause a false one.)"""
        condition, params = type_filter(rule)
        rows = self.runtime.store.query(
            "SELECT device_id, customer_id, max(received_at) FROM events "
            f"WHERE org_id = ? AND seq <= ? AND {condition} GROUP BY device_id, customer_id",
            [rule.org_id, processed, *params],
        )
        if rule.device_types is not None:
            self.facts.prefetch_devices({row[0] for row in rows if row[0] is not None})
        heard = self.evaluator.heard.setdefault(rule.id, {})
        for device_id, customer_id, last in rows:
            if rule.device_ids is not None and device_id not in rule.device_ids:
                continue
            if rule.device_types is not None:
                device = self.facts.device(device_id)
                if device is None or device.type not in rule.device_types:
                    continue
            subject = subject_for(rule, device_id, customer_id)
            if subject is None:
                continue
            at = last.replace(tzinfo=UTC)
            if subject not in heard or heard[subject].at < at:
                heard[subject] = Heard(at, device_id, customer_id)
        for subject, state in session.execute(
            select(RuleState.subject, RuleState.state).where(RuleState.rule_id == rule.id)
        ):
            since = (state or {}).get("silent_since")
            if since:
                self.evaluator.silenced[(rule.id, subject)] = datetime.fromisoformat(since)

    def _warm_cooldown(self, session: Session, rule: CompiledRule, now: datetime) -> None:
        rows = session.execute(
            select(RuleFiring.device_id, RuleFiring.customer_id, func.max(RuleFiring.fired_at))
            .where(RuleFiring.rule_id == rule.id, RuleFiring.fired_at >= now - rule.cooldown)
            .group_by(RuleFiring.device_id, RuleFiring.customer_id)
        )
        for device_id, customer_id, fired_at in rows:
            subject = subject_for(rule, device_id, customer_id)
            if subject is not None and fired_at is not None:
                if fired_at.tzinfo is None:
                    fired_at = fired_at.replace(tzinfo=UTC)
                key = (rule.id, subject)
                if key not in self.evaluator.cooldowns or self.evaluator.cooldowns[key] < fired_at:
                    self.evaluator.cooldowns[key] = fired_at

    # --- processing ---------------------------------------------------------------------------------
    def process(self, events: list[StoredEvent]) -> None:
        with self._lock:
            self.refresh()
            if not self.orgs:
                return
            work: list[tuple[StoredEvent, Plan]] = []
            for event in events:
                org = self.orgs.get(event.org_id)
                if org is not None:
                    plan = org.for_type(event.type)
                    if plan:
                        work.append((event, plan))
            if work:
                self._run(work)

    def _run(self, work: list[tuple[StoredEvent, Plan]]) -> None:
        with self.factory() as session:
            self.facts.begin(session)
            self.facts.expect_customers(lambda: ((event.org_id, event.customer_id) for event, _ in work))
            try:
                self.facts.prefetch_devices(
                    {event.device_id for event, _ in work if event.device_id is not None}
                )
                self._prefetch_sides(session, work)
                firings: list[tuple[PendingFiring, Decision]] = []
                alive: dict[int, bool] = {}
                if self._actions_change_customers:
                    decisions = self._evaluate_and_fire(session, work, firings, alive)
                else:
                    decisions = self._evaluate(work)
                    self._prefetch_firing_facts(session, decisions, alive)
                    for decision in decisions:
                        recorded = self._fire(session, decision, alive)
                        if recorded is not None:
                            firings.append((recorded, decision))
                self._commit(session, firings)
            except Exception:
                session.rollback()
                self.actions.drop_outbox()
                raise
            finally:
                self.facts.end()

    def _evaluate(self, work: list[tuple[StoredEvent, Plan]]) -> list[Decision]:
        """Every event of the batch through its plan, oldest first: the decisions to fire."""
        decisions: list[Decision] = []
        evaluate = self.evaluator.evaluate
        for event, plan in work:
            try:
                decisions.extend(evaluate(plan, event))
            except Exception:
                log.exception("rules failed on event %s", event.seq)
        return decisions

    def _evaluate_and_fire(
        self,
        session: Session,
        work: list[tuple[StoredEvent, Plan]],
        firings: list[tuple[PendingFiring, Decision]],
        alive: dict[int, bool],
    ) -> list[Decision]:
        """Fire each event's decisions before the next event is evaluated: an action that changes a
        customer (a tag, a flag) is seen by the conditions of the events after it in the batch."""
        decisions: list[Decision] = []
        for event, plan in work:
            try:
                found = self.evaluator.evaluate(plan, event)
            except Exception:
                log.exception("rules failed on event %s", event.seq)
                continue
            for decision in found:
                recorded = self._fire(session, decision, alive)
                if recorded is not None:
                    firings.append((recorded, decision))
            decisions.extend(found)
        return decisions

    def _prefetch_firing_facts(
        self, session: Session, decisions: list[Decision], alive: dict[int, bool]
    ) -> None:
        """What the batch's firings look up, in one query each instead of one per firing: which of their
        rules still exist, and their customers. (Under a busy GIL every statement also waits its turn
        to run again, so the number of statements counts as much as their cost.)"""
        if not decisions:
            return
        rule_ids = sorted({decision.rule.id for decision in decisions} - alive.keys())
        if rule_ids:
            with session.no_autoflush:
                existing = set(session.scalars(select(Rule.id).where(Rule.id.in_(rule_ids))))
            alive.update((rule_id, rule_id in existing) for rule_id in rule_ids)
        self.facts.prefetch_customers(
            {
                (decision.rule.org_id, decision.customer_id)
                for decision in decisions
                if decision.customer_id is not None
            }
        )

    def _prefetch_sides(self, session: Session, work: list[tuple[StoredEvent, Plan]]) -> None:
        """Read the persisted geofence sides of the subjects this batch positions and we have not read."""
        loaded = self.evaluator.sides_loaded
        wanted: dict[int, set[str]] = {}
        for event, plan in work:
            if plan.fences is None or event.lat is None:
                continue
            for subject in (
                None if event.device_id is None else f"device:{event.device_id}",
                None if event.customer_id is None else f"customer:{event.customer_id}",
            ):
                if subject is not None and subject not in loaded:
                    wanted.setdefault(event.org_id, set()).add(subject)
        for org_id, subjects in wanted.items():
            fence_ids = self.orgs[org_id].fence_ids
            names = sorted(subjects)
            for start in range(0, len(names), 500):
                rows = session.execute(
                    select(RuleState.rule_id, RuleState.subject, RuleState.state).where(
                        RuleState.rule_id.in_(fence_ids), RuleState.subject.in_(names[start : start + 500])
                    )
                )
                for rule_id, subject, state in rows:
                    if (rule_id, subject) not in self.evaluator.changed_sides:
                        self.evaluator.set_side(rule_id, subject, bool((state or {}).get("inside")))
            loaded.update(names)

    @staticmethod
    def _rule_exists(session: Session, rule_id: int, alive: dict[int, bool]) -> bool:
        """Whether the rule still exists (it may have been deleted since the last reload), asked once
        per batch and rule, without flushing what the batch has written so far."""
        found = alive.get(rule_id)
        if found is None:
            with session.no_autoflush:
                found = alive[rule_id] = session.scalar(select(Rule.id).where(Rule.id == rule_id)) is not None
        return found

    def _fire(self, session: Session, decision: Decision, alive: dict[int, bool]) -> PendingFiring | None:
        """Run the rule's actions and add its firing to the batch. The firing's row is written by the
        batch's flush in :meth:`_commit`, with the other firings (and the triggers linked to them); only
        actions that write audited records are flushed here, under this rule's name."""
        rule = decision.rule
        if not self._rule_exists(session, rule.id, alive):
            return None
        session.info["actor"] = Actor(org_id=rule.org_id, label=f"rule:{rule.id}")
        device = self.facts.device(decision.device_id)
        device_id = decision.device_id if device is not None and device.org_id == rule.org_id else None
        customer = self.facts.customer(rule.org_id, decision.customer_id)
        event = decision.event
        values = {
            "org_id": rule.org_id,
            "rule_id": rule.id,
            "event_id": event.id if event else None,
            "event_seq": event.seq if event else None,
            "event_type": event.type if event else None,
            "device_id": device_id,
            "customer_id": customer.id if customer is not None else None,
            "event": event_snapshot(decision),
            "reason": decision.reason[:500],
        }
        pending = PendingFiring(
            session,
            lambda: RuleFiring(**values, fired_at=self.runtime.clock(), actions=[]),
            device_id=device_id,
        )
        context = template_context(decision, self.facts)
        results = [
            self.actions.run(session, action, decision, context, pending, index, self.facts)
            for index, action in enumerate(rule.actions)
        ]
        if _audited_changes(session):
            session.flush()  # what the actions wrote is audited under this rule's name
        fired_at = self.runtime.clock()
        latency = None if event is None else round((fired_at - event.received_at).total_seconds() * 1000, 3)
        firing = pending.written
        if firing is None:  # no action linked a row to it
            firing = pending.written = RuleFiring(
                **values, fired_at=fired_at, actions=results, latency_ms=latency
            )
            session.add(firing)
        else:
            firing.actions, firing.fired_at, firing.latency_ms = results, fired_at, latency
        return pending

    def _commit(self, session: Session, firings: list[tuple[PendingFiring, Decision]]) -> None:
        self._persist_sides(session)
        counts = Counter(decision.rule.id for _, decision in firings)
        last: dict[int, datetime] = {}
        for pending, decision in firings:
            fired_at = pending.row().fired_at
            last[decision.rule.id] = max(last.get(decision.rule.id, fired_at), fired_at)
        if counts:
            session.execute(
                _COUNT_FIRINGS,
                [
                    {"rule": rule_id, "fired": count, "last": last[rule_id]}
                    for rule_id, count in counts.items()
                ],
            )
        session.flush()  # the batch's firings (and the rows linked to them) in one go, for their ids
        for pending, _ in firings:
            pending.fill_ids()
        payloads = {
            firing.id: self.webhook_payload(firing, decision)
            for firing, decision in ((pending.row(), decision) for pending, decision in firings)
            if any(a.get("status") == "queued" for a in firing.actions)
        }
        session.commit()
        self.actions.send_outbox(payloads)

    def webhook_payload(self, firing: RuleFiring, decision: Decision) -> dict[str, Any]:
        return {
            "firing_id": firing.id,
            "rule": {"id": decision.rule.id, "name": decision.rule.name},
            "organisation_id": decision.rule.org_id,
            "fired_at": firing.fired_at.isoformat(),
            "reason": firing.reason,
            "device_id": firing.device_id,
            "customer_id": firing.customer_id,
            "event": firing.event,
        }

    def _persist_sides(self, session: Session) -> None:
        changed, self.evaluator.changed_sides = self.evaluator.changed_sides, {}
        if not changed:
            return
        by_rule: dict[int, list[str]] = {}
        for rule_id, subject in changed:
            by_rule.setdefault(rule_id, []).append(subject)
        existing: dict[tuple[int, str], RuleState] = {}
        for rule_id, subjects in by_rule.items():
            for start in range(0, len(subjects), 500):
                for row in session.scalars(
                    select(RuleState).where(
                        RuleState.rule_id == rule_id, RuleState.subject.in_(subjects[start : start + 500])
                    )
                ):
                    existing[(row.rule_id, row.subject)] = row
        for (rule_id, subject), (inside, at) in changed.items():
            rule = self.rules.get(rule_id)
            if rule is None:
                continue
            value = {"inside": inside, "since": at.isoformat()}
            row = existing.get((rule_id, subject))
            if row is None:
                session.add(RuleState(org_id=rule.org_id, rule_id=rule_id, subject=subject, state=value))
            else:
                row.state = value

    # --- inactivity ---------------------------------------------------------------------------------
    def tick(self, now: datetime) -> None:
        with self._lock:
            self.refresh()
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + SWEEP_SECONDS
                self.evaluator.sweep(now, self.rules)
            decisions: list[Decision] = []
            for org in self.orgs.values():
                for rule in org.inactivity:
                    decisions.extend(self.evaluator.silences(rule, now))
            if not decisions:
                return
            with self.factory() as session:
                self.facts.begin(session)
                try:
                    firings = []
                    alive: dict[int, bool] = {}
                    for decision in decisions:
                        self._remember_silence(session, decision)
                        if decision.device_id is not None:
                            device = self.facts.device(decision.device_id)
                            if device is None or device.status != "active":
                                continue  # deleted or retired since: nothing to report
                        recorded = self._fire(session, decision, alive)
                        if recorded is not None:
                            firings.append((recorded, decision))
                    self._commit(session, firings)
                except Exception:
                    session.rollback()
                    self.actions.drop_outbox()
                    raise
                finally:
                    self.facts.end()

    def _remember_silence(self, session: Session, decision: Decision) -> None:
        rule = decision.rule
        since = self.evaluator.silenced[(rule.id, decision.subject)]
        value = {"silent_since": since.isoformat(), "fired_at": decision.at.isoformat()}
        row = session.scalar(
            select(RuleState).where(RuleState.rule_id == rule.id, RuleState.subject == decision.subject)
        )
        if row is None:
            session.add(RuleState(org_id=rule.org_id, rule_id=rule.id, subject=decision.subject, state=value))
        else:
            row.state = value

    # --- lifecycle ----------------------------------------------------------------------------------
    def drain(self, timeout: float = 10.0) -> bool:
        """Wait for queued webhooks to be posted and recorded."""
        return self.actions.drain(timeout)

    def close(self) -> None:
        self.actions.close()
