"""Lambda SnapStart's runtime hooks (docs/deploy.md, "SnapStart").

With SnapStart (``EnableSnapStart=true``) Lambda runs a function's init once, when a
version is published, snapshots the environment and resumes every new execution environment
of that version from the snapshot: whatever init left in memory is shared by all of them.
These hooks keep what must not be shared out of the snapshot, or renew it after a restore:

- before the snapshot: close this environment's database connection (a snapshot must not
  carry an open socket, nor a session every restored environment would think its own) and
  forget the pooled HTTP clients; import boto3, so that restored environments do not pay for
  it (under SnapStart Lambda hands the function its credentials through the container
  endpoint, not the environment, so the first database connection signs its IAM token with
  botocore: nexus.db.iam);
- after a restore: the same closing again (the next query connects afresh), new boto3
  clients, sessions and credentials, a new Secrets Manager provider (its value cache with
  it) and a new Stripe HTTP session, and ``random`` re-seeded from the OS (botocore's retry
  jitter draws from it). ``uuid.uuid4``, ``secrets``, ``os.urandom`` and bcrypt's salts read
  the kernel's generator, which Lambda re-seeds on restore. The parsed settings stay: they are
  the function's environment variables, the same in every restored environment.

Each hook touches only modules this environment has already imported (a module imported
after the restore starts fresh anyway), so registering costs the authorizer no psycopg or
boto3 import. ``snapshot_restore_py`` is part of Lambda's Python runtime; where it is absent
(locally, in the tests, in ``make bench``) :func:`register` does nothing and costs one failed
import. The after-restore hook must finish within Lambda's 10 s: it makes no network call.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def _close_database() -> None:
    if "nexus.db" in sys.modules:
        from nexus import db

        db.close()


def _forget_network_clients() -> None:
    if "boto3" in sys.modules:
        import boto3

        boto3.DEFAULT_SESSION = None  # and with it the credentials it resolved
    if "nexus.aws" in sys.modules:
        from nexus import aws

        aws.cache_clear()
    if "nexus.secrets" in sys.modules:
        from nexus import secrets

        secrets.cache_clear()
    if "nexus.payments.stripe" in sys.modules:
        from nexus.payments import stripe

        stripe.close_session()


def _reseed_random() -> None:
    if "random" in sys.modules:
        import random

        random.seed()  # from os.urandom


def _import_boto3() -> None:
    importlib.import_module("boto3")


def _run(steps: tuple[Callable[[], None], ...]) -> None:
    """Every step, even after one fails: a hook that raises fails the snapshot or the
    restore, and the steps after it (a re-seed, new credentials) would not run."""
    for step in steps:
        try:
            step()
        except Exception:  # noqa: BLE001 - logged; the other steps still run
            from nexus.observability import logger

            logger.exception("SnapStart hook step failed", extra={"step": step.__name__})


def before_snapshot() -> None:
    _run((_close_database, _forget_network_clients, _import_boto3))


def after_restore() -> None:
    _run((_close_database, _forget_network_clients, _reseed_random))


def register() -> bool:
    """Register the hooks with Lambda's runtime, once per process (calling again adds
    nothing); False where the runtime's ``snapshot_restore_py`` is not installed."""
    try:
        import snapshot_restore_py
    except ImportError:
        return False
    if not any(entry[0] is after_restore for entry in snapshot_restore_py.get_after_restore()):
        snapshot_restore_py.register_before_snapshot(before_snapshot)
        snapshot_restore_py.register_after_restore(after_restore)
    return True
