"""Demo customers as plain data: correlated demographics, identities, consents and saved places.

Nothing here touches the database. :func:`make_customers` draws every value from the
``random.Random`` it is given, and every time is an offset from ``anchor``, so the same seed
and anchor give the same people.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from patron.simulate import names

INCOME_BANDS = ("low", "lower_middle", "middle", "upper_middle", "high")
SERVICE_LINES = ("rides", "delivery", "smart-home")
SUBSCRIPTION_PLANS = ("free", "plus", "premium", "family")
MARKETING_CHANNELS = ("email", "sms", "push", "in_app", "phone")
#: the channels each sign-up route asks about; the others stay without consent until the customer opts in
SIGNUP_QUESTIONS = {
    "app_signup": ("email", "push", "in_app"),
    "website": ("email", "sms"),
    "store": ("email", "sms", "phone"),
}
#: how customers withdraw consent on each channel: (source, method, note)
OPT_OUT_WAYS = {
    "email": (
        ("unsubscribe_link", "one-click unsubscribe", ""),
        ("app_settings", "toggle", ""),
        ("support_request", "agent on request", "asked on a support call"),
    ),
    "sms": (
        ("sms_stop", "STOP reply", ""),
        ("app_settings", "toggle", ""),
        ("support_request", "agent on request", "asked on a support call"),
    ),
    "push": (("app_settings", "toggle", ""), ("device_settings", "notifications turned off", "")),
    "in_app": (("app_settings", "toggle", ""),),
    "phone": (
        ("support_request", "agent on request", "asked not to be called"),
        ("app_settings", "toggle", ""),
    ),
}


@dataclass
class ConsentChange:
    channel: str
    granted: bool
    source: str
    method: str
    recorded_at: datetime
    note: str = ""


@dataclass
class PlaceSpec:
    label: str
    latitude: float
    longitude: float
    address: str
    visit_count: int
    last_visited_at: datetime | None


@dataclass
class CustomerSpec:
    """One demo customer, ready to hand to the customers service."""

    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    birth_year: int
    gender: str
    education: str
    occupation: str
    income_band: str
    lifestyle_tags: list[str]
    preferences: dict
    attributes: dict
    tags: list[str]
    services: list[str]
    district: str
    signup_at: datetime
    identities: list[tuple[str, str]] = field(default_factory=list)
    consents: list[ConsentChange] = field(default_factory=list)
    places: list[PlaceSpec] = field(default_factory=list)
    city: str = "Berlin"
    country: str = "DE"
    timezone: str = "Europe/Berlin"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


def weighted(rng: random.Random, table) -> str:
    """Pick from ``((value, weight), ...)`` or ``{value: weight}``."""
    items = list(table.items()) if isinstance(table, dict) else list(table)
    return rng.choices([value for value, _ in items], weights=[weight for _, weight in items])[0]


def ascii_spelling(text: str) -> str:
    spelt = "".join(names.ASCII_SPELLING.get(char, char) for char in text)
    return "".join(char for char in spelt.lower() if char.isalnum() or char in ".-_")


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


class CustomerFactory:
    """Draws customers one by one, keeping e-mail addresses, phones and ids unique."""

    def __init__(self, rng: random.Random, anchor: datetime) -> None:
        self.rng = rng
        self.anchor = anchor
        self._emails: set[str] = set()
        self._phones: set[str] = set()
        self._handles: set[str] = set()
        self._serial = 0

    # --- demographics ---------------------------------------------------------------------------

    def _birth_year(self) -> int:
        rng = self.rng
        age = int(min(84, max(18, rng.gauss(38, 13))))
        if rng.random() < 0.12:  # a tail of young adults: students, first jobs
            age = rng.randint(18, 26)
        return self.anchor.year - age

    def _gender(self) -> str:
        return weighted(self.rng, (("female", 49), ("male", 48), ("diverse", 1), ("undisclosed", 2)))

    def _first_name(self, gender: str) -> str:
        table = {"female": names.FEMALE_FIRST_NAMES, "male": names.MALE_FIRST_NAMES}.get(gender)
        if table is None:
            table = names.NEUTRAL_FIRST_NAMES + names.FEMALE_FIRST_NAMES[:10] + names.MALE_FIRST_NAMES[:10]
        return weighted(self.rng, table)

    def _education(self, age: int) -> str:
        weights = {
            "primary": 5,
            "secondary": 26,
            "vocational": 30,
            "bachelor": 22,
            "master": 14,
            "doctorate": 3,
        }
        if age < 23:
            weights.update(master=1, doctorate=0, bachelor=8)
        elif age < 27:
            weights.update(doctorate=1)
        if age > 65:  # older cohorts went to university less often
            weights.update(bachelor=10, master=7, vocational=40)
        return weighted(self.rng, weights)

    def _occupation(self, age: int, education: str) -> tuple[str, int, float]:
        rng = self.rng
        if age >= 67 or (age >= 62 and rng.random() < 0.5):
            return "retired", 1 if education in ("primary", "secondary") else 2, 0.2
        if age <= 25 and education in ("secondary", "bachelor") and rng.random() < 0.6:
            return "student", 0, 0.8
        roll = rng.random()
        if roll < 0.05:
            return "unemployed", 0, 0.4
        if roll < 0.08:
            return "homemaker", 1, 0.3
        if roll < 0.16:
            return "self-employed", rng.choice((1, 2, 3, 3, 4)), 0.6
        return rng.choice(names.OCCUPATIONS_BY_EDUCATION[education])

    def _income_band(self, age: int, income_index: int) -> str:
        rng = self.rng
        index = income_index + (1 if 38 <= age <= 60 and rng.random() < 0.4 else 0)
        index += rng.choice((-1, 0, 0, 0, 1)) if rng.random() < 0.5 else 0
        return INCOME_BANDS[max(0, min(4, index))]

    # --- contact points ------------------------------------------------------------------------

    def _email(self, first: str, last: str, birth_year: int) -> str:
        rng = self.rng
        first_, last_ = ascii_spelling(first), ascii_spelling(last)
        patterns = (
            f"{first_}.{last_}",
            f"{first_[0]}.{last_}",
            f"{first_}{last_}",
            f"{last_}.{first_}",
            f"{first_}{birth_year % 100:02d}",
            f"{first_}.{last_}{rng.randint(1, 99)}",
        )
        local = rng.choices(patterns, weights=(8, 3, 3, 1, 2, 2))[0]
        domain = weighted(rng, names.MAIL_DOMAINS)
        email = f"{local}@{domain}"
        suffix = 2
        while email in self._emails:
            email = f"{local}{suffix}@{domain}"
            suffix += 1
        self._emails.add(email)
        return email

    def _phone(self) -> str:
        while True:
            number = f"+49{self.rng.choice(names.MOBILE_PREFIXES)}{self.rng.randint(1000000, 9999999)}"
            if number not in self._phones:
                self._phones.add(number)
                return number

    def _handle(self, first: str, last: str) -> str:
        base = ascii_spelling(first)[:8] + "_" + ascii_spelling(last)[:8]
        handle = "@" + base
        while handle in self._handles:
            handle = f"@{base}{self.rng.randint(1, 999)}"
        self._handles.add(handle)
        return handle

    # --- lifestyle ------------------------------------------------------------------------------

    def _lifestyle(
        self, age: int, occupation: str, tech: float, income: str, green: float, commute_km: float | None
    ) -> list[str]:
        rng = self.rng
        tags: list[str] = []
        rich = INCOME_BANDS.index(income)

        def maybe(tag: str, probability: float) -> None:
            if rng.random() < probability:
                tags.append(tag)

        maybe("tech-savvy", min(0.9, 0.15 + 0.55 * tech + (0.15 if age < 35 else -0.1 if age > 60 else 0)))
        maybe(
            "eco-conscious",
            0.12 + 0.35 * green + (0.1 if occupation in ("research scientist", "architect") else 0),
        )
        if commute_km is not None:
            maybe("commuter", 0.85 if commute_km > 6 else 0.35)
        maybe("family", 0.5 if 30 <= age <= 50 else 0.15 if 25 <= age < 60 else 0.03)
        maybe("pet-owner", 0.15)
        maybe("fitness", 0.3 if age < 40 else 0.12)
        maybe("foodie", 0.18 + 0.05 * rich)
        maybe("night-owl", 0.3 if age < 30 else 0.06)
        maybe("frequent-traveller", 0.05 + 0.08 * rich)
        maybe("budget-minded", 0.5 if rich <= 1 else 0.1)
        if "tech-savvy" in tags and rich >= 3:
            maybe("early-adopter", 0.5)
        if occupation == "student":
            tags.append("student")
        if age >= 67:
            maybe("senior", 0.8)
        return tags

    def _services(self, lifestyle: list[str], income: str, age: int) -> list[str]:
        rng = self.rng
        rich = INCOME_BANDS.index(income)
        services = []
        if rng.random() < 0.7 - (0.1 if "eco-conscious" in lifestyle else 0) + (
            0.1 if "night-owl" in lifestyle else 0
        ):
            services.append("rides")
        if rng.random() < 0.55 + (0.15 if "family" in lifestyle else 0) + (
            0.1 if "foodie" in lifestyle else 0
        ):
            services.append("delivery")
        if rng.random() < 0.1 + 0.08 * rich + (0.2 if "tech-savvy" in lifestyle else 0) - (
            0.1 if age < 25 else 0
        ):
            services.append("smart-home")
        return services or [rng.choice(SERVICE_LINES[:2])]

    def _preferences(self, lifestyle: list[str], income: str, services: list[str]) -> dict:
        rng = self.rng
        rich = INCOME_BANDS.index(income)
        preferences: dict = {
            "language": weighted(rng, names.LANGUAGES),
            "contact_time": rng.choice(("morning", "afternoon", "evening", "any")),
        }
        if "rides" in services:
            if "eco-conscious" in lifestyle:
                ride_class = "green"
            elif "family" in lifestyle and rng.random() < 0.5:
                ride_class = "xl"
            elif rich >= 3 and rng.random() < 0.6:
                ride_class = "comfort"
            else:
                ride_class = "economy"
            preferences["ride_class"] = ride_class
            preferences["quiet_ride"] = rng.random() < 0.35
        if "delivery" in services:
            preferences["delivery_window"] = rng.choice(("morning", "midday", "evening", "evening"))
            preferences["leave_at_door"] = rng.random() < 0.45
        if "smart-home" in services:
            preferences["thermostat_c"] = round(rng.uniform(19.0, 23.0) * 2) / 2
            preferences["eco_mode"] = "eco-conscious" in lifestyle or rng.random() < 0.3
        return preferences

    # --- places ----------------------------------------------------------------------------------

    def _home(self, district: str) -> tuple[float, float, str]:
        rng = self.rng
        lat, lon, postcodes, streets, _ = names.DISTRICTS[district]
        lat += rng.uniform(-0.012, 0.012)
        lon += rng.uniform(-0.018, 0.018)
        address = f"{rng.choice(streets)} {rng.randint(1, 160)}, {rng.choice(postcodes)} Berlin"
        return round(lat, 6), round(lon, 6), address

    def _place(
        self, label: str, lat: float, lon: float, address: str, visits_mean: float, active_since: datetime
    ) -> PlaceSpec:
        rng = self.rng
        visits = max(1, int(rng.expovariate(1 / visits_mean)))
        days = max(1, (self.anchor - active_since).days)
        last = self.anchor - timedelta(days=rng.randint(0, min(days, 60)), minutes=rng.randint(0, 1440))
        return PlaceSpec(label, lat, lon, address, visits, last)

    # --- consents ---------------------------------------------------------------------------------

    def _consents(
        self, signup_at: datetime, lifestyle: list[str], has_email: bool, has_phone: bool
    ) -> list[ConsentChange]:
        """Initial choices at sign-up, then a realistic trickle of later changes (mostly opt-outs)."""
        rng = self.rng
        signup_source = rng.choice(("app_signup", "app_signup", "app_signup", "website", "store"))
        method = {"app_signup": "checkbox", "website": "double opt-in", "store": "signed form"}[signup_source]
        changes = [
            ConsentChange(
                "data_processing", True, signup_source, method, signup_at, "terms and privacy notice accepted"
            )
        ]
        grant_odds = {"email": 0.62, "sms": 0.35, "push": 0.72, "in_app": 0.9, "phone": 0.25}
        if "budget-minded" in lifestyle:  # they like coupons
            grant_odds["email"] += 0.15
        if "tech-savvy" in lifestyle:
            grant_odds["push"] += 0.1
        span = (self.anchor - signup_at).total_seconds()
        asked = SIGNUP_QUESTIONS[signup_source]
        for channel in MARKETING_CHANNELS:
            if (channel == "email" and not has_email) or (channel in ("sms", "phone") and not has_phone):
                continue
            # draw every number for every channel, so one customer's choices never shift the next one's
            roll, opt_out, comes_back, opts_in = rng.random(), rng.random(), rng.random(), rng.random()
            out_at = signup_at + timedelta(seconds=rng.uniform(0.1, 1.0) * span)
            back_share, in_share = rng.uniform(0.1, 1.0), rng.uniform(0.2, 1.0)
            source, how, note = rng.choice(OPT_OUT_WAYS[channel])
            granted = channel in asked and roll < grant_odds[channel]
            if granted:  # ticked on the sign-up form; a box left empty is no consent and needs no entry
                at = signup_at + timedelta(seconds=1 + MARKETING_CHANNELS.index(channel))
                changes.append(ConsentChange(channel, True, signup_source, method, at))
            if granted and opt_out < 0.16:
                changes.append(ConsentChange(channel, False, source, how, out_at, note))
                if comes_back < 0.2:
                    again = out_at + timedelta(seconds=back_share * (self.anchor - out_at).total_seconds())
                    changes.append(ConsentChange(channel, True, "app_settings", "toggle", again))
            elif not granted and opts_in < (0.25 if channel in ("push", "in_app") else 0.06):
                later = signup_at + timedelta(seconds=in_share * span)
                source, how = (
                    ("app_settings", "toggle")
                    if channel in ("push", "in_app")
                    else ("campaign_landing_page", "double opt-in")
                )
                changes.append(ConsentChange(channel, True, source, how, later))
        changes.sort(key=lambda change: change.recorded_at)
        return changes

    # --- the whole customer ------------------------------------------------------------------------

    def make(self) -> CustomerSpec:
        rng = self.rng
        self._serial += 1
        birth_year = self._birth_year()
        age = self.anchor.year - birth_year
        gender = self._gender()
        first, last = self._first_name(gender), weighted(rng, names.LAST_NAMES)
        education = self._education(age)
        occupation, income_index, tech = self._occupation(age, education)
        income = self._income_band(age, income_index)
        district = weighted(rng, names.DISTRICT_WEIGHTS)
        home_lat, home_lon, home_address = self._home(district)
        green = names.DISTRICTS[district][4]

        employed = occupation not in ("retired", "unemployed", "homemaker", "student")
        work = rng.choice(names.WORKPLACES) if employed and rng.random() < 0.75 else None
        if occupation == "student":
            work = next(w for w in names.WORKPLACES if w[0] == "TU Berlin") if rng.random() < 0.5 else None
        commute = distance_km(home_lat, home_lon, work[1], work[2]) if work else None

        lifestyle = self._lifestyle(age, occupation, tech, income, green, commute)
        services = self._services(lifestyle, income, age)
        signup_at = self.anchor - timedelta(
            days=int(rng.triangular(20, 4 * 365, 300)), minutes=rng.randint(0, 1439)
        )

        email = self._email(first, last, birth_year) if rng.random() < 0.96 else None
        phone = self._phone() if rng.random() < 0.86 else None
        identities: list[tuple[str, str]] = []
        if email:
            identities.append(("email", email))
        if phone:
            identities.append(("phone", phone))
        identities.append(("app_user", f"app-{self._serial:06d}-{rng.randrange(16**4):04x}"))
        if rng.random() < 0.35 + (0.2 if "budget-minded" in lifestyle else 0):
            identities.append(
                ("loyalty_card", f"PTR-{rng.randint(10_000_000, 99_999_999)}-{self._serial % 97:02d}")
            )
        if rng.random() < (0.35 if age < 35 else 0.12):
            identities.append(("social", self._handle(first, last)))
        if "smart-home" in services:
            identities.append(("device", f"hub-{self._serial:06d}-{rng.randrange(16**6):06x}"))

        rich = INCOME_BANDS.index(income)
        if "family" in lifestyle and rng.random() < 0.4:
            plan = "family"
        elif rng.random() < 0.08 + 0.07 * rich:
            plan = "premium"
        elif rng.random() < 0.3:
            plan = "plus"
        else:
            plan = "free"
        attributes: dict = {"subscription_plan": plan, "member_since": signup_at.date().isoformat()}
        if rng.random() < 0.85:
            attributes["app_rating"] = round(max(1.0, min(5.0, rng.gauss(4.1, 0.8))), 1)

        tags = list(services)
        if (plan == "premium" and rng.random() < 0.3) or (rich == 4 and rng.random() < 0.08):
            tags.append("vip")
        if "tech-savvy" in lifestyle and rng.random() < 0.12:
            tags.append("beta-tester")
        if occupation == "self-employed" and rng.random() < 0.4:
            tags.append("b2b")
        if attributes.get("app_rating", 5.0) <= 2.5:
            tags.append("churn-risk")

        places = [self._place("home", home_lat, home_lon, home_address, 40, signup_at)]
        if work:
            places.append(self._place("work", work[1], work[2], work[3], 30, signup_at))
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            label, name, lat, lon, address = rng.choice(names.FAVOURITE_SPOTS)
            if any(place.address == address for place in places):
                continue
            places.append(self._place(f"{label}: {name}", lat, lon, address, 6, signup_at))

        customer = CustomerSpec(
            first_name=first,
            last_name=last,
            email=email,
            phone=phone,
            birth_year=birth_year,
            gender=gender,
            education=education,
            occupation=occupation,
            income_band=income,
            lifestyle_tags=lifestyle,
            preferences=self._preferences(lifestyle, income, services),
            attributes=attributes,
            tags=tags,
            services=services,
            district=district,
            signup_at=signup_at,
            identities=identities,
            places=places,
        )
        customer.consents = self._consents(signup_at, lifestyle, email is not None, phone is not None)
        return customer


def make_customers(rng: random.Random, anchor: datetime, count: int) -> list[CustomerSpec]:
    factory = CustomerFactory(rng, anchor)
    return [factory.make() for _ in range(count)]
