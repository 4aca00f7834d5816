"""The demo's campaigns, through the campaigns services, after the segments they are aimed at.

* **Ride pass offer** — a one-off in-app campaign to the *Berlin e-mail opt-ins* segment, sent
  twelve days ago with two variants (a discount and a "free rides" wording) and a 10 % hold-out; its
  conversions (orders within a week of the assignment, hold-out included) are attributed, so the
  results page compares the variants with the hold-out.
* **Near KaDeWe: shop offer** — a triggered campaign on the ``nearby_shop_offer`` trigger the IoT rule
  emits, running, at most one message a day per customer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from patron.campaigns import results as campaign_results
from patron.campaigns import sending
from patron.campaigns import service as campaigns_service
from patron.segments import service as segments_service
from patron.simulate.clock import SimulatedClock

Progress = Callable[[str, int, int], None]

SENT_AGO = timedelta(days=12)


def seed_demo_campaigns(
    session: Session, *, org_id: int, clock: SimulatedClock, anchor: datetime, progress: Progress
) -> dict[str, int]:
    """A finished one-off campaign with two variants and a hold-out, and a running triggered one."""
    progress("Campaigns", 0, 2)
    audience = segments_service.get_segment_by_name(session, org_id=org_id, name="Berlin e-mail opt-ins")
    clock.set(anchor - SENT_AGO - timedelta(hours=3))
    offer = campaigns_service.create_campaign(session, org_id=org_id, values={
        "name": "Ride pass offer", "kind": "one_off", "channels": ["in_app"],
        "description": "Ride passes: which wording brings more orders, against a hold-out.",
        "audience": {"kind": "segment", "segment_id": audience.id}, "holdout_percent": 10,
        "conversion": {"kind": "order", "window_hours": 168},
        "variants": [
            {"name": "Discount", "weight": 1, "subject": "Ride passes for less",
             "body": "Hello {{ first_name }}, this week the 10-ride city pass costs less in the app."},
            {"name": "Free rides", "weight": 1, "subject": "Two rides on us",
             "body": "Hello {{ first_name }}, buy a 10-ride city pass this week and two more rides are on us."},
        ],
    })  # fmt: skip
    clock.set(anchor - SENT_AGO)
    outcome = sending.do_launch_campaign(session, campaign=offer, now=anchor - SENT_AGO)
    clock.set(anchor)
    conversions = campaign_results.do_attribute(session, campaign=offer, now=anchor)
    progress("Campaigns", 1, 2)
    clock.set(anchor - timedelta(days=3))
    nearby = campaigns_service.create_campaign(session, org_id=org_id, values={
        "name": "Near KaDeWe: shop offer", "kind": "triggered", "channels": ["in_app"],
        "description": "A welcome offer when a customer comes within 250 m of KaDeWe (the IoT rule's trigger).",
        "audience": {"kind": "all"}, "trigger": {"name": "nearby_shop_offer", "cooldown_hours": 24},
        "conversion": {"kind": "order", "window_hours": 24},
        "variants": [{"name": "Welcome", "weight": 1, "subject": "",
                      "body": "Hello {{ first_name }}, you are close to KaDeWe: show this message for 10 % off today."}],
    })  # fmt: skip
    sending.do_launch_campaign(session, campaign=nearby, now=anchor - timedelta(days=3))
    clock.set(anchor)
    progress("Campaigns", 2, 2)
    return {"campaigns": 2, "campaign_recipients": outcome.assigned, "campaign_conversions": conversions}
