"""The ``patron`` command."""

from __future__ import annotations

from importlib import import_module
from typing import Annotated

import typer
from typer.core import TyperGroup

from patron.core.cli_support import cli_session, console
from patron.core.errors import PatronError


class PatronGroup(TyperGroup):
    """Turns a PatronError anywhere below into one readable line and exit code 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except PatronError as exc:
            where = f" [{exc.field}]" if exc.field else ""
            typer.echo(f"Error: {exc.detail}{where}", err=True)
            raise typer.Exit(1) from None


app = typer.Typer(help="Patron, the IoT-connected CRM: serve the app, manage organisations, users and data.",
                  cls=PatronGroup, no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False)
org_app = typer.Typer(help="Manage organisations (tenants).", no_args_is_help=True)
user_app = typer.Typer(help="Manage users of an organisation.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(db_app, name="db")

#: domain command groups: (module, typer attribute, command name)
DOMAIN_COMMANDS = (
    ("patron.customers.cli", "app", "customers"),
    ("patron.tickets.cli", "app", "tickets"),
    ("patron.devices.cli", "app", "devices"),
    ("patron.orders.cli", "app", "orders"),
    ("patron.simulate.cli", "app", "demo"),
    ("patron.simulate.cli", "simulate", "simulate"),
    ("patron.analytics.cli", "app", "analytics"),
    ("patron.events.cli", "app", "ingest"),
    ("patron.surveys.cli", "app", "survey"),
    ("patron.notify.cli", "app", "notify"),
    ("patron.contests.cli", "app", "contest"),
    ("patron.segments.cli", "app", "segment"),
)


@org_app.command("create")
def org_create(name: Annotated[str, typer.Argument(help="Display name; the slug is the lower-cased name.")],
               timezone: Annotated[str, typer.Option(help="IANA time zone for business hours.")] = "UTC",
               currency: Annotated[str, typer.Option(help="ISO 4217 currency of deal values.")] = "EUR") -> None:
    """Create an organisation. Its slug is the lower-cased name (spaces become dashes)."""
    from patron.accounts import service as accounts_service

    with cli_session() as session:
        org = accounts_service.create_organisation(session, name=name, timezone=timezone, currency=currency)
        console.print(f"created organisation {org.name!r} (slug {org.slug}, id {org.id})")


@org_app.command("list")
def org_list() -> None:
    """List organisations."""
    from patron.accounts import service as accounts_service

    with cli_session() as session:
        for org in accounts_service.list_organisations(session):
            console.print(f"{org.id}\t{org.slug}\t{org.name}")


@user_app.command("create")
def user_create(
    org: Annotated[str, typer.Option("--org", help="Slug of the organisation.")],
    email: Annotated[str, typer.Option("--email", help="Login e-mail (unique).")],
    password: Annotated[str, typer.Option("--password", help="At least 8 characters.")],
    role: Annotated[str, typer.Option("--role", help="owner, admin, manager, agent, analyst or viewer.")] = "agent",
    name: Annotated[str, typer.Option("--name", help="Full name shown in the app.")] = "",
) -> None:
    """Create a user in an organisation."""
    from patron.accounts import service as accounts_service

    with cli_session() as session:
        organisation = accounts_service.get_organisation_by_slug_or_raise(session, slug=org)
        session.info["actor"] = session.info["actor"].__class__(org_id=organisation.id, label="cli")
        user = accounts_service.create_user(session, org_id=organisation.id, email=email, password=password,
                                            role=role, full_name=name)
        console.print(f"created {user.role} {user.email} in {organisation.slug} (id {user.id})")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all pending migrations to the configured database."""
    from patron.core.config import get_settings
    from patron.core.db import engine_for
    from patron.core.migrate import current, upgrade

    engine = engine_for(get_settings())
    upgrade(engine)
    console.print(f"database at revision {current(engine)}")


@app.command("serve")
def serve(host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
          workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL only for >1).")] = 1,
          log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info") -> None:
    """Serve the web app and the API."""
    import uvicorn

    uvicorn.run("patron.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level)


def _mount_domain_commands() -> None:
    for module_path, attribute, name in DOMAIN_COMMANDS:
        try:
            module = import_module(module_path)
        except ModuleNotFoundError as exc:
            if exc.name != module_path:
                raise
            continue
        sub = getattr(module, attribute)
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=name)
        else:
            app.command(name)(sub)


_mount_domain_commands()


def _mount_analytics_subcommands() -> None:
    # the analytics library's command group stays free of ORM code; app-backed commands join it here
    from patron.analytics.cli import app as analytics_app
    from patron.features.cli import features
    from patron.predictions.cli import predict

    analytics_app.command("features")(features)
    analytics_app.command("predict")(predict)


_mount_analytics_subcommands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
