"""Segment evaluation: a rule segment's count and a refresh, beside one hand-written SQL query computing the
same count (the floor: what the database needs without Patron).

    .venv/bin/python bench/segments.py                       # 200k customers on SQLite
    .venv/bin/python bench/segments.py --customers 20000     # a quick check

Customers get a gender, an income band, a tag ("vip", 20 %) and an e-mail consent ledger (granted for 60 %,
then revoked for a tenth of those); the definition asks for women with a high or upper-middle income who
are tagged vip or have opted in to e-mail. Prints wall times (best of three) and peak memory; asserts no
time, only that the count equals the floor's.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, text

from patron.accounts import service as accounts_service
from patron.core.audit import Actor
from patron.core.config import Settings
from patron.core.db import engine_for, make_sessionmaker, session_scope, utcnow
from patron.core.migrate import upgrade
from patron.customers.models import ConsentRecord, Customer, CustomerTag
from patron.segments import service as segments_service

DEFINITION = {"all": [
    {"field": "gender", "op": "eq", "value": "female"},
    {"field": "income_band", "op": "in", "value": ["high", "upper_middle"]},
    {"any": [{"field": "tags", "op": "contains", "value": "vip"}, {"field": "consent.email", "op": "eq", "value": True}]},
]}  # fmt: skip
FLOOR = """
SELECT count(*) FROM customers c
WHERE c.org_id = :org AND c.erased_at IS NULL AND c.merged_into_id IS NULL
  AND c.gender = 'female' AND c.income_band IN ('high', 'upper_middle')
  AND (EXISTS (SELECT 1 FROM customer_tags t WHERE t.org_id = :org AND t.customer_id = c.id AND t.tag = 'vip')
       OR (SELECT r.granted FROM consent_records r WHERE r.customer_id = c.id AND r.org_id = :org
           AND r.channel = 'email' ORDER BY r.recorded_at DESC, r.id DESC LIMIT 1) = 1)
"""


def best(fn, runs: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def seed(factory, n: int) -> int:
    rng = random.Random(1)
    now = utcnow()
    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=None, label="bench")
        org_id = accounts_service.create_organisation(session, name="Bench").id
    genders, bands = ("female", "male", "diverse"), ("low", "lower_middle", "middle", "upper_middle", "high")
    with factory() as session:
        for start in range(0, n, 20_000):
            rows = [{"org_id": org_id, "first_name": f"C{i}", "gender": rng.choice(genders), "income_band": rng.choice(bands),
                     "lifestyle_tags": [], "preferences": {}, "attributes": {}, "created_at": now, "updated_at": now}
                    for i in range(start, min(n, start + 20_000))]  # fmt: skip
            session.execute(insert(Customer), rows)
        ids = list(session.scalars(text("SELECT id FROM customers WHERE org_id = :o").bindparams(o=org_id)))
        tags = [{"org_id": org_id, "customer_id": cid, "tag": "vip"} for cid in ids if rng.random() < 0.2]
        consents = []
        for cid in ids:
            if rng.random() < 0.6:
                consents.append({"org_id": org_id, "customer_id": cid, "channel": "email", "granted": True,
                                 "source": "bench", "recorded_at": now})  # fmt: skip
                if rng.random() < 0.1:
                    consents.append({"org_id": org_id, "customer_id": cid, "channel": "email", "granted": False,
                                     "source": "bench", "recorded_at": now})  # fmt: skip
        session.execute(insert(CustomerTag), tags)
        for start in range(0, len(consents), 50_000):
            session.execute(insert(ConsentRecord), consents[start : start + 50_000])
        session.commit()
        session.execute(text("ANALYZE"))
    return org_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), scheduler=False)
        engine = engine_for(settings)
        upgrade(engine)
        factory = make_sessionmaker(engine)
        org_id = seed(factory, args.customers)
        print(f"{args.customers:,} customers on {engine.dialect.name}")
        with factory() as session:
            floor, expected = best(lambda: session.scalar(text(FLOOR), {"org": org_id}))
            count_time, count = best(lambda: segments_service.count_definition(
                session, org_id=org_id, definition=DEFINITION, settings=settings))  # fmt: skip
        print(f"count          {count_time * 1000:8.1f} ms   ({count:,} members)")
        print(f"raw SQL floor  {floor * 1000:8.1f} ms   ({expected:,}; ratio {count_time / floor:.2f}x)")
        with session_scope(factory) as session:
            segment = segments_service.create_segment(
                session, org_id=org_id, name="Bench", definition=DEFINITION
            )
            start = time.perf_counter()
            joined, _ = segments_service.do_refresh_segment(session, segment=segment, settings=settings)
            first = time.perf_counter() - start
            start = time.perf_counter()
            segments_service.do_refresh_segment(session, segment=segment, settings=settings)
            again = time.perf_counter() - start
        print(f"first refresh  {first * 1000:8.1f} ms   ({joined:,} memberships written)")
        print(f"next refresh   {again * 1000:8.1f} ms   (nothing changed)")
        print(f"peak memory    {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:8.0f} MiB")
        assert count == expected, (count, expected)  # a wrong count would make the timing meaningless
        engine.dispose()


if __name__ == "__main__":
    main()
