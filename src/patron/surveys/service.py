"""Surveys: questionnaires, waves, personal invitations, answers and stored analyses. The only module
that queries the surveys tables.

Every read and write is scoped by ``org_id``; another organisation's survey answers :class:`NotFound`.
The public answer flow (:func:`open_invite`, :func:`submit_invite`) takes no organisation: the invite's
token is the credential, and it is stored only as its SHA-256.

Turning answers into tables (the analysis frame, CSV export, checking a CSV import) is done by the pure
functions of :mod:`patron.surveys.answers`.

The customer hooks at the end (:func:`reassign_customer`, :func:`erase_customer`,
:func:`export_customer`) are called by the customers domain on merge, erasure and privacy export.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.core import audit
from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid, NotFound
from patron.core.security import new_secret, secret_hash
from patron.customers import service as customers_service
from patron.customers.search import CustomerFilters
from patron.surveys.answers import StoredAnswers, answers_csv, answers_frame, read_answers_csv
from patron.surveys.definition import (
    Questionnaire,
    changes_shape,
    clean_answers,
    construct_items,
    default_model,
    parse_questionnaire,
    scale_of,
    servqual_spec,
)
from patron.surveys.models import (
    ANALYSIS_METHODS,
    INVITE_TOKEN_PREFIX,
    RESPONSE_SOURCES,
    SURVEY_STATUSES,
    Survey,
    SurveyAnalysis,
    SurveyInvite,
    SurveyResponse,
    SurveyWave,
)

TOKEN_PREFIX_LENGTH = 12
MAX_WAVE_INTERVAL_DAYS = 3650
MIN_ANALYSIS_RESPONSES = 10
UPDATABLE_FIELDS = ("name", "description", "definition", "wave_interval_days")
RESPONSE_REF = "survey_response"
SURVEY_REF = "survey"
_TOKEN_RE = re.compile(rf"^{INVITE_TOKEN_PREFIX}_[A-Za-z0-9_-]{{20,80}}$")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# --- templates -------------------------------------------------------------------------------------


def list_templates() -> list:
    """The ready questionnaires a survey can start from (:data:`patron.surveys.templates.TEMPLATES`)."""
    from patron.surveys.templates import TEMPLATES

    return list(TEMPLATES.values())


def _template_questionnaire(key: str) -> dict:
    from patron.surveys.templates import get_template

    return get_template(key).questionnaire


# --- surveys ---------------------------------------------------------------------------------------


def _clean_name(name: Any) -> str:
    text = (name or "").strip() if isinstance(name, str) else ""
    if not text:
        raise Invalid("The name must not be blank.", field="name")
    if len(text) > 200:
        raise Invalid("The name is at most 200 characters.", field="name")
    return text


def _clean_description(description: Any) -> str:
    if description is None:
        return ""
    if not isinstance(description, str):
        raise Invalid("The description must be text.", field="description")
    if len(description) > 5000:
        raise Invalid("The description is at most 5000 characters.", field="description")
    return description.strip()


def _clean_interval(days: Any) -> int | None:
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_WAVE_INTERVAL_DAYS:
        raise Invalid(f"Repeat every 1 to {MAX_WAVE_INTERVAL_DAYS} days, or null for no repeat.",
                      field="wave_interval_days")
    return days


def _stored(q: Questionnaire) -> dict:
    return q.model_dump(mode="json")


def create_survey(
    session: Session,
    *,
    org_id: int,
    actor_id: int | None,
    name: str,
    description: str = "",
    template: str | None = None,
    definition: Any = None,
    wave_interval_days: int | None = None,
) -> Survey:
    """A draft survey. ``template`` (a key of :data:`~patron.surveys.templates.TEMPLATES`) fills the
    questionnaire when ``definition`` is None; with neither the questionnaire starts empty."""
    name = _clean_name(name)
    description = _clean_description(description)
    interval = _clean_interval(wave_interval_days)
    if template is not None and definition is None:
        definition = _template_questionnaire(template)
    q = parse_questionnaire(definition if definition is not None else {})
    now = utcnow()
    survey = Survey(
        org_id=org_id,
        name=name,
        description=description,
        template=template or "custom",
        status="draft",
        definition=_stored(q),
        wave_interval_days=interval,
        created_by_id=actor_id,
        created_at=now,
        updated_at=now,
    )
    session.add(survey)
    session.flush()
    return survey


def get_survey(session: Session, *, org_id: int, survey_id: int) -> Survey | None:
    return session.scalar(select(Survey).where(Survey.org_id == org_id, Survey.id == survey_id))


def get_survey_or_raise(session: Session, *, org_id: int, survey_id: int, field: str = "survey_id") -> Survey:
    """The survey, or NotFound (also when it belongs to another organisation)."""
    survey = get_survey(session, org_id=org_id, survey_id=survey_id)
    if survey is None:
        raise NotFound(f"No survey {survey_id}.", field=field)
    return survey


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def list_surveys(
    session: Session, *, org_id: int, status: str | None = None, q: str | None = None, limit: int = 50,
    offset: int = 0,
) -> tuple[list[Survey], int]:
    """Surveys newest first, optionally of one status or with ``q`` in the name; and the total that match."""
    query = select(Survey).where(Survey.org_id == org_id)
    if status is not None:
        _check_status(status)
        query = query.where(Survey.status == status)
    text = (q or "").strip()
    if text:
        query = query.where(func.lower(Survey.name).like(_like(text.lower()), escape="\\"))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Survey.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def questionnaire(survey: Survey) -> Questionnaire:
    """The survey's questionnaire, parsed."""
    return parse_questionnaire(survey.definition or {})


