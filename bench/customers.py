"""Customer 360 speed: CSV import, profile and timeline reads under load, search — each beside its raw floor.

Run ``make bench`` (or ``.venv/bin/python bench/customers.py --help``). It prints figures and never
asserts a time. See bench/README.md for how to read them.

For each backend (SQLite file, PostgreSQL database ``patron_bench`` created and dropped here):

(a) import N customers from a CSV through the customers import service, next to a raw
    ``executemany`` INSERT of the same rows into an empty copy of the schema (the floor), and to the same
    writes done inside the database by ``INSERT ... SELECT`` from a staging table (the database's own
    work: no row crosses the connection while it is timed);
(b) bulk-load the timeline (Core inserts), start the app in a subprocess on a free port and time
    ``GET /api/v1/customers/{id}`` and ``GET /api/v1/customers/{id}/timeline`` from concurrent client
    threads, beside the single raw SQL query that fetches the same rows for the same ids;
(c) time ``GET /api/v1/customers?q=...`` beside the raw SQL search it stands for.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from patron.accounts import service as accounts_service
from patron.core.audit import Actor
from patron.core.db import make_engine, make_sessionmaker, session_scope
from patron.core.migrate import upgrade
from patron.customers.models import TimelineEntry
from patron.simulate import names
from patron.simulate.people import ascii_spelling, weighted

console = Console(width=None if sys.stdout.isatty() else 200)  # wide tables also in logs and pipes
PG_SERVER = os.environ.get("PATRON_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/")
PG_DATABASES = ("patron_bench", "patron_bench_floor", "patron_bench_sql")
ANCHOR = datetime(2025, 1, 1, tzinfo=UTC)
TIMELINE_KINDS = (
    "interaction.call",
    "interaction.email",
    "interaction.chat",
    "ticket.created",
    "ticket.resolved",
    "deal.created",
    "deal.won",
    "consent.granted",
    "consent.revoked",
    "profile.updated",
)
SEARCH_TERMS = ("Müller", "schmidt", "Nguyen", "ann", "example.net", "weber", "Hoffmann", "ka")


# --- figures -----------------------------------------------------------------------------------------


@dataclass
class Latency:
    samples: list[float]  # seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]

    @property
    def p50(self) -> float:
        return self.pct(50)

    @property
    def p99(self) -> float:
        return self.pct(99)


@dataclass
class Row:
    what: str
    app: Latency | None
    raw: Latency | None
    note: str = ""
    rps: float | None = None
    raw_http: Latency | None = None  # the raw statement served by a bare ASGI endpoint, same load


@dataclass
class Report:
    backend: str
    customers: int
    timeline: int
    import_rate: float | None = None
    import_note: str = ""
    floor_rate: float | None = None
    sql_rate: float | None = None
    timeline_rate: float | None = None
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.2f}"


# --- databases -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def sqlite_databases(workdir: Path) -> Iterator[tuple[str, str, str]]:
    yield tuple(f"sqlite:///{workdir / name}" for name in ("bench.db", "floor.db", "sql.db"))


def postgres_reachable() -> str | None:
    try:
        engine = create_engine(PG_SERVER + "postgres", isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure to connect means "skip PostgreSQL"
        return f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:120]}"


@contextlib.contextmanager
def postgres_databases() -> Iterator[tuple[str, str, str]]:
    admin = create_engine(PG_SERVER + "postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            for name in PG_DATABASES:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield tuple(PG_SERVER + name for name in PG_DATABASES)
    finally:
        with admin.connect() as connection:
            for name in PG_DATABASES:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def raw_connection(url: str):
    """A plain DBAPI connection (sqlite3 / psycopg) for the floor measurements."""
    if url.startswith("sqlite"):
        import sqlite3

        connection = sqlite3.connect(url.split("///", 1)[1], check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        return connection
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))


def settle(url: str) -> None:
    """Before a timed write on PostgreSQL: ``CHECKPOINT``, so the dirty pages and WAL of the previous
    measurement are flushed now rather than by a checkpoint in the middle of this one (each import writes
    hundreds of MB of WAL; without this the third figure paid for the first two). Skipped when the role may
    not checkpoint."""
    if url.startswith("sqlite"):
        return
    import psycopg

    with contextlib.suppress(psycopg.errors.InsufficientPrivilege), raw_connection(url) as connection:
        connection.autocommit = True
        connection.execute("CHECKPOINT")


def placeholders(url: str, count: int) -> str:
    mark = "?" if url.startswith("sqlite") else "%s"
    return ", ".join([mark] * count)


def param(url: str) -> str:
    return "?" if url.startswith("sqlite") else "%s"


# --- data ------------------------------------------------------------------------------------------------

CSV_COLUMNS = ("first_name", "last_name", "email", "phone", "birth_year", "gender", "city", "country", "tags")


def customer_rows(count: int, seed: int = 7) -> list[dict[str, str]]:
    """Deterministic, realistic CSV rows with unique e-mail addresses and phone numbers."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        gender = rng.choice(("female", "male"))
        first = weighted(rng, names.FEMALE_FIRST_NAMES if gender == "female" else names.MALE_FIRST_NAMES)
        last = weighted(rng, names.LAST_NAMES)
        local = f"{ascii_spelling(first)}.{ascii_spelling(last)}.{index}"
        domain = weighted(rng, names.MAIL_DOMAINS)
        rows.append(
            {
                "first_name": first,
                "last_name": last,
                "email": f"{local}@{domain}",
                "phone": f"+49{rng.choice(names.MOBILE_PREFIXES)}{10_000_000 + index:08d}",
                "birth_year": str(rng.randint(1945, 2006)),
                "gender": gender,
                "city": "Berlin",
                "country": "DE",
                "tags": rng.choice(("rides", "delivery", "rides;delivery", "smart-home", "rides;vip", "")),
            }
        )
    return rows


