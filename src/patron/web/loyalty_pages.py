"""The loyalty programme's page: settings, tiers, earn rules, rewards, coupon campaigns, promotions and gift
certificates, each with its form; and the loyalty panel of a customer's 360 page."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from patron.core.api import SessionDep
from patron.core.errors import NotFound
from patron.loyalty import coupons, gifts, portal, promotions, rewards
from patron.loyalty import programme as programme_service
from patron.loyalty.models import EARN_RULE_KINDS, PROMOTION_KINDS, TIER_BASES
from patron.orders import service as orders_service
from patron.orders.pricing import format_money
from patron.web.common import CsrfForm, FormInput, Permitted, Viewer, attempt, redirect, render

router = APIRouter()

RULE_LABELS = {"purchase_bonus": "Bonus on large orders", "survey_answered": "Survey answered", "app_streak": "Days in a row in the app",
               "referral": "Friend referred"}  # fmt: skip
PROMOTION_LABELS = {"percent": "Percent off", "amount": "Amount off each unit", "three_for_two": "3 for 2",
                    "gift": "Gift with purchase"}  # fmt: skip


def customer_panel(session: Session, *, org_id: int, customer_id: int) -> portal.LoyaltySummary:
    """What the loyalty panel of the customer 360 page shows."""
    return portal.summary(session, org_id=org_id, customer_id=customer_id)


def _page(request: Request, session: Session, viewer: Viewer, *, form_name: str | None = None,
          form: FormInput | None = None, new_codes: list[str] | None = None, status_code: int = 200) -> Response:  # fmt: skip
    org_id = viewer.org_id
    campaigns = coupons.list_campaigns(session, org_id=org_id)
    products = orders_service.list_products(session, org_id=org_id, limit=500)[0]
    return render(request, "loyalty/programme.html", {
        "programme": programme_service.get_programme(session, org_id=org_id),
        "tiers": programme_service.list_tiers(session, org_id=org_id),
        "rules": programme_service.list_rules(session, org_id=org_id),
        "rewards": rewards.list_rewards(session, org_id=org_id),
        "campaigns": [(c, coupons.campaign_counts(session, org_id=org_id, campaign_id=c.id)) for c in campaigns],
        "promotions": promotions.list_promotions(session, org_id=org_id),
        "certificates": gifts.list_certificates(session, org_id=org_id, limit=20),
        "products": {p.id: p for p in products},
        "product_options": [(p.id, f"{p.name} ({p.sku})") for p in products],
        "category_options": [(c.id, c.name) for c in orders_service.list_categories(session, org_id=org_id)],
        "currency": orders_service.org_currency(session, org_id=org_id), "amount": format_money,
        "rule_kinds": [(k, RULE_LABELS[k]) for k in EARN_RULE_KINDS], "rule_labels": RULE_LABELS,
        "promotion_kinds": [(k, PROMOTION_LABELS[k]) for k in PROMOTION_KINDS], "promotion_labels": PROMOTION_LABELS,
        "tier_bases": [(b, {"rolling_12m": "Points earned in the last 12 months", "lifetime": "All points ever earned"}[b])
                       for b in TIER_BASES],
        "form_name": form_name, "errors": form.errors if form else {}, "values": form.values if form else {},
        "new_codes": new_codes or [], "can_manage": viewer.can("loyalty.manage"),
    }, status_code=status_code)  # fmt: skip


@router.get("/loyalty")
def programme_page(request: Request, viewer: Permitted("loyalty.read"), session: SessionDep) -> Response:
    return _page(request, session, viewer)


def _submit(request: Request, session: Session, viewer: Viewer, form: FormInput, form_name: str,
            read: Callable[[FormInput], dict[str, Any]], action: Callable[[dict[str, Any]], Any], done: str) -> Response:  # fmt: skip
    """Read the form, run the service call, and go back to the page; or show the page again with the errors
    next to the fields of the form that was sent (422)."""
    values = read(form)
    if form.ok and attempt(session, form, lambda: action(values)) is not None and form.ok:
        return redirect(request, f"/loyalty#{form_name}", flash=done)
    return _page(request, session, viewer, form_name=form_name, form=form, status_code=422)


@router.post("/loyalty/settings")
def save_settings(
    request: Request, viewer: Permitted("loyalty.manage"), form: CsrfForm, session: SessionDep
) -> Response:
    def read(f: FormInput) -> dict:
        return {"enabled": f.flag("enabled"),
                "points_per_unit": f.decimal("points_per_unit", label="Points per unit", minimum=Decimal(0),
                                             maximum=Decimal(1000), required=True),
                "expiry_months": f.integer("expiry_months", label="Expiry", minimum=1, maximum=120),
                "tier_basis": f.choice("tier_basis", TIER_BASES, label="Tiers count", required=True)}  # fmt: skip

    return _submit(request, session, viewer, form, "settings", read,
                   lambda v: programme_service.update_programme(session, org_id=viewer.org_id, changes=v),
                   "Programme settings saved.")  # fmt: skip


@router.post("/loyalty/tiers")
def add_tier(
    request: Request, viewer: Permitted("loyalty.manage"), form: CsrfForm, session: SessionDep
) -> Response:
    def read(f: FormInput) -> dict:
        return {"name": f.text("name", label="Name", max_length=60, required=True),
                "threshold": f.integer("threshold", label="Threshold", minimum=1, maximum=100_000_000, required=True),
                "multiplier": f.decimal("multiplier", label="Multiplier", minimum=Decimal(1), maximum=Decimal(10))
                or Decimal("1"),
                "benefits": f.text("benefits", label="Benefits", max_length=2000)}  # fmt: skip

    return _submit(request, session, viewer, form, "tiers", read,
                   lambda v: programme_service.create_tier(session, org_id=viewer.org_id, **v), "Tier added.")  # fmt: skip


@router.post("/loyalty/rules")
def add_rule(
    request: Request, viewer: Permitted("loyalty.manage"), form: CsrfForm, session: SessionDep
) -> Response:
    def read(f: FormInput) -> dict:
        return {"kind": f.choice("kind", EARN_RULE_KINDS, label="Kind", required=True),
                "name": f.text("name", label="Name", max_length=120, required=True),
                "points": f.integer("points", label="Points", minimum=1, maximum=1_000_000, required=True),
                "streak_days": f.integer("streak_days", label="Days in a row", minimum=2, maximum=365),
                "min_amount": f.decimal("min_amount", label="Order amount", minimum=Decimal(0))}  # fmt: skip

    return _submit(request, session, viewer, form, "rules", read,
                   lambda v: programme_service.create_rule(session, org_id=viewer.org_id, **v), "Earn rule added.")  # fmt: skip


@router.post("/loyalty/rewards")
def add_reward(
    request: Request, viewer: Permitted("loyalty.manage"), form: CsrfForm, session: SessionDep
) -> Response:
    def read(f: FormInput) -> dict:
        return {"name": f.text("name", label="Name", max_length=120, required=True),
                "cost_points": f.integer("cost_points", label="Cost", minimum=1, maximum=10_000_000, required=True),
                "stock": f.integer("stock", label="Stock", minimum=0, maximum=10_000_000),
                "description": f.text("description", label="Description", max_length=2000)}  # fmt: skip

    return _submit(request, session, viewer, form, "rewards", read,
                   lambda v: rewards.create_reward(session, org_id=viewer.org_id, **v), "Reward added.")  # fmt: skip


@router.post("/loyalty/campaigns")
def add_campaign(
    request: Request, viewer: Permitted("loyalty.manage"), form: CsrfForm, session: SessionDep
) -> Response:
    def read(f: FormInput) -> dict:
        return {"name": f.text("name", label="Name", max_length=120, required=True),
                "kind": f.choice("kind", coupons.COUPON_KINDS, label="Kind", required=True),
                "value": f.decimal("value", label="Value", minimum=Decimal(0), required=True),
                "min_order_value": f.decimal("min_order_value", label="Minimum order", minimum=Decimal(0))
                or Decimal(0),
                "expires_at": f.moment("expires_at", label="Expires"),
                "per_customer_limit": f.integer("per_customer_limit", label="Uses per customer", minimum=1,
                                                maximum=1000) or 1,
                "currency": orders_service.org_currency(session, org_id=viewer.org_id)}  # fmt: skip

    return _submit(request, session, viewer, form, "coupons", read,
                   lambda v: coupons.create_campaign(session, org_id=viewer.org_id, **v),
                   "Coupon campaign created: generate its codes below.")  # fmt: skip


@router.post("/loyalty/campaigns/{campaign_id}/codes")
def generate_codes(campaign_id: int, request: Request, viewer: Permitted("loyalty.manage"), form: CsrfForm,
                   session: SessionDep) -> Response:  # fmt: skip
    campaign = coupons.get_campaign_or_raise(session, org_id=viewer.org_id, campaign_id=campaign_id)
    count = form.integer(
        "count", label="Number of codes", minimum=1, maximum=coupons.MAX_BATCH, required=True
    )
    codes = None
    if form.ok:
        codes = attempt(
            session, form, lambda: coupons.do_generate_codes(session, campaign=campaign, count=count or 0)
        )
    if not codes:
        return _page(request, session, viewer, form_name="coupons", form=form, status_code=422)
    return _page(request, session, viewer, new_codes=codes)


@router.post("/loyalty/promotions")
def add_promotion(
    request: Request, viewer: Permitted("loyalty.manage"), form: CsrfForm, session: SessionDep
) -> Response:
    def ids(name: str) -> list[int]:
        found = []
        for raw in form.many(name, label=name, max_items=500, max_length=12):
            if raw.isdigit():
                found.append(int(raw))
            else:
                form.fail(name, "Choose from the list.")
        return found

    def read(f: FormInput) -> dict:
        return {"name": f.text("name", label="Name", max_length=120, required=True),
                "kind": f.choice("kind", PROMOTION_KINDS, label="Kind", required=True),
                "value": f.decimal("value", label="Value", minimum=Decimal(0)) or Decimal(0),
                "product_ids": ids("product_ids"), "category_ids": ids("category_ids"),
                "gift_product_id": f.integer("gift_product_id", label="Gift", minimum=1),
                "min_order_value": f.decimal("min_order_value", label="Minimum", minimum=Decimal(0)) or Decimal(0),
                "starts_at": f.moment("starts_at", label="Starts"), "ends_at": f.moment("ends_at", label="Ends"),
                "stackable": f.flag("stackable")}  # fmt: skip

    return _submit(request, session, viewer, form, "promotions", read,
                   lambda v: promotions.create_promotion(session, org_id=viewer.org_id, **v), "Promotion added.")  # fmt: skip


@router.post("/loyalty/gifts")
def issue_gift(
    request: Request, viewer: Permitted("loyalty.manage"), form: CsrfForm, session: SessionDep
) -> Response:
    def read(f: FormInput) -> dict:
        return {"amount": f.decimal("amount", label="Amount", minimum=Decimal("0.01"), required=True),
                "expires_at": f.moment("expires_at", label="Expires"),
                "currency": orders_service.org_currency(session, org_id=viewer.org_id)}  # fmt: skip

    return _submit(request, session, viewer, form, "gifts", read,
                   lambda v: gifts.do_issue_certificate(session, org_id=viewer.org_id, **v),
                   "Gift certificate issued.")  # fmt: skip


#: what can be switched on and off from the page: (read one, change it)
SWITCHES: dict[str, tuple[Callable, Callable]] = {
    "rules": (lambda s, org, i: programme_service.get_rule_or_raise(s, org_id=org, rule_id=i),
              lambda s, item, on: programme_service.update_rule(s, rule=item, changes={"active": on})),
    "rewards": (lambda s, org, i: rewards.get_reward_or_raise(s, org_id=org, reward_id=i),
                lambda s, item, on: rewards.update_reward(s, reward=item, changes={"active": on})),
    "campaigns": (lambda s, org, i: coupons.get_campaign_or_raise(s, org_id=org, campaign_id=i),
                  lambda s, item, on: coupons.set_campaign_active(s, campaign=item, active=on)),
    "promotions": (lambda s, org, i: promotions.get_promotion_or_raise(s, org_id=org, promotion_id=i),
                   lambda s, item, on: promotions.update_promotion(s, promotion=item, changes={"active": on})),
}  # fmt: skip
ANCHORS = {"rules": "rules", "rewards": "rewards", "campaigns": "coupons", "promotions": "promotions"}


@router.post("/loyalty/{what}/{item_id}/active")
def switch(what: str, item_id: int, request: Request, viewer: Permitted("loyalty.manage"), form: CsrfForm,
           session: SessionDep) -> Response:  # fmt: skip
    """Switch an earn rule, a reward, a coupon campaign or a promotion on or off."""
    if what not in SWITCHES:
        raise NotFound("There is nothing to switch here.")
    read, change = SWITCHES[what]
    item = read(session, viewer.org_id, item_id)
    on = form.flag("active")
    change(session, item, on)
    return redirect(
        request, f"/loyalty#{ANCHORS[what]}", flash=f"{item.name} switched {'on' if on else 'off'}."
    )
