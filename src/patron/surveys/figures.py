"""Figures drawn from the answers frame (:func:`patron.surveys.answers.answers_frame`): construct means, the
NPS counts of the summary and the comparison of two waves. Pure functions; the service fetches the frames.

A construct's score for one respondent is the mean of the construct's items they answered (reverse items
already recoded in the frame); a construct's mean is the mean of those scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from patron.core.errors import Invalid
from patron.stats import StatsInputError, independent_t, servqual, servqual_change
from patron.surveys.definition import Questionnaire, construct_items, servqual_spec


def construct_scores(q: Questionnaire, frame: pd.DataFrame) -> dict[str, pd.Series]:
    """Construct -> each respondent's score (rows without any of its items left out)."""
    scores: dict[str, pd.Series] = {}
    for construct, codes in construct_items(q).items():
        present = [c for c in codes if c in frame.columns]
        if present and not frame.empty:
            scores[construct] = frame[present].astype(float).mean(axis=1, skipna=True).dropna()
    return scores


def construct_means(q: Questionnaire, frame: pd.DataFrame) -> dict[str, float]:
    """Construct -> mean score, rounded to 4 decimals (constructs nobody answered left out)."""
    return {c: round(float(s.mean()), 4) for c, s in construct_scores(q, frame).items() if len(s)}


def nps_counts(answers: pd.Series) -> dict | None:
    """``{score, promoters, passives, detractors, n}`` of 0-10 answers (promoters 9-10, detractors 0-6;
    Reichheld 2003), or None without answers."""
    scores = answers.dropna().to_numpy(dtype=float)
    n = len(scores)
    if not n:
        return None
    promoters = int(np.sum(scores >= 9))
    detractors = int(np.sum(scores <= 6))
    return {"score": round(100.0 * (promoters - detractors) / n, 1), "promoters": promoters,
            "passives": n - promoters - detractors, "detractors": detractors, "n": n}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def compare_frames(q: Questionnaire, frame_a: pd.DataFrame, frame_b: pd.DataFrame) -> dict:
    """Per construct ``mean_a, mean_b, diff`` (b - a), ``n_a, n_b`` and Welch's ``t, df, pvalue``
    (:func:`patron.stats.independent_t`); and ``servqual``: each dimension's gap change
    (:func:`patron.stats.servqual_change`), or None when the questionnaire has no SERVQUAL pairs."""
    scores_a, scores_b = construct_scores(q, frame_a), construct_scores(q, frame_b)
    constructs: dict[str, dict] = {}
    for construct in construct_items(q):
        a, b = scores_a.get(construct), scores_b.get(construct)
        if a is None or b is None or len(a) < 2 or len(b) < 2:
            continue
        stacked = pd.DataFrame({
            "score": pd.concat([b, a], ignore_index=True),
            # the sorted levels put "after" (wave b) first, so the test's difference is b - a
            "wave": ["after"] * len(b) + ["before"] * len(a),
        })
        row: dict[str, Any] = {"mean_a": float(a.mean()), "mean_b": float(b.mean()),
                               "diff": float(b.mean() - a.mean()), "n_a": len(a), "n_b": len(b)}
        try:
            test = independent_t(stacked, "score", "wave")
            row.update({"t": _finite(float(test.t)), "df": _finite(float(test.df)),
                        "pvalue": _finite(float(test.pvalue))})
        except StatsInputError:  # no variance in either wave: no test
            row.update({"t": None, "df": None, "pvalue": None})
        constructs[construct] = row
    result: dict[str, Any] = {"constructs": constructs, "servqual": None}
    spec = servqual_spec(q)
    if spec is not None:
        dimensions = {dim: list(zip(sides["expectation"], sides["perception"], strict=True))
                      for dim, sides in spec.items()}
        columns = [c for pairs in dimensions.values() for pair in pairs for c in pair]
        try:
            before = servqual(frame_a[columns].astype(float).dropna(), dimensions)
            after = servqual(frame_b[columns].astype(float).dropna(), dimensions)
            change = servqual_change(before, after)
        except StatsInputError as exc:
            raise Invalid(f"SERVQUAL: {exc}", field=getattr(exc, "column", None) or "servqual") from None
        result["servqual"] = {name: {k: _finite(float(v)) for k, v in row.items()}
                              for name, row in change.to_dict(orient="index").items()}
    return result
