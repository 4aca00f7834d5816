"""The survey pages (list, builder, send, responses, analysis, report, comparison) and the public answer page."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import unquote

import pytest

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.simulate.surveys import DEMO_PATHS, planted_answers
from patron.surveys import service as surveys_service
from patron.surveys.definition import parse_questionnaire
from patron.surveys.templates import get_template
from tests.web.conftest import Browser, sign_in

LINK_RE = re.compile(r"/s/(psv_[A-Za-z0-9_-]+)")

SMALL = {
    "intro": "Two minutes about your last trip.",
    "thanks": "Thanks, that helps a lot.",
    "constructs": [{"code": "quality", "name": "Quality"}],
    "sections": [{"title": "Your trip", "items": [
        {"code": "q1", "text": "The driver arrived on time.", "construct": "quality",
         "labels": ["Strongly disagree", "Disagree", "Neutral", "Agree", "Strongly agree"]},
        {"code": "q2", "text": "The car was clean.", "construct": "quality"},
        {"code": "nps", "text": "Would you recommend us?", "kind": "nps"},
        {"code": "city", "text": "Where do you ride most?", "kind": "single", "choices": ["Berlin", "Paris"],
         "required": False},
        {"code": "extras", "text": "What do you use?", "kind": "multiple", "choices": ["Rides", "Food", "Parcels"],
         "required": False},
        {"code": "why", "text": "Anything else?", "kind": "text", "required": False},
    ]}],
}


def _session(db, tenant):
    class Scope:
        def __enter__(self):
            self.cm = session_scope(db)
            session = self.cm.__enter__()
            session.info["actor"] = Actor(org_id=tenant.org_id, user_id=tenant.user_id, label="test")
            return session

        def __exit__(self, *exc):
            return self.cm.__exit__(*exc)

    return Scope()


def _survey(db, tenant, *, definition=None, template=None, status="open", name="Rider check") -> int:
    with _session(db, tenant) as session:
        survey = surveys_service.create_survey(
            session, org_id=tenant.org_id, actor_id=tenant.user_id, name=name, template=template,
            definition=definition if definition is not None or template else SMALL,
        )
        if status in ("open", "closed"):
            surveys_service.set_status(session, org_id=tenant.org_id, actor_id=tenant.user_id,
                                       survey_id=survey.id, status="open")
        if status == "closed":
            surveys_service.set_status(session, org_id=tenant.org_id, actor_id=tenant.user_id,
                                       survey_id=survey.id, status="closed")
        return survey.id


def _invite(db, tenant, survey_id, customer_ids) -> list[str]:
    with _session(db, tenant) as session:
        links = surveys_service.create_invites(session, org_id=tenant.org_id, actor_id=tenant.user_id,
                                               survey_id=survey_id, customer_ids=customer_ids)
        return [link.token for link in links]


def _answer(db, tenant, survey_id, rows) -> None:
    with _session(db, tenant) as session:
        for row in rows:
            surveys_service.submit_response(session, org_id=tenant.org_id, actor_id=tenant.user_id,
                                            survey_id=survey_id, answers=row)


def _definition(db, tenant, survey_id) -> dict:
    with _session(db, tenant) as session:
        return surveys_service.get_survey_or_raise(session, org_id=tenant.org_id, survey_id=survey_id).definition


def _field_error(page: str, name: str) -> str:
    match = re.search(rf'id="{re.escape(name)}-error">([^<]*)<', page)
    assert match, f"no error shown at {name}"
    return html.unescape(match.group(1))


# --- list, new, builder -----------------------------------------------------------------------------------


def test_list_and_new_survey_from_a_template_lead_to_the_builder(browser, db, tenant):
    empty = browser.get("/surveys")
    assert empty.status_code == 200
    assert 'href="/surveys/new"' in empty.text and "SERVQUAL service quality" in empty.text
    assert 'href="/surveys"' in empty.text  # the navigation entry

    missing = browser.post("/surveys/new", {"name": "", "template": "crm_success"})
    assert missing.status_code == 422
    assert _field_error(missing.text, "name") == "Name is required."

    created = browser.post("/surveys/new", {"name": "Rider experience", "template": "crm_success"})
    assert created.status_code == 303
    location = created.headers["location"]
    survey_id = int(re.fullmatch(r"/surveys/(\d+)/edit", location).group(1))
    builder = browser.get(location)
    assert builder.status_code == 200
    assert "I would switch to a different app for a small discount." in builder.text
    assert "success ~ loyalty + demands + quality + orientation + flexibility + interaction" in builder.text
    assert parse_questionnaire(_definition(db, tenant, survey_id)) == parse_questionnaire(
        get_template("crm_success").questionnaire)

    listing = browser.get("/surveys")
    assert "Rider experience" in listing.text and f'href="/surveys/{survey_id}"' in listing.text
    assert "CRM success of a connected service · created" in listing.text
    assert "Rider experience" not in browser.get("/surveys?status=open").text


def test_builder_errors_are_shown_next_to_the_field(browser, db, tenant):
    survey_id = _survey(db, tenant, status="draft")
    bad = {**SMALL, "sections": [{"title": "T", "items": [
        {"code": "q1", "text": "Scale?", "scale": [5, 1]}]}]}
    response = browser.post(f"/surveys/{survey_id}/edit", {"definition": json.dumps(bad)})
    assert response.status_code == 422
    message = _field_error(response.text, "definition")
    assert "sections.0.items.0" in message and "likert scale" in message
    # the textarea keeps what was typed
    assert "Scale?" in response.text
    not_json = browser.post(f"/surveys/{survey_id}/edit", {"definition": "{nope"})
    assert "Not valid JSON" in _field_error(not_json.text, "definition")
    assert parse_questionnaire(_definition(db, tenant, survey_id)) == parse_questionnaire(SMALL)

    duplicate = browser.post(f"/surveys/{survey_id}/items", {
        "item_section": "0", "item_code": "q2", "item_text": "Again", "item_kind": "likert",
        "item_scale_low": "1", "item_scale_high": "5", "item_required": "1"})
    assert duplicate.status_code == 422
    assert "repeated: q2" in _field_error(duplicate.text, "item_code")

    bad_code = browser.post(f"/surveys/{survey_id}/items", {
        "item_section": "0", "item_code": "Q 3", "item_text": "Hm", "item_kind": "likert",
        "item_scale_low": "1", "item_scale_high": "5"})
    assert "lower-case" in _field_error(bad_code.text, "item_code")

    few_choices = browser.post(f"/surveys/{survey_id}/items", {
        "item_section": "0", "item_code": "size", "item_text": "Car size", "item_kind": "single",
        "item_choices": "Small"})
    assert "at least 2 choices" in _field_error(few_choices.text, "item_code")

    unknown_construct = browser.post(f"/surveys/{survey_id}/items", {
        "item_section": "0", "item_code": "q3", "item_text": "Fast", "item_kind": "likert",
        "item_construct": "speed", "item_scale_low": "1", "item_scale_high": "5"})
    assert "unknown construct 'speed'" in _field_error(unknown_construct.text, "item_code")
    assert parse_questionnaire(_definition(db, tenant, survey_id)) == parse_questionnaire(SMALL)


def test_builder_adds_a_construct_and_an_item_in_a_new_section(browser, db, tenant):
    survey_id = _survey(db, tenant, status="draft")
    added = browser.post(f"/surveys/{survey_id}/constructs", {
        "construct_code": "speed", "construct_name": "Speed"})
    assert added.status_code == 303
    again = browser.post(f"/surveys/{survey_id}/constructs", {
        "construct_code": "speed", "construct_name": "Speed again"})
    assert again.status_code == 422
    assert "construct codes must be unique" in _field_error(again.text, "construct_code")

    item = browser.post(f"/surveys/{survey_id}/items", {
        "item_section": "1", "item_new_section": "Speed", "item_code": "sp1", "item_text": "Pick-ups are quick.",
        "item_kind": "likert", "item_construct": "speed", "item_scale_low": "1", "item_scale_high": "7",
        "item_reverse": "1", "item_required": "1"})
    assert item.status_code == 303, item.text
    definition = _definition(db, tenant, survey_id)
    assert definition["constructs"][-1] == {"code": "speed", "name": "Speed", "description": ""}
    section = definition["sections"][1]
    assert section["title"] == "Speed"
    new = parse_questionnaire(definition).item("sp1")
    assert (new.construct, new.scale, new.reverse, new.required) == ("speed", (1, 7), True, True)
    assert "Pick-ups are quick." in browser.get(f"/surveys/{survey_id}/edit").text


def test_a_viewer_reads_but_cannot_change_the_questionnaire(client, make_tenant, db, tenant):
    survey_id = _survey(db, tenant, status="draft")
    viewer = make_tenant("Acme", role="viewer")
    as_viewer = Browser(client, sign_in(client, viewer.email, viewer.password))
    page = as_viewer.get(f"/surveys/{survey_id}/edit")
    assert page.status_code == 200
    assert f'action="/surveys/{survey_id}/edit"' not in page.text  # no editing form
    changed = {**SMALL, "intro": "Changed"}
    assert as_viewer.post(f"/surveys/{survey_id}/edit", {"definition": json.dumps(changed)}).status_code == 403
    assert as_viewer.post(f"/surveys/{survey_id}/items", {"item_code": "x1"}).status_code == 403
    assert as_viewer.post(f"/surveys/{survey_id}/status", {"status": "open"}).status_code == 403
    assert as_viewer.get(f"/surveys/{survey_id}/send").status_code == 403
    assert as_viewer.get(f"/surveys/{survey_id}/responses").status_code == 403
    assert parse_questionnaire(_definition(db, tenant, survey_id)) == parse_questionnaire(SMALL)


def test_open_close_and_a_new_wave_from_the_overview(browser, db, tenant):
    survey_id = _survey(db, tenant, status="draft")
    page = browser.get(f"/surveys/{survey_id}")
    assert page.status_code == 200 and 'data-testid="open-survey"' in page.text
    assert browser.post(f"/surveys/{survey_id}/status", {"status": "open"}).status_code == 303
    waved = browser.post(f"/surveys/{survey_id}/waves", {"label": "After the new app"})
    assert waved.status_code == 303
    page = browser.get(f"/surveys/{survey_id}")
    assert "After the new app" in page.text
    with _session(db, tenant) as session:
        waves = surveys_service.list_waves(session, org_id=tenant.org_id, survey_id=survey_id)
        assert [(w.number, w.label, w.closed_at is None) for w in waves] == [
            (1, "", False), (2, "After the new app", True)]
    interval = browser.post(f"/surveys/{survey_id}/settings", {"name": "Rider check", "wave_interval_days": "0"})
    assert interval.status_code == 422
    assert _field_error(interval.text, "wave_interval_days") == "Repeat every must be at least 1."
    assert browser.post(f"/surveys/{survey_id}/status", {"status": "closed"}).status_code == 303
    # a draft cannot come back: the move is refused with a message, not an error page
    refused = browser.post(f"/surveys/{survey_id}/status", {"status": "draft"})
    assert refused.status_code == 303
    assert "closed" in browser.get(f"/surveys/{survey_id}").text.lower()


# --- send ----------------------------------------------------------------------------------------------------


def test_send_creates_invites_and_shows_the_links_once(browser, db, tenant, seed):
    survey_id = _survey(db, tenant)
    riders = [seed.customer(tenant, first_name=f"Rider{i}", tags=["rider"]) for i in range(3)]
    seed.customer(tenant, first_name="Other", tags=["fleet"])
    nothing = browser.post(f"/surveys/{survey_id}/send", {"limit": "100"})
    assert nothing.status_code == 422
    assert "tick" in _field_error(nothing.text, "everyone")

    sent = browser.post(f"/surveys/{survey_id}/send", {"tags": "rider", "limit": "100"})
    assert sent.status_code == 200
    tokens = set(LINK_RE.findall(sent.text))
    assert len(tokens) == 3
    assert "shown only once" in sent.text
    csv_uri = re.search(r'href="(data:text/csv[^"]+)"', sent.text).group(1)
    csv_text = unquote(csv_uri.split(",", 1)[1])
    assert csv_text.startswith("customer_id,name,email,link")
    assert {int(line.split(",")[0]) for line in csv_text.strip().splitlines()[1:]} == set(riders)
    assert all(f"http://testserver/s/{t}" in csv_text for t in tokens)
    with _session(db, tenant) as session:
        invites, total = surveys_service.list_invites(session, org_id=tenant.org_id, survey_id=survey_id)
        assert total == 3 and {i.customer_id for i in invites} == set(riders)
    # the links are not shown again, and nobody is invited twice in a wave
    assert not LINK_RE.search(browser.get(f"/surveys/{survey_id}/send").text)
    again = browser.post(f"/surveys/{survey_id}/send", {"tags": "rider", "limit": "100"})
    assert again.status_code == 422 and "No new customers" in again.text
    everyone = browser.post(f"/surveys/{survey_id}/send", {"everyone": "1", "limit": "100"})
    assert len(set(LINK_RE.findall(everyone.text))) == 1


def test_send_needs_an_open_survey(browser, db, tenant, seed):
    survey_id = _survey(db, tenant, status="draft")
    seed.customer(tenant)
    page = browser.get(f"/surveys/{survey_id}/send")
    assert "Open it on the" in page.text and 'data-testid="send-form"' not in page.text
    refused = browser.post(f"/surveys/{survey_id}/send", {"everyone": "1"})
    assert refused.status_code == 422 and "must be open" in refused.text


# --- the public answer page ---------------------------------------------------------------------------------


def test_public_page_answers_once_with_errors_kept_next_to_the_item(client, browser, db, tenant, seed):
    survey_id = _survey(db, tenant)
    customer_id = seed.customer(tenant, first_name="Lena")
    (token,) = _invite(db, tenant, survey_id, [customer_id])
    client.cookies.clear()  # the respondent has no session

    page = client.get(f"/s/{token}", follow_redirects=False)
    assert page.status_code == 200
    assert "Hello Lena," in page.text and "The driver arrived on time." in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert 'class="nav"' not in page.text and "csrf_token" not in page.text
    assert page.text.count('name="answers.nps"') == 11  # NPS 0-10 as a row
    assert "Strongly agree" in page.text

    partial = client.post(f"/s/{token}", data={"answers.q1": "4", "answers.nps": "11", "answers.city": "Paris"},
                          follow_redirects=False)
    assert partial.status_code == 422
    assert "Please answer this question." in partial.text
    assert 'data-testid="error-q2"' in partial.text and 'data-testid="error-q1"' not in partial.text
    # the answers given are kept
    assert re.search(r'name="answers.q1" value="4" checked', partial.text)
    assert re.search(r'name="answers.city" value="Paris" checked', partial.text)

    out_of_range = client.post(f"/s/{token}", data={"answers.q1": "4", "answers.q2": "5", "answers.nps": "11"})
    assert out_of_range.status_code == 422
    assert re.search(r'data-testid="error-nps">Must be between 0 and 10', out_of_range.text)

    done = client.post(f"/s/{token}", data={
        "answers.q1": "4", "answers.q2": "5", "answers.nps": "9", "answers.extras": ["Rides", "Food"],
        "answers.why": "Quick pick-ups"}, follow_redirects=False)
    assert done.status_code == 200
    assert "Thanks, that helps a lot." in done.text
    assert done.headers["referrer-policy"] == "no-referrer"
    with _session(db, tenant) as session:
        responses, total = surveys_service.list_responses(session, org_id=tenant.org_id, survey_id=survey_id)
        assert total == 1
        assert responses[0].answers == {"q1": 4, "q2": 5, "nps": 9, "extras": ["Rides", "Food"],
                                         "why": "Quick pick-ups"}
        assert responses[0].customer_id == customer_id and responses[0].source == "link"

    again = client.get(f"/s/{token}")
    assert again.status_code == 200 and "You have already answered" in again.text
    twice = client.post(f"/s/{token}", data={"answers.q1": "1", "answers.q2": "1", "answers.nps": "0"})
    assert "You have already answered" in twice.text
    with _session(db, tenant) as session:
        assert surveys_service.list_responses(session, org_id=tenant.org_id, survey_id=survey_id)[1] == 1


def test_public_page_closed_survey_and_bad_token(client, db, tenant, seed):
    survey_id = _survey(db, tenant)
    (token,) = _invite(db, tenant, survey_id, [seed.customer(tenant)])
    with _session(db, tenant) as session:
        surveys_service.set_status(session, org_id=tenant.org_id, actor_id=tenant.user_id, survey_id=survey_id,
                                   status="closed")
    closed = client.get(f"/s/{token}")
    assert closed.status_code == 200 and "This survey is closed" in closed.text
    posted = client.post(f"/s/{token}", data={"answers.q1": "4", "answers.q2": "5", "answers.nps": "9"})
    assert "This survey is closed" in posted.text
    with _session(db, tenant) as session:
        assert surveys_service.list_responses(session, org_id=tenant.org_id, survey_id=survey_id)[1] == 0

    for bad in ("psv_" + "x" * 30, "nonsense", token[:-2] + "zz"):
        response = client.get(f"/s/{bad}", follow_redirects=False)
        assert response.status_code == 404, bad  # never a login redirect
        assert "This link does not work" in response.text
        assert client.post(f"/s/{bad}", data={"answers.q1": "1"}, follow_redirects=False).status_code == 404


# --- responses, analysis, report, comparison ------------------------------------------------------------


def test_responses_export_and_import(browser, db, tenant):
    survey_id = _survey(db, tenant)
    _answer(db, tenant, survey_id, [{"q1": 4, "q2": 5, "nps": 10, "why": "Great"},
                                    {"q1": 2, "q2": 1, "nps": 3, "city": "Berlin"}])
    page = browser.get(f"/surveys/{survey_id}/responses")
    assert page.status_code == 200 and "Great" in page.text and "Berlin" in page.text
    export = browser.get(f"/surveys/{survey_id}/responses.csv")
    assert export.status_code == 200
    assert export.headers["content-disposition"].startswith("attachment;")
    assert "q1" in export.text.splitlines()[0] and len(export.text.strip().splitlines()) == 3

    bad = browser.post(f"/surveys/{survey_id}/import",
                       files={"file": ("answers.csv", b"q1,q2,nps\n4,5,9\n9,5,9\n", "text/csv")})
    assert bad.status_code == 422
    assert "row" in _field_error(bad.text, "file").lower()
    good = browser.post(f"/surveys/{survey_id}/import",
                        files={"file": ("answers.csv", b"q1,q2,nps\n4,5,9\n3,3,7\n", "text/csv")})
    assert good.status_code == 303
    with _session(db, tenant) as session:
        assert surveys_service.list_responses(session, org_id=tenant.org_id, survey_id=survey_id)[1] == 4


def test_analysis_from_the_page_to_the_report(browser, db, tenant):
    survey_id = _survey(db, tenant, template="crm_success")
    q = parse_questionnaire(get_template("crm_success").questionnaire)
    _answer(db, tenant, survey_id, planted_answers(q, 160, seed=11, paths=DEMO_PATHS))

    form = browser.get(f"/surveys/{survey_id}/analyze")
    assert form.status_code == 200
    assert "success ~ loyalty + demands + quality + orientation + flexibility + interaction" in form.text
    assert "/static/surveys.js" in form.text and "data-path-helper" in form.text

    wrong = browser.post(f"/surveys/{survey_id}/analyze", {
        "method": "cb-sem", "model": "loyalty =~ loy1 + nosuch", "wave": ""})
    assert wrong.status_code == 422
    assert _field_error(wrong.text, "model")
    assert "loyalty =~ loy1 + nosuch" in wrong.text  # the model text is kept

    done = browser.post(f"/surveys/{survey_id}/analyze", {
        "method": "cb-sem", "model": q.model, "wave": "1", "name": "Spring wave"})
    assert done.status_code == 303, done.text
    analysis_id = int(done.headers["location"].rsplit("/", 1)[1])
    report = browser.get(f"/surveys/analyses/{analysis_id}")
    assert report.status_code == 200
    assert "Spring wave" in report.text and "RMSEA" in report.text and "<svg" in report.text
    assert "/surveys/report.css" in report.text
    css = browser.get("/surveys/report.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css") and ".pr-" in css.text
    download = browser.get(f"/surveys/analyses/{analysis_id}/report.html")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == f'attachment; filename="survey-analysis-{analysis_id}.html"'
    assert download.text.lstrip().lower().startswith("<!doctype html") and "<style>" in download.text
    assert f'href="/surveys/analyses/{analysis_id}"' in browser.get(f"/surveys/{survey_id}").text


def test_too_few_responses_are_explained_on_the_analysis_page(browser, db, tenant):
    survey_id = _survey(db, tenant)
    _answer(db, tenant, survey_id, [{"q1": 4, "q2": 5, "nps": 10}] * 3)
    response = browser.post(f"/surveys/{survey_id}/analyze", {"method": "pls", "model": "quality =~ q1 + q2"})
    assert response.status_code == 422
    assert "at least 10" in response.text and 'data-testid="responses-error"' in response.text


def test_wave_comparison_page(browser, db, tenant):
    survey_id = _survey(db, tenant)
    _answer(db, tenant, survey_id, [{"q1": 2, "q2": 2, "nps": 5}, {"q1": 3, "q2": 2, "nps": 6},
                                    {"q1": 2, "q2": 3, "nps": 4}])
    with _session(db, tenant) as session:
        surveys_service.open_wave(session, org_id=tenant.org_id, actor_id=tenant.user_id, survey_id=survey_id)
    _answer(db, tenant, survey_id, [{"q1": 5, "q2": 4, "nps": 9}, {"q1": 4, "q2": 5, "nps": 10},
                                    {"q1": 5, "q2": 5, "nps": 9}])
    page = browser.get(f"/surveys/{survey_id}/compare")
    assert page.status_code == 200
    table = page.text[page.text.index('data-testid="compare-table"'):]
    # quality means: wave 1 = (2+2+3+2+2+3)/6 = 2.33, wave 2 = (5+4+4+5+5+5)/6 = 4.67, change +2.33
    assert "2.33" in table and "4.67" in table and "+2.33" in table
    missing = browser.get(f"/surveys/{survey_id}/compare?wave_a=1&wave_b=7")
    assert missing.status_code == 200 and "no wave 7" in missing.text


# --- tenant isolation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/surveys/{id}", "/surveys/{id}/edit", "/surveys/{id}/send", "/surveys/{id}/responses",
    "/surveys/{id}/responses.csv", "/surveys/{id}/analyze", "/surveys/{id}/compare",
])
def test_another_organisations_survey_is_not_found(browser, db, make_tenant, path):
    other = make_tenant("Globex", role="admin")
    survey_id = _survey(db, other)
    assert browser.get(path.format(id=survey_id)).status_code == 404


def test_another_organisations_survey_cannot_be_changed(browser, db, make_tenant):
    other = make_tenant("Globex", role="admin")
    survey_id = _survey(db, other)
    for path, data in [
        ("/surveys/{id}/edit", {"definition": "{}"}), ("/surveys/{id}/items", {"item_code": "x"}),
        ("/surveys/{id}/constructs", {"construct_code": "x"}), ("/surveys/{id}/status", {"status": "closed"}),
        ("/surveys/{id}/waves", {}), ("/surveys/{id}/settings", {"name": "Mine"}),
        ("/surveys/{id}/send", {"everyone": "1"}), ("/surveys/{id}/analyze", {"model": "x"}),
        ("/surveys/{id}/delete", {}),
    ]:
        assert browser.post(path.format(id=survey_id), data).status_code == 404, path
    with _session(db, other) as session:
        survey = surveys_service.get_survey_or_raise(session, org_id=other.org_id, survey_id=survey_id)
        assert survey.status == "open" and survey.name == "Rider check"


def test_another_organisations_analysis_is_not_found(browser, db, make_tenant):
    other = make_tenant("Globex", role="admin")
    survey_id = _survey(db, other, template="crm_success")
    q = parse_questionnaire(get_template("crm_success").questionnaire)
    _answer(db, other, survey_id, planted_answers(q, 40, seed=2, paths=DEMO_PATHS))
    with _session(db, other) as session:
        analysis = surveys_service.run_analysis(session, org_id=other.org_id, actor_id=other.user_id,
                                                survey_id=survey_id, method="pls", n_boot=50)
        analysis_id = analysis.id
    assert browser.get(f"/surveys/analyses/{analysis_id}").status_code == 404
    assert browser.get(f"/surveys/analyses/{analysis_id}/report.html").status_code == 404
    assert browser.post(f"/surveys/analyses/{analysis_id}/delete").status_code == 404
