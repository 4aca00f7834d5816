"""Customer-facing link pages, no sign-in (the link's token is the credential): unsubscribe (a page and
the RFC 8058 one-click POST), the open-tracking pixel, click tracking, and the push opt-in page with its
scripts."""

from __future__ import annotations

import base64
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from patron.core.api import SessionDep, SettingsDep
from patron.core.errors import NotFound
from patron.customers import service as customers_service
from patron.notify import crypto
from patron.notify import service as notify_service

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent / "static"
#: a transparent 1x1 GIF
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _render(request: Request, template: str, context: dict, status_code: int = 200) -> Response:
    from patron.web.common import render

    return render(request, template, context, status_code=status_code)


def _message_page(request: Request, title: str, text: str, kind: str = "ok", status_code: int = 200) -> Response:
    return _render(request, "notify/message.html", {"title": title, "message": text, "kind": kind}, status_code)


# --- unsubscribe -----------------------------------------------------------------------------------


@router.get("/u/{token}")
def unsubscribe_page(token: str, request: Request, session: SessionDep) -> Response:
    """Opening the link withdraws the e-mail consent at once (a ledger entry) and says so."""
    notify_service.do_unsubscribe(session, token=token, method="link")
    return _message_page(request, "You are unsubscribed",
                         "You will receive no more e-mails from us. This took effect immediately.")


@router.post("/u/{token}")
def unsubscribe_one_click(token: str, session: SessionDep) -> Response:
    """RFC 8058 one-click unsubscribe (mail programs POST ``List-Unsubscribe=One-Click``)."""
    notify_service.do_unsubscribe(session, token=token, method="one_click")
    return Response("Unsubscribed.\n", media_type="text/plain", headers=NO_STORE)


# --- tracking --------------------------------------------------------------------------------------


@router.get("/o/{token}.gif")
def open_pixel(token: str, session: SessionDep) -> Response:
    """The pixel marks the message opened; an unknown token still gets the pixel (nothing recorded)."""
    try:
        message = notify_service.message_for_token(session, token=token)
    except NotFound:
        message = None
    if message is not None:
        notify_service.do_mark_opened(session, message=message, how="pixel")
    return Response(PIXEL, media_type="image/gif", headers=NO_STORE)


@router.get("/c/{token}")
def click(token: str, u: str, session: SessionDep) -> Response:
    """Redirects to ``u`` when it is one of the message's own links (never an open redirect)."""
    message = notify_service.message_for_token(session, token=token)
    notify_service.do_mark_clicked(session, message=message, url=u)
    return RedirectResponse(u, status_code=302, headers=NO_STORE)


# --- push opt-in -----------------------------------------------------------------------------------


@router.get("/push/sw.js")
def service_worker() -> Response:
    """The service worker: shows each push and opens its link when clicked."""
    return Response((STATIC / "push-sw.js").read_bytes(), media_type="text/javascript",
                    headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"})  # fmt: skip


@router.get("/push/optin.js")
def optin_script() -> Response:
    return Response((STATIC / "push-optin.js").read_bytes(), media_type="text/javascript",
                    headers={"Cache-Control": "no-cache"})  # fmt: skip


@router.get("/push/{token}")
def push_page(token: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The allow / don't allow choice for push notifications."""
    target = notify_service.resolve_link(session, token=token)
    customer = customers_service.get_customer_or_raise(session, org_id=target.org_id,
                                                       customer_id=target.customer_id, field="token")  # fmt: skip
    allowed = customers_service.has_consent(session, org_id=target.org_id, customer_id=target.customer_id,
                                            channel="push")  # fmt: skip
    key = crypto.vapid_public_key(settings.vapid_private_key) if settings.vapid_private_key else ""
    return _render(request, "notify/push.html", {
        "first_name": customer.first_name, "token": token, "vapid_public_key": key, "allowed": allowed,
    })  # fmt: skip
