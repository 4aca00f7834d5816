"""What a customer merge, erasure and privacy export do to the sales records."""

from __future__ import annotations

from tests.sales.helpers import default_pipeline, stage_ids


def sales_records(client, tenant, customer_id: int) -> dict:
    out = {}
    for kind in ("deals", "tasks"):
        response = client.get(f"/api/v1/{kind}", params={"customer_id": customer_id}, headers=tenant.headers)
        assert response.status_code == 200, response.text
        out[kind] = response.json()["items"]
    return out


def arrange(client, tenant, customer_id: int) -> dict:
    stages = stage_ids(default_pipeline(client, tenant))
    deal = client.post(
        "/api/v1/deals",
        json={
            "title": "Anna Schmidt's wallbox",
            "customer_id": customer_id,
            "value": "1499.00",
            "stage_id": stages["Lost"],
        },
        headers=tenant.headers,
    ).json()
    client.post(
        f"/api/v1/deals/{deal['id']}/move",
        json={"stage_id": stages["Lost"], "lost_reason": "Anna moved"},
        headers=tenant.headers,
    )
    task = client.post(
        "/api/v1/tasks",
        json={
            "title": "Call Anna on +49 170 1234567",
            "notes": "Lives at Hauptstr. 1",
            "customer_id": customer_id,
        },
        headers=tenant.headers,
    ).json()
    lead = client.post(
        "/api/v1/leads",
        json={
            "first_name": "Anna",
            "last_name": "Schmidt",
            "email": "anna@example.com",
            "notes": "Met at the fair",
        },
        headers=tenant.headers,
    ).json()
    converted = client.post(
        f"/api/v1/leads/{lead['id']}/convert", json={"customer_id": customer_id}, headers=tenant.headers
    )
    assert converted.status_code == 200, converted.text
    return {"deal": deal, "task": task, "lead": lead}


def test_merge_moves_deals_tasks_and_leads_to_the_survivor(client, tenant, make_customer):
    survivor = make_customer(tenant, first_name="Anna", last_name="Schmidt")
    duplicate = make_customer(tenant, first_name="Anna", last_name="Schmit")
    made = arrange(client, tenant, duplicate)
    response = client.post(
        f"/api/v1/customers/{survivor}/merge", json={"duplicate_id": duplicate}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["moved"]["sales"] == 3
    records = sales_records(client, tenant, survivor)
    assert [d["id"] for d in records["deals"]] == [made["deal"]["id"]]
    assert [t["id"] for t in records["tasks"]] == [made["task"]["id"]]
    lead = client.get(f"/api/v1/leads/{made['lead']['id']}", headers=tenant.headers).json()
    assert lead["customer_id"] == survivor


def test_erase_blanks_personal_text_and_keeps_deal_numbers(client, tenant, make_customer):
    customer_id = make_customer(tenant, first_name="Anna", last_name="Schmidt")
    made = arrange(client, tenant, customer_id)
    response = client.post(f"/api/v1/customers/{customer_id}/erase", headers=tenant.headers)
    assert response.status_code == 200, response.text
    deal = client.get(f"/api/v1/deals/{made['deal']['id']}", headers=tenant.headers).json()
    assert deal["title"] == f"Deal {deal['id']}" and deal["lost_reason"] == ""
    assert (deal["value"], deal["status"], deal["stage_id"]) == (1499, "lost", made["deal"]["stage_id"])
    task = client.get(f"/api/v1/tasks/{made['task']['id']}", headers=tenant.headers).json()
    assert (task["title"], task["notes"]) == ("Erased", "")
    lead = client.get(f"/api/v1/leads/{made['lead']['id']}", headers=tenant.headers).json()
    assert (lead["first_name"], lead["last_name"], lead["email"], lead["notes"]) == ("", "", None, "")
    assert lead["status"] == "converted"


def test_privacy_export_includes_sales_records(client, tenant, make_customer):
    customer_id = make_customer(tenant)
    made = arrange(client, tenant, customer_id)
    other = make_customer(tenant, first_name="Someone", last_name="Else")
    client.post(
        "/api/v1/tasks", json={"title": "Not about them", "customer_id": other}, headers=tenant.headers
    )
    response = client.get(f"/api/v1/customers/{customer_id}/privacy-export", headers=tenant.headers)
    assert response.status_code == 200, response.text
    sales = response.json()["related"]["sales"]
    assert [d["id"] for d in sales["deals"]] == [made["deal"]["id"]]
    assert sales["deals"][0]["value"] == "1499.00"
    assert [t["title"] for t in sales["tasks"]] == ["Call Anna on +49 170 1234567"]
    assert [lead["email"] for lead in sales["leads"]] == ["anna@example.com"]
