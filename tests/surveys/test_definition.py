"""The questionnaire document: what is accepted, what is refused (naming the field), answer checks, recoding,
the default model and SERVQUAL pairing; and the planted-answer simulator recovering its structure."""

from __future__ import annotations

import pandas as pd
import pytest

from patron import stats
from patron.core.errors import Invalid
from patron.simulate.surveys import planted_answers
from patron.surveys.definition import (
    changes_shape,
    clean_answers,
    construct_items,
    default_model,
    parse_questionnaire,
    recode,
    scale_of,
    servqual_spec,
)


def _doc(**extra) -> dict:
    doc = {
        "constructs": [{"code": "loyalty", "name": "Loyalty"}, {"code": "quality", "name": "Quality"}],
        "sections": [
            {"title": "Us", "items": [
                {"code": "loy1", "text": "I will use it again.", "construct": "loyalty"},
                {"code": "loy2", "text": "I recommend it.", "construct": "loyalty"},
                {"code": "loy3", "text": "I would switch for less.", "construct": "loyalty", "reverse": True},
                {"code": "q1", "text": "Drivers are on time.", "construct": "quality"},
                {"code": "q2", "text": "Cars are clean.", "construct": "quality"},
            ]},
            {"title": "You", "items": [
                {"code": "nps", "text": "Recommend?", "kind": "nps"},
                {"code": "gender", "text": "Gender", "kind": "single", "choices": ["female", "male", "other"],
                 "demographic": True, "required": False},
                {"code": "uses", "text": "What do you use?", "kind": "multiple", "choices": ["rides", "food"],
                 "required": False},
                {"code": "why", "text": "Why?", "kind": "text", "required": False},
            ]},
        ],
    }
    doc.update(extra)
    return doc


def test_a_valid_questionnaire_gets_defaults_and_a_default_model():
    q = parse_questionnaire(_doc())
    assert q.item("loy1").scale == (1, 5) and q.item("nps").scale == (0, 10)
    assert construct_items(q) == {"loyalty": ["loy1", "loy2", "loy3"], "quality": ["q1", "q2"]}
    assert default_model(q) == "loyalty =~ loy1 + loy2 + loy3\nquality =~ q1 + q2"
    assert default_model(parse_questionnaire(_doc(model="  loyalty =~ loy1 + loy2 + loy3 "))) == (
        "loyalty =~ loy1 + loy2 + loy3")
    assert scale_of(q) == (1, 5)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda d: d["sections"][0]["items"][1].update(code="loy1"), "definition", "repeated: loy1"),
        (lambda d: d["sections"][0]["items"][0].update(construct="nope"), "definition", "unknown construct"),
        (lambda d: d["sections"][0]["items"][0].update(scale=[1, 20]), "definition.sections.0.items.0",
         "2 to 11 points"),
        (lambda d: d["sections"][0]["items"][0].update(labels=["a", "b"]), "definition.sections.0.items.0",
         "needs 5 labels"),
        (lambda d: d["sections"][0]["items"][0].update(code="Loy 1"), "definition.sections.0.items.0.code",
         "pattern"),
        (lambda d: d["sections"][1]["items"][1].update(choices=["only"]), "definition.sections.1.items.1",
         "at least 2 choices"),
        (lambda d: d["sections"][1]["items"][3].update(reverse=True), "definition.sections.1.items.3",
         "only likert"),
        (lambda d: d["sections"][1]["items"][3].update(construct="loyalty"), "definition.sections.1.items.3",
         "only numeric"),
        (lambda d: d["sections"][0]["items"][0].update(colour="red"), "definition.sections.0.items.0.colour",
         "Extra inputs"),
    ],
)
def test_a_bad_questionnaire_is_refused_naming_the_field(change, field, message):
    doc = _doc()
    change(doc)
    with pytest.raises(Invalid) as caught:
        parse_questionnaire(doc)
    assert caught.value.field == field
    assert message in caught.value.detail