def csv_bytes(rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def prepare(url: str) -> tuple[Engine, int, int, str]:
    """Migrate, create an organisation and an admin with a long-lived API token."""
    engine = make_engine(url)
    upgrade(engine)
    with session_scope(make_sessionmaker(engine)) as session:
        session.info["actor"] = Actor(org_id=None, label="bench")
        org = accounts_service.create_organisation(session, name="Bench")
        user = accounts_service.create_user(
            session,
            org_id=org.id,
            email="bench@bench.example",
            password="bench-password",
            role="admin",
            full_name="Bench",
        )
        secret, _ = accounts_service.issue_token(session, user=user, kind="api", minutes=24 * 60)
        return engine, org.id, user.id, secret


# --- (a) import ---------------------------------------------------------------------------------------------


def import_through_service(url: str, org_id: int, data: bytes, expected: int) -> tuple[float | None, str]:
    """Rows per second of ``import_customers_csv`` (parse, validate, match, write, commit)."""
    try:
        from patron.customers.importer import import_customers_csv
    except ImportError as exc:
        return None, f"import service not available ({exc})"
    factory = make_sessionmaker(make_engine(url))
    settle(url)
    started = time.perf_counter()
    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=org_id, label="bench")
        report = import_customers_csv(session, org_id=org_id, stream=data, source_name="bench.csv")
    elapsed = time.perf_counter() - started
    factory.kw["bind"].dispose()
    note = "" if report.created == expected else f"created {report.created} of {expected} rows"
    return expected / elapsed, note


