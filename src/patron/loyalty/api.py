"""Loyalty routes: a customer's points balance and history, earning, adjusting and redeeming points."""

from __future__ import annotations

from fastapi import APIRouter, Response

from patron.accounts.deps import Allowed
from patron.core.api import PageDep, SessionDep
from patron.core.errors import PermissionDenied
from patron.customers import service as customers_service
from patron.loyalty import schemas
from patron.loyalty import service as loyalty_service

router = APIRouter(prefix="/api/v1", tags=["loyalty"])


@router.get("/customers/{customer_id}/points", response_model=schemas.PointsAccount,
            summary="A customer's points balance and history")  # fmt: skip
def get_points(customer_id: int, principal: Allowed("loyalty.read"), session: SessionDep, page: PageDep) -> dict:
    customers_service.get_customer_or_raise(session, org_id=principal.org_id, customer_id=customer_id)
    balance = loyalty_service.get_balance(session, org_id=principal.org_id, customer_id=customer_id)
    items, total = loyalty_service.list_entries(session, org_id=principal.org_id, customer_id=customer_id,
                                                limit=page.limit, offset=page.offset)  # fmt: skip
    return {"customer_id": customer_id, "balance": balance.balance if balance else 0,
            "lifetime_earned": balance.lifetime_earned if balance else 0, "items": items, "total": total,
            "limit": page.limit, "offset": page.offset}  # fmt: skip


@router.post("/customers/{customer_id}/points", response_model=schemas.PointsEntryOut, status_code=201,
             summary="Add points (earn) or correct a balance (adjust)")  # fmt: skip
def add_points(customer_id: int, body: schemas.PointsChange, principal: Allowed("loyalty.write"),
               session: SessionDep, response: Response) -> object:  # fmt: skip
    """Earned points must be positive. An adjustment may take points off, but never below zero (409), and
    needs the `loyalty.adjust` permission. A repeated `idempotency_key` answers 200 with the first entry."""
    if body.kind == "adjust" and not principal.can("loyalty.adjust"):
        raise PermissionDenied(f"Your role ({principal.role}) may not adjust points balances.")
    entry, created = loyalty_service.change_points(session, org_id=principal.org_id, customer_id=customer_id,
                                                   created_by_id=principal.user_id, **body.model_dump())  # fmt: skip
    if not created:
        response.status_code = 200
    return entry


@router.post("/customers/{customer_id}/points/redeem", response_model=schemas.PointsEntryOut, status_code=201,
             summary="Spend points")  # fmt: skip
def redeem_points(customer_id: int, body: schemas.PointsRedemption, principal: Allowed("loyalty.write"),
                  session: SessionDep, response: Response) -> object:  # fmt: skip
    """Takes the points off the balance, or answers 409 and changes nothing when the balance is smaller.
    Two redemptions racing for the last points never both succeed."""
    entry, created = loyalty_service.change_points(session, org_id=principal.org_id, customer_id=customer_id,
                                                   kind="redeem", created_by_id=principal.user_id,
                                                   **body.model_dump())  # fmt: skip
    if not created:
        response.status_code = 200
    return entry
