"""Customer segmentation: scaling, k-means / mini-batch k-means / Gaussian mixture, the choice
of k, stability across seeds, and cluster profiles with names derived from them.

:class:`CustomerSegmenter` is a scikit-learn estimator (``__init__`` stores parameters, ``fit``
returns ``self``, fitted attributes end in ``_``). The number of clusters is either given or
chosen over ``k_range`` by the silhouette coefficient (k-means family, higher is better) or the
Bayesian information criterion (Gaussian mixture, lower is better); every candidate's scores are
kept in ``selection_scores_`` so the choice can be shown. :func:`profile_clusters` describes
clusters by z-scored centroids (how many standard deviations a cluster's mean lies from the
population mean), sizes and key differences, and names them from their strongest features;
:func:`cluster_stability` refits with other seeds and reports the adjusted Rand index.
Archetype mapping (study §2) is in :mod:`patron.analytics.archetypes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from patron.analytics._validation import as_frame, numeric_matrix, require_rows
from patron.analytics.errors import (
    InsufficientDataError,
    InvalidParameterError,
    InvalidValueError,
    MissingColumnError,
)

__all__ = ["ClusterProfiles", "CustomerSegmenter", "StabilityResult", "cluster_stability", "profile_clusters"]

ALGORITHMS = ("kmeans", "minibatch", "gmm")


@dataclass(frozen=True)
class ClusterProfiles:
    """Description of a clustering (see :func:`profile_clusters`).

    Attributes
    ----------
    sizes : DataFrame
        Per cluster ``size`` (customers) and ``share`` (fraction of all).
    centroids : DataFrame
        Per cluster the mean of every feature, in the features' own units.
    z_centroids : DataFrame
        Per cluster ``(cluster mean - population mean) / population standard deviation``.
    key_differences : DataFrame
        The strongest features per cluster: ``cluster``, ``feature``, ``z``, ``direction``
        (``"high"``/``"low"``), strongest first.
    names : Series
        A short name per cluster derived from its key differences, e.g.
        ``"high frequency, low recency"``; ``"average"`` when nothing stands out.
    """

    sizes: pd.DataFrame
    centroids: pd.DataFrame
    z_centroids: pd.DataFrame
    key_differences: pd.DataFrame
    names: pd.Series


def profile_clusters(
    data: object,
    labels: Sequence[int] | np.ndarray,
    *,
    top: int = 3,
    threshold: float = 0.5,
) -> ClusterProfiles:
    """Profile clusters by size, centroids, z-scored centroids and key differences, and name them.

    Parameters
    ----------
    data : DataFrame or array-like
        The features the clusters were built on (unscaled; NaN values are ignored per feature).
    labels : array-like of int
        Cluster of every row.
    top : int
        Key differences kept per cluster.
    threshold : float
        A feature is a key difference when ``|z| >= threshold``.

    Returns
    -------
    ClusterProfiles

    Examples
    --------
    >>> X = pd.DataFrame({"spend": [10, 12, 11, 95, 99, 97], "visits": [1, 2, 1, 9, 8, 9]})
    >>> profile_clusters(X, [0, 0, 0, 1, 1, 1]).names.tolist()
    ['low spend, low visits', 'high spend, high visits']
    """
    frame = as_frame(data, what="feature table")
    matrix = numeric_matrix(frame, allow_nan=True)
    labels = np.asarray(labels)
    if labels.shape != (len(frame),):
        raise InvalidValueError(f"{labels.size} labels for {len(frame)} rows")
    values = pd.DataFrame(matrix, columns=frame.columns)
    mean = values.mean()
    std = values.std(ddof=0).replace(0.0, np.nan)
    grouped = values.groupby(labels)
    centroids = grouped.mean()
    centroids.index.name = "cluster"
    z = ((centroids - mean) / std).fillna(0.0)
    sizes = grouped.size().rename("size").to_frame()
    sizes["share"] = sizes["size"] / len(frame)
    sizes.index.name = "cluster"

    rows, names = [], {}
    for cluster, zrow in z.iterrows():
        strongest = zrow.abs().sort_values(ascending=False, kind="stable")
        picked = [f for f in strongest.index[:top] if abs(zrow[f]) >= threshold]
        for feature in picked:
            rows.append(
                {
                    "cluster": cluster,
                    "feature": feature,
                    "z": float(zrow[feature]),
                    "direction": "high" if zrow[feature] > 0 else "low",
                }
            )
        names[cluster] = (
            ", ".join(f"{'high' if zrow[f] > 0 else 'low'} {f}" for f in picked[:2]) if picked else "average"
        )
    # keep names unique so they can label a chart
    seen: dict[str, int] = {}
    for cluster, name in names.items():
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            names[cluster] = f"{name} ({seen[name]})"
    key_differences = pd.DataFrame(rows, columns=["cluster", "feature", "z", "direction"])
    return ClusterProfiles(
        sizes=sizes,
        centroids=centroids,
        z_centroids=z,
        key_differences=key_differences,
        names=pd.Series(names, name="name").rename_axis("cluster"),
    )


def _one_thread():
    """Limit scikit-learn's OpenMP loops to one thread: on a sample of thousands of rows (and batches of
    about a thousand) the threads cost more to start and synchronise than they save, and on a busy
    machine a waiting thread spins; the final fit over every row keeps them."""
    return threadpool_limits(limits=1, user_api="openmp")


class CustomerSegmenter(ClusterMixin, BaseEstimator):
    """Scale customer features and cluster them, choosing k when it is not given.

    Parameters
    ----------
    algorithm : {"kmeans", "minibatch", "gmm"}
        k-means (Lloyd), mini-batch k-means (for millions of rows) or a Gaussian mixture.
    n_clusters : int, optional
        Fix k; when omitted k is chosen over ``k_range``.
    k_range : tuple of int
        Candidate k, inclusive (default 2..8).
    criterion : {"auto", "silhouette", "bic"}
        How k is chosen: highest silhouette or lowest BIC. ``"auto"`` uses BIC for ``gmm`` and
        the silhouette otherwise. BIC needs ``algorithm="gmm"``.
    scale : bool
        Standardise features (zero mean, unit variance) before clustering.
    missing : {"median", "error"}
        Fill missing values with the column median, or reject them. A column with no value at
        all is always rejected.
    selection_sample : int, optional
        Choose k (or fit a given k) on a random sample of this many rows, then refine that
        sample model with a single run over all rows that starts from its centres (or mixture
        components); keeps the search and the final fit fast on millions of customers. ``None``
        uses every row.
    silhouette_sample : int
        Rows used to compute each silhouette coefficient.
    n_init : int
        Restarts of each k-means / mixture fit.
    random_state : int, optional
        Seed of every random step.

    Attributes
    ----------
    n_clusters_ : int
        The k used.
    criterion_ : str
        The criterion that chose k (``"fixed"`` when k was given).
    selection_scores_ : DataFrame
        Per candidate k: ``silhouette``, ``bic`` (gmm only) and ``inertia`` (k-means family).
    scaler_ : StandardScaler or None
    medians_ : Series
        The fill value of each feature.
    model_ : estimator
        The fitted scikit-learn clustering model.
    labels_ : ndarray
        Cluster of each training row.
    profiles_ : ClusterProfiles
        Profiles of the training clusters (see :func:`profile_clusters`).
    cluster_names_ : Series
        Name of each cluster derived from its profile.
    feature_names_in_ : ndarray

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame(np.vstack([rng.normal(0, 1, (50, 2)), rng.normal(6, 1, (50, 2))]), columns=["a", "b"])
    >>> seg = CustomerSegmenter(random_state=0).fit(X)
    >>> seg.n_clusters_, seg.criterion_
    (2, 'silhouette')
    """

    def __init__(
        self,
        algorithm: str = "kmeans",
        n_clusters: int | None = None,
        k_range: tuple[int, int] = (2, 8),
        criterion: str = "auto",
        scale: bool = True,
        missing: str = "median",
        selection_sample: int | None = 20_000,
        silhouette_sample: int = 4_000,
        n_init: int = 4,
        random_state: int | None = 0,
    ) -> None:
        self.algorithm = algorithm
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.criterion = criterion
        self.scale = scale
        self.missing = missing
        self.selection_sample = selection_sample
        self.silhouette_sample = silhouette_sample
        self.n_init = n_init
        self.random_state = random_state

    # -- helpers ----------------------------------------------------------------------------

    def _check_params(self) -> str:
        if self.algorithm not in ALGORITHMS:
            raise InvalidParameterError(
                f"algorithm must be one of {', '.join(ALGORITHMS)}, got {self.algorithm!r}"
            )
        if self.missing not in ("median", "error"):
            raise InvalidParameterError(f"missing must be 'median' or 'error', got {self.missing!r}")
        criterion = self.criterion
        if criterion == "auto":
            criterion = "bic" if self.algorithm == "gmm" else "silhouette"
        if criterion not in ("silhouette", "bic"):
            raise InvalidParameterError(
                f"criterion must be 'auto', 'silhouette' or 'bic', got {self.criterion!r}"
            )
        if criterion == "bic" and self.algorithm != "gmm":
            raise InvalidParameterError("the BIC criterion needs algorithm='gmm' (a likelihood)")
        low, high = self.k_range
        if self.n_clusters is None and not (2 <= low <= high):
            raise InvalidParameterError(f"k_range must satisfy 2 <= low <= high, got {self.k_range}")
        if self.n_clusters is not None and self.n_clusters < 1:
            raise InvalidParameterError(f"n_clusters must be >= 1, got {self.n_clusters}")
        return criterion

    def _model(self, k: int, n_rows: int, start: object = None):
        """An unfitted model for k clusters; ``start``, a model fitted on a sample, gives the initial
        centres (or mixture components) of a single run instead of ``n_init`` random restarts."""
        if self.algorithm == "kmeans":
            if start is not None:
                return KMeans(
                    n_clusters=k, init=start.cluster_centers_, n_init=1, random_state=self.random_state
                )
            return KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state)
        if self.algorithm == "minibatch":
            batch = int(min(max(1024, 256 * k), n_rows))
            if start is not None:
                # from good centres, stop once they settle (k-means' usual tolerance); without it the
                # run goes on while the noisy batch inertia keeps setting new lows
                return MiniBatchKMeans(n_clusters=k, init=start.cluster_centers_, n_init=1, batch_size=batch,
                                       tol=1e-4, random_state=self.random_state)  # fmt: skip
            return MiniBatchKMeans(
                n_clusters=k, n_init=self.n_init, batch_size=batch, random_state=self.random_state
            )
        if start is not None:
            return GaussianMixture(n_components=k, covariance_type="full", n_init=1, random_state=self.random_state,
                                   weights_init=start.weights_, means_init=start.means_,
                                   precisions_init=start.precisions_)  # fmt: skip
        return GaussianMixture(
            n_components=k, covariance_type="full", n_init=self.n_init, random_state=self.random_state
        )

    def _scaled(self, matrix: np.ndarray) -> np.ndarray:
        """The matrix the clustering sees: standardised when ``scale``; single precision for the k-means
        family (half the memory traffic of its distance computations), double for the mixture."""
        scaled = self.scaler_.transform(matrix) if self.scaler_ is not None else matrix
        return np.asarray(scaled, dtype=np.float64 if self.algorithm == "gmm" else np.float32)

    def _matrix(self, X: object, *, fitting: bool) -> tuple[pd.DataFrame, np.ndarray]:
        frame = as_frame(X, what="feature table")
        if not fitting:
            missing_cols = [c for c in self.feature_names_in_ if c not in frame.columns]
            if missing_cols:
                raise MissingColumnError(
                    f"feature {missing_cols[0]!r} was used in fit", column=str(missing_cols[0])
                )
            frame = frame[list(self.feature_names_in_)]
        matrix = numeric_matrix(frame, allow_nan=True)  # rejects all-NaN and non-numeric columns
        nan = np.isnan(matrix)
        if fitting:
            medians = np.nanmedian(matrix, axis=0) if nan.any() else np.median(matrix, axis=0)
            self.medians_ = pd.Series(medians, index=self.feature_names_in_)
        if nan.any():
            if self.missing == "error":
                column = frame.columns[int(np.argmax(nan.any(axis=0)))]
                raise InvalidValueError(
                    f"{int(nan[:, list(frame.columns).index(column)].sum())} missing value(s)",
                    column=str(column),
                )
            fill = self.medians_.to_numpy()
            matrix = np.where(nan, fill, matrix)
        return frame, matrix

    # -- API --------------------------------------------------------------------------------

    def fit(self, X: object, y: object = None) -> CustomerSegmenter:
        """Fit on a feature table (customers in rows, numeric features in columns).

        Raises
        ------
        EmptyDataError, InsufficientDataError, InvalidValueError, InvalidParameterError
        """
        criterion = self._check_params()
        frame = as_frame(X, what="feature table")
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        frame.columns = self.feature_names_in_
        frame, matrix = self._matrix(frame, fitting=True)  # also sets medians_
        n = matrix.shape[0]
        require_rows(n, 2, what="segmentation needs customers")
        self.scaler_ = StandardScaler().fit(matrix) if self.scale else None
        scaled = self._scaled(matrix)
        rng = np.random.default_rng(self.random_state)
        # k is chosen on a sample; the final model starts from the chosen sample model's centres and
        # makes one run over every row (with a sample of all rows, the sample model is the final one)
        sample = scaled
        if self.selection_sample is not None and n > self.selection_sample:
            sample = scaled[np.sort(rng.choice(n, size=self.selection_sample, replace=False))]

        if self.n_clusters is not None:
            if self.n_clusters > n:
                raise InsufficientDataError(
                    f"{self.n_clusters} clusters need at least as many customers, got {n}"
                )
            chosen, self.criterion_ = int(self.n_clusters), "fixed"
            self.selection_scores_ = pd.DataFrame(index=pd.Index([chosen], name="k"))
            start = None
            if sample is not scaled:
                with _one_thread():
                    start = self._model(chosen, len(sample)).fit(sample)
        else:
            low, high = self.k_range
            distinct = len(np.unique(scaled, axis=0)) if n <= 100_000 else n
            high = min(high, distinct - 1, n - 1)
            if high < low:
                raise InsufficientDataError(
                    f"choosing k in {self.k_range} needs at least {low + 1} distinct customers, got {distinct}"
                )
            rows, candidates = [], {}
            for k in range(low, high + 1):
                with _one_thread():
                    model = candidates[k] = self._model(k, len(sample)).fit(sample)
                labels = model.predict(sample)
                row = {"k": k, "silhouette": np.nan, "bic": np.nan, "inertia": np.nan}
                if len(np.unique(labels)) > 1:
                    row["silhouette"] = float(
                        silhouette_score(
                            sample,
                            labels,
                            sample_size=min(self.silhouette_sample, len(sample)),
                            random_state=self.random_state,
                        )
                    )
                if self.algorithm == "gmm":
                    row["bic"] = float(model.bic(sample))
                else:
                    row["inertia"] = float(model.inertia_)
                rows.append(row)
            self.selection_scores_ = pd.DataFrame(rows).set_index("k")
            column = self.selection_scores_[criterion]
            if column.isna().all():
                raise InsufficientDataError(
                    "no candidate k gave more than one cluster; the customers do not separate"
                )
            chosen = int(column.idxmax() if criterion == "silhouette" else column.idxmin())
            self.criterion_ = criterion
            start = candidates[chosen]

        self.n_clusters_ = chosen
        if start is not None and sample is scaled:
            self.model_ = start
        else:
            self.model_ = self._model(chosen, n, start).fit(scaled)
        # k-means keeps the labels of its last assignment, which predict would compute again
        labels = getattr(self.model_, "labels_", None) if self.algorithm != "gmm" else None
        self.labels_ = np.asarray(labels if labels is not None else self.model_.predict(scaled))
        self.profiles_ = profile_clusters(pd.DataFrame(matrix, columns=frame.columns), self.labels_)
        self.cluster_names_ = self.profiles_.names
        return self

    def predict(self, X: object) -> np.ndarray:
        """Cluster of every row of a feature table with the columns seen in ``fit``."""
        check_is_fitted(self, "model_")
        _, matrix = self._matrix(X, fitting=False)
        return np.asarray(self.model_.predict(self._scaled(matrix)))


@dataclass(frozen=True)
class StabilityResult:
    """Agreement of clusterings refitted with different seeds (see :func:`cluster_stability`).

    Attributes
    ----------
    mean_ari, min_ari : float
        Mean and smallest adjusted Rand index over all pairs of seeds (1 = identical partitions,
        about 0 = chance agreement).
    pairwise : DataFrame
        ``seed_a``, ``seed_b``, ``ari`` for every pair.
    n_clusters : list of int
        The k each seed ended with (differs across seeds when k is chosen from data).
    """

    mean_ari: float
    min_ari: float
    pairwise: pd.DataFrame
    n_clusters: list[int]


def cluster_stability(
    estimator: CustomerSegmenter,
    data: object,
    *,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    sample_size: int | None = 50_000,
) -> StabilityResult:
    """Refit ``estimator`` with each seed and compare the partitions by adjusted Rand index.

    Parameters
    ----------
    estimator : CustomerSegmenter
        Unfitted (or fitted) estimator; a clone is fitted per seed.
    data : DataFrame or array-like
        Feature table.
    seeds : sequence of int
        At least two seeds.
    sample_size : int, optional
        Compare on a random sample of this many rows (all rows when ``None`` or fewer).

    Returns
    -------
    StabilityResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (60, 2)), rng.normal(8, 1, (60, 2))])
    >>> cluster_stability(CustomerSegmenter(n_clusters=2), X, seeds=[0, 1, 2]).min_ari
    1.0
    """
    if len(seeds) < 2:
        raise InvalidParameterError("stability needs at least two seeds")
    frame = as_frame(data, what="feature table")
    if sample_size is not None and len(frame) > sample_size:
        frame = frame.sample(n=sample_size, random_state=0)
    labels: dict[int, np.ndarray] = {}
    ks = []
    for seed in seeds:
        fitted = clone(estimator).set_params(random_state=seed).fit(frame)
        labels[seed] = fitted.labels_
        ks.append(int(fitted.n_clusters_))
    pairs = [
        {"seed_a": a, "seed_b": b, "ari": float(adjusted_rand_score(labels[a], labels[b]))}
        for a, b in combinations(seeds, 2)
    ]
    pairwise = pd.DataFrame(pairs)
    return StabilityResult(
        mean_ari=float(pairwise["ari"].mean()),
        min_ari=float(pairwise["ari"].min()),
        pairwise=pairwise,
        n_clusters=ks,
    )
