"""Export (API and CLI, audited, re-importable) and tenant isolation across every customers endpoint."""

import csv
import io
import json

from sqlalchemy import func, select

from patron.core.audit import AuditEntry
from patron.customers.models import ConsentRecord, Customer, Identity, Place
from tests.customers.conftest import problem


def _seed(api):
    api.post("/customer-attributes", json={"key": "rides", "label": "Rides", "type": "integer"})
    api.customer(
        first_name="Sara",
        last_name="Karimi",
        email="sara@example.com",
        tags=["vip", "berlin"],
        attributes={"rides": 12},
    )
    api.customer(first_name='=HYPERLINK("x")', last_name="Weber", phone="+49 30 2222", tags=["berlin"])
    api.customer(first_name="Karin", last_name="Abel", email="karin@example.com")


def test_csv_export_streams_filtered_rows_and_is_audited(api, db, tenant):
    _seed(api)
    response = api.get("/customers/export", params={"format": "csv", "tag": "berlin"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["last_name"] for row in rows] == ["Karimi", "Weber"]
    assert rows[0]["tags"] == "berlin;vip" and rows[0]["attr.rides"] == "12"
    assert rows[1]["first_name"].startswith("'=")  # a formula is not run by the spreadsheet
    assert rows[1]["phone"] == "+49302222"
    with db() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "customers.export"))
        assert entry.after["count"] == 2 and entry.after["filters"]["tags"] == ["berlin"]
        assert entry.actor_user_id == tenant.user_id


