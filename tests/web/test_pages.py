"""The web app's pages through the HTTP client: every page renders, forms work, tenants stay apart."""

from __future__ import annotations

import re

import pytest

from patron.accounts import service as accounts_service
from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.customers import service as customers_service
from patron.interactions import service as interactions_service
from patron.sales import service as sales_service
from patron.tickets import service as tickets_service
from tests.web.conftest import Browser, sign_in


@pytest.fixture
def acme(tenant, seed):
    """Acme with a customer who has a ticket, a deal and a task."""
    customer_id = seed.customer(
        tenant,
        email="maria.keller@example.com",
        phone="+49 151 2345678",
        tags=["vip"],
        income_band="middle",
        city="Berlin",
    )
    return {
        "customer_id": customer_id,
        "ticket_id": seed.ticket(tenant, customer_id, subject="Driver could not find the pick-up point"),
        "deal_id": seed.deal(tenant, customer_id, title="Company account for 40 riders"),
        "task_id": seed.task(tenant, title="Send the proposal", customer_id=customer_id),
    }


def test_every_main_page_renders_for_an_admin(browser, acme):
    expected = {
        "/": "Service desk",
        "/customers": "Maria Keller",
        "/customers/new": "New customer",
        f"/customers/{acme['customer_id']}": "Driver could not find the pick-up point",
        f"/customers/{acme['customer_id']}/edit": "maria.keller@example.com",
        "/tickets": "Driver could not find the pick-up point",
        f"/tickets/{acme['ticket_id']}": "Automatic acknowledgement",
        "/pipeline": "Company account for 40 riders",
        "/tasks": "Send the proposal",
        "/tasks?scope=all&state=any": "Send the proposal",
        "/activity": "Staff activity",
        "/notifications": "Notifications",
        "/admin/users": "What each role may do",
        "/admin/api-keys": "Create a key",
        "/admin/audit": "customers",
    }
    for path, text in expected.items():
        response = browser.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert response.headers["content-type"].startswith("text/html")
        assert text in response.text, path


def test_pages_carry_strict_security_headers(browser):
    response = browser.get("/")
    assert response.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


def test_the_admin_link_is_hidden_from_an_agent(client, make_tenant):
    agent = make_tenant("Acme", role="agent")
    sign_in(client, agent.email, agent.password)
    page = client.get("/").text
    assert 'href="/admin"' not in page
    assert 'href="/activity"' not in page
    assert 'href="/tickets"' in page


# --- tenants ----------------------------------------------------------------------------------------------


def test_another_organisations_customer_and_ticket_are_not_found(browser, other_tenant, seed, read):
    their_customer = seed.customer(other_tenant, first_name="Gina", last_name="Globex")
    their_ticket = seed.ticket(other_tenant, their_customer, subject="Globex secret")
    their_deal = seed.deal(other_tenant, their_customer, title="Globex deal")
    for path in (
        f"/customers/{their_customer}",
        f"/customers/{their_customer}/edit",
        f"/tickets/{their_ticket}",
    ):
        response = browser.get(path)
        assert response.status_code == 404, path
        assert "Gina" not in response.text and "Globex secret" not in response.text
        assert (
            "We couldn&#39;t find that page" in response.text or "We couldn't find that page" in response.text
        )
    writes = [
        (f"/customers/{their_customer}/tickets", {"subject": "x", "kind": "request", "priority": "low"}),
        (f"/customers/{their_customer}/edit", {"first_name": "Hacked"}),
        (f"/customers/{their_customer}/consents", {"channel": "email", "granted": "1"}),
        (f"/customers/{their_customer}/interactions", {"kind": "call", "direction": "outbound"}),
        (f"/tickets/{their_ticket}/reply", {"body": "hi", "visibility": "public"}),
        (f"/tickets/{their_ticket}/status", {"status": "open"}),
        (f"/tickets/{their_ticket}/close", {}),
        (f"/deals/{their_deal}/move", {"stage_id": "1"}),
    ]
    for path, data in writes:
        assert browser.post(path, data).status_code == 404, path

    def untouched(session):
        customer = customers_service.get_customer(
            session, org_id=other_tenant.org_id, customer_id=their_customer
        )
        ticket = tickets_service.get_ticket_or_raise(
            session, org_id=other_tenant.org_id, ticket_id=their_ticket
        )
        events = tickets_service.list_ticket_events(session, ticket=ticket)
        tickets = tickets_service.list_tickets(session, org_id=other_tenant.org_id)[1]
        consents = customers_service.current_consents(
            session, org_id=other_tenant.org_id, customer_id=their_customer
        )
        return (
            customer.first_name,
            ticket.status,
            [e.kind for e in events],
            tickets,
            consents["email"].granted,
        )

    assert read(untouched) == ("Gina", "new", ["acknowledgement"], 1, False)


