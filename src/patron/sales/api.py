"""HTTP API of the sales domain: pipelines and stages, leads, deals, tasks and staff activity."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import AwareDatetime

from patron.accounts.deps import Allowed
from patron.core.api import Page, PageDep, SessionDep
from patron.core.errors import Invalid
from patron.sales import activity as sales_activity
from patron.sales import schemas
from patron.sales import service as sales_service
from patron.sales.models import Pipeline, PipelineStage

router = APIRouter(prefix="/api/v1", tags=["sales"])

IdQuery = Annotated[int | None, Query(ge=1, le=schemas.MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=schemas.MAX_ID)]
SearchQuery = Annotated[str | None, Query(max_length=200, description="Text to look for.")]


def _pipeline_out(pipeline: Pipeline, stages: list[PipelineStage]) -> schemas.PipelineOut:
    return schemas.PipelineOut(
        id=pipeline.id,
        name=pipeline.name,
        is_default=pipeline.is_default,
        created_at=pipeline.created_at,
        stages=[schemas.StageOut.model_validate(s) for s in stages],
    )


def _page(items: list, total: int, page) -> dict:
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


# --- pipelines and stages ------------------------------------------------------------------------


@router.get(
    "/pipelines", response_model=list[schemas.PipelineOut], summary="List pipelines with their stages"
)
def list_pipelines(principal: Allowed("sales.read"), session: SessionDep) -> list:
    """The default pipeline (created with the standard stages on first use) comes first."""
    return [
        _pipeline_out(p, stages)
        for p, stages in sales_service.list_pipelines(session, org_id=principal.org_id)
    ]


@router.post("/pipelines", response_model=schemas.PipelineOut, status_code=201, summary="Create a pipeline")
def create_pipeline(body: schemas.PipelineCreate, principal: Allowed("settings.manage"), session: SessionDep):
    stages = [s.model_dump() for s in body.stages] if body.stages is not None else None
    pipeline = sales_service.create_pipeline(
        session, org_id=principal.org_id, name=body.name, stages=stages, is_default=body.is_default
    )
    return _pipeline_out(
        pipeline, sales_service.list_stages(session, org_id=principal.org_id, pipeline_id=pipeline.id)
    )


@router.patch(
    "/pipelines/{pipeline_id}",
    response_model=schemas.PipelineOut,
    summary="Rename a pipeline or make it the default",
)
def update_pipeline(
    pipeline_id: PathId,
    body: schemas.PipelineUpdate,
    principal: Allowed("settings.manage"),
    session: SessionDep,
):
    pipeline = sales_service.update_pipeline(
        session, org_id=principal.org_id, pipeline_id=pipeline_id, changes=body.model_dump(exclude_unset=True)
    )
    return _pipeline_out(
        pipeline, sales_service.list_stages(session, org_id=principal.org_id, pipeline_id=pipeline.id)
    )


@router.delete("/pipelines/{pipeline_id}", status_code=204, summary="Delete an empty, non-default pipeline")
def delete_pipeline(
    pipeline_id: PathId, principal: Allowed("settings.manage"), session: SessionDep
) -> Response:
    sales_service.delete_pipeline(session, org_id=principal.org_id, pipeline_id=pipeline_id)
    return Response(status_code=204)


@router.post(
    "/pipelines/{pipeline_id}/stages",
    response_model=schemas.StageOut,
    status_code=201,
    summary="Add an open stage to a pipeline",
)
def create_stage(
    pipeline_id: PathId, body: schemas.StageCreate, principal: Allowed("settings.manage"), session: SessionDep
):
    return sales_service.create_stage(
        session,
        org_id=principal.org_id,
        pipeline_id=pipeline_id,
        name=body.name,
        probability=body.probability,
        kind=body.kind,
        position=body.position,
    )


@router.post(
    "/pipelines/{pipeline_id}/stages/order",
    response_model=list[schemas.StageOut],
    summary="Reorder a pipeline's stages",
)
def reorder_stages(
    pipeline_id: PathId, body: schemas.StageOrder, principal: Allowed("settings.manage"), session: SessionDep
) -> list:
    return sales_service.reorder_stages(
        session, org_id=principal.org_id, pipeline_id=pipeline_id, stage_ids=body.stage_ids
    )


@router.patch(
    "/stages/{stage_id}", response_model=schemas.StageOut, summary="Rename a stage or change its probability"
)
def update_stage(
    stage_id: PathId, body: schemas.StageUpdate, principal: Allowed("settings.manage"), session: SessionDep
):
    return sales_service.update_stage(
        session, org_id=principal.org_id, stage_id=stage_id, changes=body.model_dump(exclude_unset=True)
    )


@router.delete("/stages/{stage_id}", status_code=204, summary="Delete an open stage (moving its deals)")
def delete_stage(
    stage_id: PathId,
    principal: Allowed("settings.manage"),
    session: SessionDep,
    move_to_stage_id: Annotated[
        int | None,
        Query(
            ge=1,
            le=schemas.MAX_ID,
            description="Stage of the same pipeline that receives the deals; "
            "required when the stage holds deals.",
        ),
    ] = None,
) -> Response:
    sales_service.delete_stage(
        session,
        org_id=principal.org_id,
        stage_id=stage_id,
        move_to_stage_id=move_to_stage_id,
        actor_user_id=principal.user_id,
    )
    return Response(status_code=204)


@router.get(
    "/pipelines/{pipeline_id}/board",
    response_model=schemas.BoardOut,
    summary="The pipeline board: stages with their deals and value totals",
)
def pipeline_board(
    pipeline_id: PathId,
    principal: Allowed("sales.read"),
    session: SessionDep,
    limit_per_stage: Annotated[int, Query(ge=0, le=200, description="Deals listed per stage.")] = 50,
    owner_id: IdQuery = None,
):
    return sales_service.pipeline_board(
        session,
        org_id=principal.org_id,
        pipeline_id=pipeline_id,
        limit_per_stage=limit_per_stage,
        owner_id=owner_id,
    )


# --- leads ---------------------------------------------------------------------------------------


@router.get("/leads", response_model=Page[schemas.LeadOut], summary="List and search leads")
def list_leads(
    principal: Allowed("sales.read"),
    session: SessionDep,
    page: PageDep,
    status: Annotated[schemas.LeadStatus | None, Query()] = None,
    owner_id: IdQuery = None,
    q: SearchQuery = None,
) -> dict:
    """``q`` matches first name, last name, company or e-mail."""
    items, total = sales_service.list_leads(
        session,
        org_id=principal.org_id,
        status=status,
        owner_id=owner_id,
        q=q,
        limit=page.limit,
        offset=page.offset,
    )
    return _page(items, total, page)


@router.post("/leads", response_model=schemas.LeadOut, status_code=201, summary="Create a lead")
def create_lead(body: schemas.LeadCreate, principal: Allowed("sales.write"), session: SessionDep):
    return sales_service.create_lead(session, org_id=principal.org_id, data=body.model_dump())


@router.get("/leads/{lead_id}", response_model=schemas.LeadOut, summary="Read a lead")
def get_lead(lead_id: PathId, principal: Allowed("sales.read"), session: SessionDep):
    return sales_service.get_lead_or_raise(session, org_id=principal.org_id, lead_id=lead_id)


@router.patch("/leads/{lead_id}", response_model=schemas.LeadOut, summary="Change a lead")
def update_lead(
    lead_id: PathId, body: schemas.LeadUpdate, principal: Allowed("sales.write"), session: SessionDep
):
    return sales_service.update_lead(
        session, org_id=principal.org_id, lead_id=lead_id, changes=body.model_dump(exclude_unset=True)
    )


@router.delete("/leads/{lead_id}", status_code=204, summary="Delete a lead")
def delete_lead(lead_id: PathId, principal: Allowed("sales.delete"), session: SessionDep) -> Response:
    sales_service.delete_lead(session, org_id=principal.org_id, lead_id=lead_id)
    return Response(status_code=204)


@router.post(
    "/leads/{lead_id}/convert",
    response_model=schemas.LeadConverted,
    summary="Convert a lead into a customer (and optionally a deal)",
)
def convert_lead(
    lead_id: PathId, body: schemas.LeadConvert, principal: Allowed("sales.write"), session: SessionDep
):
    """Creates a customer from the lead's name and contact points, or attaches the lead to ``customer_id``."""
    if body.customer_id is None:
        principal.require("customers.write")
    lead, customer_id, deal = sales_service.do_convert_lead(
        session,
        org_id=principal.org_id,
        lead_id=lead_id,
        customer_id=body.customer_id,
        deal=body.deal.model_dump() if body.deal is not None else None,
        actor_user_id=principal.user_id,
    )
    return schemas.LeadConverted(
        lead=schemas.LeadOut.model_validate(lead),
        customer_id=customer_id,
        deal=schemas.DealOut.model_validate(deal) if deal is not None else None,
    )


