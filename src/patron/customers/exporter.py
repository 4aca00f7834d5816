"""Customer list export as CSV or JSON, produced a batch at a time so any size streams in steady memory.

The CSV uses the import's column names (``attr.<key>`` for custom attributes, ``tags`` joined with
``;``), so an exported file can be edited and imported again.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import asdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core import audit
from patron.core.audit import jsonable
from patron.core.errors import Invalid
from patron.customers.attributes import list_attribute_definitions
from patron.customers.models import Customer
from patron.customers.search import CustomerFilters, filtered_query, iter_customer_batches
from patron.customers.service import tags_for

FORMATS = ("csv", "json")
CSV_COLUMNS = (
    "id",
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
    "city",
    "country",
    "timezone",
    "owner_id",
    "tags",
    "lifestyle_tags",
    "created_at",
    "updated_at",
)
JSON_FIELDS = (
    "id",
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
    "created_at",
    "updated_at",
    "erased_at",
)


def check_format(format: str) -> str:
    if format not in FORMATS:
        raise Invalid(f"Unknown export format '{format}'; choose csv or json.", field="format")
    return format


def count_matching(session: Session, *, org_id: int, filters: CustomerFilters) -> int:
    query = filtered_query(session, org_id=org_id, filters=filters).with_only_columns(Customer.id)
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def do_record_export(session: Session, *, org_id: int, filters: CustomerFilters, format: str) -> int:
    """Audit an export about to be streamed (``customers.export``); returns how many customers it holds."""
    check_format(format)
    count = count_matching(session, org_id=org_id, filters=filters)
    described = {
        key: value for key, value in jsonable(asdict(filters)).items() if value not in (None, [], False)
    }
    audit.record(
        session,
        action="customers.export",
        entity="customers",
        org_id=org_id,
        after={"format": format, "count": count, "filters": described},
    )
    return count


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = str(value)
    # Cells starting like a formula are neutralised so a spreadsheet does not execute them.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def iter_export(
    session: Session, *, org_id: int, filters: CustomerFilters, format: str, batch_size: int = 1000
) -> Iterator[str]:
    """The export as text chunks (one per batch of customers)."""
    check_format(format)
    keys = [definition.key for definition in list_attribute_definitions(session, org_id=org_id)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if format == "csv":
        writer.writerow([*CSV_COLUMNS, *(f"attr.{key}" for key in keys)])
    else:
        yield "["
    first = True
    for batch in iter_customer_batches(session, org_id=org_id, filters=filters, batch_size=batch_size):
        tags = tags_for(session, org_id=org_id, customer_ids=[c.id for c in batch])
        if format == "csv":
            for customer in batch:
                attributes = customer.attributes or {}
                writer.writerow(
                    [
                        *(
                            _cell(tags[customer.id] if name == "tags" else getattr(customer, name))
                            for name in CSV_COLUMNS
                        ),
                        *(_cell(attributes.get(key)) for key in keys),
                    ]
                )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        else:
            parts = []
            for customer in batch:
                item = {name: jsonable(getattr(customer, name)) for name in JSON_FIELDS}
                item["tags"] = tags[customer.id]
                parts.append(json.dumps(item, ensure_ascii=False))
            yield ("" if first else ",") + ",".join(parts)
            first = False
    if format == "csv":
        if buffer.tell():
            yield buffer.getvalue()
    else:
        yield "]"