def test_the_queue_and_lists_show_only_the_own_organisation(browser, acme, other_tenant, seed):
    their_customer = seed.customer(other_tenant, first_name="Gina", last_name="Globex")
    seed.ticket(other_tenant, their_customer, subject="Globex secret")
    assert "Globex secret" not in browser.get("/tickets?status=all").text
    assert "Gina Globex" not in browser.get("/customers").text
    searched = browser.get("/customers?q=Gina").text
    assert "Gina Globex" not in searched and "No customers match." in searched


# --- customers ------------------------------------------------------------------------------------------------


def test_search_and_filters_find_the_customer(browser, tenant, seed):
    seed.customer(tenant, first_name="Jonas", last_name="Weber", income_band="low", tags=["student"])
    seed.customer(
        tenant,
        first_name="Aylin",
        last_name="Demir",
        income_band="high",
        tags=["vip"],
        email="aylin@example.com",
    )
    by_name = browser.get("/customers?q=aylin").text
    assert "Aylin Demir" in by_name and "Jonas Weber" not in by_name
    by_tag = browser.get("/customers?tag=student").text
    assert "Jonas Weber" in by_tag and "Aylin Demir" not in by_tag
    by_band = browser.get("/customers?income_band=high").text
    assert "Aylin Demir" in by_band and "Jonas Weber" not in by_band
    mine = browser.get(f"/customers?owner={tenant.user_id}").text
    assert "No customers match." in mine


def test_a_bad_filter_is_a_readable_message(browser):
    response = browser.get("/customers?income_band=billionaire")
    assert response.status_code == 200
    assert "alert-error" in response.text


def test_the_customer_list_pages(browser, tenant, seed):
    for i in range(27):
        seed.customer(tenant, first_name=f"Person{i:02d}", last_name="Paged")
    first = browser.get("/customers").text
    assert "1–25 of 27 customers" in first
    assert 'rel="next"' in first
    second = browser.get("/customers?offset=25").text
    assert "26–27 of 27 customers" in second and "Person26" in second


