"""``patron contest ...``: draw a contest's winners, and verify a draw (from the database, or offline
from the JSON that ``GET /api/v1/contests/{id}/draw`` publishes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from patron.core.audit import Actor
from patron.core.cli_support import cli_session, console
from patron.core.errors import Invalid

app = typer.Typer(help="Contests and lotteries: draw the winners, verify a draw.", no_args_is_help=True)

OrgOption = Annotated[str | None, typer.Option("--org", metavar="SLUG", help="Slug of the organisation.")]


def _print_verification(found, winners: list[int]) -> None:
    console.print(f"seed hash matches: {'yes' if found.commitment_matches else 'NO'} ({found.commitment})")
    console.print(
        f"entries hash matches: {'yes' if found.entries_hash_matches else 'NO'} ({found.entries_hash})"
    )
    console.print(f"winners match: {'yes' if found.winners_match else 'NO'} (recomputed {found.winners}, "
                  f"published {winners})", soft_wrap=True)  # fmt: skip
    console.print("verified" if found.ok else "NOT verified")


@app.command("draw")
def draw_command(
    contest_id: Annotated[int, typer.Argument(help="The contest's id.")], org: OrgOption = None
) -> None:
    """Draw a closed contest's winners (or one whose entry window has ended) and give the prizes."""
    from patron.accounts import service as accounts_service
    from patron.contests import service as contests_service

    if org is None:
        raise Invalid("Give the organisation with --org.", field="org")
    with cli_session(label="cli:contest draw") as session:
        organisation = accounts_service.get_organisation_by_slug_or_raise(session, slug=org)
        session.info["actor"] = Actor(org_id=organisation.id, label="cli:contest draw")
        contest = contests_service.get_contest_or_raise(
            session, org_id=organisation.id, contest_id=contest_id
        )
        winners = contests_service.do_draw(session, contest=contest)
        console.print(f"contest {contest.id} drawn: {len(winners)} winners from "
                      f"{len(contest.drawn_entries or [])} eligible entrants", soft_wrap=True)  # fmt: skip
        for winner in winners:
            console.print(f"{winner.position}. customer {winner.customer_id} ({winner.points} points)")
        console.print(f"seed {contest.secret_seed}")
        console.print(f"seed hash {contest.seed_hash}")
        console.print(f"entries hash {contest.entries_hash}")


@app.command("verify")
def verify_command(
    contest_id: Annotated[int | None, typer.Argument(help="The contest's id (with --org).")] = None,
    org: OrgOption = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="Verify offline from a saved GET .../draw answer (JSON).",
            exists=True,
            dir_okay=False,
        ),  # fmt: skip
    ] = None,
) -> None:
    """Re-run a draw from its published seed and entries: exit code 0 when everything matches, 2 when not."""
    from patron.contests import draw as draw_algorithm

    if file is not None:
        try:
            published = json.loads(file.read_text(encoding="utf-8"))
            found = draw_algorithm.verify(
                seed=published["seed"], published_commitment=published["seed_hash"],
                entries=[(int(c), int(n)) for c, n in published["entries"]],
                published_entries_hash=published["entries_hash"], prizes=int(published["prizes"]),
                published_winners=[int(w["customer_id"]) for w in published["winners"]],
            )  # fmt: skip
        except (ValueError, KeyError, TypeError) as exc:
            raise Invalid(f"{file.name} is not a published draw: {exc}", field="file") from None
        _print_verification(found, [int(w["customer_id"]) for w in published["winners"]])
    else:
        from patron.accounts import service as accounts_service
        from patron.contests import service as contests_service

        if contest_id is None or org is None:
            raise Invalid("Give a contest id and --org, or --file.", field="contest_id")
        with cli_session(label="cli:contest verify") as session:
            organisation = accounts_service.get_organisation_by_slug_or_raise(session, slug=org)
            contest = contests_service.get_contest_or_raise(
                session, org_id=organisation.id, contest_id=contest_id
            )
            record = contests_service.verify_draw(session, contest=contest)
            found = record.verification
            _print_verification(found, record.published_winners)
    if not found.ok:
        raise typer.Exit(2)
