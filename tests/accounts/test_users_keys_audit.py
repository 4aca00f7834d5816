"""Users, roles, API keys and the audit log through the API, including attempts to cross tenants."""

from sqlalchemy import func, select

from patron.accounts.models import ApiKey, User
from patron.core.audit import AuditEntry


def test_admin_creates_user_who_can_log_in(client, tenant):
    response = client.post("/api/v1/users", headers=tenant.headers,
                           json={"email": "Agent.Smith@Acme.example", "password": "s3cret-pass", "role": "agent",
                                 "full_name": "Agent Smith"})
    assert response.status_code == 201, response.text
    assert response.json()["email"] == "agent.smith@acme.example"
    login = client.post("/api/v1/auth/token", data={"username": "agent.smith@acme.example",
                                                    "password": "s3cret-pass"})
    assert login.status_code == 200


def test_duplicate_email_is_409(client, tenant):
    body = {"email": "dup@acme.example", "password": "s3cret-pass", "role": "agent"}
    assert client.post("/api/v1/users", headers=tenant.headers, json=body).status_code == 201
    again = client.post("/api/v1/users", headers=tenant.headers, json=body)
    assert again.status_code == 409
    assert again.json()["field"] == "email"


def test_short_password_and_bad_role_rejected_and_nothing_written(client, tenant, db):
    bad = client.post("/api/v1/users", headers=tenant.headers,
                      json={"email": "x@acme.example", "password": "short", "role": "agent"})
    assert bad.status_code == 422 and bad.json()["field"] == "password"
    bad = client.post("/api/v1/users", headers=tenant.headers,
                      json={"email": "x@acme.example", "password": "long enough", "role": "emperor"})
    assert bad.status_code == 422 and bad.json()["field"] == "role"
    with db() as session:
        assert session.scalar(select(func.count()).select_from(User).where(User.email == "x@acme.example")) == 0


def test_agent_cannot_manage_users_or_read_audit(client, make_tenant):
    agent = make_tenant("Acme", role="agent")
    assert client.post("/api/v1/users", headers=agent.headers,
                       json={"email": "y@acme.example", "password": "long enough"}).status_code == 403
    assert client.get("/api/v1/audit", headers=agent.headers).status_code == 403
    assert client.get("/api/v1/api-keys", headers=agent.headers).status_code == 403


def test_admin_cannot_create_owner(client, tenant):
    response = client.post("/api/v1/users", headers=tenant.headers,
                           json={"email": "boss@acme.example", "password": "long enough", "role": "owner"})
    assert response.status_code == 403


def test_last_owner_cannot_be_demoted(client, make_tenant):
    owner = make_tenant("Acme", role="owner")
    response = client.patch(f"/api/v1/users/{owner.user_id}", headers=owner.headers, json={"role": "agent"})
    assert response.status_code == 409


def test_users_of_another_org_are_invisible(client, tenant, other_tenant):
    listed = client.get("/api/v1/users", headers=tenant.headers).json()
    assert other_tenant.email not in {u["email"] for u in listed}
    response = client.patch(f"/api/v1/users/{other_tenant.user_id}", headers=tenant.headers,
                            json={"full_name": "Hijacked"})
    assert response.status_code == 404


def test_deactivated_user_loses_access(client, tenant, make_tenant):
    agent = make_tenant("Acme", role="agent")
    assert client.get("/api/v1/me", headers=agent.headers).status_code == 200
    response = client.patch(f"/api/v1/users/{agent.user_id}", headers=tenant.headers, json={"is_active": False})
    assert response.status_code == 200
    assert client.get("/api/v1/me", headers=agent.headers).status_code == 401


def test_api_key_shown_once_stored_hashed_and_revocable(client, tenant, db):
    created = client.post("/api/v1/api-keys", headers=tenant.headers, json={"name": "billing sync", "role": "agent"})
    assert created.status_code == 201, created.text
    secret = created.json()["key"]
    assert secret.startswith("pak_")
    listed = client.get("/api/v1/api-keys", headers=tenant.headers).json()
    assert "key" not in listed[0]
    with db() as session:
        stored = session.scalar(select(ApiKey))
        assert secret not in (stored.key_hash, stored.prefix) and len(stored.key_hash) == 64
    machine = {"Authorization": f"Bearer {secret}"}
    me = client.get("/api/v1/me", headers=machine)
    assert me.status_code == 200 and me.json()["user"] is None and me.json()["role"] == "agent"
    revoked = client.delete(f"/api/v1/api-keys/{created.json()['id']}", headers=tenant.headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert client.get("/api/v1/me", headers=machine).status_code == 401


def test_api_key_of_another_org_cannot_be_revoked(client, tenant, other_tenant):
    created = client.post("/api/v1/api-keys", headers=other_tenant.headers, json={"name": "theirs"}).json()
    assert client.delete(f"/api/v1/api-keys/{created['id']}", headers=tenant.headers).status_code == 404
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {created['key']}"}).status_code == 200


def test_audit_log_records_who_what_before_after(client, tenant, other_tenant, db):
    created = client.post("/api/v1/users", headers=tenant.headers,
                          json={"email": "audited@acme.example", "password": "long enough", "full_name": "Ann"})
    user_id = created.json()["id"]
    client.patch(f"/api/v1/users/{user_id}", headers=tenant.headers, json={"full_name": "Ann B", "role": "manager"})
    audit = client.get("/api/v1/audit", headers=tenant.headers,
                       params={"entity": "users", "entity_id": str(user_id)}).json()
    actions = [item["action"] for item in audit["items"]]
    assert actions == ["update", "create"]
    update = audit["items"][0]
    assert update["before"] == {"full_name": "Ann", "role": "agent"}
    assert update["after"] == {"full_name": "Ann B", "role": "manager"}
    assert update["actor_user_id"] == tenant.user_id and update["actor_label"] == tenant.email
    assert audit["items"][1]["after"]["password_hash"] == "***"
    # the other organisation sees none of it
    theirs = client.get("/api/v1/audit", headers=other_tenant.headers, params={"entity": "users"}).json()
    assert all(item["entity_id"] != str(user_id) for item in theirs["items"])
    with db() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.entity == "users", AuditEntry.entity_id == str(user_id))) == 2


def test_role_changes_and_deactivation_apply_at_once_to_a_cached_token(client, tenant, make_tenant):
    """API tokens are cached for a few seconds; changes to their user must not wait for that."""
    agent = make_tenant("Acme", role="agent")
    create = {"first_name": "Ann"}
    assert client.get("/api/v1/customers/999999", headers=agent.headers).status_code == 404  # now cached
    assert client.post("/api/v1/customers", headers=agent.headers, json=create).status_code == 201
    demoted = client.patch(f"/api/v1/users/{agent.user_id}", headers=tenant.headers, json={"role": "viewer"})
    assert demoted.status_code == 200, demoted.text
    assert client.post("/api/v1/customers", headers=agent.headers, json=create).status_code == 403
    assert client.get("/api/v1/customers/999999", headers=agent.headers).status_code == 404
    client.patch(f"/api/v1/users/{agent.user_id}", headers=tenant.headers, json={"is_active": False})
    assert client.get("/api/v1/customers/999999", headers=agent.headers).status_code == 401
