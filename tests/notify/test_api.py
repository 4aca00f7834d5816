"""The messages API: idempotency keys, filters, roles, bad input naming the field (nothing written),
tenant isolation on every route, the suppression list, and merge, erasure and privacy export."""

from __future__ import annotations

from sqlalchemy import func, select

from patron.core.db import session_scope
from patron.notify.delivery import run_due
from patron.notify.models import Message, PushSubscription, Suppression

from .conftest import message, send


def _count(db, model) -> int:
    with session_scope(db) as session:
        return session.scalar(select(func.count()).select_from(model))


def test_the_same_idempotency_key_never_makes_a_second_message(client, db, tenant, make_customer, settings):
    customer_id = make_customer(tenant, consents=("in_app",))
    first = send(client, tenant, customer_id, "in_app", idempotency_key="order-42-shipped")
    assert first.status_code == 201
    again = send(client, tenant, customer_id, "in_app", idempotency_key="order-42-shipped", body="changed")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.json()["body"] == "Hi there"
    assert _count(db, Message) == 1
    assert run_due(db, settings) == {"delivered": 1}
    assert send(client, tenant, customer_id, "in_app", idempotency_key="order-42-shipped").status_code == 200
    assert run_due(db, settings) == {}
    # the same key for another customer or channel is a conflict
    other = make_customer(tenant, consents=("in_app",))
    clash = send(client, tenant, other, "in_app", idempotency_key="order-42-shipped")
    assert clash.status_code == 409 and clash.json()["field"] == "idempotency_key"
    clash = send(client, tenant, customer_id, "email", idempotency_key="order-42-shipped")
    assert clash.status_code == 409
    assert _count(db, Message) == 1


def test_idempotency_keys_are_per_organisation(client, db, tenant, other_tenant, make_customer):
    mine = make_customer(tenant)
    theirs = make_customer(other_tenant)
    assert send(client, tenant, mine, "in_app", idempotency_key="k1").status_code == 201
    assert send(client, other_tenant, theirs, "in_app", idempotency_key="k1").status_code == 201
    assert _count(db, Message) == 2


def test_listing_filters_by_customer_channel_status_and_campaign(client, db, tenant, make_customer, settings):
    a = make_customer(tenant, consents=("in_app",))
    b = make_customer(tenant)
    m1 = send(client, tenant, a, "in_app", campaign_id=7).json()["id"]
    m2 = send(client, tenant, b, "in_app", campaign_id=7).json()["id"]
    m3 = send(client, tenant, a, "sms").json()["id"]
    run_due(db, settings)

    def ids(**params) -> list[int]:
        response = client.get("/api/v1/messages", params=params, headers=tenant.headers)
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json()["items"]]

    assert ids() == [m3, m2, m1]
    assert ids(customer_id=a) == [m3, m1]
    assert ids(channel="in_app") == [m2, m1]
    assert ids(status="delivered") == [m1]
    assert ids(status="suppressed") == [m3, m2]
    assert ids(campaign_id=7, status="suppressed") == [m2]
    response = client.get("/api/v1/messages", params={"status": "lost"}, headers=tenant.headers)
    assert response.status_code == 422 and response.json()["field"] == "status"


