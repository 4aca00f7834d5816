"""Sentiment scoring, per-customer trend and complaint candidates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from patron.analytics.errors import EmptyDataError, InvalidValueError, MissingColumnError
from patron.analytics.sentiment import complaint_candidates, label_sentiment, score_texts, sentiment_trend

WORDS = {"great": 0.8, "good": 0.4, "slow": -0.4, "broken": -0.8}


def toy_analyzer(text: str) -> float:
    hits = [v for w, v in WORDS.items() if w in text.lower()]
    return float(np.clip(sum(hits), -1, 1)) if hits else 0.0


def test_vader_reproduces_its_published_examples():
    pytest.importorskip("vaderSentiment")
    # Hutto & Gilbert (2014), vaderSentiment README: compound scores of its example sentences.
    scores = score_texts(["VADER is smart, handsome, and funny.", "The book was good."])
    np.testing.assert_allclose(scores, [0.8316, 0.4404], atol=5e-5)


def test_scores_and_labels_with_a_custom_analyzer():
    texts = pd.Series(["Great app", "slow delivery", None, "ok"], index=[10, 11, 12, 13])
    scores = score_texts(texts, analyzer=toy_analyzer)
    assert list(scores.index) == [10, 11, 12, 13]
    assert scores.tolist()[:2] == [0.8, -0.4] and np.isnan(scores[12])
    assert label_sentiment(scores).tolist() == ["positive", "negative", None, "neutral"]
    with pytest.raises(InvalidValueError):
        score_texts(["x"], analyzer=lambda t: 3.0)


def test_trend_by_hand():
    posts = pd.DataFrame(
        {
            "who": ["a", "a", "a", "b", "b", "c", "d", "d"],
            "at": ["2024-01-01", "2024-01-16", "2024-01-31", "2024-01-01", "2024-03-01", "2024-02-01",
                   "2024-01-01", "2024-01-31"],
            "s": [-0.5, 0.0, 0.5, 0.2, 0.21, 0.9, 0.3, np.nan],
        }
    )  # fmt: skip
    trend = sentiment_trend(posts, customer="who", date="at", score="s")
    # a: +1.0 over 30 days; b: +0.01 over 60 days; c and d: one scored point each
    assert trend.loc["a", "slope"] == pytest.approx(1.0)
    assert trend.loc["b", "slope"] == pytest.approx(0.005)
    assert trend["trend"].tolist() == ["improving", "stable", "insufficient", "insufficient"]
    assert trend.loc["a", "mean"] == pytest.approx(0.0)
    assert trend.loc["a", "last"] == pytest.approx(0.5)
    assert trend.loc["d", "n"] == 1
    weekly = sentiment_trend(posts, customer="who", date="at", score="s", per_days=7)
    assert weekly.loc["a", "slope"] == pytest.approx(7 / 30)


def test_complaint_candidates():
    texts = pd.Series(["The lamp arrived BROKEN, I want a refund!", "so slow today", "great service", None])
    scores = score_texts(texts, analyzer=toy_analyzer)
    flags = complaint_candidates(texts, scores.fillna(0.0))
    assert flags.tolist() == [True, False, False, False]


@pytest.mark.parametrize(
    ("frame", "error", "column"),
    [
        (pd.DataFrame({"who": [], "at": [], "s": []}), EmptyDataError, None),
        (pd.DataFrame({"who": [1], "at": ["2024-01-01"]}), MissingColumnError, "s"),
        (pd.DataFrame({"who": [1], "at": ["someday"], "s": [0.1]}), InvalidValueError, "at"),
        (pd.DataFrame({"who": [1], "at": ["2024-01-01"], "s": [1.5]}), InvalidValueError, "s"),
        (
            pd.DataFrame({"who": [1, 2], "at": ["2024-01-01", "2024-01-02"], "s": [np.nan, np.nan]}),
            InvalidValueError,
            "s",
        ),
    ],
)
def test_bad_sentiment_tables_are_rejected(frame, error, column):
    with pytest.raises(error) as info:
        sentiment_trend(frame, customer="who", date="at", score="s")
    assert info.value.column == column
