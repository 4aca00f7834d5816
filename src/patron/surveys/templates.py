"""Ready questionnaires a new survey can start from.

Each :class:`Template` holds a complete questionnaire document (the JSON shape that
:func:`patron.surveys.definition.parse_questionnaire` validates), written for a connected service such as
ride-hailing or delivery. A survey copies the document when it is created, so editing a survey never changes
the template and later template changes never reach existing surveys.

``crm_success``
    The six CRM components that drive the success of connected Internet services (loyalty, understanding
    demands, quality of service, customer orientation, flexibility, interaction), four 1-5 agreement items
    each, a ``success`` construct, the structural model ``success ~ <the six>`` and the demographic items
    (gender, age band, education) of the study in MISSION section 1.
``servqual``
    The 22 SERVQUAL statements in five dimensions (tangibles 4, reliability 5, responsiveness 4, assurance 4,
    empathy 5; Parasuraman, Zeithaml & Berry 1988), each asked twice on a 1-7 scale: what the customer
    expects of an excellent service and what they received from this one.
``nps``
    The Net Promoter question (0-10) and an optional "why".
``csat``
    One 1-5 satisfaction rating with labels (item code ``csat``) and an optional comment.
``targeting``
    The four customer clusters of targeted marketing (communication / loyal, ethical-behavioural, individual,
    economic; MISSION section 2) measured by the factors the study kept, with a four-factor CFA model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from patron.core.errors import Invalid

AGREE_5 = ["Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree", "Strongly agree"]
AGREE_7 = ["Strongly disagree", "Disagree", "Somewhat disagree", "Neutral", "Somewhat agree", "Agree",
           "Strongly agree"]


@dataclass(frozen=True)
class Template:
    """One ready questionnaire: ``key`` as used by the API and the web form, a name and a one-line description."""

    key: str
    name: str
    description: str
    questionnaire: dict[str, Any] = field(default_factory=dict)


def _likert(code: str, text: str, construct: str | None, *, reverse: bool = False,
            labels: list[str] | None = None, scale: tuple[int, int] = (1, 5)) -> dict[str, Any]:
    item: dict[str, Any] = {"code": code, "text": text, "kind": "likert", "scale": list(scale),
                            "labels": list(labels if labels is not None else AGREE_5)}
    if construct is not None:
        item["construct"] = construct
    if reverse:
        item["reverse"] = True
    return item


def _single(code: str, text: str, choices: list[str], *, demographic: bool = True) -> dict[str, Any]:
    return {"code": code, "text": text, "kind": "single", "choices": choices, "required": False,
            "demographic": demographic}


def _text(code: str, text: str) -> dict[str, Any]:
    return {"code": code, "text": text, "kind": "text", "required": False}


def _block(construct: str, prefix: str, statements: list[str], *, reverse: tuple[int, ...] = ()) -> list[dict]:
    """Likert items ``<prefix>1..n`` measuring ``construct``; positions in ``reverse`` (1-based) reverse-coded."""
    return [_likert(f"{prefix}{i}", text, construct, reverse=i in reverse) for i, text in enumerate(statements, 1)]


def _measurement(items: dict[str, list[dict]]) -> list[str]:
    return [f"{construct} =~ {' + '.join(i['code'] for i in block)}" for construct, block in items.items()]


# --- crm_success --------------------------------------------------------------------------------------------

_CRM_CONSTRUCTS = [
    ("loyalty", "Loyalty", "The customer's commitment to the service, even when a competitor offers more."),
    ("demands", "Understanding demands", "How well the service knows what the customer needs and wants."),
    ("quality", "Quality of service", "How well each trip or delivery matches what was promised."),
    ("orientation", "Customer orientation", "Putting the customer first when the service decides something."),
    ("flexibility", "Flexibility", "How readily the service adapts to changing needs and situations."),
    ("interaction", "Interaction", "Two-way contact between the customer and the service."),
    ("success", "Success of the service", "Whether the service succeeds in the customer's own life."),
]

_CRM_ITEMS = {
    "loyalty": _block("loyalty", "loy", [
        "I keep using this app even when another one offers a lower fare.",
        "This is the first app I open when I need a ride or a delivery.",
        "I would tell friends and family to use this service.",
        "I would switch to a different app for a small discount.",
    ], reverse=(4,)),
    "demands": _block("demands", "dem", [
        "The app remembers my usual places so I rarely type an address.",
        "The offers I receive fit the way I actually use the service.",
        "The service asks for my opinion at each step (order, payment, arrival).",
        "I can put together my own order or trip the way I want it.",
    ]),
    "quality": _block("quality", "qua", [
        "Drivers and couriers arrive at the time the app tells me.",
        "The price I pay matches the price I was shown before ordering.",
        "Vehicles and packages reach me in good condition.",
        "Live tracking of my trip or order is accurate.",
    ]),
    "orientation": _block("orientation", "ori", [
        "The company treats my problems as its own problems.",
        "When something goes wrong, the service makes it right for me.",
        "The app is designed around what customers need, not around the company.",
        "Staff and drivers are polite and respectful to me.",
    ]),
    "flexibility": _block("flexibility", "fle", [
        "I can change or cancel an order without trouble.",
        "The service offers several ways to pay that suit me.",
        "The service copes well with busy hours, bad weather or road closures.",
        "New options appear in the app when customers ask for them.",
    ]),
    "interaction": _block("interaction", "int", [
        "I can reach a real person quickly when I need help.",
        "The company answers my comments and reviews.",
        "Games, challenges or groups in the app make me feel part of a community.",
        "Notifications from the service are useful rather than annoying.",
    ]),
    "success": _block("success", "suc", [
        "This service makes my daily life easier.",
        "I am satisfied with the service overall.",
        "The service is worth what I pay for it.",
        "I expect to use this service more in the coming year.",
    ]),
}

_CRM_MODEL = "\n".join([
    *_measurement(_CRM_ITEMS),
    "success ~ loyalty + demands + quality + orientation + flexibility + interaction",
])

CRM_SUCCESS = Template(
    key="crm_success",
    name="CRM success of a connected service",
    description="Six CRM components (loyalty, understanding demands, quality, customer orientation, flexibility, "
                "interaction) and how they drive the success of the service; 28 agreement items on a 1-5 scale, "
                "with a structural model and demographics.",
    questionnaire={
        "intro": "We would like to know how you find our service. Please say how much you agree with each "
                 "statement; there are no right or wrong answers and it takes about five minutes.",
        "thanks": "Thank you for your answers. They help us decide what to improve first.",
        "constructs": [{"code": c, "name": n, "description": d} for c, n, d in _CRM_CONSTRUCTS],
        "sections": [
            {"title": "Staying with us", "items": _CRM_ITEMS["loyalty"]},
            {"title": "Knowing what you need", "items": _CRM_ITEMS["demands"]},
            {"title": "Quality of the service", "items": _CRM_ITEMS["quality"]},
            {"title": "Putting you first", "items": _CRM_ITEMS["orientation"]},
            {"title": "Adapting to you", "items": _CRM_ITEMS["flexibility"]},
            {"title": "Talking with us", "items": _CRM_ITEMS["interaction"]},
            {"title": "Overall", "items": _CRM_ITEMS["success"]},
            {"title": "About you", "description": "Optional; used only to describe who answered.", "items": [
                _single("gender", "Gender", ["Female", "Male", "Another gender", "Prefer not to say"]),
                _single("age_band", "Age", ["Under 25", "25-34", "35-44", "45 or older"]),
                _single("education", "Highest education", ["Below high-school diploma", "High-school diploma",
                                                           "Associate degree", "Bachelor's degree",
                                                           "Master's degree or higher"]),
            ]},
        ],
        "model": _CRM_MODEL,
    },
)


# --- servqual -----------------------------------------------------------------------------------------------

#: (dimension, [(what an excellent service would do, what this service does), ...]); expectation and perception
#: items of the same statement share a pair key
_SERVQUAL = [
    ("tangibles", [
        ("have up-to-date vehicles and equipment", "has up-to-date vehicles and equipment"),
        ("have an app and website that are clear and pleasant to use",
         "has an app and website that are clear and pleasant to use"),
        ("have drivers and couriers who look neat and professional",
         "has drivers and couriers who look neat and professional"),
        ("give receipts, messages and instructions that are easy to understand",
         "gives receipts, messages and instructions that are easy to understand"),
    ]),
    ("reliability", [
        ("do what they promise by the time they promise it", "does what it promises by the time it promises it"),
        ("show a sincere interest in solving a customer's problem",
         "shows a sincere interest in solving my problems"),
        ("get the service right the first time", "gets the service right the first time"),
        ("deliver the service at the time they say they will", "delivers the service at the time it says it will"),
        ("keep accurate records of orders, payments and trips", "keeps accurate records of my orders, payments "
                                                                 "and trips"),
    ]),
    ("responsiveness", [
        ("tell customers exactly when the service will happen", "tells me exactly when the service will happen"),
        ("give prompt service to customers", "gives me prompt service"),
        ("always be willing to help customers", "is always willing to help me"),
        ("never be too busy to answer a customer's request", "is never too busy to answer my requests"),
    ]),
    ("assurance", [
        ("have staff and drivers whose behaviour inspires confidence",
         "has staff and drivers whose behaviour inspires confidence"),
        ("make customers feel safe during trips, deliveries and payments",
         "makes me feel safe during trips, deliveries and payments"),
        ("have staff and drivers who are consistently courteous", "has staff and drivers who are consistently "
                                                                  "courteous"),
        ("have support staff with the knowledge to answer customers' questions",
         "has support staff with the knowledge to answer my questions"),
    ]),
    ("empathy", [
        ("give each customer individual attention", "gives me individual attention"),
        ("be available at hours that suit all their customers", "is available at hours that suit me"),
        ("have support staff who give customers personal attention",
         "has support staff who give me personal attention"),
        ("have the customer's best interests at heart", "has my best interests at heart"),
        ("understand the specific needs of their customers", "understands my specific needs"),
    ]),
]


def _servqual_sections() -> list[dict]:
    expectations: list[dict] = []
    perceptions: list[dict] = []
    number = 0
    for dimension, statements in _SERVQUAL:
        for expected, perceived in statements:
            number += 1
            pair = f"s{number}"
            expectations.append({
                **_likert(f"e{number}", f"Excellent ride and delivery services would {expected}.", None,
                          labels=AGREE_7, scale=(1, 7)),
                "servqual": {"dimension": dimension, "side": "expectation", "pair": pair}})
            perceptions.append({
                **_likert(f"p{number}", f"This service {perceived}.", None, labels=AGREE_7, scale=(1, 7)),
                "servqual": {"dimension": dimension, "side": "perception", "pair": pair}})
    return [
        {"title": "What you expect",
         "description": "Think of an excellent ride or delivery service, not ours. How much do you agree that "
                        "such a service would show each feature?",
         "items": expectations},
        {"title": "What you received",
         "description": "Now think of our service. How much do you agree with each statement?",
         "items": perceptions},
    ]


SERVQUAL = Template(
    key="servqual",
    name="SERVQUAL service quality",
    description="The 22 SERVQUAL statements in five dimensions (tangibles, reliability, responsiveness, assurance, "
                "empathy), each rated for expectation and perception on a 1-7 scale; the gap shows where the "
                "service falls short. Repeat it every six months to see whether changes worked.",
    questionnaire={
        "intro": "This survey compares what you expect of a ride or delivery service with what you get from us.",
        "thanks": "Thank you. We compare your expectations with your experience to decide what to fix first.",
        "sections": _servqual_sections(),
    },
)


# --- nps ----------------------------------------------------------------------------------------------------

NPS = Template(
    key="nps",
    name="Net Promoter Score",
    description="One question: how likely customers are to recommend the service (0-10), and why.",
    questionnaire={
        "intro": "One quick question, and an optional second one.",
        "thanks": "Thank you. Every answer is read.",
        "sections": [{"title": "", "items": [
            {"code": "nps", "text": "How likely are you to recommend our service to a friend or colleague?",
             "kind": "nps"},
            _text("nps_why", "What is the main reason for your score?"),
        ]}],
    },
)


# --- csat ---------------------------------------------------------------------------------------------------

CSAT = Template(
    key="csat",
    name="Customer satisfaction (CSAT)",
    description="One 1-5 satisfaction rating after a trip, a delivery or a support contact, with an optional "
                "comment.",
    questionnaire={
        "intro": "How did we do?",
        "thanks": "Thank you for telling us.",
        "sections": [{"title": "", "items": [
            _likert("csat", "Overall, how satisfied are you with your most recent trip or delivery?", None,
                    labels=["Very dissatisfied", "Dissatisfied", "Neither satisfied nor dissatisfied", "Satisfied",
                            "Very satisfied"]),
            _text("csat_comment", "Anything we should know? (optional)"),
        ]}],
    },
)


# --- targeting ----------------------------------------------------------------------------------------------

_TARGETING_CONSTRUCTS = [
    ("communication", "Communication (loyal customers)",
     "Usage, revisits, contact with the company and suggestions: strategic, loyal customers."),
    ("ethical", "Ethical and behavioural",
     "Quality, advice of others, service functions, shopping experience, advertising and support."),
    ("individual", "Individual", "Lifestyle and the personal traits that draw a customer to connected services."),
    ("economic", "Economic", "Prices, income, discounts, and buying on credit or in instalments."),
]

_TARGETING_ITEMS = {
    "communication": _block("communication", "com", [
        "I use the service several times a week.",
        "After a break I always come back to this service.",
        "I am often in touch with the company (app messages, calls, reviews).",
        "I send the company suggestions on how to improve.",
    ]),
    "ethical": _block("ethical", "eth", [
        "The quality of the service matters more to me than its price.",
        "What friends and other users say about the service shapes my choice.",
        "My past experiences with the service decide whether I order again.",
        "Honest advertising and good after-sales support make me trust the company.",
    ]),
    "individual": _block("individual", "ind", [
        "Connected, app-based services fit my modern lifestyle.",
        "I like to try new technology before most people do.",
        "I would pay more for a premium service with expert staff.",
    ]),
    "economic": _block("economic", "eco", [
        "I compare prices with other services before I order.",
        "Discounts and promotions decide which service I use.",
        "Being able to pay in instalments or on credit matters to me.",
        "My income limits how often I use the service.",
    ]),
}

TARGETING = Template(
    key="targeting",
    name="Customer clusters for targeted marketing",
    description="Four customer clusters (communication / loyal, ethical-behavioural, individual, economic) "
                "measured by the factors that defined them, with a confirmatory factor model; use the cluster "
                "scores to target offers ethically.",
    questionnaire={
        "intro": "Help us understand what matters to you when you choose a connected service.",
        "thanks": "Thank you. Your answers help us offer you what you actually want.",
        "constructs": [{"code": c, "name": n, "description": d} for c, n, d in _TARGETING_CONSTRUCTS],
        "sections": [
            {"title": "How you use the service", "items": _TARGETING_ITEMS["communication"]},
            {"title": "What guides your choice", "items": _TARGETING_ITEMS["ethical"]},
            {"title": "You and technology", "items": _TARGETING_ITEMS["individual"]},
            {"title": "Price and payment", "items": _TARGETING_ITEMS["economic"]},
            {"title": "About you", "description": "Optional.", "items": [
                _single("gender", "Gender", ["Female", "Male", "Another gender", "Prefer not to say"]),
                _single("age_band", "Age", ["Under 25", "25-34", "35-44", "45 or older"]),
                _single("education", "Highest education", ["Below high-school diploma", "High-school diploma",
                                                           "Associate degree", "Bachelor's degree",
                                                           "Master's degree or higher"]),
            ]},
        ],
        # a CFA: each cluster measured by its factors; the clusters' covariances are free
        "model": "\n".join(_measurement(_TARGETING_ITEMS)),
    },
)


TEMPLATES: dict[str, Template] = {t.key: t for t in (CRM_SUCCESS, SERVQUAL, NPS, CSAT, TARGETING)}


def get_template(key: str) -> Template:
    """The template with this key; :class:`~patron.core.errors.Invalid` (field ``template``) for any other."""
    template = TEMPLATES.get(key) if isinstance(key, str) else None
    if template is None:
        raise Invalid(f"no such template: {str(key)[:60]!r}; choose one of {', '.join(TEMPLATES)}",
                      field="template")
    return template
