"""A device fault opens one proactive ticket, deduplicated while it is open."""

from __future__ import annotations

from sqlalchemy import func, select

from patron.core.audit import AuditEntry
from patron.tickets.models import Ticket, TicketEvent

FAULT_RULE = {
    "when": {"event_types": ["fault"], "device_types": ["smart_meter"]},
    "conditions": [{"field": "props.code", "op": "in", "value": ["E42", "E51"]}],
    "actions": [
        {
            "type": "open_ticket",
            "subject": "Fault {props.code} on {device.name}",
            "description": "The meter reported {props.code} ({props.text}).",
            "priority": "high",
        }
    ],
}


def tickets_of(db, customer_id: int) -> list[Ticket]:
    with db() as session:
        return list(
            session.scalars(select(Ticket).where(Ticket.customer_id == customer_id).order_by(Ticket.id))
        )


def test_repeated_faults_open_exactly_one_ticket_until_it_is_resolved(
    client, tenant, new_customer, new_device, send, make_rule, firings, db
):
    customer_id = new_customer(tenant.org_id)
    meter = new_device(tenant.org_id, customer_id, type="smart_meter", name="Meter 12")
    rule = make_rule(tenant, FAULT_RULE, name="Meter faults")

    send(meter, {"type": "fault", "props": {"code": "E42", "text": "no pulse"}})
    send(meter, {"type": "fault", "props": {"code": "E51"}}, {"type": "fault", "props": {"code": "E42"}})
    send(meter, {"type": "fault", "props": {"code": "E99"}})  # not a code the rule is about

    tickets = tickets_of(db, customer_id)
    assert len(tickets) == 1
    ticket = tickets[0]
    assert ticket.subject == "Fault E42 on Meter 12"
    assert ticket.description == "The meter reported E42 (no pulse)."
    assert (ticket.kind, ticket.category, ticket.priority, ticket.channel) == (
        "incident",
        "device",
        "high",
        "device",
    )
    assert ticket.acknowledged_at is not None  # created through the service: acknowledged, with SLA
    assert ticket.first_response_due_at is not None

    recorded = firings(rule["id"])
    assert len(recorded) == 3
    statuses = [f.actions[0]["status"] for f in recorded]
    assert statuses == ["created", "deduplicated", "deduplicated"]
    assert all(f.actions[0]["ticket_id"] == ticket.id for f in recorded)
    first = recorded[0]
    assert first.event_type == "fault" and first.device_id == meter.id and first.customer_id == customer_id
    assert first.event["props"] == {"code": "E42", "text": "no pulse"}
    assert first.reason.startswith("fault event with props.code in")
    assert first.latency_ms is not None and first.latency_ms >= 0
    with db() as session:
        notes = session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "comment")
        ).all()
        assert len(notes) == 1 and not notes[0].public  # one internal note for the repeats, not one each
        actor = session.scalar(
            select(AuditEntry.actor_label).where(
                AuditEntry.entity == "tickets", AuditEntry.entity_id == str(ticket.id)
            )
        )
        assert actor == f"rule:{rule['id']}"

    got = client.get(f"/api/v1/rules/{rule['id']}", headers=tenant.headers).json()
    assert got["fire_count"] == 3 and got["last_fired_at"] is not None

    response = client.patch(
        f"/api/v1/tickets/{ticket.id}", json={"status": "resolved"}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    send(meter, {"type": "fault", "props": {"code": "E51"}})
    tickets = tickets_of(db, customer_id)
    assert len(tickets) == 2
    assert tickets[1].subject == "Fault E51 on Meter 12"
    assert firings(rule["id"])[-1].actions[0] == {
        "type": "open_ticket",
        "status": "created",
        "ticket_id": tickets[1].id,
        "number": tickets[1].number,
    }


def test_each_device_of_a_customer_gets_its_own_ticket(tenant, new_customer, new_device, send, make_rule, db):
    customer_id = new_customer(tenant.org_id)
    first = new_device(tenant.org_id, customer_id, type="smart_meter", name="Meter A")
    second = new_device(tenant.org_id, customer_id, type="smart_meter", name="Meter B")
    make_rule(tenant, FAULT_RULE)
    send(first, {"type": "fault", "props": {"code": "E42"}})
    send(second, {"type": "fault", "props": {"code": "E42"}})
    send(first, {"type": "fault", "props": {"code": "E42"}})
    assert sorted(t.subject for t in tickets_of(db, customer_id)) == [
        "Fault E42 on Meter A",
        "Fault E42 on Meter B",
    ]


def test_a_fault_of_an_unbound_device_records_the_firing_but_opens_no_ticket(
    tenant, new_device, send, make_rule, firings, db
):
    meter = new_device(tenant.org_id, None, type="smart_meter")
    rule = make_rule(tenant, FAULT_RULE)
    send(meter, {"type": "fault", "props": {"code": "E42"}})
    (firing,) = firings(rule["id"])
    assert firing.actions == [{"type": "open_ticket", "status": "skipped", "reason": "no customer"}]
    assert firing.customer_id is None
    with db() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 0


def test_a_device_of_another_type_does_not_match(tenant, new_customer, new_device, send, make_rule, firings):
    customer_id = new_customer(tenant.org_id)
    taxi = new_device(tenant.org_id, customer_id, type="vehicle")
    rule = make_rule(tenant, FAULT_RULE)
    send(taxi, {"type": "fault", "props": {"code": "E42"}})
    assert firings(rule["id"]) == []
