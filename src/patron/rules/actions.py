"""Running a firing's actions: tickets, tags and flags, interactions, triggers, notifications, webhooks.

Each action returns a small dict saying what it did (``status`` is ``created``, ``deduplicated``,
``tagged``, ``unchanged``, ``emitted``, ``notified``, ``queued``, ``skipped`` or ``error``), kept in
``RuleFiring.actions``. Actions go through the other domains' service functions, inside the engine's
batch session, with the audit actor ``rule:<id>``. Webhooks are posted after the batch is committed,
from a small thread pool, and their outcome (status code or error) is written into the firing then.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from patron.accounts import service as accounts_service
from patron.core import wakeup
from patron.core.audit import jsonable
from patron.core.errors import PatronError
from patron.customers import service as customers_service
from patron.events.store import StoredEvent
from patron.interactions import service as interactions_service
from patron.rules.definition import Action
from patron.rules.evaluator import Decision
from patron.rules.models import RuleFiring, RuleState, Trigger
from patron.tickets import service as tickets_service

log = logging.getLogger("patron.rules")

WEBHOOK_TIMEOUT_SECONDS = 5.0
WEBHOOK_WORKERS = 4
WEBHOOK_QUEUE_LIMIT = 1000
#: a deduplicated fault adds a note to the open ticket at most this often
DEDUPE_NOTE_EVERY = timedelta(minutes=10)


#: the wake-up a new trigger sends (see :mod:`patron.core.wakeup`)
TRIGGERS_WAKEUP = "triggers"


class PendingFiring:
    """The firing being recorded. Its row is written with the batch, after the actions, in one insert.
    An action that links a row to the firing (a trigger) takes the unsaved firing from :meth:`row`; the
    row's id, once the batch is flushed, is filled into the action's result by :meth:`fill_ids`."""

    def __init__(self, session: Session, make: Callable[[], RuleFiring], *, device_id: int | None) -> None:
        self.session = session
        self._make = make
        self.device_id = device_id
        self.written: RuleFiring | None = None
        #: (action index, key in its result, row whose id goes there) for ids known after the flush
        self.deferred_ids: list[tuple[int, str, Any]] = []

    def row(self) -> RuleFiring:
        if self.written is None:
            self.written = self._make()
        return self.written

    def fill_ids(self) -> None:
        """Put the ids of the rows the actions wrote, now flushed, into the firing's action results."""
        firing = self.written
        if firing is None or not self.deferred_ids:
            return
        actions = [dict(result) for result in firing.actions]
        for index, key, row in self.deferred_ids:
            actions[index][key] = row.id
        firing.actions = actions
        self.deferred_ids = []


@dataclass
class Outgoing:
    """A webhook to post once the firing is committed."""

    firing: PendingFiring
    index: int
    url: str
    payload: dict

    @property
    def firing_id(self) -> int:
        firing = self.firing.written  # written by the time the batch has committed
        assert firing is not None and firing.id is not None
        return firing.id


def savepoint(session: Session):
    """A savepoint on PostgreSQL, so a failed action leaves the batch usable. SQLite's driver does not
    run savepoints reliably; there an action checks its input before writing instead."""
    if session.get_bind().dialect.name == "sqlite":
        return contextlib.nullcontext()
    return session.begin_nested()


def event_snapshot(decision: Decision) -> dict[str, Any]:
    if decision.event is not None:
        return jsonable(decision.event.as_dict())
    return jsonable(
        {
            "device_id": decision.device_id,
            "customer_id": decision.customer_id,
            **{f"silent_{k}": v for k, v in decision.context.get("silence", {}).items()},
        }
    )


def template_context(decision: Decision, facts: Any) -> dict[str, Any]:
    """What action templates may use: the event, its device and customer (through ``facts``), the rule,
    the reason, and the geofence, window or silence that made the rule fire."""
    rule = decision.rule
    event = decision.event
    if event is None:  # inactivity: a stand-in so device.* and customer.* still render
        event = StoredEvent(
            seq=0,
            org_id=rule.org_id,
            id="",
            device_id=decision.device_id,
            customer_id=decision.customer_id,
            type="",
            ts=decision.at,
            received_at=decision.at,
            source="rule",
            lat=None,
            lon=None,
            props={},
        )
    return {
        "event": event,
        "facts": facts,
        "rule": {"id": rule.id, "name": rule.name},
        "reason": decision.reason,
        **decision.context,
    }


