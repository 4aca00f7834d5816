"""Tickets through the HTTP API: acknowledgement, SLA due times, workflow, comments, assignment, CSAT."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from patron.customers.models import TimelineEntry
from patron.tickets.models import Ticket, TicketEvent

URL = "/api/v1/tickets"


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def events(client, tenant, ticket_id: int) -> list[dict]:
    response = client.get(f"{URL}/{ticket_id}/events", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()


def timeline_kinds(db, customer_id: int) -> list[str]:
    with db() as session:
        return list(
            session.scalars(
                select(TimelineEntry.kind)
                .where(TimelineEntry.customer_id == customer_id)
                .order_by(TimelineEntry.id)
            )
        )


def counts(db) -> tuple[int, int]:
    with db() as session:
        return (
            session.scalar(select(func.count()).select_from(Ticket)),
            session.scalar(select(func.count()).select_from(TicketEvent)),
        )


def test_a_new_ticket_is_acknowledged_at_once(client, tenant, new_customer, open_ticket, db):
    customer_id = new_customer(tenant.org_id)
    ticket = open_ticket(
        tenant,
        customer_id,
        subject="No hot water since Monday",
        priority="high",
        description="The boiler shows error E42.",
        channel="email",
        category="heating",
    )
    assert ticket["number"] == 1
    assert ticket["status"] == "new"
    assert (ticket["kind"], ticket["priority"], ticket["channel"], ticket["category"]) == (
        "complaint",
        "high",
        "email",
        "heating",
    )
    assert ticket["acknowledged_at"] == ticket["created_at"]
    assert ticket["sla"]["state"] == "ok"
    assert 58 <= ticket["sla"]["minutes_left"] <= 60

    history = events(client, tenant, ticket["id"])
    assert [e["kind"] for e in history] == ["acknowledgement"]
    ack = history[0]
    assert ack["public"] is True
    assert ack["author_id"] is None
    assert ack["body"].startswith('We received your complaint #1 "No hot water since Monday".')
    assert "first response within 1 hour" in ack["body"]
    assert ts(ack["data"]["first_response_due_at"]) == ts(ticket["sla"]["first_response_due_at"])
    assert timeline_kinds(db, customer_id) == ["ticket.created"]


def test_numbers_are_sequential_per_organisation(client, tenant, other_tenant, new_customer, open_ticket):
    ours, theirs = new_customer(tenant.org_id), new_customer(other_tenant.org_id)
    assert [open_ticket(tenant, ours)["number"] for _ in range(3)] == [1, 2, 3]
    assert open_ticket(other_tenant, theirs)["number"] == 1


@pytest.mark.parametrize(
    ("priority", "first_minutes", "resolution_minutes", "words"),
    [
        ("urgent", 15, 4 * 60, "15 minutes"),
        ("high", 60, 8 * 60, "1 hour"),
        ("normal", 4 * 60, 24 * 60, "4 hours"),
        ("low", 8 * 60, 72 * 60, "8 hours"),
    ],
)
def test_default_sla_due_times_per_priority(
    client, tenant, new_customer, open_ticket, priority, first_minutes, resolution_minutes, words
):
    ticket = open_ticket(tenant, new_customer(tenant.org_id), priority=priority, kind="request")
    created = ts(ticket["created_at"])
    assert ts(ticket["sla"]["first_response_due_at"]) - created == timedelta(minutes=first_minutes)
    assert ts(ticket["sla"]["resolution_due_at"]) - created == timedelta(minutes=resolution_minutes)
    ack = events(client, tenant, ticket["id"])[0]["body"]
    assert f"We received your request #{ticket['number']}" in ack
    assert f"first response within {words}," in ack


def test_workflow_from_new_to_closed_and_reopened(client, tenant, new_customer, open_ticket, db):
    customer_id = new_customer(tenant.org_id)
    ticket = open_ticket(tenant, customer_id)
    url = f"{URL}/{ticket['id']}"

    note = client.post(f"{url}/comments", json={"body": "Checking the meter logs."}, headers=tenant.headers)
    assert note.status_code == 201
    assert note.json()["public"] is False
    after_note = client.get(url, headers=tenant.headers).json()
    assert (after_note["status"], after_note["first_response_at"]) == ("new", None)

    reply = client.post(
        f"{url}/comments", json={"body": "We are on it.", "public": True}, headers=tenant.headers
    )
    assert reply.status_code == 201
    assert reply.json()["author_id"] == tenant.user_id
    replied = client.get(url, headers=tenant.headers).json()
    assert replied["status"] == "open"  # the first public reply opens a new ticket
    assert replied["first_response_at"] == reply.json()["created_at"]
    second = client.post(f"{url}/comments", json={"body": "Update.", "public": True}, headers=tenant.headers)
    assert client.get(url, headers=tenant.headers).json()["first_response_at"] == replied["first_response_at"]
    assert second.status_code == 201

    pending = client.patch(url, json={"status": "pending"}, headers=tenant.headers).json()
    assert (pending["status"], pending["sla"]["state"], pending["sla"]["minutes_left"]) == (
        "pending",
        "paused",
        None,
    )
    assert client.patch(url, json={"status": "open"}, headers=tenant.headers).json()["status"] == "open"

    resolved = client.patch(url, json={"status": "resolved"}, headers=tenant.headers).json()
    assert resolved["resolved_at"] is not None
    assert resolved["sla"]["state"] == "met"

    closed = client.post(
        f"{url}/close", json={"satisfaction": 5, "comment": "Quick and kind."}, headers=tenant.headers
    )
    assert closed.status_code == 200, closed.text
    closed = closed.json()
    assert (closed["status"], closed["satisfaction"], closed["satisfaction_comment"]) == (
        "closed",
        5,
        "Quick and kind.",
    )
    assert closed["closed_at"] is not None

    rerated = client.post(f"{url}/satisfaction", json={"satisfaction": 4}, headers=tenant.headers)
    assert rerated.status_code == 200
    assert rerated.json()["satisfaction"] == 4

    reopened = client.patch(url, json={"status": "open"}, headers=tenant.headers).json()
    assert (reopened["status"], reopened["resolved_at"], reopened["closed_at"]) == ("open", None, None)
    assert client.patch(url, json={"status": "resolved"}, headers=tenant.headers).status_code == 200
    final = client.patch(url, json={"status": "closed"}, headers=tenant.headers).json()
    assert final["status"] == "closed"

    history = events(client, tenant, ticket["id"])
    assert [e["kind"] for e in history] == [
        "acknowledgement",
        "comment",
        "comment",
        "status",
        "comment",
        "status",
        "status",
        "status",
        "status",
        "satisfaction",
        "satisfaction",
        "status",
        "status",
        "status",
    ]
    moves = [(e["data"]["from"], e["data"]["to"]) for e in history if e["kind"] == "status"]
    assert moves == [
        ("new", "open"),
        ("open", "pending"),
        ("pending", "open"),
        ("open", "resolved"),
        ("resolved", "closed"),
        ("closed", "open"),
        ("open", "resolved"),
        ("resolved", "closed"),
    ]
    assert "paused_minutes" in history[6]["data"]
    assert timeline_kinds(db, customer_id) == [
        "ticket.created",
        "ticket.status_changed",
        "ticket.status_changed",
        "ticket.status_changed",
        "ticket.resolved",
        "ticket.closed",
        "ticket.satisfaction",
        "ticket.satisfaction",
        "ticket.reopened",
        "ticket.resolved",
        "ticket.closed",
    ]


@pytest.mark.parametrize(
    ("path", "moves", "target"),
    [
        ("patch", [], "closed"),  # new -> closed skips resolution
        ("patch", ["resolved", "closed"], "pending"),
        ("patch", ["resolved"], "pending"),
        ("patch", ["open"], "new"),
        ("close", [], None),  # only resolved tickets close
        ("close", ["resolved", "closed"], None),
        ("satisfaction", ["open"], None),  # only resolved or closed tickets are rated
    ],
)
def test_invalid_transitions_are_409_naming_status(
    client, tenant, new_customer, open_ticket, db, path, moves, target
):
    ticket = open_ticket(tenant, new_customer(tenant.org_id))
    url = f"{URL}/{ticket['id']}"
    for status in moves:
        assert client.patch(url, json={"status": status}, headers=tenant.headers).status_code == 200
    before = client.get(url, headers=tenant.headers).json()
    written = counts(db)
    if path == "patch":
        response = client.patch(url, json={"status": target, "subject": "changed"}, headers=tenant.headers)
    elif path == "close":
        response = client.post(f"{url}/close", json={"satisfaction": 3}, headers=tenant.headers)
    else:
        response = client.post(f"{url}/satisfaction", json={"satisfaction": 3}, headers=tenant.headers)
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == "status"
    after = client.get(url, headers=tenant.headers).json()
    assert {k: v for k, v in after.items() if k != "sla"} == {k: v for k, v in before.items() if k != "sla"}
    assert counts(db) == written


@pytest.mark.parametrize("score", [0, 6, -1, 2.5, "five", "5", True])
@pytest.mark.parametrize("path", ["close", "satisfaction"])
def test_csat_outside_1_to_5_is_422(client, tenant, new_customer, open_ticket, db, score, path):
    ticket = open_ticket(tenant, new_customer(tenant.org_id))
    url = f"{URL}/{ticket['id']}"
    client.patch(url, json={"status": "resolved"}, headers=tenant.headers)
    written = counts(db)
    response = client.post(f"{url}/{path}", json={"satisfaction": score}, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "satisfaction"
    after = client.get(url, headers=tenant.headers).json()
    assert (after["status"], after["satisfaction"]) == ("resolved", None)
    assert counts(db) == written


def test_close_without_a_score(client, tenant, new_customer, open_ticket):
    ticket = open_ticket(tenant, new_customer(tenant.org_id))
    url = f"{URL}/{ticket['id']}"
    client.patch(url, json={"status": "resolved"}, headers=tenant.headers)
    closed = client.post(f"{url}/close", json={}, headers=tenant.headers).json()
    assert (closed["status"], closed["satisfaction"]) == ("closed", None)


def test_assign_notifies_the_assignee(client, tenant, make_tenant, new_customer, open_ticket):
    agent = make_tenant("Acme", role="agent")
    ticket = open_ticket(tenant, new_customer(tenant.org_id))
    url = f"{URL}/{ticket['id']}"
    response = client.post(f"{url}/assign", json={"assignee_id": agent.user_id}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["assignee_id"] == agent.user_id
    inbox = client.get("/api/v1/notifications", headers=agent.headers).json()
    assert [(n["kind"], n["title"], n["link"]) for n in inbox] == [
        ("assignment", "Ticket #1 assigned to you", f"/tickets/{ticket['id']}")
    ]
    assignment = events(client, tenant, ticket["id"])[-1]
    assert (assignment["kind"], assignment["data"]) == ("assignment", {"from": None, "to": agent.user_id})

    # assigning to oneself does not notify; unassigning works
    client.post(f"{url}/assign", json={"assignee_id": tenant.user_id}, headers=tenant.headers)
    assert client.get("/api/v1/notifications", headers=tenant.headers).json() == []
    unassigned = client.post(f"{url}/assign", json={"assignee_id": None}, headers=tenant.headers).json()
    assert unassigned["assignee_id"] is None


def test_assign_on_create_and_by_patch(client, tenant, make_tenant, new_customer, open_ticket):
    agent = make_tenant("Acme", role="agent")
    ticket = open_ticket(tenant, new_customer(tenant.org_id), assignee_id=agent.user_id)
    assert ticket["assignee_id"] == agent.user_id
    manager = make_tenant("Acme", role="manager")
    patched = client.patch(
        f"{URL}/{ticket['id']}", json={"assignee_id": manager.user_id}, headers=tenant.headers
    )
    assert patched.json()["assignee_id"] == manager.user_id
    assert len(client.get("/api/v1/notifications", headers=agent.headers).json()) == 1
    assert len(client.get("/api/v1/notifications", headers=manager.headers).json()) == 1


def test_who_can_be_assigned(client, tenant, other_tenant, make_tenant, new_customer, open_ticket, db):
    viewer = make_tenant("Acme", role="viewer")
    ticket = open_ticket(tenant, new_customer(tenant.org_id))
    url = f"{URL}/{ticket['id']}"
    written = counts(db)
    response = client.post(
        f"{url}/assign", json={"assignee_id": other_tenant.user_id}, headers=tenant.headers
    )
    assert response.status_code == 404
    assert response.json()["field"] == "assignee_id"
    response = client.post(f"{url}/assign", json={"assignee_id": viewer.user_id}, headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["field"] == "assignee_id"
    response = client.patch(
        url, json={"assignee_id": other_tenant.user_id, "subject": "x"}, headers=tenant.headers
    )
    assert response.status_code == 404
    response = client.post(
        URL,
        json={
            "customer_id": ticket["customer_id"],
            "subject": "s",
            "kind": "request",
            "priority": "low",
            "assignee_id": other_tenant.user_id,
        },
        headers=tenant.headers,
    )
    assert response.status_code == 404
    assert counts(db) == written
    assert client.get(url, headers=tenant.headers).json()["assignee_id"] is None


def test_priority_change_recomputes_due_times(client, tenant, new_customer, open_ticket):
    ticket = open_ticket(tenant, new_customer(tenant.org_id), priority="low")
    created = ts(ticket["created_at"])
    urgent = client.patch(f"{URL}/{ticket['id']}", json={"priority": "urgent"}, headers=tenant.headers).json()
    assert ts(urgent["sla"]["first_response_due_at"]) - created == timedelta(minutes=15)
    assert ts(urgent["sla"]["resolution_due_at"]) - created == timedelta(hours=4)


def test_list_filters_sort_search_and_sla_blocks(client, tenant, make_tenant, new_customer, open_ticket):
    agent = make_tenant("Acme", role="agent")
    first, second = new_customer(tenant.org_id), new_customer(tenant.org_id)
    low = open_ticket(tenant, first, priority="low", kind="request", subject="Change my tariff")
    urgent = open_ticket(tenant, first, priority="urgent", subject="Smoke from the charger 100%")
    normal = open_ticket(
        tenant, second, priority="normal", subject="Invoice_2024 wrong", assignee_id=agent.user_id
    )
    client.patch(f"{URL}/{low['id']}", json={"status": "resolved"}, headers=tenant.headers)

    def listed(**params):
        response = client.get(URL, params=params, headers=tenant.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def numbers(**params):
        return [t["number"] for t in listed(**params)["items"]]

    everything = listed()
    assert everything["total"] == 3
    assert numbers() == [3, 2, 1]  # newest first
    assert {t["sla"]["state"] for t in everything["items"]} == {"ok", "met"}
    assert all(
        set(t["sla"]) == {"first_response_due_at", "resolution_due_at", "state", "minutes_left"}
        for t in everything["items"]
    )
    assert numbers(sort="due") == [urgent["number"], normal["number"], low["number"]]
    assert numbers(sort="priority") == [urgent["number"], normal["number"], low["number"]]
    assert numbers(sort="number") == [1, 2, 3]
    assert numbers(status="resolved") == [low["number"]]
    assert numbers(status=["new", "resolved"]) == [3, 2, 1]
    assert numbers(priority="urgent") == [urgent["number"]]
    assert numbers(priority=["urgent", "low"]) == [2, 1]
    assert numbers(kind="request") == [low["number"]]
    assert numbers(assignee_id=agent.user_id) == [normal["number"]]
    assert numbers(customer_id=first) == [2, 1]
    assert numbers(q="tariff") == [low["number"]]
    assert numbers(q="TARIFF") == [low["number"]]
    assert numbers(q="#2") == [2]
    assert numbers(q="100%") == [urgent["number"]]  # LIKE wildcards are literal
    assert numbers(q="Change_my") == []  # "_" is no wildcard either
    assert numbers(q="Invoice_2024") == [normal["number"]]
    assert numbers(breached=True) == []
    assert numbers(breached=False) == [3, 2, 1]
    page = listed(limit=2, offset=2)
    assert (page["total"], len(page["items"])) == (3, 1)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "archived"}, "status"),
        ({"priority": "asap"}, "priority"),
        ({"sort": "random"}, "sort"),
        ({"breached": "maybe"}, "breached"),
        ({"q": "x" * 201}, "q"),
        ({"limit": 0}, "limit"),
        ({"assignee_id": "me"}, "assignee_id"),
    ],
)
def test_bad_list_parameters_are_422(client, tenant, params, field):
    response = client.get(URL, params=params, headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["field"].split(".")[0] == field  # repeatable parameters name the item: status.0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "rant"}, "kind"),
        ({"priority": "asap"}, "priority"),
        ({"priority": 5}, "priority"),
        ({"subject": "x" * 301}, "subject"),
        ({"subject": "   "}, "subject"),
        ({"subject": None}, "subject"),
        ({"description": "x" * 20_001}, "description"),
        ({"category": "Billing & Payments"}, "category"),
        ({"channel": "x" * 21}, "channel"),
        ({"customer_id": "one"}, "customer_id"),
        ({"customer_id": 0}, "customer_id"),
        ({"assignee_id": "bob"}, "assignee_id"),
        ({"status": "open"}, "status"),  # tickets start new; status is not an input
        ({"description": "nul\x00"}, "description"),
    ],
)
def test_bad_ticket_input_is_422_naming_the_field(client, tenant, new_customer, db, payload, field):
    body = {
        "customer_id": new_customer(tenant.org_id),
        "subject": "s",
        "kind": "request",
        "priority": "low",
        **payload,
    }
    response = client.post(URL, json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert counts(db) == (0, 0)


@pytest.mark.parametrize("missing", ["customer_id", "subject", "kind", "priority"])
def test_required_fields(client, tenant, new_customer, db, missing):
    body = {"customer_id": new_customer(tenant.org_id), "subject": "s", "kind": "request", "priority": "low"}
    del body[missing]
    response = client.post(URL, json=body, headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["field"] == missing
    assert counts(db) == (0, 0)


def test_malformed_json_and_bad_patch_and_comment(client, tenant, new_customer, open_ticket, db):
    response = client.post(
        URL, content=b"{not json", headers={**tenant.headers, "content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"
    assert counts(db) == (0, 0)
    ticket = open_ticket(tenant, new_customer(tenant.org_id))
    url = f"{URL}/{ticket['id']}"
    written = counts(db)
    for payload, field in [
        ({"status": None}, "status"),
        ({"priority": None}, "priority"),
        ({"number": 7}, "number"),
        ({"subject": ""}, "subject"),
    ]:
        response = client.patch(url, json=payload, headers=tenant.headers)
        assert response.status_code == 422, payload
        assert response.json()["field"] == field
    for payload, field in [
        ({"body": ""}, "body"),
        ({"body": "x" * 20_001}, "body"),
        ({"body": "x", "public": "perhaps"}, "public"),
        ({}, "body"),
    ]:
        response = client.post(f"{url}/comments", json=payload, headers=tenant.headers)
        assert response.status_code == 422, payload
        assert response.json()["field"] == field
    assert counts(db) == written


def test_unknown_ids_are_404(client, tenant):
    response = client.post(
        URL,
        json={"customer_id": 999999, "subject": "s", "kind": "request", "priority": "low"},
        headers=tenant.headers,
    )
    assert response.status_code == 404
    assert response.json()["field"] == "customer_id"
    for method, path, payload in [
        ("get", "", None),
        ("patch", "", {"subject": "x"}),
        ("delete", "", None),
        ("get", "/events", None),
        ("post", "/comments", {"body": "x"}),
        ("post", "/assign", {"assignee_id": None}),
        ("post", "/close", {}),
        ("post", "/satisfaction", {"satisfaction": 3}),
    ]:
        response = client.request(method, f"{URL}/424242{path}", json=payload, headers=tenant.headers)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["field"] == "ticket_id"


def test_tenant_isolation(client, tenant, other_tenant, new_customer, open_ticket, db):
    ticket = open_ticket(tenant, new_customer(tenant.org_id))
    url = f"{URL}/{ticket['id']}"
    intruder = other_tenant.headers
    written = counts(db)
    assert client.get(url, headers=intruder).status_code == 404
    assert client.get(f"{url}/events", headers=intruder).status_code == 404
    assert client.patch(url, json={"subject": "mine now"}, headers=intruder).status_code == 404
    assert client.patch(url, json={"status": "resolved"}, headers=intruder).status_code == 404
    assert (
        client.post(f"{url}/comments", json={"body": "hi", "public": True}, headers=intruder).status_code
        == 404
    )
    assert (
        client.post(f"{url}/assign", json={"assignee_id": other_tenant.user_id}, headers=intruder).status_code
        == 404
    )
    assert client.post(f"{url}/close", json={"satisfaction": 1}, headers=intruder).status_code == 404
    assert client.post(f"{url}/satisfaction", json={"satisfaction": 1}, headers=intruder).status_code == 404
    assert client.delete(url, headers=intruder).status_code == 404
    assert client.get(URL, headers=intruder).json()["total"] == 0
    assert (
        client.get(URL, params={"customer_id": ticket["customer_id"]}, headers=intruder).json()["total"] == 0
    )
    # another organisation's customer cannot get a ticket
    response = client.post(
        URL,
        json={"customer_id": ticket["customer_id"], "subject": "s", "kind": "request", "priority": "low"},
        headers=intruder,
    )
    assert response.status_code == 404
    assert counts(db) == written
    unchanged = client.get(url, headers=tenant.headers).json()
    assert (unchanged["subject"], unchanged["status"], unchanged["assignee_id"]) == (
        ticket["subject"],
        "new",
        None,
    )


def test_delete_needs_tickets_delete(client, tenant, make_tenant, new_customer, open_ticket, db):
    agent = make_tenant("Acme", role="agent")
    customer_id = new_customer(tenant.org_id)
    ticket = open_ticket(agent, customer_id)
    url = f"{URL}/{ticket['id']}"
    client.post(f"{url}/comments", json={"body": "note"}, headers=agent.headers)
    timeline = f"/api/v1/customers/{customer_id}/timeline"
    assert any(i["ref_type"] == "ticket" for i in client.get(timeline, headers=tenant.headers).json()["items"])
    assert client.delete(url, headers=agent.headers).status_code == 403
    assert client.delete(url, headers=tenant.headers).status_code == 204
    assert client.get(url, headers=tenant.headers).status_code == 404
    assert counts(db) == (0, 0)
    items = client.get(timeline, headers=tenant.headers).json()["items"]
    assert not any(i["ref_type"] == "ticket" for i in items)  # nothing on the timeline links to it


def test_viewers_read_but_do_not_write(client, tenant, make_tenant, new_customer, open_ticket):
    viewer = make_tenant("Acme", role="viewer")
    ticket = open_ticket(tenant, new_customer(tenant.org_id))
    assert client.get(f"{URL}/{ticket['id']}", headers=viewer.headers).status_code == 200
    assert (
        client.post(f"{URL}/{ticket['id']}/comments", json={"body": "x"}, headers=viewer.headers).status_code
        == 403
    )
    response = client.post(
        URL,
        json={"customer_id": ticket["customer_id"], "subject": "s", "kind": "request", "priority": "low"},
        headers=viewer.headers,
    )
    assert response.status_code == 403


def test_queue_summary_endpoint(client, tenant, make_tenant, new_customer, open_ticket):
    agent = make_tenant("Acme", role="agent")
    customer = new_customer(tenant.org_id)
    open_ticket(tenant, customer, priority="urgent")
    open_ticket(tenant, customer, priority="low", assignee_id=agent.user_id)
    done = open_ticket(tenant, customer)
    client.patch(f"{URL}/{done['id']}", json={"status": "resolved"}, headers=tenant.headers)
    summary = client.get(f"{URL}/summary", headers=tenant.headers)
    assert summary.status_code == 200, summary.text
    assert summary.json() == {
        "by_status": {"new": 2, "open": 0, "pending": 0, "resolved": 1, "closed": 0},
        "active": 2,
        "unassigned": 1,
        "breached": 0,
        "at_risk": 0,
        "by_priority": {"low": 1, "normal": 0, "high": 0, "urgent": 1},
    }
