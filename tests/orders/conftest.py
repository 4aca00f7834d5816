"""Fixtures of the orders suite: an API client per tenant and a small catalogue."""

from __future__ import annotations

import pytest

from tests.devices.support import Api


class OrdersApi(Api):
    def product(self, sku: str = "PASS-10", price: str = "19.99", **fields) -> dict:
        response = self.client.post(
            "/api/v1/products", headers=self.tenant.headers, json={"sku": sku, "name": fields.pop("name", sku),
                                                                     "price": price, **fields}
        )
        assert response.status_code == 201, response.text
        return response.json()

    def order(self, customer_id: int, lines: list[dict], **fields) -> dict:
        fields.setdefault("channel", "web")
        response = self.client.post(
            "/api/v1/orders", headers=self.tenant.headers, json={"customer_id": customer_id, "lines": lines, **fields}
        )
        assert response.status_code == 201, response.text
        return response.json()

    def import_csv(self, text: str, **form):
        return self.client.post(
            "/api/v1/orders/import",
            headers=self.tenant.headers,
            files={"file": ("orders.csv", text.encode(), "text/csv")},
            data={k: str(v).lower() for k, v in form.items()},
        )


@pytest.fixture
def api(client, tenant) -> OrdersApi:
    return OrdersApi(client, tenant)


@pytest.fixture
def other_api(client, other_tenant) -> OrdersApi:
    return OrdersApi(client, other_tenant)


@pytest.fixture
def role_api(client, make_tenant):
    """``role_api("viewer")``: an API client as a user of that role in Acme."""
    return lambda role: OrdersApi(client, make_tenant("Acme", role=role))
