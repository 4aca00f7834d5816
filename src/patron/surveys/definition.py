"""What a questionnaire is: sections of items, the constructs the items measure, and the default model.

A survey stores its questionnaire as one JSON document (:class:`Questionnaire`), validated here on every
write. Item ``code`` values are the column names of the answers table (CSV export, analysis, model text),
so they are short identifiers (``loy1``, ``e12``, ``nps``) and unique within the questionnaire.

Item kinds:

``likert``
    an agreement or rating scale from ``scale[0]`` to ``scale[1]`` (1-5 or 1-7, up to 11 points), with an
    optional label per point and ``reverse`` for reverse-coded items (recoded as ``min + max - answer``
    before analysis, never in the stored answer).
``nps``
    "How likely are you to recommend ...", 0-10.
``single`` / ``multiple``
    one / several of ``choices`` (stored as the choice text / a list of choice texts).
``text``
    free text (up to 4,000 characters).
``number``
    a number, optionally within ``scale``.

An item marked ``demographic`` describes the respondent (age band, gender, education); SERVQUAL items carry
``servqual`` with their dimension, whether they ask for the customer's *expectation* or *perception*, and the
``pair`` key that matches the two items of the same statement.

Example::

    >>> q = Questionnaire.model_validate({
    ...     "constructs": [{"code": "loyalty", "name": "Loyalty"}],
    ...     "sections": [{"title": "You and us", "items": [
    ...         {"code": "loy1", "text": "I will use the service again.", "construct": "loyalty"},
    ...         {"code": "loy2", "text": "I recommend it to friends.", "construct": "loyalty"},
    ...         {"code": "loy3", "text": "I would switch for a small discount.", "construct": "loyalty",
    ...          "reverse": True}]}]})
    >>> default_model(q)
    'loyalty =~ loy1 + loy2 + loy3'
    >>> clean_answers(q, {"loy1": 5, "loy2": "4", "loy3": 2})
    {'loy1': 5, 'loy2': 4, 'loy3': 2}
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from patron.core.errors import Invalid

ITEM_KINDS = ("likert", "nps", "single", "multiple", "text", "number")
#: kinds whose answers are numbers and can enter an analysis
NUMERIC_KINDS = ("likert", "nps", "number")
SERVQUAL_SIDES = ("expectation", "perception")
CODE_RE = r"^[a-z][a-z0-9_]{0,39}$"
MAX_TEXT_ANSWER = 4000
MAX_ITEMS = 300

Code = Annotated[str, Field(pattern=CODE_RE, description="Identifier: lower-case letters, digits and _.")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ServqualTag(_Strict):
    """Marks an item as one half of a SERVQUAL statement."""

    dimension: str = Field(min_length=1, max_length=60, description="SERVQUAL dimension, e.g. `reliability`.")
    side: Literal["expectation", "perception"] = Field(description="Whether the item asks what the customer "
                                                                   "expects or what they received.")
    pair: str = Field(min_length=1, max_length=40, description="Key shared by the expectation and perception "
                                                                "items of the same statement.")


with warnings.catch_warnings():
    # ``construct`` is the natural name of the field; it shadows pydantic's deprecated ``BaseModel.construct``
    # class method, which nothing here uses.
    warnings.filterwarnings("ignore", message='Field name "construct"', category=UserWarning)

    class Item(_Strict):
        """One question."""

        code: Code
        text: str = Field(min_length=1, max_length=500, description="The question or statement shown.")
        kind: Literal["likert", "nps", "single", "multiple", "text", "number"] = Field(
            default="likert", description="Answer type: likert, nps (0-10), single, multiple, text or number.")
        construct: str | None = Field(default=None, description="Code of the construct this item measures.")
        scale: tuple[int, int] | None = Field(
            default=None, description="Lowest and highest answer (likert: default 1-5; number: optional bounds).")
        labels: list[str] = Field(default_factory=list, description="Likert: one label per scale point, low to high.")
        reverse: bool = Field(default=False, description="Reverse-coded: recoded as min + max - answer in analysis.")
        required: bool = Field(default=True, description="Whether a respondent must answer it.")
        choices: list[str] = Field(default_factory=list, description="Single/multiple choice: the options.")
        demographic: bool = Field(default=False, description="Describes the respondent (age band, gender...).")
        servqual: ServqualTag | None = Field(default=None, description="SERVQUAL dimension, side and pair.")

        @model_validator(mode="after")
        def _check(self) -> Item:
            if self.kind == "likert":
                low, high = self.scale or (1, 5)
                if not (0 <= low < high and high - low <= 10):
                    raise ValueError("a likert scale needs 2 to 11 points between 0 and high, e.g. [1, 5]")
                if self.labels and len(self.labels) != high - low + 1:
                    raise ValueError(f"a {low}-{high} scale needs {high - low + 1} labels, got {len(self.labels)}")
                self.scale = (low, high)
            elif self.kind == "nps":
                self.scale = (0, 10)
            elif self.kind == "number":
                if self.scale is not None and self.scale[0] >= self.scale[1]:
                    raise ValueError("scale must be [low, high] with low < high")
            elif self.scale is not None:
                raise ValueError(f"a {self.kind} item has no scale")
            if self.kind in ("single", "multiple"):
                if len(self.choices) < 2:
                    raise ValueError("a choice item needs at least 2 choices")
                if len(set(self.choices)) != len(self.choices):
                    raise ValueError("choices must be distinct")
            elif self.choices:
                raise ValueError(f"a {self.kind} item has no choices")
            if self.reverse and self.kind != "likert":
                raise ValueError("only likert items can be reverse-coded")
            if self.servqual is not None and self.kind != "likert":
                raise ValueError("SERVQUAL items are likert items")
            if self.construct is not None and self.kind not in NUMERIC_KINDS:
                raise ValueError("only numeric items (likert, nps, number) can measure a construct")
            return self


class Section(_Strict):
    title: str = Field(default="", max_length=200, description="Heading shown above the section's items.")
    description: str = Field(default="", max_length=2000, description="Text shown under the heading.")
    items: list[Item] = Field(default_factory=list, description="The section's questions, in order.")


class Construct(_Strict):
    code: Code
    name: str = Field(min_length=1, max_length=120, description="Readable name, e.g. `Quality of service`.")
    description: str = Field(default="", max_length=1000, description="What the construct means.")


class Questionnaire(_Strict):
    """A whole questionnaire: what the survey asks and what the answers measure."""

    intro: str = Field(default="", max_length=4000, description="Shown at the top of the response page.")
    thanks: str = Field(default="Thank you for your answers.", max_length=2000,
                        description="Shown after the answers are sent.")
    constructs: list[Construct] = Field(default_factory=list, description="What the items measure.")
    sections: list[Section] = Field(default_factory=list, description="The questions, grouped.")
    model: str | None = Field(default=None, max_length=20_000,
                              description="Default analysis model in lavaan syntax; when empty each construct is "
                                          "measured by its items (a CFA).")

    @field_validator("sections")
    @classmethod
    def _not_too_many(cls, sections: list[Section]) -> list[Section]:
        if sum(len(s.items) for s in sections) > MAX_ITEMS:
            raise ValueError(f"at most {MAX_ITEMS} items")
        return sections

    @model_validator(mode="after")
    def _check(self) -> Questionnaire:
        construct_codes = [c.code for c in self.constructs]
        if len(set(construct_codes)) != len(construct_codes):
            raise ValueError("construct codes must be unique")
        codes = [item.code for item in self.items()]
        duplicates = sorted({c for c in codes if codes.count(c) > 1})
        if duplicates:
            raise ValueError(f"item codes must be unique; repeated: {', '.join(duplicates)}")
        clash = sorted(set(codes) & set(construct_codes))
        if clash:
            raise ValueError(f"an item and a construct share the code {clash[0]!r}")
        for item in self.items():
            if item.construct is not None and item.construct not in construct_codes:
                raise ValueError(f"item {item.code!r} names the unknown construct {item.construct!r}")
        pairs: dict[tuple[str, str], list[str]] = {}
        for item in self.items():
            if item.servqual is not None:
                pairs.setdefault((item.servqual.dimension, item.servqual.pair), []).append(item.servqual.side)
        for (dimension, pair), sides in pairs.items():
            if sorted(sides) != ["expectation", "perception"]:
                raise ValueError(f"SERVQUAL pair {pair!r} of {dimension!r} needs one expectation and one "
                                 f"perception item")
        return self

    def items(self) -> list[Item]:
        return [item for section in self.sections for item in section.items]

    def item(self, code: str) -> Item | None:
        return next((i for i in self.items() if i.code == code), None)


def parse_questionnaire(data: Any, *, field: str = "definition") -> Questionnaire:
    """Validate a questionnaire document; :class:`~patron.core.errors.Invalid` names the first bad field
    (``definition.sections.0.items.2.scale``)."""
    if isinstance(data, Questionnaire):
        return data
    try:
        return Questionnaire.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise Invalid(f"{message}", field=f"{field}.{where}" if where else field) from None


def construct_items(q: Questionnaire) -> dict[str, list[str]]:
    """Construct code -> its items' codes, in questionnaire order (constructs without items left out)."""
    out: dict[str, list[str]] = {c.code: [] for c in q.constructs}
    for item in q.items():
        if item.construct is not None:
            out[item.construct].append(item.code)
    return {k: v for k, v in out.items() if v}


