"""Segments: create and change them, count and preview definitions, refresh memberships, read sizes
and history; the scheduled refreshes and the customer hooks.

Seams for other capabilities:

* :func:`members` ``(session, *, org_id, segment_id) -> list[int]`` - the customer ids in a segment
  now (as of its last refresh), ascending: a campaign audience. Call :func:`do_refresh_segment` first
  when the audience must reflect this very moment.
* :func:`current_segments` ``(session, *, org_id, customer_ids) -> dict[int, list[(id, name)]]`` - the
  segments each customer is in now, for many customers in one query: the rules engine's
  ``customer.segments contains <id or name>`` condition looks up a whole batch of events at once with it.
* :func:`frame_loaders` - where feature conditions get their table.

Membership history: a refresh closes the rows of customers who left (``left_at``) and opens new rows
for those who joined, so re-joining gives a second row; each refresh also writes a size snapshot.
Memberships are written in bulk and not audited row by row; each refresh is audited once with its
counts. Customer hooks: a merge moves the duplicate's history to the survivor (closing its open rows);
an erasure closes the customer's open rows; the privacy export lists the customer's history.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from patron.core import audit
from patron.core.config import Settings, get_settings
from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid, NotFound
from patron.customers import service as customers_service
from patron.customers.attributes import list_attribute_definitions
from patron.events.source import NO_EVENT_STORE, event_store_for_run
from patron.segments.definition import Group, field_catalogue, parse_definition
from patron.segments.evaluate import Evaluator, FrameLoader
from patron.segments.models import SEGMENT_STATUSES, Segment, SegmentMembership, SegmentSizeSnapshot

log = logging.getLogger("patron.segments")

CHUNK = 500
PREVIEW_LIMIT = 20
#: rule segments are refreshed by the scheduler when their last refresh is older than this
RULE_REFRESH_INTERVAL = timedelta(hours=1)
EXPORT_FIELDS = ("segment_id", "joined_at", "left_at")


# --- reading ---------------------------------------------------------------------------------------------


def get_segment(session: Session, *, org_id: int, segment_id: int) -> Segment | None:
    return session.scalar(select(Segment).where(Segment.org_id == org_id, Segment.id == segment_id))


def get_segment_or_raise(
    session: Session, *, org_id: int, segment_id: int, field: str = "segment_id"
) -> Segment:
    segment = get_segment(session, org_id=org_id, segment_id=segment_id)
    if segment is None:
        raise NotFound(f"No segment {segment_id}.", field=field)
    return segment


def get_segment_by_name(session: Session, *, org_id: int, name: str) -> Segment | None:
    return session.scalar(select(Segment).where(Segment.org_id == org_id, Segment.name == name))


def list_segments(
    session: Session, *, org_id: int, kind: str | None = None, include_retired: bool = False,
    limit: int = 50, offset: int = 0,
) -> tuple[list[Segment], int]:  # fmt: skip
    """One page of the organisation's segments by name, and how many there are."""
    query = select(Segment).where(Segment.org_id == org_id)
    if kind is not None:
        query = query.where(Segment.kind == kind)
    if not include_retired:
        query = query.where(Segment.status != "retired")
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(query.order_by(Segment.name, Segment.id).limit(limit).offset(offset))
    return list(items), total


def attribute_types(session: Session, *, org_id: int) -> dict[str, str]:
    return {d.key: d.type for d in list_attribute_definitions(session, org_id=org_id)}


# --- the table of feature conditions ------------------------------------------------------------------


def feature_table(
    session: Session, *, org_id: int, settings: Settings, as_of: datetime | None = None
) -> pd.DataFrame | None:
    """The organisation's feature table (one row per customer, ``customer_id`` and numeric features): the
    materialised one, else built as of ``as_of`` (default now) with the device usage of the event store
    (:func:`patron.events.source.event_store_for_run`); None when the feature pipeline is not installed.

    Without an event store the usage features are 0 or null (no events). When the store cannot be read (another
    process holds it, or the store known here belongs to another database) they are unknown: null, and named
    with the reason in ``table.attrs["unavailable"]``, so that a condition on them is refused rather than
    evaluated on made-up zeros."""
    try:
        from patron.analytics.features import USAGE_FEATURES
        from patron.features import service as features_service
    except ModuleNotFoundError:
        return None
    table = features_service.load_feature_table(settings, org_id)
    if table is None:
        with event_store_for_run(session, if_busy="skip") as events:
            table = features_service.build_feature_table(session, org_id=org_id, as_of=as_of,
                                                         events_store=events.store)  # fmt: skip
        if events.store is None and events.missing != NO_EVENT_STORE:
            table[list(USAGE_FEATURES)] = float("nan")
            table.attrs["unavailable"] = dict.fromkeys(USAGE_FEATURES, f"device usage is unknown ({events.missing})")
    return table


