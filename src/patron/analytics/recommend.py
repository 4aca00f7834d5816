"""Product recommendations from purchase history: item-item collaborative filtering, a popularity baseline,
and the hold-out metrics that compare them.

The data are implicit feedback: a customer bought a product (how often only weighs it, through
``log(1 + count)``). :class:`ItemKNNRecommender` scores a product for a customer by how similar it is
(cosine over the customers who bought both) to what the customer bought, keeping each product's
``neighbours`` most similar products. Customers it has never seen, or whose products have no neighbours,
get the most popular products instead. Scoring is a batched sparse product (customers x products times
products x products) followed by ``argpartition``, so every customer of a large base can be scored in
one pass.

References
----------
Sarwar, B., Karypis, G., Konstan, J. & Riedl, J. (2001). Item-based collaborative filtering
recommendation algorithms. *WWW '01*.
Deshpande, M. & Karypis, G. (2004). Item-based top-N recommendation algorithms. *ACM TOIS* 22(1).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from patron.analytics._validation import numeric_column, parse_dates, require_columns
from patron.analytics.errors import EmptyDataError, InvalidParameterError, InvalidValueError

__all__ = [
    "ItemKNNRecommender",
    "PopularityRecommender",
    "precision_at_k",
    "recall_at_k",
    "time_based_split",
]

RECOMMENDATION_COLUMNS = ["customer_id", "rank", "product_id", "score", "source"]


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidParameterError(f"{name} must be a whole number >= 1, got {value!r}")
    return int(value)


def _purchases(data: object, customer: str, product: str, weight: str | None) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise InvalidValueError("purchases must be a DataFrame (one row per customer and product bought)")
    require_columns(data, [customer, product] + ([weight] if weight else []), what="purchases table")
    if len(data) == 0:
        raise EmptyDataError("the purchases table has no rows")
    for column in (customer, product):
        if data[column].isna().any():
            raise InvalidValueError(f"{int(data[column].isna().sum())} missing id(s)", column=column)
    count = numeric_column(data, weight, nonnegative=True) if weight else np.ones(len(data))
    return pd.DataFrame(
        {"customer": data[customer].to_numpy(), "product": data[product].to_numpy(), "n": count}
    )


class _Base(BaseEstimator):
    """Shared parts: the customer and product vocabularies and the popularity ranking."""

    def _fit_vocabulary(self, frame: pd.DataFrame) -> sparse.csr_matrix:
        # factorize hashes and sorts only the distinct ids (np.unique sorts every row)
        customer_codes, customers = pd.factorize(frame["customer"].to_numpy(), sort=True)
        product_codes, products = pd.factorize(frame["product"].to_numpy(), sort=True)
        matrix = sparse.csr_matrix(
            (frame["n"].to_numpy(dtype=np.float64), (customer_codes, product_codes)),
            shape=(len(customers), len(products)),
        )
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
        self.customers_ = customers
        self.products_ = products
        self.customer_index_ = pd.Index(customers)
        self.popularity_ = np.asarray((matrix > 0).sum(axis=0)).ravel().astype(np.float64)
        self._popular_order_ = np.argsort(-self.popularity_, kind="stable")
        self.seen_ = matrix.tocsr()
        self._max_seen_ = int(np.diff(self.seen_.indptr).max(initial=0))
        return matrix

    def _rows(self, customer_ids: object) -> tuple[np.ndarray, np.ndarray]:
        ids = np.asarray(list(customer_ids) if not isinstance(customer_ids, np.ndarray) else customer_ids)
        if ids.ndim != 1:
            raise InvalidValueError("customer_ids must be a flat list of ids")
        return ids, self.customer_index_.get_indexer(ids)

    def _popular(self, rows: np.ndarray, n: int, exclude_seen: bool) -> tuple[np.ndarray, np.ndarray]:
        """Top-n popular products for the given rows (-1 for unknown customers), skipping seen ones."""
        take = min(n, len(self.products_))
        items = np.empty((len(rows), take), dtype=np.int64)
        scores = np.empty((len(rows), take))
        head = self._popular_order_[: take + (self._max_seen_ if exclude_seen else 0)]
        for i, row in enumerate(rows):
            order = head
            if exclude_seen and row >= 0:
                seen = self.seen_.indices[self.seen_.indptr[row] : self.seen_.indptr[row + 1]]
                order = head[~np.isin(head, seen)]
            got = order[:take]
            items[i, : len(got)] = got
            scores[i, : len(got)] = self.popularity_[got]
            items[i, len(got) :] = -1
            scores[i, len(got) :] = np.nan
        return items, scores

    def _frame(
        self, ids: np.ndarray, items: np.ndarray, scores: np.ndarray, sources: np.ndarray
    ) -> pd.DataFrame:
        """The long table of recommendations from per-customer rows of product columns (-1 = none)."""
        k = items.shape[1]
        valid = items.ravel() >= 0
        return pd.DataFrame(
            {
                "customer_id": np.repeat(ids, k)[valid],
                "rank": np.tile(np.arange(1, k + 1), len(ids))[valid],
                "product_id": self.products_[items.ravel()[valid]],
                "score": scores.ravel()[valid],
                "source": sources.ravel()[valid],
            }
        )


class PopularityRecommender(_Base):
    """The baseline: every customer gets the products bought by the most customers.

    Examples
    --------
    >>> bought = pd.DataFrame({"customer_id": [1, 1, 2, 3], "product_id": ["a", "b", "a", "c"]})
    >>> PopularityRecommender().fit(bought).recommend([2], n=2)["product_id"].tolist()
    ['b', 'c']
    """

    def fit(self, X: pd.DataFrame, y: object = None, *, customer: str = "customer_id",
            product: str = "product_id", weight: str | None = None) -> PopularityRecommender:  # fmt: skip
        self._fit_vocabulary(_purchases(X, customer, product, weight))
        return self

    def recommend(self, customer_ids: Iterable, n: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """Top-``n`` popular products for each customer (skipping what they bought when ``exclude_seen``).

        Returns a DataFrame with columns ``customer_id``, ``rank``, ``product_id``, ``score`` (number of
        customers who bought it) and ``source`` (``"popular"``).
        """
        check_is_fitted(self, "popularity_")
        n = _positive_int(n, "n")
        ids, rows = self._rows(customer_ids)
        items, scores = self._popular(rows, n, exclude_seen)
        return self._frame(ids, items, scores, np.full(items.shape, "popular", dtype=object))


class ItemKNNRecommender(_Base):
    """Item-item collaborative filtering on implicit feedback, with a popularity fallback.

    Parameters
    ----------
    neighbours : int
        How many most similar products each product keeps (the rest of its similarity row is dropped).
    batch_size : int
        Customers scored per sparse product; bounds memory to about ``batch_size x n_products`` floats.

    Attributes
    ----------
    customers_, products_ : ndarray
        The ids seen in training (sorted); products are the columns of every matrix.
    similarity_ : scipy.sparse.csr_matrix
        Products x products cosine similarity of the ``log(1 + count)`` purchase columns, top
        ``neighbours`` per row, zero diagonal.
    popularity_ : ndarray
        Number of customers who bought each product.

    Examples
    --------
    >>> bought = pd.DataFrame({"customer_id": [1, 1, 2, 2, 3, 3, 4],
    ...                        "product_id": ["tent", "stove", "tent", "stove", "shirt", "cap", "tent"]})
    >>> model = ItemKNNRecommender(neighbours=5).fit(bought)
    >>> model.recommend([4, 99], n=1)[["customer_id", "product_id", "source"]].values.tolist()
    [[4, 'stove', 'cf'], [99, 'tent', 'popular']]
    """

    def __init__(self, neighbours: int = 50, batch_size: int = 4096) -> None:
        self.neighbours = neighbours
        self.batch_size = batch_size

    def fit(self, X: pd.DataFrame, y: object = None, *, customer: str = "customer_id",
            product: str = "product_id", weight: str | None = None) -> ItemKNNRecommender:  # fmt: skip
        """Learn product similarities from purchases (one row per customer and product, or per purchase).

        Parameters
        ----------
        X : DataFrame
            Purchases; repeated (customer, product) rows add up.
        customer, product : str
            Columns holding the ids.
        weight : str, optional
            Column with a count or quantity (>= 0); default one per row.
        """
        neighbours = _positive_int(self.neighbours, "neighbours")
        _positive_int(self.batch_size, "batch_size")
        matrix = self._fit_vocabulary(_purchases(X, customer, product, weight))
        matrix.data = np.log1p(matrix.data)
        self.user_items_ = matrix.astype(np.float32)
        columns = matrix.tocsc()
        norms = np.sqrt(np.asarray(columns.multiply(columns).sum(axis=0)).ravel())
        norms[norms == 0] = 1.0
        normalised = (columns @ sparse.diags(1.0 / norms)).astype(np.float32).tocsr()
        similarity = (normalised.T @ normalised).tocsr()
        similarity.setdiag(0.0)
        similarity.eliminate_zeros()
        self.similarity_ = self._keep_top(similarity, neighbours)
        return self

    @staticmethod
    def _keep_top(similarity: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
        """Keep the k largest entries of each row."""
        counts = np.diff(similarity.indptr)
        if counts.max(initial=0) <= k:
            return similarity
        indptr, indices, data = [0], [], []
        for row in range(similarity.shape[0]):
            start, end = similarity.indptr[row], similarity.indptr[row + 1]
            values, cols = similarity.data[start:end], similarity.indices[start:end]
            if end - start > k:
                top = np.argpartition(-values, k - 1)[:k]
                values, cols = values[top], cols[top]
            indices.append(cols)
            data.append(values)
            indptr.append(indptr[-1] + len(cols))
        return sparse.csr_matrix(
            (np.concatenate(data), np.concatenate(indices), np.asarray(indptr)), shape=similarity.shape
        )

    def score_batch(self, rows: np.ndarray, n: int, exclude_seen: bool) -> tuple[np.ndarray, np.ndarray]:
        """Top-n product columns and scores for known customer rows (-1 / NaN where fewer than n score > 0).

        The scores stay sparse: each row's non-zero scores are packed into a dense block only as wide as the
        longest row (a few hundred candidates rather than every product) before ``argpartition``.
        """
        history = self.user_items_[rows]
        scores = (history @ self.similarity_).tocsr()
        if exclude_seen:
            scores = scores - scores.multiply(history > 0)
        scores.eliminate_zeros()
        counts = np.diff(scores.indptr)
        width = max(int(counts.max(initial=0)), n)
        row_of = np.repeat(np.arange(len(rows)), counts)
        position = np.arange(scores.nnz) - np.repeat(scores.indptr[:-1], counts)
        # negated scores (the best first after a partition), single precision like the products; empty
        # places hold 0 and so come after every real score
        negated = np.zeros((len(rows), width), dtype=np.float32)
        negated[row_of, position] = -scores.data
        take = min(n, width)
        top = (
            np.argpartition(negated, take - 1, axis=1)[:, :take]
            if take < width
            else np.tile(np.arange(width), (len(rows), 1))
        )
        top_negated = np.take_along_axis(negated, top, axis=1)
        order = np.argsort(top_negated, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        top_scores = -np.take_along_axis(top_negated, order, axis=1).astype(np.float64)
        # a place within the row's scores is a product column; the places past them are empty
        empty = (top_scores <= 0) | (top >= counts[:, None])
        top_columns = np.full(top.shape, -1, dtype=np.int64)
        if scores.nnz:
            where = np.minimum(scores.indptr[:-1, None] + top, scores.nnz - 1)
            top_columns[~empty] = scores.indices[where[~empty]]
        top_scores[empty] = np.nan
        return top_columns[:, :n], top_scores[:, :n]

    def recommend(self, customer_ids: Iterable, n: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """The top-``n`` products for each customer.

        Known customers get collaborative-filtering scores (``source`` ``"cf"``); where fewer than ``n``
        products score above zero the rest of the list is filled with popular products they have not
        bought, and unknown (cold) customers get popular products only (``source`` ``"popular"``, the
        score being the number of buyers).

        Returns
        -------
        DataFrame
            ``customer_id``, ``rank`` (1 = best), ``product_id``, ``score``, ``source``; rows ordered by
            the order of ``customer_ids`` and rank.
        """
        check_is_fitted(self, "similarity_")
        n = _positive_int(n, "n")
        ids, rows = self._rows(customer_ids)
        take = min(n, len(self.products_))
        items = np.full((len(ids), take), -1, dtype=np.int64)
        scores = np.full((len(ids), take), np.nan)
        sources = np.full((len(ids), take), "cf", dtype=object)
        known = np.flatnonzero(rows >= 0)
        for start in range(0, len(known), int(self.batch_size)):
            batch = known[start : start + int(self.batch_size)]
            items[batch], scores[batch] = self.score_batch(rows[batch], take, exclude_seen)
        short = np.flatnonzero((items < 0).any(axis=1))
        if len(short):  # fill the rest of short lists (and cold customers' lists) with popular products
            popular_items, popular_scores = self._popular(rows[short], 2 * take, exclude_seen)
            for i, row_items, row_scores in zip(short, popular_items, popular_scores, strict=True):
                have = int((items[i] >= 0).sum())
                keep = (row_items >= 0) & ~np.isin(row_items, items[i][:have])
                fill = row_items[keep][: take - have]
                items[i, have : have + len(fill)] = fill
                scores[i, have : have + len(fill)] = row_scores[keep][: len(fill)]
                sources[i, have:] = "popular"
        return self._frame(ids, items, scores, sources)


# --- evaluation -------------------------------------------------------------------------------------


def time_based_split(
    purchases: pd.DataFrame,
    *,
    test_start: object,
    customer: str = "customer_id",
    product: str = "product_id",
    date: str = "ordered_at",
    new_only: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Purchases before ``test_start`` (training) and from it on (hold-out).

    With ``new_only`` the hold-out keeps only products the customer had not bought before ``test_start``
    (what a recommender that excludes seen products can hit), one row per (customer, product).

    Examples
    --------
    >>> p = pd.DataFrame({"customer_id": [1, 1, 1], "product_id": ["a", "a", "b"],
    ...                   "ordered_at": ["2024-01-01", "2024-03-01", "2024-03-02"]})
    >>> train, test = time_based_split(p, test_start="2024-02-01")
    >>> len(train), test["product_id"].tolist()
    (1, ['b'])
    """
    if not isinstance(purchases, pd.DataFrame):
        raise InvalidValueError("purchases must be a DataFrame")
    require_columns(purchases, [customer, product, date], what="purchases table")
    if len(purchases) == 0:
        raise EmptyDataError("the purchases table has no rows")
    when = parse_dates(purchases[date], date)
    if getattr(when.dt, "tz", None) is not None:
        when = when.dt.tz_convert("UTC").dt.tz_localize(None)
    try:
        start = pd.Timestamp(test_start)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"test_start {test_start!r} is not a date") from exc
    if start is pd.NaT:
        raise InvalidParameterError(f"test_start {test_start!r} is not a date")
    if start.tzinfo is not None:
        start = start.tz_convert("UTC").tz_localize(None)
    before = (when < start).to_numpy()
    train, test = purchases[before], purchases[~before]
    if len(train) == 0 or len(test) == 0:
        raise EmptyDataError(f"test_start {start.date()} leaves the {'training' if len(train) == 0 else 'hold-out'} "
                             "period without purchases")  # fmt: skip
    if new_only:
        test = test.drop_duplicates([customer, product])
        bought = pd.MultiIndex.from_frame(train[[customer, product]].drop_duplicates())
        test = test[~pd.MultiIndex.from_frame(test[[customer, product]]).isin(bought)]
    return train, test