def import_floor(url: str, rows: list[dict[str, str]]) -> float:
    """Rows per second of plain DBAPI ``executemany`` INSERTs of the same rows into the same tables the import
    writes (customers, their e-mail/phone identities, tags, one timeline entry each), one transaction."""
    engine, org_id, _user_id, _token = prepare(url)
    engine.dispose()
    now = datetime.now(UTC).replace(tzinfo=None) if url.startswith("sqlite") else datetime.now(UTC)
    connection = raw_connection(url)
    if url.startswith("sqlite"):
        # the page cache the import sets for its write (patron.customers.bulk.BULK_CACHE_KIB), as a
        # hand-written bulk loader would: the default 2 MiB makes SQLite evict and reread index pages
        connection.execute("PRAGMA cache_size = -262144")
    mark = param(url)
    settle(url)
    started = time.perf_counter()
    cursor = connection.cursor()
    cursor.executemany(
        "INSERT INTO customers (org_id, first_name, last_name, email, phone, birth_year, gender, city, country, "
        "lifestyle_tags, preferences, attributes, created_at, updated_at) "
        f"VALUES ({placeholders(url, 14)})",
        [
            (
                org_id,
                r["first_name"],
                r["last_name"],
                r["email"],
                r["phone"],
                int(r["birth_year"]),
                r["gender"],
                r["city"],
                r["country"],
                "[]",
                "{}",
                "{}",
                now,
                now,
            )
            for r in rows
        ],
    )
    cursor.execute(f"SELECT id, email FROM customers WHERE org_id = {mark}", (org_id,))
    ids = {email: customer_id for customer_id, email in cursor.fetchall()}
    identities, tags, timeline = [], [], []
    for r in rows:
        customer_id = ids[r["email"]]
        identities += [
            (org_id, customer_id, "email", r["email"], now),
            (org_id, customer_id, "phone", r["phone"], now),
        ]
        tags += [(org_id, customer_id, tag) for tag in r["tags"].split(";") if tag]
        timeline.append(
            (
                org_id,
                customer_id,
                now,
                "customer.created",
                "customer",
                customer_id,
                f"Customer created by import: {r['first_name']} {r['last_name']}",
                '{"source": "import"}',
            )
        )
    cursor.executemany(
        f"INSERT INTO identities (org_id, customer_id, type, value, created_at) "
        f"VALUES ({placeholders(url, 5)})",
        identities,
    )
    cursor.executemany(
        f"INSERT INTO customer_tags (org_id, customer_id, tag) VALUES ({placeholders(url, 3)})", tags
    )
    cursor.executemany(
        "INSERT INTO timeline_entries (org_id, customer_id, occurred_at, kind, ref_type, ref_id, summary, data) "
        f"VALUES ({placeholders(url, 8)})",
        timeline,
    )
    connection.commit()
    elapsed = time.perf_counter() - started
    connection.close()
    return len(rows) / elapsed


def import_in_database(url: str, rows: list[dict[str, str]]) -> float:
    """Rows per second of the same writes done by the database alone: the rows wait in a staging table
    (filled untimed), and four ``INSERT ... SELECT`` statements write customers, identities, tags and the
    timeline entries from it in one transaction. No client formats or sends a row while the clock runs:
    this is the database's own work for these rows (keys and indexes included), which a client-side import
    can at best approach."""
    engine, org_id, _user_id, _token = prepare(url)
    engine.dispose()
    connection = raw_connection(url)
    mark = param(url)
    cursor = connection.cursor()
    cursor.execute(
        "CREATE TEMPORARY TABLE stage (first_name TEXT, last_name TEXT, email TEXT, phone TEXT, "
        "birth_year INTEGER, gender TEXT, city TEXT, country TEXT)"
    )
    cursor.execute("CREATE TEMPORARY TABLE stage_tags (email TEXT, tag TEXT)")
    cursor.executemany(
        f"INSERT INTO stage VALUES ({placeholders(url, 8)})",
        [
            (r["first_name"], r["last_name"], r["email"], r["phone"], int(r["birth_year"]), r["gender"],
             r["city"], r["country"])
            for r in rows
        ],
    )  # fmt: skip
    cursor.executemany(
        f"INSERT INTO stage_tags VALUES ({placeholders(url, 2)})",
        [(r["email"], tag) for r in rows for tag in r["tags"].split(";") if tag],
    )
    cursor.execute("CREATE INDEX stage_tags_email ON stage_tags (email)")  # the tags find their customer
    connection.commit()
    now = "datetime('now')" if url.startswith("sqlite") else "now()"
    statements = [
        "INSERT INTO customers (org_id, first_name, last_name, email, phone, birth_year, gender, city, "
        f"country, lifestyle_tags, preferences, attributes, created_at, updated_at) SELECT {mark}, first_name, "
        f"last_name, email, phone, birth_year, gender, city, country, '[]', '{{}}', '{{}}', {now}, {now} "
        "FROM stage",
        "INSERT INTO identities (org_id, customer_id, type, value, created_at) "
        f"SELECT org_id, id, 'email', email, {now} FROM customers WHERE org_id = {mark} "
        f"UNION ALL SELECT org_id, id, 'phone', phone, {now} FROM customers WHERE org_id = {mark}",
        "INSERT INTO customer_tags (org_id, customer_id, tag) SELECT c.org_id, c.id, t.tag FROM stage_tags t "
        f"JOIN customers c ON c.org_id = {mark} AND c.email = t.email",
        "INSERT INTO timeline_entries (org_id, customer_id, occurred_at, kind, ref_type, ref_id, summary, data) "
        f"SELECT org_id, id, {now}, 'customer.created', 'customer', id, "
        "'Customer created by import: ' || first_name || ' ' || last_name, '{\"source\": \"import\"}' "
        f"FROM customers WHERE org_id = {mark}",
    ]
    arguments = [(org_id,), (org_id, org_id), (org_id,), (org_id,)]
    settle(url)
    started = time.perf_counter()
    for statement, values in zip(statements, arguments, strict=True):
        cursor.execute(statement, values)
    connection.commit()
    elapsed = time.perf_counter() - started
    connection.close()
    return len(rows) / elapsed


