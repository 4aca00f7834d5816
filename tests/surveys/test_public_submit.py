"""The public answer flow behind a personal link: no sign-in, the token is the credential; one response per
invite, also under two concurrent submissions."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.core.errors import Conflict
from patron.surveys import service as surveys_service
from patron.surveys.models import SurveyInvite, SurveyResponse
from tests.surveys.conftest import GOOD_ANSWERS

API = "/api/v1"


def public(token: str) -> str:
    return f"{API}/public/surveys/{token}"


def responses(db) -> int:
    with db() as session:
        return session.scalar(select(func.count(SurveyResponse.id)))


def test_invite_open_answer_and_see_it_on_the_timeline(client, tenant, new_customer, db):
    created = client.post(f"{API}/surveys", headers=tenant.headers,
                          json={"name": "Ride check", "template": "nps"})
    assert created.status_code == 201, created.text
    survey_id = created.json()["id"]
    client.post(f"{API}/surveys/{survey_id}/status", headers=tenant.headers, json={"status": "open"})
    ada = new_customer(tenant.org_id, first_name="Ada")
    invite = client.post(f"{API}/surveys/{survey_id}/invites", headers=tenant.headers,
                         json={"customer_ids": [ada]}).json()["invites"][0]
    token = invite["url"].rsplit("/", 1)[1]

    form = client.get(public(token))  # no credentials
    assert form.status_code == 200, form.text
    body = form.json()
    assert (body["name"], body["first_name"], body["answered"], body["closed"]) == ("Ride check", "Ada", False,
                                                                                   False)
    items = [item for section in body["sections"] for item in section["items"]]
    nps_item = next(item for item in items if item["kind"] == "nps")
    assert nps_item["scale"] == [0, 10]
    assert "construct" not in nps_item and "model" not in body and "constructs" not in body

    bad = client.post(f"{public(token)}/responses", json={"answers": {nps_item["code"]: 11}})
    assert bad.status_code == 422 and bad.json()["field"] == f"answers.{nps_item['code']}"
    unknown = client.post(f"{public(token)}/responses", json={"answers": {nps_item["code"]: 9, "zz": 1}})
    assert unknown.status_code == 422 and unknown.json()["field"] == "answers.zz"
    missing = client.post(f"{public(token)}/responses", json={"answers": {}})
    assert missing.status_code == 422 and missing.json()["field"] == f"answers.{nps_item['code']}"
    assert responses(db) == 0

    sent = client.post(f"{public(token)}/responses", json={"answers": {nps_item["code"]: 9}})
    assert sent.status_code == 201, sent.text
    assert sent.json()["thanks"]
    again = client.post(f"{public(token)}/responses", json={"answers": {nps_item["code"]: 3}})
    assert again.status_code == 409 and again.json()["code"] == "already_answered"
    assert client.get(public(token)).json()["answered"] is True

    listed = client.get(f"{API}/surveys/{survey_id}/responses", headers=tenant.headers).json()
    assert listed["total"] == 1
    assert (listed["items"][0]["customer_id"], listed["items"][0]["source"]) == (ada, "link")
    assert listed["items"][0]["answers"] == {nps_item["code"]: 9}
    timeline = client.get(f"{API}/customers/{ada}/timeline", headers=tenant.headers).json()["items"]
    answered = [item for item in timeline if item["kind"] == "survey.answered"]
    assert len(answered) == 1
    assert answered[0]["summary"] == "Answered Ride check"
    assert answered[0]["ref_type"] == "survey_response" and answered[0]["ref_id"] == listed["items"][0]["id"]
    assert answered[0]["data"]["nps"] == 9
    assert [item["kind"] for item in timeline].count("survey.invited") == 1
    summary = client.get(f"{API}/surveys/{survey_id}/summary", headers=tenant.headers).json()
    assert (summary["invited"], summary["opened"], summary["responded"]) == (1, 1, 1)


def test_a_closed_survey_takes_no_answers(client, tenant, open_survey, db):
    made = open_survey(tenant, customers=2)
    client.post(f"{API}/surveys/{made.survey_id}/status", headers=tenant.headers, json={"status": "closed"})
    form = client.get(public(made.tokens[0])).json()
    assert form["closed"] is True
    sent = client.post(f"{public(made.tokens[0])}/responses", json={"answers": GOOD_ANSWERS})
    assert sent.status_code == 409 and sent.json()["code"] == "survey_closed"
    # re-opening starts a new wave: the old wave's links stay closed
    client.post(f"{API}/surveys/{made.survey_id}/status", headers=tenant.headers, json={"status": "open"})
    assert client.get(public(made.tokens[1])).json()["closed"] is True
    assert client.post(f"{public(made.tokens[1])}/responses", json={"answers": GOOD_ANSWERS}).status_code == 409
    assert responses(db) == 0


@pytest.mark.parametrize("token", ["garbage", "psv_" + "x" * 43, "psv_", "%2e%2e", "a" * 300])
def test_a_bad_token_is_404_without_a_hint(client, token):
    for response in (client.get(public(token)),
                     client.post(f"{public(token)}/responses", json={"answers": {"q1": 1}})):
        assert response.status_code == 404
        assert response.json()["detail"] == "This survey link is not valid."


def test_a_changed_token_does_not_open_someone_else_s_form(client, tenant, open_survey):
    made = open_survey(tenant, customers=1)
    token = made.tokens[0]
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get(public(altered)).status_code == 404


def _submit_in_thread(db, token: str, barrier: threading.Barrier, outcomes: list) -> None:
    try:
        with session_scope(db) as session:
            session.info["actor"] = Actor(org_id=None, label="test")
            barrier.wait(timeout=30)
            surveys_service.submit_invite(session, token=token, answers=GOOD_ANSWERS)
        outcomes.append("stored")
    except Conflict as exc:
        outcomes.append(exc.code)
    except Exception as exc:  # noqa: BLE001 - reported by the assertion below
        outcomes.append(repr(exc))


def test_two_concurrent_submissions_of_one_token_store_one_response(db, tenant, open_survey):
    made = open_survey(tenant, customers=1)
    for _round in range(3):
        outcomes: list = []
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=_submit_in_thread, args=(db, made.tokens[0], barrier, outcomes))
                   for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert responses(db) == 1
        assert sorted(outcomes) == (["already_answered", "stored"] if _round == 0
                                    else ["already_answered", "already_answered"])


def test_the_unique_invite_turns_a_lost_race_into_the_conflict(db, tenant, open_survey, monkeypatch, in_session):
    """Both requests passed the "already answered?" check before either stored: the database's unique
    invite_id refuses the second insert, which must come back as the same Conflict."""
    made = open_survey(tenant, customers=1)
    with in_session() as session:
        surveys_service.submit_invite(session, token=made.tokens[0], answers=GOOD_ANSWERS)
    monkeypatch.setattr(surveys_service, "_already_answered", lambda session, invite: False)
    with pytest.raises(Conflict) as caught, in_session() as session:
        surveys_service.submit_invite(session, token=made.tokens[0], answers=GOOD_ANSWERS)
    assert caught.value.code == "already_answered"
    assert responses(db) == 1
    with db() as session:
        assert session.scalar(select(SurveyInvite)).responded_at is not None


# --- the answers follow the customer through merge, privacy export and erasure ----------------------


def test_merge_export_and_erasure_through_the_customers_api(client, tenant, open_survey, db):
    made = open_survey(tenant, customers=2)
    kept, duplicate = made.customer_ids
    assert client.post(f"{public(made.tokens[1])}/responses", json={"answers": GOOD_ANSWERS}).status_code == 201

    merged = client.post(f"{API}/customers/{kept}/merge", headers=tenant.headers, json={"duplicate_id": duplicate})
    assert merged.status_code == 200, merged.text
    assert merged.json()["moved"]["surveys"] == 1  # the response; kept already has an invite in wave 1
    listed = client.get(f"{API}/surveys/{made.survey_id}/responses", headers=tenant.headers).json()
    assert [r["customer_id"] for r in listed["items"]] == [kept]

    export = client.get(f"{API}/customers/{kept}/privacy-export", headers=tenant.headers)
    assert export.status_code == 200, export.text
    surveys_part = export.json()["related"]["surveys"]
    assert [r["answers"]["comment"] for r in surveys_part["survey_responses"]] == ["Friendly drivers."]
    assert [i["survey_id"] for i in surveys_part["survey_invites"]] == [made.survey_id]

    erased = client.post(f"{API}/customers/{kept}/erase", headers=tenant.headers)
    assert erased.status_code == 200, erased.text
    after = client.get(f"{API}/surveys/{made.survey_id}/responses", headers=tenant.headers).json()["items"]
    assert len(after) == 1 and after[0]["customer_id"] is None
    assert "comment" not in after[0]["answers"] and "age" not in after[0]["answers"]
    assert after[0]["answers"]["q1"] == GOOD_ANSWERS["q1"]
    summary = client.get(f"{API}/surveys/{made.survey_id}/summary", headers=tenant.headers).json()
    assert summary["responses"] == 1 and summary["construct_means"]["quality"] == round(13 / 3, 4)
