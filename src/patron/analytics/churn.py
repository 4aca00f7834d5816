"""Churn: labels from purchase history, a calibrated churn model with per-customer drivers, evaluation.

A customer *churns* at a cutoff date when they bought on or before it and make no purchase in the
``horizon_days`` after it. The model is trained the way it is used: features as they stood at a past
cutoff, labels from what happened after it; :func:`time_based_holdout` builds one such window to train
on and the next one to test on, so the hold-out metrics say how the model does on a future it has not
seen. :func:`evaluate` gives AUC, Brier score, log loss and a calibration table, beside a baseline that
knows only how long ago each customer last bought.

References
----------
Niculescu-Mizil, A. & Caruana, R. (2005). Predicting good probabilities with supervised learning.
*ICML 2005* (isotonic and Platt/sigmoid calibration).
Saabas, A. (2014). Interpreting random forests (path contributions of decision trees).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from patron.analytics._validation import numeric_column, parse_dates, require_columns, require_rows
from patron.analytics.errors import (
    EmptyDataError,
    InsufficientDataError,
    InvalidParameterError,
    InvalidValueError,
)

__all__ = [
    "ChurnEvaluation",
    "ChurnModel",
    "HoldoutSplit",
    "churn_labels",
    "evaluate",
    "purchase_features",
    "recency_baseline",
    "time_based_holdout",
]

METHODS = ("gbm", "logistic")
CALIBRATIONS = ("isotonic", "sigmoid")


# --- labels and features from purchase history -------------------------------------------------------


def _orders_frame(orders: object, customer: str, date: str, amount: str | None) -> pd.DataFrame:
    if not isinstance(orders, pd.DataFrame):
        raise InvalidValueError("orders must be a DataFrame")
    require_columns(orders, [customer, date] + ([amount] if amount else []), what="orders table")
    if len(orders) == 0:
        raise EmptyDataError("the orders table has no rows")
    if orders[customer].isna().any():
        raise InvalidValueError("missing customer id(s)", column=customer)
    days = parse_dates(orders[date], date)
    if getattr(days.dt, "tz", None) is not None:
        days = days.dt.tz_convert("UTC").dt.tz_localize(None)
    frame = pd.DataFrame({"customer": orders[customer].to_numpy(), "at": days.to_numpy()})
    frame["amount"] = numeric_column(orders, amount, nonnegative=True) if amount else 0.0
    return frame


def _stamp(value: object, name: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"{name} {value!r} is not a date") from exc
    if stamp is pd.NaT:
        raise InvalidParameterError(f"{name} {value!r} is not a date")
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def _horizon(horizon_days: object) -> pd.Timedelta:
    if isinstance(horizon_days, bool) or not isinstance(horizon_days, int | np.integer) or horizon_days < 1:
        raise InvalidParameterError(f"horizon_days must be a whole number >= 1, got {horizon_days!r}")
    return pd.Timedelta(days=int(horizon_days))


def churn_labels(
    orders: pd.DataFrame,
    *,
    cutoff: object,
    horizon_days: int,
    customer: str = "customer_id",
    date: str = "ordered_at",
) -> pd.Series:
    """1 for customers who bought on or before ``cutoff`` and not in the ``horizon_days`` after it, else 0.

    Parameters
    ----------
    orders : DataFrame
        One row per order.
    cutoff : date-like
        The moment the prediction is made (purchases at or before it are history).
    horizon_days : int
        Length of the window after the cutoff in which a purchase means "still a customer".
    customer, date : str
        Columns of ``orders`` holding the customer id and the order time.

    Returns
    -------
    Series
        ``churned`` (int 0/1) indexed by customer id (sorted), for customers with history at the cutoff.

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": [1, 1, 2, 3], "ordered_at": ["2024-01-05", "2024-02-10",
    ...                        "2024-01-20", "2024-02-15"]})
    >>> churn_labels(orders, cutoff="2024-01-31", horizon_days=30).to_dict()
    {1: 0, 2: 1}
    """
    frame = _orders_frame(orders, customer, date, None)
    cut, horizon = _stamp(cutoff, "cutoff"), _horizon(horizon_days)
    history = frame.loc[frame["at"] <= cut, "customer"].unique()
    if len(history) == 0:
        raise EmptyDataError(f"no customer bought on or before the cutoff {cut.date()}")
    window = frame[(frame["at"] > cut) & (frame["at"] <= cut + horizon)]
    came_back = pd.Index(window["customer"].unique())
    index = pd.Index(np.sort(history), name="customer_id")
    return pd.Series((~index.isin(came_back)).astype(int), index=index, name="churned")


def purchase_features(
    orders: pd.DataFrame,
    *,
    cutoff: object,
    customer: str = "customer_id",
    date: str = "ordered_at",
    amount: str | None = "total",
) -> pd.DataFrame:
    """Purchase-history features of every customer with an order at or before ``cutoff``, as they stood then.

    Returns
    -------
    DataFrame
        Indexed by customer id (sorted), columns ``recency_days`` (since the last order), ``tenure_days``
        (since the first), ``frequency`` (orders), ``orders_30d``, ``orders_90d``, ``monetary_mean``,
        ``spend_90d``, ``mean_gap_days`` (mean days between orders; NaN with a single order) and
        ``overdue_ratio`` (recency over the mean gap; NaN with a single order). Monetary columns are 0
        without ``amount``.

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": [1, 1, 2], "ordered_at": ["2024-01-01", "2024-01-21",
    ...                        "2024-01-25"], "total": [10.0, 30.0, 5.0]})
    >>> purchase_features(orders, cutoff="2024-01-31")[["recency_days", "frequency", "monetary_mean"]]
    ... # doctest: +NORMALIZE_WHITESPACE
                 recency_days  frequency  monetary_mean
    customer_id
    1                    10.0          2           20.0
    2                     6.0          1            5.0
    """
    frame = _orders_frame(orders, customer, date, amount)
    cut = _stamp(cutoff, "cutoff")
    frame = frame[frame["at"] <= cut]
    if len(frame) == 0:
        raise EmptyDataError(f"no order on or before the cutoff {cut.date()}")
    age = (cut - frame["at"]).dt.total_seconds().to_numpy() / 86400.0
    frame = frame.assign(age=age, in30=age <= 30, in90=age <= 90)
    frame["spend90"] = np.where(frame["in90"], frame["amount"], 0.0)
    grouped = frame.groupby("customer", sort=True)
    out = pd.DataFrame(
        {
            "recency_days": grouped["age"].min(),
            "tenure_days": grouped["age"].max(),
            "frequency": grouped.size(),
            "orders_30d": grouped["in30"].sum(),
            "orders_90d": grouped["in90"].sum(),
            "monetary_mean": grouped["amount"].mean(),
            "spend_90d": grouped["spend90"].sum(),
        }
    )
    span = out["tenure_days"] - out["recency_days"]
    gaps = out["frequency"] - 1
    out["mean_gap_days"] = np.where(gaps > 0, span / gaps.where(gaps > 0, 1), np.nan)
    out["overdue_ratio"] = out["recency_days"] / out["mean_gap_days"].where(out["mean_gap_days"] > 0)
    out.index.name = "customer_id"
    return out.astype({"frequency": int, "orders_30d": int, "orders_90d": int})


@dataclass(frozen=True)
class HoldoutSplit:
    """Two consecutive windows of the same history: train on the first, test on the second.

    ``X_*`` are features as they stood at ``train_cutoff`` / ``test_cutoff``; ``y_*`` whether each customer
    churned in the ``horizon_days`` after that cutoff. ``test_cutoff + horizon_days`` is the end of the data.
    """

    X_train: pd.DataFrame
    y_train: pd.Series
    X_test: pd.DataFrame
    y_test: pd.Series
    train_cutoff: pd.Timestamp
    test_cutoff: pd.Timestamp
    horizon_days: int


def time_based_holdout(
    orders: pd.DataFrame,
    *,
    horizon_days: int,
    end: object = None,
    features: Callable[[pd.Timestamp], pd.DataFrame] | None = None,
    customer: str = "customer_id",
    date: str = "ordered_at",
    amount: str | None = "total",
) -> HoldoutSplit:
    """Split a purchase history in time: test cutoff ``end - horizon``, train cutoff one horizon earlier.

    Parameters
    ----------
    orders : DataFrame
        One row per order.
    horizon_days : int
        Churn horizon (and the distance between the two cutoffs).
    end : date-like, optional
        End of the observed history; default the last order time.
    features : callable, optional
        ``cutoff -> DataFrame`` of features indexed by customer id, as they stood at ``cutoff``; default
        :func:`purchase_features`. Customers without a label are dropped; customers with a label but no
        feature row get NaN features.

    Raises
    ------
    EmptyDataError
        No customer has history at the train cutoff.
    InsufficientDataError
        A window holds a single class (every customer churned, or none did).

    Examples
    --------
    >>> regular = pd.date_range("2024-01-01", "2024-07-01", freq="20D").tolist() + [pd.Timestamp("2024-07-01")]
    >>> orders = pd.DataFrame({"customer_id": [1] * 11 + [2] * 11 + [3, 4, 4], "total": 1.0,
    ...                        "ordered_at": regular * 2 + pd.to_datetime(["2024-01-10", "2024-01-15",
    ...                                                                    "2024-03-20"]).tolist()})
    >>> split = time_based_holdout(orders, horizon_days=60)
    >>> str(split.train_cutoff.date()), str(split.test_cutoff.date())
    ('2024-03-03', '2024-05-02')
    >>> split.y_train.to_dict(), split.y_test.to_dict()
    ({1: 0, 2: 0, 3: 1, 4: 0}, {1: 0, 2: 0, 3: 1, 4: 1})
    """
    frame = _orders_frame(orders, customer, date, amount)
    horizon = _horizon(horizon_days)
    last = frame["at"].max() if end is None else _stamp(end, "end")
    test_cutoff = last - horizon
    train_cutoff = test_cutoff - horizon
    if train_cutoff < frame["at"].min():
        raise InsufficientDataError(
            f"the history ({frame['at'].min().date()} to {last.date()}) is shorter than two horizons of "
            f"{int(horizon_days)} days"
        )
    feature_fn = features or (
        lambda cut: purchase_features(orders, cutoff=cut, customer=customer, date=date, amount=amount)
    )
    parts = []
    for cut in (train_cutoff, test_cutoff):
        labels = churn_labels(
            orders, cutoff=cut, horizon_days=int(horizon_days), customer=customer, date=date
        )
        if labels.nunique() < 2:
            raise InsufficientDataError(
                f"every customer at the cutoff {cut.date()} is labelled {int(labels.iloc[0])}; "
                "a churn model needs both churners and stayers"
            )
        table = feature_fn(cut)
        if not isinstance(table, pd.DataFrame):
            raise InvalidValueError("the features callable must return a DataFrame")
        parts.append((table.reindex(labels.index), labels))
    (x_train, y_train), (x_test, y_test) = parts
    return HoldoutSplit(x_train, y_train, x_test, y_test, train_cutoff, test_cutoff, int(horizon_days))


# --- the model --------------------------------------------------------------------------------------


def _feature_matrix(X: object, *, columns: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Features as a float matrix. When fitting (``columns`` None) a column that is entirely missing is an
    error; when scoring, missing values (even all of a column's, as for one customer) are imputed."""
    if not isinstance(X, pd.DataFrame):
        raise InvalidValueError("X must be a DataFrame of numeric features (one row per customer)")
    if len(X) == 0:
        raise EmptyDataError("the feature table has no rows")
    if X.shape[1] == 0:
        raise EmptyDataError("the feature table has no columns")
    if columns is not None:
        require_columns(X, columns, what="feature table")
        X = X[columns]
    names = [str(c) for c in X.columns]
    if columns is None:
        return np.column_stack([numeric_column(X, c, allow_nan=True) for c in X.columns]), names
    for column in X.columns:
        if not (pd.api.types.is_numeric_dtype(X[column]) or pd.api.types.is_bool_dtype(X[column])):
            raise InvalidValueError("non-numeric values", column=str(column))
    matrix = X.to_numpy(dtype=float, na_value=np.nan)
    if np.isinf(matrix).any():
        bad = names[int(np.argmax(np.isinf(matrix).any(axis=0)))]
        raise InvalidValueError("infinite value(s)", column=bad)
    return matrix, names


