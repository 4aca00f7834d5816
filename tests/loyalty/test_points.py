"""The points ledger: earning and redeeming through the API, a balance that is always the sum of the
entries and never negative, idempotent retries, tenant isolation, the customer hooks, and redemptions of
the last points fired in parallel (on PostgreSQL with real concurrent transactions)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.core.errors import Conflict
from patron.loyalty import service as loyalty_service
from patron.loyalty.models import PointsBalance, PointsEntry


@pytest.fixture
def customer(client, tenant) -> int:
    response = client.post("/api/v1/customers", json={"first_name": "Ada", "last_name": "Lovelace"},
                           headers=tenant.headers)  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()["id"]


def earn(client, tenant, customer_id, points, **fields):
    return client.post(f"/api/v1/customers/{customer_id}/points", json={"points": points, **fields},
                       headers=tenant.headers)  # fmt: skip


def redeem(client, tenant, customer_id, points, **fields):
    return client.post(f"/api/v1/customers/{customer_id}/points/redeem", json={"points": points, **fields},
                       headers=tenant.headers)  # fmt: skip


def account(client, tenant, customer_id) -> dict:
    response = client.get(f"/api/v1/customers/{customer_id}/points", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()


def ledger_sum(db, org_id, customer_id) -> int:
    with db() as session:
        return session.scalar(select(func.coalesce(func.sum(PointsEntry.delta), 0)).where(
            PointsEntry.org_id == org_id, PointsEntry.customer_id == customer_id))  # fmt: skip


def test_earn_and_redeem_keep_the_balance_equal_to_the_ledger(client, db, tenant, customer):
    assert account(client, tenant, customer)["balance"] == 0
    first = earn(client, tenant, customer, 120, reason="Order 1042", source="order:1042")
    assert first.status_code == 201, first.text
    assert first.json() | {"id": 0, "created_at": None} == {
        "id": 0, "customer_id": customer, "kind": "earn", "delta": 120, "balance_after": 120,
        "reason": "Order 1042", "source": "order:1042", "created_at": None, "expires_at": None,
    }  # fmt: skip
    assert earn(client, tenant, customer, 30, reason="Survey answered").json()["balance_after"] == 150
    spent = redeem(client, tenant, customer, 100, reason="Free ride", source="reward:3")
    assert spent.status_code == 201 and spent.json()["delta"] == -100 and spent.json()["balance_after"] == 50
    now = account(client, tenant, customer)
    assert (now["balance"], now["lifetime_earned"], now["total"]) == (50, 150, 3)
    assert [e["delta"] for e in now["items"]] == [-100, 30, 120]  # newest first
    assert ledger_sum(db, tenant.org_id, customer) == 50


def test_redeeming_more_than_the_balance_is_refused_and_changes_nothing(client, db, tenant, customer):
    earn(client, tenant, customer, 40)
    refused = redeem(client, tenant, customer, 41)
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["field"] == "points" and "balance is 40" in refused.json()["detail"]
    assert account(client, tenant, customer)["balance"] == 40
    assert account(client, tenant, customer)["total"] == 1
    # a customer who never earned anything has nothing to spend either
    other = client.post("/api/v1/customers", json={"first_name": "Bo"}, headers=tenant.headers).json()["id"]
    assert redeem(client, tenant, other, 1).status_code == 409


def test_bad_input_names_the_field(client, tenant, customer):
    for body, field in (({"points": 0}, "points"), ({"points": -5}, "points"), ({"points": "ten"}, "points"),
                        ({"points": 5, "kind": "gift"}, "kind"), ({"points": 5, "reason": "x" * 201}, "reason"),
                        ({"points": 5, "colour": "red"}, "colour")):  # fmt: skip
        response = client.post(f"/api/v1/customers/{customer}/points", json=body, headers=tenant.headers)
        assert response.status_code == 422, (body, response.text)
        assert field in response.text
    assert redeem(client, tenant, customer, 0).status_code == 422
    assert account(client, tenant, customer)["total"] == 0


def test_adjustments_need_the_permission_and_never_go_below_zero(client, make_tenant, tenant, customer):
    earn(client, tenant, customer, 10)
    agent = make_tenant("Acme", role="agent")
    assert earn(client, agent, customer, -3, kind="adjust").status_code == 403
    assert earn(client, agent, customer, 5).status_code == 201  # agents may give earned points
    assert earn(client, tenant, customer, -20, kind="adjust").status_code == 409
    fixed = earn(client, tenant, customer, -15, kind="adjust", reason="Double-booked order")
    assert fixed.status_code == 201 and fixed.json()["balance_after"] == 0
    viewer = make_tenant("Acme", role="viewer")
    assert earn(client, viewer, customer, 5).status_code == 403
    assert account(client, viewer, customer)["balance"] == 0


def test_a_retried_request_with_the_same_key_changes_nothing_more(client, tenant, customer):
    assert earn(client, tenant, customer, 50, idempotency_key="order-7").status_code == 201
    again = earn(client, tenant, customer, 50, idempotency_key="order-7")
    assert again.status_code == 200
    assert account(client, tenant, customer)["balance"] == 50
    assert earn(client, tenant, customer, 60, idempotency_key="order-7").status_code == 409  # another change
    assert redeem(client, tenant, customer, 20, idempotency_key="spend-1").status_code == 201
    assert redeem(client, tenant, customer, 20, idempotency_key="spend-1").status_code == 200
    assert account(client, tenant, customer)["balance"] == 30


def test_another_organisation_cannot_read_or_change_the_points(client, tenant, other_tenant, customer):
    earn(client, tenant, customer, 10)
    assert client.get(f"/api/v1/customers/{customer}/points", headers=other_tenant.headers).status_code == 404
    assert earn(client, other_tenant, customer, 100).status_code == 404
    assert redeem(client, other_tenant, customer, 10).status_code == 404
    assert account(client, tenant, customer)["balance"] == 10


def test_merge_moves_the_balance_and_erasure_keeps_amounts_but_not_reasons(client, db, tenant, customer):
    duplicate = client.post("/api/v1/customers", json={"first_name": "Ada", "last_name": "L."},
                            headers=tenant.headers).json()["id"]  # fmt: skip
    earn(client, tenant, customer, 10)
    earn(client, tenant, duplicate, 25, reason="Referral by Grace Hopper")
    merged = client.post(f"/api/v1/customers/{customer}/merge", json={"duplicate_id": duplicate},
                         headers=tenant.headers)  # fmt: skip
    assert merged.status_code == 200, merged.text
    survivor = account(client, tenant, customer)
    assert survivor["balance"] == 35 and survivor["items"][0]["kind"] == "merge"
    assert ledger_sum(db, tenant.org_id, duplicate) == 0 and ledger_sum(db, tenant.org_id, customer) == 35

    exported = client.get(f"/api/v1/customers/{customer}/privacy-export", headers=tenant.headers).json()
    assert exported["related"]["loyalty"]["points_balance"] == [{"balance": 35, "lifetime_earned": 10}]
    erased = client.post(f"/api/v1/customers/{customer}/erase", headers=tenant.headers)
    assert erased.status_code == 200, erased.text
    with db() as session:
        reasons = session.scalars(select(PointsEntry.reason).where(PointsEntry.customer_id == customer)).all()
    assert reasons and all(reason == "" for reason in reasons)
    assert ledger_sum(db, tenant.org_id, customer) == 35  # the amounts stay, anonymous


def test_parallel_redemptions_of_the_last_points_never_both_succeed(db, tenant, customer):
    """Eight transactions at once each try to spend 30 of 100 points: exactly three succeed, the balance
    is 10 and equals the ledger. On PostgreSQL these are real concurrent transactions (the row lock decides);
    on SQLite the single writer serialises them."""
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        loyalty_service.change_points(session, org_id=tenant.org_id, customer_id=customer, kind="earn", points=100)
    start = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def spend() -> None:
        start.wait()
        try:
            with session_scope(db) as session:
                session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
                loyalty_service.change_points(session, org_id=tenant.org_id, customer_id=customer,
                                              kind="redeem", points=30)  # fmt: skip
            result = "ok"
        except Conflict:
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["ok"] * 3 + ["refused"] * 5
    with db() as session:
        balance = session.scalar(select(PointsBalance.balance).where(PointsBalance.customer_id == customer))
    assert balance == 10 == ledger_sum(db, tenant.org_id, customer)