def test_json_export(api):
    _seed(api)
    response = api.get("/customers/export", params={"format": "json", "attr.rides.gte": "10"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    items = json.loads(response.text)
    assert [item["email"] for item in items] == ["sara@example.com"]
    assert items[0]["tags"] == ["berlin", "vip"] and items[0]["attributes"] == {"rides": 12}
    assert json.loads(api.get("/customers/export", params={"format": "json", "q": "nobody"}).text) == []
    problem(api.get("/customers/export", params={"format": "xml"}), 422, "format")


def test_an_export_imports_back_without_changes(api, db):
    _seed(api)
    exported = api.get("/customers/export").text
    report = api.post("/customers/import", files={"file": ("back.csv", exported.encode(), "text/csv")}).json()
    assert report["created"] == 0 and report["rejected"] == [] and report["unchanged"] == 2
    assert report["updated"] == 1  # the neutralised formula cell comes back as text
    with db() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 3


def test_export_needs_the_permission(client, make_tenant):
    agent = make_tenant("Acme", role="agent")
    problem(client.get("/api/v1/customers/export", headers=agent.headers), 403)
    analyst = make_tenant("Acme", role="analyst")
    assert client.get("/api/v1/customers/export", headers=analyst.headers).status_code == 200


def test_cli_export(cli, api, tmp_path):
    _seed(api)
    out = tmp_path / "all.csv"
    result = cli("customers", "export", "--org", "acme", "--format", "csv", "--out", out)
    assert result.exit_code == 0, result.output
    assert "exported 3 customers" in result.output
    assert len(list(csv.DictReader(out.open(encoding="utf-8", newline="")))) == 3
    printed = cli("customers", "export", "--org", "acme", "--format", "json", "--tag", "vip")
    assert [item["last_name"] for item in json.loads(printed.output)] == ["Karimi"]
    bad = cli("customers", "export", "--org", "acme", "--format", "xml")
    assert bad.exit_code == 1 and "csv or json" in bad.output


def _snapshot(db, org_id):
    with db() as session:
        customers = session.scalars(
            select(Customer).where(Customer.org_id == org_id).order_by(Customer.id)
        ).all()
        return (
            [(c.id, c.first_name, c.email, c.erased_at, c.merged_into_id) for c in customers],
            session.scalar(select(func.count()).select_from(Identity).where(Identity.org_id == org_id)),
            session.scalar(select(func.count()).select_from(Place).where(Place.org_id == org_id)),
            session.scalar(
                select(func.count()).select_from(ConsentRecord).where(ConsentRecord.org_id == org_id)
            ),
        )


def test_another_organisations_customer_is_404_everywhere(api, other_api, db, other_tenant, hook_probe):
    theirs = other_api.customer(
        first_name="Globex", last_name="Customer", email="g@globex.example", tags=["secret"]
    )
    tid = theirs["id"]
    place = other_api.post(
        f"/customers/{tid}/places", json={"label": "HQ", "latitude": 1, "longitude": 1}
    ).json()
    identity = other_api.get(f"/customers/{tid}/identities").json()[0]
    mine = api.customer(first_name="Mine")
    before = _snapshot(db, other_tenant.org_id)

    attempts = [
        api.get(f"/customers/{tid}"),
        api.patch(f"/customers/{tid}", json={"first_name": "Hacked"}),
        api.delete(f"/customers/{tid}"),
        api.get(f"/customers/{tid}/timeline"),
        api.get(f"/customers/{tid}/identities"),
        api.post(f"/customers/{tid}/identities", json={"type": "device", "value": "d-1"}),
        api.delete(f"/customers/{tid}/identities/{identity['id']}"),
        api.delete(f"/customers/{mine['id']}/identities/{identity['id']}"),
        api.get(f"/customers/{tid}/consents"),
        api.get(f"/customers/{tid}/consents/history"),
        api.post(f"/customers/{tid}/consents", json={"channel": "email", "granted": True, "source": "x"}),
        api.get(f"/customers/{tid}/places"),
        api.post(f"/customers/{tid}/places", json={"label": "X", "latitude": 0, "longitude": 0}),
        api.post(f"/customers/{tid}/places/visit", json={"latitude": 1, "longitude": 1}),
        api.patch(f"/customers/{tid}/places/{place['id']}", json={"label": "Hacked"}),
        api.delete(f"/customers/{tid}/places/{place['id']}"),
        api.get(f"/customers/{mine['id']}/places/{place['id']}"),
        api.post(f"/customers/{tid}/merge", json={"duplicate_id": mine["id"]}),
        api.post(f"/customers/{mine['id']}/merge", json={"duplicate_id": tid}),
        api.get(f"/customers/{tid}/privacy-export"),
        api.post(f"/customers/{tid}/erase"),
        api.get("/customers/lookup", params={"type": "email", "value": "g@globex.example"}),
    ]
    assert [response.status_code for response in attempts] == [404] * len(attempts)
    assert _snapshot(db, other_tenant.org_id) == before and hook_probe.calls == []
    listed = api.get("/customers", params={"q": "globex"}).json()
    assert listed["total"] == 0
    assert "Globex" not in api.get("/customers/export").text
    assert api.get("/customer-tags").json() == []


def test_imports_never_match_another_organisations_customers(api, other_api, db):
    other_api.customer(first_name="Theirs", email="shared@example.com")
    report = api.post(
        "/customers/import", files={"file": ("c.csv", b"name,email\nMine,shared@example.com\n")}
    ).json()
    assert report["created"] == 1 and report["updated"] == 0
    assert other_api.get("/customers").json()["items"][0]["first_name"] == "Theirs"


def test_attribute_definitions_are_per_organisation(api, other_api):
    theirs = other_api.post(
        "/customer-attributes", json={"key": "rides", "label": "Rides", "type": "integer"}
    ).json()
    problem(
        api.post("/customers", json={"first_name": "X", "attributes": {"rides": 3}}), 422, "attributes.rides"
    )
    problem(api.patch(f"/customer-attributes/{theirs['id']}", json={"label": "Mine"}), 404)
    problem(api.delete(f"/customer-attributes/{theirs['id']}"), 404)
    assert (
        api.post("/customer-attributes", json={"key": "rides", "label": "R", "type": "number"}).status_code
        == 201
    )
