"""Loyalty programme routes under ``/api/v1/loyalty``: settings, earn rules, tiers, rewards, coupon
campaigns, gift certificates and promotions. Mounted by :mod:`patron.loyalty.api`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from patron.accounts.deps import Allowed
from patron.core.api import PageDep, SessionDep
from patron.core.errors import Invalid
from patron.loyalty import coupons, gifts, promotions, rewards, schemas
from patron.loyalty import programme as programme_service
from patron.orders import service as orders_service

router = APIRouter(prefix="/loyalty", tags=["loyalty"])


def _set(body) -> dict:
    return body.model_dump(exclude_unset=True)


# --- programme ---------------------------------------------------------------------------------------


@router.get("/programme", response_model=schemas.ProgrammeOut, summary="The programme's settings")
def get_programme(principal: Allowed("loyalty.read"), session: SessionDep) -> object:
    return programme_service.get_programme(session, org_id=principal.org_id)


@router.patch("/programme", response_model=schemas.ProgrammeOut, summary="Change the programme's settings")
def update_programme(
    body: schemas.ProgrammeUpdate, principal: Allowed("loyalty.manage"), session: SessionDep
) -> object:
    """An expiry policy applies to points earned after it is set."""
    return programme_service.update_programme(session, org_id=principal.org_id, changes=_set(body))


# --- earn rules --------------------------------------------------------------------------------------


@router.get("/earn-rules", response_model=list[schemas.EarnRuleOut], summary="List earn rules")
def list_rules(principal: Allowed("loyalty.read"), session: SessionDep) -> list:
    return programme_service.list_rules(session, org_id=principal.org_id)


@router.post("/earn-rules", response_model=schemas.EarnRuleOut, status_code=201, summary="Add an earn rule")
def create_rule(
    body: schemas.EarnRuleIn, principal: Allowed("loyalty.manage"), session: SessionDep
) -> object:
    return programme_service.create_rule(session, org_id=principal.org_id, **body.model_dump())


@router.patch("/earn-rules/{rule_id}", response_model=schemas.EarnRuleOut, summary="Change an earn rule")
def update_rule(rule_id: int, body: schemas.EarnRuleUpdate, principal: Allowed("loyalty.manage"),
                session: SessionDep) -> object:  # fmt: skip
    rule = programme_service.get_rule_or_raise(session, org_id=principal.org_id, rule_id=rule_id)
    return programme_service.update_rule(session, rule=rule, changes=_set(body))


@router.delete("/earn-rules/{rule_id}", status_code=204, summary="Delete an earn rule")
def delete_rule(rule_id: int, principal: Allowed("loyalty.manage"), session: SessionDep) -> Response:
    rule = programme_service.get_rule_or_raise(session, org_id=principal.org_id, rule_id=rule_id)
    programme_service.delete_rule(session, rule=rule)
    return Response(status_code=204)


# --- tiers -------------------------------------------------------------------------------------------


@router.get("/tiers", response_model=list[schemas.TierOut], summary="List tiers, lowest first")
def list_tiers(principal: Allowed("loyalty.read"), session: SessionDep) -> list:
    return programme_service.list_tiers(session, org_id=principal.org_id)


@router.post("/tiers", response_model=schemas.TierOut, status_code=201, summary="Add a tier")
def create_tier(body: schemas.TierIn, principal: Allowed("loyalty.manage"), session: SessionDep) -> object:
    """Names and thresholds are unique (409). Customers move into it at their next earning or the daily job."""
    return programme_service.create_tier(session, org_id=principal.org_id, **body.model_dump())


@router.patch("/tiers/{tier_id}", response_model=schemas.TierOut, summary="Change a tier")
def update_tier(tier_id: int, body: schemas.TierUpdate, principal: Allowed("loyalty.manage"),
                session: SessionDep) -> object:  # fmt: skip
    tier = programme_service.get_tier_or_raise(session, org_id=principal.org_id, tier_id=tier_id)
    return programme_service.update_tier(session, tier=tier, changes=_set(body))


@router.delete("/tiers/{tier_id}", status_code=204, summary="Delete a tier")
def delete_tier(tier_id: int, principal: Allowed("loyalty.manage"), session: SessionDep) -> Response:
    tier = programme_service.get_tier_or_raise(session, org_id=principal.org_id, tier_id=tier_id)
    programme_service.delete_tier(session, tier=tier)
    return Response(status_code=204)


# --- rewards -----------------------------------------------------------------------------------------


@router.get("/rewards", response_model=list[schemas.RewardOut], summary="The rewards catalogue")
def list_rewards(principal: Allowed("loyalty.read"), session: SessionDep,
                 active: Annotated[bool | None, Query(description="Only active (or inactive) rewards.")] = None) -> list:  # fmt: skip
    return rewards.list_rewards(session, org_id=principal.org_id, active=active)


@router.post("/rewards", response_model=schemas.RewardOut, status_code=201, summary="Add a reward")
def create_reward(
    body: schemas.RewardIn, principal: Allowed("loyalty.manage"), session: SessionDep
) -> object:
    return rewards.create_reward(session, org_id=principal.org_id, **body.model_dump())


@router.patch(
    "/rewards/{reward_id}", response_model=schemas.RewardOut, summary="Change a reward or its stock"
)
def update_reward(reward_id: int, body: schemas.RewardUpdate, principal: Allowed("loyalty.manage"),
                  session: SessionDep) -> object:  # fmt: skip
    reward = rewards.get_reward_or_raise(session, org_id=principal.org_id, reward_id=reward_id)
    return rewards.update_reward(session, reward=reward, changes=_set(body))


# --- coupons -----------------------------------------------------------------------------------------


def _campaign_out(session, campaign) -> dict:
    counts = coupons.campaign_counts(session, org_id=campaign.org_id, campaign_id=campaign.id)
    fields = schemas.CouponCampaignOut.model_fields
    return {name: getattr(campaign, name) for name in fields if hasattr(campaign, name)} | {
        "codes": counts.codes, "redeemed": counts.redeemed}  # fmt: skip


@router.get(
    "/coupon-campaigns", response_model=list[schemas.CouponCampaignOut], summary="List coupon campaigns"
)
def list_campaigns(principal: Allowed("loyalty.read"), session: SessionDep) -> list:
    return [_campaign_out(session, c) for c in coupons.list_campaigns(session, org_id=principal.org_id)]


@router.post("/coupon-campaigns", response_model=schemas.CouponCampaignOut, status_code=201,
             summary="Create a coupon campaign")  # fmt: skip
def create_campaign(
    body: schemas.CouponCampaignIn, principal: Allowed("loyalty.manage"), session: SessionDep
) -> object:
    values = body.model_dump()
    values["currency"] = values["currency"] or orders_service.org_currency(session, org_id=principal.org_id)
    return _campaign_out(session, coupons.create_campaign(session, org_id=principal.org_id, **values))


@router.patch("/coupon-campaigns/{campaign_id}", response_model=schemas.CouponCampaignOut,
              summary="End or resume a coupon campaign")  # fmt: skip
def update_campaign(campaign_id: int, body: schemas.CouponCampaignUpdate, principal: Allowed("loyalty.manage"),
                    session: SessionDep) -> object:  # fmt: skip
    """An ended campaign's unused codes answer 409 `coupon_inactive`; resuming makes them usable again."""
    campaign = coupons.get_campaign_or_raise(session, org_id=principal.org_id, campaign_id=campaign_id)
    return _campaign_out(session, coupons.set_campaign_active(session, campaign=campaign, active=body.active))


