"""Sentiment of customer texts (interactions, social posts) and its trend per customer.

Scoring is lexicon-based and offline. By default it uses VADER (Hutto & Gilbert 2014, the
``vaderSentiment`` package, which ships its lexicon); any callable ``text -> score in [-1, 1]``
can be passed instead. The trend is the least-squares slope of a customer's scores against time,
so a service team can see who is turning negative; :func:`complaint_candidates` flags negative,
complaint-like texts the application may turn into tickets.

References
----------
Hutto, C. J. & Gilbert, E. (2014). VADER: a parsimonious rule-based model for sentiment analysis
of social media text. *Proceedings of ICWSM-14*. Compound thresholds ±0.05 as recommended there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from patron.analytics._validation import numeric_column, parse_dates, require_columns
from patron.analytics.errors import EmptyDataError, InvalidParameterError, InvalidValueError

__all__ = [
    "complaint_candidates", "label_sentiment", "looks_like_complaint", "score_texts", "sentiment_trend",
    "vader_analyzer",
]  # fmt: skip

#: words that make a negative text look like a complaint (lower case, whole words)
COMPLAINT_WORDS: tuple[str, ...] = (
    "refund", "broken", "late", "never", "worst", "cancel", "complaint", "complain", "rude", "damaged",
    "missing", "wrong", "overcharged", "charged", "scam", "unacceptable", "disappointed", "waiting", "failed",
    "stopped", "doesn't", "didn't", "not working", "no response",
)  # fmt: skip


def vader_analyzer() -> Callable[[str], float]:
    """VADER's compound score as a callable; needs the ``vaderSentiment`` package.

    Raises
    ------
    ImportError
        When ``vaderSentiment`` is not installed.
    """
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError as exc:  # pragma: no cover - exercised only without the package
        raise ImportError(
            "VADER scoring needs the vaderSentiment package (pip install vaderSentiment), "
            "or pass analyzer=<callable text -> score>"
        ) from exc
    analyzer = SentimentIntensityAnalyzer()
    return lambda text: float(analyzer.polarity_scores(text)["compound"])


def score_texts(texts: Iterable[object], *, analyzer: Callable[[str], float] | None = None) -> pd.Series:
    """Sentiment score in [-1, 1] of every text (NaN for a missing text).

    Parameters
    ----------
    texts : iterable of str
        A Series keeps its index.
    analyzer : callable, optional
        ``text -> score``; default VADER's compound score.

    Examples
    --------
    >>> score_texts(["great", None, "awful"], analyzer=lambda t: 1.0 if "great" in t else -1.0).tolist()
    [1.0, nan, -1.0]
    """
    series = texts if isinstance(texts, pd.Series) else pd.Series(list(texts), dtype=object)
    score = analyzer if analyzer is not None else vader_analyzer()
    values = []
    for text in series:
        if text is None or (isinstance(text, float) and np.isnan(text)):
            values.append(np.nan)
            continue
        value = float(score(str(text)))
        if not -1.0 <= value <= 1.0:
            raise InvalidValueError(f"the analyzer returned {value}, outside [-1, 1]")
        values.append(value)
    return pd.Series(values, index=series.index, name="sentiment", dtype=float)


def label_sentiment(scores: object, *, threshold: float = 0.05) -> pd.Series:
    """``positive`` (score >= threshold), ``negative`` (<= -threshold) or ``neutral``.

    Examples
    --------
    >>> label_sentiment([0.6, 0.0, -0.3]).tolist()
    ['positive', 'neutral', 'negative']
    """
    values = pd.Series(scores, dtype=float)
    labels = np.where(values >= threshold, "positive", np.where(values <= -threshold, "negative", "neutral"))
    labels = np.where(values.isna(), None, labels)
    return pd.Series(labels, index=values.index, name="label", dtype=object)


def sentiment_trend(
    data: pd.DataFrame,
    *,
    customer: str,
    date: str,
    score: str,
    per_days: float = 30.0,
    stable_band: float = 0.05,
) -> pd.DataFrame:
    """Per-customer sentiment level and trend (least-squares slope of score on time).

    Parameters
    ----------
    data : DataFrame
        One row per scored text.
    customer, date, score : str
        Columns: customer id, when the text was written, its score in [-1, 1] (NaN rows skipped).
    per_days : float
        The slope is reported per this many days (default per 30 days).
    stable_band : float
        ``|slope| < stable_band`` is ``"stable"``; above it ``"improving"``, below ``"worsening"``.

    Returns
    -------
    DataFrame
        Indexed by customer: ``n``, ``mean``, ``last`` (latest score), ``first_at``, ``last_at``,
        ``slope`` (score change per ``per_days``; NaN with fewer than two distinct times) and
        ``trend`` (``improving``/``stable``/``worsening``/``insufficient``).

    Examples
    --------
    >>> posts = pd.DataFrame({"who": [1, 1, 1], "at": ["2024-01-01", "2024-01-31", "2024-03-01"],
    ...                       "s": [0.6, 0.1, -0.4]})
    >>> sentiment_trend(posts, customer="who", date="at", score="s")[["n", "slope", "trend"]].round(2)
    ... # doctest: +NORMALIZE_WHITESPACE
         n  slope      trend
    who
    1    3   -0.5  worsening
    """
    if not isinstance(data, pd.DataFrame):
        raise InvalidValueError("data must be a DataFrame")
    require_columns(data, [customer, date, score], what="sentiment table")
    if len(data) == 0:
        raise EmptyDataError("the sentiment table has no rows")
    if per_days <= 0 or stable_band < 0:
        raise InvalidParameterError("per_days must be > 0 and stable_band >= 0")
    values = numeric_column(data, score, allow_nan=True)
    if np.nanmin(values) < -1 or np.nanmax(values) > 1:
        raise InvalidValueError("scores must lie in [-1, 1]", column=score)
    when = parse_dates(data[date], date)
    frame = pd.DataFrame({"customer": data[customer].to_numpy(), "at": when.to_numpy(), "s": values})
    frame = frame.dropna(subset=["s"]).sort_values(["customer", "at"], kind="stable")
    if frame.empty:
        raise EmptyDataError("no scored text")
    start = frame.groupby("customer")["at"].transform("min")
    frame["x"] = (frame["at"] - start) / pd.Timedelta(days=per_days)
    frame["xy"] = frame["x"] * frame["s"]
    frame["xx"] = frame["x"] ** 2
    g = frame.groupby("customer", sort=True)
    n = g.size()
    sx, sy, sxy, sxx = g["x"].sum(), g["s"].sum(), g["xy"].sum(), g["xx"].sum()
    denominator = n * sxx - sx**2
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = ((n * sxy - sx * sy) / denominator).where(denominator > 1e-12)
    trend = np.select(
        [slope.isna(), slope >= stable_band, slope <= -stable_band],
        ["insufficient", "improving", "worsening"],
        default="stable",
    )
    result = pd.DataFrame(
        {
            "n": n.astype(int),
            "mean": g["s"].mean(),
            "last": g["s"].last(),
            "first_at": g["at"].min(),
            "last_at": g["at"].max(),
            "slope": slope,
            "trend": trend,
        }
    )
    result.index.name = customer
    return result


def _complaint_pattern(words: Iterable[str]) -> re.Pattern:
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)


_DEFAULT_PATTERN = _complaint_pattern(COMPLAINT_WORDS)


def looks_like_complaint(text: str, score: float, *, threshold: float = -0.3) -> bool:
    """One text: negative (``score <= threshold``) and worded like a complaint (see
    :data:`COMPLAINT_WORDS`); :func:`complaint_candidates` does the same for a column of texts.

    Examples
    --------
    >>> looks_like_complaint("The charger arrived broken and nobody answers", -0.6)
    True
    >>> looks_like_complaint("The charger arrived broken, but they replaced it at once. Great!", 0.7)
    False
    """
    return bool(score <= threshold and _DEFAULT_PATTERN.search(text or ""))


def complaint_candidates(
    texts: pd.Series,
    scores: pd.Series,
    *,
    threshold: float = -0.3,
    words: Iterable[str] = COMPLAINT_WORDS,
) -> pd.Series:
    """True for texts that are negative (score <= threshold) *and* read like a complaint.

    Examples
    --------
    >>> t = pd.Series(["my order arrived broken, I want a refund", "rainy day, sad", "love it"])
    >>> complaint_candidates(t, pd.Series([-0.7, -0.5, 0.8])).tolist()
    [True, False, False]
    """
    if len(texts) != len(scores):
        raise InvalidValueError(f"{len(texts)} texts but {len(scores)} scores")
    pattern = _DEFAULT_PATTERN if tuple(words) == COMPLAINT_WORDS else _complaint_pattern(words)
    looks_like = pd.Series(texts).fillna("").astype(str).map(lambda t: bool(pattern.search(t)))
    negative = pd.Series(scores, dtype=float).to_numpy() <= threshold
    return pd.Series(looks_like.to_numpy() & negative, index=pd.Series(texts).index, name="complaint")
