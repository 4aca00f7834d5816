"""The ``patron analytics rank`` command on the published worked examples of tests/analytics/test_mcdm.py,
the shipped example matrix, and bad input (one line on stderr, exit code 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from patron.analytics.cli import app
from patron.analytics.mcdm import entropy_weights
from patron.analytics.mcdm import topsis as mcdm_topsis
from patron.analytics.mcdm import vikor as mcdm_vikor

runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "factor-groups.csv"

# Papathanasiou, J. & Ploskas, N. (2018), "VIKOR", ch. 2 of Multiple Criteria Decision Aid: Methods,
# Examples and Python Implementations, Springer, doi:10.1007/978-3-319-91648-4_2 — the facility-location
# example: six sites, four benefit criteria, weights 0.4/0.3/0.1/0.2, v = (n + 1) / 2n = 0.625.
# Printed Q: 0.640, 1.000, 0.693, 0.271, 0.000, 0.694 (the same numbers as test_mcdm.PLOSKAS).
PLOSKAS_CSV = """site,c1,c2,c3,c4
A1,8,7,2,1
A2,5,3,7,5
A3,7,5,6,4
A4,9,9,7,3
A5,11,10,3,7
A6,6,9,5,4
"""

# Opricovic, S. & Tzeng, G.-H. (2004), EJOR 156(2) 445-455, numerical example: f1 a cost, f2 a benefit,
# equal weights (test_mcdm.OPRICOVIC_TZENG).
OPRICOVIC_TZENG_CSV = """alternative,f1,f2
A1,1,3000
A2,2,3750
A3,5,4500
"""

# Xu, X. (2004), EJOR 156(2) 530-532: entropy weights 0.4630, 0.3992, 0.1378, 0.0000 (test_mcdm.XU).
XU_CSV = """car,c1,c2,c3,c4
P1,30,30,38,29
P2,19,54,86,29
P3,19,15,85,28.9
P4,68,70,60,29
"""


def write(tmp_path: Path, text: str, name: str = "matrix.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def rank(*args: str):
    return runner.invoke(app, ["rank", *args])


def by_alternative(rows: list[dict], field: str) -> list[float]:
    return [row[field] for row in sorted(rows, key=lambda r: r["alternative"])]


def test_rank_reproduces_the_papathanasiou_ploskas_vikor_example(tmp_path):
    out = tmp_path / "rank.json"
    result = rank(str(write(tmp_path, PLOSKAS_CSV)), "--name-column", "site", "--weights", "0.4,0.3,0.1,0.2",
                  "--v", "0.625", "--v-grid", "--json", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    vikor = report["vikor"]
    np.testing.assert_allclose(by_alternative(vikor["scores"], "Q"), [0.640, 1.000, 0.693, 0.271, 0.000, 0.694],
                               atol=5e-4)  # fmt: skip
    np.testing.assert_allclose(by_alternative(vikor["scores"], "S"), [0.629, 0.767, 0.601, 0.310, 0.080, 0.516],
                               atol=5e-4)  # fmt: skip
    np.testing.assert_allclose(by_alternative(vikor["scores"], "R"), [0.200, 0.400, 0.267, 0.133, 0.080, 0.333],
                               atol=5e-4)  # fmt: skip
    assert vikor["ranking"] == ["A5", "A4", "A1", "A3", "A6", "A2"]
    # DQ = 1/(6-1) = 0.2; Q(A4) - Q(A5) = 0.271 >= DQ and A5 is also best by S and by R
    assert vikor["dq"] == pytest.approx(0.2) and vikor["advantage"] == pytest.approx(0.271, abs=5e-4)
    assert vikor["acceptable_advantage"] and vikor["acceptable_stability"] and vikor["compromise"] == ["A5"]
    assert [c["weight"] for c in report["criteria"]] == pytest.approx([0.4, 0.3, 0.1, 0.2])
    assert report["weighting"] == "given" and all(c["type"] == "benefit" for c in report["criteria"])
    # the grid of study §2 plus the v asked for
    assert [row["v"] for row in vikor["grid"]] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.625, 0.7, 0.8, 0.9]
    # TOPSIS with vector normalisation, worked by hand (column norms sqrt(356), sqrt(345), sqrt(172), sqrt(116))
    topsis = report["topsis"]
    assert topsis["normalization"] == "vector"
    np.testing.assert_allclose(by_alternative(topsis["scores"], "closeness"),
                               [0.387, 0.327, 0.391, 0.615, 0.868, 0.493], atol=5e-4)  # fmt: skip
    assert topsis["ranking"][0] == "A5"

    printed = result.stdout
    assert "Compromise set: A5" in printed
    assert "C1 acceptable advantage: holds" in printed and "C2 acceptable stability: holds" in printed
    assert "Ranking by Q: A5 > A4 > A1 > A3 > A6 > A2" in printed
    assert "Stability over v" in printed and "0.640" in printed and "0.868" in printed


def test_rank_reproduces_the_opricovic_tzeng_example_with_a_cost_criterion(tmp_path):
    out = tmp_path / "rank.json"
    result = rank(str(write(tmp_path, OPRICOVIC_TZENG_CSV)), "--name-column", "alternative", "--cost", "f1",
                  "--weights", "equal", "--normalization", "linear", "--json", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert [c["type"] for c in report["criteria"]] == ["cost", "benefit"]
    vikor = report["vikor"]
    np.testing.assert_allclose(by_alternative(vikor["scores"], "S"), [0.5, 0.375, 0.5], atol=5e-4)
    np.testing.assert_allclose(by_alternative(vikor["scores"], "R"), [0.5, 0.25, 0.5], atol=5e-4)
    np.testing.assert_allclose(by_alternative(vikor["scores"], "Q"), [1.0, 0.0, 1.0], atol=5e-4)
    assert vikor["compromise"] == ["A2"]
    # A2 wins for every v of the grid, with an acceptable advantage
    assert all(row["best"] == "A2" and row["acceptable_advantage"] for row in vikor["grid"])
    # Opricovic & Tzeng compare with TOPSIS under the linear normalisation: 0.500, 0.617, 0.500
    np.testing.assert_allclose(by_alternative(report["topsis"]["scores"], "closeness"), [0.500, 0.617, 0.500],
                               atol=5e-4)  # fmt: skip
    assert "Stability over v" not in result.stdout  # the grid is printed only with --v-grid


def test_rank_weights_criteria_by_entropy_as_xu_2004(tmp_path):
    out = tmp_path / "rank.json"
    result = rank(
        str(write(tmp_path, XU_CSV)), "--name-column", "car", "--method", "vikor", "--json", str(out)
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["weighting"] == "entropy" and report["topsis"] is None
    np.testing.assert_allclose([c["weight"] for c in report["criteria"]], [0.4630, 0.3992, 0.1378, 0.0000],
                               atol=5e-4)  # fmt: skip
    assert all(c["entropy"] is not None and c["divergence"] is not None for c in report["criteria"])
    assert "0.4630" in result.stdout and "TOPSIS" not in result.stdout


def test_the_example_matrix_ranks_the_factor_groups(tmp_path):
    out = tmp_path / "rank.json"
    result = rank(str(EXAMPLE), "--name-column", "factor_group", "--cost", "acquisition_cost", "--cost",
                  "price_sensitivity", "--v-grid", "--json", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert len(report["alternatives"]) == 9 and len(report["criteria"]) == 5
    assert sum(c["weight"] for c in report["criteria"]) == pytest.approx(1.0)
    vikor = report["vikor"]
    assert sorted(vikor["ranking"]) == sorted(report["alternatives"])
    # the command reads the file and passes the directions and weights on as the library is called by hand
    matrix = pd.read_csv(EXAMPLE, index_col="factor_group")
    kinds = ["cost", "cost", "benefit", "benefit", "benefit"]
    weights = entropy_weights(matrix)["weight"]
    np.testing.assert_allclose([c["weight"] for c in report["criteria"]], weights, atol=1e-12)
    expected = mcdm_vikor(matrix, weights=weights, criteria_types=kinds, v=0.5)
    assert vikor["ranking"] == expected.ranking and vikor["compromise"] == list(expected.compromise)
    np.testing.assert_allclose([row["Q"] for row in vikor["scores"]], expected.scores["Q"], atol=1e-12)
    expected_topsis = mcdm_topsis(matrix, weights=weights, criteria_types=kinds)
    assert report["topsis"]["ranking"] == expected_topsis.ranking
    for row in vikor["grid"]:
        assert row["best"] == row["ranking"][0] and row["best"] in row["compromise"]
        assert row["compromise"] == list(expected.conditions.loc[row["v"], "compromise"])
    assert "Stability over v" in result.stdout
    # turning the two costs into benefits changes the order: the direction is used
    flipped = tmp_path / "flipped.json"
    assert rank(str(EXAMPLE), "--name-column", "factor_group", "--json", str(flipped)).exit_code == 0
    assert json.loads(flipped.read_text())["vikor"]["ranking"] != vikor["ranking"]


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        (None, [], "no such file"),
        ("site,c1,c2\nA,1,2\nB,x,3\n", [], "column 'c1', alternative 'B': 'x' is not a finite number"),
        ("site,c1,c2\nA,1,2\nB,,3\n", [], "column 'c1', alternative 'B': the cell is empty"),
        ("site,c1,c2\nA,1,2\nB,2,3\n", ["--cost", "c9"], "--cost names no criterion 'c9'"),
        ("site,c1,c2\nA,1,2\nB,1,3\n", [], "criterion 'c1' has the same value for every alternative"),
        ("site,c1,c2\nA,1,2\n", [], "at least 2 alternatives"),
        ("site,c1,c2\n", [], "at least 2 alternatives"),
        ("", [], "cannot read"),
        ("name,c1,c2\nA,1,2\nB,2,3\n", [], "has no column 'site'"),
        ("site\nA\nB\n", [], "no criterion column"),
        ("site,c1,c2\nA,1,2\nA,2,3\n", [], "alternative 'A' appears more than once"),
        ("site,c1,c2\nA,-1,2\nB,2,3\n", [], "non-negative values (column 'c1')"),
        ("site,c1,c2\nA,1,2\nB,2,3\n", ["--weights", "1,2,3"], "--weights has 3 value(s) for 2 criteria"),
        ("site,c1,c2\nA,1,2\nB,2,3\n", ["--weights", "1,much"], "'much' (for 'c2') is not a number"),
        ("site,c1,c2\nA,1,2\nB,2,3\n", ["--weights", "0,0"], "the weights sum to zero"),
        ("site,c1,c2\nA,1,2\nB,2,3\n", ["--v", "1.5"], "--v must lie in [0, 1]"),
        ("site,c1,c2\nA,1,2\nB,2,3\n", ["--method", "electre"], "--method must be one of"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, text, args, message):
    path = tmp_path / "matrix.csv" if text is None else write(tmp_path, text)
    out = tmp_path / "rank.json"
    result = rank(str(path), "--name-column", "site", "--json", str(out), *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr
    assert not out.exists()  # nothing written


def test_a_constant_criterion_is_fine_with_given_weights(tmp_path):
    # only entropy weighting refuses it; with given weights it simply cannot separate the alternatives
    result = rank(str(write(tmp_path, "site,c1,c2\nA,1,2\nB,1,3\nC,1,1\n")), "--name-column", "site",
                  "--weights", "equal")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Ranking by Q: B > A > C" in result.stdout
