"""CSV import through the API and the CLI: mapping, per-row rejection, re-runs that update, broken files."""

import json

from sqlalchemy import func, select

from patron.core.audit import AuditEntry
from patron.customers.models import Customer, CustomerTag, Identity, TimelineEntry
from tests.customers.conftest import problem

GOOD = (
    "First Name,Surname,E-mail,Phone,Birth Year,Gender,Income,Tags,loyalty_card,rides\n"
    "Sara,Karimi,Sara@Example.com,+49 30 1111111,1988,F,high,vip;berlin,LC-1,120\n"
    "Jonas,Weber,jonas@example.com,,1979,male,middle,berlin,LC-2,8\n"
    '"Abel, Karin",,karin@example.com,,,,,,,\n'
)


def _import(api, text: str | bytes, **form):
    data = text.encode() if isinstance(text, str) else text
    if "mapping" in form and not isinstance(form["mapping"], str):
        form["mapping"] = json.dumps(form["mapping"])
    return api.post("/customers/import", files={"file": ("customers.csv", data, "text/csv")}, data=form)


def _count(db, model) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(model))


def _audit_actions(db, action: str) -> list[AuditEntry]:
    with db() as session:
        return session.scalars(select(AuditEntry).where(AuditEntry.action == action)).all()


def test_good_file_lands_with_identities_tags_attributes(api, db, tenant):
    api.post("/customer-attributes", json={"key": "rides", "label": "Rides", "type": "integer"})
    response = _import(api, GOOD)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["created"], report["updated"], report["rejected"], report["total"]) == (3, 0, [], 3)
    assert report["mapping"] == {
        "First Name": "first_name",
        "Surname": "last_name",
        "E-mail": "email",
        "Phone": "phone",
        "Birth Year": "birth_year",
        "Gender": "gender",
        "Income": "income_band",
        "Tags": "tags",
        "loyalty_card": "identity.loyalty_card",
        "rides": "attr.rides",
    }
    sara = api.get("/customers/lookup", params={"type": "loyalty_card", "value": "LC-1"}).json()
    assert sara["email"] == "sara@example.com" and sara["phone"] == "+49301111111"
    assert sara["gender"] == "female" and sara["income_band"] == "high" and sara["birth_year"] == 1988
    assert sara["tags"] == ["berlin", "vip"] and sara["attributes"] == {"rides": 120}
    karin = api.get("/customers", params={"email": "karin@example.com"}).json()["items"][0]
    assert (karin["first_name"], karin["last_name"]) == ("Abel, Karin", "")
    assert api.get(f"/customers/{sara['id']}/timeline").json()["items"][0]["kind"] == "customer.created"
    assert _count(db, Identity) == 3 + 1 + 2  # e-mails, Sara's phone, loyalty cards
    # one audit entry for the import, not one per row
    entries = _audit_actions(db, "customers.import")
    assert (
        len(entries) == 1 and entries[0].after["created"] == 3 and entries[0].actor_user_id == tenant.user_id
    )
    with db() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.entity == "customers", AuditEntry.action == "create")
            )
            == 0
        )


def test_re_running_the_same_file_does_not_duplicate(api, db):
    api.post("/customer-attributes", json={"key": "rides", "label": "Rides", "type": "integer"})
    _import(api, GOOD)
    counts = (_count(db, Customer), _count(db, Identity), _count(db, CustomerTag), _count(db, TimelineEntry))
    again = _import(api, GOOD).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert (
        _count(db, Customer),
        _count(db, Identity),
        _count(db, CustomerTag),
        _count(db, TimelineEntry),
    ) == counts


