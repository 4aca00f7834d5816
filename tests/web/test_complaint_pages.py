"""The customer page shows an inbound message's sentiment and the complaint ticket it opened."""

from __future__ import annotations

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.interactions import service as interactions_service


def test_the_interactions_card_shows_the_score_and_links_the_complaint_ticket(browser, seed, tenant, db):
    customer_id = seed.customer(tenant)
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, user_id=tenant.user_id, label="test")
        complaint = interactions_service.create_interaction(
            session, org_id=tenant.org_id, customer_id=customer_id, kind="social", direction="inbound",
            body="The charger arrived broken, worst service ever. I want a refund!", actor_user_id=tenant.user_id,
        )  # fmt: skip
        ticket_id = complaint.ticket_id
        score = complaint.sentiment
    assert ticket_id is not None
    page = browser.get(f"/customers/{customer_id}").text
    assert f'href="/tickets/{ticket_id}">complaint ticket</a>' in page
    assert f"{score:+.2f}" in page and "badge-danger" in page
    ticket_page = browser.get(f"/tickets/{ticket_id}").text
    assert "Complaint by social post: The charger arrived broken" in ticket_page
