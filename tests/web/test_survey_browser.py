"""A survey's whole web flow in real Chromium: create it from a template, open it, send personal links, answer
one link on a phone, analyse the answers (CB-SEM) and read the report with its fit table and path diagram."""

from __future__ import annotations

import re

import pytest

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.simulate.surveys import DEMO_PATHS, planted_answers
from patron.surveys import service as surveys_service
from patron.surveys.definition import default_model, parse_questionnaire
from patron.surveys.templates import get_template
from tests.web.test_browser import TIMEOUT_MS, _sign_in, live_app, page  # noqa: F401

pytestmark = pytest.mark.browser

SIMULATED = 150


def _seed_answers(running, survey_id: int) -> None:
    """Answers drawn from the template's own model with planted paths, entered through the service."""
    q = parse_questionnaire(get_template("crm_success").questionnaire)
    with session_scope(running.factory) as session:
        session.info["actor"] = Actor(org_id=running.org_id, label="browser-test")
        for answers in planted_answers(q, SIMULATED, seed=7, paths=DEMO_PATHS):
            surveys_service.submit_response(session, org_id=running.org_id, actor_id=None, survey_id=survey_id,
                                            answers=answers)


def _answer_on_a_phone(browser, link: str) -> None:
    """Answer one personal link in a fresh, signed-out phone-sized context of the same browser."""
    from playwright.sync_api import expect

    q = parse_questionnaire(get_template("crm_success").questionnaire)
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        respondent = phone.new_page()  # the respondent's page, not the staff member's
        respondent.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        respondent.on("pageerror", lambda error: errors.append(str(error)))
        response = respondent.goto(link)
        assert response is not None and response.status == 200
        assert response.headers["referrer-policy"] == "no-referrer"
        assert respondent.url == link  # no login redirect
        expect(respondent.locator(".sv-hello")).to_have_text("Hello Maria,")
        assert respondent.locator(".nav").count() == 0

        likert = [item for item in q.items() if item.kind == "likert"]
        # answer all but the last statement first: the form comes back with the gap marked, answers kept
        for number, item in enumerate(likert[:-1]):
            respondent.locator(f'fieldset[data-item="{item.code}"] label.sv-point:has(input[value="{4 + number % 2}"])'
                         ).tap()
        respondent.get_by_test_id("submit-answers").tap()
        last = likert[-1].code
        expect(respondent.get_by_test_id(f"error-{last}")).to_have_text("Please answer this question.")
        assert respondent.locator(f'fieldset[data-item="{likert[0].code}"] input[value="4"]').is_checked()
        # the scale's points are large enough to tap on a phone
        box = respondent.locator(f'fieldset[data-item="{last}"] .sv-num').first.bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 40
        respondent.locator(f'fieldset[data-item="{last}"] label.sv-point:has(input[value="5"])').tap()
        respondent.locator('fieldset[data-item="age_band"] label.sv-option:has-text("25-34")').tap()
        respondent.get_by_test_id("submit-answers").tap()
        expect(respondent.get_by_test_id("public-message")).to_contain_text("Thank you for your answers.")
        # the same link again: already answered
        respondent.goto(link)
        expect(respondent.get_by_test_id("public-message")).to_contain_text("You have already answered")
        # the whole page fits the phone's width
        assert respondent.evaluate("document.documentElement.scrollWidth") <= 390
        assert errors == []
    finally:
        phone.close()


def test_survey_from_template_to_report(live_app, page):  # noqa: F811
    from playwright.sync_api import expect

    _sign_in(page, live_app)
    page.get_by_role("link", name="Surveys").first.click()
    page.wait_for_url("**/surveys")
    page.get_by_test_id("new-survey").click()
    page.wait_for_url("**/surveys/new")
    form = page.get_by_test_id("new-survey-form")
    form.locator("#f-name").fill("Rider experience")
    form.locator("label.sv-choice", has_text="CRM success of a connected service").click()
    form.get_by_role("button", name="Create survey").click()
    page.wait_for_url(re.compile(r".*/surveys/\d+/edit$"))
    survey_id = int(re.search(r"/surveys/(\d+)/edit", page.url).group(1))
    expect(page.locator("#items")).to_contain_text("I would switch to a different app for a small discount.")
    expect(page.get_by_test_id("model-text")).to_contain_text("success ~ loyalty + demands + quality")

    # open it
    page.get_by_role("link", name="Overview").click()
    page.get_by_test_id("open-survey").click()
    expect(page.get_by_test_id("survey-status")).to_contain_text("wave 1")

    # send to every customer: the links are shown once
    page.get_by_role("link", name="Send").click()
    page.wait_for_url(f"**/surveys/{survey_id}/send")
    page.get_by_test_id("everyone").check()
    page.get_by_test_id("create-links").click()
    links = page.get_by_test_id("invite-links")
    expect(links).to_contain_text("3 personal links")
    expect(links).to_contain_text("Maria Keller")
    maria_row = links.locator("tr", has_text="Maria Keller")
    link = maria_row.get_by_test_id("invite-link").inner_text().strip()
    assert link.startswith(live_app.base_url + "/s/psv_")
    csv_href = page.get_by_test_id("links-csv").get_attribute("href")
    assert csv_href.startswith("data:text/csv") and "psv_" in csv_href

    # many answers arrive; one more is given in the browser on a phone
    _seed_answers(live_app, survey_id)
    _answer_on_a_phone(page.context.browser, link)
    page.goto(f"{live_app.base_url}/surveys/{survey_id}")
    expect(page.get_by_test_id("responses")).to_have_text(str(SIMULATED + 1))
    expect(page.get_by_test_id("responded")).to_have_text("1")

    # analyse: the model comes prefilled; the helper appends a path line to it
    page.get_by_role("link", name="Analyse").click()
    page.wait_for_url(f"**/surveys/{survey_id}/analyze")
    model = page.locator("#f-model")
    q = parse_questionnaire(get_template("crm_success").questionnaire)
    assert model.input_value().strip() == default_model(q)
    helper = page.locator("[data-path-helper]")
    expect(helper).to_be_visible()
    helper.locator('input[data-predictor][value="quality"]').check()
    helper.locator('input[data-predictor][value="interaction"]').check()
    helper.locator("[data-outcome]").select_option("loyalty")
    helper.locator("[data-add-path]").click()
    assert model.input_value().rstrip().endswith("loyalty ~ quality + interaction")
    model.fill(default_model(q))  # back to the template's model for the report below
    page.locator("#f-method").select_option("cb-sem")
    page.get_by_test_id("run-analysis").click()
    page.wait_for_url(re.compile(r".*/surveys/analyses/\d+$"))

    report = page.get_by_test_id("report")
    fit = report.locator("#pr-fit")
    expect(fit).to_contain_text("RMSEA")
    expect(fit).to_contain_text("CFI")
    assert fit.locator("table").count() >= 1
    diagram = report.locator("#pr-diagram svg")
    expect(diagram).to_be_visible()
    assert diagram.locator("text", has_text="success").count() >= 1
    expect(report.locator("#pr-sample")).to_contain_text(str(SIMULATED + 1))
    # the report's own stylesheet applies inside the app page
    assert page.evaluate(
        "getComputedStyle(document.querySelector('.pr-section')).borderTopStyle") == "solid"
    assert page.get_by_test_id("download-report").get_attribute("href").endswith("/report.html")
    assert page.console_errors == []
