"""HTTP API of surveys: questionnaires, waves, invites, answers, summaries, analyses and their reports; and
the public answer API behind each personal link (no sign-in: the link's token is the credential)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from patron.accounts.deps import Allowed, Principal
from patron.core.api import PageDep, SessionDep
from patron.core.errors import Invalid, NotFound
from patron.customers.search import CustomerFilters
from patron.surveys import schemas
from patron.surveys import service as surveys_service
from patron.surveys.models import SurveyWave

router = APIRouter(prefix="/api/v1", tags=["surveys"])

WaveQuery = Annotated[int | None, Query(ge=1, le=100_000, description="Only this wave (number).")]


def _wave_id(session, principal: Principal, survey_id: int, number: int | None, field: str = "wave") -> int | None:
    """The id of wave ``number`` of the survey (None for all waves)."""
    surveys_service.get_survey_or_raise(session, org_id=principal.org_id, survey_id=survey_id)
    if number is None:
        return None
    wave: SurveyWave | None = surveys_service.get_wave_by_number(
        session, org_id=principal.org_id, survey_id=survey_id, number=number
    )
    if wave is None:
        raise NotFound(f"The survey has no wave {number}.", field=field)
    return wave.id


# --- templates and surveys -------------------------------------------------------------------------


@router.get("/survey-templates", response_model=list[schemas.TemplateOut], summary="List ready questionnaires")
def list_templates(principal: Allowed("surveys.read")) -> list:
    """The ready questionnaires a survey can start from: CRM success factors, SERVQUAL, NPS, CSAT and
    targeting clusters."""
    return [template.__dict__ for template in surveys_service.list_templates()]


@router.get("/surveys", response_model=schemas.SurveyPage, summary="List surveys")
def list_surveys(
    principal: Allowed("surveys.read"),
    session: SessionDep,
    page: PageDep,
    status: Annotated[schemas.SurveyStatus | None, Query(description="Only surveys in this status.")] = None,
    q: Annotated[str | None, Query(max_length=120, description="Text in the survey's name.")] = None,
) -> dict:
    """The organisation's surveys, newest first."""
    items, total = surveys_service.list_surveys(session, org_id=principal.org_id, status=status, q=q,
                                                limit=page.limit, offset=page.offset)
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


@router.post("/surveys", response_model=schemas.SurveyOut, status_code=201, summary="Create a survey")
def create_survey(body: schemas.SurveyCreate, principal: Allowed("surveys.manage"), session: SessionDep):
    """A draft survey, from a ready `template`, a `definition` of your own, or empty. Open it with
    `POST /surveys/{id}/status`."""
    return surveys_service.create_survey(session, org_id=principal.org_id, actor_id=principal.user_id,
                                         **body.model_dump())


@router.get("/surveys/{survey_id}", response_model=schemas.SurveyOut, summary="Read a survey")
def get_survey(survey_id: int, principal: Allowed("surveys.read"), session: SessionDep):
    return surveys_service.get_survey_or_raise(session, org_id=principal.org_id, survey_id=survey_id)


@router.patch("/surveys/{survey_id}", response_model=schemas.SurveyOut, summary="Change a survey")
def update_survey(
    survey_id: int, body: schemas.SurveyUpdate, principal: Allowed("surveys.manage"), session: SessionDep
):
    """Name, description, questionnaire or repeat interval. Once answers exist, wording can change and items
    and sections can be added, but no item can be removed or change its kind, scale, choices or reverse coding
    (409 naming `definition`)."""
    return surveys_service.update_survey(session, org_id=principal.org_id, actor_id=principal.user_id,
                                         survey_id=survey_id, changes=body.model_dump(exclude_unset=True))


@router.delete("/surveys/{survey_id}", status_code=204, summary="Delete a survey")
def delete_survey(survey_id: int, principal: Allowed("surveys.manage"), session: SessionDep) -> Response:
    """Deletes the survey with its waves, invites, answers and analyses, and the timeline entries about them."""
    surveys_service.delete_survey(session, org_id=principal.org_id, actor_id=principal.user_id, survey_id=survey_id)
    return Response(status_code=204)


