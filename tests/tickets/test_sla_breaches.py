"""SLA clocks over time: breach detection and escalation, pauses, late replies, business hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from patron.accounts.models import Notification, Organisation
from patron.core.audit import Actor
from patron.core.db import session_scope, utcnow
from patron.tickets import service as tickets_service
from patron.tickets.models import Ticket

URL = "/api/v1/tickets"
BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2024, 6, 5, 8, 0, tzinfo=UTC)  # a Wednesday


def create(db, tenant, customer_id: int, *, now: datetime, **fields) -> int:
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        ticket = tickets_service.create_ticket(
            session,
            org_id=tenant.org_id,
            customer_id=customer_id,
            subject=fields.pop("subject", "Charger offline"),
            kind=fields.pop("kind", "incident"),
            priority=fields.pop("priority", "normal"),
            now=now,
            **fields,
        )
        return ticket.id


def act(db, tenant, ticket_id: int, action: str, *, now: datetime, **kwargs):
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        ticket = tickets_service.get_ticket_or_raise(session, org_id=tenant.org_id, ticket_id=ticket_id)
        return getattr(tickets_service, action)(session, ticket=ticket, now=now, **kwargs)


def detect(db, *, now: datetime, org_id: int | None = None) -> int:
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=None, label="job:sla-breaches")
        return tickets_service.detect_sla_breaches(session, now=now, org_id=org_id)


def event_kinds(client, tenant, ticket_id: int) -> list[str]:
    return [e["kind"] for e in client.get(f"{URL}/{ticket_id}/events", headers=tenant.headers).json()]


def inbox(db, user_id: int) -> list[Notification]:
    with db() as session:
        return list(session.scalars(select(Notification).where(Notification.user_id == user_id)))


def test_breach_escalates_once_to_the_least_loaded_manager(
    client, db, tenant, make_tenant, new_customer, open_ticket
):
    busy, free = make_tenant("Acme", role="manager"), make_tenant("Acme", role="manager")
    customer = new_customer(tenant.org_id)
    open_ticket(tenant, customer, priority="low", assignee_id=busy.user_id)  # gives the first manager work
    ticket = open_ticket(tenant, customer, priority="high", subject="Car will not unlock")
    created = datetime.fromisoformat(ticket["created_at"])

    assert detect(db, now=created + timedelta(minutes=59)) == 0
    assert detect(db, now=created + timedelta(hours=2)) == 1

    escalated = client.get(f"{URL}/{ticket['id']}", headers=tenant.headers).json()
    assert escalated["escalated_to_id"] == free.user_id
    assert datetime.fromisoformat(escalated["escalated_at"]) == created + timedelta(hours=2)
    assert escalated["priority"] == "urgent"  # bumped one step
    assert escalated["first_response_breached_at"] == escalated["sla"]["first_response_due_at"]
    assert escalated["resolution_breached_at"] is None
    assert escalated["sla"]["state"] == "breached"
    history = client.get(f"{URL}/{ticket['id']}/events", headers=tenant.headers).json()
    assert [e["kind"] for e in history] == ["acknowledgement", "breach", "escalation"]
    assert history[1]["data"]["clock"] == "first_response"
    assert history[2]["data"] == {
        "to": free.user_id,
        "clocks": ["first_response"],
        "priority": {"from": "high", "to": "urgent"},
    }
    assert "Priority raised from high to urgent" in history[2]["body"]
    notifications = inbox(db, free.user_id)
    assert [(n.kind, n.link) for n in notifications] == [("escalation", f"/tickets/{ticket['id']}")]
    assert notifications[0].title == "Ticket #2 escalated to you: first-response SLA breached"
    assert [n.kind for n in inbox(db, busy.user_id)] == ["assignment"]
    listed = client.get(URL, params={"breached": "true"}, headers=tenant.headers).json()
    assert [t["id"] for t in listed["items"]] == [ticket["id"]]

    # idempotent: the same moment again changes nothing
    assert detect(db, now=created + timedelta(hours=2)) == 0
    assert event_kinds(client, tenant, ticket["id"]) == ["acknowledgement", "breach", "escalation"]
    assert len(inbox(db, free.user_id)) == 1

    # the resolution clock breaching later is recorded, but the ticket is not escalated again
    assert detect(db, now=created + timedelta(hours=9)) == 2  # the low-priority ticket breaches too
    again = client.get(f"{URL}/{ticket['id']}", headers=tenant.headers).json()
    assert again["resolution_breached_at"] == again["sla"]["resolution_due_at"]
    assert (again["escalated_to_id"], again["priority"]) == (free.user_id, "urgent")
    assert event_kinds(client, tenant, ticket["id"]) == ["acknowledgement", "breach", "escalation", "breach"]
    assert len(inbox(db, free.user_id)) == 1
    assert detect(db, now=created + timedelta(hours=9)) == 0


def test_without_managers_an_admin_gets_it_and_urgent_stays_urgent(
    client, db, tenant, new_customer, open_ticket
):
    ticket = open_ticket(tenant, new_customer(tenant.org_id), priority="urgent")
    assert detect(db, now=utcnow() + timedelta(hours=5)) == 1
    escalated = client.get(f"{URL}/{ticket['id']}", headers=tenant.headers).json()
    assert (escalated["escalated_to_id"], escalated["priority"]) == (tenant.user_id, "urgent")
    # both clocks breached in one run: two breach events, one escalation
    assert event_kinds(client, tenant, ticket["id"]) == ["acknowledgement", "breach", "breach", "escalation"]
    assert [n.kind for n in inbox(db, tenant.user_id)] == ["escalation"]


def test_the_detector_skips_paused_answered_and_finished_tickets(
    client, db, tenant, other_tenant, new_customer, open_ticket
):
    customer = new_customer(tenant.org_id)
    paused = open_ticket(tenant, customer)
    client.patch(f"{URL}/{paused['id']}", json={"status": "pending"}, headers=tenant.headers)
    answered = open_ticket(tenant, customer)
    client.post(
        f"{URL}/{answered['id']}/comments", json={"body": "On it", "public": True}, headers=tenant.headers
    )
    done = open_ticket(tenant, customer)
    client.patch(f"{URL}/{done['id']}", json={"status": "resolved"}, headers=tenant.headers)
    theirs = open_ticket(other_tenant, new_customer(other_tenant.org_id))

    later = utcnow() + timedelta(hours=5)  # past every first-response target, before any resolution target
    assert detect(db, now=later, org_id=tenant.org_id) == 0
    assert detect(db, now=later) == 1  # every organisation: only Globex's ticket
    assert (
        client.get(f"{URL}/{theirs['id']}", headers=other_tenant.headers).json()["escalated_to_id"]
        == other_tenant.user_id
    )
    for ticket in (paused, answered, done):
        body = client.get(f"{URL}/{ticket['id']}", headers=tenant.headers).json()
        assert (body["escalated_at"], body["first_response_breached_at"]) == (None, None)
    assert client.get(f"{URL}/{paused['id']}", headers=tenant.headers).json()["sla"]["state"] == "paused"


def test_check_sla_endpoint_is_for_admins_and_acts_on_the_own_org(
    client, db, tenant, other_tenant, make_tenant, new_customer
):
    agent = make_tenant("Acme", role="agent")
    create(db, tenant, new_customer(tenant.org_id), now=utcnow() - timedelta(days=2))
    create(db, other_tenant, new_customer(other_tenant.org_id), now=utcnow() - timedelta(days=2))
    assert client.post(f"{URL}/check-sla", headers=agent.headers).status_code == 403
    response = client.post(f"{URL}/check-sla", headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"breached": 1}
    assert client.post(f"{URL}/check-sla", headers=tenant.headers).json() == {"breached": 0}
    assert (
        client.get(URL, params={"breached": "true"}, headers=other_tenant.headers).json()["items"][0][
            "escalated_at"
        ]
        is None
    )


def test_a_late_first_reply_records_the_breach_without_escalating(db, tenant, new_customer):
    ticket_id = create(db, tenant, new_customer(tenant.org_id), now=T0)
    act(
        db,
        tenant,
        ticket_id,
        "do_add_ticket_comment",
        now=T0 + timedelta(hours=5),
        body="Sorry for the wait",
        public=True,
        author_id=tenant.user_id,
    )
    with db() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket.first_response_at == T0 + timedelta(hours=5)
        assert ticket.first_response_breached_at == T0 + timedelta(hours=4)
        assert ticket.escalated_at is None
        assert ticket.status == "open"
        assert tickets_service.sla_snapshot(ticket, now=T0 + timedelta(hours=6)).state == "breached"
    assert detect(db, now=T0 + timedelta(hours=6)) == 0


def test_resolving_late_records_the_breach(db, tenant, new_customer):
    ticket_id = create(db, tenant, new_customer(tenant.org_id), now=T0, priority="urgent")
    act(
        db,
        tenant,
        ticket_id,
        "do_add_ticket_comment",
        now=T0 + timedelta(minutes=5),
        body="Looking",
        public=True,
        author_id=tenant.user_id,
    )
    act(db, tenant, ticket_id, "do_change_ticket_status", now=T0 + timedelta(hours=5), status="resolved")
    with db() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket.first_response_breached_at is None
        assert ticket.resolution_breached_at == T0 + timedelta(hours=4)
        assert tickets_service.sla_snapshot(ticket, now=T0 + timedelta(days=1)).state == "breached"


def test_resolving_in_time_is_met(db, tenant, new_customer):
    ticket_id = create(db, tenant, new_customer(tenant.org_id), now=T0, priority="urgent")
    act(
        db,
        tenant,
        ticket_id,
        "do_add_ticket_comment",
        now=T0 + timedelta(minutes=10),
        body="Fixed remotely",
        public=True,
        author_id=tenant.user_id,
    )
    act(db, tenant, ticket_id, "do_change_ticket_status", now=T0 + timedelta(hours=1), status="resolved")
    with db() as session:
        ticket = session.get(Ticket, ticket_id)
        assert tickets_service.sla_snapshot(ticket, now=T0 + timedelta(days=9)).state == "met"


def test_pending_pauses_the_clocks(db, tenant, new_customer):
    ticket_id = create(db, tenant, new_customer(tenant.org_id), now=T0)  # normal: 4 h / 24 h
    act(db, tenant, ticket_id, "do_change_ticket_status", now=T0 + timedelta(hours=1), status="pending")
    assert (
        detect(db, now=T0 + timedelta(hours=5)) == 0
    )  # past the original first-response due time, but paused
    act(db, tenant, ticket_id, "do_change_ticket_status", now=T0 + timedelta(hours=3), status="open")
    with db() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket.first_response_due_at == T0 + timedelta(hours=6)
        assert ticket.resolution_due_at == T0 + timedelta(hours=26)
        events = tickets_service.list_ticket_events(session, ticket=ticket)
        assert events[-1].data == {"from": "pending", "to": "open", "paused_minutes": 120.0}


def test_business_hours_in_the_organisation_time_zone(client, db, tenant, new_customer):
    with session_scope(db) as session:
        session.get(Organisation, tenant.org_id).timezone = "Europe/Berlin"
    policies = client.get("/api/v1/sla-policies", headers=tenant.headers).json()
    normal = next(p for p in policies if p["priority"] == "normal")
    response = client.patch(
        f"/api/v1/sla-policies/{normal['id']}",
        headers=tenant.headers,
        json={
            "business_hours": True,
            "business_start_hour": 9,
            "business_end_hour": 17,
            "business_days": "40123",
            "first_response_minutes": 240,
            "resolution_minutes": 480,
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["business_days"] == "01234"

    friday_4pm = datetime(2024, 6, 7, 16, 0, tzinfo=BERLIN)
    ticket_id = create(db, tenant, new_customer(tenant.org_id), now=friday_4pm)
    with db() as session:
        ticket = session.get(Ticket, ticket_id)
        # 1 working hour on Friday, the rest on Monday
        assert ticket.first_response_due_at == datetime(2024, 6, 10, 12, 0, tzinfo=BERLIN)
        assert ticket.resolution_due_at == datetime(2024, 6, 10, 16, 0, tzinfo=BERLIN)
        ack = tickets_service.list_ticket_events(session, ticket=ticket)[0].body
    assert "first response within 4 hours, by Mon 10 Jun 2024 12:00 (CEST)." in ack
    assert "We count business hours: Mon, Tue, Wed, Thu, Fri, 09:00-17:00." in ack

    # waiting on the customer from Friday 16:30 to Monday 10:00 pauses 30 + 60 working minutes
    act(
        db,
        tenant,
        ticket_id,
        "do_change_ticket_status",
        now=datetime(2024, 6, 7, 16, 30, tzinfo=BERLIN),
        status="pending",
    )
    act(
        db,
        tenant,
        ticket_id,
        "do_change_ticket_status",
        now=datetime(2024, 6, 10, 10, 0, tzinfo=BERLIN),
        status="open",
    )
    with db() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket.first_response_due_at == datetime(2024, 6, 10, 13, 30, tzinfo=BERLIN)
        assert ticket.resolution_due_at == datetime(2024, 6, 11, 9, 30, tzinfo=BERLIN)


def test_writes_refuse_naive_times(db, tenant, new_customer):
    from patron.core.errors import Invalid

    customer = new_customer(tenant.org_id)
    with pytest.raises(Invalid):
        create(db, tenant, customer, now=datetime(2024, 6, 7, 16, 0))
    with pytest.raises(Invalid):
        detect(db, now=datetime(2024, 6, 7, 16, 0))
