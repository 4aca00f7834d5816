"""The dashboard: the service desk queue, my tasks and tickets, notifications and the pipeline at a glance."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from patron.accounts import service as accounts_service
from patron.core.api import SessionDep
from patron.sales import service as sales_service
from patron.tickets import service as tickets_service
from patron.web.common import ViewerDep, render
from patron.web.lookups import customer_names

router = APIRouter()


@router.get("/")
def dashboard(request: Request, viewer: ViewerDep, session: SessionDep) -> Response:
    now = datetime.now(UTC)
    context: dict = {
        "now": now,
        "queue": None,
        "my_tickets": [],
        "tasks": [],
        "tasks_total": 0,
        "board": None,
        "customers": {},
        "snapshots": {},
    }
    customer_ids: set[int | None] = set()
    if viewer.can("tickets.read"):
        context["queue"] = tickets_service.queue_summary(session, org_id=viewer.org_id, now=now)
        mine = tickets_service.TicketFilter(
            status=tickets_service.ACTIVE_STATUSES, assignee_id=viewer.user_id, sort="due"
        )
        context["my_tickets"], context["my_tickets_total"] = tickets_service.list_tickets(
            session, org_id=viewer.org_id, filters=mine, limit=6, now=now
        )
        context["snapshots"] = {t.id: tickets_service.sla_snapshot(t, now=now) for t in context["my_tickets"]}
        customer_ids |= {t.customer_id for t in context["my_tickets"]}
    if viewer.can("sales.read"):
        open_tasks = sales_service.TaskFilter(assignee_id=viewer.user_id, done=False)
        context["tasks"], context["tasks_total"] = sales_service.list_tasks(
            session, org_id=viewer.org_id, filters=open_tasks, limit=6, now=now
        )
        customer_ids |= {t.customer_id for t in context["tasks"]}
        pipeline = sales_service.ensure_default_pipeline(session, org_id=viewer.org_id)
        context["board"] = sales_service.pipeline_board(
            session, org_id=viewer.org_id, pipeline_id=pipeline.id, limit_per_stage=0
        )
    context["notifications"] = accounts_service.list_notifications(
        session, org_id=viewer.org_id, user_id=viewer.user_id, limit=6
    )
    context["customers"] = customer_names(session, org_id=viewer.org_id, ids=customer_ids)
    return render(request, "dashboard.html", context)
