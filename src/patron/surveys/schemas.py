"""Request and response bodies of the surveys API, including the public answer API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from patron.core.api import Schema

SurveyStatus = Literal["draft", "open", "closed"]
AnalysisMethod = Literal["cb-sem", "pls"]
MAX_INVITE_IDS = 10_000

_DEFINITION = ("The questionnaire document: intro, thanks, constructs, sections of items and an optional model "
               "(see docs/surveys.md).")
_INTERVAL = "Open a new wave every so many days (1-3650), e.g. 182 for twice a year; null for no repeat."


# --- surveys ---------------------------------------------------------------------------------------


class SurveyCreate(Schema):
    name: str = Field(min_length=1, max_length=200, description="Name of the survey, shown to respondents.")
    description: str = Field(default="", max_length=5000, description="Internal notes on the survey's purpose.")
    template: str | None = Field(default=None, max_length=40,
                                 description="Ready questionnaire to start from (see GET /survey-templates); "
                                             "ignored when a definition is given.")
    definition: dict[str, Any] | None = Field(default=None, description=_DEFINITION)
    wave_interval_days: int | None = Field(default=None, ge=1, le=3650, description=_INTERVAL)


class SurveyUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200, description="New name.")
    description: str | None = Field(default=None, max_length=5000, description="New internal notes.")
    definition: dict[str, Any] | None = Field(
        default=None, description=_DEFINITION + " Once answers exist, items cannot be removed or change kind, "
                                                "scale, choices or reverse coding.")
    wave_interval_days: int | None = Field(default=None, ge=1, le=3650, description=_INTERVAL)


class StatusChange(Schema):
    status: SurveyStatus = Field(description="draft -> open (opens wave 1), open -> closed (closes the wave), "
                                             "closed -> open (opens a new wave).")


class SurveyOut(Schema):
    id: int
    name: str
    description: str
    template: str = Field(description="The ready questionnaire it started from, or `custom`.")
    status: SurveyStatus
    definition: dict[str, Any] = Field(description=_DEFINITION)
    wave_interval_days: int | None = Field(description=_INTERVAL)
    next_wave_at: datetime | None = Field(description="When the next wave opens by itself (UTC); null without "
                                                      "repeat or while not open.")
    created_by_id: int | None
    created_at: datetime
    updated_at: datetime


class SurveyPage(Schema):
    items: list[SurveyOut]
    total: int
    limit: int = Field(description="Largest number of items in one page.")
    offset: int = Field(description="Number of matching items skipped before this page.")


class TemplateOut(Schema):
    key: str = Field(description="Template key to pass as `template` when creating a survey.")
    name: str
    description: str
    questionnaire: dict[str, Any] = Field(description="The questionnaire document the survey starts with.")


# --- waves -----------------------------------------------------------------------------------------


class WaveCreate(Schema):
    label: str = Field(default="", max_length=120, description="Label of the new wave, e.g. `Spring 2026`.")


class WaveOut(Schema):
    id: int
    number: int = Field(description="Wave number within the survey: 1, 2, ...")
    label: str
    opened_at: datetime = Field(description="When the wave opened (UTC).")
    closed_at: datetime | None


# --- invites ---------------------------------------------------------------------------------------


class InviteFilters(Schema):
    tags: list[str] = Field(default_factory=list, max_length=20, description="Customers with all these tags.")
    country: str | None = Field(default=None, max_length=2, description="Customers in this country (ISO code).")
    gender: str | None = Field(default=None, max_length=20, description="Customers of this gender.")
    income_band: str | None = Field(default=None, max_length=20, description="Customers in this income band.")
    education: str | None = Field(default=None, max_length=20, description="Customers with this education.")
    q: str | None = Field(default=None, max_length=120, description="Text in the name, e-mail or phone.")


class InviteCreate(Schema):
    customer_ids: list[int] | None = Field(
        default=None, max_length=MAX_INVITE_IDS,
        description="Invite these customers (each must exist; erased and merged ones are skipped).")
    filters: InviteFilters | None = Field(
        default=None, description="Or invite every customer matching these filters (`{}`: everyone).")


class InviteLinkOut(Schema):
    invite_id: int = Field(description="The invite created.")
    customer_id: int
    customer_name: str = Field(description="The customer's name, for the message.")
    email: str | None
    url: str = Field(description="The customer's personal answer link; shown only in this response.")


class InvitesCreated(Schema):
    invites: list[InviteLinkOut] = Field(description="One link per newly invited customer.")
    created: int = Field(description="How many invites were created (customers already invited are skipped).")


class InviteOut(Schema):
    id: int
    wave_id: int = Field(description="The wave the invite belongs to.")
    customer_id: int | None
    token_prefix: str = Field(description="First characters of the link's token, to recognise it.")
    created_at: datetime
    opened_at: datetime | None = Field(description="When the link was first opened (UTC).")
    responded_at: datetime | None = Field(description="When the answers were sent (UTC).")


class InvitePage(Schema):
    items: list[InviteOut]
    total: int
    limit: int = Field(description="Largest number of items in one page.")
    offset: int = Field(description="Number of matching items skipped before this page.")


# --- responses -------------------------------------------------------------------------------------


class ResponseCreate(Schema):
    answers: dict[str, Any] = Field(description="Item code -> answer (number, choice text, list of choices "
                                                "or text).")
    customer_id: int | None = Field(default=None, ge=1, le=2**31 - 1,
                                    description="The customer who answered, if known.")


class ResponseOut(Schema):
    id: int
    wave_id: int = Field(description="The wave the response belongs to.")
    customer_id: int | None
    invite_id: int | None = Field(description="The invite it came through (answers by personal link).")
    source: str = Field(description="How it came in: link, import or api.")
    answers: dict[str, Any] = Field(description="Item code -> answer, as given (not reverse-coded).")
    submitted_at: datetime = Field(description="When the answers were received (UTC).")


class ResponsePage(Schema):
    items: list[ResponseOut]
    total: int
    limit: int = Field(description="Largest number of items in one page.")
    offset: int = Field(description="Number of matching items skipped before this page.")


class ImportResult(Schema):
    imported: int = Field(description="How many responses were imported.")


# --- summary and comparison ------------------------------------------------------------------------


class WaveSummary(Schema):
    number: int = Field(description="Wave number.")
    label: str
    opened_at: datetime = Field(description="When the wave opened (UTC).")
    closed_at: datetime | None
    invited: int = Field(description="Invites sent in the wave.")
    responses: int = Field(description="Responses received in the wave (all sources).")


class NpsSummary(Schema):
    score: float = Field(description="Net Promoter Score: % promoters (9-10) minus % detractors (0-6).")
    promoters: int = Field(description="Answers of 9 or 10.")
    passives: int = Field(description="Answers of 7 or 8.")
    detractors: int = Field(description="Answers of 0 to 6.")
    n: int = Field(description="Number of answers.")


class SummaryOut(Schema):
    invited: int = Field(description="Invites sent, all waves.")
    opened: int = Field(description="Invites whose link was opened.")
    responded: int = Field(description="Invites answered.")
    response_rate: float | None = Field(description="responded / invited; null without invites.")
    responses: int = Field(description="All responses (links, imports and API).")
    waves: list[WaveSummary] = Field(description="Counts per wave.")
    nps: NpsSummary | None = Field(description="NPS of the first NPS item over all waves; null without one.")
    construct_means: dict[str, float] = Field(description="Construct -> mean of its items (reverse items recoded).")


class ConstructChange(Schema):
    mean_a: float = Field(description="Mean of the construct's item means in wave a.")
    mean_b: float = Field(description="Mean in wave b.")
    diff: float = Field(description="mean_b - mean_a.")
    n_a: int = Field(description="Respondents in wave a.")
    n_b: int = Field(description="Respondents in wave b.")
    t: float | None = Field(description="Welch's t of the difference.")
    df: float | None = Field(description="Welch-Satterthwaite degrees of freedom.")
    pvalue: float | None = Field(description="Two-sided p-value.")


class CompareOut(Schema):
    wave_a: int = Field(description="First wave (number).")
    wave_b: int = Field(description="Second wave (number).")
    constructs: dict[str, ConstructChange] = Field(description="Per construct: means, difference and t-test.")
    servqual: dict[str, dict[str, float | None]] | None = Field(
        description="Per SERVQUAL dimension (and overall): gap_before, gap_after, change, t, df, pvalue; null "
                    "without SERVQUAL items.")


# --- analyses --------------------------------------------------------------------------------------


class AnalysisCreate(Schema):
    method: AnalysisMethod = Field(default="cb-sem", description="cb-sem (covariance-based SEM) or pls (PLS-SEM).")
    model: str | None = Field(default=None, max_length=20_000,
                              description="Model in lavaan syntax; default: the questionnaire's model.")
    wave: int | None = Field(default=None, ge=1, le=100_000, description="Analyse one wave (number); default all.")
    name: str = Field(default="", max_length=200, description="Title of the analysis and its report.")
    n_boot: int = Field(default=500, ge=0, le=5000, description="PLS bootstrap resamples.")
    seed: int = Field(default=1, ge=0, le=2**31 - 1, description="Seed of the bootstrap.")


class AnalysisOut(Schema):
    id: int
    survey_id: int = Field(description="The survey analysed.")
    wave_id: int | None = Field(description="The wave analysed; null for all waves.")
    name: str
    method: AnalysisMethod
    model: str = Field(description="The model fitted, in lavaan syntax.")
    options: dict[str, Any] = Field(description="Options of the run (bootstrap, scale, NPS/CSAT columns).")
    n: int = Field(description="Responses analysed.")
    created_by_id: int | None
    created_at: datetime


class AnalysisDetail(AnalysisOut):
    result: dict[str, Any] = Field(description="The full result: fit, estimates, reliability, validity, "
                                               "descriptives and tests (see docs/surveys.md).")


# --- the public answer API -------------------------------------------------------------------------


class PublicItem(Schema):
    code: str = Field(description="Item code: the key of its answer.")
    text: str = Field(description="The question or statement.")
    kind: str = Field(description="likert, nps, single, multiple, text or number.")
    scale: list[int] | None = Field(description="Lowest and highest answer, for likert, nps and number items.")
    labels: list[str] = Field(description="Likert: one label per point, low to high.")
    choices: list[str] = Field(description="Single/multiple choice: the options.")
    required: bool = Field(description="Whether an answer is required.")


class PublicSection(Schema):
    title: str
    description: str
    items: list[PublicItem] = Field(description="The section's questions, in order.")


class PublicSurveyOut(Schema):
    name: str
    intro: str = Field(description="Text shown above the questions.")
    sections: list[PublicSection] = Field(description="The questions, grouped.")
    first_name: str = Field(description="The invited customer's first name, for a greeting; may be empty.")
    answered: bool = Field(description="The answers were already sent through this link.")
    closed: bool = Field(description="The survey no longer takes answers.")


class PublicAnswers(Schema):
    answers: dict[str, Any] = Field(description="Item code -> answer.")


class PublicThanks(Schema):
    thanks: str = Field(description="Thank-you text to show.")
