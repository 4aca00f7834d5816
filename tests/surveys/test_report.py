"""The HTML report: every section, escaping of user text, a standalone document, number formatting."""

import re

import numpy as np
import pandas as pd
import pytest

from patron.surveys.analysis import AnalysisSpec, analyze
from patron.surveys.report import (
    fmt_number,
    fmt_p,
    path_diagram_svg,
    render_report,
    render_report_body,
    stars,
)
from tests.surveys.test_analysis import PLANTED_MODEL, likert_sample


@pytest.fixture(scope="module")
def full_result():
    data = likert_sample(200)
    data["recommend"] = np.tile([10, 9, 8, 7, 6, 3, 10, 9, 5, 10], 20)
    data["sat"] = np.tile([5, 4, 3, 2, 1], 40)
    servqual = {
        "assurance": {"expectation": ["sv1", "sv2"], "perception": ["sa1", "sa2"]},
        "empathy": {"expectation": ["pr3"], "perception": ["sa3"]},
    }
    spec = AnalysisSpec(PLANTED_MODEL, nps="recommend", csat="sat", servqual=servqual, title="Wave 1")
    return analyze(data, spec)


@pytest.fixture(scope="module")
def pls_result():
    return analyze(likert_sample(200), AnalysisSpec(PLANTED_MODEL, method="pls", n_boot=50))


SECTIONS = [
    "pr-sample",
    "pr-diagram",
    "pr-fit",
    "pr-loadings",
    "pr-paths",
    "pr-reliability",
    "pr-validity",
    "pr-descriptives",
    "pr-normality",
    "pr-friedman",
    "pr-ttest",
    "pr-distributions",
    "pr-nps",
    "pr-csat",
    "pr-servqual",
    "pr-notes",
]


def test_body_has_every_section(full_result):
    body = render_report_body(full_result)
    for section in SECTIONS:
        assert f'id="{section}"' in body, section
    assert body.lstrip().startswith('<div class="pr-report">')
    classes = {c for attr in re.findall(r'class="([^"]*)"', body) for c in attr.split()}
    assert classes and all(c.startswith("pr-") for c in classes), sorted(
        c for c in classes if not c.startswith("pr-")
    )
    # the fit table marks each index against its threshold: CFI >= 0.95 passes on the generating model
    fit_row = re.search(r"<th>CFI</th><td>([0-9.]+)</td><td>\u2265 0.95</td><td>(.*?)</td>", body)
    assert fit_row is not None
    assert float(fit_row.group(1)) == pytest.approx(full_result["fit"]["cfi"], abs=5e-4)
    assert "pr-pass" in fit_row.group(2)
    assert "NPS 20.0" in body


def test_pls_report_has_quality_and_no_fit(pls_result):
    body = render_report_body(pls_result)
    assert 'id="pr-quality"' in body and 'id="pr-fit"' not in body
    assert "rho_A" in body and "95 % CI" in body
    assert 'id="pr-nps"' not in body and 'id="pr-servqual"' not in body


def test_user_text_is_escaped():
    data = likert_sample(150).rename(columns={"sv1": "sv1<script>"})
    data.columns = [c.replace("<script>", "") for c in data.columns]
    result = analyze(data, AnalysisSpec(PLANTED_MODEL, title="<script>alert('t')</script>"))
    # An item name that slipped past the model syntax (e.g. edited JSON) is escaped too.
    result["descriptives"]["items"][0]["item"] = "<script>alert('i')</script>"
    result["constructs"]["<img src=x onerror=alert(1)>"] = ["a"]
    html = render_report(result)
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(&#39;i&#39;)&lt;/script&gt;" in html
    assert "<img" not in html
    html = render_report(result, title="</title><script>x</script>")
    assert "<script" not in html and "&lt;/title&gt;" in html


def test_standalone_document_has_no_external_resources(full_result):
    html = render_report(full_result, title="Report")
    assert html.startswith("<!DOCTYPE html>")
    assert "<title>Report</title>" in html
    assert "<style>" in html and "@media print" in html and 'name="viewport"' in html
    assert not re.search(r"""(src|href)\s*=""", html, re.IGNORECASE)
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert html.count("<svg") >= 5  # diagram, means, distributions, NPS, SERVQUAL


def test_path_diagram(full_result):
    svg = path_diagram_svg(full_result)
    assert svg.startswith("<svg")
    assert svg.count("<ellipse") == 3
    assert svg.count("<rect") == 12  # one box per item
    path = next(e for e in full_result["estimates"] if (e["lhs"], e["rhs"]) == ("satisfaction", "service"))
    assert f">{path['std_all']:.2f}***</text>" in svg
    # constructs only when the model is large
    big = dict(full_result, constructs={f"c{k}": [f"i{k}_{j}" for j in range(5)] for k in range(9)}, paths=[])
    svg = path_diagram_svg(big)
    assert svg.count("<ellipse") == 9 and "<rect" not in svg


def test_report_survives_a_result_read_back_with_gaps(full_result):
    partial = {k: v for k, v in full_result.items() if k not in ("friedman", "normality", "distributions")}
    body = render_report_body(partial)
    assert 'id="pr-friedman"' not in body and 'id="pr-reliability"' in body


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0004, "< .001"), (0.001, ".001"), (0.0234, ".023"), (0.5, ".500"), (1.0, "1.000"), (None, "\u2013")],
)
def test_p_values_in_apa_style(value, text):
    assert fmt_p(value) == text


def test_numbers_and_stars():
    assert fmt_number(0.93056) == "0.931"
    assert fmt_number(-0.0001) == "0.000"
    assert fmt_number(None) == "\u2013"
    assert fmt_number(24) == "24"
    assert [stars(p) for p in (0.0001, 0.005, 0.03, 0.2, None)] == ["***", "**", "*", "", ""]


def test_weak_loadings_are_marked():
    data = likert_sample(300)
    rng = np.random.default_rng(3)
    data["sv4"] = rng.integers(1, 6, size=300)  # noise: loads near 0
    result = analyze(pd.DataFrame(data), AnalysisSpec(PLANTED_MODEL))
    body = render_report_body(result)
    row = re.search(r'<tr class="pr-weak"><td>service</td><td>sv4</td>', body)
    assert row is not None