# --- (b) the timeline, bulk-loaded ------------------------------------------------------------------------------


def load_timeline(engine: Engine, org_id: int, customer_ids: list[int], wanted: int) -> float:
    """Core INSERTs (not the API) until the table holds ``wanted`` entries; returns rows per second."""
    with engine.connect() as connection:
        have = connection.execute(text("SELECT count(*) FROM timeline_entries")).scalar_one()
    missing = max(0, wanted - have)
    rng = random.Random(11)
    table = TimelineEntry.__table__
    started = time.perf_counter()
    span = 365 * 24 * 3600
    batch: list[dict] = []
    with engine.begin() as connection:
        for index in range(missing):
            kind = TIMELINE_KINDS[index % len(TIMELINE_KINDS)]
            batch.append(
                {
                    "org_id": org_id,
                    "customer_id": customer_ids[index % len(customer_ids)],
                    "occurred_at": ANCHOR - timedelta(seconds=rng.randrange(span)),
                    "kind": kind,
                    "ref_type": kind.split(".")[0],
                    "ref_id": index + 1,
                    "summary": f"{kind.replace('.', ' ').capitalize()} #{index + 1}",
                    "data": {"channel": "app"},
                    "actor_user_id": None,
                }
            )
            if len(batch) == 20_000:
                connection.execute(table.insert(), batch)
                batch = []
        if batch:
            connection.execute(table.insert(), batch)
    elapsed = time.perf_counter() - started
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))
    return missing / elapsed if missing else 0.0


# --- (b, c) the app under load -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def app_server(url: str, workdir: Path) -> Iterator[str]:
    """``patron`` served by uvicorn in a subprocess on a free port (scheduler off); yields the base URL."""
    env = {"PATRON_DATABASE_URL": url, "PATRON_DATA_DIR": str(workdir), "PATRON_SCHEDULER": "false"}
    with uvicorn_server("patron.app:create_app", env) as base:
        yield base


@contextlib.contextmanager
def raw_http_server(url: str, org_id: int) -> Iterator[str]:
    """:func:`raw_http_app` served by uvicorn with the same settings as the app; yields the base URL."""
    env = {RAW_URL_ENV: url, RAW_ORG_ENV: str(org_id)}
    with uvicorn_server("customers:raw_http_app", env, app_dir=Path(__file__).resolve().parent) as base:
        yield base


