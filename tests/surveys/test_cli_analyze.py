"""`patron survey analyze`: lavaan's and seminr's figures through the command, and bad input leaving no file."""

import json

import pytest
from typer.testing import CliRunner

from patron.surveys.cli import app
from tests.stats.conftest import DATA, HS_MODEL
from tests.surveys.test_analysis import PLANTED_MODEL, likert_sample

runner = CliRunner()

MOBI_MODEL = """
Image        =~ IMAG1 + IMAG2 + IMAG3 + IMAG4 + IMAG5
Expectation  =~ CUEX1 + CUEX2 + CUEX3
Value        =~ PERV1 + PERV2
Satisfaction =~ CUSA1 + CUSA2 + CUSA3
Satisfaction ~ Image + Expectation + Value
"""


def run(*args: str):
    return runner.invoke(app, ["analyze", *map(str, args)])


@pytest.fixture
def hs_files(tmp_path):
    model = tmp_path / "hs.txt"
    model.write_text(HS_MODEL)
    return DATA / "HolzingerSwineford1939.csv", model


def test_hs_cfa_through_the_command(tmp_path, hs_files):
    csv, model = hs_files
    out_json, out_html = tmp_path / "hs.json", tmp_path / "hs.html"
    result = run(csv, "--model", model, "--json", out_json, "--report", out_html, "--title", "HS 1939")
    assert result.exit_code == 0, result.output
    # lavaan 0.6: cfa(HS.model, data = HolzingerSwineford1939) -- lavaan tutorial "cfa" page:
    # chi2 85.306, df 24, CFI 0.931, TLI 0.896, RMSEA 0.092, SRMR 0.065.
    assert "n = 301" in result.stdout
    assert "chi2 = 85.306, df = 24, CFI = 0.931, TLI = 0.896, RMSEA = 0.092, SRMR = 0.065" in result.stdout
    assert "visual: alpha 0.626" in result.stdout  # psych::alpha(HS[, c("x1", "x2", "x3")]): 0.626
    assert f"JSON written to {out_json}" in result.stdout
    saved = json.loads(out_json.read_text())
    fit = saved["fit"]
    assert (fit["chi2"], fit["df"], fit["cfi"], fit["tli"], fit["rmsea"], fit["srmr"]) == pytest.approx(
        (85.306, 24, 0.931, 0.896, 0.092, 0.065), abs=0.0005 + 1e-9
    )
    assert saved["reliability"]["visual"]["alpha"] == pytest.approx(0.6261171319, abs=1e-9)
    assert all(
        list(row)[:8] == ["lhs", "op", "rhs", "est", "se", "z", "pvalue", "std_all"]
        for row in saved["estimates"]
    )
    assert "NaN" not in out_json.read_text() and "Infinity" not in out_json.read_text()
    html = out_html.read_text()
    assert "<title>HS 1939</title>" in html and 'id="pr-fit"' in html
    assert not list(tmp_path.glob(".*.tmp"))


def test_pls_on_mobi_through_the_command(tmp_path):
    model = tmp_path / "mobi.txt"
    model.write_text(MOBI_MODEL)
    out_json = tmp_path / "mobi.json"
    result = run(
        DATA / "mobi.csv",
        "--model",
        model,
        "--method",
        "pls",
        "--boot",
        "100",
        "--seed",
        "3",
        "--json",
        out_json,
    )
    assert result.exit_code == 0, result.output
    assert "R2: Satisfaction" in result.stdout
    saved = json.loads(out_json.read_text())
    paths = {e["rhs"]: e for e in saved["estimates"] if e["op"] == "~"}
    # seminr 2.x, estimate_pls(mobi, mobi_mm, mobi_sm, inner_weights = path_weighting), fixture
    # V_3_6_0/inner_weights_coefficients.csv (quoted in tests/stats/test_pls.py).
    assert paths["Image"]["est"] == pytest.approx(0.447003896753383, abs=1e-6)
    assert paths["Value"]["est"] == pytest.approx(0.316425319256027, abs=1e-6)
    assert paths["Image"]["pvalue"] < 0.001 and paths["Image"]["se"] > 0
    # seminr reliability fixture: Value alpha 0.8236, rhoA 0.8575
    assert saved["reliability"]["Value"]["alpha"] == pytest.approx(0.823631979352573, abs=1e-6)
    assert saved["reliability"]["Value"]["rho_a"] == pytest.approx(0.857527048393235, abs=1e-6)
    assert saved["fit"] == {} and saved["n_boot"] == 100 and saved["seed"] == 3
    assert saved["scale"] == [1.0, 10.0]


