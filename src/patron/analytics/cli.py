"""``patron analytics ...`` commands (a Typer app the main ``patron`` command mounts).

Only the library is used here; errors in the input end the command with one line on stderr and
a non-zero exit code (1 for ``clv``, 2 for ``rank``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from patron.analytics.clv import BetaGeoModel, GammaGammaModel, customer_lifetime_value
from patron.analytics.errors import AnalyticsError
from patron.analytics.mcdm import TopsisResult, VikorResult, criteria_summary, entropy_weights, topsis, vikor
from patron.analytics.rfm import TIME_UNITS, summarize_transactions

app = typer.Typer(
    help="Customer analytics: lifetime value, purchase models and multi-criteria ranking.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


@app.callback()
def analytics() -> None:
    """Customer analytics: lifetime value, purchase models and multi-criteria ranking."""


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)


def _read_transactions(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise _fail(f"no such file: {path}")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read {path} as CSV: {exc}") from None


@app.command("clv")
def clv(
    transactions: Annotated[Path, typer.Argument(help="CSV file with one row per transaction.")],
    customer: Annotated[str, typer.Option("--customer", help="Column holding the customer id.")],
    date: Annotated[str, typer.Option("--date", help="Column holding the transaction date.")],
    amount: Annotated[str, typer.Option("--amount", help="Column holding the transaction value (>= 0).")],
    calibration_end: Annotated[
        str,
        typer.Option("--calibration-end", help="Last day (inclusive) of the calibration period, YYYY-MM-DD."),
    ],
    time_unit: Annotated[
        str, typer.Option("--time-unit", help="Unit of recency and T: day or week.")
    ] = "week",
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write fitted parameters to this JSON file.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write per-customer predictions to this CSV file.")
    ] = None,
    months: Annotated[int, typer.Option("--months", help="CLV horizon in months.")] = 12,
    discount_rate: Annotated[
        float, typer.Option("--discount-rate", help="Monthly discount rate of CLV.")
    ] = 0.01,
    date_format: Annotated[
        str | None, typer.Option("--date-format", help="strptime format of the dates, e.g. %Y%m%d.")
    ] = None,
) -> None:
    """Fit BG/NBD and Gamma-Gamma to a transaction log and predict each customer's lifetime value.

    Purchases on the same day merge into one; a repeat purchase is one on a later day.
    """
    if time_unit not in TIME_UNITS:
        raise _fail(f"--time-unit must be one of {', '.join(TIME_UNITS)}, got {time_unit!r}")
    frame = _read_transactions(transactions)
    try:
        summary = summarize_transactions(
            frame,
            customer=customer,
            date=date,
            amount=amount,
            calibration_end=calibration_end,
            time_unit=time_unit,
            date_format=date_format,
        )
        purchases = BetaGeoModel().fit(summary)
        spend = GammaGammaModel().fit(summary)
        predictions = customer_lifetime_value(
            purchases, spend, summary, time_unit=time_unit, months=months, monthly_discount_rate=discount_rate
        )
    except AnalyticsError as exc:
        raise _fail(str(exc)) from None

    result = {
        "customers": int(len(summary)),
        "calibration_end": pd.Timestamp(calibration_end).date().isoformat(),
        "time_unit": time_unit,
        "bgnbd": {**purchases.params_, "loglik": purchases.loglik_},
        "gamma_gamma": {**spend.params_, "loglik": spend.loglik_, "repeat_customers": spend.n_customers_},
        "clv": {
            "months": months,
            "monthly_discount_rate": discount_rate,
            "total": float(predictions["clv"].sum()),
            "mean": float(predictions["clv"].mean()),
        },
    }
    bg, gg = result["bgnbd"], result["gamma_gamma"]
    typer.echo(f"customers: {result['customers']} (repeat buyers: {gg['repeat_customers']})")
    typer.echo(
        f"BG/NBD: r={bg['r']:.4f} alpha={bg['alpha']:.4f} a={bg['a']:.4f} b={bg['b']:.4f} "
        f"loglik={bg['loglik']:.2f}"
    )
    typer.echo(f"Gamma-Gamma: p={gg['p']:.4f} q={gg['q']:.4f} v={gg['v']:.4f}")
    typer.echo(
        f"CLV over {months} months: total {result['clv']['total']:.2f}, mean {result['clv']['mean']:.2f}"
    )
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=2) + "\n")
        typer.echo(f"wrote {json_out}")
    if out is not None:
        table = summary[["frequency", "recency", "T", "monetary_value"]].join(predictions)
        table.to_csv(out, index_label=customer)
        typer.echo(f"wrote {out} ({len(table)} customers)")


# --- multi-criteria ranking ----------------------------------------------------------------------

#: exit code of ``rank`` for bad input (a missing file, a bad cell, an unknown criterion...)
BAD_INPUT = 2
WEIGHTINGS = ("entropy", "equal")
RANK_METHODS = ("vikor", "topsis", "both")
NORMALIZATIONS = ("vector", "linear")
FIGURE_COLUMNS = frozenset(
    {"S", "R", "Q", "rank S", "rank R", "rank Q", "d+", "d-", "closeness", "rank", "entropy", "divergence",
     "weight", "advantage"}
)  # fmt: skip


def _bad(message: str) -> typer.Exit:
    return _fail(message, BAD_INPUT)


def _read_decision_matrix(path: Path, name_column: str) -> pd.DataFrame:
    """The CSV as a decision matrix: alternatives (named by ``name_column``) in rows, every other
    column a numeric criterion. Each problem is reported with the column and alternative at fault."""
    if not path.is_file():
        raise _bad(f"no such file: {path}")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, index_col=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise _bad(f"cannot read {path} as CSV: {exc}") from None
    frame = frame.fillna("")  # a short row's missing cells are empty cells
    frame.columns = [str(c).strip() for c in frame.columns]
    if name_column not in frame.columns:
        raise _bad(f"{path} has no column {name_column!r}; it has {', '.join(frame.columns)}")
    names = frame[name_column].str.strip()
    for line, name in enumerate(names, start=2):
        if not name:
            raise _bad(f"line {line} of {path}: the name in column {name_column!r} is empty")
    repeated = names[names.duplicated()]
    if not repeated.empty:
        raise _bad(f"alternative {repeated.iloc[0]!r} appears more than once in column {name_column!r}")
    criteria = [c for c in frame.columns if c != name_column]
    if not criteria:
        raise _bad(f"{path} has no criterion column besides {name_column!r}")
    columns = {}
    for criterion in criteria:
        cells = frame[criterion].str.strip()
        numbers = pd.to_numeric(cells, errors="coerce")
        bad = numbers.isna() | ~np.isfinite(numbers.fillna(0.0))
        if bad.any():
            at = int(np.argmax(bad.to_numpy()))
            cell = cells.iloc[at]
            what = "the cell is empty" if cell == "" else f"{cell!r} is not a finite number"
            raise _bad(f"column {criterion!r}, alternative {names.iloc[at]!r}: {what}")
        columns[criterion] = numbers.astype(float).to_numpy()
    matrix = pd.DataFrame(columns, index=pd.Index(names.tolist(), name=name_column))
    if len(matrix) < 2:
        raise _bad(f"ranking needs at least 2 alternatives (rows), {path} has {len(matrix)}")
    return matrix


def _criterion_weights(spec: str, matrix: pd.DataFrame) -> tuple[str, pd.Series, pd.DataFrame | None]:
    """``(weighting, weights, entropy table or None)`` from ``--weights``."""
    criteria = list(matrix.columns)
    key = spec.strip().lower()
    if key == "entropy":
        for criterion in criteria:
            if matrix[criterion].nunique() == 1:
                raise _bad(
                    f"criterion {criterion!r} has the same value for every alternative, so it carries no "
                    "information and entropy weighting cannot use it; drop the column or give --weights"
                )
        try:
            table = entropy_weights(matrix)
        except AnalyticsError as exc:
            raise _bad(str(exc)) from None
        return "entropy", table["weight"], table
    if key == "equal":
        return "equal", pd.Series(1.0 / len(criteria), index=criteria), None
    parts = [part.strip() for part in spec.split(",")]
    if len(parts) != len(criteria):
        raise _bad(
            f"--weights has {len(parts)} value(s) for {len(criteria)} criteria ({', '.join(criteria)}); "
            "give one per criterion in column order, or 'entropy' or 'equal'"
        )
    values = []
    for criterion, part in zip(criteria, parts, strict=True):
        try:
            value = float(part)
        except ValueError:
            raise _bad(f"--weights: {part!r} (for {criterion!r}) is not a number") from None
        if not np.isfinite(value) or value < 0:
            raise _bad(f"--weights: the weight of {criterion!r} must be a finite number >= 0, got {part}")
        values.append(value)
    total = sum(values)
    if total <= 0:
        raise _bad("--weights: the weights sum to zero")
    return "given", pd.Series([v / total for v in values], index=criteria), None


def _score(value: float) -> float:
    """A score as a plain float, with -0.0 (a zero distance on a cost criterion) written as 0.0."""
    return float(value) + 0.0


def _ranking_at(result: VikorResult, v: float) -> list:
    """Alternatives by Q at ``v`` of the grid, ties broken by S then R (as the library ranks)."""
    frame = pd.DataFrame({"Q": result.q_by_v[v], "S": result.scores["S"], "R": result.scores["R"]})
    return list(frame.sort_values(["Q", "S", "R"], kind="stable").index)


def _condition_row(result: VikorResult, v: float) -> dict:
    row = result.conditions.loc[v]
    return {
        "v": float(v),
        "ranking": [str(a) for a in _ranking_at(result, v)],
        "best": str(row["best"]),
        "second": str(row["second"]),
        "advantage": _score(row["advantage"]),
        "acceptable_advantage": bool(row["acceptable_advantage"]),
        "acceptable_stability": bool(row["acceptable_stability"]),
        "compromise": [str(a) for a in row["compromise"]],
    }


def _vikor_json(result: VikorResult) -> dict:
    scores = result.scores
    best = result.best
    return {
        "v": result.v,
        "dq": result.dq,
        "scores": [
            {
                "alternative": str(name),
                "S": _score(row["S"]),
                "R": _score(row["R"]),
                "Q": _score(row["Q"]),
                "rank_S": int(row["rank_S"]),
                "rank_R": int(row["rank_R"]),
                "rank_Q": int(row["rank_Q"]),
            }
            for name, row in scores.iterrows()
        ],  # fmt: skip
        **_condition_row(result, result.v),
        "best_by_S": bool(np.isclose(scores.loc[best, "S"], scores["S"].min())),
        "best_by_R": bool(np.isclose(scores.loc[best, "R"], scores["R"].min())),
        "grid": [_condition_row(result, v) for v in result.q_by_v.columns],
    }


def _topsis_json(result: TopsisResult) -> dict:
    return {
        "normalization": result.normalization,
        "scores": [
            {
                "alternative": str(name),
                "d_plus": _score(row["d_plus"]),
                "d_minus": _score(row["d_minus"]),
                "closeness": _score(row["closeness"]),
                "rank": int(row["rank"]),
            }
            for name, row in result.scores.iterrows()
        ],  # fmt: skip
        "ranking": [str(a) for a in result.ranking],
    }


def _table(title: str, *columns: str) -> Table:
    """A table whose figure columns (scores, ranks, weights) are right-aligned and text columns left-aligned."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column in FIGURE_COLUMNS else "left")
    return table


