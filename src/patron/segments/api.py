"""Segments routes: rule segments (CRUD, count, preview, refresh), members and their CSV export, sizes,
membership history, ML segmentation runs and the priority ranking of a run's clusters."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from patron.accounts.deps import Allowed
from patron.core.api import Page, PageDep, SessionDep, SettingsDep
from patron.segments import ml as segments_ml
from patron.segments import ranking as segments_ranking
from patron.segments import schemas
from patron.segments import service as segments_service

router = APIRouter(prefix="/api/v1", tags=["segments"])


def _paged(items, total: int, page) -> dict:
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


# Fixed paths first, so /segments/count is not read as a segment id.


@router.get("/segments/fields", response_model=list[schemas.FieldOut], summary="Fields a definition can use")
def list_fields(
    principal: Allowed("segments.read"), session: SessionDep, settings: SettingsDep
) -> list[dict]:
    """Profile fields, custom attributes, consents, device attributes and the features of the current table."""
    return segments_service.fields(session, org_id=principal.org_id, settings=settings)


@router.post("/segments/count", response_model=schemas.CountOut, summary="Count an unsaved definition")
def count_definition(body: schemas.DefinitionBody, principal: Allowed("segments.read"), session: SessionDep,
                     settings: SettingsDep) -> dict:  # fmt: skip
    """How many customers pass the definition now. Nothing is written."""
    return {"count": segments_service.count_definition(session, org_id=principal.org_id,
                                                       definition=body.definition, settings=settings)}  # fmt: skip


@router.post("/segments/preview", response_model=schemas.PreviewOut, summary="Preview an unsaved definition")
def preview_definition(body: schemas.DefinitionBody, principal: Allowed("segments.read"), session: SessionDep,
                       settings: SettingsDep) -> dict:  # fmt: skip
    """The count and the first `limit` members by customer id. Nothing is written."""
    count, first = segments_service.preview_definition(session, org_id=principal.org_id, definition=body.definition,
                                                       settings=settings, limit=body.limit)  # fmt: skip
    return {"count": count, "members": [{"customer_id": cid, "name": name} for cid, name in first]}


@router.post("/segments/ml-runs", response_model=schemas.MlRunOut, status_code=201,
             summary="Run ML segmentation")  # fmt: skip
def create_ml_run(body: schemas.MlRunCreate, principal: Allowed("segments.write"), session: SessionDep,
                  settings: SettingsDep):  # fmt: skip
    """Cluster the customers on their features (k chosen over k_min..k_max), profile and name the clusters,
    map them to archetypes and write one segment per cluster; the previous run's segments are retired."""
    return segments_ml.run_ml_segmentation(session, org_id=principal.org_id, settings=settings,
                                           k_range=(body.k_min, body.k_max), method=body.method,
                                           created_by_id=principal.user_id)  # fmt: skip


@router.get(
    "/segments/ml-runs/{run_id}", response_model=schemas.MlRunOut, summary="Get an ML segmentation run"
)
def get_ml_run(run_id: int, principal: Allowed("segments.read"), session: SessionDep):
    return segments_ml.get_run_or_raise(session, org_id=principal.org_id, run_id=run_id)


CRITERION_HELP = (
    "A criterion to rank on (repeatable): 'share' or a feature the run clustered on, written name, "
    "name:benefit or name:cost. A bare name takes its usual direction (recency_days and other 'lower is "
    "better' features are costs). Default: share, monetary, frequency, recency_days:cost where the run has them."
)


@router.get("/segments/ml-runs/{run_id}/ranking", response_model=schemas.RankingOut,
            summary="Rank a run's clusters (entropy weights, VIKOR, TOPSIS)")  # fmt: skip
