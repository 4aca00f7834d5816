"""Campaign speed: who a campaign reaches and what it says to each of them, how fast its messages go out,
and how soon a geofence offer reaches the phone; each figure beside a raw engine or peer in the same run.

Run ``.venv/bin/python bench/campaigns.py --help``. It prints figures and never asserts a time. See
bench/README.md for how to read them. Sections (``--only`` picks some; all by default), each on every
backend asked for (a SQLite file; a PostgreSQL database ``patron_bench_campaigns`` created and dropped
here when the server at ``PATRON_BENCH_PG_URL`` answers):

``launch``
    (a) load N customers, each with an e-mail consent (nine in ten granted), with plain ``executemany``;
    (b) time ``audience.count`` (all customers, channel e-mail: the audience ids and the consent ledger);
    (c) time the launch of a one-off e-mail campaign with two variants and a 10 % hold-out through
    ``sending.do_launch_campaign`` (in the request's place, not in the background, so that one commit
    covers it): assignment hashed a chunk at a time, personalisation, one recipient row each and one
    queued message (with its history row) per reachable customer through ``notify.bulk.enqueue_many``;
    wall-clock time and this process's CPU time (on a loaded machine the two differ a lot);
    (d) the floor: the same rows (recipients, messages, message history) written by three
    ``INSERT ... SELECT`` statements in one transaction, the work the database does without Patron.
``personalise``
    An audience of ``--audience`` customers (1,000,000 by default) with e-mail consents, points for every
    second one, a prediction for every third, an order for one in ten of the others: (a) the audience
    resolved (``audience.count``) beside one SQL statement counting the same reachable customers; (b)
    every reachable customer's message personalised as a launch does it, a chunk at a time (names,
    groups, consents, the template context with points and recommended products, both templates rendered
    in the sandbox), writing nothing, beside plain Jinja (no sandbox) rendering the same templates with the
    same contexts; customers per second and the peak resident memory of the section.
``send``
    ``--messages`` queued messages delivered through Patron's delivery (``notify.worker.Worker`` threads on
    the in-process queue: claim, consent and suppression checks, the channel sender, the outcome recorded)
    to a local SMTP server (aiosmtpd) and to a local Web Push service (``patron.notify.testing``: checks
    the VAPID signature and decrypts every payload); beside the same already-rendered e-mails sent by
    ``smtplib`` on one connection to the same server, and the same already-encrypted push payloads posted
    by ``httpx`` to the same push service.
``geofence``
    A triggered push campaign on a geofence rule, the app running as ``patron serve`` runs it (ingest, the
    event processor and rule engine, the in-process delivery worker, the scheduler with its tick of
    ``--job-interval`` seconds, 60 by default as in ``patron serve``, whose ``campaign-triggers`` job
    wakes as soon as a rule's trigger is committed): ``--events`` customers' phones each report a position inside the fence,
    one after the other; per customer the time from the ingest request to the trigger row, to the queued
    message and to the push service accepting the message; p50, p99 and max.
"""

from __future__ import annotations

import argparse
import resource
import smtplib
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import jinja2
import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from support import databases

from patron.accounts import service as accounts_service
from patron.campaigns import audience as audience_module
from patron.campaigns import personalise, sending, templates
from patron.campaigns import service as campaigns_service
from patron.campaigns.models import CampaignRecipient
from patron.core.audit import Actor
from patron.core.config import Settings
from patron.core.db import make_engine, make_sessionmaker, session_scope
from patron.core.migrate import upgrade
from patron.core.security import new_secret, secret_hash
from patron.devices.models import Device
from patron.jobs.scheduler import Scheduler
from patron.loyalty.models import PointsBalance
from patron.notify import bulk as notify_bulk
from patron.notify import crypto, testing
from patron.notify.channels import Job, webpush
from patron.notify.channels import email as email_channel
from patron.notify.models import Message, PushSubscription
from patron.notify.queue import InProcessQueue, use_queue
from patron.notify.service import issue_message_token
from patron.notify.worker import Worker
from patron.orders.models import Order, OrderLine, Product, ProductCategory
from patron.predictions import service as predictions_service  # noqa: F401 - imported at start, as by the app
from patron.predictions.models import CustomerPrediction
from patron.rules import service as rules_service
from patron.rules.models import Trigger

