"""IntegrationsFunction: connected pages, on-demand syncs and the analytics reads (bearer)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.exports import service as exports
from nexus.exports.models import Export, ExportCreated, ExportIn
from nexus.http import Caller, create_app, handle, responses
from nexus.integrations import service
from nexus.integrations.models import (
    AccountList,
    AnalyticsQuery,
    AnalyticsSummaryQuery,
    CallbackIn,
    ConnectIn,
    Connection,
    ConnectStarted,
    ContentPage,
    ContentQuery,
    Integration,
    IntegrationIn,
    IntegrationList,
    IntegrationPatch,
    MetricPage,
    MetricsQuery,
    Queued,
    RunList,
    Summary,
    SyncIn,
)
from nexus.meta import compliance, connect
from nexus.observability import logger

app = create_app()


@app.post(
    "/integrations",
    responses=responses(201, 200, errors=(400, 409, 413, 422, 503)),
    description="A Page by its pasted token (v1), or an account of a connection"
    " (connection_id): 201 when connected anew, 200 when a needs_reauth integration of it"
    " takes the new token.",
)
def create_integration(body: IntegrationIn, who: Caller) -> Response[Integration]:
    integration, created = service.create(who, body)
    return Response(
        status_code=201 if created else 200,
        content_type=content_types.APPLICATION_JSON,
        body=integration,
    )


@app.post("/integrations/connect", responses=responses(200, errors=(400, 413, 422, 503)))
def connect_start(body: ConnectIn, who: Caller) -> ConnectStarted:
    return connect.start(who, body)


@app.post(
    "/integrations/connect/callback",
    responses=responses(200, errors=(400, 413, 422, 502, 503)),
    description="Redeems the dialog's code and state: the accounts the Meta user can connect"
    " (tokens stay on the server). 422 for a bad state or a declined required permission.",
)
def connect_callback(body: CallbackIn, who: Caller) -> Connection:
    return connect.callback(who, body)


@app.get("/integrations", responses=responses(200, errors=(503,)))
def list_integrations(who: Caller) -> IntegrationList:
    return service.list_all(who)


@app.patch(
    "/integrations/<integration_id>",
    responses=responses(200, errors=(400, 404, 413, 422, 503)),
)
def update_integration(integration_id: str, body: IntegrationPatch, who: Caller) -> Integration:
    return service.update(who, integration_id, body)


@app.delete(
    "/integrations/<integration_id>",
    status_code=204,
    responses=responses(204, errors=(404, 503)),
)
def delete_integration(integration_id: str, who: Caller) -> None:
    service.delete(who, integration_id)


@app.post(
    "/integrations/<integration_id>/sync",
    status_code=202,
    responses=responses(202, errors=(400, 404, 409, 413, 422, 503)),
)
def sync_integration(integration_id: str, who: Caller, body: SyncIn | None = None) -> Queued:
    return service.sync(who, integration_id, body)


@app.get("/analytics/metrics", responses=responses(200, errors=(422, 503)))
def analytics_metrics(who: Caller, query: Annotated[MetricsQuery, Query()]) -> MetricPage:
    return service.metrics(who, query)


@app.get("/analytics/runs", responses=responses(200, errors=(422, 503)))
def analytics_runs(who: Caller, query: Annotated[AnalyticsQuery, Query()]) -> RunList:
    return service.runs(who, query)


@app.get(
    "/analytics/summary",
    responses=responses(200, errors=(422, 503)),
    description="Per bucket, each metric's increase summed over content (a first observation"
    " counts whole, a decrease negative; reach is not summed), and the top content by views"
    " increase in the range.",
)
def analytics_summary(who: Caller, query: Annotated[AnalyticsSummaryQuery, Query()]) -> Summary:
    return service.summary(who, query)


@app.get("/analytics/content", responses=responses(200, errors=(422, 503)))
def analytics_content(who: Caller, query: Annotated[ContentQuery, Query()]) -> ContentPage:
    return service.content(who, query)


@app.get("/analytics/accounts", responses=responses(200, errors=(422, 503)))
def analytics_accounts(who: Caller, query: Annotated[AnalyticsQuery, Query()]) -> AccountList:
    return service.accounts(who, query)


@app.post(
    "/analytics/exports",
    status_code=202,
    responses=responses(202, errors=(400, 413, 422, 503)),
    description="Exports the metric rows of a range (the reads' rules) as a CSV, of any size:"
    " 202 at once; GET /analytics/exports/{export_id} says when it is ready and gives the link.",
)
def create_export(body: ExportIn, who: Caller) -> ExportCreated:
    return exports.create(who, body)


@app.get(
    "/analytics/exports/<export_id>",
    responses=responses(200, errors=(404, 503)),
    description="An export's status; while it is ready, url is a presigned GET of the CSV (valid"
    " 15 minutes at most, never past expires_at; ask again for a fresh one). After expires_at"
    " the export is expired and has no url.",
)
def get_export(export_id: str, who: Caller) -> Export:
    return exports.get(who, export_id)


# -- Meta's compliance callbacks (public: Meta signs them; contract §9) ----------------------

# The routes whose body is a form (Meta's signed_request), not JSON: nexus.http.handle lets
# only these take application/x-www-form-urlencoded; OpenAPI documents the form.
FORM_ROUTES = frozenset(
    {("POST", "/webhooks/meta/deauthorize"), ("POST", "/webhooks/meta/data-deletion")}
)
RAW_BODIES = {
    route: (compliance.SignedRequestForm, compliance.FORM_MEDIA_TYPE) for route in FORM_ROUTES
}


@app.post(
    "/webhooks/meta/deauthorize",
    responses=responses(200, errors=(400, 401, 413, 503)),
    description="Sent by Meta when a user removes the app: a form with a signed_request.",
)
def meta_deauthorize() -> compliance.Deauthorized:
    return compliance.deauthorize(_form_body())


@app.post(
    "/webhooks/meta/data-deletion",
    responses=responses(200, errors=(400, 401, 413, 503)),
    description="Sent by Meta when a user asks for their data to be deleted: a form with a"
    " signed_request. Answers Meta's {url, confirmation_code}.",
)
def meta_data_deletion() -> compliance.DeletionAccepted:
    return compliance.data_deletion(_form_body())


@app.get(
    "/meta/data-deletion/<confirmation_code>",
    responses=responses(200, errors=(404, 503)),
)
def meta_data_deletion_status(confirmation_code: str) -> compliance.DeletionStatus:
    return compliance.deletion_status(confirmation_code)


def _form_body() -> bytes:
    # nexus.http.handle has checked the Content-Type (FORM_ROUTES) and decoded a base64 body
    # (API Gateway base64-encodes a form); the signed_request is read from these bytes.
    return (app.current_event.body or "").encode()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(app, event, context, form_routes=FORM_ROUTES)
