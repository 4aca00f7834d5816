"""Identities (unique per organisation, lookup), the consent ledger, and saved places learned from visits."""

from sqlalchemy import func, select

from patron.customers import service as customer_service
from patron.customers.models import ConsentRecord, Identity, Place
from patron.customers.places import haversine_m
from tests.customers.conftest import problem


def test_identities_are_normalised_unique_and_found(api, other_api, db):
    ann = api.customer(first_name="Ann")
    bob = api.customer(first_name="Bob")
    added = api.post(
        f"/customers/{ann['id']}/identities", json={"type": "email", "value": " Ann@Example.COM "}
    )
    assert added.status_code == 201 and added.json()["value"] == "ann@example.com"
    phone = api.post(
        f"/customers/{ann['id']}/identities", json={"type": "phone", "value": "+44 20 7946 0958"}
    )
    assert phone.json()["value"] == "+442079460958"
    api.post(f"/customers/{ann['id']}/identities", json={"type": "loyalty_card", "value": "LC-1"})
    body = problem(
        api.post(f"/customers/{bob['id']}/identities", json={"type": "email", "value": "ann@example.com"}),
        409,
        "value",
    )
    assert "customer" in body["detail"]
    problem(
        api.post(f"/customers/{ann['id']}/identities", json={"type": "loyalty_card", "value": "LC-1"}),
        409,
        "value",
    )
    problem(api.post(f"/customers/{ann['id']}/identities", json={"type": "pager", "value": "1"}), 422, "type")
    problem(
        api.post(f"/customers/{ann['id']}/identities", json={"type": "email", "value": "nope"}), 422, "value"
    )
    problem(
        api.post(f"/customers/{ann['id']}/identities", json={"type": "device", "value": "x" * 255}),
        422,
        "value",
    )

    found = api.get("/customers/lookup", params={"type": "phone", "value": "0044 20 7946 0958"})
    assert found.status_code == 200 and found.json()["id"] == ann["id"]
    assert (
        api.get("/customers/lookup", params={"type": "email", "value": "ANN@example.com"}).json()["id"]
        == ann["id"]
    )
    problem(api.get("/customers/lookup", params={"type": "email", "value": "who@example.com"}), 404, "value")
    problem(api.get("/customers/lookup", params={"type": "fax", "value": "1"}), 422, "type")
    # the same identity may exist in another organisation
    theirs = other_api.customer(first_name="Ann elsewhere")
    assert (
        other_api.post(
            f"/customers/{theirs['id']}/identities", json={"type": "loyalty_card", "value": "LC-1"}
        ).status_code
        == 201
    )
    assert (
        other_api.get("/customers/lookup", params={"type": "loyalty_card", "value": "LC-1"}).json()["id"]
        == theirs["id"]
    )

    identity_id = next(
        i["id"] for i in api.get(f"/customers/{ann['id']}/identities").json() if i["type"] == "loyalty_card"
    )
    assert api.delete(f"/customers/{ann['id']}/identities/{identity_id}").status_code == 204
    problem(api.delete(f"/customers/{ann['id']}/identities/{identity_id}"), 404, "identity_id")
    with db() as session:
        assert session.scalar(select(func.count()).select_from(Identity)) == 3


def test_the_identity_mirroring_the_email_cannot_be_removed_alone(api):
    ann = api.customer(first_name="Ann", email="ann@example.com")
    identity = api.get(f"/customers/{ann['id']}/identities").json()[0]
    problem(api.delete(f"/customers/{ann['id']}/identities/{identity['id']}"), 409, "identity_id")


def test_consent_ledger_and_current_state(api, db, tenant):
    ann = api.customer(first_name="Ann")
    cid = ann["id"]
    assert (
        api.post(
            f"/customers/{cid}/consents",
            json={"channel": "email", "granted": True, "source": "web_form", "method": "double_opt_in"},
        ).status_code
        == 201
    )
    api.post(f"/customers/{cid}/consents", json={"channel": "sms", "granted": True, "source": "app"})
    revoked = api.post(
        f"/customers/{cid}/consents",
        json={"channel": "email", "granted": False, "source": "call", "note": "asked on the phone"},
    )
    assert revoked.json()["recorded_by_id"] == tenant.user_id
    current = {c["channel"]: c for c in api.get(f"/customers/{cid}/consents").json()}
    assert set(current) == {"email", "sms", "push", "in_app", "phone", "data_processing"}
    assert current["email"]["granted"] is False and current["email"]["source"] == "call"
    assert current["sms"]["granted"] is True and current["sms"]["since"]
    assert current["push"] == {
        "channel": "push",
        "granted": False,
        "since": None,
        "source": None,
        "method": None,
    }
    assert api.get(f"/customers/{cid}").json()["consents"]["sms"] is True

    history = api.get(f"/customers/{cid}/consents/history").json()
    assert history["total"] == 3
    assert [(h["channel"], h["granted"]) for h in history["items"]] == [
        ("email", False),
        ("sms", True),
        ("email", True),
    ]
    only_email = api.get(f"/customers/{cid}/consents/history", params={"channel": "email"}).json()
    assert only_email["total"] == 2

    kinds = [item["kind"] for item in api.get(f"/customers/{cid}/timeline").json()["items"]]
    assert kinds[:3] == ["consent.revoked", "consent.granted", "consent.granted"]

    with db() as session:
        assert customer_service.has_consent(session, org_id=tenant.org_id, customer_id=cid, channel="sms")
        assert not customer_service.has_consent(
            session, org_id=tenant.org_id, customer_id=cid, channel="email"
        )
        assert not customer_service.has_consent(
            session, org_id=tenant.org_id, customer_id=cid, channel="push"
        )
        assert customer_service.customers_with_consent(
            session, org_id=tenant.org_id, customer_ids=[cid], channel="sms"
        ) == {cid}
        states = customer_service.current_consents(session, org_id=tenant.org_id, customer_id=cid)
        assert states["sms"].granted and states["sms"].source == "app"


