"""Helpers for the customers suites: a small API client bound to one tenant, and the CLI runner."""

from __future__ import annotations

from collections.abc import Callable

import pytest


class Api:
    """``api.post("/customers", json=...)`` against ``/api/v1`` as one tenant."""

    def __init__(self, client, tenant) -> None:
        self.client = client
        self.tenant = tenant

    def __getattr__(self, method: str) -> Callable:
        call = getattr(self.client, method)

        def request(path: str, **kwargs):
            return call(f"/api/v1{path}", headers=self.tenant.headers, **kwargs)

        return request

    def customer(self, **fields) -> dict:
        fields.setdefault("first_name", "Ann")
        response = self.client.post("/api/v1/customers", headers=self.tenant.headers, json=fields)
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture
def api(client, tenant) -> Api:
    return Api(client, tenant)


@pytest.fixture
def other_api(client, other_tenant) -> Api:
    return Api(client, other_tenant)




def problem(response, status: int, field: str | None = None) -> dict:
    """Assert a problem+json answer with ``status`` (and ``field``) and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    if field is not None:
        assert body.get("field") == field, body
    return body


@pytest.fixture
def hook_probe(monkeypatch):
    """Route the customer hooks to :mod:`tests.customers.hook_probe` (plus a module that does not exist)."""
    from patron.customers import hooks
    from tests.customers import hook_probe as probe

    probe.calls.clear()
    monkeypatch.setattr(
        hooks, "CUSTOMER_HOOK_MODULES", ("tests.customers.hook_probe", "patron.nowhere.service")
    )
    yield probe
    probe.calls.clear()
