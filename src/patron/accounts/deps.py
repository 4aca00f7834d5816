"""Who is calling: bearer token, API key or web session cookie, and what they may do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from patron.accounts import service as accounts_service
from patron.accounts.permissions import PERMISSIONS, allowed
from patron.core.api import SessionDep
from patron.core.audit import Actor
from patron.core.db import utcnow
from patron.core.errors import PermissionDenied, Unauthenticated
from patron.core.security import same

SESSION_COOKIE = "patron_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# API keys record when they were last used, to this resolution (not a write on every request).
LAST_USED_RESOLUTION = timedelta(minutes=1)

T = TypeVar("T")

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


@dataclass(frozen=True)
class Principal:
    """The caller of a request, always bound to exactly one organisation."""

    org_id: int
    role: str
    user_id: int | None = None
    api_key_id: int | None = None
    label: str = ""
    csrf_token: str | None = None

    def can(self, permission: str) -> bool:
        return allowed(self.role, permission)

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise PermissionDenied(f"Your role ({self.role}) may not {permission.replace('.', ' ')}.")

    @property
    def permissions(self) -> list[str]:
        return [p for p in PERMISSIONS if self.can(p)]

    @property
    def actor(self) -> Actor:
        return Actor(org_id=self.org_id, user_id=self.user_id, api_key_id=self.api_key_id, label=self.label)


def principal_from_request(request: Request, session, bearer: str | None) -> Principal | None:
    if bearer:
        if bearer.startswith("pak_"):
            key = accounts_service.resolve_api_key(session, secret=bearer)
            if key is None:
                return None
            now = utcnow()
            if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
                key.last_used_at = now
            return Principal(org_id=key.org_id, role=key.role, api_key_id=key.id, label=f"api-key:{key.name}")
        holder = accounts_service.resolve_api_token_cached(session, secret=bearer)
        if holder is None:
            return None
        return Principal(org_id=holder.org_id, role=holder.role, user_id=holder.user_id, label=holder.email)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = accounts_service.resolve_token(session, secret=cookie, kind="web")
        if found is None:
            return None
        user, token = found
        principal = Principal(org_id=user.org_id, role=user.role, user_id=user.id, label=user.email,
                              csrf_token=token.csrf_token)
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not token.csrf_token or not same(sent, token.csrf_token):
                raise PermissionDenied("Missing or wrong CSRF token.", field=CSRF_HEADER)
        return principal
    return None


def current_principal(request: Request, session: SessionDep,
                      bearer: Annotated[str | None, Depends(oauth2_scheme)]) -> Principal:
    principal = principal_from_request(request, session, bearer)
    if principal is None:
        raise Unauthenticated("Sign in or send a valid bearer token or API key.")
    session.info["actor"] = principal.actor
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
Bearer = Annotated[str | None, Depends(oauth2_scheme)]


async def run_authorised(
    request: Request, bearer: str | None, permission: str, work: Callable[[Session, Principal], T]
) -> T:
    """``work(session, principal)`` for a caller holding ``permission``, in one thread-pool call.

    The same steps as a route with ``SessionDep`` and ``Allowed(permission)`` - a session per request,
    committed on success and rolled back on error, the caller found from the bearer token or the session
    cookie, the permission checked - but FastAPI runs each sync dependency (and its clean-up) in a
    thread-pool call of its own, and those hops were about a third of a small read. Hot read routes are
    ``async`` and hand everything to this function instead.

    For reads only: on PostgreSQL ``work`` runs outside a transaction block (see below), so several writes
    in it would not be atomic.
    """
    return await run_in_threadpool(_authorised_call, request, bearer, permission, work)


def _authorised_call(
    request: Request, bearer: str | None, permission: str, work: Callable[[Session, Principal], T]
) -> T:
    session: Session = request.app.state.sessionmaker()
    try:
        if session.get_bind().dialect.name == "postgresql":
            # Statements run outside a transaction block: under READ COMMITTED each statement takes its own
            # snapshot inside a transaction as well, so the reads see the same data, and BEGIN and COMMIT
            # were two of a profile read's four round trips to the server. A write the work makes (an API
            # key's last use) commits as its single statement.
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        principal = current_principal(request, session, bearer)
        principal.require(permission)
        result = work(session, principal)
        session.commit()
        return result
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def require(permission: str):
    """Dependency: the caller, who must hold ``permission``."""

    # async: a pure check, so FastAPI runs it on the event loop instead of another thread-pool hop
    async def dependency(principal: CurrentPrincipal) -> Principal:
        principal.require(permission)
        return principal

    dependency.__name__ = f"require_{permission.replace('.', '_')}"
    return Depends(dependency)


def Allowed(permission: str):  # noqa: N802 - reads like a type in signatures
    """``principal: Allowed("customers.read")`` — annotated principal holding a permission."""
    return Annotated[Principal, require(permission)]
