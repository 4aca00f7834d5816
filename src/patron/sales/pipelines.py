"""Pipelines and their stages: configuration per organisation, and what a stage's kind means for a deal."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid, NotFound
from patron.sales.common import money_text, record_deal_event, require_values
from patron.sales.models import Deal, Pipeline, PipelineStage

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
    require_values(changes, ("name",))
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
    require_values(changes, ("name", "probability"))
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
            place_deal(session, deal, stage, target, lost_reason=None, actor_user_id=actor_user_id)
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


def first_open_stage(session: Session, org_id: int, pipeline_id: int) -> PipelineStage:
    for stage in list_stages(session, org_id=org_id, pipeline_id=pipeline_id):
        if stage.kind == "open":
            return stage
    raise Conflict("The pipeline has no open stage.", field="pipeline_id")


def place_deal(
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
        record_deal_event(
            session, deal, "deal.won", f"Deal '{deal.title}' won ({money_text(deal)})", data, actor_user_id
        )
    elif new.kind == "lost" and was != "lost":
        reason = f": {deal.lost_reason}" if deal.lost_reason else ""
        record_deal_event(
            session,
            deal,
            "deal.lost",
            f"Deal '{deal.title}' lost{reason}",
            {**data, "lost_reason": deal.lost_reason},
            actor_user_id,
        )
    else:
        verb = "reopened in" if was != "open" and new.kind == "open" else "moved to"
        record_deal_event(
            session, deal, "deal.stage_changed", f"Deal '{deal.title}' {verb} {new.name}", data, actor_user_id
        )
