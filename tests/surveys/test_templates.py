"""The ready questionnaires: each one validates, and each measures what its name promises."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from patron.core.errors import Invalid
from patron.simulate.surveys import planted_answers
from patron.stats.syntax import parse_model
from patron.surveys.definition import (
    clean_answers,
    construct_items,
    default_model,
    parse_questionnaire,
    scale_of,
    servqual_spec,
)
from patron.surveys.templates import TEMPLATES, Template, get_template

CRM_COMPONENTS = ["loyalty", "demands", "quality", "orientation", "flexibility", "interaction"]


def test_the_five_templates_are_there_under_their_keys():
    assert list(TEMPLATES) == ["crm_success", "servqual", "nps", "csat", "targeting"]
    for key, template in TEMPLATES.items():
        assert isinstance(template, Template)
        assert template.key == key
        assert template.name and template.description


@pytest.mark.parametrize("key", list(TEMPLATES))
def test_every_template_validates(key):
    document = copy.deepcopy(TEMPLATES[key].questionnaire)
    q = parse_questionnaire(TEMPLATES[key].questionnaire)
    assert q.items(), key
    # parsing reads the document and never changes the template itself
    assert TEMPLATES[key].questionnaire == document


@pytest.mark.parametrize("key", list(TEMPLATES))
def test_answers_drawn_from_each_template_pass_the_answer_checks(key):
    q = parse_questionnaire(TEMPLATES[key].questionnaire)
    rows = planted_answers(q, 25, seed=3)
    cleaned = [clean_answers(q, row) for row in rows]
    required = [i.code for i in q.items() if i.required]
    assert all(set(required) <= set(row) for row in cleaned)


def test_template_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TEMPLATES["nps"].name = "Other"  # type: ignore[misc]


def test_unknown_template_names_the_field():
    with pytest.raises(Invalid) as caught:
        get_template("nope")
    assert caught.value.field == "template"
    assert "crm_success" in caught.value.detail
    assert get_template("csat") is TEMPLATES["csat"]


def test_crm_success_measures_the_six_components_and_success():
    q = parse_questionnaire(get_template("crm_success").questionnaire)
    blocks = construct_items(q)
    assert list(blocks) == [*CRM_COMPONENTS, "success"]
    assert [len(blocks[c]) for c in CRM_COMPONENTS] == [4, 4, 4, 4, 4, 4]
    assert 3 <= len(blocks["success"]) <= 4
    assert scale_of(q) == (1, 5)
    # the structural model of study section 1: success regressed on the six components
    statements = parse_model(default_model(q))
    paths = {(s.lhs, s.rhs) for s in statements if s.op == "~"}
    assert paths == {("success", c) for c in CRM_COMPONENTS}
    measured = {s.lhs: [] for s in statements if s.op == "=~"}
    for s in statements:
        if s.op == "=~":
            measured[s.lhs].append(s.rhs)
    assert measured == blocks
    demographics = {i.code: i for i in q.items() if i.demographic}
    assert set(demographics) == {"gender", "age_band", "education"}
    assert all(i.kind == "single" and len(i.choices) >= 3 for i in demographics.values())


def test_servqual_has_22_paired_statements_in_the_published_dimensions():
    # Parasuraman, Zeithaml & Berry (1988), SERVQUAL: tangibles 4, reliability 5, responsiveness 4,
    # assurance 4, empathy 5 statements, each rated for expectation and perception on a 7-point scale.
    q = parse_questionnaire(get_template("servqual").questionnaire)
    spec = servqual_spec(q)
    assert spec is not None
    assert {d: len(sides["expectation"]) for d, sides in spec.items()} == {
        "tangibles": 4, "reliability": 5, "responsiveness": 4, "assurance": 4, "empathy": 5}
    assert all(len(s["perception"]) == len(s["expectation"]) for s in spec.values())
    assert len(q.items()) == 44
    assert {i.scale for i in q.items()} == {(1, 7)}
    # each pair is the same statement asked twice: e<n> expectation, p<n> perception
    for sides in spec.values():
        for e, p in zip(sides["expectation"], sides["perception"], strict=True):
            assert e[1:] == p[1:] and e[0] == "e" and p[0] == "p"


def test_nps_and_csat_are_one_rating_and_an_optional_comment():
    nps = parse_questionnaire(get_template("nps").questionnaire)
    assert [(i.kind, i.required) for i in nps.items()] == [("nps", True), ("text", False)]
    assert nps.items()[0].scale == (0, 10)
    csat = parse_questionnaire(get_template("csat").questionnaire)
    rating = csat.item("csat")
    assert rating is not None and rating.kind == "likert" and rating.scale == (1, 5)
    assert len(rating.labels) == 5
    assert [i.kind for i in csat.items()] == ["likert", "text"]


def test_targeting_has_the_four_clusters_as_a_cfa():
    q = parse_questionnaire(get_template("targeting").questionnaire)
    blocks = construct_items(q)
    assert list(blocks) == ["communication", "ethical", "individual", "economic"]
    assert all(3 <= len(items) <= 4 for items in blocks.values())
    statements = parse_model(default_model(q))
    assert {s.op for s in statements} == {"=~"}
    assert {s.lhs for s in statements} == set(blocks)
