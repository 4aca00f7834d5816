"""Customers: profiles, tags and identities here; consents, custom attributes, the timeline and search in
the sibling modules this one re-exports, so other domains need only ``from patron.customers import service``.

Import/export, merge and privacy live in :mod:`patron.customers.importer`, :mod:`~patron.customers.exporter`,
:mod:`~patron.customers.merge` and :mod:`~patron.customers.privacy` (they build on this module).
Only the modules of this package query the customers tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy import and_, delete, extract, func, or_, select
from sqlalchemy.orm import Session

from patron.accounts import service as accounts_service
from patron.core.errors import Conflict, Invalid, NotFound
from patron.customers import hooks
from patron.customers.attributes import (  # noqa: F401 - re-exported
    create_attribute_definition,
    definitions_by_key,
    delete_attribute_definition,
    get_attribute_definition_or_raise,
    list_attribute_definitions,
    update_attribute_definition,
    validate_attributes,
)
from patron.customers.base import (  # noqa: F401 - re-exported
    display_name,
    get_customer,
    get_customer_or_raise,
    get_writable_customer_or_raise,
    in_org,
)
from patron.customers.consents import (  # noqa: F401 - re-exported
    ConsentState,
    consent_summaries,
    current_consents,
    customers_with_consent,
    do_record_consent,
    has_consent,
    list_consent_history,
)
from patron.customers.models import (
    EDUCATION_LEVELS,
    GENDERS,
    IDENTITY_TYPES,
    INCOME_BANDS,
    Customer,
    CustomerTag,
    Identity,
)
from patron.customers.normalise import (
    check_birth_year,
    normalise_country,
    normalise_email,
    normalise_identity,
    normalise_phone,
    normalise_tags,
    normalise_timezone,
    to_birth_date,
)
from patron.customers.places import (  # noqa: F401 - re-exported
    create_place,
    delete_place,
    do_record_visit,
    get_place_or_raise,
    list_places,
    update_place,
)
from patron.customers.search import (  # noqa: F401 - re-exported
    AttributeFilter,
    CustomerFilters,
    iter_customer_batches,
    parse_attribute_filters,
    search_customers,
)
from patron.customers.timeline import (  # noqa: F401 - re-exported
    TimelineItem,
    TimelinePage,
    delete_timeline_entries,
    list_timeline,
    record_timeline,
    register_timeline_provider,
    unregister_timeline_provider,
)

PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "birth_year",
    "birth_date",
    "gender",
    "education",
    "occupation",
    "income_band",
    "lifestyle_tags",
    "preferences",
    "attributes",
    "city",
    "country",
    "timezone",
    "owner_id",
)
CONTACT_IDENTITIES = ("email", "phone")
MAX_TAGS = 50
MAX_LIFESTYLE_TAGS = 30
MAX_PREFERENCES_BYTES = 8192
MAX_PREFERENCE_KEYS = 50
MAX_ATTRIBUTES = 100
_TEXT_LIMITS = {"first_name": 100, "last_name": 100, "occupation": 100, "city": 100}
_ENUMS = {"gender": GENDERS, "education": EDUCATION_LEVELS, "income_band": INCOME_BANDS}


# --- validating profile values ---------------------------------------------------------------------


def _bad(field: str, message: str) -> Invalid:
    return Invalid(f"{field}: {message}.", field=field)


def _clean_value(session: Session, org_id: int, name: str, value: Any) -> Any:
    """One profile field in its stored form, or Invalid naming the field."""
    if name in ("first_name", "last_name"):
        if value is None:
            return ""
        if not isinstance(value, str) or len(value.strip()) > _TEXT_LIMITS[name]:
            raise _bad(name, f"expected text of at most {_TEXT_LIMITS[name]} characters")
        return value.strip()
    if name in ("occupation", "city"):
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or len(value.strip()) > _TEXT_LIMITS[name]:
            raise _bad(name, f"expected text of at most {_TEXT_LIMITS[name]} characters")
        return value.strip()
    if name in ("email", "phone", "country", "timezone"):
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            raise _bad(name, "expected text")
        convert = {
            "email": normalise_email,
            "phone": normalise_phone,
            "country": normalise_country,
            "timezone": normalise_timezone,
        }[name]
        try:
            return convert(value)
        except ValueError as exc:
            raise _bad(name, str(exc)) from None
    if name == "birth_year":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(name, "expected a whole number")
        try:
            return check_birth_year(value)
        except ValueError as exc:
            raise _bad(name, str(exc)) from None
    if name == "birth_date":
        if value is None:
            return None
        try:
            return to_birth_date(value)
        except ValueError as exc:
            raise _bad(name, str(exc)) from None
    if name in _ENUMS:
        if value is None:
            return None
        if value not in _ENUMS[name]:
            raise _bad(name, f"choose one of {', '.join(_ENUMS[name])}")
        return value
    if name == "lifestyle_tags":
        if value is None:
            return []
        if (
            not isinstance(value, list)
            or len(value) > MAX_LIFESTYLE_TAGS
            or not all(isinstance(v, str) and len(v) <= 40 for v in value)
        ):
            raise _bad(name, f"expected at most {MAX_LIFESTYLE_TAGS} words of at most 40 characters")
        try:
            return normalise_tags(value)
        except ValueError as exc:
            raise _bad(name, str(exc)) from None
    if name == "owner_id":
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or accounts_service.get_user(session, org_id=org_id, user_id=value) is None
        ):
            raise Invalid(f"owner_id: no user {value} in this organisation.", field="owner_id")
        return value
    raise Invalid(f"Unknown field '{name}'.", field=name)


def _merge_dict(current: dict, changes: dict) -> dict:
    """``changes`` laid over ``current``; a None value removes the key."""
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _check_preferences(value: Any) -> dict:
    if not isinstance(value, dict):
        raise _bad("preferences", "expected an object")
    if len(value) > MAX_PREFERENCE_KEYS or any(not isinstance(k, str) or len(k) > 60 for k in value):
        raise _bad("preferences", f"at most {MAX_PREFERENCE_KEYS} keys of at most 60 characters")
    if len(json.dumps(value, default=str)) > MAX_PREFERENCES_BYTES:
        raise _bad("preferences", f"at most {MAX_PREFERENCES_BYTES} bytes of JSON")
    return value


def clean_profile(
    session: Session, *, org_id: int, data: Mapping[str, Any], current: Customer | None = None
) -> dict[str, Any]:
    """Validate and normalise profile fields.

    ``preferences`` and ``attributes`` are merged into ``current``'s (a key set to None is removed; the whole
    field set to None empties it).
    """
    cleaned: dict[str, Any] = {}
    for name, value in data.items():
        if name == "preferences":
            if value is None:
                cleaned[name] = {}
                continue
            value = _check_preferences(value)
            cleaned[name] = _merge_dict((current.preferences or {}) if current else {}, value)
            _check_preferences(cleaned[name])
        elif name == "attributes":
            if value is None:
                cleaned[name] = {}
                continue
            if not isinstance(value, dict):
                raise _bad("attributes", "expected an object")
            checked = validate_attributes(value, definitions_by_key(session, org_id=org_id))
            cleaned[name] = _merge_dict((current.attributes or {}) if current else {}, checked)
            if len(cleaned[name]) > MAX_ATTRIBUTES:
                raise _bad("attributes", f"at most {MAX_ATTRIBUTES} custom attributes")
        else:
            cleaned[name] = _clean_value(session, org_id, name, value)
    _birth_in_step(cleaned, current)
    return cleaned


def _birth_in_step(cleaned: dict[str, Any], current: Customer | None) -> None:
    """Keep ``birth_year`` the year of ``birth_date``: a date sets the year (a year sent with it must agree);
    a year sent alone must agree with the date already stored (clear or change the date to change it)."""
    if cleaned.get("birth_date") is not None:
        born = cleaned["birth_date"]
        if cleaned.get("birth_year") is not None and cleaned["birth_year"] != born.year:
            raise _bad("birth_date", f"the date is in {born.year} but birth_year says {cleaned['birth_year']}")
        cleaned["birth_year"] = born.year
    elif "birth_year" in cleaned and "birth_date" not in cleaned:
        stored = current.birth_date if current is not None else None
        if stored is not None and cleaned["birth_year"] != stored.year:
            raise _bad("birth_year", f"the stored birth_date is in {stored.year}; change or clear birth_date "
                                     "to change the year")  # fmt: skip


# --- identities ------------------------------------------------------------------------------------


def find_identity(session: Session, *, org_id: int, type: str, value: str) -> Identity | None:
    return session.scalar(
        select(Identity).where(Identity.org_id == org_id, Identity.type == type, Identity.value == value)
    )


def list_identities(session: Session, *, org_id: int, customer_id: int) -> list[Identity]:
    get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    return list(
        session.scalars(
            select(Identity)
            .where(in_org(Identity.org_id, org_id), Identity.customer_id == customer_id)
            .order_by(Identity.type, Identity.id)
        )
    )


def _normalised_identity(type: str, value: str) -> str:
    if type not in IDENTITY_TYPES:
        raise Invalid(
            f"Unknown identity type '{type}'; choose one of {', '.join(IDENTITY_TYPES)}.", field="type"
        )
    try:
        return normalise_identity(type, value)
    except ValueError as exc:
        raise Invalid(f"value: {exc}.", field="value") from None


def _ensure_identity_free(
    session: Session, *, org_id: int, type: str, value: str, customer_id: int | None, field: str
) -> Identity | None:
    """The customer's own identity with this value, None if free, Conflict if another customer holds it."""
    existing = find_identity(session, org_id=org_id, type=type, value=value)
    if existing is not None and existing.customer_id != customer_id:
        raise Conflict(
            f"The {type} identity '{value}' already belongs to customer {existing.customer_id}.", field=field
        )
    return existing


