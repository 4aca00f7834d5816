"""The customer timeline: one newest-first stream of everything that happened to a customer.

Two ways in:

* :func:`record_timeline` writes an entry to the ``timeline_entries`` table. Every domain calls it
  for its customer-facing events (``ticket.created``, ``deal.won``, ``interaction.call``...).
* :func:`register_timeline_provider` plugs in a store that lives elsewhere (device events in a
  columnar store, for example). A provider is called at read time and its items are merged with the
  table's, so nothing has to be copied into the records database.

A provider is ``fn(session, *, org_id, customer_id, before, limit) -> list[TimelineItem]``: the
customer's items strictly older than ``before`` (a timezone-aware datetime, or None for "from the
newest"), newest first, at most ``limit``. If it also takes a ``kinds`` keyword it receives the
requested kind filters (exact kinds and ``prefix.*`` patterns) and may apply them itself; items it
returns are filtered again either way. A provider that raises is skipped for that request and named
in ``unavailable``.

Pagination is by keyset: each page carries ``next_before``, an opaque cursor for the next page.
At the same instant, provider items come before table entries, and table entries go by id.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from patron.core.db import utcnow
from patron.core.errors import Invalid
from patron.customers.base import get_customer_or_raise, in_org
from patron.customers.models import Customer, TimelineEntry

log = logging.getLogger("patron.customers.timeline")

TABLE_SOURCE = "timeline"
KIND_PATTERN_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*(\.\*)?$")
PROVIDER_NAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,59}$")


@dataclass(frozen=True)
class TimelineItem:
    """One item of the timeline, from the table or from a provider."""

    occurred_at: datetime
    kind: str
    summary: str
    ref_type: str | None = None
    ref_id: int | None = None
    data: dict = field(default_factory=dict)
    actor_user_id: int | None = None
    source: str = TABLE_SOURCE
    id: int | None = None


@dataclass(frozen=True)
class TimelinePage:
    items: list[TimelineItem]
    next_before: str | None
    unavailable: list[str]


TimelineProvider = Callable[..., list[TimelineItem]]
_PROVIDERS: dict[str, TimelineProvider] = {}
_TAKES_KINDS: dict[TimelineProvider, bool] = {}


def record_timeline(
    session: Session,
    *,
    org_id: int,
    customer_id: int,
    kind: str,
    summary: str,
    ref_type: str | None = None,
    ref_id: int | None = None,
    occurred_at: datetime | None = None,
    data: dict | None = None,
    actor_user_id: int | None = None,
) -> TimelineEntry:
    """Add one entry to a customer's timeline: the extension point every domain writes to.

    ``kind`` is ``<domain>.<event>`` (``ticket.created``, ``deal.won``, ``interaction.call``),
    ``ref_type``/``ref_id`` point at the record the entry is about.
    """
    entry = TimelineEntry(
        org_id=org_id,
        customer_id=customer_id,
        kind=kind,
        summary=summary[:500],
        ref_type=ref_type,
        ref_id=ref_id,
        occurred_at=occurred_at or utcnow(),
        data=data or {},
        actor_user_id=actor_user_id,
    )
    session.add(entry)
    return entry


def delete_timeline_entries(session: Session, *, org_id: int, ref_type: str, ref_id: int) -> int:
    """Remove the entries that point at a record being deleted, so no timeline links to nothing.

    Returns how many entries were removed.
    """
    result = session.execute(
        delete(TimelineEntry).where(
            TimelineEntry.org_id == org_id, TimelineEntry.ref_type == ref_type, TimelineEntry.ref_id == ref_id
        )
    )
    return result.rowcount or 0


# --- providers -------------------------------------------------------------------------------------


def register_timeline_provider(name: str, fn: TimelineProvider) -> None:
    """Merge ``fn``'s items into every customer's timeline (replaces a provider of the same name)."""
    if not PROVIDER_NAME_RE.match(name) or name == TABLE_SOURCE:
        raise ValueError(f"invalid timeline provider name {name!r}")
    _PROVIDERS[name] = fn


def unregister_timeline_provider(name: str) -> None:
    _PROVIDERS.pop(name, None)


def timeline_providers() -> dict[str, TimelineProvider]:
    return dict(_PROVIDERS)


def _takes_kinds(fn: TimelineProvider) -> bool:
    if fn not in _TAKES_KINDS:
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            params = ()
        _TAKES_KINDS[fn] = any(p.name == "kinds" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    return _TAKES_KINDS[fn]


# --- cursors ---------------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _stamp(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cursor_for(item: TimelineItem) -> str:
    return f"{_stamp(item.occurred_at)}~{item.id if item.source == TABLE_SOURCE else 'p'}"


def parse_cursor(before: str | datetime | None) -> tuple[datetime | None, int | str | None]:
    """``(moment, tie)``: tie is a table entry id, ``"p"`` (the page ended on a provider item) or None."""
    if before is None or isinstance(before, datetime):
        return (None if before is None else _utc(before)), None
    text, _, tie = before.strip().partition("~")
    try:
        moment = _utc(datetime.fromisoformat(text))
    except ValueError:
        raise Invalid(
            "before: expected an ISO 8601 time or the next_before cursor of a previous page.", field="before"
        ) from None
    if not tie:
        return moment, None
    if tie == "p":
        return moment, "p"
    if tie.isdigit():
        return moment, int(tie)
    raise Invalid("before: malformed cursor.", field="before")


def check_kind_patterns(kinds: list[str]) -> list[str]:
    for kind in kinds:
        if len(kind) > 60 or not KIND_PATTERN_RE.match(kind):
            raise Invalid(
                f"kinds: '{kind[:60]}' is not a kind such as ticket.created or a pattern such as ticket.*",
                field="kinds",
            )
    return kinds


def _kind_matches(kind: str, patterns: list[str]) -> bool:
    return any(kind == p or (p.endswith(".*") and kind.startswith(p[:-1])) for p in patterns)


def _sort_key(item: TimelineItem) -> tuple:
    return (_utc(item.occurred_at), 1 if item.source != TABLE_SOURCE else 0, item.id or 0)


# --- reading ---------------------------------------------------------------------------------------


def _table_items(
    session: Session,
    *,
    org_id: int,
    customer_id: int,
    moment: datetime | None,
    tie: int | str | None,
    limit: int,
    kinds: list[str] | None,
) -> list[TimelineItem]:
    query = select(*_ENTRY_COLUMNS).where(
        TimelineEntry.customer_id == customer_id, in_org(TimelineEntry.org_id, org_id)
    )
    if moment is not None:
        if tie == "p":
            query = query.where(TimelineEntry.occurred_at <= moment)
        elif isinstance(tie, int):
            query = query.where(
                or_(
                    TimelineEntry.occurred_at < moment,
                    and_(TimelineEntry.occurred_at == moment, TimelineEntry.id < tie),
                )
            )
        else:
            query = query.where(TimelineEntry.occurred_at < moment)
    if kinds:
        exact = [k for k in kinds if not k.endswith(".*")]
        prefixes = [k[:-1] for k in kinds if k.endswith(".*")]
        conditions = [TimelineEntry.kind.in_(exact)] if exact else []
        conditions += [TimelineEntry.kind.startswith(prefix, autoescape=True) for prefix in prefixes]
        query = query.where(or_(*conditions))
    query = query.order_by(TimelineEntry.occurred_at.desc(), TimelineEntry.id.desc()).limit(limit)
    # plain rows, not ORM entities: nothing here is changed, and loading entities was most of a page's cost
    return [
        TimelineItem(
            occurred_at=row.occurred_at,
            kind=row.kind,
            summary=row.summary,
            ref_type=row.ref_type,
            ref_id=row.ref_id,
            data=row.data or {},
            actor_user_id=row.actor_user_id,
            source=TABLE_SOURCE,
            id=row.id,
        )
        for row in session.execute(query)
    ]


_ENTRY_COLUMNS = (
    TimelineEntry.id,
    TimelineEntry.occurred_at,
    TimelineEntry.kind,
    TimelineEntry.summary,
    TimelineEntry.ref_type,
    TimelineEntry.ref_id,
    TimelineEntry.data,
    TimelineEntry.actor_user_id,
)


def _require_customer(session: Session, *, org_id: int, customer_id: int) -> None:
    """NotFound as :func:`get_customer_or_raise` raises it, checked with one column instead of the profile."""
    found = session.execute(
        select(Customer.merged_into_id).where(Customer.id == customer_id, Customer.org_id == org_id)
    ).first()
    if found is None or found.merged_into_id is not None:
        get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)


def list_timeline(
    session: Session,
    *,
    org_id: int,
    customer_id: int,
    before: str | datetime | None = None,
    limit: int = 50,
    kinds: list[str] | None = None,
) -> TimelinePage:
    """One page of the customer's timeline, newest first, merged from the table and every provider."""
    _require_customer(session, org_id=org_id, customer_id=customer_id)
    if not 1 <= limit <= 500:
        raise Invalid("limit must be between 1 and 500.", field="limit")
    kinds = check_kind_patterns(kinds) if kinds else None
    moment, tie = parse_cursor(before)
    merged = _table_items(
        session, org_id=org_id, customer_id=customer_id, moment=moment, tie=tie, limit=limit + 1, kinds=kinds
    )
    more = len(merged) > limit
    horizon: tuple | None = None
    unavailable: list[str] = []
    for name, provider in sorted(_PROVIDERS.items()):
        kwargs: dict = {"org_id": org_id, "customer_id": customer_id, "before": moment, "limit": limit + 1}
        if kinds and _takes_kinds(provider):
            kwargs["kinds"] = kinds
        try:
            raw = list(provider(session, **kwargs))
        except Exception:  # an outside store being down must not take the 360° view with it
            log.exception("timeline provider %s failed", name)
            unavailable.append(name)
            continue
        items = [
            replace(item, source=name, occurred_at=_utc(item.occurred_at))
            for item in raw
            if moment is None or _utc(item.occurred_at) < moment
        ]
        if len(items) > limit:
            # Past this provider's window its stream is unknown: the page may not reach beyond it.
            more = True
            edge = min(_sort_key(item) for item in items)
            horizon = edge if horizon is None else max(horizon, edge)
        if kinds:
            items = [item for item in items if _kind_matches(item.kind, kinds)]
        merged.extend(items)
    merged.sort(key=_sort_key, reverse=True)
    if horizon is not None:
        kept = [item for item in merged if _sort_key(item) >= horizon]
        more = more or len(kept) < len(merged)
        merged = kept
    more = more or len(merged) > limit
    page = merged[:limit]
    next_before = None
    if more:
        next_before = cursor_for(page[-1]) if page else f"{_stamp(horizon[0])}~p"
    return TimelinePage(items=page, next_before=next_before, unavailable=unavailable)
