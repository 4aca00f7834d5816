"""``patron tickets check-sla`` and ``patron tickets summary``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from typer.testing import CliRunner

from patron.core import cli_support
from patron.core.audit import Actor
from patron.core.config import get_settings
from patron.core.db import session_scope, utcnow
from patron.tickets import service as tickets_service


@pytest.fixture
def cli(database, db, tmp_path, monkeypatch):
    """Invoke ``patron`` against the test database."""
    from patron.cli import app

    monkeypatch.setenv("PATRON_DATABASE_URL", database.url)
    monkeypatch.setenv("PATRON_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    cli_support.cli_sessionmaker.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    if cli_support.cli_sessionmaker.cache_info().currsize:
        cli_support.cli_sessionmaker().kw["bind"].dispose()
    cli_support.cli_sessionmaker.cache_clear()
    get_settings.cache_clear()


def overdue_ticket(db, org_id: int, customer_id: int) -> None:
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=org_id, label="test")
        tickets_service.create_ticket(
            session,
            org_id=org_id,
            customer_id=customer_id,
            subject="Late",
            kind="request",
            priority="high",
            now=utcnow() - timedelta(days=1),
        )


def test_check_sla_over_all_or_one_organisation(cli, db, tenant, other_tenant, new_customer):
    overdue_ticket(db, tenant.org_id, new_customer(tenant.org_id))
    overdue_ticket(db, other_tenant.org_id, new_customer(other_tenant.org_id))
    result = cli("tickets", "check-sla", "--org", "acme")
    assert result.exit_code == 0, result.output
    assert "1 ticket(s) newly breached" in result.output
    result = cli("tickets", "check-sla")
    assert result.exit_code == 0, result.output
    assert "1 ticket(s) newly breached" in result.output  # only Globex's was left
    assert "0 ticket(s)" in cli("tickets", "check-sla").output


def test_summary_and_unknown_organisation(cli, db, tenant, new_customer):
    overdue_ticket(db, tenant.org_id, new_customer(tenant.org_id))
    result = cli("tickets", "summary", "--org", "acme")
    assert result.exit_code == 0, result.output
    assert "new=1" in result.output
    assert "breached=1" in result.output
    result = cli("tickets", "check-sla", "--org", "nope")
    assert result.exit_code == 1
    assert "No organisation with slug 'nope'" in result.output


def test_help_reads_well(cli):
    result = cli("tickets", "--help")
    assert result.exit_code == 0
    assert "check-sla" in result.output and "summary" in result.output