def _check_status(status: Any) -> str:
    if status not in SURVEY_STATUSES:
        raise Invalid(f"Unknown status '{status}'; choose one of {', '.join(SURVEY_STATUSES)}.", field="status")
    return status


def _response_count(session: Session, *, org_id: int, survey_id: int, wave_id: int | None = None) -> int:
    query = select(func.count(SurveyResponse.id)).where(
        SurveyResponse.org_id == org_id, SurveyResponse.survey_id == survey_id
    )
    if wave_id is not None:
        query = query.where(SurveyResponse.wave_id == wave_id)
    return session.scalar(query) or 0


def update_survey(
    session: Session, *, org_id: int, actor_id: int | None, survey_id: int, changes: dict[str, Any]
) -> Survey:
    """Change the name, description, questionnaire or repeat interval.

    Once answers exist, a questionnaire change that would make them mean something else (an item removed,
    or its kind, scale, choices or reverse flag changed) is refused with Conflict naming ``definition``;
    wording, new items and new sections are fine."""
    survey = get_survey_or_raise(session, org_id=org_id, survey_id=survey_id)
    unknown = sorted(set(changes) - set(UPDATABLE_FIELDS))
    if unknown:
        raise Invalid(f"{unknown[0]} cannot be changed here.", field=unknown[0])
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = _clean_name(changes["name"])
    if "description" in changes:
        values["description"] = _clean_description(changes["description"])
    if "wave_interval_days" in changes:
        values["wave_interval_days"] = _clean_interval(changes["wave_interval_days"])
    if "definition" in changes:
        new = parse_questionnaire(changes["definition"] if changes["definition"] is not None else {})
        if _response_count(session, org_id=org_id, survey_id=survey.id):
            changed = changes_shape(questionnaire(survey), new)
            if changed:
                raise Conflict(
                    f"The survey has answers; item(s) {', '.join(changed[:10])} cannot be removed or change their "
                    "kind, scale, choices or reverse coding. Copy the survey to ask differently.",
                    field="definition",
                    code="definition_locked",
                )
        values["definition"] = _stored(new)
    for key, value in values.items():
        setattr(survey, key, value)
    if "wave_interval_days" in values:
        _schedule_next_wave(session, survey)
    survey.updated_at = utcnow()
    session.flush()
    return survey


def _schedule_next_wave(session: Session, survey: Survey, *, now: datetime | None = None) -> None:
    """``next_wave_at`` = the current wave's opening + the interval, while the survey is open and repeats."""
    if survey.status != "open" or not survey.wave_interval_days:
        survey.next_wave_at = None
        return
    wave = current_wave(session, org_id=survey.org_id, survey_id=survey.id)
    start = wave.opened_at if wave is not None else (now or utcnow())
    survey.next_wave_at = start + timedelta(days=survey.wave_interval_days)


