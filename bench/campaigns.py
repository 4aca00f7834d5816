"""Campaign speed: audience count and the launch of a one-off campaign to N customers, beside a raw floor.

Run ``.venv/bin/python bench/campaigns.py --help``. It prints figures and never asserts a time. See
bench/README.md for how to read them.

For each backend (a SQLite file; a PostgreSQL database ``patron_bench_campaigns`` created and dropped
here when the server at ``PATRON_BENCH_PG_URL`` answers):

(a) load N customers, each with an e-mail consent (nine in ten granted), with plain ``executemany``;
(b) time ``audience.count`` (all customers, channel e-mail: the audience ids and the consent ledger);
(c) time the launch of a one-off e-mail campaign with two variants and a 10 % hold-out through
    ``sending.do_launch_campaign``: assignment, personalisation, one recipient row each and one queued
    message (with its history row) per reachable customer through ``notify.enqueue``, one commit;
(d) the floor: the same rows (recipients, messages, message history) written by three
    ``INSERT ... SELECT`` statements in one transaction, the work the database does without Patron.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine

from patron.accounts import service as accounts_service
from patron.campaigns import audience as audience_module
from patron.campaigns import sending
from patron.campaigns import service as campaigns_service
from patron.campaigns.models import CampaignRecipient
from patron.core.audit import Actor
from patron.core.db import make_engine, make_sessionmaker, session_scope
from patron.core.migrate import upgrade
from patron.notify.models import Message

console = Console(width=None if sys.stdout.isatty() else 200)
PG_SERVER = os.environ.get("PATRON_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/")
PG_DATABASE = "patron_bench_campaigns"
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _load(engine: Engine, org_id: int, n: int) -> None:
    stamp = NOW.replace(tzinfo=None) if engine.dialect.name == "sqlite" else NOW
    customers = [{"org_id": org_id, "first_name": f"Name{i}", "last_name": "Bench", "email": f"c{i}@bench.example",
                  "lifestyle_tags": "[]", "preferences": "{}", "attributes": "{}", "created_at": stamp,
                  "updated_at": stamp} for i in range(n)]  # fmt: skip
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO customers (org_id, first_name, last_name, email, lifestyle_tags, preferences, attributes,"
            " created_at, updated_at) VALUES (:org_id, :first_name, :last_name, :email, :lifestyle_tags,"
            " :preferences, :attributes, :created_at, :updated_at)"), customers)  # fmt: skip
        ids = [row[0] for row in connection.execute(text("SELECT id FROM customers WHERE org_id = :o ORDER BY id"),
                                                    {"o": org_id})]  # fmt: skip
        connection.execute(text(
            "INSERT INTO consent_records (org_id, customer_id, channel, granted, source, method, note, recorded_at)"
            " VALUES (:org_id, :customer_id, 'email', :granted, 'import', '', '', :at)"),
            [{"org_id": org_id, "customer_id": i, "granted": k % 10 != 0, "at": stamp} for k, i in enumerate(ids)])  # fmt: skip


def _floor(engine: Engine, org_id: int, campaign_id: int, variant_id: int) -> tuple[float, int]:
    """The same rows a launch writes, by INSERT ... SELECT: recipients, messages, message history."""
    stamp = NOW.replace(tzinfo=None) if engine.dialect.name == "sqlite" else NOW
    concat = "'Hi ' || c.first_name"
    consented = ("SELECT customer_id FROM consent_records r WHERE r.org_id = :org AND r.channel = 'email'"
                 " AND r.granted")  # fmt: skip
    started = time.perf_counter()
    with engine.begin() as connection:
        params = {"org": org_id, "campaign": campaign_id, "variant": variant_id, "at": stamp}
        rows = connection.execute(text(
            "INSERT INTO notify_messages (org_id, customer_id, channel, subject, body, data, links, idempotency_key,"
            " status, attempts, next_attempt_at, campaign_id, purpose, created_at, updated_at)"
            f" SELECT c.org_id, c.id, 'email', 'Hello', {concat}, '{{}}', '[]', 'floor:' || c.id, 'queued', 0, :at,"
            f" :campaign, 'marketing', :at, :at FROM customers c WHERE c.org_id = :org AND c.id IN ({consented})"),
            params).rowcount  # fmt: skip
        connection.execute(text(
            "INSERT INTO notify_message_events (org_id, message_id, status, at, detail)"
            " SELECT org_id, id, 'queued', :at, 'enqueued' FROM notify_messages"
            " WHERE org_id = :org AND idempotency_key LIKE 'floor:%'"), params)  # fmt: skip
        connection.execute(text(
            "INSERT INTO campaign_recipients (org_id, campaign_id, customer_id, occurrence, variant_id, holdout,"
            " channel, message_id, cost, assigned_at)"
            " SELECT m.org_id, :campaign, m.customer_id, 'floor', :variant, false, 'email', m.id, 0, :at"
            " FROM notify_messages m WHERE m.org_id = :org AND m.idempotency_key LIKE 'floor:%'"), params)  # fmt: skip
    return time.perf_counter() - started, int(rows)


def run(url: str, label: str, n: int, table: Table) -> None:
    engine = make_engine(url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=None, label="bench")
        org_id = accounts_service.create_organisation(session, name=f"Bench {label}").id
    _load(engine, org_id, n)
    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=org_id, label="bench")
        campaign = campaigns_service.create_campaign(session, org_id=org_id, values={
            "name": "Bench", "kind": "one_off", "channels": ["email"], "audience": {"kind": "all"},
            "holdout_percent": 10, "costs": {"email": "0.001"},
            "variants": [{"name": "A", "subject": "Hello {{ first_name }}", "body": "Hi {{ first_name }}, 10% off."},
                         {"name": "B", "subject": "For {{ first_name }}", "body": "{{ first_name }}, a gift."}],
        })  # fmt: skip
        campaign_id = campaign.id
        variant_id = campaigns_service.list_variants(session, campaign=campaign)[0].id
    with session_scope(factory) as session:
        started = time.perf_counter()
        counted = audience_module.count(session, org_id=org_id, audience={"kind": "all"}, channels=["email"])
        count_s = time.perf_counter() - started
    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=org_id, label="bench")
        started = time.perf_counter()
        outcome = sending.do_launch_campaign(session, campaign=campaigns_service.get_campaign_or_raise(
            session, org_id=org_id, campaign_id=campaign_id), now=NOW)  # fmt: skip
        session.commit()
        launch_s = time.perf_counter() - started
    with factory() as session:
        recipients = session.scalar(select(func.count()).select_from(CampaignRecipient))
        messages = session.scalar(select(func.count()).select_from(Message))
    floor_s, floor_messages = _floor(engine, org_id, campaign_id, variant_id)
    rows = recipients + 2 * messages  # recipients, messages and their first history row
    floor_rows = 3 * floor_messages
    table.add_row(label, f"{n:,}", f"{counted.reachable:,}", f"{count_s:.2f}", f"{count_s / n * 1e6:.1f}",
                  f"{outcome.queued:,} / {outcome.held_out:,}", f"{launch_s:.1f}", f"{rows / launch_s:,.0f}",
                  f"{floor_s:.2f}", f"{floor_rows / floor_s:,.0f}", f"{(rows / launch_s) / (floor_rows / floor_s):.3f}")  # fmt: skip
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000, help="audience size (default 100,000)")
    parser.add_argument("--quick", action="store_true", help="10,000 customers: a check that everything runs")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args(argv)
    n = 10_000 if args.quick else args.customers
    table = Table(title=f"One-off campaign launch to {n:,} customers (e-mail, 2 variants, 10 % hold-out)")
    for column in ("backend", "customers", "reachable", "count s", "count µs/customer", "queued / held out",
                   "launch s", "launch rows/s", "floor s", "floor rows/s", "launch / floor"):  # fmt: skip
        table.add_column(column, justify="right")
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{Path(tmp) / 'bench.db'}", "SQLite", n, table)
    if args.backend in ("postgresql", "both"):
        admin = create_engine(PG_SERVER + "postgres", isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)'))
                connection.execute(text(f'CREATE DATABASE "{PG_DATABASE}"'))
        except Exception as exc:  # no server: say so and go on
            console.print(f"PostgreSQL skipped: {exc.__class__.__name__}")
        else:
            try:
                run(PG_SERVER + PG_DATABASE, "PostgreSQL", n, table)
            finally:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)'))
        admin.dispose()
    console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
