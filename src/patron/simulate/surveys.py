"""Simulated survey answers with a known structure, for the demo and for tests that must recover it.

:func:`planted_answers` draws respondents from the questionnaire's own model: each construct is a standard
normal latent variable; the structural lines (``success ~ loyalty + quality``) give the outcome's regression
weights (``paths``, default 0.3 each), the predictors are correlated ``exogenous_corr`` with each other, and
each outcome's residual variance makes its total variance 1. Every Likert item is ``loading * latent +
noise`` (variance 1) cut into the scale's points at the quantiles of a bell-shaped answer distribution
leaning to agreement (``lean``), then turned round for reverse-coded items, so a reverse item reads like a real
answer and the analysis recodes it back. NPS items follow the mean of the outcome constructs; SERVQUAL items
ask high expectations and a dimension-specific perception gap (``servqual_gaps``); choices and texts are drawn
at random.

Example::

    >>> from patron.surveys.definition import parse_questionnaire
    >>> q = parse_questionnaire({"constructs": [{"code": "a", "name": "A"}, {"code": "b", "name": "B"}],
    ...     "model": "a =~ a1 + a2 + a3\\nb =~ b1 + b2 + b3\\nb ~ a",
    ...     "sections": [{"items": [{"code": c, "text": c, "construct": c[0]}
    ...                             for c in ("a1", "a2", "a3", "b1", "b2", "b3")]}]})
    >>> rows = planted_answers(q, 3, seed=7)
    >>> sorted(rows[0]), all(1 <= v <= 5 for r in rows for v in r.values())
    (['a1', 'a2', 'a3', 'b1', 'b2', 'b3'], True)
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from scipy import stats as sps

from patron.stats import parse_model
from patron.surveys.definition import Item, Questionnaire, construct_items, default_model

COMMENTS = (
    "The driver found me at once; the saved pick-up point works well.",
    "Delivery was late twice this month.",
    "Support answered quickly and solved it.",
    "The app keeps asking me to log in again.",
    "Prices went up but the service is still good.",
    "I like the loyalty points, please add more partner shops.",
    "Great experience overall.",
    "Nobody told me the order was cancelled.",
)


def _structure(q: Questionnaire) -> tuple[list[str], dict[str, list[str]]]:
    """Constructs in causal order and each outcome's predictors, from the model's ``~`` lines."""
    constructs = list(construct_items(q))
    predictors: dict[str, list[str]] = {}
    for statement in parse_model(default_model(q)) if default_model(q) else []:
        if statement.op == "~":
            predictors.setdefault(statement.lhs, []).append(statement.rhs)
    ordered: list[str] = [c for c in constructs if c not in predictors]
    pending = [c for c in constructs if c in predictors]
    while pending:
        ready = [c for c in pending if all(p in ordered or p not in constructs for p in predictors[c])]
        if not ready:  # a cycle: give up on the structure for what is left
            ordered += pending
            break
        ordered += ready
        pending = [c for c in pending if c not in ready]
    return ordered, predictors


def latent_scores(
    q: Questionnaire,
    n: int,
    rng: np.random.Generator,
    *,
    paths: dict[tuple[str, str], float] | None = None,
    exogenous_corr: float = 0.3,
    shift: dict[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Standardised latent scores per construct (plus ``shift`` added to the named constructs' means)."""
    order, predictors = _structure(q)
    exogenous = [c for c in order if c not in predictors]
    scores: dict[str, np.ndarray] = {}
    if exogenous:
        k = len(exogenous)
        corr = np.full((k, k), exogenous_corr) + np.eye(k) * (1 - exogenous_corr)
        draws = rng.multivariate_normal(np.zeros(k), corr, size=n)
        for i, c in enumerate(exogenous):
            scores[c] = draws[:, i]
    for c in order:
        if c in scores:
            continue
        preds = [p for p in predictors.get(c, []) if p in scores]
        weights = np.array([(paths or {}).get((c, p), 0.3) for p in preds])
        if preds:
            block = np.column_stack([scores[p] for p in preds])
            explained = block @ weights
            var = float(np.var(explained)) if n > 1 else 0.0
            residual_var = max(1.0 - var, 0.2)
        else:
            explained, residual_var = np.zeros(n), 1.0
        scores[c] = explained + rng.normal(0.0, np.sqrt(residual_var), n)
    for c, delta in (shift or {}).items():
        if c in scores:
            scores[c] = scores[c] + delta
    return scores


