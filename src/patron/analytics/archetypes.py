"""The four targeted-marketing archetypes of study §2 and the playbook each gets.

Study §2 (customer clustering for ethical, targeted marketing in IoT companies) ranks factor
groups by entropy-weighted VIKOR and ends with four customer clusters:

1. **communication** — loyal, strategic customers (usage, revisit rate, contact frequency,
   suggestions, purchase rate) → after-sales support and facilities;
2. **ethical-behavioural** — quality, advice of others, service functions, shopping
   experience, advertising, support → survey this cluster and define quality in its terms;
3. **individual** — age, gender, education, modern lifestyle → premium services and
   technically skilled staff;
4. **economic** — prices, income, job, discounts, credit and instalment sales → lower
   margins, instalments and credit with guarantees.

:func:`assign_archetypes` maps data-driven clusters onto these archetypes: each feature is tied
to an archetype (optionally with a negative sign, e.g. *low* income signals the economic
archetype), a cluster's score for an archetype is the mean signed z-score of its features, and
the cluster takes the archetype with the highest positive score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from patron.analytics.errors import InvalidParameterError
from patron.analytics.segmentation import ClusterProfiles

__all__ = ["ARCHETYPES", "DEFAULT_FEATURE_ARCHETYPES", "Archetype", "assign_archetypes"]


@dataclass(frozen=True)
class Archetype:
    """One archetype of study §2: its key, title, the signals that define it and its playbook."""

    key: str
    title: str
    signals: tuple[str, ...]
    playbook: tuple[str, ...]


ARCHETYPES: dict[str, Archetype] = {
    "communication": Archetype(
        key="communication",
        title="Communication — loyal, strategic customers",
        signals=("usage", "revisit rate", "contact frequency", "suggestions", "purchase rate"),
        playbook=(
            "Give after-sales support and facilities first.",
            "Keep contact frequent and personal; invite suggestions and act on them visibly.",
            "Reward loyalty and turn these customers into ambassadors (referrals, groups, games).",
        ),
    ),
    "ethical_behavioural": Archetype(
        key="ethical_behavioural",
        title="Ethical-behavioural — quality and experience driven",
        signals=(
            "quality",
            "advice of others",
            "service functions",
            "shopping experience",
            "advertising",
            "support",
        ),
        playbook=(
            "Survey this cluster and define quality in its own terms (SERVQUAL gaps, NPS).",
            "Fix service functions and the shopping experience it complains about; answer complaints at once.",
            "Use honest advertising and the advice of other customers (reviews, testimonials).",
        ),
    ),
    "individual": Archetype(
        key="individual",
        title="Individual — demographics and modern lifestyle",
        signals=("age", "gender", "education", "modern lifestyle"),
        playbook=(
            "Offer premium services and customisable packages.",
            "Serve them with technically skilled staff.",
            "Personalise messages to life stage and lifestyle, with explicit consent.",
        ),
    ),
    "economic": Archetype(
        key="economic",
        title="Economic — price and financing driven",
        signals=("prices", "income", "job", "discounts", "credit and instalment sales"),
        playbook=(
            "Accept lower margins on this cluster; lead with price and discounts.",
            "Offer instalments and credit with guarantees.",
            "Time coupons and bundles (three-for-two, gift with purchase) to their buying cycle.",
        ),
    ),
}

#: Common Patron feature names and the archetype they signal; a leading "-" means a *low* value
#: signals the archetype (e.g. low recency — a recent purchase — signals loyalty).
DEFAULT_FEATURE_ARCHETYPES: dict[str, str] = {
    "frequency": "communication",
    "recency": "-communication",
    "tenure": "communication",
    "active_days": "communication",
    "sessions": "communication",
    "interactions": "communication",
    "contact_frequency": "communication",
    "revisit_rate": "communication",
    "suggestions": "communication",
    "purchase_rate": "communication",
    "csat": "ethical_behavioural",
    "nps": "ethical_behavioural",
    "tickets": "ethical_behavioural",
    "complaints": "ethical_behavioural",
    "reviews": "ethical_behavioural",
    "referrals_received": "ethical_behavioural",
    "support_contacts": "ethical_behavioural",
    "age": "individual",
    "education_years": "individual",
    "premium_share": "individual",
    "device_count": "individual",
    "app_features_used": "individual",
    "discount_share": "economic",
    "coupon_use": "economic",
    "price_sensitivity": "economic",
    "instalment_share": "economic",
    "credit_use": "economic",
    "income": "-economic",
    "basket_value": "-economic",
}


def _parse(mapping: Mapping[str, str]) -> dict[str, tuple[str, float]]:
    parsed = {}
    for feature, value in mapping.items():
        text = str(value).strip()
        sign = -1.0 if text.startswith("-") else 1.0
        key = text.lstrip("+-")
        if key not in ARCHETYPES:
            raise InvalidParameterError(
                f"unknown archetype {key!r}; use one of {', '.join(ARCHETYPES)}", column=str(feature)
            )
        parsed[str(feature)] = (key, sign)
    return parsed


def assign_archetypes(
    profiles: ClusterProfiles,
    feature_archetypes: Mapping[str, str] | None = None,
    *,
    min_score: float = 0.0,
) -> pd.DataFrame:
    """Map each cluster to an archetype of study §2 with its playbook.

    Parameters
    ----------
    profiles : ClusterProfiles
        From :func:`~patron.analytics.segmentation.profile_clusters` or
        ``CustomerSegmenter.profiles_``.
    feature_archetypes : mapping, optional
        Feature name -> archetype key (``"-key"`` when a low value signals it); default
        :data:`DEFAULT_FEATURE_ARCHETYPES`. Features not in the mapping are ignored.
    min_score : float
        A cluster whose best score is not above this stays unassigned (``archetype`` None).

    Returns
    -------
    DataFrame
        Per cluster: ``name`` (from the profile), one ``score_<archetype>`` column per archetype
        (mean signed z-score of its features; NaN when none is present), ``archetype``,
        ``title`` and ``playbook`` (tuple of actions).

    Examples
    --------
    >>> from patron.analytics.segmentation import profile_clusters
    >>> X = pd.DataFrame({"frequency": [9, 8, 1, 1], "discount_share": [0.1, 0.0, 0.8, 0.9]})
    >>> assign_archetypes(profile_clusters(X, [0, 0, 1, 1]))["archetype"].tolist()
    ['communication', 'economic']
    """
    mapping = _parse(DEFAULT_FEATURE_ARCHETYPES if feature_archetypes is None else feature_archetypes)
    z = profiles.z_centroids
    scores = {}
    for key in ARCHETYPES:
        columns = [(f, sign) for f, (k, sign) in mapping.items() if k == key and f in z.columns]
        if columns:
            scores[f"score_{key}"] = np.mean([sign * z[f].to_numpy() for f, sign in columns], axis=0)
        else:
            scores[f"score_{key}"] = np.full(len(z), np.nan)
    table = pd.DataFrame(scores, index=z.index)
    if table.isna().all(axis=None):
        raise InvalidParameterError(
            "no feature of the profiles is tied to an archetype; pass feature_archetypes"
        )
    best = table.idxmax(axis=1, skipna=True)
    best_score = table.max(axis=1, skipna=True)
    keys = [
        b.removeprefix("score_") if s > min_score else None for b, s in zip(best, best_score, strict=True)
    ]
    result = pd.DataFrame({"name": profiles.names.reindex(z.index)}, index=z.index)
    result = result.join(table)
    result["archetype"] = keys
    result["title"] = [ARCHETYPES[k].title if k else None for k in keys]
    result["playbook"] = [ARCHETYPES[k].playbook if k else () for k in keys]
    return result
