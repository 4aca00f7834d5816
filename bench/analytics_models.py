"""patron.analytics model speed: CLV fits and clustering on synthetic customers.

Run ``.venv/bin/python bench/analytics_models.py`` (``--help`` for options). It prints figures and never
asserts a time.

(a) CLV: customer summaries drawn from the BG/NBD + Gamma-Gamma model (CDNOW parameters, observation
    periods of 1 to 78 weeks in whole days) for 100,000 and 1,000,000 customers; BG/NBD fit, Gamma-Gamma
    fit and 12-month CLV for everyone, each timed with its peak traced memory. If the unmaintained
    ``lifetimes`` package happens to be installed (it is not a Patron dependency), its BetaGeoFitter is
    timed on the same data.
(b) Clustering: 1,000,000 customers x 20 features from 6 planted groups. ``CustomerSegmenter`` with
    mini-batch k-means, then with Lloyd k-means (n_init=1), choosing k in 2..8 by silhouette (on a
    20,000-row sample) and refitting on all rows; beside them the peer floor: scikit-learn's MiniBatchKMeans and KMeans with k fixed at the truth.
    The adjusted Rand index against the planted groups is printed for each.
(c) MCDM: VIKOR (9 values of v) and TOPSIS on 10,000 alternatives x 10 criteria.
(d) Recommendations: 1,000,000 customers x 5,000 products, 20 purchases each from 50 planted taste
    groups. ``ItemKNNRecommender`` fit (item-item cosine, 50 neighbours) and top-10 for every customer,
    beside the peer floor: the same batched scipy sparse products (customers x products times the
    similarity matrix) with nothing else - no densifying, no exclusion of bought products, no top-n.
    Precision@10 on one held-out purchase per customer is printed against the popularity baseline.
(e) Churn: ``ChurnModel`` (boosted trees, isotonic calibration, 3 folds) on 20,000 customers x 12
    features, and its per-customer drivers, beside scikit-learn's GradientBoostingClassifier fitted once.
(f) Predictions run: ``patron.predictions.service.run_predictions`` over one organisation of 20,000
    customers in a SQLite file (two years of orders from the orders service, inbound messages, device
    events of half the customers in an event store), without and with the event store; beside it the
    reading of the organisation's purchase history alone. Not part of ``bench/analytics.py``'s sections.

``--scale 0.1`` runs every part at a tenth of its size; ``--skip`` leaves parts out.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sklearn.cluster import KMeans, MiniBatchKMeans  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from patron.analytics.churn import ChurnModel  # noqa: E402
from patron.analytics.clv import BetaGeoModel, GammaGammaModel, customer_lifetime_value  # noqa: E402
from patron.analytics.mcdm import entropy_weights, topsis, vikor  # noqa: E402
from patron.analytics.recommend import ItemKNNRecommender, PopularityRecommender, precision_at_k  # noqa: E402
from patron.analytics.segmentation import CustomerSegmenter  # noqa: E402
from patron.analytics.simulate import simulate_customers  # noqa: E402

CDNOW = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "p": 6.25, "q": 3.74, "v": 15.44}


def measure(label: str, fn: Callable[[], object]) -> object:
    """Run ``fn`` once; print wall time, process CPU time and peak memory traced while it ran.

    CPU time (all threads of this process) is printed beside wall time because a shared machine's
    load inflates wall time.
    """
    return measure_timed(label, fn)[0]


def measure_timed(label: str, fn: Callable[[], object]) -> tuple[object, float]:
    """:func:`measure`, also returning the wall time (for ratios to a peer)."""
    tracemalloc.start()
    start, cpu_start = time.perf_counter(), time.process_time()
    result = fn()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  {label:<66} {elapsed:8.2f} s wall {cpu:8.2f} s cpu   peak {peak / 2**20:8.1f} MiB", flush=True)
    return result, elapsed


def timed(label: str, fn: Callable[[], object]) -> object:
    """:func:`measure` without the memory tracing (whose hooks slow allocation-heavy Python code)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    result = fn()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(f"  {label:<66} {elapsed:8.2f} s wall {cpu:8.2f} s cpu", flush=True)
    return result


