"""Merging duplicates, the privacy export and erasure - each audited, each reaching other domains by hooks."""

import json

from sqlalchemy import select

from patron.core.audit import AuditEntry
from patron.customers import service as customer_service
from tests.customers.conftest import problem


def _audit(db, action: str) -> list[AuditEntry]:
    with db() as session:
        return session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()


def _pair(api):
    api.post("/customer-attributes", json={"key": "rides", "label": "Rides", "type": "integer"})
    survivor = api.customer(
        first_name="Sara",
        last_name="Karimi",
        email="sara@example.com",
        tags=["vip"],
        attributes={"rides": 10},
    )
    duplicate = api.customer(
        first_name="S.",
        last_name="Karimi",
        email="sara.k@work.example",
        phone="+49 30 555",
        city="Berlin",
        tags=["berlin", "vip"],
        attributes={"rides": 3},
    )
    sid, did = survivor["id"], duplicate["id"]
    api.post(f"/customers/{sid}/consents", json={"channel": "email", "granted": True, "source": "web_form"})
    api.post(f"/customers/{did}/consents", json={"channel": "sms", "granted": True, "source": "app"})
    api.post(f"/customers/{did}/identities", json={"type": "loyalty_card", "value": "LC-9"})
    api.post(f"/customers/{sid}/places", json={"label": "Home", "latitude": 52.52, "longitude": 13.405})
    for _ in range(3):
        api.post(f"/customers/{did}/places/visit", json={"latitude": 52.5205, "longitude": 13.405})
    api.post(f"/customers/{did}/places", json={"label": "Office", "latitude": 52.50, "longitude": 13.30})
    return sid, did


def test_merge_moves_everything_to_the_survivor(api, db, tenant, hook_probe):
    sid, did = _pair(api)
    response = api.post(f"/customers/{sid}/merge", json={"duplicate_id": did})
    assert response.status_code == 200, response.text
    body = response.json()
    survivor = body["survivor"]
    assert (
        survivor["phone"] == "+4930555" and survivor["city"] == "Berlin"
    )  # blanks filled from the duplicate
    assert (
        survivor["first_name"] == "Sara" and survivor["email"] == "sara@example.com"
    )  # survivor's values win
    assert survivor["attributes"] == {"rides": 10} and survivor["tags"] == ["berlin", "vip"]
    assert survivor["consents"]["email"] and survivor["consents"]["sms"]
    assert body["moved"]["identities"] == 3 and body["moved"]["places"] == 2
    assert body["moved"]["hook_probe"] == 2 and set(body["filled"]) >= {"phone", "city"}
    assert hook_probe.calls == [("reassign", tenant.org_id, did, sid)]

    identities = {(i["type"], i["value"]) for i in api.get(f"/customers/{sid}/identities").json()}
    assert identities == {
        ("email", "sara@example.com"),
        ("email", "sara.k@work.example"),
        ("phone", "+4930555"),
        ("loyalty_card", "LC-9"),
    }
    places = {p["label"]: p["visit_count"] for p in api.get(f"/customers/{sid}/places").json()}
    assert places == {"Home": 3, "Office": 0}
    history = api.get(f"/customers/{sid}/consents/history").json()
    assert {h["channel"] for h in history["items"]} == {"email", "sms"}
    timeline = api.get(f"/customers/{sid}/timeline", params={"limit": 200}).json()["items"]
    assert timeline[0]["kind"] == "customer.merged" and timeline[0]["ref_id"] == did
    assert sum(1 for item in timeline if item["kind"] == "customer.created") == 2

    gone = problem(api.get(f"/customers/{did}"), 404, "customer_id")
    assert f"merged into customer {sid}" in gone["detail"]
    assert [c["id"] for c in api.get("/customers").json()["items"]] == [sid]
    assert api.get("/customers/lookup", params={"type": "loyalty_card", "value": "LC-9"}).json()["id"] == sid
    entries = _audit(db, "customers.merge")
    assert (
        len(entries) == 1 and entries[0].entity_id == str(sid) and entries[0].before == {"duplicate_id": did}
    )


