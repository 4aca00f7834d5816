"""HTTP API of the customers domain: profiles, custom attributes, identities, consents, places, the timeline,
import/export, merge and privacy requests."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.orm import Session

from patron.accounts.deps import Allowed, Bearer, Principal, run_authorised
from patron.core.api import Page, PageDep, SessionDep
from patron.core.errors import Invalid
from patron.customers import detail_api, exporter, importer, merge, privacy, profile_read, schemas
from patron.customers import service as customer_service
from patron.customers.models import Customer
from patron.customers.search import SORTS

router = APIRouter(prefix="/api/v1", tags=["customers"])

Sort = Literal[tuple(SORTS)]  # type: ignore[valid-type]
MAX_TAG_FILTERS = 10


def customer_out(
    session: Session, customer: Customer, *, with_consents: bool = True, tags: list[str] | None = None
) -> schemas.CustomerOut:
    """The API view of one customer: its tags and (for single reads) the current consent per channel."""
    if tags is None:
        tags = customer_service.tags_for(session, org_id=customer.org_id, customer_ids=[customer.id])[
            customer.id
        ]
    consents = None
    if with_consents:
        consents = customer_service.consent_summaries(
            session, org_id=customer.org_id, customer_ids=[customer.id]
        )[customer.id]
        if customer.erased_at is not None:
            consents = dict.fromkeys(consents, False)
    out = schemas.CustomerOut.model_validate(
        {
            **{
                name: getattr(customer, name)
                for name in schemas.CustomerOut.model_fields
                if name not in ("name", "tags", "consents")
            },
            "name": customer_service.display_name(customer),
            "tags": tags,
            "consents": consents,
        }
    )
    return out


def customer_filters(
    request: Request,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Words matched (case-insensitively) in the "
            "name, e-mail and phone, or an exact identity value.",
        ),
    ] = None,
    email: Annotated[str | None, Query(max_length=254, description="Exact e-mail (any case).")] = None,
    phone: Annotated[str | None, Query(max_length=40, description="Exact phone, any notation.")] = None,
    tag: Annotated[
        list[str] | None,
        Query(description="Customers carrying this tag; repeat for several (all must match)."),
    ] = None,
    owner_id: Annotated[int | None, Query(ge=1, description="Owning staff member.")] = None,
    income_band: Annotated[schemas.IncomeBand | None, Query()] = None,
    gender: Annotated[schemas.Gender | None, Query()] = None,
    education: Annotated[schemas.Education | None, Query()] = None,
    country: Annotated[str | None, Query(min_length=2, max_length=2)] = None,
    include_erased: Annotated[bool, Query(description="Also list customers whose data was erased.")] = False,
    sort: Annotated[
        Sort, Query(description="Order: name, created_at, updated_at, email or id; prefix - for descending.")
    ] = "name",
) -> customer_service.CustomerFilters:
    """Filters shared by the list and the export. ``attr.<key>``, ``attr.<key>.gte`` and ``attr.<key>.lte``
    query parameters filter on custom attributes (checked in the route, which knows the organisation)."""
    tags = tag or []
    if len(tags) > MAX_TAG_FILTERS or any(len(t) > 60 for t in tags):
        raise Invalid(f"At most {MAX_TAG_FILTERS} tag filters of at most 60 characters.", field="tag")
    filters = customer_service.CustomerFilters(
        q=q,
        email=email,
        phone=phone,
        tags=tags,
        owner_id=owner_id,
        income_band=income_band,
        gender=gender,
        education=education,
        country=country,
        include_erased=include_erased,
        sort=sort,
    )
    request.state.attribute_params = [
        (k, v) for k, v in request.query_params.multi_items() if k.startswith("attr.")
    ]
    return filters


FiltersDep = Annotated[customer_service.CustomerFilters, Depends(customer_filters)]


def _with_attribute_filters(
    request: Request, session: Session, org_id: int, filters: customer_service.CustomerFilters
) -> customer_service.CustomerFilters:
    params = getattr(request.state, "attribute_params", [])
    if len(params) > 20:
        raise Invalid("At most 20 attribute filters.", field="attr")
    filters.attributes = customer_service.parse_attribute_filters(session, org_id=org_id, params=params)
    return filters


# --- profiles ----------------------------------------------------------------------------------------


@router.get("/customers", response_model=Page[schemas.CustomerOut], summary="Search and filter customers")
def list_customers(
    request: Request,
    principal: Allowed("customers.read"),
    session: SessionDep,
    page: PageDep,
    filters: FiltersDep,
) -> dict:
    """Customers matching every filter given, a page at a time. Custom attributes filter with
    ``attr.<key>=value`` (equal), ``attr.<key>.gte=`` and ``attr.<key>.lte=`` (ranges; numbers compare as
    numbers, dates as dates)."""
    filters = _with_attribute_filters(request, session, principal.org_id, filters)
    customers, total = customer_service.search_customers(
        session, org_id=principal.org_id, filters=filters, limit=page.limit, offset=page.offset
    )
    tags = customer_service.tags_for(session, org_id=principal.org_id, customer_ids=[c.id for c in customers])
    items = [customer_out(session, c, with_consents=False, tags=tags[c.id]) for c in customers]
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


@router.post("/customers", response_model=schemas.CustomerOut, status_code=201, summary="Create a customer")
def create_customer(body: schemas.CustomerCreate, principal: Allowed("customers.write"), session: SessionDep):
    customer = customer_service.create_customer(
        session,
        org_id=principal.org_id,
        data=body.model_dump(exclude_unset=True),
        actor_user_id=principal.user_id,
    )
    return customer_out(session, customer)


@router.get("/customers/lookup", response_model=schemas.CustomerOut, summary="Find a customer by identity")
def lookup_customer(
    principal: Allowed("customers.read"),
    session: SessionDep,
    type: Annotated[schemas.IdentityType, Query(description="Identity type.")],
    value: Annotated[
        str,
        Query(min_length=1, max_length=254, description="Any notation; normalised like stored identities."),
    ],
):
    customer = customer_service.lookup_customer_or_raise(
        session, org_id=principal.org_id, type=type, value=value
    )
    return customer_out(session, customer)


@router.get(
    "/customers/export",
    summary="Export customers as CSV or JSON (streamed)",
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
def export_customers(
    request: Request,
    principal: Allowed("customers.export"),
    session: SessionDep,
    filters: FiltersDep,
    format: Annotated[Literal["csv", "json"], Query(description="csv or json.")] = "csv",
):
    """Every customer matching the filters (the same as the list's), in id order. The CSV columns are those
    the import reads, so a file can be edited and imported again. Recorded in the audit log."""
    filters = _with_attribute_filters(request, session, principal.org_id, filters)
    exporter.do_record_export(session, org_id=principal.org_id, filters=filters, format=format)
    factory = request.app.state.sessionmaker
    org_id = principal.org_id

    def stream():
        with factory() as export_session:
            yield from exporter.iter_export(export_session, org_id=org_id, filters=filters, format=format)

    filename = f"customers-{date.today():%Y%m%d}.{format}"
    media_type = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    return StreamingResponse(
        stream(), media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.post("/customers/import", response_model=schemas.ImportReportOut, summary="Import customers from CSV")
def import_customers(
    principal: Allowed("customers.import"),
    session: SessionDep,
    file: Annotated[UploadFile, File(description="UTF-8 CSV with a header row.")],
    mapping: Annotated[
        str | None,
        Form(
            max_length=20000,
            description='JSON object {"csv header": "field"}; a field of "ignore" skips the column.',
        ),
    ] = None,
    dry_run: Annotated[bool, Form(description="Check and count only; write nothing.")] = False,
):
    """Valid rows land, rejected rows are reported (row number, field, reason) and not written; a row
    matching an existing customer by identity, e-mail or phone updates it. See docs/customers.md."""
    parsed_mapping = None
    if mapping:
        try:
            parsed_mapping = json.loads(mapping)
        except json.JSONDecodeError:
            raise Invalid("The mapping is not valid JSON.", field="mapping") from None
        if (
            not isinstance(parsed_mapping, dict)
            or len(parsed_mapping) > 300
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in parsed_mapping.items())
        ):
            raise Invalid('The mapping must be a JSON object of "column": "field" strings.', field="mapping")
    report = importer.import_customers_csv(
        session,
        org_id=principal.org_id,
        stream=file.file.read(),
        mapping=parsed_mapping,
        dry_run=dry_run,
        actor_user_id=principal.user_id,
        source_name=file.filename or "",
    )
    return schemas.ImportReportOut.model_validate(report)


@router.get(
    "/customers/{customer_id}",
    response_model=schemas.CustomerOut,
    summary="Read a customer's profile",
    description="The profile with its tags and the current consent per channel. A merged profile answers 404 "
    "naming the customer it was merged into.",
)
async def get_customer(customer_id: int, request: Request, bearer: Bearer) -> Response:
    """The hottest read of the API, so it runs in one thread-pool call (see :func:`run_authorised`) and
    reads the profile in one statement (:func:`~patron.customers.profile_read.read_profile`)."""

    def read(session: Session, principal: Principal) -> dict:
        values = profile_read.read_profile(session, org_id=principal.org_id, customer_id=customer_id)
        return schemas.CustomerOut.model_validate(values).model_dump(mode="json")

    return JSONResponse(await run_authorised(request, bearer, "customers.read", read))


@router.patch(
    "/customers/{customer_id}", response_model=schemas.CustomerOut, summary="Change a customer's profile"
)
def update_customer(
    customer_id: int, body: schemas.CustomerUpdate, principal: Allowed("customers.write"), session: SessionDep
):
    customer = customer_service.update_customer(
        session,
        org_id=principal.org_id,
        customer_id=customer_id,
        changes=body.model_dump(exclude_unset=True),
        actor_user_id=principal.user_id,
    )
    return customer_out(session, customer)


@router.delete(
    "/customers/{customer_id}", status_code=204, response_class=Response, summary="Delete a customer"
)
def delete_customer(
    customer_id: int, principal: Allowed("customers.delete"), session: SessionDep
) -> Response:
    """Deletes the profile with its identities, consents, places and timeline. To keep aggregates, erase instead."""
    customer_service.delete_customer(session, org_id=principal.org_id, customer_id=customer_id)
    return Response(status_code=204)


# --- custom attributes and tags ----------------------------------------------------------------------


@router.get(
    "/customer-attributes",
    response_model=list[schemas.AttributeDefinitionOut],
    summary="List custom attribute definitions",
)
def list_attribute_definitions(principal: Allowed("customers.read"), session: SessionDep) -> list:
    return customer_service.list_attribute_definitions(session, org_id=principal.org_id)


@router.post(
    "/customer-attributes",
    response_model=schemas.AttributeDefinitionOut,
    status_code=201,
    summary="Define a custom attribute",
)
def create_attribute_definition(
    body: schemas.AttributeDefinitionCreate, principal: Allowed("settings.manage"), session: SessionDep
):
    return customer_service.create_attribute_definition(
        session,
        org_id=principal.org_id,
        key=body.key,
        label=body.label,
        type=body.type,
        description=body.description,
    )


@router.patch(
    "/customer-attributes/{definition_id}",
    response_model=schemas.AttributeDefinitionOut,
    summary="Rename or describe a custom attribute",
)
def update_attribute_definition(
    definition_id: int,
    body: schemas.AttributeDefinitionUpdate,
    principal: Allowed("settings.manage"),
    session: SessionDep,
):
    definition = customer_service.get_attribute_definition_or_raise(
        session, org_id=principal.org_id, definition_id=definition_id
    )
    return customer_service.update_attribute_definition(
        session, definition=definition, changes=body.model_dump(exclude_unset=True)
    )


@router.delete(
    "/customer-attributes/{definition_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a custom attribute (and its values)",
)
def delete_attribute_definition(
    definition_id: int, principal: Allowed("settings.manage"), session: SessionDep
) -> Response:
    definition = customer_service.get_attribute_definition_or_raise(
        session, org_id=principal.org_id, definition_id=definition_id
    )
    customer_service.delete_attribute_definition(session, definition=definition)
    return Response(status_code=204)


@router.get("/customer-tags", response_model=list[schemas.TagCount], summary="Tags in use, most used first")
def list_tags(principal: Allowed("customers.read"), session: SessionDep) -> list:
    return [
        {"tag": tag, "customers": count}
        for tag, count in customer_service.list_tag_counts(session, org_id=principal.org_id)
    ]


# --- merge and privacy -------------------------------------------------------------------------------


@router.post(
    "/customers/{survivor_id}/merge",
    response_model=schemas.MergeOut,
    summary="Merge a duplicate customer into this one",
)
def merge_customers(
    survivor_id: int, body: schemas.MergeRequest, principal: Allowed("customers.merge"), session: SessionDep
) -> dict:
    result = merge.do_merge_customers(
        session,
        org_id=principal.org_id,
        survivor_id=survivor_id,
        duplicate_id=body.duplicate_id,
        actor_user_id=principal.user_id,
    )
    return {
        "survivor": customer_out(session, result.survivor),
        "duplicate_id": result.duplicate_id,
        "moved": result.moved,
        "filled": result.filled,
    }


@router.get("/customers/{customer_id}/privacy-export", summary="Everything held about one customer (JSON)")
def privacy_export(
    customer_id: int, principal: Allowed("customers.privacy"), session: SessionDep
) -> JSONResponse:
    """Profile, identities, consent ledger, places, timeline and every other domain's records about the
    customer. Recorded in the audit log."""
    export = privacy.do_privacy_export(session, org_id=principal.org_id, customer_id=customer_id)
    return JSONResponse(
        export,
        headers={"Content-Disposition": f'attachment; filename="customer-{customer_id}-privacy-export.json"'},
    )


@router.post(
    "/customers/{customer_id}/erase",
    response_model=schemas.CustomerOut,
    summary="Erase a customer's personal data (keeps anonymous aggregates)",
)
def erase_customer(customer_id: int, principal: Allowed("customers.privacy"), session: SessionDep):
    customer = privacy.do_erase_customer(
        session, org_id=principal.org_id, customer_id=customer_id, actor_user_id=principal.user_id
    )
    return customer_out(session, customer)


# Identities, consents, places and the timeline (in their own module to keep this one readable).
router.include_router(detail_api.router)
