"""HTTP API of the interactions domain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime

from patron.accounts.deps import Allowed
from patron.core.api import Page, PageDep, SessionDep
from patron.customers import service as customers_service
from patron.interactions import schemas
from patron.interactions import service as interactions_service

router = APIRouter(prefix="/api/v1", tags=["interactions"])

SinceQuery = Annotated[
    AwareDatetime | None, Query(description="Only interactions at or after this time (with a time zone).")
]
UntilQuery = Annotated[
    AwareDatetime | None, Query(description="Only interactions before this time (with a time zone).")
]
KindQuery = Annotated[schemas.Kind | None, Query(description="Only this kind.")]
UserQuery = Annotated[int | None, Query(ge=1, description="Only interactions handled by this staff member.")]


def _page(session, *, org_id: int, filters: interactions_service.InteractionFilter, page) -> dict:
    items, total = interactions_service.list_interactions(
        session, org_id=org_id, filters=filters, limit=page.limit, offset=page.offset
    )
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


@router.get("/interactions", response_model=Page[schemas.InteractionOut], summary="List interactions")
def list_interactions(
    principal: Allowed("interactions.read"),
    session: SessionDep,
    page: PageDep,
    customer_id: Annotated[int | None, Query(ge=1, description="Only this customer's.")] = None,
    kind: KindQuery = None,
    user_id: UserQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> dict:
    """Interactions of the organisation, newest first, filtered and paginated."""
    filters = interactions_service.InteractionFilter(
        customer_id=customer_id, kind=kind, user_id=user_id, since=since, until=until
    )
    return _page(session, org_id=principal.org_id, filters=filters, page=page)


@router.post(
    "/interactions", response_model=schemas.InteractionOut, status_code=201, summary="Log an interaction"
)
def create_interaction(
    body: schemas.InteractionCreate, principal: Allowed("interactions.write"), session: SessionDep
):
    """Log a call, e-mail, chat, meeting, social message, note or SMS; it appears on the customer's timeline."""
    return interactions_service.create_interaction(
        session, org_id=principal.org_id, actor_user_id=principal.user_id, **body.model_dump()
    )


@router.get(
    "/interactions/{interaction_id}", response_model=schemas.InteractionOut, summary="Get one interaction"
)
def get_interaction(interaction_id: int, principal: Allowed("interactions.read"), session: SessionDep):
    return interactions_service.get_interaction_or_raise(
        session, org_id=principal.org_id, interaction_id=interaction_id
    )


@router.patch(
    "/interactions/{interaction_id}", response_model=schemas.InteractionOut, summary="Change an interaction"
)
def update_interaction(
    interaction_id: int,
    body: schemas.InteractionUpdate,
    principal: Allowed("interactions.write"),
    session: SessionDep,
):
    interaction = interactions_service.get_interaction_or_raise(
        session, org_id=principal.org_id, interaction_id=interaction_id
    )
    return interactions_service.update_interaction(
        session, interaction=interaction, changes=body.model_dump(exclude_unset=True)
    )


@router.delete("/interactions/{interaction_id}", status_code=204, summary="Delete an interaction")
def delete_interaction(
    interaction_id: int, principal: Allowed("interactions.write"), session: SessionDep
) -> Response:
    interaction = interactions_service.get_interaction_or_raise(
        session, org_id=principal.org_id, interaction_id=interaction_id
    )
    interactions_service.delete_interaction(session, interaction=interaction)
    return Response(status_code=204)


@router.get(
    "/customers/{customer_id}/interactions",
    response_model=Page[schemas.InteractionOut],
    summary="List one customer's interactions",
)
def list_customer_interactions(
    customer_id: int,
    principal: Allowed("interactions.read"),
    session: SessionDep,
    page: PageDep,
    kind: KindQuery = None,
    user_id: UserQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> dict:
    """The customer's interactions, newest first. 404 when the customer is not in your organisation."""
    customers_service.get_customer_or_raise(session, org_id=principal.org_id, customer_id=customer_id)
    filters = interactions_service.InteractionFilter(
        customer_id=customer_id, kind=kind, user_id=user_id, since=since, until=until
    )
    return _page(session, org_id=principal.org_id, filters=filters, page=page)
