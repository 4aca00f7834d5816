"""Evaluating a parsed definition: SQL where the data is in the database, pandas where it is a table.

Conditions on profile fields, tags, custom attributes, consents, devices and predictions become one SQL
``WHERE`` over the organisation's active customers (neither erased nor merged away). Conditions on features
are evaluated on the feature table (a DataFrame, one row per ``customer_id``). A group whose conditions
are all SQL is one query; a group that mixes the two evaluates each SQL part as one query, each table
part in pandas, and combines the customer-id sets (intersection for ``all``, union for ``any``).

This module reads the customer, consent, device and prediction tables directly (read-only): a segment count
must be one query over all of them, which no per-customer service function can give.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import and_, exists, extract, false, func, not_, or_, select, true
from sqlalchemy.orm import Session

from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid
from patron.customers.models import ConsentRecord, Customer, CustomerTag
from patron.customers.normalise import birth_month_days
from patron.devices.models import Device
from patron.predictions.models import CustomerPrediction
from patron.segments.definition import Condition, Group

#: ``prefix -> loader()`` giving a DataFrame indexed by customer id (or None when there is none yet)
FrameLoader = Callable[[], pd.DataFrame | None]


def _start_of(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=UTC)


def active_customers(org_id: int):
    """The customers a segment can hold: the organisation's, neither erased nor merged into another."""
    return and_(Customer.org_id == org_id, Customer.erased_at.is_(None), Customer.merged_into_id.is_(None))


def _compare(column, op: str, value):
    if op == "eq":
        return column == value
    if op == "ne":
        return or_(column != value, column.is_(None))
    if op == "lt":
        return column < value
    if op == "lte":
        return column <= value
    if op == "gt":
        return column > value
    if op == "gte":
        return column >= value
    if op == "in":
        return column.in_(value)
    if op == "not_in":
        return or_(column.not_in(value), column.is_(None))
    if op == "is_set":
        return column.is_not(None)
    if op == "not_set":
        return column.is_(None)
    raise ValueError(op)  # parse_definition only lets known operators through


def _profile(condition: Condition, org_id: int, now: datetime):
    field, op, value = condition.field, condition.op, condition.value
    if field == "tags":
        tagged = select(CustomerTag.customer_id).where(CustomerTag.org_id == org_id, CustomerTag.tag == value)
        return Customer.id.in_(tagged) if op == "contains" else Customer.id.not_in(tagged)
    if field == "birthday":
        return _birthday(op, value, now)
    if field == "created_at":
        if op == "before":
            return Customer.created_at < _start_of(value)
        if op == "after":
            return Customer.created_at >= _start_of(value) + timedelta(days=1)
        since = now - timedelta(days=value)
        return Customer.created_at >= since if op == "within_days" else Customer.created_at < since
    column = getattr(Customer, field)
    if condition.type == "text" and op in ("is_set", "not_set"):
        filled = and_(column.is_not(None), column != "")
        return filled if op == "is_set" else not_(filled)
    return _compare(column, op, value)


def birthday_keys(today: date, days: int) -> list[int]:
    """``month * 100 + day`` of every birthday celebrated from ``today`` to ``days`` days later. In a year
    without 29 February, those born on it celebrate on the 28th (as the birthday campaigns send)."""
    days_ahead = (today + timedelta(days=offset) for offset in range(days + 1))
    return sorted(month * 100 + day for month, day in birth_month_days(days_ahead))


def _birthday(op: str, value, now: datetime):
    born = Customer.birth_date
    if op in ("is_set", "not_set"):
        return born.is_not(None) if op == "is_set" else born.is_(None)
    month = extract("month", born)
    if op == "in_month":
        return and_(born.is_not(None), month == value)
    key = month * 100 + extract("day", born)
    return and_(born.is_not(None), key.in_(birthday_keys(now.astimezone(UTC).date(), value)))


def _attribute(condition: Condition):
    element = Customer.attributes[condition.field.partition(".")[2]]
    if condition.type == "number":
        column = element.as_float()
    elif condition.type == "boolean":
        column = element.as_boolean()
    else:
        column = element.as_string()
    return _compare(column, condition.op, condition.value)


def _consent(condition: Condition, org_id: int):
    channel = condition.field.partition(".")[2]
    latest = (
        select(ConsentRecord.granted)
        .where(
            ConsentRecord.customer_id == Customer.id,
            ConsentRecord.org_id == org_id,
            ConsentRecord.channel == channel,
        )  # fmt: skip
        .order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())
        .limit(1)
        .correlate(Customer)
        .scalar_subquery()
    )
    granted = latest == true()
    return granted if condition.value else or_(latest.is_(None), latest == false())


def _device(condition: Condition, org_id: int, now: datetime):
    owned = and_(Device.customer_id == Customer.id, Device.org_id == org_id)
    if condition.field == "device.type":
        has = exists().where(owned, Device.type == condition.value)
        return has if condition.op == "has" else not_(has)
    last_seen = select(func.max(Device.last_seen_at)).where(owned).correlate(Customer).scalar_subquery()
    days, op = condition.value, condition.op
    cutoff = now - timedelta(days=float(days))
    # fewer days since the last sighting means a later last_seen_at
    flipped = {"lt": last_seen > cutoff, "lte": last_seen >= cutoff, "gt": last_seen < cutoff,
               "gte": last_seen <= cutoff}  # fmt: skip
    return flipped[op]