console = Console(width=None if sys.stdout.isatty() else 200)
PG_DATABASE = "patron_bench_campaigns"
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SECTIONS = ("launch", "personalise", "send", "geofence")
LOAD_BATCH = 50_000


def _stamp(engine: Engine) -> datetime:
    return NOW.replace(tzinfo=None) if engine.dialect.name == "sqlite" else NOW


def _load(engine: Engine, org_id: int, n: int, *, channels: tuple[str, ...] = ("email",),
          refuse_every: int | None = 10) -> list[int]:  # fmt: skip
    """N customers, each with a consent per channel (every ``refuse_every``-th one refused, if given), by
    ``executemany`` a batch at a time in one transaction; their ids in order."""
    stamp = _stamp(engine)
    with engine.begin() as connection:
        for start in range(0, n, LOAD_BATCH):
            customers = [{"org_id": org_id, "first_name": f"Name{i}", "last_name": "Bench", "email": f"c{i}@bench.example",
                          "lifestyle_tags": "[]", "preferences": "{}", "attributes": "{}", "created_at": stamp,
                          "updated_at": stamp} for i in range(start, min(n, start + LOAD_BATCH))]  # fmt: skip
            connection.execute(text(
                "INSERT INTO customers (org_id, first_name, last_name, email, lifestyle_tags, preferences, attributes,"
                " created_at, updated_at) VALUES (:org_id, :first_name, :last_name, :email, :lifestyle_tags,"
                " :preferences, :attributes, :created_at, :updated_at)"), customers)  # fmt: skip
        ids = [row[0] for row in connection.execute(text("SELECT id FROM customers WHERE org_id = :o ORDER BY id"),
                                                    {"o": org_id})]  # fmt: skip
        for channel in channels:
            for start in range(0, len(ids), LOAD_BATCH):
                connection.execute(text(
                    "INSERT INTO consent_records (org_id, customer_id, channel, granted, source, method, note, recorded_at)"
                    " VALUES (:org_id, :customer_id, :channel, :granted, 'import', '', '', :at)"),
                    [{"org_id": org_id, "customer_id": i, "channel": channel, "granted": not refuse_every or k % refuse_every != 0, "at": stamp}
                     for k, i in enumerate(ids[start : start + LOAD_BATCH], start)])  # fmt: skip
    return ids


def _analyze(engine: Engine) -> None:
    """On PostgreSQL, the table statistics autovacuum would gather a little after a bulk load (without them
    the planner reads a whole organisation for a list of 500 customer ids). Patron never analyzes SQLite,
    so neither does the bench."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))


def _organisation(factory, name: str) -> int:
    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=None, label="bench")
        return accounts_service.create_organisation(session, name=name).id


def _peak_rss_reset() -> bool:
    """Start the peak resident memory (VmHWM) afresh; False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    p50, p99 = np.percentile(values, [50, 99])
    return f"{p50 * 1000:,.0f} / {p99 * 1000:,.0f} / {max(values) * 1000:,.0f}"


# --- launch --------------------------------------------------------------------------------------------


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


def run_launch(url: str, label: str, n: int, table: Table) -> None:
    engine = make_engine(url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=None, label="bench")
        org_id = accounts_service.create_organisation(session, name=f"Bench {label}").id
    _load(engine, org_id, n)
    _analyze(engine)
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
        started, cpu = time.perf_counter(), time.process_time()
        outcome = sending.do_launch_campaign(session, campaign=campaigns_service.get_campaign_or_raise(
            session, org_id=org_id, campaign_id=campaign_id), now=NOW)  # fmt: skip
        session.commit()
        launch_s, launch_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    with factory() as session:
        recipients = session.scalar(select(func.count()).select_from(CampaignRecipient))
        messages = session.scalar(select(func.count()).select_from(Message))
    floor_s, floor_messages = _floor(engine, org_id, campaign_id, variant_id)
    rows = recipients + 2 * messages  # recipients, messages and their first history row
    floor_rows = 3 * floor_messages
    table.add_row(label, f"{n:,}", f"{counted.reachable:,}", f"{count_s:.2f}", f"{count_s / n * 1e6:.1f}",
                  f"{outcome.queued:,} / {outcome.held_out:,}", f"{launch_s:.1f}", f"{launch_cpu_s:.1f}", f"{rows / launch_s:,.0f}",
                  f"{floor_s:.2f}", f"{floor_rows / floor_s:,.0f}", f"{(rows / launch_s) / (floor_rows / floor_s):.3f}")  # fmt: skip
    engine.dispose()


