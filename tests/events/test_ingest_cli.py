"""``patron ingest``: its help and its one-line errors (the run itself is in test_crash.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from patron.cli import app
from patron.core.cli_support import cli_sessionmaker
from patron.core.config import get_settings


@pytest.fixture
def ingest_cli(settings, monkeypatch):
    monkeypatch.setenv("PATRON_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PATRON_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("PATRON_MQTT_URL", raising=False)
    get_settings.cache_clear()
    cli_sessionmaker.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, ["ingest", *args])
    get_settings.cache_clear()
    cli_sessionmaker.cache_clear()


def test_help_explains_the_worker(ingest_cli):
    result = ingest_cli("--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "ingest [OPTIONS]" in text and "COMMAND" not in text
    assert "only one process may open that file" in text
    assert "--no-processing" in text and "PATRON_MQTT_CLIENT_ID" in text


def test_without_a_broker_url_it_says_so_in_one_line(ingest_cli):
    result = ingest_cli()
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: PATRON_MQTT_URL is not set: give the broker to take events from, e.g. mqtt://127.0.0.1:1883. "
        "[PATRON_MQTT_URL]"
    ]


def test_a_bad_log_level_is_refused(ingest_cli, monkeypatch):
    monkeypatch.setenv("PATRON_MQTT_URL", "mqtt://127.0.0.1:1883")
    result = ingest_cli("--log-level", "loud")
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: --log-level must be debug, info, warning or error")


def test_a_bad_broker_url_is_refused(ingest_cli, monkeypatch):
    monkeypatch.setenv("PATRON_MQTT_URL", "http://broker")
    result = ingest_cli()
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: PATRON_MQTT_URL must look like mqtt://")


def test_a_store_held_by_another_process_is_refused_in_one_line(ingest_cli, settings, monkeypatch):
    monkeypatch.setenv("PATRON_MQTT_URL", "mqtt://127.0.0.1:1883")
    path = settings.data_dir / "events.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(path)!r}); print('open', flush=True); "
            "sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline().strip() == b"open"
        result = ingest_cli()
    finally:
        holder.stdin.close()
        holder.wait(30)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"Error: the event store {path.resolve()} is in use by another process")
