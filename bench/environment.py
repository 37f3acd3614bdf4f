"""Scoped changes to the process environment for a benchmark: each bench runs in the
``make bench`` process after the others, so whatever one sets (``DATABASE_URL`` pointing at
its scratch database, secrets, queue URLs, log level) must be undone before the next starts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Logger

from nexus.settings import get_settings


@contextmanager
def scoped_environment(values: dict[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` for the block; afterwards every name has its old value
    again (or is unset if it was), and the settings cache is cleared both times."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old
        get_settings.cache_clear()


@contextmanager
def log_level(logger: Logger, level: str) -> Iterator[None]:
    """Quieten the Powertools logger for the block (one INFO line per created order would
    swamp the figures), then give it its old level back."""
    saved = logger.log_level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(saved)