# --- personalise: audience resolution and personalisation --------------------------------------------

CATEGORIES = 4
PRODUCTS = 40
PERSONAL_VARIANTS = [
    {"name": "A", "subject": "{{ first_name }}, {{ points }} points are waiting",
     "body": "Hi {{ first_name }}, picked for you: {{ recommended_products | join(', ') }}. Your balance: {{ points }}."},
    {"name": "B", "subject": "For {{ first_name }} {{ last_name }}",
     "body": "{{ first_name }}, {{ campaign }}: {{ recommended_products | first | default('our new range') }}."},
]  # fmt: skip


def _load_shop(engine: Engine, org_id: int, ids: list[int]) -> dict[str, int]:
    """Points for every second customer, a prediction naming five products for every third, one order of
    one product for one in ten of the others (their recommendations are the best sellers of its
    category); how many of each."""
    stamp = NOW  # through the models' column types, which take aware datetimes
    with engine.begin() as connection:
        category_ids = [connection.execute(ProductCategory.__table__.insert().values(
            org_id=org_id, name=f"Shelf {c}", created_at=stamp)).inserted_primary_key[0] for c in range(CATEGORIES)]  # fmt: skip
        connection.execute(Product.__table__.insert(), [
            {"org_id": org_id, "sku": f"P{p}", "name": f"Product {p}", "category_id": category_ids[p % CATEGORIES],
             "price": Decimal("5.00"), "created_at": stamp, "updated_at": stamp} for p in range(PRODUCTS)])  # fmt: skip
        products = [row[0] for row in connection.execute(select(Product.id).where(Product.org_id == org_id)
                                                         .order_by(Product.id))]  # fmt: skip
        points = [{"org_id": org_id, "customer_id": i, "balance": k % 500, "lifetime_earned": k % 500,
                   "updated_at": stamp} for k, i in enumerate(ids) if k % 2 == 0]  # fmt: skip
        for start in range(0, len(points), LOAD_BATCH):
            connection.execute(PointsBalance.__table__.insert(), points[start : start + LOAD_BATCH])
        predicted = [{"org_id": org_id, "customer_id": i, "computed_at": stamp, "churn_drivers": [],
                      "sentiment_history": [], "recommended_products": [
                          {"product_id": products[(k + j) % PRODUCTS], "score": 1 - j / 10, "source": "knn"}
                          for j in range(5)]} for k, i in enumerate(ids) if k % 3 == 0]  # fmt: skip
        for start in range(0, len(predicted), LOAD_BATCH):
            connection.execute(CustomerPrediction.__table__.insert(), predicted[start : start + LOAD_BATCH])
        buyers = [(k, i) for k, i in enumerate(ids) if k % 3 != 0 and k % 10 == 1]
        for start in range(0, len(buyers), LOAD_BATCH):
            batch = buyers[start : start + LOAD_BATCH]
            connection.execute(Order.__table__.insert(), [
                {"org_id": org_id, "number": k + 1, "customer_id": i, "status": "paid", "channel": "app",
                 "ordered_at": stamp, "currency": "EUR", "item_count": 1 + k % 3, "subtotal": Decimal("5.00"),
                 "total": Decimal("5.00"), "created_at": stamp, "updated_at": stamp} for k, i in batch])  # fmt: skip
        orders = connection.execute(select(Order.id, Order.number).where(Order.org_id == org_id)).all()
        lines = [{"org_id": org_id, "order_id": order_id, "position": 0, "product_id": products[number // 10 % PRODUCTS],
                  "sku": f"P{number // 10 % PRODUCTS}", "name": f"Product {number // 10 % PRODUCTS}",
                  "quantity": 1 + number % 3, "unit_price": Decimal("5.00"), "line_total": Decimal("5.00")}
                 for order_id, number in orders]  # fmt: skip
        for start in range(0, len(lines), LOAD_BATCH):
            connection.execute(OrderLine.__table__.insert(), lines[start : start + LOAD_BATCH])
    return {"points": len(points), "predictions": len(predicted), "orders": len(orders)}


def _reachable_floor(engine: Engine, org_id: int) -> tuple[float, int]:
    """The reachable customers (live, latest e-mail consent granted) counted by one SQL statement."""
    started = time.perf_counter()
    with engine.connect() as connection:
        counted = connection.execute(text(
            "SELECT count(*) FROM customers c JOIN (SELECT customer_id, granted, row_number() OVER ("
            " PARTITION BY customer_id ORDER BY recorded_at DESC, id DESC) AS rank FROM consent_records"
            " WHERE org_id = :org AND channel = 'email') r ON r.customer_id = c.id AND r.rank = 1 AND r.granted"
            " WHERE c.org_id = :org AND c.erased_at IS NULL AND c.merged_into_id IS NULL"), {"org": org_id}).scalar_one()  # fmt: skip
    return time.perf_counter() - started, int(counted)


def run_personalise(url: str, label: str, n: int, table: Table) -> None:
    engine = make_engine(url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    org_id = _organisation(factory, f"Bench {label}")
    started = time.perf_counter()
    ids = _load(engine, org_id, n)
    loaded = _load_shop(engine, org_id, ids)
    del ids
    _analyze(engine)
    console.print(f"{label}: loaded {n:,} customers, {loaded} in {time.perf_counter() - started:.0f} s")
    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=org_id, label="bench")
        campaign = campaigns_service.create_campaign(session, org_id=org_id, values={
            "name": "Bench personalised", "kind": "one_off", "channels": ["email"], "audience": {"kind": "all"},
            "holdout_percent": 10, "variants": PERSONAL_VARIANTS})  # fmt: skip
        campaign_id = campaign.id
    floor_count_s, floor_reachable = _reachable_floor(engine, org_id)
    measured_peak = _peak_rss_reset()
    with factory() as session:
        campaign = campaigns_service.get_campaign_or_raise(session, org_id=org_id, campaign_id=campaign_id)
        started = time.perf_counter()
        counted = audience_module.count(
            session, org_id=org_id, audience=campaign.audience, channels=["email"]
        )
        count_s = time.perf_counter() - started
        variants = campaigns_service.list_variants(session, campaign=campaign)
        needed: set[str] = set()
        for i, variant in enumerate(variants):
            needed |= templates.check_template(variant.subject, field=f"variants[{i}].subject")
            needed |= templates.check_template(variant.body, field=f"variants[{i}].body")
        plain = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True)
        raw = [(plain.from_string(v.subject), plain.from_string(v.body)) for v in variants]
        spent = {"reads": 0.0, "contexts": 0.0, "render": 0.0, "raw": 0.0}
        rendered = 0
        shared = personalise.SharedReads()
        started, cpu, cpu_s = time.perf_counter(), time.process_time(), 0.0
        ids = audience_module.audience_ids(session, org_id=org_id, audience=campaign.audience)
        spent["reads"] += time.perf_counter() - started
        for start in range(0, len(ids), sending.LAUNCH_CHUNK):
            t0 = time.perf_counter()
            customers = audience_module.names_by_id(session, org_id=org_id,
                                                    customer_ids=ids[start : start + sending.LAUNCH_CHUNK])  # fmt: skip
            groups = sending.assign_many(campaign.id, [c.id for c in customers], campaign.holdout_percent,
                                         variants).tolist()  # fmt: skip
            sendable = [(c, g) for c, g in zip(customers, groups, strict=True) if g >= 0]
            channels = audience_module.channels_by_customer(session, org_id=org_id, customer_ids=[c.id for c, _ in sendable],
                                                            channels=list(campaign.channels))  # fmt: skip
            sendable = [(c, g) for c, g in sendable if c.id in channels]
            t1 = time.perf_counter()
            contexts = personalise.build_contexts(session, org_id=org_id, customers=[c for c, _ in sendable],
                                                  campaign_name=campaign.name, needed=needed, shared=shared)  # fmt: skip
            t2 = time.perf_counter()
            texts = [(templates.render(variants[g].subject, contexts[c.id], field="subject"),
                      templates.render(variants[g].body, contexts[c.id], field="body")) for c, g in sendable]  # fmt: skip
            t3 = time.perf_counter()
            cpu_s += time.process_time() - cpu
            plain_texts = [
                (raw[g][0].render(**contexts[c.id]), raw[g][1].render(**contexts[c.id])) for c, g in sendable
            ]
            t4 = time.perf_counter()
            if plain_texts != texts:
                raise SystemExit("plain Jinja and the sandbox rendered different texts")
            rendered += len(texts)
            spent["reads"] += t1 - t0
            spent["contexts"] += t2 - t1
            spent["render"] += t3 - t2
            spent["raw"] += t4 - t3
            cpu = time.process_time()
        personalise_cpu = cpu_s
        personalise_s = spent["reads"] + spent["contexts"] + spent["render"]
    peak = _peak_rss_mb()
    if counted.reachable != floor_reachable:
        console.print(
            f"[red]{label}: audience.count found {counted.reachable:,}, the SQL {floor_reachable:,}[/red]"
        )
    rate = rendered / personalise_s
    table.add_row(label, f"{n:,}", f"{counted.reachable:,}", f"{count_s:.1f}", f"{floor_count_s:.1f}",
                  f"{floor_count_s / count_s:.3f}", f"{rendered:,}", f"{personalise_s:.1f}", f"{personalise_cpu:.1f}",
                  f"{spent['reads']:.1f} / {spent['contexts']:.1f} / {spent['render']:.1f}", f"{rate:,.0f}",
                  f"{rendered / spent['raw']:,.0f}", f"{(rendered / spent['render']) / (rendered / spent['raw']):.2f}",
                  f"{rate / (rendered / spent['raw']):.3f}", f"{peak:,.0f}" + ("" if measured_peak else "*"))  # fmt: skip
    engine.dispose()