def rank_ml_run(
    run_id: int,
    principal: Allowed("segments.read"),
    session: SessionDep,
    criterion: Annotated[list[str] | None, Query(description=CRITERION_HELP)] = None,
    weights: Annotated[
        Literal["entropy", "equal"],
        Query(description="entropy (Shannon entropy of each criterion) or equal."),
    ] = "entropy",
    v: Annotated[
        float, Query(ge=0, le=1, description="VIKOR weight of group utility S (1 - v goes to regret R).")
    ] = 0.5,
) -> dict:
    """Which cluster to serve first: the clusters scored on the criteria, weighted, ranked by VIKOR at `v`
    with the acceptable-advantage and acceptable-stability conditions and the compromise set, the same for
    v = 0.1 ... 0.9, and TOPSIS closeness beside. Nothing is written. 422 naming `criterion` for an
    unknown criterion."""
    return segments_ranking.rank_run_clusters(session, org_id=principal.org_id, run_id=run_id,
                                              criteria=criterion, weighting=weights, v=v)  # fmt: skip


@router.get("/segments", response_model=Page[schemas.SegmentOut], summary="List segments")
def list_segments(
    principal: Allowed("segments.read"),
    session: SessionDep,
    page: PageDep,
    kind: Annotated[Literal["rule", "ml"] | None, Query(description="Only rule or only ML segments.")] = None,
    include_retired: Annotated[bool, Query(description="Also the segments of earlier ML runs.")] = False,
) -> dict:
    """Segments of the organisation by name."""
    items, total = segments_service.list_segments(session, org_id=principal.org_id, kind=kind,
                                                  include_retired=include_retired, limit=page.limit,
                                                  offset=page.offset)  # fmt: skip
    return _paged(items, total, page)


@router.post("/segments", response_model=schemas.SegmentOut, status_code=201, summary="Create a rule segment")
def create_segment(body: schemas.SegmentCreate, principal: Allowed("segments.write"), session: SessionDep,
                   settings: SettingsDep):  # fmt: skip
    """The definition is checked strictly (422 naming the path at fault); the members are written at once."""
    segment = segments_service.create_segment(session, org_id=principal.org_id, created_by_id=principal.user_id,
                                              **body.model_dump())  # fmt: skip
    segments_service.do_refresh_segment(session, segment=segment, settings=settings)
    return segment


@router.get("/segments/{segment_id}", response_model=schemas.SegmentOut, summary="Get a segment")
def get_segment(segment_id: int, principal: Allowed("segments.read"), session: SessionDep):
    return segments_service.get_segment_or_raise(session, org_id=principal.org_id, segment_id=segment_id)


@router.patch("/segments/{segment_id}", response_model=schemas.SegmentOut, summary="Change a segment")
def update_segment(segment_id: int, body: schemas.SegmentUpdate, principal: Allowed("segments.write"),
                   session: SessionDep, settings: SettingsDep):  # fmt: skip
    """A changed definition is applied at once (a refresh: who left and who joined go into the history)."""
    segment = segments_service.get_segment_or_raise(session, org_id=principal.org_id, segment_id=segment_id)
    changes = {
        name: value for name, value in body.model_dump(exclude_unset=True).items() if value is not None
    }
    segments_service.update_segment(session, segment=segment, changes=changes)
    if "definition" in changes:
        segments_service.do_refresh_segment(session, segment=segment, settings=settings)
    return segment


@router.delete("/segments/{segment_id}", status_code=204, summary="Delete a segment")
def delete_segment(segment_id: int, principal: Allowed("segments.write"), session: SessionDep) -> Response:
    """The segment with its membership history and sizes."""
    segment = segments_service.get_segment_or_raise(session, org_id=principal.org_id, segment_id=segment_id)
    segments_service.delete_segment(session, segment=segment)
    return Response(status_code=204)


@router.post("/segments/{segment_id}/preview", response_model=schemas.PreviewOut,
             summary="Preview a saved rule segment now")  # fmt: skip
def preview_segment(segment_id: int, principal: Allowed("segments.read"), session: SessionDep,
                    settings: SettingsDep,
                    limit: Annotated[int, Query(ge=1, le=200, description="Members to show.")] = 20) -> dict:  # fmt: skip
    """Evaluates the segment's definition now without writing (the stored members change at a refresh)."""
    segment = segments_service.get_segment_or_raise(session, org_id=principal.org_id, segment_id=segment_id)
    if segment.kind != "rule":
        count, first = segments_service.preview_members(session, segment=segment, limit=limit)
    else:
        count, first = segments_service.preview_definition(session, org_id=principal.org_id,
                                                           definition=segment.definition, settings=settings,
                                                           limit=limit)  # fmt: skip
    return {"count": count, "members": [{"customer_id": cid, "name": name} for cid, name in first]}


