"""What every page shares: templates, the signed-in viewer, CSRF-checked forms, flashes and error pages.

Pages only call service functions; this module holds no queries of its own.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, unquote, urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from patron.accounts import service as accounts_service
from patron.accounts.deps import SESSION_COOKIE
from patron.accounts.permissions import allowed
from patron.core.api import SessionDep
from patron.core.audit import Actor
from patron.core.db import utcnow
from patron.core.errors import PatronError, PermissionDenied, Unauthenticated
from patron.core.security import same

log = logging.getLogger("patron.web")
WEB_DIR = Path(__file__).parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

FLASH_COOKIE = "patron_flash"
CSRF_FIELD = "csrf_token"
T = TypeVar("T")

#: Security headers sent with every page. No inline script or style is used anywhere, so the policy is strict.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


# --- the signed-in viewer -------------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """The staff member looking at a page: plain values, safe to use after the session has closed."""

    user_id: int
    org_id: int
    email: str
    name: str
    role: str
    org_name: str
    timezone: str
    currency: str
    csrf_token: str
    unread: int

    def can(self, permission: str) -> bool:
        return allowed(self.role, permission)

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise PermissionDenied(f"Your role ({self.role}) may not {permission.replace('.', ' ')}.")

    @property
    def actor(self) -> Actor:
        return Actor(org_id=self.org_id, user_id=self.user_id, label=self.email)


def current_viewer(request: Request, session: SessionDep) -> Viewer:
    """The viewer of a page, from the session cookie; anyone else is sent to the login page."""
    secret = request.cookies.get(SESSION_COOKIE)
    found = accounts_service.resolve_token(session, secret=secret, kind="web") if secret else None
    if found is None:
        raise Unauthenticated("Please sign in to continue.")
    user, token = found
    org = accounts_service.get_organisation(session, org_id=user.org_id)
    viewer = Viewer(
        user_id=user.id,
        org_id=user.org_id,
        email=user.email,
        name=user.full_name or user.email,
        role=user.role,
        org_name=org.name if org else "",
        timezone=org.timezone if org else "UTC",
        currency=org.currency if org else "EUR",
        csrf_token=token.csrf_token or "",
        unread=accounts_service.count_unread_notifications(session, org_id=user.org_id, user_id=user.id),
    )
    session.info["actor"] = viewer.actor
    request.state.viewer = viewer
    return viewer


ViewerDep = Annotated[Viewer, Depends(current_viewer)]


def Permitted(permission: str):  # noqa: N802 - reads like a type in signatures
    """``viewer: Permitted("tickets.write")`` — the signed-in viewer, who must hold ``permission``."""

    def dependency(viewer: ViewerDep) -> Viewer:
        viewer.require(permission)
        return viewer

    dependency.__name__ = f"web_require_{permission.replace('.', '_')}"
    return Annotated[Viewer, Depends(dependency)]


# --- forms ------------------------------------------------------------------------------------------


class FormInput:
    """A submitted form: typed reads with readable errors collected per field, for re-rendering."""

    def __init__(self, data: FormData | Mapping[str, Any]) -> None:
        self.data = data
        self.errors: dict[str, str] = {}

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def values(self) -> dict[str, Any]:
        """The submitted values (first of each name; lists for repeated names), to fill the form again."""
        result: dict[str, Any] = {}
        items = self.data.multi_items() if isinstance(self.data, FormData) else list(self.data.items())
        for key, value in items:
            if key == CSRF_FIELD or not isinstance(value, str):
                continue
            if key in result:
                previous = result[key]
                result[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
            else:
                result[key] = value
        return result

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def raw(self, name: str) -> str:
        value = self.data.get(name)
        return value.strip() if isinstance(value, str) else ""

    def text(self, name: str, *, label: str, max_length: int = 200, required: bool = False) -> str:
        value = self.raw(name)
        if required and not value:
            self.fail(name, f"{label} is required.")
        elif "\x00" in value:
            self.fail(name, f"{label} contains a character that cannot be stored.")
            return ""
        elif len(value) > max_length:
            self.fail(name, f"{label} must be at most {max_length} characters.")
        return value[:max_length]

    def optional(self, name: str, *, label: str, max_length: int = 200) -> str | None:
        return self.text(name, label=label, max_length=max_length) or None

    def choice(self, name: str, choices: Iterable[str], *, label: str, required: bool = False) -> str | None:
        value = self.raw(name)
        options = tuple(choices)
        if not value:
            if required:
                self.fail(name, f"Choose a {label.lower()}.")
            return None
        if value not in options:
            self.fail(name, f"{label} must be one of: {', '.join(options)}.")
            return None
        return value

    def integer(
        self,
        name: str,
        *,
        label: str,
        minimum: int | None = None,
        maximum: int | None = None,
        required: bool = False,
    ) -> int | None:
        value = self.raw(name)
        if not value:
            if required:
                self.fail(name, f"{label} is required.")
            return None
        try:
            number = int(value)
        except ValueError:
            self.fail(name, f"{label} must be a whole number.")
            return None
        if minimum is not None and number < minimum:
            self.fail(name, f"{label} must be at least {minimum}.")
        elif maximum is not None and number > maximum:
            self.fail(name, f"{label} must be at most {maximum}.")
        return number

    def decimal(
        self,
        name: str,
        *,
        label: str,
        minimum: Decimal | None = None,
        required: bool = False,
        maximum: Decimal = Decimal("999999999999"),
    ) -> Decimal | None:
        value = self.raw(name).replace(",", "")
        if not value:
            if required:
                self.fail(name, f"{label} is required.")
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            self.fail(name, f"{label} must be a number.")
            return None
        if not number.is_finite() or (minimum is not None and number < minimum) or number > maximum:
            self.fail(name, f"{label} is out of range.")
            return None
        return number

    def day(self, name: str, *, label: str, required: bool = False) -> date | None:
        value = self.raw(name)
        if not value:
            if required:
                self.fail(name, f"{label} is required.")
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(name, f"{label} must be a date (YYYY-MM-DD).")
            return None

    def moment(
        self, name: str, *, label: str, timezone: str = "UTC", required: bool = False
    ) -> datetime | None:
        """A ``datetime-local`` input, read in the organisation's time zone and returned in UTC."""
        value = self.raw(name)
        if not value:
            if required:
                self.fail(name, f"{label} is required.")
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail(name, f"{label} must be a date and time.")
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone(timezone))
        return moment.astimezone(UTC)

    def flag(self, name: str) -> bool:
        return self.raw(name).lower() in ("1", "true", "on", "yes")

    def many(self, name: str, *, label: str, max_items: int = 50, max_length: int = 60) -> list[str]:
        """A comma-separated (or repeated) list of short values, e.g. tags."""
        raw: list[str] = []
        getter = getattr(self.data, "getlist", None)
        for value in getter(name) if getter else [self.data.get(name, "")]:
            if isinstance(value, str):
                raw.extend(part.strip() for part in value.split(","))
        items = list(dict.fromkeys(item for item in raw if item))
        if len(items) > max_items:
            self.fail(name, f"{label}: at most {max_items} entries.")
        elif any(len(item) > max_length for item in items):
            self.fail(name, f"{label}: each entry must be at most {max_length} characters.")
        return items[:max_items]