def test_create_a_customer(browser, tenant, read):
    response = browser.post(
        "/customers/new",
        {
            "first_name": "Sofia",
            "last_name": "Rossi",
            "email": "sofia@example.com",
            "phone": "+49 176 4041188",
            "birth_year": "1995",
            "gender": "female",
            "income_band": "middle",
            "tags": "commuter, vip",
            "lifestyle_tags": "runner",
            "owner_id": str(tenant.user_id),
            "country": "de",
        },
    )
    assert response.status_code == 303, response.text
    customer_id = int(response.headers["location"].rsplit("/", 1)[1])
    page = browser.get(response.headers["location"]).text
    assert "Customer Sofia Rossi created." in page

    def stored(session):
        customer = customers_service.get_customer(session, org_id=tenant.org_id, customer_id=customer_id)
        tags = customers_service.tags_for(session, org_id=tenant.org_id, customer_ids=[customer_id])[
            customer_id
        ]
        return customer.email, customer.birth_year, customer.country, customer.owner_id, tags

    assert read(stored) == ("sofia@example.com", 1995, "DE", tenant.user_id, ["commuter", "vip"])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-email", "email"),
        ("birth_year", "nineteen", "Birth year must be a whole number."),
        ("birth_year", "1700", "Birth year must be at least 1900."),
        ("first_name", "x" * 101, "First name must be at most 100 characters."),
        ("gender", "robot", "Gender must be one of"),
        ("first_name", "nul\x00byte", "cannot be stored"),
    ],
)
def test_a_bad_customer_form_shows_the_error_next_to_the_field_and_writes_nothing(
    browser, tenant, read, field, value, message
):
    data = {"first_name": "Sofia", "last_name": "Rossi", field: value}
    response = browser.post("/customers/new", data)
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert message in response.text
    assert read(lambda s: customers_service.count_customers(s, org_id=tenant.org_id)) == 0


def test_a_taken_email_is_a_form_error(browser, tenant, seed, read):
    seed.customer(tenant, email="taken@example.com")
    response = browser.post("/customers/new", {"first_name": "Other", "email": "taken@example.com"})
    assert response.status_code == 422
    assert 'id="email-error"' in response.text
    assert read(lambda s: customers_service.count_customers(s, org_id=tenant.org_id)) == 1


def test_edit_a_profile(browser, tenant, acme, read):
    path = f"/customers/{acme['customer_id']}/edit"
    form = browser.get(path).text
    assert 'value="maria.keller@example.com"' in form
    response = browser.post(
        path,
        {
            "first_name": "Maria",
            "last_name": "Keller-Wolf",
            "email": "maria.keller@example.com",
            "tags": "vip, commuter",
        },
    )
    assert response.status_code == 303
    page = browser.get(f"/customers/{acme['customer_id']}").text
    assert "Keller-Wolf" in page and "Profile updated" in page
    assert (
        read(
            lambda s: (
                customers_service.get_customer(s, org_id=tenant.org_id, customer_id=acme["customer_id"]).phone
            )
        )
        is None
    )


def test_the_360_page_shows_every_part_of_the_customer(browser, tenant, acme, db):
    from patron.customers import places as customer_places

    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, user_id=tenant.user_id, label="test")
        place = customer_places.create_place(
            session,
            org_id=tenant.org_id,
            customer_id=acme["customer_id"],
            label="Home",
            latitude=52.53,
            longitude=13.41,
            address="Zionskirchstr. 12",
        )
        for _ in range(3):
            customer_places.do_record_visit(
                session,
                org_id=tenant.org_id,
                customer_id=acme["customer_id"],
                latitude=place.latitude,
                longitude=place.longitude,
            )
        customers_service.create_identity(
            session,
            org_id=tenant.org_id,
            customer_id=acme["customer_id"],
            type="loyalty_card",
            value="LC-0042",
        )
        customers_service.do_record_consent(
            session,
            org_id=tenant.org_id,
            customer_id=acme["customer_id"],
            channel="sms",
            granted=True,
            source="app",
        )
        interactions_service.create_interaction(
            session,
            org_id=tenant.org_id,
            customer_id=acme["customer_id"],
            kind="call",
            subject="Asked about the ride pass",
            actor_user_id=tenant.user_id,
        )
    page = browser.get(f"/customers/{acme['customer_id']}").text
    for text in (
        "Zionskirchstr. 12",
        "LC-0042",
        'data-channel="sms"',
        "Asked about the ride pass",
        "Company account for 40 riders",
        "Driver could not find the pick-up point",
        "Send the proposal",
        'data-kind="ticket.created"',
        'data-kind="consent.granted"',
        'data-kind="interaction.call"',
    ):
        assert text in page, text
    assert ">3</td>" in page  # visit count of the saved place
    # newest first: the call was logged after the ticket was opened
    assert page.index('data-kind="interaction.call"') < page.index('data-kind="ticket.created"')