@router.post(
    "/segments/{segment_id}/refresh", response_model=schemas.RefreshOut, summary="Refresh a rule segment"
)
def refresh_segment(segment_id: int, principal: Allowed("segments.write"), session: SessionDep,
                    settings: SettingsDep) -> dict:  # fmt: skip
    """Evaluate the definition and write who joined and who left, and a size snapshot."""
    segment = segments_service.get_segment_or_raise(session, org_id=principal.org_id, segment_id=segment_id)
    joined, left = segments_service.do_refresh_segment(session, segment=segment, settings=settings)
    return {"size": segment.size, "joined": joined, "left": left, "refreshed_at": segment.refreshed_at}


@router.get("/segments/{segment_id}/members", response_model=schemas.MembersPage, summary="Current members")
def list_members(
    segment_id: int, principal: Allowed("segments.read"), session: SessionDep, page: PageDep
) -> dict:
    """The members as of the last refresh, by customer id."""
    segment = segments_service.get_segment_or_raise(session, org_id=principal.org_id, segment_id=segment_id)
    items, total = segments_service.list_members(
        session, segment=segment, limit=page.limit, offset=page.offset
    )
    return _paged(items, total, page)


def _csv_cell(value: object) -> str:
    text = "" if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)
    # a cell starting like a formula is neutralised so a spreadsheet does not execute it
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


@router.get("/segments/{segment_id}/members.csv", summary="Export the members as CSV (streamed)",
            responses={200: {"content": {"text/csv": {}}}})  # fmt: skip
def export_members(
    segment_id: int, request: Request, principal: Allowed("segments.read"), session: SessionDep
):
    """customer_id, name, joined_at of every current member, in customer id order. Recorded in the audit log."""
    principal.require("customers.export")
    segment = segments_service.get_segment_or_raise(session, org_id=principal.org_id, segment_id=segment_id)
    segments_service.do_record_member_export(session, segment=segment)
    factory, segment_id, org_id = request.app.state.sessionmaker, segment.id, principal.org_id

    def stream() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["customer_id", "name", "joined_at"])
        yield buffer.getvalue()
        with factory() as export_session:
            exported = segments_service.get_segment_or_raise(
                export_session, org_id=org_id, segment_id=segment_id
            )
            for batch in segments_service.iter_member_rows(export_session, segment=exported):
                buffer.seek(0)
                buffer.truncate()
                writer.writerows([[cid, _csv_cell(name), _csv_cell(joined)] for cid, name, joined in batch])
                yield buffer.getvalue()

    filename = f"segment-{segment.id}-members.csv"
    return StreamingResponse(stream(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})  # fmt: skip


@router.get("/segments/{segment_id}/sizes", response_model=list[schemas.SizeOut], summary="Sizes over time")
def list_sizes(segment_id: int, principal: Allowed("segments.read"), session: SessionDep):
    """One entry per refresh, oldest first (the latest 500)."""
    segment = segments_service.get_segment_or_raise(session, org_id=principal.org_id, segment_id=segment_id)
    return segments_service.list_sizes(session, segment=segment)


@router.get(
    "/segments/{segment_id}/history", response_model=schemas.MembersPage, summary="Membership history"
)
def list_history(
    segment_id: int,
    principal: Allowed("segments.read"),
    session: SessionDep,
    page: PageDep,
    customer_id: Annotated[int | None, Query(ge=1, description="Only this customer's rows.")] = None,
) -> dict:
    """Every membership period (joined, left), newest first: leaving closes a row, re-joining opens another."""
    segment = segments_service.get_segment_or_raise(session, org_id=principal.org_id, segment_id=segment_id)
    items, total = segments_service.list_history(session, segment=segment, customer_id=customer_id,
                                                 limit=page.limit, offset=page.offset)  # fmt: skip
    return _paged(items, total, page)
