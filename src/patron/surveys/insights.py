"""What a survey's answers say: the summary figures, stored analyses and the comparison of two waves.

:mod:`patron.surveys.service` re-exports these; other domains use the service.
"""

from __future__ import annotations

import re

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core import audit
from patron.core.errors import Invalid, NotFound
from patron.surveys import figures
from patron.surveys.definition import default_model, scale_of, servqual_spec
from patron.surveys.models import ANALYSIS_METHODS, SurveyAnalysis, SurveyInvite, SurveyResponse
from patron.surveys.store import (
    csat_item,
    get_survey_or_raise,
    get_wave_by_number,
    list_waves,
    nps_item,
    questionnaire,
    responses_frame,
    wave_or_raise,
)

MIN_ANALYSIS_RESPONSES = 10
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def survey_summary(session: Session, *, org_id: int, survey_id: int) -> dict:
    """Counts of invites, opens and answers (over all waves and per wave), the NPS of the first NPS item and
    the mean of each construct's items (reverse items recoded)."""
    survey = get_survey_or_raise(session, org_id=org_id, survey_id=survey_id)
    q = questionnaire(survey)

    def invite_count(*conditions) -> int:
        return session.scalar(
            select(func.count(SurveyInvite.id)).where(
                SurveyInvite.org_id == org_id, SurveyInvite.survey_id == survey.id, *conditions
            )
        ) or 0

    invited = invite_count()
    opened = invite_count(SurveyInvite.opened_at.is_not(None))
    responded = invite_count(SurveyInvite.responded_at.is_not(None))
    invites_by_wave = dict(
        session.execute(
            select(SurveyInvite.wave_id, func.count(SurveyInvite.id))
            .where(SurveyInvite.org_id == org_id, SurveyInvite.survey_id == survey.id)
            .group_by(SurveyInvite.wave_id)
        ).all()
    )
    responses_by_wave = dict(
        session.execute(
            select(SurveyResponse.wave_id, func.count(SurveyResponse.id))
            .where(SurveyResponse.org_id == org_id, SurveyResponse.survey_id == survey.id)
            .group_by(SurveyResponse.wave_id)
        ).all()
    )
    waves = [
        {"number": w.number, "label": w.label, "opened_at": w.opened_at, "closed_at": w.closed_at,
         "invited": invites_by_wave.get(w.id, 0), "responses": responses_by_wave.get(w.id, 0)}
        for w in list_waves(session, org_id=org_id, survey_id=survey.id)
    ]
    frame = responses_frame(session, org_id=org_id, survey_id=survey.id)
    nps_code = nps_item(q)
    nps_summary = figures.nps_counts(frame[nps_code]) if nps_code is not None else None
    return {
        "invited": invited,
        "opened": opened,
        "responded": responded,
        "response_rate": round(responded / invited, 4) if invited else None,
        "responses": int(sum(responses_by_wave.values())),
        "waves": waves,
        "nps": nps_summary,
        "construct_means": figures.construct_means(q, frame),
    }


def _model_columns(model: str, codes: list[str]) -> list[str]:
    """Item codes named in a model text, in questionnaire order."""
    named = set(_IDENT_RE.findall(model))
    return [c for c in codes if c in named]


