"""IntegrationsFunction: connected pages, on-demand syncs and the analytics reads (bearer)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.http import Caller, create_app, handle, responses
from nexus.integrations import service
from nexus.integrations.models import (
    AnalyticsQuery,
    Integration,
    IntegrationIn,
    IntegrationList,
    IntegrationPatch,
    MetricPage,
    MetricsQuery,
    Queued,
    RunList,
    SyncIn,
)
from nexus.observability import logger

app = create_app()


@app.post(
    "/integrations", status_code=201, responses=responses(201, errors=(400, 409, 413, 422, 503))
)
def create_integration(body: IntegrationIn, who: Caller) -> Integration:
    return service.create(who, body)


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


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(app, event, context)