def _cells(*values: object) -> list[Text]:
    # Text cells, so a name with [brackets] is never read as rich markup
    return [Text(v if isinstance(v, str) else f"{v}") for v in values]


def _print_vikor(console: Console, report: dict, *, show_grid: bool) -> None:
    table = _table(
        f"VIKOR at v = {report['v']:g}", "alternative", "S", "R", "Q", "rank S", "rank R", "rank Q"
    )
    by_name = {row["alternative"]: row for row in report["scores"]}
    for name in report["ranking"]:
        row = by_name[name]
        table.add_row(*_cells(name, f"{row['S']:.3f}", f"{row['R']:.3f}", f"{row['Q']:.3f}",
                              str(row["rank_S"]), str(row["rank_R"]), str(row["rank_Q"])))  # fmt: skip
    console.print(table)
    say = console.print
    say(f"Ranking by Q: {' > '.join(report['ranking'])}", markup=False, soft_wrap=True)
    best, second = report["best"], report["second"]
    c1 = "holds" if report["acceptable_advantage"] else "fails"
    relation = ">=" if report["acceptable_advantage"] else "<"
    say(
        f"C1 acceptable advantage: {c1} (Q({second}) - Q({best}) = {report['advantage']:.3f} "
        f"{relation} DQ = {report['dq']:.3f})",
        markup=False,
        soft_wrap=True,
    )
    by = [m for m, flag in (("S", report["best_by_S"]), ("R", report["best_by_R"])) if flag]
    c2 = (
        f"holds ({best} is also best by {' and by '.join(by)})"
        if by
        else f"fails ({best} is best neither by S nor by R)"
    )
    say(f"C2 acceptable stability: {c2}", markup=False, soft_wrap=True)
    say(f"Compromise set: {', '.join(report['compromise'])}", markup=False, soft_wrap=True)
    if show_grid:
        # one line per v: who leads, by how much, and the compromise set (the full rankings are in --json)
        grid = _table("Stability over v", "v", "best", "second", "advantage", "C1", "C2", "compromise set")
        for row in report["grid"]:
            grid.add_row(*_cells(f"{row['v']:g}", row["best"], row["second"], f"{row['advantage']:.3f}",
                                 "yes" if row["acceptable_advantage"] else "no",
                                 "yes" if row["acceptable_stability"] else "no", ", ".join(row["compromise"])))  # fmt: skip
        console.print(grid)


