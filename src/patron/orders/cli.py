"""``patron orders ...``: import orders from CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from patron.core.audit import Actor
from patron.core.cli_support import cli_session, console

app = typer.Typer(help="Orders: import purchase history from CSV.", no_args_is_help=True)

OrgOption = Annotated[str, typer.Option("--org", metavar="SLUG", help="Slug of the organisation.")]


@app.command("import")
def import_command(
    file: Annotated[
        Path,
        typer.Argument(metavar="FILE.csv", help="UTF-8 CSV, one row per order line.", exists=True, dir_okay=False),
    ],
    org: OrgOption,
    create_products: Annotated[
        bool,
        typer.Option("--create-products", help="Create a product for each unknown SKU (name and price from its row)."),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row and count; write nothing.")] = False,
) -> None:
    """Import orders from CSV, all or nothing: rows with the same order_id make one order, an order_id
    imported before is skipped, and one bad row stops the import with the row and column named."""
    from patron.accounts import service as accounts_service
    from patron.orders.importer import import_orders_csv

    data = file.read_bytes()
    with cli_session(label="cli:orders import") as session:
        organisation = accounts_service.get_organisation_by_slug_or_raise(session, slug=org)
        session.info["actor"] = Actor(org_id=organisation.id, label="cli:orders import")
        report = import_orders_csv(
            session,
            org_id=organisation.id,
            stream=data,
            create_products=create_products,
            dry_run=dry_run,
            source_name=file.name,
        )
    verb = "would create" if dry_run else "created"
    console.print(
        f"{file.name}: {report.rows} rows - {verb} {report.orders_created} orders with {report.lines_created} "
        f"lines, skipped {report.orders_skipped} already imported, {verb} {report.products_created} products"
        + (" (dry run: nothing written)" if dry_run else ""),
        soft_wrap=True,
    )
    console.print(f"{report.seconds:.2f} s, {report.rows_per_second:,.0f} rows/s", soft_wrap=True)