def test_bad_input_names_the_field_and_writes_nothing(client, db, tenant, make_customer):
    customer_id = make_customer(tenant)
    base = {"customer_id": customer_id, "channel": "email", "subject": "Hi", "body": "Hello"}
    cases = [
        ({**base, "channel": "fax"}, "channel"),
        ({**base, "body": ""}, "body"),
        ({**base, "body": "   "}, "body"),
        ({**base, "body": "x" * 10_001}, "body"),
        ({**base, "subject": ""}, "subject"),
        ({**base, "subject": "s" * 201}, "subject"),
        ({**base, "data": {"url": "javascript:alert(1)"}}, "data.url"),
        ({**base, "data": {"blob": "x" * 9000}}, "data"),
        ({**base, "idempotency_key": ""}, "idempotency_key"),
        ({**base, "customer_id": 0}, "customer_id"),
        ({**base, "customer_id": 2**31}, "customer_id"),
        ({**base, "surprise": 1}, "surprise"),
        ({k: v for k, v in base.items() if k != "body"}, "body"),
    ]
    for body, field in cases:
        response = client.post("/api/v1/messages", json=body, headers=tenant.headers)
        assert response.status_code == 422, (field, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["field"] == field, (field, response.json())
    missing = client.post("/api/v1/messages", json={**base, "customer_id": 999_999}, headers=tenant.headers)
    assert missing.status_code == 404 and missing.json()["field"] == "customer_id"
    broken = client.post("/api/v1/messages", content=b"{not json", headers={**tenant.headers,
                                                                             "Content-Type": "application/json"})
    assert broken.status_code == 400
    assert _count(db, Message) == 0

    for body, field in [({"kind": "fax", "value": "1"}, "kind"), ({"kind": "email", "value": "nope"}, "value"),
                        ({"kind": "phone", "value": "call me"}, "value"),
                        ({"kind": "customer", "value": "abc"}, "value"),
                        ({"kind": "customer", "value": "999999"}, "value")]:  # fmt: skip
        response = client.post("/api/v1/notify/suppressions", json=body, headers=tenant.headers)
        assert response.status_code in (404, 422), response.text
        assert response.json()["field"] == field
    assert _count(db, Suppression) == 0


def test_roles(client, make_tenant, make_customer):
    admin = make_tenant("Acme", role="admin")
    agent = make_tenant("Acme", role="agent")
    viewer = make_tenant("Acme", role="viewer")
    customer_id = make_customer(admin)
    assert send(client, viewer, customer_id, "in_app").status_code == 403
    assert send(client, agent, customer_id, "in_app").status_code == 201
    assert client.get("/api/v1/messages", headers=viewer.headers).status_code == 200
    entry = {"kind": "email", "value": "x@example.com"}
    assert client.post("/api/v1/notify/suppressions", json=entry, headers=agent.headers).status_code == 403
    assert client.post("/api/v1/notify/suppressions", json=entry, headers=admin.headers).status_code == 201
    assert client.get("/api/v1/notify/suppressions", headers=viewer.headers).json()["total"] == 1
    again = client.post("/api/v1/notify/suppressions", json={"kind": "email", "value": "X@example.com"},
                        headers=admin.headers)  # fmt: skip
    assert again.status_code == 409 and again.json()["field"] == "value"
    assert client.get("/api/v1/messages").status_code == 401


def test_tenant_isolation_on_every_route(client, db, tenant, other_tenant, make_customer, settings):
    customer_id = make_customer(tenant, consents=("in_app",))
    message_id = send(client, tenant, customer_id, "in_app").json()["id"]
    run_due(db, settings)
    entry = client.post("/api/v1/notify/suppressions", json={"kind": "customer", "value": str(customer_id)},
                        headers=tenant.headers).json()  # fmt: skip
    with session_scope(db) as session:
        session.add(PushSubscription(org_id=tenant.org_id, customer_id=customer_id, endpoint="https://p.example/1",
                                     p256dh="x", auth="y"))  # fmt: skip
        session.flush()
        sub_id = session.scalar(select(PushSubscription.id))
    h = other_tenant.headers
    # another organisation sees nothing of it and can change nothing
    assert client.get(f"/api/v1/messages/{message_id}", headers=h).status_code == 404
    assert client.get("/api/v1/messages", headers=h).json()["total"] == 0
    assert client.get("/api/v1/messages", params={"customer_id": customer_id}, headers=h).json()["total"] == 0
    assert send(client, other_tenant, customer_id, "in_app").status_code == 404
    assert client.get(f"/api/v1/customers/{customer_id}/inbox", headers=h).status_code == 404
    assert client.post(f"/api/v1/customers/{customer_id}/inbox/{message_id}/read", headers=h).status_code == 404
    assert client.get(f"/api/v1/customers/{customer_id}/push-subscriptions", headers=h).status_code == 404
    assert client.delete(f"/api/v1/customers/{customer_id}/push-subscriptions/{sub_id}",
                         headers=h).status_code == 404  # fmt: skip
    assert client.post(f"/api/v1/customers/{customer_id}/push-link", headers=h).status_code == 404
    assert client.get("/api/v1/notify/suppressions", headers=h).json()["total"] == 0
    assert client.delete(f"/api/v1/notify/suppressions/{entry['id']}", headers=h).status_code == 404
    theirs = client.post("/api/v1/notify/suppressions", json={"kind": "customer", "value": str(customer_id)},
                         headers=h)  # fmt: skip
    assert theirs.status_code == 404 and theirs.json()["field"] == "value"
    # ... and everything is still there for its owner
    assert message(client, tenant, message_id)["status"] == "delivered"
    assert client.get("/api/v1/notify/suppressions", headers=tenant.headers).json()["total"] == 1
    assert len(client.get(f"/api/v1/customers/{customer_id}/push-subscriptions", headers=tenant.headers).json()) == 1


def test_a_customer_on_the_suppression_list_gets_nothing_on_any_channel(client, db, tenant, make_customer,
                                                                          settings):  # fmt: skip
    customer_id = make_customer(tenant, consents=("in_app", "sms"), phone="+4930555666")
    client.post("/api/v1/notify/suppressions", json={"kind": "customer", "value": str(customer_id)},
                headers=tenant.headers)  # fmt: skip
    ids = [send(client, tenant, customer_id, channel).json()["id"] for channel in ("in_app", "sms")]
    assert run_due(db, settings) == {"suppressed": 2}
    assert {message(client, tenant, i)["reason"] for i in ids} == {"suppressed"}


def test_merge_moves_messages_and_erasure_removes_them(client, db, tenant, make_customer, settings):
    survivor = make_customer(tenant, consents=("in_app",))
    duplicate = make_customer(tenant, consents=("in_app",))
    moved_id = send(client, tenant, duplicate, "in_app").json()["id"]
    run_due(db, settings)
    merged = client.post(f"/api/v1/customers/{survivor}/merge", json={"duplicate_id": duplicate},
                         headers=tenant.headers)  # fmt: skip
    assert merged.status_code == 200, merged.text
    assert merged.json()["moved"]["notify"] == 1
    assert message(client, tenant, moved_id)["customer_id"] == survivor

    export = client.get(f"/api/v1/customers/{survivor}/privacy-export", headers=tenant.headers)
    assert export.status_code == 200
    exported = export.json()["related"]["notify"]
    assert [m["id"] for m in exported["messages"]] == [moved_id]
    assert "p256dh" not in str(exported["push_subscriptions"])

    erased = client.post(f"/api/v1/customers/{survivor}/erase", headers=tenant.headers)
    assert erased.status_code == 200, erased.text
    assert client.get(f"/api/v1/messages/{moved_id}", headers=tenant.headers).status_code == 404
    assert _count(db, Message) == 0
    # an erased customer cannot be messaged
    again = send(client, tenant, survivor, "in_app")
    assert again.status_code == 409 and again.json()["field"] == "customer_id"