@router.post("/coupon-campaigns/{campaign_id}/codes", response_model=schemas.CouponCodesOut, status_code=201,
             summary="Generate unique single-use codes")  # fmt: skip
def generate_codes(campaign_id: int, body: schemas.CouponGenerateIn, principal: Allowed("loyalty.manage"),
                   session: SessionDep) -> dict:  # fmt: skip
    """Either `count` codes anyone may use, or one code per customer in `customer_ids`."""
    campaign = coupons.get_campaign_or_raise(session, org_id=principal.org_id, campaign_id=campaign_id)
    if (body.count is None) == (body.customer_ids is None):
        raise Invalid("count: give either count or customer_ids.", field="count")
    codes = coupons.do_generate_codes(session, campaign=campaign, count=body.count or 0,
                                      customer_ids=body.customer_ids)  # fmt: skip
    return {"campaign_id": campaign.id, "codes": codes}


@router.get(
    "/coupon-campaigns/{campaign_id}/codes", response_model=schemas.CouponPage, summary="A campaign's codes"
)
def list_codes(
    campaign_id: int, principal: Allowed("loyalty.read"), session: SessionDep, page: PageDep
) -> dict:
    coupons.get_campaign_or_raise(session, org_id=principal.org_id, campaign_id=campaign_id)
    items, total = coupons.list_coupons(session, org_id=principal.org_id, campaign_id=campaign_id,
                                        limit=page.limit, offset=page.offset)  # fmt: skip
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