PERSONALISE_COLUMNS = ("backend", "customers", "reachable", "count s", "count SQL s", "count / SQL", "personalised",
                       "personalise s", "CPU s", "reads / contexts / render s", "customers/s", "plain Jinja /s",
                       "sandbox / plain", "personalise / plain", "peak RSS MB")  # fmt: skip


# --- send: delivery throughput -------------------------------------------------------------------------

OFFER_URL = "https://shop.example/offer/spring"


def _subscribe(engine: Engine, org_id: int, ids: list[int], service: testing.PushService) -> None:
    """One browser subscription of the push service per customer."""
    rows = []
    for customer_id in ids:
        browser = service.subscribe().as_json()
        rows.append({"org_id": org_id, "customer_id": customer_id, "endpoint": browser["endpoint"],
                     "p256dh": browser["keys"]["p256dh"], "auth": browser["keys"]["auth"], "user_agent": "Bench"})  # fmt: skip
    with engine.begin() as connection:
        connection.execute(PushSubscription.__table__.insert(), rows)


def _enqueue(factory, org_id: int, ids: list[int], channel: str) -> list[int]:
    messages = [notify_bulk.Outgoing(customer_id=i, channel=channel, subject=f"Name{k}, your spring offer",
                                     body=f"Hi Name{k}, 10 % off everything this week: {OFFER_URL}",
                                     idempotency_key=f"bench:{channel}:{i}", data={"url": OFFER_URL})
                for k, i in enumerate(ids)]  # fmt: skip
    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=org_id, label="bench")
        made = notify_bulk.enqueue_many(session, org_id=org_id, messages=messages)
    return [made[m.idempotency_key] for m in messages]


