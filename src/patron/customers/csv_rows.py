"""Reading a customer CSV: decoding, the header mapping, and checking one row at a time.

Pure (no database): the importer gives it the organisation's attribute definitions and users.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from types import SimpleNamespace
from typing import Any

from patron.core.errors import Invalid
from patron.customers.attributes import parse_attribute_text
from patron.customers.models import EDUCATION_LEVELS, GENDERS, IDENTITY_TYPES, INCOME_BANDS
from patron.customers.normalise import (
    normalise_country,
    normalise_email,
    normalise_identity,
    normalise_phone,
    normalise_tags,
    normalise_timezone,
    parse_birth_date,
)

MAX_COLUMNS = 300
NAME_FIELDS = ("first_name", "last_name", "full_name", "email")
TARGETS = ("first_name", "last_name", "full_name", "email", "phone", "birth_year", "birth_date", "gender",
           "education", "occupation", "income_band", "city", "country", "timezone", "tags", "lifestyle_tags",
           "owner_email", "owner_id")  # fmt: skip
EXTRA_IDENTITY_TYPES = tuple(t for t in IDENTITY_TYPES if t not in ("email", "phone"))
IGNORE = ("", "-", "ignore")

#: header (lower-cased, runs of spaces, dashes, dots and slashes as ``_``) -> field
ALIASES: dict[str, str] = {
    **{name: name for name in TARGETS},
    "firstname": "first_name", "first": "first_name", "given_name": "first_name", "forename": "first_name",
    "lastname": "last_name", "last": "last_name", "surname": "last_name", "family_name": "last_name",
    "name": "full_name", "fullname": "full_name", "customer_name": "full_name", "customer": "full_name",
    "e_mail": "email", "email_address": "email", "e_mail_address": "email", "mail": "email",
    "phone_number": "phone", "telephone": "phone", "tel": "phone", "mobile": "phone", "mobile_phone": "phone",
    "cell": "phone", "phone_no": "phone",
    "year_of_birth": "birth_year", "born": "birth_year", "birthyear": "birth_year",
    "birthday": "birth_date", "birthdate": "birth_date", "date_of_birth": "birth_date", "dob": "birth_date",
    "sex": "gender", "job": "occupation", "job_title": "occupation", "profession": "occupation",
    "income": "income_band", "town": "city", "country_code": "country", "time_zone": "timezone",
    "tz": "timezone", "labels": "tags", "tag": "tags", "lifestyle": "lifestyle_tags", "owner": "owner_email",
    **{t: f"identity.{t}" for t in EXTRA_IDENTITY_TYPES},
}  # fmt: skip
GENDER_WORDS = {"f": "female", "w": "female", "woman": "female", "m": "male", "man": "male", "d": "diverse",
                "x": "diverse", "other": "diverse", "non_binary": "diverse", "nonbinary": "diverse",
                "unknown": "undisclosed", "n_a": "undisclosed", "prefer_not_to_say": "undisclosed"}  # fmt: skip
_SEPARATORS_RE = re.compile(r"[\s\-./]+")
_LIST_SPLIT_RE = re.compile(r"[;|,]")

# Where a converted cell goes in the parsed row.
_FIELD, _ATTRIBUTE, _IDENTITY, _TAGS, _OWNER = range(5)


class RowError(Exception):
    """A row that cannot be imported: the field (and column) at fault and why."""

    def __init__(self, field_name: str | None, reason: str, column: str | None = None) -> None:
        super().__init__(reason)
        self.field = field_name
        self.reason = reason
        self.column = column


@dataclass(slots=True)
class ParsedRow:
    """A checked row: profile ``values`` (``attributes`` as a dict), tags, and identity ``(type, value)`` pairs."""

    number: int
    values: dict[str, Any]
    tags: list[str]
    identities: list[tuple[str, str]]

    def keys(self) -> list[tuple[str, str]]:
        """Every identity this row can be matched on: identity columns first, then e-mail and phone."""
        keys = list(self.identities)
        email, phone = self.values.get("email"), self.values.get("phone")
        if email:
            keys.append(("email", email))
        if phone:
            keys.append(("phone", phone))
        return keys


# --- the file --------------------------------------------------------------------------------------


def decode_csv(data: bytes) -> str:
    """UTF-8 text (a BOM is dropped); Invalid naming ``file`` for anything else."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(
            f"The file is not UTF-8 text (byte 0x{data[exc.start]:02x} at position {exc.start} cannot "
            "be read). Save it as 'CSV UTF-8' and import it again.",
            field="file",
        ) from None