def frame_loaders(
    session: Session, *, org_id: int, settings: Settings, now: datetime | None = None
) -> dict[str, FrameLoader]:
    """``prefix -> loader`` of the tables that ``feature.*`` conditions read, as of ``now``."""

    def features() -> pd.DataFrame | None:
        table = feature_table(session, org_id=org_id, settings=settings, as_of=now)
        return None if table is None else table.set_index("customer_id")  # keeps the table's attrs

    return {"feature": features}


def _evaluator(
    session: Session, *, org_id: int, settings: Settings, now: datetime | None = None
) -> Evaluator:
    now = now or utcnow()
    return Evaluator(session, org_id=org_id, now=now,
                     loaders=frame_loaders(session, org_id=org_id, settings=settings, now=now))  # fmt: skip


class Evaluators:
    """One evaluator per organisation for a run of refreshes at one moment (the scheduler's job, ``patron
    segment run --all``): each organisation's feature table and set of active customers are read once for
    all its segments, not once per segment. Refreshes only write memberships, so what was read stays true
    for the run."""

    def __init__(self, session: Session, *, settings: Settings, now: datetime) -> None:
        self.session, self.settings, self.now = session, settings, now
        self._by_org: dict[int, Evaluator] = {}

    def __call__(self, org_id: int) -> Evaluator:
        evaluator = self._by_org.get(org_id)
        if evaluator is None:
            evaluator = self._by_org[org_id] = _evaluator(self.session, org_id=org_id, settings=self.settings,
                                                          now=self.now)  # fmt: skip
        return evaluator


def parse(session: Session, *, org_id: int, definition: Any) -> Group:
    return parse_definition(definition, attribute_types=attribute_types(session, org_id=org_id))


def feature_columns(*, org_id: int, settings: Settings) -> list[str]:
    """The numeric features a condition can name: the materialised table's, else those the pipeline
    computes (nothing is built to answer this)."""
    try:
        from patron.analytics.features import NUMERIC_FEATURES
        from patron.features import service as features_service
    except ModuleNotFoundError:
        return []
    table = features_service.load_feature_table(settings, org_id)
    if table is None:
        return list(NUMERIC_FEATURES)
    return [str(c) for c in table.select_dtypes(include=["number", "bool"]).columns if c != "customer_id"]


def fields(session: Session, *, org_id: int, settings: Settings) -> list[dict]:
    """The fields a definition can use in this organisation now."""
    frames = {"feature": feature_columns(org_id=org_id, settings=settings)}
    return field_catalogue(attribute_types(session, org_id=org_id), frames)


# --- counting without writing ----------------------------------------------------------------------------


def count_definition(session: Session, *, org_id: int, definition: Any, settings: Settings) -> int:
    """How many customers pass ``definition`` now (nothing is written)."""
    group = parse(session, org_id=org_id, definition=definition)
    return _evaluator(session, org_id=org_id, settings=settings).count(group)


def preview_definition(
    session: Session, *, org_id: int, definition: Any, settings: Settings, limit: int = PREVIEW_LIMIT
) -> tuple[int, list[tuple[int, str]]]:
    """``(count, [(customer_id, name), ...])``: the count and the first ``limit`` members by id."""
    group = parse(session, org_id=org_id, definition=definition)
    ids = _evaluator(session, org_id=org_id, settings=settings).members(group)
    first = ids[:limit]
    names = customers_service.customer_names(session, org_id=org_id, customer_ids=first)
    return len(ids), [(cid, names.get(cid, "")) for cid in first]


# --- writing ---------------------------------------------------------------------------------------------