def test_grant_and_revoke_consent(browser, tenant, acme, read):
    path = f"/customers/{acme['customer_id']}/consents"
    assert browser.post(path, {"channel": "email", "granted": "1"}).status_code == 303
    state = read(
        lambda s: customers_service.current_consents(
            s, org_id=tenant.org_id, customer_id=acme["customer_id"]
        )["email"]
    )
    assert state.granted and state.source == "staff_web"
    assert browser.post(path, {"channel": "email", "granted": "0"}).status_code == 303
    history, total = read(
        lambda s: customers_service.list_consent_history(
            s, org_id=tenant.org_id, customer_id=acme["customer_id"]
        )
    )
    assert total == 2 and not history[0].granted
    assert browser.post(path, {"channel": "pigeon", "granted": "1"}).status_code == 422


def test_add_and_remove_an_identity(browser, tenant, acme, read):
    path = f"/customers/{acme['customer_id']}/identities"
    assert browser.post(path, {"type": "app_user", "value": "nw-48213"}).status_code == 303
    identities = read(
        lambda s: [
            (i.id, i.type, i.value)
            for i in customers_service.list_identities(
                s, org_id=tenant.org_id, customer_id=acme["customer_id"]
            )
        ]
    )
    added = next(i for i in identities if i[1] == "app_user")
    assert "Maria Keller" in browser.get("/customers?q=nw-48213").text  # found by the new identity
    again = browser.post(path, {"type": "app_user", "value": "nw-48213"})
    assert again.status_code == 422 and 'id="value-error"' in again.text
    assert browser.post(f"{path}/{added[0]}/delete").status_code == 303
    remaining = read(
        lambda s: customers_service.list_identities(s, org_id=tenant.org_id, customer_id=acme["customer_id"])
    )
    assert all(i.type != "app_user" for i in remaining)


def test_log_an_interaction(browser, tenant, acme, read):
    response = browser.post(
        f"/customers/{acme['customer_id']}/interactions",
        {
            "kind": "call",
            "direction": "inbound",
            "subject": "Lost umbrella",
            "outcome": "found",
            "duration_minutes": "4",
        },
    )
    assert response.status_code == 303
    items, total = read(
        lambda s: interactions_service.list_interactions(
            s,
            org_id=tenant.org_id,
            filters=interactions_service.InteractionFilter(customer_id=acme["customer_id"]),
        )
    )
    assert total == 1 and items[0].duration_seconds == 240 and items[0].user_id == tenant.user_id
    bad = browser.post(
        f"/customers/{acme['customer_id']}/interactions", {"kind": "telepathy", "direction": "inbound"}
    )
    assert bad.status_code == 422 and 'id="kind-error"' in bad.text


def test_create_a_ticket_from_the_360_page(browser, tenant, acme):
    response = browser.post(
        f"/customers/{acme['customer_id']}/tickets",
        {
            "subject": "Invoice shows two rides twice",
            "kind": "request",
            "priority": "normal",
            "channel": "phone",
            "category": "Billing",
            "description": "March invoice",
            "assignee_id": str(tenant.user_id),
        },
    )
    assert response.status_code == 303
    page = browser.get(response.headers["location"]).text
    assert "opened and acknowledged" in page
    assert "Invoice shows two rides twice" in page
    assert "Invoice shows two rides twice" in browser.get("/tickets").text


def test_a_ticket_without_subject_is_a_form_error(browser, tenant, acme, read):
    response = browser.post(
        f"/customers/{acme['customer_id']}/tickets", {"subject": " ", "kind": "request", "priority": "urgent"}
    )
    assert response.status_code == 422
    assert 'id="subject-error"' in response.text
    assert read(lambda s: tickets_service.list_tickets(s, org_id=tenant.org_id)[1]) == 1


# --- tickets --------------------------------------------------------------------------------------------------