def default_model(q: Questionnaire) -> str:
    """The questionnaire's own model, or one measurement line per construct with at least two items."""
    if q.model and q.model.strip():
        return q.model.strip()
    return "\n".join(f"{c} =~ {' + '.join(items)}" for c, items in construct_items(q).items() if len(items) >= 2)


def servqual_spec(q: Questionnaire) -> dict[str, dict[str, list[str]]] | None:
    """``dimension -> {"expectation": [...], "perception": [...]}`` with pairs in the same order, or None when the
    questionnaire has no SERVQUAL items (the shape :func:`patron.stats.servqual` takes)."""
    pairs: dict[str, dict[str, dict[str, str]]] = {}
    for item in q.items():
        if item.servqual is not None:
            tag = item.servqual
            pairs.setdefault(tag.dimension, {}).setdefault(tag.pair, {})[tag.side] = item.code
    if not pairs:
        return None
    return {
        dimension: {side: [by_pair[p][side] for p in by_pair] for side in SERVQUAL_SIDES}
        for dimension, by_pair in pairs.items()
    }


def scale_of(q: Questionnaire) -> tuple[int, int] | None:
    """The likert scale shared by the construct items, or None when they differ or there are none."""
    scales = {item.scale for item in q.items() if item.kind == "likert" and item.construct is not None}
    return next(iter(scales)) if len(scales) == 1 else None