def _hits(
    recommendations: pd.DataFrame, holdout: pd.DataFrame, k: int, customer: str, product: str
) -> pd.DataFrame:
    k = _positive_int(k, "k")
    for frame, what in ((recommendations, "recommendations"), (holdout, "hold-out")):
        if not isinstance(frame, pd.DataFrame):
            raise InvalidValueError(f"the {what} must be a DataFrame")
    require_columns(recommendations, ["customer_id", "product_id", "rank"], what="recommendations")
    require_columns(holdout, [customer, product], what="hold-out")
    relevant = holdout[[customer, product]].drop_duplicates()
    relevant.columns = ["customer_id", "product_id"]
    if len(relevant) == 0:
        raise EmptyDataError("the hold-out has no purchases")
    top = recommendations[recommendations["rank"] <= k][["customer_id", "product_id"]]
    hit = top.merge(relevant, on=["customer_id", "product_id"], how="inner")
    per_customer = pd.DataFrame({"relevant": relevant.groupby("customer_id").size()})
    per_customer["hits"] = hit.groupby("customer_id").size().reindex(per_customer.index).fillna(0)
    return per_customer


def precision_at_k(
    recommendations: pd.DataFrame, holdout: pd.DataFrame, k: int = 10, *,
    customer: str = "customer_id", product: str = "product_id",
) -> float:  # fmt: skip
    """Mean over hold-out customers of (hits in the top ``k``) / ``k``.

    Customers with no hold-out purchase are left out; a customer without recommendations counts as zero hits.

    Examples
    --------
    >>> recs = pd.DataFrame({"customer_id": [1, 1, 2, 2], "rank": [1, 2, 1, 2], "product_id": ["a", "b", "c", "d"]})
    >>> held = pd.DataFrame({"customer_id": [1, 2, 2], "product_id": ["b", "x", "y"]})
    >>> precision_at_k(recs, held, k=2), recall_at_k(recs, held, k=2)
    (0.25, 0.5)
    """
    table = _hits(recommendations, holdout, k, customer, product)
    return float((table["hits"] / k).mean())


def recall_at_k(
    recommendations: pd.DataFrame, holdout: pd.DataFrame, k: int = 10, *,
    customer: str = "customer_id", product: str = "product_id",
) -> float:  # fmt: skip
    """Mean over hold-out customers of (hits in the top ``k``) / (number of products they bought)."""
    table = _hits(recommendations, holdout, k, customer, product)
    return float((table["hits"] / table["relevant"]).mean())