class ActionRunner:
    def __init__(self, factory: sessionmaker[Session], *, clock=None) -> None:
        self.factory = factory
        self.clock = clock
        self._pool: ThreadPoolExecutor | None = None
        self._pending: set[Future] = set()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.outbox: list[Outgoing] = []

    # --- running ------------------------------------------------------------------------------------
    def run(
        self,
        session: Session,
        action: Action,
        decision: Decision,
        context: dict,
        firing: PendingFiring,
        index: int,
        facts: Any,
    ) -> dict[str, Any]:
        handler = getattr(self, f"_{action.type}")
        try:
            with savepoint(session):
                result = handler(session, action.params, decision, context, firing, index, facts)
        except PatronError as exc:
            result = {"status": "error", "error": exc.detail}
        except Exception as exc:  # an action's failure is recorded, it never stops the engine
            log.exception("rule %s action %s failed", decision.rule.id, action.type)
            result = {"status": "error", "error": f"{exc.__class__.__name__}: {exc}"[:300]}
        if decision.customer_id is not None and action.type in ("tag_customer", "untag_customer", "flag"):
            facts.forget_customer(decision.rule.org_id, decision.customer_id)
        return {"type": action.type, **result}

    @staticmethod
    def _customer(decision: Decision, facts: Any):
        if decision.customer_id is None:
            return None, {"status": "skipped", "reason": "no customer"}
        customer = facts.customer(decision.rule.org_id, decision.customer_id)
        if customer is None:
            return None, {"status": "skipped", "reason": "customer gone, merged or erased"}
        return customer, None

    def _open_ticket(self, session, params, decision: Decision, context, firing, index, facts) -> dict:
        customer, skipped = self._customer(decision, facts)
        if skipped:
            return skipped
        rule = decision.rule
        subject = f"ticket:c{customer.id}" + (f":d{decision.device_id}" if decision.device_id else "")
        state = None
        if params["dedupe"]:
            state = session.scalar(
                select(RuleState).where(RuleState.rule_id == rule.id, RuleState.subject == subject)
            )
            ticket_id = (state.state or {}).get("ticket_id") if state is not None else None
            ticket = (
                tickets_service.get_ticket(session, org_id=rule.org_id, ticket_id=ticket_id)
                if ticket_id
                else None
            )
            if ticket is not None and ticket.status in tickets_service.ACTIVE_STATUSES:
                noted = (state.state or {}).get("noted_at")
                now = decision.at
                add_note = noted is None or now - datetime.fromisoformat(noted) >= DEDUPE_NOTE_EVERY
                if add_note:
                    tickets_service.do_add_ticket_comment(
                        session,
                        ticket=ticket,
                        public=False,
                        body=f"Rule {rule.name} fired again: {decision.reason}"[:20_000],
                    )
                    state.state = {**state.state, "noted_at": now.isoformat()}
                return {
                    "status": "deduplicated",
                    "ticket_id": ticket.id,
                    "number": ticket.number,
                    "noted": add_note,
                }
        ticket = tickets_service.create_ticket(
            session,
            org_id=rule.org_id,
            customer_id=customer.id,
            subject=params["subject"].render(context)[:300] or rule.name,
            description=params["description"].render(context)[:20_000],
            kind=params["kind"],
            priority=params["priority"],
            category=params["category"],
            channel="device",
        )
        if params["dedupe"]:
            value = {"ticket_id": ticket.id, "opened_at": decision.at.isoformat()}
            if state is None:
                session.add(RuleState(org_id=rule.org_id, rule_id=rule.id, subject=subject, state=value))
            else:
                state.state = value
        return {"status": "created", "ticket_id": ticket.id, "number": ticket.number}

    def _set_tag(self, session, decision: Decision, facts, tag: str, present: bool) -> dict:
        customer, skipped = self._customer(decision, facts)
        if skipped:
            return skipped
        tags = list(customer.tags)
        if (tag in tags) == present:
            return {"status": "unchanged", "tag": tag}
        tags = [*tags, tag] if present else [t for t in tags if t != tag]
        customers_service.update_customer(
            session, org_id=decision.rule.org_id, customer_id=customer.id, changes={"tags": tags}
        )
        return {"status": "tagged" if present else "untagged", "tag": tag}

    def _tag_customer(self, session, params, decision, context, firing, index, facts) -> dict:
        return self._set_tag(session, decision, facts, params["tag"], True)

    def _untag_customer(self, session, params, decision, context, firing, index, facts) -> dict:
        return self._set_tag(session, decision, facts, params["tag"], False)

    def _flag(self, session, params, decision, context, firing, index, facts) -> dict:
        return self._set_tag(session, decision, facts, params["tag"], True)

    def _record_interaction(self, session, params, decision: Decision, context, firing, index, facts) -> dict:
        customer, skipped = self._customer(decision, facts)
        if skipped:
            return skipped
        interaction = interactions_service.create_interaction(
            session,
            org_id=decision.rule.org_id,
            customer_id=customer.id,
            kind=params["kind"],
            channel=params["channel"],
            direction=params["direction"],
            subject=params["subject"].render(context)[:300],
            body=params["body"].render(context)[:20_000],
            occurred_at=decision.at,
        )
        return {"status": "created", "interaction_id": interaction.id}

    def _emit_trigger(self, session, params, decision: Decision, context, firing, index, facts) -> dict:
        data = {
            key: value.render(context) if hasattr(value, "render") else value
            for key, value in params["data"].items()
        }
        if decision.rule.geofence is not None:
            data.setdefault("geofence", decision.rule.geofence.name)
        customer_id = decision.customer_id
        if customer_id is not None and facts.customer(decision.rule.org_id, customer_id) is None:
            customer_id = None
        trigger = Trigger(
            org_id=decision.rule.org_id,
            name=params["name"],
            rule_id=decision.rule.id,
            firing=firing.row(),
            customer_id=customer_id,
            device_id=firing.device_id,
            data=data,
        )
        session.add(trigger)  # written with the batch's firings; its id is filled in then
        wakeup.signal_after_commit(session, TRIGGERS_WAKEUP)  # campaigns act on it at once
        firing.deferred_ids.append((index, "trigger_id", trigger))
        return {"status": "emitted", "trigger_id": None, "name": trigger.name}

    def _notify(self, session, params, decision: Decision, context, firing, index, facts) -> dict:
        org_id = decision.rule.org_id
        user_id = params.get("user_id")
        if user_id is None:
            customer, skipped = self._customer(decision, facts)
            if skipped:
                return skipped
            user_id = customer.profile.get("owner_id")
            if user_id is None:
                return {"status": "skipped", "reason": "the customer has no owner"}
        user = accounts_service.get_user(session, org_id=org_id, user_id=user_id)
        if user is None or not user.is_active:
            return {"status": "skipped", "reason": f"no active user {user_id}"}
        link = f"/customers/{decision.customer_id}" if decision.customer_id is not None else ""
        notification = accounts_service.notify_user(
            session,
            org_id=org_id,
            user_id=user_id,
            kind="rule",
            title=params["title"].render(context) or decision.rule.name,
            body=params["body"].render(context),
            link=link,
        )
        return {"status": "notified", "user_id": user_id, "notification_id": notification.id}

    def _webhook(self, session, params, decision: Decision, context, firing, index, facts) -> dict:
        if len(self._pending) + len(self.outbox) >= WEBHOOK_QUEUE_LIMIT:
            return {"status": "error", "url": params["url"], "error": "too many webhooks waiting; dropped"}
        self.outbox.append(Outgoing(firing, index, params["url"], {}))
        return {"status": "queued", "url": params["url"]}

    # --- webhooks -----------------------------------------------------------------------------------
    def send_outbox(self, payloads: dict[int, dict]) -> None:
        """Post the webhooks of the batch just committed (``payloads``: firing id -> JSON body)."""
        outbox, self.outbox = self.outbox, []
        if not outbox:
            return
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=WEBHOOK_WORKERS, thread_name_prefix="patron-webhook"
                )
            for item in outbox:
                item.payload = payloads.get(item.firing_id, {})
                future = self._pool.submit(self._post, item)
                self._pending.add(future)
                future.add_done_callback(self._pending.discard)

    def drop_outbox(self) -> None:
        self.outbox = []

    def _post(self, item: Outgoing) -> None:
        try:
            response = httpx.post(
                item.url,
                content=orjson.dumps(item.payload),
                timeout=WEBHOOK_TIMEOUT_SECONDS,
                headers={"content-type": "application/json", "user-agent": "Patron-rules/1"},
                follow_redirects=False,
            )
            result: dict[str, Any] = {
                "status": "sent" if response.status_code < 400 else "failed",
                "status_code": response.status_code,
            }
        except httpx.HTTPError as exc:
            result = {"status": "error", "error": f"{exc.__class__.__name__}: {exc}"[:300]}
        except Exception as exc:
            log.exception("webhook to %s failed", item.url)
            result = {"status": "error", "error": f"{exc.__class__.__name__}"}
        self._record(item, result)

    def _record(self, item: Outgoing, result: dict) -> None:
        with self._write_lock:
            try:
                with self.factory() as session:
                    firing = session.get(RuleFiring, item.firing_id)
                    if firing is None:
                        return
                    actions = list(firing.actions or [])
                    if item.index < len(actions):
                        actions[item.index] = {**actions[item.index], **result}
                        firing.actions = actions
                        session.commit()
            except Exception:
                log.exception("recording the webhook result of firing %s failed", item.firing_id)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every queued webhook has been posted and recorded (for tests and shutdown)."""
        import concurrent.futures

        pending = list(self._pending)
        if not pending:
            return True
        done, not_done = concurrent.futures.wait(pending, timeout=timeout)
        return not not_done

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            self.drain(timeout=WEBHOOK_TIMEOUT_SECONDS + 1)
            pool.shutdown(wait=False, cancel_futures=True)
