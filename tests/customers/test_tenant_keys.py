"""The database keeps a customer's rows inside the customer's organisation.

Identities, tags, consents, places and timeline entries reference ``customers (org_id, id)``: a row that
names one organisation and another organisation's customer is refused by the database itself, not only
by the services' filters, and deleting a customer or an organisation takes those rows along.
"""

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from patron.accounts.models import Organisation
from patron.customers.models import ConsentRecord, Customer, CustomerTag, Identity, Place, TimelineEntry

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def _rows(org_id: int, customer_id: int) -> dict:
    """One row per customer-owned table, claiming ``org_id`` for ``customer_id``."""
    return {
        Identity: {"org_id": org_id, "customer_id": customer_id, "type": "app_user", "value": f"u-{org_id}",
                   "created_at": NOW},
        CustomerTag: {"org_id": org_id, "customer_id": customer_id, "tag": "vip"},
        ConsentRecord: {"org_id": org_id, "customer_id": customer_id, "channel": "email", "granted": True,
                        "source": "test", "recorded_at": NOW},
        Place: {"org_id": org_id, "customer_id": customer_id, "label": "Home", "latitude": 52.5,
                "longitude": 13.4, "created_at": NOW, "updated_at": NOW},
        TimelineEntry: {"org_id": org_id, "customer_id": customer_id, "occurred_at": NOW, "kind": "note",
                        "summary": "x", "data": {}},
    }


def _counts(session, customer_id: int) -> dict[str, int]:
    return {
        model.__tablename__: session.scalar(
            select(func.count()).select_from(model).where(model.customer_id == customer_id)
        )
        for model in (Identity, CustomerTag, ConsentRecord, Place, TimelineEntry)
    }


@pytest.mark.parametrize("model", [Identity, CustomerTag, ConsentRecord, Place, TimelineEntry],
                         ids=lambda m: m.__tablename__)
def test_a_row_naming_another_organisations_customer_is_refused(api, other_api, db, tenant, other_tenant, model):
    ours = api.customer(first_name="Ours")["id"]
    theirs = other_api.customer(first_name="Theirs")["id"]
    with db() as session, pytest.raises(IntegrityError):
        # our organisation, their customer: the composite key finds no customer (org_id, id)
        session.execute(insert(model).values(**_rows(tenant.org_id, theirs)[model]))
        session.flush()
    with db() as session:
        session.execute(insert(model).values(**_rows(tenant.org_id, ours)[model]))  # the same row, our customer
        session.commit()
        crossed = select(func.count()).select_from(model).where(
            model.org_id == tenant.org_id, model.customer_id == theirs
        )
        assert session.scalar(crossed) == 0


def test_moving_a_row_to_another_organisations_customer_is_refused(api, other_api, db):
    ours = api.customer(first_name="Ours", email="ours@example.com")["id"]
    theirs = other_api.customer(first_name="Theirs")["id"]
    with db() as session, pytest.raises(IntegrityError):
        identity = session.scalars(select(Identity).where(Identity.customer_id == ours)).one()
        identity.customer_id = theirs
        session.flush()


def test_deleting_a_customer_or_an_organisation_takes_their_rows_along(api, other_api, db, tenant, other_tenant):
    gone = api.customer(first_name="Gone")["id"]
    kept = other_api.customer(first_name="Kept")["id"]
    with db() as session:
        for org_id, customer_id in ((tenant.org_id, gone), (other_tenant.org_id, kept)):
            for model, values in _rows(org_id, customer_id).items():
                session.execute(insert(model).values(**values))
        session.commit()
        assert all(count >= 1 for count in _counts(session, gone).values())

        session.execute(delete(Customer).where(Customer.id == gone))
        session.commit()
        assert set(_counts(session, gone).values()) == {0}
        assert all(count >= 1 for count in _counts(session, kept).values())

        session.execute(delete(Organisation).where(Organisation.id == other_tenant.org_id))
        session.commit()
        assert set(_counts(session, kept).values()) == {0}
        assert session.get(Customer, kept) is None