def test_matching_rows_update_the_customer(api, db):
    api.post("/customer-attributes", json={"key": "rides", "label": "Rides", "type": "integer"})
    _import(api, GOOD)
    changed = (
        "first_name,last_name,email,loyalty_card,rides,tags\n"
        "Sara,Karimi-Lang,sara.new@example.com,LC-1,121,gold\n"  # matched by loyalty card
        "Jonas,Weber,JONAS@example.com,,9,\n"
    )  # matched by e-mail
    report = _import(api, changed).json()
    assert (report["created"], report["updated"], report["rejected"]) == (0, 2, [])
    sara = api.get("/customers/lookup", params={"type": "loyalty_card", "value": "LC-1"}).json()
    assert sara["last_name"] == "Karimi-Lang" and sara["email"] == "sara.new@example.com"
    assert sara["attributes"] == {"rides": 121} and sara["tags"] == ["berlin", "gold", "vip"]
    assert sara["phone"] == "+49301111111"  # no phone column: kept
    emails = [
        i["value"] for i in api.get(f"/customers/{sara['id']}/identities").json() if i["type"] == "email"
    ]
    assert emails == ["sara.new@example.com"]
    update = api.get(f"/customers/{sara['id']}/timeline").json()["items"][0]
    assert update["kind"] == "profile.updated" and set(update["data"]["fields"]) >= {
        "email",
        "last_name",
        "tags",
    }
    assert _count(db, Customer) == 3


def test_bad_rows_are_reported_and_not_written(api, db):
    text = (
        "name,email,birth_year,gender,country\n"
        "Good One,good@example.com,1990,female,DE\n"
        "Bad Mail,not-an-email,1990,,\n"
        "Old,old@example.com,1850,,\n"
        "Robot,robot@example.com,,robot,\n"
        ",,,,\n"
        "Extra,extra@example.com,,,,surplus\n"
        "Nation,nation@example.com,,,Germany\n"
        ",,1990,,\n"
        "Good Two,good2@example.com,,,\n"
    )
    report = _import(api, text).json()
    assert report["created"] == 2 and report["total"] == 8 and report["rejected_count"] == 6
    rejected = {(r["row"], r["field"]) for r in report["rejected"]}
    assert rejected == {
        (3, "email"),
        (4, "birth_year"),
        (5, "gender"),
        (7, None),
        (8, "country"),
        (9, "first_name"),
    }
    reasons = {r["row"]: r["reason"] for r in report["rejected"]}
    assert "valid email" in reasons[3] and "1900" in reasons[4] and "6 values" in reasons[7]
    assert all(r["column"] for r in report["rejected"] if r["field"] not in (None, "first_name"))
    assert _count(db, Customer) == 2


def test_a_row_matching_two_customers_is_rejected(api, db):
    _import(api, "email,loyalty_card\na@example.com,L-A\nb@example.com,L-B\n")
    report = _import(api, "email,loyalty_card\na@example.com,L-B\n").json()
    assert report["rejected_count"] == 1 and "more than one customer" in report["rejected"][0]["reason"]
    assert _count(db, Customer) == 2


def test_repeated_rows_in_one_file_make_one_customer(api, db):
    report = _import(api, "email,first_name,tags\nx@example.com,Xa,one\nX@example.com,Xavier,two\n").json()
    assert (report["created"], report["updated"]) == (1, 1)
    customer = api.get("/customers", params={"email": "x@example.com"}).json()["items"][0]
    assert customer["first_name"] == "Xavier" and customer["tags"] == ["one", "two"]
    assert _count(db, Customer) == 1 and _count(db, Identity) == 1


def test_explicit_mapping_bom_and_semicolons(api):
    text = "\ufeffKundennummer;Vorname;Nachname;Mail;Notiz\nK-1;Lena;Fischer;lena@example.com;ignore me\n"
    report = _import(
        api,
        text.encode("utf-8"),
        mapping={
            "Kundennummer": "external",
            "Vorname": "first_name",
            "Nachname": "last_name",
            "Mail": "email",
            "Notiz": "ignore",
        },
    ).json()
    assert report["created"] == 1 and report["ignored_columns"] == ["Notiz"]
    lena = api.get("/customers/lookup", params={"type": "external", "value": "K-1"}).json()
    assert (lena["first_name"], lena["email"]) == ("Lena", "lena@example.com")


