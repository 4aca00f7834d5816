"""Helpers shared by the device and event suites: an API client bound to one tenant, customers and
devices made through the API, ingest calls, and problem+json checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

INGEST_URL = "/ingest/v1/events"


class Api:
    """``api.post("/devices", json=...)`` against ``/api/v1`` as one tenant."""

    def __init__(self, client, tenant) -> None:
        self.client = client
        self.tenant = tenant

    def __getattr__(self, method: str) -> Callable:
        call = getattr(self.client, method)

        def request(path: str, **kwargs):
            return call(f"/api/v1{path}", headers=self.tenant.headers, **kwargs)

        return request

    def customer(self, **fields) -> int:
        fields.setdefault("first_name", "Ann")
        response = self.client.post("/api/v1/customers", headers=self.tenant.headers, json=fields)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def device(self, **fields) -> dict:
        fields.setdefault("type", "vehicle")
        response = self.client.post("/api/v1/devices", headers=self.tenant.headers, json=fields)
        assert response.status_code == 201, response.text
        return response.json()

    def ingest_key(self, name: str = "gateway") -> str:
        response = self.client.post("/api/v1/ingest-keys", headers=self.tenant.headers, json={"name": name})
        assert response.status_code == 201, response.text
        return response.json()["key"]

    def dead_letters(self, **params) -> list[dict]:
        response = self.client.get("/api/v1/ingest/dead-letters", headers=self.tenant.headers, params=params)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    def events(self, path: str, **params) -> dict:
        response = self.client.get(f"/api/v1{path}", headers=self.tenant.headers, params=params)
        assert response.status_code == 200, response.text
        return response.json()


def send(client, key: str | None, events: Any, *, ndjson: bool = False, headers: dict | None = None):
    """POST events to the ingest endpoint with ``key`` as the Bearer token (a list is sent as a JSON
    array, or as NDJSON lines; bytes as they are)."""
    sent_headers = dict(headers or {})
    if key is not None:
        sent_headers["Authorization"] = f"Bearer {key}"
    if isinstance(events, bytes):
        body = events
    elif ndjson:
        body = b"\n".join(orjson.dumps(e) for e in events) + b"\n"
        sent_headers.setdefault("Content-Type", "application/x-ndjson")
    else:
        body = orjson.dumps(events)
        sent_headers.setdefault("Content-Type", "application/json")
    return client.post(INGEST_URL, content=body, headers=sent_headers)


def accepted(response, count: int) -> dict:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == count, body
    return body


def problem(response, status: int, field: str | None = None) -> dict:
    """Assert a problem+json answer with ``status`` (and ``field``) and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    if field is not None:
        assert body.get("field") == field, body
    return body


def without_processors(settings):
    """The suite's settings with the event processors off: these suites test the registry, ingest and
    queries, which answer from the store alone, not enrichment or rules."""
    return settings.model_copy(update={"events_processing": False})
