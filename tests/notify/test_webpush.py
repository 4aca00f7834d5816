"""Web Push: the RFC 8291 test vector, VAPID, and delivery to a local push service that verifies the VAPID
signature and decrypts each payload with the subscription's own keys; gone and throttled subscriptions;
the opt-in page and the allow / don't allow choice."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from patron.notify import crypto
from patron.notify.delivery import deliver_message, run_due

from .conftest import decrypt_aes128gcm, message, send

# RFC 8291, Appendix A ("Intermediate Values for Encryption"): published test data, not credentials.
RFC_PLAINTEXT = b"When I grow up, I want to be a watermelon"
RFC_UA_PRIVATE = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
RFC_UA_PUBLIC = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
RFC_AS_PRIVATE = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
RFC_SALT = "DGv6ra1nlYgDCS1FRnbzlw"
RFC_AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
RFC_BODY = (
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml"
    "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT"
    "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
)


def test_encryption_reproduces_the_rfc_8291_example():
    body = crypto.encrypt(
        RFC_PLAINTEXT,
        p256dh=crypto.b64url_decode(RFC_UA_PUBLIC),
        auth=crypto.b64url_decode(RFC_AUTH),
        salt=crypto.b64url_decode(RFC_SALT),
        sender_key=crypto.load_private_key(crypto.b64url_decode(RFC_AS_PRIVATE)),
    )
    assert crypto.b64url_encode(body) == RFC_BODY


def test_the_test_push_service_decrypts_the_rfc_example():
    # the independent decryption used by the local push service, checked on the RFC's own body
    receiver = crypto.load_private_key(crypto.b64url_decode(RFC_UA_PRIVATE))
    plain = decrypt_aes128gcm(crypto.b64url_decode(RFC_BODY), private_key=receiver,
                              auth=crypto.b64url_decode(RFC_AUTH))  # fmt: skip
    assert plain == RFC_PLAINTEXT


def test_vapid_header_is_an_es256_jwt_for_the_endpoint_origin(vapid_keys):
    now = time.time()
    header = crypto.vapid_header(endpoint="https://push.example.net:8443/wpush/v2/abc",
                                 private_key=vapid_keys.private_key, subject="mailto:ops@shop.example", now=now)
    assert header.startswith("vapid t=")
    token, key = header[len("vapid t="):].split(", k=")
    assert key == vapid_keys.public_key
    claims = crypto.verify_vapid_jwt(token, key)
    assert claims == {"aud": "https://push.example.net:8443", "exp": int(now) + 12 * 3600,
                      "sub": "mailto:ops@shop.example"}
    other = crypto.generate_vapid_keys()
    with pytest.raises(ValueError):
        crypto.verify_vapid_jwt(token, other.public_key)
    # a token changed after signing does not verify
    head, body, signature = token.split(".")
    forged = crypto.b64url_encode(b'{"aud":"https://evil.example","exp":1,"sub":"mailto:x@y"}')
    with pytest.raises(ValueError):
        crypto.verify_vapid_jwt(f"{head}.{forged}.{signature}", key)


def test_generated_keys_are_a_p256_pair(vapid_keys):
    assert len(crypto.b64url_decode(vapid_keys.private_key)) == 32
    assert len(crypto.b64url_decode(vapid_keys.public_key)) == 65
    assert crypto.vapid_public_key(vapid_keys.private_key) == vapid_keys.public_key


@pytest.fixture
def push_settings(settings, vapid_keys):
    return settings.model_copy(update={
        "vapid_private_key": vapid_keys.private_key, "vapid_subject": "mailto:ops@shop.example",
        "public_url": "https://crm.example", "push_ttl_seconds": 3600,
        "notify_retry_base_seconds": 0.01, "notify_retry_max_seconds": 0.02,
    })  # fmt: skip


def _push_link(client, tenant, customer_id: int) -> str:
    response = client.post(f"/api/v1/customers/{customer_id}/push-link", headers=tenant.headers)
    assert response.status_code == 201, response.text
    url = response.json()["url"]
    assert url.startswith("http://127.0.0.1:8000/push/pcl_")
    return url.rsplit("/", 1)[-1]


def _subscribe(client, token: str, subscription) -> None:
    response = client.post(f"/api/v1/notify/push/{token}/subscriptions", json=subscription.as_json(),
                           headers={"User-Agent": "TestBrowser/1.0"})  # fmt: skip
    assert response.status_code == 201, response.text


def test_subscribing_records_consent_and_the_push_arrives_decrypted(
    client, db, tenant, make_customer, push_service, push_settings
):
    customer_id = make_customer(tenant)
    token = _push_link(client, tenant, customer_id)
    browser = push_service.subscribe()
    _subscribe(client, token, browser)

    consents = {c["channel"]: c for c in client.get(f"/api/v1/customers/{customer_id}/consents",
                                                    headers=tenant.headers).json()}  # fmt: skip
    assert consents["push"]["granted"] is True and consents["push"]["source"] == "push_page"
    subs = client.get(f"/api/v1/customers/{customer_id}/push-subscriptions", headers=tenant.headers).json()
    assert [(s["endpoint"], s["user_agent"]) for s in subs] == [(browser.endpoint, "TestBrowser/1.0")]

    message_id = send(client, tenant, customer_id, "push", subject="Your table is ready",
                      body="Come in at gate 3", data={"url": "https://shop.example/t/3", "kind": "offer"}).json()["id"]
    assert run_due(db, push_settings) == {"sent": 1}
    assert push_service.refused == []
    (got,) = push_service.received
    assert got["ttl"] == "3600"
    payload = got["payload"]
    assert payload["title"] == "Your table is ready" and payload["body"] == "Come in at gate 3"
    assert payload["message_id"] == message_id and payload["data"] == {"kind": "offer"}
    assert payload["url"].startswith("https://crm.example/c/pml_")
    sent = message(client, tenant, message_id)
    assert sent["status"] == "sent" and sent["provider_id"].startswith(push_service.base + "/msg/")

    # the tracked link opens the offer and marks the push clicked
    path = payload["url"][len("https://crm.example"):]
    click = client.get(path, follow_redirects=False)
    assert click.status_code == 302 and click.headers["location"] == "https://shop.example/t/3"
    assert message(client, tenant, message_id)["status"] == "clicked"


def test_a_gone_subscription_is_removed_and_the_message_fails_without_retry(
    client, db, tenant, make_customer, push_service, push_settings
):
    customer_id = make_customer(tenant)
    token = _push_link(client, tenant, customer_id)
    browser = push_service.subscribe()
    _subscribe(client, token, browser)
    push_service.script[browser.endpoint.rsplit("/", 1)[-1]] = [410]

    message_id = send(client, tenant, customer_id, "push").json()["id"]
    assert deliver_message(db, push_settings, message_id).status == "failed"
    failed = message(client, tenant, message_id)
    assert (failed["status"], failed["reason"], failed["attempts"]) == ("failed", "gone", 1)
    assert client.get(f"/api/v1/customers/{customer_id}/push-subscriptions", headers=tenant.headers).json() == []
    # the next push finds no subscription at all
    second = send(client, tenant, customer_id, "push").json()["id"]
    assert run_due(db, push_settings) == {"suppressed": 1}
    assert message(client, tenant, second)["reason"] == "no_address"
    assert push_service.received == []


def test_throttled_push_is_retried_then_delivered_once(client, db, tenant, make_customer, push_service,
                                                       push_settings):  # fmt: skip
    customer_id = make_customer(tenant)
    token = _push_link(client, tenant, customer_id)
    browser = push_service.subscribe()
    _subscribe(client, token, browser)
    push_service.script[browser.endpoint.rsplit("/", 1)[-1]] = [429, 503]
    message_id = send(client, tenant, customer_id, "push").json()["id"]

    statuses = []
    for _ in range(50):
        result = deliver_message(db, push_settings, message_id)
        if result.status is not None:
            statuses.append(result.status)
        if result.status == "sent":
            break
        time.sleep(0.03)
    assert statuses == ["queued", "queued", "sent"]
    assert len(push_service.received) == 1
    done = message(client, tenant, message_id)
    assert done["attempts"] == 3 and "HTTP 503" in [h["detail"] for h in done["history"]][2]


def test_dont_allow_records_the_refusal_and_push_is_suppressed(
    client, db, tenant, make_customer, push_service, push_settings
):
    customer_id = make_customer(tenant)
    token = _push_link(client, tenant, customer_id)
    _subscribe(client, token, push_service.subscribe())
    response = client.post(f"/api/v1/notify/push/{token}/refusal")
    assert response.status_code == 200
    history = client.get(f"/api/v1/customers/{customer_id}/consents/history", headers=tenant.headers).json()
    latest = history["items"][0]
    assert (latest["channel"], latest["granted"], latest["method"]) == ("push", False, "declined")
    assert client.get(f"/api/v1/customers/{customer_id}/push-subscriptions", headers=tenant.headers).json() == []
    message_id = send(client, tenant, customer_id, "push").json()["id"]
    assert run_due(db, push_settings) == {"suppressed": 1}
    assert message(client, tenant, message_id)["reason"] == "no_consent"
    assert push_service.received == []


def test_push_page_offers_the_choice_with_the_vapid_key(client, tenant, make_customer, app, vapid_keys):
    app.state.settings = app.state.settings.model_copy(update={"vapid_private_key": vapid_keys.private_key})
    customer_id = make_customer(tenant, first_name="Grace")
    token = _push_link(client, tenant, customer_id)
    page = client.get(f"/push/{token}")
    assert page.status_code == 200
    assert "Hello Grace" in page.text
    assert f'data-key="{vapid_keys.public_key}"' in page.text
    assert 'data-testid="push-allow"' in page.text and 'data-testid="push-refuse"' in page.text
    assert client.get("/push/pcl_unknown").status_code == 404
    script = client.get("/push/optin.js")
    assert script.status_code == 200 and "pushManager.subscribe" in script.text
    assert "showNotification" in client.get("/push/sw.js").text
    key = client.get("/api/v1/notify/vapid-public-key").json()
    assert key == {"public_key": vapid_keys.public_key}


def test_bad_subscriptions_are_refused_naming_the_field(client, tenant, make_customer, push_service):
    customer_id = make_customer(tenant)
    token = _push_link(client, tenant, customer_id)
    good = push_service.subscribe().as_json()
    cases = [
        (good | {"keys": {"p256dh": "AAAA", "auth": good["keys"]["auth"]}}, "keys.p256dh"),
        (good | {"keys": {"p256dh": good["keys"]["p256dh"], "auth": "c2hvcnQ"}}, "keys.auth"),
        (good | {"endpoint": "ftp://push.example/x"}, "endpoint"),
        ({"endpoint": good["endpoint"]}, "keys"),
    ]
    for body, field in cases:
        response = client.post(f"/api/v1/notify/push/{token}/subscriptions", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["field"] == field
    assert client.post("/api/v1/notify/push/pml_nope/subscriptions", json=good).status_code == 404
    assert client.get(f"/api/v1/customers/{customer_id}/push-subscriptions", headers=tenant.headers).json() == []
    consents = client.get(f"/api/v1/customers/{customer_id}/consents", headers=tenant.headers).json()
    assert {c["channel"]: c["granted"] for c in consents}["push"] is False


def test_a_message_token_also_opens_the_push_page(client, db, tenant, make_customer, smtp_server, settings):
    mail_settings = settings.model_copy(update={"smtp_url": smtp_server.url})
    customer_id = make_customer(tenant, consents=("email",))
    send(client, tenant, customer_id, "email")
    run_due(db, mail_settings)
    token = smtp_server.mails()[0]["List-Unsubscribe"].strip().rsplit("/", 1)[-1].rstrip(">")
    assert client.get(f"/push/{token}").status_code == 200


def test_private_key_setting_must_be_a_p256_scalar():
    from patron.core.errors import Invalid

    with pytest.raises(Invalid) as caught:
        crypto.vapid_private_key("not-a-key")
    assert caught.value.field == "vapid_private_key"
    assert isinstance(crypto.vapid_private_key(crypto.generate_vapid_keys().private_key), ec.EllipticCurvePrivateKey)
