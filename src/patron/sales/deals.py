"""Deals: create, change, move through the stages of their pipeline, and the pipeline board."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.db import utcnow
from patron.core.errors import Invalid, NotFound
from patron.sales.common import (
    CENT,
    check_customer,
    check_user,
    like_pattern,
    money_text,
    org_currency,
    record_deal_event,
    require_values,
    weighted,
)
from patron.sales.models import Deal, Lead, Pipeline, PipelineStage
from patron.sales.pipelines import (
    ensure_default_pipeline,
    first_open_stage,
    get_pipeline_or_raise,
    get_stage_or_raise,
    list_stages,
    place_deal,
)

# --- deals ---------------------------------------------------------------------------------------


def get_deal_or_raise(session: Session, *, org_id: int, deal_id: int, field: str = "deal_id") -> Deal:
    deal = session.scalar(select(Deal).where(Deal.org_id == org_id, Deal.id == deal_id))
    if deal is None:
        raise NotFound(f"No deal {deal_id}.", field=field)
    return deal


@dataclass(frozen=True)
class DealFilter:
    pipeline_id: int | None = None
    stage_id: int | None = None
    status: str | None = None
    owner_id: int | None = None
    customer_id: int | None = None
    q: str | None = None


def _deal_query(org_id: int, filters: DealFilter):
    query = select(Deal).where(Deal.org_id == org_id)
    for name in ("pipeline_id", "stage_id", "status", "owner_id", "customer_id"):
        value = getattr(filters, name)
        if value is not None:
            query = query.where(getattr(Deal, name) == value)
    if filters.q:
        query = query.where(Deal.title.ilike(like_pattern(filters.q.strip()), escape="\\"))
    return query


def list_deals(
    session: Session, *, org_id: int, filters: DealFilter | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Deal], int]:
    query = _deal_query(org_id, filters or DealFilter())
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(query.order_by(Deal.id.desc()).limit(limit).offset(offset))
    return list(items), total


def _placement(
    session: Session, org_id: int, pipeline_id: int | None, stage_id: int | None, prefix: str
) -> tuple[Pipeline, PipelineStage]:
    if stage_id is not None:
        stage = get_stage_or_raise(session, org_id=org_id, stage_id=stage_id, field=f"{prefix}stage_id")
        if pipeline_id is not None and stage.pipeline_id != pipeline_id:
            get_pipeline_or_raise(
                session, org_id=org_id, pipeline_id=pipeline_id, field=f"{prefix}pipeline_id"
            )
            raise Invalid(
                f"Stage {stage.id} is not a stage of pipeline {pipeline_id}.", field=f"{prefix}stage_id"
            )
        pipeline = get_pipeline_or_raise(session, org_id=org_id, pipeline_id=stage.pipeline_id)
        return pipeline, stage
    if pipeline_id is not None:
        pipeline = get_pipeline_or_raise(
            session, org_id=org_id, pipeline_id=pipeline_id, field=f"{prefix}pipeline_id"
        )
    else:
        pipeline = ensure_default_pipeline(session, org_id=org_id)
    return pipeline, first_open_stage(session, org_id, pipeline.id)


def _check_lead(session: Session, org_id: int, lead_id: int, field_name: str) -> None:
    if session.scalar(select(Lead.id).where(Lead.org_id == org_id, Lead.id == lead_id)) is None:
        raise NotFound(f"No lead {lead_id}.", field=field_name)


def create_deal(
    session: Session, *, org_id: int, data: dict, actor_user_id: int | None = None, field_prefix: str = ""
) -> Deal:
    """A new deal; without a stage it starts in the first open stage of its (or the default) pipeline."""
    data = dict(data)
    pipeline, stage = _placement(
        session, org_id, data.pop("pipeline_id", None), data.pop("stage_id", None), field_prefix
    )
    check_customer(session, org_id, data.get("customer_id"), f"{field_prefix}customer_id")
    if data.get("owner_id") is None:
        data["owner_id"] = actor_user_id
    else:
        check_user(session, org_id, data["owner_id"], f"{field_prefix}owner_id")
    if data.get("lead_id") is not None:
        _check_lead(session, org_id, data["lead_id"], f"{field_prefix}lead_id")
    if not data.get("currency"):
        data["currency"] = org_currency(session, org_id=org_id)
    deal = Deal(
        org_id=org_id,
        pipeline_id=pipeline.id,
        stage_id=stage.id,
        status=stage.kind,
        closed_at=utcnow() if stage.kind != "open" else None,
        **data,
    )
    session.add(deal)
    session.flush()
    record_deal_event(
        session,
        deal,
        "deal.created",
        f"Deal '{deal.title}' opened in {stage.name} ({money_text(deal)})",
        {"stage": stage.name, "value": str(deal.value), "currency": deal.currency, "status": deal.status},
        actor_user_id,
    )
    return deal


def update_deal(session: Session, *, org_id: int, deal_id: int, changes: dict) -> Deal:
    """Change a deal's details; its stage changes through :func:`do_move_deal`."""
    deal = get_deal_or_raise(session, org_id=org_id, deal_id=deal_id)
    require_values(changes, ("title", "value", "currency", "lost_reason"))
    if "customer_id" in changes:
        check_customer(session, org_id, changes["customer_id"])
    if "owner_id" in changes:
        check_user(session, org_id, changes["owner_id"], "owner_id")
    if changes.get("lost_reason") and deal.status != "lost":
        raise Invalid("Only a lost deal has a lost reason.", field="lost_reason")
    for key, value in changes.items():
        setattr(deal, key, value)
    session.flush()
    return deal


