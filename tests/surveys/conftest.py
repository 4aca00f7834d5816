"""Fixtures of the surveys suites (service, API, public answer flow and web pages).

* ``survey_definition()``: a small questionnaire (two constructs, a reverse item, NPS, a demographic choice
  and a free-text comment) for tests that must not depend on the ready templates;
* ``new_customer(org_id, ...)``: a customer row, returns its id;
* ``in_session(org_id)``: a committing session acting for that organisation (``with in_session(org) as s:``);
* ``open_survey(tenant, ...)``: a survey made through the service, opened, with N customers invited; returns
  a :class:`MadeSurvey` with the survey id, the customers and their answer links.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.customers.models import Customer
from patron.surveys import service as surveys_service

DEFINITION = {
    "intro": "A few questions about our service.",
    "constructs": [
        {"code": "quality", "name": "Service quality"},
        {"code": "loyalty", "name": "Loyalty"},
    ],
    "model": "quality =~ q1 + q2 + q3\nloyalty =~ l1 + l2 + l3\nloyalty ~ quality",
    "sections": [
        {"title": "Our service", "items": [
            {"code": "q1", "text": "Staff are reliable.", "construct": "quality"},
            {"code": "q2", "text": "Problems are solved quickly.", "construct": "quality"},
            {"code": "q3", "text": "The app works well.", "construct": "quality"},
        ]},
        {"title": "You and us", "items": [
            {"code": "l1", "text": "I will use the service again.", "construct": "loyalty"},
            {"code": "l2", "text": "I speak well of the service.", "construct": "loyalty"},
            {"code": "l3", "text": "I would switch for a small discount.", "construct": "loyalty", "reverse": True},
            {"code": "nps", "text": "How likely are you to recommend us?", "kind": "nps"},
            {"code": "age", "text": "Your age", "kind": "single", "choices": ["under 30", "30-49", "50+"],
             "demographic": True, "required": False},
            {"code": "comment", "text": "Anything else?", "kind": "text", "required": False},
        ]},
    ],
}

GOOD_ANSWERS = {"q1": 4, "q2": 5, "q3": 4, "l1": 5, "l2": 4, "l3": 2, "nps": 9, "age": "30-49",
                "comment": "Friendly drivers."}


@pytest.fixture
def survey_definition() -> Callable[[], dict]:
    """A fresh copy of :data:`DEFINITION` each call (tests may change it)."""
    return lambda: copy.deepcopy(DEFINITION)


@pytest.fixture
def new_customer(db) -> Callable[..., int]:
    """``new_customer(org_id, first_name="Ada", **fields)`` — a customer row; returns its id."""

    def make(org_id: int, first_name: str = "Ada", last_name: str = "Lovelace", **fields) -> int:
        with session_scope(db) as session:
            session.info["actor"] = Actor(org_id=org_id, label="test")
            fields.setdefault("email", f"{uuid.uuid4().hex[:8]}@example.com")
            customer = Customer(org_id=org_id, first_name=first_name, last_name=last_name, **fields)
            session.add(customer)
            session.flush()
            return customer.id

    return make


@pytest.fixture
def in_session(db):
    """``with in_session(org_id) as session:`` — a session that commits on success, acting for the org."""

    @contextmanager
    def scope(org_id: int | None = None):
        with session_scope(db) as session:
            session.info["actor"] = Actor(org_id=org_id, label="test")
            yield session

    return scope


@dataclass
class MadeSurvey:
    survey_id: int
    org_id: int
    customer_ids: list[int] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


@pytest.fixture
def open_survey(in_session, new_customer, survey_definition) -> Callable[..., MadeSurvey]:
    """``open_survey(tenant, customers=3, template=None, definition=None, name=..., status="open")``.

    Without ``template`` or ``definition`` the survey uses :data:`DEFINITION`. ``customers`` new customers
    (Ada 0, Ada 1, ...) are invited to wave 1 when the survey is open."""

    def make(tenant, *, customers: int = 3, template: str | None = None, definition: dict | None = None,
             name: str = "Service check", status: str = "open", wave_interval_days: int | None = None) -> MadeSurvey:
        if template is None and definition is None:
            definition = survey_definition()
        with in_session(tenant.org_id) as session:
            survey = surveys_service.create_survey(
                session, org_id=tenant.org_id, actor_id=tenant.user_id, name=name, template=template,
                definition=definition, wave_interval_days=wave_interval_days,
            )
            if status in ("open", "closed"):
                surveys_service.set_status(session, org_id=tenant.org_id, actor_id=tenant.user_id,
                                           survey_id=survey.id, status="open")
            made = MadeSurvey(survey_id=survey.id, org_id=tenant.org_id)
        made.customer_ids = [new_customer(tenant.org_id, first_name=f"Ada {i}") for i in range(customers)]
        if made.customer_ids and status == "open":
            with in_session(tenant.org_id) as session:
                links = surveys_service.create_invites(
                    session, org_id=tenant.org_id, actor_id=tenant.user_id, survey_id=made.survey_id,
                    customer_ids=made.customer_ids,
                )
                made.tokens = [link.token for link in links]
                made.paths = [link.path for link in links]
        if status == "closed":
            with in_session(tenant.org_id) as session:
                surveys_service.set_status(session, org_id=tenant.org_id, actor_id=tenant.user_id,
                                           survey_id=made.survey_id, status="closed")
        return made

    return make
