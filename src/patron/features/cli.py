"""``patron analytics features``: write an organisation's customer feature table to Parquet."""

from __future__ import annotations

from contextlib import closing, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import duckdb
import typer

from patron.core.audit import Actor
from patron.core.cli_support import cli_session, console
from patron.core.config import get_settings
from patron.core.errors import Conflict, Invalid


def _as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(
            f"--as-of {text!r} is not a date (YYYY-MM-DD or an ISO 8601 time).", field="as_of"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _check_out(out: Path) -> None:
    """Refuse an output path that cannot be a file before any work is done."""
    blocked = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise Invalid(f"Cannot write {out}: {blocked} is a file.", field="out")


def _open_events(use_events: bool):
    """A read-only connection to the event store, or None when there is none (or it is not wanted)."""
    if not use_events:
        return None
    from patron.events.store import resolve_path

    settings = get_settings()
    path = resolve_path(settings.events_url, settings.data_dir)
    if path == ":memory:" or not Path(path).is_file():
        return None
    try:
        return duckdb.connect(path, read_only=True)
    except (duckdb.IOException, duckdb.ConnectionException):
        raise Conflict(
            "The event store is in use by another process (patron serve or patron ingest); "
            "stop it, or leave device usage out with --no-events."
        ) from None


def features(
    org: Annotated[str, typer.Option("--org", metavar="SLUG", help="Slug of the organisation.")],
    out: Annotated[
        Path,
        typer.Option(
            "--out", metavar="FILE.parquet", help="Where to write the table (Parquet).", dir_okay=False
        ),
    ] = Path("features.parquet"),
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", metavar="DATE", help="Describe customers as of this date or time (UTC); default now."
        ),
    ] = None,
    events: Annotated[
        bool,
        typer.Option("--events/--no-events", help="Read device usage from the event store if it exists."),
    ] = True,
) -> None:
    """Compute the customer feature table of an organisation and write it to Parquet.

    One row per customer: recency, frequency, monetary value, order and basket statistics, device
    usage, interactions, tickets, CSAT, NPS and demographics (docs/analytics.md lists the columns).
    Only records dated before --as-of count.
    """
    from patron.accounts import service as accounts_service
    from patron.features import service as features_service

    moment = _as_of(as_of)
    _check_out(out)
    with cli_session(label="cli:analytics features") as session:
        organisation = accounts_service.get_organisation_by_slug_or_raise(session, slug=org)
        session.info["actor"] = Actor(org_id=organisation.id, label="cli:analytics features")
        store = _open_events(events)
        console.print(
            f"building features of {organisation.slug} as of {(moment or datetime.now(UTC)):%Y-%m-%d %H:%M} UTC"
            + (
                ""
                if store is not None
                else " (no device usage: " + ("no event store)" if events else "--no-events)")
            ),
            soft_wrap=True,
        )
        with closing(store) if store is not None else nullcontext():
            frame = features_service.build_feature_table(
                session,
                org_id=organisation.id,
                as_of=moment,
                events_store=store,
                progress=lambda message: console.print(f"  {message}", soft_wrap=True),
            )
    features_service.write_feature_table(frame, out)
    console.print(f"wrote {out} ({len(frame):,} customers, {frame.shape[1] - 1} features)", soft_wrap=True)
