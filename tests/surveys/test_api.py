"""The surveys REST API: CRUD, status, waves, invites, import/export, summary, comparison, analyses and
reports; tenant isolation and roles; bad input naming the field."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from patron.simulate.surveys import planted_answers
from patron.surveys.definition import parse_questionnaire
from patron.surveys.models import Survey, SurveyAnalysis, SurveyInvite, SurveyResponse, SurveyWave
from tests.surveys.conftest import DEFINITION, GOOD_ANSWERS

API = "/api/v1"


def problem(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    if field is not None:
        assert body.get("field") == field, body
    return body


def planted_csv(n: int, *, seed: int = 5, loading: float = 0.85, shift: dict | None = None) -> str:
    """``n`` answers drawn from :data:`DEFINITION`'s model (loyalty ~ quality, path 0.3), as an import CSV."""
    q = parse_questionnaire(DEFINITION)
    codes = [item.code for item in q.items()]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(codes)
    for row in planted_answers(q, n, seed=seed, loading=loading, shift=shift):
        writer.writerow([row.get(code, "") for code in codes])
    return out.getvalue()


def rows(db, model, **where) -> int:
    with db() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return session.scalar(query)


@pytest.fixture
def survey(client, tenant) -> dict:
    """An open survey on :data:`DEFINITION`, created and opened through the API."""
    response = client.post(f"{API}/surveys", headers=tenant.headers,
                           json={"name": "Service check", "definition": DEFINITION})
    assert response.status_code == 201, response.text
    opened = client.post(f"{API}/surveys/{response.json()['id']}/status", headers=tenant.headers,
                         json={"status": "open"})
    assert opened.status_code == 200, opened.text
    return opened.json()


def test_create_from_a_template_list_read_change_and_delete(client, tenant, db):
    templates = client.get(f"{API}/survey-templates", headers=tenant.headers).json()
    assert {t["key"] for t in templates} == {"crm_success", "servqual", "nps", "csat", "targeting"}
    created = client.post(f"{API}/surveys", headers=tenant.headers,
                          json={"name": "Twice a year", "template": "servqual", "wave_interval_days": 182})
    assert created.status_code == 201, created.text
    survey = created.json()
    assert (survey["template"], survey["status"], survey["next_wave_at"]) == ("servqual", "draft", None)
    assert sum(len(s["items"]) for s in survey["definition"]["sections"]) >= 44
    client.post(f"{API}/surveys", headers=tenant.headers, json={"name": "Other"})
    listed = client.get(f"{API}/surveys", headers=tenant.headers, params={"q": "twice", "status": "draft"}).json()
    assert ([s["id"] for s in listed["items"]], listed["total"]) == ([survey["id"]], 1)
    assert client.get(f"{API}/surveys", headers=tenant.headers).json()["total"] == 2
    changed = client.patch(f"{API}/surveys/{survey['id']}", headers=tenant.headers,
                           json={"name": "SERVQUAL", "wave_interval_days": None})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["wave_interval_days"]) == ("SERVQUAL", None)
    opened = client.post(f"{API}/surveys/{survey['id']}/status", headers=tenant.headers, json={"status": "open"})
    assert opened.json()["status"] == "open"
    waves = client.get(f"{API}/surveys/{survey['id']}/waves", headers=tenant.headers).json()
    assert [(w["number"], w["closed_at"]) for w in waves] == [(1, None)]
    problem(client.post(f"{API}/surveys/{survey['id']}/status", headers=tenant.headers, json={"status": "draft"}),
            409, "status")
    assert client.delete(f"{API}/surveys/{survey['id']}", headers=tenant.headers).status_code == 204
    problem(client.get(f"{API}/surveys/{survey['id']}", headers=tenant.headers), 404)
    assert rows(db, SurveyWave) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "template": "gallup"}, "template"),
        ({"name": ""}, "name"),
        ({"name": "X", "wave_interval_days": 0}, "wave_interval_days"),
        ({"name": "X", "definition": {"sections": [{"items": [{"code": "a", "text": "A"},
                                                               {"code": "a", "text": "B"}]}]}}, "definition"),
        ({"name": "X", "definition": {"sections": [{"items": [{"code": "a", "text": "A", "construct": "zz"}]}]}},
         "definition"),
        ({"name": "X", "definition": {"sections": [{"items": [{"code": "a", "text": "A"},
                                                               {"code": "b", "text": "B", "scale": [1, 30]}]}]}},
         "definition.sections.0.items.1"),
        ({"name": "X", "colour": "red"}, "colour"),
    ],
    ids=["unknown-template", "blank-name", "interval", "duplicate-code", "unknown-construct", "bad-scale",
         "unknown-field"],
)
def test_bad_survey_input_names_the_field_and_writes_nothing(client, tenant, db, body, field):
    body_out = problem(client.post(f"{API}/surveys", headers=tenant.headers, json=body), 422, field)
    assert body_out["code"] == "invalid"
    assert rows(db, Survey) == 0


