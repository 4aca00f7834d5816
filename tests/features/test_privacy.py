"""The materialised feature table follows the customer: erased, deleted and merged customers' rows leave it,
and the privacy export holds the customer's row (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from patron.core.config import get_settings
from patron.core.db import session_scope
from patron.features import service as features_service
from tests.devices.support import Api


@pytest.fixture
def process_settings(settings, monkeypatch):
    """The process settings name the test database and data folder, as in a server."""
    monkeypatch.setenv("PATRON_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PATRON_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    yield settings
    get_settings.cache_clear()


def materialise(db, settings, org_id: int) -> None:
    with session_scope(db) as session:
        features_service.materialise(session, org_id=org_id, settings=settings)


def rows(settings, org_id: int) -> set[int]:
    return set(features_service.load_feature_table(settings, org_id)["customer_id"])


def test_erase_delete_merge_and_export(process_settings, client, db, tenant, other_tenant):
    settings = process_settings
    api, other = Api(client, tenant), Api(client, other_tenant)
    ann = api.customer(first_name="Ann", birth_year=1985, gender="female")
    bob, carl, carl_again = api.customer(first_name="Bob"), api.customer(first_name="Carl"), api.customer()
    eve = other.customer(first_name="Eve")
    materialise(db, settings, tenant.org_id)
    materialise(db, settings, other_tenant.org_id)
    assert rows(settings, tenant.org_id) == {ann, bob, carl, carl_again}

    export = api.get(f"/customers/{ann}/privacy-export")
    assert export.status_code == 200, export.text
    (row,) = export.json()["related"]["features"]["feature_table"]
    assert row["customer_id"] == ann and row["gender"] == "female" and row["frequency"] == 0
    assert row["recency_days"] is None  # missing values are null, not NaN

    assert api.post(f"/customers/{ann}/erase").status_code == 200
    assert rows(settings, tenant.org_id) == {bob, carl, carl_again}
    assert api.get(f"/customers/{ann}/privacy-export").json()["related"]["features"]["feature_table"] == []

    assert api.delete(f"/customers/{bob}").status_code == 204
    merged = api.post(f"/customers/{carl}/merge", json={"duplicate_id": carl_again})
    assert merged.status_code == 200, merged.text
    assert rows(settings, tenant.org_id) == {carl}
    assert rows(settings, other_tenant.org_id) == {eve}  # another organisation's table is its own


def test_without_a_table_the_hooks_change_nothing(process_settings, client, tenant):
    api = Api(client, tenant)
    ann = api.customer(first_name="Ann")
    assert api.get(f"/customers/{ann}/privacy-export").json()["related"]["features"] == {"feature_table": []}
    assert api.post(f"/customers/{ann}/erase").status_code == 200
    assert features_service.load_feature_table(process_settings, tenant.org_id) is None