def set_status(session: Session, *, org_id: int, actor_id: int | None, survey_id: int, status: str) -> Survey:
    """Open a draft (at least one item; wave 1 opens), close an open survey (its wave closes) or re-open a
    closed one (a new wave). Any other move is a Conflict."""
    _check_status(status)
    survey = get_survey_or_raise(session, org_id=org_id, survey_id=survey_id)
    move = (survey.status, status)
    now = utcnow()
    if move == ("draft", "open"):
        if not questionnaire(survey).items():
            raise Conflict("The questionnaire has no items yet; add at least one before opening.",
                           field="definition", code="no_items")
        survey.status = "open"
        if current_wave(session, org_id=org_id, survey_id=survey.id) is None:
            _add_wave(session, survey, now=now)
    elif move == ("open", "closed"):
        wave = current_wave(session, org_id=org_id, survey_id=survey.id)
        if wave is not None:
            wave.closed_at = now
        survey.status = "closed"
    elif move == ("closed", "open"):
        survey.status = "open"
        _add_wave(session, survey, now=now)
    else:
        raise Conflict(f"A {survey.status} survey cannot become {status}.", field="status",
                       code="status_change")
    survey.updated_at = now
    session.flush()
    _schedule_next_wave(session, survey, now=now)
    session.flush()
    return survey


def delete_survey(session: Session, *, org_id: int, actor_id: int | None, survey_id: int) -> None:
    """Delete the survey with its waves, invites, answers, analyses and the timeline entries about them."""
    survey = get_survey_or_raise(session, org_id=org_id, survey_id=survey_id)
    response_ids = session.scalars(
        select(SurveyResponse.id).where(SurveyResponse.org_id == org_id, SurveyResponse.survey_id == survey.id)
    ).all()
    for response_id in response_ids:
        customers_service.delete_timeline_entries(session, org_id=org_id, ref_type=RESPONSE_REF, ref_id=response_id)
    customers_service.delete_timeline_entries(session, org_id=org_id, ref_type=SURVEY_REF, ref_id=survey.id)
    for model in (SurveyAnalysis, SurveyResponse, SurveyInvite, SurveyWave):
        for row in session.scalars(select(model).where(model.org_id == org_id, model.survey_id == survey.id)):
            session.delete(row)
        session.flush()
    session.delete(survey)
    session.flush()


# --- waves -----------------------------------------------------------------------------------------


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
    return session.scalar(
        select(SurveyWave).where(
            SurveyWave.org_id == org_id, SurveyWave.survey_id == survey_id, SurveyWave.number == number
        )
    )


def _wave_or_raise(session: Session, *, org_id: int, survey_id: int, wave_id: int, field: str) -> SurveyWave:
    wave = session.scalar(
        select(SurveyWave).where(
            SurveyWave.org_id == org_id, SurveyWave.survey_id == survey_id, SurveyWave.id == wave_id
        )
    )
    if wave is None:
        raise NotFound(f"The survey has no wave {wave_id}.", field=field)
    return wave


def _add_wave(session: Session, survey: Survey, *, now: datetime, label: str = "") -> SurveyWave:
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


def open_wave(session: Session, *, org_id: int, actor_id: int | None, survey_id: int, label: str = "") -> SurveyWave:
    """Close the current wave and open the next one (the survey must be open)."""
    survey = get_survey_or_raise(session, org_id=org_id, survey_id=survey_id)
    if survey.status != "open":
        raise Conflict(f"The survey is {survey.status}; open it first.", field="status", code="survey_not_open")
    if label is not None and len(label) > 120:
        raise Invalid("The label is at most 120 characters.", field="label")
    return _next_wave(session, survey, now=utcnow(), label=label or "")


def _next_wave(session: Session, survey: Survey, *, now: datetime, label: str = "") -> SurveyWave:
    wave = current_wave(session, org_id=survey.org_id, survey_id=survey.id)
    if wave is not None:
        wave.closed_at = now
        session.flush()
    wave = _add_wave(session, survey, now=now, label=label)
    _schedule_next_wave(session, survey, now=now)
    survey.updated_at = now
    session.flush()
    return wave


def open_due_waves(session: Session, *, now: datetime | None = None) -> int:
    """Scheduler job: every open, repeating survey whose ``next_wave_at`` has come gets a new wave, and
    ``next_wave_at`` moves on by the interval (past ``now``, if the job was not run for a while).
    Returns how many waves were opened."""
    now = now or utcnow()
    due = list(
        session.scalars(
            select(Survey)
            .where(Survey.status == "open", Survey.next_wave_at.is_not(None), Survey.next_wave_at <= now)
            .order_by(Survey.id)
        )
    )
    opened = 0
    for survey in due:
        if not survey.wave_interval_days:
            survey.next_wave_at = None
            continue
        planned = survey.next_wave_at
        _next_wave(session, survey, now=now)
        step = timedelta(days=survey.wave_interval_days)
        following = planned + step
        while following <= now:
            following += step
        survey.next_wave_at = following
        opened += 1
    session.flush()
    return opened


