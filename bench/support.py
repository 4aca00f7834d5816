"""What the benchmark scripts share: the databases each measurement runs on."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import create_engine, text

#: the PostgreSQL server the benchmarks make their own databases on
PG_SERVER = os.environ.get("PATRON_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/")


def databases(backend: str, pg_database: str, say: Callable[[str], None] = print) -> Iterator[tuple[str, str]]:
    """``(label, url)`` of each backend asked for (``sqlite``, ``postgresql`` or ``both``): a new SQLite file
    in a temporary directory, and the PostgreSQL database ``pg_database`` made afresh on :data:`PG_SERVER`
    and dropped after (skipped, saying so, when the server does not answer)."""
    if backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            yield "SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}"
    if backend in ("postgresql", "both"):
        admin = create_engine(PG_SERVER + "postgres", isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{pg_database}" WITH (FORCE)'))
                connection.execute(text(f'CREATE DATABASE "{pg_database}"'))
        except Exception as exc:  # no server: say so and go on
            say(f"PostgreSQL skipped: {exc.__class__.__name__}")
        else:
            try:
                yield "PostgreSQL", PG_SERVER + pg_database
            finally:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{pg_database}" WITH (FORCE)'))
        admin.dispose()