def read_records(text: str) -> list[list[str]]:
    """All records of the CSV text; the delimiter (comma, semicolon or tab) is the one the header uses most."""
    if "\x00" in text:
        raise Invalid("The file contains NUL bytes; it is not a CSV text file.", field="file")
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise Invalid("The file is empty; its first line must name the columns.", field="file")
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise Invalid(f"The file is not readable CSV: {exc}.", field="file") from None
    if len(records[0]) > MAX_COLUMNS:
        raise Invalid(
            f"The file has {len(records[0])} columns; at most {MAX_COLUMNS} are supported.", field="file"
        )
    return records


# --- the mapping -----------------------------------------------------------------------------------


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
    headers: list[str], mapping: Mapping[str, str] | None, attribute_keys: Iterable[str]
) -> tuple[dict[int, str], list[str]]:
    """``({column index: field}, ignored headers)``; Invalid for a mapping that cannot apply."""
    attribute_keys = set(attribute_keys)
    stripped = [h.strip() for h in headers]
    explicit: dict[str, str] = {}
    for header, target in (mapping or {}).items():
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


# --- one row ---------------------------------------------------------------------------------------


def _enum(name: str, allowed: tuple[str, ...], words: dict[str, str] | None = None) -> Callable[[str], str]:
    lookup = {value: value for value in allowed} | (words or {})

    def convert(cell: str) -> str:
        found = lookup.get(cell) or lookup.get(_SEPARATORS_RE.sub("_", cell.lower()))
        if found is None:
            raise ValueError(
                f"'{cell[:40]}' is not a {name.replace('_', ' ')}; use one of {', '.join(allowed)}"
            )
        return found

    return convert


def _text(limit: int) -> Callable[[str], str]:
    def convert(cell: str) -> str:
        if len(cell) > limit:
            raise ValueError(f"longer than {limit} characters")
        return cell

    return convert


def _birth_year(latest: int) -> Callable[[str], int]:
    def convert(cell: str) -> int:
        if not cell.isdigit() or not 1900 <= int(cell) <= latest:
            raise ValueError(f"'{cell[:20]}' is not a birth year between 1900 and {latest}")
        return int(cell)

    return convert


def _word_list(limit: int) -> Callable[[str], list[str]]:
    def convert(cell: str) -> list[str]:
        words = [w for w in _LIST_SPLIT_RE.split(cell) if w.strip()]
        if len(words) > limit:
            raise ValueError(f"at most {limit} entries")
        return normalise_tags(words)

    return convert


#: Columns whose cells repeat a handful of values (codes, years, tag lists): their checks are remembered.
MEMOISED = frozenset({"birth_year", "gender", "education", "income_band", "country", "timezone", "tags",
                      "lifestyle_tags"})  # fmt: skip
MEMO_LIMIT = 4096


