"""Multi-row writes for imports, at the speed of the database driver.

SQLAlchemy's Core ``insert`` runs every value of every row through its type processors (JSON
encoding, datetime formatting); at tens of thousands of rows that costs several times the insert
itself. :class:`BulkWriter` prepares each value once, in the form the column type would store, and
hands the rows to the driver: ``executemany`` on SQLite, ``COPY`` on PostgreSQL. It writes exactly what the ORM types write:
``UTCDateTime`` as naive UTC text on SQLite (SQLAlchemy's storage format) and aware datetimes on
PostgreSQL; JSON as its text on both. Patron runs on those two.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.orm import Session

SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"
#: SQLite page cache (KiB, as ``PRAGMA cache_size`` takes it negated) while a bulk write runs. The default
#: 2 MiB holds a small part of the indexes an import of 100,000 customers touches, so SQLite keeps evicting
#: index pages to the WAL and reading them back; the memory is only taken as pages are actually cached.
BULK_CACHE_KIB = 256 * 1024


@contextmanager
def bulk_write_mode(session: Session) -> Iterator[None]:
    """Settings for one large write on ``session``, restored afterwards.

    * The cyclic garbage collector is paused: an import holds hundreds of thousands of parsed rows
      (dicts, lists, tuples) alive until it ends, and each automatic collection walks all of them,
      which cost about a quarter of a 100,000-row import. Those rows make no reference cycles, so
      nothing is left for the collector; it resumes (if it was on) when the block ends.
    * On SQLite the connection's page cache is enlarged (:data:`BULK_CACHE_KIB`), then set back.
    """
    collecting = gc.isenabled()
    gc.disable()
    connection = session.connection()
    previous_cache = None
    if connection.dialect.name == "sqlite":
        previous_cache = connection.exec_driver_sql("PRAGMA cache_size").scalar()
        connection.exec_driver_sql(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
    try:
        yield
    finally:
        if previous_cache is not None and not connection.invalidated:
            connection.exec_driver_sql(f"PRAGMA cache_size = {int(previous_cache)}")
        if collecting:
            gc.enable()


class BulkWriter:
    """Inserts and updates many rows at once on the session's connection (inside its transaction)."""

    def __init__(self, session: Session) -> None:
        self.connection = session.connection()
        self.dialect = self.connection.dialect.name
        if self.dialect not in ("sqlite", "postgresql"):
            raise RuntimeError(f"bulk writes support SQLite and PostgreSQL, not {self.dialect}")
        self.mark = "?" if self.connection.dialect.paramstyle == "qmark" else "%s"

    def stamp(self, moment: datetime) -> Any:
        """A timezone-aware datetime as the column stores it."""
        if self.dialect == "sqlite":
            return moment.astimezone(UTC).strftime(SQLITE_DATETIME)
        return moment

    def json(self, value: Any) -> str:
        """A JSON column value as the driver takes it: its text, as SQLAlchemy's JSON type writes it
        (``json.dumps``). PostgreSQL reads the text into the ``json`` column itself, in ``COPY`` as in
        parameters; wrapping each value in psycopg's ``Json`` instead cost a dump per row through its
        adapter machinery, a fifth of a 100,000-row import there."""
        if not value:
            return "[]" if isinstance(value, list) else "{}"
        return json.dumps(value)

    def from_json(self, value: Any) -> Any:
        """A JSON column value read with :meth:`select_in` (text on SQLite, already parsed on PostgreSQL)."""
        return json.loads(value) if isinstance(value, str) else value

    def _insert_sql(self, table: Table, columns: Sequence[str]) -> str:
        marks = ", ".join([self.mark] * len(columns))
        return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"

    def insert(self, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
        """Insert ``rows`` (tuples in ``columns`` order; values prepared with :meth:`stamp`/:meth:`json`):
        ``executemany`` on SQLite, ``COPY`` on PostgreSQL."""
        if not rows:
            return
        if self.dialect == "postgresql":
            driver_connection = self.connection.connection.driver_connection
            with (
                driver_connection.cursor() as cursor,
                cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        self.connection.exec_driver_sql(self._insert_sql(table, columns), rows)

    def update_by_id(self, table: Table, columns: Sequence[str], rows: list[tuple], *, org_id: int) -> None:
        """``UPDATE table SET columns WHERE id = ? AND org_id = ?``; each row is ``(*values, id)``."""
        if rows:
            assignments = ", ".join(f"{column} = {self.mark}" for column in columns)
            statement = (
                f"UPDATE {table.name} SET {assignments} WHERE id = {self.mark} AND org_id = {self.mark}"
            )
            self.connection.exec_driver_sql(statement, [(*row, org_id) for row in rows])

    def select_in(
        self, sql: str, params: tuple, values: Sequence[Any], *, chunk: int = 900
    ) -> Iterator[tuple]:
        """Rows of ``sql`` - which ends in ``IN ({})`` - for ``values``, a chunk at a time. For plain columns
        (text, numbers) only: results skip the type processing too."""
        if self.dialect == "postgresql":
            statement = sql.replace("IN ({})", "= ANY(%s)")
            for start in range(0, len(values), chunk * 5):
                yield from self.connection.exec_driver_sql(
                    statement, (*params, list(values[start : start + chunk * 5]))
                )
            return
        for start in range(0, len(values), chunk):
            part = values[start : start + chunk]
            marks = ", ".join([self.mark] * len(part))
            yield from self.connection.exec_driver_sql(sql.format(marks), (*params, *part))

    def analyze(self, tables: Sequence[Table]) -> None:
        """Refresh the planner's statistics after a large write, so the next lookups use the right indexes
        (a freshly filled table without statistics looks empty to both planners)."""
        if self.dialect == "sqlite":
            self.connection.exec_driver_sql("PRAGMA analysis_limit = 1000")
        for table in tables:
            self.connection.exec_driver_sql(f"ANALYZE {table.name}")

    def insert_with_new_ids(self, table: Table, columns: Sequence[str], rows: list[tuple]) -> list[int]:
        """Insert ``rows`` (without ``id``) and return their new primary keys, in order.

        PostgreSQL: the ids come from the column's sequence. SQLite: the first row is inserted alone;
        from then on this transaction holds the database's only write lock, so the ids after it are
        free and stay free, and the other rows are inserted with them explicitly.
        """
        if not rows:
            return []
        if self.dialect == "postgresql":
            # the sequence's name is looked up once: inside the SELECT list, pg_get_serial_sequence() would
            # run for every row (most of the statement's time at 5,000 rows)
            sequence = self.connection.execute(
                text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name}
            ).scalar_one()
            ids = list(
                self.connection.execute(
                    text("SELECT nextval(CAST(:sequence AS regclass)) FROM generate_series(1, :count)"),
                    {"sequence": sequence, "count": len(rows)},
                ).scalars()
            )
        else:
            first = self.connection.exec_driver_sql(self._insert_sql(table, columns), rows[0]).lastrowid
            highest = self.connection.execute(
                select(table.c.id).order_by(table.c.id.desc()).limit(1)
            ).scalar()
            if highest != first:
                raise RuntimeError(f"{table.name}: unexpected id {highest} after inserting {first}")
            ids = list(range(first, first + len(rows)))
            rows, ids_to_write = rows[1:], ids[1:]
            self.insert(
                table, ("id", *columns), [(cid, *row) for cid, row in zip(ids_to_write, rows, strict=True)]
            )
            return ids
        self.insert(table, ("id", *columns), [(cid, *row) for cid, row in zip(ids, rows, strict=True)])
        return ids