@router.post(
    "/coupons/redeem", response_model=schemas.CouponUseOut, status_code=201, summary="Use a coupon code"
)
def redeem_coupon(
    body: schemas.CouponRedeemIn, principal: Allowed("loyalty.write"), session: SessionDep
) -> object:
    """For a sale made elsewhere (a till): the code is used up and the discount returned. Orders placed
    through the API take `coupon_code` instead. 409 when the code was used or the customer's limit reached."""
    currency = body.currency or orders_service.org_currency(session, org_id=principal.org_id)
    return coupons.do_redeem_coupon(session, org_id=principal.org_id, code=body.code, customer_id=body.customer_id,
                                    order_value=body.order_value, currency=currency)  # fmt: skip


# --- gift certificates -------------------------------------------------------------------------------


@router.get(
    "/gift-certificates", response_model=list[schemas.GiftCertificateOut], summary="List gift certificates"
)
def list_certificates(principal: Allowed("loyalty.read"), session: SessionDep) -> list:
    return gifts.list_certificates(session, org_id=principal.org_id)


@router.post("/gift-certificates", response_model=schemas.GiftCertificateOut, status_code=201,
             summary="Issue a gift certificate")  # fmt: skip
def issue_certificate(
    body: schemas.GiftIssueIn, principal: Allowed("loyalty.manage"), session: SessionDep
) -> object:
    currency = body.currency or orders_service.org_currency(session, org_id=principal.org_id)
    return gifts.do_issue_certificate(session, org_id=principal.org_id, amount=body.amount, currency=currency,
                                      expires_at=body.expires_at, customer_id=body.customer_id)  # fmt: skip


@router.post("/gift-certificates/balance", response_model=schemas.GiftCertificateOut,
             summary="Look a certificate up by its code")  # fmt: skip
def certificate_balance(
    body: schemas.GiftCodeIn, principal: Allowed("loyalty.read"), session: SessionDep
) -> object:
    """The code goes in the body, not the address, so it stays out of logs."""
    return gifts.get_certificate_by_code(session, org_id=principal.org_id, code=body.code)


@router.post("/gift-certificates/spend", response_model=schemas.GiftEntryOut, status_code=201,
             summary="Spend part of a certificate")  # fmt: skip
def spend_certificate(
    body: schemas.GiftSpendIn, principal: Allowed("loyalty.write"), session: SessionDep
) -> object:
    """409 when the balance is smaller than the amount or the certificate expired; nothing is taken then."""
    return gifts.do_spend_certificate(session, org_id=principal.org_id, code=body.code, amount=body.amount,
                                      reference=body.reference)  # fmt: skip


@router.get("/gift-certificates/{certificate_id}/entries", response_model=list[schemas.GiftEntryOut],
            summary="A certificate's statement")  # fmt: skip
def certificate_entries(certificate_id: int, principal: Allowed("loyalty.read"), session: SessionDep) -> list:
    certificate = gifts.get_certificate_or_raise(
        session, org_id=principal.org_id, certificate_id=certificate_id
    )
    return gifts.list_entries(session, certificate=certificate)


# --- promotions --------------------------------------------------------------------------------------


@router.get("/promotions", response_model=list[schemas.PromotionOut], summary="List promotions")
def list_promotions(principal: Allowed("loyalty.read"), session: SessionDep) -> list:
    return promotions.list_promotions(session, org_id=principal.org_id)


@router.post("/promotions", response_model=schemas.PromotionOut, status_code=201, summary="Add a promotion")
def create_promotion(
    body: schemas.PromotionIn, principal: Allowed("loyalty.manage"), session: SessionDep
) -> object:
    """Applied automatically to orders placed while it runs; see docs/loyalty.md for the stacking rule."""
    return promotions.create_promotion(session, org_id=principal.org_id, **body.model_dump())


@router.patch("/promotions/{promotion_id}", response_model=schemas.PromotionOut, summary="Change a promotion")
def update_promotion(promotion_id: int, body: schemas.PromotionUpdate, principal: Allowed("loyalty.manage"),
                     session: SessionDep) -> object:  # fmt: skip
    promotion = promotions.get_promotion_or_raise(session, org_id=principal.org_id, promotion_id=promotion_id)
    return promotions.update_promotion(session, promotion=promotion, changes=_set(body))


@router.delete("/promotions/{promotion_id}", status_code=204, summary="Delete a promotion")
def delete_promotion(
    promotion_id: int, principal: Allowed("loyalty.manage"), session: SessionDep
) -> Response:
    promotion = promotions.get_promotion_or_raise(session, org_id=principal.org_id, promotion_id=promotion_id)
    promotions.delete_promotion(session, promotion=promotion)
    return Response(status_code=204)
