"""Leads: CRUD, search and conversion into a customer (and a deal)."""

from __future__ import annotations

from sqlalchemy import select

from patron.core.db import session_scope
from patron.customers.models import Customer, TimelineEntry
from patron.sales.models import Deal, Lead
from tests.sales.helpers import default_pipeline, stage_ids

LEAD = {
    "first_name": "Grace",
    "last_name": "Hopper",
    "company": "Navy Labs",
    "email": "grace@navy.example",
    "phone": "+1 555 0100",
    "source": "trade fair",
    "notes": "Wants 200 trackers",
}


def test_lead_crud(client, tenant, make_tenant):
    colleague = make_tenant("Acme", role="agent")
    response = client.post(
        "/api/v1/leads", json={**LEAD, "owner_id": colleague.user_id}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    lead = response.json()
    assert lead["status"] == "new" and lead["customer_id"] is None
    assert (lead["email"], lead["owner_id"], lead["source"]) == (
        "grace@navy.example",
        colleague.user_id,
        "trade fair",
    )
    url = f"/api/v1/leads/{lead['id']}"
    assert client.get(url, headers=tenant.headers).json() == lead
    changed = client.patch(
        url, json={"status": "qualified", "notes": "Budget approved", "phone": None}, headers=tenant.headers
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["status"], changed.json()["notes"], changed.json()["phone"]) == (
        "qualified",
        "Budget approved",
        None,
    )
    assert client.delete(url, headers=tenant.headers).status_code == 204
    assert client.get(url, headers=tenant.headers).status_code == 404


def test_lead_needs_something_to_call_it_by(client, tenant, count_rows):
    response = client.post("/api/v1/leads", json={"source": "web"}, headers=tenant.headers)
    assert response.status_code == 422
    lead = client.post("/api/v1/leads", json={"company": "Initech"}, headers=tenant.headers).json()
    emptied = client.patch(f"/api/v1/leads/{lead['id']}", json={"company": ""}, headers=tenant.headers)
    assert emptied.status_code == 422
    assert client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers).json()["company"] == "Initech"
    assert count_rows(Lead, org_id=tenant.org_id) == 1


def test_status_converted_only_through_the_convert_action(client, tenant):
    create = client.post("/api/v1/leads", json={**LEAD, "status": "converted"}, headers=tenant.headers)
    assert create.status_code == 422 and create.json()["field"] == "status"
    lead = client.post("/api/v1/leads", json=LEAD, headers=tenant.headers).json()
    patch = client.patch(f"/api/v1/leads/{lead['id']}", json={"status": "converted"}, headers=tenant.headers)
    assert patch.status_code == 422 and patch.json()["field"] == "status"


