"""Sales: pipelines and their stages, leads, deals and tasks. The only module that writes the sales tables.

Every function takes the caller's ``org_id`` and filters on it; an id of another organisation
is answered exactly like an id that does not exist (:class:`NotFound`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from patron.accounts import service as accounts_service
from patron.core.audit import jsonable
from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid, NotFound
from patron.customers import service as customers_service
from patron.sales.models import Deal, Lead, Pipeline, PipelineStage, Task

#: the stages of a new organisation's pipeline: (name, probability in percent, kind)
DEFAULT_STAGES: tuple[tuple[str, int, str], ...] = (
    ("Prospecting", 10, "open"),
    ("Qualification", 25, "open"),
    ("Proposal", 50, "open"),
    ("Negotiation", 75, "open"),
    ("Won", 100, "won"),
    ("Lost", 0, "lost"),
)
DEFAULT_PIPELINE_NAME = "Sales"
CENT = Decimal("0.01")
REMINDER_BATCH = 500


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def weighted(value: Decimal, probability: int) -> Decimal:
    """``value x probability / 100`` rounded half-up to cents: the forecast a stage contributes."""
    return (Decimal(value) * probability / Decimal(100)).quantize(CENT, rounding=ROUND_HALF_UP)


def org_currency(session: Session, *, org_id: int) -> str:
    """The organisation's currency: the default of new deals and the unit of board and activity totals."""
    org = accounts_service.get_organisation(session, org_id=org_id)
    return org.currency if org is not None else "EUR"


def _check_user(session: Session, org_id: int, user_id: int | None, field_name: str) -> None:
    if user_id is not None:
        accounts_service.get_user_or_raise(session, org_id=org_id, user_id=user_id, field=field_name)


def _check_customer(
    session: Session, org_id: int, customer_id: int | None, field_name: str = "customer_id"
) -> None:
    if customer_id is not None:
        customers_service.get_writable_customer_or_raise(
            session, org_id=org_id, customer_id=customer_id, field=field_name
        )


def _require_values(changes: dict, names: tuple[str, ...]) -> None:
    for name in names:
        if name in changes and changes[name] is None:
            raise Invalid(f"{name} cannot be empty.", field=name)


# --- pipelines -----------------------------------------------------------------------------------


def _check_stage_set(stages: list[tuple[str, int, str]], field_name: str = "stages") -> None:
    kinds = [kind for _name, _probability, kind in stages]
    if kinds.count("won") != 1 or kinds.count("lost") != 1:
        raise Invalid("A pipeline needs exactly one won and one lost stage.", field=field_name)
    if "open" not in kinds:
        raise Invalid("A pipeline needs at least one open stage.", field=field_name)
    names = [name.casefold() for name, _probability, _kind in stages]
    if len(set(names)) != len(names):
        raise Invalid("Stage names must differ within a pipeline.", field=field_name)
    for name, probability, kind in stages:
        _check_probability(kind, probability, field_name, name)


def _check_probability(kind: str, probability: int, field_name: str, name: str = "") -> None:
    expected = {"won": 100, "lost": 0}.get(kind)
    if expected is not None and probability != expected:
        label = f" '{name}'" if name else ""
        raise Invalid(f"The {kind} stage{label} must have probability {expected}.", field=field_name)


def _add_stages(session: Session, pipeline: Pipeline, stages: list[tuple[str, int, str]]) -> None:
    for position, (name, probability, kind) in enumerate(stages, start=1):
        session.add(
            PipelineStage(
                org_id=pipeline.org_id,
                pipeline_id=pipeline.id,
                name=name,
                position=position,
                probability=probability,
                kind=kind,
            )
        )
    session.flush()


def get_default_pipeline(session: Session, *, org_id: int) -> Pipeline | None:
    return session.scalar(
        select(Pipeline)
        .where(Pipeline.org_id == org_id, Pipeline.is_default.is_(True))
        .order_by(Pipeline.id)
        .limit(1)
    )


