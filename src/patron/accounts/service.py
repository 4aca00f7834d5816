"""Organisations, users, logins, API keys and the audit log. The only module that queries them."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patron.accounts.models import AccessToken, ApiKey, Notification, Organisation, User
from patron.accounts.permissions import ROLES, can_grant
from patron.core.audit import AuditEntry
from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid, NotFound, PermissionDenied, Unauthenticated
from patron.core.security import hash_password, new_secret, secret_hash, verify_password

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")


# --- organisations -----------------------------------------------------------------------------

def slug_for(name: str) -> str:
    """The slug is the lower-cased name, spaces turned into dashes."""
    return re.sub(r"\s+", "-", name.strip().lower())


def create_organisation(session: Session, *, name: str, slug: str | None = None,
                        timezone: str = "UTC", currency: str = "EUR") -> Organisation:
    name = name.strip()
    if not name or len(name) > 200:
        raise Invalid("The organisation name must be 1-200 characters.", field="name")
    slug = slug or slug_for(name)
    if not SLUG_RE.match(slug):
        raise Invalid(f"'{slug}' is not a valid slug: use lower-case letters, digits and dashes.", field="slug")
    if get_organisation_by_slug(session, slug=slug) is not None:
        raise Conflict(f"An organisation with slug '{slug}' already exists.", field="slug")
    org = Organisation(name=name, slug=slug, timezone=timezone, currency=currency)
    session.add(org)
    session.flush()
    return org


def get_organisation(session: Session, *, org_id: int) -> Organisation | None:
    return session.get(Organisation, org_id)


def get_organisation_by_slug(session: Session, *, slug: str) -> Organisation | None:
    return session.scalar(select(Organisation).where(Organisation.slug == slug))


def get_organisation_by_slug_or_raise(session: Session, *, slug: str) -> Organisation:
    org = get_organisation_by_slug(session, slug=slug)
    if org is None:
        raise NotFound(f"No organisation with slug '{slug}'.", field="org")
    return org


def list_organisations(session: Session) -> list[Organisation]:
    return list(session.scalars(select(Organisation).order_by(Organisation.id)))


# --- users ---------------------------------------------------------------------------------------

def get_user_by_email(session: Session, *, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def get_user(session: Session, *, org_id: int, user_id: int) -> User | None:
    return session.scalar(select(User).where(User.org_id == org_id, User.id == user_id))


def get_user_or_raise(session: Session, *, org_id: int, user_id: int, field: str = "user_id") -> User:
    user = get_user(session, org_id=org_id, user_id=user_id)
    if user is None:
        raise NotFound(f"No user {user_id} in this organisation.", field=field)
    return user


def list_users(session: Session, *, org_id: int, role: str | None = None, active_only: bool = False) -> list[User]:
    query = select(User).where(User.org_id == org_id)
    if role:
        query = query.where(User.role == role)
    if active_only:
        query = query.where(User.is_active.is_(True))
    return list(session.scalars(query.order_by(User.full_name, User.email)))


def create_user(session: Session, *, org_id: int, email: str, password: str, role: str,
                full_name: str = "", granted_by_role: str | None = None) -> User:
    email = email.strip().lower()
    if role not in ROLES:
        raise Invalid(f"Unknown role '{role}'; choose one of {', '.join(ROLES)}.", field="role")
    if granted_by_role is not None and not can_grant(granted_by_role, role):
        raise PermissionDenied(f"A {granted_by_role} cannot create a user with role {role}.", field="role")
    if len(password) < 8:
        raise Invalid("The password must have at least 8 characters.", field="password")
    if "@" not in email or len(email) > 254:
        raise Invalid("A valid e-mail address is required.", field="email")
    if get_user_by_email(session, email=email) is not None:
        raise Conflict(f"A user with e-mail {email} already exists.", field="email")
    user = User(org_id=org_id, email=email, password_hash=hash_password(password), role=role,
                full_name=full_name.strip() or email.split("@")[0])
    session.add(user)
    session.flush()
    return user


def update_user(session: Session, *, user: User, changes: dict, granted_by_role: str | None = None) -> User:
    role = changes.get("role")
    if role is not None:
        if granted_by_role is not None and (not can_grant(granted_by_role, role)
                                            or not can_grant(granted_by_role, user.role)):
            raise PermissionDenied(f"A {granted_by_role} cannot change this user's role to {role}.", field="role")
        if user.role == "owner" and role != "owner" and _owner_count(session, user.org_id) <= 1:
            raise Conflict("The last owner of an organisation cannot be demoted.", field="role")
        user.role = role
        forget_cached_tokens()
    if changes.get("is_active") is False and user.role == "owner" and _owner_count(session, user.org_id) <= 1:
        raise Conflict("The last owner of an organisation cannot be deactivated.", field="is_active")
    if changes.get("full_name") is not None:
        user.full_name = changes["full_name"]
    if changes.get("is_active") is not None:
        user.is_active = changes["is_active"]
        if not user.is_active:
            revoke_user_tokens(session, user_id=user.id)
    if changes.get("password"):
        user.password_hash = hash_password(changes["password"])
        revoke_user_tokens(session, user_id=user.id)
    session.flush()
    return user


def _owner_count(session: Session, org_id: int) -> int:
    return session.scalar(select(func.count()).select_from(User).where(
        User.org_id == org_id, User.role == "owner", User.is_active.is_(True))) or 0


# --- logins ---------------------------------------------------------------------------------------

def authenticate(session: Session, *, email: str, password: str) -> User:
    user = get_user_by_email(session, email=email)
    if not verify_password(password, user.password_hash if user else None) or user is None or not user.is_active:
        raise Unauthenticated("Wrong e-mail or password.", field="username")
    user.last_login_at = utcnow()
    return user


def issue_token(session: Session, *, user: User, kind: str, minutes: int) -> tuple[str, AccessToken]:
    secret = new_secret("pat" if kind == "api" else "pws")
    token = AccessToken(org_id=user.org_id, user_id=user.id, token_hash=secret_hash(secret), kind=kind,
                        csrf_token=new_secret("csrf") if kind == "web" else None,
                        expires_at=utcnow() + timedelta(minutes=minutes))
    session.add(token)
    session.flush()
    return secret, token


def resolve_token(session: Session, *, secret: str, kind: str) -> tuple[User, AccessToken] | None:
    row = session.execute(
        select(User, AccessToken).join(AccessToken, AccessToken.user_id == User.id)
        .where(AccessToken.token_hash == secret_hash(secret), AccessToken.kind == kind)
    ).first()
    if row is None:
        return None
    user, token = row
    if token.expires_at <= utcnow() or not user.is_active:
        return None
    return user, token


@dataclass(frozen=True)
class TokenHolder:
    """What a request needs to know about the user behind an API token (a plain copy, safe to cache)."""

    user_id: int
    org_id: int
    role: str
    email: str
    expires_at: datetime


#: How long a resolved API token is trusted without asking the database again. Revocation, deactivation,
#: role and password changes clear the cache in this process at once; another process (a second worker)
#: sees them within this time.
TOKEN_CACHE_SECONDS = 5.0
TOKEN_CACHE_LIMIT = 10_000
_token_cache: dict[str, tuple[float, TokenHolder]] = {}


def forget_cached_tokens() -> None:
    """Drop every cached token resolution (after anything that may change who a token stands for)."""
    _token_cache.clear()


def resolve_api_token_cached(session: Session, *, secret: str) -> TokenHolder | None:
    """The holder of an ``api`` token, as :func:`resolve_token` finds it, remembered for
    :data:`TOKEN_CACHE_SECONDS`: the lookup (a hash and a join) was about a tenth of a profile read."""
    digest = secret_hash(secret)
    now = time.monotonic()
    cached = _token_cache.get(digest)
    if cached is not None and cached[0] > now:
        holder = cached[1]
        return holder if holder.expires_at > utcnow() else None
    found = resolve_token(session, secret=secret, kind="api")
    if found is None:
        _token_cache.pop(digest, None)
        return None
    user, token = found
    holder = TokenHolder(user_id=user.id, org_id=user.org_id, role=user.role, email=user.email,
                         expires_at=token.expires_at)
    if len(_token_cache) >= TOKEN_CACHE_LIMIT:
        _token_cache.clear()
    _token_cache[digest] = (now + TOKEN_CACHE_SECONDS, holder)
    return holder


def revoke_token(session: Session, *, secret: str) -> None:
    forget_cached_tokens()
    token = session.scalar(select(AccessToken).where(AccessToken.token_hash == secret_hash(secret)))
    if token is not None:
        session.delete(token)


def revoke_user_tokens(session: Session, *, user_id: int) -> None:
    forget_cached_tokens()
    for token in session.scalars(select(AccessToken).where(AccessToken.user_id == user_id)):
        session.delete(token)


# --- API keys -------------------------------------------------------------------------------------

def create_api_key(session: Session, *, org_id: int, name: str, role: str, created_by_id: int | None,
                   granted_by_role: str | None = None) -> tuple[str, ApiKey]:
    if role not in ROLES:
        raise Invalid(f"Unknown role '{role}'.", field="role")
    if role == "owner":
        raise Invalid("An API key cannot act as owner; choose admin or below.", field="role")
    if granted_by_role is not None and not can_grant(granted_by_role, role):
        raise PermissionDenied(f"A {granted_by_role} cannot create a key with role {role}.", field="role")
    secret = new_secret("pak")
    key = ApiKey(org_id=org_id, name=name.strip(), prefix=secret[:12], key_hash=secret_hash(secret), role=role,
                 created_by_id=created_by_id)
    session.add(key)
    session.flush()
    return secret, key


def list_api_keys(session: Session, *, org_id: int) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.org_id == org_id).order_by(ApiKey.id.desc())))


def revoke_api_key(session: Session, *, org_id: int, key_id: int) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.org_id == org_id, ApiKey.id == key_id))
    if key is None:
        raise NotFound(f"No API key {key_id} in this organisation.", field="key_id")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
    return key


def resolve_api_key(session: Session, *, secret: str) -> ApiKey | None:
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == secret_hash(secret)))
    if key is None or key.revoked_at is not None:
        return None
    return key


# --- audit log ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AuditFilter:
    entity: str | None = None
    entity_id: str | None = None
    action: str | None = None
    actor_user_id: int | None = None


def list_audit(session: Session, *, org_id: int, filters: AuditFilter, limit: int, offset: int
               ) -> tuple[list[AuditEntry], int]:
    query = select(AuditEntry).where(AuditEntry.org_id == org_id)
    if filters.entity:
        query = query.where(AuditEntry.entity == filters.entity)
    if filters.entity_id:
        query = query.where(AuditEntry.entity_id == filters.entity_id)
    if filters.action:
        query = query.where(AuditEntry.action == filters.action)
    if filters.actor_user_id:
        query = query.where(AuditEntry.actor_user_id == filters.actor_user_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset))
    return list(rows), total


# --- in-app notifications -------------------------------------------------------------------------

def notify_user(session: Session, *, org_id: int, user_id: int, kind: str, title: str, body: str = "",
                link: str = "") -> Notification:
    """Put a message in a staff member's inbox (shown in the web app's bell and at /api/v1/notifications)."""
    notification = Notification(org_id=org_id, user_id=user_id, kind=kind, title=title[:300], body=body[:2000],
                                link=link[:300])
    session.add(notification)
    session.flush()
    return notification


def list_notifications(session: Session, *, org_id: int, user_id: int, unread_only: bool = False,
                       limit: int = 50) -> list[Notification]:
    query = select(Notification).where(Notification.org_id == org_id, Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def count_unread_notifications(session: Session, *, org_id: int, user_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.org_id == org_id, Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def mark_notification_read(session: Session, *, org_id: int, user_id: int, notification_id: int) -> Notification:
    notification = session.scalar(select(Notification).where(
        Notification.org_id == org_id, Notification.user_id == user_id, Notification.id == notification_id))
    if notification is None:
        raise NotFound(f"No notification {notification_id}.", field="notification_id")
    if notification.read_at is None:
        notification.read_at = utcnow()
    return notification