def _check_text(name: str, description: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= 120:
        raise Invalid("name has 1-120 characters.", field="name")
    if len(description) > 2000:
        raise Invalid("description has at most 2000 characters.", field="description")
    return name


def _check_name_free(session: Session, *, org_id: int, name: str, segment_id: int | None = None) -> None:
    existing = get_segment_by_name(session, org_id=org_id, name=name)
    if existing is not None and existing.id != segment_id:
        raise Conflict(f"There is already a segment called '{name}'.", field="name")


def create_segment(
    session: Session, *, org_id: int, name: str, definition: Any, description: str = "",
    status: str = "active", created_by_id: int | None = None,
) -> Segment:  # fmt: skip
    """A rule segment. Its members are written by the first refresh (:func:`do_refresh_segment`)."""
    name = _check_text(name, description)
    parse(session, org_id=org_id, definition=definition)
    if status not in ("active", "paused"):
        raise Invalid("status is active or paused.", field="status")
    _check_name_free(session, org_id=org_id, name=name)
    segment = Segment(org_id=org_id, name=name, kind="rule", description=description.strip(),
                      definition=definition, status=status, created_by_id=created_by_id)  # fmt: skip
    session.add(segment)
    session.flush()
    return segment


def update_segment(session: Session, *, segment: Segment, changes: dict[str, Any]) -> Segment:
    """Change name, description, status or (rule segments) the definition; the members change at the
    next refresh."""
    if "name" in changes or "description" in changes:
        name = _check_text(
            changes.get("name", segment.name), changes.get("description", segment.description) or ""
        )
        _check_name_free(session, org_id=segment.org_id, name=name, segment_id=segment.id)
        segment.name = name
        segment.description = (changes.get("description", segment.description) or "").strip()
    if "definition" in changes:
        if segment.kind != "rule":
            raise Invalid("An ML segment's members come from its run; it has no definition to change.",
                          field="definition")  # fmt: skip
        parse(session, org_id=segment.org_id, definition=changes["definition"])
        segment.definition = changes["definition"]
    if "status" in changes:
        if changes["status"] not in SEGMENT_STATUSES or changes["status"] == "retired":
            raise Invalid("status is active or paused.", field="status")
        segment.status = changes["status"]
    session.flush()
    return segment


def delete_segment(session: Session, *, segment: Segment) -> None:
    """The segment with its history and sizes (the database cascades)."""
    session.execute(delete(SegmentMembership).where(SegmentMembership.segment_id == segment.id))
    session.execute(delete(SegmentSizeSnapshot).where(SegmentSizeSnapshot.segment_id == segment.id))
    session.delete(segment)
    session.flush()


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _open_member_ids(session: Session, *, segment: Segment) -> set[int]:
    return set(session.scalars(select(SegmentMembership.customer_id).where(
        SegmentMembership.segment_id == segment.id, SegmentMembership.left_at.is_(None))))  # fmt: skip


def apply_members(
    session: Session, *, segment: Segment, customer_ids: Iterable[int], now: datetime
) -> tuple[int, int]:
    """Make ``customer_ids`` the segment's members: close the rows of those who left, open rows for those
    who joined, write a size snapshot. ``(joined, left)``."""
    wanted = set(customer_ids)
    current = _open_member_ids(session, segment=segment)
    leaving = sorted(current - wanted)
    joining = sorted(wanted - current)
    for chunk in _chunks(leaving):
        session.execute(
            update(SegmentMembership)
            .where(
                SegmentMembership.segment_id == segment.id,
                SegmentMembership.left_at.is_(None),
                SegmentMembership.customer_id.in_(chunk),
            )  # fmt: skip
            .values(left_at=now)
            .execution_options(synchronize_session=False)
        )
    for chunk in _chunks(joining):
        session.execute(insert(SegmentMembership), [
            {"org_id": segment.org_id, "segment_id": segment.id, "customer_id": cid, "joined_at": now}
            for cid in chunk])  # fmt: skip
    session.add(SegmentSizeSnapshot(org_id=segment.org_id, segment_id=segment.id, at=now, size=len(wanted),
                                    joined=len(joining), left=len(leaving)))  # fmt: skip
    segment.size = len(wanted)
    segment.refreshed_at = now
    session.flush()
    return len(joining), len(leaving)


def do_refresh_segment(
    session: Session,
    *,
    segment: Segment,
    settings: Settings,
    now: datetime | None = None,
    evaluators: Evaluators | None = None,
) -> tuple[int, int]:
    """Evaluate a rule segment and write the changes of membership and a size snapshot; ``(joined, left)``.
    An ML segment keeps the members its run gave it (only a new run changes them). Refreshing several
    segments, pass one :class:`Evaluators` (its moment is then the refresh's)."""
    if segment.kind != "rule":
        raise Invalid(
            "An ML segment is refreshed by a new ML run, not by its own refresh.", field="segment_id"
        )
    evaluators = evaluators or Evaluators(session, settings=settings, now=now or utcnow())
    now, evaluator = evaluators.now, evaluators(segment.org_id)
    group = parse(session, org_id=segment.org_id, definition=segment.definition)
    joined, left = apply_members(session, segment=segment, customer_ids=evaluator.members(group), now=now)
    audit.record(session, action="refresh", entity="segments", entity_id=segment.id, org_id=segment.org_id,
                 after={"size": segment.size, "joined": joined, "left": left})  # fmt: skip
    return joined, left


def members(session: Session, *, org_id: int, segment_id: int) -> list[int]:
    """The ids of the customers in the segment now (as of its last refresh), ascending."""
    segment = get_segment_or_raise(session, org_id=org_id, segment_id=segment_id)
    return sorted(_open_member_ids(session, segment=segment))


def preview_members(
    session: Session, *, segment: Segment, limit: int = PREVIEW_LIMIT
) -> tuple[int, list[tuple[int, str]]]:
    """``(size, [(customer_id, name), ...])`` of the stored members (ML segments have no definition)."""
    ids = sorted(_open_member_ids(session, segment=segment))
    names = customers_service.customer_names(session, org_id=segment.org_id, customer_ids=ids[:limit])
    return len(ids), [(cid, names.get(cid, "")) for cid in ids[:limit]]


def list_members(
    session: Session, *, segment: Segment, limit: int = 50, offset: int = 0
) -> tuple[list[SegmentMembership], int]:
    """One page of the open memberships by customer id, and how many there are."""
    where = (SegmentMembership.segment_id == segment.id, SegmentMembership.left_at.is_(None))
    total = session.scalar(select(func.count(SegmentMembership.id)).where(*where)) or 0
    rows = session.scalars(select(SegmentMembership).where(*where)
                           .order_by(SegmentMembership.customer_id).limit(limit).offset(offset))  # fmt: skip
    return list(rows), total


def iter_member_rows(session: Session, *, segment: Segment, batch_size: int = 1000) -> Iterator[list[tuple]]:
    """``(customer_id, name, email, joined_at)`` of every current member, a batch at a time (keyset)."""
    last = 0
    while True:
        rows = list(session.execute(
            select(SegmentMembership.customer_id, SegmentMembership.joined_at)
            .where(SegmentMembership.segment_id == segment.id, SegmentMembership.left_at.is_(None),
                   SegmentMembership.customer_id > last)
            .order_by(SegmentMembership.customer_id).limit(batch_size)))  # fmt: skip
        if not rows:
            return
        ids = [r.customer_id for r in rows]
        names = customers_service.customer_names(session, org_id=segment.org_id, customer_ids=ids)
        yield [(r.customer_id, names.get(r.customer_id, ""), r.joined_at) for r in rows]
        last = ids[-1]


def do_record_member_export(session: Session, *, segment: Segment) -> None:
    """An export of the member list leaves the system with personal data: audited like a customer export."""
    audit.record(session, action="export", entity="segment_members", entity_id=segment.id, org_id=segment.org_id,
                 after={"format": "csv", "size": segment.size})  # fmt: skip


def list_history(
    session: Session, *, segment: Segment, customer_id: int | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[SegmentMembership], int]:
    """Membership rows (joins and leaves), newest first; one customer's when ``customer_id`` is given."""
    query = select(SegmentMembership).where(SegmentMembership.segment_id == segment.id)
    if customer_id is not None:
        query = query.where(SegmentMembership.customer_id == customer_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(SegmentMembership.joined_at.desc(), SegmentMembership.id.desc())
                           .limit(limit).offset(offset))  # fmt: skip
    return list(rows), total


def list_sizes(session: Session, *, segment: Segment, limit: int = 500) -> list[SegmentSizeSnapshot]:
    """The latest ``limit`` size snapshots, oldest first."""
    rows = list(session.scalars(select(SegmentSizeSnapshot).where(SegmentSizeSnapshot.segment_id == segment.id)
                                .order_by(SegmentSizeSnapshot.at.desc(), SegmentSizeSnapshot.id.desc())
                                .limit(limit)))  # fmt: skip
    return rows[::-1]


def sizes_by_segment(session: Session, *, segment_ids: list[int], limit: int = 30) -> dict[int, list[int]]:
    """The last ``limit`` sizes of each segment, oldest first (for sparklines)."""
    series: dict[int, list[int]] = {sid: [] for sid in segment_ids}
    if not segment_ids:
        return series
    rows = session.execute(select(SegmentSizeSnapshot.segment_id, SegmentSizeSnapshot.size)
                           .where(SegmentSizeSnapshot.segment_id.in_(segment_ids))
                           .order_by(SegmentSizeSnapshot.at, SegmentSizeSnapshot.id))  # fmt: skip
    for row in rows:
        series[row.segment_id].append(row.size)
    return {sid: sizes[-limit:] for sid, sizes in series.items()}


def current_segments(
    session: Session, *, org_id: int, customer_ids: Iterable[int]
) -> dict[int, list[tuple[int, str]]]:
    """``{customer_id: [(segment_id, name), ...]}`` of the segments each customer is in now, by segment
    id; one query per 500 customers (the rules engine asks for a whole batch at once)."""
    ids = list(dict.fromkeys(customer_ids))
    found: dict[int, list[tuple[int, str]]] = {}
    for chunk in _chunks(ids):
        rows = session.execute(
            select(SegmentMembership.customer_id, Segment.id, Segment.name)
            .join(Segment, Segment.id == SegmentMembership.segment_id)
            .where(SegmentMembership.org_id == org_id, SegmentMembership.customer_id.in_(chunk),
                   SegmentMembership.left_at.is_(None), Segment.org_id == org_id)
            .order_by(SegmentMembership.customer_id, Segment.id)
        )  # fmt: skip
        for row in rows:
            found.setdefault(row.customer_id, []).append((row.id, row.name))
    return found


def customer_segments(
    session: Session, *, org_id: int, customer_id: int
) -> list[tuple[Segment, SegmentMembership]]:
    """The segments the customer is in now, with the open membership row, by segment name."""
    rows = session.execute(
        select(Segment, SegmentMembership)
        .join(SegmentMembership, SegmentMembership.segment_id == Segment.id)
        .where(SegmentMembership.org_id == org_id, SegmentMembership.customer_id == customer_id,
               SegmentMembership.left_at.is_(None), Segment.org_id == org_id)
        .order_by(Segment.name)
    )  # fmt: skip
    return [(row[0], row[1]) for row in rows]


# --- scheduled work --------------------------------------------------------------------------------------


def refresh_due_segments(session: Session, *, now: datetime) -> int:
    """Scheduler job: refresh every active rule segment whose last refresh is older than
    :data:`RULE_REFRESH_INTERVAL`. A segment that fails is logged and skipped. Returns how many refreshed."""
    settings = get_settings()
    due = list(session.scalars(select(Segment).where(
        Segment.kind == "rule", Segment.status == "active",
        (Segment.refreshed_at.is_(None)) | (Segment.refreshed_at < now - RULE_REFRESH_INTERVAL))
        .order_by(Segment.id)))  # fmt: skip
    done = 0
    evaluators = Evaluators(session, settings=settings, now=now)
    for segment in due:
        try:
            with session.begin_nested():
                do_refresh_segment(session, segment=segment, settings=settings, evaluators=evaluators)
            done += 1
        except Exception:
            log.exception("refresh of segment %s failed", segment.id)
    return done


# --- customer hooks --------------------------------------------------------------------------------------


def reassign_customer(session: Session, *, org_id: int, from_customer_id: int, to_customer_id: int) -> int:
    """Close the duplicate's open memberships and move its history to the survivor (the next refresh
    decides the survivor's rule memberships). Returns the number of rows moved."""
    now = utcnow()
    session.execute(update(SegmentMembership).where(
        SegmentMembership.org_id == org_id, SegmentMembership.customer_id == from_customer_id,
        SegmentMembership.left_at.is_(None)).values(left_at=now).execution_options(synchronize_session=False))  # fmt: skip
    moved = session.execute(update(SegmentMembership).where(
        SegmentMembership.org_id == org_id, SegmentMembership.customer_id == from_customer_id)
        .values(customer_id=to_customer_id).execution_options(synchronize_session=False))  # fmt: skip
    return int(moved.rowcount or 0)


def erase_customer(session: Session, *, org_id: int, customer_id: int) -> int:
    """An erased customer belongs to no segment any more: close its open memberships."""
    result = session.execute(update(SegmentMembership).where(
        SegmentMembership.org_id == org_id, SegmentMembership.customer_id == customer_id,
        SegmentMembership.left_at.is_(None)).values(left_at=utcnow()).execution_options(synchronize_session=False))  # fmt: skip
    return int(result.rowcount or 0)


def export_customer(session: Session, *, org_id: int, customer_id: int) -> dict[str, list[dict]]:
    """The customer's segment memberships, oldest first, with the segment names."""
    rows = session.execute(
        select(SegmentMembership, Segment.name)
        .join(Segment, Segment.id == SegmentMembership.segment_id)
        .where(SegmentMembership.org_id == org_id, SegmentMembership.customer_id == customer_id)
        .order_by(SegmentMembership.joined_at, SegmentMembership.id)
    )
    return {"segment_memberships": [
        audit.jsonable({"segment": name, **{f: getattr(m, f) for f in EXPORT_FIELDS}}) for m, name in rows]}  # fmt: skip
