"""Tasks: CRUD, filters, completion, the overdue flag and due reminders."""

from __future__ import annotations

from datetime import timedelta

from patron.core.audit import Actor
from patron.core.db import session_scope, utcnow
from patron.jobs.scheduler import run_once
from patron.sales import service as sales_service
from patron.sales.models import Task


def iso(moment) -> str:
    return moment.isoformat()


def send_reminders(db, now) -> int:
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=None, label="test-job")
        return sales_service.send_due_reminders(session, now=now)


def notifications(client, tenant, kind: str | None = None) -> list[dict]:
    response = client.get("/api/v1/notifications", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return [n for n in response.json() if kind is None or n["kind"] == kind]


def test_task_crud_and_completion(client, tenant, make_customer):
    customer_id = make_customer(tenant)
    due = utcnow() + timedelta(days=2)
    response = client.post(
        "/api/v1/tasks",
        json={
            "title": "Call back about the gateway",
            "notes": "after 3pm",
            "due_at": iso(due),
            "customer_id": customer_id,
        },
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    task = response.json()
    assert task["assignee_id"] == tenant.user_id and task["created_by_id"] == tenant.user_id
    assert task["done"] is False and task["overdue"] is False and task["done_at"] is None
    url = f"/api/v1/tasks/{task['id']}"
    assert client.get(url, headers=tenant.headers).json() == task
    changed = client.patch(url, json={"title": "Call back", "notes": ""}, headers=tenant.headers).json()
    assert (changed["title"], changed["notes"]) == ("Call back", "")
    done = client.post(f"{url}/complete", headers=tenant.headers)
    assert done.status_code == 200
    assert done.json()["done"] is True and done.json()["done_at"] is not None
    again = client.post(f"{url}/complete", headers=tenant.headers).json()
    assert again["done_at"] == done.json()["done_at"]
    reopened = client.patch(url, json={"done": False}, headers=tenant.headers).json()
    assert reopened["done"] is False and reopened["done_at"] is None
    closed = client.patch(url, json={"done": True}, headers=tenant.headers).json()
    assert closed["done"] is True
    assert client.delete(url, headers=tenant.headers).status_code == 204
    assert client.get(url, headers=tenant.headers).status_code == 404


def test_overdue_flag(client, tenant):
    late = client.post(
        "/api/v1/tasks",
        json={"title": "Late", "due_at": iso(utcnow() - timedelta(hours=1))},
        headers=tenant.headers,
    ).json()
    assert late["overdue"] is True
    undated = client.post("/api/v1/tasks", json={"title": "Someday"}, headers=tenant.headers).json()
    assert undated["overdue"] is False
    done = client.post(f"/api/v1/tasks/{late['id']}/complete", headers=tenant.headers).json()
    assert done["overdue"] is False


def test_task_on_a_deal_takes_the_deals_customer(client, tenant, make_customer):
    customer_id = make_customer(tenant)
    deal = client.post(
        "/api/v1/deals", json={"title": "Trackers", "customer_id": customer_id}, headers=tenant.headers
    ).json()
    task = client.post(
        "/api/v1/tasks", json={"title": "Send offer", "deal_id": deal["id"]}, headers=tenant.headers
    ).json()
    assert (task["deal_id"], task["customer_id"]) == (deal["id"], customer_id)


def test_task_filters(client, tenant, make_tenant, make_customer):
    colleague = make_tenant("Acme", role="agent")
    customer_id = make_customer(tenant)
    deal = client.post("/api/v1/deals", json={"title": "Deal"}, headers=tenant.headers).json()
    now = utcnow()

    def task(title: str, **fields) -> int:
        response = client.post("/api/v1/tasks", json={"title": title, **fields}, headers=tenant.headers)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    soon = task("soon", due_at=iso(now + timedelta(hours=2)), customer_id=customer_id)
    later = task("later", due_at=iso(now + timedelta(days=5)), assignee_id=colleague.user_id)
    late = task("late", due_at=iso(now - timedelta(days=1)), deal_id=deal["id"])
    undated = task("undated", assignee_id=colleague.user_id)
    finished = task("finished", due_at=iso(now - timedelta(days=3)))
    client.post(f"/api/v1/tasks/{finished}/complete", headers=tenant.headers)

    def ids(headers=tenant.headers, **params) -> list[int]:
        response = client.get("/api/v1/tasks", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids() == [finished, late, soon, later, undated]
    assert ids(done=False) == [late, soon, later, undated]
    assert ids(done=True) == [finished]
    assert ids(overdue=True) == [late]
    assert ids(overdue=False) == [finished, soon, later, undated]
    assert ids(assignee_id=colleague.user_id) == [later, undated]
    assert ids(mine=True) == [finished, late, soon]
    assert ids(headers=colleague.headers, mine=True) == [later, undated]
    assert ids(due_before=iso(now + timedelta(days=1))) == [finished, late, soon]
    assert ids(customer_id=customer_id) == [soon]
    assert ids(deal_id=deal["id"]) == [late]
    assert (
        client.get(
            "/api/v1/tasks", params={"due_before": "2030-01-01T00:00:00"}, headers=tenant.headers
        ).status_code
        == 422
    )
    conflict = client.get(
        "/api/v1/tasks", params={"mine": True, "assignee_id": colleague.user_id}, headers=tenant.headers
    )
    assert conflict.status_code == 422 and conflict.json()["field"] == "mine"


def test_assigning_a_task_to_someone_else_notifies_them(client, tenant, make_tenant):
    colleague = make_tenant("Acme", role="agent")
    client.post(
        "/api/v1/tasks",
        json={"title": "Visit the depot", "assignee_id": colleague.user_id},
        headers=tenant.headers,
    )
    [note] = notifications(client, colleague, "assignment")
    assert note["title"] == "New task: Visit the depot" and note["link"] == "/tasks"
    client.post("/api/v1/tasks", json={"title": "Own task"}, headers=tenant.headers)
    assert notifications(client, tenant) == []


def test_due_reminders_are_sent_once_to_the_assignee(client, tenant, make_tenant, db):
    colleague = make_tenant("Acme", role="agent")
    now = utcnow()
    due = client.post(
        "/api/v1/tasks",
        json={
            "title": "Renew SIM contracts",
            "assignee_id": colleague.user_id,
            "due_at": iso(now + timedelta(hours=1)),
            "remind_at": iso(now - timedelta(minutes=1)),
        },
        headers=tenant.headers,
    ).json()
    client.post(
        "/api/v1/tasks",
        json={
            "title": "Not yet",
            "assignee_id": colleague.user_id,
            "remind_at": iso(now + timedelta(hours=3)),
        },
        headers=tenant.headers,
    )
    finished = client.post(
        "/api/v1/tasks",
        json={
            "title": "Already done",
            "assignee_id": colleague.user_id,
            "remind_at": iso(now - timedelta(hours=1)),
        },
        headers=tenant.headers,
    ).json()
    client.post(f"/api/v1/tasks/{finished['id']}/complete", headers=tenant.headers)

    assert send_reminders(db, now) == 1
    assert send_reminders(db, now) == 0
    assert send_reminders(db, now + timedelta(minutes=1)) == 0

    [reminder] = notifications(client, colleague, "task_reminder")
    assert reminder["title"] == "Reminder: Renew SIM contracts"
    assert reminder["link"] == "/tasks"
    assert reminder["body"].startswith("Due ")
    assert notifications(client, tenant, "task_reminder") == []
    task = client.get(f"/api/v1/tasks/{due['id']}", headers=tenant.headers).json()
    assert task["reminded_at"] is not None

    # the later reminder fires when its time comes
    assert send_reminders(db, now + timedelta(hours=3)) == 1
    assert len(notifications(client, colleague, "task_reminder")) == 2


def test_changing_remind_at_arms_a_new_reminder(client, tenant, db):
    now = utcnow()
    task = client.post(
        "/api/v1/tasks",
        json={"title": "Ping", "remind_at": iso(now - timedelta(minutes=5))},
        headers=tenant.headers,
    ).json()
    assert send_reminders(db, now) == 1
    moved = client.patch(
        f"/api/v1/tasks/{task['id']}",
        json={"remind_at": iso(now + timedelta(minutes=10))},
        headers=tenant.headers,
    ).json()
    assert moved["reminded_at"] is None
    assert send_reminders(db, now) == 0
    assert send_reminders(db, now + timedelta(minutes=10)) == 1
    assert len(notifications(client, tenant, "task_reminder")) == 2


def test_scheduler_runs_the_reminder_job(client, tenant, db, count_rows):
    now = utcnow()
    client.post(
        "/api/v1/tasks",
        json={"title": "Ping", "remind_at": iso(now - timedelta(minutes=1))},
        headers=tenant.headers,
    )
    results = run_once(db, now=now)
    assert results["task-reminders"] == 1
    assert run_once(db, now=now)["task-reminders"] == 0
    assert count_rows(Task, org_id=tenant.org_id) == 1


def test_task_links_must_belong_to_the_organisation(client, tenant, other_tenant, make_customer, count_rows):
    foreign_customer = make_customer(other_tenant)
    foreign_deal = client.post("/api/v1/deals", json={"title": "Theirs"}, headers=other_tenant.headers).json()
    for body, field in (
        ({"customer_id": foreign_customer}, "customer_id"),
        ({"deal_id": foreign_deal["id"]}, "deal_id"),
        ({"assignee_id": other_tenant.user_id}, "assignee_id"),
    ):
        response = client.post("/api/v1/tasks", json={"title": "X", **body}, headers=tenant.headers)
        assert response.status_code == 404, response.text
        assert response.json()["field"] == field
    assert count_rows(Task, org_id=tenant.org_id) == 0
    own = client.post("/api/v1/tasks", json={"title": "Mine"}, headers=tenant.headers).json()
    response = client.patch(
        f"/api/v1/tasks/{own['id']}", json={"deal_id": foreign_deal["id"]}, headers=tenant.headers
    )
    assert response.status_code == 404
    assert client.get(f"/api/v1/tasks/{own['id']}", headers=tenant.headers).json()["deal_id"] is None
