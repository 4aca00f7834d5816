"""Surveys: questionnaires, waves, personal invitations, answers and stored analyses; the surveys domain's
service, the one entry point for other domains, the API and the web pages.

Every read and write is scoped by ``org_id``; another organisation's survey answers :class:`NotFound`.
The public answer flow (:func:`open_invite`, :func:`submit_invite`) takes no organisation: the invite's
token is the credential, and it is stored only as its SHA-256.

The lookups live in :mod:`patron.surveys.store`, the summary, analyses and wave comparison in
:mod:`patron.surveys.insights`, the customer hooks in :mod:`patron.surveys.privacy`; this module re-exports
them, so callers need only ``from patron.surveys import service``. Turning answers into tables (the analysis
frame, CSV export, checking a CSV import) is done by the pure functions of :mod:`patron.surveys.answers`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid, NotFound
from patron.core.security import new_secret, secret_hash
from patron.customers import service as customers_service
from patron.customers.search import CustomerFilters
from patron.surveys.answers import answers_csv, read_answers_csv
from patron.surveys.definition import (
    Questionnaire,
    changes_shape,
    clean_answers,
    parse_questionnaire,
)
from patron.surveys.insights import (  # noqa: F401 - re-exported
    MIN_ANALYSIS_RESPONSES,
    compare_waves,
    delete_analysis,
    get_analysis_or_raise,
    list_analyses,
    run_analysis,
    survey_summary,
)
from patron.surveys.models import (
    INVITE_TOKEN_PREFIX,
    RESPONSE_SOURCES,
    SURVEY_STATUSES,
    Survey,
    SurveyAnalysis,
    SurveyInvite,
    SurveyResponse,
    SurveyWave,
)
from patron.surveys.privacy import (  # noqa: F401 - re-exported: the customer hooks
    erase_customer,
    export_customer,
    reassign_customer,
)
from patron.surveys.store import (  # noqa: F401 - re-exported
    add_wave,
    current_wave,
    get_survey,
    get_survey_or_raise,
    get_wave_by_number,
    list_waves,
    nps_item,
    questionnaire,
    responses_frame,
    stored_answers,
    wave_or_raise,
)

TOKEN_PREFIX_LENGTH = 12
MAX_WAVE_INTERVAL_DAYS = 3650
UPDATABLE_FIELDS = ("name", "description", "definition", "wave_interval_days")
RESPONSE_REF = "survey_response"
SURVEY_REF = "survey"
_TOKEN_RE = re.compile(rf"^{INVITE_TOKEN_PREFIX}_[A-Za-z0-9_-]{{20,80}}$")


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
        if survey.status != "draft" and not new.items():
            raise Conflict("An open or closed survey keeps at least one item.", field="definition", code="no_items")
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
            add_wave(session, survey, now=now)
    elif move == ("open", "closed"):
        wave = current_wave(session, org_id=org_id, survey_id=survey.id)
        if wave is not None:
            wave.closed_at = now
        survey.status = "closed"
    elif move == ("closed", "open"):
        survey.status = "open"
        add_wave(session, survey, now=now)
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
    wave = add_wave(session, survey, now=now, label=label)
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
        wave = add_wave(session, survey, now=utcnow())
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
    now = utcnow()
    created: list[tuple[Any, SurveyInvite, str]] = []
    for customer in audience[:limit]:
        if customer.id in invited:
            continue
        invited.add(customer.id)
        token = new_secret(INVITE_TOKEN_PREFIX)
        invite = SurveyInvite(org_id=org_id, survey_id=survey.id, wave_id=wave.id, customer_id=customer.id,
                              token_prefix=token[:TOKEN_PREFIX_LENGTH], token_hash=secret_hash(token),
                              created_at=now, created_by_id=actor_id)
        session.add(invite)
        customers_service.record_timeline(
            session, org_id=org_id, customer_id=customer.id, kind="survey.invited",
            summary=f"Invited to {survey.name}", ref_type=SURVEY_REF, ref_id=survey.id, occurred_at=now,
            data={"survey_id": survey.id, "wave": wave.number}, actor_user_id=actor_id,
        )
        created.append((customer, invite, token))
    session.flush()
    return [
        InviteLink(invite_id=invite.id, customer_id=customer.id, customer_name=customers_service.display_name(customer),
                   email=customer.email, token=token, path=f"/s/{token}")
        for customer, invite, token in created
    ]


def list_invites(
    session: Session, *, org_id: int, survey_id: int, wave_id: int | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[SurveyInvite], int]:
    """The survey's invites (of one wave), oldest first, and the total."""
    survey = get_survey_or_raise(session, org_id=org_id, survey_id=survey_id)
    query = select(SurveyInvite).where(SurveyInvite.org_id == org_id, SurveyInvite.survey_id == survey.id)
    if wave_id is not None:
        wave_or_raise(session, org_id=org_id, survey_id=survey.id, wave_id=wave_id, field="wave_id")
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
    wave = wave_or_raise(session, org_id=invite.org_id, survey_id=survey.id, wave_id=invite.wave_id, field="token")
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


def _record_answered(session: Session, *, survey: Survey, q: Questionnaire, response: SurveyResponse,
                     actor_id: int | None = None) -> None:
    if response.customer_id is None:
        return
    data: dict[str, Any] = {"survey_id": survey.id}
    nps_code = nps_item(q)
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
    wave = current_wave(session, org_id=org_id, survey_id=survey.id) or add_wave(session, survey, now=utcnow())
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
        wave_or_raise(session, org_id=org_id, survey_id=survey.id, wave_id=wave_id, field="wave_id")
        query = query.where(SurveyResponse.wave_id == wave_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(SurveyResponse.submitted_at.desc(), SurveyResponse.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), total


def customer_responses_since(
    session: Session, *, org_id: int, since: datetime, limit: int = 10_000
) -> list[tuple[int, int, datetime]]:
    """``(response_id, customer_id, submitted_at)`` of responses by known customers submitted at or after
    ``since``, oldest first (the loyalty programme's points for surveys answered)."""
    rows = session.execute(
        select(SurveyResponse.id, SurveyResponse.customer_id, SurveyResponse.submitted_at)
        .where(SurveyResponse.org_id == org_id, SurveyResponse.customer_id.is_not(None),
               SurveyResponse.submitted_at >= since)
        .order_by(SurveyResponse.submitted_at, SurveyResponse.id)
        .limit(limit)
    )  # fmt: skip
    return [(int(r), int(c), at) for r, c, at in rows]


def export_responses_csv(session: Session, *, org_id: int, survey_id: int, wave_id: int | None = None) -> str:
    """The raw answers (as given, not recoded) as CSV, one row per response."""
    survey = get_survey_or_raise(session, org_id=org_id, survey_id=survey_id)
    if wave_id is not None:
        wave_or_raise(session, org_id=org_id, survey_id=survey.id, wave_id=wave_id, field="wave_id")
    return answers_csv(questionnaire(survey), stored_answers(session, org_id=org_id, survey_id=survey.id,
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
        current = add_wave(session, survey, now=utcnow())
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


# --- analyses --------------------------------------------------------------------------------------


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
