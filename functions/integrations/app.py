"""IntegrationsFunction: connected pages, on-demand syncs and the analytics reads (bearer)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.http import create_app, handle, identity, responses
from nexus.integrations import service
from nexus.integrations.models import (
    Integration,
    IntegrationIn,
    IntegrationList,
    IntegrationPatch,
    MetricList,
    Queued,
    RunList,
    SyncIn,
)
from nexus.observability import logger

app = create_app()

IdQuery = Annotated[str | None, Query(max_length=64)]
DateQuery = Annotated[date | None, Query()]


@app.post("/integrations", responses=responses(201, errors=(400, 409, 413, 422, 503)))
def create_integration(body: IntegrationIn) -> Response[Integration]:
    integration = service.create(identity(app), body)
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=integration)


@app.get("/integrations", responses=responses(200, errors=(503,)))
def list_integrations() -> IntegrationList:
    return service.list_all(identity(app))


@app.patch(
    "/integrations/<integration_id>",
    responses=responses(200, errors=(400, 404, 413, 422, 503)),
)
def update_integration(integration_id: str, body: IntegrationPatch) -> Integration:
    return service.update(identity(app), integration_id, body)


@app.delete("/integrations/<integration_id>", responses=responses(204, errors=(404, 503)))
def delete_integration(integration_id: str) -> Response[None]:
    service.delete(identity(app), integration_id)
    return Response(status_code=204)


@app.post(
    "/integrations/<integration_id>/sync",
    responses=responses(202, errors=(400, 404, 409, 413, 422, 503)),
)
def sync_integration(integration_id: str, body: SyncIn | None = None) -> Response[Queued]:
    queued = service.sync(identity(app), integration_id, body)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=queued)


@app.get("/analytics/metrics", responses=responses(200, errors=(422, 503)))
def analytics_metrics(
    integration_id: IdQuery = None,
    content_id: Annotated[str | None, Query(max_length=255)] = None,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: DateQuery = None,
) -> MetricList:
    return service.metrics(identity(app), integration_id, content_id, from_, to)


@app.get("/analytics/runs", responses=responses(200, errors=(422, 503)))
def analytics_runs(
    integration_id: IdQuery = None,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: DateQuery = None,
) -> RunList:
    return service.runs(identity(app), integration_id, from_, to)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(app, event, context)
