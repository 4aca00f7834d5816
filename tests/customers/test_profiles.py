"""Customer profiles through the API: create, read, change, delete, and every bad input refused."""

from sqlalchemy import func, select

from patron.core.audit import AuditEntry
from patron.customers.models import Customer, CustomerTag, Identity, TimelineEntry
from tests.customers.conftest import problem


def _count(db, model, **where) -> int:
    with db() as session:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return session.scalar(query)


def test_create_read_update_delete(api, db, tenant):
    created = api.post(
        "/customers",
        json={
            "first_name": " Sara ",
            "last_name": "Karimi",
            "email": "Sara.Karimi@Example.COM",
            "phone": "+49 (30) 123-4567",
            "birth_year": 1988,
            "gender": "female",
            "education": "master",
            "occupation": "Engineer",
            "income_band": "upper_middle",
            "lifestyle_tags": ["Commuter", "outdoors"],
            "preferences": {"seat": "front", "music": False},
            "tags": ["VIP", "vip", "early-adopter"],
            "owner_id": tenant.user_id,
            "city": "Berlin",
            "country": "de",
            "timezone": "Europe/Berlin",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["first_name"] == "Sara" and body["name"] == "Sara Karimi"
    assert body["email"] == "sara.karimi@example.com" and body["phone"] == "+49301234567"
    assert body["country"] == "DE" and body["tags"] == ["early-adopter", "vip"]
    assert body["lifestyle_tags"] == ["commuter", "outdoors"]
    assert body["consents"] == dict.fromkeys(
        ["email", "sms", "push", "in_app", "phone", "data_processing"], False
    )
    customer_id = body["id"]

    read = api.get(f"/customers/{customer_id}")
    assert read.status_code == 200 and read.json()["preferences"] == {"seat": "front", "music": False}

    changed = api.patch(
        f"/customers/{customer_id}",
        json={
            "last_name": "Karimi-Lang",
            "preferences": {"music": None, "language": "de"},
            "tags": ["vip"],
            "city": None,
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["last_name"] == "Karimi-Lang" and body["city"] is None and body["tags"] == ["vip"]
    assert body["preferences"] == {"seat": "front", "language": "de"}
    assert body["email"] == "sara.karimi@example.com"  # untouched fields stay
    cleared = api.patch(f"/customers/{customer_id}", json={"tags": None, "lifestyle_tags": None}).json()
    assert cleared["tags"] == [] and cleared["lifestyle_tags"] == []

    assert api.delete(f"/customers/{customer_id}").status_code == 204
    assert api.get(f"/customers/{customer_id}").status_code == 404
    assert _count(db, Identity) == 0 and _count(db, CustomerTag) == 0 and _count(db, TimelineEntry) == 0


def test_email_and_phone_identities_follow_the_profile(api, db):
    customer = api.customer(email="one@example.com", phone="0049 30 111 222")
    identities = api.get(f"/customers/{customer['id']}/identities").json()
    assert {(i["type"], i["value"]) for i in identities} == {
        ("email", "one@example.com"),
        ("phone", "+4930111222"),
    }
    api.patch(f"/customers/{customer['id']}", json={"email": "two@example.com", "phone": None})
    identities = api.get(f"/customers/{customer['id']}/identities").json()
    assert [(i["type"], i["value"]) for i in identities] == [("email", "two@example.com")]


def test_email_of_another_customer_is_a_conflict(api, db):
    api.customer(email="taken@example.com")
    other = api.customer(first_name="Bob")
    problem(api.post("/customers", json={"first_name": "Cy", "email": "TAKEN@example.com"}), 409, "email")
    problem(api.patch(f"/customers/{other['id']}", json={"email": "taken@example.com"}), 409, "email")
    assert _count(db, Customer) == 2
    assert api.get(f"/customers/{other['id']}").json()["email"] is None


def test_profile_changes_are_on_the_timeline_with_the_fields(api):
    customer = api.customer(first_name="Ann", email="ann@example.com")
    api.patch(f"/customers/{customer['id']}", json={"occupation": "Nurse", "email": "ann@example.org"})
    api.patch(f"/customers/{customer['id']}", json={"occupation": "Nurse"})  # no change, no entry
    items = api.get(f"/customers/{customer['id']}/timeline").json()["items"]
    assert [item["kind"] for item in items] == ["profile.updated", "customer.created"]
    update = items[0]
    assert update["data"]["fields"] == ["email", "occupation"]
    assert update["data"]["changes"]["email"] == {"from": "ann@example.com", "to": "ann@example.org"}
    assert "occupation" in update["summary"]


def test_writes_are_audited(api, db, tenant):
    customer = api.customer(first_name="Ann")
    api.patch(f"/customers/{customer['id']}", json={"first_name": "Anna"})
    with db() as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity == "customers", AuditEntry.entity_id == str(customer["id"]))
            .order_by(AuditEntry.id)
        ).all()
        assert [e.action for e in entries] == ["create", "update"]
        assert entries[1].before == {"first_name": "Ann"} and entries[1].after == {"first_name": "Anna"}
        assert entries[1].actor_user_id == tenant.user_id


def test_custom_attributes_are_validated(api, db):
    api.post("/customer-attributes", json={"key": "lifetime_rides", "label": "Rides", "type": "integer"})
    api.post("/customer-attributes", json={"key": "member_since", "label": "Member since", "type": "date"})
    customer = api.customer(attributes={"lifetime_rides": 12, "member_since": "2021-03-04"})
    assert customer["attributes"] == {"lifetime_rides": 12, "member_since": "2021-03-04"}
    problem(
        api.post("/customers", json={"first_name": "X", "attributes": {"shoe_size": 42}}),
        422,
        "attributes.shoe_size",
    )
    problem(
        api.post("/customers", json={"first_name": "X", "attributes": {"lifetime_rides": "many"}}),
        422,
        "attributes.lifetime_rides",
    )
    problem(
        api.post("/customers", json={"first_name": "X", "attributes": {"lifetime_rides": 1.5}}),
        422,
        "attributes.lifetime_rides",
    )
    problem(
        api.patch(f"/customers/{customer['id']}", json={"attributes": {"member_since": "yesterday"}}),
        422,
        "attributes.member_since",
    )
    merged = api.patch(f"/customers/{customer['id']}", json={"attributes": {"lifetime_rides": None}})
    assert merged.json()["attributes"] == {"member_since": "2021-03-04"}
    assert _count(db, Customer) == 1


def test_owner_must_be_a_user_of_the_organisation(api, other_tenant):
    problem(
        api.post("/customers", json={"first_name": "X", "owner_id": other_tenant.user_id}), 422, "owner_id"
    )


def test_a_customer_needs_a_name_email_or_phone(api, db):
    problem(api.post("/customers", json={"city": "Berlin"}), 422, "first_name")
    customer = api.customer(first_name="Ann")
    problem(api.patch(f"/customers/{customer['id']}", json={"first_name": None}), 422, "first_name")
    assert _count(db, Customer) == 1


def test_bad_input_is_refused_and_nothing_written(api, client, tenant, db):
    headers = {**tenant.headers, "content-type": "application/json"}
    body = problem(client.post("/api/v1/customers", headers=headers, content=b'{"first_name": "Ann",'), 400)
    assert body["code"] == "malformed_json"
    cases = [
        ({"first_name": "A" * 101}, "first_name"),
        ({"first_name": "Ann", "email": "not-an-email"}, "email"),
        ({"first_name": "Ann", "phone": "call me"}, "phone"),
        ({"first_name": "Ann", "birth_year": 1850}, "birth_year"),
        ({"first_name": "Ann", "birth_year": "nineteen"}, "birth_year"),
        ({"first_name": "Ann", "gender": "robot"}, "gender"),
        ({"first_name": "Ann", "income_band": "billionaire"}, "income_band"),
        ({"first_name": "Ann", "education": "phd"}, "education"),
        ({"first_name": "Ann", "country": "Germany"}, "country"),
        ({"first_name": "Ann", "timezone": "Mars/Olympus"}, "timezone"),
        ({"first_name": "Ann", "tags": ["x" * 61]}, "tags.0"),
        ({"first_name": "Ann", "tags": "vip"}, "tags"),
        ({"first_name": "Ann", "tags": [str(i) for i in range(51)]}, "tags"),
        ({"first_name": "Ann", "preferences": {"blob": "x" * 9000}}, "preferences"),
        ({"first_name": "Ann", "shoe_size": 42}, "shoe_size"),
        ({"first_name": 7}, "first_name"),
    ]
    for payload, field in cases:
        problem(api.post("/customers", json=payload), 422, field)
    assert _count(db, Customer) == 0
    customer = api.customer(first_name="Ann")
    problem(api.patch(f"/customers/{customer['id']}", json={"gender": "robot"}), 422, "gender")
    problem(api.patch(f"/customers/{customer['id']}", json={"id": 5}), 422, "id")
    assert api.get(f"/customers/{customer['id']}").json()["gender"] is None


def test_unknown_ids_are_404(api):
    problem(api.get("/customers/999999"), 404, "customer_id")
    problem(api.patch("/customers/999999", json={"first_name": "X"}), 404, "customer_id")
    problem(api.delete("/customers/999999"), 404, "customer_id")


def test_permissions_follow_the_role(client, make_tenant, api):
    customer = api.customer(first_name="Ann")
    viewer = make_tenant("Acme", role="viewer")
    assert client.get(f"/api/v1/customers/{customer['id']}", headers=viewer.headers).status_code == 200
    problem(client.post("/api/v1/customers", headers=viewer.headers, json={"first_name": "X"}), 403)
    agent = make_tenant("Acme", role="agent")
    problem(client.delete(f"/api/v1/customers/{customer['id']}", headers=agent.headers), 403)
    problem(
        client.post(
            "/api/v1/customer-attributes",
            headers=agent.headers,
            json={"key": "k", "label": "K", "type": "string"},
        ),
        403,
    )


def test_attribute_definitions_crud(api, db):
    created = api.post("/customer-attributes", json={"key": "score", "label": "Score", "type": "number"})
    assert created.status_code == 201, created.text
    definition_id = created.json()["id"]
    problem(
        api.post("/customer-attributes", json={"key": "score", "label": "Again", "type": "string"}),
        409,
        "key",
    )
    problem(
        api.post("/customer-attributes", json={"key": "Bad Key", "label": "X", "type": "string"}), 422, "key"
    )
    problem(api.post("/customer-attributes", json={"key": "k", "label": "X", "type": "colour"}), 422, "type")
    problem(api.patch(f"/customer-attributes/{definition_id}", json={"type": "string"}), 422, "type")
    renamed = api.patch(f"/customer-attributes/{definition_id}", json={"label": "NPS score"})
    assert renamed.json()["label"] == "NPS score" and renamed.json()["type"] == "number"
    customer = api.customer(attributes={"score": 8.5})
    assert [d["key"] for d in api.get("/customer-attributes").json()] == ["score"]
    assert api.delete(f"/customer-attributes/{definition_id}").status_code == 204
    assert api.get(f"/customers/{customer['id']}").json()["attributes"] == {}
    assert api.get("/customer-attributes").json() == []


def test_tag_counts(api):
    api.customer(first_name="A", tags=["vip", "berlin"])
    api.customer(first_name="B", tags=["vip"])
    assert api.get("/customer-tags").json() == [
        {"tag": "vip", "customers": 2},
        {"tag": "berlin", "customers": 1},
    ]
