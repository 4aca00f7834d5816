"""The ``patron analytics clv`` command, invoked on its Typer app."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from patron.analytics.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def cdnow_csv(tmp_path_factory, cdnow_transactions):
    path = tmp_path_factory.mktemp("cdnow") / "transactions.csv"
    frame = cdnow_transactions.assign(
        date=pd.to_datetime(cdnow_transactions["date"], format="%Y%m%d").dt.date
    )
    frame[["customer_id", "date", "amount"]].to_csv(path, index=False)
    return path


def test_clv_command_fits_cdnow_and_writes_json_and_predictions(cdnow_csv, tmp_path):
    json_path, out_path = tmp_path / "clv.json", tmp_path / "predictions.csv"
    result = runner.invoke(
        app,
        [
            "clv",
            str(cdnow_csv),
            "--customer",
            "customer_id",
            "--date",
            "date",
            "--amount",
            "amount",
            "--calibration-end",
            "1997-09-30",
            "--time-unit",
            "week",
            "--json",
            str(json_path),
            "--out",
            str(out_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "BG/NBD: r=0.2426" in result.output
    fitted = json.loads(json_path.read_text())
    # Fader, Hardie & Lee (2005a, 2005b) published CDNOW estimates
    assert fitted["bgnbd"]["r"] == pytest.approx(0.243, abs=0.005)
    assert fitted["bgnbd"]["alpha"] == pytest.approx(4.414, abs=0.005)
    assert fitted["bgnbd"]["a"] == pytest.approx(0.793, abs=0.005)
    assert fitted["bgnbd"]["b"] == pytest.approx(2.426, abs=0.005)
    assert fitted["bgnbd"]["loglik"] == pytest.approx(-9582.4, abs=0.05)
    assert fitted["gamma_gamma"]["p"] == pytest.approx(6.25, abs=0.01)
    assert fitted["gamma_gamma"]["q"] == pytest.approx(3.74, abs=0.01)
    assert fitted["gamma_gamma"]["v"] == pytest.approx(15.44, abs=0.01)
    predictions = pd.read_csv(out_path)
    assert len(predictions) == 2357
    assert {"customer_id", "frequency", "recency", "T", "p_alive", "expected_purchases", "clv"} <= set(
        predictions.columns
    )


def test_clv_command_in_days(cdnow_csv):
    result = runner.invoke(
        app,
        [
            "clv",
            str(cdnow_csv),
            "--customer",
            "customer_id",
            "--date",
            "date",
            "--amount",
            "amount",
            "--calibration-end",
            "1997-09-30",
            "--time-unit",
            "day",
        ],
    )
    assert result.exit_code == 0, result.output
    # alpha scales with the time unit (4.414 weeks = 30.9 days); r, a, b do not
    assert "r=0.2426" in result.output and "alpha=30.89" in result.output


@pytest.mark.parametrize(
    ("rows", "args", "message"),
    [
        ("customer,day,value\n", [], "no rows"),
        ("customer,day,value\n1,2024-01-01,10\n1,2024-02-01,-5\n", [], "negative value"),
        ("customer,day,value\n1,2024-01-01,10\n1,not-a-date,5\n", [], "unparsable date"),
        ("customer,day,value\n1,2024-01-01,10\n1,2024-02-01,5\n", [], "need at least 2"),
        ("customer,day,value\n1,2024-01-01,10\n", ["--time-unit", "month"], "--time-unit"),
        ("customer,when,value\n1,2024-01-01,10\n", [], "no column 'day'"),
    ],
)
def test_clv_command_reports_bad_input_in_one_line(tmp_path, rows, args, message):
    path = tmp_path / "tx.csv"
    path.write_text(rows)
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app,
        [
            "clv",
            str(path),
            "--customer",
            "customer",
            "--date",
            "day",
            "--amount",
            "value",
            "--calibration-end",
            "2024-03-01",
            "--out",
            str(out),
            *args,
        ],
    )
    assert result.exit_code == 1
    assert message in result.output
    assert result.output.startswith("Error: ")
    assert not out.exists()  # nothing written


def test_clv_command_missing_file(tmp_path):
    result = runner.invoke(
        app,
        [
            "clv",
            str(tmp_path / "nope.csv"),
            "--customer",
            "c",
            "--date",
            "d",
            "--amount",
            "a",
            "--calibration-end",
            "2024-01-01",
        ],
    )
    assert result.exit_code == 1
    assert "no such file" in result.output
