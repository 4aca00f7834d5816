"""Surveys: questionnaires, their waves, personal invitations, responses and analysis runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from patron.core.db import Base, OrgScoped, TimestampMixin, utcnow

SURVEY_STATUSES = ("draft", "open", "closed")
RESPONSE_SOURCES = ("link", "import", "api")
ANALYSIS_METHODS = ("cb-sem", "pls")
INVITE_TOKEN_PREFIX = "psv"


class Survey(TimestampMixin, OrgScoped, Base):
    """A questionnaire and its distribution. The questions live in ``definition`` (a
    :class:`patron.surveys.definition.Questionnaire` document)."""

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    #: the ready template it started from (``crm_success``, ``servqual``, ``nps``, ``csat``, ``targeting``) or
    #: ``custom``
    template: Mapped[str] = mapped_column(String(40), default="custom")
    status: Mapped[str] = mapped_column(String(10), default="draft")
    definition: Mapped[dict] = mapped_column(JSON, default=dict)
    #: repeat the survey every so many days (a new wave), e.g. 182 for SERVQUAL every six months
    wave_interval_days: Mapped[int | None] = mapped_column(Integer, default=None)
    next_wave_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))


class SurveyWave(OrgScoped, Base):
    """One round of a survey. Responses belong to the wave that was open when they came in; waves are
    compared with each other (SERVQUAL gap change, construct means)."""

    __tablename__ = "survey_waves"
    __table_args__ = (UniqueConstraint("survey_id", "number", name="uq_survey_waves_survey_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(Integer, ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(120), default="")
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)


class SurveyInvite(OrgScoped, Base):
    """A personal link for one customer in one wave. The token is shown once (to be sent) and stored
    only as its SHA-256; one response per invite."""

    __tablename__ = "survey_invites"
    __table_args__ = (UniqueConstraint("wave_id", "customer_id", name="uq_survey_invites_wave_customer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(Integer, ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    wave_id: Mapped[int] = mapped_column(Integer, ForeignKey("survey_waves.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    token_prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
    opened_at: Mapped[datetime | None] = mapped_column(default=None)
    responded_at: Mapped[datetime | None] = mapped_column(default=None)


class SurveyResponse(OrgScoped, Base):
    """One respondent's answers (item code -> answer, as stored; reverse coding is applied at analysis)."""

    __tablename__ = "survey_responses"
    __table_args__ = (Index("ix_survey_responses_survey_wave", "survey_id", "wave_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(Integer, ForeignKey("surveys.id", ondelete="CASCADE"))
    wave_id: Mapped[int] = mapped_column(Integer, ForeignKey("survey_waves.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    invite_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("survey_invites.id", ondelete="SET NULL"), unique=True
    )
    source: Mapped[str] = mapped_column(String(10), default="api")
    answers: Mapped[dict] = mapped_column(JSON, default=dict)
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class SurveyAnalysis(TimestampMixin, OrgScoped, Base):
    """A stored analysis run: the model, the options and the full result that the report is drawn from
    (:func:`patron.surveys.analysis.analyze`)."""

    __tablename__ = "survey_analyses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(Integer, ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    #: None: all waves together
    wave_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("survey_waves.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200), default="")
    method: Mapped[str] = mapped_column(String(10), default="cb-sem")
    model: Mapped[str] = mapped_column(Text)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    n: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("users.id", ondelete="SET NULL"))
