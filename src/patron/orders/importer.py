"""CSV import of orders, all or nothing.

One row per order line; rows with the same ``order_id`` make one order (they need not be next to each
other). Columns (header names are matched case-insensitively; aliases in :data:`ALIASES`):

``order_id``
    required: the order's id in the source system, stored as ``external_id``. An order_id imported before
    is skipped, so importing the same file again adds nothing.
``customer_id`` or ``customer_email``
    who placed the order (one of the two on every row).
``ordered_at``
    required: ISO 8601 date or date-time; without a time zone it is read in the organisation's time zone.
``sku``, ``quantity`` (default 1), ``unit_price`` (default: the product's price), ``discount`` (off the
line), ``name`` (the product name, used with ``create_products``)
    the line.
``status`` (default ``delivered``), ``channel`` (default ``web``), ``currency`` (default: the
organisation's), ``order_discount``
    the order; rows of one order must agree on them.

Every row is checked before anything is written. One bad row - an unknown SKU, a quantity that is not a
whole number, an unknown customer - and nothing is imported: the error names the row (the header is row 1)
and the column, and lists up to :data:`MAX_REPORTED_ERRORS` rows. Unknown SKUs become products when
``create_products`` is set (their name and price from the first row that has them).

Lookups go in batches and writes through :func:`patron.orders.service.create_orders_bulk`: a few statements
per thousands of rows.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from patron.accounts import service as accounts_service
from patron.core.errors import Invalid, PatronError
from patron.customers.models import Customer
from patron.orders import service as orders_service
from patron.orders.bulk import PreparedLine, PreparedOrder
from patron.orders.models import ORDER_CHANNELS, ORDER_STATUSES
from patron.orders.pricing import ZERO, check_currency, line_total, order_totals, parse_amount

Progress = Callable[[int, int], None]

MAX_REPORTED_ERRORS = 100
MAX_ROWS = 2_000_000
LOOKUP_CHUNK = 500
DEFAULT_STATUS = "delivered"
DEFAULT_CHANNEL = "web"
COLUMNS = ("order_id", "customer_id", "customer_email", "ordered_at", "status", "channel", "currency",
           "order_discount", "sku", "name", "quantity", "unit_price", "discount")  # fmt: skip
ALIASES = {
    **{name: name for name in COLUMNS},
    "order": "order_id", "order_number": "order_id", "external_id": "order_id",
    "customer": "customer_id", "email": "customer_email", "customer_e_mail": "customer_email",
    "date": "ordered_at", "order_date": "ordered_at", "placed_at": "ordered_at",
    "product_sku": "sku", "product": "sku", "product_name": "name", "qty": "quantity",
    "price": "unit_price", "line_discount": "discount",
}  # fmt: skip
ORDER_FIELDS = ("customer", "ordered_at", "status", "channel", "currency", "order_discount")


@dataclass
class OrderImportReport:
    rows: int = 0
    orders_created: int = 0
    lines_created: int = 0
    orders_skipped: int = 0
    products_created: int = 0
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return round(self.rows / self.seconds, 1) if self.seconds > 0 else 0.0


@dataclass
class _Group:
    """The rows of one order."""

    row: int
    values: dict[str, str]
    lines: list[tuple[int, str, str, str, str, str]] = field(default_factory=list)  # row, sku, name, qty, price, disc


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict] = []
        self.count = 0

    def add(self, row: int, column: str, message: str) -> None:
        self.count += 1
        if len(self.items) < MAX_REPORTED_ERRORS:
            self.items.append({"row": row, "field": column, "message": message})

    def raise_if_any(self) -> None:
        if not self.count:
            return
        first = min(self.items, key=lambda item: item["row"])
        more = f" (and {self.count - 1} more)" if self.count > 1 else ""
        raise Invalid(
            f"Row {first['row']}: {first['field']}: {first['message']}{more}. Nothing was imported.",
            field=first["field"],
            code="import_rejected",
            errors=sorted(self.items, key=lambda item: item["row"]),
        )


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("The file is not UTF-8 text.", field="file") from None


def _header_index(header: list[str]) -> dict[str, int]:
    index: dict[str, int] = {}
    for position, raw in enumerate(header):
        key = "_".join(raw.strip().lower().replace("-", " ").replace(".", " ").split())
        name = ALIASES.get(key)
        if name is None:
            continue
        if name in index:
            raise Invalid(f"The columns '{header[index[name]]}' and '{raw}' both mean {name}.", field=name)
        index[name] = position
    for required in ("order_id", "ordered_at", "sku"):
        if required not in index:
            raise Invalid(f"The file has no {required} column.", field=required)
    if "customer_id" not in index and "customer_email" not in index:
        raise Invalid("The file has no customer_id or customer_email column.", field="customer_id")
    return index


def _read(text: str) -> tuple[list[str], list[list[str]]]:
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    records = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not records:
        raise Invalid("The file is empty.", field="file")
    if len(records) - 1 > MAX_ROWS:
        raise Invalid(f"The file has more than {MAX_ROWS:,} rows; split it.", field="file")
    return records[0], records[1:]


def _group_rows(index: dict[str, int], rows: list[list[str]], errors: _Errors) -> tuple[dict[str, _Group], int]:
    """Rows grouped by order_id, each order's own fields checked to agree across its rows."""
    groups: dict[str, _Group] = {}
    width = max(index.values()) + 1
    blank = width  # an always-empty cell for absent columns
    at = {name: index.get(name, blank) for name in COLUMNS}
    order_col, customer_col, email_col = at["order_id"], at["customer_id"], at["customer_email"]
    when_col, status_col, channel_col, currency_col = at["ordered_at"], at["status"], at["channel"], at["currency"]
    order_discount_col, sku_col, name_col = at["order_discount"], at["sku"], at["name"]
    quantity_col, price_col, discount_col = at["quantity"], at["unit_price"], at["discount"]
    padding = [""] * (width + 1)
    counted = 0
    for offset, record in enumerate(rows):
        number = offset + 2
        if not any(record) or not "".join(record).strip():
            continue
        counted += 1
        record = record + padding if len(record) <= width else record
        order_id = record[order_col].strip()
        if not order_id:
            errors.add(number, "order_id", "is empty")
            continue
        if len(order_id) > 120:
            errors.add(number, "order_id", "is longer than 120 characters")
            continue
        customer = record[customer_col].strip()
        if not customer:
            email = record[email_col].strip().lower()
            customer = "@" + email if email else ""
        values = {
            "customer": customer,
            "ordered_at": record[when_col].strip(),
            "status": record[status_col].strip().lower() or DEFAULT_STATUS,
            "channel": record[channel_col].strip().lower() or DEFAULT_CHANNEL,
            "currency": record[currency_col].strip().upper(),
            "order_discount": record[order_discount_col].strip(),
        }
        group = groups.get(order_id)
        if group is None:
            group = groups[order_id] = _Group(row=number, values=values)
        elif values != group.values:
            for name in ORDER_FIELDS:
                if values[name] != group.values[name] and values[name]:
                    column = "customer_id" if name == "customer" else name
                    errors.add(number, column, f"differs from row {group.row} of the same order {order_id}")
                    break
        group.lines.append((number, record[sku_col].strip(), record[name_col].strip(), record[quantity_col].strip(),
                            record[price_col].strip(), record[discount_col].strip()))  # fmt: skip
    return groups, counted


