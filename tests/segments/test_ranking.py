"""Priority ranking of an ML run's clusters (entropy weights, VIKOR, TOPSIS): on runs with planted cluster
profiles whose order is obvious, on a real run over planted purchase histories, through the API (errors by
field, tenant isolation) and on the cluster explorer page."""

from __future__ import annotations

import re

import pytest

from patron.core.audit import Actor
from patron.core.db import session_scope
from patron.segments.models import SegmentRun
from tests.segments.conftest import SEGMENTS, created, post
from tests.segments.test_ml_segments import planted  # noqa: F401
from tests.web.conftest import browser  # noqa: F401

FEATURES = ["recency_days", "frequency", "monetary", "usage_trend", "tickets_open", "csat_mean"]
#: cluster -> (name, share, recency_days, frequency, monetary, usage_trend, tickets_open, csat_mean)
DOMINANT = {
    0: ("champions", 0.40, 5.0, 12.0, 1000.0, 0.3, 0.0, 4.5),
    1: ("regulars", 0.25, 150.0, 4.0, 300.0, -0.1, 0.0, 4.0),
    2: ("drifting", 0.20, 200.0, 3.0, 250.0, -0.2, 0.0, 3.8),
    3: ("lost", 0.15, 260.0, 2.0, 200.0, -0.4, 0.0, None),
}
#: two clusters neck and neck at the top: neither has an acceptable advantage over the other
TIED = {
    0: ("early birds", 0.30, 20.0, 10.0, 800.0, 0.1, 0.0, 4.0),
    1: ("big spenders", 0.30, 22.0, 9.5, 820.0, 0.1, 0.0, 4.0),
    2: ("occasional", 0.25, 120.0, 4.0, 300.0, 0.1, 0.0, 4.0),
    3: ("gone", 0.15, 300.0, 1.0, 60.0, 0.1, 0.0, 4.0),
}


def make_run(db, org_id: int, profiles: dict, features: list[str] = FEATURES) -> int:
    """A finished run whose clusters carry the given profiles (as the clustering would have stored them)."""
    clusters = []
    for number, (name, share, *means) in profiles.items():
        centroid = dict(zip(features, means, strict=True))
        clusters.append({
            "cluster": number, "name": name, "size": int(share * 1000), "share": share,
            "z": {f: 0.0 for f in features}, "centroid": centroid, "key_differences": [],
            "archetype": None, "title": None, "playbook": [], "segment_id": None,
        })  # fmt: skip
    with session_scope(db) as session:
        session.info["actor"] = Actor(org_id=org_id, label="test")
        run = SegmentRun(org_id=org_id, method="kmeans", criterion="silhouette", k_min=4, k_max=4,
                         k=len(clusters), scores=[{"k": 4, "silhouette": 0.5, "bic": None, "inertia": 10.0}],
                         stability_ari=1.0, stability_min_ari=1.0, n_customers=1000, features=features,
                         clusters=clusters)  # fmt: skip
        session.add(run)
        session.flush()
        return run.id


def ranking(client, tenant, run_id: int, **params):
    return client.get(f"{SEGMENTS}/ml-runs/{run_id}/ranking", params=params, headers=tenant.headers)


def test_a_cluster_best_on_every_criterion_ranks_first_with_an_acceptable_advantage(client, db, tenant):
    run_id = make_run(db, tenant.org_id, DOMINANT)
    response = ranking(client, tenant, run_id)
    assert response.status_code == 200, response.text
    body = response.json()
    # the default criteria, recency a cost; entropy weights summing to 1
    assert [(c["name"], c["type"]) for c in body["criteria"]] == [
        ("share", "benefit"),
        ("monetary", "benefit"),
        ("frequency", "benefit"),
        ("recency_days", "cost"),
    ]
    assert body["weighting"] == "entropy" and sum(c["weight"] for c in body["criteria"]) == pytest.approx(1.0)
    assert all(
        0 < c["entropy"] < 1 and c["divergence"] == pytest.approx(1 - c["entropy"]) for c in body["criteria"]
    )
    # every cluster is worse than the one before on every criterion: the order is the planted one
    assert [c["cluster"] for c in body["clusters"]] == [0, 1, 2, 3] == body["ranking"]
    first = body["clusters"][0]
    assert first["name"] == "champions" and first["rank_Q"] == first["rank_S"] == first["rank_R"] == 1
    assert (
        first["S"] == pytest.approx(0) and first["R"] == pytest.approx(0) and first["Q"] == pytest.approx(0)
    )
    assert first["values"] == {"share": 0.40, "monetary": 1000.0, "frequency": 12.0, "recency_days": 5.0}
    # the worst cluster is worst on every criterion, so its S is the sum of the weights
    assert body["clusters"][-1]["S"] == pytest.approx(1.0) and body["clusters"][-1]["Q"] == pytest.approx(1.0)
    assert body["dq"] == pytest.approx(1 / 3) and body["advantage"] >= body["dq"]
    assert body["acceptable_advantage"] and body["acceptable_stability"] and body["compromise"] == [0]
    assert body["best_by_S"] and body["best_by_R"]
    # the stability view: the same winner for every v of 0.1 ... 0.9
    assert [row["v"] for row in body["stability"]] == pytest.approx(
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    )
    assert all(row["compromise"] == [0] and row["ranking"][0] == 0 for row in body["stability"])
    # TOPSIS: the dominant cluster is the ideal point itself
    assert body["topsis_ranking"] == [0, 1, 2, 3] and first["closeness"] == pytest.approx(1.0)
    assert {c["name"] for c in body["available_criteria"]} == {"share", *FEATURES}


