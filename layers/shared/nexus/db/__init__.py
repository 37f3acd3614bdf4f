"""Database access: one lazily created psycopg connection per execution environment.

- ``prepare_threshold=None`` and no session ``SET``: RDS Proxy pins a client to one database
  connection when it sees prepared statements or session state.
- Autocommit connection; a unit of work is one short explicit transaction (:func:`run`) or,
  when it is a single statement, just that statement (one round trip): :func:`fetch_one`,
  :func:`fetch_all` (rows as dataclasses or pydantic models) and :func:`execute`.
  Repositories call these; nothing else in the layer touches psycopg.
- A broken connection is replaced on the next call; when the database cannot be reached the
  caller gets :class:`~nexus.errors.ServiceUnavailable` (503 + Retry-After), never a hang
  (``connect_timeout`` of at most 3 s, TCP keepalives).
- Each function logs in as its own role (``DB_USER``), whose ``statement_timeout``,
  ``lock_timeout`` and ``idle_in_transaction_session_timeout`` the migrations set on the role
  (0002_roles.sql): a statement that waits too long for a lock or runs too long is cancelled
  by the server and becomes the same 503 (:func:`run`), without a session ``SET``.
- Where: ``DATABASE_URL`` (locally, tests) is the owner's URL; with ``DB_USER`` set too, the
  connection goes to that server and database as that role, without a password. On AWS,
  ``DB_HOST`` (RDS Proxy) with a 15-minute IAM token for ``DB_USER``; the migration alone
  sets ``DB_SECRET_ARN`` and logs in as the owner with the master secret's password.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from typing import Any, LiteralString

import psycopg
from psycopg import sql
from psycopg.rows import RowFactory, class_row, dict_row

from nexus.errors import ServiceUnavailable
from nexus.observability import logger
from nexus.settings import Settings, get_settings

Conn = psycopg.Connection[dict[str, Any]]
Query = LiteralString | sql.Composed | sql.SQL
Params = Sequence[Any] | dict[str, Any] | None

# One connection per thread: a Lambda execution environment runs one thread, and the local
# stack runs each emulated execution environment on its own worker thread.
_local = threading.local()


def _iam_token(settings: Settings) -> str:
    """An RDS IAM authentication token (valid 15 minutes, signed locally: no network call;
    see nexus.db.iam for why not with boto3)."""
    from nexus.db.iam import token_from_environment

    assert settings.db_host and settings.db_user
    signed = token_from_environment(
        settings.db_host, settings.db_port, settings.db_user, settings.aws_region
    )
    if signed is not None:
        return signed
    # No credentials in the environment (an operator's profile): boto3's credential chain.
    import boto3

    client = boto3.client("rds", region_name=settings.aws_region)
    token: str = client.generate_db_auth_token(
        DBHostname=settings.db_host, Port=settings.db_port, DBUsername=settings.db_user
    )
    return token


def _password(settings: Settings) -> str:
    if settings.db_secret_arn:
        # The migration's owner login (straight to the cluster): the RDS-managed master
        # secret, a JSON document with the current password.
        from nexus.secrets import resolve_secret

        secret = resolve_secret(None, settings.db_secret_arn, name="DB_SECRET_ARN")
        return str(json.loads(secret)["password"])
    return _iam_token(settings)


def _as_role(database_url: str, role: str | None) -> str:
    """DATABASE_URL's server and database, logged in as ``role`` (no password: the roles
    have none); DATABASE_URL itself when no role is set."""
    if not role:
        return database_url
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    info.pop("password", None)
    info["user"] = role
    return psycopg.conninfo.make_conninfo("", **info)


def _conninfo(settings: Settings) -> dict[str, Any]:
    if settings.database_url:
        return {"conninfo": _as_role(settings.database_url, settings.db_user)}
    if settings.db_host and settings.db_user:
        return {
            "conninfo": "",
            "host": settings.db_host,
            "port": settings.db_port,
            "dbname": settings.db_name,
            "user": settings.db_user,
            "password": _password(settings),
            "sslmode": "require",
        }
    raise ServiceUnavailable("database is not configured")


def connect(settings: Settings | None = None) -> Conn:
    settings = settings or get_settings()
    params = _conninfo(settings)
    conninfo = params.pop("conninfo")
    return psycopg.connect(
        conninfo,
        autocommit=True,
        prepare_threshold=None,
        row_factory=dict_row,
        connect_timeout=settings.db_connect_timeout,
        keepalives=1,
        keepalives_idle=30,
        keepalives_interval=5,
        keepalives_count=3,
        application_name="nexus",
        **params,
    )


# What the server raises when a role's lock_timeout or statement_timeout ends a statement.
TIMED_OUT = (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled)


def _unavailable(exc: Exception) -> ServiceUnavailable:
    # The error's class and SQLSTATE only: its text can quote the statement.
    message = "database timed out" if isinstance(exc, TIMED_OUT) else "database unavailable"
    logger.warning(
        message, extra={"error": type(exc).__name__, "sqlstate": getattr(exc, "sqlstate", None)}
    )
    return ServiceUnavailable(
        "The database is briefly unavailable; retry shortly.",
        retry_after=get_settings().db_retry_after_seconds,
    )


def get_connection() -> Conn:
    """This thread's connection; a new one when it is gone or was made for other settings
    (the tests and the local tools change the environment between calls)."""
    settings = get_settings()
    conn: Conn | None = getattr(_local, "conn", None)
    fresh = getattr(_local, "settings", None) is settings
    if conn is not None and fresh and not conn.closed and not conn.broken:
        return conn
    if conn is not None:
        close()
    try:
        conn = connect(settings)
    except psycopg.OperationalError as exc:
        raise _unavailable(exc) from exc
    _local.conn, _local.settings = conn, settings
    return conn


def close() -> None:
    conn: Conn | None = getattr(_local, "conn", None)
    _local.conn = _local.settings = None
    if conn is not None:
        conn.close()


def _attempt[T](conn: Conn, work: Callable[[Conn], T], atomic: bool) -> T:
    if atomic:
        with conn.transaction():
            return work(conn)
    return work(conn)


def run[T](work: Callable[[Conn], T], *, atomic: bool = True) -> T:
    """Run ``work`` as one unit: in an explicit transaction, or with ``atomic=False`` as a
    single autocommitted statement (one round trip: no BEGIN/COMMIT).

    Runs once more on a fresh connection if a reused one was found dead (RDS Proxy closes
    idle clients); ``work`` must therefore be safe to repeat after a failure. A statement
    the server cancelled (the role's lock or statement timeout, :data:`TIMED_OUT`) is not
    repeated: it is a 503 at once, as is any other failure of a live connection.
    """
    conn = get_connection()
    try:
        return _attempt(conn, work, atomic)
    except psycopg.OperationalError as exc:
        if isinstance(exc, TIMED_OUT) or not (conn.broken or conn.closed):
            raise _unavailable(exc) from exc
        close()
    fresh = get_connection()
    try:
        return _attempt(fresh, work, atomic)
    except psycopg.OperationalError as exc:
        if fresh.broken or fresh.closed:
            close()
        raise _unavailable(exc) from exc


def single[T](work: Callable[[Conn], T]) -> T:
    """One statement, autocommitted: a single round trip to the database."""
    return run(work, atomic=False)


def _rows[R](row: type[R] | RowFactory[R]) -> RowFactory[R]:
    return class_row(row) if isinstance(row, type) else row


# Single statements, autocommitted (one round trip each). Rows come back as ``row``: a
# dataclass or pydantic model (psycopg's class_row), or a psycopg row factory.
def fetch_one[R](row: type[R] | RowFactory[R], query: Query, params: Params = None) -> R | None:
    return single(
        lambda conn: conn.cursor(row_factory=_rows(row)).execute(query, params).fetchone()
    )


def fetch_all[R](row: type[R] | RowFactory[R], query: Query, params: Params = None) -> list[R]:
    return single(
        lambda conn: conn.cursor(row_factory=_rows(row)).execute(query, params).fetchall()
    )


def execute(query: Query, params: Params = None) -> int:
    """A statement whose rows nobody reads; returns how many rows it touched."""
    return single(lambda conn: conn.execute(query, params).rowcount)
