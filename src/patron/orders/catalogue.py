"""The product catalogue: categories (a tree) and products. Re-exported by :mod:`patron.orders.service`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from patron.accounts import service as accounts_service
from patron.core.db import utcnow
from patron.core.errors import Conflict, Invalid, NotFound
from patron.orders.models import OrderLine, Product, ProductCategory
from patron.orders.pricing import check_currency, parse_amount

PRODUCT_FIELDS = ("sku", "name", "category_id", "price", "currency", "active", "attributes")
MAX_CATEGORY_DEPTH = 10
LOOKUP_CHUNK = 500


def org_currency(session: Session, *, org_id: int) -> str:
    org = accounts_service.get_organisation(session, org_id=org_id)
    return org.currency if org is not None else "EUR"


# --- categories ------------------------------------------------------------------------------------


def list_categories(session: Session, *, org_id: int) -> list[ProductCategory]:
    """Every category of the organisation, by name (the tree is in ``parent_id``)."""
    return list(
        session.scalars(
            select(ProductCategory).where(ProductCategory.org_id == org_id).order_by(ProductCategory.name)
        )
    )


def get_category_or_raise(
    session: Session, *, org_id: int, category_id: int, field: str = "category_id"
) -> ProductCategory:
    category = session.scalar(
        select(ProductCategory).where(ProductCategory.org_id == org_id, ProductCategory.id == category_id)
    )
    if category is None:
        raise NotFound(f"No product category {category_id}.", field=field)
    return category


def create_category(
    session: Session, *, org_id: int, name: str, parent_id: int | None = None
) -> ProductCategory:
    """A new category, under ``parent_id`` if given. Names are unique within the organisation."""
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise Invalid("name: must be 1-120 characters.", field="name")
    if parent_id is not None:
        parent = get_category_or_raise(session, org_id=org_id, category_id=parent_id, field="parent_id")
        depth = 1
        while parent.parent_id is not None and depth < MAX_CATEGORY_DEPTH:
            parent = get_category_or_raise(session, org_id=org_id, category_id=parent.parent_id, field="parent_id")
            depth += 1
        if depth >= MAX_CATEGORY_DEPTH:
            raise Invalid(f"parent_id: categories nest at most {MAX_CATEGORY_DEPTH} deep.", field="parent_id")
    taken = session.scalar(
        select(ProductCategory.id).where(ProductCategory.org_id == org_id, ProductCategory.name == name)
    )
    if taken is not None:
        raise Conflict(f"A category named '{name}' exists already (id {taken}).", field="name")
    category = ProductCategory(org_id=org_id, name=name, parent_id=parent_id, created_at=utcnow())
    session.add(category)
    session.flush()
    return category


# --- products --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductFilter:
    q: str | None = None
    category_id: int | None = None
    active: bool | None = None


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def list_products(
    session: Session, *, org_id: int, filters: ProductFilter | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Product], int]:
    """Products matching ``filters``, by name, and how many match."""
    filters = filters or ProductFilter()
    query = select(Product).where(Product.org_id == org_id)
    if filters.category_id is not None:
        query = query.where(Product.category_id == filters.category_id)
    if filters.active is not None:
        query = query.where(Product.active.is_(filters.active))
    text = (filters.q or "").strip().lower()
    if text:
        pattern = _like(text)
        query = query.where(
            or_(func.lower(Product.name).like(pattern, escape="\\"), func.lower(Product.sku).like(pattern, escape="\\"))
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Product.name, Product.id).limit(limit).offset(offset))
    return list(rows), total


def get_product(session: Session, *, org_id: int, product_id: int) -> Product | None:
    return session.scalar(select(Product).where(Product.org_id == org_id, Product.id == product_id))


def get_product_or_raise(session: Session, *, org_id: int, product_id: int, field: str = "product_id") -> Product:
    product = get_product(session, org_id=org_id, product_id=product_id)
    if product is None:
        raise NotFound(f"No product {product_id}.", field=field)
    return product


def products_by_sku(session: Session, *, org_id: int, skus: Iterable[str]) -> dict[str, Product]:
    """``{sku: product}`` for the SKUs that exist in the organisation's catalogue."""
    wanted = list(dict.fromkeys(skus))
    found: dict[str, Product] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        for product in session.scalars(
            select(Product).where(Product.org_id == org_id, Product.sku.in_(wanted[start : start + LOOKUP_CHUNK]))
        ):
            found[product.sku] = product
    return found


