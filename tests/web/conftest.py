"""Helpers for the web app's tests: sign in through the login form, read the CSRF token, seed records."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.customers import service as customers_service
from patron.sales import service as sales_service
from patron.tickets import service as tickets_service

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
LOGIN_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def login_token(client: TestClient) -> str:
    """The sign-in form's own token (its cookie is set on the client by the same request)."""
    page = client.get("/login")
    assert page.status_code == 200, page.text
    return LOGIN_TOKEN.search(page.text).group(1)


def sign_in(client: TestClient, email: str, password: str) -> str:
    """Sign in through the form like a browser; returns the session's CSRF token."""
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": login_token(client), "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/customers").text)


def csrf_of(html: str) -> str:
    match = CSRF_META.search(html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


@dataclass
class Browser:
    """A signed-in TestClient: ``post`` adds the session's CSRF token to every form unless told not to."""

    client: TestClient
    csrf: str

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict | None = None, *, csrf: str | None = "session", **kwargs):
        form = dict(data or {})
        if csrf == "session":
            form["csrf_token"] = self.csrf
        elif csrf is not None:
            form["csrf_token"] = csrf
        kwargs.setdefault("follow_redirects", False)
        return self.client.post(path, data=form, **kwargs)


@pytest.fixture
def browser(client, tenant) -> Browser:
    """The Acme admin, signed in to the web app."""
    return Browser(client, sign_in(client, tenant.email, tenant.password))


@pytest.fixture
def seed(db):
    """Write records through the services, as a given tenant's user."""

    class Seeder:
        def customer(self, tenant, **data) -> int:
            with session_scope(db) as session:
                session.info["actor"] = Actor(org_id=tenant.org_id, user_id=tenant.user_id, label="test")
                data.setdefault("first_name", "Maria")
                data.setdefault("last_name", "Keller")
                customer = customers_service.create_customer(
                    session, org_id=tenant.org_id, data=data, actor_user_id=tenant.user_id
                )
                return customer.id

        def ticket(self, tenant, customer_id: int, subject: str = "Card declined", **kwargs) -> int:
            with session_scope(db) as session:
                session.info["actor"] = Actor(org_id=tenant.org_id, user_id=tenant.user_id, label="test")
                kwargs.setdefault("kind", "complaint")
                kwargs.setdefault("priority", "high")
                ticket = tickets_service.create_ticket(
                    session,
                    org_id=tenant.org_id,
                    customer_id=customer_id,
                    subject=subject,
                    actor_user_id=tenant.user_id,
                    **kwargs,
                )
                return ticket.id

        def deal(
            self, tenant, customer_id: int | None = None, title: str = "Fleet deal", value: int = 5000
        ) -> int:
            with session_scope(db) as session:
                session.info["actor"] = Actor(org_id=tenant.org_id, user_id=tenant.user_id, label="test")
                deal = sales_service.create_deal(
                    session,
                    org_id=tenant.org_id,
                    actor_user_id=tenant.user_id,
                    data={"title": title, "customer_id": customer_id, "value": Decimal(value)},
                )
                return deal.id

        def task(self, tenant, title: str = "Call back", customer_id: int | None = None) -> int:
            with session_scope(db) as session:
                session.info["actor"] = Actor(org_id=tenant.org_id, user_id=tenant.user_id, label="test")
                task = sales_service.create_task(
                    session,
                    org_id=tenant.org_id,
                    actor_user_id=tenant.user_id,
                    data={"title": title, "customer_id": customer_id, "due_at": datetime.now(UTC)},
                )
                return task.id

    return Seeder()


@pytest.fixture
def read(db):
    """Run ``fn(session)`` in a fresh session and return its result (to check what was written)."""

    def run(fn):
        with session_scope(db) as session:
            return fn(session)

    return run