def create_identity(
    session: Session,
    *,
    org_id: int,
    customer_id: int,
    type: str,
    value: str,
    actor_user_id: int | None = None,
) -> Identity:
    """Attach an identity (normalised: e-mail lower-cased, phone as +digits); Conflict (409, ``value``) if taken."""
    customer = get_writable_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    value = _normalised_identity(type, value)
    if (
        _ensure_identity_free(
            session, org_id=org_id, type=type, value=value, customer_id=customer.id, field="value"
        )
        is not None
    ):
        raise Conflict(f"Customer {customer.id} already has the {type} identity '{value}'.", field="value")
    identity = Identity(org_id=org_id, customer_id=customer.id, type=type, value=value)
    session.add(identity)
    session.flush()
    record_timeline(
        session,
        org_id=org_id,
        customer_id=customer.id,
        kind="identity.added",
        summary=f"Identity added: {type}",
        ref_type="identity",
        ref_id=identity.id,
        data={"type": type},
        actor_user_id=actor_user_id,
    )
    return identity


def delete_identity(
    session: Session, *, org_id: int, customer_id: int, identity_id: int, actor_user_id: int | None = None
) -> None:
    customer = get_writable_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    identity = session.scalar(
        select(Identity).where(
            Identity.org_id == org_id, Identity.id == identity_id, Identity.customer_id == customer.id
        )
    )
    if identity is None:
        raise NotFound(f"No identity {identity_id} on customer {customer_id}.", field="identity_id")
    if identity.type in CONTACT_IDENTITIES and getattr(customer, identity.type) == identity.value:
        raise Conflict(
            f"This identity is the customer's {identity.type}; change or clear the profile's "
            f"{identity.type} instead.",
            field="identity_id",
        )
    session.delete(identity)
    session.flush()
    record_timeline(
        session,
        org_id=org_id,
        customer_id=customer.id,
        kind="identity.removed",
        summary=f"Identity removed: {identity.type}",
        ref_type="identity",
        ref_id=identity_id,
        data={"type": identity.type},
        actor_user_id=actor_user_id,
    )


