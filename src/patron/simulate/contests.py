"""The demo's referrals, contests and games, written through the contests services after the loyalty
programme (whose points they give).

* **Referrals**: 200 points to the referrer and 100 to the friend, at most 10 friends per code. Some
  customers have a code; some customers who had never paid for an order came with one, and about half
  of those have since placed a first paid order, which qualified and rewarded the referral through the
  order hooks.
* **Contests**: a lottery with one entry per paid order, closed and drawn two months ago (so its
  draw can be verified), and an open contest that customers with e-mail consent opt into.
* **Games**: a weekly team step challenge (manual scores, groups of up to 8, prizes for the top three of
  each week, past weeks closed) and a monthly "top shoppers" game scored from paid orders.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from patron.contests import games, referrals
from patron.contests import service as contests_service
from patron.orders import service as orders_service
from patron.orders.service import LineInput
from patron.simulate.clock import SimulatedClock
from patron.simulate.history import DemoCustomer
from patron.simulate.loyalty import all_orders

Progress = Callable[[str, int, int], None]

CODE_SHARE = 0.06
REFERRAL_WINDOW = timedelta(days=150)
FIRST_ORDER_SKUS = ("RIDE-10", "DLV-GROC", "DLV-MEAL", "RIDE-WEEK")
TEAMS = ("Kreuzberg Runners", "Prenzlauer Striders", "Tempelhof Flyers", "Spree Walkers")
TEAM_SIZE = 8
CHALLENGE_DAYS = 28


def seed_demo_contests(
    session: Session,
    *,
    org_id: int,
    rng: random.Random,
    clock: SimulatedClock,
    anchor: datetime,
    customers: list[DemoCustomer],
    progress: Progress,
) -> dict[str, int]:
    """Write the referral programme, contests and games with their history (see the module docs)."""
    progress("Referrals, contests and games", 0, 3)
    codes, referred = _referrals(
        session, org_id=org_id, rng=rng, clock=clock, anchor=anchor, customers=customers
    )
    progress("Referrals, contests and games", 1, 3)
    entries = _contests(session, org_id=org_id, rng=rng, clock=clock, anchor=anchor, customers=customers)
    progress("Referrals, contests and games", 2, 3)
    scores = _games(session, org_id=org_id, rng=rng, clock=clock, anchor=anchor, customers=customers)
    clock.set(anchor)
    progress("Referrals, contests and games", 3, 3)
    return {"referral_codes": codes, "referrals": referred, "contests": 2, "contest_entries": entries,
            "games": 2, "game_scores": scores}  # fmt: skip


def _referrals(session: Session, *, org_id: int, rng: random.Random, clock: SimulatedClock, anchor: datetime,
               customers: list[DemoCustomer]) -> tuple[int, int]:  # fmt: skip
    start = anchor - REFERRAL_WINDOW
    clock.set(start - timedelta(days=1))
    referrals.update_program(
        session, org_id=org_id, referrer_points=200, referred_points=100, max_referrals=10
    )
    paid = {order.customer_id for order in all_orders(session, org_id=org_id)
            if order.status in referrals.PAID_STATUSES}  # fmt: skip
    buyers = [customer for customer in customers if customer.id in paid]
    if not buyers:  # a tiny demo where nobody bought: nobody to refer a friend
        return 0, 0
    holders = rng.sample(buyers, max(1, min(len(buyers), round(CODE_SHARE * len(customers)))))
    issued_at = sorted(start + timedelta(seconds=rng.uniform(0, 86400 * 30)) for _ in holders)
    codes = []
    for holder, moment in zip(holders, issued_at, strict=True):
        clock.set(moment)
        code, _created = referrals.do_issue_code(session, org_id=org_id, customer_id=holder.id)
        codes.append(code)
    program = referrals.get_program(session, org_id=org_id)
    places = {code.code: program.max_referrals for code in codes}
    newcomers = [customer for customer in customers if customer.id not in paid]
    plans = []
    for customer in newcomers:
        if rng.random() < 0.4:
            moment = start + timedelta(days=30, seconds=rng.uniform(0, (REFERRAL_WINDOW.days - 31) * 86400))
            moment = max(moment, customer.spec.signup_at + timedelta(hours=1))  # not before they signed up
            first_order = moment + timedelta(days=rng.uniform(1, 20)) if rng.random() < 0.55 else None
            code = rng.choice(codes).code
            if moment < anchor and places[code] > 0:
                places[code] -= 1
                plans.append((moment, customer.id, code, first_order, rng.choice(FIRST_ORDER_SKUS)))
    products = orders_service.products_by_sku(session, org_id=org_id, skus=FIRST_ORDER_SKUS)
    referred = 0
    for moment, customer_id, code, _first, _sku in sorted(plans):
        clock.set(moment)
        referrals.do_record_referral(session, org_id=org_id, code=code, referred_id=customer_id)
        referred += 1
    first_orders = sorted((first, customer_id, sku) for _m, customer_id, _c, first, sku in plans
                          if first is not None and first < anchor)  # fmt: skip
    for moment, customer_id, sku in first_orders:
        clock.set(moment)
        # placed paid: the order hooks earn its points and qualify and reward the referral
        orders_service.create_order(session, org_id=org_id, customer_id=customer_id, channel="app", status="paid",
                                    lines=[LineInput(quantity=1, product_id=products[sku].id)], ordered_at=moment)  # fmt: skip
    return len(codes), referred


def _contests(session: Session, *, org_id: int, rng: random.Random, clock: SimulatedClock, anchor: datetime,
              customers: list[DemoCustomer]) -> int:  # fmt: skip
    """A drawn lottery and an open contest; returns the open contest's entries."""
    opens, closes = anchor - timedelta(days=150), anchor - timedelta(days=60)
    clock.set(opens - timedelta(days=3))
    lottery = contests_service.create_contest(
        session, org_id=org_id, name="Three-month order lottery", entry_rule="per_order", max_entries_per_customer=10,
        description="One entry for every paid order placed in the lottery's three months, up to ten per customer.",
        opens_at=opens, closes_at=closes,
        prizes=[{"name": "Smart-home starter kit", "points": 0, "quantity": 1},
                {"name": "1,000 bonus points", "points": 1000, "quantity": 3}],
    )  # fmt: skip
    contests_service.do_open_contest(session, contest=lottery)
    clock.set(closes + timedelta(days=1))
    contests_service.do_draw(session, contest=lottery)

    opens, closes = anchor - timedelta(days=10), anchor + timedelta(days=20)
    clock.set(opens - timedelta(hours=2))
    contest = contests_service.create_contest(
        session, org_id=org_id, name="Win a year of free rides", consent_channel="email", min_age=18,
        description="Opt in for the chance of a year of free city rides. Customers with e-mail consent, 18 or over.",
        opens_at=opens, closes_at=closes,
        prizes=[{"name": "A year of free rides", "points": 0, "quantity": 1},
                {"name": "500 bonus points", "points": 500, "quantity": 5}],
    )  # fmt: skip
    contests_service.do_open_contest(session, contest=contest)
    plans = sorted((opens + timedelta(seconds=rng.uniform(0, 10 * 86400)), customer.id)
                   for customer in customers if rng.random() < 0.15)  # fmt: skip
    entered = 0
    for moment, customer_id in plans:
        if contests_service.ineligibility(session, contest=contest, customer_id=customer_id) is not None:
            continue  # the page would not offer them the contest
        clock.set(moment)
        contests_service.do_enter(session, contest=contest, customer_id=customer_id)
        entered += 1
    return entered


