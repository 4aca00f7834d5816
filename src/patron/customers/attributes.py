"""Typed custom attributes: each organisation defines its own keys; profile values are checked against them."""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.core.errors import Conflict, Invalid, NotFound
from patron.customers.models import ATTRIBUTE_TYPES, AttributeDefinition, Customer

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
MAX_STRING_VALUE = 500
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "t"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "f"})


# --- definitions --------------------------------------------------------------------------------


def list_attribute_definitions(session: Session, *, org_id: int) -> list[AttributeDefinition]:
    return list(
        session.scalars(
            select(AttributeDefinition)
            .where(AttributeDefinition.org_id == org_id)
            .order_by(AttributeDefinition.key)
        )
    )


def definitions_by_key(session: Session, *, org_id: int) -> dict[str, AttributeDefinition]:
    return {d.key: d for d in list_attribute_definitions(session, org_id=org_id)}


def get_attribute_definition_or_raise(
    session: Session, *, org_id: int, definition_id: int
) -> AttributeDefinition:
    definition = session.scalar(
        select(AttributeDefinition).where(
            AttributeDefinition.org_id == org_id, AttributeDefinition.id == definition_id
        )
    )
    if definition is None:
        raise NotFound(f"No custom attribute {definition_id}.", field="definition_id")
    return definition


def create_attribute_definition(
    session: Session, *, org_id: int, key: str, label: str, type: str, description: str = ""
) -> AttributeDefinition:
    if not KEY_RE.match(key):
        raise Invalid(
            "A key is 1-60 lower-case letters, digits and underscores, starting with a letter.", field="key"
        )
    if type not in ATTRIBUTE_TYPES:
        raise Invalid(f"Unknown type '{type}'; choose one of {', '.join(ATTRIBUTE_TYPES)}.", field="type")
    if not label.strip():
        raise Invalid("The label cannot be empty.", field="label")
    existing = session.scalar(
        select(AttributeDefinition.id).where(
            AttributeDefinition.org_id == org_id, AttributeDefinition.key == key
        )
    )
    if existing is not None:
        raise Conflict(f"A custom attribute with key '{key}' already exists.", field="key")
    definition = AttributeDefinition(
        org_id=org_id, key=key, label=label.strip(), type=type, description=description
    )
    session.add(definition)
    session.flush()
    return definition


def update_attribute_definition(
    session: Session, *, definition: AttributeDefinition, changes: dict[str, Any]
) -> AttributeDefinition:
    """Change the label or description; key and type are fixed once values may exist."""
    if "label" in changes and changes["label"] is not None:
        if not changes["label"].strip():
            raise Invalid("The label cannot be empty.", field="label")
        definition.label = changes["label"].strip()
    if "description" in changes and changes["description"] is not None:
        definition.description = changes["description"]
    session.flush()
    return definition


def delete_attribute_definition(session: Session, *, definition: AttributeDefinition) -> int:
    """Delete a definition and remove its values from every profile; returns how many profiles changed."""
    key = definition.key
    holders = session.scalars(
        select(Customer).where(Customer.org_id == definition.org_id, Customer.attributes[key].is_not(None))
    )
    changed = 0
    for customer in holders:
        if key in (customer.attributes or {}):
            customer.attributes = {k: v for k, v in customer.attributes.items() if k != key}
            changed += 1
    session.delete(definition)
    session.flush()
    return changed


# --- values --------------------------------------------------------------------------------------


def check_attribute_value(definition: AttributeDefinition, value: Any) -> Any:
    """The JSON value stored for ``value`` (already parsed from JSON); ``ValueError`` if it has the wrong type."""
    kind = definition.type
    if kind == "string":
        if not isinstance(value, str):
            raise ValueError("expected a string")
        if len(value) > MAX_STRING_VALUE:
            raise ValueError(f"a string attribute has at most {MAX_STRING_VALUE} characters")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("expected a whole number")
        if abs(value) > 2**53:
            raise ValueError("the number is too large")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("expected a number")
        if not math.isfinite(value) or abs(value) > 1e300:
            raise ValueError("expected a finite number")
        return value
    if kind == "date":
        if not isinstance(value, str):
            raise ValueError("expected a date as YYYY-MM-DD")
        return _iso_date(value)
    raise ValueError(f"unknown attribute type {kind}")


def parse_attribute_text(definition: AttributeDefinition, text: str) -> Any:
    """The value of a text cell (CSV import, query string) for ``definition``; ``ValueError`` if it does not parse."""
    kind = definition.type
    raw = text.strip()
    if kind == "string":
        return check_attribute_value(definition, raw)
    if kind == "boolean":
        word = raw.lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError("expected true or false (also yes/no, 1/0)")
    if kind == "integer":
        try:
            return check_attribute_value(definition, int(raw))
        except ValueError:
            raise ValueError("expected a whole number") from None
    if kind == "number":
        try:
            number = float(raw)
        except ValueError:
            raise ValueError("expected a number") from None
        return check_attribute_value(definition, number)
    return check_attribute_value(definition, raw)


def _iso_date(text: str) -> str:
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise ValueError("expected a date as YYYY-MM-DD") from None


def validate_attributes(
    values: dict[str, Any], definitions: dict[str, AttributeDefinition], *, field: str = "attributes"
) -> dict[str, Any]:
    """Check every key and value against the organisation's definitions; ``Invalid`` names ``attributes.<key>``.

    A ``None`` value is kept as ``None`` (the caller treats it as "remove this attribute").
    """
    checked: dict[str, Any] = {}
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            raise Invalid(
                f"Unknown custom attribute '{key}'; define it first at /api/v1/customer-attributes.",
                field=f"{field}.{key}",
            )
        if value is None:
            checked[key] = None
            continue
        try:
            checked[key] = check_attribute_value(definition, value)
        except ValueError as exc:
            raise Invalid(f"{field}.{key}: {exc} ({definition.type}).", field=f"{field}.{key}") from None
    return checked
