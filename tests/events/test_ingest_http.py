"""HTTP ingest end to end with real devices and ingest keys: JSON arrays and NDJSON, duplicate ids,
per-event rejections kept as dead letters, authentication, size limits, and tenant isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tests.devices.support import INGEST_URL, Api, accepted, problem, send, without_processors

MAX_EVENTS = 20
MAX_EVENT_BYTES = 512
MAX_BODY = 64 * 1024


@pytest.fixture
def settings(settings):
    return without_processors(settings).model_copy(
        update={
            "ingest_max_events": MAX_EVENTS,
            "ingest_max_event_bytes": MAX_EVENT_BYTES,
            "max_body_bytes": MAX_BODY,
        }
    )


@pytest.fixture
def api(client, tenant) -> Api:
    return Api(client, tenant)


@pytest.fixture
def other_api(client, other_tenant) -> Api:
    return Api(client, other_tenant)


@pytest.fixture
def taxi(api) -> dict:
    """A taxi bound to a customer; ``taxi["customer_id"]``, ``taxi["key"]``."""
    return api.device(name="Taxi 12", customer_id=api.customer(first_name="Ada", email="ada@example.com"))


def device_events(api, device_id: int, **params) -> dict:
    return api.events(f"/devices/{device_id}/events", **params)


def test_a_json_array_from_a_device_is_stored_for_its_customer(api, client, taxi):
    response = send(
        client,
        taxi["key"],
        [
            {
                "id": "e1",
                "type": "trip.start",
                "ts": "2024-05-01T08:00:00+02:00",
                "props": {"lat": 52.5, "lon": 13.4},
            },
            {"id": "e2", "type": "trip.end", "ts": 1714550400, "props": {"fare": 12.5, "km": 7}},
            {"type": "heartbeat"},
        ],
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 3, "rejected": []}

    events = device_events(api, taxi["id"])
    assert events["total"] == 3
    by_id = {e["id"]: e for e in events["items"]}
    start = by_id["e1"]
    assert (start["device_id"], start["customer_id"], start["type"], start["source"]) == (
        taxi["id"],
        taxi["customer_id"],
        "trip.start",
        "http",
    )
    assert datetime.fromisoformat(start["ts"]) == datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
    assert (start["lat"], start["lon"]) == (52.5, 13.4)
    assert by_id["e2"]["props"] == {"fare": 12.5, "km": 7}
    assert datetime.fromisoformat(by_id["e2"]["ts"]) == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    generated = [e for e in events["items"] if e["type"] == "heartbeat"][0]
    assert len(generated["id"]) == 32 and generated["lat"] is None
    assert api.dead_letters() == []


def test_ndjson_with_and_without_its_content_type(api, client, taxi):
    lines = [{"id": f"n{i}", "type": "telemetry", "props": {"speed": i}} for i in range(3)]
    accepted(send(client, taxi["key"], lines, ndjson=True), 3)
    plain = b"\n".join(orjson.dumps({"id": f"p{i}", "type": "telemetry"}) for i in range(2))
    accepted(send(client, taxi["key"], plain, headers={"Content-Type": "text/plain"}), 2)
    assert device_events(api, taxi["id"])["total"] == 5


def test_one_event_object_and_the_x_patron_key_header(api, client, taxi):
    body = orjson.dumps({"id": "solo", "type": "door.open"})
    response = client.post(INGEST_URL, content=body, headers={"X-Patron-Key": taxi["key"]})
    assert response.json() == {"accepted": 1, "rejected": []}
    assert device_events(api, taxi["id"])["items"][0]["id"] == "solo"


def test_a_resent_id_is_accepted_again_but_stored_once(api, client, taxi):
    batch = [{"id": "a", "type": "trip.end"}, {"id": "b", "type": "trip.end"}]
    accepted(send(client, taxi["key"], batch), 2)
    accepted(send(client, taxi["key"], batch), 2)
    accepted(send(client, taxi["key"], [{"id": "c", "type": "trip.end"}, {"id": "c", "type": "trip.end"}]), 2)
    events = device_events(api, taxi["id"])
    assert events["total"] == 3
    assert sorted(e["id"] for e in events["items"]) == ["a", "b", "c"]


def test_the_same_id_from_two_organisations_is_two_events(api, other_api, client, taxi):
    theirs = other_api.device(name="Other taxi", customer_id=other_api.customer())
    accepted(send(client, taxi["key"], [{"id": "shared", "type": "trip.end"}]), 1)
    accepted(send(client, theirs["key"], [{"id": "shared", "type": "trip.end"}]), 1)
    assert device_events(api, taxi["id"])["total"] == 1
    assert device_events(other_api, theirs["id"])["total"] == 1


def test_bad_events_are_refused_one_by_one_and_kept_as_dead_letters(api, other_api, client, taxi):
    other_device = api.device(name="Another")
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    events = [
        {"id": "ok1", "type": "trip.end"},
        {"id": "x1", "type": "trip.end", "colour": "red"},
        {"id": "x2", "type": "no spaces allowed"},
        {"id": "x3", "type": "trip.end", "ts": "yesterday"},
        {"id": "x4", "type": "trip.end", "ts": future},
        {"id": "x5", "type": "trip.end", "props": [1, 2]},
        {"id": "x6", "type": "trip.end", "props": {"blob": "x" * (MAX_EVENT_BYTES + 10)}},
        {"id": "x7", "type": "trip.end", "props": {"lat": 91.0, "lon": 10.0}},
        {"id": "x8", "type": "trip.end", "device_id": other_device["id"]},
        {"id": "x9", "type": "trip.end", "ts": "1999-12-31T23:59:59Z"},
        "not an object",
        {"id": "ok2", "type": "trip.end", "device_id": taxi["id"]},
    ]
    body = accepted(send(client, taxi["key"], events), 2)
    reasons = {r["index"]: r["reason"] for r in body["rejected"]}
    assert sorted(reasons) == list(range(1, 11))
    assert reasons[1] == "colour: unknown field"
    assert reasons[2].startswith("type:")
    assert reasons[3] == "ts: not an ISO 8601 time"
    assert reasons[4] == "ts: more than one day in the future"
    assert reasons[5] == "props: must be a JSON object"
    assert reasons[6] == f"props: larger than {MAX_EVENT_BYTES} bytes"
    assert reasons[7] == "props.lat: must be between -90 and 90"
    assert reasons[8] == "device_id: a device key may only send its own device's events"
    assert reasons[9] == "ts: before the year 2000"
    assert reasons[10] == "event: must be a JSON object"
    assert sorted(e["id"] for e in device_events(api, taxi["id"])["items"]) == ["ok1", "ok2"]
    assert device_events(api, other_device["id"])["total"] == 0

    letters = api.dead_letters()
    assert len(letters) == 10
    by_index = {letter["item_index"]: letter for letter in letters}
    assert {i: letter["reason"] for i, letter in by_index.items()} == reasons
    assert all(letter["source"] == "http" and letter["topic"] is None for letter in letters)
    assert all(letter["device_id"] == taxi["id"] for letter in letters)
    assert orjson.loads(by_index[1]["payload"]) == events[1]
    assert other_api.dead_letters() == []


def test_ingest_key_rejections_name_the_subject_at_fault(api, other_api, client, taxi):
    key = api.ingest_key()
    theirs = other_api.device(name="Foreign", customer_id=other_api.customer(email="eve@example.com"))
    their_customer = theirs["customer_id"]
    events = [
        {"id": "k0", "type": "app.open", "customer": "ada@example.com"},
        {"id": "k1", "type": "app.open", "customer": "nobody@example.com"},
        {"id": "k2", "type": "app.open", "customer": 999999},
        {"id": "k3", "type": "trip.end", "device_id": theirs["id"]},
        {"id": "k4", "type": "app.open", "customer": their_customer},
        {"id": "k5", "type": "app.open", "customer": "eve@example.com"},
        {"id": "k6", "type": "app.open"},
        {"id": "k7", "type": "trip.end", "device_id": taxi["id"]},
        {"id": "k8", "type": "trip.end", "device_id": "twelve"},
    ]
    body = accepted(send(client, key, events), 2)
    assert body["rejected"] == [
        {"index": 1, "reason": "customer: no such customer"},
        {"index": 2, "reason": "customer: no such customer"},
        {"index": 3, "reason": "device_id: no such device"},
        {"index": 4, "reason": "customer: no such customer"},
        {"index": 5, "reason": "customer: no such customer"},
        {"index": 6, "reason": "device_id: an ingest key needs device_id or customer on each event"},
        {"index": 8, "reason": "device_id: must be a positive integer"},
    ]
    ada = api.events(f"/customers/{taxi['customer_id']}/events")
    assert sorted(e["id"] for e in ada["items"]) == ["k0", "k7"]
    assert [e["device_id"] for e in ada["items"] if e["id"] == "k0"] == [None]
    letters = api.dead_letters()
    assert sorted(letter["item_index"] for letter in letters) == [1, 2, 3, 4, 5, 6, 8]
    assert all(letter["device_id"] is None for letter in letters)
    assert device_events(other_api, theirs["id"])["total"] == 0
    assert other_api.events(f"/customers/{their_customer}/events")["total"] == 0
    assert other_api.dead_letters() == []


def test_a_device_key_may_not_name_a_customer(api, client, taxi):
    body = accepted(send(client, taxi["key"], [{"type": "trip.end", "customer": taxi["customer_id"]}]), 0)
    assert body["rejected"] == [
        {"index": 0, "reason": "customer: a device's events belong to its bound customer"}
    ]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (b"   ", "application/json"),
        (b"42", "application/json"),
        (b'"events"', "application/json"),
    ],
)
def test_an_unreadable_body_is_refused_and_kept(api, client, taxi, body, content_type):
    response = send(client, taxi["key"], body, headers={"Content-Type": content_type})
    problem(response, 422, "body")
    assert device_events(api, taxi["id"])["total"] == 0
    letters = api.dead_letters()
    assert len(letters) == 1
    assert letters[0]["item_index"] is None and letters[0]["device_id"] == taxi["id"]
    assert letters[0]["payload"] == body.decode()


def test_an_unreadable_ndjson_line_is_that_line_s_problem(api, client, taxi):
    body = b'{"id": "l1", "type": "trip.end"}\n{oops\n{"id": "l3", "type": "trip.end"}\n'
    result = accepted(send(client, taxi["key"], body, headers={"Content-Type": "application/x-ndjson"}), 2)
    assert [r["index"] for r in result["rejected"]] == [1]
    assert result["rejected"][0]["reason"].startswith("line 2: not valid JSON")
    assert api.dead_letters()[0]["payload"] == "{oops"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer pdk_unknown"},
        {"Authorization": "Bearer pik_unknown"},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-Patron-Key": ""},
    ],
)
def test_a_missing_or_unknown_key_is_refused(api, client, taxi, headers):
    response = client.post(INGEST_URL, content=b'[{"type": "trip.end"}]', headers=headers)
    body = problem(response, 401, "authorization")
    assert body["code"] == "unauthenticated"
    assert device_events(api, taxi["id"])["total"] == 0
    assert api.dead_letters() == []


def test_a_staff_token_is_not_an_ingest_key(api, client, tenant, taxi):
    response = client.post(INGEST_URL, content=b'[{"type": "trip.end"}]', headers=tenant.headers)
    problem(response, 401, "authorization")


def test_a_revoked_device_key_or_ingest_key_is_refused(api, client, taxi):
    key = api.ingest_key()
    key_id = api.get("/ingest-keys").json()[0]["id"]
    accepted(send(client, key, [{"type": "app.open", "customer": taxi["customer_id"]}]), 1)
    api.delete(f"/ingest-keys/{key_id}")
    problem(send(client, key, [{"type": "app.open", "customer": taxi["customer_id"]}]), 401, "authorization")
    api.delete(f"/devices/{taxi['id']}/key")
    problem(send(client, taxi["key"], [{"type": "trip.end"}]), 401, "authorization")
    assert api.events(f"/customers/{taxi['customer_id']}/events")["total"] == 1


def test_a_body_over_the_limit_is_refused_with_413(api, client, taxi):
    big = [{"type": "trip.end", "props": {"pad": "x" * 400}} for _ in range(200)]
    response = send(client, taxi["key"], big)
    body = problem(response, 413, "body")
    assert body["code"] == "payload_too_large"
    assert device_events(api, taxi["id"])["total"] == 0


def test_more_events_than_allowed_in_one_request_is_refused(api, client, taxi):
    response = send(client, taxi["key"], [{"type": "trip.end"} for _ in range(MAX_EVENTS + 1)])
    body = problem(response, 422, "body")
    assert str(MAX_EVENTS) in body["detail"]
    assert device_events(api, taxi["id"])["total"] == 0
    accepted(send(client, taxi["key"], [{"type": "trip.end"} for _ in range(MAX_EVENTS)]), MAX_EVENTS)


def test_an_organisation_s_events_never_show_in_another_s_queries(api, other_api, client, taxi):
    key = api.ingest_key()
    accepted(send(client, taxi["key"], [{"id": "mine", "type": "fault", "props": {"code": "E1"}}]), 1)
    accepted(send(client, key, [{"id": "mine2", "type": "app.open", "customer": taxi["customer_id"]}]), 1)
    send(client, taxi["key"], [{"type": "bad type!"}])

    other_taxi = other_api.device(name="Theirs", customer_id=other_api.customer())
    accepted(send(client, other_taxi["key"], [{"id": "theirs", "type": "trip.end"}]), 1)

    problem(other_api.get(f"/customers/{taxi['customer_id']}/events"), 404, "customer_id")
    problem(other_api.get(f"/devices/{taxi['id']}/events"), 404, "device_id")
    assert [e["id"] for e in device_events(other_api, other_taxi["id"])["items"]] == ["theirs"]
    assert other_api.dead_letters() == []
    assert len(api.dead_letters()) == 1
    mine = api.events(f"/customers/{taxi['customer_id']}/events")
    assert sorted(e["id"] for e in mine["items"]) == ["mine", "mine2"]
