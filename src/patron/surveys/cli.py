"""``patron survey ...`` commands (a Typer app the main ``patron`` command mounts).

``patron survey analyze`` runs :func:`patron.surveys.analysis.analyze` on a CSV of answers and writes the
JSON result and the standalone HTML report. Bad input ends the command with one ``Error:`` line on stderr,
exit code 1 and no output file.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from patron.stats import StatsInputError
from patron.surveys.analysis import METHODS, AnalysisSpec, analyze
from patron.surveys.report import fmt_number, render_report

app = typer.Typer(
    help="Surveys: analyse questionnaire answers and write reports.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


@app.callback()
def survey() -> None:
    """Surveys: analyse questionnaire answers and write reports."""


def _fail(message: str) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(1)


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise _fail(f"no such file: {path}")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read {path} as CSV: {str(exc).strip()}") from None


def _read_model(path: Path) -> str:
    if not path.is_file():
        raise _fail(f"no such model file: {path}")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read the model file {path}: {exc}") from None


def _parse_scale(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*[-:,]\s*(-?\d+(?:\.\d+)?)\s*", text)
    if not match:
        raise _fail(f"--scale must look like 1-5, got {text!r}")
    lo, hi = float(match.group(1)), float(match.group(2))
    if lo >= hi:
        raise _fail(f"--scale must give the lowest point first, got {text!r}")
    return lo, hi


def _write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path`` and rename it, so a failure never leaves half a file."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_output(path: Path | None, option: str) -> None:
    if path is None:
        return
    if path.is_dir():
        raise _fail(f"{option} {path} is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise _fail(f"{option}: the folder {parent} does not exist")


@app.command("analyze")
def analyze_command(
    responses: Annotated[Path, typer.Argument(help="CSV file: one row per respondent, one column per item.")],
    model: Annotated[
        Path, typer.Option("--model", help="Text file with the model in lavaan syntax (=~, ~, ~~).")
    ],
    method: Annotated[str, typer.Option("--method", help="cb-sem (maximum likelihood) or pls.")] = "cb-sem",
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the HTML report to this file.")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the full result as JSON.")] = None,
    scale: Annotated[
        str | None, typer.Option("--scale", help="Answer scale, e.g. 1-5 (default: from the data).")
    ] = None,
    midpoint: Annotated[
        float | None, typer.Option("--midpoint", help="Reference of the t-tests (default: scale middle).")
    ] = None,
    boot: Annotated[int, typer.Option("--boot", help="PLS bootstrap resamples.")] = 500,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the PLS bootstrap.")] = 1,
    nps: Annotated[str | None, typer.Option("--nps", help="Column with 0-10 recommendation answers.")] = None,
    csat: Annotated[str | None, typer.Option("--csat", help="Column with satisfaction ratings.")] = None,
    title: Annotated[str, typer.Option("--title", help="Title of the report.")] = "Survey analysis",
) -> None:
    """Analyse survey answers with a CB-SEM or PLS-SEM model; print a summary, write JSON and HTML.

    Rows with a missing answer in any of the model's columns are dropped (listwise) and counted.
    """
    if method not in METHODS:
        raise _fail(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if boot < 10:
        raise _fail(f"--boot must be at least 10, got {boot}")
    _check_output(report, "--report")
    _check_output(json_out, "--json")
    spec = AnalysisSpec(
        model=_read_model(model),
        method=method,
        scale=_parse_scale(scale),
        midpoint=midpoint,
        n_boot=boot,
        seed=seed,
        nps=nps,
        csat=csat,
        title=title,
    )
    data = _read_csv(responses)
    try:
        result = analyze(data, spec)
    except StatsInputError as exc:
        raise _fail(str(exc)) from None
    json_text = json.dumps(result, indent=2, allow_nan=False)
    html = render_report(result) if report is not None else None
    try:
        if json_out is not None:
            _write_atomically(json_out, json_text + "\n")
        if report is not None and html is not None:
            _write_atomically(report, html)
    except OSError as exc:
        raise _fail(f"cannot write the output: {exc}") from None
    typer.echo(_summary(result))
    if json_out is not None:
        typer.echo(f"JSON written to {json_out}")
    if report is not None:
        typer.echo(f"Report written to {report}")


def _summary(result: dict) -> str:
    lines = [f"{result['title']} ({result['method']})"]
    dropped = f", {result['n_dropped']} dropped for missing answers" if result["n_dropped"] else ""
    lines.append(f"n = {result['n']}{dropped}")
    fit = result.get("fit") or {}
    if fit:
        parts = [f"chi2 = {fmt_number(fit.get('chi2'))}", f"df = {fit.get('df')}"]
        parts += [
            f"{k.upper()} = {fmt_number(fit.get(k))}" for k in ("cfi", "tli", "rmsea", "srmr") if k in fit
        ]
        lines.append("Fit: " + ", ".join(parts))
    if result.get("r2"):
        lines.append("R2: " + ", ".join(f"{k} {fmt_number(v)}" for k, v in result["r2"].items()))
    lines.append("Reliability:")
    for construct, values in (result.get("reliability") or {}).items():
        shown = ", ".join(f"{k} {fmt_number(v)}" for k, v in values.items())
        lines.append(f"  {construct}: {shown}")
    for warning in result.get("warnings") or []:
        lines.append(f"Warning: {warning}")
    return "\n".join(lines)
