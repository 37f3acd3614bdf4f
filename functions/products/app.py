"""ProductsFunction: the seller's own products (bearer)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.http import create_app, handle, identity, responses
from nexus.observability import logger
from nexus.pagination import DEFAULT_LIMIT, MAX_LIMIT
from nexus.products import service
from nexus.products.models import ProductIn, ProductOut, ProductPage, ProductPatch

app = create_app()


@app.post("/products", responses=responses(201, errors=(400, 413, 422, 503)))
def create_product(body: ProductIn) -> Response[ProductOut]:
    product = service.create(identity(app), body)
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=product)


@app.get("/products", responses=responses(200, errors=(422, 503)))
def list_products(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> ProductPage:
    return service.list_page(identity(app), limit, cursor)


@app.get("/products/<product_id>", responses=responses(200, errors=(404, 503)))
def get_product(product_id: str) -> ProductOut:
    return service.get(identity(app), product_id)


@app.patch("/products/<product_id>", responses=responses(200, errors=(400, 404, 413, 422, 503)))
def update_product(product_id: str, body: ProductPatch) -> ProductOut:
    return service.update(identity(app), product_id, body)


@app.delete("/products/<product_id>", responses=responses(204, errors=(404, 503)))
def delete_product(product_id: str) -> Response[None]:
    service.delete(identity(app), product_id)
    return Response(status_code=204)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(app, event, context)
