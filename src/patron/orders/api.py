"""HTTP API of the orders domain: the product catalogue, orders and their lines, a customer's orders with
totals, and the CSV import."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile

from patron.accounts.deps import Allowed
from patron.core.api import Page, PageDep, SessionDep
from patron.core.errors import Invalid
from patron.orders import importer, schemas
from patron.orders import service as orders_service
from patron.orders.models import Order

router = APIRouter(prefix="/api/v1", tags=["orders"])

ORDER_FIELDS = tuple(schemas.OrderOut.model_fields)


def _order_out(order: Order, lines=None) -> dict:
    data = {name: getattr(order, name) for name in ORDER_FIELDS}
    if lines is not None:
        data["lines"] = lines
    return data


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Invalid(f"{field}: give a time zone (e.g. 2024-05-01T00:00:00Z).", field=field)
    return value


# --- catalogue -------------------------------------------------------------------------------------


@router.get("/product-categories", response_model=list[schemas.CategoryOut], summary="List product categories")
def list_categories(principal: Allowed("orders.read"), session: SessionDep) -> list:
    """Every category, by name; the tree is in `parent_id`."""
    return orders_service.list_categories(session, org_id=principal.org_id)


@router.post(
    "/product-categories", response_model=schemas.CategoryOut, status_code=201, summary="Create a product category"
)
def create_category(body: schemas.CategoryCreate, principal: Allowed("catalogue.manage"), session: SessionDep):
    return orders_service.create_category(session, org_id=principal.org_id, name=body.name, parent_id=body.parent_id)


@router.get("/products", response_model=Page[schemas.ProductOut], summary="List products")
def list_products(
    principal: Allowed("orders.read"),
    session: SessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=120, description="Text in the name or SKU.")] = None,
    category_id: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Only this category.")] = None,
    active: Annotated[bool | None, Query(description="Only active (true) or retired (false) products.")] = None,
) -> dict:
    """The catalogue, by name."""
    items, total = orders_service.list_products(
        session,
        org_id=principal.org_id,
        filters=orders_service.ProductFilter(q=q, category_id=category_id, active=active),
        limit=page.limit,
        offset=page.offset,
    )
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


@router.post("/products", response_model=schemas.ProductOut, status_code=201, summary="Add a product")
def create_product(body: schemas.ProductCreate, principal: Allowed("catalogue.manage"), session: SessionDep):
    return orders_service.create_product(session, org_id=principal.org_id, **body.model_dump())


@router.get("/products/{product_id}", response_model=schemas.ProductOut, summary="Get a product")
def get_product(product_id: int, principal: Allowed("orders.read"), session: SessionDep):
    return orders_service.get_product_or_raise(session, org_id=principal.org_id, product_id=product_id)


@router.patch("/products/{product_id}", response_model=schemas.ProductOut, summary="Change a product")
def update_product(
    product_id: int, body: schemas.ProductUpdate, principal: Allowed("catalogue.manage"), session: SessionDep
):
    """Lines already ordered keep the SKU, name and price they were ordered with."""
    product = orders_service.get_product_or_raise(session, org_id=principal.org_id, product_id=product_id)
    return orders_service.update_product(session, product=product, changes=body.model_dump(exclude_unset=True))


@router.delete("/products/{product_id}", status_code=204, summary="Delete a product")
def delete_product(product_id: int, principal: Allowed("catalogue.manage"), session: SessionDep) -> Response:
    """Only a product no order refers to; one that was ordered answers 409: deactivate it instead
    (`PATCH {"active": false}`)."""
    product = orders_service.get_product_or_raise(session, org_id=principal.org_id, product_id=product_id)
    orders_service.delete_product(session, product=product)
    return Response(status_code=204)


# --- orders ----------------------------------------------------------------------------------------


@router.get("/orders", response_model=schemas.OrderPage, summary="List orders")
def list_orders(
    principal: Allowed("orders.read"),
    session: SessionDep,
    page: PageDep,
    customer_id: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="Only this customer's orders.")
    ] = None,
    status: Annotated[schemas.OrderStatus | None, Query(description="Only orders in this status.")] = None,
    channel: Annotated[schemas.OrderChannel | None, Query(description="Only orders from this channel.")] = None,
    from_: Annotated[
        datetime | None, Query(alias="from", description="Placed at or after this time (ISO 8601 with zone).")
    ] = None,
    to: Annotated[datetime | None, Query(description="Placed before this time (ISO 8601 with zone).")] = None,
) -> dict:
    """Orders, newest first."""
    filters = orders_service.OrderFilter(
        customer_id=customer_id,
        status=status,
        channel=channel,
        placed_from=_aware(from_, "from"),
        placed_to=_aware(to, "to"),
    )
    items, total = orders_service.list_orders(
        session, org_id=principal.org_id, filters=filters, limit=page.limit, offset=page.offset
    )
    return {"items": [_order_out(o) for o in items], "total": total, "limit": page.limit, "offset": page.offset}


@router.post("/orders", response_model=schemas.OrderDetail, status_code=201, summary="Place an order")
def create_order(body: schemas.OrderCreate, principal: Allowed("orders.write"), session: SessionDep):
    """Lines are priced at the product's price unless `unit_price` is given; subtotal, discount and total are
    computed here. The order goes on the customer's timeline (`order.placed`)."""
    order = orders_service.create_order(
        session,
        org_id=principal.org_id,
        customer_id=body.customer_id,
        channel=body.channel,
        lines=[orders_service.LineInput(**line.model_dump()) for line in body.lines],
        status=body.status,
        ordered_at=body.ordered_at,
        currency=body.currency,
        discount=body.discount,
        number=body.number,
        external_id=body.external_id,
        actor_user_id=principal.user_id,
        coupon_code=body.coupon_code,
        promotions=body.promotions,
    )
    return _order_out(order, orders_service.list_order_lines(session, order=order)) | {
        "adjustments": getattr(order, "adjustments", [])
    }