def bench_clv(sizes: list[int]) -> None:
    print("(a) CLV: BG/NBD + Gamma-Gamma, CDNOW parameters, T of 1..78 weeks in whole days")
    for n in sizes:
        rng = np.random.default_rng(n)
        weeks = rng.integers(7, 7 * 78, size=n) / 7.0
        summary = simulate_customers(n, T=weeks, seed=1, **CDNOW)
        summary["recency"] = np.round(summary["recency"] * 7) / 7  # whole days, as from real dates
        print(f" n = {n:,} customers ({int((summary['frequency'] > 0).sum()):,} repeat buyers)")
        bg = measure("BetaGeoModel.fit", lambda s=summary: BetaGeoModel().fit(s))
        gg = measure("GammaGammaModel.fit", lambda s=summary: GammaGammaModel().fit(s))
        measure(
            "customer_lifetime_value (12 months, discounted)",
            lambda s=summary, bg=bg, gg=gg: customer_lifetime_value(bg, gg, s, months=12),
        )
        fitted = ", ".join(f"{k}={v:.3f}" for k, v in {**bg.params_, **gg.params_}.items())
        print(f"  fitted: {fitted}")
        if importlib.util.find_spec("lifetimes") is not None:
            from lifetimes import BetaGeoFitter

            measure(
                "peer: lifetimes BetaGeoFitter.fit",
                lambda s=summary: BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"]),
            )
        else:
            print("  peer: lifetimes is not installed on this machine (not a Patron dependency); no figure")


def planted_features(
    n: int, n_features: int, n_groups: int, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, size=(n_groups, n_features))
    truth = rng.integers(0, n_groups, size=n)
    values = centres[truth] + rng.normal(0, 1, size=(n, n_features))
    return pd.DataFrame(values, columns=[f"f{j + 1}" for j in range(n_features)]), truth


def bench_clustering(n: int, n_features: int) -> None:
    groups = 6
    print(f"(b) Clustering: {n:,} customers x {n_features} features, {groups} planted groups")
    X, truth = measure("generate", lambda: planted_features(n, n_features, groups))
    seg = measure(
        "CustomerSegmenter minibatch, k in 2..8 by silhouette, refit",
        lambda: CustomerSegmenter(algorithm="minibatch", k_range=(2, 8), random_state=0).fit(X),
    )
    print(
        f"  chose k = {seg.n_clusters_} by {seg.criterion_}; ARI vs planted = {adjusted_rand_score(truth, seg.labels_):.3f}"
    )
    seg_km = measure(
        "CustomerSegmenter kmeans (Lloyd), k in 2..8 by silhouette, refit",
        lambda: CustomerSegmenter(algorithm="kmeans", k_range=(2, 8), n_init=1, random_state=0).fit(X),
    )
    print(
        f"  chose k = {seg_km.n_clusters_} by {seg_km.criterion_}; "
        f"ARI vs planted = {adjusted_rand_score(truth, seg_km.labels_):.3f}"
    )
    scaled = StandardScaler().fit_transform(X)
    mbk = measure(
        "peer floor: sklearn MiniBatchKMeans, k fixed = 6",
        lambda: MiniBatchKMeans(n_clusters=groups, n_init=4, batch_size=1536, random_state=0).fit(scaled),
    )
    print(f"  ARI vs planted = {adjusted_rand_score(truth, mbk.labels_):.3f}")
    km = measure(
        "peer: sklearn KMeans (Lloyd), k fixed = 6, n_init=1",
        lambda: KMeans(n_clusters=groups, n_init=1, random_state=0).fit(scaled),
    )
    print(f"  ARI vs planted = {adjusted_rand_score(truth, km.labels_):.3f}")


def bench_mcdm(n: int, n_criteria: int) -> None:
    print(f"(c) MCDM: {n:,} alternatives x {n_criteria} criteria")
    rng = np.random.default_rng(0)
    matrix = pd.DataFrame(
        rng.uniform(1, 10, size=(n, n_criteria)), columns=[f"c{j}" for j in range(n_criteria)]
    )
    weights = measure("entropy_weights", lambda: entropy_weights(matrix))["weight"]
    measure("vikor (v = 0.1 .. 0.9, compromise sets)", lambda: vikor(matrix, weights=weights))
    measure("topsis", lambda: topsis(matrix, weights=weights))


def planted_purchases(n_customers: int, n_products: int, per_customer: int, seed: int = 0) -> pd.DataFrame:
    """``per_customer`` purchases each; 85 % from the customer's taste group (50 groups), Zipf-like inside it."""
    rng = np.random.default_rng(seed)
    groups = 50
    size = n_products // groups
    group = rng.integers(0, groups, n_customers)
    customer = np.repeat(np.arange(n_customers, dtype=np.int32), per_customer)
    inner = np.minimum(rng.zipf(1.3, customer.size) - 1, size - 1)
    own = group[customer] * size + inner
    anywhere = rng.integers(0, n_products, customer.size)
    product = np.where(rng.random(customer.size) < 0.85, own, anywhere).astype(np.int32)
    return pd.DataFrame({"customer_id": customer, "product_id": product})


