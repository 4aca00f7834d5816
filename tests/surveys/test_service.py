"""The surveys service: questionnaire checks, status moves, waves, invites, answers, import/export, the
summary, wave comparison and the customer hooks."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import func, select

from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid, NotFound
from patron.customers.models import Customer, TimelineEntry
from patron.customers.search import CustomerFilters
from patron.simulate.surveys import planted_answers
from patron.surveys import service as surveys_service
from patron.surveys.models import Survey, SurveyInvite, SurveyResponse, SurveyWave
from tests.surveys.conftest import GOOD_ANSWERS


def count(db, model, **where) -> int:
    with db() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return session.scalar(query)


# --- questionnaire and survey ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["sections"][0]["items"].append(dict(d["sections"][0]["items"][0])), "definition"),
        (lambda d: d["sections"][0]["items"][1].update(construct="nope"), "definition"),
        (lambda d: d["sections"][0]["items"][1].update(scale=[5, 1]), "definition.sections.0.items.1"),
        (lambda d: d["sections"][1]["items"][0].update(code="L 1"), "definition.sections.1.items.0.code"),
    ],
    ids=["duplicate-code", "unknown-construct", "bad-scale", "bad-code"],
)
def test_a_bad_questionnaire_is_refused_naming_the_field_and_nothing_is_written(
    in_session, db, tenant, survey_definition, change, field
):
    definition = survey_definition()
    change(definition)
    with pytest.raises(Invalid) as caught, in_session(tenant.org_id) as session:
        surveys_service.create_survey(session, org_id=tenant.org_id, actor_id=tenant.user_id, name="Check",
                                      definition=definition)
    assert caught.value.field == field
    assert count(db, Survey) == 0


def test_create_without_definition_starts_empty_and_cannot_open(in_session, tenant):
    with in_session(tenant.org_id) as session:
        survey = surveys_service.create_survey(session, org_id=tenant.org_id, actor_id=tenant.user_id,
                                               name="  Empty  ")
        assert (survey.name, survey.status, survey.template) == ("Empty", "draft", "custom")
        assert surveys_service.questionnaire(survey).items() == []
        with pytest.raises(Conflict) as caught:
            surveys_service.set_status(session, org_id=tenant.org_id, actor_id=None, survey_id=survey.id,
                                       status="open")
        assert caught.value.field == "definition"


@pytest.mark.parametrize(("name", "interval", "field"), [("", None, "name"), ("x" * 201, None, "name"),
                                                          ("Ok", 0, "wave_interval_days"),
                                                          ("Ok", 3651, "wave_interval_days")])
def test_name_and_interval_are_checked(in_session, tenant, name, interval, field):
    with pytest.raises(Invalid) as caught, in_session(tenant.org_id) as session:
        surveys_service.create_survey(session, org_id=tenant.org_id, actor_id=None, name=name,
                                      wave_interval_days=interval)
    assert caught.value.field == field


def test_status_moves_and_waves(in_session, tenant, survey_definition):
    org = tenant.org_id
    with in_session(org) as session:
        survey = surveys_service.create_survey(session, org_id=org, actor_id=None, name="S",
                                               definition=survey_definition(), wave_interval_days=30)
        assert surveys_service.current_wave(session, org_id=org, survey_id=survey.id) is None
        assert survey.next_wave_at is None
        with pytest.raises(Conflict):
            surveys_service.set_status(session, org_id=org, actor_id=None, survey_id=survey.id, status="closed")
        surveys_service.set_status(session, org_id=org, actor_id=None, survey_id=survey.id, status="open")
        wave1 = surveys_service.current_wave(session, org_id=org, survey_id=survey.id)
        assert wave1.number == 1
        assert survey.next_wave_at == wave1.opened_at + timedelta(days=30)
        with pytest.raises(Conflict):
            surveys_service.set_status(session, org_id=org, actor_id=None, survey_id=survey.id, status="draft")
        with pytest.raises(Invalid) as caught:
            surveys_service.set_status(session, org_id=org, actor_id=None, survey_id=survey.id, status="paused")
        assert caught.value.field == "status"
        surveys_service.set_status(session, org_id=org, actor_id=None, survey_id=survey.id, status="closed")
        assert wave1.closed_at is not None and survey.next_wave_at is None
        assert surveys_service.current_wave(session, org_id=org, survey_id=survey.id) is None
        with pytest.raises(Conflict):
            surveys_service.open_wave(session, org_id=org, actor_id=None, survey_id=survey.id)
        surveys_service.set_status(session, org_id=org, actor_id=None, survey_id=survey.id, status="open")
        wave3 = surveys_service.open_wave(session, org_id=org, actor_id=None, survey_id=survey.id, label="Spring")
        waves = surveys_service.list_waves(session, org_id=org, survey_id=survey.id)
        assert [(w.number, w.closed_at is None) for w in waves] == [(1, False), (2, False), (3, True)]
        assert wave3.label == "Spring"
        assert surveys_service.current_wave(session, org_id=org, survey_id=survey.id).id == wave3.id


def test_open_due_waves_opens_a_wave_for_due_surveys_only(in_session, db, tenant, other_tenant, open_survey):
    due = open_survey(tenant, customers=0, wave_interval_days=7)
    later = open_survey(other_tenant, customers=0, wave_interval_days=7)
    once = open_survey(tenant, customers=0)
    now = utcnow()
    with in_session() as session:
        session.get(Survey, due.survey_id).next_wave_at = now - timedelta(days=1)
    with in_session() as session:
        assert surveys_service.open_due_waves(session, now=now) == 1
    with in_session() as session:
        assert surveys_service.open_due_waves(session, now=now) == 0  # moved on by the interval
    with db() as session:
        waves = {s: [w.number for w in surveys_service.list_waves(session, org_id=o, survey_id=s)]
                 for s, o in ((due.survey_id, tenant.org_id), (later.survey_id, other_tenant.org_id),
                              (once.survey_id, tenant.org_id))}
        assert waves == {due.survey_id: [1, 2], later.survey_id: [1], once.survey_id: [1]}
        moved = session.get(Survey, due.survey_id).next_wave_at
        assert moved == now - timedelta(days=1) + timedelta(days=7)


def test_the_scheduler_runs_open_due_waves(db, in_session, tenant, open_survey):
    from patron.jobs import scheduler

    made = open_survey(tenant, customers=0, wave_interval_days=1)
    with in_session() as session:
        session.get(Survey, made.survey_id).next_wave_at = utcnow() - timedelta(minutes=1)
    results = scheduler.run_once(db)
    assert results["survey-waves"] == 1
    assert count(db, SurveyWave, survey_id=made.survey_id) == 2


def test_another_organisation_s_survey_is_not_found(in_session, tenant, other_tenant, open_survey):
    made = open_survey(tenant, customers=1)
    with in_session(other_tenant.org_id) as session:
        for call, kwargs in [
            (surveys_service.get_survey_or_raise, {}),
            (surveys_service.update_survey, {"actor_id": None, "changes": {"name": "Mine"}}),
            (surveys_service.set_status, {"actor_id": None, "status": "closed"}),
            (surveys_service.open_wave, {"actor_id": None}),
            (surveys_service.list_responses, {}),
            (surveys_service.survey_summary, {}),
            (surveys_service.create_invites, {"actor_id": None, "filters": CustomerFilters()}),
            (surveys_service.delete_survey, {"actor_id": None}),
        ]:
            with pytest.raises(NotFound):
                call(session, org_id=other_tenant.org_id, survey_id=made.survey_id, **kwargs)
        assert surveys_service.list_surveys(session, org_id=other_tenant.org_id) == ([], 0)


def test_list_surveys_filters_by_status_and_name(in_session, tenant, open_survey):
    open_survey(tenant, customers=0, name="Autumn check")
    draft = open_survey(tenant, customers=0, name="Spring check", status="draft")
    with in_session(tenant.org_id) as session:
        drafts, total = surveys_service.list_surveys(session, org_id=tenant.org_id, status="draft")
        assert ([s.id for s in drafts], total) == ([draft.survey_id], 1)
        found, total = surveys_service.list_surveys(session, org_id=tenant.org_id, q="AUTUMN")
        assert [s.name for s in found] == ["Autumn check"]
        _all, total = surveys_service.list_surveys(session, org_id=tenant.org_id, limit=1)
        assert total == 2 and len(_all) == 1


# --- the definition lock ---------------------------------------------------------------------------


def test_the_questionnaire_shape_is_locked_once_answers_exist(in_session, db, tenant, open_survey, survey_definition):
    made = open_survey(tenant, customers=0)
    org = tenant.org_id
    reworded = survey_definition()
    reworded["sections"][0]["items"][0]["text"] = "Our staff are reliable."
    reworded["sections"][0]["items"].append({"code": "q4", "text": "Prices are fair.", "required": False})
    rescaled = survey_definition()
    rescaled["sections"][0]["items"][0]["scale"] = [1, 7]
    # without answers anything goes
    with in_session(org) as session:
        surveys_service.update_survey(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                      changes={"definition": rescaled})
        surveys_service.update_survey(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                      changes={"definition": survey_definition()})
        surveys_service.submit_response(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                        answers=GOOD_ANSWERS)
    with pytest.raises(Conflict) as caught, in_session(org) as session:
        surveys_service.update_survey(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                      changes={"definition": rescaled})
    assert caught.value.field == "definition" and "q1" in caught.value.detail
    removed = survey_definition()
    del removed["sections"][1]["items"][-1]
    with pytest.raises(Conflict), in_session(org) as session:
        surveys_service.update_survey(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                      changes={"definition": removed})
    with in_session(org) as session:
        survey = surveys_service.update_survey(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                               changes={"definition": reworded, "name": "Renamed"})
        q = surveys_service.questionnaire(survey)
        assert q.item("q1").text == "Our staff are reliable." and q.item("q4") is not None
    with db() as session:
        q = surveys_service.questionnaire(session.get(Survey, made.survey_id))
        assert q.item("q1").scale == (1, 5)


# --- invites and answers ---------------------------------------------------------------------------


def test_invites_by_ids_and_filters_skip_invited_erased_and_merged(in_session, db, tenant, other_tenant,
                                                                   open_survey, new_customer):
    made = open_survey(tenant, customers=2)
    org = tenant.org_id
    berlin = new_customer(org, first_name="Bea", country="DE")
    erased = new_customer(org, first_name="Eve", country="DE")
    merged = new_customer(org, first_name="Max", country="DE")
    foreign = new_customer(other_tenant.org_id, first_name="Olga")
    with in_session(org) as session:
        session.get(Customer, erased).erased_at = utcnow()
        session.get(Customer, merged).merged_into_id = berlin
    with pytest.raises(NotFound) as caught, in_session(org) as session:
        surveys_service.create_invites(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                       customer_ids=[berlin, foreign])
    assert caught.value.field == "customer_ids"
    assert count(db, SurveyInvite, survey_id=made.survey_id) == 2
    with in_session(org) as session:
        links = surveys_service.create_invites(session, org_id=org, actor_id=tenant.user_id,
                                               survey_id=made.survey_id,
                                               customer_ids=[berlin, erased, merged, made.customer_ids[0], berlin])
        assert [(link.customer_id, link.customer_name) for link in links] == [(berlin, "Bea Lovelace")]
        assert links[0].path == f"/s/{links[0].token}" and links[0].token.startswith("psv_")
        by_filter = surveys_service.create_invites(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                                   filters=CustomerFilters(country="de"))
        assert by_filter == []  # Bea already invited; Eve erased; Max merged
        everyone = surveys_service.create_invites(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                                  filters=CustomerFilters())
        assert everyone == []
    with db() as session:
        invite = session.scalar(select(SurveyInvite).where(SurveyInvite.customer_id == berlin))
        assert invite.token_hash != links[0].token and len(invite.token_hash) == 64
        assert invite.token_prefix == links[0].token[:12]
        kinds = session.scalars(select(TimelineEntry.kind).where(TimelineEntry.customer_id == berlin)).all()
        assert kinds == ["survey.invited"]


def test_invites_need_an_open_survey(in_session, tenant, open_survey):
    draft = open_survey(tenant, customers=0, status="draft")
    with pytest.raises(Conflict), in_session(tenant.org_id) as session:
        surveys_service.create_invites(session, org_id=tenant.org_id, actor_id=None, survey_id=draft.survey_id,
                                       filters=CustomerFilters())


def test_submit_invite_stores_once_and_refuses_closed_surveys(in_session, db, tenant, open_survey):
    made = open_survey(tenant, customers=2)
    with in_session() as session:
        form = surveys_service.open_invite(session, token=made.tokens[0])
        assert (form.first_name, form.answered, form.closed, form.wave.number) == ("Ada 0", False, False, 1)
        assert form.invite.opened_at is not None
    with pytest.raises(Invalid) as caught, in_session() as session:
        surveys_service.submit_invite(session, token=made.tokens[0], answers={**GOOD_ANSWERS, "q1": 6})
    assert caught.value.field == "answers.q1"
    with in_session() as session:
        response = surveys_service.submit_invite(session, token=made.tokens[0], answers=GOOD_ANSWERS)
        assert (response.customer_id, response.source) == (made.customer_ids[0], "link")
    with pytest.raises(Conflict) as caught, in_session() as session:
        surveys_service.submit_invite(session, token=made.tokens[0], answers=GOOD_ANSWERS)
    assert caught.value.code == "already_answered"
    with in_session(tenant.org_id) as session:
        surveys_service.set_status(session, org_id=tenant.org_id, actor_id=None, survey_id=made.survey_id,
                                   status="closed")
    with in_session() as session:
        assert surveys_service.open_invite(session, token=made.tokens[1]).closed is True
    with pytest.raises(Conflict) as caught, in_session() as session:
        surveys_service.submit_invite(session, token=made.tokens[1], answers=GOOD_ANSWERS)
    assert caught.value.code == "survey_closed"
    assert count(db, SurveyResponse) == 1
    with db() as session:
        entry = session.scalar(select(TimelineEntry).where(TimelineEntry.kind == "survey.answered"))
        assert (entry.customer_id, entry.ref_type, entry.ref_id) == (made.customer_ids[0], "survey_response",
                                                                     response.id)
        assert entry.summary == "Answered Service check" and entry.data["nps"] == 9


@pytest.mark.parametrize("token", ["", "psv_short", "nonsense", "psv_" + "A" * 43, "x" * 5000])
def test_unknown_tokens_are_not_found(in_session, token):
    with pytest.raises(NotFound), in_session() as session:
        surveys_service.open_invite(session, token=token)


def test_staff_entry_checks_customer_and_answers(in_session, db, tenant, other_tenant, open_survey, new_customer):
    made = open_survey(tenant, customers=1)
    foreign = new_customer(other_tenant.org_id)
    org = tenant.org_id
    for answers, customer_id, error, field in [
        ({k: v for k, v in GOOD_ANSWERS.items() if k != "q2"}, None, Invalid, "answers.q2"),
        ({**GOOD_ANSWERS, "zz": 1}, None, Invalid, "answers.zz"),
        ({**GOOD_ANSWERS, "age": "90+"}, None, Invalid, "answers.age"),
        (GOOD_ANSWERS, foreign, NotFound, "customer_id"),
    ]:
        with pytest.raises(error) as caught, in_session(org) as session:
            surveys_service.submit_response(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                            answers=answers, customer_id=customer_id)
        assert caught.value.field == field
    assert count(db, SurveyResponse) == 0
    with in_session(org) as session:
        response = surveys_service.submit_response(session, org_id=org, actor_id=tenant.user_id,
                                                   survey_id=made.survey_id, answers=GOOD_ANSWERS,
                                                   customer_id=made.customer_ids[0])
        assert response.source == "api"
        items, total = surveys_service.list_responses(session, org_id=org, survey_id=made.survey_id)
        assert total == 1 and items[0].answers["q1"] == 4


# --- tables: frame, export, import -----------------------------------------------------------------


def test_responses_frame_recodes_reverse_items_and_export_keeps_raw_answers(in_session, tenant, open_survey,
                                                                            survey_definition):
    definition = survey_definition()
    definition["sections"][1]["items"].append(
        {"code": "uses", "text": "What do you use?", "kind": "multiple", "choices": ["app", "web", "phone"],
         "required": False})
    made = open_survey(tenant, customers=1, definition=definition)
    org = tenant.org_id
    with in_session(org) as session:
        surveys_service.submit_response(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                        answers={**GOOD_ANSWERS, "uses": ["phone", "app"],
                                                 "comment": "=1+1 please"},
                                        customer_id=made.customer_ids[0])
        frame = surveys_service.responses_frame(session, org_id=org, survey_id=made.survey_id)
        assert list(frame.columns[:4]) == ["response_id", "customer_id", "wave", "submitted_at"]
        row = frame.iloc[0]
        assert row["l3"] == 4.0  # 1 + 5 - 2
        assert row["q1"] == 4.0 and frame["q1"].dtype == float
        assert row["uses"] == "app; phone" and row["age"] == "30-49"
        assert (row["customer_id"], row["wave"]) == (made.customer_ids[0], 1)
        text = surveys_service.export_responses_csv(session, org_id=org, survey_id=made.survey_id)
    header, line = text.strip().split("\n")
    assert header.split(",")[4:7] == ["source", "q1", "q2"]
    cells = dict(zip(header.split(","), line.split(","), strict=True))
    assert cells["l3"] == "2" and cells["uses"] == "app; phone" and cells["comment"] == "'=1+1 please"


def test_import_is_all_or_nothing_and_names_the_bad_row(in_session, db, tenant, open_survey):
    made = open_survey(tenant, customers=1)
    org = tenant.org_id
    customer = made.customer_ids[0]
    header = "customer_id,q1,q2,q3,l1,l2,l3,nps,age,comment\n"
    good = f"{customer},4,4,5,4,4,2,8,50+,fine\n,3,3,3,3,3,3,6,,\n"
    bad = good + ",3,3,9,3,3,3,6,,\n,3,3,3,3,3,3,11,,\n99999,3,3,3,3,3,3,6,,\n"
    with pytest.raises(Invalid) as caught, in_session(org) as session:
        surveys_service.import_responses(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                         csv_text=header + bad)
    error = caught.value
    assert error.field == "file"
    assert error.detail.startswith("row 4: answers.q3")
    assert [(e["row"], e["field"]) for e in error.errors] == [(4, "answers.q3"), (5, "answers.nps"),
                                                             (6, "customer_id")]
    assert count(db, SurveyResponse) == 0
    with pytest.raises(Invalid) as caught, in_session(org) as session:
        surveys_service.import_responses(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                         csv_text="q1,shoe_size\n3,44\n")
    assert caught.value.field == "file" and "shoe_size" in caught.value.detail
    with in_session(org) as session:
        assert surveys_service.import_responses(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                                csv_text=header + good) == 2
        assert surveys_service.import_responses(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                                csv_text="q1;wave\n5;1\n", partial=True) == 1
        items, total = surveys_service.list_responses(session, org_id=org, survey_id=made.survey_id)
        assert total == 3 and {r.source for r in items} == {"import"}
        with pytest.raises(Invalid):
            surveys_service.import_responses(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                             csv_text="q1,wave\n5,7\n", partial=True)


def test_an_exported_file_imports_again(in_session, tenant, open_survey):
    made = open_survey(tenant, customers=0)
    org = tenant.org_id
    with in_session(org) as session:
        for row in planted_answers(surveys_service.questionnaire(
                session.get(Survey, made.survey_id)), 5, seed=3):
            surveys_service.submit_response(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                            answers=row)
        text = surveys_service.export_responses_csv(session, org_id=org, survey_id=made.survey_id)
        before = surveys_service.responses_frame(session, org_id=org, survey_id=made.survey_id)
        assert surveys_service.import_responses(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                                csv_text=text) == 5
        after = surveys_service.responses_frame(session, org_id=org, survey_id=made.survey_id)
    codes = ["q1", "q2", "q3", "l1", "l2", "l3", "nps", "age", "comment"]
    pd.testing.assert_frame_equal(after[codes].iloc[5:].reset_index(drop=True), before[codes])


def test_summary_counts_invites_answers_nps_and_construct_means(in_session, tenant, open_survey):
    made = open_survey(tenant, customers=4)
    org = tenant.org_id
    with in_session() as session:
        surveys_service.open_invite(session, token=made.tokens[0])
        surveys_service.open_invite(session, token=made.tokens[1])
        surveys_service.submit_invite(session, token=made.tokens[0], answers={**GOOD_ANSWERS, "nps": 10})
    with in_session(org) as session:
        surveys_service.submit_response(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                        answers={**GOOD_ANSWERS, "nps": 3, "l1": 1, "l2": 1, "l3": 5})
        summary = surveys_service.survey_summary(session, org_id=org, survey_id=made.survey_id)
    assert (summary["invited"], summary["opened"], summary["responded"], summary["responses"]) == (4, 2, 1, 2)
    assert summary["response_rate"] == 0.25
    assert summary["nps"] == {"score": 0.0, "promoters": 1, "passives": 0, "detractors": 1, "n": 2}
    # quality: (4+5+4)/3 both times; loyalty: (5+4+4)/3 and (1+1+1)/3 (l3 recoded 6-2=4 and 6-5=1)
    assert summary["construct_means"] == {"quality": round(13 / 3, 4), "loyalty": round((13 / 3 + 1) / 2, 4)}
    assert [(w["number"], w["invited"], w["responses"]) for w in summary["waves"]] == [(1, 4, 2)]


def test_compare_waves_detects_a_planted_shift(in_session, tenant, open_survey):
    made = open_survey(tenant, customers=0)
    org = tenant.org_id
    with in_session(org) as session:
        q = surveys_service.questionnaire(session.get(Survey, made.survey_id))
        for row in planted_answers(q, 120, seed=11):
            surveys_service.submit_response(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                            answers=row)
        surveys_service.open_wave(session, org_id=org, actor_id=None, survey_id=made.survey_id)
        for row in planted_answers(q, 120, seed=12, shift={"quality": 0.8}):
            surveys_service.submit_response(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                            answers=row)
        result = surveys_service.compare_waves(session, org_id=org, survey_id=made.survey_id, wave_a=1, wave_b=2)
        with pytest.raises(Invalid) as caught:
            surveys_service.open_wave(session, org_id=org, actor_id=None, survey_id=made.survey_id)
            surveys_service.compare_waves(session, org_id=org, survey_id=made.survey_id, wave_a=1, wave_b=3)
        assert caught.value.field == "wave_b"
    quality = result["constructs"]["quality"]
    assert quality["diff"] > 0.3 and quality["pvalue"] < 0.05
    assert quality["diff"] == pytest.approx(quality["mean_b"] - quality["mean_a"])
    assert quality["t"] > 0 and quality["n_a"] == 120
    # loyalty depends on quality (path 0.3), so it moves far less than quality
    assert abs(result["constructs"]["loyalty"]["diff"]) < quality["diff"]
    assert result["servqual"] is None


def test_run_analysis_needs_ten_complete_responses(in_session, tenant, open_survey):
    made = open_survey(tenant, customers=0)
    org = tenant.org_id
    with in_session(org) as session:
        for _ in range(9):
            surveys_service.submit_response(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                            answers=GOOD_ANSWERS)
        with pytest.raises(Invalid) as caught:
            surveys_service.run_analysis(session, org_id=org, actor_id=None, survey_id=made.survey_id)
        assert caught.value.field == "responses"
        with pytest.raises(Invalid) as caught:
            surveys_service.run_analysis(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                         model="foo =~ bar + baz")
        assert caught.value.field == "model"


# --- customer hooks --------------------------------------------------------------------------------


def test_erasure_keeps_answers_anonymous_and_export_lists_them(in_session, db, tenant, open_survey):
    made = open_survey(tenant, customers=2)
    ada = made.customer_ids[0]
    with in_session() as session:
        surveys_service.submit_invite(session, token=made.tokens[0], answers=GOOD_ANSWERS)
    with in_session(tenant.org_id) as session:
        exported = surveys_service.export_customer(session, org_id=tenant.org_id, customer_id=ada)
        assert [r["answers"]["comment"] for r in exported["survey_responses"]] == ["Friendly drivers."]
        assert [i["survey_id"] for i in exported["survey_invites"]] == [made.survey_id]
        assert "token_hash" not in exported["survey_invites"][0]
        assert surveys_service.erase_customer(session, org_id=tenant.org_id, customer_id=ada) == 1
    with db() as session:
        response = session.scalar(select(SurveyResponse))
        assert response.customer_id is None
        assert set(response.answers) == {"q1", "q2", "q3", "l1", "l2", "l3", "nps"}
        assert session.scalar(select(SurveyInvite).where(SurveyInvite.id == response.invite_id)).customer_id is None
    with in_session(tenant.org_id) as session:
        assert surveys_service.export_customer(session, org_id=tenant.org_id, customer_id=ada) == {
            "survey_responses": [], "survey_invites": []}


def test_reassign_moves_answers_and_invites_without_breaking_one_invite_per_wave(in_session, db, tenant,
                                                                                 open_survey):
    made = open_survey(tenant, customers=2)
    kept, duplicate = made.customer_ids
    with in_session() as session:
        surveys_service.submit_invite(session, token=made.tokens[1], answers=GOOD_ANSWERS)
    with in_session(tenant.org_id) as session:
        surveys_service.open_wave(session, org_id=tenant.org_id, actor_id=None, survey_id=made.survey_id)
        surveys_service.create_invites(session, org_id=tenant.org_id, actor_id=None, survey_id=made.survey_id,
                                       customer_ids=[duplicate])
        moved = surveys_service.reassign_customer(session, org_id=tenant.org_id, from_customer_id=duplicate,
                                                  to_customer_id=kept)
        assert moved == 2  # the response and the wave-2 invite; the wave-1 invite stays (kept has one)
    with db() as session:
        assert session.scalar(select(SurveyResponse)).customer_id == kept
        owners = session.execute(select(SurveyInvite.wave_id, SurveyInvite.customer_id)
                                 .order_by(SurveyInvite.id)).all()
        assert [c for _w, c in owners] == [kept, duplicate, kept]


def test_delete_survey_removes_everything_and_its_timeline_entries(in_session, db, tenant, open_survey):
    made = open_survey(tenant, customers=2)
    with in_session() as session:
        surveys_service.submit_invite(session, token=made.tokens[0], answers=GOOD_ANSWERS)
    assert count(db, TimelineEntry) == 3
    with in_session(tenant.org_id) as session:
        surveys_service.delete_survey(session, org_id=tenant.org_id, actor_id=None, survey_id=made.survey_id)
    assert (count(db, Survey), count(db, SurveyWave), count(db, SurveyInvite), count(db, SurveyResponse),
            count(db, TimelineEntry)) == (0, 0, 0, 0, 0)


def test_compare_waves_reports_the_servqual_gap_change(in_session, tenant, open_survey):
    made = open_survey(tenant, customers=0, template="servqual")
    org = tenant.org_id
    with in_session(org) as session:
        q = surveys_service.questionnaire(session.get(Survey, made.survey_id))
        dimensions = sorted({item.servqual.dimension for item in q.items() if item.servqual is not None})
        assert len(dimensions) == 5
        for row in planted_answers(q, 80, seed=21, servqual_gaps={d: -1.5 for d in dimensions}):
            surveys_service.submit_response(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                            answers=row)
        surveys_service.open_wave(session, org_id=org, actor_id=None, survey_id=made.survey_id)
        closed = {d: -1.5 for d in dimensions} | {"reliability": -0.3}
        for row in planted_answers(q, 80, seed=22, servqual_gaps=closed):
            surveys_service.submit_response(session, org_id=org, actor_id=None, survey_id=made.survey_id,
                                            answers=row)
        result = surveys_service.compare_waves(session, org_id=org, survey_id=made.survey_id, wave_a=1, wave_b=2)
    servqual = result["servqual"]
    assert set(servqual) == {*dimensions, "overall"}
    assert servqual["reliability"]["change"] > 0.8 and servqual["reliability"]["pvalue"] < 0.001
    assert servqual["reliability"]["gap_before"] < servqual["reliability"]["gap_after"] < 0
    others = [d for d in dimensions if d != "reliability"]
    assert all(abs(servqual[d]["change"]) < 0.4 for d in others)
