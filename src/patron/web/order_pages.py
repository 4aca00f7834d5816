"""Order pages: the list of orders with status and channel filters, and one order with its lines."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from patron.core.api import SessionDep
from patron.orders import service as orders_service
from patron.orders.models import ORDER_CHANNELS, ORDER_STATUSES, TRANSITIONS
from patron.orders.pricing import format_money
from patron.web.common import Pager, Permitted, render
from patron.web.lookups import customer_names

router = APIRouter()

PAGE = 50
STATUS_TONES = {"pending": "warn", "paid": "info", "shipped": "info", "delivered": "ok", "cancelled": "neutral",
                "refunded": "danger"}  # fmt: skip


def _choice(value: str | None, choices: tuple[str, ...]) -> str | None:
    return value if value in choices else None


@router.get("/orders")
def order_list(
    request: Request,
    viewer: Permitted("orders.read"),
    session: SessionDep,
    status: Annotated[str | None, Query()] = None,
    channel: Annotated[str | None, Query()] = None,
    customer_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    filters = orders_service.OrderFilter(
        status=_choice(status, ORDER_STATUSES), channel=_choice(channel, ORDER_CHANNELS), customer_id=customer_id
    )
    orders, total = orders_service.list_orders(
        session, org_id=viewer.org_id, filters=filters, limit=PAGE, offset=offset
    )
    return render(
        request,
        "orders/list.html",
        {
            "orders": orders,
            "pager": Pager.of(request, total=total, limit=PAGE, offset=offset),
            "customers": customer_names(session, org_id=viewer.org_id, ids={o.customer_id for o in orders}),
            "filters": filters,
            "statuses": ORDER_STATUSES,
            "channels": ORDER_CHANNELS,
            "tones": STATUS_TONES,
            "amount": format_money,
        },
    )


@router.get("/orders/{order_id}")
def order_detail(request: Request, order_id: int, viewer: Permitted("orders.read"), session: SessionDep
) -> Response:
    order = orders_service.get_order_or_raise(session, org_id=viewer.org_id, order_id=order_id)
    return render(
        request,
        "orders/detail.html",
        {
            "order": order,
            "lines": orders_service.list_order_lines(session, order=order),
            "customer_name": customer_names(session, org_id=viewer.org_id, ids=[order.customer_id]).get(
                order.customer_id, f"Customer {order.customer_id}"
            ),
            "tones": STATUS_TONES,
            "next_statuses": sorted(TRANSITIONS[order.status]),
            "amount": format_money,
        },
    )