def test_the_queue_filters(browser, tenant, acme, seed):
    seed.ticket(tenant, acme["customer_id"], subject="Low priority question", priority="low", kind="question")
    low = browser.get("/tickets?priority=low").text
    assert "Low priority question" in low and "Driver could not find" not in low
    assert "Driver could not find" not in browser.get("/tickets?mine=true").text
    assert "No tickets match" in browser.get("/tickets?breached=true").text
    assert "Low priority question" in browser.get("/tickets?q=question").text
    assert 'data-sla="ok"' in browser.get("/tickets").text


def test_reply_assign_change_status_and_close_a_ticket(browser, tenant, acme, read):
    path = f"/tickets/{acme['ticket_id']}"
    assert (
        browser.post(
            f"{path}/reply", {"body": "Internal: checking GPS", "visibility": "internal"}
        ).status_code
        == 303
    )
    assert (
        browser.post(f"{path}/reply", {"body": "Sorry, we fixed it.", "visibility": "public"}).status_code
        == 303
    )
    assert browser.post(f"{path}/assign", {"assignee_id": str(tenant.user_id)}).status_code == 303
    refused = browser.post(f"{path}/status", {"status": "closed"})
    assert refused.status_code == 422 and "cannot move to closed" in refused.text
    assert browser.post(f"{path}/close", {"satisfaction": "4", "comment": "Thanks"}).status_code == 303

    def state(session):
        ticket = tickets_service.get_ticket_or_raise(
            session, org_id=tenant.org_id, ticket_id=acme["ticket_id"]
        )
        events = tickets_service.list_ticket_events(session, ticket=ticket)
        return (
            ticket.status,
            ticket.satisfaction,
            ticket.assignee_id,
            [(e.kind, e.public) for e in events if e.kind == "comment"],
        )

    status, satisfaction, assignee, comments = read(state)
    assert (status, satisfaction, assignee) == ("closed", 4, tenant.user_id)
    assert comments == [("comment", False), ("comment", True)]
    page = browser.get(path).text
    assert "Internal note" in page and "Sorry, we fixed it." in page and "★★★★☆" in page


def test_a_bad_satisfaction_score_is_refused_and_leaves_the_ticket_open(browser, tenant, acme, read):
    response = browser.post(f"/tickets/{acme['ticket_id']}/close", {"satisfaction": "9"})
    assert response.status_code == 422
    assert 'id="satisfaction-error"' in response.text
    status = read(
        lambda s: (
            tickets_service.get_ticket_or_raise(s, org_id=tenant.org_id, ticket_id=acme["ticket_id"]).status
        )
    )
    assert status == "new"


def test_an_empty_reply_is_a_form_error(browser, acme):
    response = browser.post(f"/tickets/{acme['ticket_id']}/reply", {"body": "", "visibility": "public"})
    assert response.status_code == 422 and 'id="body-error"' in response.text


# --- sales ----------------------------------------------------------------------------------------------------


def test_move_a_deal_without_javascript(browser, tenant, acme, read):
    stages = read(
        lambda s: [
            (st.id, st.name)
            for st in sales_service.list_stages(
                s,
                org_id=tenant.org_id,
                pipeline_id=sales_service.get_default_pipeline(s, org_id=tenant.org_id).id,
            )
        ]
    )
    won = next(sid for sid, name in stages if name == "Won")
    response = browser.post(f"/deals/{acme['deal_id']}/move", {"stage_id": str(won)})
    assert response.status_code == 303
    assert "moved to Won" in browser.get("/pipeline").text
    deal = read(lambda s: sales_service.get_deal_or_raise(s, org_id=tenant.org_id, deal_id=acme["deal_id"]))
    assert deal.status == "won"


