"""Powertools Logger and Metrics, created once per execution environment.

No function creates a Powertools ``Tracer``: it loads the X-Ray SDK (225-364 ms measured
here) and nothing here adds subsegments; Lambda's active tracing (``Tracing: Active``)
records every invocation without it. The service name (the logs' ``service`` key and the
metrics' ``service`` dimension) comes from ``POWERTOOLS_SERVICE_NAME``, which the template's
Globals set; the metrics namespace is a constant because the template's dashboard names it.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

METRICS_NAMESPACE = "NexusSales"

logger = Logger(log_uncaught_exceptions=True)
metrics = Metrics(namespace=METRICS_NAMESPACE)
