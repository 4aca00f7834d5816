"""The birth date on the profile: checked at the API (not in the future, from 1900, agreeing with the birth
year, which follows from it), imported from CSV (``birth_date`` / ``birthday`` columns, a bad date a
rejected row), exported, shown and edited on the pages, and erased on request."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from patron.customers.models import Customer
from tests.customers.conftest import problem
from tests.web.conftest import browser  # noqa: F401 - fixture re-used


def _count(db) -> int:
    with db() as session:
        return session.scalar(select(func.count(Customer.id)))


def _import(api, text: str):
    return api.post("/customers/import", files={"file": ("people.csv", text.encode(), "text/csv")})


def test_a_birth_date_sets_the_birth_year_and_is_read_back(api):
    ann = api.customer(first_name="Ann", birth_date="1988-04-12")
    assert (ann["birth_date"], ann["birth_year"]) == ("1988-04-12", 1988)
    assert api.get(f"/customers/{ann['id']}").json()["birth_date"] == "1988-04-12"
    both = api.customer(first_name="Ben", birth_date="1979-12-31", birth_year=1979)
    assert (both["birth_date"], both["birth_year"]) == ("1979-12-31", 1979)
    listed = {c["id"]: c for c in api.get("/customers").json()["items"]}
    assert listed[ann["id"]]["birth_date"] == "1988-04-12"
    assert api.customer(first_name="Cleo", birth_year=1990)["birth_date"] is None


@pytest.mark.parametrize(("fields", "field"), [
    ({"birth_date": "1988-04-12", "birth_year": 1987}, "birth_date"),
    ({"birth_date": (datetime.now(UTC) + timedelta(days=3)).date().isoformat()}, "birth_date"),
    ({"birth_date": "1899-12-31"}, "birth_date"),
    ({"birth_date": "2001-02-29"}, "birth_date"),
    ({"birth_date": "12/04/1988"}, "birth_date"),
    ({"birth_date": "1988-04-12T10:00:00"}, "birth_date"),
    ({"birth_date": 576806400}, "birth_date"),
    ({"birth_date": ""}, "birth_date"),
])  # fmt: skip
def test_a_bad_birth_date_is_refused_naming_the_field_and_nothing_is_written(api, db, fields, field):
    response = api.post("/customers", json={"first_name": "Ann", **fields})
    problem(response, 422, field)
    assert _count(db) == 0


def test_changing_the_birth_date_keeps_the_year_in_step(api, db):
    ann = api.customer(first_name="Ann", birth_date="1988-04-12")
    path = f"/customers/{ann['id']}"
    problem(api.patch(path, json={"birth_year": 1990}), 422, "birth_year")  # disagrees with the stored date
    problem(api.patch(path, json={"birth_date": "1991-01-01", "birth_year": 1990}), 422, "birth_date")
    assert api.get(path).json()["birth_year"] == 1988
    moved = api.patch(path, json={"birth_date": "1989-06-01"}).json()
    assert (moved["birth_date"], moved["birth_year"]) == ("1989-06-01", 1989)
    timeline = api.get(f"{path}/timeline").json()["items"]
    change = next(item for item in timeline if item["kind"] == "profile.updated")
    assert change["data"]["changes"]["birth_date"] == {"from": "1988-04-12", "to": "1989-06-01"}
    assert api.patch(path, json={"birth_year": 1989}).status_code == 200  # the same year: fine
    cleared = api.patch(path, json={"birth_date": None}).json()
    assert (cleared["birth_date"], cleared["birth_year"]) == (None, 1989)
    assert api.patch(path, json={"birth_year": 1970}).json()["birth_year"] == 1970  # no date: the year is free


def test_import_reads_birthday_columns_and_rejects_bad_dates(api, db):
    text = (
        "name,email,Birthday,birth_year\n"
        "Sara Karimi,sara@example.com,1988-04-12,\n"
        "Jonas Weber,jonas@example.com,1979-12-31,1979\n"
        "Bad Date,bad@example.com,31.12.1979,\n"
        "No Day,noday@example.com,1979-02-30,\n"
        "Future,future@example.com,2999-01-01,\n"
        "Wrong Year,wrong@example.com,1980-05-05,1981\n"
        "Year Only,year@example.com,,1975\n"
    )
    report = _import(api, text).json()
    assert report["mapping"]["Birthday"] == "birth_date"
    assert (report["created"], report["rejected_count"]) == (3, 4)
    rejected = {r["row"]: (r["field"], r["column"]) for r in report["rejected"]}
    assert rejected == {4: ("birth_date", "Birthday"), 5: ("birth_date", "Birthday"), 6: ("birth_date", "Birthday"),
                        7: ("birth_date", "Birthday")}  # fmt: skip
    reasons = {r["row"]: r["reason"] for r in report["rejected"]}
    assert "YYYY-MM-DD" in reasons[4] and "calendar" in reasons[5] and "future" in reasons[6] and "1981" in reasons[7]
    people = {c["email"]: c for c in api.get("/customers").json()["items"]}
    assert (people["sara@example.com"]["birth_date"], people["sara@example.com"]["birth_year"]) == ("1988-04-12", 1988)
    assert people["jonas@example.com"]["birth_date"] == "1979-12-31"
    assert (people["year@example.com"]["birth_date"], people["year@example.com"]["birth_year"]) == (None, 1975)

    again = _import(api, text).json()  # the same file again changes nothing
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    changes = (
        "email,date of birth,birth_year\n"
        "sara@example.com,1988-04-13,\n"  # a corrected day
        "year@example.com,1975-07-01,\n"  # a date where only the year was known
        "jonas@example.com,,1980\n"  # a year that disagrees with the stored date
    )
    report = _import(api, changes).json()
    assert (report["updated"], report["rejected_count"]) == (2, 1)
    assert report["rejected"][0]["row"] == 4 and report["rejected"][0]["field"] == "birth_year"
    people = {c["email"]: c for c in api.get("/customers").json()["items"]}
    assert people["sara@example.com"]["birth_date"] == "1988-04-13"
    assert (people["year@example.com"]["birth_date"], people["year@example.com"]["birth_year"]) == ("1975-07-01", 1975)
    assert (people["jonas@example.com"]["birth_date"], people["jonas@example.com"]["birth_year"]) == ("1979-12-31", 1979)


def test_export_carries_the_birth_date_and_imports_back_unchanged(api):
    api.customer(first_name="Sara", email="sara@example.com", birth_date="1988-04-12")
    exported = api.get("/customers/export", params={"format": "csv"}).text
    (row,) = list(csv.DictReader(io.StringIO(exported)))
    assert (row["birth_date"], row["birth_year"]) == ("1988-04-12", "1988")
    (item,) = json.loads(api.get("/customers/export", params={"format": "json"}).text)
    assert item["birth_date"] == "1988-04-12"
    report = _import(api, exported).json()
    assert (report["created"], report["updated"], report["unchanged"], report["rejected_count"]) == (0, 0, 1, 0)


def test_the_privacy_export_holds_it_and_erasure_clears_it(api, db):
    ann = api.customer(first_name="Ann", email="ann@example.com", birth_date="1988-04-12")
    export = api.get(f"/customers/{ann['id']}/privacy-export").json()
    assert export["customer"]["birth_date"] == "1988-04-12"
    erased = api.post(f"/customers/{ann['id']}/erase").json()
    assert (erased["birth_date"], erased["birth_year"]) == (None, None)
    with db() as session:
        assert session.get(Customer, ann["id"]).birth_date is None
        assert session.scalar(select(func.count(Customer.id)).where(Customer.birth_date.is_not(None))) == 0


def test_the_form_edits_the_birth_date_and_the_profile_shows_it(browser, db):  # noqa: F811
    created = browser.post("/customers/new", {"first_name": "Grace", "birth_date": "1985-11-02", "birth_year": ""})
    assert created.status_code == 303, created.text
    path = created.headers["location"]
    customer_id = int(path.rsplit("/", 1)[1])
    page = browser.get(path)
    assert page.status_code == 200 and "1985-11-02" in page.text and "2 November" in page.text
    form = browser.get(f"{path}/edit")
    assert 'name="birth_date"' in form.text and 'value="1985-11-02"' in form.text
    # the year field is ignored when a date is given: the year is the date's
    saved = browser.post(f"{path}/edit", {"first_name": "Grace", "birth_date": "1986-01-20", "birth_year": "1985"})
    assert saved.status_code == 303, saved.text
    with db() as session:
        stored = session.get(Customer, customer_id)
        assert (stored.birth_date.isoformat(), stored.birth_year) == ("1986-01-20", 1986)
    bad = browser.post(f"{path}/edit", {"first_name": "Grace", "birth_date": "1800-01-01"})
    assert bad.status_code == 422 and 'id="birth_date-error"' in bad.text
    with db() as session:
        assert session.get(Customer, customer_id).birth_date.isoformat() == "1986-01-20"