def _cut(values: np.ndarray, low: int, high: int, lean: float) -> np.ndarray:
    """Continuous standard-normal values -> scale points, with answers leaning to the top of the scale."""
    points = high - low + 1
    # thresholds at the normal quantiles of a bell over the points, moved down by ``lean``
    edges = sps.norm.ppf(np.arange(1, points) / points) * 0.8 - lean
    return low + np.searchsorted(edges, values)


def _likert(item: Item, latent: np.ndarray | None, rng: np.random.Generator, loading: float, lean: float):
    low, high = item.scale or (1, 5)
    n = len(latent) if latent is not None else 0
    base = latent if latent is not None else np.zeros(n)
    value = loading * base + rng.normal(0.0, np.sqrt(1 - loading**2), n)
    points = _cut(value, low, high, lean)
    return (low + high - points) if item.reverse else points


def planted_answers(
    q: Questionnaire,
    n: int,
    *,
    seed: int = 0,
    paths: dict[tuple[str, str], float] | None = None,
    loading: float = 0.75,
    lean: float = 0.4,
    shift: dict[str, float] | None = None,
    servqual_gaps: dict[str, float] | None = None,
    text_rate: float = 0.3,
) -> list[dict]:
    """``n`` answer dicts (item code -> answer) drawn from the questionnaire's model; see the module docstring.

    ``paths`` maps ``(outcome, predictor)`` to a standardised weight; ``shift`` moves construct means (in
    standard deviations) to plant a wave-to-wave change; ``servqual_gaps`` maps a SERVQUAL dimension to the
    mean perception-minus-expectation gap in scale points (default -1.0).
    """
    rng = np.random.default_rng(seed)
    if n <= 0:
        return []
    scores = latent_scores(q, n, rng, paths=paths, shift=shift)
    _order, predictors = _structure(q)
    outcomes = [c for c in predictors if c in scores] or list(scores)
    overall = np.mean([scores[c] for c in outcomes], axis=0) if outcomes else rng.normal(0, 1, n)
    columns: dict[str, list] = {}
    for item in q.items():
        if item.servqual is not None:
            low, high = item.scale or (1, 7)
            expectation = np.clip(np.round(rng.normal(high - 0.8, 0.6, n)), low, high)
            if item.servqual.side == "expectation":
                columns[item.code] = expectation.astype(int).tolist()
            else:
                gap = (servqual_gaps or {}).get(item.servqual.dimension, -1.0)
                perceived = np.clip(np.round(high - 0.8 + gap + rng.normal(0, 0.9, n)), low, high)
                columns[item.code] = perceived.astype(int).tolist()
        elif item.kind == "likert":
            latent = scores.get(item.construct) if item.construct else None
            if latent is None:
                latent = overall
            columns[item.code] = _likert(item, latent, rng, loading, lean).astype(int).tolist()
        elif item.kind == "nps":
            value = 7.5 + 1.8 * overall + rng.normal(0, 1.2, n)
            columns[item.code] = np.clip(np.round(value), 0, 10).astype(int).tolist()
        elif item.kind == "number":
            low, high = item.scale or (0, 100)
            columns[item.code] = np.round(rng.uniform(low, high, n), 1).tolist()
        elif item.kind == "single":
            columns[item.code] = [item.choices[i] for i in rng.integers(0, len(item.choices), n)]
        elif item.kind == "multiple":
            columns[item.code] = [
                [c for c in item.choices if rng.random() < 0.4] or [item.choices[0]] for _ in range(n)
            ]
        else:
            columns[item.code] = [
                str(COMMENTS[rng.integers(0, len(COMMENTS))]) if rng.random() < text_rate else None
                for _ in range(n)
            ]
    rows = []
    for i in range(n):
        row = {}
        for code, values in columns.items():
            value = values[i]
            if value is not None:
                row[code] = value
        rows.append(row)
    return rows


# --- the demo organisation's surveys -------------------------------------------------------------------

#: standardised weights of the six CRM components on success in the demo (study §1 found all six significant;
#: the demo plants a clear order so the Friedman ranking and the paths have something to show)
DEMO_PATHS = {
    ("success", "loyalty"): 0.30,
    ("success", "quality"): 0.25,
    ("success", "interaction"): 0.20,
    ("success", "demands"): 0.12,
    ("success", "orientation"): 0.10,
    ("success", "flexibility"): 0.05,
}
#: SERVQUAL gaps (perception - expectation, scale points) in the first and the second wave: service improved
DEMO_GAPS = (
    {"tangibles": -0.6, "reliability": -1.6, "responsiveness": -1.3, "assurance": -0.8, "empathy": -1.0},
    {"tangibles": -0.5, "reliability": -1.0, "responsiveness": -0.9, "assurance": -0.7, "empathy": -0.9},
)
#: fewer complete answers than this and the demo leaves the analysis to the user
DEMO_MIN_ANALYSED = 60