def _print_topsis(console: Console, report: dict) -> None:
    table = _table(f"TOPSIS ({report['normalization']} normalisation)", "alternative", "d+", "d-", "closeness",
                   "rank")  # fmt: skip
    by_name = {row["alternative"]: row for row in report["scores"]}
    for name in report["ranking"]:
        row = by_name[name]
        table.add_row(*_cells(name, f"{row['d_plus']:.3f}", f"{row['d_minus']:.3f}", f"{row['closeness']:.3f}",
                              str(row["rank"])))  # fmt: skip
    console.print(table)
    console.print(f"Ranking by closeness: {' > '.join(report['ranking'])}", markup=False, soft_wrap=True)


@app.command("rank")
def rank(
    matrix_csv: Annotated[
        Path,
        typer.Argument(metavar="MATRIX.csv", help="CSV: one row per alternative, one column per criterion."),
    ],
    name_column: Annotated[str, typer.Option("--name-column", help="Column naming the alternatives.")],
    cost: Annotated[
        list[str] | None,
        typer.Option(
            "--cost", help="A criterion where lower is better (repeat for several); others are benefits."
        ),
    ] = None,
    weights: Annotated[
        str,
        typer.Option(
            "--weights", help="entropy, equal, or one weight per criterion in column order: 0.4,0.3,..."
        ),
    ] = "entropy",
    v: Annotated[
        float,
        typer.Option(
            "--v", help="VIKOR strategy weight of group utility S, in [0, 1] (1 - v goes to regret R)."
        ),
    ] = 0.5,
    v_grid: Annotated[
        bool, typer.Option("--v-grid", help="Also show the ranking and compromise set for v = 0.1 ... 0.9.")
    ] = False,
    method: Annotated[str, typer.Option("--method", help="vikor, topsis or both.")] = "both",
    normalization: Annotated[
        str,
        typer.Option("--normalization", help="TOPSIS normalisation: vector (usual) or linear (as VIKOR's)."),
    ] = "vector",
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Write weights, scores, conditions and rankings to this file."),
    ] = None,
) -> None:
    """Rank alternatives against criteria: entropy (or given) weights, VIKOR with its two conditions and
    compromise set, and TOPSIS.

    Every column but the name column is a criterion; a criterion is a benefit (higher is better)
    unless named with --cost. Bad input ends the command with one line on stderr and exit code 2.
    """
    if method not in RANK_METHODS:
        raise _bad(f"--method must be one of {', '.join(RANK_METHODS)}, got {method!r}")
    if normalization not in NORMALIZATIONS:
        raise _bad(f"--normalization must be one of {', '.join(NORMALIZATIONS)}, got {normalization!r}")
    if not 0.0 <= v <= 1.0:
        raise _bad(f"--v must lie in [0, 1], got {v:g}")
    matrix = _read_decision_matrix(matrix_csv, name_column)
    criteria = list(matrix.columns)
    costs = list(dict.fromkeys(cost or []))
    for criterion in costs:
        if criterion not in criteria:
            raise _bad(f"--cost names no criterion {criterion!r}; the criteria are {', '.join(criteria)}")
    kinds = ["cost" if c in costs else "benefit" for c in criteria]
    weighting, weight, entropy = _criterion_weights(weights, matrix)

    report: dict = {
        "file": str(matrix_csv),
        "alternatives": [str(a) for a in matrix.index],
        "weighting": weighting,
        "criteria": criteria_summary(list(zip(criteria, kinds, strict=True)), weight, entropy),
        "vikor": None,
        "topsis": None,
    }
    try:
        if method in ("vikor", "both"):
            report["vikor"] = _vikor_json(vikor(matrix, weights=weight, criteria_types=kinds, v=v))
        if method in ("topsis", "both"):
            report["topsis"] = _topsis_json(
                topsis(matrix, weights=weight, criteria_types=kinds, normalization=normalization)
            )
    except AnalyticsError as exc:
        raise _bad(str(exc)) from None

    console = Console(highlight=False)
    console.print(
        f"{len(matrix)} alternatives, {len(criteria)} criteria from {matrix_csv} (weights: {weighting})",
        markup=False,
        soft_wrap=True,
    )
    table = _table("Criterion weights", "criterion", "type", "entropy", "divergence", "weight")
    for row in report["criteria"]:
        table.add_row(*_cells(row["name"], row["type"],
                              "" if row["entropy"] is None else f"{row['entropy']:.4f}",
                              "" if row["divergence"] is None else f"{row['divergence']:.4f}", f"{row['weight']:.4f}"))  # fmt: skip
    console.print(table)
    if report["vikor"] is not None:
        _print_vikor(console, report["vikor"], show_grid=v_grid)
    if report["topsis"] is not None:
        _print_topsis(console, report["topsis"])
    if json_out is not None:
        try:
            json_out.write_text(json.dumps(report, indent=2) + "\n")
        except OSError as exc:
            raise _bad(f"cannot write {json_out}: {exc.strerror or exc}") from None
        console.print(f"wrote {json_out}", markup=False, soft_wrap=True)