# --- invites ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InviteLink:
    """A new personal answer link; the token exists only here (the invite keeps its hash)."""

    invite_id: int
    customer_id: int
    customer_name: str
    email: str | None
    token: str
    path: str


def _require_open(survey: Survey) -> None:
    if survey.status != "open":
        raise Conflict(f"The survey is {survey.status}; it must be open.", field="status", code="survey_not_open")


def create_invites(
    session: Session,
    *,
    org_id: int,
    actor_id: int | None,
    survey_id: int,
    customer_ids: list[int] | None = None,
    filters: CustomerFilters | None = None,
    limit: int = 10_000,
) -> list[InviteLink]:
    """Personal answer links for the current wave: for the given customers, or every customer matching
    ``filters``. Erased and merged customers, and customers already invited in this wave, are skipped."""
    survey = get_survey_or_raise(session, org_id=org_id, survey_id=survey_id)
    _require_open(survey)
    if customer_ids is None and filters is None:
        raise Invalid("Give customer_ids or filters to choose who is invited.", field="customer_ids")
    wave = current_wave(session, org_id=org_id, survey_id=survey.id)
    if wave is None:  # an open survey always has one; be safe for data made by hand
        wave = _add_wave(session, survey, now=utcnow())
    if customer_ids is not None:
        audience = []
        for customer_id in dict.fromkeys(customer_ids):
            customer = customers_service.get_customer(session, org_id=org_id, customer_id=customer_id,
                                                      include_merged=True)
            if customer is None:
                raise NotFound(f"No customer {customer_id}.", field="customer_ids")
            if customer.merged_into_id is None and customer.erased_at is None:
                audience.append(customer)
    else:
        assert filters is not None
        chosen = CustomerFilters(**{**filters.__dict__, "include_erased": False})
        audience = []
        for batch in customers_service.iter_customer_batches(session, org_id=org_id, filters=chosen):
            audience.extend(batch)
            if len(audience) >= limit:
                break
    invited = set(
        session.scalars(
            select(SurveyInvite.customer_id).where(SurveyInvite.org_id == org_id, SurveyInvite.wave_id == wave.id)
        )
    )
    links: list[InviteLink] = []
    now = utcnow()
    for customer in audience[:limit]:
        if customer.id in invited:
            continue
        token = new_secret(INVITE_TOKEN_PREFIX)
        invite = SurveyInvite(org_id=org_id, survey_id=survey.id, wave_id=wave.id, customer_id=customer.id,
                              token_prefix=token[:TOKEN_PREFIX_LENGTH], token_hash=secret_hash(token),
                              created_at=now, created_by_id=actor_id)
        session.add(invite)
        session.flush()
        customers_service.record_timeline(
            session, org_id=org_id, customer_id=customer.id, kind="survey.invited",
            summary=f"Invited to {survey.name}", ref_type=SURVEY_REF, ref_id=survey.id, occurred_at=now,
            data={"survey_id": survey.id, "wave": wave.number}, actor_user_id=actor_id,
        )
        invited.add(customer.id)
        links.append(InviteLink(invite_id=invite.id, customer_id=customer.id,
                                customer_name=customers_service.display_name(customer), email=customer.email,
                                token=token, path=f"/s/{token}"))
    session.flush()
    return links


def list_invites(
    session: Session, *, org_id: int, survey_id: int, wave_id: int | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[SurveyInvite], int]:
    """The survey's invites (of one wave), oldest first, and the total."""
    survey = get_survey_or_raise(session, org_id=org_id, survey_id=survey_id)
    query = select(SurveyInvite).where(SurveyInvite.org_id == org_id, SurveyInvite.survey_id == survey.id)
    if wave_id is not None:
        _wave_or_raise(session, org_id=org_id, survey_id=survey.id, wave_id=wave_id, field="wave_id")
        query = query.where(SurveyInvite.wave_id == wave_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(SurveyInvite.id).limit(limit).offset(offset))
    return list(rows), total


# --- the public answer flow ------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicForm:
    """What a respondent's link shows."""

    survey: Survey
    questionnaire: Questionnaire
    invite: SurveyInvite
    wave: SurveyWave
    first_name: str
    answered: bool
    closed: bool


def _invite_by_token(session: Session, token: Any) -> SurveyInvite:
    if not isinstance(token, str) or not _TOKEN_RE.match(token):
        raise NotFound("This survey link is not valid.", field="token")
    invite = session.scalar(select(SurveyInvite).where(SurveyInvite.token_hash == secret_hash(token)))
    if invite is None:
        raise NotFound("This survey link is not valid.", field="token")
    return invite


