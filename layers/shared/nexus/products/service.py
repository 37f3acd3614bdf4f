"""Seller product management and the public store view."""

from __future__ import annotations

from nexus import pagination
from nexus.errors import NotFound, found
from nexus.identity import Identity
from nexus.pagination import Cursor
from nexus.products.models import ProductIn, ProductOut, ProductPage, ProductPatch, StoreProductOut
from nexus.products.repository import OrganizationGone, ProductRepository

_NOT_FOUND = "No such product."
REPOSITORY = ProductRepository()


def create(who: Identity, body: ProductIn, *, repo: ProductRepository = REPOSITORY) -> ProductOut:
    try:
        row = repo.create(
            organization_id=who.organization_id,
            user_id=who.user_id,
            name=body.name,
            description=body.description,
            price=body.price,
            currency=body.currency,
        )
    except OrganizationGone as exc:
        raise NotFound("Your organization no longer exists.") from exc
    return row


def list_page(
    who: Identity, limit: int, after: Cursor | None, *, repo: ProductRepository = REPOSITORY
) -> ProductPage:
    rows = repo.page(organization_id=who.organization_id, limit=limit, after=after)
    return pagination.page(ProductPage, rows, limit)


def get(who: Identity, raw_id: str, *, repo: ProductRepository = REPOSITORY) -> ProductOut:
    product_id = pagination.require_id(raw_id, _NOT_FOUND)
    return found(repo.get(organization_id=who.organization_id, product_id=product_id), _NOT_FOUND)


def update(
    who: Identity, raw_id: str, body: ProductPatch, *, repo: ProductRepository = REPOSITORY
) -> ProductOut:
    product_id = pagination.require_id(raw_id, _NOT_FOUND)
    return found(
        repo.update(
            organization_id=who.organization_id, product_id=product_id, changes=body.changes()
        ),
        _NOT_FOUND,
    )


def delete(who: Identity, raw_id: str, *, repo: ProductRepository = REPOSITORY) -> None:
    product_id = pagination.require_id(raw_id, _NOT_FOUND)
    if not repo.soft_delete(organization_id=who.organization_id, product_id=product_id):
        raise NotFound(_NOT_FOUND)


def store_view(raw_id: str, *, repo: ProductRepository = REPOSITORY) -> StoreProductOut:
    product_id = pagination.require_id(raw_id, _NOT_FOUND)
    return found(repo.get_public(product_id=product_id), _NOT_FOUND)