def _answer_all(session, clock, rng, links, answers, *, start, days: float) -> int:
    from patron.surveys import service as surveys_service

    moments = sorted(start + timedelta(seconds=float(s)) for s in rng.uniform(0, days * 86400, len(answers)))
    for link, row, moment in zip(links, answers, moments, strict=False):
        clock.set(moment)
        surveys_service.submit_invite(session, token=link.token, answers=row)
    return min(len(links), len(answers))


def seed_demo_surveys(session, *, org_id: int, customer_ids: list[int], clock, anchor, seed: int) -> dict[str, int]:
    """Three surveys for the demo, answered by demo customers through their personal links on the simulated
    clock: the six-component CRM success questionnaire (answered last month, with a CB-SEM and a PLS analysis),
    SERVQUAL repeated every six months (two waves, the second with smaller gaps) and an NPS pulse."""
    from patron.surveys import service as surveys_service

    rng = np.random.default_rng(seed)
    ids = list(customer_ids)
    counts = {"surveys": 0, "survey_responses": 0, "survey_analyses": 0}

    def pick(share: float) -> list[int]:
        k = int(len(ids) * share)
        return [int(i) for i in rng.choice(ids, size=k, replace=False)] if k else []

    def survey(template: str, name: str, opened, **extra):
        clock.set(opened)
        created = surveys_service.create_survey(session, org_id=org_id, actor_id=None, name=name,
                                                template=template, **extra)
        surveys_service.set_status(session, org_id=org_id, actor_id=None, survey_id=created.id, status="open")
        counts["surveys"] += 1
        return created

    # 1. CRM success model, answered over three weeks a month ago
    opened = anchor - timedelta(days=52)
    crm = survey("crm_success", "Rider experience survey", opened)
    q = surveys_service.questionnaire(crm)
    links = surveys_service.create_invites(session, org_id=org_id, actor_id=None, survey_id=crm.id,
                                           customer_ids=pick(0.30))
    answered = links[: int(len(links) * 0.6)]
    rows = planted_answers(q, len(answered), seed=int(rng.integers(1 << 30)), paths=DEMO_PATHS)
    counts["survey_responses"] += _answer_all(session, clock, rng, answered, rows, start=opened, days=21)
    if len(answered) >= DEMO_MIN_ANALYSED:
        clock.set(anchor - timedelta(days=28))
        for method, name in (("cb-sem", "CRM success model (CB-SEM)"), ("pls", "CRM success model (PLS-SEM)")):
            surveys_service.run_analysis(session, org_id=org_id, actor_id=None, survey_id=crm.id, method=method,
                                         name=name, n_boot=200, seed=1)
            counts["survey_analyses"] += 1

    # 2. SERVQUAL every six months: two waves
    first = anchor - timedelta(days=200)
    sq = survey("servqual", "Service quality (SERVQUAL)", first, wave_interval_days=182)
    q = surveys_service.questionnaire(sq)
    for wave, (gaps, start) in enumerate(zip(DEMO_GAPS, (first, first + timedelta(days=182)), strict=True)):
        if wave:
            clock.set(start)
            surveys_service.open_wave(session, org_id=org_id, actor_id=None, survey_id=sq.id,
                                      label="Second half-year")
        links = surveys_service.create_invites(session, org_id=org_id, actor_id=None, survey_id=sq.id,
                                               customer_ids=pick(0.12))
        answered = links[: int(len(links) * 0.55)]
        rows = planted_answers(q, len(answered), seed=int(rng.integers(1 << 30)), servqual_gaps=gaps)
        counts["survey_responses"] += _answer_all(session, clock, rng, answered, rows, start=start, days=14)

    # 3. an NPS pulse, still open
    opened = anchor - timedelta(days=30)
    pulse = survey("nps", "Monthly NPS pulse", opened)
    q = surveys_service.questionnaire(pulse)
    links = surveys_service.create_invites(session, org_id=org_id, actor_id=None, survey_id=pulse.id,
                                           customer_ids=pick(0.25))
    answered = links[: int(len(links) * 0.45)]
    rows = planted_answers(q, len(answered), seed=int(rng.integers(1 << 30)))
    counts["survey_responses"] += _answer_all(session, clock, rng, answered, rows, start=opened, days=29)
    clock.set(anchor)
    return counts
