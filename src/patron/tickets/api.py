"""HTTP API of the tickets domain: tickets, their history, SLA policies and the SLA check."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from patron.accounts.deps import Allowed
from patron.core.api import Page, PageDep, SessionDep
from patron.core.db import utcnow
from patron.tickets import schemas
from patron.tickets import service as tickets_service
from patron.tickets.models import Ticket

router = APIRouter(prefix="/api/v1", tags=["tickets"])

TICKET_FIELDS = tuple(name for name in schemas.TicketOut.model_fields if name != "sla")


def ticket_out(ticket: Ticket, *, now=None) -> schemas.TicketOut:
    """The ticket with its SLA block computed at ``now``."""
    snapshot = tickets_service.sla_snapshot(ticket, now=now)
    return schemas.TicketOut.model_validate(
        {
            **{name: getattr(ticket, name) for name in TICKET_FIELDS},
            "sla": schemas.SlaOut(
                first_response_due_at=snapshot.first_response_due_at,
                resolution_due_at=snapshot.resolution_due_at,
                state=snapshot.state,
                minutes_left=snapshot.minutes_left,
            ),
        }
    )


# --- SLA policies ----------------------------------------------------------------------------------
# Declared before /tickets/{ticket_id} so the fixed paths win.


@router.get("/sla-policies", response_model=list[schemas.SlaPolicyOut], summary="List SLA policies")
def list_sla_policies(principal: Allowed("tickets.read"), session: SessionDep) -> list:
    """One policy per priority. An organisation without policies gets the built-in defaults on first use."""
    return tickets_service.list_sla_policies(session, org_id=principal.org_id)


@router.post(
    "/sla-policies",
    response_model=schemas.SlaPolicyOut,
    status_code=201,
    summary="Create the SLA policy of a priority",
)
def create_sla_policy(
    body: schemas.SlaPolicyCreate, principal: Allowed("settings.manage"), session: SessionDep
):
    """409 when the priority already has a policy (change that one with PATCH)."""
    return tickets_service.create_sla_policy(session, org_id=principal.org_id, **body.model_dump())


@router.get("/sla-policies/{policy_id}", response_model=schemas.SlaPolicyOut, summary="Get an SLA policy")
def get_sla_policy(policy_id: int, principal: Allowed("tickets.read"), session: SessionDep):
    return tickets_service.get_sla_policy_or_raise(session, org_id=principal.org_id, policy_id=policy_id)


@router.patch(
    "/sla-policies/{policy_id}", response_model=schemas.SlaPolicyOut, summary="Change an SLA policy"
)
def update_sla_policy(
    policy_id: int, body: schemas.SlaPolicyUpdate, principal: Allowed("settings.manage"), session: SessionDep
):
    """New targets apply to tickets created from now on; open tickets keep their due times."""
    policy = tickets_service.get_sla_policy_or_raise(session, org_id=principal.org_id, policy_id=policy_id)
    return tickets_service.update_sla_policy(
        session, policy=policy, changes=body.model_dump(exclude_unset=True)
    )


@router.delete("/sla-policies/{policy_id}", status_code=204, summary="Delete an SLA policy")
def delete_sla_policy(policy_id: int, principal: Allowed("settings.manage"), session: SessionDep) -> Response:
    """Tickets of that priority then use the built-in targets."""
    policy = tickets_service.get_sla_policy_or_raise(session, org_id=principal.org_id, policy_id=policy_id)
    tickets_service.delete_sla_policy(session, policy=policy)
    return Response(status_code=204)


# --- tickets ---------------------------------------------------------------------------------------


@router.post("/tickets/check-sla", response_model=schemas.CheckSlaOut, summary="Check SLAs now (admins)")
def check_sla(principal: Allowed("settings.manage"), session: SessionDep) -> schemas.CheckSlaOut:
    """Record breaches and escalate in your organisation now, without waiting for the scheduler."""
    count = tickets_service.detect_sla_breaches(session, now=utcnow(), org_id=principal.org_id)
    return schemas.CheckSlaOut(breached=count)


@router.get(
    "/tickets/summary", response_model=schemas.QueueSummaryOut, summary="Queue summary for dashboards"
)
def queue_summary(principal: Allowed("tickets.read"), session: SessionDep) -> dict:
    """Counts by status, and among active tickets: unassigned, breached, at risk, by priority."""
    return tickets_service.queue_summary(session, org_id=principal.org_id)


@router.get("/tickets", response_model=Page[schemas.TicketOut], summary="List tickets")
def list_tickets(
    principal: Allowed("tickets.read"),
    session: SessionDep,
    page: PageDep,
    status: Annotated[
        list[schemas.Status] | None, Query(description="Only these statuses (repeatable).")
    ] = None,
    priority: Annotated[
        list[schemas.Priority] | None, Query(description="Only these priorities (repeatable).")
    ] = None,
    kind: Annotated[schemas.Kind | None, Query(description="Only this kind.")] = None,
    assignee_id: Annotated[int | None, Query(ge=1, description="Only tickets assigned to this user.")] = None,
    customer_id: Annotated[int | None, Query(ge=1, description="Only this customer's tickets.")] = None,
    breached: Annotated[
        bool | None,
        Query(description="true: only tickets whose SLA is breached; false: only those whose SLA is not."),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200, description="Text in subject or description, or a ticket number (`12` or `#12`)."
        ),
    ] = None,
    sort: Annotated[
        schemas.Sort,
        Query(
            description="`due`: active tickets first, soonest due first; "
            "`priority`: urgent first; `-created` (default): newest first."
        ),
    ] = "-created",
) -> dict:
    """Tickets of the organisation with their SLA state computed now, filtered, sorted and paginated."""
    now = utcnow()
    filters = tickets_service.TicketFilter(
        status=tuple(status or ()),
        priority=tuple(priority or ()),
        kind=kind,
        assignee_id=assignee_id,
        customer_id=customer_id,
        breached=breached,
        q=q,
        sort=sort,
    )
    items, total = tickets_service.list_tickets(
        session, org_id=principal.org_id, filters=filters, limit=page.limit, offset=page.offset, now=now
    )
    return {
        "items": [ticket_out(t, now=now) for t in items],
        "total": total,
        "limit": page.limit,
        "offset": page.offset,
    }


@router.post("/tickets", response_model=schemas.TicketOut, status_code=201, summary="Open a ticket")
def create_ticket(body: schemas.TicketCreate, principal: Allowed("tickets.write"), session: SessionDep):
    """Numbers the ticket, sets its SLA due times and acknowledges it to the customer at once."""
    ticket = tickets_service.create_ticket(
        session, org_id=principal.org_id, actor_user_id=principal.user_id, **body.model_dump()
    )
    return ticket_out(ticket)


def _ticket(session, principal, ticket_id: int) -> Ticket:
    return tickets_service.get_ticket_or_raise(session, org_id=principal.org_id, ticket_id=ticket_id)


@router.get("/tickets/{ticket_id}", response_model=schemas.TicketOut, summary="Get a ticket")
def get_ticket(ticket_id: int, principal: Allowed("tickets.read"), session: SessionDep):
    return ticket_out(_ticket(session, principal, ticket_id))


@router.patch("/tickets/{ticket_id}", response_model=schemas.TicketOut, summary="Change a ticket")
def update_ticket(
    ticket_id: int, body: schemas.TicketUpdate, principal: Allowed("tickets.write"), session: SessionDep
):
    """Status changes follow the workflow (409 naming `status` otherwise); a new assignee is notified."""
    ticket = tickets_service.update_ticket(
        session,
        ticket=_ticket(session, principal, ticket_id),
        changes=body.model_dump(exclude_unset=True),
        actor_user_id=principal.user_id,
    )
    return ticket_out(ticket)


@router.delete("/tickets/{ticket_id}", status_code=204, summary="Delete a ticket")
def delete_ticket(ticket_id: int, principal: Allowed("tickets.delete"), session: SessionDep) -> Response:
    tickets_service.delete_ticket(session, ticket=_ticket(session, principal, ticket_id))
    return Response(status_code=204)


@router.post(
    "/tickets/{ticket_id}/comments",
    response_model=schemas.TicketEventOut,
    status_code=201,
    summary="Reply to the customer or add an internal note",
)
def add_comment(
    ticket_id: int, body: schemas.CommentCreate, principal: Allowed("tickets.write"), session: SessionDep
):
    """The first public reply sets `first_response_at` and moves a new ticket to open."""
    return tickets_service.do_add_ticket_comment(
        session,
        ticket=_ticket(session, principal, ticket_id),
        body=body.body,
        public=body.public,
        author_id=principal.user_id,
    )


@router.post("/tickets/{ticket_id}/assign", response_model=schemas.TicketOut, summary="Assign a ticket")
def assign_ticket(
    ticket_id: int, body: schemas.AssignBody, principal: Allowed("tickets.write"), session: SessionDep
):
    """The assignee gets an in-app notification. Null unassigns."""
    ticket = tickets_service.do_assign_ticket(
        session,
        ticket=_ticket(session, principal, ticket_id),
        assignee_id=body.assignee_id,
        actor_user_id=principal.user_id,
    )
    return ticket_out(ticket)


@router.post(
    "/tickets/{ticket_id}/close",
    response_model=schemas.TicketOut,
    summary="Close a resolved ticket with the customer's satisfaction",
)
def close_ticket(
    ticket_id: int, body: schemas.CloseBody, principal: Allowed("tickets.write"), session: SessionDep
):
    ticket = tickets_service.do_close_ticket(
        session,
        ticket=_ticket(session, principal, ticket_id),
        satisfaction=body.satisfaction,
        comment=body.comment,
        actor_user_id=principal.user_id,
    )
    return ticket_out(ticket)


@router.post(
    "/tickets/{ticket_id}/satisfaction",
    response_model=schemas.TicketOut,
    summary="Record the customer's satisfaction (1-5)",
)
def rate_ticket(
    ticket_id: int, body: schemas.SatisfactionBody, principal: Allowed("tickets.write"), session: SessionDep
):
    """Only for resolved or closed tickets (409 naming `status` otherwise)."""
    ticket = tickets_service.do_rate_ticket(
        session,
        ticket=_ticket(session, principal, ticket_id),
        satisfaction=body.satisfaction,
        comment=body.comment,
        actor_user_id=principal.user_id,
    )
    return ticket_out(ticket)


@router.get(
    "/tickets/{ticket_id}/events", response_model=list[schemas.TicketEventOut], summary="The ticket's history"
)
def list_events(ticket_id: int, principal: Allowed("tickets.read"), session: SessionDep) -> list:
    """Acknowledgement, comments, status changes, assignments, breaches, escalation and rating, oldest first."""
    return tickets_service.list_ticket_events(session, ticket=_ticket(session, principal, ticket_id))