def test_bad_merges_are_refused(api, other_api, client, make_tenant, hook_probe):
    sid, did = _pair(api)
    theirs = other_api.customer(first_name="Other")
    problem(api.post(f"/customers/{sid}/merge", json={"duplicate_id": sid}), 422, "duplicate_id")
    problem(api.post(f"/customers/{sid}/merge", json={"duplicate_id": 999999}), 404, "duplicate_id")
    problem(api.post(f"/customers/{sid}/merge", json={"duplicate_id": theirs["id"]}), 404, "duplicate_id")
    problem(api.post(f"/customers/{theirs['id']}/merge", json={"duplicate_id": did}), 404, "customer_id")
    problem(api.post(f"/customers/{sid}/merge", json={"duplicate_id": "two"}), 422, "duplicate_id")
    agent = make_tenant("Acme", role="agent")
    problem(
        client.post(f"/api/v1/customers/{sid}/merge", headers=agent.headers, json={"duplicate_id": did}), 403
    )
    assert api.get(f"/customers/{did}").status_code == 200 and hook_probe.calls == []
    assert api.post(f"/customers/{sid}/merge", json={"duplicate_id": did}).status_code == 200
    problem(api.post(f"/customers/{sid}/merge", json={"duplicate_id": did}), 404, "duplicate_id")


def test_privacy_export_holds_everything(api, db, tenant, hook_probe):
    sid, did = _pair(api)
    response = api.get(f"/customers/{did}/privacy-export")
    assert response.status_code == 200, response.text
    export = response.json()
    assert export["customer"]["email"] == "sara.k@work.example"
    assert {i["type"] for i in export["identities"]} == {"email", "phone", "loyalty_card"}
    assert (
        export["consents"]["ledger"][0]["channel"] == "sms"
        and export["consents"]["current"]["sms"]["granted"]
    )
    assert sorted(p["label"] for p in export["places"]) == ["Office", "Visited place"]
    assert {item["kind"] for item in export["timeline"]} >= {"customer.created", "consent.granted"}
    assert export["tags"] == ["berlin", "vip"]
    assert export["related"] == {"hook_probe": {"probes": [{"customer_id": did, "note": "held elsewhere"}]}}
    entries = _audit(db, "customers.privacy_export")
    assert (
        len(entries) == 1 and entries[0].entity_id == str(did) and entries[0].actor_user_id == tenant.user_id
    )


def test_erase_removes_personal_data_and_keeps_the_row(api, db, tenant, hook_probe):
    sid, did = _pair(api)
    # things the customer had once and no longer has must not survive in the audit log either
    gone = api.post(f"/customers/{did}/identities", json={"type": "app_user", "value": "U-SECRET"}).json()
    api.delete(f"/customers/{did}/identities/{gone['id']}")
    spot = api.post(
        f"/customers/{sid}/places", json={"label": "Secret spot", "latitude": 1, "longitude": 2}
    ).json()
    api.delete(f"/customers/{sid}/places/{spot['id']}")
    api.patch(f"/customers/{sid}", json={"email": "sara.old@example.com"})
    api.patch(f"/customers/{sid}", json={"email": "sara@example.com"})
    api.post(f"/customers/{sid}/merge", json={"duplicate_id": did})
    response = api.post(f"/customers/{sid}/erase")
    assert response.status_code == 200, response.text
    erased = response.json()
    assert erased["first_name"] == "Erased" and erased["name"] == "Erased" and erased["erased_at"]
    for field in ("email", "phone", "birth_year", "city", "country", "occupation", "income_band"):
        assert erased[field] is None
    assert erased["tags"] == [] and erased["attributes"] == {} and not any(erased["consents"].values())
    assert api.get(f"/customers/{sid}/identities").json() == []
    assert api.get(f"/customers/{sid}/places").json() == []
    timeline = api.get(f"/customers/{sid}/timeline", params={"limit": 200}).json()["items"]
    assert timeline[0]["kind"] == "customer.erased"
    assert all(item["summary"] == "(erased)" and item["data"] == {} for item in timeline[1:])
    assert sorted(call[0] for call in hook_probe.calls) == [
        "erase",
        "erase",
        "reassign",
    ]  # survivor + tombstone

    # nothing personal is left anywhere, the audit log included
    with db() as session:
        dump = json.dumps([[e.before, e.after, e.entity_id] for e in session.scalars(select(AuditEntry))])
        assert not customer_service.has_consent(
            session, org_id=tenant.org_id, customer_id=sid, channel="email"
        )
    for secret in (
        "sara@example.com",
        "sara.k@work.example",
        "Karimi",
        "+4930555",
        "LC-9",
        "Berlin",
        "U-SECRET",
        "Secret spot",
        "sara.old@example.com",
    ):
        assert secret not in dump
        assert secret not in api.get(f"/customers/{sid}/privacy-export").text
    assert len(_audit(db, "customers.erase")) == 1

    problem(api.get("/customers/lookup", params={"type": "email", "value": "sara@example.com"}), 404)
    assert api.get("/customers").json()["total"] == 0
    assert api.get("/customers", params={"include_erased": "true"}).json()["total"] == 1
    problem(api.patch(f"/customers/{sid}", json={"first_name": "Back"}), 409, "customer_id")
    problem(
        api.post(f"/customers/{sid}/consents", json={"channel": "email", "granted": True, "source": "x"}), 409
    )
    problem(api.post(f"/customers/{sid}/erase"), 409, "customer_id")