def test_missing_answers_are_reported(tmp_path):
    data = likert_sample(120).astype(float)
    data.loc[[1, 2, 3], "sa1"] = None
    csv = tmp_path / "answers.csv"
    data.to_csv(csv, index=False)
    model = tmp_path / "model.txt"
    model.write_text(PLANTED_MODEL)
    result = run(csv, "--model", model, "--scale", "1-5", "--midpoint", "3")
    assert result.exit_code == 0, result.output
    assert "n = 117, 3 dropped for missing answers" in result.stdout


@pytest.fixture
def planted_files(tmp_path):
    csv = tmp_path / "answers.csv"
    likert_sample(100).to_csv(csv, index=False)
    model = tmp_path / "model.txt"
    model.write_text(PLANTED_MODEL)
    return csv, model


def _bad_csv(tmp_path, kind):
    path = tmp_path / f"{kind}.csv"
    if kind == "text":
        data = likert_sample(100).astype(object)
        data.loc[7, "sv2"] = "strongly agree"
        data.to_csv(path, index=False)
    elif kind == "empty":
        path.write_text("")
    elif kind == "binary":
        path.write_bytes(b"\xff\xfe\x00\x81\x82" * 50)
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing_file", "no such file"),
        ("missing_model", "no such model file"),
        ("unknown_column", "column 'zz9' is not in the data"),
        ("text", "column 'sv2' has non-numeric cells"),
        ("empty", "cannot read"),
        ("binary", "cannot read"),
        ("bad_model", "no operator"),
        ("method", "--method must be one of cb-sem, pls"),
        ("scale", "--scale must look like 1-5"),
        ("outside", "outside the scale 2-5"),
        ("nps", "column 'promoter' is not in the data"),
        ("boot", "--boot must be at least 10"),
    ],
)
def test_bad_input_is_one_error_line_and_no_file(tmp_path, planted_files, case, message):
    csv, model = planted_files
    args = []
    if case == "missing_file":
        csv = tmp_path / "nowhere.csv"
    elif case == "missing_model":
        model = tmp_path / "nowhere.txt"
    elif case == "unknown_column":
        model.write_text(PLANTED_MODEL + "price =~ zz9\n")
    elif case in ("text", "empty", "binary"):
        csv = _bad_csv(tmp_path, case)
    elif case == "bad_model":
        model.write_text("service sv1 sv2 sv3\n")
    elif case == "method":
        args = ["--method", "amos"]
    elif case == "scale":
        args = ["--scale", "five"]
    elif case == "outside":
        args = ["--scale", "2-5"]
    elif case == "nps":
        args = ["--nps", "promoter"]
    elif case == "boot":
        args = ["--method", "pls", "--boot", "2"]
    out_json, out_html = tmp_path / "out.json", tmp_path / "out.html"
    result = run(csv, "--model", model, "--json", out_json, "--report", out_html, *args)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert not out_json.exists() and not out_html.exists()
    assert not list(tmp_path.glob(".out.*"))


def test_output_folder_must_exist(planted_files, tmp_path):
    csv, model = planted_files
    result = run(csv, "--model", model, "--report", tmp_path / "no" / "such" / "r.html")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: --report: the folder")
