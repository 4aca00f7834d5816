"""Churn model: planted structure recovered on a time-based hold-out, calibration, labels, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from patron.analytics.churn import (
    ChurnModel,
    churn_labels,
    evaluate,
    purchase_features,
    recency_baseline,
    time_based_holdout,
)
from patron.analytics.errors import (
    EmptyDataError,
    InsufficientDataError,
    InvalidParameterError,
    InvalidValueError,
    MissingColumnError,
)

START = pd.Timestamp("2024-01-01")
END_DAY = 540


def simulate_history(n: int = 3000, seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Day by day: each live customer buys with probability ``rate`` (about every 10 days) and complains
    with probability ``kappa``; the chance of leaving for good that day is 0.0005 plus 0.02 per complaint
    made in the last 60 days (the planted driver). ``noise`` is a trait unrelated to anything."""
    rng = np.random.default_rng(seed)
    start = rng.integers(0, 200, n)
    rate = rng.gamma(3.0, 1 / 30.0, n)
    kappa = rng.gamma(1.0, 1 / 200.0, n)
    alive = np.ones(n, dtype=bool)
    purchases, complaints = [], []
    recent = np.zeros((60, n), dtype=np.int8)  # complaints of the last 60 days, a ring buffer
    for day in range(END_DAY + 1):
        live = alive & (start <= day)
        bought = live & ((rng.random(n) < rate) | (start == day))
        complained = live & (rng.random(n) < kappa)
        recent[day % 60] = complained
        purchases.extend((int(i), day) for i in np.flatnonzero(bought))
        complaints.extend((int(i), day) for i in np.flatnonzero(complained))
        hazard = 0.0005 + 0.02 * recent.sum(axis=0)
        alive &= ~(live & (rng.random(n) < hazard))
    orders = pd.DataFrame(purchases, columns=["customer_id", "day"])
    orders["ordered_at"] = START + pd.to_timedelta(orders["day"], unit="D") + pd.Timedelta(hours=12)
    orders["total"] = rng.gamma(4.0, 10.0, len(orders)).round(2)
    log = pd.DataFrame(complaints, columns=["customer_id", "day"])
    log["at"] = START + pd.to_timedelta(log["day"], unit="D") + pd.Timedelta(hours=12)
    noise = pd.Series(rng.normal(size=n), index=pd.RangeIndex(n, name="customer_id"), name="noise")

    def features(cutoff: pd.Timestamp) -> pd.DataFrame:
        window = log[(log["at"] <= cutoff) & (log["at"] > cutoff - pd.Timedelta(days=60))]
        recent_complaints = window.groupby("customer_id").size().rename("complaints_60d")
        table = purchase_features(orders, cutoff=cutoff).join(recent_complaints).join(noise)
        return table.fillna({"complaints_60d": 0})

    return orders.drop(columns="day"), features


@pytest.fixture(scope="module")
def history():
    return simulate_history()


@pytest.fixture(scope="module")
def split(history):
    orders, features = history
    return time_based_holdout(
        orders, horizon_days=90, end=START + pd.Timedelta(days=END_DAY), features=features
    )


@pytest.mark.parametrize("method", ["gbm", "logistic"])
def test_the_model_beats_the_recency_baseline_and_finds_the_planted_driver(split, method):
    model = ChurnModel(method=method, random_state=0).fit(split.X_train, split.y_train)
    risk = model.predict_risk(split.X_test)
    baseline = recency_baseline(split.X_train, split.y_train, split.X_test)
    result = evaluate(split.y_test, risk, baseline=baseline)
    assert result.auc > result.baseline_auc + 0.005, (result.auc, result.baseline_auc)
    assert result.brier < 0.9 * result.baseline_brier, (result.brier, result.baseline_brier)
    # customers who bought in the last 30 days: recency says little, the recent complaints say who leaves
    active = split.X_test[split.X_test["recency_days"] < 30]
    on_active = evaluate(split.y_test[active.index], risk[active.index],
                         baseline=pd.Series(baseline, index=split.X_test.index)[active.index])  # fmt: skip
    assert on_active.auc > on_active.baseline_auc + 0.08, (on_active.auc, on_active.baseline_auc)
    importance = model.feature_importance(active)
    assert importance["noise"] < importance["complaints_60d"] / 5, importance
    # the active customers who complained have the complaints among their top drivers, raising the risk
    drivers = model.explain(active[active["complaints_60d"] >= 1], top=3)
    planted = drivers[drivers["feature"] == "complaints_60d"]
    assert planted["customer"].nunique() > 0.95 * drivers["customer"].nunique()
    assert set(planted["direction"]) == {"raises"}
    if method == "gbm":  # the trees isolate the effect: it is the first driver of nearly every one of them
        assert (planted["rank"] == 1).mean() > 0.9


