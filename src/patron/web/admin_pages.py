"""Admin pages: users and roles, API keys, the audit log, channel policies (quiet hours and caps)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from patron.accounts import service as accounts_service
from patron.accounts.permissions import DESCRIPTIONS, PERMISSIONS, ROLES, can_grant
from patron.core.api import SessionDep
from patron.core.errors import PermissionDenied
from patron.notify import fatigue
from patron.notify.models import CHANNELS
from patron.web.common import (
    CsrfForm,
    FormInput,
    Pager,
    Permitted,
    Viewer,
    ViewerDep,
    attempt,
    redirect,
    render,
)

router = APIRouter(prefix="/admin")

AUDIT_PAGE = 50


def _grantable(viewer: Viewer) -> list[str]:
    return [role for role in ROLES if can_grant(viewer.role, role)]


@router.get("")
def admin_home(request: Request, viewer: ViewerDep) -> Response:
    """The first admin page the viewer may open."""
    for permission, path in (
        ("users.manage", "/admin/users"),
        ("api_keys.manage", "/admin/api-keys"),
        ("audit.read", "/admin/audit"),
        ("channels.manage", "/admin/channels"),
    ):
        if viewer.can(permission):
            return redirect(request, path)
    raise PermissionDenied(f"Your role ({viewer.role}) has no access to the admin pages.")


# --- users ------------------------------------------------------------------------------------------------


def _users_page(
    request: Request, session, viewer: Viewer, *, form: FormInput | None = None, status_code: int = 200
) -> Response:
    users = accounts_service.list_users(session, org_id=viewer.org_id)
    matrix = [
        {"permission": p, "description": DESCRIPTIONS.get(p, ""), "roles": PERMISSIONS[p]}
        for p in PERMISSIONS
    ]
    return render(
        request,
        "admin/users.html",
        {
            "users": users,
            "roles": ROLES,
            "grantable": _grantable(viewer),
            "matrix": matrix,
            "errors": form.errors if form else {},
            "values": form.values if form else {"role": "agent"},
        },
        status_code=status_code,
    )


@router.get("/users")
def users(request: Request, viewer: Permitted("users.manage"), session: SessionDep) -> Response:
    return _users_page(request, session, viewer)


@router.post("/users")
def create_user(
    request: Request, viewer: Permitted("users.manage"), form: CsrfForm, session: SessionDep
) -> Response:
    email = form.text("email", label="E-mail", max_length=254, required=True)
    full_name = form.text("full_name", label="Full name", max_length=200)
    role = form.choice("role", ROLES, label="Role", required=True)
    password = form.text("password", label="Password", max_length=500, required=True)
    if form.ok and role:
        user = attempt(
            session,
            form,
            lambda: accounts_service.create_user(
                session,
                org_id=viewer.org_id,
                email=email,
                password=password,
                role=role,
                full_name=full_name,
                granted_by_role=viewer.role,
            ),
        )
        if user is not None:
            return redirect(request, "/admin/users", flash=f"Created {user.email} as {user.role}.")
    return _users_page(request, session, viewer, form=form, status_code=422)


@router.post("/users/{user_id}/role")
def change_role(
    request: Request, user_id: int, viewer: Permitted("users.manage"), form: CsrfForm, session: SessionDep
) -> Response:
    user = accounts_service.get_user_or_raise(session, org_id=viewer.org_id, user_id=user_id)
    role = form.choice("role", ROLES, label="Role", required=True)
    if form.ok and role:
        done = attempt(
            session,
            form,
            lambda: accounts_service.update_user(
                session, user=user, changes={"role": role}, granted_by_role=viewer.role
            ),
        )
        if done is not None:
            return redirect(request, "/admin/users", flash=f"{done.email} is now {done.role}.")
    return redirect(request, "/admin/users", flash=next(iter(form.errors.values())), kind="error")


@router.post("/users/{user_id}/active")
def set_active(
    request: Request, user_id: int, viewer: Permitted("users.manage"), form: CsrfForm, session: SessionDep
) -> Response:
    """Deactivate (signs the user out everywhere) or reactivate a user."""
    user = accounts_service.get_user_or_raise(session, org_id=viewer.org_id, user_id=user_id)
    active = form.flag("active")
    if user.id == viewer.user_id and not active:
        return redirect(request, "/admin/users", flash="You cannot deactivate yourself.", kind="error")
    if not can_grant(viewer.role, user.role):
        raise PermissionDenied(f"A {viewer.role} cannot change a {user.role}'s account.")
    done = attempt(
        session, form, lambda: accounts_service.update_user(session, user=user, changes={"is_active": active})
    )
    if done is None:
        return redirect(request, "/admin/users", flash=next(iter(form.errors.values())), kind="error")
    verb = "reactivated" if active else "deactivated"
    return redirect(request, "/admin/users", flash=f"{done.email} {verb}.")


# --- API keys ------------------------------------------------------------------------------------------------


def _keys_page(
    request: Request, session, viewer: Viewer, *, form: FormInput | None = None, status_code: int = 200
) -> Response:
    keys = accounts_service.list_api_keys(session, org_id=viewer.org_id)
    return render(
        request,
        "admin/api_keys.html",
        {
            "keys": keys,
            "grantable": [r for r in _grantable(viewer) if r != "owner"],
            "errors": form.errors if form else {},
            "values": form.values if form else {"role": "agent"},
        },
        status_code=status_code,
    )


@router.get("/api-keys")
def api_keys(request: Request, viewer: Permitted("api_keys.manage"), session: SessionDep) -> Response:
    return _keys_page(request, session, viewer)


@router.post("/api-keys")
def create_api_key(
    request: Request, viewer: Permitted("api_keys.manage"), form: CsrfForm, session: SessionDep
) -> Response:
    """Create a key and show its secret on this page only: it is stored hashed and never shown again."""
    name = form.text("name", label="Name", max_length=120, required=True)
    role = form.choice("role", [r for r in ROLES if r != "owner"], label="Role", required=True)
    if form.ok and role:
        created = attempt(
            session,
            form,
            lambda: accounts_service.create_api_key(
                session,
                org_id=viewer.org_id,
                name=name,
                role=role,
                created_by_id=viewer.user_id,
                granted_by_role=viewer.role,
            ),
        )
        if created is not None:
            secret, key = created
            return render(
                request, "admin/api_key_created.html", {"key": key, "secret": secret}, status_code=201
            )
    return _keys_page(request, session, viewer, form=form, status_code=422)


@router.post("/api-keys/{key_id}/revoke")
def revoke_api_key(
    request: Request, key_id: int, viewer: Permitted("api_keys.manage"), form: CsrfForm, session: SessionDep
) -> Response:
    key = accounts_service.revoke_api_key(session, org_id=viewer.org_id, key_id=key_id)
    return redirect(request, "/admin/api-keys", flash=f"Key “{key.name}” revoked; it no longer works.")


# --- audit log -----------------------------------------------------------------------------------------------


@router.get("/audit")
def audit(
    request: Request,
    viewer: Permitted("audit.read"),
    session: SessionDep,
    entity: Annotated[str | None, Query(max_length=60)] = None,
    action: Annotated[str | None, Query(max_length=60)] = None,
    entity_id: Annotated[str | None, Query(max_length=60)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    filters = accounts_service.AuditFilter(
        entity=entity or None, action=action or None, entity_id=entity_id or None
    )
    entries, total = accounts_service.list_audit(
        session, org_id=viewer.org_id, filters=filters, limit=AUDIT_PAGE, offset=offset
    )
    people = {u.id: u for u in accounts_service.list_users(session, org_id=viewer.org_id)}
    return render(
        request,
        "admin/audit.html",
        {
            "entries": entries,
            "people": people,
            "pager": Pager.of(request, total=total, limit=AUDIT_PAGE, offset=offset),
            "filters": {"entity": entity or "", "action": action or "", "entity_id": entity_id or ""},
            "actions": ("create", "update", "delete"),
        },
    )


# --- channel policies: quiet hours and frequency caps ---------------------------------------------------------

CHANNEL_LABELS = {"email": "E-mail", "push": "Web Push", "sms": "SMS", "device": "Device (MQTT)", "in_app": "In-app inbox"}


def _channels_page(
    request: Request, session, viewer: Viewer, *, failed: str | None = None, form: FormInput | None = None,
    status_code: int = 200,
) -> Response:
    policies = {p.channel: p for p in fatigue.list_policies(session, org_id=viewer.org_id)}
    rows = []
    for channel in CHANNELS:
        policy = policies.get(channel)
        values = {
            "quiet_start": policy.quiet_start if policy else "",
            "quiet_end": policy.quiet_end if policy else "",
            "daily_cap": policy.daily_cap if policy and policy.daily_cap is not None else "",
            "weekly_cap": policy.weekly_cap if policy and policy.weekly_cap is not None else "",
        }
        errors = {}
        if form is not None and channel == failed:
            values, errors = form.values, form.errors
        rows.append({"channel": channel, "label": CHANNEL_LABELS[channel], "policy": policy,
                     "filled": values, "problems": errors})  # fmt: skip
    return render(request, "admin/channels.html", {"rows": rows}, status_code=status_code)


@router.get("/channels")
def channels(request: Request, viewer: Permitted("channels.manage"), session: SessionDep) -> Response:
    return _channels_page(request, session, viewer)


@router.post("/channels/{channel}")
def save_channel_policy(
    request: Request, channel: str, viewer: Permitted("channels.manage"), form: CsrfForm, session: SessionDep
) -> Response:
    """Quiet hours and frequency caps for marketing messages on one channel (empty fields: none)."""
    if channel not in CHANNELS:
        return redirect(request, "/admin/channels", flash=f"There is no channel {channel}.", kind="error")
    quiet_start = form.optional("quiet_start", label="Quiet from", max_length=5)
    quiet_end = form.optional("quiet_end", label="Quiet until", max_length=5)
    daily_cap = form.integer("daily_cap", label="Per day", minimum=0, maximum=fatigue.MAX_CAP)
    weekly_cap = form.integer("weekly_cap", label="Per week", minimum=0, maximum=fatigue.MAX_CAP)
    if form.ok:
        saved = attempt(session, form, lambda: fatigue.set_policy(
            session, org_id=viewer.org_id, channel=channel, quiet_start=quiet_start, quiet_end=quiet_end,
            daily_cap=daily_cap, weekly_cap=weekly_cap))  # fmt: skip
        if saved is not None:
            return redirect(request, "/admin/channels", flash=f"{CHANNEL_LABELS[channel]}: policy saved.")
    return _channels_page(request, session, viewer, failed=channel, form=form, status_code=422)