async def csrf_form(request: Request, viewer: ViewerDep) -> FormInput:
    """The submitted form of a signed-in viewer, refused (403, nothing written) without the right CSRF token."""
    data = await request.form()
    sent = data.get(CSRF_FIELD)
    if not isinstance(sent, str) or not viewer.csrf_token or not same(sent, viewer.csrf_token):
        raise PermissionDenied(
            "This form has expired or did not come from Patron. Go back, reload the page and try again.",
            field=CSRF_FIELD,
        )
    return FormInput(data)


CsrfForm = Annotated[FormInput, Depends(csrf_form)]


async def plain_form(request: Request) -> FormInput:
    """A submitted form without a session (the login form, which checks its own token)."""
    return FormInput(await request.form())


PlainForm = Annotated[FormInput, Depends(plain_form)]


def attempt(session: Session, form: FormInput, action: Callable[[], T]) -> T | None:
    """Run a service call for a form; on a validation problem roll back and note the error on the form.

    Errors that name a submitted field, conflicts and invalid input become form errors shown next to the
    field; anything else (a missing record, a permission) propagates to the error page.
    """
    try:
        return action()
    except PatronError as exc:
        about_form = exc.status in (409, 422) or (exc.field is not None and exc.field in form.data)
        if not about_form:
            raise
        session.rollback()
        form.fail(exc.field if exc.field in form.data else "form", exc.detail)
    except IntegrityError:
        session.rollback()
        form.fail("form", "That conflicts with existing data (a unique value is already taken).")
    return None


