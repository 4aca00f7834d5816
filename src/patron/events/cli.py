"""``patron ingest``: an MQTT ingest worker without the web server."""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from typing import Annotated

import typer

from patron.core.errors import Invalid

HELP = """Take device events from the MQTT broker (PATRON_MQTT_URL) and store them, until stopped
(Ctrl-C or SIGTERM: what is buffered is stored and acknowledged first).

The worker subscribes with QoS 1 to <prefix>/<org>/devices/<device id>/events and acknowledges each
message only after its events are durable. It owns its event store (PATRON_EVENTS_URL, default
events.duckdb in PATRON_DATA_DIR): only one process may open that file, so run either this worker or
`patron serve` with PATRON_MQTT_URL on one store, and give every further worker a store of its own.
Several workers split the messages through the shared subscription PATRON_MQTT_SHARED_GROUP.

PATRON_MQTT_CLIENT_ID names the worker's broker session (default: derived from the host and the
store path); restart a worker with the same id to receive what was queued while it was down."""

app = typer.Typer(help=HELP, rich_markup_mode=None, invoke_without_command=True, subcommand_metavar=" ")


def _say(text: str) -> None:
    typer.echo(f"patron ingest: {text}", err=True)


@app.callback(invoke_without_command=True)
def ingest(
    processing: Annotated[
        bool,
        typer.Option(
            "--processing/--no-processing",
            help="Run live enrichment and the real-time rules on what is stored (--no-processing: only store).",
        ),
    ] = True,
    status_interval: Annotated[
        float,
        typer.Option(
            "--status-interval",
            min=0,
            metavar="SECONDS",
            help="Print a status line (messages, events stored, dead letters) this often; 0 for none.",
        ),
    ] = 30.0,
    log_level: Annotated[
        str,
        typer.Option(
            "--log-level",
            metavar="LEVEL",
            help="debug, info, warning or error.",
        ),
    ] = "info",
) -> None:
    import duckdb

    from patron.core.config import get_settings
    from patron.core.db import engine_for, make_sessionmaker
    from patron.core.migrate import upgrade
    from patron.events.mqtt import MqttIngest, parse_url
    from patron.events.runtime import EventRuntime
    from patron.events.store import resolve_path

    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        raise Invalid(
            f"--log-level must be debug, info, warning or error, not {log_level!r}.", field="log_level"
        )
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    if not settings.mqtt_url:
        raise Invalid(
            "PATRON_MQTT_URL is not set: give the broker to take events from, e.g. mqtt://127.0.0.1:1883.",
            field="PATRON_MQTT_URL",
        )
    parse_url(settings.mqtt_url)  # a bad URL is refused before anything is opened
    engine = engine_for(settings)
    if settings.auto_migrate:
        upgrade(engine)
    runtime = EventRuntime(settings, make_sessionmaker(engine), processing=processing)
    path = resolve_path(settings.events_url, settings.data_dir)
    try:
        runtime.start()
    except duckdb.IOException as exc:
        engine.dispose()
        if "lock" in str(exc).lower():
            raise Invalid(
                f"the event store {path} is in use by another process (a running `patron serve` "
                "or `patron ingest`); stop it, or give this worker its own PATRON_EVENTS_URL.",
                field="PATRON_EVENTS_URL",
            ) from None
        raise Invalid(f"cannot open the event store {path}: {exc}", field="PATRON_EVENTS_URL") from None

    try:
        worker = MqttIngest(runtime)
    except BaseException:
        runtime.stop()
        engine.dispose()
        raise
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker.start()
        # what exists now (modules, caches, the app) lives as long as the process: keep it out of the
        # cyclic collector, whose full passes over it otherwise stall ingest for 100-200 ms
        gc.collect()
        gc.freeze()
        _say(
            f"storing into {path}; broker {worker.address.host}:{worker.address.port}, "
            f"client id {worker.client_id}, topics {worker.subscription}, "
            f"processing {'on' if processing else 'off'}"
        )
        announced = False
        next_status = time.monotonic() + status_interval
        while not stop.is_set():
            if not announced and worker.wait_subscribed(0):
                announced = True
                _say("subscribed")
            if status_interval and time.monotonic() >= next_status:
                next_status = time.monotonic() + status_interval
                _say(_status(worker, runtime))
            stop.wait(0.1)
    finally:
        worker.stop()
        runtime.stop()
        engine.dispose()
        gc.unfreeze()  # let the interpreter free everything on the way out
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _say(f"stopped; {_status(worker, runtime, final=True)}")


def _status(worker, runtime, *, final: bool = False) -> str:
    stats = worker.stats
    text = (
        f"{stats.received} messages received, {stats.acknowledged} acknowledged, "
        f"{stats.events_stored} events stored, {stats.dead_letters} dead letters"
    )
    if not final:
        text += f"; store at seq {runtime.store.last_seq}"
    return text
