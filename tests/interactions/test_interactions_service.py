"""Service functions other domains call: staff activity counts and the customer hooks."""

from __future__ import annotations

from datetime import UTC, datetime

from patron.core.audit import Actor, AuditEntry
from patron.core.db import session_scope
from patron.interactions import service as interactions_service


def at(day: int) -> datetime:
    return datetime(2024, 3, day, 12, tzinfo=UTC)


def arrange(db, org_id: int, actor_user_id: int, rows: list[dict]) -> list[int]:
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=org_id, label="test")
        return [
            interactions_service.create_interaction(
                session, org_id=org_id, actor_user_id=actor_user_id, **row
            ).id
            for row in rows
        ]


def test_count_by_user_counts_a_half_open_period_per_staff_member(
    db, tenant, other_tenant, make_tenant, new_customer
):
    colleague = make_tenant("Acme", role="agent")
    customer = new_customer(tenant.org_id)
    arrange(
        db,
        tenant.org_id,
        tenant.user_id,
        [
            {"customer_id": customer, "kind": "call", "occurred_at": at(1)},
            {"customer_id": customer, "kind": "email", "occurred_at": at(5)},
            {
                "customer_id": customer,
                "kind": "chat",
                "occurred_at": at(10),
            },  # the end of the period: excluded
            {"customer_id": customer, "kind": "note", "occurred_at": at(2), "user_id": colleague.user_id},
        ],
    )
    arrange(
        db,
        other_tenant.org_id,
        other_tenant.user_id,
        [{"customer_id": new_customer(other_tenant.org_id), "kind": "call", "occurred_at": at(3)}],
    )
    with db() as session:
        counts = interactions_service.count_by_user(session, org_id=tenant.org_id, since=at(1), until=at(10))
    assert counts == {tenant.user_id: 2, colleague.user_id: 1}


def test_reassign_moves_only_that_customers_interactions(db, tenant, new_customer):
    duplicate, survivor, bystander = (new_customer(tenant.org_id) for _ in range(3))
    arrange(
        db,
        tenant.org_id,
        tenant.user_id,
        [
            {"customer_id": duplicate, "kind": "call"},
            {"customer_id": duplicate, "kind": "sms"},
            {"customer_id": bystander, "kind": "call"},
        ],
    )
    with session_scope(db) as session:
        moved = interactions_service.reassign_customer(
            session, org_id=tenant.org_id, from_customer_id=duplicate, to_customer_id=survivor
        )
    assert moved == 2
    with db() as session:
        filters = interactions_service.InteractionFilter
        _, on_survivor = interactions_service.list_interactions(
            session, org_id=tenant.org_id, filters=filters(customer_id=survivor)
        )
        _, on_duplicate = interactions_service.list_interactions(
            session, org_id=tenant.org_id, filters=filters(customer_id=duplicate)
        )
        _, on_bystander = interactions_service.list_interactions(
            session, org_id=tenant.org_id, filters=filters(customer_id=bystander)
        )
        audited = session.query(AuditEntry).filter_by(entity="interactions", action="reassign").count()
    assert (on_survivor, on_duplicate, on_bystander) == (2, 0, 1)
    assert audited == 1


def test_reassign_does_not_cross_organisations(db, tenant, other_tenant, new_customer):
    theirs = new_customer(other_tenant.org_id)
    arrange(db, other_tenant.org_id, other_tenant.user_id, [{"customer_id": theirs, "kind": "call"}])
    with session_scope(db) as session:
        moved = interactions_service.reassign_customer(
            session, org_id=tenant.org_id, from_customer_id=theirs, to_customer_id=new_customer(tenant.org_id)
        )
    assert moved == 0


def test_erase_blanks_text_and_keeps_the_rows(db, tenant, new_customer):
    erased_customer, kept_customer = new_customer(tenant.org_id), new_customer(tenant.org_id)
    erased_ids = arrange(
        db,
        tenant.org_id,
        tenant.user_id,
        [
            {
                "customer_id": erased_customer,
                "kind": "call",
                "subject": "Home address",
                "body": "Lives at 1 Main St",
                "outcome": "Spoke to Ada",
                "duration_seconds": 60,
            },
        ],
    )
    kept_ids = arrange(
        db,
        tenant.org_id,
        tenant.user_id,
        [{"customer_id": kept_customer, "kind": "call", "subject": "keep me"}],
    )
    with session_scope(db) as session:
        assert (
            interactions_service.erase_customer(session, org_id=tenant.org_id, customer_id=erased_customer)
            == 1
        )
    with db() as session:
        erased = interactions_service.get_interaction(
            session, org_id=tenant.org_id, interaction_id=erased_ids[0]
        )
        kept = interactions_service.get_interaction(session, org_id=tenant.org_id, interaction_id=kept_ids[0])
    assert (erased.subject, erased.body, erased.outcome) == ("", "", "")
    assert (erased.kind, erased.duration_seconds) == ("call", 60)
    assert kept.subject == "keep me"


def test_export_lists_everything_as_json_ready_dicts(db, tenant, new_customer):
    customer = new_customer(tenant.org_id)
    arrange(
        db,
        tenant.org_id,
        tenant.user_id,
        [
            {"customer_id": customer, "kind": "email", "subject": "Invoice", "occurred_at": at(2)},
            {"customer_id": customer, "kind": "call", "occurred_at": at(1)},
        ],
    )
    with db() as session:
        exported = interactions_service.export_customer(session, org_id=tenant.org_id, customer_id=customer)
    assert list(exported) == ["interactions"]
    rows = exported["interactions"]
    assert [r["kind"] for r in rows] == ["call", "email"]
    assert rows[1]["subject"] == "Invoice"
    assert rows[0]["occurred_at"].startswith("2024-03-01T12:00:00")
    assert all(isinstance(value, str | int | None) for row in rows for value in row.values())