@pytest.mark.parametrize("method", ["gbm", "logistic"])
def test_contributions_add_up_to_the_log_odds(split, method):
    model = ChurnModel(method=method, random_state=0).fit(split.X_train, split.y_train)
    rows = split.X_test.head(200)
    total = model.contributions(rows).sum(axis=1).to_numpy()
    imputed = model.estimator_.named_steps["impute"].transform(rows.to_numpy(dtype=float))
    if method == "logistic":
        imputed = model.estimator_.named_steps["scale"].transform(imputed)
    log_odds = model.estimator_.named_steps["classify"].decision_function(imputed)
    np.testing.assert_allclose(total, log_odds, atol=1e-8)


@pytest.mark.parametrize(
    ("method", "calibration"), [("gbm", "isotonic"), ("gbm", "sigmoid"), ("logistic", "isotonic")]
)
def test_probabilities_are_calibrated(method, calibration):
    # y ~ Bernoulli(sigmoid(-1 + 1.2 x1 - 0.8 x2 + 0.5 x1 x2)); the interaction makes the logistic
    # model misspecified, which the calibration has to absorb
    rng = np.random.default_rng(3)
    n = 16000
    X = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n), "x3": rng.normal(size=n)})
    truth = 1 / (1 + np.exp(-(-1 + 1.2 * X["x1"] - 0.8 * X["x2"] + 0.5 * X["x1"] * X["x2"])))
    y = (rng.random(n) < truth).astype(int)
    train, test = slice(0, n // 2), slice(n // 2, n)
    model = ChurnModel(method=method, calibration=calibration, random_state=1).fit(X[train], y[train])
    risk = model.predict_proba(X[test])[:, 1]
    table = evaluate(y[test], risk).calibration
    assert len(table) == 10 and table["n"].sum() == n // 2
    assert np.max(np.abs(table["mean_predicted"] - table["observed"])) < 0.05
    assert np.mean(np.abs(risk - truth[test].to_numpy())) < 0.05


def test_evaluate_matches_a_hand_computation():
    y = [0, 0, 1, 1, 0, 1]
    p = [0.1, 0.3, 0.6, 0.9, 0.7, 0.2]
    result = evaluate(y, p, n_bins=2)
    # AUC: of the 9 (churner, stayer) pairs, the churner scores higher in 6 -> 6/9
    assert result.auc == pytest.approx(6 / 9)
    assert result.brier == pytest.approx(np.mean((np.array(p) - np.array(y)) ** 2))
    assert result.log_loss == pytest.approx(-np.mean(np.log([0.9, 0.7, 0.6, 0.9, 0.3, 0.2])))
    assert result.calibration.to_dict(orient="list") == {
        "bin": [1, 2], "n": [3, 3], "mean_predicted": pytest.approx([0.2, 0.7 + 1 / 30]),
        "observed": pytest.approx([1 / 3, 2 / 3]),
    }  # fmt: skip


def test_labels_follow_the_horizon():
    orders = pd.DataFrame({
        "customer_id": [1, 1, 2, 2, 3, 4],
        "ordered_at": ["2024-01-01", "2024-03-01", "2024-01-15", "2024-05-01", "2024-02-01", "2024-02-10"],
    })  # fmt: skip
    labels = churn_labels(orders, cutoff="2024-02-01", horizon_days=60)
    # 1 came back on 03-01 (within 60 days), 2 only on 05-01 (too late), 3 bought on the cutoff day itself
    assert labels.to_dict() == {1: 0, 2: 1, 3: 1}


def test_purchase_features_stop_at_the_cutoff():
    orders = pd.DataFrame({"customer_id": [1, 1, 1], "ordered_at": ["2024-01-01", "2024-01-11", "2024-03-01"],
                           "total": [10.0, 20.0, 999.0]})  # fmt: skip
    row = purchase_features(orders, cutoff="2024-01-31").loc[1]
    assert row["frequency"] == 2 and row["recency_days"] == 20 and row["tenure_days"] == 30
    assert row["monetary_mean"] == 15 and row["mean_gap_days"] == 10 and row["overdue_ratio"] == 2


def test_bad_input_gets_clear_errors(split):
    X, y = split.X_train, split.y_train
    with pytest.raises(EmptyDataError):
        ChurnModel().fit(X.iloc[:0], y.iloc[:0])
    with pytest.raises(InsufficientDataError, match="at least 2"):
        ChurnModel().fit(X.iloc[:1], y.iloc[:1])
    with pytest.raises(InsufficientDataError, match="both churners and stayers"):
        ChurnModel().fit(X, np.zeros(len(X), dtype=int))
    with pytest.raises(InvalidValueError, match="every value is missing") as caught:
        ChurnModel().fit(X.assign(empty=np.nan), y)
    assert caught.value.column == "empty"
    with pytest.raises(InvalidValueError, match="0 \\(stayed\\) or 1"):
        ChurnModel().fit(X, y + 1)
    with pytest.raises(InvalidParameterError, match="method"):
        ChurnModel(method="forest").fit(X, y)
    with pytest.raises(InvalidParameterError, match="calibration"):
        ChurnModel(calibration="platt").fit(X, y)
    model = ChurnModel(method="logistic").fit(X, y)
    with pytest.raises(MissingColumnError):
        model.predict_proba(X.drop(columns="complaints_60d"))
    with pytest.raises(InvalidParameterError):
        model.explain(X, top=0)
    with pytest.raises(EmptyDataError):
        churn_labels(
            pd.DataFrame({"customer_id": [], "ordered_at": []}), cutoff="2024-01-01", horizon_days=30
        )
    with pytest.raises(InvalidParameterError, match="horizon_days"):
        churn_labels(pd.DataFrame({"customer_id": [1], "ordered_at": ["2024-01-01"]}), cutoff="2024-02-01",
                     horizon_days=0)  # fmt: skip
    with pytest.raises(InsufficientDataError, match="both churners and stayers"):
        evaluate([1, 1, 1], [0.2, 0.5, 0.9])


def test_one_customer_with_missing_features_is_still_scored(split):
    model = ChurnModel(method="gbm", random_state=0).fit(split.X_train, split.y_train)
    single = split.X_test.head(1).assign(mean_gap_days=np.nan, overdue_ratio=np.nan)
    risk = model.predict_proba(single)[:, 1]
    assert risk.shape == (1,) and 0 <= risk[0] <= 1
    assert len(model.explain(single, top=3)) == 3


def test_a_too_short_history_is_refused():
    orders = pd.DataFrame({"customer_id": [1, 2], "ordered_at": ["2024-01-01", "2024-02-01"], "total": 1.0})
    with pytest.raises(InsufficientDataError, match="shorter than two horizons"):
        time_based_holdout(orders, horizon_days=30)


def test_a_model_fitted_only_to_score_gives_the_same_risks_and_refuses_to_explain(split):
    full = ChurnModel(method="gbm", random_state=0).fit(split.X_train, split.y_train)
    scorer = ChurnModel(method="gbm", random_state=0, explainable=False).fit(split.X_train, split.y_train)
    np.testing.assert_array_equal(scorer.predict_proba(split.X_test), full.predict_proba(split.X_test))
    assert not hasattr(scorer, "estimator_")
    with pytest.raises(NotFittedError, match="explainable=False"):
        scorer.explain(split.X_test.head(5))


def _node_mean(tree, node: int) -> float:
    """The training-weighted mean of the leaf values under a node."""
    left, right = tree.children_left[node], tree.children_right[node]
    if left == -1:
        return float(tree.value[node, 0, 0])
    wl, wr = tree.weighted_n_node_samples[left], tree.weighted_n_node_samples[right]
    return (wl * _node_mean(tree, left) + wr * _node_mean(tree, right)) / (wl + wr)


def test_boosted_contributions_follow_each_tree_path(split):
    # the Saabas contributions by hand for a few customers: walk every tree from the root to the
    # customer's leaf, crediting each split's change of the node mean to the feature split on
    model = ChurnModel(method="gbm", n_estimators=20, random_state=0).fit(split.X_train, split.y_train)
    rows = split.X_test.head(25)
    imputed = model.estimator_.named_steps["impute"].transform(rows.to_numpy(dtype=float)).astype(np.float32)
    boosted = model.estimator_.named_steps["classify"]
    expected = np.zeros((len(rows), rows.shape[1]))
    for tree in (estimator.tree_ for estimator in boosted.estimators_[:, 0]):
        for i, x in enumerate(imputed):
            node = 0
            while tree.children_left[node] != -1:
                feature = tree.feature[node]
                child = (
                    tree.children_left[node]
                    if x[feature] <= tree.threshold[node]
                    else tree.children_right[node]
                )
                expected[i, feature] += boosted.learning_rate * (
                    _node_mean(tree, child) - _node_mean(tree, node)
                )
                node = child
    got = model.contributions(rows).drop(columns="bias").to_numpy()
    np.testing.assert_allclose(got, expected, atol=1e-10)