def _labels(y: object, n: int) -> np.ndarray:
    labels = np.asarray(y)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise InvalidValueError(f"y must hold one label per row of X ({n}), got shape {labels.shape}")
    try:
        labels = labels.astype(float)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError("y must hold 0 (stayed) or 1 (churned)") from exc
    if not np.all(np.isin(labels, (0.0, 1.0))):
        raise InvalidValueError("y must hold 0 (stayed) or 1 (churned)")
    return labels.astype(int)


class ChurnModel(BaseEstimator):
    """A calibrated churn classifier whose scores explain themselves per customer.

    Parameters
    ----------
    method : {"gbm", "logistic"}
        ``"gbm"``: gradient-boosted trees (scikit-learn's ``GradientBoostingClassifier``);
        ``"logistic"``: L2 logistic regression on standardised features.
    calibration : {"isotonic", "sigmoid"}
        How probabilities are calibrated (``CalibratedClassifierCV`` with ``cv`` folds).
    cv : int
        Calibration folds (each class needs at least ``cv`` customers).
    n_estimators, max_depth, learning_rate : int, int, float
        Size of the boosted model (``gbm`` only).
    random_state : int, optional
        Seed of the boosting subsamples and the calibration folds.
    explainable : bool
        Also fit ``estimator_`` on all rows, the model :meth:`explain` and :meth:`contributions`
        decompose (one more fit besides the ``cv`` calibration folds). ``False`` leaves it out for a
        model that is only scored, e.g. on a hold-out; its probabilities are the same.

    Attributes
    ----------
    feature_names_in_ : list of str
    estimator_ : Pipeline
        Median imputation (+ scaling for ``logistic``) and the classifier fitted on all rows; its
        log-odds are what :meth:`explain` decomposes (not set with ``explainable=False``).
    calibrated_ : CalibratedClassifierCV
        Gives :meth:`predict_proba`.
    base_rate_ : float
        Share of churners in the training data.

    Notes
    -----
    :meth:`explain` splits the uncalibrated log-odds of ``estimator_`` into one contribution per feature:

    - ``logistic``: exact; the contribution of feature j is ``coef_j * z_j`` with z the standardised
      (imputed) value, so the contributions and the intercept add up to the log-odds.
    - ``gbm``: Saabas path contributions. Every tree's node gets the training-weighted mean of its
      leaves' values; walking a customer's path, each split's change of that mean goes to the feature
      split on. Summed over the trees (times the learning rate) they add up, with the prior, to the
      log-odds exactly. The method is local and cheap; it can over-credit features split near the root
      (Lundberg & Lee 2017 discuss the difference to SHAP values).

    Calibration is a monotone map, so the ranking of customers and the direction of each driver hold for
    the calibrated probability as well.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"complaints": rng.poisson(1.0, 600), "noise": rng.normal(size=600)})
    >>> y = (rng.random(600) < 1 / (1 + np.exp(2 - 1.5 * X["complaints"]))).astype(int)
    >>> model = ChurnModel(method="logistic", random_state=0).fit(X, y)
    >>> model.explain(X.head(1), top=1)["feature"].tolist()
    ['complaints']
    """

    def __init__(
        self,
        method: str = "gbm",
        calibration: str = "isotonic",
        cv: int = 3,
        n_estimators: int = 150,
        max_depth: int = 3,
        learning_rate: float = 0.05,
        random_state: int | None = None,
        explainable: bool = True,
    ) -> None:
        self.method = method
        self.calibration = calibration
        self.cv = cv
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.random_state = random_state
        self.explainable = explainable

    def _pipeline(self) -> Pipeline:
        if self.method == "logistic":
            return Pipeline(
                [
                    ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                    ("scale", StandardScaler()),
                    ("classify", LogisticRegression(C=1.0, max_iter=2000)),
                ]
            )
        return Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                (
                    "classify",
                    GradientBoostingClassifier(
                        n_estimators=self.n_estimators,
                        max_depth=self.max_depth,
                        learning_rate=self.learning_rate,
                        subsample=0.8,
                        random_state=self.random_state,
                    ),
                ),
            ]
        )

    def fit(self, X: pd.DataFrame, y: object) -> ChurnModel:
        """Fit on features ``X`` (one row per customer) and labels ``y`` (1 churned, 0 stayed).

        Raises
        ------
        EmptyDataError, InsufficientDataError, InvalidValueError, InvalidParameterError
        """
        if self.method not in METHODS:
            raise InvalidParameterError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.calibration not in CALIBRATIONS:
            raise InvalidParameterError(
                f"calibration must be one of {', '.join(CALIBRATIONS)}, got {self.calibration!r}"
            )
        if isinstance(self.cv, bool) or not isinstance(self.cv, int) or self.cv < 2:
            raise InvalidParameterError(f"cv must be a whole number >= 2, got {self.cv!r}")
        matrix, names = _feature_matrix(X)
        require_rows(len(matrix), 2, what="a churn model needs customers")
        labels = _labels(y, len(matrix))
        counts = np.bincount(labels, minlength=2)
        if counts.min() == 0:
            raise InsufficientDataError(
                f"every customer is labelled {int(labels[0])}; a churn model needs both churners and stayers"
            )
        if counts.min() < self.cv:
            raise InsufficientDataError(
                f"{int(counts.min())} customer(s) in the smaller class; calibration with {self.cv} folds "
                f"needs at least {self.cv}"
            )
        self.feature_names_in_ = names
        self.n_features_in_ = len(names)
        self.base_rate_ = float(labels.mean())
        if self.explainable:
            self.estimator_ = self._pipeline().fit(matrix, labels)
        self.calibrated_ = CalibratedClassifierCV(
            clone(self._pipeline()), method=self.calibration, cv=self.cv
        ).fit(matrix, labels)
        if self.explainable and self.method == "gbm":
            self._node_tables_ = self._saabas_tables()
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated ``[P(stay), P(churn)]`` per row (columns as in scikit-learn, classes 0 and 1)."""
        check_is_fitted(self, "calibrated_")
        matrix, _ = _feature_matrix(X, columns=self.feature_names_in_)
        return self.calibrated_.predict_proba(matrix)

    def predict_risk(self, X: pd.DataFrame) -> pd.Series:
        """Calibrated P(churn) per customer, indexed like ``X``."""
        return pd.Series(self.predict_proba(X)[:, 1], index=X.index, name="churn_risk")

    # -- explanations --------------------------------------------------------------------------------

    def _saabas_tables(self) -> tuple[np.ndarray, np.ndarray, float]:
        """The boosted trees' path contributions, ready to look up by leaf.

        Returns ``(paths, offsets, prior_shift)``: row ``offsets[t] + node`` of ``paths`` holds what the
        splits on the way from tree t's root to ``node`` add to each feature (the changes of the
        training-weighted mean value along the path, times the learning rate); ``prior_shift`` is the sum
        of the roots' mean values times the learning rate.
        """
        n_features = self.n_features_in_
        boosted = self.estimator_.named_steps["classify"]
        blocks, offsets, shift, offset = [], [], 0.0, 0
        for tree_estimator in boosted.estimators_[:, 0]:
            tree = tree_estimator.tree_
            left, right, feature = tree.children_left, tree.children_right, tree.feature
            weight = tree.weighted_n_node_samples
            mean = tree.value[:, 0, 0].astype(float).copy()
            # children come after their parent in scikit-learn's node numbering: walk backwards for the
            # means (children first), forwards for the paths (parents first)
            for node in range(tree.node_count - 1, -1, -1):
                if left[node] != -1:
                    wl, wr = weight[left[node]], weight[right[node]]
                    mean[node] = (wl * mean[left[node]] + wr * mean[right[node]]) / (wl + wr)
            paths = np.zeros((tree.node_count, n_features))
            for node in range(tree.node_count):
                if left[node] != -1:
                    for child in (left[node], right[node]):
                        paths[child] = paths[node]
                        paths[child, feature[node]] += mean[child] - mean[node]
            blocks.append(paths)
            offsets.append(offset)
            offset += tree.node_count
            shift += mean[0]
        rate = boosted.learning_rate
        return rate * np.vstack(blocks), np.asarray(offsets, dtype=np.int64), rate * shift

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Each feature's contribution to every customer's churn log-odds (see the class notes).

        Returns
        -------
        DataFrame
            Indexed like ``X``, one column per feature, plus ``bias`` (the intercept, or the boosted
            model's prior): the row sums are the model's log-odds.
        """
        check_is_fitted(self, "calibrated_")
        check_is_fitted(self, "estimator_", msg="This ChurnModel was fitted with explainable=False: it scores "
                        "customers but has no model to explain; fit it with explainable=True.")  # fmt: skip
        matrix, names = _feature_matrix(X, columns=self.feature_names_in_)
        imputed = self.estimator_.named_steps["impute"].transform(matrix)
        classifier = self.estimator_.named_steps["classify"]
        if self.method == "logistic":
            z = self.estimator_.named_steps["scale"].transform(imputed)
            values = z * classifier.coef_[0]
            bias = np.full(len(z), float(classifier.intercept_[0]))
        else:
            # each row's leaf in every tree, as columns of one indicator matrix: its product with the
            # stacked path tables sums every tree's path contributions in one go
            paths, offsets, shift = self._node_tables_
            leaves = classifier.apply(imputed)[:, :, 0].astype(np.int64) + offsets
            n_rows, n_trees = leaves.shape
            indicator = sparse.csr_matrix(
                (np.ones(leaves.size), leaves.ravel(), np.arange(0, leaves.size + 1, n_trees)),
                shape=(n_rows, paths.shape[0]),
            )
            values = np.asarray(indicator @ paths)
            bias = np.full(n_rows, float(classifier._raw_predict_init(imputed[:1])[0, 0]) + shift)
        frame = pd.DataFrame(values, columns=names, index=X.index)
        frame["bias"] = bias
        return frame

    def explain(self, X: pd.DataFrame, top: int = 3) -> pd.DataFrame:
        """The ``top`` features that move each customer's churn risk most.

        Returns
        -------
        DataFrame
            Long format, ``top`` rows per customer ordered by rank: ``customer`` (the index of ``X``),
            ``rank`` (1 = strongest), ``feature``, ``value`` (the customer's value), ``contribution`` (to
            the log-odds) and ``direction`` (``"raises"`` or ``"lowers"`` the risk).
        """
        if isinstance(top, bool) or not isinstance(top, int) or top < 1:
            raise InvalidParameterError(f"top must be a whole number >= 1, got {top!r}")
        table = self.contributions(X).drop(columns="bias")
        values = table.to_numpy()
        k = min(top, values.shape[1])
        order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :k]
        rows = np.repeat(np.arange(len(values)), k)
        cols = order.ravel()
        contribution = values[rows, cols]
        raw = X[self.feature_names_in_].to_numpy(dtype=float, na_value=np.nan)
        return pd.DataFrame(
            {
                "customer": np.asarray(X.index)[rows],
                "rank": np.tile(np.arange(1, k + 1), len(values)),
                "feature": np.asarray(self.feature_names_in_, dtype=object)[cols],
                "value": raw[rows, cols],
                "contribution": contribution,
                "direction": np.where(contribution >= 0, "raises", "lowers"),
            }
        )

    def feature_importance(self, X: pd.DataFrame) -> pd.Series:
        """Mean absolute contribution of each feature over the rows of ``X``, largest first."""
        table = self.contributions(X).drop(columns="bias")
        return table.abs().mean().sort_values(ascending=False).rename("mean_abs_contribution")