def find_customer_by_identity(session: Session, *, org_id: int, type: str, value: str) -> Customer | None:
    """The customer holding identity ``type``/``value`` (the value is normalised first), or None."""
    try:
        value = _normalised_identity(type, value)
    except Invalid as exc:
        if exc.field == "type":
            raise
        return None
    identity = find_identity(session, org_id=org_id, type=type, value=value)
    if identity is None:
        return None
    return get_customer(session, org_id=org_id, customer_id=identity.customer_id)


def lookup_customer_or_raise(session: Session, *, org_id: int, type: str, value: str) -> Customer:
    customer = find_customer_by_identity(session, org_id=org_id, type=type, value=value)
    if customer is None:
        raise NotFound(f"No customer with {type} identity '{value[:254]}'.", field="value")
    return customer


def _sync_contact_identity(
    session: Session, customer: Customer, type: str, old: str | None, new: str | None
) -> None:
    """Keep the ``email``/``phone`` identity equal to the profile's column."""
    if old == new:
        return
    mine = None
    if old:
        mine = session.scalar(
            select(Identity).where(
                Identity.org_id == customer.org_id,
                Identity.type == type,
                Identity.value == old,
                Identity.customer_id == customer.id,
            )
        )
    already = find_identity(session, org_id=customer.org_id, type=type, value=new) if new else None
    if mine is not None and (new is None or already is not None):
        session.delete(mine)
    elif mine is not None:
        mine.value = new
    elif new and already is None:
        session.add(Identity(org_id=customer.org_id, customer_id=customer.id, type=type, value=new))


# --- tags ------------------------------------------------------------------------------------------