def test_privacy_needs_an_admin(api, client, make_tenant):
    customer = api.customer(first_name="Ann")
    manager = make_tenant("Acme", role="manager")
    problem(client.get(f"/api/v1/customers/{customer['id']}/privacy-export", headers=manager.headers), 403)
    problem(client.post(f"/api/v1/customers/{customer['id']}/erase", headers=manager.headers), 403)
    assert api.get(f"/customers/{customer['id']}").json()["erased_at"] is None


def test_cli_privacy_export_and_erase(cli, api, tmp_path, hook_probe):
    customer = api.customer(first_name="Ann", email="ann@example.com")
    out = tmp_path / "ann.json"
    result = cli("customers", "privacy-export", customer["id"], "--org", "acme", "--out", out)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["customer"]["email"] == "ann@example.com"
    printed = cli("customers", "privacy-export", customer["id"], "--org", "acme")
    assert json.loads(printed.output)["customer"]["id"] == customer["id"]
    refused = cli("customers", "erase", customer["id"], "--org", "acme", input="n\n")
    assert refused.exit_code == 1 and api.get(f"/customers/{customer['id']}").json()["erased_at"] is None
    result = cli("customers", "erase", customer["id"], "--org", "acme", "--yes")
    assert result.exit_code == 0, result.output
    assert api.get(f"/customers/{customer['id']}").json()["email"] is None
    again = cli("customers", "erase", customer["id"], "--org", "acme", "--yes")
    assert again.exit_code == 1 and "already erased" in again.output
    missing = cli("customers", "erase", "999999", "--org", "acme", "--yes")
    assert missing.exit_code == 1 and "No customer 999999" in missing.output


def test_merge_takes_the_duplicates_birth_date_only_when_it_agrees_with_the_survivors_year(api):
    blank = api.customer(first_name="Ana", last_name="Lima")
    dated = api.customer(first_name="A.", last_name="Lima", birth_date="1990-05-17")
    merged = api.post(f"/customers/{blank['id']}/merge", json={"duplicate_id": dated["id"]}).json()
    assert merged["survivor"]["birth_date"] == "1990-05-17" and merged["survivor"]["birth_year"] == 1990
    assert {"birth_date", "birth_year"} <= set(merged["filled"])

    other_year = api.customer(first_name="Ben", last_name="Ode", birth_year=1985)
    dated_again = api.customer(first_name="B.", last_name="Ode", birth_date="1990-05-17")
    kept = api.post(f"/customers/{other_year['id']}/merge", json={"duplicate_id": dated_again["id"]}).json()
    assert kept["survivor"]["birth_date"] is None and kept["survivor"]["birth_year"] == 1985
    assert "birth_date" not in kept["filled"]
