"""Loyalty routes: a customer's points balance and history, earning, adjusting and redeeming points, their
tier, rewards, coupons and gift certificates; the programme's own routes are in
:mod:`patron.loyalty.programme_api` and the pages in :mod:`patron.loyalty.pages`, mounted here."""

from __future__ import annotations

from fastapi import APIRouter, Response

from patron.accounts.deps import Allowed
from patron.core.api import PageDep, SessionDep
from patron.core.errors import PermissionDenied
from patron.customers import service as customers_service
from patron.loyalty import coupons, earning, gifts, pages, portal, programme, programme_api, rewards, schemas
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


# --- tiers, rewards, coupons, certificates of one customer -------------------------------------------


@router.get("/customers/{customer_id}/tier", response_model=schemas.TierStatusOut,
            summary="A customer's tier, progress to the next and tier history")  # fmt: skip
def get_tier(customer_id: int, principal: Allowed("loyalty.read"), session: SessionDep) -> dict:
    customers_service.get_customer_or_raise(session, org_id=principal.org_id, customer_id=customer_id)
    status = programme.tier_status(session, org_id=principal.org_id, customer_id=customer_id)
    history = programme.list_tier_changes(session, org_id=principal.org_id, customer_id=customer_id)
    return {"customer_id": customer_id, "tier": status.tier, "qualifying_points": status.qualifying_points,
            "next_tier": status.next_tier, "points_to_next": status.points_to_next,
            "progress_percent": status.progress_percent, "history": history}  # fmt: skip


@router.post("/customers/{customer_id}/rewards", response_model=schemas.RewardRedemptionOut, status_code=201,
             summary="Take a reward for points")  # fmt: skip
def redeem_reward(customer_id: int, body: schemas.RewardRedemptionIn, principal: Allowed("loyalty.write"),
                  session: SessionDep) -> object:  # fmt: skip
    """One unit of stock and the points go together: 409 `out_of_stock` or 409 on `points`, nothing written."""
    return rewards.do_redeem_reward(session, org_id=principal.org_id, reward_id=body.reward_id,
                                    customer_id=customer_id, created_by_id=principal.user_id)  # fmt: skip


@router.get("/customers/{customer_id}/rewards", response_model=list[schemas.RewardRedemptionOut],
            summary="Rewards a customer took")  # fmt: skip
def list_reward_redemptions(customer_id: int, principal: Allowed("loyalty.read"), session: SessionDep) -> list:
    customers_service.get_customer_or_raise(session, org_id=principal.org_id, customer_id=customer_id)
    return rewards.list_redemptions(session, org_id=principal.org_id, customer_id=customer_id)


@router.get("/customers/{customer_id}/coupons", response_model=list[schemas.CouponOut],
            summary="Coupon codes given to a customer")  # fmt: skip
def list_customer_coupons(customer_id: int, principal: Allowed("loyalty.read"), session: SessionDep) -> list:
    customers_service.get_customer_or_raise(session, org_id=principal.org_id, customer_id=customer_id)
    return coupons.list_coupons(session, org_id=principal.org_id, customer_id=customer_id, limit=500)[0]


@router.get("/customers/{customer_id}/gift-certificates", response_model=list[schemas.GiftCertificateOut],
            summary="Gift certificates given to a customer")  # fmt: skip
def list_customer_certificates(customer_id: int, principal: Allowed("loyalty.read"), session: SessionDep) -> list:
    customers_service.get_customer_or_raise(session, org_id=principal.org_id, customer_id=customer_id)
    return gifts.list_certificates(session, org_id=principal.org_id, customer_id=customer_id)


@router.post("/customers/{customer_id}/referrals", response_model=list[schemas.PointsEntryOut], status_code=201,
             summary="Give the referral rules' points for a friend brought in")  # fmt: skip
def award_referral(customer_id: int, body: schemas.ReferralIn, principal: Allowed("loyalty.write"),
                   session: SessionDep) -> list:  # fmt: skip
    """Once per referred customer: sending it again gives nothing more."""
    return earning.award_referral(session, org_id=principal.org_id, customer_id=customer_id,
                                  referred_customer_id=body.referred_customer_id)  # fmt: skip


@router.post("/customers/{customer_id}/loyalty-link", response_model=schemas.PortalLinkOut, status_code=201,
             summary="A personal link to the customer's loyalty page")  # fmt: skip
def create_portal_link(customer_id: int, principal: Allowed("loyalty.write"), session: SessionDep) -> dict:
    """The customer opens it without signing in; it works for 90 days. Only its hash is stored."""
    token, link = portal.create_link(session, org_id=principal.org_id, customer_id=customer_id)
    return {"url": f"/loyalty/me/{token}", "expires_at": link.expires_at}


router.include_router(programme_api.router)
#: what the app mounts: the API under /api/v1 and the customer-facing page
api_router, router = router, APIRouter()
router.include_router(api_router)
router.include_router(pages.router)