@contextlib.contextmanager
def uvicorn_server(factory: str, env_vars: dict[str, str], app_dir: Path | None = None) -> Iterator[str]:
    """``uvicorn <factory> --factory`` in a subprocess on a free port (one worker, no access log); the base
    URL once ``/healthz`` answers."""
    port = free_port()
    env = {**os.environ, **env_vars}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            factory,
            "--factory",
            *(["--app-dir", str(app_dir)] if app_dir else []),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the app exited: {process.stderr.read().decode()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the app did not become ready in 90 s")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def hammer(base: str, token: str, paths: list[str], concurrency: int) -> tuple[Latency, float]:
    """GET every path from ``concurrency`` keep-alive client threads; latency of each request, requests/s."""
    lock = threading.Lock()
    queue = iter(paths)
    samples: list[float] = []
    failures: list[str] = []

    def worker() -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            while True:
                with lock:
                    path = next(queue, None)
                if path is None:
                    return
                started = time.perf_counter()
                response = client.get(path)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    failures.append(f"{path}: {response.status_code} {response.text[:200]}")
                with lock:
                    samples.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return Latency(samples), len(samples) / wall


def time_raw(url: str, sql: str, params: list[tuple]) -> Latency:
    """The same query for each parameter set on one plain DBAPI connection: execute and fetch every row."""
    connection = raw_connection(url)
    cursor = connection.cursor()
    samples = []
    for values in params[:20]:  # warm the cache and the plan
        cursor.execute(sql, values)
        cursor.fetchall()
    for values in params:
        started = time.perf_counter()
        cursor.execute(sql, values)
        cursor.fetchall()
        samples.append(time.perf_counter() - started)
    connection.close()
    return Latency(samples)


def profile_sql(url: str) -> str:
    """The customer row, its tags and its current consent per channel: what GET /customers/{id} returns."""
    mark = param(url)
    if url.startswith("sqlite"):
        tags, pair = "group_concat(t.tag, ',')", "group_concat(r.channel || ':' || r.granted, ',')"
    else:
        tags, pair = "string_agg(t.tag, ',')", "string_agg(r.channel || ':' || r.granted::text, ',')"
    return (
        f"SELECT c.*, (SELECT {tags} FROM customer_tags t WHERE t.org_id = c.org_id AND t.customer_id = c.id) AS tags, "
        f"(SELECT {pair} FROM (SELECT channel, granted, row_number() OVER (PARTITION BY channel "
        "ORDER BY recorded_at DESC, id DESC) AS rank FROM consent_records "
        f"WHERE org_id = {mark} AND customer_id = {mark}) r WHERE r.rank = 1) AS consents "
        f"FROM customers c WHERE c.org_id = {mark} AND c.id = {mark}"
    )


def timeline_sql(url: str) -> str:
    mark = param(url)
    return (
        "SELECT id, occurred_at, kind, summary, ref_type, ref_id, data, actor_user_id FROM timeline_entries "
        f"WHERE customer_id = {mark} AND org_id = {mark} ORDER BY occurred_at DESC, id DESC LIMIT 51"
    )


def search_sql(url: str) -> str:
    """The rows ``?q=<one word>`` returns: customers holding the word as an exact identity value or having it
    in their first name, last name or e-mail, the first 50 in name order. (The app also counts all matches
    for ``total``: a second statement this floor leaves out.)"""
    mark = param(url)
    return (
        "SELECT c.* FROM customers c "
        f"WHERE c.org_id = {mark} AND c.merged_into_id IS NULL AND c.erased_at IS NULL AND ("
        f"c.id IN (SELECT customer_id FROM identities WHERE org_id = {mark} AND value IN ({mark}, {mark})) "
        f"OR lower(c.first_name) LIKE {mark} OR lower(c.last_name) LIKE {mark} OR lower(c.email) LIKE {mark}) "
        "ORDER BY c.last_name, c.first_name, c.id LIMIT 50"
    )


def search_params(org_id: int, term: str) -> tuple:
    like = f"%{term.lower()}%"
    return (org_id, org_id, term, term.lower(), like, like, like)


# --- the raw statements over HTTP ---------------------------------------------------------------------------

RAW_URL_ENV, RAW_ORG_ENV = "PATRON_BENCH_RAW_URL", "PATRON_BENCH_RAW_ORG"


def raw_http_app():
    """A bare Starlette app that serves the floor's raw statements over HTTP: no authentication, no ORM, no
    validation; rows as JSON objects. It runs in the same uvicorn settings as the app (one worker, h11,
    no access log), and like the app it runs the blocking driver call in the thread pool, on a plain DBAPI
    connection per pool thread. ``GET /customers/{id}`` -> :func:`profile_sql`,
    ``/customers/{id}/timeline`` -> :func:`timeline_sql`, ``/customers?q=`` -> :func:`search_sql`,
    ``/healthz`` -> ``SELECT 1``. The database URL and organisation come from the environment."""
    import json

    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    url, org_id = os.environ[RAW_URL_ENV], int(os.environ[RAW_ORG_ENV])
    local = threading.local()
    statements = {"profile": profile_sql(url), "timeline": timeline_sql(url), "search": search_sql(url)}

    def fetch(sql: str, params: tuple) -> bytes:
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = raw_connection(url)
            if not url.startswith("sqlite"):
                connection.autocommit = True
        cursor = connection.cursor()
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return json.dumps(rows, default=str, ensure_ascii=False, separators=(",", ":")).encode()

    async def respond(sql: str, params: tuple) -> Response:
        return Response(await run_in_threadpool(fetch, sql, params), media_type="application/json")

    async def profile(request: Request) -> Response:
        customer_id = int(request.path_params["customer_id"])
        return await respond(statements["profile"], (org_id, customer_id, org_id, customer_id))

    async def timeline(request: Request) -> Response:
        return await respond(statements["timeline"], (int(request.path_params["customer_id"]), org_id))

    async def search(request: Request) -> Response:
        return await respond(statements["search"], search_params(org_id, request.query_params["q"]))

    async def healthz(_request: Request) -> Response:
        return await respond("SELECT 1", ())

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/api/v1/customers", search),
            Route("/api/v1/customers/{customer_id:int}", profile),
            Route("/api/v1/customers/{customer_id:int}/timeline", timeline),
        ]
    )