def test_the_definition_is_locked_once_answers_exist(client, tenant, survey):
    url = f"{API}/surveys/{survey['id']}"
    answered = client.post(f"{url}/responses", headers=tenant.headers, json={"answers": GOOD_ANSWERS})
    assert answered.status_code == 201, answered.text
    changed = dict(DEFINITION, sections=[dict(DEFINITION["sections"][0]), DEFINITION["sections"][1]])
    changed["sections"][0]["items"] = [dict(i, scale=[1, 7]) if i["code"] == "q2" else i
                                       for i in DEFINITION["sections"][0]["items"]]
    body = problem(client.patch(url, headers=tenant.headers, json={"definition": changed}), 409, "definition")
    assert "q2" in body["detail"]
    added = dict(DEFINITION, sections=[*DEFINITION["sections"],
                                       {"title": "More", "items": [{"code": "extra", "text": "Extra?",
                                                                    "required": False}]}])
    assert client.patch(url, headers=tenant.headers, json={"definition": added}).status_code == 200


def test_invites_return_absolute_links_and_skip_invited_customers(client, tenant, survey, new_customer, db):
    ada = new_customer(tenant.org_id, first_name="Ada", country="DE")
    bob = new_customer(tenant.org_id, first_name="Bob", country="FR")
    url = f"{API}/surveys/{survey['id']}/invites"
    response = client.post(url, headers=tenant.headers, json={"customer_ids": [ada]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["created"] == 1
    link = body["invites"][0]
    assert (link["customer_id"], link["customer_name"]) == (ada, "Ada Lovelace")
    assert link["url"].startswith("http://testserver/s/psv_")
    by_filter = client.post(url, headers=tenant.headers, json={"filters": {}}).json()
    assert [i["customer_id"] for i in by_filter["invites"]] == [bob]
    assert client.post(url, headers=tenant.headers, json={"filters": {"country": "DE"}}).json()["created"] == 0
    problem(client.post(url, headers=tenant.headers, json={"customer_ids": [ada, 999_999]}), 404, "customer_ids")
    problem(client.post(url, headers=tenant.headers, json={"filters": {"gender": "robot"}}), 422, "gender")
    listed = client.get(url, headers=tenant.headers, params={"wave": 1}).json()
    assert listed["total"] == 2 and {i["customer_id"] for i in listed["items"]} == {ada, bob}
    assert "token_hash" not in listed["items"][0]
    assert rows(db, SurveyInvite) == 2


def test_csv_import_as_text_or_file_and_export(client, tenant, survey, db):
    url = f"{API}/surveys/{survey['id']}/responses"
    header = "q1,q2,q3,l1,l2,l3,nps,age,comment\n"
    bad = header + "4,4,4,4,4,2,9,,\n4,4,4,4,4,2,12,,\n4,4,x,4,4,2,9,,\n"
    body = problem(client.post(f"{url}/import", headers={**tenant.headers, "Content-Type": "text/csv"},
                               content=bad.encode()), 422, "file")
    assert body["detail"].startswith("row 3: answers.nps")
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(3, "answers.nps"), (4, "answers.q3")]
    assert rows(db, SurveyResponse) == 0
    problem(client.post(f"{url}/import", headers={**tenant.headers, "Content-Type": "text/csv"},
                        content=b"q1\n\xff\xfe\n"), 422, "file")
    good = header + "4,4,4,4,4,2,9,50+,\"Fast, friendly\"\n3,3,3,3,3,3,5,,\n"
    imported = client.post(f"{url}/import", headers={**tenant.headers, "Content-Type": "text/csv"},
                           content=good.encode())
    assert imported.status_code == 201, imported.text
    assert imported.json() == {"imported": 2}
    as_file = client.post(f"{url}/import", headers=tenant.headers,
                          files={"file": ("answers.csv", good.encode(), "text/csv")})
    assert as_file.json() == {"imported": 2}
    exported = client.get(f"{url}.csv", headers=tenant.headers)
    assert exported.status_code == 200
    assert exported.headers["content-disposition"].startswith("attachment;")
    records = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(records) == 4 and records[0]["comment"] == "Fast, friendly" and records[0]["l3"] == "2"
    listed = client.get(url, headers=tenant.headers, params={"limit": 3}).json()
    assert listed["total"] == 4 and len(listed["items"]) == 3


def test_summary_and_wave_comparison(client, tenant, survey):
    url = f"{API}/surveys/{survey['id']}"
    text_csv = {**tenant.headers, "Content-Type": "text/csv"}
    assert client.post(f"{url}/responses/import", headers=text_csv, content=planted_csv(100, seed=1)).json() == {
        "imported": 100}
    assert client.post(f"{url}/waves", headers=tenant.headers, json={"label": "After the app update"}).json()[
        "number"] == 2
    shifted = planted_csv(100, seed=2, shift={"quality": 1.0})
    assert client.post(f"{url}/responses/import", headers=text_csv, content=shifted).json() == {"imported": 100}
    summary = client.get(f"{url}/summary", headers=tenant.headers).json()
    assert summary["responses"] == 200 and summary["invited"] == 0 and summary["response_rate"] is None
    assert [(w["number"], w["responses"]) for w in summary["waves"]] == [(1, 100), (2, 100)]
    assert summary["nps"]["n"] == 200 and set(summary["construct_means"]) == {"quality", "loyalty"}
    compared = client.get(f"{url}/compare", headers=tenant.headers, params={"wave_a": 1, "wave_b": 2})
    assert compared.status_code == 200, compared.text
    quality = compared.json()["constructs"]["quality"]
    assert quality["diff"] > 0.3 and quality["pvalue"] < 0.05
    problem(client.get(f"{url}/compare", headers=tenant.headers, params={"wave_a": 1, "wave_b": 5}), 404, "wave_b")


def test_analysis_end_to_end_with_report(client, tenant, survey, db):
    url = f"{API}/surveys/{survey['id']}"
    imported = client.post(f"{url}/responses/import", headers={**tenant.headers, "Content-Type": "text/csv"},
                           content=planted_csv(200, seed=5))
    assert imported.json() == {"imported": 200}
    response = client.post(f"{url}/analyses", headers=tenant.headers, json={"method": "cb-sem"})
    assert response.status_code == 201, response.text
    analysis = response.json()
    assert analysis["n"] == 200 and analysis["method"] == "cb-sem"
    result = analysis["result"]
    assert {"chi2", "df", "cfi", "tli", "rmsea", "srmr"} <= set(result["fit"])
    assert result["fit"]["df"] == 8  # 6 items, 2 factors, one path: 21 moments - 13 parameters
    for construct in ("quality", "loyalty"):
        assert result["reliability"][construct]["alpha"] > 0.7
        assert result["reliability"][construct]["cr"] > 0.7
    assert result["nps"]["n"] == 200
    listed = client.get(f"{url}/analyses", headers=tenant.headers).json()
    assert [a["id"] for a in listed] == [analysis["id"]] and "result" not in listed[0]
    read = client.get(f"{API}/survey-analyses/{analysis['id']}", headers=tenant.headers).json()
    assert read["result"]["fit"]["cfi"] == result["fit"]["cfi"]
    report = client.get(f"{API}/survey-analyses/{analysis['id']}/report.html", headers=tenant.headers)
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/html")
    assert report.headers["content-disposition"].startswith("attachment;")
    assert "<html" in report.text.lower() and "Service check" in report.text
    pls = client.post(f"{url}/analyses", headers=tenant.headers,
                      json={"method": "pls", "n_boot": 50, "wave": 1, "name": "PLS run"})
    assert pls.status_code == 201, pls.text
    assert pls.json()["wave_id"] is not None and pls.json()["name"] == "PLS run"
    problem(client.post(f"{url}/analyses", headers=tenant.headers, json={"model": "quality =~ q1 + nope"}), 422)
    problem(client.post(f"{url}/analyses", headers=tenant.headers, json={"method": "ols"}), 422, "method")
    problem(client.post(f"{url}/analyses", headers=tenant.headers, json={"wave": 9}), 404, "wave")
    assert client.delete(f"{API}/survey-analyses/{analysis['id']}", headers=tenant.headers).status_code == 204
    assert rows(db, SurveyAnalysis) == 1


def test_too_few_responses_for_an_analysis(client, tenant, survey):
    url = f"{API}/surveys/{survey['id']}"
    for _ in range(3):
        client.post(f"{url}/responses", headers=tenant.headers, json={"answers": GOOD_ANSWERS})
    problem(client.post(f"{url}/analyses", headers=tenant.headers, json={}), 422, "responses")


# --- tenant isolation and roles --------------------------------------------------------------------


def test_another_organisation_gets_404_everywhere_and_changes_nothing(client, tenant, other_tenant, survey, db,
                                                                      new_customer):
    url = f"{API}/surveys/{survey['id']}"
    client.post(f"{url}/responses/import", headers={**tenant.headers, "Content-Type": "text/csv"},
                content=planted_csv(30, seed=9))
    analysis = client.post(f"{url}/analyses", headers=tenant.headers, json={}).json()
    theirs = new_customer(other_tenant.org_id)
    before = (rows(db, Survey), rows(db, SurveyWave), rows(db, SurveyInvite), rows(db, SurveyResponse),
              rows(db, SurveyAnalysis))
    h = other_tenant.headers
    text_csv = {**h, "Content-Type": "text/csv"}
    calls = [
        client.get(url, headers=h),
        client.patch(url, headers=h, json={"name": "Mine"}),
        client.delete(url, headers=h),
        client.post(f"{url}/status", headers=h, json={"status": "closed"}),
        client.get(f"{url}/waves", headers=h),
        client.post(f"{url}/waves", headers=h, json={}),
        client.get(f"{url}/compare", headers=h, params={"wave_a": 1, "wave_b": 1}),
        client.post(f"{url}/invites", headers=h, json={"customer_ids": [theirs]}),
        client.post(f"{url}/invites", headers=h, json={"filters": {}}),
        client.get(f"{url}/invites", headers=h),
        client.get(f"{url}/responses", headers=h),
        client.post(f"{url}/responses", headers=h, json={"answers": GOOD_ANSWERS}),
        client.post(f"{url}/responses/import", headers=text_csv, content=planted_csv(3).encode()),
        client.get(f"{url}/responses.csv", headers=h),
        client.get(f"{url}/summary", headers=h),
        client.post(f"{url}/analyses", headers=h, json={}),
        client.get(f"{url}/analyses", headers=h),
        client.get(f"{API}/survey-analyses/{analysis['id']}", headers=h),
        client.get(f"{API}/survey-analyses/{analysis['id']}/report.html", headers=h),
        client.delete(f"{API}/survey-analyses/{analysis['id']}", headers=h),
    ]
    assert [c.status_code for c in calls] == [404] * len(calls), [(c.request.url.path, c.text) for c in calls
                                                                   if c.status_code != 404]
    after = (rows(db, Survey), rows(db, SurveyWave), rows(db, SurveyInvite), rows(db, SurveyResponse),
             rows(db, SurveyAnalysis))
    assert after == before
    assert client.get(f"{API}/surveys", headers=h).json()["total"] == 0
    assert client.get(url, headers=tenant.headers).json()["name"] == "Service check"


def test_roles(client, make_tenant, tenant, survey, new_customer):
    viewer = make_tenant("Acme", role="viewer")
    agent = make_tenant("Acme", role="agent")
    analyst = make_tenant("Acme", role="analyst")
    url = f"{API}/surveys/{survey['id']}"
    problem(client.post(f"{API}/surveys", headers=viewer.headers, json={"name": "No"}), 403)
    assert client.get(url, headers=viewer.headers).status_code == 200
    problem(client.post(f"{url}/invites", headers=viewer.headers, json={"filters": {}}), 403)
    customer = new_customer(tenant.org_id)
    invited = client.post(f"{url}/invites", headers=agent.headers, json={"customer_ids": [customer]})
    assert invited.status_code == 201, invited.text
    problem(client.post(f"{url}/analyses", headers=agent.headers, json={}), 403)
    problem(client.get(f"{url}/responses", headers=agent.headers), 403)
    problem(client.get(f"{url}/responses.csv", headers=agent.headers), 403)
    problem(client.patch(url, headers=agent.headers, json={"name": "Agent's"}), 403)
    assert client.get(f"{url}/summary", headers=agent.headers).status_code == 200
    assert client.get(f"{url}/responses", headers=analyst.headers).status_code == 200
    problem(client.post(f"{url}/invites", headers=analyst.headers, json={"filters": {}}), 403)
