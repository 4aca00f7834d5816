"""Every public function refuses bad input with a StatsInputError naming the column, never a silent NaN."""

import numpy as np
import pandas as pd
import pytest

from patron import stats

COLS = ["q1", "q2", "q3", "q4"]


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    f = rng.normal(size=60)
    data = {c: np.clip(np.round(3 + f + rng.normal(size=60)), 1, 5) for c in COLS}
    data["group"] = ["a", "b"] * 30
    data["rec"] = rng.integers(0, 11, 60).astype(float)
    return pd.DataFrame(data)


CALLS = {
    "describe": lambda d: stats.describe(d, COLS),
    "construct_scores": lambda d: stats.construct_scores(d, {"c": COLS}),
    "cronbach_alpha": lambda d: stats.cronbach_alpha(d, COLS),
    "mcdonald_omega": lambda d: stats.mcdonald_omega(d, COLS),
    "normality": lambda d: stats.normality(d, COLS),
    "one_sample_t": lambda d: stats.one_sample_t(d, COLS),
    "paired_t": lambda d: stats.paired_t(d, "q1", "q2"),
    "independent_t": lambda d: stats.independent_t(d, "q2", "group"),
    "friedman": lambda d: stats.friedman(d, COLS),
    "correlation_matrix": lambda d: stats.correlation_matrix(d, COLS),
    "csat": lambda d: stats.csat(d, "q2"),
    "servqual": lambda d: stats.servqual(d, {"tangibles": [("q1", "q2")], "empathy": [("q3", "q4")]}),
    "htmt": lambda d: stats.htmt(d, {"a": ["q1", "q2"], "b": ["q3", "q4"]}),
    "kmo": lambda d: stats.kmo(d, COLS),
    "bartlett_sphericity": lambda d: stats.bartlett_sphericity(d, COLS),
    "efa": lambda d: stats.efa(d, COLS, n_factors=1),
    "cfa": lambda d: stats.cfa("f =~ q1 + q2 + q3 + q4", d),
    "pls_sem": lambda d: stats.pls_sem("A =~ q1 + q2\nB =~ q3 + q4\nB ~ A", d),
}


@pytest.mark.parametrize("name", CALLS)
def test_valid_input_works(name):
    CALLS[name](_frame())


@pytest.mark.parametrize("name", CALLS)
def test_missing_value_is_refused(name):
    data = _frame()
    data.loc[5, "q2"] = np.nan
    with pytest.raises(stats.StatsInputError, match="'q2' has 1 missing") as info:
        CALLS[name](data)
    assert info.value.column == "q2"


@pytest.mark.parametrize("name", CALLS)
def test_non_numeric_cell_is_refused(name):
    data = _frame().astype({"q2": object})
    data.loc[7, "q2"] = "agree"
    with pytest.raises(stats.StatsInputError, match="'q2' has non-numeric cells, e.g. 'agree'"):
        CALLS[name](data)


@pytest.mark.parametrize("name", CALLS)
def test_missing_column_is_refused(name):
    data = _frame().drop(columns="q2")
    with pytest.raises(stats.StatsInputError, match="'q2'"):
        CALLS[name](data)


# A constant column is legitimate where it is compared with others (paired differences, Friedman ranks,
# SERVQUAL gaps, CSAT) or only described.
ALLOW_CONSTANT = ("describe", "construct_scores", "csat", "servqual", "paired_t", "friedman")


@pytest.mark.parametrize("name", [n for n in CALLS if n not in ALLOW_CONSTANT])
def test_constant_item_is_refused(name):
    data = _frame().assign(q2=3.0)
    with pytest.raises(stats.StatsInputError, match="'q2'"):
        CALLS[name](data)


def test_constant_items_that_are_allowed_give_numbers_not_nan():
    # Descriptives and scores of a constant item are well defined (sd 0); nothing is NaN.
    data = _frame().assign(q2=3.0)
    table = stats.describe(data, COLS)
    assert table.loc["q2", "sd"] == 0 and not table.loc["q2", ["mean", "range"]].isna().any()


@pytest.mark.parametrize("name", CALLS)
def test_not_a_dataframe_is_refused(name):
    with pytest.raises(stats.StatsInputError, match="DataFrame"):
        CALLS[name](_frame().to_numpy())


def test_boolean_and_infinite_columns_are_refused():
    with pytest.raises(stats.StatsInputError, match="'q2' is boolean"):
        stats.cronbach_alpha(_frame().assign(q2=True), COLS)
    data = _frame()
    data.loc[0, "q3"] = np.inf
    with pytest.raises(stats.StatsInputError, match="'q3' has infinite"):
        stats.cronbach_alpha(data, COLS)
