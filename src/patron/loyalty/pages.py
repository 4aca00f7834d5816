"""The customer-facing loyalty page, no sign-in: the personal link's token is the credential. It shows
the customer's points, tier and progress, points about to expire, their coupons and gift certificates,
and the rewards on offer; the contests section is filled in by the contests domain when it is there."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from patron.core.api import SessionDep
from patron.customers import service as customers_service
from patron.loyalty import portal
from patron.orders import service as orders_service
from patron.orders.pricing import format_money

router = APIRouter(include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@router.get("/loyalty/me/{token}")
def customer_page(token: str, request: Request, session: SessionDep) -> Response:
    from patron.web.common import render

    link = portal.resolve_link(session, token=token)
    customer = customers_service.get_customer_or_raise(session, org_id=link.org_id, customer_id=link.customer_id,
                                                       field="token")  # fmt: skip
    context = {
        "first_name": customer.first_name or "",
        "customer_id": customer.id,
        "org_id": link.org_id,
        "token": token,
        "loyalty": portal.summary(session, org_id=link.org_id, customer_id=customer.id, entries=20),
        "currency": orders_service.org_currency(session, org_id=link.org_id),
        "amount": format_money,
        "contests_portal": _contests_section(request, session, org_id=link.org_id, customer_id=customer.id),
    }
    response = render(request, "loyalty/portal.html", context)
    response.headers.update(NO_STORE)
    return response


def _contests_section(request: Request, session, *, org_id: int, customer_id: int):
    """What the contests domain shows on the page (its referral code, contests, games), or None when that
    capability is not installed. Imported by path, so loyalty does not depend on contests."""
    try:
        from patron.contests.portal import portal_context
    except ImportError:
        return None
    return portal_context(session, org_id=org_id, customer_id=customer_id, store=request.app.state.events.store)