def _prediction(condition: Condition, org_id: int):
    column = getattr(CustomerPrediction, condition.field.partition(".")[2])
    latest = (
        select(column)
        .where(CustomerPrediction.customer_id == Customer.id, CustomerPrediction.org_id == org_id)
        .correlate(Customer)
        .scalar_subquery()
    )
    return _compare(latest, condition.op, condition.value)


def sql_condition(condition: Condition, *, org_id: int, now: datetime):
    prefix = condition.field.partition(".")[0]
    if prefix == "prediction":
        return _prediction(condition, org_id)
    if prefix == "attribute":
        return _attribute(condition)
    if prefix == "consent":
        return _consent(condition, org_id)
    if prefix == "device":
        return _device(condition, org_id, now)
    return _profile(condition, org_id, now)


def _frame_mask(condition: Condition, frame: pd.DataFrame) -> pd.Series:
    column = condition.field.partition(".")[2]
    unavailable = frame.attrs.get("unavailable", {}).get(column)
    if unavailable:
        raise Conflict(f"{condition.path}.field: {condition.field} cannot be read now: {unavailable}.",
                       field=f"{condition.path}.field")  # fmt: skip
    if column not in frame.columns:
        raise Invalid(f"{condition.path}.field: there is no {condition.field} in the current table.",
                      field=f"{condition.path}.field")  # fmt: skip
    values = pd.to_numeric(frame[column], errors="coerce")
    op, value = condition.op, condition.value
    masks = {
        "eq": lambda: values == value, "ne": lambda: values != value, "lt": lambda: values < value,
        "lte": lambda: values <= value, "gt": lambda: values > value, "gte": lambda: values >= value,
        "is_set": lambda: values.notna(), "not_set": lambda: values.isna(),
    }  # fmt: skip
    return masks[op]()


class Evaluator:
    """Evaluates definitions of one organisation; the feature table loads once, when first
    needed."""

    def __init__(self, session: Session, *, org_id: int, loaders: dict[str, FrameLoader],
                 now: datetime | None = None) -> None:  # fmt: skip
        self.session = session
        self.org_id = org_id
        self.loaders = loaders
        self.now = now or utcnow()
        self._frames: dict[str, pd.DataFrame] = {}
        self._universe: set[int] | None = None

    def _frame(self, condition: Condition) -> pd.DataFrame:
        prefix = condition.field.partition(".")[0]
        if prefix not in self._frames:
            loader = self.loaders.get(prefix)
            frame = loader() if loader is not None else None
            if frame is None:
                raise Invalid(f"{condition.path}.field: there is no {prefix} table for this organisation yet.",
                              field=f"{condition.path}.field")  # fmt: skip
            self._frames[prefix] = frame
        return self._frames[prefix]

    def _universe_ids(self) -> set[int]:
        if self._universe is None:
            self._universe = set(
                self.session.scalars(select(Customer.id).where(active_customers(self.org_id)))
            )
        return self._universe

    def _is_sql(self, item: Condition | Group) -> bool:
        if isinstance(item, Group):
            return all(self._is_sql(child) for child in item.items)
        return item.source == "sql"

    def _expression(self, item: Condition | Group):
        if isinstance(item, Group):
            parts = [self._expression(child) for child in item.items]
            return and_(*parts) if item.mode == "all" else or_(*parts)
        return sql_condition(item, org_id=self.org_id, now=self.now)

    def _sql_ids(self, expression) -> set[int]:
        query = select(Customer.id).where(active_customers(self.org_id), expression)
        return set(self.session.scalars(query))

    def _frame_ids(self, condition: Condition) -> set[int]:
        frame = self._frame(condition)
        mask = _frame_mask(condition, frame).fillna(False).to_numpy(dtype=bool)
        ids = np.asarray(frame.index)[mask]
        return {int(i) for i in ids} & self._universe_ids()

    def _ids(self, group: Group) -> set[int]:
        if self._is_sql(group):
            return self._sql_ids(self._expression(group))
        sql_items = [child for child in group.items if self._is_sql(child)]
        sets: list[set[int]] = []
        if sql_items:
            parts = [self._expression(child) for child in sql_items]
            sets.append(self._sql_ids(and_(*parts) if group.mode == "all" else or_(*parts)))
        for child in group.items:
            if self._is_sql(child):
                continue
            sets.append(self._ids(child) if isinstance(child, Group) else self._frame_ids(child))
        if group.mode == "all":
            return set.intersection(*sets)
        return set.union(*sets)

    def count(self, group: Group) -> int:
        if self._is_sql(group):
            query = select(func.count(Customer.id)).where(
                active_customers(self.org_id), self._expression(group)
            )
            return int(self.session.scalar(query) or 0)
        return len(self._ids(group))

    def members(self, group: Group) -> list[int]:
        """Customer ids passing ``group``, ascending."""
        if self._is_sql(group):
            query = select(Customer.id).where(active_customers(self.org_id), self._expression(group))
            return list(self.session.scalars(query.order_by(Customer.id)))
        return sorted(self._ids(group))
