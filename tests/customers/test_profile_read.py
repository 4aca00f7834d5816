"""GET /customers/{id} reads the profile on its own short path; it must answer exactly what the general
view (``customer_out``: the ORM object, ``tags_for``, ``consent_summaries``) answers."""

from __future__ import annotations

import json

from patron.customers import service as customer_service
from patron.customers.api import customer_out
from tests.customers.conftest import problem


def _general_view(db, org_id: int, customer_id: int) -> bytes:
    """The body the general path renders, serialised as FastAPI's JSON response does."""
    with db() as session:
        customer = customer_service.get_customer_or_raise(session, org_id=org_id, customer_id=customer_id)
        values = customer_out(session, customer).model_dump(mode="json")
    return json.dumps(values, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _consent(api, customer_id: int, channel: str, granted: bool) -> None:
    response = api.post(
        f"/customers/{customer_id}/consents", json={"channel": channel, "granted": granted, "source": "app"}
    )
    assert response.status_code == 201, response.text


def test_the_profile_is_byte_for_byte_the_general_view(api, db, tenant):
    customer = api.customer(
        first_name="Zoë",
        last_name="Ährens",
        email="zoe@example.com",
        tags=["vip", "berlin", "Early-Adopter", "éclair"],
        lifestyle_tags=["cycling"],
    )
    cid = customer["id"]
    _consent(api, cid, "email", True)
    _consent(api, cid, "sms", True)
    _consent(api, cid, "email", False)  # the latest entry per channel counts
    _consent(api, cid, "push", True)

    response = api.get(f"/customers/{cid}")
    assert response.status_code == 200, response.text
    assert response.content == _general_view(db, tenant.org_id, cid)
    body = response.json()
    # in the database's order, as the general view gives it (where "éclair" falls depends on the collation)
    assert set(body["tags"]) == {"berlin", "early-adopter", "vip", "éclair"} and body["name"] == "Zoë Ährens"
    assert body["tags"][:2] == ["berlin", "early-adopter"]
    assert body["consents"]["email"] is False and body["consents"]["sms"] is True
    assert body["consents"]["push"] is True and body["consents"]["in_app"] is False


def test_a_profile_without_tags_or_consents_and_an_erased_one(api, db, tenant):
    bare = api.customer(first_name="", email="only@example.com")
    response = api.get(f"/customers/{bare['id']}")
    assert response.content == _general_view(db, tenant.org_id, bare["id"])
    assert response.json()["name"] == "only@example.com" and response.json()["tags"] == []

    erased = api.customer(first_name="Eve", tags=["vip"])
    _consent(api, erased["id"], "email", True)
    assert api.post(f"/customers/{erased['id']}/erase").status_code == 200
    response = api.get(f"/customers/{erased['id']}")
    assert response.content == _general_view(db, tenant.org_id, erased["id"])
    assert not any(response.json()["consents"].values())


def test_missing_foreign_and_unauthenticated_reads(api, other_api, client):
    theirs = other_api.customer(first_name="Other")
    problem(api.get(f"/customers/{theirs['id']}"), 404, "customer_id")
    problem(api.get("/customers/999999"), 404, "customer_id")
    problem(client.get(f"/api/v1/customers/{theirs['id']}"), 401)
    bad = {"Authorization": "Bearer pat_not-a-token"}
    problem(client.get(f"/api/v1/customers/{theirs['id']}", headers=bad), 401)


def test_an_api_key_reads_a_profile_and_its_last_use_is_recorded(api, client, tenant, db):
    """The profile read runs its statements outside a transaction block on PostgreSQL; the one write it can
    make, an API key's last use, must still land (and a revoked key must stop at once)."""
    from sqlalchemy import select

    from patron.accounts.models import ApiKey

    cid = api.customer(first_name="Kim", tags=["vip"])["id"]
    created = client.post("/api/v1/api-keys", headers=tenant.headers, json={"name": "sync", "role": "agent"})
    machine = {"Authorization": f"Bearer {created.json()['key']}"}
    response = client.get(f"/api/v1/customers/{cid}", headers=machine)
    assert response.status_code == 200 and response.json()["tags"] == ["vip"]
    with db() as session:
        assert session.scalar(select(ApiKey.last_used_at)) is not None
    assert client.delete(f"/api/v1/api-keys/{created.json()['id']}", headers=tenant.headers).status_code == 200
    problem(client.get(f"/api/v1/customers/{cid}", headers=machine), 401)


def test_connections_go_back_to_the_pool_with_transactions(api, app):
    """The hot reads run without a transaction block on PostgreSQL; the connection they used must come
    back to the pool as it was, or a later write would commit statement by statement."""
    cid = api.customer(first_name="Pooled")["id"]
    for _ in range(5):
        assert api.get(f"/customers/{cid}").status_code == 200
        assert api.get(f"/customers/{cid}/timeline").status_code == 200
    engine = app.state.engine
    held = [engine.raw_connection() for _ in range(engine.pool.checkedin())]
    try:
        assert held, "the reads left no connection in the pool"
        for connection in held:
            driver = connection.driver_connection
            if engine.dialect.name == "postgresql":
                assert driver.autocommit is False
            else:
                assert driver.in_transaction is False
    finally:
        for connection in held:
            connection.close()
