"""Connected-customer pages: the device list, a live device page, real-time rules and the ingest
dead letters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from patron.accounts import service as accounts_service
from patron.core.api import SessionDep
from patron.core.errors import Invalid
from patron.devices import service as devices_service
from patron.devices.models import DEVICE_TYPES, HEALTH_STATES
from patron.events import queries as event_queries
from patron.rules import service as rules_service
from patron.web.common import CsrfForm, FormInput, Pager, Permitted, Viewer, attempt, redirect, render
from patron.web.lookups import customer_names

router = APIRouter()

PAGE = 50
HEALTH_TONES = {"ok": "ok", "warning": "warn", "fault": "danger", "offline": "neutral", "unknown": "neutral"}
EXAMPLE_RULE = {
    "when": {"event_types": ["fault"]},
    "conditions": [{"field": "props.code", "op": "exists", "value": True}],
    "actions": [
        {"type": "open_ticket", "subject": "Fault {props.code} on {device.name}", "priority": "high"}
    ],
}
DRY_RUN_LAST = 1000


def _choice(value: str | None, choices: tuple[str, ...]) -> str | None:
    return value if value in choices else None


# --- devices ----------------------------------------------------------------------------------------


@router.get("/devices")
def device_list(
    request: Request,
    viewer: Permitted("devices.read"),
    session: SessionDep,
    type: Annotated[str | None, Query()] = None,
    health: Annotated[str | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    filters = devices_service.DeviceFilter(
        type=_choice(type, DEVICE_TYPES), health=_choice(health, HEALTH_STATES), q=q or None
    )
    devices, total = devices_service.list_devices(
        session, org_id=viewer.org_id, filters=filters, limit=PAGE, offset=offset
    )
    return render(
        request,
        "devices/list.html",
        {
            "devices": devices,
            "pager": Pager.of(request, total=total, limit=PAGE, offset=offset),
            "customers": customer_names(session, org_id=viewer.org_id, ids={d.customer_id for d in devices}),
            "filters": filters,
            "types": DEVICE_TYPES,
            "healths": HEALTH_STATES,
            "tones": HEALTH_TONES,
            "now": datetime.now(UTC),
        },
    )


@router.get("/devices/dead-letters")
def dead_letters(
    request: Request,
    viewer: Permitted("events.read"),
    source: Annotated[str | None, Query()] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    source = _choice(source, ("http", "mqtt"))
    letters, total = event_queries.list_dead_letters(
        request.app.state.events.store, org_id=viewer.org_id, source=source, limit=PAGE, offset=offset
    )
    return render(
        request,
        "devices/dead_letters.html",
        {
            "letters": letters,
            "source": source,
            "pager": Pager.of(request, total=total, limit=PAGE, offset=offset),
        },
    )


@router.get("/devices/{device_id}")
def device_detail(
    request: Request, device_id: int, viewer: Permitted("devices.read"), session: SessionDep
) -> Response:
    device = devices_service.get_device_or_raise(session, org_id=viewer.org_id, device_id=device_id)
    now = datetime.now(UTC)
    bindings = devices_service.list_bindings(session, device=device)
    stats = event_queries.device_stats(
        request.app.state.events.store, org_id=viewer.org_id, device_id=device.id, now=now
    )
    firings, firings_total = (
        rules_service.list_firings(session, org_id=viewer.org_id, device_id=device.id, limit=10)
        if viewer.can("rules.read")
        else ([], 0)
    )
    rules = (
        {r.id: r.name for r in rules_service.list_rules(session, org_id=viewer.org_id, limit=500)[0]}
        if firings
        else {}
    )
    org = accounts_service.get_organisation(session, org_id=viewer.org_id)
    topic = devices_service.mqtt_topic(
        prefix=request.app.state.settings.mqtt_topic_prefix, org_slug=org.slug, device_id=device.id
    )
    ids = {b.customer_id for b in bindings} | {device.customer_id}
    return render(
        request,
        "devices/detail.html",
        {
            "device": device,
            "bindings": bindings,
            "stats": stats,
            "firings": firings,
            "firings_total": firings_total,
            "rules": rules,
            "topic": topic,
            "customers": customer_names(session, org_id=viewer.org_id, ids=ids),
            "tones": HEALTH_TONES,
            "now": now,
        },
    )


# --- rules ------------------------------------------------------------------------------------------


def _rules_page(
    request: Request, session, viewer: Viewer, *, form: FormInput | None = None, status_code: int = 200
):
    rules, total = rules_service.list_rules(session, org_id=viewer.org_id, limit=200)
    firings, _ = rules_service.list_firings(session, org_id=viewer.org_id, limit=15)
    values = (
        form.values
        if form
        else {"definition": orjson.dumps(EXAMPLE_RULE, option=orjson.OPT_INDENT_2).decode()}
    )
    return render(
        request,
        "rules/list.html",
        {
            "rules": rules,
            "total": total,
            "firings": firings,
            "rule_names": {r.id: r.name for r in rules},
            "customers": customer_names(session, org_id=viewer.org_id, ids={f.customer_id for f in firings}),
            "errors": form.errors if form else {},
            "values": values,
            "now": datetime.now(UTC),
        },
        status_code=status_code,
    )


@router.get("/rules")
def rule_list(request: Request, viewer: Permitted("rules.read"), session: SessionDep) -> Response:
    return _rules_page(request, session, viewer)


def _definition(form: FormInput) -> dict | None:
    text = form.text("definition", label="Definition", required=True, max_length=64 * 1024)
    if not text:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        form.fail("definition", f"Definition: not valid JSON ({exc}).")
        return None
    if not isinstance(value, dict):
        form.fail("definition", "Definition: must be a JSON object.")
        return None
    return value


@router.post("/rules")
def rule_create(
    request: Request, viewer: Permitted("rules.manage"), session: SessionDep, form: CsrfForm
) -> Response:
    name = form.text("name", label="Name", required=True, max_length=120)
    description = form.text("description", label="Description", max_length=2000)
    definition = _definition(form)
    if not form.errors:
        rule = attempt(
            session,
            form,
            lambda: rules_service.create_rule(
                session,
                org_id=viewer.org_id,
                name=name,
                description=description,
                definition=definition,
                created_by_id=viewer.user_id,
            ),
        )
        if rule is not None:
            return redirect(request, f"/rules/{rule.id}", flash=f"Rule “{rule.name}” is live.")
    return _rules_page(request, session, viewer, form=form, status_code=422)


def _rule_page(
    request: Request,
    session,
    viewer: Viewer,
    rule,
    *,
    form: FormInput | None = None,
    dry_run: dict | None = None,
    status_code: int = 200,
) -> Response:
    firings, firings_total = rules_service.list_firings(
        session, org_id=viewer.org_id, rule_id=rule.id, limit=25
    )
    values = (
        form.values
        if form
        else {
            "name": rule.name,
            "description": rule.description,
            "definition": orjson.dumps(rule.definition, option=orjson.OPT_INDENT_2).decode(),
        }
    )
    return render(
        request,
        "rules/detail.html",
        {
            "rule": rule,
            "firings": firings,
            "firings_total": firings_total,
            "customers": customer_names(session, org_id=viewer.org_id, ids={f.customer_id for f in firings}),
            "errors": form.errors if form else {},
            "values": values,
            "dry_run": dry_run,
            "dry_run_last": DRY_RUN_LAST,
            "now": datetime.now(UTC),
        },
        status_code=status_code,
    )


@router.get("/rules/{rule_id}")
def rule_detail(
    request: Request, rule_id: int, viewer: Permitted("rules.read"), session: SessionDep
) -> Response:
    rule = rules_service.get_rule_or_raise(session, org_id=viewer.org_id, rule_id=rule_id)
    return _rule_page(request, session, viewer, rule)


@router.post("/rules/{rule_id}")
def rule_update(
    request: Request, rule_id: int, viewer: Permitted("rules.manage"), session: SessionDep, form: CsrfForm
) -> Response:
    rule = rules_service.get_rule_or_raise(session, org_id=viewer.org_id, rule_id=rule_id)
    changes = {
        "name": form.text("name", label="Name", required=True, max_length=120),
        "description": form.text("description", label="Description", max_length=2000),
        "definition": _definition(form),
    }
    if not form.errors:
        updated = attempt(
            session, form, lambda: rules_service.update_rule(session, rule=rule, changes=changes)
        )
        if updated is not None:
            return redirect(request, f"/rules/{rule.id}", flash="Rule saved.")
    session.refresh(rule)
    return _rule_page(request, session, viewer, rule, form=form, status_code=422)


@router.post("/rules/{rule_id}/toggle")
def rule_toggle(
    request: Request, rule_id: int, viewer: Permitted("rules.manage"), session: SessionDep, form: CsrfForm
) -> Response:
    rule = rules_service.get_rule_or_raise(session, org_id=viewer.org_id, rule_id=rule_id)
    rules_service.update_rule(session, rule=rule, changes={"enabled": not rule.enabled})
    return redirect(request, f"/rules/{rule.id}", flash="Rule enabled." if rule.enabled else "Rule paused.")


@router.post("/rules/{rule_id}/delete")
def rule_delete(
    request: Request, rule_id: int, viewer: Permitted("rules.manage"), session: SessionDep, form: CsrfForm
) -> Response:
    rule = rules_service.get_rule_or_raise(session, org_id=viewer.org_id, rule_id=rule_id)
    name = rule.name
    rules_service.delete_rule(session, rule=rule)
    return redirect(request, "/rules", flash=f"Rule “{name}” deleted.")


@router.post("/rules/{rule_id}/test")
def rule_test(
    request: Request, rule_id: int, viewer: Permitted("rules.manage"), session: SessionDep, form: CsrfForm
) -> Response:
    """Replay the last events through the rule as it is saved; nothing runs, nothing is written."""
    rule = rules_service.get_rule_or_raise(session, org_id=viewer.org_id, rule_id=rule_id)
    _, compiled = rules_service.check_definition(
        session, org_id=viewer.org_id, definition=rule.definition, name=rule.name, rule_id=rule.id
    )
    last = form.integer("last", label="Events", minimum=1, maximum=100_000) or DRY_RUN_LAST
    if form.errors:
        raise Invalid(form.errors.get("last", "Events: a whole number from 1 to 100000."), field="last")
    result = rules_service.dry_run_rule(
        session, store=request.app.state.events.store, org_id=viewer.org_id, rule=compiled, last=last
    )
    return _rule_page(request, session, viewer, rule, dry_run=result)
