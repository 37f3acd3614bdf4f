"""CheckoutFunction: the public store and checkout, Stripe's webhook, and the seller's order
views, refunds, ledger and sales funnel (bearer)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.checkout import service
from nexus.checkout.models import (
    BuyerOrder,
    CheckoutIn,
    Funnel,
    FunnelQuery,
    Order,
    OrderPage,
    OrderQuery,
    OrderSummary,
    StripeEvent,
    SummaryQuery,
    WebhookResult,
)
from nexus.http import Caller, create_app, handle, responses, visitor
from nexus.observability import logger
from nexus.products import service as products
from nexus.products.models import StoreProductOut

app = create_app()
# Bodies read raw (the webhook's signature covers its exact bytes): documented in OpenAPI.
RAW_BODIES = {("POST", "/webhooks/stripe"): StripeEvent}


@app.get("/store/products/<product_id>", responses=responses(200, errors=(404, 503)))
def store_product(product_id: str) -> StoreProductOut:
    return products.store_view(product_id, visitor(app))


@app.post("/checkout", responses=responses(201, 200, errors=(400, 404, 409, 413, 422, 503)))
def checkout(
    body: CheckoutIn,
    idempotency_key: Annotated[
        str | None, Header(alias="idempotency-key", min_length=1, max_length=255)
    ] = None,
) -> Response[Order]:
    order, created = service.checkout(body, idempotency_key)
    # The one route whose status depends on the outcome (a replayed key answers 200).
    return Response(
        status_code=201 if created else 200,
        content_type=content_types.APPLICATION_JSON,
        body=order,
    )


@app.get("/checkout/orders/<order_id>", responses=responses(200, errors=(404, 503)))
def buyer_order(order_id: str) -> BuyerOrder:
    return service.buyer_order(order_id)


@app.post(
    "/webhooks/stripe",
    responses=responses(200, errors=(400, 401, 413, 422, 503)),
    description="Sent by Stripe, signed with the endpoint's signing secret; the body is a"
    " Stripe event. Every event that verifies is answered 200, applied or not.",
)
def stripe_webhook(
    stripe_signature: Annotated[
        str | None, Header(alias="stripe-signature", max_length=4096)
    ] = None,
) -> WebhookResult:
    # nexus.http.handle has already decoded a base64 body; the signature covers these bytes.
    return service.stripe_webhook((app.current_event.body or "").encode(), stripe_signature)


@app.get("/orders", responses=responses(200, errors=(422, 503)))
def seller_orders(who: Caller, query: Annotated[OrderQuery, Query()]) -> OrderPage:
    return service.seller_orders(who, query.status, query.limit, query.cursor)


@app.get("/orders/summary", responses=responses(200, errors=(422, 503)))
def seller_summary(who: Caller, query: Annotated[SummaryQuery, Query()]) -> OrderSummary:
    return service.summary(who, query)


@app.get("/analytics/funnel", responses=responses(200, errors=(404, 422, 503)))
def sales_funnel(who: Caller, query: Annotated[FunnelQuery, Query()]) -> Funnel:
    return service.funnel(who, query)


@app.get("/orders/<order_id>", responses=responses(200, errors=(404, 503)))
def seller_order(order_id: str, who: Caller) -> Order:
    return service.seller_order(who, order_id)


@app.post("/orders/<order_id>/refund", responses=responses(202, errors=(400, 404, 409, 422, 503)))
def refund_order(order_id: str, who: Caller) -> Response[Order]:
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body=service.refund(who, order_id),
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(app, event, context)