def _deliver(
    factory, settings: Settings, message_ids: list[int], threads: int
) -> tuple[float, dict[str, int]]:
    """Patron's delivery of the messages: worker threads on the in-process queue, as in ``patron serve``."""
    queue = InProcessQueue()
    worker = Worker(factory, settings, queue, threads=threads, sweep=False).start()
    started = time.perf_counter()
    for message_id in message_ids:
        queue.put(message_id)
    deadline = time.monotonic() + 600
    while sum(worker.delivered.values()) < len(message_ids) and time.monotonic() < deadline:
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    worker.stop()
    queue.close()
    return elapsed, dict(worker.delivered)


def _jobs(factory, settings: Settings, message_ids: list[int]) -> list[tuple[Job, list]]:
    """The delivered messages as the channel senders get them (a fresh link token each, not stored), with
    each one's push subscriptions."""
    jobs = []
    with factory() as session:
        messages = session.scalars(
            select(Message).where(Message.id.in_(message_ids)).order_by(Message.id)
        ).all()
        subs = {s.customer_id: s for s in session.scalars(select(PushSubscription))}
        for message in messages:
            sub = subs.get(message.customer_id)
            target = message.address if message.channel == "email" else [
                webpush.Subscription(sub.id, sub.endpoint, sub.p256dh, sub.auth)]  # fmt: skip
            jobs.append((Job(message_id=message.id, org_id=message.org_id, channel=message.channel,
                             subject=message.subject, body=message.body, data=dict(message.data or {}),
                             links=list(message.links or []), token=issue_message_token(message), target=target,
                             public_url=settings.public_url), target))  # fmt: skip
        session.rollback()
    return jobs