def clean_tags(tags: Iterable[Any]) -> list[str]:
    tags = list(tags)
    if len(tags) > MAX_TAGS or not all(isinstance(t, str) for t in tags):
        raise Invalid(f"tags: at most {MAX_TAGS} tags of text.", field="tags")
    try:
        return normalise_tags(tags)
    except ValueError as exc:
        raise Invalid(f"tags: {exc}.", field="tags") from None


def tags_for(session: Session, *, org_id: int, customer_ids: Iterable[int]) -> dict[int, list[str]]:
    """``{customer_id: [tags sorted]}`` for many customers in one query."""
    ids = list(dict.fromkeys(customer_ids))
    found: dict[int, list[str]] = {cid: [] for cid in ids}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(CustomerTag.customer_id, CustomerTag.tag)
            .where(in_org(CustomerTag.org_id, org_id), CustomerTag.customer_id.in_(ids[start : start + 500]))
            .order_by(CustomerTag.tag)
        )
        for customer_id, tag in rows:
            found[customer_id].append(tag)
    return found


def set_customer_tags(session: Session, *, org_id: int, customer_id: int, tags: Iterable[str]) -> list[str]:
    """Replace the customer's tags; returns the new list (sorted)."""
    wanted = set(clean_tags(tags))
    current = set(tags_for(session, org_id=org_id, customer_ids=[customer_id])[customer_id])
    for tag in sorted(current - wanted):
        session.execute(
            delete(CustomerTag).where(
                in_org(CustomerTag.org_id, org_id),
                CustomerTag.customer_id == customer_id,
                CustomerTag.tag == tag,
            )
        )
    for tag in sorted(wanted - current):
        session.add(CustomerTag(org_id=org_id, customer_id=customer_id, tag=tag))
    session.flush()
    return sorted(wanted)


def list_tag_counts(session: Session, *, org_id: int, limit: int = 200) -> list[tuple[str, int]]:
    """The organisation's tags with how many customers carry each, most used first."""
    rows = session.execute(
        select(CustomerTag.tag, func.count())
        .where(CustomerTag.org_id == org_id)
        .group_by(CustomerTag.tag)
        .order_by(func.count().desc(), CustomerTag.tag)
        .limit(limit)
    )
    return [(tag, count) for tag, count in rows]


# --- profiles --------------------------------------------------------------------------------------


def _describe(value: Any) -> Any:
    """A profile value as the timeline's JSON keeps it (the keys of a dict, a date as ISO text)."""
    if isinstance(value, date):
        return value.isoformat()
    return value if not isinstance(value, dict) else sorted(value)


def create_customer(
    session: Session, *, org_id: int, data: Mapping[str, Any], actor_user_id: int | None = None
) -> Customer:
    """Create a profile from ``data`` (the fields of :data:`PROFILE_FIELDS` plus ``tags``).

    The e-mail and phone become ``email``/``phone`` identities; Conflict (409) if another customer holds one.
    """
    data = dict(data)
    tags = clean_tags(data.pop("tags", None) or [])
    values = clean_profile(session, org_id=org_id, data=data)
    if not any(values.get(name) for name in ("first_name", "last_name", "email", "phone")):
        raise Invalid("A customer needs a name, an e-mail address or a phone number.", field="first_name")
    for type in CONTACT_IDENTITIES:
        if values.get(type):
            _ensure_identity_free(
                session, org_id=org_id, type=type, value=values[type], customer_id=None, field=type
            )
    customer = Customer(org_id=org_id, **values)
    customer.lifestyle_tags = values.get("lifestyle_tags", [])
    customer.preferences = values.get("preferences", {})
    customer.attributes = values.get("attributes", {})
    session.add(customer)
    session.flush()
    for type in CONTACT_IDENTITIES:
        if values.get(type):
            session.add(Identity(org_id=org_id, customer_id=customer.id, type=type, value=values[type]))
    for tag in tags:
        session.add(CustomerTag(org_id=org_id, customer_id=customer.id, tag=tag))
    filled = sorted(name for name, value in values.items() if value not in (None, "", [], {}))
    record_timeline(
        session,
        org_id=org_id,
        customer_id=customer.id,
        kind="customer.created",
        summary=f"Customer created: {display_name(customer)}",
        ref_type="customer",
        ref_id=customer.id,
        data={"fields": filled + (["tags"] if tags else [])},
        actor_user_id=actor_user_id,
    )
    session.flush()
    return customer


