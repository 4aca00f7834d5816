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