def bench_recommendations(n_customers: int, n_products: int, per_customer: int) -> None:
    print(
        f"(d) Recommendations: {n_customers:,} customers x {n_products:,} products, {per_customer} purchases each"
    )
    purchases = measure("generate", lambda: planted_purchases(n_customers, n_products, per_customer))
    last = purchases.groupby("customer_id").tail(1)  # hold out each customer's last purchase
    train = purchases.drop(index=last.index)
    model = measure("ItemKNNRecommender.fit (cosine, 50 neighbours)", lambda: ItemKNNRecommender().fit(train))
    customers = np.arange(n_customers)
    recs, ours = measure_timed(
        "ItemKNNRecommender.recommend, top 10 for every customer", lambda: model.recommend(customers, n=10)
    )

    def products_only() -> int:
        rows = model.user_items_
        total = 0
        for start in range(0, rows.shape[0], model.batch_size):
            total += (rows[start : start + model.batch_size] @ model.similarity_).nnz
        return total

    _, floor = measure_timed("peer floor: scipy sparse products alone, same batches", products_only)
    print(f"  ratio recommend / floor = {ours / floor:.2f}")
    popular = PopularityRecommender().fit(train).recommend(customers[:100_000], n=10)
    held = last[last["customer_id"] < 100_000]
    cf_precision = precision_at_k(recs[recs["customer_id"] < 100_000], held, 10)
    print(
        f"  precision@10 on the held-out purchase (100k customers): item-kNN {cf_precision:.4f}, "
        f"popularity {precision_at_k(popular, held, 10):.4f}"
    )


def bench_churn(n: int) -> None:
    print(f"(e) Churn: {n:,} customers x 12 features")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(n, 12)), columns=[f"f{j + 1}" for j in range(12)])
    logit = -1.0 + 1.5 * X["f1"] - 1.0 * X["f2"] + 0.8 * X["f3"] * X["f4"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).to_numpy().astype(int)
    model, ours = measure_timed(
        "ChurnModel(gbm, isotonic, cv=3).fit", lambda: ChurnModel(random_state=0).fit(X, y)
    )
    measure("ChurnModel.explain, top 3 drivers for every customer", lambda: model.explain(X, top=3))
    _, peer = measure_timed(
        "peer: sklearn GradientBoostingClassifier.fit once, same settings",
        lambda: model._pipeline().fit(X.to_numpy(), y),
    )
    print(f"  ratio fit / one boosted fit = {ours / peer:.2f} (calibration fits cv + 1 models)")


def seed_shop(session, *, org_id: int, n: int, as_of, seed: int = 0):
    """An organisation of ``n`` customers with two years of orders (a fifth leave at some point; half use
    a device, which falls quiet 45 days before they leave) and inbound messages of a tenth of them.
    Returns the events as an ``EventBatch`` (the caller stores them)."""
    import random
    from datetime import timedelta
    from decimal import Decimal

    from sqlalchemy import select

    from patron.customers.importer import import_customers_csv
    from patron.customers.models import Customer
    from patron.events.store import EventBatch, micros
    from patron.interactions import service as interactions_service
    from patron.orders import service as orders_service
    from patron.orders.bulk import PreparedLine, PreparedOrder
    from patron.orders.pricing import Totals

    rng = random.Random(seed)
    rows = "\n".join(f"Customer{i},Bench,c{i}@bench.example" for i in range(n))
    import_customers_csv(session, org_id=org_id, text="first_name,last_name,email\n" + rows)
    customers = list(
        session.scalars(select(Customer.id).where(Customer.org_id == org_id).order_by(Customer.id))
    )
    products = [
        orders_service.create_product(
            session, org_id=org_id, sku=f"P{j}", name=f"Product {j}", price=Decimal(5 + j % 40)
        )  # fmt: skip
        for j in range(200)
    ]
    days, orders, batch = 730, [], EventBatch()
    start = as_of - timedelta(days=days)
    for customer_id in customers:
        first, gap = rng.uniform(0, 600), rng.gammavariate(2.0, 20.0)
        stop = rng.uniform(first, days + 200) if rng.random() < 0.2 else days + 1
        taste = rng.randrange(10)
        day = first
        while day < min(stop, days):
            picks = {products[taste * 20 + rng.randrange(20)] if rng.random() < 0.8 else rng.choice(products)
                     for _ in range(rng.randint(1, 3))}  # fmt: skip
            lines = [PreparedLine(p.id, p.sku, p.name, 1, p.price, Decimal("0"), p.price) for p in picks]
            total = sum((p.price for p in picks), Decimal("0"))
            orders.append(PreparedOrder(customer_id=customer_id, channel="web", status="delivered",
                                        ordered_at=start + timedelta(days=day), currency="EUR",
                                        totals=Totals(len(lines), total, Decimal("0"), total), lines=lines))  # fmt: skip
            day += rng.expovariate(1 / gap)
        if (
            rng.random() < 0.5
        ):  # a device user: events over the last 240 days, quiet from 45 days before leaving
            day = days - 240 + rng.uniform(0, 4)
            while day < min(stop - 45, days):
                moment = start + timedelta(days=day)
                batch.add(org_id=org_id, id=f"b{customer_id}-{len(batch)}", device_id=None, customer_id=customer_id,
                          type="trip.end", ts=micros(moment), received_at=micros(moment), source="http", lat=None,
                          lon=None, props_json="{}", props={})  # fmt: skip
                day += rng.uniform(1, 7)
        if rng.random() < 0.1:
            for k, text in enumerate(("Where is my parcel?", "Thanks, it arrived and works great.")):
                interactions_service.create_interaction(session, org_id=org_id, customer_id=customer_id, kind="email",
                                                        direction="inbound", body=text,
                                                        occurred_at=as_of - timedelta(days=60 - 30 * k))  # fmt: skip
    orders_service.create_orders_bulk(session, org_id=org_id, orders=orders)
    return batch