def update_customer(
    session: Session,
    *,
    org_id: int,
    customer_id: int,
    changes: Mapping[str, Any],
    actor_user_id: int | None = None,
) -> Customer:
    """Change profile fields (and ``tags``, which replace). Writes ``profile.updated`` with what changed."""
    customer = get_writable_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    changes = dict(changes)
    new_tags = clean_tags(changes.pop("tags") or []) if "tags" in changes else None
    values = clean_profile(session, org_id=org_id, data=changes, current=customer)
    after = {
        **{name: getattr(customer, name) for name in ("first_name", "last_name", "email", "phone")},
        **values,
    }
    if not any(after.get(name) for name in ("first_name", "last_name", "email", "phone")):
        raise Invalid("A customer needs a name, an e-mail address or a phone number.", field="first_name")
    diff = {
        name: {"from": _describe(getattr(customer, name)), "to": _describe(value)}
        for name, value in values.items()
        if getattr(customer, name) != value
    }
    for type in CONTACT_IDENTITIES:
        if type in diff and values[type]:
            _ensure_identity_free(
                session, org_id=org_id, type=type, value=values[type], customer_id=customer.id, field=type
            )
    for type in CONTACT_IDENTITIES:
        if type in diff:
            _sync_contact_identity(session, customer, type, getattr(customer, type), values[type])
    for name in diff:
        setattr(customer, name, values[name])
    if new_tags is not None:
        before_tags = tags_for(session, org_id=org_id, customer_ids=[customer.id])[customer.id]
        after_tags = set_customer_tags(session, org_id=org_id, customer_id=customer.id, tags=new_tags)
        if before_tags != after_tags:
            diff["tags"] = {"from": before_tags, "to": after_tags}
    if diff:
        record_timeline(
            session,
            org_id=org_id,
            customer_id=customer.id,
            kind="profile.updated",
            summary="Profile updated: " + ", ".join(sorted(diff)),
            ref_type="customer",
            ref_id=customer.id,
            data={"fields": sorted(diff), "changes": diff},
            actor_user_id=actor_user_id,
        )
    session.flush()
    return customer


def delete_customer(session: Session, *, org_id: int, customer_id: int) -> None:
    """Delete the profile and everything hanging off it (and profiles merged into it), the records kept
    outside the database (device events) included."""
    customer = get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    merged_profiles = list(
        session.scalars(select(Customer).where(Customer.org_id == org_id, Customer.merged_into_id == customer.id))
    )
    for gone in (*merged_profiles, customer):
        for _domain, forget in hooks.hooks("delete_customer"):
            forget(session, org_id=org_id, customer_id=gone.id)
    for merged in merged_profiles:
        session.delete(merged)
    session.flush()
    session.delete(customer)
    session.flush()


def customer_names(session: Session, *, org_id: int, customer_ids: Iterable[int]) -> dict[int, str]:
    """``{customer_id: display name}`` for showing lists of tickets, deals or interactions."""
    ids = list(dict.fromkeys(customer_ids))
    names: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        for customer in session.scalars(
            select(Customer).where(in_org(Customer.org_id, org_id), Customer.id.in_(ids[start : start + 500]))
        ):
            names[customer.id] = display_name(customer)
    return names


def count_customers(session: Session, *, org_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Customer)
            .where(Customer.org_id == org_id, Customer.merged_into_id.is_(None), Customer.erased_at.is_(None))
        )
        or 0
    )


def customers_born_on(
    session: Session, *, org_id: int, month_days: Iterable[tuple[int, int]]
) -> list[tuple[int, date, str | None]]:
    """``(customer id, birth date, time zone)`` of the organisation's live customers (not merged, not
    erased) whose ``birth_date`` falls on one of the ``(month, day)`` pairs, whatever the year."""
    pairs = sorted(set(month_days))
    if not pairs:
        return []
    month, day = extract("month", Customer.birth_date), extract("day", Customer.birth_date)
    query = select(Customer.id, Customer.birth_date, Customer.timezone).where(
        Customer.org_id == org_id,
        Customer.birth_date.is_not(None),
        Customer.merged_into_id.is_(None),
        Customer.erased_at.is_(None),
        or_(*(and_(month == m, day == d) for m, d in pairs)),
    )
    return [(row.id, row.birth_date, row.timezone) for row in session.execute(query.order_by(Customer.id))]


def erased_customer_ids(session: Session, *, org_id: int) -> set[int]:
    """Ids of the organisation's erased customers (their anonymous records stay; nothing may profile them)."""
    query = select(Customer.id).where(Customer.org_id == org_id, Customer.erased_at.is_not(None))
    return set(session.scalars(query))
