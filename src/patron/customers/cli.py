"""``patron customers ...``: import and export customer lists, answer privacy requests."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from patron.core.audit import Actor
from patron.core.cli_support import cli_session, console, err_console

app = typer.Typer(
    help="Customers: import and export lists, export or erase one customer's data.", no_args_is_help=True
)

OrgOption = Annotated[str, typer.Option("--org", metavar="SLUG", help="Slug of the organisation.")]
SHOWN_REJECTIONS = 20


def _open_org(session, slug: str) -> int:
    from patron.accounts import service as accounts_service

    org = accounts_service.get_organisation_by_slug_or_raise(session, slug=slug)
    session.info["actor"] = Actor(org_id=org.id, label="cli")
    return org.id


def _parse_mapping(pairs: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        header, sep, target = pair.rpartition("=")
        if not sep or not header.strip():
            raise typer.BadParameter(
                f"'{pair}' is not COLUMN=FIELD (for example \"E-mail=email\").", param_hint="--map"
            )
        mapping[header.strip()] = target.strip()
    return mapping


@app.command("import")
def import_command(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="CSV file (UTF-8, header row).", exists=True, dir_okay=False, readable=True
        ),
    ],
    org: OrgOption,
    map: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            metavar="COLUMN=FIELD",
            help='Column mapping "CSV column=field"; repeat for '
            'several. A field of "ignore" skips the column.',
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row and report; write nothing.")
    ] = False,
) -> None:
    """Import customers from a CSV file. Valid rows land, rejected rows are listed with the reason, and a row
    matching an existing customer (identity column, e-mail or phone) updates it instead of duplicating it."""
    from patron.customers.importer import import_customers_csv

    mapping = _parse_mapping(map or [])
    data = file.read_bytes()
    with cli_session() as session:
        org_id = _open_org(session, org)
        columns = [
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        ]
        with Progress(*columns, console=err_console, transient=True) as bar:
            task = bar.add_task("Checking rows" if dry_run else "Importing", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            report = import_customers_csv(
                session,
                org_id=org_id,
                stream=data,
                mapping=mapping or None,
                dry_run=dry_run,
                progress=progress,
                source_name=file.name,
            )
    verb = "would create" if dry_run else "created"
    console.print(
        f"{file.name}: {report.total} rows - {verb} {report.created}, updated {report.updated}, "
        f"unchanged {report.unchanged}, rejected {report.rejected_count}"
        + (" (dry run: nothing written)" if dry_run else ""),
        soft_wrap=True,
    )
    if report.ignored_columns:
        console.print("ignored columns: " + ", ".join(report.ignored_columns), soft_wrap=True)
    if report.rejected:
        table = Table("row", "field", "reason", title="Rejected rows")
        for rejected in report.rejected[:SHOWN_REJECTIONS]:
            table.add_row(str(rejected.row), rejected.field or "", rejected.reason)
        console.print(table)
        if report.rejected_count > SHOWN_REJECTIONS:
            console.print(f"... and {report.rejected_count - SHOWN_REJECTIONS} more rejected rows")


@app.command("export")
def export_command(
    org: OrgOption,
    format: Annotated[str, typer.Option("--format", metavar="csv|json", help="csv or json.")] = "csv",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="FILE", help="File to write; standard output if omitted.", dir_okay=False
        ),
    ] = None,
    q: Annotated[
        str | None, typer.Option("--q", metavar="TEXT", help="Only customers matching this search.")
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", metavar="TAG", help="Only customers with this tag (repeatable)."),
    ] = None,
) -> None:
    """Export the organisation's customers as CSV or JSON.

    The CSV columns are the ones the import reads, so a file can be edited and imported again. Recorded in
    the audit log."""
    from patron.customers import exporter
    from patron.customers.search import CustomerFilters

    filters = CustomerFilters(q=q, tags=tag or [])
    with cli_session() as session:
        org_id = _open_org(session, org)
        count = exporter.do_record_export(session, org_id=org_id, filters=filters, format=format)
        chunks = exporter.iter_export(session, org_id=org_id, filters=filters, format=format)
        if out is None:
            for chunk in chunks:
                sys.stdout.write(chunk)
            sys.stdout.flush()
            return
        with out.open("w", encoding="utf-8", newline="") as handle:
            for chunk in chunks:
                handle.write(chunk)
    console.print(f"exported {count} customers to {out}")


@app.command("privacy-export")
def privacy_export_command(
    customer_id: Annotated[int, typer.Argument(metavar="CUSTOMER_ID", help="Id of the customer.")],
    org: OrgOption,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="FILE", help="File to write; standard output if omitted.", dir_okay=False
        ),
    ] = None,
) -> None:
    """Export everything held about one customer as JSON.

    For a data-subject access request: profile, identities, consents, places, timeline and the records of
    every other part of Patron. Recorded in the audit log."""
    from patron.customers.privacy import do_privacy_export

    with cli_session() as session:
        org_id = _open_org(session, org)
        export = do_privacy_export(session, org_id=org_id, customer_id=customer_id)
    text = json.dumps(export, indent=2, ensure_ascii=False)
    if out is None:
        sys.stdout.write(text + "\n")
        return
    out.write_text(text + "\n", encoding="utf-8")
    console.print(f"wrote everything held about customer {customer_id} to {out}")


@app.command("erase")
def erase_command(
    customer_id: Annotated[int, typer.Argument(metavar="CUSTOMER_ID", help="Id of the customer.")],
    org: OrgOption,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase one customer's personal data for good.

    The anonymous row stays so totals (deal values, ticket counts) remain right. Recorded in the audit log."""
    from patron.customers.privacy import do_erase_customer

    if not yes:
        typer.confirm(f"Erase all personal data of customer {customer_id}? This cannot be undone", abort=True)
    with cli_session() as session:
        org_id = _open_org(session, org)
        do_erase_customer(session, org_id=org_id, customer_id=customer_id)
    console.print(f"erased the personal data of customer {customer_id}")
