"""IntegrationsFunction: connected pages, on-demand syncs and the analytics reads (bearer)."""

from datetime import date
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from nexus.http import Caller, create_app, handle, responses
from nexus.integrations import service
from nexus.integrations.models import (
    DateRange,
    Integration,
    IntegrationIdFilter,
    IntegrationIn,
    IntegrationList,
    IntegrationPatch,
    MetricList,
    Queued,
    RunList,
    SyncIn,
)
from nexus.models.common import Text, parse
from nexus.observability import logger

app = create_app()

IdQuery = Annotated[IntegrationIdFilter, Query()]
FromQuery = Annotated[date | None, Query(alias="from")]
ToQuery = Annotated[date | None, Query()]


def _dates(start: date | None, end: date | None) -> DateRange:
    return parse(DateRange, {"from": start, "to": end}, loc=("query",))


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
def analytics_metrics(
    who: Caller,
    integration_id: IdQuery = None,
    content_id: Annotated[Text | None, Query(max_length=255)] = None,
    from_: FromQuery = None,
    to: ToQuery = None,
) -> MetricList:
    return service.metrics(who, integration_id, content_id, _dates(from_, to))


@app.get("/analytics/runs", responses=responses(200, errors=(422, 503)))
def analytics_runs(
    who: Caller,
    integration_id: IdQuery = None,
    from_: FromQuery = None,
    to: ToQuery = None,
) -> RunList:
    return service.runs(who, integration_id, _dates(from_, to))


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(app, event, context)
