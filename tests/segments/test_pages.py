"""The segment pages: the builder without JavaScript (add, remove, count, save, errors by the row), its live
count endpoint, the list with sizes, a segment's page, the cluster explorer and the customer page's panel."""

from __future__ import annotations

import re

from tests.segments.conftest import SEGMENTS, created, post
from tests.segments.test_ml_segments import planted  # noqa: F401
from tests.web.conftest import Browser, browser, sign_in  # noqa: F401


def rows(*conditions, mode="all", action="count", name="", description="") -> dict:
    return {"mode": mode, "action": action, "name": name, "description": description,
            "field": [c[0] for c in conditions], "op": [c[1] for c in conditions], "value": [c[2] for c in conditions]}  # fmt: skip


def shown_count(html: str) -> str:
    return re.search(r'data-testid="segment-count">([^<]*)<', html).group(1)


def test_the_builder_works_without_javascript(browser, people):  # noqa: F811
    page = browser.get("/segments/new")
    assert page.status_code == 200 and 'id="segment-builder"' in page.text
    counted = browser.post("/segments/new", rows(("gender", "eq", "female"), ("consent.email", "eq", "true")))
    assert counted.status_code == 200 and shown_count(counted.text) == "1" and ">Ana<" in counted.text
    either = browser.post(
        "/segments/new", rows(("gender", "eq", "female"), ("consent.email", "eq", "true"), mode="any")
    )
    assert shown_count(either.text) == "2"
    added = browser.post("/segments/new", rows(("gender", "eq", "female"), action="add"))
    assert added.text.count("data-row") == 2
    removed = browser.post(
        "/segments/new", rows(("gender", "eq", "female"), ("city", "is_set", ""), action="remove-0")
    )
    assert removed.text.count("data-row") == 1 and shown_count(removed.text) == "2"  # ana and ben have a city

    bad = browser.post("/segments/new", rows(("gender", "eq", "female"), ("birth_year", "lt", "long ago"),
                                             action="save", name="Bad"))  # fmt: skip
    assert bad.status_code == 422 and 'id="row-1-error"' in bad.text and "a number is needed" in bad.text
    nameless = browser.post("/segments/new", rows(("gender", "eq", "female"), action="save"))
    assert nameless.status_code == 422 and 'id="name-error"' in nameless.text
    saved = browser.post("/segments/new", rows(("tags", "contains", "vip"), action="save", name="VIPs"))
    assert saved.status_code == 303, saved.text
    location = saved.headers["location"]
    detail = browser.get(location)
    assert (
        detail.status_code == 200
        and 'data-testid="segment-size">2<' in detail.text
        and ">Cleo<" in detail.text
    )
    listed = browser.get("/segments")
    assert ">VIPs<" in listed.text and 'href="/segments"' in listed.text
    edit = browser.get(f"{location}/edit")
    assert edit.status_code == 200 and 'value="vip"' in edit.text and shown_count(edit.text) == "2"
    refreshed = browser.post(f"{location}/refresh")
    assert refreshed.status_code == 303


def test_a_segment_with_nested_groups_is_not_opened_in_the_builder(browser, client, tenant, people):  # noqa: F811
    nested = {
        "any": [
            {"field": "city", "op": "is_set"},
            {"all": [{"field": "tags", "op": "contains", "value": "vip"}]},
        ]
    }
    segment = created(post(client, tenant, SEGMENTS, {"name": "Nested", "definition": nested}))
    for response in (browser.get(f"/segments/{segment['id']}/edit", follow_redirects=False),
                     browser.post(f"/segments/{segment['id']}/edit", rows(("city", "is_set", ""), action="save", name="Flat"))):  # fmt: skip
        assert response.status_code == 303 and response.headers["location"] == f"/segments/{segment['id']}"
    assert client.get(f"{SEGMENTS}/{segment['id']}", headers=tenant.headers).json()["definition"] == nested


def test_the_live_count_answers_json_and_names_the_row(browser, people):  # noqa: F811
    good = browser.post("/segments/count", rows(("income_band", "in", "high, middle")))
    assert good.status_code == 200 and good.json()["count"] == 2
    assert [m["name"] for m in good.json()["preview"]] == ["Ana", "Cleo"]
    bad = browser.post("/segments/count", rows(("city", "is_set", ""), ("shoe_size", "eq", "42")))
    assert (
        bad.status_code == 200
        and bad.json()["count"] is None
        and bad.json()["row"] == 1
        and "unknown field" in bad.json()["error"]
    )
    assert browser.post("/segments/count", rows(("city", "is_set", "")), csrf=None).status_code == 403


def test_viewers_see_segments_but_cannot_build_them(client, make_tenant, tenant, people):
    viewer = make_tenant("Acme", role="viewer")
    as_viewer = Browser(client, sign_in(client, viewer.email, viewer.password))
    assert as_viewer.get("/segments").status_code == 200
    assert as_viewer.get("/segments/new").status_code == 403
    assert (
        as_viewer.post("/segments/new", rows(("city", "is_set", ""), action="save", name="X")).status_code
        == 403
    )


def test_the_cluster_explorer_and_the_customer_panel(browser, client, tenant, planted):  # noqa: F811
    run = created(post(client, tenant, f"{SEGMENTS}/ml-runs", {"k_min": 2, "k_max": 5}))
    page = browser.get(f"/segments/runs/{run['id']}")
    assert page.status_code == 200
    assert page.text.count('data-testid="cluster"') == 3
    assert page.text.count('<g class="k-bar chosen">') == 1 and "k=3 ✓" in page.text
    assert "Communication — loyal, strategic customers" in page.text
    bars = page.text.count('class="high"><title>') + page.text.count('class="low"><title>')
    assert bars == 3 * len(run["features"])  # one bar per feature in each cluster's chart
    customer = next(iter(planted))
    panel = browser.get(f"/customers/{customer}")
    segment = next(c for c in run["clusters"] if customer in members(client, tenant, c["segment_id"]))
    assert f'href="/segments/{segment["segment_id"]}"' in panel.text and 'id="segments"' in panel.text
    started = browser.post("/segments/runs", {"method": "kmeans", "k_min": "2", "k_max": "3"})
    assert started.status_code == 303 and started.headers["location"].startswith("/segments/runs/")
    refused = browser.post("/segments/runs", {"method": "kmeans", "k_min": "4", "k_max": "3"})
    assert refused.status_code == 303 and refused.headers["location"] == "/segments"


def members(client, tenant, segment_id) -> list[int]:
    response = client.get(f"{SEGMENTS}/{segment_id}/members", params={"limit": 500}, headers=tenant.headers)
    return [m["customer_id"] for m in response.json()["items"]]