def ensure_default_pipeline(session: Session, *, org_id: int) -> Pipeline:
    """The organisation's default pipeline, created with the standard stages the first time it is needed."""
    pipeline = get_default_pipeline(session, org_id=org_id)
    if pipeline is None:
        pipeline = Pipeline(org_id=org_id, name=DEFAULT_PIPELINE_NAME, is_default=True)
        session.add(pipeline)
        session.flush()
        _add_stages(session, pipeline, list(DEFAULT_STAGES))
    return pipeline


def list_pipelines(session: Session, *, org_id: int) -> list[tuple[Pipeline, list[PipelineStage]]]:
    """Every pipeline of the organisation (the default first) with its stages in board order."""
    ensure_default_pipeline(session, org_id=org_id)
    pipelines = list(
        session.scalars(
            select(Pipeline)
            .where(Pipeline.org_id == org_id)
            .order_by(Pipeline.is_default.desc(), Pipeline.name, Pipeline.id)
        )
    )
    stages: dict[int, list[PipelineStage]] = {p.id: [] for p in pipelines}
    for stage in session.scalars(
        select(PipelineStage)
        .where(PipelineStage.org_id == org_id)
        .order_by(PipelineStage.position, PipelineStage.id)
    ):
        stages.setdefault(stage.pipeline_id, []).append(stage)
    return [(p, stages[p.id]) for p in pipelines]


def get_pipeline_or_raise(
    session: Session, *, org_id: int, pipeline_id: int, field: str = "pipeline_id"
) -> Pipeline:
    pipeline = session.scalar(select(Pipeline).where(Pipeline.org_id == org_id, Pipeline.id == pipeline_id))
    if pipeline is None:
        raise NotFound(f"No pipeline {pipeline_id}.", field=field)
    return pipeline


def list_stages(session: Session, *, org_id: int, pipeline_id: int) -> list[PipelineStage]:
    return list(
        session.scalars(
            select(PipelineStage)
            .where(PipelineStage.org_id == org_id, PipelineStage.pipeline_id == pipeline_id)
            .order_by(PipelineStage.position, PipelineStage.id)
        )
    )


def get_stage_or_raise(
    session: Session, *, org_id: int, stage_id: int, field: str = "stage_id"
) -> PipelineStage:
    stage = session.scalar(
        select(PipelineStage).where(PipelineStage.org_id == org_id, PipelineStage.id == stage_id)
    )
    if stage is None:
        raise NotFound(f"No stage {stage_id}.", field=field)
    return stage


def _unset_other_defaults(session: Session, org_id: int, keep_id: int) -> None:
    for other in session.scalars(
        select(Pipeline).where(
            Pipeline.org_id == org_id, Pipeline.is_default.is_(True), Pipeline.id != keep_id
        )
    ):
        other.is_default = False


def create_pipeline(
    session: Session, *, org_id: int, name: str, stages: list[dict] | None = None, is_default: bool = False
) -> Pipeline:
    """A new pipeline; ``stages`` are dicts with ``name``, ``probability``, ``kind`` (standard six if None)."""
    if stages is None:
        stage_rows = list(DEFAULT_STAGES)
    else:
        stage_rows = [(s["name"], s.get("probability", 0), s.get("kind", "open")) for s in stages]
    _check_stage_set(stage_rows)
    has_default = get_default_pipeline(session, org_id=org_id) is not None
    pipeline = Pipeline(org_id=org_id, name=name, is_default=is_default or not has_default)
    session.add(pipeline)
    session.flush()
    if pipeline.is_default:
        _unset_other_defaults(session, org_id, pipeline.id)
    _add_stages(session, pipeline, stage_rows)
    return pipeline


def update_pipeline(session: Session, *, org_id: int, pipeline_id: int, changes: dict) -> Pipeline:
    pipeline = get_pipeline_or_raise(session, org_id=org_id, pipeline_id=pipeline_id)
    _require_values(changes, ("name",))
    if "name" in changes:
        pipeline.name = changes["name"]
    if changes.get("is_default"):
        _unset_other_defaults(session, org_id, pipeline.id)
        pipeline.is_default = True
    session.flush()
    return pipeline