@router.post("/surveys/{survey_id}/status", response_model=schemas.SurveyOut, summary="Open or close a survey")
def set_status(
    survey_id: int, body: schemas.StatusChange, principal: Allowed("surveys.manage"), session: SessionDep
):
    """draft -> open (needs at least one item; opens wave 1), open -> closed (closes the current wave),
    closed -> open (opens a new wave). Other moves answer 409."""
    return surveys_service.set_status(session, org_id=principal.org_id, actor_id=principal.user_id,
                                      survey_id=survey_id, status=body.status)


# --- waves -----------------------------------------------------------------------------------------


@router.get("/surveys/{survey_id}/waves", response_model=list[schemas.WaveOut], summary="List a survey's waves")
def list_waves(survey_id: int, principal: Allowed("surveys.read"), session: SessionDep) -> list:
    surveys_service.get_survey_or_raise(session, org_id=principal.org_id, survey_id=survey_id)
    return surveys_service.list_waves(session, org_id=principal.org_id, survey_id=survey_id)


@router.post("/surveys/{survey_id}/waves", response_model=schemas.WaveOut, status_code=201,
             summary="Open the next wave")
def open_wave(survey_id: int, principal: Allowed("surveys.manage"), session: SessionDep,
              body: schemas.WaveCreate | None = None):
    """Closes the current wave and opens the next one; the survey must be open. New invites and answers go
    to the new wave."""
    return surveys_service.open_wave(session, org_id=principal.org_id, actor_id=principal.user_id,
                                     survey_id=survey_id, label=body.label if body else "")


@router.get("/surveys/{survey_id}/compare", response_model=schemas.CompareOut, summary="Compare two waves")
def compare_waves(
    survey_id: int,
    principal: Allowed("surveys.read"),
    session: SessionDep,
    wave_a: Annotated[int, Query(ge=1, le=100_000, description="First wave (number).")],
    wave_b: Annotated[int, Query(ge=1, le=100_000, description="Second wave (number).")],
) -> dict:
    """Construct means of two waves with Welch's t-test of each difference, and the SERVQUAL gap change when
    the questionnaire has SERVQUAL pairs."""
    return surveys_service.compare_waves(session, org_id=principal.org_id, survey_id=survey_id, wave_a=wave_a,
                                         wave_b=wave_b)


# --- invites ---------------------------------------------------------------------------------------


@router.post("/surveys/{survey_id}/invites", response_model=schemas.InvitesCreated, status_code=201,
             summary="Invite customers")
def create_invites(
    survey_id: int,
    body: schemas.InviteCreate,
    request: Request,
    principal: Allowed("surveys.send"),
    session: SessionDep,
) -> dict:
    """Personal answer links for the current wave, for `customer_ids` or every customer matching `filters`.
    Customers already invited in this wave, erased and merged customers are skipped. The links are in this
    response only: send them now."""
    filters = None
    if body.filters is not None:
        filters = CustomerFilters(**body.filters.model_dump())
    links = surveys_service.create_invites(session, org_id=principal.org_id, actor_id=principal.user_id,
                                           survey_id=survey_id, customer_ids=body.customer_ids, filters=filters)
    base = str(request.base_url).rstrip("/")
    return {
        "invites": [
            {"invite_id": link.invite_id, "customer_id": link.customer_id, "customer_name": link.customer_name,
             "email": link.email, "url": base + link.path}
            for link in links
        ],
        "created": len(links),
    }


@router.get("/surveys/{survey_id}/invites", response_model=schemas.InvitePage, summary="List invites")
def list_invites(
    survey_id: int, principal: Allowed("surveys.send"), session: SessionDep, page: PageDep, wave: WaveQuery = None
) -> dict:
    """Who was invited, and when they opened the link and answered (the links themselves are not shown again)."""
    wave_id = _wave_id(session, principal, survey_id, wave)
    items, total = surveys_service.list_invites(session, org_id=principal.org_id, survey_id=survey_id,
                                                wave_id=wave_id, limit=page.limit, offset=page.offset)
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


# --- responses -------------------------------------------------------------------------------------