# --- one backend, end to end -------------------------------------------------------------------------------


@dataclass
class Options:
    customers: int
    timeline: int
    requests: int
    concurrency: int


def run_backend(backend: str, options: Options) -> Report:
    report = Report(backend=backend, customers=options.customers, timeline=options.timeline)
    with tempfile.TemporaryDirectory(prefix="patron-bench-") as tmp:
        workdir = Path(tmp)
        databases = sqlite_databases(workdir) if backend == "sqlite" else postgres_databases()
        with databases as (url, floor_url, sql_url):
            step(f"{backend}: preparing {options.customers:,} customers")
            engine, org_id, _user_id, token = prepare(url)
            rows = customer_rows(options.customers)
            data = csv_bytes(rows)

            step(f"{backend}: (a) CSV import through the service")
            report.import_rate, report.import_note = import_through_service(url, org_id, data, len(rows))
            step(f"{backend}: (a) raw executemany floor")
            report.floor_rate = import_floor(floor_url, rows)
            step(f"{backend}: (a) in-database floor (INSERT ... SELECT from a staging table)")
            report.sql_rate = import_in_database(sql_url, rows)

            with engine.connect() as connection:
                ids = list(
                    connection.execute(
                        text(f"SELECT id FROM customers WHERE org_id = {org_id} ORDER BY id")
                    ).scalars()
                )
            if not ids:
                report.notes.append("no customers were imported; skipping the read benchmarks")
                engine.dispose()
                return report
            step(f"{backend}: (b) loading the timeline to {options.timeline:,} entries (Core inserts)")
            report.timeline_rate = load_timeline(engine, org_id, ids, options.timeline)
            engine.dispose()

            rng = random.Random(5)
            sample = [rng.choice(ids) for _ in range(options.requests)]
            single = sample[: max(200, options.requests // 4)]
            terms = [SEARCH_TERMS[i % len(SEARCH_TERMS)] for i in range(max(200, options.requests // 5))]
            raw_profile = time_raw(url, profile_sql(url), [(org_id, cid, org_id, cid) for cid in sample])
            raw_timeline = time_raw(url, timeline_sql(url), [(cid, org_id) for cid in sample])
            raw_search = time_raw(url, search_sql(url), [search_params(org_id, term) for term in terms])

            search_paths = [f"/api/v1/customers?q={httpx.QueryParams({'q': term})['q']}" for term in terms]
            profile_paths = [f"/api/v1/customers/{cid}" for cid in sample]
            timeline_paths = [f"/api/v1/customers/{cid}/timeline" for cid in sample]
            loads = []  # (label, paths, raw statement alone, clients)
            for label, paths, raw in (
                ("GET /customers/{id}", profile_paths, raw_profile),
                ("GET /customers/{id}/timeline", timeline_paths, raw_timeline),
                ("GET /customers?q=...", search_paths, raw_search),
            ):
                single_paths = paths[: len(single)] if paths is not search_paths else paths
                loads.append((f"{label}, 1 client", single_paths, raw, 1))
                loads.append((f"{label}, {options.concurrency} clients", paths, raw, options.concurrency))
            loads.append(("GET /healthz (HTTP + SELECT 1), 1 client", ["/healthz"] * len(single), None, 1))

            step(f"{backend}: (b, c) the app under load")
            with app_server(url, workdir) as base:
                hammer(base, token, profile_paths[:300], options.concurrency)  # warm-up
                measured = [hammer(base, token, paths, clients) for _label, paths, _raw, clients in loads]
            step(f"{backend}: (b, c) the raw statements over HTTP (bare Starlette, same server settings)")
            with raw_http_server(url, org_id) as base:
                hammer(base, token, profile_paths[:300], options.concurrency)  # warm-up
                over_http = [hammer(base, token, paths, clients)[0] for _label, paths, _raw, clients in loads]
            for (label, _paths, raw, _clients), (latency, rps), raw_http in zip(
                loads, measured, over_http, strict=True
            ):
                report.rows.append(Row(label, latency, raw, rps=rps, raw_http=raw_http))
    return report


def step(message: str) -> None:
    console.print(f"[dim]{datetime.now():%H:%M:%S}[/dim] {message}")


# --- output ---------------------------------------------------------------------------------------------------


def ratio(app: float | None, raw: float | None) -> str:
    return "—" if not app or not raw else f"{app / raw:.1f}x"


def print_report(report: Report) -> None:
    table = Table(
        title=f"{report.backend}: {report.customers:,} customers, {report.timeline:,} timeline entries",
        title_justify="left",
    )
    for name in (
        "measure",
        "app p50 ms",
        "app p99 ms",
        "raw p50 ms",
        "raw p99 ms",
        "p50 x",
        "p99 x",
        "raw/HTTP p50 ms",
        "raw/HTTP p99 ms",
        "p50 x HTTP",
        "p99 x HTTP",
        "req/s",
    ):
        table.add_column(name, justify="left" if name == "measure" else "right")
    for row in report.rows:
        app50, app99 = (row.app.p50, row.app.p99) if row.app else (None, None)
        raw50, raw99 = (row.raw.p50, row.raw.p99) if row.raw else (None, None)
        http50, http99 = (row.raw_http.p50, row.raw_http.p99) if row.raw_http else (None, None)
        table.add_row(
            row.what,
            ms(app50),
            ms(app99),
            ms(raw50),
            ms(raw99),
            ratio(app50, raw50),
            ratio(app99, raw99),
            ms(http50),
            ms(http99),
            ratio(app50, http50),
            ratio(app99, http99),
            f"{row.rps:,.0f}" if row.rps else "—",
        )
    console.print(table)
    rates = Table(title=f"{report.backend}: writes", title_justify="left")
    for name in ("measure", "rows/s", "raw floor rows/s", "floor / app", "target"):
        rates.add_column(name, justify="left" if name == "measure" else "right")
    rates.add_row(
        "CSV import (import_customers_csv)",
        f"{report.import_rate:,.0f}" if report.import_rate else "—",
        f"{report.floor_rate:,.0f}" if report.floor_rate else "—",
        ratio(report.floor_rate, report.import_rate),
        ">= 20,000",
    )
    rates.add_row(
        "  the same writes by the database alone (INSERT ... SELECT from staging)",
        "",
        f"{report.sql_rate:,.0f}" if report.sql_rate else "—",
        ratio(report.sql_rate, report.import_rate),
        "",
    )
    rates.add_row(
        "timeline bulk load (Core INSERT)",
        f"{report.timeline_rate:,.0f}" if report.timeline_rate else "—",
        "",
        "",
        "",
    )
    console.print(rates)
    for note in ([report.import_note] if report.import_note else []) + report.notes:
        console.print(f"note: {note}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--customers", type=int, default=100_000, help="customers to import (default 100,000)"
    )
    parser.add_argument(
        "--timeline", type=int, default=1_000_000, help="timeline entries in all (default 1M)"
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads under load (default 8)")
    parser.add_argument(
        "--requests", type=int, default=3000, help="requests per measured endpoint (default 3000)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="10,000 customers, 100,000 timeline entries, 1,000 requests: a fast check that everything runs",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.customers, args.timeline, args.requests = 10_000, 100_000, 1000
    if args.customers < 1 or args.timeline < 0 or args.requests < 1 or args.concurrency < 1:
        parser.error("--customers, --requests and --concurrency must be positive, --timeline not negative")
    options = Options(args.customers, args.timeline, args.requests, args.concurrency)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    console.print(
        f"Patron customer benchmark: {options.customers:,} customers, {options.timeline:,} timeline "
        f"entries, {options.requests:,} requests per endpoint, {options.concurrency} client threads, "
        f"{os.cpu_count()} CPUs"
    )
    for backend in backends:
        if backend == "postgresql":
            reason = postgres_reachable()
            if reason is not None:
                console.print(f"PostgreSQL skipped: not reachable at {PG_SERVER} ({reason}).")
                continue
        print_report(run_backend(backend, options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