def _deal_count(session: Session, org_id: int, **where: int) -> int:
    query = select(func.count()).select_from(Deal).where(Deal.org_id == org_id)
    for column, value in where.items():
        query = query.where(getattr(Deal, column) == value)
    return session.scalar(query) or 0


def delete_pipeline(session: Session, *, org_id: int, pipeline_id: int) -> None:
    """Delete a pipeline that holds no deals and is not the default."""
    pipeline = get_pipeline_or_raise(session, org_id=org_id, pipeline_id=pipeline_id)
    if pipeline.is_default:
        raise Conflict(
            "The default pipeline cannot be deleted; make another pipeline the default first.",
            field="pipeline_id",
        )
    held = _deal_count(session, org_id, pipeline_id=pipeline.id)
    if held:
        raise Conflict(
            f"The pipeline still holds {held} deal(s); move or delete them first.", field="pipeline_id"
        )
    for stage in list_stages(session, org_id=org_id, pipeline_id=pipeline.id):
        session.delete(stage)
    session.flush()  # the stages first, so the audit log records each of them
    session.delete(pipeline)
    session.flush()


# --- stages --------------------------------------------------------------------------------------


def _renumber(stages: list[PipelineStage]) -> None:
    for position, stage in enumerate(stages, start=1):
        if stage.position != position:
            stage.position = position


def create_stage(
    session: Session,
    *,
    org_id: int,
    pipeline_id: int,
    name: str,
    probability: int = 0,
    kind: str = "open",
    position: int | None = None,
) -> PipelineStage:
    """Add a stage; by default after the last open stage. A pipeline keeps exactly one won and one lost stage."""
    pipeline = get_pipeline_or_raise(session, org_id=org_id, pipeline_id=pipeline_id)
    stages = list_stages(session, org_id=org_id, pipeline_id=pipeline.id)
    if kind != "open":
        raise Conflict(
            f"The pipeline already has its {kind} stage; a pipeline has exactly one.", field="kind"
        )
    if any(s.name.casefold() == name.casefold() for s in stages):
        raise Conflict(f"The pipeline already has a stage named '{name}'.", field="name")
    if len(stages) >= 30:
        raise Conflict("A pipeline has at most 30 stages.", field="pipeline_id")
    if position is None:
        open_positions = [i for i, s in enumerate(stages) if s.kind == "open"]
        index = open_positions[-1] + 1 if open_positions else 0
    else:
        index = min(position - 1, len(stages))
    stage = PipelineStage(
        org_id=org_id,
        pipeline_id=pipeline.id,
        name=name,
        probability=probability,
        kind=kind,
        position=index + 1,
    )
    session.add(stage)
    stages.insert(index, stage)
    _renumber(stages)
    session.flush()
    return stage


def update_stage(session: Session, *, org_id: int, stage_id: int, changes: dict) -> PipelineStage:
    stage = get_stage_or_raise(session, org_id=org_id, stage_id=stage_id)
    _require_values(changes, ("name", "probability"))
    if "name" in changes and changes["name"].casefold() != stage.name.casefold():
        siblings = list_stages(session, org_id=org_id, pipeline_id=stage.pipeline_id)
        if any(s.name.casefold() == changes["name"].casefold() for s in siblings):
            raise Conflict(f"The pipeline already has a stage named '{changes['name']}'.", field="name")
    if "probability" in changes:
        _check_probability(stage.kind, changes["probability"], "probability", stage.name)
        stage.probability = changes["probability"]
    if "name" in changes:
        stage.name = changes["name"]
    session.flush()
    return stage