# --- rendering -----------------------------------------------------------------------------------------


def zone(name: str | None) -> ZoneInfo | Any:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _viewer_zone(context: Mapping[str, Any]):
    viewer = context.get("viewer")
    return zone(viewer.timezone if isinstance(viewer, Viewer) else "UTC")


@jinja2.pass_context
def _when(context, value: datetime | None, fmt: str = "%d %b %Y, %H:%M") -> str:
    if value is None:
        return "—"
    return value.astimezone(_viewer_zone(context)).strftime(fmt)


def _day(value: date | datetime | None) -> str:
    if value is None:
        return "—"
    return value.strftime("%d %b %Y")


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """'5 min ago', 'in 2 h', '3 days ago'."""
    if value is None:
        return "—"
    delta = (now or utcnow()) - value
    future = delta.total_seconds() < 0
    seconds = abs(delta.total_seconds())
    if seconds < 60:
        return "in moments" if future else "just now"
    if seconds < 3600:
        text = f"{int(seconds // 60)} min"
    elif seconds < 86400:
        text = f"{int(seconds // 3600)} h"
    elif seconds < 86400 * 60:
        days = int(seconds // 86400)
        text = f"{days} day{'s' if days != 1 else ''}"
    else:
        months = int(seconds // (86400 * 30))
        text = f"{months} months"
    return f"in {text}" if future else f"{text} ago"


CURRENCY_SIGNS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}


def money(value: Decimal | float | int | None, currency: str | None = "EUR") -> str:
    if value is None:
        return "—"
    amount = f"{Decimal(value):,.0f}"
    sign = CURRENCY_SIGNS.get((currency or "").upper())
    return f"{sign}{amount}" if sign else f"{amount} {currency or ''}".strip()


def humanize(value: Any) -> str:
    """``upper_middle`` -> ``Upper middle``."""
    if value is None or value == "":
        return "—"
    text = str(value).replace("_", " ").replace(".", " ")
    return text[:1].upper() + text[1:]


def minutes(value: int | float | None) -> str:
    """Minutes as '45 min', '3 h 10 min', '2 d 4 h' (negative: overdue by that much)."""
    if value is None:
        return "—"
    total = abs(int(value))
    days, rest = divmod(total, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        text = f"{days} d {hours} h" if hours else f"{days} d"
    elif hours:
        text = f"{hours} h {mins} min" if mins else f"{hours} h"
    else:
        text = f"{mins} min"
    return f"-{text}" if value < 0 else text


#: timeline kind (exact, or its domain prefix) -> icon of the SVG sprite
TIMELINE_ICONS = {
    "interaction.call": "phone",
    "interaction.email": "mail",
    "interaction.chat": "chat",
    "interaction.social": "chat",
    "interaction.sms": "chat",
    "interaction.meeting": "calendar",
    "interaction.note": "note",
    "ticket": "ticket",
    "deal": "deal",
    "consent": "consent",
    "customer": "user",
    "profile": "user",
    "identity": "key",
    "place": "pin",
    "device": "device",
    "task": "check",
    "order": "deal",
    "survey": "star",
    "message": "mail",
}


def timeline_icon(kind: str) -> str:
    """The icon of a timeline entry: by its exact kind, else by its domain (``ticket.created`` -> ticket)."""
    return TIMELINE_ICONS.get(kind) or TIMELINE_ICONS.get(kind.split(".", 1)[0], "dot")


def _number(value: int | float | Decimal | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=_when,
        day=_day,
        ago=ago,
        money=money,
        humanize=humanize,
        number=_number,
        minutes=minutes,
        local=local_path,
        timeline_icon=timeline_icon,
    )
    env.globals.update(nav_items=nav_items)
    return env


# --- navigation ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    icon: str
    permissions: tuple[str, ...]
    prefixes: tuple[str, ...] = ()


NAVIGATION = (
    NavItem("Dashboard", "/", "home", ()),
    NavItem("Customers", "/customers", "users", ("customers.read",)),
    NavItem("Tickets", "/tickets", "ticket", ("tickets.read",)),
    NavItem("Pipeline", "/pipeline", "pipeline", ("sales.read",), ("/deals",)),
    NavItem("Tasks", "/tasks", "check", ("sales.read",)),
    NavItem("Orders", "/orders", "deal", ("orders.read",)),
    NavItem("Devices", "/devices", "device", ("devices.read",)),
    NavItem("Rules", "/rules", "alert", ("rules.read",)),
    NavItem("Surveys", "/surveys", "star", ("surveys.read",)),
    NavItem("Segments", "/segments", "pie", ("segments.read",)),
    NavItem("Campaigns", "/campaigns", "mail", ("campaigns.read",)),
    NavItem("Loyalty", "/loyalty", "gift", ("loyalty.read",)),
    NavItem("Contests", "/contests", "trophy", ("contests.read",), ("/games",)),
    NavItem("Activity", "/activity", "chart", ("activity.read",)),
    NavItem("Admin", "/admin", "shield", ("users.manage", "api_keys.manage", "audit.read")),
)


def nav_items(viewer: Viewer | None, path: str) -> list[dict[str, Any]]:
    """The navigation entries the viewer may use, the current one marked active."""
    if viewer is None:
        return []
    items = []
    for item in NAVIGATION:
        if item.permissions and not any(viewer.can(p) for p in item.permissions):
            continue
        if item.href == "/":
            active = path == "/"
        else:
            active = any(path == p or path.startswith(p + "/") for p in (item.href, *item.prefixes))
        items.append({"label": item.label, "href": item.href, "icon": item.icon, "active": active})
    return items


def _read_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    kind, _, message = unquote(raw).partition(":")
    if kind not in ("ok", "error", "info") or not message:
        return None
    return {"kind": kind, "message": message[:300]}


def _secure(request: Request) -> bool:
    return bool(request.app.state.settings.secure_cookies)


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Render a page with the shell's context (viewer, flash, errors, form values)."""
    ctx: dict[str, Any] = {"viewer": getattr(request.state, "viewer", None), "errors": {}, "values": {}}
    ctx.update(context or {})
    flash = _read_flash(request)
    ctx.setdefault("flash", flash)
    response = templates.TemplateResponse(request, template, ctx, status_code=status_code)
    response.headers.update(PAGE_HEADERS)
    if headers:
        response.headers.update(headers)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(request: Request, url: str, *, flash: str | None = None, kind: str = "ok") -> RedirectResponse:
    """A 303 redirect after a form, with an optional one-time message shown on the next page."""
    response = RedirectResponse(url, status_code=303)
    if flash:
        response.set_cookie(
            FLASH_COOKIE,
            quote(f"{kind}:{flash[:300]}"),
            max_age=120,
            path="/",
            httponly=True,
            samesite="lax",
            secure=_secure(request),
        )
    return response


def local_path(value: str | None, default: str = "/") -> str:
    """``value`` if it is a path on this site (``/customers?q=x``), else ``default``: no open redirects."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(ch) < 32 for ch in value):
        return default
    return value


def back_to(request: Request, default: str) -> str:
    """Where the form came from (the Referer, when it is on this site), else ``default``."""
    referer = request.headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        if parts.netloc == request.url.netloc:
            return local_path(parts.path + (f"?{parts.query}" if parts.query else ""), default)
    return default


# --- pagination ---------------------------------------------------------------------------------------------


@dataclass
class Pager:
    """Prev/next links over a filtered list, keeping the other query parameters."""

    total: int
    limit: int
    offset: int
    path: str
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, request: Request, *, total: int, limit: int, offset: int) -> Pager:
        params = {k: v for k, v in request.query_params.items() if k != "offset" and v != ""}
        return cls(total=total, limit=limit, offset=offset, path=request.url.path, params=params)

    @property
    def first(self) -> int:
        return min(self.offset + 1, self.total)

    @property
    def last(self) -> int:
        return min(self.offset + self.limit, self.total)

    def _url(self, offset: int) -> str:
        params = dict(self.params)
        if offset:
            params["offset"] = str(offset)
        return self.path + (f"?{urlencode(params)}" if params else "")

    @property
    def prev_url(self) -> str | None:
        return self._url(max(self.offset - self.limit, 0)) if self.offset > 0 else None

    @property
    def next_url(self) -> str | None:
        return self._url(self.offset + self.limit) if self.offset + self.limit < self.total else None


# --- error pages ---------------------------------------------------------------------------------------------

FRIENDLY_TITLES = {
    400: "That request could not be read",
    403: "You can't do that",
    404: "We couldn't find that page",
    405: "That action isn't available here",
    409: "That clashes with existing data",
    413: "That upload is too large",
    422: "Some input was not valid",
    500: "Something went wrong",
}


def login_url(next_path: str | None) -> str:
    target = local_path(next_path, "/")
    return "/login" if target == "/" else f"/login?{urlencode({'next': target})}"


def _viewer_for_error_page(request: Request) -> Viewer | None:
    """The signed-in viewer, so an error page keeps the app's navigation (also for unknown paths)."""
    viewer = getattr(request.state, "viewer", None)
    if viewer is not None or not request.cookies.get(SESSION_COOKIE):
        return viewer
    try:
        session = request.app.state.sessionmaker()
        try:
            return current_viewer(request, session)
        finally:
            session.close()
    except Exception:  # an expired login or a database hiccup: show the page without the shell
        return None


def render_error_page(
    request: Request,
    *,
    status: int,
    title: str,
    detail: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The web app's error renderer, registered on ``app.state`` for every path outside ``/api/``.

    A missing or expired login sends the browser to the login page (with the page it wanted as ``next``);
    everything else is a readable page in the app's shell.
    """
    if status == 401:
        if request.method == "GET":
            wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        else:
            wanted = back_to(request, "/")
        response: Response = RedirectResponse(login_url(wanted), status_code=303)
        if request.cookies.get(SESSION_COOKIE):
            response.delete_cookie(SESSION_COOKIE, path="/")
        return response
    context = {
        "status": status,
        "title": FRIENDLY_TITLES.get(status, title),
        "detail": detail,
        "field": field,
        "viewer": _viewer_for_error_page(request),
        "flash": None,
    }
    try:
        response = render(request, "error.html", context, status_code=status)
    except Exception:  # the error page itself failed: answer with plain, still readable HTML
        log.exception("error page failed to render")
        text = html.escape(f"{context['title']}: {detail}")
        response = HTMLResponse(
            f"<!doctype html><title>Patron</title><h1>{status}</h1><p>{text}</p>",
            status_code=status,
            headers=PAGE_HEADERS,
        )
    if headers:
        response.headers.update(headers)
    return response


templates = Jinja2Templates(env=_environment())
