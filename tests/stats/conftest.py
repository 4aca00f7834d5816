from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).parent / "data"

HS_MODEL = """
visual  =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed   =~ x7 + x8 + x9
"""

PD_MODEL = """
# measurement model
ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
# regressions
dem60 ~ ind60
dem65 ~ ind60 + dem60
# residual correlations
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8
"""


@pytest.fixture(scope="session")
def hs() -> pd.DataFrame:
    return pd.read_csv(DATA / "HolzingerSwineford1939.csv", index_col=0)


@pytest.fixture(scope="session")
def political_democracy() -> pd.DataFrame:
    return pd.read_csv(DATA / "PoliticalDemocracy.csv", index_col=0)
