"""Service desk pages: the ticket queue with SLA states, and one ticket with its history and actions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from patron.accounts.permissions import allowed
from patron.core.api import SessionDep
from patron.tickets import service as tickets_service
from patron.tickets.models import PRIORITIES, STATUSES
from patron.web.common import CsrfForm, FormInput, Pager, Permitted, Viewer, attempt, redirect, render
from patron.web.lookups import customer_names, staff_by_id

router = APIRouter(prefix="/tickets")

QUEUE_PAGE = 50
#: the queue's status filter: a named group or one status
STATUS_GROUPS = {"active": tickets_service.ACTIVE_STATUSES, "all": ()}
SORTS = (
    ("due", "Next due first"),
    ("priority", "Most urgent first"),
    ("-created", "Newest first"),
    ("created", "Oldest first"),
)
PRIORITY_TONES = {"low": "neutral", "normal": "info", "high": "warn", "urgent": "danger"}
STATUS_TONES = {"new": "accent", "open": "info", "pending": "warn", "resolved": "ok", "closed": "neutral"}


def staff_who_take_tickets(people: dict) -> list:
    return [u for u in people.values() if u.is_active and allowed(u.role, "tickets.write")]


@router.get("")
def queue(
    request: Request,
    viewer: Permitted("tickets.read"),
    session: SessionDep,
    status: Annotated[str, Query(max_length=20)] = "active",
    priority: Annotated[str, Query(max_length=20)] = "",
    mine: Annotated[bool, Query()] = False,
    breached: Annotated[bool, Query()] = False,
    q: Annotated[str, Query(max_length=200)] = "",
    sort: Annotated[str, Query(max_length=20)] = "due",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    now = datetime.now(UTC)
    statuses = STATUS_GROUPS.get(status, (status,) if status in STATUSES else tickets_service.ACTIVE_STATUSES)
    filters = tickets_service.TicketFilter(
        status=tuple(statuses),
        priority=(priority,) if priority in PRIORITIES else (),
        assignee_id=viewer.user_id if mine else None,
        breached=True if breached else None,
        q=q.strip() or None,
        sort=sort if sort in dict(SORTS) else "due",
    )
    tickets, total = tickets_service.list_tickets(
        session, org_id=viewer.org_id, filters=filters, limit=QUEUE_PAGE, offset=offset, now=now
    )
    return render(
        request,
        "tickets/queue.html",
        {
            "tickets": tickets,
            "snapshots": {t.id: tickets_service.sla_snapshot(t, now=now) for t in tickets},
            "customers": customer_names(session, org_id=viewer.org_id, ids={t.customer_id for t in tickets}),
            "people": staff_by_id(session, org_id=viewer.org_id),
            "pager": Pager.of(request, total=total, limit=QUEUE_PAGE, offset=offset),
            "summary": tickets_service.queue_summary(session, org_id=viewer.org_id, now=now),
            "filters": {
                "status": status,
                "priority": priority,
                "mine": mine,
                "breached": breached,
                "q": q,
                "sort": filters.sort,
            },
            "status_options": [
                ("active", "Active (new, open, pending)"),
                *[(s, s.title()) for s in STATUSES],
                ("all", "Any status"),
            ],
            "priorities": PRIORITIES,
            "sorts": SORTS,
            "priority_tones": PRIORITY_TONES,
            "status_tones": STATUS_TONES,
        },
    )


def _ticket_page(
    request: Request,
    session,
    viewer: Viewer,
    ticket_id: int,
    *,
    form: FormInput | None = None,
    form_name: str = "",
    status_code: int = 200,
) -> Response:
    ticket = tickets_service.get_ticket_or_raise(session, org_id=viewer.org_id, ticket_id=ticket_id)
    people = staff_by_id(session, org_id=viewer.org_id)
    now = datetime.now(UTC)
    return render(
        request,
        "tickets/detail.html",
        {
            "ticket": ticket,
            "events": tickets_service.list_ticket_events(session, ticket=ticket),
            "snap": tickets_service.sla_snapshot(ticket, now=now),
            "customer_name": customer_names(session, org_id=viewer.org_id, ids=[ticket.customer_id]).get(
                ticket.customer_id, f"Customer {ticket.customer_id}"
            ),
            "people": people,
            "assignees": staff_who_take_tickets(people),
            "transitions": tickets_service.TRANSITIONS.get(ticket.status, ()),
            "active": ticket.status in tickets_service.ACTIVE_STATUSES,
            "priority_tones": PRIORITY_TONES,
            "status_tones": STATUS_TONES,
            "form_name": form_name,
            "errors": form.errors if form else {},
            "values": form.values if form else {},
            "now": now,
        },
        status_code=status_code,
    )


@router.get("/{ticket_id}")
def ticket_detail(
    request: Request, ticket_id: int, viewer: Permitted("tickets.read"), session: SessionDep
) -> Response:
    return _ticket_page(request, session, viewer, ticket_id)


@router.post("/{ticket_id}/reply")
def reply(
    request: Request, ticket_id: int, viewer: Permitted("tickets.write"), form: CsrfForm, session: SessionDep
) -> Response:
    """A public reply to the customer (stops the first-response clock) or an internal note."""
    ticket = tickets_service.get_ticket_or_raise(session, org_id=viewer.org_id, ticket_id=ticket_id)
    body = form.text("body", label="Message", max_length=20_000, required=True)
    visibility = form.choice("visibility", ("public", "internal"), label="Visibility", required=True)
    if form.ok:
        done = attempt(
            session,
            form,
            lambda: tickets_service.do_add_ticket_comment(
                session, ticket=ticket, body=body, public=visibility == "public", author_id=viewer.user_id
            ),
        )
        if done is not None:
            message = "Reply sent." if visibility == "public" else "Internal note added."
            return redirect(request, f"/tickets/{ticket_id}#history", flash=message)
    return _ticket_page(request, session, viewer, ticket_id, form=form, form_name="reply", status_code=422)


@router.post("/{ticket_id}/status")
def change_status(
    request: Request, ticket_id: int, viewer: Permitted("tickets.write"), form: CsrfForm, session: SessionDep
) -> Response:
    ticket = tickets_service.get_ticket_or_raise(session, org_id=viewer.org_id, ticket_id=ticket_id)
    status = form.choice("status", STATUSES, label="Status", required=True)
    if form.ok and status:
        done = attempt(
            session,
            form,
            lambda: tickets_service.do_change_ticket_status(
                session, ticket=ticket, status=status, actor_user_id=viewer.user_id
            ),
        )
        if done is not None:
            return redirect(request, f"/tickets/{ticket_id}", flash=f"Status is now {status}.")
    return _ticket_page(request, session, viewer, ticket_id, form=form, form_name="status", status_code=422)


@router.post("/{ticket_id}/assign")
def assign(
    request: Request, ticket_id: int, viewer: Permitted("tickets.write"), form: CsrfForm, session: SessionDep
) -> Response:
    ticket = tickets_service.get_ticket_or_raise(session, org_id=viewer.org_id, ticket_id=ticket_id)
    assignee_id = form.integer("assignee_id", label="Assignee", minimum=1, maximum=2**31 - 1)
    if form.ok:
        done = attempt(
            session,
            form,
            lambda: tickets_service.do_assign_ticket(
                session, ticket=ticket, assignee_id=assignee_id, actor_user_id=viewer.user_id
            ),
        )
        if done is not None:
            message = "Ticket assigned." if assignee_id else "Ticket unassigned."
            return redirect(request, f"/tickets/{ticket_id}", flash=message)
    return _ticket_page(request, session, viewer, ticket_id, form=form, form_name="assign", status_code=422)


@router.post("/{ticket_id}/close")
def close(
    request: Request, ticket_id: int, viewer: Permitted("tickets.write"), form: CsrfForm, session: SessionDep
) -> Response:
    """Close the ticket with the customer's satisfaction (1-5); an active ticket is resolved first."""
    ticket = tickets_service.get_ticket_or_raise(session, org_id=viewer.org_id, ticket_id=ticket_id)
    satisfaction = form.integer("satisfaction", label="Satisfaction", minimum=1, maximum=5)
    comment = form.text("comment", label="Comment", max_length=1000)

    def resolve_and_close():
        if ticket.status in tickets_service.ACTIVE_STATUSES:
            tickets_service.do_change_ticket_status(
                session, ticket=ticket, status="resolved", actor_user_id=viewer.user_id
            )
        return tickets_service.do_close_ticket(
            session, ticket=ticket, satisfaction=satisfaction, comment=comment, actor_user_id=viewer.user_id
        )

    if form.ok:
        done = attempt(session, form, resolve_and_close)
        if done is not None:
            rated = f" Rated {satisfaction}/5." if satisfaction else ""
            return redirect(request, f"/tickets/{ticket_id}", flash=f"Ticket #{done.number} closed.{rated}")
    return _ticket_page(request, session, viewer, ticket_id, form=form, form_name="close", status_code=422)