# --- deals ---------------------------------------------------------------------------------------


@router.get("/deals", response_model=Page[schemas.DealOut], summary="List and search deals")
def list_deals(
    principal: Allowed("sales.read"),
    session: SessionDep,
    page: PageDep,
    pipeline_id: IdQuery = None,
    stage_id: IdQuery = None,
    status: Annotated[schemas.DealStatus | None, Query()] = None,
    owner_id: IdQuery = None,
    customer_id: IdQuery = None,
    q: SearchQuery = None,
) -> dict:
    """Newest first; ``q`` matches the title."""
    filters = sales_service.DealFilter(
        pipeline_id=pipeline_id,
        stage_id=stage_id,
        status=status,
        owner_id=owner_id,
        customer_id=customer_id,
        q=q,
    )
    items, total = sales_service.list_deals(
        session, org_id=principal.org_id, filters=filters, limit=page.limit, offset=page.offset
    )
    return _page(items, total, page)


@router.post("/deals", response_model=schemas.DealOut, status_code=201, summary="Create a deal")
def create_deal(body: schemas.DealCreate, principal: Allowed("sales.write"), session: SessionDep):
    return sales_service.create_deal(
        session, org_id=principal.org_id, data=body.model_dump(), actor_user_id=principal.user_id
    )


@router.get("/deals/{deal_id}", response_model=schemas.DealOut, summary="Read a deal")
def get_deal(deal_id: PathId, principal: Allowed("sales.read"), session: SessionDep):
    return sales_service.get_deal_or_raise(session, org_id=principal.org_id, deal_id=deal_id)


