"""Powertools Logger and Metrics, created once per execution environment.

No function creates a Powertools ``Tracer``: it loads the X-Ray SDK (225-364 ms measured
here) and nothing here adds subsegments; Lambda's active tracing (``Tracing: Active``)
records every invocation without it. The service name (the logs' ``service`` key and the
metrics' ``service`` dimension) comes from ``POWERTOOLS_SERVICE_NAME``, which the template's
Globals set; the metrics namespace is a constant because the template's dashboard names it.
Importing it also registers the SnapStart hooks (:mod:`nexus.snapstart`).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

from nexus import snapstart

METRICS_NAMESPACE = "NexusSales"

logger = Logger(log_uncaught_exceptions=True)
metrics = Metrics(namespace=METRICS_NAMESPACE)

# Every function imports this module, so SnapStart's runtime hooks are registered here (a
# no-op where Lambda's snapshot_restore_py is absent).
snapstart.register()
