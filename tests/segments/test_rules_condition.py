"""The rules engine's ``customer.segments contains <segment id or name>`` condition, on events sent through
the real ingest endpoint."""

from __future__ import annotations

from patron.rules.facts import Facts
from tests.rules.conftest import engine, firings, make_rule, new_customer, new_device, send  # noqa: F401
from tests.segments.conftest import SEGMENTS, created, post


def test_a_rule_fires_only_for_members_of_the_segment(client, db, tenant, new_customer, new_device, send,  # noqa: F811
                                                      make_rule, firings):  # noqa: F811  # fmt: skip
    vip = new_customer(tenant.org_id, first_name="Vera")
    plain = new_customer(tenant.org_id, first_name="Paul")
    created(client.patch(f"/api/v1/customers/{vip}", json={"tags": ["vip"]}, headers=tenant.headers))
    segment = created(post(client, tenant, SEGMENTS, {
        "name": "VIPs", "definition": {"all": [{"field": "tags", "op": "contains", "value": "vip"}]}}))  # fmt: skip
    by_name = make_rule(tenant, {"when": {"event_types": ["trip.end"]},
                                 "conditions": [{"field": "customer.segments", "op": "contains", "value": "VIPs"}],
                                 "actions": [{"type": "tag_customer", "tag": "seen-vip"}]})  # fmt: skip
    by_id = make_rule(tenant, {"when": {"event_types": ["trip.end"]},
                               "conditions": [{"field": "customer.segments", "op": "contains", "value": segment["id"]}],
                               "actions": [{"type": "tag_customer", "tag": "seen-id"}]})  # fmt: skip
    outside = make_rule(tenant, {"when": {"event_types": ["trip.end"]},
                                 "conditions": {"not": {"field": "customer.segments", "op": "contains", "value": "VIPs"}},
                                 "actions": [{"type": "tag_customer", "tag": "not-vip"}]})  # fmt: skip
    send(new_device(tenant.org_id, vip), {"type": "trip.end"})
    send(new_device(tenant.org_id, plain), {"type": "trip.end"})
    assert [f.customer_id for f in firings(by_name["id"])] == [vip]
    assert [f.customer_id for f in firings(by_id["id"])] == [vip]
    assert [f.customer_id for f in firings(outside["id"])] == [plain]

    # leaving the segment (at its next refresh) ends the matches
    created(client.patch(f"/api/v1/customers/{vip}", json={"tags": []}, headers=tenant.headers))
    assert created(post(client, tenant, f"{SEGMENTS}/{segment['id']}/refresh", {}))["left"] == 1
    send(new_device(tenant.org_id, vip), {"type": "trip.end"})
    assert len(firings(by_name["id"])) == 1 and len(firings(outside["id"])) == 2


def test_the_segments_of_a_batch_are_read_in_one_query(db, tenant, new_customer, client):  # noqa: F811
    ids = [new_customer(tenant.org_id, first_name=f"C{i}") for i in range(5)]
    created(
        post(
            client,
            tenant,
            SEGMENTS,
            {"name": "All", "definition": {"all": [{"field": "city", "op": "not_set"}]}},
        )
    )
    facts = Facts()
    queries: list[str] = []
    with db() as session:
        from sqlalchemy import event

        listen = lambda *args: queries.append(args[2])  # noqa: E731
        event.listen(session.get_bind(), "before_cursor_execute", listen)
        try:
            facts.begin(session)
            facts.expect_customers(lambda: [(tenant.org_id, cid) for cid in ids])
            facts.prefetch_customers({(tenant.org_id, cid) for cid in ids})
            queries.clear()
            seen = [facts.customer(tenant.org_id, cid).segments for cid in ids]
        finally:
            event.remove(session.get_bind(), "before_cursor_execute", listen)
            facts.end()
    assert all(segments[1] == "All" for segments in seen)
    assert len([q for q in queries if "segment_memberships" in q]) == 1