def test_bad_consent_changes_are_refused(api, db):
    cid = api.customer(first_name="Ann")["id"]
    problem(
        api.post(f"/customers/{cid}/consents", json={"channel": "fax", "granted": True, "source": "x"}),
        422,
        "channel",
    )
    problem(
        api.post(f"/customers/{cid}/consents", json={"channel": "email", "granted": "maybe", "source": "x"}),
        422,
        "granted",
    )
    problem(api.post(f"/customers/{cid}/consents", json={"channel": "email", "granted": True}), 422, "source")
    problem(
        api.post(
            f"/customers/{cid}/consents",
            json={"channel": "email", "granted": True, "source": "x", "note": "n" * 501},
        ),
        422,
        "note",
    )
    problem(
        api.post("/customers/999999/consents", json={"channel": "email", "granted": True, "source": "x"}), 404
    )
    with db() as session:
        assert session.scalar(select(func.count()).select_from(ConsentRecord)) == 0


def test_places_crud_and_visits_cluster_within_150_m(api, db):
    cid = api.customer(first_name="Ann")["id"]
    home = api.post(
        f"/customers/{cid}/places",
        json={"label": "Home", "latitude": 52.520008, "longitude": 13.404954, "address": "Alexanderplatz 1"},
    )
    assert home.status_code == 201 and home.json()["visit_count"] == 0
    home_id = home.json()["id"]

    # ~100 m north of home: counted at home
    near = api.post(f"/customers/{cid}/places/visit", json={"latitude": 52.520908, "longitude": 13.404954})
    assert near.status_code == 200, near.text
    assert near.json()["created"] is False and near.json()["place"]["id"] == home_id
    assert 95 < near.json()["distance_m"] < 105
    # ~200 m away: a new place
    far = api.post(
        f"/customers/{cid}/places/visit", json={"latitude": 52.521808, "longitude": 13.404954, "label": "Gym"}
    )
    assert far.json()["created"] is True and far.json()["place"]["label"] == "Gym"
    gym_id = far.json()["place"]["id"]
    for _ in range(2):
        api.post(f"/customers/{cid}/places/visit", json={"latitude": 52.5218, "longitude": 13.40496})
    places = api.get(f"/customers/{cid}/places").json()
    assert [(p["id"], p["visit_count"]) for p in places] == [(gym_id, 3), (home_id, 1)]

    changed = api.patch(f"/customers/{cid}/places/{home_id}", json={"label": "Home (new)"})
    assert changed.json()["label"] == "Home (new)" and changed.json()["latitude"] == 52.520008
    assert api.get(f"/customers/{cid}/places/{home_id}").json()["address"] == "Alexanderplatz 1"
    problem(
        api.post(f"/customers/{cid}/places", json={"label": "X", "latitude": 91, "longitude": 0}),
        422,
        "latitude",
    )
    problem(
        api.post(f"/customers/{cid}/places", json={"label": "X", "latitude": 0, "longitude": -181}),
        422,
        "longitude",
    )
    problem(
        api.post(f"/customers/{cid}/places/visit", json={"latitude": "north", "longitude": 0}),
        422,
        "latitude",
    )
    problem(
        api.post(f"/customers/{cid}/places", json={"label": "", "latitude": 0, "longitude": 0}), 422, "label"
    )
    problem(api.patch(f"/customers/{cid}/places/{home_id}", json={"latitude": 100}), 422, "latitude")
    assert api.delete(f"/customers/{cid}/places/{home_id}").status_code == 204
    problem(api.get(f"/customers/{cid}/places/{home_id}"), 404, "place_id")
    with db() as session:
        assert session.scalar(select(func.count()).select_from(Place)) == 1


def test_haversine_against_a_known_distance():
    # Berlin Brandenburg Gate to Paris Eiffel Tower: about 878 km on the great circle
    assert abs(haversine_m(52.516275, 13.377704, 48.858370, 2.294481) / 1000 - 878.0) < 2
