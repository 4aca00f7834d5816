"""Reading surveys and their waves and answers: the lookups every surveys module builds on (scoped by
``org_id``; another organisation's survey answers :class:`NotFound`).

:mod:`patron.surveys.service` re-exports these; other domains use the service.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.core.errors import NotFound
from patron.surveys.answers import StoredAnswers, answers_frame
from patron.surveys.definition import Questionnaire, parse_questionnaire
from patron.surveys.models import Survey, SurveyResponse, SurveyWave


def get_survey(session: Session, *, org_id: int, survey_id: int) -> Survey | None:
    return session.scalar(select(Survey).where(Survey.org_id == org_id, Survey.id == survey_id))


def get_survey_or_raise(session: Session, *, org_id: int, survey_id: int, field: str = "survey_id") -> Survey:
    """The survey, or NotFound (also when it belongs to another organisation)."""
    survey = get_survey(session, org_id=org_id, survey_id=survey_id)
    if survey is None:
        raise NotFound(f"No survey {survey_id}.", field=field)
    return survey


def questionnaire(survey: Survey) -> Questionnaire:
    """The survey's questionnaire, parsed."""
    return parse_questionnaire(survey.definition or {})


def current_wave(session: Session, *, org_id: int, survey_id: int) -> SurveyWave | None:
    """The open wave (``closed_at`` is None), or None."""
    return session.scalar(
        select(SurveyWave)
        .where(SurveyWave.org_id == org_id, SurveyWave.survey_id == survey_id, SurveyWave.closed_at.is_(None))
        .order_by(SurveyWave.number.desc())
        .limit(1)
    )


def list_waves(session: Session, *, org_id: int, survey_id: int) -> list[SurveyWave]:
    """The survey's waves by number."""
    return list(
        session.scalars(
            select(SurveyWave)
            .where(SurveyWave.org_id == org_id, SurveyWave.survey_id == survey_id)
            .order_by(SurveyWave.number)
        )
    )


def get_wave_by_number(session: Session, *, org_id: int, survey_id: int, number: int) -> SurveyWave | None:
    """Wave ``number`` (1, 2, ...) of the survey, or None."""
    return session.scalar(
        select(SurveyWave).where(
            SurveyWave.org_id == org_id, SurveyWave.survey_id == survey_id, SurveyWave.number == number
        )
    )


def wave_or_raise(session: Session, *, org_id: int, survey_id: int, wave_id: int, field: str) -> SurveyWave:
    """The survey's wave with this id, or NotFound naming ``field``."""
    wave = session.scalar(
        select(SurveyWave).where(
            SurveyWave.org_id == org_id, SurveyWave.survey_id == survey_id, SurveyWave.id == wave_id
        )
    )
    if wave is None:
        raise NotFound(f"The survey has no wave {wave_id}.", field=field)
    return wave


def add_wave(session: Session, survey: Survey, *, now: datetime, label: str = "") -> SurveyWave:
    """Open the survey's next wave (the highest number + 1); closing the current one is the caller's part."""
    highest = session.scalar(
        select(func.max(SurveyWave.number)).where(
            SurveyWave.org_id == survey.org_id, SurveyWave.survey_id == survey.id
        )
    ) or 0
    wave = SurveyWave(org_id=survey.org_id, survey_id=survey.id, number=highest + 1,
                      label=(label or "").strip()[:120], opened_at=now)
    session.add(wave)
    session.flush()
    return wave


def nps_item(q: Questionnaire) -> str | None:
    """The code of the first NPS item, or None."""
    return next((item.code for item in q.items() if item.kind == "nps"), None)


def csat_item(q: Questionnaire) -> str | None:
    """The CSAT rating: a likert item coded ``csat`` (as in the CSAT template), else None."""
    item = q.item("csat")
    return item.code if item is not None and item.kind == "likert" else None


def stored_answers(
    session: Session, *, org_id: int, survey_id: int, wave_id: int | None = None
) -> list[StoredAnswers]:
    """The survey's responses (of one wave) with their wave numbers, oldest first."""
    query = (
        select(SurveyResponse, SurveyWave.number)
        .join(SurveyWave, SurveyWave.id == SurveyResponse.wave_id)
        .where(SurveyResponse.org_id == org_id, SurveyResponse.survey_id == survey_id)
    )
    if wave_id is not None:
        query = query.where(SurveyResponse.wave_id == wave_id)
    rows = session.execute(query.order_by(SurveyResponse.submitted_at, SurveyResponse.id))
    return [
        StoredAnswers(response_id=r.id, customer_id=r.customer_id, wave=number, submitted_at=r.submitted_at,
                      answers=r.answers or {}, source=r.source)
        for r, number in rows
    ]


def responses_frame(session: Session, *, org_id: int, survey_id: int, wave_id: int | None = None) -> pd.DataFrame:
    """One row per response, oldest first: ``response_id, customer_id, wave`` (number), ``submitted_at``, then
    every item code (numbers as floats with reverse coding applied; choices and texts as text; multiple
    choices as ``"a; b"``)."""
    survey = get_survey_or_raise(session, org_id=org_id, survey_id=survey_id)
    if wave_id is not None:
        wave_or_raise(session, org_id=org_id, survey_id=survey.id, wave_id=wave_id, field="wave_id")
    return answers_frame(questionnaire(survey), stored_answers(session, org_id=org_id, survey_id=survey.id,
                                                                wave_id=wave_id))
