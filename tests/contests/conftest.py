"""Fixtures of the contests suite: an API client per tenant and role, customers, orders and contests
made through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.devices.support import Api


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class ContestsApi(Api):
    def customer(self, **fields) -> int:
        fields.setdefault("first_name", "Ann")
        consents = fields.pop("consents", ())
        response = self.client.post("/api/v1/customers", headers=self.tenant.headers, json=fields)
        assert response.status_code == 201, response.text
        customer_id = response.json()["id"]
        for channel in consents:
            granted = self.client.post(f"/api/v1/customers/{customer_id}/consents", headers=self.tenant.headers,
                                       json={"channel": channel, "granted": True, "source": "web_form"})  # fmt: skip
            assert granted.status_code == 201, granted.text
        return customer_id

    def product(self) -> None:
        response = self.client.post("/api/v1/products", headers=self.tenant.headers,
                                    json={"sku": "RIDE", "name": "Ride", "price": "10.00"})  # fmt: skip
        assert response.status_code in (201, 409), response.text

    def order(self, customer_id: int, *, status: str = "paid", at: datetime | None = None) -> dict:
        body = {"customer_id": customer_id, "channel": "app", "lines": [{"sku": "RIDE", "quantity": 1}],
                "status": status}  # fmt: skip
        if at is not None:
            body["ordered_at"] = iso(at)
        response = self.client.post("/api/v1/orders", headers=self.tenant.headers, json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def balance(self, customer_id: int) -> int:
        response = self.client.get(f"/api/v1/customers/{customer_id}/points", headers=self.tenant.headers)
        assert response.status_code == 200, response.text
        return response.json()["balance"]

    def contest(self, **fields) -> dict:
        now = datetime.now(UTC)
        body = {"name": "Summer lottery", "opens_at": iso(now - timedelta(days=1)),
                "closes_at": iso(now + timedelta(days=7)),
                "prizes": [{"name": "Free month", "points": 500, "quantity": 1},
                           {"name": "Free ride", "points": 100, "quantity": 2}]} | fields  # fmt: skip
        response = self.client.post("/api/v1/contests", headers=self.tenant.headers, json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def ok(self, method: str, path: str, status: int = 200, **kwargs) -> dict:
        response = getattr(self.client, method)(f"/api/v1{path}", headers=self.tenant.headers, **kwargs)
        assert response.status_code == status, response.text
        return response.json() if response.content else {}


def problem(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    if field is not None:
        assert body.get("field") == field, body
    return body


@pytest.fixture
def api(client, tenant) -> ContestsApi:
    return ContestsApi(client, tenant)


@pytest.fixture
def other_api(client, other_tenant) -> ContestsApi:
    return ContestsApi(client, other_tenant)


@pytest.fixture
def role_api(client, make_tenant):
    """``role_api("viewer")``: an API client as a user of that role in Acme."""
    return lambda role: ContestsApi(client, make_tenant("Acme", role=role))