def _games(session: Session, *, org_id: int, rng: random.Random, clock: SimulatedClock, anchor: datetime,
           customers: list[DemoCustomer]) -> int:  # fmt: skip
    """The step challenge with teams and daily scores, and the monthly shoppers' game; returns the scores."""
    starts = (anchor - timedelta(days=CHALLENGE_DAYS)).replace(hour=0, minute=0)
    clock.set(starts - timedelta(days=2))
    challenge = games.create_game(
        session, org_id=org_id, name="Team step challenge", source="manual", period="week", max_group_size=TEAM_SIZE,
        description="Steps counted by the fitness band, submitted daily; the week's top three win points.",
        starts_at=starts, prizes=[{"rank": 1, "points": 300}, {"rank": 2, "points": 200}, {"rank": 3, "points": 100}],
    )  # fmt: skip
    active = [c for c in customers if "fitness" in c.spec.lifestyle_tags]
    others = [c for c in customers if "fitness" not in c.spec.lifestyle_tags]
    wanted = min(len(customers), len(TEAMS) * TEAM_SIZE)
    players = active[:wanted] + rng.sample(others, max(0, min(len(others), wanted - len(active))))
    for index, name in enumerate(TEAMS):
        group = games.create_group(session, game=challenge, name=name)
        for player in players[index :: len(TEAMS)][:TEAM_SIZE]:
            games.do_join_group(session, game=challenge, group=group, customer_id=player.id)
    scores = 0
    for day in range(CHALLENGE_DAYS):
        for player in players:
            if rng.random() < 0.65:
                scored_at = starts + timedelta(days=day, hours=rng.uniform(18, 23))
                if scored_at >= anchor:
                    continue
                clock.set(scored_at)
                games.do_submit_score(session, game=challenge, customer_id=player.id, points=rng.randint(3000, 16000),
                                      note="steps", scored_at=scored_at)  # fmt: skip
                scores += 1

    clock.set(anchor - timedelta(days=95))
    shoppers = games.create_game(
        session, org_id=org_id, name="Top shoppers of the month", source="orders", period="month",
        description="One point per paid order; the month's best three customers win points.",
        starts_at=anchor - timedelta(days=90), prizes=[{"rank": 1, "points": 500}, {"rank": 2, "points": 250},
                                                       {"rank": 3, "points": 100}],
    )  # fmt: skip
    clock.set(anchor)
    for game, step in ((challenge, timedelta(days=7)), (shoppers, timedelta(days=28))):
        moment, keys = game.starts_at, []
        while moment < anchor:
            key = games.period_key(game.period, moment)
            _start, end = games.period_bounds(game, key)
            if end is not None and end <= anchor and key not in keys:
                keys.append(key)
            moment += step
        for key in keys:
            games.do_close_period(session, game=game, key=key)
    return scores