def test_broken_files_are_refused_whole(api, db):
    latin1 = "first_name,email\nJürgen,j@example.com\n".encode("latin-1")
    body = problem(_import(api, latin1), 422, "file")
    assert "UTF-8" in body["detail"]
    body = problem(_import(api, "city,country\nBerlin,DE\n"), 422, "file")
    assert "no name or e-mail column" in body["detail"]
    problem(_import(api, ""), 422, "file")
    problem(_import(api, "first_name\nA\x00B\n"), 422, "file")
    problem(_import(api, GOOD, mapping="{not json"), 422, "mapping")
    problem(_import(api, GOOD, mapping={"Nope": "email"}), 422, "mapping.Nope")
    problem(_import(api, GOOD, mapping={"Phone": "shoe_size"}), 422, "mapping.Phone")
    problem(_import(api, GOOD, mapping={"Phone": "email"}), 422, "mapping")
    problem(api.post("/customers/import", data={"dry_run": "true"}), 422, "file")
    assert _count(db, Customer) == 0 and _audit_actions(db, "customers.import") == []


def test_dry_run_writes_nothing(api, db):
    report = _import(api, GOOD, dry_run="true").json()
    assert report["dry_run"] is True and report["created"] == 3
    assert _count(db, Customer) == 0 and _count(db, Identity) == 0
    assert _audit_actions(db, "customers.import") == []


def test_import_needs_the_permission(client, make_tenant):
    agent = make_tenant("Acme", role="agent")
    response = client.post(
        "/api/v1/customers/import",
        headers=agent.headers,
        files={"file": ("c.csv", GOOD.encode(), "text/csv")},
    )
    problem(response, 403)


def test_cli_import_with_mapping_and_dry_run(cli, tmp_path, db, make_tenant):
    tenant = make_tenant("Acme")
    path = tmp_path / "people.csv"
    path.write_text("Given;Family;Mail\nAnn;Lee;ann@example.com\nBob;Ray;broken\n", encoding="utf-8")
    dry = cli(
        "customers",
        "import",
        path,
        "--org",
        "acme",
        "--map",
        "Given=first_name",
        "--map",
        "Family=last_name",
        "--map",
        "Mail=email",
        "--dry-run",
    )
    assert dry.exit_code == 0, dry.output
    assert "would create 1" in dry.output and "rejected 1" in dry.output and "dry run" in dry.output
    assert _count(db, Customer) == 0
    done = cli(
        "customers",
        "import",
        path,
        "--org",
        "acme",
        "--map",
        "Given=first_name",
        "--map",
        "Family=last_name",
        "--map",
        "Mail=email",
    )
    assert done.exit_code == 0, done.output
    assert "created 1" in done.output and "rejected 1" in done.output and "Rejected rows" in done.output
    with db() as session:
        customer = session.scalar(select(Customer))
        assert (customer.org_id, customer.email) == (tenant.org_id, "ann@example.com")
    assert len(_audit_actions(db, "customers.import")) == 1


def test_cli_import_errors_are_one_line(cli, tmp_path, make_tenant):
    make_tenant("Acme")
    path = tmp_path / "bad.csv"
    path.write_bytes("name\nJürgen\n".encode("latin-1"))
    result = cli("customers", "import", path, "--org", "acme")
    assert result.exit_code == 1 and "not UTF-8" in result.output and "Traceback" not in result.output
    result = cli("customers", "import", path, "--org", "acme", "--map", "broken")
    assert result.exit_code == 2 and "COLUMN=FIELD" in result.output
    result = cli("customers", "import", path, "--org", "nope")
    assert result.exit_code == 1 and "No organisation" in result.output


def test_customers_commands_have_help(cli):
    for command in ("import", "export", "privacy-export", "erase"):
        result = cli("customers", command, "--help")
        assert result.exit_code == 0 and "Usage" in result.output and "--org" in result.output, result.output
    assert "privacy-export" in cli("customers", "--help").output
