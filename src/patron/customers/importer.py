"""CSV import of customer profiles.

The file is UTF-8 (a byte-order mark is fine), comma-, semicolon- or tab-separated, with a header
row. Columns are mapped to profile fields by name (``E-mail`` -> ``email``, ``Surname`` -> ``last_name``,
see :data:`ALIASES`), by an explicit mapping ``{"csv header": "field"}``, ``attr.<key>`` for custom
attributes and ``identity.<type>`` (or just the type, like ``loyalty_card``) for identities.

Every row is checked on its own: valid rows land, rejected rows are reported with the row number
(the header is row 1), the field and the reason, and are not written. A row matching an existing
customer - by an identity column, the e-mail or the phone - updates it instead of creating a
duplicate, so importing the same file twice changes nothing the second time. Empty cells leave
existing values alone; tags are added to the customer's tags.

Writes are Core bulk statements (one ``INSERT`` per table per batch) and the import is recorded as
one ``customers.import`` audit entry rather than one per row.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from patron.accounts import service as accounts_service
from patron.core import audit
from patron.core.db import utcnow
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
    TimelineEntry,
)
from patron.customers.normalise import (
    check_birth_year,
    normalise_country,
    normalise_email,
    normalise_identity,
    normalise_phone,
    normalise_tags,
    normalise_timezone,
)

Progress = Callable[[int, int], None]

MAX_REPORTED_REJECTIONS = 1000
MAX_COLUMNS = 300
WRITE_BATCH = 5000
LOOKUP_CHUNK = 500
NAME_FIELDS = ("first_name", "last_name", "full_name", "email")
SCALAR_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "birth_year",
    "gender",
    "education",
    "occupation",
    "income_band",
    "city",
    "country",
    "timezone",
    "owner_id",
)
PROFILE_COLUMNS = (*SCALAR_FIELDS, "lifestyle_tags", "attributes")
TARGETS = (
    "first_name",
    "last_name",
    "full_name",
    "email",
    "phone",
    "birth_year",
    "gender",
    "education",
    "occupation",
    "income_band",
    "city",
    "country",
    "timezone",
    "tags",
    "lifestyle_tags",
    "owner_email",
    "owner_id",
)
EXTRA_IDENTITY_TYPES = tuple(t for t in IDENTITY_TYPES if t not in ("email", "phone"))
IGNORE = ("", "-", "ignore")

#: header (lower-cased, separators as ``_``) -> field
ALIASES: dict[str, str] = {
    **{name: name for name in TARGETS},
    "firstname": "first_name",
    "first": "first_name",
    "given_name": "first_name",
    "forename": "first_name",
    "lastname": "last_name",
    "last": "last_name",
    "surname": "last_name",
    "family_name": "last_name",
    "name": "full_name",
    "fullname": "full_name",
    "customer_name": "full_name",
    "customer": "full_name",
    "e_mail": "email",
    "email_address": "email",
    "e_mail_address": "email",
    "mail": "email",
    "phone_number": "phone",
    "telephone": "phone",
    "tel": "phone",
    "mobile": "phone",
    "mobile_phone": "phone",
    "cell": "phone",
    "phone_no": "phone",
    "year_of_birth": "birth_year",
    "born": "birth_year",
    "birthyear": "birth_year",
    "sex": "gender",
    "job": "occupation",
    "job_title": "occupation",
    "profession": "occupation",
    "income": "income_band",
    "town": "city",
    "country_code": "country",
    "time_zone": "timezone",
    "tz": "timezone",
    "labels": "tags",
    "tag": "tags",
    "lifestyle": "lifestyle_tags",
    "owner": "owner_email",
    **{t: f"identity.{t}" for t in EXTRA_IDENTITY_TYPES},
}
GENDER_WORDS = {
    "f": "female",
    "w": "female",
    "woman": "female",
    "m": "male",
    "man": "male",
    "d": "diverse",
    "x": "diverse",
    "other": "diverse",
    "non_binary": "diverse",
    "nonbinary": "diverse",
    "unknown": "undisclosed",
    "n/a": "undisclosed",
    "prefer_not_to_say": "undisclosed",
}
_SEPARATORS_RE = re.compile(r"[\s\-./]+")
_LIST_SPLIT_RE = re.compile(r"[;|,]")


@dataclass
class RejectedRow:
    row: int
    field: str | None
    reason: str
    column: str | None = None


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    rejected_count: int = 0
    total: int = 0
    dry_run: bool = False
    mapping: dict[str, str] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)

    def reject(self, row: int, field_name: str | None, reason: str, column: str | None = None) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REPORTED_REJECTIONS:
            self.rejected.append(RejectedRow(row=row, field=field_name, reason=reason, column=column))


class _RowError(Exception):
    def __init__(self, field_name: str | None, reason: str, column: str | None = None) -> None:
        super().__init__(reason)
        self.field = field_name
        self.reason = reason
        self.column = column


@dataclass
class _Row:
    number: int
    values: dict[str, Any]
    tags: list[str]
    identities: list[tuple[str, str]]


# --- reading the file ------------------------------------------------------------------------------


def decode_csv(data: bytes) -> str:
    """UTF-8 text (a BOM is dropped); Invalid naming ``file`` for anything else."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(
            f"The file is not UTF-8 text (byte 0x{data[exc.start]:02x} at position {exc.start} cannot be "
            "read). Save it as 'CSV UTF-8' and import it again.",
            field="file",
        ) from None


