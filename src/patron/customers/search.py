"""Finding customers: free-text search, field filters, tag and custom-attribute ranges, sorting."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, false, func, or_, select
from sqlalchemy.orm import Session

from patron.core.errors import Invalid
from patron.customers.attributes import definitions_by_key, parse_attribute_text
from patron.customers.models import (
    EDUCATION_LEVELS,
    GENDERS,
    IDENTITY_TYPES,
    INCOME_BANDS,
    Customer,
    CustomerTag,
    Identity,
)
from patron.customers.normalise import normalise_email, normalise_phone, normalise_tag

ATTR_PARAM_RE = re.compile(r"^attr\.([a-z][a-z0-9_]{0,59})(?:\.(gte|lte))?$")
_SORT_COLUMNS = {
    "name": (Customer.last_name, Customer.first_name),
    "created_at": (Customer.created_at,),
    "updated_at": (Customer.updated_at,),
    "email": (Customer.email,),
    "id": (),
}
SORTS = tuple(name for key in _SORT_COLUMNS for name in (key, f"-{key}"))


def _order_by(sort: str, *, after_lookup: bool = False) -> list:
    """ORDER BY terms for ``sort`` (``name``, ``-name``...), ending with the id so pages are stable.

    ``after_lookup`` wraps the columns so no index is used for the ordering: for filters that pick out a
    handful of rows, which SQLite would otherwise find by walking a whole sort index.
    """
    descending = sort.startswith("-")
    columns = [func.coalesce(c, c) if after_lookup else c for c in _SORT_COLUMNS[sort.lstrip("-")]]
    return [term.desc() if descending else term for term in (*columns, Customer.id)]


MAX_TERMS = 5


@dataclass(frozen=True)
class AttributeFilter:
    """``attr.<key>=v`` (op ``eq``), ``attr.<key>.gte=v`` or ``attr.<key>.lte=v``, typed by the definition."""

    key: str
    op: str
    value: Any
    type: str


@dataclass
class CustomerFilters:
    """What ``GET /customers`` (and the export) can filter on; every field is optional."""

    q: str | None = None
    email: str | None = None
    phone: str | None = None
    tags: list[str] = field(default_factory=list)
    owner_id: int | None = None
    income_band: str | None = None
    gender: str | None = None
    education: str | None = None
    country: str | None = None
    attributes: list[AttributeFilter] = field(default_factory=list)
    include_erased: bool = False
    sort: str = "name"


def parse_attribute_filters(
    session: Session, *, org_id: int, params: Iterable[tuple[str, str]]
) -> list[AttributeFilter]:
    """Read ``attr.*`` query parameters, checked against the organisation's attribute definitions."""
    wanted = [(name, value) for name, value in params if name.startswith("attr.")]
    if not wanted:
        return []
    definitions = definitions_by_key(session, org_id=org_id)
    filters = []
    for name, text in wanted:
        match = ATTR_PARAM_RE.match(name)
        if match is None:
            raise Invalid(
                f"'{name[:80]}' is not an attribute filter; use attr.<key>, attr.<key>.gte or "
                "attr.<key>.lte.",
                field=name[:80],
            )
        key, op = match.group(1), match.group(2) or "eq"
        definition = definitions.get(key)
        if definition is None:
            raise Invalid(f"Unknown custom attribute '{key}'.", field=name)
        if len(text) > 500:
            raise Invalid("The filter value is too long.", field=name)
        if definition.type == "boolean" and op != "eq":
            raise Invalid("A boolean attribute can only be compared for equality.", field=name)
        try:
            value = parse_attribute_text(definition, text)
        except ValueError as exc:
            raise Invalid(f"{name}: {exc}.", field=name) from None
        filters.append(AttributeFilter(key=key, op=op, value=value, type=definition.type))
    return filters


def _attribute_condition(spec: AttributeFilter):
    element = Customer.attributes[spec.key]
    if spec.type in ("number", "integer"):
        column, value = element.as_float(), float(spec.value)
    elif spec.type == "boolean":
        return element.as_boolean() == spec.value
    else:
        column, value = element.as_string(), spec.value
    if spec.op == "gte":
        return column >= value
    if spec.op == "lte":
        return column <= value
    return column == value


def _looks_like_phone(term: str) -> bool:
    return sum(ch.isdigit() for ch in term) >= 5 and all(ch.isdigit() or ch in "+ ()-./" for ch in term)


