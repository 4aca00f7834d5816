"""``patron demo``: seed the demo organisation (once) and serve the app with its fleet live;
``patron simulate``: send an organisation's fleet traffic over HTTP or MQTT."""

from __future__ import annotations

import os
import threading
from enum import StrEnum
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from patron.core.cli_support import cli_session, cli_sessionmaker, console, err_console

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
    history_days: Annotated[
        float, typer.Option(min=0, max=60, help="Days of device history to seed with the devices.")
    ] = 21,
    live_rate: Annotated[
        float,
        typer.Option(min=0, max=10_000, help="Events per second of the live fleet while serving (0: none)."),
    ] = 50,
) -> None:
    """Seed a demo organisation with realistic data and serve the app.

    Creates "Patron Demo" (staff in every role, customers with demographics, identities, consents and
    places, a year of interactions, tickets in every status, deals in every pipeline stage, three answered
    surveys with their analyses; connected devices for a fifth of the customers with three weeks of their
    events, and rules), prints the URL and
    the demo login, and serves the web app and the API while the device fleet sends live events.
    Seeding happens once: run it again and the existing data is kept (--reset seeds anew).
    """
    from patron.accounts import service as accounts_service
    from patron.core.config import get_settings
    from patron.simulate import demo as demo_data
    from patron.simulate import iot

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

        factory = cli_sessionmaker()
        with factory() as session:
            previous = accounts_service.get_organisation_by_slug(session, slug=demo_data.DEMO_SLUG)
            previous_id = previous.id if previous is not None else None
        summary = demo_data.seed_demo(factory, customers=customers, seed=seed, reset=reset, progress=report)
        if summary.created and previous_id is not None:
            demo_data.forget_events(get_settings(), org_id=previous_id)
        devices = iot.seed_iot(
            factory,
            get_settings(),
            org_id=summary.org_id,
            seed=seed,
            history_days=history_days,
            progress=report,
        )
        if devices.created:
            report("Churn risk with device usage", 0, 1)
            demo_data.predict_with_device_usage(factory, org_id=summary.org_id)
            report("Churn risk with device usage", 1, 1)

    if summary.created:
        counts = ", ".join(f"{count:,} {name}" for name, count in summary.counts.items())
        console.print(f"Seeded {summary.org_name!r} in {summary.seconds:.1f} s: {counts}.")
    else:
        console.print(
            f"The demo organisation {summary.org_name!r} already exists; keeping its data "
            "(--reset seeds it anew)."
        )
    if devices.created:
        fleet = ", ".join(
            f"{count} {kind.replace('_', ' ')}" for kind, count in sorted(devices.devices.items())
        )
        console.print(
            f"Connected devices: {fleet}; {devices.events:,} events of history; {devices.rules} rules."
        )
    url = f"http://{host}:{port}"
    console.print(f"\nPatron demo: [bold]{url}[/bold]")
    console.print(
        f"Log in as [bold]{demo_data.DEMO_EMAIL}[/bold] with password [bold]{demo_data.DEMO_PASSWORD}"
        f"[/bold] (admin of {summary.org_name})."
    )
    console.print(f"API docs: {url}/api/docs\n")
    if not serve:
        return
    import uvicorn

    if not live_rate:
        uvicorn.run("patron.app:create_app", factory=True, host=host, port=port)
        return
    from patron.app import create_app

    application = create_app()
    live = iot.LiveSimulation(
        application, org_id=summary.org_id, rate=live_rate, seed=seed, history_days=history_days
    )
    console.print(f"The device fleet sends about {live_rate:g} events/s while the demo runs.")
    live.start()
    try:
        uvicorn.run(application, host=host, port=port)
    finally:
        live.stop()


class Via(StrEnum):
    http = "http"
    mqtt = "mqtt"
    stdout = "stdout"