def _records(text: str) -> list[list[str]]:
    if not text.strip():
        raise Invalid("The file is empty; its first line must name the columns.", field="file")
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise Invalid(f"The file is not readable CSV: {exc}.", field="file") from None


def _header_key(header: str) -> str:
    lowered = header.strip().lower()
    if lowered.startswith(("attr.", "identity.")):
        return lowered
    return _SEPARATORS_RE.sub("_", lowered).strip("_")


def _valid_target(target: str, attribute_keys: Iterable[str]) -> bool:
    if target in TARGETS:
        return True
    if target.startswith("attr."):
        return target[5:] in attribute_keys
    if target.startswith("identity."):
        return target[9:] in IDENTITY_TYPES
    return False


def resolve_mapping(
    headers: list[str], mapping: dict[str, str] | None, attribute_keys: Iterable[str]
) -> tuple[dict[int, str], list[str]]:
    """``({column index: field}, ignored headers)``; Invalid for a mapping that cannot apply."""
    attribute_keys = set(attribute_keys)
    explicit: dict[str, str] = {}
    stripped = [h.strip() for h in headers]
    for header, target in (mapping or {}).items():
        if not isinstance(header, str) or not isinstance(target, str):
            raise Invalid("The mapping must be an object of column name -> field name.", field="mapping")
        matches = [h for h in stripped if h == header.strip()] or [
            h for h in stripped if h.lower() == header.strip().lower()
        ]
        if not matches:
            raise Invalid(
                f"The mapping names a column '{header}' the file does not have "
                f"(columns: {', '.join(stripped)[:300]}).",
                field=f"mapping.{header}",
            )
        target = target.strip()
        if target.lower() in IGNORE:
            explicit[matches[0]] = ""
            continue
        if target in EXTRA_IDENTITY_TYPES:
            target = f"identity.{target}"
        if not _valid_target(target, attribute_keys):
            raise Invalid(
                f"'{target}' is not a field to import into: use one of {', '.join(TARGETS)}, "
                "attr.<key> of a defined attribute or identity.<type>.",
                field=f"mapping.{header}",
            )
        explicit[matches[0]] = target
    columns: dict[int, str] = {}
    ignored: list[str] = []
    seen: dict[str, str] = {}
    for index, header in enumerate(stripped):
        if header in explicit:
            target = explicit[header]
        else:
            key = _header_key(header)
            target = (
                ALIASES.get(key)
                or (f"attr.{key}" if key in attribute_keys else None)
                or (
                    key
                    if key.startswith(("attr.", "identity.")) and _valid_target(key, attribute_keys)
                    else None
                )
            )
        if not target:
            if header:
                ignored.append(header)
            continue
        if target in seen:
            raise Invalid(
                f"The columns '{seen[target]}' and '{header}' both map to {target}; map one of them "
                "to another field or to 'ignore'.",
                field="mapping",
            )
        seen[target] = header
        columns[index] = target
    if not any(target in NAME_FIELDS for target in columns.values()):
        raise Invalid(
            "The file has no name or e-mail column: it needs first_name, last_name, name or email "
            f"(found: {', '.join(h for h in stripped if h)[:300] or 'nothing'}).",
            field="file",
        )
    return columns, ignored


