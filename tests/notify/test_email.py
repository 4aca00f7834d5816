"""E-mail against a real SMTP server (aiosmtpd): what arrives, consent checked when sending, the
unsubscribe link and one-click POST landing in the consent ledger, open and click tracking, retries with
backoff on a failing server, never a second copy."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from patron.notify.delivery import backoff_seconds, deliver_message, run_due

from .conftest import grant, message, send


@pytest.fixture
def mail_settings(settings, smtp_server):
    return settings.model_copy(update={
        "smtp_url": smtp_server.url, "public_url": "https://crm.example", "mail_from": "Shop <news@shop.example>",
        "notify_retry_base_seconds": 0.01, "notify_retry_max_seconds": 0.02, "notify_max_attempts": 3,
    })  # fmt: skip


def _token(mail) -> str:
    match = re.fullmatch(r"<https://crm\.example/u/(\S+)>", mail["List-Unsubscribe"].strip())
    assert match, mail["List-Unsubscribe"]
    return match.group(1)


def _deliver_until_done(db, settings, message_id: int) -> None:
    """Retries are due a few milliseconds later; deliver until the message leaves the queue."""
    for _ in range(50):
        result = deliver_message(db, settings, message_id)
        if result.status not in (None, "queued"):
            return
        import time

        time.sleep(0.03)
    raise AssertionError("message still queued")


def test_consented_customer_receives_the_mail_with_unsubscribe_headers(
    client, db, tenant, make_customer, smtp_server, mail_settings
):
    customer_id = make_customer(tenant, consents=("email",), email="ada@example.com")
    response = send(client, tenant, customer_id, "email", subject="Spring offer",
                    body="20% off this week: https://shop.example/spring", data={"url": "https://shop.example/app"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "queued" and created["attempts"] == 0

    assert run_due(db, mail_settings) == {"sent": 1}
    (mail,) = smtp_server.mails()
    assert smtp_server.received[0][0] == ["ada@example.com"]
    assert mail["Subject"] == "Spring offer"
    assert mail["From"] == "Shop <news@shop.example>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = _token(mail)
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "20% off this week: https://shop.example/spring" in text
    assert f"https://crm.example/u/{token}" in text
    assert f'href="https://crm.example/c/{token}?u={quote("https://shop.example/spring", safe="")}"' in html
    assert f'src="https://crm.example/o/{token}.gif"' in html

    sent = message(client, tenant, created["id"])
    assert sent["status"] == "sent" and sent["attempts"] == 1 and sent["address"] == "ada@example.com"
    assert sent["provider_id"] == mail["Message-ID"]
    assert [h["status"] for h in sent["history"]] == ["queued", "sent"]


def test_customer_without_consent_is_suppressed_and_nothing_is_sent(
    client, db, tenant, make_customer, smtp_server, mail_settings
):
    never_asked = make_customer(tenant)
    withdrawn = make_customer(tenant, consents=("email",))
    grant(client, tenant, withdrawn, "email", False)
    only_sms = make_customer(tenant, consents=("sms",))
    ids = [send(client, tenant, cid, "email").json()["id"] for cid in (never_asked, withdrawn, only_sms)]

    assert run_due(db, mail_settings) == {"suppressed": 3}
    assert smtp_server.received == []
    for message_id in ids:
        found = message(client, tenant, message_id)
        assert (found["status"], found["reason"], found["sent_at"]) == ("suppressed", "no_consent", None)


def test_consent_is_checked_when_sending_not_when_queueing(client, db, tenant, make_customer, smtp_server,
                                                           mail_settings):  # fmt: skip
    customer_id = make_customer(tenant, consents=("email",))
    message_id = send(client, tenant, customer_id, "email").json()["id"]
    grant(client, tenant, customer_id, "email", False)  # opts out while the message waits
    assert run_due(db, mail_settings) == {"suppressed": 1}
    assert smtp_server.received == []
    assert message(client, tenant, message_id)["reason"] == "no_consent"


def test_unsubscribe_link_withdraws_consent_in_the_ledger_and_the_next_send_is_suppressed(
    client, db, tenant, make_customer, smtp_server, mail_settings
):
    customer_id = make_customer(tenant, consents=("email",))
    send(client, tenant, customer_id, "email")
    run_due(db, mail_settings)
    token = _token(smtp_server.mails()[0])

    page = client.get(f"/u/{token}")
    assert page.status_code == 200 and "unsubscribed" in page.text
    ledger = client.get(f"/api/v1/customers/{customer_id}/consents/history", headers=tenant.headers).json()
    assert [(e["channel"], e["granted"], e["source"]) for e in ledger["items"]] == [
        ("email", False, "unsubscribe_link"), ("email", True, "web_form")]
    # opening the link again adds nothing to the ledger
    assert client.get(f"/u/{token}").status_code == 200
    again = client.get(f"/api/v1/customers/{customer_id}/consents/history", headers=tenant.headers).json()
    assert again["total"] == 2
    consents = {c["channel"]: c for c in client.get(f"/api/v1/customers/{customer_id}/consents",
                                                    headers=tenant.headers).json()}  # fmt: skip
    assert consents["email"]["granted"] is False
    assert consents["email"]["source"] == "unsubscribe_link" and consents["email"]["method"] == "link"

    second = send(client, tenant, customer_id, "email").json()["id"]
    assert run_due(db, mail_settings) == {"suppressed": 1}
    assert len(smtp_server.received) == 1
    assert message(client, tenant, second)["reason"] == "no_consent"


def test_one_click_post_unsubscribes(client, db, tenant, make_customer, smtp_server, mail_settings):
    customer_id = make_customer(tenant, consents=("email",))
    send(client, tenant, customer_id, "email")
    run_due(db, mail_settings)
    token = _token(smtp_server.mails()[0])
    response = client.post(f"/u/{token}", content="List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    state = {c["channel"]: c for c in client.get(f"/api/v1/customers/{customer_id}/consents",
                                                 headers=tenant.headers).json()}["email"]  # fmt: skip
    assert (state["granted"], state["method"]) == (False, "one_click")


def test_unknown_unsubscribe_token_is_404_and_changes_nothing(client, tenant, make_customer):
    customer_id = make_customer(tenant, consents=("email",))
    assert client.get("/u/pml_not-a-real-token").status_code == 404
    assert client.post("/u/nonsense").status_code == 404
    states = client.get(f"/api/v1/customers/{customer_id}/consents", headers=tenant.headers).json()
    assert {c["channel"]: c["granted"] for c in states}["email"] is True


def test_open_pixel_and_click_tracking(client, db, tenant, make_customer, smtp_server, mail_settings):
    customer_id = make_customer(tenant, consents=("email",))
    message_id = send(client, tenant, customer_id, "email", body="See https://shop.example/a").json()["id"]
    run_due(db, mail_settings)
    token = _token(smtp_server.mails()[0])

    pixel = client.get(f"/o/{token}.gif")
    assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
    assert pixel.content.startswith(b"GIF89a")
    opened = message(client, tenant, message_id)
    assert opened["status"] == "opened" and opened["opened_at"] is not None

    # only the message's own links redirect: no open redirect
    bad = client.get(f"/c/{token}", params={"u": "https://evil.example/"}, follow_redirects=False)
    assert bad.status_code == 422
    assert message(client, tenant, message_id)["status"] == "opened"
    good = client.get(f"/c/{token}", params={"u": "https://shop.example/a"}, follow_redirects=False)
    assert good.status_code == 302 and good.headers["location"] == "https://shop.example/a"
    clicked = message(client, tenant, message_id)
    assert clicked["status"] == "clicked" and clicked["clicked_at"] is not None
    # a later open does not move it back
    client.get(f"/o/{token}.gif")
    assert message(client, tenant, message_id)["status"] == "clicked"
    assert [h["status"] for h in clicked["history"]] == ["queued", "sent", "opened", "clicked"]


def test_failing_server_is_retried_with_backoff_then_sent_once(
    client, db, tenant, make_customer, smtp_server, mail_settings
):
    customer_id = make_customer(tenant, consents=("email",))
    message_id = send(client, tenant, customer_id, "email").json()["id"]
    smtp_server.fail_next = 2

    first = deliver_message(db, mail_settings, message_id)
    assert first.status == "queued" and first.retry_at is not None
    waiting = message(client, tenant, message_id)
    assert waiting["attempts"] == 1 and "451" in waiting["last_error"]

    _deliver_until_done(db, mail_settings, message_id)
    done = message(client, tenant, message_id)
    assert done["status"] == "sent" and done["attempts"] == 3
    assert smtp_server.refused == 2 and len(smtp_server.received) == 1
    # delivering again (a duplicate queue entry) sends nothing more
    assert deliver_message(db, mail_settings, message_id).status is None
    assert len(smtp_server.received) == 1
    statuses = [h["status"] for h in done["history"]]
    assert statuses == ["queued", "queued", "queued", "sent"]


def test_attempts_run_out_and_the_message_fails(client, db, tenant, make_customer, smtp_server, mail_settings):
    customer_id = make_customer(tenant, consents=("email",))
    message_id = send(client, tenant, customer_id, "email").json()["id"]
    smtp_server.fail_next = 10
    _deliver_until_done(db, mail_settings, message_id)
    failed = message(client, tenant, message_id)
    assert (failed["status"], failed["reason"], failed["attempts"]) == ("failed", "attempts_exhausted", 3)
    assert smtp_server.received == []


def test_permanent_refusal_is_not_retried(client, db, tenant, make_customer, smtp_server, mail_settings):
    customer_id = make_customer(tenant, consents=("email",))
    message_id = send(client, tenant, customer_id, "email").json()["id"]
    smtp_server.reject_all = True
    assert deliver_message(db, mail_settings, message_id).status == "failed"
    failed = message(client, tenant, message_id)
    assert (failed["reason"], failed["attempts"]) == ("rejected", 1) and "550" in failed["last_error"]


def test_backoff_doubles_with_jitter_and_is_capped(settings):
    import random

    tuned = settings.model_copy(update={"notify_retry_base_seconds": 10.0, "notify_retry_max_seconds": 60.0})
    rng = random.Random(7)
    for attempts, full in ((1, 10.0), (2, 20.0), (3, 40.0), (4, 60.0), (9, 60.0)):
        delays = [backoff_seconds(attempts, tuned, rng=rng) for _ in range(200)]
        assert min(delays) >= full / 2 and max(delays) <= full
        assert max(delays) - min(delays) > full / 4  # jitter spreads them


def test_suppressed_address_receives_nothing(client, db, tenant, make_customer, smtp_server, mail_settings):
    customer_id = make_customer(tenant, consents=("email",), email="Blocked@Example.com")
    added = client.post("/api/v1/notify/suppressions", headers=tenant.headers,
                        json={"kind": "email", "value": "blocked@example.COM", "reason": "complaint"})
    assert added.status_code == 201, added.text
    assert added.json()["value"] == "blocked@example.com"
    message_id = send(client, tenant, customer_id, "email").json()["id"]
    assert run_due(db, mail_settings) == {"suppressed": 1}
    assert smtp_server.received == []
    assert message(client, tenant, message_id)["reason"] == "suppressed"

    client.delete(f"/api/v1/notify/suppressions/{added.json()['id']}", headers=tenant.headers)
    send(client, tenant, customer_id, "email")
    assert run_due(db, mail_settings) == {"sent": 1}


def test_customer_without_an_address_is_suppressed(client, db, tenant, make_customer, smtp_server, mail_settings):
    customer_id = make_customer(tenant, consents=("email",), email=None, phone="+4930123456")
    message_id = send(client, tenant, customer_id, "email").json()["id"]
    assert run_due(db, mail_settings) == {"suppressed": 1}
    assert message(client, tenant, message_id)["reason"] == "no_address"


def test_without_smtp_settings_the_message_fails_not_configured(client, db, tenant, make_customer, settings):
    customer_id = make_customer(tenant, consents=("email",))
    message_id = send(client, tenant, customer_id, "email").json()["id"]
    assert run_due(db, settings) == {"failed": 1}
    assert message(client, tenant, message_id)["reason"] == "not_configured"


def test_a_retry_is_not_claimed_before_it_is_due(client, db, tenant, make_customer, smtp_server, mail_settings):
    slow = mail_settings.model_copy(update={"notify_retry_base_seconds": 60.0, "notify_retry_max_seconds": 120.0})
    customer_id = make_customer(tenant, consents=("email",))
    message_id = send(client, tenant, customer_id, "email").json()["id"]
    smtp_server.fail_next = 1
    result = deliver_message(db, slow, message_id)
    assert result.status == "queued"
    import time

    assert 30 <= result.retry_at - time.time() <= 60
    assert deliver_message(db, slow, message_id).status is None  # not due: nobody claims it
    assert run_due(db, slow) == {}
    assert smtp_server.refused == 1 and smtp_server.received == []