def _number(item: Item, value: Any, field: str) -> int | float:
    if isinstance(value, bool):
        raise Invalid("must be a number", field=field)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise Invalid("must be a number", field=field)
        try:
            value = float(text)
        except ValueError:
            raise Invalid(f"must be a number, got {text[:40]!r}", field=field) from None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise Invalid("must be a number", field=field)
    if item.kind in ("likert", "nps"):
        if float(value) != int(value):
            raise Invalid("must be a whole number", field=field)
        value = int(value)
    elif float(value) == int(value):
        value = int(value)
    if item.scale is not None and not (item.scale[0] <= value <= item.scale[1]):
        raise Invalid(f"must be between {item.scale[0]} and {item.scale[1]}", field=field)
    return value


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, list) and not value)


def clean_answers(q: Questionnaire, answers: Any, *, field: str = "answers", partial: bool = False) -> dict:
    """Check one respondent's answers against the questionnaire and return them normalised: numbers as
    numbers, a single choice as its text, multiple choices as a list in questionnaire order, blanks left out.

    Raises :class:`~patron.core.errors.Invalid` naming ``answers.<code>`` for an unknown item, a missing
    required answer (unless ``partial``), a number outside the scale or a choice that is not offered."""
    if not isinstance(answers, dict):
        raise Invalid("must be an object of item code -> answer", field=field)
    known = {item.code: item for item in q.items()}
    unknown = sorted(set(answers) - set(known))
    if unknown:
        raise Invalid(f"no such item: {unknown[0]}", field=f"{field}.{unknown[0]}")
    out: dict[str, Any] = {}
    for code, item in known.items():
        where = f"{field}.{code}"
        value = answers.get(code)
        if _blank(value):
            if item.required and not partial:
                raise Invalid("an answer is required", field=where)
            continue
        if item.kind in NUMERIC_KINDS:
            out[code] = _number(item, value, where)
        elif item.kind == "single":
            if not isinstance(value, str) or value not in item.choices:
                raise Invalid("not one of the choices", field=where)
            out[code] = value
        elif item.kind == "multiple":
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, list) or any(not isinstance(v, str) or v not in item.choices for v in values):
                raise Invalid("not among the choices", field=where)
            out[code] = [c for c in item.choices if c in values]
        else:
            if not isinstance(value, str):
                raise Invalid("must be text", field=where)
            if len(value) > MAX_TEXT_ANSWER:
                raise Invalid(f"at most {MAX_TEXT_ANSWER} characters", field=where)
            out[code] = value.strip()
    return out


def recode(q: Questionnaire, answers: dict) -> dict:
    """Answers ready for analysis: reverse-coded likert items turned around (``min + max - answer``)."""
    out = dict(answers)
    for item in q.items():
        if item.reverse and item.code in out and item.scale is not None:
            out[item.code] = item.scale[0] + item.scale[1] - out[item.code]
    return out


def changes_shape(old: Questionnaire, new: Questionnaire) -> list[str]:
    """Item codes whose kind, scale, choices or reverse flag differ between two versions, or that were removed:
    the changes that would make stored answers mean something else."""
    changed = []
    new_items = {i.code: i for i in new.items()}
    for item in old.items():
        other = new_items.get(item.code)
        if other is None or (item.kind, item.scale, tuple(item.choices), item.reverse) != (
                other.kind, other.scale, tuple(other.choices), other.reverse):
            changed.append(item.code)
    return changed


_ID_RE = re.compile(CODE_RE)


def is_code(text: str) -> bool:
    return bool(_ID_RE.match(text))