@router.post("/orders/import", response_model=schemas.OrderImportOut, summary="Import orders from CSV")
def import_orders(
    principal: Allowed("orders.import"),
    session: SessionDep,
    file: Annotated[UploadFile, File(description="UTF-8 CSV, one row per order line, with a header row.")],
    create_products: Annotated[
        bool, Form(description="Create a product for each unknown SKU (name and unit_price from its first row).")
    ] = False,
    dry_run: Annotated[bool, Form(description="Check every row and count; write nothing.")] = False,
):
    """All or nothing: one bad row and nothing is written (the error names the row and column). Rows are
    grouped into orders by `order_id`; an order_id imported before is skipped. See docs/orders.md."""
    report = importer.import_orders_csv(
        session,
        org_id=principal.org_id,
        stream=file.file.read(),
        create_products=create_products,
        dry_run=dry_run,
        actor_user_id=principal.user_id,
        source_name=file.filename or "",
    )
    return {**report.__dict__, "rows_per_second": report.rows_per_second}


@router.get("/orders/{order_id}", response_model=schemas.OrderDetail, summary="Get an order with its lines")
def get_order(order_id: int, principal: Allowed("orders.read"), session: SessionDep):
    order = orders_service.get_order_or_raise(session, org_id=principal.org_id, order_id=order_id)
    return _order_out(order, orders_service.list_order_lines(session, order=order))


@router.patch("/orders/{order_id}", response_model=schemas.OrderDetail, summary="Change an order's status")
def update_order(order_id: int, body: schemas.OrderUpdate, principal: Allowed("orders.write"), session: SessionDep):
    """Status moves follow the allowed transitions (cancelled and refunded are final); a move to cancelled or
    refunded goes on the customer's timeline."""
    order = orders_service.get_order_or_raise(session, org_id=principal.org_id, order_id=order_id)
    order = orders_service.update_order(
        session, order=order, changes=body.model_dump(exclude_unset=True), actor_user_id=principal.user_id
    )
    return _order_out(order, orders_service.list_order_lines(session, order=order))


@router.delete("/orders/{order_id}", status_code=204, summary="Delete an order")
def delete_order(order_id: int, principal: Allowed("orders.delete"), session: SessionDep) -> Response:
    """Removes an order entered by mistake, with its lines and timeline entries. To undo a real order,
    cancel or refund it instead."""
    order = orders_service.get_order_or_raise(session, org_id=principal.org_id, order_id=order_id)
    orders_service.delete_order(session, order=order)
    return Response(status_code=204)


@router.get(
    "/customers/{customer_id}/orders", response_model=schemas.CustomerOrders, summary="A customer's orders and totals"
)
def list_customer_orders(customer_id: int, principal: Allowed("orders.read"), session: SessionDep, page: PageDep):
    """The customer's orders, newest first, with their count, money spent and first and last order time."""
    summary = orders_service.customer_order_summary(session, org_id=principal.org_id, customer_id=customer_id)
    items, total = orders_service.list_orders(
        session,
        org_id=principal.org_id,
        filters=orders_service.OrderFilter(customer_id=customer_id),
        limit=page.limit,
        offset=page.offset,
    )
    return {
        "items": [_order_out(o) for o in items],
        "total": total,
        "limit": page.limit,
        "offset": page.offset,
        "count": summary.count,
        "spent": summary.spent,
        "currency": summary.currency,
        "spent_by_currency": summary.spent_by_currency,
        "first_order_at": summary.first_order_at,
        "last_order_at": summary.last_order_at,
    }
