"""Who may do what. One table, documented in docs/accounts.md (a test keeps the two in step)."""

from __future__ import annotations

ROLES = ("owner", "admin", "manager", "agent", "analyst", "viewer")

_ALL = frozenset(ROLES)
_STAFF = frozenset({"owner", "admin", "manager", "agent"})
_LEADS = frozenset({"owner", "admin", "manager"})
_ADMINS = frozenset({"owner", "admin"})

#: permission -> roles that hold it
PERMISSIONS: dict[str, frozenset[str]] = {
    "customers.read": _ALL,
    "customers.write": _STAFF,
    "customers.delete": _LEADS,
    "customers.import": _LEADS,
    "customers.export": _LEADS | {"analyst"},
    "customers.merge": _LEADS,
    "customers.privacy": _ADMINS,
    "interactions.read": _ALL,
    "interactions.write": _STAFF,
    "tickets.read": _ALL,
    "tickets.write": _STAFF,
    "tickets.delete": _LEADS,
    "sales.read": _ALL,
    "sales.write": _STAFF,
    "sales.delete": _LEADS,
    "devices.read": _ALL,
    "devices.write": _STAFF,
    "devices.delete": _LEADS,
    "events.read": _ALL,
    "ingest.manage": _ADMINS,
    "orders.read": _ALL,
    "orders.write": _STAFF,
    "orders.delete": _LEADS,
    "orders.import": _LEADS,
    "catalogue.manage": _LEADS,
    "rules.read": _ALL,
    "rules.manage": _LEADS,
    "surveys.read": _ALL,
    "surveys.manage": _LEADS | {"analyst"},
    "surveys.send": _STAFF,
    "surveys.analyze": _LEADS | {"analyst"},
    "loyalty.read": _ALL,
    "loyalty.write": _STAFF,
    "loyalty.adjust": _LEADS,
    "loyalty.manage": _LEADS,
    "contests.read": _ALL,
    "contests.write": _STAFF,
    "contests.manage": _LEADS,
    "segments.read": _ALL,
    "segments.write": _LEADS | {"analyst"},
    "predictions.read": _ALL,
    "predictions.run": _LEADS | {"analyst"},
    "messages.read": _ALL,
    "messages.send": _STAFF,
    "channels.manage": _ADMINS,
    "campaigns.read": _ALL,
    "campaigns.write": _LEADS,
    "campaigns.launch": _LEADS,
    "activity.read": _LEADS | {"analyst"},
    "settings.manage": _ADMINS,
    "users.manage": _ADMINS,
    "api_keys.manage": _ADMINS,
    "audit.read": _ADMINS,
}

#: plain-language description of each permission, for docs and the admin page
DESCRIPTIONS: dict[str, str] = {
    "customers.read": "see customers, their identities, consents, places and timeline",
    "customers.write": "create and edit customers, identities, consents and places",
    "customers.delete": "delete customers",
    "customers.import": "import customers from CSV",
    "customers.export": "export customer lists (CSV/JSON)",
    "customers.merge": "merge duplicate customers",
    "customers.privacy": "export everything held on one customer; erase one customer",
    "interactions.read": "see calls, e-mails, chats, meetings and notes",
    "interactions.write": "log interactions",
    "tickets.read": "see tickets and their history",
    "tickets.write": "open, answer, assign and resolve tickets",
    "tickets.delete": "delete tickets",
    "sales.read": "see leads, deals, pipelines and tasks",
    "sales.write": "create and move leads, deals and tasks",
    "sales.delete": "delete leads, deals and tasks",
    "devices.read": "see devices, their bindings, health and telemetry",
    "devices.write": "register devices, bind them to customers, rotate and revoke their keys",
    "devices.delete": "delete devices",
    "events.read": "see device events and the ingest dead-letter store",
    "ingest.manage": "create and revoke organisation ingest keys",
    "orders.read": "see products, orders and each customer's purchase totals",
    "orders.write": "place orders and change their status",
    "orders.delete": "delete orders entered by mistake",
    "orders.import": "import orders from CSV",
    "catalogue.manage": "add, change and retire products and product categories",
    "rules.read": "see real-time rules, their firings and triggers",
    "rules.manage": "create, change, test and delete real-time rules",
    "surveys.read": "see surveys, their waves, response counts and analysis reports",
    "surveys.manage": "build questionnaires, open and close surveys, schedule and open waves",
    "surveys.send": "invite customers to a survey (personal answer links)",
    "surveys.analyze": "read and import individual answers, run and delete analyses",
    "loyalty.read": "see customers' points balances and history",
    "loyalty.write": "give customers points they earned and redeem their points",
    "loyalty.adjust": "correct a customer's points balance either way",
    "loyalty.manage": "set up the loyalty programme: earn rules, tiers, rewards, coupons, gift certificates, promotions",
    "contests.read": "see referrals, contests, their entries and draws, games, groups and leaderboards",
    "contests.write": "issue referral codes, record referrals, enter customers, submit game scores, manage group members",
    "contests.manage": "set up contests, games and the referral programme; open, close and draw contests; close game periods",
    "segments.read": "see segments, their members, sizes, history and ML segmentation runs",
    "segments.write": "create, change, refresh and delete segments; run ML segmentation",
    "predictions.read": "see customers' lifetime value, churn risk, recommended products and sentiment",
    "predictions.run": "run the predictive models over the organisation",
    "messages.read": "see messages sent to customers, their delivery status, inboxes and the suppression list",
    "messages.send": "send a message to one customer (e-mail, push, SMS, device, in-app); mark inbox messages read",
    "channels.manage": "manage the suppression list and customers' push subscriptions",
    "campaigns.read": "see campaigns, audience counts, previews, recipients and results",
    "campaigns.write": "create, change and delete campaigns and their variants",
    "campaigns.launch": "launch, pause and resume campaigns (sends marketing messages to many customers)",
    "activity.read": "see staff activity metrics",
    "settings.manage": "configure pipelines, SLA policies and custom attributes",
    "users.manage": "invite users, change roles, deactivate users",
    "api_keys.manage": "create and revoke API keys",
    "audit.read": "read the audit log",
}

# A role may only hand out roles at or below its own rank.
RANK = {role: len(ROLES) - i for i, role in enumerate(ROLES)}


def allowed(role: str, permission: str) -> bool:
    return role in PERMISSIONS[permission]


def can_grant(granter_role: str, role: str) -> bool:
    return RANK[granter_role] >= RANK[role]
