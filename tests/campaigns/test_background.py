"""Launching in the background: a big one-off answers 202 and is sent after the response, its progress
visible on the campaign; a launch cut off half-way is finished by the campaign job without sending
anything twice; the vectorised assignment gives every customer the group the per-customer rule gives."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from patron.campaigns import sending
from patron.campaigns.models import CampaignRecipient, CampaignVariant
from patron.campaigns.sending import run_due_campaigns
from patron.core.audit import Actor
from patron.core.db import session_scope, utcnow
from patron.notify.models import Message

from .conftest import CAMPAIGNS

CONSENTED, UNREACHABLE = 10, 2


@pytest.fixture
def settings(settings):
    """Audiences of five customers or more launch in the background."""
    return settings.model_copy(update={"campaign_background_from": 5})


@pytest.fixture
def audience(tenant, make_customer) -> dict[int, str]:
    """Twelve customers: ten consented to e-mail, two to nothing. Customer id -> first name."""
    names = {}
    for i in range(CONSENTED + UNREACHABLE):
        name = f"Kim{i:02d}"
        names[make_customer(tenant, consents=("email",) if i < CONSENTED else (), first_name=name)] = name
    return names


def _job(db, now):
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=None, label="job:campaigns")
        return run_due_campaigns(session, now=now)


def _state(db, campaign_id: int) -> tuple[list[CampaignRecipient], list[Message]]:
    with db() as session:
        recipients = list(session.scalars(select(CampaignRecipient).where(
            CampaignRecipient.campaign_id == campaign_id).order_by(CampaignRecipient.id)))  # fmt: skip
        messages = list(session.scalars(select(Message).where(Message.campaign_id == campaign_id)))
    return recipients, messages


def test_a_big_one_off_launches_in_the_background_and_reaches_every_consented_customer_once(
    client, db, tenant, other_tenant, make_tenant, audience, make_campaign
):
    viewer = make_tenant("Acme", role="viewer")
    campaign = make_campaign(tenant, variants=[{"name": "A", "subject": "Hi {{ first_name }}",
                                                "body": "{{ first_name }}, 10% off."}])  # fmt: skip
    url = f"{CAMPAIGNS}/{campaign['id']}"
    assert client.post(f"{url}/launch", headers=viewer.headers).status_code == 403
    assert client.post(f"{url}/launch", headers=other_tenant.headers).status_code == 404

    response = client.post(f"{url}/launch", headers=tenant.headers)
    assert response.status_code == 202, response.text
    assert response.json()["campaign"]["status"] == "launching" and response.json()["queued"] == 0

    done = client.get(url, headers=tenant.headers).json()
    assert done["status"] == "done" and done["launch_progress"] is None
    recipients, messages = _state(db, campaign["id"])
    assert sorted(r.customer_id for r in recipients) == sorted(audience)
    consented = sorted(audience)[:CONSENTED]
    assert sorted(m.customer_id for m in messages) == consented
    assert {m.customer_id: m.subject for m in messages} == {i: f"Hi {audience[i]}" for i in consented}
    assert Counter(r.skipped for r in recipients) == {None: CONSENTED, "no_consent": UNREACHABLE}
    again = client.post(f"{url}/launch", headers=tenant.headers)
    assert again.status_code == 409 and again.json()["field"] == "status"


def test_a_launch_cut_off_half_way_is_finished_by_the_job_without_sending_twice(
    client, db, tenant, audience, make_campaign, monkeypatch
):
    campaign = make_campaign(tenant, holdout_percent=20, budget="0.09", costs={"email": "0.01"})
    url = f"{CAMPAIGNS}/{campaign['id']}"
    monkeypatch.setattr(sending, "LAUNCH_CHUNK", 4)
    real = sending.notify_bulk.enqueue_many
    calls = []

    def crash_on_the_second_chunk(session, **kwargs):
        calls.append(len(kwargs["messages"]))
        if len(calls) == 2:
            raise RuntimeError("the process stopped")
        return real(session, **kwargs)

    monkeypatch.setattr(sending.notify_bulk, "enqueue_many", crash_on_the_second_chunk)
    assert client.post(f"{url}/launch", headers=tenant.headers).status_code == 202

    cut = client.get(url, headers=tenant.headers).json()
    assert cut["status"] == "launching" and cut["launch_progress"] == 4  # the first chunk was committed
    recipients, messages = _state(db, campaign["id"])
    assert len(recipients) == 4 and len(messages) == calls[0]
    first_keys = {m.idempotency_key for m in messages}

    monkeypatch.setattr(sending.notify_bulk, "enqueue_many", real)
    _job(db, now=utcnow())  # written to a moment ago: still taken to be under way, left alone
    assert client.get(url, headers=tenant.headers).json()["status"] == "launching"
    _job(db, now=utcnow() + sending.LAUNCH_STALE + timedelta(seconds=1))

    finished = client.get(url, headers=tenant.headers).json()
    recipients, messages = _state(db, campaign["id"])
    assert sorted(r.customer_id for r in recipients) == sorted(audience)  # each customer once
    assert len({m.idempotency_key for m in messages}) == len(messages)
    assert first_keys <= {m.idempotency_key for m in messages}
    sent = [r for r in recipients if r.message_id is not None]
    assert sorted(m.id for m in messages) == sorted(r.message_id for r in sent)
    # the spend is counted across the cut: nine messages at 0.01 fit the budget of 0.09, never a tenth
    assert len(sent) == min(9, sum(1 for r in recipients if not r.holdout and r.customer_id in
                                   sorted(audience)[:CONSENTED]))  # fmt: skip
    assert float(finished["spent"]) == pytest.approx(0.01 * len(sent))
    assert finished["status"] in ("done", "paused")


def test_the_vectorised_assignment_matches_the_per_customer_rule_and_the_shares():
    variants = [CampaignVariant(id=1, name="A", weight=1), CampaignVariant(id=2, name="B", weight=3)]
    ids = list(range(1, 20_001))
    groups = sending.assign_many(7, ids, 20, variants)
    for customer_id, group in zip(ids, groups.tolist(), strict=True):
        variant = sending.assign(7, customer_id, 20, variants)
        assert group == (-1 if variant is None else variants.index(variant))
    counts = Counter(groups.tolist())
    # hold-out 20 %, then A:B = 1:3 of the rest (20 % / 60 %); 4 standard deviations of a binomial
    for group, share in ((-1, 0.2), (0, 0.2), (1, 0.6)):
        sd = (len(ids) * share * (1 - share)) ** 0.5
        assert abs(counts[group] - len(ids) * share) < 4 * sd


def test_a_message_that_renders_empty_skips_its_customer_not_the_launch(
    client, db, tenant, audience, make_campaign
):
    # the sample customer has 120 points, so the template is accepted; nobody here has any points
    body = "{% if points > 100 %}You have {{ points }} points.{% endif %}"
    campaign = make_campaign(tenant, variants=[{"name": "A", "subject": "Points", "body": body}])
    url = f"{CAMPAIGNS}/{campaign['id']}"
    assert client.post(f"{url}/launch", headers=tenant.headers).status_code == 202
    assert client.get(url, headers=tenant.headers).json()["status"] == "done"
    recipients, messages = _state(db, campaign["id"])
    assert messages == []
    assert Counter(r.skipped for r in recipients) == {"template": CONSENTED, "no_consent": UNREACHABLE}


def test_the_campaign_page_launches_in_the_background_and_shows_the_progress(
    browser, db, tenant, audience, make_campaign, monkeypatch
):
    campaign = make_campaign(tenant)
    monkeypatch.setattr(sending, "LAUNCH_CHUNK", 5)
    real = sending.notify_bulk.enqueue_many
    calls = []

    def crash_on_the_third_chunk(session, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("the process stopped")
        return real(session, **kwargs)

    monkeypatch.setattr(sending.notify_bulk, "enqueue_many", crash_on_the_third_chunk)
    response = browser.post(f"/campaigns/{campaign['id']}/launch", {})
    assert response.status_code == 303
    page = browser.get(response.headers["location"])
    assert "Launching: the messages are being queued in the background." in page.text
    assert 'data-launch-progress="' in page.text
    assert "<span data-progress-count>10</span> of 12 customers taken in so far" in page.text
    assert "/static/campaigns.js" in page.text
