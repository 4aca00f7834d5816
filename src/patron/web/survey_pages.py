"""Survey pages: the list, a survey's overview, the questionnaire builder, sending personal links, the
responses, running an analysis and reading its report, comparing waves; and the public answer page behind
each personal link (``/s/<token>``), which needs no sign-in because the token is the credential."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from patron.core.api import SessionDep
from patron.core.errors import Conflict, Invalid, NotFound, PatronError
from patron.customers.search import CustomerFilters
from patron.surveys import service as surveys_service
from patron.surveys.definition import ITEM_KINDS, MAX_TEXT_ANSWER, Questionnaire, default_model, is_code
from patron.surveys.models import SURVEY_STATUSES, Survey
from patron.surveys.templates import TEMPLATES
from patron.web.common import (
    PAGE_HEADERS,
    CsrfForm,
    FormInput,
    Pager,
    Permitted,
    PlainForm,
    Viewer,
    redirect,
    render,
)

router = APIRouter()

PAGE = 25
RESPONSES_PAGE = 50
MAX_CSV_UPLOAD = 5 * 1024 * 1024
STATUS_TONES = {"draft": "neutral", "open": "ok", "closed": "info"}
METHODS = (("cb-sem", "CB-SEM (covariance-based, maximum likelihood)"), ("pls", "PLS-SEM (partial least squares)"))
REPORT_CSS = Path(surveys_service.__file__).parent / "report_templates" / "report.css"
#: the public page may not leak its URL (which holds the token) to other sites, and must never be cached
PUBLIC_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _survey(session: Session, viewer: Viewer, survey_id: int) -> Survey:
    return surveys_service.get_survey_or_raise(session, org_id=viewer.org_id, survey_id=survey_id)


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _fail(form: FormInput, exc: PatronError, *, default: str = "form", fields: dict[str, str] | None = None) -> None:
    """Note a service error on the form: under the form field it names (or a prefix of it), else ``default``."""
    field = exc.field or ""
    for prefix, name in (fields or {}).items():
        if field == prefix or field.startswith(prefix + "."):
            where = field[len(prefix) + 1:] if field != prefix else ""
            form.fail(name, f"{exc.detail} ({where})" if where else exc.detail)
            return
    form.fail(field if field and field in form.data else default, exc.detail)


# --- the list and a new survey ---------------------------------------------------------------------------


@router.get("/surveys")
def survey_list(
    request: Request,
    viewer: Permitted("surveys.read"),
    session: SessionDep,
    status: Annotated[str | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    status = status if status in SURVEY_STATUSES else None
    surveys, total = surveys_service.list_surveys(
        session, org_id=viewer.org_id, status=status, q=q or None, limit=PAGE, offset=offset
    )
    summaries = {s.id: surveys_service.survey_summary(session, org_id=viewer.org_id, survey_id=s.id)
                 for s in surveys}
    return render(request, "surveys/list.html", {
        "surveys": surveys, "summaries": summaries, "status": status, "q": q or "",
        "statuses": SURVEY_STATUSES, "tones": STATUS_TONES, "templates": list(TEMPLATES.values()),
        "template_names": {t.key: t.name for t in TEMPLATES.values()},
        "pager": Pager.of(request, total=total, limit=PAGE, offset=offset),
    })


def _new_page(request: Request, form: FormInput | None = None, *, template: str | None = None,
              status_code: int = 200) -> Response:
    values = form.values if form else {"template": template if template in TEMPLATES else ""}
    return render(request, "surveys/new.html", {
        "templates": list(TEMPLATES.values()), "values": values, "errors": form.errors if form else {},
    }, status_code=status_code)


@router.get("/surveys/new")
def survey_new(
    request: Request, viewer: Permitted("surveys.manage"), template: Annotated[str | None, Query()] = None
) -> Response:
    return _new_page(request, template=template)


@router.post("/surveys/new")
def survey_create(request: Request, viewer: Permitted("surveys.manage"), session: SessionDep,
                  form: CsrfForm) -> Response:
    name = form.text("name", label="Name", required=True, max_length=200)
    description = form.text("description", label="Description", max_length=2000)
    template = form.choice("template", list(TEMPLATES), label="Template")
    if form.ok:
        try:
            survey = surveys_service.create_survey(
                session, org_id=viewer.org_id, actor_id=viewer.user_id, name=name, description=description,
                template=template,
            )
        except (Invalid, Conflict) as exc:
            session.rollback()
            _fail(form, exc)
        else:
            return redirect(request, f"/surveys/{survey.id}/edit",
                            flash=f"Survey “{survey.name}” created as a draft. Check the questions, then open it.")
    return _new_page(request, form, status_code=422)


@router.get("/surveys/report.css")
def report_stylesheet(viewer: Permitted("surveys.read")) -> Response:
    """The analysis report's own stylesheet, so the report can sit inside the app's pages."""
    return Response(REPORT_CSS.read_text(encoding="utf-8"), media_type="text/css",
                    headers={"Cache-Control": "private, max-age=300"})


# --- a survey's overview ----------------------------------------------------------------------------------


def _overview(request: Request, session: Session, viewer: Viewer, survey: Survey, *,
              form: FormInput | None = None, status_code: int = 200) -> Response:
    q = surveys_service.questionnaire(survey)
    summary = surveys_service.survey_summary(session, org_id=viewer.org_id, survey_id=survey.id)
    analyses = surveys_service.list_analyses(session, org_id=viewer.org_id, survey_id=survey.id)
    values = form.values if form else {
        "name": survey.name, "description": survey.description,
        "wave_interval_days": "" if survey.wave_interval_days is None else str(survey.wave_interval_days),
    }
    return render(request, "surveys/detail.html", {
        "survey": survey, "q": q, "summary": summary, "analyses": analyses, "tones": STATUS_TONES,
        "construct_names": {c.code: c.name for c in q.constructs},
        "current": surveys_service.current_wave(session, org_id=viewer.org_id, survey_id=survey.id),
        "values": values, "errors": form.errors if form else {},
    }, status_code=status_code)


@router.get("/surveys/{survey_id}")
def survey_detail(request: Request, survey_id: int, viewer: Permitted("surveys.read"),
                  session: SessionDep) -> Response:
    return _overview(request, session, viewer, _survey(session, viewer, survey_id))


@router.post("/surveys/{survey_id}/settings")
def survey_settings(request: Request, survey_id: int, viewer: Permitted("surveys.manage"), session: SessionDep,
                    form: CsrfForm) -> Response:
    survey = _survey(session, viewer, survey_id)
    changes = {
        "name": form.text("name", label="Name", required=True, max_length=200),
        "description": form.text("description", label="Description", max_length=2000),
        "wave_interval_days": form.integer("wave_interval_days", label="Repeat every", minimum=1, maximum=3650),
    }
    if form.ok:
        try:
            surveys_service.update_survey(session, org_id=viewer.org_id, actor_id=viewer.user_id,
                                          survey_id=survey.id, changes=changes)
        except (Invalid, Conflict) as exc:
            session.rollback()
            _fail(form, exc)
        else:
            return redirect(request, f"/surveys/{survey.id}", flash="Survey settings saved.")
    return _overview(request, session, viewer, _survey(session, viewer, survey_id), form=form, status_code=422)


@router.post("/surveys/{survey_id}/status")
def survey_status(request: Request, survey_id: int, viewer: Permitted("surveys.manage"), session: SessionDep,
                  form: CsrfForm) -> Response:
    survey = _survey(session, viewer, survey_id)
    status = form.choice("status", SURVEY_STATUSES, label="Status", required=True)
    if status is None:
        return redirect(request, f"/surveys/{survey.id}", flash="Choose open or closed.", kind="error")
    try:
        surveys_service.set_status(session, org_id=viewer.org_id, actor_id=viewer.user_id, survey_id=survey.id,
                                   status=status)
    except (Invalid, Conflict) as exc:
        session.rollback()
        return redirect(request, f"/surveys/{survey_id}", flash=exc.detail, kind="error")
    message = {"open": "The survey is open: send it to your customers.", "closed": "The survey is closed.",
               "draft": "The survey is a draft again."}[status]
    return redirect(request, f"/surveys/{survey_id}", flash=message)


@router.post("/surveys/{survey_id}/waves")
def survey_new_wave(request: Request, survey_id: int, viewer: Permitted("surveys.manage"), session: SessionDep,
                    form: CsrfForm) -> Response:
    survey = _survey(session, viewer, survey_id)
    label = form.text("label", label="Label", max_length=120)
    try:
        wave = surveys_service.open_wave(session, org_id=viewer.org_id, actor_id=viewer.user_id,
                                         survey_id=survey.id, label=label)
    except (Invalid, Conflict) as exc:
        session.rollback()
        return redirect(request, f"/surveys/{survey_id}", flash=exc.detail, kind="error")
    return redirect(request, f"/surveys/{survey_id}", flash=f"Wave {wave.number} is open; the previous one closed.")


@router.post("/surveys/{survey_id}/delete")
def survey_delete(request: Request, survey_id: int, viewer: Permitted("surveys.manage"), session: SessionDep,
                  form: CsrfForm) -> Response:
    survey = _survey(session, viewer, survey_id)
    name = survey.name
    surveys_service.delete_survey(session, org_id=viewer.org_id, actor_id=viewer.user_id, survey_id=survey.id)
    return redirect(request, "/surveys", flash=f"Survey “{name}” and its answers were deleted.")


# --- the questionnaire builder ----------------------------------------------------------------------------


def _builder(request: Request, session: Session, viewer: Viewer, survey: Survey, *,
             form: FormInput | None = None, which: str = "", status_code: int = 200) -> Response:
    q = surveys_service.questionnaire(survey)
    has_responses = surveys_service.survey_summary(
        session, org_id=viewer.org_id, survey_id=survey.id)["responses"] > 0
    values: dict[str, Any] = {"definition": _pretty(survey.definition), "item_section": "0", "item_kind": "likert",
                              "item_scale_low": "1", "item_scale_high": "5", "item_required": "1"}
    errors: dict[str, str] = {}
    if form is not None:
        values.update(form.values)
        errors = form.errors
        if which != "definition":
            values["definition"] = _pretty(survey.definition)
    return render(request, "surveys/builder.html", {
        "survey": survey, "q": q, "kinds": ITEM_KINDS, "has_responses": has_responses,
        "construct_items": {c.code: [i.code for i in q.items() if i.construct == c.code] for c in q.constructs},
        "model_text": default_model(q), "values": values, "errors": errors, "which": which,
    }, status_code=status_code)


@router.get("/surveys/{survey_id}/edit")
def survey_builder(request: Request, survey_id: int, viewer: Permitted("surveys.read"),
                   session: SessionDep) -> Response:
    return _builder(request, session, viewer, _survey(session, viewer, survey_id))


def _save_definition(session: Session, viewer: Viewer, survey: Survey, definition: dict, form: FormInput, *,
                     fields: dict[str, str], default: str) -> bool:
    try:
        surveys_service.update_survey(session, org_id=viewer.org_id, actor_id=viewer.user_id, survey_id=survey.id,
                                      changes={"definition": definition})
    except (Invalid, Conflict) as exc:
        session.rollback()
        _fail(form, exc, default=default, fields=fields)
        return False
    return True


@router.post("/surveys/{survey_id}/edit")
def survey_builder_save(request: Request, survey_id: int, viewer: Permitted("surveys.manage"),
                        session: SessionDep, form: CsrfForm) -> Response:
    survey = _survey(session, viewer, survey_id)
    text = form.text("definition", label="Questionnaire", required=True, max_length=512 * 1024)
    definition = None
    if text:
        try:
            definition = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            form.fail("definition", f"Not valid JSON: {exc}.")
        else:
            if not isinstance(definition, dict):
                form.fail("definition", "The questionnaire must be a JSON object.")
                definition = None
    if definition is not None and _save_definition(session, viewer, survey, definition, form,
                                                   fields={"definition": "definition"}, default="definition"):
        return redirect(request, f"/surveys/{survey_id}/edit", flash="Questionnaire saved.")
    return _builder(request, session, viewer, _survey(session, viewer, survey_id), form=form, which="definition",
                    status_code=422)


#: where a new item's fields sit in the questionnaire document -> the add-item form's input
def _item_fields(section: int, index: int) -> dict[str, str]:
    base = f"definition.sections.{section}.items.{index}"
    inputs = {"code": "item_code", "text": "item_text", "kind": "item_kind", "construct": "item_construct",
              "scale": "item_scale_low", "labels": "item_labels", "reverse": "item_reverse",
              "required": "item_required", "choices": "item_choices"}
    # a problem with the item as a whole (e.g. a likert scale with the wrong number of labels) or with the
    # questionnaire around it (a repeated code, an unknown construct) is shown at the item's code
    return {f"{base}.{name}": field for name, field in inputs.items()} | {base: "item_code", "definition": "item_code"}


def _lines(text: str) -> list[str]:
    parts = text.splitlines() if "\n" in text else text.split(",")
    return [p.strip() for p in parts if p.strip()]


@router.post("/surveys/{survey_id}/items")
def survey_add_item(request: Request, survey_id: int, viewer: Permitted("surveys.manage"), session: SessionDep,
                    form: CsrfForm) -> Response:
    survey = _survey(session, viewer, survey_id)
    definition = orjson.loads(orjson.dumps(survey.definition or {}))
    sections = definition.setdefault("sections", [])
    section_count = len(sections)
    section = form.integer("item_section", label="Section", minimum=0, maximum=section_count, required=True)
    new_title = form.text("item_new_section", label="New section title", max_length=200)
    code = form.text("item_code", label="Code", required=True, max_length=40)
    if code and not is_code(code):
        form.fail("item_code", "Code: lower-case letters, digits and _, starting with a letter (e.g. loy5).")
    text = form.text("item_text", label="Question", required=True, max_length=500)
    kind = form.choice("item_kind", ITEM_KINDS, label="Kind", required=True)
    construct = form.text("item_construct", label="Construct", max_length=40) or None
    item: dict[str, Any] = {"code": code, "text": text, "kind": kind or "likert",
                            "required": form.flag("item_required")}
    if construct:
        item["construct"] = construct
    if kind == "likert" or (kind == "number" and (form.raw("item_scale_low") or form.raw("item_scale_high"))):
        low = form.integer("item_scale_low", label="Lowest", minimum=-1_000_000, maximum=1_000_000, required=True)
        high = form.integer("item_scale_high", label="Highest", minimum=-1_000_000, maximum=1_000_000,
                            required=True)
        if low is not None and high is not None:
            item["scale"] = [low, high]
    labels = _lines(form.text("item_labels", label="Labels", max_length=4000))
    if labels:
        item["labels"] = labels
    choices = _lines(form.text("item_choices", label="Choices", max_length=8000))
    if choices:
        item["choices"] = choices
    if form.flag("item_reverse"):
        item["reverse"] = True
    if form.flag("item_demographic"):
        item["demographic"] = True
    if form.ok and section is not None:
        if section == section_count:
            sections.append({"title": new_title or f"Section {section_count + 1}", "items": []})
        index = len(sections[section].setdefault("items", []))
        sections[section]["items"].append(item)
        if _save_definition(session, viewer, survey, definition, form, fields=_item_fields(section, index),
                            default="item_code"):
            return redirect(request, f"/surveys/{survey_id}/edit#items",
                            flash=f"Question {code} added.")
    return _builder(request, session, viewer, _survey(session, viewer, survey_id), form=form, which="item",
                    status_code=422)


@router.post("/surveys/{survey_id}/constructs")
def survey_add_construct(request: Request, survey_id: int, viewer: Permitted("surveys.manage"),
                         session: SessionDep, form: CsrfForm) -> Response:
    survey = _survey(session, viewer, survey_id)
    definition = orjson.loads(orjson.dumps(survey.definition or {}))
    constructs = definition.setdefault("constructs", [])
    code = form.text("construct_code", label="Code", required=True, max_length=40)
    if code and not is_code(code):
        form.fail("construct_code", "Code: lower-case letters, digits and _, starting with a letter (e.g. trust).")
    name = form.text("construct_name", label="Name", required=True, max_length=120)
    description = form.text("construct_description", label="Description", max_length=1000)
    if form.ok:
        index = len(constructs)
        constructs.append({"code": code, "name": name, "description": description})
        base = f"definition.constructs.{index}"
        fields = {f"{base}.code": "construct_code", f"{base}.name": "construct_name",
                  f"{base}.description": "construct_description", "definition": "construct_code"}
        if _save_definition(session, viewer, survey, definition, form, fields=fields, default="construct_code"):
            return redirect(request, f"/surveys/{survey_id}/edit#constructs", flash=f"Construct {code} added.")
    return _builder(request, session, viewer, _survey(session, viewer, survey_id), form=form, which="construct",
                    status_code=422)


# --- sending personal links -------------------------------------------------------------------------------


def _send_page(request: Request, session: Session, viewer: Viewer, survey: Survey, *,
               form: FormInput | None = None, links: list | None = None, status_code: int = 200) -> Response:
    current = surveys_service.current_wave(session, org_id=viewer.org_id, survey_id=survey.id)
    invites_total = 0
    if current is not None:
        _, invites_total = surveys_service.list_invites(session, org_id=viewer.org_id, survey_id=survey.id,
                                                        wave_id=current.id, limit=1)
    base = str(request.base_url).rstrip("/")
    csv_uri = None
    if links:
        rows = ["customer_id,name,email,link"]
        for link in links:
            cells = [str(link.customer_id), link.customer_name, link.email or "", base + link.path]
            rows.append(",".join('"' + c.replace('"', '""') + '"' if any(x in c for x in ',"\n') else c
                                 for c in cells))
        csv_uri = "data:text/csv;charset=utf-8," + quote("\r\n".join(rows) + "\r\n")
    return render(request, "surveys/send.html", {
        "survey": survey, "current": current, "invites_total": invites_total, "links": links or [],
        "base": base, "csv_uri": csv_uri, "values": form.values if form else {"limit": "1000"},
        "errors": form.errors if form else {},
    }, status_code=status_code)


@router.get("/surveys/{survey_id}/send")
def survey_send(request: Request, survey_id: int, viewer: Permitted("surveys.send"),
                session: SessionDep) -> Response:
    return _send_page(request, session, viewer, _survey(session, viewer, survey_id))


@router.post("/surveys/{survey_id}/send")
def survey_send_create(request: Request, survey_id: int, viewer: Permitted("surveys.send"), session: SessionDep,
                       form: CsrfForm) -> Response:
    survey = _survey(session, viewer, survey_id)
    tags = form.many("tags", label="Tags")
    country = form.text("country", label="Country", max_length=2).upper() or None
    search = form.text("q", label="Search", max_length=200) or None
    limit = form.integer("limit", label="At most", minimum=1, maximum=10_000) or 1000
    if not (tags or country or search) and not form.flag("everyone"):
        form.fail("everyone", "Choose customers by tag, country or search, or tick “every customer”.")
    links: list = []
    if form.ok:
        try:
            links = surveys_service.create_invites(
                session, org_id=viewer.org_id, actor_id=viewer.user_id, survey_id=survey.id,
                filters=CustomerFilters(q=search, tags=tags, country=country), limit=limit,
            )
        except (Invalid, Conflict, NotFound) as exc:
            session.rollback()
            _fail(form, exc, fields={"country": "country", "tags": "tags", "q": "q"})
        else:
            if not links:
                form.fail("form", "No new customers to invite: nobody matches, or everyone who matches is already "
                                  "invited to the current wave.")
    return _send_page(request, session, viewer, _survey(session, viewer, survey_id), form=form, links=links,
                      status_code=200 if form.ok else 422)


# --- responses --------------------------------------------------------------------------------------------


def _responses_page(request: Request, session: Session, viewer: Viewer, survey: Survey, *, offset: int = 0,
                    wave: int | None = None, form: FormInput | None = None, status_code: int = 200) -> Response:
    q = surveys_service.questionnaire(survey)
    waves = surveys_service.list_waves(session, org_id=viewer.org_id, survey_id=survey.id)
    chosen = next((w for w in waves if w.number == wave), None)
    responses, total = surveys_service.list_responses(
        session, org_id=viewer.org_id, survey_id=survey.id, wave_id=chosen.id if chosen else None,
        limit=RESPONSES_PAGE, offset=offset,
    )
    wave_numbers = {w.id: w.number for w in waves}
    return render(request, "surveys/responses.html", {
        "survey": survey, "items": q.items()[:40], "more_items": max(0, len(q.items()) - 40),
        "responses": responses, "waves": waves, "wave": chosen, "wave_numbers": wave_numbers,
        "pager": Pager.of(request, total=total, limit=RESPONSES_PAGE, offset=offset),
        "values": form.values if form else {}, "errors": form.errors if form else {},
        "import_errors": getattr(form, "import_errors", []),
    }, status_code=status_code)


@router.get("/surveys/{survey_id}/responses")
def survey_responses(
    request: Request, survey_id: int, viewer: Permitted("surveys.analyze"), session: SessionDep,
    wave: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    return _responses_page(request, session, viewer, _survey(session, viewer, survey_id), offset=offset, wave=wave)


@router.get("/surveys/{survey_id}/responses.csv")
def survey_responses_csv(
    survey_id: int, viewer: Permitted("surveys.analyze"), session: SessionDep,
    wave: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> Response:
    survey = _survey(session, viewer, survey_id)
    wave_id = None
    if wave is not None:
        found = next((w for w in surveys_service.list_waves(session, org_id=viewer.org_id, survey_id=survey.id)
                      if w.number == wave), None)
        if found is None:
            raise NotFound(f"The survey has no wave {wave}.", field="wave")
        wave_id = found.id
    text = surveys_service.export_responses_csv(session, org_id=viewer.org_id, survey_id=survey.id, wave_id=wave_id)
    filename = f"survey-{survey.id}-responses{f'-wave-{wave}' if wave else ''}.csv"
    return Response(text, media_type="text/csv; charset=utf-8", headers={
        **PAGE_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'})


@router.post("/surveys/{survey_id}/import")
async def survey_import(request: Request, survey_id: int, viewer: Permitted("surveys.analyze"),
                        session: SessionDep, form: CsrfForm) -> Response:
    survey = _survey(session, viewer, survey_id)
    upload = form.data.get("file")
    text = ""
    if upload is None or isinstance(upload, str) or not getattr(upload, "filename", ""):
        form.fail("file", "Choose a CSV file whose header row holds the item codes.")
    else:
        raw = await upload.read(MAX_CSV_UPLOAD + 1)
        if len(raw) > MAX_CSV_UPLOAD:
            form.fail("file", f"The file is larger than {MAX_CSV_UPLOAD // (1024 * 1024)} MB.")
        else:
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                form.fail("file", "The file is not UTF-8 text.")
    form.import_errors = []  # type: ignore[attr-defined]
    if form.ok:
        try:
            count = surveys_service.import_responses(session, org_id=viewer.org_id, actor_id=viewer.user_id,
                                                     survey_id=survey.id, csv_text=text,
                                                     partial=form.flag("partial"))
        except (Invalid, Conflict, NotFound) as exc:
            session.rollback()
            form.fail("file", exc.detail)
            form.import_errors = list(exc.errors)[:20]  # type: ignore[attr-defined]
        else:
            return redirect(request, f"/surveys/{survey_id}/responses",
                            flash=f"{count} response{'s' if count != 1 else ''} imported.")
    return _responses_page(request, session, viewer, _survey(session, viewer, survey_id), form=form,
                           status_code=422)


# --- analysis -----------------------------------------------------------------------------------------------


def _analyze_page(request: Request, session: Session, viewer: Viewer, survey: Survey, *,
                  form: FormInput | None = None, status_code: int = 200) -> Response:
    q: Questionnaire = surveys_service.questionnaire(survey)
    waves = surveys_service.list_waves(session, org_id=viewer.org_id, survey_id=survey.id)
    summary_responses = surveys_service.list_responses(session, org_id=viewer.org_id, survey_id=survey.id,
                                                       limit=1)[1]
    values = form.values if form else {"method": "cb-sem", "wave": "", "model": default_model(q),
                                       "name": "", "n_boot": "500"}
    return render(request, "surveys/analyze.html", {
        "survey": survey, "q": q, "waves": waves, "methods": METHODS, "responses": summary_responses,
        "minimum": surveys_service.MIN_ANALYSIS_RESPONSES,
        "constructs": [(c.code, c.name) for c in q.constructs],
        "values": values, "errors": form.errors if form else {},
    }, status_code=status_code)


@router.get("/surveys/{survey_id}/analyze")
def survey_analyze(request: Request, survey_id: int, viewer: Permitted("surveys.analyze"),
                   session: SessionDep) -> Response:
    return _analyze_page(request, session, viewer, _survey(session, viewer, survey_id))


@router.post("/surveys/{survey_id}/analyze")
def survey_analyze_run(request: Request, survey_id: int, viewer: Permitted("surveys.analyze"),
                       session: SessionDep, form: CsrfForm) -> Response:
    survey = _survey(session, viewer, survey_id)
    method = form.choice("method", [m for m, _ in METHODS], label="Method", required=True)
    model = form.text("model", label="Model", required=True, max_length=20_000)
    name = form.text("name", label="Title", max_length=200)
    n_boot = form.integer("n_boot", label="Bootstrap samples", minimum=50, maximum=5000) or 500
    wave_number = form.integer("wave", label="Wave", minimum=1, maximum=100_000)
    wave_id = None
    if wave_number is not None:
        found = next((w for w in surveys_service.list_waves(session, org_id=viewer.org_id, survey_id=survey.id)
                      if w.number == wave_number), None)
        if found is None:
            form.fail("wave", f"The survey has no wave {wave_number}.")
        else:
            wave_id = found.id
    if form.ok:
        try:
            analysis = surveys_service.run_analysis(
                session, org_id=viewer.org_id, actor_id=viewer.user_id, survey_id=survey.id, method=method or "cb-sem",
                model=model, wave_id=wave_id, name=name, n_boot=n_boot,
            )
        except (Invalid, Conflict) as exc:
            session.rollback()
            field = exc.field or "model"
            form.fail(field if field in ("method", "wave", "responses", "name") else "model", exc.detail)
        else:
            return redirect(request, f"/surveys/analyses/{analysis.id}", flash="Analysis finished.")
    return _analyze_page(request, session, viewer, _survey(session, viewer, survey_id), form=form,
                         status_code=422)


@router.get("/surveys/analyses/{analysis_id}")
def analysis_report(request: Request, analysis_id: int, viewer: Permitted("surveys.read"),
                    session: SessionDep) -> Response:
    from patron.surveys.report import render_report_body

    analysis = surveys_service.get_analysis_or_raise(session, org_id=viewer.org_id, analysis_id=analysis_id)
    survey = _survey(session, viewer, analysis.survey_id)
    wave = None
    if analysis.wave_id is not None:
        wave = next((w for w in surveys_service.list_waves(session, org_id=viewer.org_id, survey_id=survey.id)
                     if w.id == analysis.wave_id), None)
    return render(request, "surveys/report.html", {
        "survey": survey, "analysis": analysis, "wave": wave, "body": render_report_body(analysis.result),
    })


@router.get("/surveys/analyses/{analysis_id}/report.html")
def analysis_report_download(analysis_id: int, viewer: Permitted("surveys.read"), session: SessionDep) -> Response:
    from patron.surveys.report import render_report

    analysis = surveys_service.get_analysis_or_raise(session, org_id=viewer.org_id, analysis_id=analysis_id)
    document = render_report(analysis.result, title=analysis.name or None)
    return Response(document, media_type="text/html; charset=utf-8", headers={
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        # the standalone report carries its own inline CSS and SVG and no script
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
        "Content-Disposition": f'attachment; filename="survey-analysis-{analysis.id}.html"',
    })


@router.post("/surveys/analyses/{analysis_id}/delete")
def analysis_delete(request: Request, analysis_id: int, viewer: Permitted("surveys.analyze"),
                    session: SessionDep, form: CsrfForm) -> Response:
    analysis = surveys_service.get_analysis_or_raise(session, org_id=viewer.org_id, analysis_id=analysis_id)
    survey_id = analysis.survey_id
    surveys_service.delete_analysis(session, org_id=viewer.org_id, actor_id=viewer.user_id, analysis_id=analysis_id)
    return redirect(request, f"/surveys/{survey_id}", flash="Analysis deleted.")


@router.get("/surveys/{survey_id}/compare")
def survey_compare(
    request: Request, survey_id: int, viewer: Permitted("surveys.read"), session: SessionDep,
    wave_a: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    wave_b: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> Response:
    survey = _survey(session, viewer, survey_id)
    waves = surveys_service.list_waves(session, org_id=viewer.org_id, survey_id=survey.id)
    if wave_a is None and wave_b is None and len(waves) >= 2:
        wave_a, wave_b = waves[-2].number, waves[-1].number
    result, error = None, None
    if wave_a is not None and wave_b is not None:
        try:
            result = surveys_service.compare_waves(session, org_id=viewer.org_id, survey_id=survey.id,
                                                   wave_a=wave_a, wave_b=wave_b)
        except (Invalid, NotFound) as exc:
            error = exc.detail
    q = surveys_service.questionnaire(survey)
    return render(request, "surveys/compare.html", {
        "survey": survey, "waves": waves, "wave_a": wave_a, "wave_b": wave_b, "result": result, "error": error,
        "construct_names": {c.code: c.name for c in q.constructs},
    })


# --- the public answer page -------------------------------------------------------------------------------


def _public(request: Request, template: str, context: dict, *, status_code: int = 200) -> Response:
    return render(request, template, {"viewer": None, "flash": None, **context}, status_code=status_code,
                  headers=PUBLIC_HEADERS)


def _message(request: Request, title: str, message: str, *, status_code: int = 200, survey_name: str = "",
             kind: str = "info") -> Response:
    return _public(request, "surveys/public_message.html", {
        "title": title, "message": message, "survey_name": survey_name, "kind": kind}, status_code=status_code)


def _not_found(request: Request) -> Response:
    return _message(request, "This link does not work",
                    "The survey link is not valid. Please check that you copied the whole link from your message.",
                    status_code=404, kind="error")


def _form_answers(q: Questionnaire, form: FormInput) -> dict[str, Any]:
    """The answers in a submitted public form (``answers.<code>`` inputs); blanks left out."""
    answers: dict[str, Any] = {}
    getlist = getattr(form.data, "getlist", None)
    for item in q.items():
        name = f"answers.{item.code}"
        if item.kind == "multiple":
            chosen = [v for v in (getlist(name) if getlist else []) if isinstance(v, str) and v]
            if chosen:
                answers[item.code] = chosen
            continue
        value = form.data.get(name)
        if isinstance(value, str) and value.strip():
            answers[item.code] = value[: MAX_TEXT_ANSWER + 1]
    return answers


def _public_form(request: Request, public, *, answers: dict | None = None, errors: dict | None = None,
                 status_code: int = 200) -> Response:
    return _public(request, "surveys/public.html", {
        "survey": public.survey, "q": public.questionnaire, "first_name": public.first_name,
        "answers": answers or {}, "errors": errors or {}, "action": request.url.path,
    }, status_code=status_code)


@router.get("/s/{token}")
def public_form(request: Request, token: str, session: SessionDep) -> Response:
    try:
        public = surveys_service.open_invite(session, token=token)
    except NotFound:
        return _not_found(request)
    if public.answered:
        return _message(request, "You have already answered",
                        "Your answers have reached us. Thank you for taking part.", survey_name=public.survey.name)
    if public.closed:
        return _message(request, "This survey is closed", "It no longer accepts answers. Thank you for your "
                        "interest.", survey_name=public.survey.name)
    return _public_form(request, public)


@router.post("/s/{token}")
def public_submit(request: Request, token: str, session: SessionDep, form: PlainForm) -> Response:
    try:
        public = surveys_service.open_invite(session, token=token)
    except NotFound:
        return _not_found(request)
    q = public.questionnaire
    answers = _form_answers(q, form)
    errors = {f"answers.{i.code}": "Please answer this question." for i in q.items()
              if i.required and i.code not in answers}
    if not errors and not public.answered and not public.closed:
        try:
            surveys_service.submit_invite(session, token=token, answers=answers)
        except Invalid as exc:
            session.rollback()
            errors[exc.field if exc.field and exc.field.startswith("answers.") else "form"] = \
                exc.detail[:1].upper() + exc.detail[1:] + "."
        except Conflict as exc:
            session.rollback()
            if exc.code == "already_answered":
                return _message(request, "You have already answered",
                                "Your answers have reached us. Thank you for taking part.",
                                survey_name=public.survey.name)
            return _message(request, "This survey is closed", "It no longer accepts answers.",
                            survey_name=public.survey.name)
        else:
            return _message(request, "Thank you", q.thanks, survey_name=public.survey.name, kind="ok")
    if public.answered:
        return _message(request, "You have already answered",
                        "Your answers have reached us. Thank you for taking part.", survey_name=public.survey.name)
    if public.closed:
        return _message(request, "This survey is closed", "It no longer accepts answers.",
                        survey_name=public.survey.name)
    return _public_form(request, public, answers=answers, errors=errors, status_code=422)