# --- evaluation -------------------------------------------------------------------------------------


def recency_baseline(X_train: pd.DataFrame, y_train: object, X_test: pd.DataFrame) -> np.ndarray:
    """The one-feature baseline: a logistic regression of churn on log(1 + ``recency_days``).

    It knows only how long ago each customer last bought, the rule a CRM would use without a model.
    """
    for frame in (X_train, X_test):
        require_columns(frame, ["recency_days"], what="feature table")
    train = np.log1p(numeric_column(X_train, "recency_days", nonnegative=True)).reshape(-1, 1)
    test = np.log1p(numeric_column(X_test, "recency_days", nonnegative=True)).reshape(-1, 1)
    labels = _labels(y_train, len(train))
    if np.unique(labels).size < 2:
        raise InsufficientDataError("the baseline needs both churners and stayers")
    return LogisticRegression().fit(train, labels).predict_proba(test)[:, 1]


@dataclass(frozen=True)
class ChurnEvaluation:
    """Hold-out quality of churn probabilities.

    ``auc`` (ROC AUC), ``brier`` (mean squared error of the probabilities), ``log_loss``, ``churn_rate``
    (observed), ``n``; ``calibration`` has one row per bin of predicted risk: ``bin``, ``n``,
    ``mean_predicted``, ``observed`` (churn rate). ``baseline_auc``/``baseline_brier`` are the same
    figures for the baseline probabilities, when given.
    """

    auc: float
    brier: float
    log_loss: float
    churn_rate: float
    n: int
    calibration: pd.DataFrame
    baseline_auc: float | None = None
    baseline_brier: float | None = None

    def as_dict(self) -> dict:
        return {
            "auc": self.auc, "brier": self.brier, "log_loss": self.log_loss, "churn_rate": self.churn_rate,
            "n": self.n, "baseline_auc": self.baseline_auc, "baseline_brier": self.baseline_brier,
            "calibration": self.calibration.to_dict(orient="records"),
        }  # fmt: skip