def _text_condition(session: Session, org_id: int, q: str):
    """Every word of ``q`` must appear (case-insensitively) in the first name, last name, e-mail or phone;
    or ``q`` is exactly one of the customer's identity values."""
    q = q.strip()
    candidates = {q, q.lower()}
    if _looks_like_phone(q):
        with contextlib.suppress(ValueError):
            candidates.add(normalise_phone(q))
    identity_match = Customer.id.in_(
        select(Identity.customer_id).where(
            Identity.org_id == org_id, Identity.type.in_(IDENTITY_TYPES), Identity.value.in_(candidates)
        )
    )
    # SQLite's LIKE ignores case (for ASCII, exactly like its lower()) and is much cheaper than lower() LIKE.
    sqlite = session.get_bind().dialect.name == "sqlite"
    word_conditions = []
    for term in q.split()[:MAX_TERMS]:
        alternatives = [
            column.contains(term, autoescape=True) if sqlite else column.icontains(term, autoescape=True)
            for column in (Customer.first_name, Customer.last_name, Customer.email)
        ]
        if _looks_like_phone(term):
            digits = "".join(ch for ch in term if ch.isdigit())
            alternatives.append(Customer.phone.contains(digits.lstrip("0") or digits, autoescape=True))
        word_conditions.append(or_(*alternatives))
    if not word_conditions:
        return identity_match
    return or_(identity_match, and_(*word_conditions))


def filtered_query(session: Session, *, org_id: int, filters: CustomerFilters) -> Select:
    """``SELECT customers`` of the organisation that pass ``filters`` (no order, no window)."""
    query = select(Customer).where(Customer.org_id == org_id, Customer.merged_into_id.is_(None))
    if not filters.include_erased:
        query = query.where(Customer.erased_at.is_(None))
    if filters.q and filters.q.strip():
        query = query.where(_text_condition(session, org_id, filters.q))
    if filters.email:
        try:
            query = query.where(Customer.email == normalise_email(filters.email))
        except ValueError:
            query = query.where(false())
    if filters.phone:
        try:
            query = query.where(Customer.phone == normalise_phone(filters.phone))
        except ValueError:
            query = query.where(false())
    for tag in filters.tags:
        try:
            tag = normalise_tag(tag)
        except ValueError as exc:
            raise Invalid(f"tag: {exc}.", field="tag") from None
        query = query.where(
            Customer.id.in_(
                select(CustomerTag.customer_id).where(CustomerTag.org_id == org_id, CustomerTag.tag == tag)
            )
        )
    if filters.owner_id is not None:
        query = query.where(Customer.owner_id == filters.owner_id)
    for name, allowed in (
        ("income_band", INCOME_BANDS),
        ("gender", GENDERS),
        ("education", EDUCATION_LEVELS),
    ):
        value = getattr(filters, name)
        if value is not None:
            if value not in allowed:
                raise Invalid(f"Unknown {name} '{value}'; choose one of {', '.join(allowed)}.", field=name)
            query = query.where(getattr(Customer, name) == value)
    if filters.country:
        query = query.where(Customer.country == filters.country.strip().upper())
    for spec in filters.attributes:
        query = query.where(_attribute_condition(spec))
    return query


def search_customers(
    session: Session, *, org_id: int, filters: CustomerFilters, limit: int = 50, offset: int = 0
) -> tuple[list[Customer], int]:
    """One page of matching customers and how many match in all."""
    if filters.sort not in SORTS:
        raise Invalid(f"Unknown sort '{filters.sort}'; choose one of {', '.join(SORTS)}.", field="sort")
    query = filtered_query(session, org_id=org_id, filters=filters)
    order = _order_by(filters.sort, after_lookup=bool(filters.email or filters.phone))
    rows = list(session.scalars(query.order_by(*order).limit(limit).offset(offset)))
    if len(rows) < limit and (rows or offset == 0):
        return rows, offset + len(rows)  # the last page: the total needs no second pass
    total = (
        session.scalar(select(func.count()).select_from(query.with_only_columns(Customer.id).subquery())) or 0
    )
    return rows, total


def iter_customer_batches(
    session: Session, *, org_id: int, filters: CustomerFilters, batch_size: int = 1000
) -> Iterator[list[Customer]]:
    """Every matching customer in id order, a batch at a time (keyset pagination: steady memory on any size)."""
    query = filtered_query(session, org_id=org_id, filters=filters)
    last_id = 0
    while True:
        batch = list(
            session.scalars(query.where(Customer.id > last_id).order_by(Customer.id).limit(batch_size))
        )
        if not batch:
            return
        yield batch
        last_id = batch[-1].id
