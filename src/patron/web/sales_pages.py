"""Sales pages: the pipeline board, tasks and the staff activity report."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from patron.core.api import SessionDep
from patron.core.errors import Invalid
from patron.sales import activity as sales_activity
from patron.sales import service as sales_service
from patron.web.common import (
    CsrfForm,
    FormInput,
    Pager,
    Permitted,
    Viewer,
    attempt,
    back_to,
    redirect,
    render,
    zone,
)
from patron.web.lookups import customer_names, staff_by_id

router = APIRouter()

BOARD_LIMIT = 50
TASK_PAGE = 50


# --- pipeline board -------------------------------------------------------------------------------------------


def _board_page(
    request: Request,
    session,
    viewer: Viewer,
    *,
    pipeline_id: int | None,
    mine: bool,
    form: FormInput | None = None,
    status_code: int = 200,
) -> Response:
    pipelines = sales_service.list_pipelines(session, org_id=viewer.org_id)
    chosen = next((p for p, _ in pipelines if p.id == pipeline_id), None) if pipeline_id else None
    if pipeline_id and chosen is None:
        sales_service.get_pipeline_or_raise(session, org_id=viewer.org_id, pipeline_id=pipeline_id)
    pipeline, stages = next(((p, s) for p, s in pipelines if chosen is None or p.id == chosen.id))
    board = sales_service.pipeline_board(
        session,
        org_id=viewer.org_id,
        pipeline_id=pipeline.id,
        limit_per_stage=BOARD_LIMIT,
        owner_id=viewer.user_id if mine else None,
    )
    deals = [deal for stage in board.stages for deal in stage.deals]
    return render(
        request,
        "sales/pipeline.html",
        {
            "board": board,
            "pipelines": [p for p, _ in pipelines],
            "pipeline": pipeline,
            "stages": stages,
            "stage_options": [(s.id, s.name) for s in stages if s.kind == "open"],
            "mine": mine,
            "customers": customer_names(session, org_id=viewer.org_id, ids={d.customer_id for d in deals}),
            "people": staff_by_id(session, org_id=viewer.org_id),
            "limit": BOARD_LIMIT,
            "errors": form.errors if form else {},
            "values": form.values if form else {},
        },
        status_code=status_code,
    )


@router.get("/pipeline")
def pipeline(
    request: Request,
    viewer: Permitted("sales.read"),
    session: SessionDep,
    pipeline_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    mine: Annotated[bool, Query()] = False,
) -> Response:
    return _board_page(request, session, viewer, pipeline_id=pipeline_id, mine=mine)


@router.post("/deals")
def create_deal(
    request: Request, viewer: Permitted("sales.write"), form: CsrfForm, session: SessionDep
) -> Response:
    """A new deal on the board (in the chosen stage, or the pipeline's first open one)."""
    title = form.text("title", label="Title", max_length=200, required=True)
    value = form.decimal("value", label="Value", minimum=Decimal("0"))
    expected_close = form.day("expected_close", label="Expected close")
    stage_id = form.integer("stage_id", label="Stage", minimum=1, maximum=2**31 - 1)
    pipeline_id = form.integer("pipeline_id", label="Pipeline", minimum=1, maximum=2**31 - 1)
    customer_id = form.integer("customer_id", label="Customer", minimum=1, maximum=2**31 - 1)
    if form.ok:
        data = {
            "title": title,
            "value": value or 0,
            "expected_close": expected_close,
            "stage_id": stage_id,
            "pipeline_id": pipeline_id,
            "customer_id": customer_id,
        }
        deal = attempt(
            session,
            form,
            lambda: sales_service.create_deal(
                session, org_id=viewer.org_id, data=data, actor_user_id=viewer.user_id
            ),
        )
        if deal is not None:
            target = back_to(request, f"/pipeline?pipeline_id={deal.pipeline_id}")
            return redirect(request, target, flash=f"Deal “{deal.title}” added.")
    if form.raw("from") == "customer" and customer_id:
        return redirect(
            request,
            f"/customers/{customer_id}#deals",
            kind="error",
            flash="The deal was not added: " + "; ".join(form.errors.values()),
        )
    return _board_page(
        request, session, viewer, pipeline_id=pipeline_id, mine=False, form=form, status_code=422
    )


@router.post("/deals/{deal_id}/move")
def move_deal(
    request: Request, deal_id: int, viewer: Permitted("sales.write"), form: CsrfForm, session: SessionDep
) -> Response:
    """The board's no-JavaScript fallback for drag and drop: move a deal to the chosen stage."""
    deal = sales_service.get_deal_or_raise(session, org_id=viewer.org_id, deal_id=deal_id)
    stage_id = form.integer("stage_id", label="Stage", minimum=1, maximum=2**31 - 1, required=True)
    lost_reason = form.optional("lost_reason", label="Lost reason", max_length=300)
    target = back_to(request, f"/pipeline?pipeline_id={deal.pipeline_id}")
    if form.ok and stage_id:
        moved = attempt(
            session,
            form,
            lambda: sales_service.do_move_deal(
                session,
                org_id=viewer.org_id,
                deal_id=deal.id,
                stage_id=stage_id,
                lost_reason=lost_reason,
                actor_user_id=viewer.user_id,
            ),
        )
        if moved is not None:
            stage = sales_service.get_stage_or_raise(session, org_id=viewer.org_id, stage_id=moved.stage_id)
            return redirect(request, target, flash=f"“{moved.title}” moved to {stage.name}.")
    return redirect(request, target, flash="; ".join(form.errors.values()), kind="error")


# --- tasks ---------------------------------------------------------------------------------------------------------


def _tasks_page(
    request: Request,
    session,
    viewer: Viewer,
    *,
    scope: str,
    state: str,
    offset: int,
    form: FormInput | None = None,
    status_code: int = 200,
) -> Response:
    filters = sales_service.TaskFilter(
        assignee_id=viewer.user_id if scope == "mine" else None,
        done={"open": False, "done": True}.get(state),
        overdue=True if state == "overdue" else None,
    )
    tasks, total = sales_service.list_tasks(
        session, org_id=viewer.org_id, filters=filters, limit=TASK_PAGE, offset=offset
    )
    people = staff_by_id(session, org_id=viewer.org_id)
    return render(
        request,
        "sales/tasks.html",
        {
            "tasks": tasks,
            "scope": scope,
            "state": state,
            "pager": Pager.of(request, total=total, limit=TASK_PAGE, offset=offset),
            "people": people,
            "assignee_options": [
                (u.id, u.full_name or u.email)
                for u in people.values()
                if u.is_active and u.role in sales_activity.STAFF_ROLES
            ],
            "customers": customer_names(session, org_id=viewer.org_id, ids={t.customer_id for t in tasks}),
            "now": datetime.now(UTC),
            "errors": form.errors if form else {},
            "values": form.values if form else {"assignee_id": str(viewer.user_id)},
        },
        status_code=status_code,
    )


@router.get("/tasks")
def tasks(
    request: Request,
    viewer: Permitted("sales.read"),
    session: SessionDep,
    scope: Annotated[str, Query(pattern="^(mine|all)$")] = "mine",
    state: Annotated[str, Query(pattern="^(open|overdue|done|any)$")] = "open",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    return _tasks_page(request, session, viewer, scope=scope, state=state, offset=offset)


@router.post("/tasks")
def create_task(
    request: Request, viewer: Permitted("sales.write"), form: CsrfForm, session: SessionDep
) -> Response:
    title = form.text("title", label="Title", max_length=200, required=True)
    notes = form.text("notes", label="Notes", max_length=5000)
    due_at = form.moment("due_at", label="Due", timezone=viewer.timezone)
    remind_at = form.moment("remind_at", label="Reminder", timezone=viewer.timezone)
    assignee_id = form.integer("assignee_id", label="Assignee", minimum=1, maximum=2**31 - 1)
    customer_id = form.integer("customer_id", label="Customer", minimum=1, maximum=2**31 - 1)
    if form.ok:
        data = {
            "title": title,
            "notes": notes,
            "due_at": due_at,
            "remind_at": remind_at,
            "assignee_id": assignee_id,
            "customer_id": customer_id,
        }
        task = attempt(
            session,
            form,
            lambda: sales_service.create_task(
                session, org_id=viewer.org_id, data=data, actor_user_id=viewer.user_id
            ),
        )
        if task is not None:
            return redirect(request, back_to(request, "/tasks"), flash=f"Task “{task.title}” added.")
    if form.raw("from") == "customer" and customer_id:
        return redirect(
            request,
            f"/customers/{customer_id}",
            kind="error",
            flash="The task was not added: " + "; ".join(form.errors.values()),
        )
    return _tasks_page(
        request, session, viewer, scope="mine", state="open", offset=0, form=form, status_code=422
    )


@router.post("/tasks/{task_id}/complete")
def complete_task(
    request: Request, task_id: int, viewer: Permitted("sales.write"), form: CsrfForm, session: SessionDep
) -> Response:
    task = sales_service.do_complete_task(session, org_id=viewer.org_id, task_id=task_id)
    return redirect(request, back_to(request, "/tasks"), flash=f"Done: “{task.title}”.")


@router.post("/tasks/{task_id}/reopen")
def reopen_task(
    request: Request, task_id: int, viewer: Permitted("sales.write"), form: CsrfForm, session: SessionDep
) -> Response:
    task = sales_service.update_task(
        session, org_id=viewer.org_id, task_id=task_id, changes={"done": False}, actor_user_id=viewer.user_id
    )
    return redirect(request, back_to(request, "/tasks"), flash=f"Reopened “{task.title}”.")


# --- staff activity ------------------------------------------------------------------------------------------------

ACTIVITY_SERIES = (
    ("interactions", "Interactions", "a"),
    ("tasks_completed", "Tasks done", "b"),
    ("tickets_resolved", "Tickets resolved", "c"),
)


def _window(viewer: Viewer, period: str, since: str | None, until: str | None) -> tuple[datetime, datetime]:
    """The report window: the preset period ending now, or whole days ``since``..``until`` (inclusive)."""
    if not since and not until:
        return sales_activity.period_window(period if period in sales_activity.PERIODS else "month")
    tz = zone(viewer.timezone)
    try:
        start_day = datetime.fromisoformat(since).date() if since else None
        end_day = datetime.fromisoformat(until).date() if until else None
    except ValueError as exc:
        raise Invalid("Dates must look like 2025-01-31.", field="since") from exc
    now = datetime.now(tz)
    end_day = end_day or now.date()
    start_day = start_day or (end_day - timedelta(days=30))
    start = datetime.combine(start_day, time.min, tz).astimezone(UTC)
    end = datetime.combine(end_day + timedelta(days=1), time.min, tz).astimezone(UTC)
    return start, end


@router.get("/activity")
def activity(
    request: Request,
    viewer: Permitted("activity.read"),
    session: SessionDep,
    period: Annotated[str, Query(pattern="^(week|month)$")] = "month",
    since: Annotated[str | None, Query(max_length=10)] = None,
    until: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    start, end = _window(viewer, period, since, until)
    rows = sales_activity.staff_activity(session, org_id=viewer.org_id, since=start, until=end)
    series = sales_activity.activity_timeseries(session, org_id=viewer.org_id, period="week", periods=12)
    largest = max([getattr(r, key) for r in rows for key, _, _ in ACTIVITY_SERIES] + [1])
    series_max = max([getattr(b, key) for b in series for key, _, _ in ACTIVITY_SERIES] + [1])
    totals = {
        key: sum(getattr(r, key) for r in rows)
        for key in (
            "interactions",
            "tasks_completed",
            "deals_won",
            "deals_won_value",
            "deals_lost",
            "tickets_resolved",
            "open_pipeline_value",
        )
    }
    return render(
        request,
        "sales/activity.html",
        {
            "rows": rows,
            "series": series,
            "series_keys": ACTIVITY_SERIES,
            "largest": largest,
            "series_max": series_max,
            "totals": totals,
            "period": period,
            "since": since or "",
            "until": until or "",
            "start": start,
            "end": end - timedelta(seconds=1),
            "custom": bool(since or until),
        },
    )
