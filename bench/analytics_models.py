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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (10k CLV, 100k x 20 clustering)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full sizes, e.g. 0.1")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["clv", "clustering", "mcdm", "recommendations", "churn"]
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
