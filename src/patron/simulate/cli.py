"""``patron demo``: seed the demo organisation (once) and serve the app."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from patron.core.cli_support import cli_sessionmaker, console

app = typer.Typer(rich_markup_mode=None, subcommand_metavar="")  # one command: no sub-commands to show


@app.callback(invoke_without_command=True)
def demo(
    customers: Annotated[
        int, typer.Option(min=1, max=200_000, help="How many demo customers to create.")
    ] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 42,
    reset: Annotated[
        bool, typer.Option("--reset", help="Delete the demo organisation's data and seed it anew.")
    ] = False,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the app after seeding.")] = True,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
) -> None:
    """Seed a demo organisation with realistic data and serve the app.

    Creates "Patron Demo" (staff in every role, customers with demographics, identities, consents and
    places, a year of interactions, tickets in every status, deals in every pipeline stage), prints the
    URL and the demo login, and serves the web app and the API. Seeding happens once: run it again and
    the existing data is kept (--reset seeds anew).
    """
    from patron.simulate import demo as demo_data

    with Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        tasks: dict[str, int] = {}

        def report(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(step, total=total)
            progress.update(tasks[step], completed=done, total=total)

        summary = demo_data.seed_demo(
            cli_sessionmaker(), customers=customers, seed=seed, reset=reset, progress=report
        )

    if summary.created:
        counts = ", ".join(f"{count:,} {name}" for name, count in summary.counts.items())
        console.print(f"Seeded {summary.org_name!r} in {summary.seconds:.1f} s: {counts}.")
    else:
        console.print(
            f"The demo organisation {summary.org_name!r} already exists; keeping its data "
            "(--reset seeds it anew)."
        )
    url = f"http://{host}:{port}"
    console.print(f"\nPatron demo: [bold]{url}[/bold]")
    console.print(
        f"Log in as [bold]{demo_data.DEMO_EMAIL}[/bold] with password [bold]{demo_data.DEMO_PASSWORD}"
        f"[/bold] (admin of {summary.org_name})."
    )
    console.print(f"API docs: {url}/api/docs\n")
    if serve:
        import uvicorn

        uvicorn.run("patron.app:create_app", factory=True, host=host, port=port)
