"""Connected devices for the simulator and the demo: the fleet read from an organisation's records,
the demo's devices, ingest key, rules and event history, and the live simulation that runs inside
``patron demo``.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from patron.accounts import service as accounts_service
from patron.core.audit import Actor
from patron.core.config import Settings
from patron.core.db import session_scope, utcnow
from patron.customers import service as customers_service
from patron.customers.base import get_customer
from patron.customers.places import list_places
from patron.customers.search import CustomerFilters, iter_customer_batches
from patron.devices import service as devices_service
from patron.events.ingest import Credential
from patron.simulate import names
from patron.simulate.fleet import (
    Fleet,
    FleetOptions,
    Point,
    SimDevice,
    city_centre,
    density_for_rate,
    distance_m,
    offset,
)

log = logging.getLogger("patron.simulate")

Progress = Callable[[str, int, int], None]

SIMULATOR_KEY_NAME = "Fleet simulator"
#: a customer with a saved place this close to a shop is one of its beacon's regulars
REGULAR_RADIUS_M = 300.0
#: how many of a customer's other saved places are destinations
MAX_OTHER_PLACES = 6
#: demo history is sampled more coarsely than live traffic (GPS every 30 s, telemetry every 30 min),
#: except its last hours, which are as detailed as live traffic (so no device looks silent at the end)
HISTORY_DENSITY = 1 / 6
FULL_DETAIL = timedelta(hours=3)
INGEST_CHUNK = 5000
#: the demo's devices: (type, name, model, firmware, serial prefix)
CATALOGUE = {
    "vehicle": ("Taxi", "Toyota Corolla Hybrid", "tcu-3.4.2", "TX"),
    "wearable": ("Fitness band", "Pulse 3", "2.8.0", "WB"),
    "smart_meter": ("Smart meter", "EM-240", "1.12.4", "SM"),
    "smart_home_hub": ("Home hub", "Patron Hub 2", "5.1.0", "HB"),
    "phone_app": ("Patron app", "", "", "APP"),
    "beacon": ("Beacon", "BLE beacon BC-1", "1.0.9", "BC"),
}


# --- the fleet of an organisation ------------------------------------------------------------------


def _kind_of(place) -> str:
    kind = getattr(place, "kind", "other") or "other"
    if kind != "other":
        return kind
    label = (place.label or "").strip().lower()
    return "home" if label.startswith("home") else "work" if label.startswith("work") else "other"


def _engagement(rng: random.Random, tags: list[str]) -> str:
    if "churn-risk" in tags:
        return "falling"
    draw = rng.random()
    return "falling" if draw < 0.15 else "rising" if draw < 0.3 else "steady"


def load_fleet(session: Session, *, org_id: int, seed: int = 42, limit: int | None = None) -> list[SimDevice]:
    """The organisation's active devices as simulated devices: each customer's saved home, work and
    other places (or places near their city's centre), time zone and lifestyle; beacons at their
    shop (``attributes.lat``/``lon``/``shop``) seeing the fleet's customers."""
    org = accounts_service.get_organisation(session, org_id=org_id)
    devices = []
    filters = devices_service.DeviceFilter(status="active")
    while True:
        page, total = devices_service.list_devices(
            session, org_id=org_id, filters=filters, limit=500, offset=len(devices)
        )
        devices.extend(page)
        if not page or len(devices) >= total:
            break
    devices.sort(key=lambda device: device.id)
    if limit is not None:
        devices = devices[:limit]
    customer_ids = sorted({d.customer_id for d in devices if d.customer_id is not None})
    tags = (
        customers_service.tags_for(session, org_id=org_id, customer_ids=customer_ids) if customer_ids else {}
    )
    people: dict[int, dict] = {}
    for customer_id in customer_ids:
        customer = get_customer(session, org_id=org_id, customer_id=customer_id)
        if customer is None:
            continue
        rng = random.Random(f"{seed}:customer:{customer_id}")
        home: Point | None = None
        work: Point | None = None
        others: list[Point] = []
        for place in list_places(session, org_id=org_id, customer_id=customer_id):
            point = (place.latitude, place.longitude)
            kind = _kind_of(place)
            if kind == "home" and home is None:
                home = point
            elif kind == "work" and work is None:
                work = point
            elif point not in others and len(others) < MAX_OTHER_PLACES:
                others.append(point)
        if home is None:
            home = offset(city_centre(customer.city), rng, 3000)
        customer_tags = tags.get(customer_id, [])
        people[customer_id] = {
            "home": home,
            "work": work,
            "places": tuple(p for p in others if p not in (home, work)),
            "timezone": customer.timezone or (org.timezone if org else None) or "UTC",
            "engagement": _engagement(rng, customer_tags),
            "fitness": "fitness" in (getattr(customer, "lifestyle_tags", None) or []),
        }
    fleet = []
    for device in devices:
        attributes = device.attributes or {}
        if device.type == "beacon" or device.customer_id not in people:
            rng = random.Random(f"{seed}:device:{device.id}")
            if isinstance(attributes.get("lat"), int | float) and isinstance(
                attributes.get("lon"), int | float
            ):
                spot: Point = (float(attributes["lat"]), float(attributes["lon"]))
            else:
                spot = offset(city_centre(None), rng, 3000)
            regulars = tuple(
                customer_id
                for customer_id, person in people.items()
                if any(distance_m(spot, place) <= REGULAR_RADIUS_M for place in person["places"])
            )
            fleet.append(
                SimDevice(
                    id=device.id,
                    type=device.type,
                    customer_id=device.customer_id,
                    home=spot,
                    timezone=(org.timezone if org else None) or "UTC",
                    name=device.name,
                    shop=str(attributes.get("shop") or device.name),
                    regulars=regulars,
                    passers=tuple(customer_id for customer_id in people if customer_id not in regulars),
                )
            )
            continue
        person = people[device.customer_id]
        fleet.append(
            SimDevice(
                id=device.id, type=device.type, customer_id=device.customer_id, name=device.name, **person
            )
        )
    return fleet


def simulator_credential(session: Session, *, org_id: int) -> Credential:
    """The in-process credential of the organisation's simulator ingest key (made if missing)."""
    for key in devices_service.list_ingest_keys(session, org_id=org_id):
        if key.name == SIMULATOR_KEY_NAME and key.revoked_at is None:
            return Credential(org_id=org_id, ingest_key_id=key.id)
    _secret, key = devices_service.create_ingest_key(session, org_id=org_id, name=SIMULATOR_KEY_NAME)
    return Credential(org_id=org_id, ingest_key_id=key.id)


# --- the demo's devices --------------------------------------------------------------------------


def _device_types(rng: random.Random, tags: list[str], lifestyle: list[str]) -> list[str]:
    """Which devices a customer has, from their service lines and lifestyle."""
    kinds: list[str] = []
    if "rides" in tags and rng.random() < 0.75:
        kinds.append("vehicle")
    if "smart-home" in tags:
        if rng.random() < 0.85:
            kinds.append("smart_home_hub")
        if rng.random() < 0.6:
            kinds.append("smart_meter")
    if "fitness" in lifestyle and rng.random() < 0.7:
        kinds.append("wearable")
    if ("delivery" in tags or "rides" in tags or not kinds) and rng.random() < 0.6:
        kinds.append("phone_app")
    return kinds or ["phone_app"]


def seed_devices(session: Session, *, org_id: int, share: float, seed: int) -> dict[str, int]:
    """Devices for some of the organisation's customers, about ``share`` devices per customer in all
    (a realistic mix from their service lines and lifestyle), and a beacon in each demo shop.
    Returns the count per type."""
    rng = random.Random(f"{seed}:devices")
    customers = [
        c for batch in iter_customer_batches(session, org_id=org_id, filters=CustomerFilters()) for c in batch
    ]
    tags = customers_service.tags_for(session, org_id=org_id, customer_ids=[c.id for c in customers])
    target = max(1, round(share * len(customers)))
    rng.shuffle(customers)
    counts: dict[str, int] = {}
    serial = 0
    for customer in customers:
        if sum(counts.values()) >= target:
            break
        for kind in _device_types(rng, tags.get(customer.id, []), customer.lifestyle_tags or []):
            serial += 1
            name, model, firmware, prefix = CATALOGUE[kind]
            if kind == "phone_app":
                model = rng.choice(("android", "ios"))
                firmware = f"4.{rng.randrange(2, 9)}"
            if kind == "vehicle":
                name = f"Taxi B-PT {1000 + serial}"
            devices_service.create_device(
                session,
                org_id=org_id,
                type=kind,
                customer_id=customer.id,
                name=name,
                model=model,
                firmware=firmware,
                serial=f"{prefix}-{serial:05d}",
            )
            counts[kind] = counts.get(kind, 0) + 1
    for label, shop, lat, lon, address in names.FAVOURITE_SPOTS:
        if label != "favourite shop":
            continue
        serial += 1
        name, model, firmware, prefix = CATALOGUE["beacon"]
        devices_service.create_device(
            session,
            org_id=org_id,
            type="beacon",
            name=f"{name} {shop}",
            model=model,
            firmware=firmware,
            serial=f"{prefix}-{serial:05d}",
            attributes={"shop": shop, "lat": lat, "lon": lon, "address": address},
        )
        counts["beacon"] = counts.get("beacon", 0) + 1
    return counts


#: the demo's rules (the format is :mod:`patron.rules.definition`'s)
DEMO_RULES = (
    (
        "Device fault: open a service ticket",
        "A fault reported by any device opens one high-priority incident ticket on its customer (while "
        "one is open, repeats are added to it).",
        {
            "when": {"event_types": ["fault"]},
            "actions": [
                {
                    "type": "open_ticket",
                    "subject": "Fault {props.code} on {device.name}",
                    "description": "{device.name} reported fault {props.code} ({props.severity}) at {event.ts}.",
                    "priority": "high",
                    "kind": "incident",
                    "category": "device",
                }
            ],
        },
    ),
    (
        "Near KaDeWe: shop offer",
        "A customer arriving within 250 m of KaDeWe gets a nearby-shop offer trigger (once a day).",
        {
            "when": {"event_types": ["trip.end", "beacon.visit", "app.open"]},
            "geofence": {
                "name": "KaDeWe",
                "circle": {"lat": 52.5016, "lon": 13.3411, "radius_m": 250},
                "on": "entered",
                "per": "customer",
            },
            "cooldown_minutes": 24 * 60,
            "actions": [{"type": "emit_trigger", "name": "nearby_shop_offer", "data": {"shop": "KaDeWe"}}],
        },
    ),
    (
        "Wearable battery low",
        "Tags the customer low-battery when their band reports less than 15 % (at most twice a day).",
        {
            "when": {"event_types": ["telemetry"], "device_types": ["wearable"]},
            "conditions": [{"field": "props.battery", "op": "lt", "value": 15}],
            "cooldown_minutes": 12 * 60,
            "actions": [{"type": "tag_customer", "tag": "low-battery"}],
        },
    ),
    (
        "Taxi silent for two hours",
        "A taxi that sends nothing (not even a heartbeat) for two hours gets a ticket to check it.",
        {
            "when": {"device_types": ["vehicle"]},
            "inactivity": {"minutes": 120, "per": "device"},
            "actions": [
                {
                    "type": "open_ticket",
                    "subject": "No signal from {device.name}",
                    "description": "{device.name} has been silent for two hours.",
                    "priority": "normal",
                    "kind": "incident",
                    "category": "device",
                }
            ],
        },
    ),
    (
        "Usage falling: churn watch",
        "A customer whose weekly use is falling is tagged usage-falling when they next open the app.",
        {
            "when": {"event_types": ["app.open"]},
            "conditions": [{"field": "signals.usage_trend", "op": "eq", "value": "falling"}],
            "cooldown_minutes": 7 * 24 * 60,
            "actions": [{"type": "tag_customer", "tag": "usage-falling"}],
        },
    ),
)


def seed_demo_rules(session: Session, *, org_id: int) -> int:
    """Create the demo rules that do not exist yet; returns how many were created."""
    from patron.rules import service as rules_service

    existing = {rule.name for rule in rules_service.list_rules(session, org_id=org_id)[0]}
    created = 0
    for name, description, definition in DEMO_RULES:
        if name not in existing:
            rules_service.create_rule(
                session, org_id=org_id, name=name, description=description, definition=definition
            )
            created += 1
    return created


@dataclass
class IotSummary:
    created: bool
    devices: dict[str, int]
    events: int = 0
    rules: int = 0


def seed_iot(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    org_id: int,
    share: float = 0.2,
    seed: int = 42,
    history_days: float = 21,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> IotSummary:
    """Give the organisation connected devices, a simulator ingest key, ``history_days`` of their
    events (so places, signals and trends are learned at once) and the demo rules — unless it has
    devices already. The history is stored and processed before the rules exist, so old faults open
    no tickets; the rules act on live traffic."""
    progress = progress or (lambda _step, _done, _total: None)
    now = now or utcnow()
    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=org_id, label="demo")
        _page, existing = devices_service.list_devices(session, org_id=org_id, limit=1)
        if existing:
            return IotSummary(created=False, devices={})
        progress("Devices", 0, 1)
        counts = seed_devices(session, org_id=org_id, share=share, seed=seed)
        credential = simulator_credential(session, org_id=org_id)
        progress("Devices", 1, 1)
    events = 0
    if history_days > 0:
        events = write_history(
            factory,
            settings,
            org_id=org_id,
            credential=credential,
            seed=seed,
            days=history_days,
            now=now,
            progress=progress,
        )
    with session_scope(factory) as session:
        session.info["actor"] = Actor(org_id=org_id, label="demo")
        rules = seed_demo_rules(session, org_id=org_id)
    return IotSummary(created=True, devices=counts, events=events, rules=rules)


def history_reference(now: datetime, days: float) -> datetime:
    return now - timedelta(days=days)


def write_history(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    org_id: int,
    credential: Credential,
    seed: int,
    days: float,
    now: datetime,
    progress: Progress,
) -> int:
    """Store ``days`` of the fleet's past traffic through an event runtime of this process (which
    owns the event store meanwhile) and wait until enrichment has processed it."""
    from patron.events.runtime import EventRuntime

    with factory() as session:
        devices = load_fleet(session, org_id=org_id, seed=seed)
    start = now - timedelta(days=days)
    recent = max(start, now - FULL_DETAIL)
    coarse = Fleet(devices, seed=seed, start=start, density=HISTORY_DENSITY, reference=start.date())
    fine = Fleet(devices, seed=seed, start=recent, reference=start.date())
    runtime = EventRuntime(settings, factory, processing=True)
    runtime.start()
    total = 0
    hours = max(1, round((now - start).total_seconds() / 3600))
    try:
        batch: list[dict] = []
        for event in itertools.chain(coarse.events(until=recent), fine.events(until=now)):
            batch.append(event.as_ingest())
            if len(batch) >= INGEST_CHUNK:
                total += runtime.ingest(batch, credential=credential, source="simulator").accepted
                batch = []
                progress("Device history (hours)", int((event.ts - start).total_seconds() // 3600), hours)
        if batch:
            total += runtime.ingest(batch, credential=credential, source="simulator").accepted
        progress("Device history (hours)", hours, hours)
        runtime.wait_processed(timeout=1800)
    finally:
        runtime.stop()  # the enrichment's last write (signals, learned places) happens here
    return total


# --- the live simulation of the demo --------------------------------------------------------------


class LiveSimulation:
    """Runs the organisation's fleet live inside a serving app: waits until the app is ready, then
    sends through ``app.state.events`` at about ``rate`` events per second until :meth:`stop`."""

    def __init__(
        self,
        app,
        *,
        org_id: int,
        rate: float = 50.0,
        seed: int = 42,
        fault_rate: float = 1.0,
        history_days: float = 21,
    ) -> None:
        self.app = app
        self.org_id = org_id
        self.rate = rate
        self.seed = seed
        self.options = FleetOptions(fault_rate=fault_rate)
        self.history_days = history_days
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="patron-demo-fleet", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        from patron.simulate.sender import RuntimeTransport, run_simulation

        while not getattr(self.app.state, "ready", False):
            if self._stop.wait(0.2):
                return
        try:
            factory = self.app.state.sessionmaker
            with session_scope(factory) as session:
                session.info["actor"] = Actor(org_id=self.org_id, label="demo")
                devices = load_fleet(session, org_id=self.org_id, seed=self.seed)
                credential = simulator_credential(session, org_id=self.org_id)
            if not devices:
                return
            start = datetime.now(UTC)
            reference = (start - timedelta(days=self.history_days)).date()
            density = density_for_rate(devices, self.rate, self.options)
            fleet = Fleet(
                devices,
                seed=self.seed,
                start=start,
                options=self.options,
                density=density,
                reference=reference,
            )
            run_simulation(
                fleet.events(),
                _WhileServing(self.app, RuntimeTransport(self.app.state.events, credential), self._stop),
                start=start,
                rate=self.rate * 1.5,
                stop=self._stop,
            )
        except Exception:  # the demo keeps serving without live traffic
            if not self._stop.is_set() and getattr(self.app.state, "ready", False):
                log.exception("the live fleet simulation stopped")


class _WhileServing:
    """Sends only while the app serves: when it shuts down (and closes the event store), the live
    simulation stops instead of writing into a closed store."""

    def __init__(self, app, transport, stop: threading.Event) -> None:
        self.app = app
        self.transport = transport
        self.stop = stop

    def send(self, events):
        if not getattr(self.app.state, "ready", False):
            self.stop.set()
            return 0, 0
        return self.transport.send(events)

    def close(self) -> None:
        self.transport.close()