def test_answers_are_normalised_and_bad_ones_named():
    q = parse_questionnaire(_doc())
    good = {"loy1": "5", "loy2": 4, "loy3": 2.0, "q1": 3, "q2": 1, "nps": 9, "gender": "female",
            "uses": ["food", "rides"], "why": "  fast  "}
    assert clean_answers(q, good) == {"loy1": 5, "loy2": 4, "loy3": 2, "q1": 3, "q2": 1, "nps": 9,
                                      "gender": "female", "uses": ["rides", "food"], "why": "fast"}
    for answers, field, message in [
        ({**good, "loy1": 6}, "answers.loy1", "between 1 and 5"),
        ({**good, "nps": 3.5}, "answers.nps", "whole number"),
        ({**good, "loy2": "a lot"}, "answers.loy2", "must be a number"),
        ({**good, "loy2": True}, "answers.loy2", "must be a number"),
        ({**good, "gender": "robot"}, "answers.gender", "not one of"),
        ({**good, "uses": ["boats"]}, "answers.uses", "not among"),
        ({**good, "extra": 1}, "answers.extra", "no such item"),
        ({k: v for k, v in good.items() if k != "q2"}, "answers.q2", "required"),
        ({**good, "why": "x" * 4001}, "answers.why", "4000"),
    ]:
        with pytest.raises(Invalid) as caught:
            clean_answers(q, answers)
        assert (caught.value.field, message in caught.value.detail) == (field, True), caught.value.detail
    # a blank optional answer is left out; partial answers skip the required check
    assert "why" not in clean_answers(q, {**good, "why": "  "})
    assert clean_answers(q, {"loy1": 2}, partial=True) == {"loy1": 2}


def test_reverse_coded_items_are_turned_round_for_analysis_only():
    q = parse_questionnaire(_doc())
    assert recode(q, {"loy3": 1, "loy1": 1}) == {"loy3": 5, "loy1": 1}


def test_servqual_pairs_are_matched_and_an_unpaired_item_refused():
    def sq(code, side, pair, dim="reliability"):
        return {"code": code, "text": code, "scale": [1, 7],
                "servqual": {"dimension": dim, "side": side, "pair": pair}}
    doc = {"sections": [{"items": [sq("e1", "expectation", "1"), sq("p1", "perception", "1"),
                                   sq("p2", "perception", "2"), sq("e2", "expectation", "2"),
                                   sq("e3", "expectation", "3", "empathy"), sq("p3", "perception", "3", "empathy")]}]}
    q = parse_questionnaire(doc)
    assert servqual_spec(q) == {
        "reliability": {"expectation": ["e1", "e2"], "perception": ["p1", "p2"]},
        "empathy": {"expectation": ["e3"], "perception": ["p3"]},
    }
    doc["sections"][0]["items"].pop()
    with pytest.raises(Invalid, match="needs one expectation and one perception"):
        parse_questionnaire(doc)


def test_shape_changes_are_detected_but_text_edits_are_not():
    old = parse_questionnaire(_doc())
    edited = _doc()
    edited["sections"][0]["items"][0]["text"] = "Reworded."
    edited["sections"][1]["items"].append({"code": "new", "text": "New?", "kind": "text", "required": False})
    assert changes_shape(old, parse_questionnaire(edited)) == []
    edited["sections"][0]["items"][1]["scale"] = [1, 7]
    edited["sections"][0]["items"].pop(3)  # q1 removed
    assert changes_shape(old, parse_questionnaire(edited)) == ["loy2", "q1"]


def test_planted_answers_recover_the_planted_path():
    # Three constructs of four items, c ~ 0.5 a + 0.0 b: the fitted standardised paths keep the planted order
    # and sizes (discretising to five points attenuates a little).
    items = [{"code": f"{c}{i}", "text": "x", "construct": c, "reverse": i == 4} for c in "abc" for i in range(1, 5)]
    q = parse_questionnaire({
        "constructs": [{"code": c, "name": c} for c in "abc"],
        "model": "a =~ a1 + a2 + a3 + a4\nb =~ b1 + b2 + b3 + b4\nc =~ c1 + c2 + c3 + c4\nc ~ a + b",
        "sections": [{"items": items}],
    })
    rows = planted_answers(q, 600, seed=11, paths={("c", "a"): 0.5, ("c", "b"): 0.0})
    frame = pd.DataFrame([recode(q, row) for row in rows]).astype(float)
    assert frame.min().min() >= 1 and frame.max().max() <= 5
    fit = stats.sem(q.model, frame)
    paths = fit.estimates[fit.estimates.op == "~"].set_index("rhs")
    assert 0.35 < paths.loc["a", "std_all"] < 0.65
    assert abs(paths.loc["b", "std_all"]) < 0.15
    assert fit.fit["cfi"] > 0.95
    alpha = stats.cronbach_alpha(frame, [f"a{i}" for i in range(1, 5)])
    assert alpha.alpha > 0.7
