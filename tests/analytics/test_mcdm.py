"""Entropy weights, VIKOR and TOPSIS against published worked examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from patron.analytics.errors import (
    EmptyDataError,
    InsufficientDataError,
    InvalidParameterError,
    InvalidValueError,
    MissingColumnError,
)
from patron.analytics.mcdm import entropy_weights, topsis, vikor

# Opricovic, S. & Tzeng, G.-H. (2004), EJOR 156(2) 445-455, numerical example: three
# alternatives, f1 a cost (1, 2, 5) and f2 a benefit (3000, 3750, 4500), equal weights.
OPRICOVIC_TZENG = pd.DataFrame({"f1": [1, 2, 5], "f2": [3000, 3750, 4500]}, index=["A1", "A2", "A3"])

# Papathanasiou, J. & Ploskas, N. (2018), "VIKOR", ch. 2 of Multiple Criteria Decision Aid:
# Methods, Examples and Python Implementations, Springer, doi:10.1007/978-3-319-91648-4_2 —
# the facility-location example: six sites, four benefit criteria, weights 0.4/0.3/0.1/0.2,
# v = (n + 1) / 2n = 0.625. Printed Q: 0.640, 1.000, 0.693, 0.271, 0.000, 0.694.
PLOSKAS = pd.DataFrame(
    [[8, 7, 2, 1], [5, 3, 7, 5], [7, 5, 6, 4], [9, 9, 7, 3], [11, 10, 3, 7], [6, 9, 5, 4]],
    columns=["c1", "c2", "c3", "c4"],
    index=[f"A{i}" for i in range(1, 7)],
)

# Xu, X. (2004). A note on the subjective and objective integrated approach to determine
# attribute weights. EJOR 156(2) 530-532: entropy weights 0.4630, 0.3992, 0.1378, 0.0000.
XU = pd.DataFrame([[30, 30, 38, 29], [19, 54, 86, 29], [19, 15, 85, 28.9], [68, 70, 60, 29]])


def test_entropy_weights_reproduce_xu_2004():
    result = entropy_weights(XU)
    np.testing.assert_allclose(result["weight"], [0.4630, 0.3992, 0.1378, 0.0000], atol=5e-5)
    assert result["weight"].sum() == pytest.approx(1.0)
    assert list(result.columns) == ["entropy", "divergence", "weight"]
    # a criterion on which every alternative is (nearly) equal carries (nearly) no information
    assert result["entropy"].iloc[3] == pytest.approx(1.0, abs=1e-5)


def test_vikor_reproduces_papathanasiou_ploskas_example():
    result = vikor(PLOSKAS, weights=[0.4, 0.3, 0.1, 0.2], v=0.625)
    np.testing.assert_allclose(result.scores["Q"], [0.640, 1.000, 0.693, 0.271, 0.000, 0.694], atol=5e-4)
    # S and R by the textbook formulas (best 11, 10, 7, 7; worst 5, 3, 2, 1)
    np.testing.assert_allclose(result.scores["S"], [0.629, 0.767, 0.601, 0.310, 0.080, 0.516], atol=5e-4)
    np.testing.assert_allclose(result.scores["R"], [0.200, 0.400, 0.267, 0.133, 0.080, 0.333], atol=5e-4)
    assert result.ranking == ["A5", "A4", "A1", "A3", "A6", "A2"]
    # DQ = 1/(6-1) = 0.2 and Q(A4) - Q(A5) = 0.271 >= DQ; A5 is also best by S and R.
    assert result.dq == pytest.approx(0.2)
    assert result.acceptable_advantage and result.acceptable_stability
    assert result.compromise == ("A5",)


def test_vikor_reproduces_opricovic_tzeng_example_over_v_grid():
    result = vikor(OPRICOVIC_TZENG, weights=[0.5, 0.5], criteria_types=["cost", "benefit"])
    np.testing.assert_allclose(result.scores["S"], [0.5, 0.375, 0.5])
    np.testing.assert_allclose(result.scores["R"], [0.5, 0.25, 0.5])
    np.testing.assert_allclose(result.scores["Q"], [1.0, 0.0, 1.0])
    assert result.compromise == ("A2",)
    # the grid of study §2 (v = 0.1 ... 0.9) is always reported; A2 wins for every v
    assert list(result.q_by_v.columns) == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert (result.conditions["best"] == "A2").all()
    assert result.conditions["acceptable_advantage"].all()


def test_vikor_compromise_set_when_advantage_fails():
    # A and B are nearly tied; with DQ = 1/3 both belong to the compromise set.
    m = pd.DataFrame({"x": [10, 9.8, 1, 0], "y": [5, 5.2, 9, 0]}, index=list("ABCD"))
    result = vikor(m, weights=[0.5, 0.5], v=0.5)
    assert not result.acceptable_advantage
    assert set(result.compromise) >= {"A", "B"}
    assert "D" not in result.compromise


def test_vikor_compromise_set_when_only_stability_fails():
    # B is best by Q with an acceptable advantage (0.367 >= DQ = 1/3), but A is best by S and
    # D by R, so C2 fails and the compromise set is {A(1), A(2)} = {B, A}.
    m = pd.DataFrame({"x": [7, 4, 1, 3], "y": [9, 0, 5, 1], "z": [1, 8, 3, 3]}, index=list("ABCD"))
    result = vikor(m, weights=[0.3, 0.3, 0.4], v=0.5, v_grid=[0.5])
    assert result.best == "B"
    assert result.acceptable_advantage and not result.acceptable_stability
    assert result.compromise == ("B", "A")


def test_vikor_accepts_entropy_weights_and_mapping_types():
    weights = entropy_weights(XU)["weight"]
    result = vikor(XU, weights=weights, criteria_types={0: "benefit", 1: "benefit", 2: "cost", 3: "benefit"})
    assert len(result.scores) == 4
    assert result.weights.sum() == pytest.approx(1.0)


def test_topsis_reproduces_opricovic_tzeng_linear_normalisation():
    # Opricovic & Tzeng (2004) compare VIKOR with TOPSIS on the same example; with the linear
    # normalisation the closeness values are 0.500, 0.617, 0.500 (A2 best, as in VIKOR).
    result = topsis(
        OPRICOVIC_TZENG, weights=[0.5, 0.5], criteria_types=["cost", "benefit"], normalization="linear"
    )
    np.testing.assert_allclose(result.scores["closeness"], [0.500, 0.617, 0.500], atol=5e-4)
    assert result.ranking[0] == "A2"


def test_topsis_vector_normalisation_by_hand():
    # Hwang & Yoon (1981) vector normalisation, worked by hand for the Ploskas example:
    # column norms sqrt(356), sqrt(345), sqrt(172), sqrt(116).
    result = topsis(PLOSKAS, weights=[0.4, 0.3, 0.1, 0.2])
    np.testing.assert_allclose(
        result.scores["closeness"], [0.387, 0.327, 0.391, 0.615, 0.868, 0.493], atol=5e-4
    )
    assert result.ranking[0] == "A5"
    # cross-check with the R package `decision` test (3 alternatives, weights 4, 2, 6, 8):
    m = np.array([[9, 7, 6, 7], [8, 7, 9, 6], [7, 8, 6, 6]])
    closeness = topsis(m, weights=[4, 2, 6, 8]).scores["closeness"]
    np.testing.assert_allclose(closeness, [0.3876870, 0.6503238, 0.0834767], atol=1e-6)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (pd.DataFrame({"a": [], "b": []}), EmptyDataError),
        (pd.DataFrame({"a": [1.0], "b": [2.0]}), InsufficientDataError),
        (pd.DataFrame({"a": [1.0, np.nan], "b": [2.0, 3.0]}), InvalidValueError),
        (pd.DataFrame({"a": [np.nan, np.nan], "b": [2.0, 3.0]}), InvalidValueError),
        (pd.DataFrame({"a": ["x", "y"], "b": [2.0, 3.0]}), InvalidValueError),
    ],
)
def test_bad_decision_matrices_are_rejected(data, error):
    for method in (
        lambda d: vikor(d, weights=[1, 1]),
        lambda d: topsis(d, weights=[1, 1]),
        entropy_weights,
    ):
        with pytest.raises(error):
            method(data)


def test_bad_matrix_errors_name_the_column():
    with pytest.raises(InvalidValueError) as info:
        vikor(pd.DataFrame({"price": [1.0, np.nan], "range": [2.0, 3.0]}), weights=[1, 1])
    assert info.value.column == "price"
    with pytest.raises(InvalidValueError) as info:
        entropy_weights(pd.DataFrame({"price": [1.0, 2.0], "rebate": [-1.0, 3.0]}))
    assert info.value.column == "rebate"
    with pytest.raises(InvalidValueError, match="zero"):
        entropy_weights(pd.DataFrame({"price": [1.0, 2.0], "rebate": [0.0, 0.0]}))


def test_bad_parameters_are_rejected():
    with pytest.raises(InvalidParameterError):
        vikor(PLOSKAS, weights=[1, 1])
    with pytest.raises(InvalidParameterError):
        vikor(PLOSKAS, weights=[1, -1, 1, 1])
    with pytest.raises(InvalidParameterError):
        vikor(PLOSKAS, weights=[1, 1, 1, 1], v=1.5)
    with pytest.raises(InvalidParameterError):
        vikor(PLOSKAS, weights=[1, 1, 1, 1], criteria_types=["up", "benefit", "cost", "cost"])
    with pytest.raises(MissingColumnError):
        vikor(PLOSKAS, weights={"c1": 1, "c2": 1})
    with pytest.raises(MissingColumnError):
        vikor(PLOSKAS, weights=[1, 1, 1, 1], criteria_types={"c9": "cost"})
    with pytest.raises(InvalidParameterError):
        topsis(PLOSKAS, weights=[1, 1, 1, 1], normalization="max")
    # every error is a ValueError for callers that know nothing of this library
    assert issubclass(InvalidParameterError, ValueError)