def delete_stage(
    session: Session,
    *,
    org_id: int,
    stage_id: int,
    move_to_stage_id: int | None = None,
    actor_user_id: int | None = None,
) -> int:
    """Delete an open stage. Its deals move to ``move_to_stage_id`` (same pipeline); without one a stage that
    holds deals is kept (Conflict). Returns the number of deals moved."""
    stage = get_stage_or_raise(session, org_id=org_id, stage_id=stage_id)
    if stage.kind != "open":
        raise Conflict(
            f"The {stage.kind} stage cannot be deleted; a pipeline has exactly one.", field="stage_id"
        )
    stages = list_stages(session, org_id=org_id, pipeline_id=stage.pipeline_id)
    if sum(1 for s in stages if s.kind == "open") <= 1:
        raise Conflict("The last open stage of a pipeline cannot be deleted.", field="stage_id")
    deals = list(session.scalars(select(Deal).where(Deal.org_id == org_id, Deal.stage_id == stage.id)))
    if deals:
        if move_to_stage_id is None:
            raise Conflict(
                f"The stage holds {len(deals)} deal(s); give move_to_stage_id to move them.",
                field="move_to_stage_id",
            )
        target = get_stage_or_raise(
            session, org_id=org_id, stage_id=move_to_stage_id, field="move_to_stage_id"
        )
        if target.pipeline_id != stage.pipeline_id or target.id == stage.id:
            raise Invalid(
                "move_to_stage_id must be another stage of the same pipeline.", field="move_to_stage_id"
            )
        for deal in deals:
            _place_deal(session, deal, stage, target, lost_reason=None, actor_user_id=actor_user_id)
        session.flush()
    session.delete(stage)
    stages.remove(stage)
    _renumber(stages)
    session.flush()
    return len(deals)


def reorder_stages(
    session: Session, *, org_id: int, pipeline_id: int, stage_ids: list[int]
) -> list[PipelineStage]:
    """Put the pipeline's stages in the given order; ``stage_ids`` must name each of them once."""
    pipeline = get_pipeline_or_raise(session, org_id=org_id, pipeline_id=pipeline_id)
    stages = {s.id: s for s in list_stages(session, org_id=org_id, pipeline_id=pipeline.id)}
    if len(stage_ids) != len(set(stage_ids)) or set(stage_ids) != set(stages):
        raise Invalid("stage_ids must list every stage of the pipeline exactly once.", field="stage_ids")
    ordered = [stages[i] for i in stage_ids]
    _renumber(ordered)
    session.flush()
    return ordered


# --- leads ---------------------------------------------------------------------------------------


def get_lead_or_raise(session: Session, *, org_id: int, lead_id: int, field: str = "lead_id") -> Lead:
    lead = session.scalar(select(Lead).where(Lead.org_id == org_id, Lead.id == lead_id))
    if lead is None:
        raise NotFound(f"No lead {lead_id}.", field=field)
    return lead


