"""Shared data for the analytics tests: the public CDNOW sample (see data/README.md)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def cdnow_transactions() -> pd.DataFrame:
    """CDNOW_sample.txt: 6,919 purchases of the 2,357-customer 1/10th sample, 1997-01 to 1998-06."""
    return pd.read_csv(
        DATA / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "cds", "amount"],
        dtype={"date": str},
    )


@pytest.fixture(scope="session")
def cdnow_summary() -> pd.DataFrame:
    """The published 39-week calibration summary (x, t_x, T, zbar) of the same customers."""
    frame = pd.read_csv(DATA / "cdnow_customers_summary_with_transactions.csv")
    frame = frame.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})
    return frame.set_index("ID")
