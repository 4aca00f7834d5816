"""The migrations describe exactly the models, on both backends."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from patron.all_models import metadata
from patron.core.db import make_engine


def test_migrated_schema_matches_models(database):
    engine = make_engine(database.url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    engine.dispose()
    assert diff == [], f"models and migrations disagree: {diff}"


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_openapi_lists_every_route_with_a_summary(client):
    spec = client.get("/api/v1/openapi.json").json()
    missing = [f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method, op in ops.items()
               if not op.get("summary")]
    assert missing == []
