"""Instant complaint handling: a negative, complaint-like inbound message opens one ticket at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from patron.analytics.sentiment import looks_like_complaint
from patron.interactions import complaints
from patron.tickets.models import Ticket, TicketEvent

URL = "/api/v1/interactions"

ANGRY = "My order arrived broken and nobody answers. Worst service ever, I want a refund!"
FURIOUS = "Third time I am writing: the meter is still not working, this is unacceptable and a scam."
HAPPY = "The new charger works great, thank you so much for the quick delivery!"
SAD_NOT_COMPLAINT = "Terrible weather today, so gloomy and sad."


def log(client, tenant, customer_id, **fields):
    response = client.post(URL, json={"customer_id": customer_id, **fields}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return response.json()


def tickets_of(db, customer_id):
    with db() as session:
        return list(
            session.scalars(select(Ticket).where(Ticket.customer_id == customer_id).order_by(Ticket.id))
        )


def test_the_scores_are_vader_compound_scores():
    # VADER (Hutto & Gilbert 2014) scores these well below / above its ±0.05 bands
    assert complaints.score(ANGRY) < -0.6
    assert complaints.score(HAPPY) > 0.6
    assert complaints.score("   ") is None
    assert looks_like_complaint(ANGRY, complaints.score(ANGRY))
    assert not looks_like_complaint(SAD_NOT_COMPLAINT, complaints.score(SAD_NOT_COMPLAINT))


def test_a_complaint_like_social_post_opens_a_high_priority_complaint_ticket(
    client, tenant, new_customer, db
):
    customer_id = new_customer(tenant.org_id)
    body = log(client, tenant, customer_id, kind="social", channel="twitter", direction="inbound", body=ANGRY)

    assert body["sentiment"] is not None and body["sentiment"] <= complaints.URGENT_BELOW
    [ticket] = tickets_of(db, customer_id)
    assert body["ticket_id"] == ticket.id
    assert (ticket.kind, ticket.priority, ticket.channel, ticket.status) == (
        "complaint",
        "high",
        "twitter",
        "new",
    )
    assert ticket.subject.startswith("Complaint by social post: My order arrived broken")
    assert ticket.description == ANGRY
    assert ticket.acknowledged_at is not None  # acknowledged at once, like every ticket
    ticket_page = client.get(f"/api/v1/tickets/{ticket.id}", headers=tenant.headers)
    assert ticket_page.status_code == 200


def test_further_complaints_join_the_unresolved_ticket_and_a_new_one_opens_after_it_is_resolved(
    client, tenant, new_customer, db
):
    customer_id = new_customer(tenant.org_id)
    first = log(client, tenant, customer_id, kind="social", direction="inbound", body=ANGRY)
    second = log(client, tenant, customer_id, kind="email", direction="inbound", subject="Still broken",
                 body=FURIOUS)  # fmt: skip
    assert second["ticket_id"] == first["ticket_id"]
    assert len(tickets_of(db, customer_id)) == 1
    with db() as session:
        comments = list(session.scalars(select(TicketEvent.body).where(
            TicketEvent.ticket_id == first["ticket_id"], TicketEvent.kind == "comment")))  # fmt: skip
    assert len(comments) == 1 and FURIOUS in comments[0]

    for status in ("open", "resolved"):
        changed = client.patch(f"/api/v1/tickets/{first['ticket_id']}", json={"status": status},
                               headers=tenant.headers)  # fmt: skip
        assert changed.status_code == 200, changed.text
    third = log(client, tenant, customer_id, kind="chat", direction="inbound", body=FURIOUS)
    assert third["ticket_id"] not in (None, first["ticket_id"])
    assert len(tickets_of(db, customer_id)) == 2


def test_positive_neutral_outbound_and_spoken_messages_open_no_ticket(client, tenant, new_customer, db):
    customer_id = new_customer(tenant.org_id)
    happy = log(client, tenant, customer_id, kind="social", direction="inbound", body=HAPPY)
    sad = log(client, tenant, customer_id, kind="social", direction="inbound", body=SAD_NOT_COMPLAINT)
    ours = log(client, tenant, customer_id, kind="email", direction="outbound", body=ANGRY)
    call = log(client, tenant, customer_id, kind="call", direction="inbound", body=ANGRY)
    note = log(client, tenant, customer_id, kind="note", direction="internal", body=ANGRY)
    empty = log(client, tenant, customer_id, kind="chat", direction="inbound")

    assert happy["sentiment"] > 0.5 and sad["sentiment"] < 0
    assert call["sentiment"] < 0  # scored (the customer's words) but a call is not a written complaint
    assert ours["sentiment"] is None and note["sentiment"] is None and empty["sentiment"] is None
    assert all(item["ticket_id"] is None for item in (happy, sad, ours, call, note, empty))
    assert tickets_of(db, customer_id) == []


def test_an_edit_rescores_the_message_and_can_open_the_ticket(client, tenant, new_customer, db):
    customer_id = new_customer(tenant.org_id)
    item = log(client, tenant, customer_id, kind="email", direction="inbound", body="Hello")
    assert item["ticket_id"] is None
    changed = client.patch(f"{URL}/{item['id']}", json={"body": ANGRY}, headers=tenant.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["sentiment"] < -0.6 and changed.json()["ticket_id"] is not None
    again = client.patch(f"{URL}/{item['id']}", json={"outcome": "replied"}, headers=tenant.headers)
    assert again.json()["ticket_id"] == changed.json()["ticket_id"]
    assert len(tickets_of(db, customer_id)) == 1


def test_complaints_of_one_organisation_never_join_another_organisations_ticket(
    client, tenant, other_tenant, new_customer, db
):
    mine, theirs = new_customer(tenant.org_id), new_customer(other_tenant.org_id)
    a = log(client, tenant, mine, kind="social", direction="inbound", body=ANGRY)
    b = log(client, other_tenant, theirs, kind="social", direction="inbound", body=ANGRY)
    assert a["ticket_id"] != b["ticket_id"]
    with db() as session:
        orgs = dict(session.execute(select(Ticket.id, Ticket.org_id)).all())
        assert orgs[a["ticket_id"]] == tenant.org_id and orgs[b["ticket_id"]] == other_tenant.org_id
        assert session.scalar(select(func.count()).select_from(Ticket)) == 2


def test_a_complaint_logged_long_after_it_was_written_is_scored_but_opens_no_ticket(
    client, tenant, new_customer, db
):
    customer_id = new_customer(tenant.org_id)
    old = (datetime.now(UTC) - complaints.MAX_AGE - timedelta(hours=1)).isoformat()
    recent = (datetime.now(UTC) - complaints.MAX_AGE + timedelta(hours=1)).isoformat()
    history = log(client, tenant, customer_id, kind="email", direction="inbound", body=ANGRY, occurred_at=old)
    assert history["sentiment"] < -0.6 and history["ticket_id"] is None
    fresh = log(
        client, tenant, customer_id, kind="email", direction="inbound", body=ANGRY, occurred_at=recent
    )
    assert fresh["ticket_id"] is not None


def test_history_written_afterwards_can_leave_complaints_unticketed(db, tenant, new_customer):
    from patron.core.audit import Actor
    from patron.core.db import session_scope
    from patron.interactions import service as interactions_service

    customer_id = new_customer(tenant.org_id)
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        item = interactions_service.create_interaction(
            session, org_id=tenant.org_id, customer_id=customer_id, kind="social", direction="inbound",
            body=ANGRY, actor_user_id=tenant.user_id, complaint_tickets=False,
        )  # fmt: skip
        assert item.sentiment < -0.6 and item.ticket_id is None
    assert tickets_of(db, customer_id) == []