# --- checking one row ------------------------------------------------------------------------------


def _enum(name: str, allowed: tuple[str, ...], words: dict[str, str] | None = None) -> Callable[[str], str]:
    def convert(cell: str) -> str:
        key = _SEPARATORS_RE.sub("_", cell.strip().lower())
        key = (words or {}).get(key, key)
        if key not in allowed:
            raise ValueError(
                f"'{cell[:40]}' is not a {name.replace('_', ' ')}; use one of {', '.join(allowed)}"
            )
        return key

    return convert


def _text(limit: int) -> Callable[[str], str]:
    def convert(cell: str) -> str:
        if len(cell) > limit:
            raise ValueError(f"longer than {limit} characters")
        return cell

    return convert


def _birth_year(cell: str) -> int:
    if not cell.isdigit():
        raise ValueError(f"'{cell[:20]}' is not a year")
    return check_birth_year(int(cell))


def _word_list(limit: int) -> Callable[[str], list[str]]:
    def convert(cell: str) -> list[str]:
        words = [w for w in _LIST_SPLIT_RE.split(cell) if w.strip()]
        if len(words) > limit:
            raise ValueError(f"at most {limit} entries")
        return normalise_tags(words)

    return convert


def _converters(
    columns: dict[int, str], session: Session, org_id: int, definitions: dict
) -> list[tuple[int, str, Callable[[str], Any]]]:
    users = accounts_service.list_users(session, org_id=org_id)
    user_by_email = {user.email: user.id for user in users}
    user_ids = {user.id for user in users}

    def owner_email(cell: str) -> int:
        found = user_by_email.get(cell.strip().lower())
        if found is None:
            raise ValueError(f"no user {cell[:80]} in this organisation")
        return found

    def owner_id(cell: str) -> int:
        if not cell.isdigit() or int(cell) not in user_ids:
            raise ValueError(f"no user {cell[:20]} in this organisation")
        return int(cell)

    fixed: dict[str, Callable[[str], Any]] = {
        "first_name": _text(100),
        "last_name": _text(100),
        "full_name": _text(201),
        "occupation": _text(100),
        "city": _text(100),
        "email": normalise_email,
        "phone": normalise_phone,
        "birth_year": _birth_year,
        "gender": _enum("gender", GENDERS, GENDER_WORDS),
        "education": _enum("education", EDUCATION_LEVELS),
        "income_band": _enum("income_band", INCOME_BANDS),
        "country": normalise_country,
        "timezone": normalise_timezone,
        "tags": _word_list(50),
        "lifestyle_tags": _word_list(30),
        "owner_email": owner_email,
        "owner_id": owner_id,
    }
    converters = []
    for index, target in columns.items():
        if target.startswith("attr."):
            definition = definitions[target[5:]]
            converters.append((index, target, lambda cell, d=definition: parse_attribute_text(d, cell)))
        elif target.startswith("identity."):
            kind = target[9:]
            converters.append((index, target, lambda cell, k=kind: normalise_identity(k, cell)))
        else:
            converters.append((index, target, fixed[target]))
    return converters


