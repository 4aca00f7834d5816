"""``patron notify ...``: run a delivery worker on the Redis queue, deliver what is due once, make a
VAPID key pair."""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from patron.core.cli_support import console

app = typer.Typer(help="Messages to customers: delivery workers and Web Push keys.", no_args_is_help=True)


@app.command("worker")
def worker_command(
    threads: Annotated[int | None, typer.Option(min=1, max=64, help="Delivery threads (default: "
                                                "PATRON_NOTIFY_WORKER_THREADS).")] = None,  # fmt: skip
) -> None:
    """Deliver messages from the Redis queue (PATRON_QUEUE_URL) until stopped (Ctrl-C or SIGTERM).
    Run as many as needed: a message is claimed atomically, so none is sent twice."""
    from patron.core.cli_support import cli_sessionmaker
    from patron.core.config import get_settings
    from patron.core.errors import Invalid
    from patron.notify.queue import RedisQueue, use_queue
    from patron.notify.worker import Worker

    settings = get_settings()
    if not settings.queue_url:
        raise Invalid("PATRON_QUEUE_URL is not set: `patron serve` delivers messages itself without Redis.",
                      field="queue_url")  # fmt: skip
    queue = RedisQueue(settings.queue_url, prefix=settings.queue_prefix)
    use_queue(queue)
    worker = Worker(cli_sessionmaker(), settings, queue, threads=threads).start()
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    console.print(f"delivering messages from {settings.queue_prefix} ({len(worker._threads) - 1} threads)")
    try:
        worker.wait()
    except KeyboardInterrupt:
        pass
    finally:
        worker.stop()
        queue.close()
    console.print(f"stopped; delivered {worker.delivered}")


@app.command("send-due")
def send_due_command() -> None:
    """Deliver every message that is due now, in this process, then exit (for cron or a quick check)."""
    from patron.core.cli_support import cli_sessionmaker
    from patron.core.config import get_settings
    from patron.notify.delivery import run_due

    counts = run_due(cli_sessionmaker(), get_settings())
    console.print(", ".join(f"{status}: {n}" for status, n in sorted(counts.items())) or "nothing was due")


@app.command("vapid-keys")
def vapid_keys_command() -> None:
    """Make a VAPID key pair for Web Push. Put the private key in PATRON_VAPID_PRIVATE_KEY (environment
    only); browsers subscribe with the public key (served at /api/v1/notify/vapid-public-key)."""
    from patron.notify.crypto import generate_vapid_keys

    keys = generate_vapid_keys()
    typer.echo(f"PATRON_VAPID_PRIVATE_KEY={keys.private_key}")
    typer.echo(f"public key: {keys.public_key}")