def _raw_smtp(box: testing.SmtpServer, mails: list) -> float:
    """The same rendered e-mails sent by smtplib on one connection."""
    started = time.perf_counter()
    with smtplib.SMTP(box.host, box.port, timeout=30) as client:
        for mail in mails:
            client.send_message(mail)
    return time.perf_counter() - started


def _raw_push(requests: list[tuple[str, bytes, dict]]) -> tuple[float, int]:
    """The same encrypted, signed push requests posted by httpx, one after the other."""
    accepted = 0
    started = time.perf_counter()
    with httpx.Client(timeout=30) as client:
        for endpoint, body, headers in requests:
            accepted += client.post(endpoint, content=body, headers=headers).status_code == 201
    return time.perf_counter() - started, accepted


def run_send(url: str, label: str, n: int, threads: int, table: Table) -> None:
    engine = make_engine(url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    org_id = _organisation(factory, f"Bench {label}")
    ids = _load(engine, org_id, n, channels=("email", "push"), refuse_every=None)
    vapid = crypto.generate_vapid_keys()
    with testing.smtp_server(keep=False) as box, testing.push_service(vapid.public_key) as service:
        _subscribe(engine, org_id, ids, service)
        _analyze(engine)
        settings = Settings(database_url=url, scheduler=False, auto_migrate=False, smtp_url=box.url,
                            public_url="https://crm.example", mail_from="Shop <news@shop.example>",
                            vapid_private_key=vapid.private_key, vapid_subject="mailto:ops@shop.example",
                            notify_worker_threads=threads)  # fmt: skip
        for channel in ("email", "push"):
            message_ids = _enqueue(factory, org_id, ids, channel)
            before = box.accepted if channel == "email" else len(service.received)
            patron_s, outcome = _deliver(factory, settings, message_ids, threads)
            accepted = (box.accepted if channel == "email" else len(service.received)) - before
            jobs = _jobs(factory, settings, message_ids)
            if channel == "email":
                mails = [email_channel.build(job, settings) for job, _target in jobs]
                before = box.accepted
                raw_s = _raw_smtp(box, mails)
                raw_accepted = box.accepted - before
            else:
                requests = []
                for job, target in jobs:
                    sub = target[0]
                    body = crypto.encrypt(webpush.payload(job), p256dh=crypto.b64url_decode(sub.p256dh),
                                          auth=crypto.b64url_decode(sub.auth))  # fmt: skip
                    headers = {"Authorization": crypto.vapid_header(endpoint=sub.endpoint, private_key=vapid.private_key,
                                                                    subject=settings.vapid_subject),
                               "TTL": "86400", "Content-Encoding": "aes128gcm",
                               "Content-Type": "application/octet-stream", "Urgency": "normal"}  # fmt: skip
                    requests.append((sub.endpoint, body, headers))
                raw_s, raw_accepted = _raw_push(requests)
            statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(outcome.items()))
            table.add_row(label, channel, f"{n:,}", statuses, f"{accepted:,}", f"{patron_s:.2f}", f"{accepted / patron_s:,.0f}",
                          f"{raw_accepted:,}", f"{raw_s:.2f}", f"{raw_accepted / raw_s:,.0f}",
                          f"{(accepted / patron_s) / (raw_accepted / raw_s):.3f}")  # fmt: skip
    engine.dispose()


