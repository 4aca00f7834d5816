"""A stand-in for another domain's service module: records the customer hooks it receives."""

calls: list[tuple] = []


def reassign_customer(session, *, org_id, from_customer_id, to_customer_id) -> int:
    calls.append(("reassign", org_id, from_customer_id, to_customer_id))
    return 2


def erase_customer(session, *, org_id, customer_id) -> int:
    calls.append(("erase", org_id, customer_id))
    return 1


def export_customer(session, *, org_id, customer_id) -> dict[str, list[dict]]:
    calls.append(("export", org_id, customer_id))
    return {"probes": [{"customer_id": customer_id, "note": "held elsewhere"}]}
