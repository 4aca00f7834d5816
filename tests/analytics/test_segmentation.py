"""Segmentation: planted clusters are recovered, profiles, stability, archetypes, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score

from patron.analytics.archetypes import ARCHETYPES, assign_archetypes
from patron.analytics.errors import (
    EmptyDataError,
    InsufficientDataError,
    InvalidParameterError,
    InvalidValueError,
    MissingColumnError,
)
from patron.analytics.segmentation import CustomerSegmenter, cluster_stability, profile_clusters

FEATURES = ["frequency", "recency", "csat", "tickets", "age", "premium_share", "discount_share", "income"]
# Four planted customer groups, one per archetype of study §2 (means in feature units).
GROUP_MEANS = {
    "communication": [12, 10, 4.0, 1, 40, 0.2, 0.2, 50],  # buy often and recently
    "ethical_behavioural": [4, 60, 2.0, 6, 42, 0.2, 0.2, 52],  # low satisfaction, many tickets
    "individual": [4, 60, 4.0, 1, 28, 0.8, 0.2, 55],  # young, premium
    "economic": [4, 60, 4.0, 1, 45, 0.2, 0.8, 25],  # discounts, low income
}
GROUP_SDS = [1.5, 8, 0.35, 0.8, 3, 0.07, 0.07, 5]


def planted_customers(n_per_group: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    blocks, truth = [], []
    for g, means in enumerate(GROUP_MEANS.values()):
        blocks.append(rng.normal(means, GROUP_SDS, size=(n_per_group, len(FEATURES))))
        truth += [g] * n_per_group
    order = rng.permutation(len(truth))
    return pd.DataFrame(np.vstack(blocks)[order], columns=FEATURES), np.asarray(truth)[order]


@pytest.fixture(scope="module")
def planted():
    return planted_customers()


@pytest.mark.parametrize("algorithm", ["kmeans", "minibatch", "gmm"])
def test_planted_clusters_are_recovered(planted, algorithm):
    X, truth = planted
    seg = CustomerSegmenter(algorithm=algorithm, k_range=(2, 6), random_state=0).fit(X)
    assert seg.n_clusters_ == 4
    assert seg.criterion_ == ("bic" if algorithm == "gmm" else "silhouette")
    assert adjusted_rand_score(truth, seg.labels_) >= 0.9
    # the choice is shown: one row of scores per candidate k
    assert list(seg.selection_scores_.index) == [2, 3, 4, 5, 6]
    column = "bic" if algorithm == "gmm" else "silhouette"
    assert seg.selection_scores_[column].notna().all()
    # predict on new customers from the same groups
    X_new, truth_new = planted_customers(100, seed=1)
    assert adjusted_rand_score(truth_new, seg.predict(X_new)) >= 0.9


@pytest.mark.parametrize("algorithm", ["kmeans", "minibatch", "gmm"])
def test_k_chosen_on_a_sample_and_refined_on_every_row(planted, algorithm):
    # k is chosen on 400 of the 1,200 customers; the final model starts from that sample model and
    # runs once over all rows (as on millions of customers)
    X, truth = planted
    seg = CustomerSegmenter(algorithm=algorithm, k_range=(2, 6), selection_sample=400, random_state=0).fit(X)
    assert seg.n_clusters_ == 4 and len(seg.labels_) == len(X)
    assert adjusted_rand_score(truth, seg.labels_) >= 0.9
    np.testing.assert_array_equal(seg.labels_, seg.predict(X))
    fixed = CustomerSegmenter(algorithm=algorithm, n_clusters=4, selection_sample=300, random_state=1).fit(X)
    assert adjusted_rand_score(truth, fixed.labels_) >= 0.9
    if algorithm != "gmm":
        assert fixed.model_.n_init == 1 and fixed.model_.cluster_centers_.dtype == np.float32


def test_profiles_and_archetypes_of_planted_clusters(planted):
    X, truth = planted
    seg = CustomerSegmenter(k_range=(3, 5), random_state=0).fit(X)
    profiles = seg.profiles_
    assert profiles.sizes["size"].sum() == len(X)
    assert profiles.sizes["share"].sum() == pytest.approx(1.0)
    assert list(profiles.z_centroids.columns) == FEATURES
    assert len(set(seg.cluster_names_)) == seg.n_clusters_  # unique names
    table = assign_archetypes(profiles)
    # every planted archetype is found exactly once
    assert sorted(table["archetype"]) == sorted(ARCHETYPES)
    for cluster, row in table.iterrows():
        members = truth[seg.labels_ == cluster]
        planted_group = list(GROUP_MEANS)[np.bincount(members).argmax()]
        assert row["archetype"] == planted_group
        assert row["playbook"] == ARCHETYPES[planted_group].playbook
    communication = table.index[table["archetype"] == "communication"][0]
    assert "frequency" in seg.cluster_names_[communication] or "recency" in seg.cluster_names_[communication]
    key = profiles.key_differences
    assert set(key.columns) == {"cluster", "feature", "z", "direction"}
    assert (key["z"].abs() >= 0.5).all()


def test_profile_z_scores_by_hand():
    X = pd.DataFrame({"spend": [10.0, 20.0, 30.0, 40.0]})
    profiles = profile_clusters(X, [0, 0, 1, 1])
    # population mean 25, sd sqrt(125); cluster means 15 and 35
    assert profiles.z_centroids.loc[0, "spend"] == pytest.approx(-10 / np.sqrt(125))
    assert profiles.names.tolist() == ["low spend", "high spend"]
    flat = profile_clusters(pd.DataFrame({"spend": [1.0, 1.0, 1.0]}), [0, 0, 1])
    assert flat.names.tolist() == ["average", "average (2)"]


def test_stability_across_seeds(planted):
    X, _ = planted
    result = cluster_stability(
        CustomerSegmenter(algorithm="minibatch", k_range=(3, 5), random_state=0), X, seeds=[0, 1, 2]
    )
    assert result.min_ari >= 0.9
    assert result.n_clusters == [4, 4, 4]
    assert len(result.pairwise) == 3
    noise = pd.DataFrame(np.random.default_rng(0).normal(size=(300, 3)))
    unstable = cluster_stability(CustomerSegmenter(n_clusters=6, n_init=1), noise, seeds=[0, 1, 2])
    assert unstable.mean_ari < result.mean_ari


def test_fixed_k_missing_values_and_unscaled(planted):
    X, truth = planted
    holes = X.copy()
    holes.iloc[::50, 2] = np.nan
    seg = CustomerSegmenter(n_clusters=4).fit(holes)
    assert seg.criterion_ == "fixed" and seg.n_clusters_ == 4
    assert adjusted_rand_score(truth, seg.labels_) >= 0.9
    assert seg.predict(holes.iloc[:5]).shape == (5,)
    with pytest.raises(InvalidValueError) as info:
        CustomerSegmenter(n_clusters=4, missing="error").fit(holes)
    assert info.value.column == "csat"
    assert CustomerSegmenter(n_clusters=4, scale=False).fit(X).scaler_ is None


def test_bad_feature_tables_are_rejected(planted):
    X, _ = planted
    with pytest.raises(EmptyDataError):
        CustomerSegmenter().fit(X.iloc[:0])
    with pytest.raises(InsufficientDataError):
        CustomerSegmenter().fit(X.iloc[:1])  # a single customer
    with pytest.raises(InsufficientDataError):
        CustomerSegmenter().fit(pd.DataFrame({"a": [1.0, 1.0, 1.0, 1.0]}))  # nothing to separate
    all_nan = X.assign(income=np.nan)
    with pytest.raises(InvalidValueError) as info:
        CustomerSegmenter().fit(all_nan)  # all-NaN feature
    assert info.value.column == "income"
    with pytest.raises(InvalidValueError) as info:
        CustomerSegmenter().fit(X.assign(age="old"))
    assert info.value.column == "age"
    with pytest.raises(InsufficientDataError):
        CustomerSegmenter(n_clusters=5).fit(X.iloc[:3])
    fitted = CustomerSegmenter(n_clusters=2).fit(X)
    with pytest.raises(MissingColumnError) as info:
        fitted.predict(X.drop(columns="age"))
    assert info.value.column == "age"
    with pytest.raises(NotFittedError):
        CustomerSegmenter().predict(X)


@pytest.mark.parametrize(
    "params",
    [
        {"algorithm": "dbscan"},
        {"criterion": "bic"},  # BIC needs the Gaussian mixture
        {"criterion": "gap"},
        {"k_range": (1, 4)},
        {"missing": "drop"},
        {"n_clusters": 0},
    ],
)
def test_bad_parameters_are_rejected(planted, params):
    X, _ = planted
    with pytest.raises(InvalidParameterError):
        CustomerSegmenter(**params).fit(X)


def test_archetype_mapping_errors_and_custom_mapping(planted):
    X, _ = planted
    profiles = CustomerSegmenter(n_clusters=4).fit(X).profiles_
    with pytest.raises(InvalidParameterError):
        assign_archetypes(profiles, {"age": "hipster"})
    with pytest.raises(InvalidParameterError):
        assign_archetypes(profiles, {"unknown_feature": "economic"})
    table = assign_archetypes(profiles, {"income": "-economic"})
    assert table["archetype"].isin(["economic", None]).all()
    assert (table["archetype"] == "economic").sum() == 1


def test_estimator_conventions():
    seg = CustomerSegmenter(algorithm="gmm", n_clusters=3)
    assert seg.get_params()["algorithm"] == "gmm"
    assert not hasattr(seg, "labels_")
