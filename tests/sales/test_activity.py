"""Staff activity: exact counts from known interactions, tasks, deals and tickets."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from patron.core.db import session_scope, utcnow
from patron.sales.models import Deal, Task
from tests.sales.helpers import default_pipeline, stage_ids

LONG_AGO = timedelta(days=40)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def backdate(db, model, row_id: int, **values) -> None:
    with session_scope(db) as session:
        session.execute(update(model).where(model.id == row_id).values(**values))


def arrange(client, db, tenant, make_tenant, make_customer) -> dict:
    """Known activity of an admin (``a``) and an agent (``b``); a manager (``c``) does nothing."""
    b = make_tenant("Acme", role="agent")
    c = make_tenant("Acme", role="manager")
    analyst = make_tenant("Acme", role="analyst")
    gone = make_tenant("Acme", role="agent")
    deactivated = client.patch(
        f"/api/v1/users/{gone.user_id}", json={"is_active": False}, headers=tenant.headers
    )
    assert deactivated.status_code == 200, deactivated.text
    customer_id = make_customer(tenant)
    stages = stage_ids(default_pipeline(client, tenant))
    now = utcnow()

    def post(url: str, body: dict, who=tenant) -> dict:
        response = client.post(url, json=body, headers=who.headers)
        assert response.status_code in (200, 201), (url, response.text)
        return response.json()

    # interactions: a logs 2 now and 1 long ago, b logs 1
    for _ in range(2):
        post("/api/v1/interactions", {"customer_id": customer_id, "kind": "call"})
    post(
        "/api/v1/interactions",
        {"customer_id": customer_id, "kind": "email", "occurred_at": (now - LONG_AGO).isoformat()},
    )
    post("/api/v1/interactions", {"customer_id": customer_id, "kind": "chat"}, who=b)

    # tasks: a completes one now and one long ago; b's task stays open
    done_now = post("/api/v1/tasks", {"title": "Done now"})
    post(f"/api/v1/tasks/{done_now['id']}/complete", {})
    done_before = post("/api/v1/tasks", {"title": "Done before"})
    post(f"/api/v1/tasks/{done_before['id']}/complete", {})
    backdate(db, Task, done_before["id"], done_at=now - LONG_AGO)
    post("/api/v1/tasks", {"title": "Open", "assignee_id": b.user_id})

    # deals owned by a: won 1000 EUR and 500 USD, one lost, open 300 + 200 EUR and 100 USD
    post("/api/v1/deals", {"title": "Won EUR", "value": "1000", "stage_id": stages["Won"]})
    post("/api/v1/deals", {"title": "Won USD", "value": "500", "currency": "USD", "stage_id": stages["Won"]})
    post("/api/v1/deals", {"title": "Lost", "value": "80", "stage_id": stages["Lost"]})
    post("/api/v1/deals", {"title": "Open 1", "value": "300"})
    post("/api/v1/deals", {"title": "Open 2", "value": "200", "stage_id": stages["Negotiation"]})
    post("/api/v1/deals", {"title": "Open USD", "value": "100", "currency": "USD"})
    # b won a deal long ago only
    old = post(
        "/api/v1/deals",
        {"title": "Old win", "value": "250", "stage_id": stages["Won"], "owner_id": b.user_id},
    )
    backdate(db, Deal, old["id"], closed_at=now - LONG_AGO)

    # tickets: b resolves one
    ticket = post(
        "/api/v1/tickets",
        {
            "customer_id": customer_id,
            "subject": "Meter offline",
            "kind": "incident",
            "priority": "normal",
            "assignee_id": b.user_id,
        },
    )
    resolved = client.patch(f"/api/v1/tickets/{ticket['id']}", json={"status": "resolved"}, headers=b.headers)
    assert resolved.status_code == 200, resolved.text
    return {"b": b, "c": c, "analyst": analyst, "gone": gone, "now": now}


def test_staff_activity_counts(client, db, tenant, make_tenant, make_customer):
    people = arrange(client, db, tenant, make_tenant, make_customer)
    response = client.get("/api/v1/activity", headers=tenant.headers)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["currency"] == "EUR"
    assert (
        timedelta(days=29, hours=23)
        < (_parse(report["until"]) - _parse(report["since"]))
        <= timedelta(days=30)
    )
    rows = {row["user_id"]: row for row in report["items"]}
    assert set(rows) == {tenant.user_id, people["b"].user_id, people["c"].user_id}

    def numbers(user_id: int) -> tuple:
        row = rows[user_id]
        return (
            row["interactions"],
            row["tasks_completed"],
            row["deals_won"],
            row["deals_won_value"],
            row["deals_lost"],
            row["tickets_resolved"],
            row["open_pipeline_value"],
        )

    assert numbers(tenant.user_id) == (2, 1, 2, 1000, 1, 0, 500)
    assert numbers(people["b"].user_id) == (1, 0, 0, 0, 0, 1, 0)
    assert numbers(people["c"].user_id) == (0, 0, 0, 0, 0, 0, 0)


def test_activity_over_an_explicit_window(client, db, tenant, make_tenant, make_customer):
    people = arrange(client, db, tenant, make_tenant, make_customer)
    now = people["now"]
    params = {
        "since": (now - timedelta(days=45)).isoformat(),
        "until": (now - timedelta(days=35)).isoformat(),
    }
    rows = {
        r["user_id"]: r
        for r in client.get("/api/v1/activity", params=params, headers=tenant.headers).json()["items"]
    }
    a, b = rows[tenant.user_id], rows[people["b"].user_id]
    assert (a["interactions"], a["tasks_completed"], a["deals_won"]) == (1, 1, 0)
    assert (b["deals_won"], b["deals_won_value"], b["tickets_resolved"]) == (1, 250, 0)
    # the open pipeline is always today's
    assert a["open_pipeline_value"] == 500

    week = client.get("/api/v1/activity", params={"period": "week"}, headers=tenant.headers).json()
    assert _parse(week["until"]) - _parse(week["since"]) == timedelta(days=7)
    assert {r["user_id"]: r["deals_won"] for r in week["items"]}[tenant.user_id] == 2


def test_activity_timeseries(client, db, tenant, make_tenant, make_customer):
    people = arrange(client, db, tenant, make_tenant, make_customer)
    response = client.get(
        "/api/v1/activity/timeseries",
        params={"user_id": people["b"].user_id, "periods": 8},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    series = response.json()
    buckets = series["buckets"]
    assert len(buckets) == 8 and series["period"] == "week"
    starts = [_parse(b["start"]) for b in buckets]
    assert all(s.weekday() == 0 and (s.hour, s.minute) == (0, 0) for s in starts)
    assert all(
        later - earlier == timedelta(weeks=1) for earlier, later in zip(starts, starts[1:], strict=False)
    )
    old_win = people["now"] - LONG_AGO
    [old_bucket] = [b for b in buckets if _parse(b["start"]) <= old_win < _parse(b["end"])]
    assert (old_bucket["deals_won"], old_bucket["deals_won_value"]) == (1, 250)
    assert (buckets[-1]["interactions"], buckets[-1]["tickets_resolved"]) == (1, 1)
    assert sum(b["deals_won"] for b in buckets) == 1

    whole = client.get(
        "/api/v1/activity/timeseries", params={"period": "month", "periods": 3}, headers=tenant.headers
    ).json()
    assert [_parse(b["start"]).day for b in whole["buckets"]] == [1, 1, 1]
    # organisation-wide this month: a's 2 calls + b's chat
    assert whole["buckets"][-1]["interactions"] == 3
    assert sum(b["interactions"] for b in whole["buckets"]) == 4
    assert sum(b["deals_won"] for b in whole["buckets"]) == 3


def test_activity_permissions_and_bad_windows(client, tenant, make_tenant, other_tenant):
    agent = make_tenant("Acme", role="agent")
    analyst = make_tenant("Acme", role="analyst")
    assert client.get("/api/v1/activity", headers=agent.headers).status_code == 403
    assert client.get("/api/v1/activity", headers=analyst.headers).status_code == 200
    now = utcnow()
    backwards = client.get(
        "/api/v1/activity",
        params={"since": now.isoformat(), "until": (now - timedelta(days=1)).isoformat()},
        headers=tenant.headers,
    )
    assert backwards.status_code == 422 and backwards.json()["field"] == "since"
    naive = client.get("/api/v1/activity", params={"since": "2024-01-01T00:00:00"}, headers=tenant.headers)
    assert naive.status_code == 422
    assert (
        client.get("/api/v1/activity", params={"period": "year"}, headers=tenant.headers).status_code == 422
    )
    foreign = client.get(
        "/api/v1/activity/timeseries", params={"user_id": other_tenant.user_id}, headers=tenant.headers
    )
    assert foreign.status_code == 404