def list_leads(
    session: Session,
    *,
    org_id: int,
    status: str | None = None,
    owner_id: int | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Lead], int]:
    query = select(Lead).where(Lead.org_id == org_id)
    if status:
        query = query.where(Lead.status == status)
    if owner_id is not None:
        query = query.where(Lead.owner_id == owner_id)
    if q:
        pattern = _like(q.strip())
        query = query.where(
            or_(
                *(
                    column.ilike(pattern, escape="\\")
                    for column in (Lead.first_name, Lead.last_name, Lead.company, Lead.email)
                )
            )
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(query.order_by(Lead.id.desc()).limit(limit).offset(offset))
    return list(items), total


def _check_lead_identity(lead: Lead) -> None:
    if not (lead.first_name or lead.last_name or lead.company or lead.email or lead.phone):
        raise Invalid("A lead needs a name, a company, an e-mail or a phone number.", field="last_name")


def create_lead(session: Session, *, org_id: int, data: dict) -> Lead:
    if data.get("status") == "converted":
        raise Invalid("A lead becomes converted through the convert action.", field="status")
    _check_user(session, org_id, data.get("owner_id"), "owner_id")
    lead = Lead(org_id=org_id, **data)
    _check_lead_identity(lead)
    session.add(lead)
    session.flush()
    return lead


def update_lead(session: Session, *, org_id: int, lead_id: int, changes: dict) -> Lead:
    lead = get_lead_or_raise(session, org_id=org_id, lead_id=lead_id)
    _require_values(changes, ("first_name", "last_name", "company", "source", "notes", "status"))
    if "status" in changes and changes["status"] != lead.status:
        if changes["status"] == "converted":
            raise Invalid("A lead becomes converted through the convert action.", field="status")
        if lead.status == "converted":
            raise Conflict("A converted lead keeps its status.", field="status")
    if "owner_id" in changes:
        _check_user(session, org_id, changes["owner_id"], "owner_id")
    for key, value in changes.items():
        setattr(lead, key, value)
    _check_lead_identity(lead)
    session.flush()
    return lead


def delete_lead(session: Session, *, org_id: int, lead_id: int) -> None:
    lead = get_lead_or_raise(session, org_id=org_id, lead_id=lead_id)
    session.delete(lead)
    session.flush()


def _customer_data_from_lead(lead: Lead) -> dict:
    """The customer profile a lead becomes; a lead known only by its company is named after it."""
    data: dict[str, Any] = {"first_name": lead.first_name, "last_name": lead.last_name}
    if lead.email:
        data["email"] = lead.email
    if lead.phone:
        data["phone"] = lead.phone
    if not any(data.values()):
        data["last_name"] = lead.company[:100]
    if lead.owner_id is not None:
        data["owner_id"] = lead.owner_id
    return data


def do_convert_lead(
    session: Session,
    *,
    org_id: int,
    lead_id: int,
    customer_id: int | None = None,
    deal: dict | None = None,
    actor_user_id: int | None = None,
) -> tuple[Lead, int, Deal | None]:
    """Turn a lead into a customer (a new one, or ``customer_id``) and optionally a deal.

    Returns ``(lead, customer_id, deal)``; the lead ends ``converted`` with ``customer_id`` set.
    """
    lead = get_lead_or_raise(session, org_id=org_id, lead_id=lead_id)
    if lead.status == "converted":
        raise Conflict(f"Lead {lead.id} is already converted (customer {lead.customer_id}).", field="lead_id")
    if customer_id is not None:
        customer = customers_service.get_writable_customer_or_raise(
            session, org_id=org_id, customer_id=customer_id
        )
    else:
        customer = customers_service.create_customer(
            session, org_id=org_id, data=_customer_data_from_lead(lead), actor_user_id=actor_user_id
        )
    lead.status = "converted"
    lead.customer_id = customer.id
    session.flush()
    customers_service.record_timeline(
        session,
        org_id=org_id,
        customer_id=customer.id,
        kind="lead.converted",
        summary=f"Lead converted{' from ' + lead.company if lead.company else ''}",
        ref_type="lead",
        ref_id=lead.id,
        data={"source": lead.source},
        actor_user_id=actor_user_id,
    )
    created = None
    if deal is not None:
        deal_data = {
            **deal,
            "customer_id": customer.id,
            "lead_id": lead.id,
            "owner_id": lead.owner_id if lead.owner_id is not None else actor_user_id,
        }
        created = create_deal(
            session, org_id=org_id, data=deal_data, actor_user_id=actor_user_id, field_prefix="deal."
        )
    return lead, customer.id, created


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
        query = query.where(Deal.title.ilike(_like(filters.q.strip()), escape="\\"))
    return query


def list_deals(
    session: Session, *, org_id: int, filters: DealFilter | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Deal], int]:
    query = _deal_query(org_id, filters or DealFilter())
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(query.order_by(Deal.id.desc()).limit(limit).offset(offset))
    return list(items), total


def _first_open_stage(session: Session, org_id: int, pipeline_id: int) -> PipelineStage:
    for stage in list_stages(session, org_id=org_id, pipeline_id=pipeline_id):
        if stage.kind == "open":
            return stage
    raise Conflict("The pipeline has no open stage.", field="pipeline_id")


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
    return pipeline, _first_open_stage(session, org_id, pipeline.id)