def _invite_context(session: Session, invite: SurveyInvite) -> tuple[Survey, SurveyWave]:
    survey = get_survey_or_raise(session, org_id=invite.org_id, survey_id=invite.survey_id, field="token")
    wave = _wave_or_raise(session, org_id=invite.org_id, survey_id=survey.id, wave_id=invite.wave_id, field="token")
    return survey, wave


def open_invite(session: Session, *, token: str) -> PublicForm:
    """The form behind a personal link. Unknown or garbled tokens answer NotFound (saying nothing about
    whether the link ever existed); a closed survey or wave gives a form with ``closed=True``. The first
    visit is recorded as ``opened_at``."""
    invite = _invite_by_token(session, token)
    survey, wave = _invite_context(session, invite)
    closed = survey.status != "open" or wave.closed_at is not None
    if invite.opened_at is None:
        invite.opened_at = utcnow()
        session.flush()
    first_name = ""
    if invite.customer_id is not None:
        customer = customers_service.get_customer(session, org_id=invite.org_id, customer_id=invite.customer_id,
                                                  include_merged=True)
        if customer is not None and customer.erased_at is None:
            first_name = customer.first_name or ""
    return PublicForm(survey=survey, questionnaire=questionnaire(survey), invite=invite, wave=wave,
                      first_name=first_name, answered=invite.responded_at is not None, closed=closed)


def _nps_item(q: Questionnaire) -> str | None:
    return next((item.code for item in q.items() if item.kind == "nps"), None)


def _csat_item(q: Questionnaire) -> str | None:
    """The CSAT rating: a likert item coded ``csat`` (as in the CSAT template), else None."""
    item = q.item("csat")
    return item.code if item is not None and item.kind == "likert" else None


def _record_answered(session: Session, *, survey: Survey, q: Questionnaire, response: SurveyResponse,
                     actor_id: int | None = None) -> None:
    if response.customer_id is None:
        return
    data: dict[str, Any] = {"survey_id": survey.id}
    nps_code = _nps_item(q)
    if nps_code is not None and nps_code in response.answers:
        data["nps"] = response.answers[nps_code]
    customers_service.record_timeline(
        session, org_id=survey.org_id, customer_id=response.customer_id, kind="survey.answered",
        summary=f"Answered {survey.name}", ref_type=RESPONSE_REF, ref_id=response.id,
        occurred_at=response.submitted_at, data=data, actor_user_id=actor_id,
    )


def submit_invite(session: Session, *, token: str, answers: dict) -> SurveyResponse:
    """Store a respondent's answers through their personal link: once per invite (Conflict
    ``already_answered``), only while the survey and the invite's wave are open (Conflict ``survey_closed``).
    Two submissions racing each other store one response: the second hits the unique invite and is answered
    with the same Conflict."""
    invite = _invite_by_token(session, token)
    survey, wave = _invite_context(session, invite)
    if _already_answered(session, invite):
        raise Conflict("These answers were already sent; thank you.", field="token", code="already_answered")
    if survey.status != "open" or wave.closed_at is not None:
        raise Conflict("This survey is closed.", field="token", code="survey_closed")
    q = questionnaire(survey)
    cleaned = clean_answers(q, answers)
    now = utcnow()
    response = SurveyResponse(org_id=invite.org_id, survey_id=survey.id, wave_id=wave.id,
                              customer_id=invite.customer_id, invite_id=invite.id, source="link",
                              answers=cleaned, submitted_at=now)
    try:
        if session.get_bind().dialect.name == "sqlite":  # no reliable savepoints; writers are serialised
            session.add(response)
            session.flush()
        else:
            with session.begin_nested():
                session.add(response)
    except IntegrityError:
        raise Conflict("These answers were already sent; thank you.", field="token",
                       code="already_answered") from None
    invite.responded_at = now
    if invite.opened_at is None:
        invite.opened_at = now
    _record_answered(session, survey=survey, q=q, response=response)
    session.flush()
    return response


def _already_answered(session: Session, invite: SurveyInvite) -> bool:
    if invite.responded_at is not None:
        return True
    return session.scalar(select(SurveyResponse.id).where(SurveyResponse.invite_id == invite.id)) is not None


