"""Auth, users, API keys and audit log endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.security import OAuth2PasswordRequestForm

from patron.accounts import schemas
from patron.accounts import service as accounts_service
from patron.accounts.deps import Allowed, CurrentPrincipal
from patron.core.api import Page, PageDep, SessionDep, SettingsDep
from patron.core.audit import Actor

router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.post("/auth/token", response_model=schemas.Token, summary="Log in and get a bearer token")
def login_for_token(request_form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep,
                    settings: SettingsDep) -> schemas.Token:
    """OAuth2 password flow: ``username`` is the e-mail address. Answers 401 on a wrong password."""
    user = accounts_service.authenticate(session, email=request_form.username, password=request_form.password)
    session.info["actor"] = Actor(org_id=user.org_id, user_id=user.id, label=user.email)
    secret, token = accounts_service.issue_token(session, user=user, kind="api",
                                                 minutes=settings.access_token_minutes)
    return schemas.Token(access_token=secret, expires_at=token.expires_at)


@router.get("/me", response_model=schemas.Me, summary="Who am I")
def me(principal: CurrentPrincipal, session: SessionDep) -> schemas.Me:
    org = accounts_service.get_organisation(session, org_id=principal.org_id)
    user = (accounts_service.get_user(session, org_id=principal.org_id, user_id=principal.user_id)
            if principal.user_id else None)
    return schemas.Me(user=schemas.UserOut.model_validate(user) if user else None,
                      organisation=schemas.OrganisationOut.model_validate(org), role=principal.role,
                      permissions=principal.permissions)


@router.get("/users", response_model=list[schemas.UserOut], summary="List the organisation's users")
def list_users(principal: Allowed("customers.read"), session: SessionDep) -> list:
    return accounts_service.list_users(session, org_id=principal.org_id)


@router.post("/users", response_model=schemas.UserOut, status_code=201, summary="Create a user")
def create_user(body: schemas.UserCreate, principal: Allowed("users.manage"), session: SessionDep):
    return accounts_service.create_user(session, org_id=principal.org_id, email=str(body.email),
                                        password=body.password, role=body.role, full_name=body.full_name,
                                        granted_by_role=principal.role)


@router.patch("/users/{user_id}", response_model=schemas.UserOut, summary="Change a user's role, name, status")
def update_user(user_id: int, body: schemas.UserUpdate, principal: Allowed("users.manage"), session: SessionDep):
    user = accounts_service.get_user_or_raise(session, org_id=principal.org_id, user_id=user_id)
    return accounts_service.update_user(session, user=user, changes=body.model_dump(exclude_unset=True),
                                        granted_by_role=principal.role)


@router.get("/api-keys", response_model=list[schemas.ApiKeyOut], summary="List API keys")
def list_api_keys(principal: Allowed("api_keys.manage"), session: SessionDep) -> list:
    return accounts_service.list_api_keys(session, org_id=principal.org_id)


@router.post("/api-keys", response_model=schemas.ApiKeyCreated, status_code=201,
             summary="Create an API key (the secret is in this response only)")
def create_api_key(body: schemas.ApiKeyCreate, principal: Allowed("api_keys.manage"), session: SessionDep):
    secret, key = accounts_service.create_api_key(session, org_id=principal.org_id, name=body.name,
                                                  role=body.role, created_by_id=principal.user_id,
                                                  granted_by_role=principal.role)
    return schemas.ApiKeyCreated(**schemas.ApiKeyOut.model_validate(key).model_dump(), key=secret)


@router.delete("/api-keys/{key_id}", response_model=schemas.ApiKeyOut, summary="Revoke an API key")
def revoke_api_key(key_id: int, principal: Allowed("api_keys.manage"), session: SessionDep):
    return accounts_service.revoke_api_key(session, org_id=principal.org_id, key_id=key_id)


@router.get("/audit", response_model=Page[schemas.AuditEntryOut], summary="Read the audit log (admins)")
def read_audit(principal: Allowed("audit.read"), session: SessionDep, page: PageDep,
               entity: Annotated[str | None, Query(max_length=60, description="Table name, e.g. customers")] = None,
               entity_id: Annotated[str | None, Query(max_length=60)] = None,
               action: Annotated[str | None, Query(max_length=60)] = None,
               actor_user_id: Annotated[int | None, Query()] = None) -> dict:
    items, total = accounts_service.list_audit(
        session, org_id=principal.org_id,
        filters=accounts_service.AuditFilter(entity=entity, entity_id=entity_id, action=action,
                                             actor_user_id=actor_user_id),
        limit=page.limit, offset=page.offset)
    return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}


@router.get("/notifications", response_model=list[schemas.NotificationOut], summary="My in-app notifications")
def list_notifications(principal: CurrentPrincipal, session: SessionDep,
                       unread: Annotated[bool, Query(description="Only unread ones.")] = False) -> list:
    if principal.user_id is None:
        return []
    return accounts_service.list_notifications(session, org_id=principal.org_id, user_id=principal.user_id,
                                               unread_only=unread)


@router.post("/notifications/{notification_id}/read", response_model=schemas.NotificationOut,
             summary="Mark a notification read")
def read_notification(notification_id: int, principal: CurrentPrincipal, session: SessionDep):
    if principal.user_id is None:
        from patron.core.errors import NotFound

        raise NotFound(f"No notification {notification_id}.", field="notification_id")
    return accounts_service.mark_notification_read(session, org_id=principal.org_id, user_id=principal.user_id,
                                                   notification_id=notification_id)