def _parse_row(number: int, record: list[str], width: int, converters, headers: list[str]) -> _Row:
    if len(record) > width and any(cell.strip() for cell in record[width:]):
        raise _RowError(None, f"the row has {len(record)} values but the header names {width} columns")
    values: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    tags: list[str] = []
    identities: list[tuple[str, str]] = []
    for index, target, convert in converters:
        if index >= len(record):
            continue
        cell = record[index].strip()
        if not cell:
            continue
        try:
            value = convert(cell)
        except ValueError as exc:
            raise _RowError(target, str(exc), headers[index]) from None
        if target.startswith("attr."):
            attributes[target[5:]] = value
        elif target.startswith("identity."):
            identities.append((target[9:], value))
        elif target == "tags":
            tags = value
        elif target == "owner_email":
            values["owner_id"] = value
        else:
            values[target] = value
    full_name = values.pop("full_name", None)
    if full_name and not values.get("first_name") and not values.get("last_name"):
        first, _, last = full_name.rpartition(" ")
        values["first_name"], values["last_name"] = (first, last) if first else (last, "")
        if len(values["first_name"]) > 100 or len(values["last_name"]) > 100:
            raise _RowError("full_name", "a name part is longer than 100 characters")
    if attributes:
        values["attributes"] = attributes
    if not any(values.get(name) for name in ("first_name", "last_name", "email", "phone")):
        raise _RowError("first_name", "the row has no name, e-mail or phone")
    return _Row(number=number, values=values, tags=tags, identities=identities)


# --- matching rows to customers --------------------------------------------------------------------


def _row_keys(row: _Row) -> list[tuple[str, str]]:
    keys = list(row.identities)
    for kind in ("email", "phone"):
        if row.values.get(kind):
            keys.append((kind, row.values[kind]))
    return keys