def submit_response(
    session: Session,
    *,
    org_id: int,
    actor_id: int | None,
    survey_id: int,
    answers: dict,
    customer_id: int | None = None,
    source: str = "api",
) -> SurveyResponse:
    """Answers entered by staff or sent through the API, into the current wave of an open survey."""
    if source not in RESPONSE_SOURCES:
        raise Invalid(f"Unknown source '{source}'; choose one of {', '.join(RESPONSE_SOURCES)}.", field="source")
    survey = get_survey_or_raise(session, org_id=org_id, survey_id=survey_id)
    if survey.status != "open":
        raise Conflict(f"The survey is {survey.status}; answers are taken while it is open.", field="status",
                       code="survey_closed")
    if customer_id is not None:
        customers_service.get_writable_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
    q = questionnaire(survey)
    cleaned = clean_answers(q, answers)
    wave = current_wave(session, org_id=org_id, survey_id=survey.id) or _add_wave(session, survey, now=utcnow())
    response = SurveyResponse(org_id=org_id, survey_id=survey.id, wave_id=wave.id, customer_id=customer_id,
                              source=source, answers=cleaned, submitted_at=utcnow())
    session.add(response)
    session.flush()
    _record_answered(session, survey=survey, q=q, response=response, actor_id=actor_id)
    session.flush()
    return response