def bench_predictions(n: int) -> None:
    import tempfile
    from datetime import UTC, datetime

    from patron.accounts import service as accounts_service
    from patron.core.audit import Actor
    from patron.core.db import make_engine, make_sessionmaker, session_scope
    from patron.core.migrate import upgrade
    from patron.events.store import EventStore
    from patron.orders import service as orders_service
    from patron.predictions import service as predictions_service

    as_of = datetime(2026, 6, 1, tzinfo=UTC)
    print(f"(f) Predictions run: one organisation of {n:,} customers (SQLite file, DuckDB event store)")
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        factory = make_sessionmaker(engine)
        with session_scope(factory) as session:
            session.info["actor"] = Actor(org_id=None, label="bench")
            org_id = accounts_service.create_organisation(session, name="Bench shop").id
        with session_scope(factory) as session:
            session.info["actor"] = Actor(org_id=org_id, label="bench")
            batch = timed("seed (customers, orders, messages; not a figure)",
                            lambda: seed_shop(session, org_id=org_id, n=n, as_of=as_of))  # fmt: skip
        store = EventStore(str(Path(tmp) / "events.duckdb"))
        store.append(batch)
        print(f"  {len(batch):,} device events stored")
        try:
            with factory() as session:
                orders = timed(
                    "floor: the purchase history read alone",
                    lambda: orders_service.purchase_history(session, org_id=org_id, until=as_of),
                )
                print(f"  {len(orders):,} counted orders")
            for label, events in (("without the event store", None), ("with the event store", store)):
                with session_scope(factory) as session:
                    session.info["actor"] = Actor(org_id=org_id, label="bench")
                    run = timed(
                        f"run_predictions, {label}",
                        lambda s=session, e=events: predictions_service.run_predictions(
                            s, org_id=org_id, as_of=as_of, events_store=e
                        ),
                    )
                    churn = run.summary["churn"]
                    if "skipped" in churn:
                        print(f"  churn skipped: {churn['skipped']}")
                    else:
                        usage = sorted(set(churn["features"]) & {"events_30d", "active_days_30d", "usage_trend",
                                                                 "days_since_last_event"})  # fmt: skip
                        print(f"  churn {churn['method']}: AUC {churn['auc']:.3f} (recency {churn['baseline_auc']:.3f}),"
                              f" {len(churn['features'])} features, usage: {', '.join(usage) or 'none'}")  # fmt: skip
        finally:
            store.close()
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (10k CLV, 100k x 20 clustering)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full sizes, e.g. 0.1")
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["clv", "clustering", "mcdm", "recommendations", "churn", "predictions"],
    )
    args = parser.parse_args()
    scale = 0.1 if args.quick else args.scale
    clv_sizes = [int(100_000 * scale), int(1_000_000 * scale)]
    rows = int(1_000_000 * scale)
    if "clv" not in args.skip:
        bench_clv(clv_sizes)
    if "clustering" not in args.skip:
        bench_clustering(rows, 20)
    if "mcdm" not in args.skip:
        bench_mcdm(10_000, 10)
    if "recommendations" not in args.skip:
        bench_recommendations(int(1_000_000 * scale), 5_000, 20)
    if "churn" not in args.skip:
        bench_churn(int(20_000 * scale))
    if "predictions" not in args.skip:
        bench_predictions(int(20_000 * scale))


#: the sections bench/analytics.py runs after its feature pipeline, sized by its ``--scale``
SECTIONS = [
    ("clv", lambda args: bench_clv([int(100_000 * args.scale), int(1_000_000 * args.scale)])),
    ("clustering", lambda args: bench_clustering(int(1_000_000 * args.scale), 20)),
    ("mcdm", lambda args: bench_mcdm(10_000, 10)),
    ("recommendations", lambda args: bench_recommendations(int(1_000_000 * args.scale), 5_000, 20)),
    ("churn", lambda args: bench_churn(int(20_000 * args.scale))),
]


if __name__ == "__main__":
    main()
