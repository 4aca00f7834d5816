"""``patron analytics predict`` and the predictions panel of the customer page."""

from __future__ import annotations

import re

from tests.predictions.conftest import AS_OF, run
from tests.web.conftest import sign_in


def test_the_command_prints_the_holdout_metrics(cli, client, tenant, shop):
    result = cli("analytics", "predict", "--org", tenant.slug, "--as-of", AS_OF.isoformat())
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # the console wraps long lines
    assert f"predictions for {len(shop.customers)} customers of acme" in output
    churn = re.search(r"AUC (\d\.\d{3}) \(recency baseline (\d\.\d{3})\)", output)
    assert churn and float(churn.group(1)) > 0.75
    recs = re.search(r"precision@10 (\d\.\d{3}) \(popularity (\d\.\d{3})\)", output)
    assert recs and float(recs.group(1)) > float(recs.group(2))
    answer = client.get(f"/api/v1/customers/{shop.customers[0]}/predictions", headers=tenant.headers)
    assert answer.status_code == 200


def test_the_command_refuses_bad_input_in_one_line(cli, tenant):
    unknown = cli("analytics", "predict", "--org", "nobody")
    assert unknown.exit_code == 1 and unknown.output.count("\n") == 1 and "Error:" in unknown.output
    bad_date = cli("analytics", "predict", "--org", tenant.slug, "--as-of", "yesterday")
    assert bad_date.exit_code == 1 and "[as_of]" in bad_date.output
    bad_horizon = cli("analytics", "predict", "--org", tenant.slug, "--horizon-days", "3")
    assert bad_horizon.exit_code == 1 and "[horizon_days]" in bad_horizon.output


def test_the_customer_page_shows_the_panel(client, tenant, make_tenant, shop):
    sign_in(client, tenant.email, tenant.password)
    before = client.get(f"/customers/{shop.souring}")
    assert "No predictions yet" in before.text
    assert run(client, tenant).status_code == 200
    page = client.get(f"/customers/{shop.souring}")
    panel = page.text.split('id="predictions"', 1)[1].split("</section>", 1)[0]
    assert "Lifetime value" in panel and "€" in panel and "Churn risk" in panel
    assert panel.count("the risk</div>") == 3
    assert panel.count("<li>Group ") == 5  # product names, not ids
    assert "falling" in panel and "<polyline" in panel