def delete_deal(session: Session, *, org_id: int, deal_id: int) -> None:
    deal = get_deal_or_raise(session, org_id=org_id, deal_id=deal_id)
    session.delete(deal)
    session.flush()


def do_move_deal(
    session: Session,
    *,
    org_id: int,
    deal_id: int,
    stage_id: int,
    lost_reason: str | None = None,
    actor_user_id: int | None = None,
) -> Deal:
    """Move a deal to another stage of its pipeline: a won/lost stage closes it (``closed_at``), an open stage
    reopens it. Records ``deal.stage_changed``, ``deal.won`` or ``deal.lost`` on the customer's timeline."""
    deal = get_deal_or_raise(session, org_id=org_id, deal_id=deal_id)
    new = get_stage_or_raise(session, org_id=org_id, stage_id=stage_id)
    if new.pipeline_id != deal.pipeline_id:
        raise Invalid(f"Stage {new.id} is not a stage of the deal's pipeline.", field="stage_id")
    if lost_reason and new.kind != "lost":
        raise Invalid("A lost reason is only given when moving to the lost stage.", field="lost_reason")
    if new.id == deal.stage_id:
        if new.kind == "lost" and lost_reason is not None:
            deal.lost_reason = lost_reason
            session.flush()
        return deal
    old = get_stage_or_raise(session, org_id=org_id, stage_id=deal.stage_id)
    place_deal(session, deal, old, new, lost_reason=lost_reason, actor_user_id=actor_user_id)
    session.flush()
    return deal


@dataclass
class CurrencyTotal:
    currency: str
    count: int = 0
    total_value: Decimal = Decimal("0.00")
    weighted_value: Decimal = Decimal("0.00")


@dataclass
class BoardStage:
    id: int
    name: str
    position: int
    probability: int
    kind: str
    count: int = 0
    total_value: Decimal = Decimal("0.00")
    weighted_value: Decimal = Decimal("0.00")
    other_currencies: list[CurrencyTotal] = field(default_factory=list)
    deals: list[Deal] = field(default_factory=list)


@dataclass
class BoardTotals:
    open_count: int = 0
    open_value: Decimal = Decimal("0.00")
    weighted_value: Decimal = Decimal("0.00")
    won_count: int = 0
    won_value: Decimal = Decimal("0.00")
    lost_count: int = 0
    lost_value: Decimal = Decimal("0.00")


@dataclass
class Board:
    pipeline_id: int
    pipeline_name: str
    currency: str
    stages: list[BoardStage]
    totals: BoardTotals


def pipeline_board(
    session: Session, *, org_id: int, pipeline_id: int, limit_per_stage: int = 50, owner_id: int | None = None
) -> Board:
    """The pipeline as a board: each stage with its deal count, value totals and first deals.

    Values are summed per currency; the headline totals are in the organisation's currency, other
    currencies are reported apart (never converted). Weighted value = total x probability / 100.
    """
    pipeline = get_pipeline_or_raise(session, org_id=org_id, pipeline_id=pipeline_id)
    currency = org_currency(session, org_id=org_id)
    stages = list_stages(session, org_id=org_id, pipeline_id=pipeline.id)
    board_stages = {
        s.id: BoardStage(id=s.id, name=s.name, position=s.position, probability=s.probability, kind=s.kind)
        for s in stages
    }
    sums = select(Deal.stage_id, Deal.currency, func.count(), func.sum(Deal.value)).where(
        Deal.org_id == org_id, Deal.pipeline_id == pipeline.id
    )
    if owner_id is not None:
        sums = sums.where(Deal.owner_id == owner_id)
    totals = BoardTotals()
    for stage_id, deal_currency, count, total in session.execute(
        sums.group_by(Deal.stage_id, Deal.currency).order_by(Deal.currency)
    ):
        stage = board_stages.get(stage_id)
        if stage is None:
            continue
        total = Decimal(total or 0).quantize(CENT)
        stage.count += count
        if deal_currency != currency:
            stage.other_currencies.append(
                CurrencyTotal(deal_currency, count, total, weighted(total, stage.probability))
            )
            continue
        stage.total_value += total
        if stage.kind == "open":
            totals.open_count += count
            totals.open_value += total
        elif stage.kind == "won":
            totals.won_count += count
            totals.won_value += total
        else:
            totals.lost_count += count
            totals.lost_value += total
    for stage in board_stages.values():
        stage.weighted_value = weighted(stage.total_value, stage.probability)
        if stage.kind == "open":
            totals.weighted_value += stage.weighted_value
        query = select(Deal).where(Deal.org_id == org_id, Deal.stage_id == stage.id)
        if owner_id is not None:
            query = query.where(Deal.owner_id == owner_id)
        stage.deals = list(
            session.scalars(
                query.order_by(Deal.expected_close.is_(None), Deal.expected_close, Deal.id).limit(
                    limit_per_stage
                )
            )
        )
    return Board(
        pipeline_id=pipeline.id,
        pipeline_name=pipeline.name,
        currency=currency,
        stages=[board_stages[s.id] for s in stages],
        totals=totals,
    )