def _timeline(
    session: Session, deal: Deal, kind: str, summary: str, data: dict, actor_user_id: int | None
) -> None:
    if deal.customer_id is not None:
        customers_service.record_timeline(
            session,
            org_id=deal.org_id,
            customer_id=deal.customer_id,
            kind=kind,
            summary=summary,
            ref_type="deal",
            ref_id=deal.id,
            data=data,
            actor_user_id=actor_user_id,
        )


def _money(deal: Deal) -> str:
    return f"{Decimal(deal.value).quantize(CENT)} {deal.currency}"


def create_deal(
    session: Session, *, org_id: int, data: dict, actor_user_id: int | None = None, field_prefix: str = ""
) -> Deal:
    """A new deal; without a stage it starts in the first open stage of its (or the default) pipeline."""
    data = dict(data)
    pipeline, stage = _placement(
        session, org_id, data.pop("pipeline_id", None), data.pop("stage_id", None), field_prefix
    )
    _check_customer(session, org_id, data.get("customer_id"), f"{field_prefix}customer_id")
    if data.get("owner_id") is None:
        data["owner_id"] = actor_user_id
    else:
        _check_user(session, org_id, data["owner_id"], f"{field_prefix}owner_id")
    if data.get("lead_id") is not None:
        get_lead_or_raise(session, org_id=org_id, lead_id=data["lead_id"], field=f"{field_prefix}lead_id")
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
    _timeline(
        session,
        deal,
        "deal.created",
        f"Deal '{deal.title}' opened in {stage.name} ({_money(deal)})",
        {"stage": stage.name, "value": str(deal.value), "currency": deal.currency, "status": deal.status},
        actor_user_id,
    )
    return deal


def update_deal(session: Session, *, org_id: int, deal_id: int, changes: dict) -> Deal:
    """Change a deal's details; its stage changes through :func:`do_move_deal`."""
    deal = get_deal_or_raise(session, org_id=org_id, deal_id=deal_id)
    _require_values(changes, ("title", "value", "currency", "lost_reason"))
    if "customer_id" in changes:
        _check_customer(session, org_id, changes["customer_id"])
    if "owner_id" in changes:
        _check_user(session, org_id, changes["owner_id"], "owner_id")
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


def _place_deal(
    session: Session,
    deal: Deal,
    old: PipelineStage,
    new: PipelineStage,
    *,
    lost_reason: str | None,
    actor_user_id: int | None,
) -> None:
    """Put a deal in ``new`` and make its status follow the stage's kind, with a timeline entry."""
    was = deal.status
    deal.stage_id = new.id
    deal.status = new.kind
    if new.kind == "open":
        deal.closed_at = None
        deal.lost_reason = ""
    elif was != new.kind or deal.closed_at is None:
        deal.closed_at = utcnow()
    if new.kind == "lost" and lost_reason is not None:
        deal.lost_reason = lost_reason
    if new.kind == "won":
        deal.lost_reason = ""
    data = {"from_stage": old.name, "to_stage": new.name, "value": str(deal.value), "currency": deal.currency}
    if new.kind == "won" and was != "won":
        _timeline(session, deal, "deal.won", f"Deal '{deal.title}' won ({_money(deal)})", data, actor_user_id)
    elif new.kind == "lost" and was != "lost":
        reason = f": {deal.lost_reason}" if deal.lost_reason else ""
        _timeline(
            session,
            deal,
            "deal.lost",
            f"Deal '{deal.title}' lost{reason}",
            {**data, "lost_reason": deal.lost_reason},
            actor_user_id,
        )
    else:
        verb = "reopened in" if was != "open" and new.kind == "open" else "moved to"
        _timeline(
            session, deal, "deal.stage_changed", f"Deal '{deal.title}' {verb} {new.name}", data, actor_user_id
        )


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
    _place_deal(session, deal, old, new, lost_reason=lost_reason, actor_user_id=actor_user_id)
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


