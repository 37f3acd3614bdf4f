"""ProductsFunction: the seller's own products (bearer)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.http import Caller, create_app, handle, responses
from nexus.observability import logger
from nexus.pagination import PageQuery
from nexus.products import service
from nexus.products.models import (
    FileUploadIn,
    FileUploadOut,
    ProductIn,
    ProductOut,
    ProductPage,
    ProductPatch,
)

app = create_app()


@app.post("/products", status_code=201, responses=responses(201, errors=(400, 404, 413, 422, 503)))
def create_product(body: ProductIn, who: Caller) -> ProductOut:
    return service.create(who, body)


@app.get("/products", responses=responses(200, errors=(422, 503)))
def list_products(who: Caller, query: Annotated[PageQuery, Query()]) -> ProductPage:
    return service.list_page(who, query.limit, query.cursor)


@app.get("/products/<product_id>", responses=responses(200, errors=(404, 503)))
def get_product(product_id: str, who: Caller) -> ProductOut:
    return service.get(who, product_id)


@app.patch("/products/<product_id>", responses=responses(200, errors=(400, 404, 413, 422, 503)))
def update_product(product_id: str, body: ProductPatch, who: Caller) -> ProductOut:
    return service.update(who, product_id, body)


@app.delete("/products/<product_id>", status_code=204, responses=responses(204, errors=(404, 503)))
def delete_product(product_id: str, who: Caller) -> None:
    service.delete(who, product_id)


@app.put("/products/<product_id>/file", responses=responses(200, errors=(400, 404, 413, 422, 503)))
def upload_product_file(product_id: str, body: FileUploadIn, who: Caller) -> FileUploadOut:
    return service.start_upload(who, product_id, body)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(app, event, context)
