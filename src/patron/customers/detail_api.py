"""HTTP API for what hangs off one customer: identities, consents, saved places and the timeline.

Mounted by :mod:`patron.customers.api` (its router includes this one).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from patron.accounts.deps import Allowed, Bearer, Principal, run_authorised
from patron.core.api import Page, PageDep, SessionDep
from patron.core.errors import Invalid
from patron.customers import places, schemas
from patron.customers import service as customer_service

router = APIRouter(tags=["customers"])

# --- identities --------------------------------------------------------------------------------------


@router.get(
    "/customers/{customer_id}/identities",
    response_model=list[schemas.IdentityOut],
    summary="List a customer's identities",
)
def list_identities(customer_id: int, principal: Allowed("customers.read"), session: SessionDep) -> list:
    return customer_service.list_identities(session, org_id=principal.org_id, customer_id=customer_id)


@router.post(
    "/customers/{customer_id}/identities",
    response_model=schemas.IdentityOut,
    status_code=201,
    summary="Add an identity (409 if another customer holds it)",
)
def create_identity(
    customer_id: int, body: schemas.IdentityCreate, principal: Allowed("customers.write"), session: SessionDep
):
    return customer_service.create_identity(
        session,
        org_id=principal.org_id,
        customer_id=customer_id,
        type=body.type,
        value=body.value,
        actor_user_id=principal.user_id,
    )


@router.delete(
    "/customers/{customer_id}/identities/{identity_id}",
    status_code=204,
    response_class=Response,
    summary="Remove an identity",
)
def delete_identity(
    customer_id: int, identity_id: int, principal: Allowed("customers.write"), session: SessionDep
) -> Response:
    customer_service.delete_identity(
        session,
        org_id=principal.org_id,
        customer_id=customer_id,
        identity_id=identity_id,
        actor_user_id=principal.user_id,
    )
    return Response(status_code=204)


# --- consents ----------------------------------------------------------------------------------------


def _consent_list(session: Session, org_id: int, customer_id: int) -> list[schemas.ConsentStateOut]:
    states = customer_service.current_consents(session, org_id=org_id, customer_id=customer_id)
    return [schemas.ConsentStateOut.model_validate(state) for state in states.values()]


@router.get(
    "/customers/{customer_id}/consents",
    response_model=list[schemas.ConsentStateOut],
    summary="Current consent per channel",
)
def list_consents(customer_id: int, principal: Allowed("customers.read"), session: SessionDep) -> list:
    """One entry per channel, derived from the latest ledger entry; never recorded means not granted."""
    return _consent_list(session, principal.org_id, customer_id)


@router.post(
    "/customers/{customer_id}/consents",
    response_model=schemas.ConsentRecordOut,
    status_code=201,
    summary="Record a consent change",
)
def record_consent(
    customer_id: int, body: schemas.ConsentChange, principal: Allowed("customers.write"), session: SessionDep
):
    return customer_service.do_record_consent(
        session,
        org_id=principal.org_id,
        customer_id=customer_id,
        channel=body.channel,
        granted=body.granted,
        source=body.source,
        method=body.method,
        note=body.note,
        actor_user_id=principal.user_id,
    )


@router.get(
    "/customers/{customer_id}/consents/history",
    response_model=Page[schemas.ConsentRecordOut],
    summary="The consent ledger, newest first",
)
def consent_history(
    customer_id: int,
    principal: Allowed("customers.read"),
    session: SessionDep,
    page: PageDep,
    channel: Annotated[schemas.ConsentChannel | None, Query()] = None,
) -> dict:
    rows, total = customer_service.list_consent_history(
        session,
        org_id=principal.org_id,
        customer_id=customer_id,
        channel=channel,
        limit=page.limit,
        offset=page.offset,
    )
    return {"items": rows, "total": total, "limit": page.limit, "offset": page.offset}


# --- places ------------------------------------------------------------------------------------------


@router.get(
    "/customers/{customer_id}/places",
    response_model=list[schemas.PlaceOut],
    summary="Saved places, most visited first",
)
def list_places(customer_id: int, principal: Allowed("customers.read"), session: SessionDep) -> list:
    return places.list_places(session, org_id=principal.org_id, customer_id=customer_id)


@router.post(
    "/customers/{customer_id}/places",
    response_model=schemas.PlaceOut,
    status_code=201,
    summary="Save a place",
)
def create_place(
    customer_id: int, body: schemas.PlaceCreate, principal: Allowed("customers.write"), session: SessionDep
):
    return places.create_place(
        session,
        org_id=principal.org_id,
        customer_id=customer_id,
        label=body.label,
        latitude=body.latitude,
        longitude=body.longitude,
        address=body.address,
    )


@router.post(
    "/customers/{customer_id}/places/visit",
    response_model=schemas.PlaceVisitOut,
    summary="Count a visit (nearest saved place within 150 m, else a new place)",
)
def record_visit(
    customer_id: int, body: schemas.PlaceVisit, principal: Allowed("customers.write"), session: SessionDep
) -> dict:
    place, created, distance = places.do_record_visit(
        session,
        org_id=principal.org_id,
        customer_id=customer_id,
        latitude=body.latitude,
        longitude=body.longitude,
        label=body.label,
    )
    return {
        "place": place,
        "created": created,
        "distance_m": None if distance is None else round(distance, 1),
    }


@router.get(
    "/customers/{customer_id}/places/{place_id}", response_model=schemas.PlaceOut, summary="Read a place"
)
def get_place(customer_id: int, place_id: int, principal: Allowed("customers.read"), session: SessionDep):
    return places.get_place_or_raise(
        session, org_id=principal.org_id, customer_id=customer_id, place_id=place_id
    )


@router.patch(
    "/customers/{customer_id}/places/{place_id}", response_model=schemas.PlaceOut, summary="Change a place"
)
def update_place(
    customer_id: int,
    place_id: int,
    body: schemas.PlaceUpdate,
    principal: Allowed("customers.write"),
    session: SessionDep,
):
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    return places.update_place(
        session, org_id=principal.org_id, customer_id=customer_id, place_id=place_id, changes=changes
    )


@router.delete(
    "/customers/{customer_id}/places/{place_id}",
    status_code=204,
    response_class=Response,
    summary="Forget a place",
)
def delete_place(
    customer_id: int, place_id: int, principal: Allowed("customers.write"), session: SessionDep
) -> Response:
    places.delete_place(session, org_id=principal.org_id, customer_id=customer_id, place_id=place_id)
    return Response(status_code=204)


# --- timeline ----------------------------------------------------------------------------------------


@router.get(
    "/customers/{customer_id}/timeline",
    response_model=schemas.TimelinePageOut,
    summary="Everything that happened to the customer, newest first",
    description="Entries of every domain (profile, consents, interactions, tickets, deals, orders, "
    "messages, surveys, device events) merged in time order. Page with `next_before`; `unavailable` names "
    "an outside store that could not answer this time.",
)
async def read_timeline(
    customer_id: int,
    request: Request,
    bearer: Bearer,
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page.")] = 50,
    before: Annotated[
        str | None,
        Query(max_length=80, description="`next_before` of the previous page, or an ISO 8601 time."),
    ] = None,
    kinds: Annotated[
        str | None,
        Query(max_length=1000, description="Comma-separated kinds (ticket.created) or patterns (ticket.*)."),
    ] = None,
) -> Response:
    """The 360 page's main read, so like the profile it runs in one thread-pool call
    (:func:`~patron.accounts.deps.run_authorised`)."""
    kind_list = [k.strip() for k in kinds.split(",") if k.strip()] if kinds else None
    if kind_list and len(kind_list) > 20:
        raise Invalid("At most 20 kinds.", field="kinds")

    def read(session: Session, principal: Principal) -> dict:
        page = customer_service.list_timeline(
            session, org_id=principal.org_id, customer_id=customer_id, before=before, limit=limit, kinds=kind_list
        )
        body = {
            "items": [item.__dict__ for item in page.items],
            "next_before": page.next_before,
            "unavailable": page.unavailable,
        }
        return schemas.TimelinePageOut.model_validate(body).model_dump(mode="json")

    return JSONResponse(await run_authorised(request, bearer, "customers.read", read))