@router.get("/surveys/{survey_id}/responses", response_model=schemas.ResponsePage, summary="List responses")
def list_responses(
    survey_id: int, principal: Allowed("surveys.analyze"), session: SessionDep, page: PageDep,
    wave: WaveQuery = None,
) -> dict:
    """Individual answers, newest first."""
    wave_id = _wave_id(session, principal, survey_id, wave)
    items, total = surveys_service.list_responses(session, org_id=principal.org_id, survey_id=survey_id,
                                                  wave_id=wave_id, limit=page.limit, offset=page.offset)
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


@router.post("/surveys/{survey_id}/responses", response_model=schemas.ResponseOut, status_code=201,
             summary="Enter a response")
def submit_response(
    survey_id: int, body: schemas.ResponseCreate, principal: Allowed("surveys.analyze"), session: SessionDep
):
    """Answers taken by staff (on the phone, on paper) or sent by another system, into the current wave of an
    open survey. Bad answers answer 422 naming `answers.<code>`."""
    return surveys_service.submit_response(session, org_id=principal.org_id, actor_id=principal.user_id,
                                           survey_id=survey_id, answers=body.answers, customer_id=body.customer_id)


async def _csv_upload(request: Request) -> bytes:
    """The CSV: the body of a text/csv request, or the `file` field of a multipart form."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise Invalid("Send the CSV as the form's `file` field.", field="file")
        return await upload.read()
    return await request.body()


_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {"schema": {"type": "object", "properties": {
                "file": {"type": "string", "format": "binary", "description": "UTF-8 CSV."}}}},
        },
    }
}


@router.post("/surveys/{survey_id}/responses/import", response_model=schemas.ImportResult, status_code=201,
             summary="Import responses from CSV", openapi_extra=_IMPORT_BODY)
def import_responses(
    survey_id: int,
    principal: Allowed("surveys.analyze"),
    session: SessionDep,
    data: Annotated[bytes, Depends(_csv_upload)],
    partial: Annotated[bool, Query(description="Accept rows that leave required items blank.")] = False,
) -> dict:
    """A UTF-8 CSV whose header names item codes, optionally `customer_id` and `wave` (number). All or nothing:
    any bad row answers 422 naming `file`, with up to 20 row problems in `errors`, and nothing is imported."""
    surveys_service.get_survey_or_raise(session, org_id=principal.org_id, survey_id=survey_id)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("The file is not UTF-8 text; save it as 'CSV UTF-8'.", field="file") from None
    imported = surveys_service.import_responses(session, org_id=principal.org_id, actor_id=principal.user_id,
                                                survey_id=survey_id, csv_text=text, partial=partial)
    return {"imported": imported}


@router.get("/surveys/{survey_id}/responses.csv", summary="Download the answers as CSV",
            response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_responses(
    survey_id: int, principal: Allowed("surveys.analyze"), session: SessionDep, wave: WaveQuery = None
) -> Response:
    """One row per response: response_id, customer_id, wave, submitted_at, source, then one column per item
    (answers as given, not reverse-coded; multiple choices joined with `; `)."""
    wave_id = _wave_id(session, principal, survey_id, wave)
    text = surveys_service.export_responses_csv(session, org_id=principal.org_id, survey_id=survey_id,
                                                wave_id=wave_id)
    suffix = f"-wave-{wave}" if wave is not None else ""
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="survey-{survey_id}{suffix}.csv"'})


@router.get("/surveys/{survey_id}/summary", response_model=schemas.SummaryOut, summary="A survey's figures")
def survey_summary(survey_id: int, principal: Allowed("surveys.read"), session: SessionDep) -> dict:
    """Invites, opens, answers and response rate (all waves and per wave), the NPS and each construct's mean."""
    return surveys_service.survey_summary(session, org_id=principal.org_id, survey_id=survey_id)


# --- analyses --------------------------------------------------------------------------------------


@router.post("/surveys/{survey_id}/analyses", response_model=schemas.AnalysisDetail, status_code=201,
             summary="Run an analysis")