def _known_keys(session: Session, org_id: int, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Which of ``keys`` already belong to a customer: identities first, then the e-mail/phone columns."""
    by_type: dict[str, list[str]] = {}
    for kind, value in keys:
        by_type.setdefault(kind, []).append(value)
    found: dict[tuple[str, str], int] = {}
    for kind, values in by_type.items():
        for start in range(0, len(values), LOOKUP_CHUNK):
            chunk = values[start : start + LOOKUP_CHUNK]
            rows = session.execute(
                select(Identity.value, Identity.customer_id).where(
                    Identity.org_id == org_id, Identity.type == kind, Identity.value.in_(chunk)
                )
            )
            found.update(((kind, value), customer_id) for value, customer_id in rows)
            if kind in ("email", "phone"):
                column = getattr(Customer, kind)
                rows = session.execute(
                    select(column, Customer.id)
                    .where(Customer.org_id == org_id, column.in_(chunk), Customer.merged_into_id.is_(None))
                    .order_by(Customer.id)
                )
                for value, customer_id in rows:
                    found.setdefault((kind, value), customer_id)
    return found


def _load_existing(
    session: Session, org_id: int, ids: list[int]
) -> tuple[dict[int, dict], dict[int, set[str]]]:
    states: dict[int, dict] = {}
    tags: dict[int, set[str]] = {cid: set() for cid in ids}
    columns = [getattr(Customer, name) for name in PROFILE_COLUMNS]
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        for row in session.execute(
            select(Customer.id, Customer.erased_at, *columns).where(
                Customer.org_id == org_id, Customer.id.in_(chunk)
            )
        ):
            states[row.id] = {
                "erased": row.erased_at is not None,
                **{name: getattr(row, name) for name in PROFILE_COLUMNS},
            }
            states[row.id]["attributes"] = dict(states[row.id]["attributes"] or {})
            states[row.id]["lifestyle_tags"] = list(states[row.id]["lifestyle_tags"] or [])
        for customer_id, tag in session.execute(
            select(CustomerTag.customer_id, CustomerTag.tag).where(
                CustomerTag.org_id == org_id, CustomerTag.customer_id.in_(chunk)
            )
        ):
            tags[customer_id].add(tag)
    return states, tags


def _apply(state: dict, values: dict) -> list[str]:
    """Lay a row's values over a customer's state; returns the fields that changed."""
    changed = []
    for name, value in values.items():
        if name == "attributes":
            merged = {**state["attributes"], **value}
            if merged != state["attributes"]:
                state["attributes"] = merged
                changed.append(name)
        elif state.get(name) != value:
            state[name] = value
            changed.append(name)
    return changed


# --- the import ------------------------------------------------------------------------------------


def import_customers_csv(
    session: Session,
    *,
    org_id: int,
    stream: BinaryIO | bytes | None = None,
    text: str | None = None,
    mapping: dict[str, str] | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    actor_user_id: int | None = None,
    source_name: str = "",
) -> ImportReport:
    """Import customers from CSV given as bytes/a binary stream (must be UTF-8) or as ``text``.

    ``progress(done, total)`` is called as the rows are checked and then written (``total`` is twice the
    number of data rows). With ``dry_run`` nothing is written; the report says what would happen.
    """
    if text is None:
        if stream is None:
            raise Invalid("No file was given.", field="file")
        text = decode_csv(stream if isinstance(stream, bytes) else stream.read())
    if "\x00" in text:
        raise Invalid("The file contains NUL bytes; it is not a CSV text file.", field="file")
    records = _records(text)
    headers, rows = records[0], records[1:]
    if len(headers) > MAX_COLUMNS:
        raise Invalid(
            f"The file has {len(headers)} columns; at most {MAX_COLUMNS} are supported.", field="file"
        )
    definitions = definitions_by_key(session, org_id=org_id)
    columns, ignored = resolve_mapping(headers, mapping, definitions)
    report = ImportReport(
        dry_run=dry_run, mapping={headers[i].strip(): t for i, t in columns.items()}, ignored_columns=ignored
    )
    converters = _converters(columns, session, org_id, definitions)
    width = len(headers)
    total_work = max(1, 2 * len(rows))

    parsed: list[_Row] = []
    for offset, record in enumerate(rows):
        if not any(cell.strip() for cell in record):
            continue
        report.total += 1
        try:
            parsed.append(_parse_row(offset + 2, record, width, converters, headers))
        except _RowError as exc:
            report.reject(offset + 2, exc.field, exc.reason, exc.column)
        if progress and offset % 2000 == 0:
            progress(offset, total_work)

    known = _known_keys(session, org_id, {key for row in parsed for key in _row_keys(row)})
    existing_ids = sorted(set(known.values()))
    states, existing_tags = _load_existing(session, org_id, existing_ids)

    # Each accepted row lands on a target: ("id", customer id) or ("new", index into `new_states`).
    owner_of: dict[tuple[str, str], tuple[str, int]] = {key: ("id", cid) for key, cid in known.items()}
    new_states: list[dict] = []
    new_tags: list[set[str]] = []
    new_identities: list[list[tuple[str, str]]] = []
    changed_fields: dict[int, set[str]] = {}
    tags_added: dict[int, set[str]] = {}
    identities_added: dict[int, list[tuple[str, str]]] = {}
    contact_before: dict[tuple[int, str], str | None] = {}
    for row in parsed:
        keys = _row_keys(row)
        targets = {owner_of[key] for key in keys if key in owner_of}
        if len(targets) > 1:
            described = ", ".join(
                f"{kind} {value} -> customer {owner_of[(kind, value)][1]}"
                if owner_of[(kind, value)][0] == "id"
                else f"{kind} {value} -> an earlier row"
                for kind, value in keys
                if (kind, value) in owner_of
            )
            report.reject(
                row.number,
                keys[-1][0] if keys else None,
                f"the row matches more than one customer ({described})",
            )
            continue
        if targets:
            kind, ref = targets.pop()
            if kind == "id" and states[ref]["erased"]:
                report.reject(row.number, None, f"the row matches customer {ref}, which was erased")
                continue
            state = states[ref] if kind == "id" else new_states[ref]
            before_email, before_phone = state.get("email"), state.get("phone")
            changed = _apply(state, row.values)
            known_tags = existing_tags[ref] if kind == "id" else new_tags[ref]
            added_tags = set(row.tags) - known_tags
            known_tags |= added_tags
            fresh = [key for key in row.identities if key not in owner_of]
            for key in fresh:
                owner_of[key] = (kind, ref)
            for contact, before in (("email", before_email), ("phone", before_phone)):
                if contact in changed:
                    owner_of[(contact, state[contact])] = (kind, ref)
                    if kind == "id":
                        contact_before.setdefault((ref, contact), before)
            if kind == "new":
                new_identities[ref].extend(fresh)
                report.updated += 1 if (changed or added_tags or fresh) else 0
                report.unchanged += 0 if (changed or added_tags or fresh) else 1
                continue
            if changed or added_tags or fresh:
                changed_fields.setdefault(ref, set()).update(changed)
                tags_added.setdefault(ref, set()).update(added_tags)
                identities_added.setdefault(ref, []).extend(fresh)
                report.updated += 1
            else:
                report.unchanged += 1
            continue
        index = len(new_states)
        state = dict.fromkeys(SCALAR_FIELDS)
        state.update({"first_name": "", "last_name": "", "lifestyle_tags": [], "attributes": {}})
        _apply(state, row.values)
        new_states.append(state)
        new_tags.append(set(row.tags))
        new_identities.append(list(row.identities))
        for key in keys:
            owner_of[key] = ("new", index)
        report.created += 1
    if progress:
        progress(len(rows), total_work)

    if not dry_run:
        _write(
            session,
            org_id=org_id,
            new_states=new_states,
            new_tags=new_tags,
            new_identities=new_identities,
            states=states,
            changed_fields=changed_fields,
            tags_added=tags_added,
            identities_added=identities_added,
            contact_before=contact_before,
            actor_user_id=actor_user_id,
            progress=(lambda done: progress(len(rows) + done, total_work)) if progress else None,
        )
        audit.record(
            session,
            action="customers.import",
            entity="customers",
            org_id=org_id,
            after={
                "file": source_name[:200],
                "total": report.total,
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "rejected": report.rejected_count,
            },
        )
    if progress:
        progress(total_work, total_work)
    return report


# --- writing ---------------------------------------------------------------------------------------


def _write(
    session: Session,
    *,
    org_id: int,
    new_states: list[dict],
    new_tags: list[set[str]],
    new_identities: list[list[tuple[str, str]]],
    states: dict[int, dict],
    changed_fields: dict[int, set[str]],
    tags_added: dict[int, set[str]],
    identities_added: dict[int, list[tuple[str, str]]],
    contact_before: dict[tuple[int, str], str | None],
    actor_user_id: int | None,
    progress: Callable[[int], None] | None,
) -> None:
    now = utcnow()
    customers, identities, tags, timeline = (
        Customer.__table__,
        Identity.__table__,
        CustomerTag.__table__,
        TimelineEntry.__table__,
    )
    done = 0
    for start in range(0, len(new_states), WRITE_BATCH):
        batch = new_states[start : start + WRITE_BATCH]
        rows = [
            {
                "org_id": org_id,
                **{name: state[name] for name in PROFILE_COLUMNS},
                "preferences": {},
                "created_at": now,
                "updated_at": now,
                "erased_at": None,
                "merged_into_id": None,
            }
            for state in batch
        ]
        ids = (
            session.execute(insert(customers).returning(customers.c.id, sort_by_parameter_order=True), rows)
            .scalars()
            .all()
        )
        identity_rows, tag_rows, timeline_rows = [], [], []
        for offset, (customer_id, state) in enumerate(zip(ids, batch, strict=True)):
            index = start + offset
            pairs = [(kind, state[kind]) for kind in ("email", "phone") if state[kind]] + new_identities[
                index
            ]
            identity_rows += [
                {
                    "org_id": org_id,
                    "customer_id": customer_id,
                    "type": kind,
                    "value": value,
                    "created_at": now,
                }
                for kind, value in dict.fromkeys(pairs)
            ]
            tag_rows += [
                {"org_id": org_id, "customer_id": customer_id, "tag": tag} for tag in sorted(new_tags[index])
            ]
            name = f"{state['first_name']} {state['last_name']}".strip() or state["email"] or state["phone"]
            timeline_rows.append(
                {
                    "org_id": org_id,
                    "customer_id": customer_id,
                    "occurred_at": now,
                    "kind": "customer.created",
                    "ref_type": "customer",
                    "ref_id": customer_id,
                    "summary": f"Customer created by import: {name}"[:500],
                    "data": {"source": "import"},
                    "actor_user_id": actor_user_id,
                }
            )
        for table, payload in ((identities, identity_rows), (tags, tag_rows), (timeline, timeline_rows)):
            if payload:
                session.execute(insert(table), payload)
        done += len(batch)
        if progress:
            progress(done)

    changed_ids = sorted(set(changed_fields) | set(tags_added) | set(identities_added))
    profile_updates = [cid for cid in changed_ids if changed_fields.get(cid)]
    if profile_updates:
        statement = (
            update(customers)
            .where(customers.c.id == bindparam("customer_id"))
            .values(updated_at=now, **{name: bindparam(f"new_{name}") for name in PROFILE_COLUMNS})
        )
        session.execute(
            statement,
            [
                {"customer_id": cid, **{f"new_{n}": states[cid][n] for n in PROFILE_COLUMNS}}
                for cid in profile_updates
            ],
        )
    replaced = [(cid, kind, old, states[cid][kind]) for (cid, kind), old in contact_before.items()]
    added = [(cid, kind, value) for cid in changed_ids for kind, value in identities_added.get(cid, [])]
    tag_rows, timeline_rows = [], []
    for cid in changed_ids:
        tag_rows += [
            {"org_id": org_id, "customer_id": cid, "tag": tag} for tag in sorted(tags_added.get(cid, ()))
        ]
        fields = sorted(
            changed_fields.get(cid, set())
            | ({"tags"} if tags_added.get(cid) else set())
            | ({"identities"} if identities_added.get(cid) else set())
        )
        timeline_rows.append(
            {
                "org_id": org_id,
                "customer_id": cid,
                "occurred_at": now,
                "kind": "profile.updated",
                "ref_type": "customer",
                "ref_id": cid,
                "summary": "Profile updated by import: " + ", ".join(fields),
                "data": {"source": "import", "fields": fields},
                "actor_user_id": actor_user_id,
            }
        )
    if replaced or added:
        _update_identities(session, org_id=org_id, replaced=replaced, added=added, now=now)
    for table, payload in ((tags, tag_rows), (timeline, timeline_rows)):
        if payload:
            session.execute(insert(table), payload)
    if progress:
        progress(done + len(changed_ids))


def _update_identities(
    session: Session,
    *,
    org_id: int,
    replaced: list[tuple[int, str, str | None, str]],
    added: list[tuple[int, str, str]],
    now,
) -> None:
    """Keep existing customers' ``email``/``phone`` identities in step with changed columns (old value out,
    new value in) and add the identities rows brought."""
    table = Identity.__table__
    customer_ids = sorted({item[0] for item in [*replaced, *added]})
    held: dict[tuple[int, str, str], int] = {}
    for start in range(0, len(customer_ids), LOOKUP_CHUNK):
        rows = session.execute(
            select(table.c.id, table.c.customer_id, table.c.type, table.c.value).where(
                table.c.org_id == org_id, table.c.customer_id.in_(customer_ids[start : start + LOOKUP_CHUNK])
            )
        )
        held.update(((cid, kind, value), identity_id) for identity_id, cid, kind, value in rows)
    deletes: list[int] = []
    inserts: dict[tuple[int, str, str], dict] = {}
    for cid, kind, old, new in replaced:
        if old and old != new and (cid, kind, old) in held:
            deletes.append(held[(cid, kind, old)])
        if new:
            added.append((cid, kind, new))
    for cid, kind, value in added:
        if (cid, kind, value) not in held:
            inserts[(cid, kind, value)] = {
                "org_id": org_id,
                "customer_id": cid,
                "type": kind,
                "value": value,
                "created_at": now,
            }
    if deletes:
        session.execute(table.delete().where(table.c.org_id == org_id, table.c.id.in_(deletes)))
    if inserts:
        session.execute(insert(table), list(inserts.values()))
