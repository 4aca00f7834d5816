"""``patron tickets``: run the SLA check and look at the queue from the command line."""

from __future__ import annotations

from typing import Annotated

import typer

from patron.core.cli_support import cli_session, console

app = typer.Typer(help="Service desk: check SLAs and summarise the ticket queue.", no_args_is_help=True)


def _org_id(session, slug: str | None) -> int | None:
    from patron.accounts import service as accounts_service

    if slug is None:
        return None
    return accounts_service.get_organisation_by_slug_or_raise(session, slug=slug).id


@app.command("check-sla")
def check_sla(
    org: Annotated[
        str | None, typer.Option("--org", help="Only this organisation (slug); default: all.")
    ] = None,
) -> None:
    """Record SLA breaches and escalate breached tickets to a manager (what the scheduler does every minute)."""
    from patron.core.db import utcnow
    from patron.tickets import service as tickets_service

    with cli_session(label="cli:tickets check-sla") as session:
        count = tickets_service.detect_sla_breaches(session, now=utcnow(), org_id=_org_id(session, org))
    console.print(f"{count} ticket(s) newly breached an SLA target")


@app.command("summary")
def summary(org: Annotated[str, typer.Option("--org", help="Slug of the organisation.")]) -> None:
    """Print the queue: tickets per status, and active tickets unassigned, breached, at risk, per priority."""
    from patron.tickets import service as tickets_service

    with cli_session(label="cli:tickets summary") as session:
        figures = tickets_service.queue_summary(session, org_id=_org_id(session, org))
    console.print("status    " + "  ".join(f"{k}={v}" for k, v in figures["by_status"].items()))
    console.print("priority  " + "  ".join(f"{k}={v}" for k, v in figures["by_priority"].items()))
    console.print(
        f"active={figures['active']}  unassigned={figures['unassigned']}  "
        f"breached={figures['breached']}  at_risk={figures['at_risk']}"
    )