@router.patch("/deals/{deal_id}", response_model=schemas.DealOut, summary="Change a deal's details")
def update_deal(
    deal_id: PathId, body: schemas.DealUpdate, principal: Allowed("sales.write"), session: SessionDep
):
    """The stage changes through the move action."""
    return sales_service.update_deal(
        session, org_id=principal.org_id, deal_id=deal_id, changes=body.model_dump(exclude_unset=True)
    )


@router.delete("/deals/{deal_id}", status_code=204, summary="Delete a deal")
def delete_deal(deal_id: PathId, principal: Allowed("sales.delete"), session: SessionDep) -> Response:
    sales_service.delete_deal(session, org_id=principal.org_id, deal_id=deal_id)
    return Response(status_code=204)


@router.post("/deals/{deal_id}/move", response_model=schemas.DealOut, summary="Move a deal to another stage")
def move_deal(
    deal_id: PathId, body: schemas.DealMove, principal: Allowed("sales.write"), session: SessionDep
):
    """A won or lost stage closes the deal (``status``, ``closed_at``); an open stage reopens it."""
    return sales_service.do_move_deal(
        session,
        org_id=principal.org_id,
        deal_id=deal_id,
        stage_id=body.stage_id,
        lost_reason=body.lost_reason,
        actor_user_id=principal.user_id,
    )


# --- tasks ---------------------------------------------------------------------------------------


@router.get("/tasks", response_model=Page[schemas.TaskOut], summary="List tasks")
def list_tasks(
    principal: Allowed("sales.read"),
    session: SessionDep,
    page: PageDep,
    assignee_id: IdQuery = None,
    mine: Annotated[bool, Query(description="Only the caller's own tasks.")] = False,
    due_before: Annotated[AwareDatetime | None, Query(description="Due before this time.")] = None,
    done: Annotated[bool | None, Query(description="Only done (true) or open (false) tasks.")] = None,
    overdue: Annotated[bool | None, Query(description="Only overdue (true) or not (false).")] = None,
    customer_id: IdQuery = None,
    deal_id: IdQuery = None,
) -> dict:
    """Soonest due first, undated tasks last."""
    if mine:
        if principal.user_id is None:
            raise Invalid("mine=true needs a signed-in user, not an API key.", field="mine")
        if assignee_id is not None and assignee_id != principal.user_id:
            raise Invalid("Give either mine=true or another assignee_id, not both.", field="mine")
        assignee_id = principal.user_id
    filters = sales_service.TaskFilter(
        assignee_id=assignee_id,
        due_before=due_before,
        done=done,
        overdue=overdue,
        customer_id=customer_id,
        deal_id=deal_id,
    )
    items, total = sales_service.list_tasks(
        session, org_id=principal.org_id, filters=filters, limit=page.limit, offset=page.offset
    )
    return _page(items, total, page)