def list_responses(
    session: Session, *, org_id: int, survey_id: int, wave_id: int | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[SurveyResponse], int]:
    """The survey's responses (of one wave), newest first, and the total."""
    survey = get_survey_or_raise(session, org_id=org_id, survey_id=survey_id)
    query = select(SurveyResponse).where(SurveyResponse.org_id == org_id, SurveyResponse.survey_id == survey.id)
    if wave_id is not None:
        _wave_or_raise(session, org_id=org_id, survey_id=survey.id, wave_id=wave_id, field="wave_id")
        query = query.where(SurveyResponse.wave_id == wave_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(SurveyResponse.submitted_at.desc(), SurveyResponse.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), total


def _stored_answers(
    session: Session, *, org_id: int, survey_id: int, wave_id: int | None = None
) -> list[StoredAnswers]:
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
        _wave_or_raise(session, org_id=org_id, survey_id=survey.id, wave_id=wave_id, field="wave_id")
    return answers_frame(questionnaire(survey), _stored_answers(session, org_id=org_id, survey_id=survey.id,
                                                                wave_id=wave_id))


def export_responses_csv(session: Session, *, org_id: int, survey_id: int, wave_id: int | None = None) -> str:
    """The raw answers (as given, not recoded) as CSV, one row per response."""
    survey = get_survey_or_raise(session, org_id=org_id, survey_id=survey_id)
    if wave_id is not None:
        _wave_or_raise(session, org_id=org_id, survey_id=survey.id, wave_id=wave_id, field="wave_id")
    return answers_csv(questionnaire(survey), _stored_answers(session, org_id=org_id, survey_id=survey.id,
                                                              wave_id=wave_id))


def import_responses(
    session: Session, *, org_id: int, actor_id: int | None, survey_id: int, csv_text: str, partial: bool = False
) -> int:
    """Import answers from CSV (header: item codes, optionally ``customer_id`` and ``wave`` number) into the
    current wave or the wave named per row. All or nothing: any bad row is Invalid naming ``file``, with up
    to 20 row problems in ``errors``, and nothing is written. Works on open and closed surveys, not drafts.
    Returns how many responses were imported."""
    survey = get_survey_or_raise(session, org_id=org_id, survey_id=survey_id)
    if survey.status == "draft":
        raise Conflict("The survey is a draft; open it before importing answers.", field="status",
                       code="survey_not_open")
    q = questionnaire(survey)
    check = read_answers_csv(q, csv_text, partial=partial)
    waves = {w.number: w for w in list_waves(session, org_id=org_id, survey_id=survey.id)}
    current = current_wave(session, org_id=org_id, survey_id=survey.id)
    if current is None and waves:
        current = waves[max(waves)]
    customers: dict[int, bool] = {}
    for row in check.rows:
        if row.wave is not None and row.wave not in waves:
            check.add_error(row.line, "wave", f"the survey has no wave {row.wave}")
        if row.customer_id is not None:
            if row.customer_id not in customers:
                customer = customers_service.get_customer(session, org_id=org_id, customer_id=row.customer_id)
                customers[row.customer_id] = customer is not None and customer.erased_at is None
            if not customers[row.customer_id]:
                check.add_error(row.line, "customer_id", f"no customer {row.customer_id}")
    check.errors.sort(key=lambda e: e["row"])
    check.raise_if_any()
    if current is None:
        current = _add_wave(session, survey, now=utcnow())
    now = utcnow()
    for row in check.rows:
        wave = waves[row.wave] if row.wave is not None else current
        response = SurveyResponse(org_id=org_id, survey_id=survey.id, wave_id=wave.id, customer_id=row.customer_id,
                                  source="import", answers=row.answers, submitted_at=now)
        session.add(response)
        session.flush()
        _record_answered(session, survey=survey, q=q, response=response, actor_id=actor_id)
    session.flush()
    return len(check.rows)


# --- summary ---------------------------------------------------------------------------------------


def _construct_means(q: Questionnaire, frame: pd.DataFrame) -> dict[str, float]:
    means: dict[str, float] = {}
    for construct, codes in construct_items(q).items():
        present = [c for c in codes if c in frame.columns]
        if not present or frame.empty:
            continue
        scores = frame[present].astype(float).mean(axis=1, skipna=True).dropna()
        if len(scores):
            means[construct] = round(float(scores.mean()), 4)
    return means


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
    nps_summary = None
    nps_code = _nps_item(q)
    if nps_code is not None and nps_code in frame.columns:
        scores = frame[nps_code].dropna().to_numpy(dtype=float)
        if len(scores):
            promoters = int(np.sum(scores >= 9))
            detractors = int(np.sum(scores <= 6))
            n = len(scores)
            nps_summary = {"score": round(100.0 * (promoters - detractors) / n, 1), "promoters": promoters,
                           "passives": n - promoters - detractors, "detractors": detractors, "n": n}
    return {
        "invited": invited,
        "opened": opened,
        "responded": responded,
        "response_rate": round(responded / invited, 4) if invited else None,
        "responses": int(sum(responses_by_wave.values())),
        "waves": waves,
        "nps": nps_summary,
        "construct_means": _construct_means(q, frame),
    }


# --- analyses --------------------------------------------------------------------------------------


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
        _wave_or_raise(session, org_id=org_id, survey_id=survey.id, wave_id=wave_id, field="wave")
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
    nps_code = _nps_item(q)
    csat_code = _csat_item(q)
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
    from patron.stats import StatsInputError, independent_t, servqual, servqual_change

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
    constructs: dict[str, dict] = {}
    for construct, codes in construct_items(q).items():
        scores = {}
        for field, frame in frames.items():
            scores[field] = frame[codes].astype(float).mean(axis=1, skipna=True).dropna()
        if min(len(s) for s in scores.values()) < 2:
            continue
        stacked = pd.DataFrame({
            "score": pd.concat([scores["wave_b"], scores["wave_a"]], ignore_index=True),
            # sorted levels: "after" (wave b) before "before" (wave a), so the difference is b - a
            "wave": ["after"] * len(scores["wave_b"]) + ["before"] * len(scores["wave_a"]),
        })
        mean_a, mean_b = float(scores["wave_a"].mean()), float(scores["wave_b"].mean())
        row: dict[str, Any] = {"mean_a": mean_a, "mean_b": mean_b, "diff": mean_b - mean_a,
                               "n_a": len(scores["wave_a"]), "n_b": len(scores["wave_b"])}
        try:
            test = independent_t(stacked, "score", "wave")
            row.update({"t": float(test.t), "df": float(test.df), "pvalue": float(test.pvalue)})
        except StatsInputError:  # both waves constant: no test
            row.update({"t": None, "df": None, "pvalue": None})
        constructs[construct] = row
    result: dict[str, Any] = {"wave_a": wave_a, "wave_b": wave_b, "constructs": constructs, "servqual": None}
    spec = servqual_spec(q)
    if spec is not None:
        dimensions = {dim: list(zip(sides["expectation"], sides["perception"], strict=True))
                      for dim, sides in spec.items()}
        columns = [c for pairs in dimensions.values() for pair in pairs for c in pair]
        try:
            before = servqual(frames["wave_a"][columns].astype(float).dropna(), dimensions)
            after = servqual(frames["wave_b"][columns].astype(float).dropna(), dimensions)
            change = servqual_change(before, after)
            result["servqual"] = {name: {k: _finite(v) for k, v in row.items()}
                                  for name, row in change.to_dict(orient="index").items()}
        except StatsInputError as exc:
            raise Invalid(str(exc), field=getattr(exc, "column", None) or "servqual") from None
    return audit.jsonable(result)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


# --- customer hooks (merge, erasure, privacy export) -----------------------------------------------

RESPONSE_EXPORT_FIELDS = ("id", "survey_id", "wave_id", "invite_id", "source", "answers", "submitted_at")
INVITE_EXPORT_FIELDS = ("id", "survey_id", "wave_id", "token_prefix", "created_at", "opened_at", "responded_at")


def reassign_customer(session: Session, *, org_id: int, from_customer_id: int, to_customer_id: int) -> int:
    """Move a merged duplicate's responses and invites to the customer it was merged into. An invite of a
    wave the survivor was also invited to stays with the duplicate (one invite per customer and wave).
    Returns how many rows moved."""
    moved = 0
    responses = session.execute(
        update(SurveyResponse)
        .where(SurveyResponse.org_id == org_id, SurveyResponse.customer_id == from_customer_id)
        .values(customer_id=to_customer_id)
        .execution_options(synchronize_session="fetch")
    )
    moved += responses.rowcount or 0
    taken = select(SurveyInvite.wave_id).where(
        SurveyInvite.org_id == org_id, SurveyInvite.customer_id == to_customer_id
    )
    invites = session.execute(
        update(SurveyInvite)
        .where(SurveyInvite.org_id == org_id, SurveyInvite.customer_id == from_customer_id,
               SurveyInvite.wave_id.not_in(taken.scalar_subquery()))
        .values(customer_id=to_customer_id)
        .execution_options(synchronize_session="fetch")
    )
    moved += invites.rowcount or 0
    if moved:
        audit.record(session, action="reassign", entity="survey_responses", org_id=org_id,
                     before={"customer_id": from_customer_id},
                     after={"customer_id": to_customer_id, "count": moved})
    return moved


def erase_customer(session: Session, *, org_id: int, customer_id: int) -> int:
    """Keep the customer's answers for statistics but anonymous: drop text answers and demographic items,
    detach the customer; detach their invites. Returns how many responses were anonymised."""
    responses = list(
        session.scalars(
            select(SurveyResponse).where(SurveyResponse.org_id == org_id, SurveyResponse.customer_id == customer_id)
        )
    )
    questionnaires: dict[int, Questionnaire] = {}
    for response in responses:
        if response.survey_id not in questionnaires:
            survey = get_survey(session, org_id=org_id, survey_id=response.survey_id)
            questionnaires[response.survey_id] = questionnaire(survey) if survey else Questionnaire()
        q = questionnaires[response.survey_id]
        personal = {item.code for item in q.items() if item.kind == "text" or item.demographic}
        kept = {code: value for code, value in (response.answers or {}).items()
                if code not in personal and q.item(code) is not None}
        response.answers = kept
        response.customer_id = None
    session.execute(
        update(SurveyInvite)
        .where(SurveyInvite.org_id == org_id, SurveyInvite.customer_id == customer_id)
        .values(customer_id=None)
        .execution_options(synchronize_session="fetch")
    )
    session.flush()
    if responses:
        audit.record(session, action="erase", entity="survey_responses", org_id=org_id,
                     after={"customer_id": customer_id, "anonymised": len(responses)})
    return len(responses)


def export_customer(session: Session, *, org_id: int, customer_id: int) -> dict[str, list[dict]]:
    """The customer's survey answers and invitations (without tokens)."""
    responses = session.scalars(
        select(SurveyResponse)
        .where(SurveyResponse.org_id == org_id, SurveyResponse.customer_id == customer_id)
        .order_by(SurveyResponse.id)
    )
    invites = session.scalars(
        select(SurveyInvite)
        .where(SurveyInvite.org_id == org_id, SurveyInvite.customer_id == customer_id)
        .order_by(SurveyInvite.id)
    )
    return {
        "survey_responses": [
            {name: audit.jsonable(getattr(r, name)) for name in RESPONSE_EXPORT_FIELDS} for r in responses
        ],
        "survey_invites": [
            {name: audit.jsonable(getattr(i, name)) for name in INVITE_EXPORT_FIELDS} for i in invites
        ],
    }


__all__ = [
    "InviteLink",
    "PublicForm",
    "compare_waves",
    "create_invites",
    "create_survey",
    "current_wave",
    "delete_analysis",
    "delete_survey",
    "erase_customer",
    "export_customer",
    "export_responses_csv",
    "get_analysis_or_raise",
    "get_survey_or_raise",
    "import_responses",
    "list_analyses",
    "list_invites",
    "list_responses",
    "list_surveys",
    "list_templates",
    "list_waves",
    "open_due_waves",
    "open_invite",
    "open_wave",
    "questionnaire",
    "reassign_customer",
    "responses_frame",
    "run_analysis",
    "set_status",
    "submit_invite",
    "submit_response",
    "survey_summary",
    "update_survey",
]