# --- tasks ---------------------------------------------------------------------------------------


def get_task_or_raise(session: Session, *, org_id: int, task_id: int, field: str = "task_id") -> Task:
    task = session.scalar(select(Task).where(Task.org_id == org_id, Task.id == task_id))
    if task is None:
        raise NotFound(f"No task {task_id}.", field=field)
    return task


@dataclass(frozen=True)
class TaskFilter:
    assignee_id: int | None = None
    due_before: datetime | None = None
    done: bool | None = None
    overdue: bool | None = None
    customer_id: int | None = None
    deal_id: int | None = None


def list_tasks(
    session: Session,
    *,
    org_id: int,
    filters: TaskFilter | None = None,
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> tuple[list[Task], int]:
    """Tasks, soonest due first (undated last)."""
    filters = filters or TaskFilter()
    now = now or utcnow()
    query = select(Task).where(Task.org_id == org_id)
    for name in ("assignee_id", "customer_id", "deal_id"):
        value = getattr(filters, name)
        if value is not None:
            query = query.where(getattr(Task, name) == value)
    if filters.due_before is not None:
        query = query.where(Task.due_at < filters.due_before)
    if filters.done is not None:
        query = query.where(Task.done_at.is_not(None) if filters.done else Task.done_at.is_(None))
    if filters.overdue is not None:
        late = (Task.done_at.is_(None)) & (Task.due_at < now)
        query = query.where(late if filters.overdue else ~late | Task.due_at.is_(None))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(
        query.order_by(Task.due_at.is_(None), Task.due_at, Task.id).limit(limit).offset(offset)
    )
    return list(items), total


def _check_task_links(session: Session, org_id: int, task_data: dict) -> None:
    if task_data.get("deal_id") is not None:
        deal = get_deal_or_raise(session, org_id=org_id, deal_id=task_data["deal_id"])
        if task_data.get("customer_id") is None and deal.customer_id is not None:
            task_data["customer_id"] = deal.customer_id
    _check_customer(session, org_id, task_data.get("customer_id"))


def _notify_assignment(session: Session, task: Task, actor_user_id: int | None) -> None:
    if task.assignee_id is not None and task.assignee_id != actor_user_id:
        accounts_service.notify_user(
            session,
            org_id=task.org_id,
            user_id=task.assignee_id,
            kind="assignment",
            title=f"New task: {task.title}",
            link="/tasks",
        )


def create_task(session: Session, *, org_id: int, data: dict, actor_user_id: int | None = None) -> Task:
    """A new task; assigned to the caller unless ``assignee_id`` names someone else (who is notified)."""
    data = dict(data)
    if data.get("assignee_id") is None:
        data["assignee_id"] = actor_user_id
    else:
        _check_user(session, org_id, data["assignee_id"], "assignee_id")
    _check_task_links(session, org_id, data)
    task = Task(org_id=org_id, created_by_id=actor_user_id, **data)
    session.add(task)
    session.flush()
    _notify_assignment(session, task, actor_user_id)
    return task


def update_task(
    session: Session, *, org_id: int, task_id: int, changes: dict, actor_user_id: int | None = None
) -> Task:
    task = get_task_or_raise(session, org_id=org_id, task_id=task_id)
    changes = dict(changes)
    _require_values(changes, ("title", "notes", "done"))
    done = changes.pop("done", None)
    if "assignee_id" in changes:
        _check_user(session, org_id, changes["assignee_id"], "assignee_id")
    if "deal_id" in changes or "customer_id" in changes:
        links = {
            "deal_id": changes.get("deal_id", task.deal_id),
            "customer_id": changes.get("customer_id", task.customer_id),
        }
        _check_task_links(session, org_id, links)
        changes.update(links)
    reassigned = "assignee_id" in changes and changes["assignee_id"] != task.assignee_id
    if "remind_at" in changes and changes["remind_at"] != task.remind_at:
        task.reminded_at = None
    for key, value in changes.items():
        setattr(task, key, value)
    if done is True and task.done_at is None:
        task.done_at = utcnow()
    elif done is False:
        task.done_at = None
    session.flush()
    if reassigned:
        _notify_assignment(session, task, actor_user_id)
    return task


def do_complete_task(session: Session, *, org_id: int, task_id: int) -> Task:
    """Mark a task done (again: no change)."""
    task = get_task_or_raise(session, org_id=org_id, task_id=task_id)
    if task.done_at is None:
        task.done_at = utcnow()
        session.flush()
    return task


def delete_task(session: Session, *, org_id: int, task_id: int) -> None:
    task = get_task_or_raise(session, org_id=org_id, task_id=task_id)
    session.delete(task)
    session.flush()


def send_due_reminders(session: Session, *, now: datetime) -> int:
    """Remind assignees of tasks whose ``remind_at`` has come (all organisations; run each minute).

    Each task is reminded once: ``reminded_at`` is set in the same transaction as the notification,
    so running again sends nothing new. Returns the number of reminders sent.
    """
    due = session.scalars(
        select(Task)
        .where(Task.remind_at <= now, Task.done_at.is_(None), Task.reminded_at.is_(None))
        .order_by(Task.remind_at, Task.id)
        .limit(REMINDER_BATCH)
        .with_for_update(skip_locked=True)
    )
    sent = 0
    for task in due:
        recipient = task.assignee_id if task.assignee_id is not None else task.created_by_id
        if recipient is not None:
            when = f"Due {task.due_at:%Y-%m-%d %H:%M} UTC." if task.due_at else "No due date."
            accounts_service.notify_user(
                session,
                org_id=task.org_id,
                user_id=recipient,
                kind="task_reminder",
                title=f"Reminder: {task.title}",
                body=when,
                link="/tasks",
            )
            sent += 1
        task.reminded_at = now
    session.flush()
    return sent


# --- hooks the customers domain calls (merge, erase, export) -----------------------------------------


def reassign_customer(session: Session, *, org_id: int, from_customer_id: int, to_customer_id: int) -> int:
    """Move the deals, tasks and leads of one customer to another (duplicate merge). Returns rows moved."""
    moved = 0
    for model in (Deal, Task, Lead):
        for row in session.scalars(
            select(model).where(model.org_id == org_id, model.customer_id == from_customer_id)
        ):
            row.customer_id = to_customer_id
            moved += 1
    session.flush()
    return moved


def erase_customer(session: Session, *, org_id: int, customer_id: int) -> int:
    """Blank the personal text of the customer's tasks and leads; deals keep value, stage and dates but
    lose free text. Returns the number of rows changed."""
    changed = 0
    for task in session.scalars(select(Task).where(Task.org_id == org_id, Task.customer_id == customer_id)):
        task.title = "Erased"
        task.notes = ""
        changed += 1
    for lead in session.scalars(select(Lead).where(Lead.org_id == org_id, Lead.customer_id == customer_id)):
        lead.first_name = lead.last_name = lead.company = lead.notes = ""
        lead.email = lead.phone = None
        changed += 1
    for deal in session.scalars(select(Deal).where(Deal.org_id == org_id, Deal.customer_id == customer_id)):
        deal.title = f"Deal {deal.id}"
        deal.lost_reason = ""
        changed += 1
    session.flush()
    return changed


def _row(obj: Any) -> dict:
    return {column.key: jsonable(getattr(obj, column.key)) for column in obj.__table__.columns}


def export_customer(session: Session, *, org_id: int, customer_id: int) -> dict[str, list[dict]]:
    """Everything sales holds on one customer: ``{"deals": [...], "tasks": [...], "leads": [...]}``."""
    out: dict[str, list[dict]] = {}
    for key, model in (("deals", Deal), ("tasks", Task), ("leads", Lead)):
        rows = session.scalars(
            select(model).where(model.org_id == org_id, model.customer_id == customer_id).order_by(model.id)
        )
        out[key] = [_row(r) for r in rows]
    return out
