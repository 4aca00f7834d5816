"""Campaign routes: CRUD, the audience count, previews, launch and pause, results and recipients."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response

from patron.accounts.deps import Allowed
from patron.campaigns import audience as audience_module
from patron.campaigns import results as campaign_results
from patron.campaigns import schemas, sending
from patron.campaigns import service as campaigns_service
from patron.campaigns.models import Campaign
from patron.core.api import Page, PageDep, SessionDep

router = APIRouter(prefix="/api/v1", tags=["campaigns"])


def _event_store(request: Request, campaign: Campaign):
    """The server's event store when the campaign converts on app events (it is opened on first use)."""
    return request.app.state.events.store if campaign.conversion.get("kind") == "event" else None


def campaign_out(session, campaign: Campaign) -> dict:
    data = schemas.CampaignOut.model_validate(campaign).model_dump()
    data["variants"] = [schemas.VariantOut.model_validate(v).model_dump()
                        for v in campaigns_service.list_variants(session, campaign=campaign)]  # fmt: skip
    if campaign.status == "launching":
        data["launch_progress"] = sending.launched_recipients(session, campaign=campaign)
    return data


@router.post("/campaigns/audience/count", response_model=schemas.AudienceCountOut,
             summary="Count an audience: everyone in it, and those reachable on the channels")  # fmt: skip
def count_audience(
    body: schemas.AudienceCountIn, principal: Allowed("campaigns.read"), session: SessionDep
) -> object:
    audience = audience_module.check_audience(body.audience.model_dump())
    return audience_module.count(
        session, org_id=principal.org_id, audience=audience, channels=list(body.channels)
    )


@router.get("/campaigns", response_model=Page[schemas.CampaignOut], summary="List campaigns")
def list_campaigns(
    principal: Allowed("campaigns.read"),
    session: SessionDep,
    page: PageDep,
    status: Annotated[str | None, Query(max_length=10, description="Only campaigns in this status.")] = None,
    kind: Annotated[str | None, Query(max_length=10, description="Only campaigns of this kind.")] = None,
) -> dict:
    items, total = campaigns_service.list_campaigns(session, org_id=principal.org_id,
                                                    filters=campaigns_service.CampaignFilter(status=status, kind=kind),
                                                    limit=page.limit, offset=page.offset)  # fmt: skip
    return {"items": [campaign_out(session, c) for c in items], "total": total, "limit": page.limit,
            "offset": page.offset}  # fmt: skip


@router.post(
    "/campaigns", response_model=schemas.CampaignOut, status_code=201, summary="Create a campaign (draft)"
)
def create_campaign(
    body: schemas.CampaignIn, principal: Allowed("campaigns.write"), session: SessionDep
) -> dict:
    """Templates are compiled in the sandbox and tried on a sample customer; an error names the variant's
    field (`variants[1].body`)."""
    campaign = campaigns_service.create_campaign(session, org_id=principal.org_id, values=body.model_dump(),
                                                 created_by_id=principal.user_id)  # fmt: skip
    return campaign_out(session, campaign)


@router.get("/campaigns/{campaign_id}", response_model=schemas.CampaignOut, summary="A campaign")
def get_campaign(campaign_id: int, principal: Allowed("campaigns.read"), session: SessionDep) -> dict:
    campaign = campaigns_service.get_campaign_or_raise(
        session, org_id=principal.org_id, campaign_id=campaign_id
    )
    return campaign_out(session, campaign)


@router.patch("/campaigns/{campaign_id}", response_model=schemas.CampaignOut, summary="Change a campaign")
def update_campaign(campaign_id: int, body: schemas.CampaignUpdate, principal: Allowed("campaigns.write"),
                    session: SessionDep) -> dict:  # fmt: skip
    """Only a draft, scheduled or paused campaign changes (409 otherwise); variants only before anyone
    was assigned to them."""
    campaign = campaigns_service.get_campaign_or_raise(
        session, org_id=principal.org_id, campaign_id=campaign_id
    )
    changes = body.model_dump(exclude_unset=True)
    campaign = campaigns_service.update_campaign(session, campaign=campaign, changes=changes)
    return campaign_out(session, campaign)


@router.delete("/campaigns/{campaign_id}", status_code=204, summary="Delete a campaign that never sent")
def delete_campaign(campaign_id: int, principal: Allowed("campaigns.write"), session: SessionDep) -> Response:
    campaign = campaigns_service.get_campaign_or_raise(
        session, org_id=principal.org_id, campaign_id=campaign_id
    )
    campaigns_service.delete_campaign(session, campaign=campaign)
    return Response(status_code=204)


