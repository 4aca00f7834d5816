"""Earning reads the programme's settings, tiers and earn rules once per transaction, and a change made
through the programme service, or undone by a savepoint's rollback, or committed by another session, is
what the next earning sees."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import event

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.customers import service as customers_service
from patron.loyalty import earning
from patron.loyalty import programme as programme_service
from patron.loyalty import service as points_service

PROGRAMME_TABLES = ("loyalty_programmes", "loyalty_tiers", "loyalty_earn_rules")


@pytest.fixture
def shop(db, tenant) -> tuple[int, list[int]]:
    """A programme on (1 point per EUR), a Silver tier from 100 points (x2), a bonus of 25 points from 100
    EUR, and three customers."""
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=tenant.org_id, label="test")
        programme_service.update_programme(session, org_id=tenant.org_id, changes={"enabled": True})
        programme_service.create_tier(session, org_id=tenant.org_id, name="Silver", threshold=100,
                                      multiplier=Decimal("2"))  # fmt: skip
        programme_service.create_rule(session, org_id=tenant.org_id, kind="purchase_bonus", name="Big basket",
                                      points=25, min_amount=Decimal("100"))  # fmt: skip
        customers = [customers_service.create_customer(session, org_id=tenant.org_id, data={"first_name": n}).id
                     for n in ("Ada", "Ben", "Cy")]  # fmt: skip
    return tenant.org_id, customers


def _earn(session, org_id: int, customer_id: int, order_id: int, total: str) -> int:
    entry = earning.earn_for_order(session, org_id=org_id, order_id=order_id, customer_id=customer_id,
                                   number=order_id, total=Decimal(total), currency="EUR", status="paid")  # fmt: skip
    return entry.delta if entry is not None else 0


def _selects_of_programme(engine) -> tuple[list[str], object]:
    seen: list[str] = []

    def note(_conn, _cursor, statement, _params, _context, _many):
        if statement.lstrip().upper().startswith("SELECT"):
            match = re.search(r"\bFROM\s+(\w+)", statement)
            if match and match.group(1) in PROGRAMME_TABLES:
                seen.append(match.group(1))

    event.listen(engine, "before_cursor_execute", note)
    return seen, note


def test_a_transaction_reads_the_programme_tiers_and_rules_once(db, app, shop):
    org_id, customers = shop
    seen, note = _selects_of_programme(app.state.engine)
    try:
        with session_scope(db) as session:
            session.info["actor"] = Actor(org_id=org_id, label="test")
            earned = [_earn(session, org_id, customers[i % 3], 100 + i, "60") for i in range(9)]
        assert sorted(seen) == sorted(PROGRAMME_TABLES)  # once each for nine earnings
        # a new transaction reads them again
        with session_scope(db) as session:
            session.info["actor"] = Actor(org_id=org_id, label="test")
            _earn(session, org_id, customers[0], 200, "10")
        assert len(seen) == 2 * len(PROGRAMME_TABLES)
    finally:
        event.remove(app.state.engine, "before_cursor_execute", note)
    # the tier counts from the purchase after the one that reached it (Silver at 120 points)
    assert earned == [60, 60, 60, 60, 60, 60, 120, 120, 120]


def test_changes_in_the_same_transaction_are_what_the_next_earning_sees(db, shop):
    org_id, (ada, ben, cy) = shop
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=org_id, label="test")
        assert _earn(session, org_id, ada, 1, "100") == 125  # 100 + the bonus
        rule = programme_service.list_rules(session, org_id=org_id, kind="purchase_bonus")[0]
        programme_service.update_rule(session, rule=rule, changes={"points": 40})
        assert _earn(session, org_id, ben, 2, "100") == 140
        programme_service.update_rule(session, rule=rule, changes={"active": False})
        assert _earn(session, org_id, cy, 3, "100") == 100
        # Ada is Silver (125 points)
        silver = programme_service.list_tiers(session, org_id=org_id)[0]
        programme_service.update_tier(session, tier=silver, changes={"multiplier": Decimal("3")})
        assert _earn(session, org_id, ada, 4, "10") == 30
        programme_service.create_tier(session, org_id=org_id, name="Gold", threshold=150,
                                      multiplier=Decimal("5"))  # fmt: skip
        assert [t.name for t in programme_service.list_tiers(session, org_id=org_id)] == ["Silver", "Gold"]
        assert _earn(session, org_id, ada, 5, "10") == 30  # still Silver when she paid; 185 points: Gold
        assert _earn(session, org_id, ada, 6, "10") == 50
        programme_service.delete_tier(session, tier=programme_service.list_tiers(session, org_id=org_id)[1])
        assert [t.name for t in programme_service.list_tiers(session, org_id=org_id)] == ["Silver"]
        programme_service.update_programme(session, org_id=org_id, changes={"enabled": False})
        assert _earn(session, org_id, ben, 7, "10") == 0
    with session_scope(db) as session:
        assert points_service.get_balance(session, org_id=org_id, customer_id=ada).balance == 125 + 30 + 30 + 50


def test_a_change_undone_by_a_savepoint_rollback_is_forgotten(db, shop):
    org_id, (ada, _ben, _cy) = shop
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=org_id, label="test")
        assert programme_service.get_programme(session, org_id=org_id).points_per_unit == Decimal("1")
        with pytest.raises(RuntimeError), session.begin_nested():
            programme_service.update_programme(session, org_id=org_id, changes={"points_per_unit": Decimal("10")})
            programme_service.create_tier(session, org_id=org_id, name="Bronze", threshold=1,
                                          multiplier=Decimal("4"))  # fmt: skip
            assert _earn(session, org_id, ada, 1, "5") == 50  # read inside the savepoint: 10 per EUR
            raise RuntimeError("undo")
        assert [t.name for t in programme_service.list_tiers(session, org_id=org_id)] == ["Silver"]
        assert programme_service.get_programme(session, org_id=org_id).points_per_unit == Decimal("1")
        assert _earn(session, org_id, ada, 2, "5") == 5


def test_a_long_lived_session_sees_what_another_committed_in_its_next_transaction(db, shop):
    org_id, (ada, ben, _cy) = shop
    session = db()
    try:
        session.info["actor"] = Actor(org_id=org_id, label="test")
        assert _earn(session, org_id, ada, 1, "10") == 10
        session.commit()
        with session_scope(db) as other:
            other.info["actor"] = Actor(org_id=org_id, label="test")
            programme_service.update_programme(other, org_id=org_id, changes={"points_per_unit": Decimal("3")})
        assert _earn(session, org_id, ben, 2, "10") == 30
        session.commit()
    finally:
        session.close()