def _memoised(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """``convert`` remembering its answer (value or refusal) for up to :data:`MEMO_LIMIT` distinct cells.

    In a large file these columns hold a few distinct values each, yet were checked again on every row: a
    third of the time spent checking rows. Lists are copied on the way out, so no two rows share one.
    """
    answers: dict[str, tuple[bool, Any]] = {}

    def convert_once(cell: str) -> Any:
        answer = answers.get(cell)
        if answer is None:
            try:
                answer = (True, convert(cell))
            except ValueError as exc:
                answer = (False, str(exc))
            if len(answers) < MEMO_LIMIT:
                answers[cell] = answer
        accepted, value = answer
        if not accepted:
            raise ValueError(value)
        return list(value) if type(value) is list else value

    return convert_once


class RowParser:
    """Checks rows of one file: built once from the mapping, then :meth:`parse` per row."""

    def __init__(
        self,
        headers: list[str],
        columns: dict[int, str],
        definitions: Mapping[str, Any],
        user_ids_by_email: Mapping[str, int],
    ) -> None:
        self.headers = headers
        self.width = len(headers)
        user_ids = set(user_ids_by_email.values())

        def owner_email(cell: str) -> int:
            found = user_ids_by_email.get(cell.lower())
            if found is None:
                raise ValueError(f"no user {cell[:80]} in this organisation")
            return found

        def owner_id(cell: str) -> int:
            if not cell.isdigit() or int(cell) not in user_ids:
                raise ValueError(f"no user {cell[:20]} in this organisation")
            return int(cell)

        fixed: dict[str, Callable[[str], Any]] = {
            "first_name": _text(100), "last_name": _text(100), "full_name": _text(201), "occupation": _text(100),
            "city": _text(100), "email": normalise_email, "phone": normalise_phone,
            "birth_year": _birth_year(date.today().year), "birth_date": parse_birth_date,
            "gender": _enum("gender", GENDERS, GENDER_WORDS),
            "education": _enum("education", EDUCATION_LEVELS), "income_band": _enum("income_band", INCOME_BANDS),
            "country": normalise_country, "timezone": normalise_timezone, "tags": _word_list(50),
            "lifestyle_tags": _word_list(30), "owner_email": owner_email, "owner_id": owner_id,
        }  # fmt: skip
        self.columns: list[tuple[int, str, Callable[[str], Any], int, str]] = []
        for index, target in sorted(columns.items()):
            if target.startswith("attr."):
                # a plain copy: reading an ORM attribute per cell costs more than the check itself
                definition = SimpleNamespace(key=target[5:], type=definitions[target[5:]].type)
                self.columns.append(
                    (
                        index,
                        target,
                        lambda cell, d=definition: parse_attribute_text(d, cell),
                        _ATTRIBUTE,
                        target[5:],
                    )
                )
            elif target.startswith("identity."):
                kind = target[9:]
                self.columns.append(
                    (index, target, lambda cell, k=kind: normalise_identity(k, cell), _IDENTITY, kind)
                )
            else:
                slot = _TAGS if target == "tags" else _OWNER if target == "owner_email" else _FIELD
                convert = _memoised(fixed[target]) if target in MEMOISED else fixed[target]
                self.columns.append((index, target, convert, slot, target))

    def _header_of(self, target: str) -> str | None:
        """The header of the column mapped to ``target``."""
        return next((self.headers[index].strip() for index, name, *_ in self.columns if name == target), None)

    def parse(self, number: int, record: list[str]) -> ParsedRow:
        """The checked row, or :class:`RowError` naming the first problem."""
        size = len(record)
        if size > self.width and any(cell.strip() for cell in record[self.width :]):
            raise RowError(None, f"the row has {size} values but the header names {self.width} columns")
        values: dict[str, Any] = {}
        attributes: dict[str, Any] | None = None
        tags: list[str] = []
        identities: list[tuple[str, str]] = []
        for index, target, convert, slot, name in self.columns:
            if index >= size:
                continue
            cell = record[index].strip()
            if not cell:
                continue
            try:
                value = convert(cell)
            except ValueError as exc:
                raise RowError(target, str(exc), self.headers[index].strip()) from None
            if slot == _FIELD:
                values[name] = value
            elif slot == _ATTRIBUTE:
                if attributes is None:
                    attributes = {}
                attributes[name] = value
            elif slot == _IDENTITY:
                identities.append((name, value))
            elif slot == _TAGS:
                tags = value
            else:
                values["owner_id"] = value
        full_name = values.pop("full_name", None)
        if full_name and not values.get("first_name") and not values.get("last_name"):
            first, _, last = full_name.rpartition(" ")
            values["first_name"], values["last_name"] = (first, last) if first else (last, "")
            if len(values["first_name"]) > 100 or len(values["last_name"]) > 100:
                raise RowError("full_name", "a name part is longer than 100 characters")
        born = values.get("birth_date")
        if born is not None:
            if values.get("birth_year", born.year) != born.year:
                raise RowError("birth_date", f"the date is in {born.year} but birth_year says {values['birth_year']}",
                               self._header_of("birth_date"))  # fmt: skip
            values["birth_year"] = born.year
        if attributes:
            values["attributes"] = attributes
        if not (
            values.get("first_name") or values.get("last_name") or values.get("email") or values.get("phone")
        ):
            raise RowError("first_name", "the row has no name, e-mail or phone")
        return ParsedRow(number=number, values=values, tags=tags, identities=identities)
