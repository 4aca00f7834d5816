"""Campaign CRUD, audience count and preview, a one-off launch delivered over real SMTP, bad input,
tenant isolation and permissions."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from patron.campaigns.models import Campaign, CampaignRecipient
from patron.notify.delivery import run_due

from .conftest import CAMPAIGNS, campaign_body, grant, launch


def _count(db, model) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_create_read_update_delete(client, tenant, make_campaign):
    created = make_campaign(tenant, name="Welcome", holdout_percent=10,
                            variants=[{"name": "A", "weight": 2, "subject": "Hi", "body": "Hello {{ first_name }}"},
                                      {"name": "B", "subject": "Hey", "body": "Hey {{ first_name }}"}])  # fmt: skip
    assert created["status"] == "draft" and created["kind"] == "one_off" and created["holdout_percent"] == 10
    assert [(v["name"], v["weight"]) for v in created["variants"]] == [("A", 2), ("B", 1)]
    url = f"{CAMPAIGNS}/{created['id']}"
    assert client.get(url, headers=tenant.headers).json()["name"] == "Welcome"
    listed = client.get(CAMPAIGNS, headers=tenant.headers).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == created["id"]

    changed = client.patch(url, json={"name": "Welcome back", "budget": "12.50"}, headers=tenant.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Welcome back" and changed.json()["budget"] == "12.5000"
    assert len(changed.json()["variants"]) == 2

    assert client.delete(url, headers=tenant.headers).status_code == 204
    assert client.get(url, headers=tenant.headers).status_code == 404


def test_audience_count_separates_total_from_reachable(client, tenant, make_customer):
    emailable = [make_customer(tenant, consents=("email",)) for _ in range(3)]
    sms_only = make_customer(tenant, consents=("sms",), phone="+4915112345678")
    make_customer(tenant)  # no consent at all
    withdrawn = make_customer(tenant, consents=("email",))
    grant(client, tenant, withdrawn, "email", False)
    body = {"audience": {"kind": "all"}, "channels": ["email"]}
    counted = client.post(f"{CAMPAIGNS}/audience/count", json=body, headers=tenant.headers).json()
    assert counted == {"total": 6, "reachable": 3, "by_channel": {"email": 3}}
    body["channels"] = ["email", "sms"]
    counted = client.post(f"{CAMPAIGNS}/audience/count", json=body, headers=tenant.headers).json()
    assert counted == {"total": 6, "reachable": 4, "by_channel": {"email": 3, "sms": 1}}
    assert emailable and sms_only


def test_filter_audience_uses_the_customer_search(client, tenant, make_customer):
    tagged = make_customer(tenant, consents=("email",))
    make_customer(tenant, consents=("email",))
    assert client.patch(
        f"/api/v1/customers/{tagged}", json={"tags": ["vip"]}, headers=tenant.headers
    ).is_success
    body = {"audience": {"kind": "filter", "filter": {"tags": ["vip"]}}, "channels": ["email"]}
    counted = client.post(f"{CAMPAIGNS}/audience/count", json=body, headers=tenant.headers).json()
    assert counted["total"] == 1 and counted["reachable"] == 1


def test_one_off_launch_delivers_personalised_mail_to_consented_customers_only(
    client, db, tenant, make_customer, make_campaign, smtp_server, mail_settings
):
    ada = make_customer(tenant, consents=("email",), email="ada@example.com", first_name="Ada")
    make_customer(tenant, email="bob@example.com", first_name="Bob")  # never consented
    campaign = make_campaign(tenant, variants=[{"name": "A", "subject": "For {{ first_name }}",
                                                "body": "Dear {{ first_name }}, you have {{ points }} points."}])  # fmt: skip
    launched = launch(client, tenant, campaign["id"])
    assert launched["campaign"]["status"] == "done"
    assert (launched["assigned"], launched["queued"], launched["skipped"]) == (2, 1, {"no_consent": 1})

    assert run_due(db, mail_settings) == {"sent": 1}
    (mail,) = smtp_server.mails()
    assert smtp_server.received[0][0] == ["ada@example.com"]
    assert mail["Subject"] == "For Ada"
    assert "Dear Ada, you have 0 points." in mail.get_body(("plain",)).get_content()

    recipients = client.get(f"{CAMPAIGNS}/{campaign['id']}/recipients", headers=tenant.headers).json()
    by_customer = {r["customer_id"]: r for r in recipients["items"]}
    assert by_customer[ada]["message_status"] == "sent" and by_customer[ada]["group"] == "A"
    assert [r["skipped"] for r in recipients["items"] if r["customer_id"] != ada] == ["no_consent"]
    # launching again is refused, and nothing more is sent
    assert client.post(f"{CAMPAIGNS}/{campaign['id']}/launch", headers=tenant.headers).status_code == 409
    assert _count(db, CampaignRecipient) == 2


def test_preview_personalises_for_sample_customers_and_writes_nothing(client, db, tenant, make_customer,
                                                                     make_campaign):  # fmt: skip
    make_customer(tenant, consents=("email",), first_name="Grace")
    make_customer(tenant, first_name="Alan")
    campaign = make_campaign(tenant, kind="triggered", trigger={"name": "entered_shop"},
                             variants=[{"name": "A", "subject": "Hi", "body": "{{ first_name }}, {{ shop }} is near."}])  # fmt: skip
    response = client.post(f"{CAMPAIGNS}/{campaign['id']}/preview", json={"size": 5, "trigger_data": {"shop": "Mitte"}},
                           headers=tenant.headers)  # fmt: skip
    assert response.status_code == 200, response.text
    shown = {p["name"].split()[0]: p for p in response.json()}
    assert shown["Grace"]["body"] == "Grace, Mitte is near." and shown["Grace"]["channel"] == "email"
    assert shown["Alan"]["channel"] is None
    assert _count(db, CampaignRecipient) == 0


@pytest.mark.parametrize(("source", "field"), [
    ("{{ ''.__class__ }}", "variants[0].body"),
    ("{{ first_name.__class__.__mro__[1].__subclasses__() }}", "variants[0].body"),
    ("{{ first_name.upper.__globals__ }}", "variants[0].body"),
    ("{{ trigger.update({'a': 1}) }}", "variants[0].body"),
    ("{{ cycler.__init__.__globals__.os }}", "variants[0].body"),
    ("{{ first_name|attr('__class__') }}", "variants[0].body"),
    ("{{ config }}", "variants[0].body"),
    ("{% for x in range(10) %}{{ x }}{% endfor %}", "variants[0].body"),
    ("{{ first_name", "variants[0].body"),
])  # fmt: skip
def test_template_escapes_and_errors_are_refused_naming_the_field(client, db, tenant, source, field):
    body = campaign_body(variants=[{"name": "A", "subject": "Hi", "body": source}])
    response = client.post(CAMPAIGNS, json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field
    assert _count(db, Campaign) == 0


def test_a_subject_template_error_names_the_subject_of_its_variant(client, db, tenant):
    body = campaign_body(variants=[{"name": "A", "subject": "Hi", "body": "x"},
                                   {"name": "B", "subject": "{{ first_name.__class__ }}", "body": "y"}])  # fmt: skip
    response = client.post(CAMPAIGNS, json=body, headers=tenant.headers)
    assert (response.status_code, response.json()["field"]) == (422, "variants[1].subject")


@pytest.mark.parametrize(("fields", "field"), [
    ({"channels": []}, "channels"),
    ({"channels": ["fax"]}, "channels.0"),
    ({"channels": ["email", "email"]}, "channels"),
    ({"audience": {"kind": "filter", "filter": {}}}, "audience.filter"),
    ({"audience": {"kind": "filter", "filter": {"gender": "zebra"}}}, "audience.filter.gender"),
    ({"audience": {"kind": "segment"}}, "audience.segment_id"),
    ({"audience": {"kind": "segment", "segment_id": 4}}, "audience.segment_id"),
    ({"kind": "recurring"}, "recurrence"),
    ({"kind": "recurring", "recurrence": {"every": "weekly", "time": "09:00"}}, "recurrence.weekday"),
    ({"kind": "recurring", "recurrence": {"every": "daily", "time": "25:00"}}, "recurrence.time"),
    ({"kind": "triggered"}, "trigger.name"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"holdout_percent": 80}, "holdout_percent"),
    ({"conversion": {"kind": "visit"}}, "conversion.name"),
    ({"conversion": {"kind": "order", "window_hours": 0}}, "conversion.window_hours"),
    ({"variants": []}, "variants"),
    ({"variants": [{"name": "A", "subject": "", "body": "x"}]}, "variants[0].subject"),
    ({"variants": [{"name": "A", "subject": "s", "body": "x"}, {"name": "A", "subject": "s", "body": "y"}]},
     "variants[1].name"),
    ({"variants": [{"name": "holdout", "subject": "s", "body": "x"}]}, "variants[0].name"),
    ({"budget": "-1"}, "budget"),
    ({"send_at": "2030-01-01T09:00:00"}, "send_at"),
])  # fmt: skip
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(client, db, tenant, fields, field):
    response = client.post(CAMPAIGNS, json=campaign_body(**fields), headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert _count(db, Campaign) == 0


def test_a_duplicate_name_is_a_conflict(client, tenant, make_campaign):
    make_campaign(tenant, name="Twice")
    response = client.post(CAMPAIGNS, json=campaign_body(name="Twice"), headers=tenant.headers)
    assert (response.status_code, response.json()["field"]) == (409, "name")


def test_malformed_json_is_400(client, tenant):
    response = client.post(CAMPAIGNS, content=b"{not json", headers={**tenant.headers,
                                                                      "Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 400 and response.json()["field"] == "body"


def test_another_organisations_campaign_is_404_everywhere(client, tenant, other_tenant, make_campaign):
    theirs = make_campaign(other_tenant)
    url = f"{CAMPAIGNS}/{theirs['id']}"
    for method, path, body in [("get", url, None), ("patch", url, {"name": "x"}), ("delete", url, None),
                               ("post", f"{url}/launch", None), ("post", f"{url}/pause", None),
                               ("post", f"{url}/preview", {}), ("get", f"{url}/results", None),
                               ("get", f"{url}/recipients", None)]:  # fmt: skip
        response = client.request(method, path, json=body, headers=tenant.headers)
        assert response.status_code == 404, (method, path, response.text)
    assert client.get(CAMPAIGNS, headers=tenant.headers).json()["total"] == 0
    assert client.get(url, headers=other_tenant.headers).json()["status"] == "draft"


def test_a_viewer_reads_but_cannot_write_or_launch(client, db, tenant, make_tenant, make_campaign):
    campaign = make_campaign(tenant)
    viewer = make_tenant("Acme", role="viewer")
    agent = make_tenant("Acme", role="agent")
    url = f"{CAMPAIGNS}/{campaign['id']}"
    assert client.get(url, headers=viewer.headers).status_code == 200
    assert client.get(f"{url}/results", headers=viewer.headers).status_code == 200
    assert client.post(CAMPAIGNS, json=campaign_body(), headers=viewer.headers).status_code == 403
    assert client.patch(url, json={"name": "x"}, headers=viewer.headers).status_code == 403
    assert client.post(f"{url}/launch", headers=viewer.headers).status_code == 403
    assert client.post(f"{url}/launch", headers=agent.headers).status_code == 403
    assert _count(db, Campaign) == 1
    assert client.get(url, headers=tenant.headers).json()["status"] == "draft"