@router.post("/campaigns/{campaign_id}/preview", response_model=list[schemas.PreviewOut],
             summary="The personalised message for a sample of the audience")  # fmt: skip
def preview_campaign(campaign_id: int, body: schemas.PreviewIn, principal: Allowed("campaigns.read"),
                     session: SessionDep) -> object:  # fmt: skip
    """Nothing is written or sent."""
    campaign = campaigns_service.get_campaign_or_raise(
        session, org_id=principal.org_id, campaign_id=campaign_id
    )
    return sending.preview(session, campaign=campaign, size=body.size, trigger_data=body.trigger_data)


@router.post("/campaigns/{campaign_id}/launch", response_model=schemas.LaunchOut, summary="Launch or resume",
             responses={202: {"description": "A one-off to a big audience: sending in the background.",
                              "model": schemas.LaunchOut}})  # fmt: skip
def launch_campaign(campaign_id: int, request: Request, response: Response, background: BackgroundTasks,
                    principal: Allowed("campaigns.launch"), session: SessionDep) -> dict:  # fmt: skip
    """A one-off without a future `send_at` sends now; with one it is scheduled. A recurring campaign runs
    from its next occurrence; a triggered one acts on triggers emitted from now on.

    A one-off sent now to at least `campaign_background_from` customers (2,000 by default) answers 202 at
    once with status `launching` and is sent in the background; `launch_progress` on the campaign says how
    many customers it has taken in, and it is `done` when all are. A launch cut off half-way is finished
    by the campaign job without sending anything twice."""
    campaign = campaigns_service.get_campaign_or_raise(
        session, org_id=principal.org_id, campaign_id=campaign_id
    )
    in_background = sending.sends_in_background(
        session, campaign=campaign, threshold=request.app.state.settings.campaign_background_from
    )
    outcome = sending.do_launch_campaign(session, campaign=campaign, background=in_background)
    if campaign.status == "launching":
        session.commit()  # the background launch must see the campaign launching
        background.add_task(sending.finish_launch, request.app.state.sessionmaker, org_id=campaign.org_id,
                            campaign_id=campaign.id)  # fmt: skip
        response.status_code = 202
    return {"campaign": campaign_out(session, campaign), "assigned": outcome.assigned, "queued": outcome.queued,
            "held_out": outcome.held_out, "skipped": outcome.skipped}  # fmt: skip


@router.post("/campaigns/{campaign_id}/pause", response_model=schemas.CampaignOut, summary="Pause")
def pause_campaign(campaign_id: int, principal: Allowed("campaigns.launch"), session: SessionDep) -> dict:
    campaign = campaigns_service.get_campaign_or_raise(
        session, org_id=principal.org_id, campaign_id=campaign_id
    )
    return campaign_out(session, sending.do_pause_campaign(session, campaign=campaign))


@router.get("/campaigns/{campaign_id}/results", response_model=schemas.ResultsOut,
            summary="The funnel per variant and for the hold-out, uplift and cost")  # fmt: skip
def get_results(campaign_id: int, request: Request, principal: Allowed("campaigns.read"),
                session: SessionDep) -> object:  # fmt: skip
    """Conversions found since the last look are recorded first (each order, visit or app event counts
    once; app events are read from the event store)."""
    campaign = campaigns_service.get_campaign_or_raise(
        session, org_id=principal.org_id, campaign_id=campaign_id
    )
    store = _event_store(request, campaign)
    return campaign_results.campaign_results(session, campaign=campaign, store=store)


@router.get("/campaigns/{campaign_id}/recipients", response_model=Page[schemas.RecipientOut],
            summary="Who was assigned, to which group, and what happened to their message")  # fmt: skip
def list_recipients(
    campaign_id: int,
    principal: Allowed("campaigns.read"),
    session: SessionDep,
    page: PageDep,
    group: Annotated[str | None, Query(max_length=40, description="A variant's name, or `holdout`.")] = None,
) -> dict:
    campaign = campaigns_service.get_campaign_or_raise(
        session, org_id=principal.org_id, campaign_id=campaign_id
    )
    items, total = campaign_results.list_recipients(session, campaign=campaign, group=group, limit=page.limit,
                                                    offset=page.offset)  # fmt: skip
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}
