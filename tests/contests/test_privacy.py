"""The customer hooks: a merge brings the duplicate's referrals, entries, group place and scores to the
survivor; the privacy export lists them; an erasure withdraws the code and the group places but keeps
the entries, so a drawn contest still verifies."""

from __future__ import annotations

from datetime import UTC, datetime


def test_merge_export_and_erase(api):
    survivor, duplicate, friend = (
        api.customer(first_name="Ada"),
        api.customer(first_name="Ada L."),
        api.customer(),
    )
    code = api.ok("post", f"/customers/{duplicate}/referral-code", 201)["code"]
    api.ok("post", "/referrals", 201, json={"code": code, "customer_id": friend})
    contest = api.contest()
    api.ok("post", f"/contests/{contest['id']}/open")
    for customer_id in (survivor, duplicate):
        api.ok("post", f"/contests/{contest['id']}/entries", 201, json={"customer_id": customer_id})
    game = api.ok("post", "/games", 201, json={"name": "Quiz", "starts_at": "2020-01-01T00:00:00Z"})
    group = api.ok("post", f"/games/{game['id']}/groups", 201, json={"name": "Owls"})
    api.ok("post", f"/games/{game['id']}/groups/{group['id']}/members", 201, json={"customer_id": duplicate})
    api.ok(
        "post",
        f"/games/{game['id']}/scores",
        201,
        json={"customer_id": duplicate, "points": 7, "note": "Quiz 1"},
    )

    api.ok("post", f"/customers/{survivor}/merge", json={"duplicate_id": duplicate})
    assert api.ok("get", f"/customers/{survivor}/referral-code")["code"] == code
    assert [r["referrer_id"] for r in api.ok("get", "/referrals")["items"]] == [survivor]
    entries = api.ok("get", f"/contests/{contest['id']}/entries")["items"]
    assert [(e["customer_id"], e["count"]) for e in entries] == [(survivor, 2)]
    assert api.ok("get", f"/games/{game['id']}/groups")[0]["members"] == [survivor]
    period = datetime.now(UTC).strftime("%Y-%m")
    board = api.ok("get", f"/games/{game['id']}/leaderboard", params={"period": period})["customers"]
    assert [(s["id"], s["score"]) for s in board] == [(survivor, 7)]

    exported = api.ok("get", f"/customers/{survivor}/privacy-export")["related"]["contests"]
    assert exported["referral_code"][0]["code"] == code
    assert exported["contest_entries"][0] == exported["contest_entries"][0] | {
        "contest_id": contest["id"],
        "count": 2,
    }
    assert (
        exported["game_scores"][0]["note"] == "Quiz 1"
        and exported["game_groups"][0]["group_id"] == group["id"]
    )

    api.ok("post", f"/contests/{contest['id']}/close")
    api.ok("post", f"/contests/{contest['id']}/draw")
    api.ok("post", f"/customers/{survivor}/erase")
    assert api.get(f"/customers/{survivor}/referral-code").status_code == 404
    assert api.ok("get", f"/games/{game['id']}/groups")[0]["members"] == []
    assert api.ok("get", f"/contests/{contest['id']}/draw/verify")["ok"]
