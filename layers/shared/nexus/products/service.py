"""Seller product management, the product's file and the public store view.

A product's file arrives in two steps: ``start_upload`` hands out a presigned PUT and records
it as pending; the first read after the object is in the bucket (one HEAD, only for a product
with a pending upload) makes it the product's file. Until then, and whenever the bucket
cannot be asked, a read shows the file the product had before (or none).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from nexus import files, pagination
from nexus.errors import NotFound, found
from nexus.identity import Identity, Visitor
from nexus.observability import logger
from nexus.pagination import Cursor
from nexus.products import visitors
from nexus.products.models import (
    FileUploadIn,
    FileUploadOut,
    ProductIn,
    ProductOut,
    ProductPage,
    ProductPatch,
    StoreProductOut,
)
from nexus.products.repository import OrganizationGone, ProductRepository
from nexus.settings import get_settings

_NOT_FOUND = "No such product."
REPOSITORY = ProductRepository()
# A pending upload still not in the bucket this long after its URL expired is forgotten, so
# reads stop asking for it (a PUT S3 accepted before the expiry may still be running).
ABANDONED_AFTER = timedelta(days=1)


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
    settled = [settle(who, row, repo=repo) for row in rows]
    return pagination.page(ProductPage, settled, limit)


def get(who: Identity, raw_id: str, *, repo: ProductRepository = REPOSITORY) -> ProductOut:
    product_id = pagination.require_id(raw_id, _NOT_FOUND)
    row = found(repo.get(organization_id=who.organization_id, product_id=product_id), _NOT_FOUND)
    return settle(who, row, repo=repo)


def update(
    who: Identity, raw_id: str, body: ProductPatch, *, repo: ProductRepository = REPOSITORY
) -> ProductOut:
    product_id = pagination.require_id(raw_id, _NOT_FOUND)
    row = found(
        repo.update(
            organization_id=who.organization_id, product_id=product_id, changes=body.changes()
        ),
        _NOT_FOUND,
    )
    return settle(who, row, repo=repo)


def start_upload(
    who: Identity, raw_id: str, body: FileUploadIn, *, repo: ProductRepository = REPOSITORY
) -> FileUploadOut:
    """A presigned PUT for the product's (new) file, recorded as its pending upload."""
    product_id = pagination.require_id(raw_id, _NOT_FOUND)
    key = files.new_key(product_id, body.filename)
    # Presigned first (no network; a 503 when no bucket is configured), recorded second.
    signed = files.upload(key, content_type=body.content_type, size=body.size)
    recorded = repo.start_upload(
        organization_id=who.organization_id,
        product_id=product_id,
        key=key,
        filename=body.filename,
        size=body.size,
        content_type=body.content_type,
    )
    if not recorded:
        raise NotFound(_NOT_FOUND)
    return FileUploadOut(
        upload_url=signed.url, method="PUT", headers=signed.headers, expires_in=signed.expires_in
    )


def settle(
    who: Identity, product: ProductOut, *, repo: ProductRepository = REPOSITORY
) -> ProductOut:
    """``product`` as it should be shown: its pending upload, once in the bucket with the
    declared size, becomes its file. A product without a pending upload (or a stack without
    a bucket) costs nothing; a bucket that cannot be asked leaves the product as it was."""
    pending = product.pending_upload()
    if pending is None or not files.configured():
        return product
    try:
        size = files.size_of(pending.key)
    except files.CheckFailed as exc:
        logger.warning(
            "could not check a product's upload; showing its previous file",
            extra={"product_id": product.id, "error": str(exc)},
        )
        return product
    if size == pending.size:
        promoted = repo.promote_upload(
            organization_id=who.organization_id, product_id=product.id, key=pending.key
        )
        return promoted or product
    if size is None and _abandoned(pending.started_at):
        repo.forget_upload(
            organization_id=who.organization_id, product_id=product.id, key=pending.key
        )
    elif size is not None:
        logger.warning(
            "a product's upload has another size than declared; not delivered",
            extra={"product_id": product.id, "size": size, "declared": pending.size},
        )
    return product


def _abandoned(started_at: datetime) -> bool:
    expired = started_at + timedelta(seconds=get_settings().file_upload_seconds)
    return datetime.now(UTC) > expired + ABANDONED_AFTER


def delete(who: Identity, raw_id: str, *, repo: ProductRepository = REPOSITORY) -> None:
    product_id = pagination.require_id(raw_id, _NOT_FOUND)
    if not repo.soft_delete(organization_id=who.organization_id, product_id=product_id):
        raise NotFound(_NOT_FOUND)


def store_view(
    raw_id: str, visitor: Visitor | None = None, *, repo: ProductRepository = REPOSITORY
) -> StoreProductOut:
    """The public product page; a page shown to ``visitor`` is counted for the seller's funnel
    (once per visitor per UTC day). Counting never fails the page: a failure is logged and
    the page answers as it would uncounted."""
    product_id = pagination.require_id(raw_id, _NOT_FOUND)
    key = _visitor_key(visitor, product_id) if visitor is not None else None
    if key is None:
        return found(repo.get_public(product_id=product_id), _NOT_FOUND)
    day, digest = key
    product, failure = repo.get_public_counted(product_id=product_id, day=day, visitor=digest)
    if failure is not None:
        logger.warning(
            "store page view not counted", extra={"product_id": product_id, "error": failure}
        )
    return found(product, _NOT_FOUND)


def _visitor_key(visitor: Visitor, product_id: str) -> tuple[date, bytes] | None:
    """Today's (UTC) key of the visitor; None, logged, when it cannot be made (the secret is
    missing or Secrets Manager cannot be reached). Never the IP or User-Agent in a log."""
    day = datetime.now(UTC).date()
    try:
        return day, visitors.visitor_key(visitor, day)
    except Exception as exc:  # noqa: BLE001 - a view not counted must not fail the page
        logger.warning(
            "store page view not counted: no visitor key",
            extra={"product_id": product_id, "error": type(exc).__name__},
        )
        return None