def test_add_a_deal_on_the_board(browser, tenant, read):
    response = browser.post(
        "/deals", {"title": "Airport shuttle", "value": "42000", "expected_close": "2030-01-31"}
    )
    assert response.status_code == 303
    deals, _ = read(lambda s: sales_service.list_deals(s, org_id=tenant.org_id))
    assert [(d.title, int(d.value)) for d in deals] == [("Airport shuttle", 42000)]
    bad = browser.post("/deals", {"title": "", "value": "lots"})
    assert bad.status_code == 422 and 'id="title-error"' in bad.text and 'id="value-error"' in bad.text


def test_tasks_add_complete_and_reopen(browser, tenant, acme, read):
    assert (
        browser.post("/tasks", {"title": "Prepare pricing", "due_at": "2030-05-01T09:30"}).status_code == 303
    )
    tasks, _ = read(
        lambda s: sales_service.list_tasks(
            s, org_id=tenant.org_id, filters=sales_service.TaskFilter(done=False)
        )
    )
    assert {t.title for t in tasks} == {"Send the proposal", "Prepare pricing"}
    row = '<span class="row-link">Send the proposal</span>'
    assert browser.post(f"/tasks/{acme['task_id']}/complete").status_code == 303
    assert row not in browser.get("/tasks").text
    assert row in browser.get("/tasks?state=done").text
    assert browser.post(f"/tasks/{acme['task_id']}/reopen").status_code == 303
    assert row in browser.get("/tasks").text


def test_activity_for_a_custom_period(browser):
    assert browser.get("/activity?since=2025-01-01&until=2025-01-31").status_code == 200
    assert browser.get("/activity?since=2025-02-31").status_code == 422


# --- roles ----------------------------------------------------------------------------------------------------


def test_a_viewer_sees_no_write_actions_and_is_refused_server_side(client, make_tenant, seed, read):
    admin = make_tenant("Acme", role="admin")
    customer_id = seed.customer(admin)
    viewer = make_tenant("Acme", role="viewer")
    browser = Browser(client, sign_in(client, viewer.email, viewer.password))
    page = browser.get(f"/customers/{customer_id}").text
    assert "Create a ticket" not in page and "Edit profile" not in page and "Revoke" not in page
    response = browser.post(
        f"/customers/{customer_id}/tickets", {"subject": "x", "kind": "request", "priority": "low"}
    )
    assert response.status_code == 403
    assert "may not tickets write" in response.text
    assert read(lambda s: tickets_service.list_tickets(s, org_id=admin.org_id)[1]) == 0
    assert browser.get("/admin/users").status_code == 403
    assert browser.get("/admin").status_code == 403
    assert browser.get("/customers/new").status_code == 403


# --- notifications and errors -----------------------------------------------------------------------------------


def test_the_bell_counts_unread_notifications(browser, tenant, db):
    with session_scope(db) as session:
        for title in ("Ticket #1 escalated to you", "Reminder: call back"):
            accounts_service.notify_user(
                session,
                org_id=tenant.org_id,
                user_id=tenant.user_id,
                kind="escalation",
                title=title,
                link="/tickets",
            )
    assert 'data-testid="unread-count">2<' in browser.get("/").text
    page = browser.get("/notifications").text
    assert "Ticket #1 escalated to you" in page
    first_id = int(re.search(r'action="/notifications/(\d+)/read"', page).group(1))
    opened = browser.post(f"/notifications/{first_id}/read", {"open": "1"})
    assert opened.headers["location"] == "/tickets"
    assert 'data-testid="unread-count">1<' in browser.get("/").text
    assert browser.post("/notifications/read-all").status_code == 303
    assert 'data-testid="unread-count"' not in browser.get("/").text


def test_unknown_pages_are_readable_html_while_the_api_stays_json(browser):
    page = browser.get("/no-such-page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Go to the dashboard" in page.text
    api = browser.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.headers["content-type"].startswith("application/problem+json")


def test_a_bad_query_parameter_is_a_readable_page(browser):
    response = browser.get("/tickets?offset=-5")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "Some input was not valid" in response.text