def _customer_ids(session: Session, org_id: int, keys: set[str]) -> dict[str, int]:
    """``{key: customer id}`` for keys that are a live customer's id (``"17"``) or e-mail (``"@ann@x.example"``)."""
    ids = sorted({int(key) for key in keys if key.isdigit() and len(key) < 11})
    emails = sorted(key[1:] for key in keys if key.startswith("@"))
    found: dict[str, int] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        for customer_id in session.scalars(
            select(Customer.id).where(
                Customer.org_id == org_id,
                Customer.id.in_(ids[start : start + LOOKUP_CHUNK]),
                Customer.merged_into_id.is_(None),
                Customer.erased_at.is_(None),
            )
        ):
            found[str(customer_id)] = customer_id
    for start in range(0, len(emails), LOOKUP_CHUNK):
        rows = session.execute(
            select(Customer.email, Customer.id)
            .where(
                Customer.org_id == org_id,
                Customer.email.in_(emails[start : start + LOOKUP_CHUNK]),
                Customer.merged_into_id.is_(None),
                Customer.erased_at.is_(None),
            )
            .order_by(Customer.id.desc())
        )
        for email, customer_id in rows:
            found["@" + email] = customer_id  # the oldest profile wins when two share an address
    return found


def _when(text: str, zone: ZoneInfo) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def import_orders_csv(
    session: Session,
    *,
    org_id: int,
    stream: BinaryIO | bytes | None = None,
    text: str | None = None,
    create_products: bool = False,
    dry_run: bool = False,
    actor_user_id: int | None = None,
    source_name: str = "",
    progress: Progress | None = None,
) -> OrderImportReport:
    """Import orders from CSV (bytes, a binary stream or ``text``); all rows or none. See the module docs."""
    started = time.perf_counter()
    if text is None:
        if stream is None:
            raise Invalid("No file was given.", field="file")
        text = _decode(stream if isinstance(stream, bytes) else stream.read())
    header, rows = _read(text)
    index = _header_index(header)
    org = accounts_service.get_organisation(session, org_id=org_id)
    zone = ZoneInfo(org.timezone if org is not None and org.timezone else "UTC")
    default_currency = org.currency if org is not None else "EUR"
    report = OrderImportReport(dry_run=dry_run)
    errors = _Errors()
    groups, report.rows = _group_rows(index, rows, errors)
    if progress:
        progress(report.rows // 3, report.rows)

    done = orders_service.existing_external_ids(session, org_id=org_id, external_ids=list(groups))
    report.orders_skipped = len(done)
    todo = {order_id: group for order_id, group in groups.items() if order_id not in done}
    customers = _customer_ids(session, org_id, {g.values["customer"] for g in todo.values() if g.values["customer"]})
    products = orders_service.products_by_sku(
        session, org_id=org_id, skus=[line[1] for g in todo.values() for line in g.lines if line[1]]
    )
    new_products: dict[str, tuple[str, Decimal, str]] = {}
    prepared: list[PreparedOrder] = []
    statuses, channels = frozenset(ORDER_STATUSES), frozenset(ORDER_CHANNELS)
    for order_id, group in todo.items():
        values, row = group.values, group.row
        customer_id = customers.get(values["customer"])
        if customer_id is None:
            key = values["customer"]
            column = "customer_email" if key.startswith("@") else "customer_id"
            errors.add(row, column, f"no customer {key[1:] if key.startswith('@') else key}" if key else "is empty")
            continue
        try:
            ordered_at = _when(values["ordered_at"], zone)
        except ValueError:
            errors.add(row, "ordered_at", f"'{values['ordered_at'][:40]}' is not a date such as 2024-05-01")
            continue
        if values["status"] not in statuses:
            errors.add(row, "status", f"unknown status '{values['status'][:30]}'")
            continue
        if values["channel"] not in channels:
            errors.add(row, "channel", f"unknown channel '{values['channel'][:30]}'")
            continue
        try:
            currency = check_currency(values["currency"]) if values["currency"] else default_currency
            order_discount = parse_amount(values["order_discount"], field="order_discount") if values[
                "order_discount"
            ] else ZERO
        except PatronError as exc:
            errors.add(row, exc.field or "currency", exc.detail.split(": ", 1)[-1])
            continue
        lines: list[PreparedLine] = []
        for line_row, sku, name, quantity_text, price_text, discount_text in group.lines:
            column = "sku"
            try:
                if not sku:
                    raise Invalid("sku: is empty", field="sku")
                column = "quantity"
                quantity = int(quantity_text) if quantity_text else 1
                if not 1 <= quantity <= 100_000:
                    raise ValueError
                column = "unit_price"
                price = parse_amount(price_text, field="unit_price") if price_text else None
                product = products.get(sku)
                if product is None:
                    if not create_products:
                        raise Invalid(f"sku: no product with SKU '{sku[:64]}' (use create_products to add it)",
                                      field="sku")  # fmt: skip
                    if sku not in new_products:
                        if price is None:
                            raise Invalid(f"unit_price: needed to create product {sku[:64]}", field="unit_price")
                        new_products[sku] = ((name or sku)[:200], price, currency)
                    product_id, product_name = None, new_products[sku][0]
                    if price is None:
                        price = new_products[sku][1]
                else:
                    product_id, product_name = product.id, product.name
                    if price is None:
                        if product.currency != currency:
                            raise Invalid(f"unit_price: {sku} is priced in {product.currency}; give its price in "
                                          f"{currency}", field="unit_price")  # fmt: skip
                        price = product.price
                column = "discount"
                discount = parse_amount(discount_text, field="discount") if discount_text else ZERO
                total = line_total(quantity, price, discount)
            except PatronError as exc:
                errors.add(line_row, exc.field or column, exc.detail.split(": ", 1)[-1])
                continue
            except ValueError:
                errors.add(line_row, "quantity", f"'{quantity_text[:20]}' is not a whole number from 1 to 100000")
                continue
            lines.append(PreparedLine(product_id, sku, product_name, quantity, price, discount, total))
        if len(lines) != len(group.lines):
            continue
        try:
            totals = order_totals([(line.quantity, line.line_total) for line in lines], order_discount,
                                  field="order_discount")  # fmt: skip
        except PatronError as exc:
            errors.add(row, "order_discount", exc.detail.split(": ", 1)[-1])
            continue
        prepared.append(PreparedOrder(customer_id=customer_id, channel=values["channel"], status=values["status"],
                                      ordered_at=ordered_at, currency=currency, totals=totals, lines=lines,
                                      external_id=order_id))  # fmt: skip
    errors.raise_if_any()
    if progress:
        progress(2 * report.rows // 3, report.rows)

    report.orders_created = len(prepared)
    report.lines_created = sum(len(order.lines) for order in prepared)
    report.products_created = len(new_products)
    if not dry_run and prepared:
        created_ids: dict[str, int] = {}
        for sku, (name, price, currency) in new_products.items():
            product = orders_service.create_product(session, org_id=org_id, sku=sku, name=name, price=price,
                                                    currency=currency)  # fmt: skip
            created_ids[sku] = product.id
        if created_ids:
            for order in prepared:
                for line in order.lines:
                    if line.product_id is None:
                        line.product_id = created_ids[line.sku]
        prepared.sort(key=lambda order: (order.ordered_at, order.external_id or ""))
        orders_service.create_orders_bulk(
            session,
            org_id=org_id,
            orders=prepared,
            actor_user_id=actor_user_id,
            action="orders.import",
            audit_details={"file": source_name[:200], "rows": report.rows, "skipped": report.orders_skipped,
                           "products_created": report.products_created},  # fmt: skip
        )
    report.seconds = max(time.perf_counter() - started, 1e-6)
    if progress:
        progress(report.rows, report.rows)
    return report