def products_by_id(session: Session, *, org_id: int, product_ids: Iterable[int]) -> dict[int, Product]:
    wanted = list(dict.fromkeys(product_ids))
    found: dict[int, Product] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        for product in session.scalars(
            select(Product).where(Product.org_id == org_id, Product.id.in_(wanted[start : start + LOOKUP_CHUNK]))
        ):
            found[product.id] = product
    return found


def check_sku(value: str, *, field: str = "sku") -> str:
    sku = (value or "").strip()
    if not sku or len(sku) > 64 or any(ch.isspace() or ord(ch) < 32 for ch in sku):
        raise Invalid(f"{field}: must be 1-64 characters without spaces.", field=field)
    return sku


def _check_sku_free(session: Session, *, org_id: int, sku: str, product_id: int | None = None) -> None:
    query = select(Product.id).where(Product.org_id == org_id, Product.sku == sku)
    if product_id is not None:
        query = query.where(Product.id != product_id)
    taken = session.scalar(query)
    if taken is not None:
        raise Conflict(f"Another product has SKU '{sku}' (id {taken}).", field="sku")


def _check_name(value: str) -> str:
    name = (value or "").strip()
    if not name or len(name) > 200:
        raise Invalid("name: must be 1-200 characters.", field="name")
    return name


def create_product(
    session: Session,
    *,
    org_id: int,
    sku: str,
    name: str,
    price: Decimal | str | int,
    currency: str | None = None,
    category_id: int | None = None,
    active: bool = True,
    attributes: dict[str, Any] | None = None,
) -> Product:
    """Add a product. ``currency`` defaults to the organisation's."""
    sku = check_sku(sku)
    name = _check_name(name)
    amount = parse_amount(price, field="price")
    currency = check_currency(currency) if currency else org_currency(session, org_id=org_id)
    if category_id is not None:
        get_category_or_raise(session, org_id=org_id, category_id=category_id)
    _check_sku_free(session, org_id=org_id, sku=sku)
    now = utcnow()
    product = Product(
        org_id=org_id,
        sku=sku,
        name=name,
        category_id=category_id,
        price=amount,
        currency=currency,
        active=active,
        attributes=attributes or {},
        created_at=now,
        updated_at=now,
    )
    session.add(product)
    session.flush()
    return product


def update_product(session: Session, *, product: Product, changes: dict[str, Any]) -> Product:
    """Change any of sku, name, category, price, currency, active, attributes. Lines already ordered keep
    the SKU, name and price they were ordered with."""
    unknown = set(changes) - set(PRODUCT_FIELDS)
    if unknown:
        field = sorted(unknown)[0]
        raise Invalid(f"{field} cannot be changed here.", field=field)
    values = dict(changes)
    if "sku" in values:
        values["sku"] = check_sku(values["sku"])
        if values["sku"] != product.sku:
            _check_sku_free(session, org_id=product.org_id, sku=values["sku"], product_id=product.id)
    if "name" in values:
        values["name"] = _check_name(values["name"])
    if "price" in values:
        values["price"] = parse_amount(values["price"], field="price")
    if "currency" in values:
        values["currency"] = check_currency(values["currency"])
    if values.get("category_id") is not None:
        get_category_or_raise(session, org_id=product.org_id, category_id=values["category_id"])
    for name, value in values.items():
        setattr(product, name, value)
    product.updated_at = utcnow()
    session.flush()
    return product


def count_product_lines(session: Session, *, product: Product) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(OrderLine)
            .where(OrderLine.org_id == product.org_id, OrderLine.product_id == product.id)
        )
        or 0
    )


def delete_product(session: Session, *, product: Product) -> None:
    """Delete a product no order refers to. One that was ordered is refused (Conflict): deactivate it
    instead, so the order history keeps pointing at it."""
    used = count_product_lines(session, product=product)
    if used:
        raise Conflict(
            f"Product {product.sku} is on {used} order line{'s' if used != 1 else ''} and cannot be deleted; "
            'deactivate it instead (PATCH {"active": false}).',
            field="product_id",
            code="product_in_use",
        )
    session.delete(product)
    session.flush()
