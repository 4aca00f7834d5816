"""``patron analytics predict``: run the predictive models over one organisation and print the hold-out
metrics (the command joins the ``analytics`` group, which holds only library commands otherwise)."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime
from typing import Annotated

import typer

from patron.accounts import service as accounts_service
from patron.core.audit import Actor
from patron.core.cli_support import cli_session, console
from patron.core.errors import Invalid
from patron.events.source import EventSource, event_store_for_run
from patron.predictions import service as predictions_service


def _metric(value: object) -> str:
    return "—" if value is None else f"{value:.3f}"


def predict(
    org: Annotated[str, typer.Option("--org", metavar="SLUG", help="Slug of the organisation.")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Use the history up to this moment (ISO 8601 with a zone).")
    ] = None,
    horizon_days: Annotated[
        int, typer.Option("--horizon-days", help="Churn horizon in days (14-365).")
    ] = predictions_service.DEFAULT_HORIZON_DAYS,
    events: Annotated[
        bool,
        typer.Option("--events/--no-events", help="Read device usage from the event store if it exists."),
    ] = True,
) -> None:
    """Compute every customer's CLV, churn risk, recommendations and sentiment; print the hold-out metrics.

    The churn model uses the customers' device usage from the event store when there is one (not
    while another process holds it: run through that server's API then, or use --no-events)."""
    moment = None
    if as_of is not None:
        try:
            moment = datetime.fromisoformat(as_of)
        except ValueError:
            raise Invalid(f"--as-of {as_of!r} is not an ISO 8601 date and time.", field="as_of") from None
    with cli_session(label="cli:analytics predict") as session:
        organisation = accounts_service.get_organisation_by_slug_or_raise(session, slug=org)
        session.info["actor"] = Actor(org_id=organisation.id, label="cli:analytics predict")
        with (
            event_store_for_run(session, if_busy="raise")
            if events
            else nullcontext(EventSource(missing="--no-events")) as source
        ):
            run = predictions_service.run_predictions(session, org_id=organisation.id, as_of=moment,
                                                      horizon_days=horizon_days, events_store=source.store,
                                                      events_missing=source.missing)  # fmt: skip
        summary = run.summary
    console.print(
        f"predictions for {run.customers} customers of {organisation.slug}, as of {summary['as_of']}"
    )
    churn, recs = summary["churn"], summary["recommendations"]
    if "skipped" in churn:
        console.print(f"churn: skipped ({churn['skipped']})")
    else:
        console.print(f"churn ({churn['method']}, {churn['horizon_days']}-day horizon, hold-out of "
                      f"{churn['test_customers']} customers): AUC {_metric(churn['auc'])} (recency baseline "
                      f"{_metric(churn['baseline_auc'])}), Brier {_metric(churn['brier'])} (baseline "
                      f"{_metric(churn['baseline_brier'])})")  # fmt: skip
    if "skipped" in recs:
        console.print(f"recommendations: skipped ({recs['skipped']})")
    elif "evaluation_skipped" in recs:
        console.print(f"recommendations: computed; not evaluated ({recs['evaluation_skipped']})")
    else:
        console.print(f"recommendations (hold-out of {recs['holdout_customers']} customers): precision@10 "
                      f"{_metric(recs['precision_at_10'])} (popularity {_metric(recs['popularity_precision_at_10'])}), "
                      f"recall@10 {_metric(recs['recall_at_10'])} (popularity "
                      f"{_metric(recs['popularity_recall_at_10'])})")  # fmt: skip
    usage = summary["device_usage"]
    console.print(
        "device usage: "
        + (f"not used ({usage['skipped']})" if "skipped" in usage else f"{usage['events']} events read")
    )
    for name in ("clv", "sentiment"):
        part = summary[name]
        console.print(
            f"{name}: "
            + (f"skipped ({part['skipped']})" if "skipped" in part else f"{part['customers']} customers")
        )
