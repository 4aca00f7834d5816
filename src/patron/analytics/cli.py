"""``patron analytics ...`` commands (a Typer app the main ``patron`` command mounts).

Only the library is used here; errors in the input end the command with one line on stderr
and exit code 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from patron.analytics.clv import BetaGeoModel, GammaGammaModel, customer_lifetime_value
from patron.analytics.errors import AnalyticsError
from patron.analytics.rfm import TIME_UNITS, summarize_transactions

app = typer.Typer(
    help="Customer analytics: lifetime value and purchase models.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


@app.callback()
def analytics() -> None:
    """Customer analytics: lifetime value and purchase models."""


def _fail(message: str) -> typer.Exit:
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(1)


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
