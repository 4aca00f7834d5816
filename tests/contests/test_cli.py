"""``patron contest draw|verify``: a draw from the command line, its verification from the database and
offline from the published JSON, a tampered file caught (exit code 2), and readable errors."""

from __future__ import annotations

import json


def test_draw_and_verify_from_the_command_line(cli, api, tenant, tmp_path):
    contest = api.contest()
    api.ok("post", f"/contests/{contest['id']}/open")
    customers = [api.customer() for _ in range(6)]
    for customer_id in customers:
        api.ok("post", f"/contests/{contest['id']}/entries", 201, json={"customer_id": customer_id})
    api.ok("post", f"/contests/{contest['id']}/close")
    drawn = cli("contest", "draw", contest["id"], "--org", tenant.slug)
    assert drawn.exit_code == 0, drawn.output
    assert f"contest {contest['id']} drawn: 3 winners from 6 eligible entrants" in drawn.output
    published = api.ok("get", f"/contests/{contest['id']}/draw")
    for position, winner in enumerate(published["winners"], start=1):
        assert f"{position}. customer {winner['customer_id']} ({winner['points']} points)" in drawn.output
    verified = cli("contest", "verify", contest["id"], "--org", tenant.slug)
    assert verified.exit_code == 0 and verified.output.strip().endswith("verified"), verified.output
    # offline, from the published JSON only
    saved = tmp_path / "draw.json"
    saved.write_text(json.dumps(published))
    offline = cli("contest", "verify", "--file", saved)
    assert offline.exit_code == 0 and "winners match: yes" in offline.output, offline.output
    # one entry changed in the file: the entry hash no longer matches
    tampered = dict(
        published, entries=[[c, n + 1 if i == 0 else n] for i, (c, n) in enumerate(published["entries"])]
    )
    saved.write_text(json.dumps(tampered))
    caught = cli("contest", "verify", "--file", saved)
    assert caught.exit_code == 2 and "entries hash matches: NO" in caught.output, caught.output


def test_readable_errors(cli, api, tenant, tmp_path):
    contest = api.contest()
    not_closed = cli("contest", "draw", contest["id"], "--org", tenant.slug)
    assert not_closed.exit_code == 1 and not_closed.output.startswith("Error: Contest"), not_closed.output
    assert "Traceback" not in not_closed.output
    missing = cli("contest", "verify", 999, "--org", tenant.slug)
    assert missing.exit_code == 1 and "No contest 999" in missing.output
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    broken = cli("contest", "verify", "--file", bad)
    assert broken.exit_code == 1 and "is not a published draw" in broken.output
    assert cli("contest", "verify").exit_code == 1
