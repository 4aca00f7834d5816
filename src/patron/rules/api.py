"""HTTP API of real-time rules: rules, their firings, rule tests, and triggers for campaigns."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response

from patron.accounts.deps import Allowed
from patron.core.api import Page, PageDep, SessionDep
from patron.rules import schemas
from patron.rules import service as rules_service

router = APIRouter(prefix="/api/v1", tags=["rules"])


def _paged(items, total: int, page) -> dict:
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


# --- rules ---------------------------------------------------------------------------------------------
# Fixed paths first, so /rules/test is not read as a rule id.


@router.post("/rules/test", response_model=schemas.RuleTestOut, summary="Test an unsaved rule definition")
def test_definition(
    body: schemas.DefinitionTestBody,
    request: Request,
    principal: Allowed("rules.manage"),
    session: SessionDep,
) -> dict:
    """Replay the organisation's last `last` stored events through the definition, with fresh state,
    and answer what would fire. No action runs; nothing is written."""
    _, compiled = rules_service.check_definition(session, org_id=principal.org_id, definition=body.definition)
    return rules_service.dry_run_rule(
        session, store=request.app.state.events.store, org_id=principal.org_id, rule=compiled, last=body.last
    )


@router.get("/rules", response_model=Page[schemas.RuleOut], summary="List rules")
def list_rules(
    principal: Allowed("rules.read"),
    session: SessionDep,
    page: PageDep,
    enabled: Annotated[
        bool | None, Query(description="Only enabled (true) or disabled (false) rules.")
    ] = None,
) -> dict:
    """Rules of the organisation by name."""
    items, total = rules_service.list_rules(
        session, org_id=principal.org_id, enabled=enabled, limit=page.limit, offset=page.offset
    )
    return _paged(items, total, page)


@router.post("/rules", response_model=schemas.RuleOut, status_code=201, summary="Create a rule")
def create_rule(body: schemas.RuleCreate, principal: Allowed("rules.manage"), session: SessionDep):
    """The definition is checked strictly: 422 naming the offending path (e.g. `definition.conditions[1].op`).
    The rule is evaluated on events arriving from then on."""
    return rules_service.create_rule(
        session, org_id=principal.org_id, created_by_id=principal.user_id, **body.model_dump()
    )


@router.get("/rules/{rule_id}", response_model=schemas.RuleOut, summary="Get a rule")
def get_rule(rule_id: int, principal: Allowed("rules.read"), session: SessionDep):
    return rules_service.get_rule_or_raise(session, org_id=principal.org_id, rule_id=rule_id)


@router.patch("/rules/{rule_id}", response_model=schemas.RuleOut, summary="Change a rule")
def update_rule(
    rule_id: int, body: schemas.RuleUpdate, principal: Allowed("rules.manage"), session: SessionDep
):
    """A changed definition starts the rule's windows, geofence sides and silences afresh."""
    rule = rules_service.get_rule_or_raise(session, org_id=principal.org_id, rule_id=rule_id)
    return rules_service.update_rule(session, rule=rule, changes=body.model_dump(exclude_unset=True))


@router.delete("/rules/{rule_id}", status_code=204, summary="Delete a rule")
def delete_rule(rule_id: int, principal: Allowed("rules.manage"), session: SessionDep) -> Response:
    """Its firings go with it; triggers it emitted stay for the campaigns."""
    rule = rules_service.get_rule_or_raise(session, org_id=principal.org_id, rule_id=rule_id)
    rules_service.delete_rule(session, rule=rule)
    return Response(status_code=204)


@router.post("/rules/{rule_id}/test", response_model=schemas.RuleTestOut, summary="Test a saved rule")
def test_rule(
    rule_id: int,
    request: Request,
    principal: Allowed("rules.manage"),
    session: SessionDep,
    body: Annotated[schemas.RuleTestBody | None, Body()] = None,
) -> dict:
    """Replay the organisation's last `last` stored events (default 1000) through the rule, with fresh
    state, and answer what would fire. No action runs; nothing is written."""
    rule = rules_service.get_rule_or_raise(session, org_id=principal.org_id, rule_id=rule_id)
    _, compiled = rules_service.check_definition(
        session, org_id=principal.org_id, definition=rule.definition, name=rule.name, rule_id=rule.id
    )
    last = (body or schemas.RuleTestBody()).last
    return rules_service.dry_run_rule(
        session, store=request.app.state.events.store, org_id=principal.org_id, rule=compiled, last=last
    )


@router.get("/rules/{rule_id}/firings", response_model=Page[schemas.FiringOut], summary="A rule's firings")
def list_rule_firings(
    rule_id: int, principal: Allowed("rules.read"), session: SessionDep, page: PageDep
) -> dict:
    """Newest first, each with the event that caused it and what each action did."""
    rules_service.get_rule_or_raise(session, org_id=principal.org_id, rule_id=rule_id)
    items, total = rules_service.list_firings(
        session, org_id=principal.org_id, rule_id=rule_id, limit=page.limit, offset=page.offset
    )
    return _paged(items, total, page)


@router.get("/rule-firings", response_model=Page[schemas.FiringOut], summary="All rule firings")
def list_firings(
    principal: Allowed("rules.read"),
    session: SessionDep,
    page: PageDep,
    rule_id: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Only this rule's firings.")] = None,
    customer_id: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="Only about this customer.")
    ] = None,
    device_id: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Only about this device.")] = None,
) -> dict:
    """Firings of every rule of the organisation, newest first."""
    items, total = rules_service.list_firings(
        session,
        org_id=principal.org_id,
        rule_id=rule_id,
        customer_id=customer_id,
        device_id=device_id,
        limit=page.limit,
        offset=page.offset,
    )
    return _paged(items, total, page)


# --- triggers ------------------------------------------------------------------------------------------


@router.get("/triggers", response_model=Page[schemas.TriggerOut], summary="List triggers")
def list_triggers(
    principal: Allowed("rules.read"),
    session: SessionDep,
    page: PageDep,
    name: Annotated[
        str | None, Query(min_length=1, max_length=120, description="Only triggers of this name.")
    ] = None,
    consumed: Annotated[bool | None, Query(description="true: only consumed; false: only waiting.")] = None,
    customer_id: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="Only about this customer.")
    ] = None,
) -> dict:
    """Signals rules emitted for campaigns (e.g. `nearby_shop_offer`), oldest first."""
    items, total = rules_service.list_triggers(
        session,
        org_id=principal.org_id,
        name=name,
        consumed=consumed,
        customer_id=customer_id,
        limit=page.limit,
        offset=page.offset,
    )
    return _paged(items, total, page)


@router.post("/triggers/{trigger_id}/consume", response_model=schemas.TriggerOut, summary="Claim a trigger")
def consume_trigger(
    trigger_id: int,
    principal: Allowed("rules.manage"),
    session: SessionDep,
    body: Annotated[schemas.ConsumeBody | None, Body()] = None,
):
    """Marks it consumed (once): 409 if it already was."""
    by = (body.by if body is not None and body.by else None) or principal.label or f"org:{principal.org_id}"
    return rules_service.do_consume_trigger(
        session, org_id=principal.org_id, trigger_id=trigger_id, consumed_by=by.strip() or principal.label
    )