def test_near_equals_at_the_top_form_the_compromise_set(client, db, tenant):
    run_id = make_run(db, tenant.org_id, TIED)
    body = ranking(client, tenant, run_id, weights="equal").json()
    # the top two differ by a few percent on two criteria and tie on share: well within DQ = 1/3 of each other
    assert body["weighting"] == "equal" and all(c["entropy"] is None for c in body["criteria"])
    assert not body["acceptable_advantage"] and body["advantage"] < body["dq"]
    assert set(body["compromise"]) == {0, 1} and 2 not in body["compromise"]


def test_the_user_chooses_criteria_and_their_direction(client, db, tenant):
    run_id = make_run(db, tenant.org_id, DOMINANT)
    as_cost = ranking(client, tenant, run_id, criterion=["frequency", "recency_days"], weights="equal").json()
    assert [(c["name"], c["type"]) for c in as_cost["criteria"]] == [
        ("frequency", "benefit"),
        ("recency_days", "cost"),
    ]
    assert as_cost["ranking"] == [0, 1, 2, 3]
    # read "days since the last purchase" as a benefit and weigh it alone: the order turns round
    flipped = ranking(client, tenant, run_id, criterion="recency_days:benefit").json()
    assert flipped["criteria"][0]["type"] == "benefit" and flipped["ranking"] == [3, 2, 1, 0]
    # a feature with negative cluster means cannot take entropy weights, but equal weights are fine
    negative = ranking(client, tenant, run_id, criterion=["usage_trend", "monetary"])
    assert negative.status_code == 422 and negative.json()["field"] == "weights"
    assert "usage_trend" in negative.json()["detail"]
    assert (
        ranking(client, tenant, run_id, criterion=["usage_trend", "monetary"], weights="equal").status_code
        == 200
    )
    # v moves the balance between group utility and regret; it is reported with its conditions
    body = ranking(client, tenant, run_id, v=0.25).json()
    assert body["v"] == 0.25 and len(body["stability"]) == 10


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"criterion": "shoe_size"}, "criterion", "Unknown criterion 'shoe_size'"),
        ({"criterion": "monetary:upwards"}, "criterion", "benefit or cost"),
        ({"criterion": ["monetary", "monetary:cost"]}, "criterion", "more than once"),
        ({"criterion": ""}, "criterion", "at least one criterion"),
        ({"criterion": ["tickets_open", "monetary"]}, "criterion", "same value in every cluster"),
        ({"criterion": "csat_mean"}, "criterion", "no mean of 'csat_mean'"),
        ({"weights": "magic"}, "weights", ""),
        ({"v": "2"}, "v", ""),
        ({"v": "soon"}, "v", ""),
    ],
)
def test_bad_criteria_are_refused_naming_the_field(client, db, tenant, params, field, words):
    run_id = make_run(db, tenant.org_id, DOMINANT)
    response = ranking(client, tenant, run_id, **params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field and words in response.json()["detail"]


def test_another_organisations_run_is_not_found(client, db, tenant, other_tenant, make_tenant):
    run_id = make_run(db, tenant.org_id, DOMINANT)
    assert ranking(client, other_tenant, run_id).status_code == 404
    assert ranking(client, tenant, run_id + 1000).status_code == 404
    assert client.get(f"{SEGMENTS}/ml-runs/{run_id}/ranking").status_code == 401
    viewer = make_tenant("Acme", role="viewer")
    assert ranking(client, viewer, run_id).status_code == 200


def test_a_real_run_ranks_the_lapsed_buyers_last(client, tenant, planted):  # noqa: F811
    run = created(post(client, tenant, f"{SEGMENTS}/ml-runs", {"k_min": 3, "k_max": 3}))
    body = ranking(client, tenant, run["id"]).json()
    # the planted groups are equally large; when the clusters are too, share cannot tell them apart and is left out
    shares = {c["share"] for c in run["clusters"]}
    assert [c["name"] for c in body["criteria"]] == ["share"] * (len(shares) > 1) + ["monetary", "frequency",
                                                                                      "recency_days"]  # fmt: skip
    lapsed = max(run["clusters"], key=lambda c: c["centroid"]["recency_days"])
    # lapsed buyers bought least, least often and longest ago: last by VIKOR and by TOPSIS
    assert body["ranking"][-1] == lapsed["cluster"] and body["topsis_ranking"][-1] == lapsed["cluster"]


def test_the_explorer_shows_the_priority_section(browser, client, db, tenant, other_tenant):  # noqa: F811
    run_id = make_run(db, tenant.org_id, DOMINANT)
    page = browser.get(f"/segments/runs/{run_id}")
    assert page.status_code == 200
    assert 'data-testid="priority"' in page.text and 'data-testid="priority-error"' not in page.text
    table = page.text.split('data-testid="priority-table"', 1)[1].split("</table>", 1)[0]
    assert re.findall(r'<tr data-cluster="(\d)">', table) == ["0", "1", "2", "3"]
    assert "recency_days ↓" in table and "40.0%" in table and "1,000.00" in table
    assert "-0.000" not in table  # a zero distance on a cost criterion is shown as 0, not -0
    assert re.search(r'data-testid="priority-compromise">champions<', page.text)
    assert "C1 acceptable advantage at v = 0.5: <strong>holds</strong>" in page.text
    assert "C2 acceptable stability: <strong>holds</strong>" in page.text
    assert page.text.count('data-testid="cluster"') == 4  # the explorer itself is still there
    # the form shows the choices in force and asks again by a plain GET
    assert '<option value="recency_days:cost" selected>' in page.text
    assert '<option value="usage_trend:benefit" selected>' not in page.text
    assert 'method="get" action="/segments/runs/' in page.text

    changed = browser.get(f"/segments/runs/{run_id}", params={"criterion": ["recency_days:benefit", ""],
                                                             "weights": "equal", "v": "0.3"})  # fmt: skip
    assert changed.status_code == 200
    # on recency alone, read as a benefit, "lost" leads but "drifting" is within DQ of it (C1 fails)
    assert re.search(r'data-testid="priority-compromise">lost, drifting<', changed.text)
    assert "C1 acceptable advantage at v = 0.3: <strong>fails</strong>" in changed.text
    assert '<option value="recency_days:benefit" selected>' in changed.text and 'value="0.3"' in changed.text

    refused = browser.get(f"/segments/runs/{run_id}", params={"criterion": ["", ""], "v": "0.5"})
    assert refused.status_code == 422 and "Choose at least one criterion." in refused.text
    assert (
        'data-testid="priority-table"' not in refused.text
        and refused.text.count('data-testid="cluster"') == 4
    )
    bad_v = browser.get(f"/segments/runs/{run_id}", params={"v": "later"})
    assert bad_v.status_code == 422 and "v must be a number from 0 to 1." in bad_v.text

    # another organisation's run, with or without criteria, is not found
    theirs = make_run(db, other_tenant.org_id, DOMINANT)
    assert browser.get(f"/segments/runs/{theirs}").status_code == 404
    assert browser.get(f"/segments/runs/{theirs}", params={"criterion": "monetary"}).status_code == 404


def test_a_run_without_the_default_criteria_asks_for_criteria(browser, client, db, tenant):  # noqa: F811
    # two equally large clusters told apart only by their usage trend: no default criterion applies
    run_id = make_run(
        db, tenant.org_id, {0: ("rising", 0.5, 0.4), 1: ("falling", 0.5, -0.3)}, ["usage_trend"]
    )
    refused = ranking(client, tenant, run_id)
    assert refused.status_code == 422 and refused.json()["field"] == "criterion"
    assert "None of the default criteria" in refused.json()["detail"]
    page = browser.get(f"/segments/runs/{run_id}")  # the explorer still opens, with the note and the form
    assert page.status_code == 200 and "None of the default criteria" in page.text
    assert '<option value="usage_trend:benefit">' in page.text
    chosen = ranking(client, tenant, run_id, criterion="usage_trend", weights="equal").json()
    assert chosen["ranking"] == [0, 1] and chosen["compromise"] == [0]
