"""Signing in and out, and the notification inbox behind the bell."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from patron.accounts import service as accounts_service
from patron.accounts.deps import SESSION_COOKIE
from patron.core.api import SessionDep, SettingsDep
from patron.core.audit import Actor
from patron.core.errors import Unauthenticated
from patron.core.security import same
from patron.web.common import (
    CSRF_FIELD,
    CsrfForm,
    PlainForm,
    ViewerDep,
    local_path,
    redirect,
    render,
)

router = APIRouter()

#: The login form is protected by a double-submit token: a random value in a short-lived cookie that the
#: form must echo, so another site cannot sign a browser in to an account of its choosing.
LOGIN_CSRF_COOKIE = "patron_login_csrf"


def _login_page(
    request: Request, *, next_path: str, email: str = "", error: str | None = None, status_code: int = 200
) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        {"next": next_path, "email": email, "error": error, "login_token": token, "viewer": None},
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=bool(request.app.state.settings.secure_cookies),
    )
    return response


@router.get("/login")
def login_form(
    request: Request, session: SessionDep, next: Annotated[str | None, Query(max_length=500)] = None
) -> Response:
    """The sign-in page; an already signed-in browser goes straight on."""
    next_path = local_path(next)
    secret = request.cookies.get(SESSION_COOKIE)
    if secret and accounts_service.resolve_token(session, secret=secret, kind="web") is not None:
        return redirect(request, next_path)
    return _login_page(request, next_path=next_path)


@router.post("/login")
def login(request: Request, form: PlainForm, session: SessionDep, settings: SettingsDep) -> Response:
    next_path = local_path(form.raw("next"))
    email = form.text("email", label="E-mail", max_length=254)
    password = form.text("password", label="Password", max_length=500)
    sent = form.raw(CSRF_FIELD)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not sent or not expected or not same(sent, expected):
        return _login_page(
            request,
            next_path=next_path,
            email=email,
            status_code=403,
            error="The sign-in form expired. Please try again.",
        )
    if not email or not password:
        return _login_page(
            request,
            next_path=next_path,
            email=email,
            status_code=422,
            error="Enter your e-mail address and password.",
        )
    try:
        user = accounts_service.authenticate(session, email=email, password=password)
    except Unauthenticated:
        return _login_page(
            request, next_path=next_path, email=email, status_code=401, error="Wrong e-mail or password."
        )
    session.info["actor"] = Actor(org_id=user.org_id, user_id=user.id, label=user.email)
    secret, _token = accounts_service.issue_token(
        session, user=user, kind="web", minutes=settings.session_minutes
    )
    response = redirect(request, next_path)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=settings.session_minutes * 60,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, form: CsrfForm, session: SessionDep) -> Response:
    """Sign out: the session token is revoked on the server, not only forgotten by the browser."""
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        accounts_service.revoke_token(session, secret=secret)
    response = redirect(request, "/login", flash="You are signed out.", kind="info")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- notifications -------------------------------------------------------------------------------------------


@router.get("/notifications")
def notifications(
    request: Request, viewer: ViewerDep, session: SessionDep, unread: Annotated[bool, Query()] = False
) -> Response:
    items = accounts_service.list_notifications(
        session, org_id=viewer.org_id, user_id=viewer.user_id, unread_only=unread, limit=100
    )
    return render(request, "notifications.html", {"items": items, "unread_only": unread})


@router.post("/notifications/{notification_id}/read")
def read_notification(
    request: Request, notification_id: int, viewer: ViewerDep, form: CsrfForm, session: SessionDep
) -> Response:
    """Mark one notification read; with ``open`` set, go on to the page it links to."""
    notification = accounts_service.mark_notification_read(
        session, org_id=viewer.org_id, user_id=viewer.user_id, notification_id=notification_id
    )
    if form.flag("open") and notification.link:
        return redirect(request, local_path(notification.link, "/notifications"))
    return redirect(request, "/notifications")


@router.post("/notifications/read-all")
def read_all_notifications(
    request: Request, viewer: ViewerDep, form: CsrfForm, session: SessionDep
) -> Response:
    unread = accounts_service.list_notifications(
        session, org_id=viewer.org_id, user_id=viewer.user_id, unread_only=True, limit=500
    )
    for notification in unread:
        accounts_service.mark_notification_read(
            session, org_id=viewer.org_id, user_id=viewer.user_id, notification_id=notification.id
        )
    return redirect(request, "/notifications", flash=f"Marked {len(unread)} notification(s) read.")