SEND_COLUMNS = ("backend", "channel", "messages", "outcome", "accepted", "Patron s", "Patron msg/s", "raw accepted",
                "raw s", "raw msg/s", "Patron / raw")  # fmt: skip


# --- geofence: trigger to push -------------------------------------------------------------------------

SHOP = {"lat": 52.52000, "lon": 13.40500}
NEAR = {"lat": 52.52030, "lon": 13.40520}  # about 36 m from the shop
SHOP_RULE = {
    "when": {"event_types": ["location"]},
    "geofence": {"name": "Shop Mitte", "circle": {**SHOP, "radius_m": 100}, "on": "entered"},
    "actions": [{"type": "emit_trigger", "name": "entered_shop",
                 "data": {"shop": "Shop Mitte", "lat": "{props.lat}", "lon": "{props.lon}"}}],
}  # fmt: skip


def _aware(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def run_geofence(url: str, label: str, n: int, interval: float, rate: float, table: Table) -> None:
    from fastapi.testclient import TestClient

    from patron.app import create_app

    engine = make_engine(url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    org_id = _organisation(factory, f"Bench {label}")
    ids = _load(engine, org_id, n, channels=("push",), refuse_every=None)
    vapid = crypto.generate_vapid_keys()
    keys: dict[int, str] = {}
    with tempfile.TemporaryDirectory() as tmp, testing.push_service(vapid.public_key) as service:
        _subscribe(engine, org_id, ids, service)
        with session_scope(factory) as session:
            session.info["actor"] = Actor(org_id=org_id, label="bench")
            for customer_id in ids:
                key = new_secret("pdk")
                session.add(Device(org_id=org_id, type="phone_app", name="Phone", customer_id=customer_id,
                                   status="active", key_hash=secret_hash(key), key_prefix=key[:8],
                                   serial=f"bench-{customer_id}"))  # fmt: skip
                keys[customer_id] = key
            rules_service.create_rule(session, org_id=org_id, name="Shop Mitte fence", definition=SHOP_RULE)
            campaign = campaigns_service.create_campaign(session, org_id=org_id, values={
                "name": "Round the corner", "kind": "triggered", "channels": ["push"], "audience": {"kind": "all"},
                "trigger": {"name": "entered_shop", "conditions": {"shop": "Shop Mitte"}},
                "variants": [{"name": "A", "subject": "{{ shop }} has your offer",
                              "body": "{{ first_name }}, {{ shop }} is round the corner: 10 % off today."}]})  # fmt: skip
            sending.do_launch_campaign(session, campaign=campaign)
        engine.dispose()
        settings = Settings(data_dir=Path(tmp), database_url=url, events_url=str(Path(tmp) / "events.duckdb"),
                            scheduler=False, auto_migrate=False, public_url="https://crm.example",
                            vapid_private_key=vapid.private_key, vapid_subject="mailto:ops@shop.example")  # fmt: skip
        app = create_app(settings)
        queue = InProcessQueue()
        use_queue(queue)
        worker = Worker(app.state.sessionmaker, settings, queue).start()
        # the scheduler as `patron serve` runs it: jobs every `interval` seconds, and the triggered
        # campaigns at once whenever a rule's trigger is committed
        scheduler = Scheduler(app.state.sessionmaker, interval=interval)
        posted: dict[int, float] = {}
        with TestClient(app) as client:
            scheduler.start()
            for customer_id in ids:
                posted[customer_id] = time.time()
                response = client.post("/ingest/v1/events", headers={"Authorization": f"Bearer {keys[customer_id]}"},
                                       json=[{"type": "location", "props": dict(NEAR)}])  # fmt: skip
                response.raise_for_status()
                time.sleep(max(0.0, 1 / rate - (time.time() - posted[customer_id])))
            deadline = time.monotonic() + 120
            while len(service.received) < n and time.monotonic() < deadline:
                time.sleep(0.02)
            scheduler.stop()
            worker.stop()
            use_queue(None)
            queue.close()
        with app.state.sessionmaker() as session:
            triggered = {t.customer_id: _aware(t.created_at) for t in session.scalars(
                select(Trigger).where(Trigger.org_id == org_id))}  # fmt: skip
            queued = {m.id: (m.customer_id, _aware(m.created_at)) for m in session.scalars(
                select(Message).where(Message.org_id == org_id))}  # fmt: skip
        app.state.engine.dispose()
    to_trigger, to_queue, to_accept, total = [], [], [], []
    for got in service.received:
        customer_id, queued_at = queued[got["payload"]["message_id"]]
        to_trigger.append(triggered[customer_id] - posted[customer_id])
        to_queue.append(queued_at - triggered[customer_id])
        to_accept.append(got["at"] - queued_at)
        total.append(got["at"] - posted[customer_id])
    table.add_row(label, f"{n:,}", f"{len(service.received):,}", f"{interval:g}",
                  _percentiles(to_trigger), _percentiles(to_queue), _percentiles(to_accept), _percentiles(total))  # fmt: skip


GEOFENCE_COLUMNS = ("backend", "phones", "pushes accepted", "scheduler tick s", "ingest → trigger ms",
                    "trigger → queued ms", "queued → accepted ms", "ingest → accepted ms")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=SECTIONS,
                        help="run only this section (repeat for several; default: all)")  # fmt: skip
    parser.add_argument(
        "--customers", type=int, default=100_000, help="launch: audience size (default 100,000)"
    )
    parser.add_argument("--audience", type=int, default=1_000_000,
                        help="personalise: audience size (default 1,000,000)")  # fmt: skip
    parser.add_argument(
        "--messages", type=int, default=2_000, help="send: messages per channel (default 2,000)"
    )
    parser.add_argument("--threads", type=int, default=2, help="send: delivery threads (default 2, as serve)")
    parser.add_argument(
        "--events", type=int, default=300, help="geofence: phones entering the fence (default 300)"
    )
    parser.add_argument("--rate", type=float, default=10.0, help="geofence: events per second (default 10)")
    parser.add_argument("--job-interval", type=float, default=60.0,
                        help="geofence: the scheduler's tick in seconds (default 60, as patron serve); "
                             "triggered campaigns also run as soon as a trigger is written")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="small sizes: a check that everything runs")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args(argv)
    if args.quick:
        args.customers, args.audience, args.messages, args.events = 10_000, 20_000, 200, 40
    sections = args.only or list(SECTIONS)
    tables = []
    if "launch" in sections:
        table = Table(
            title=f"One-off campaign launch to {args.customers:,} customers (e-mail, 2 variants, 10 % hold-out)"
        )
        for column in ("backend", "customers", "reachable", "count s", "count µs/customer", "queued / held out",
                       "launch s", "launch CPU s", "launch rows/s", "floor s", "floor rows/s", "launch / floor"):  # fmt: skip
            table.add_column(column, justify="right")
        for label, url in databases(args.backend, PG_DATABASE, say=console.print):
            run_launch(url, label, args.customers, table)
        tables.append(table)
        console.print(table)
    if "personalise" in sections:
        table = Table(title=f"Audience resolution and personalisation of {args.audience:,} customers "
                            "(points, recommended products, 2 variants, 10 % hold-out)")  # fmt: skip
        for column in PERSONALISE_COLUMNS:
            table.add_column(column, justify="right")
        for label, url in databases(args.backend, PG_DATABASE, say=console.print):
            run_personalise(url, label, args.audience, table)
        tables.append(table)
        console.print(table)
    if "send" in sections:
        table = Table(
            title=f"Delivery of {args.messages:,} messages per channel ({args.threads} delivery threads)"
        )
        for column in SEND_COLUMNS:
            table.add_column(column, justify="right")
        for label, url in databases(args.backend, PG_DATABASE, say=console.print):
            run_send(url, label, args.messages, args.threads, table)
        tables.append(table)
        console.print(table)
    if "geofence" in sections:
        table = Table(title=f"Geofence entered → push accepted, {args.events:,} phones at {args.rate:g} events/s "
                            "(p50 / p99 / max)")  # fmt: skip
        for column in GEOFENCE_COLUMNS:
            table.add_column(column, justify="right")
        for label, url in databases(args.backend, PG_DATABASE, say=console.print):
            run_geofence(url, label, args.events, args.job_interval, args.rate, table)
        tables.append(table)
        console.print(table)
    if len(tables) > 1:
        for table in tables:
            console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
