"""Seller product management and the public store view."""

from __future__ import annotations

from typing import Any

from nexus import db, pagination
from nexus.errors import NotFound, ValidationFailed
from nexus.identity import Identity
from nexus.products import repository as repo
from nexus.products.models import ProductIn, ProductOut, ProductPage, ProductPatch, StoreProductOut

_NOT_FOUND = "No such product."
_NOT_NULL = ("name", "price", "currency")


def _product_id(raw: str) -> str:
    return pagination.require_id(raw, _NOT_FOUND)


def create(who: Identity, body: ProductIn) -> ProductOut:
    row = db.single(
        lambda conn: repo.create(
            conn,
            organization_id=who.organization_id,
            user_id=who.user_id,
            name=body.name,
            description=body.description,
            price=body.price,
            currency=body.currency,
        )
    )
    return ProductOut(**row)


def list_page(who: Identity, limit: int, cursor: str | None) -> ProductPage:
    after = pagination.decode(cursor)
    rows = db.single(
        lambda conn: repo.page(conn, organization_id=who.organization_id, limit=limit, after=after)
    )
    items, next_cursor = pagination.split([ProductOut(**r) for r in rows], limit)
    return ProductPage(items=items, next_cursor=next_cursor)


def get(who: Identity, raw_id: str) -> ProductOut:
    product_id = _product_id(raw_id)
    row = db.single(
        lambda conn: repo.get(conn, organization_id=who.organization_id, product_id=product_id)
    )
    if row is None:
        raise NotFound(_NOT_FOUND)
    return ProductOut(**row)


def update(who: Identity, raw_id: str, body: ProductPatch) -> ProductOut:
    product_id = _product_id(raw_id)
    changes: dict[str, Any] = {f: getattr(body, f) for f in body.model_fields_set}
    nulls = [f for f in _NOT_NULL if f in changes and changes[f] is None]
    if nulls:
        raise ValidationFailed(
            "The request is not valid.",
            errors=[{"loc": ["body", f], "msg": "may not be null"} for f in nulls],
        )
    row = db.single(
        lambda conn: repo.update(
            conn, organization_id=who.organization_id, product_id=product_id, changes=changes
        )
    )
    if row is None:
        raise NotFound(_NOT_FOUND)
    return ProductOut(**row)


def delete(who: Identity, raw_id: str) -> None:
    product_id = _product_id(raw_id)
    deleted = db.single(
        lambda conn: repo.soft_delete(
            conn, organization_id=who.organization_id, product_id=product_id
        )
    )
    if not deleted:
        raise NotFound(_NOT_FOUND)


def store_view(raw_id: str) -> StoreProductOut:
    product_id = _product_id(raw_id)
    row = db.single(lambda conn: repo.get_public(conn, product_id=product_id))
    if row is None:
        raise NotFound(_NOT_FOUND)
    return StoreProductOut(**row)