def simulate(
    org: Annotated[str, typer.Option(help="Slug of the organisation whose devices send.")] = "patron-demo",
    via: Annotated[
        Via,
        typer.Option(
            help="http (POST /ingest/v1/events), mqtt (the device topics) or stdout (NDJSON, nothing sent)."
        ),
    ] = Via.http,
    url: Annotated[
        str, typer.Option(help="Base URL of the Patron server for --via http.")
    ] = "http://127.0.0.1:8000",
    mqtt_url: Annotated[
        str | None,
        typer.Option(help="Broker for --via mqtt (default PATRON_MQTT_URL, else mqtt://127.0.0.1:1883)."),
    ] = None,
    topic_prefix: Annotated[
        str | None, typer.Option(help="First topic level (default PATRON_MQTT_TOPIC_PREFIX, else patron).")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            envvar="PATRON_INGEST_KEY", show_envvar=True, help="The organisation's ingest key (pik_...)."
        ),
    ] = None,
    new_key: Annotated[
        bool,
        typer.Option("--new-key", help="Create an ingest key for the organisation, print it once, use it."),
    ] = False,
    devices: Annotated[
        int | None, typer.Option(min=1, help="Fleet size: the first N active devices (default: all).")
    ] = None,
    rate: Annotated[
        float,
        typer.Option(
            min=0.1,
            max=1_000_000,
            help="Live events per second, about: telemetry is sampled "
            "more often to reach it; live sending never goes faster.",
        ),
    ] = 50,
    duration: Annotated[
        float | None, typer.Option(min=0.1, help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same traffic.")] = 42,
    speed: Annotated[
        float,
        typer.Option(
            min=0,
            help="Simulated seconds per real second while behind the clock (0: as fast "
            "as possible); never ahead of the real time.",
        ),
    ] = 1.0,
    history: Annotated[
        float,
        typer.Option(min=0, max=365, help="Start this many days ago (replayed at --speed), then go on live."),
    ] = 0.0,
    fault_rate: Annotated[float, typer.Option(min=0, max=100, help="Faults per device per day.")] = 0.05,
    dropout_rate: Annotated[
        float, typer.Option(min=0, max=100, help="Drop-outs (silent spells) per device per day.")
    ] = 0.03,
) -> None:
    """Send realistic device traffic for an organisation's customers.

    Taxis drive their customers between home, work and favourite places (GPS fixes, trip.start and
    trip.end), smart meters follow daily load curves, wearables report heart rate, steps and battery,
    smart-home hubs report climate and doors, shop beacons see visitors, phone apps are opened; now and
    then a device faults, runs low on battery or drops out. The devices are the organisation's active
    devices (`patron demo` makes some); events are authorised with an organisation ingest key.
    """
    from datetime import UTC, datetime, timedelta

    from patron.accounts import service as accounts_service
    from patron.core.config import get_settings
    from patron.devices import service as devices_service
    from patron.simulate import iot
    from patron.simulate.fleet import Fleet, FleetOptions, density_for_rate
    from patron.simulate.sender import (
        HttpTransport,
        MqttTransport,
        SimulationError,
        StdoutTransport,
        run_simulation,
    )

    settings = get_settings()
    with cli_session() as session:
        organisation = accounts_service.get_organisation_by_slug_or_raise(session, slug=org)
        fleet_devices = iot.load_fleet(session, org_id=organisation.id, seed=seed, limit=devices)
        if not fleet_devices:
            err_console.print(
                f"Error: {org} has no active devices; `patron demo` seeds some, or add them in the app."
            )
            raise typer.Exit(1)
        if new_key:
            key, _record = devices_service.create_ingest_key(
                session, org_id=organisation.id, name=f"{iot.SIMULATOR_KEY_NAME} (CLI)"
            )
            err_console.print(f"Created an ingest key for {org} (shown only now): {key}")
    if via is not Via.stdout and not key:
        err_console.print("Error: give --key, set PATRON_INGEST_KEY, or pass --new-key.")
        raise typer.Exit(1)

    options = FleetOptions(fault_rate=fault_rate, dropout_rate=dropout_rate)
    now = datetime.now(UTC)
    start = now - timedelta(days=history)
    density = density_for_rate(fleet_devices, rate, options)
    fleet = Fleet(
        fleet_devices, seed=seed, start=start, options=options, density=density, reference=start.date()
    )
    try:
        if via is Via.http:
            transport = HttpTransport(url, key)
            target = url
        elif via is Via.mqtt:
            broker = (
                mqtt_url or settings.mqtt_url or os.environ.get("PATRON_MQTT_URL") or "mqtt://127.0.0.1:1883"
            )
            transport = MqttTransport(
                broker,
                key,
                topic_prefix=topic_prefix or settings.mqtt_topic_prefix,
                org_slug=organisation.slug,
            )
            target = broker
        else:
            transport = StdoutTransport()
            target = "stdout"
    except SimulationError as exc:
        err_console.print(f"Error: {exc}")
        raise typer.Exit(1) from None
    kinds: dict[str, int] = {}
    for device in fleet_devices:
        kinds[device.type] = kinds.get(device.type, 0) + 1
    mix = ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in sorted(kinds.items()))
    err_console.print(
        f"Simulating {len(fleet_devices)} devices of {org} ({mix}) via {via.value} to {target}: "
        f"about {fleet.nominal_rate():.1f} events/s at real time"
        + (f"; replaying {history:g} days at {speed:g}x first" if history else "")
        + ". Ctrl-C stops."
    )

    def report(stats) -> None:
        err_console.print(
            f"sent {stats.sent:,} (accepted {stats.accepted:,}, rejected {stats.rejected:,}) "
            f"at {stats.rate:,.1f}/s; simulated time {stats.simulated_until:%Y-%m-%d %H:%M:%S} UTC"
        )

    stop = threading.Event()
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["stats"] = run_simulation(
                fleet.events(),
                transport,
                start=start,
                speed=speed,
                rate=rate,
                duration=duration,
                stop=stop,
                report=report,
            )
        except SimulationError as exc:
            outcome["error"] = str(exc)
        finally:
            transport.close()

    worker = threading.Thread(target=work, name="patron-simulate", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        stop.set()
        worker.join(30)
    if "error" in outcome:
        err_console.print(f"Error: {outcome['error']}")
        raise typer.Exit(1)
    stats = outcome.get("stats")
    if stats is not None:
        err_console.print(
            f"Done: sent {stats.sent:,} events in {stats.seconds:.1f} s (accepted {stats.accepted:,}, "
            f"rejected {stats.rejected:,})."
        )