def run_analysis(
    survey_id: int, body: schemas.AnalysisCreate, principal: Allowed("surveys.analyze"), session: SessionDep
):
    """Fits the model (default: the questionnaire's) to the answers of one wave or all, with reliability,
    validity, descriptives and tests, and stores the result. Needs at least 10 complete responses (422 naming
    `responses`)."""
    wave_id = _wave_id(session, principal, survey_id, body.wave)
    return surveys_service.run_analysis(session, org_id=principal.org_id, actor_id=principal.user_id,
                                        survey_id=survey_id, method=body.method, model=body.model,
                                        wave_id=wave_id, name=body.name, n_boot=body.n_boot, seed=body.seed)


@router.get("/surveys/{survey_id}/analyses", response_model=list[schemas.AnalysisOut],
            summary="List a survey's analyses")
def list_analyses(survey_id: int, principal: Allowed("surveys.read"), session: SessionDep) -> list:
    """Stored analyses, newest first (without their results; read one for the result)."""
    return surveys_service.list_analyses(session, org_id=principal.org_id, survey_id=survey_id)


@router.get("/survey-analyses/{analysis_id}", response_model=schemas.AnalysisDetail, summary="Read an analysis")
def get_analysis(analysis_id: int, principal: Allowed("surveys.read"), session: SessionDep):
    return surveys_service.get_analysis_or_raise(session, org_id=principal.org_id, analysis_id=analysis_id)


@router.get("/survey-analyses/{analysis_id}/report.html", summary="Download an analysis report (HTML)",
            response_class=Response, responses={200: {"content": {"text/html": {}}}})
def analysis_report(analysis_id: int, principal: Allowed("surveys.read"), session: SessionDep) -> Response:
    """A standalone HTML document of the analysis: fit, estimates, reliability, validity and tests, with
    explanations."""
    from patron.surveys.report import render_report

    analysis = surveys_service.get_analysis_or_raise(session, org_id=principal.org_id, analysis_id=analysis_id)
    survey = surveys_service.get_survey_or_raise(session, org_id=principal.org_id, survey_id=analysis.survey_id)
    title = analysis.name or f"{survey.name}: analysis"
    html = render_report(analysis.result, title=title)
    return Response(html, media_type="text/html; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="survey-analysis-{analysis.id}.html"'})


@router.delete("/survey-analyses/{analysis_id}", status_code=204, summary="Delete an analysis")
def delete_analysis(analysis_id: int, principal: Allowed("surveys.analyze"), session: SessionDep) -> Response:
    surveys_service.delete_analysis(session, org_id=principal.org_id, actor_id=principal.user_id,
                                    analysis_id=analysis_id)
    return Response(status_code=204)


# --- the public answer API -------------------------------------------------------------------------


@router.get("/public/surveys/{token}", response_model=schemas.PublicSurveyOut, tags=["public"],
            summary="The questionnaire behind a personal link")
def public_form(token: str, session: SessionDep) -> dict:
    """No sign-in: the link's token is the credential. 404 for a link that is not valid. `answered` and
    `closed` say whether answers can still be sent."""
    form = surveys_service.open_invite(session, token=token)
    q = form.questionnaire
    return {
        "name": form.survey.name,
        "intro": q.intro,
        "sections": [
            {"title": section.title, "description": section.description,
             "items": [{"code": item.code, "text": item.text, "kind": item.kind,
                        "scale": list(item.scale) if item.scale else None, "labels": item.labels,
                        "choices": item.choices, "required": item.required} for item in section.items]}
            for section in q.sections
        ],
        "first_name": form.first_name,
        "answered": form.answered,
        "closed": form.closed,
    }


@router.post("/public/surveys/{token}/responses", response_model=schemas.PublicThanks, status_code=201,
             tags=["public"], summary="Send the answers of a personal link")
def public_submit(token: str, body: schemas.PublicAnswers, session: SessionDep) -> dict:
    """Once per link: 409 `already_answered` after that, 409 `survey_closed` when the survey or its wave has
    closed, 422 naming `answers.<code>` for a bad answer, 404 for a link that is not valid."""
    response = surveys_service.submit_invite(session, token=token, answers=body.answers)
    survey = surveys_service.get_survey_or_raise(session, org_id=response.org_id, survey_id=response.survey_id)
    return {"thanks": surveys_service.questionnaire(survey).thanks}
