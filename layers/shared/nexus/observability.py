"""Powertools Logger and Metrics, created once; the Tracer only on demand.

``Tracer()`` loads the X-Ray SDK (225-364 ms measured here), so API handlers and the
authorizer never create it; Lambda's active tracing still records their segments.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

logger = Logger(service="nexus", log_uncaught_exceptions=True)
metrics = Metrics(namespace="NexusSales", service="nexus")


@lru_cache(maxsize=1)
def get_tracer() -> Tracer:
    from aws_lambda_powertools import Tracer

    return Tracer(service="nexus")