def test_lead_filters_and_search(client, tenant, make_tenant):
    colleague = make_tenant("Acme", role="agent")

    def lead(**fields) -> int:
        response = client.post("/api/v1/leads", json=fields, headers=tenant.headers)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    a = lead(first_name="Linus", last_name="Torvalds", company="Transmeta")
    b = lead(company="Umbrella Corp", status="contacted", owner_id=colleague.user_id)
    c = lead(email="info@umbrella.example", status="disqualified")

    def ids(**params) -> list[int]:
        response = client.get("/api/v1/leads", params=params, headers=tenant.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids() == [c, b, a]
    assert ids(status="contacted") == [b]
    assert ids(owner_id=colleague.user_id) == [b]
    assert ids(q="UMBRELLA") == [c, b]
    assert ids(q="torv") == [a]
    assert ids(q="nobody") == []
    assert client.get("/api/v1/leads", params={"status": "hot"}, headers=tenant.headers).status_code == 422


def test_convert_lead_to_existing_customer_with_a_deal(client, tenant, db, make_customer):
    customer_id = make_customer(tenant)
    stages = stage_ids(default_pipeline(client, tenant))
    lead = client.post("/api/v1/leads", json=LEAD, headers=tenant.headers).json()
    response = client.post(
        f"/api/v1/leads/{lead['id']}/convert",
        json={
            "customer_id": customer_id,
            "deal": {"title": "200 trackers", "value": "24000", "stage_id": stages["Qualification"]},
        },
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customer_id"] == customer_id
    assert body["lead"]["status"] == "converted" and body["lead"]["customer_id"] == customer_id
    deal = body["deal"]
    assert (deal["title"], deal["value"], deal["stage_id"], deal["customer_id"], deal["lead_id"]) == (
        "200 trackers",
        24000,
        stages["Qualification"],
        customer_id,
        lead["id"],
    )
    with session_scope(db) as session:
        kinds = list(
            session.scalars(
                select(TimelineEntry.kind)
                .where(TimelineEntry.customer_id == customer_id)
                .order_by(TimelineEntry.id)
            )
        )
    assert kinds == ["lead.converted", "deal.created"]
    again = client.post(
        f"/api/v1/leads/{lead['id']}/convert", json={"customer_id": customer_id}, headers=tenant.headers
    )
    assert again.status_code == 409
    locked = client.patch(f"/api/v1/leads/{lead['id']}", json={"status": "new"}, headers=tenant.headers)
    assert locked.status_code == 409


def test_convert_lead_creates_a_customer(client, tenant, db):
    lead = client.post("/api/v1/leads", json=LEAD, headers=tenant.headers).json()
    response = client.post(f"/api/v1/leads/{lead['id']}/convert", json={}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    customer_id = response.json()["customer_id"]
    assert response.json()["deal"] is None
    with session_scope(db) as session:
        customer = session.get(Customer, customer_id)
        assert customer.org_id == tenant.org_id
        assert (customer.first_name, customer.last_name, customer.email) == (
            "Grace",
            "Hopper",
            "grace@navy.example",
        )
        kinds = list(
            session.scalars(
                select(TimelineEntry.kind)
                .where(TimelineEntry.customer_id == customer_id)
                .order_by(TimelineEntry.id)
            )
        )
    assert kinds == ["customer.created", "lead.converted"]


def test_lead_known_by_company_only_becomes_a_customer_named_after_it(client, tenant, db):
    lead = client.post("/api/v1/leads", json={"company": "Initech"}, headers=tenant.headers).json()
    response = client.post(f"/api/v1/leads/{lead['id']}/convert", json={}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    with session_scope(db) as session:
        assert session.get(Customer, response.json()["customer_id"]).last_name == "Initech"


def test_conversion_clashing_with_a_customers_email_writes_nothing(client, tenant, count_rows):
    first = client.post("/api/v1/leads", json=LEAD, headers=tenant.headers).json()
    assert (
        client.post(f"/api/v1/leads/{first['id']}/convert", json={}, headers=tenant.headers).status_code
        == 200
    )
    second = client.post("/api/v1/leads", json=LEAD, headers=tenant.headers).json()
    response = client.post(
        f"/api/v1/leads/{second['id']}/convert",
        json={"deal": {"title": "Duplicate", "value": 5}},
        headers=tenant.headers,
    )
    assert response.status_code == 409, response.text
    assert client.get(f"/api/v1/leads/{second['id']}", headers=tenant.headers).json()["status"] == "new"
    assert count_rows(Customer, org_id=tenant.org_id) == 1
    assert count_rows(Deal, org_id=tenant.org_id) == 0


def test_failed_conversion_writes_nothing(client, tenant, other_tenant, make_customer, count_rows):
    foreign_customer = make_customer(other_tenant)
    lead = client.post("/api/v1/leads", json=LEAD, headers=tenant.headers).json()
    response = client.post(
        f"/api/v1/leads/{lead['id']}/convert", json={"customer_id": foreign_customer}, headers=tenant.headers
    )
    assert response.status_code == 404 and response.json()["field"] == "customer_id"
    own_customer = make_customer(tenant)
    bad_deal = client.post(
        f"/api/v1/leads/{lead['id']}/convert",
        json={"customer_id": own_customer, "deal": {"title": "X", "stage_id": 999_999}},
        headers=tenant.headers,
    )
    assert bad_deal.status_code == 404 and bad_deal.json()["field"] == "deal.stage_id"
    assert client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.headers).json()["status"] == "new"
    assert count_rows(Deal, org_id=tenant.org_id) == 0
    assert count_rows(TimelineEntry, org_id=tenant.org_id) == 0


def test_converting_needs_customer_write(client, tenant, make_tenant):
    analyst = make_tenant("Acme", role="analyst")
    lead = client.post("/api/v1/leads", json=LEAD, headers=tenant.headers).json()
    assert (
        client.post(f"/api/v1/leads/{lead['id']}/convert", json={}, headers=analyst.headers).status_code
        == 403
    )
    assert client.get(f"/api/v1/leads/{lead['id']}", headers=analyst.headers).status_code == 200
