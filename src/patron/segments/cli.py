"""``patron segment run``: refresh rule segments and/or run ML segmentation from the command line (or cron)."""

from __future__ import annotations

from typing import Annotated

import typer

from patron.core.audit import Actor
from patron.core.cli_support import cli_session, console
from patron.core.db import utcnow
from patron.core.errors import Invalid, PatronError

app = typer.Typer(help="Segments: refresh rule segments, run ML segmentation.", no_args_is_help=True)


@app.command("run")
def run_command(
    org: Annotated[str, typer.Option("--org", metavar="SLUG", help="Slug of the organisation.")],
    segment: Annotated[
        str | None, typer.Option("--segment", metavar="NAME", help="Refresh this rule segment.")
    ] = None,
    all_segments: Annotated[bool, typer.Option("--all", help="Refresh every active rule segment.")] = False,
    ml: Annotated[bool, typer.Option("--ml", help="Run ML segmentation (clusters -> segments).")] = False,
    method: Annotated[str, typer.Option(help="kmeans, minibatch or gmm (with --ml).")] = "kmeans",
    k_min: Annotated[int, typer.Option(help="Smallest number of clusters tried (with --ml).")] = 2,
    k_max: Annotated[int, typer.Option(help="Largest number of clusters tried (with --ml).")] = 8,
) -> None:
    """Refresh one rule segment (--segment NAME), every active one (--all), and/or run ML segmentation (--ml),
    printing each segment's size and, for ML, the k chosen with every candidate's score."""
    from patron.accounts import service as accounts_service
    from patron.core.config import get_settings
    from patron.segments import ml as segments_ml
    from patron.segments import service as segments_service

    if not (segment or all_segments or ml):
        raise Invalid("Say what to run: --segment NAME, --all and/or --ml.", field="segment")
    if segment and all_segments:
        raise Invalid("Use --segment NAME or --all, not both.", field="segment")
    settings = get_settings()
    not_refreshed = 0
    with cli_session(label="cli:segment-run") as session:
        organisation = accounts_service.get_organisation_by_slug_or_raise(session, slug=org)
        org_id = organisation.id
        session.info["actor"] = Actor(org_id=org_id, label="cli:segment-run")
        if segment:
            found = segments_service.get_segment_by_name(session, org_id=org_id, name=segment)
            if found is None:
                raise Invalid(f"No segment called '{segment}'.", field="segment")
            targets = [found]
        elif all_segments:
            items, _ = segments_service.list_segments(session, org_id=org_id, kind="rule", limit=10_000)
            targets = [s for s in items if s.status == "active"]
        else:
            targets = []
        evaluators = segments_service.Evaluators(session, settings=settings, now=utcnow())
        for target in targets:
            try:
                with session.begin_nested():
                    joined, left = segments_service.do_refresh_segment(session, segment=target, settings=settings,
                                                                       evaluators=evaluators)  # fmt: skip
            except PatronError as exc:
                if not all_segments:
                    raise
                not_refreshed += 1  # --all goes on with the others, as the hourly job does
                console.print(f"{target.name}: not refreshed: {exc.detail}", markup=False, highlight=False,
                              soft_wrap=True)
                continue
            console.print(
                f"{target.name}: {target.size} members (+{joined} -{left})", markup=False, highlight=False
            )
        if ml:
            run = segments_ml.run_ml_segmentation(session, org_id=org_id, settings=settings, k_range=(k_min, k_max),
                                                  method=method)  # fmt: skip
            console.print(f"ML run {run.id}: k = {run.k} chosen by {run.criterion} over {run.n_customers} customers "
                          f"(stability ARI {run.stability_ari:.3f})", markup=False, highlight=False)  # fmt: skip
            for score in run.scores:
                value = score.get(run.criterion)
                mark = "  <- chosen" if score["k"] == run.k else ""
                shown = "n/a" if value is None else f"{value:.4f}"
                console.print(
                    f"  k={score['k']}: {run.criterion} {shown}{mark}", markup=False, highlight=False
                )
            for cluster in run.clusters:
                console.print(f"  cluster {cluster['cluster']}: {cluster['name']} - {cluster['size']} customers, "
                              f"{cluster['archetype'] or 'no archetype'}", markup=False, highlight=False)  # fmt: skip
    if not_refreshed:
        raise typer.Exit(1)
