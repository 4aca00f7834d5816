"""API shapes for organisations, users, tokens, API keys and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import EmailStr, Field

from patron.core.api import Schema

Role = Literal["owner", "admin", "manager", "agent", "analyst", "viewer"]


class Token(Schema):
    access_token: str = Field(description="Bearer token; send as `Authorization: Bearer <token>`.")
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime = Field(description="When the token stops working (UTC).")


class OrganisationOut(Schema):
    id: int
    name: str
    slug: str = Field(description="Short lower-case name used in URLs and the CLI.")
    timezone: str
    currency: str
    created_at: datetime


class UserOut(Schema):
    id: int
    org_id: int
    email: str
    full_name: str
    role: Role
    is_active: bool
    last_login_at: datetime | None
    created_at: datetime


class UserCreate(Schema):
    email: EmailStr = Field(description="Login name; unique across Patron.")
    full_name: str = Field("", max_length=200)
    password: str = Field(min_length=8, max_length=200, description="At least 8 characters.")
    role: Role = "agent"


class UserUpdate(Schema):
    full_name: str | None = Field(None, max_length=200)
    role: Role | None = None
    is_active: bool | None = None
    password: str | None = Field(None, min_length=8, max_length=200)


class Me(Schema):
    user: UserOut | None = Field(description="The signed-in user; null when an API key is used.")
    organisation: OrganisationOut
    role: Role
    permissions: list[str] = Field(description="Permissions this caller holds.")


class ApiKeyCreate(Schema):
    name: str = Field(min_length=1, max_length=120, description="What the key is for, e.g. 'billing sync'.")
    role: Role = Field("agent", description="The role the key acts with; at most the creator's own.")


class ApiKeyOut(Schema):
    id: int
    name: str
    prefix: str = Field(description="First characters of the key, to recognise it; the key itself is never shown again.")
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret key. Shown only in this response: store it now.")


class AuditEntryOut(Schema):
    id: int
    at: datetime
    actor_user_id: int | None
    actor_api_key_id: int | None
    actor_label: str = Field(description="E-mail of the user, name of the API key, or 'system'.")
    action: str = Field(description="create, update, delete, or a named action such as customers.import.")
    entity: str = Field(description="The kind of record (table name).")
    entity_id: str | None
    before: dict | None = Field(description="Changed fields before the write (null for a create).")
    after: dict | None = Field(description="Changed fields after the write (null for a delete).")


class NotificationOut(Schema):
    id: int
    kind: str = Field(description="escalation, task_reminder, assignment, ...")
    title: str
    body: str
    link: str = Field(description="Path in the web app the notification is about.")
    created_at: datetime
    read_at: datetime | None