def _probabilities(values: object, n: int, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.shape != (n,):
        raise InvalidValueError(f"{name} must hold one probability per label ({n}), got shape {array.shape}")
    if not np.all(np.isfinite(array)) or np.any((array < 0) | (array > 1)):
        raise InvalidValueError(f"{name} must be probabilities in [0, 1]")
    return array


def evaluate(y_true: object, y_prob: object, *, baseline: object = None, n_bins: int = 10) -> ChurnEvaluation:
    """AUC, Brier score, log loss and a calibration table by deciles of predicted risk.

    Parameters
    ----------
    y_true : array-like of 0/1
    y_prob : array-like of float
        Predicted P(churn).
    baseline : array-like of float, optional
        A baseline's P(churn) for the same customers (e.g. :func:`recency_baseline`).
    n_bins : int
        Number of equal-count bins of the calibration table (fewer when predictions tie).

    Examples
    --------
    >>> result = evaluate([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], n_bins=2)
    >>> round(result.auc, 2), round(result.brier, 4)
    (0.75, 0.1581)
    """
    labels = np.asarray(y_true)
    if labels.size == 0:
        raise EmptyDataError("no labels to evaluate")
    labels = _labels(labels, labels.size)
    if np.unique(labels).size < 2:
        raise InsufficientDataError("the AUC needs both churners and stayers in the hold-out")
    prob = _probabilities(y_prob, labels.size, "y_prob")
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise InvalidParameterError(f"n_bins must be a whole number >= 1, got {n_bins!r}")
    ranks = pd.Series(prob).rank(method="first").to_numpy()
    bins = np.minimum((ranks - 1) * n_bins // labels.size, n_bins - 1).astype(int)
    table = (
        pd.DataFrame({"bin": bins + 1, "p": prob, "y": labels})
        .groupby("bin")
        .agg(n=("y", "size"), mean_predicted=("p", "mean"), observed=("y", "mean"))
        .reset_index()
    )
    clipped = np.clip(prob, 1e-12, 1 - 1e-12)
    base_auc = base_brier = None
    if baseline is not None:
        base = _probabilities(baseline, labels.size, "baseline")
        base_auc, base_brier = float(roc_auc_score(labels, base)), float(brier_score_loss(labels, base))
    return ChurnEvaluation(
        auc=float(roc_auc_score(labels, prob)),
        brier=float(brier_score_loss(labels, prob)),
        log_loss=float(log_loss(labels, clipped, labels=[0, 1])),
        churn_rate=float(labels.mean()),
        n=int(labels.size),
        calibration=table,
        baseline_auc=base_auc,
        baseline_brier=base_brier,
    )
