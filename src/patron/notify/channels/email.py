"""E-mail over SMTP: plain text and HTML parts, ``List-Unsubscribe`` with one-click POST (RFC 2369,
RFC 8058), tracked links and an open-tracking pixel.

Each delivery thread keeps its SMTP connection open after a send and uses it for its next message to the
same server (after a ``NOOP`` that proves it still works) if that comes within :data:`IDLE_SECONDS`;
otherwise, or when the server has dropped it, it opens a new one. A connection, a TLS handshake and a
login per message cost more than the message itself.
"""

from __future__ import annotations

import html
import re
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

from patron.core.config import Settings
from patron.core.errors import Invalid
from patron.notify.channels import Job, Outcome

URL_RE = re.compile(r"https?://[^\s<>\"']+")
#: SMTP reply codes that will not change on a retry (mailbox unknown, policy refusal)
PERMANENT = range(500, 600)
#: a connection kept from a send is used again for a send within this many seconds, else closed
IDLE_SECONDS = 30.0
_kept = threading.local()


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpServer:
    """``smtp://[user:pass@]host[:port][?starttls=true]`` or ``smtps://...`` (TLS from the first byte)."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise Invalid("PATRON_SMTP_URL must look like smtp://[user:pass@]host[:port][?starttls=true].",
                      field="smtp_url")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError:
        raise Invalid("PATRON_SMTP_URL has an invalid port.", field="smtp_url") from None
    options = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
    return SmtpServer(
        host=parts.hostname,
        port=port,
        implicit_tls=parts.scheme == "smtps",
        starttls=options.get("starttls") in ("1", "true", "yes"),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def _html_body(job: Job) -> str:
    """The body as HTML: paragraphs, links through click tracking, the unsubscribe link and the pixel."""

    def link(match: re.Match) -> str:
        url = match.group(0)
        return f'<a href="{html.escape(job.tracked(url))}">{html.escape(url)}</a>'

    paragraphs = []
    for block in job.body.split("\n\n"):
        escaped = html.escape(block)
        paragraphs.append("<p>" + URL_RE.sub(link, escaped).replace("\n", "<br>") + "</p>")
    url = job.data.get("url")
    if isinstance(url, str) and url:
        paragraphs.append(f'<p><a href="{html.escape(job.tracked(url))}">{html.escape(url)}</a></p>')
    unsubscribe = html.escape(job.unsubscribe_url)
    pixel = html.escape(job.link(f"/o/{job.token}.gif"))
    return (
        "<!doctype html><html><body>" + "".join(paragraphs)
        + f'<p style="font-size:small;color:#666"><a href="{unsubscribe}">Unsubscribe</a> from these e-mails.</p>'
        + f'<img src="{pixel}" width="1" height="1" alt="">'
        + "</body></html>"
    )  # fmt: skip


def build(job: Job, settings: Settings) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = settings.mail_from
    mail["To"] = job.target
    mail["Subject"] = job.subject
    domain = settings.mail_from.rsplit("@", 1)[-1].strip("> ") or "patron.invalid"
    mail["Message-ID"] = make_msgid(idstring=f"m{job.message_id}", domain=domain)
    mail["List-Unsubscribe"] = f"<{job.unsubscribe_url}>"
    mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail["X-Patron-Message"] = str(job.message_id)
    text = job.body
    url = job.data.get("url")
    if isinstance(url, str) and url:
        text += f"\n\n{url}"
    mail.set_content(f"{text}\n\n--\nUnsubscribe: {job.unsubscribe_url}\n")
    mail.add_alternative(_html_body(job), subtype="html")
    return mail


@dataclass
class _Kept:
    url: str
    client: smtplib.SMTP
    used_at: float


def _open(server: SmtpServer, timeout: float) -> smtplib.SMTP:
    if server.implicit_tls:
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            server.host, server.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(server.host, server.port, timeout=timeout)
    try:
        if server.starttls:
            client.starttls(context=ssl.create_default_context())
        if server.username:
            client.login(server.username, server.password or "")
    except BaseException:
        _close(client)
        raise
    return client


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except Exception:  # the server is gone already
        client.close()


def _connection(url: str, server: SmtpServer, timeout: float) -> smtplib.SMTP:
    """This thread's connection kept from its last send to the same server, if recent and it answers
    ``NOOP``; otherwise a new one."""
    kept: _Kept | None = getattr(_kept, "connection", None)
    _kept.connection = None
    if kept is not None:
        if kept.url == url and time.monotonic() - kept.used_at < IDLE_SECONDS:
            try:
                if kept.client.noop()[0] == 250:
                    return kept.client
            except (smtplib.SMTPException, OSError):
                pass
        _close(kept.client)
    return _open(server, timeout)


def _keep(url: str, client: smtplib.SMTP) -> None:
    _kept.connection = _Kept(url, client, time.monotonic())


def send(job: Job, settings: Settings) -> Outcome:
    if not settings.smtp_url:
        return Outcome("failed", reason="not_configured", error="PATRON_SMTP_URL is not set.")
    server = parse_smtp_url(settings.smtp_url)
    mail = build(job, settings)
    client: smtplib.SMTP | None = None
    try:
        client = _connection(settings.smtp_url, server, settings.smtp_timeout_seconds)
        client.send_message(mail)
    except smtplib.SMTPRecipientsRefused as exc:
        _keep(settings.smtp_url, client)  # the server answered; smtplib has reset the transaction
        code, text = next(iter(exc.recipients.values()))
        status = "failed" if code in PERMANENT else "retry"
        return Outcome(status, reason="rejected" if status == "failed" else None,
                       error=f"SMTP {code}: {_text(text)}", address=job.target)
    except smtplib.SMTPResponseException as exc:
        if client is not None and exc.smtp_code != 421:  # 421: the server is closing the connection
            _keep(settings.smtp_url, client)
        elif client is not None:
            _close(client)
        status = "failed" if exc.smtp_code in PERMANENT else "retry"
        return Outcome(status, reason="rejected" if status == "failed" else None,
                       error=f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}", address=job.target)
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        if client is not None:
            client.close()
        return Outcome("retry", error=f"SMTP: {exc.__class__.__name__}: {exc}"[:500], address=job.target)
    _keep(settings.smtp_url, client)
    return Outcome("sent", provider_id=mail["Message-ID"], address=job.target)


def _text(value: bytes | str) -> str:
    return (value.decode(errors="replace") if isinstance(value, bytes) else str(value))[:300]
