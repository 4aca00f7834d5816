"""Recommendations: planted product groups recovered on a time-based hold-out, cold customers, metrics, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics.pairwise import cosine_similarity

from patron.analytics.errors import (
    EmptyDataError,
    InvalidParameterError,
    InvalidValueError,
    MissingColumnError,
)
from patron.analytics.recommend import (
    ItemKNNRecommender,
    PopularityRecommender,
    precision_at_k,
    recall_at_k,
    time_based_split,
)


def simulate_purchases(
    n_customers: int = 2000, n_groups: int = 8, per_group: int = 25, seed: int = 5
) -> pd.DataFrame:
    """Each customer belongs to one taste group and buys 85 % of the time from that group's 25 products
    (Zipf-like popularity inside the group) and otherwise from any product, over 360 days."""
    rng = np.random.default_rng(seed)
    n_products = n_groups * per_group
    group = rng.integers(0, n_groups, n_customers)
    inner = 1 / np.arange(1, per_group + 1) ** 0.8
    inner /= inner.sum()
    rows = []
    for customer in range(n_customers):
        for _ in range(rng.integers(4, 16)):
            if rng.random() < 0.85:
                product = group[customer] * per_group + rng.choice(per_group, p=inner)
            else:
                product = rng.integers(0, n_products)
            rows.append((customer, f"P{product:03d}", rng.uniform(0, 360)))
    frame = pd.DataFrame(rows, columns=["customer_id", "product_id", "day"])
    frame["ordered_at"] = pd.Timestamp("2025-01-01") + pd.to_timedelta(frame["day"], unit="D")
    frame.attrs["group"] = group
    return frame.drop(columns="day")


@pytest.fixture(scope="module")
def purchases():
    return simulate_purchases()


@pytest.fixture(scope="module")
def split(purchases):
    return time_based_split(purchases, test_start="2025-10-01")


def test_collaborative_filtering_beats_popularity_on_the_holdout(split):
    train, test = split
    customers = test["customer_id"].unique()
    cf = ItemKNNRecommender(neighbours=50).fit(train).recommend(customers, n=10)
    popular = PopularityRecommender().fit(train).recommend(customers, n=10)
    cf_precision, cf_recall = precision_at_k(cf, test, 10), recall_at_k(cf, test, 10)
    pop_precision, pop_recall = precision_at_k(popular, test, 10), recall_at_k(popular, test, 10)
    assert cf_precision > 2 * pop_precision, (cf_precision, pop_precision)
    assert cf_recall > 2 * pop_recall, (cf_recall, pop_recall)
    assert cf_precision > 0.08 and cf_recall > 0.4
    assert set(cf["source"]) == {"cf"}


def test_recommendations_come_from_the_customers_group(purchases, split):
    train, _ = split
    group = purchases.attrs["group"]
    recs = ItemKNNRecommender(neighbours=50).fit(train).recommend(range(200), n=10)
    product_group = recs["product_id"].str[1:].astype(int) // 25
    assert (product_group.to_numpy() == group[recs["customer_id"].to_numpy()]).mean() > 0.9


def test_seen_products_are_left_out_and_lists_are_ranked(split):
    train, _ = split
    model = ItemKNNRecommender(neighbours=50).fit(train)
    recs = model.recommend([0, 1, 2], n=10)
    seen = set(map(tuple, train[["customer_id", "product_id"]].to_numpy()))
    assert not any((c, p) in seen for c, p in recs[["customer_id", "product_id"]].to_numpy())
    for _, rows in recs.groupby("customer_id"):
        assert rows["rank"].tolist() == list(range(1, 11))
        assert rows["score"].is_monotonic_decreasing
    with_seen = model.recommend([0], n=10, exclude_seen=False)
    assert any((0, p) in seen for p in with_seen["product_id"])


def test_similarity_is_the_cosine_of_the_purchase_columns(split):
    train, _ = split
    model = ItemKNNRecommender(neighbours=10).fit(train)
    counts = pd.crosstab(train["customer_id"], train["product_id"]).reindex(columns=model.products_)
    reference = cosine_similarity(np.log1p(counts.to_numpy()).T)  # scikit-learn's cosine on dense columns
    np.fill_diagonal(reference, 0)
    ours = model.similarity_.toarray()
    assert (np.count_nonzero(ours, axis=1) <= 10).all()
    for row in range(0, len(reference), 17):
        kept = np.flatnonzero(ours[row])
        np.testing.assert_allclose(ours[row, kept], reference[row, kept], rtol=1e-5)
        assert ours[row, kept].min() >= np.sort(reference[row])[-10] - 1e-6  # the 10 largest were kept


def test_scores_are_the_dense_product_with_the_similarities(split):
    # the top ten of each customer worked out densely: log(1 + count) history times the kept similarities,
    # products already bought removed, the largest ten in order
    train, _ = split
    model = ItemKNNRecommender(neighbours=20, batch_size=64).fit(train)
    customers = model.customers_[::7]
    recs = model.recommend(customers, n=10)
    history = model.user_items_.toarray()[model.customer_index_.get_indexer(customers)]
    dense = history.astype(np.float64) @ model.similarity_.toarray()
    dense[history > 0] = 0.0
    for i, customer in enumerate(customers):
        got = recs[recs["customer_id"] == customer]
        assert got["rank"].tolist() == list(range(1, 11)) and set(got["source"]) == {"cf"}
        expected = np.sort(dense[i])[::-1][:10]
        np.testing.assert_allclose(got["score"].to_numpy(), expected, rtol=1e-5)
        columns = model.products_.searchsorted(got["product_id"].to_numpy())
        np.testing.assert_allclose(dense[i, columns], got["score"].to_numpy(), rtol=1e-5)


def test_cold_customers_get_the_popular_products(split):
    train, _ = split
    model = ItemKNNRecommender().fit(train)
    recs = model.recommend(["new-customer"], n=5)
    expected = (
        train.groupby("product_id")["customer_id"].nunique().sort_values(ascending=False, kind="stable")
    )
    assert recs["product_id"].tolist() == expected.index[:5].tolist()
    assert recs["score"].tolist() == expected.iloc[:5].tolist()
    assert set(recs["source"]) == {"popular"}


def test_a_short_list_is_filled_with_popular_products():
    bought = pd.DataFrame({"customer_id": [1, 1, 2, 3, 3, 4], "product_id": ["a", "b", "a", "c", "d", "c"]})
    recs = ItemKNNRecommender().fit(bought).recommend([2], n=3)
    # customer 2 bought a; b is a's only neighbour, then the most popular products not bought: c, d
    assert recs["product_id"].tolist() == ["b", "c", "d"]
    assert recs["source"].tolist() == ["cf", "popular", "popular"]


def test_metrics_by_hand():
    recs = pd.DataFrame({"customer_id": [1, 1, 1, 2, 2, 2], "rank": [1, 2, 3, 1, 2, 3],
                         "product_id": ["a", "b", "c", "a", "b", "c"]})  # fmt: skip
    held = pd.DataFrame({"customer_id": [1, 1, 2, 3], "product_id": ["c", "z", "q", "a"]})
    # customer 1: 1 hit of 2 relevant; customer 2: 0 of 1; customer 3: no list, 0 of 1
    assert precision_at_k(recs, held, 3) == pytest.approx((1 / 3 + 0 + 0) / 3)
    assert recall_at_k(recs, held, 3) == pytest.approx((1 / 2 + 0 + 0) / 3)
    assert precision_at_k(recs, held, 2) == 0


def test_bad_input_gets_clear_errors(split):
    train, test = split
    with pytest.raises(EmptyDataError):
        ItemKNNRecommender().fit(train.iloc[:0])
    with pytest.raises(MissingColumnError):
        ItemKNNRecommender().fit(train.drop(columns="product_id"))
    with pytest.raises(InvalidValueError, match="missing id"):
        ItemKNNRecommender().fit(train.assign(customer_id=None))
    with pytest.raises(InvalidParameterError, match="neighbours"):
        ItemKNNRecommender(neighbours=0).fit(train)
    model = ItemKNNRecommender().fit(train)
    with pytest.raises(InvalidParameterError, match="n must"):
        model.recommend([1], n=0)
    with pytest.raises(InvalidParameterError, match="k must"):
        precision_at_k(model.recommend([1]), test, 0)
    with pytest.raises(EmptyDataError, match="hold-out"):
        time_based_split(train, test_start="2030-01-01")
    with pytest.raises(InvalidParameterError, match="not a date"):
        time_based_split(train, test_start="soon")
