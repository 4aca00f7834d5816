"""Answers as tables: the analysis frame, the CSV export and the checked rows of a CSV import.

Pure functions of a questionnaire and stored answers; the surveys service reads and writes the rows.

* :func:`answers_frame`: one row per response, numeric items as floats with reverse coding applied
  (:func:`~patron.surveys.definition.recode`), choices and texts as text, multiple choices as ``"a; b"``.
* :func:`answers_csv`: the raw answers as stored (not recoded), one column per item.
* :func:`read_answers_csv`: a CSV whose header names item codes (plus optional ``customer_id`` and
  ``wave`` columns), each row checked with :func:`~patron.surveys.definition.clean_answers`; problems are
  collected per row (spreadsheet row numbers: the header is row 1) so a file is taken whole or not at all.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from patron.core.errors import Invalid, PatronError
from patron.surveys.definition import NUMERIC_KINDS, Questionnaire, clean_answers, recode

META_COLUMNS = ("response_id", "customer_id", "wave", "submitted_at")
#: export columns an import accepts and ignores, so an exported file can be imported elsewhere
IGNORED_ON_IMPORT = ("response_id", "submitted_at", "source")
MAX_ROW_ERRORS = 20
MULTIPLE_SEPARATOR = "; "


@dataclass(frozen=True)
class StoredAnswers:
    """One stored response as the tables need it."""

    response_id: int
    customer_id: int | None
    wave: int
    submitted_at: datetime
    answers: dict
    source: str = ""


def _text(value: Any) -> str:
    if isinstance(value, list):
        return MULTIPLE_SEPARATOR.join(str(v) for v in value)
    return str(value)


def answers_frame(q: Questionnaire, rows: list[StoredAnswers]) -> pd.DataFrame:
    """The analysis frame: ``response_id, customer_id, wave, submitted_at`` then every item code."""
    items = q.items()
    known = {item.code for item in items}
    records = []
    for row in rows:
        answers = recode(q, {k: v for k, v in (row.answers or {}).items() if k in known})
        record: dict[str, Any] = {"response_id": row.response_id, "customer_id": row.customer_id,
                                  "wave": row.wave, "submitted_at": row.submitted_at}
        for item in items:
            value = answers.get(item.code)
            if value is None:
                record[item.code] = float("nan") if item.kind in NUMERIC_KINDS else None
            elif item.kind in NUMERIC_KINDS:
                record[item.code] = float(value)
            else:
                record[item.code] = _text(value)
        records.append(record)
    columns = [*META_COLUMNS, *(item.code for item in items)]
    frame = pd.DataFrame.from_records(records, columns=columns)
    for item in items:
        if item.kind in NUMERIC_KINDS:
            frame[item.code] = frame[item.code].astype(float)
    frame["customer_id"] = frame["customer_id"].astype("Int64")
    return frame


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = _text(value)
    # a cell that starts like a formula is neutralised so a spreadsheet does not execute it
    if text[:1] in ("=", "+", "-", "@") and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def answers_csv(q: Questionnaire, rows: list[StoredAnswers]) -> str:
    """The raw answers (not recoded) as CSV: ``response_id, customer_id, wave, submitted_at, source`` and
    one column per item."""
    codes = [item.code for item in q.items()]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*META_COLUMNS, "source", *codes])
    for row in rows:
        answers = row.answers or {}
        writer.writerow([row.response_id, _cell(row.customer_id), row.wave, _cell(row.submitted_at), row.source,
                         *(_cell(answers.get(code)) for code in codes)])
    return out.getvalue()


@dataclass
class ImportRow:
    """One checked row of an answers CSV."""

    line: int
    answers: dict
    customer_id: int | None = None
    wave: int | None = None


@dataclass
class ImportCheck:
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)

    def add_error(self, line: int, where: str, message: str) -> None:
        if len(self.errors) < MAX_ROW_ERRORS:
            self.errors.append({"row": line, "field": where, "message": message})
        else:
            self.errors_left_off += 1

    errors_left_off: int = 0

    def raise_if_any(self) -> None:
        if not self.errors:
            return
        first = self.errors[0]
        more = len(self.errors) - 1 + self.errors_left_off
        suffix = f" ({more} more problem(s) listed in errors)" if more else ""
        raise Invalid(f"row {first['row']}: {first['field']}: {first['message']}. Nothing was imported{suffix}.",
                      field="file", errors=self.errors)


def _cell_value(item_kind: str, text: str) -> Any:
    text = text.strip()
    if text[:2] in ("'=", "'+", "'-", "'@"):
        text = text[1:]
    if item_kind == "multiple":
        return [part.strip() for part in text.split(";") if part.strip()]
    return text


def read_answers_csv(q: Questionnaire, csv_text: str, *, partial: bool = False, max_rows: int = 100_000) -> ImportCheck:
    """Read and check an answers CSV. Header problems raise Invalid naming ``file`` at once; row problems
    are collected in the result's ``errors`` (see :meth:`ImportCheck.raise_if_any`)."""
    if not isinstance(csv_text, str) or not csv_text.strip():
        raise Invalid("The file is empty; its first line must name the item codes.", field="file")
    if "\x00" in csv_text:
        raise Invalid("The file contains NUL bytes; it is not a CSV text file.", field="file")
    text = csv_text.lstrip("\ufeff")
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise Invalid(f"The file is not readable CSV: {exc}.", field="file") from None
    header = [h.strip() for h in records[0]]
    kinds = {item.code: item.kind for item in q.items()}
    unknown = [h for h in header if h not in kinds and h not in ("customer_id", "wave") and h not in IGNORED_ON_IMPORT]
    if unknown:
        raise Invalid(f"The column '{unknown[0][:60]}' is not an item code of this questionnaire.", field="file")
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise Invalid(f"The column '{repeated[0]}' appears twice.", field="file")
    if not any(h in kinds for h in header):
        raise Invalid("The header names none of the questionnaire's item codes.", field="file")
    body = [r for r in records[1:] if any(cell.strip() for cell in r)]
    if len(body) > max_rows:
        raise Invalid(f"The file has {len(body)} rows; at most {max_rows} at a time.", field="file")
    check = ImportCheck()
    line = 1
    for record in records[1:]:
        line += 1
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            check.add_error(line, "file", f"has {len(record)} cells, the header {len(header)}")
            continue
        cells = dict(zip(header, record, strict=True))
        row = ImportRow(line=line, answers={})
        ok = True
        for name, parse in (("customer_id", int), ("wave", int)):
            raw = cells.get(name, "").strip()
            if not raw:
                continue
            try:
                value = parse(raw)
                if value < 1 or value > 2**31 - 1:
                    raise ValueError
            except ValueError:
                check.add_error(line, name, f"must be a positive whole number, got {raw[:30]!r}")
                ok = False
                continue
            setattr(row, name, value)
        given = {code: _cell_value(kinds[code], cell) for code, cell in cells.items() if code in kinds}
        try:
            row.answers = clean_answers(q, given, partial=partial)
        except PatronError as exc:
            check.add_error(line, exc.field or "answers", exc.detail)
            ok = False
        if ok:
            check.rows.append(row)
    if not check.rows and not check.errors:
        raise Invalid("The file has a header but no rows of answers.", field="file")
    return check