@router.post("/tasks", response_model=schemas.TaskOut, status_code=201, summary="Create a task")
def create_task(body: schemas.TaskCreate, principal: Allowed("sales.write"), session: SessionDep):
    return sales_service.create_task(
        session, org_id=principal.org_id, data=body.model_dump(), actor_user_id=principal.user_id
    )


@router.get("/tasks/{task_id}", response_model=schemas.TaskOut, summary="Read a task")
def get_task(task_id: PathId, principal: Allowed("sales.read"), session: SessionDep):
    return sales_service.get_task_or_raise(session, org_id=principal.org_id, task_id=task_id)


@router.patch("/tasks/{task_id}", response_model=schemas.TaskOut, summary="Change a task")
def update_task(
    task_id: PathId, body: schemas.TaskUpdate, principal: Allowed("sales.write"), session: SessionDep
):
    return sales_service.update_task(
        session,
        org_id=principal.org_id,
        task_id=task_id,
        changes=body.model_dump(exclude_unset=True),
        actor_user_id=principal.user_id,
    )


@router.delete("/tasks/{task_id}", status_code=204, summary="Delete a task")
def delete_task(task_id: PathId, principal: Allowed("sales.delete"), session: SessionDep) -> Response:
    sales_service.delete_task(session, org_id=principal.org_id, task_id=task_id)
    return Response(status_code=204)


@router.post("/tasks/{task_id}/complete", response_model=schemas.TaskOut, summary="Mark a task done")
def complete_task(task_id: PathId, principal: Allowed("sales.write"), session: SessionDep):
    return sales_service.do_complete_task(session, org_id=principal.org_id, task_id=task_id)


# --- staff activity ------------------------------------------------------------------------------


@router.get("/activity", response_model=schemas.ActivityReport, summary="Staff activity in a period")
def staff_activity(
    principal: Allowed("activity.read"),
    session: SessionDep,
    since: Annotated[AwareDatetime | None, Query(description="Start (inclusive).")] = None,
    until: Annotated[AwareDatetime | None, Query(description="End (exclusive); default now.")] = None,
    period: Annotated[
        Literal["week", "month"],
        Query(description="Without `since`: the last 7 (week) or 30 (month) days before `until`."),
    ] = "month",
):
    """One row per active staff member; by default the last 30 days."""
    default_since, default_until = sales_activity.period_window(period, now=until)
    since = since or default_since
    until = until or default_until
    rows = sales_activity.staff_activity(session, org_id=principal.org_id, since=since, until=until)
    return schemas.ActivityReport(
        since=since,
        until=until,
        currency=sales_service.org_currency(session, org_id=principal.org_id),
        items=[schemas.StaffActivityOut.model_validate(r) for r in rows],
    )


@router.get(
    "/activity/timeseries",
    response_model=schemas.ActivitySeries,
    summary="Activity per week or month, for one staff member or the organisation",
)
def activity_timeseries(
    principal: Allowed("activity.read"),
    session: SessionDep,
    user_id: IdQuery = None,
    period: Annotated[Literal["week", "month"], Query()] = "week",
    periods: Annotated[
        int, Query(ge=1, le=104, description="How many periods back, the current one included.")
    ] = 12,
):
    buckets = sales_activity.activity_timeseries(
        session, org_id=principal.org_id, user_id=user_id, period=period, periods=periods
    )
    return schemas.ActivitySeries(
        user_id=user_id,
        period=period,
        currency=sales_service.org_currency(session, org_id=principal.org_id),
        buckets=[schemas.ActivityBucket.model_validate(b) for b in buckets],
    )