def run_analysis(
    session: Session,
    *,
    org_id: int,
    actor_id: int | None,
    survey_id: int,
    method: str = "cb-sem",
    model: str | None = None,
    wave_id: int | None = None,
    name: str = "",
    n_boot: int = 500,
    seed: int = 1,
) -> SurveyAnalysis:
    """Fit the survey's model (or ``model``) to its answers (of one wave, or all) and store the result.

    Needs at least :data:`MIN_ANALYSIS_RESPONSES` responses that answer every item the model names
    (Invalid naming ``responses``); a model or data the statistics refuse is Invalid naming ``model`` or
    the column."""
    from patron.stats import StatsInputError
    from patron.surveys.analysis import AnalysisSpec, analyze

    if method not in ANALYSIS_METHODS:
        raise Invalid(f"Unknown method '{method}'; choose one of {', '.join(ANALYSIS_METHODS)}.", field="method")
    survey = get_survey_or_raise(session, org_id=org_id, survey_id=survey_id)
    if wave_id is not None:
        wave_or_raise(session, org_id=org_id, survey_id=survey.id, wave_id=wave_id, field="wave")
    q = questionnaire(survey)
    model_text = (model if model is not None else default_model(q)).strip()
    if not model_text:
        raise Invalid("There is no model: give one, or group at least two items under a construct.", field="model")
    if len(model_text) > 20_000:
        raise Invalid("The model is at most 20000 characters.", field="model")
    numeric = [item.code for item in q.items() if item.kind in ("likert", "nps", "number")]
    used = _model_columns(model_text, numeric)
    if not used:
        raise Invalid("The model names none of the questionnaire's numeric items.", field="model")
    frame = responses_frame(session, org_id=org_id, survey_id=survey.id, wave_id=wave_id)
    data = frame[numeric].astype(float) if len(frame) else pd.DataFrame(columns=numeric, dtype=float)
    data = data.dropna(subset=used).reset_index(drop=True)
    if len(data) < MIN_ANALYSIS_RESPONSES:
        raise Invalid(f"{len(data)} complete response(s); an analysis needs at least {MIN_ANALYSIS_RESPONSES}.",
                      field="responses")
    scale = scale_of(q)
    nps_code = nps_item(q)
    csat_code = csat_item(q)
    servqual = servqual_spec(q)
    title = (name or "").strip()[:200] or f"{survey.name}: analysis"
    spec = AnalysisSpec(
        model=model_text, method=method, scale=scale, midpoint=(sum(scale) / 2 if scale else None),
        n_boot=n_boot, seed=seed, nps=nps_code, csat=csat_code, servqual=servqual, title=title,
    )
    try:
        result = analyze(data, spec)
    except StatsInputError as exc:
        column = getattr(exc, "column", None)
        raise Invalid(str(exc), field=column if column else "model") from None
    options = {"n_boot": n_boot, "seed": seed, "scale": list(scale) if scale else None, "nps": nps_code,
               "csat": csat_code, "servqual": servqual is not None}
    analysis = SurveyAnalysis(org_id=org_id, survey_id=survey.id, wave_id=wave_id, name=title, method=method,
                              model=model_text, options=options, n=len(data), result=audit.jsonable(result),
                              created_by_id=actor_id)
    session.add(analysis)
    session.flush()
    return analysis


def get_analysis_or_raise(session: Session, *, org_id: int, analysis_id: int) -> SurveyAnalysis:
    analysis = session.scalar(
        select(SurveyAnalysis).where(SurveyAnalysis.org_id == org_id, SurveyAnalysis.id == analysis_id)
    )
    if analysis is None:
        raise NotFound(f"No analysis {analysis_id}.", field="analysis_id")
    return analysis


def list_analyses(session: Session, *, org_id: int, survey_id: int) -> list[SurveyAnalysis]:
    """The survey's stored analyses, newest first."""
    survey = get_survey_or_raise(session, org_id=org_id, survey_id=survey_id)
    return list(
        session.scalars(
            select(SurveyAnalysis)
            .where(SurveyAnalysis.org_id == org_id, SurveyAnalysis.survey_id == survey.id)
            .order_by(SurveyAnalysis.created_at.desc(), SurveyAnalysis.id.desc())
        )
    )


def delete_analysis(session: Session, *, org_id: int, actor_id: int | None, analysis_id: int) -> None:
    session.delete(get_analysis_or_raise(session, org_id=org_id, analysis_id=analysis_id))
    session.flush()


def compare_waves(session: Session, *, org_id: int, survey_id: int, wave_a: int, wave_b: int) -> dict:
    """Construct means of two waves (by number) with Welch's t-test of each difference (``diff`` = b - a),
    and the SERVQUAL gap change when the questionnaire has SERVQUAL pairs."""
    survey = get_survey_or_raise(session, org_id=org_id, survey_id=survey_id)
    q = questionnaire(survey)
    frames = {}
    for field, number in (("wave_a", wave_a), ("wave_b", wave_b)):
        wave = get_wave_by_number(session, org_id=org_id, survey_id=survey.id, number=number)
        if wave is None:
            raise NotFound(f"The survey has no wave {number}.", field=field)
        frame = responses_frame(session, org_id=org_id, survey_id=survey.id, wave_id=wave.id)
        if len(frame) < 2:
            raise Invalid(f"Wave {number} has {len(frame)} response(s); a comparison needs at least 2.", field=field)
        frames[field] = frame
    result = figures.compare_frames(q, frames["wave_a"], frames["wave_b"])
    return audit.jsonable({"wave_a": wave_a, "wave_b": wave_b, **result})
