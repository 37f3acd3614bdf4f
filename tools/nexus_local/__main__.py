"""`make local`: the whole application on this machine, read from template.yaml.

- HTTP API on 127.0.0.1:3000 (PORT) through the template's routes and authorizer;
- Lambda Invoke API on 127.0.0.1:3001 (LAMBDA_PORT), like ``sam local start-lambda``;
- SQS endpoint on 127.0.0.1:4566 (SQS_PORT) with the template's queues by logical ID;
- the schedule and the SQS event source mapping as the template declares them;
- an embedded PostgreSQL whose data lives in .local/ (DATABASE_URL overrides);
- the Graph API at GRAPH_API_BASE_URL, else a sandbox Graph server with demo pages
  (GRAPH_SANDBOX_PORT, default 3002);
- Stripe's API at STRIPE_API_BASE_URL, else a sandbox Stripe with a payment page that sends
  signed webhooks to the HTTP API (STRIPE_SANDBOX_PORT, default 3004; nexus_local.stripe_sandbox);
- the web app (web/) on 127.0.0.1:8080 (WEB_PORT; WEB_BASE_URL follows it) with /api/* to
  the HTTP API, as the CloudFront distribution serves it (nexus_local.web);
- each function's execution environments as OS processes of their own (--isolation,
  LOCAL_ISOLATION), at most its ReservedConcurrentExecutions, else LOCAL_MAX_ENVIRONMENTS
  (default 4), each with the function's own environment variables (nexus_local.runtime).

Once up, it records where it listens in <data dir>/stack.json (read by make ops ARGS=--local,
make walkthrough and make invoke) and writes <data dir>/env.json for sam local --env-vars.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import socket
import sys
import threading
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import FrameType

from nexus_local import demo, logs, postgres, secrets, state, stripe_sandbox, web
from nexus_local.apigw import Gateway
from nexus_local.aws import LocalAws, use_local_endpoint
from nexus_local.events import Scheduler, SqsPoller
from nexus_local.fake_graph import FakeGraph, demo_pages
from nexus_local.fake_meta import demo_meta
from nexus_local.fake_stripe import FakeStripe
from nexus_local.lambda_api import make_lambda_server
from nexus_local.runtime import Runtime, common_variables
from nexus_local.schedules import next_fire, validate
from nexus_local.server import make_api_server
from nexus_local.template import ROOT, App, parse

log = logging.getLogger("nexus_local")


class StartError(Exception):
    pass


def _args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="make local", description=__doc__)
    parser.add_argument("--host", default=env("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("PORT", "3000")))
    parser.add_argument("--lambda-port", type=int, default=int(env("LAMBDA_PORT", "3001")))
    parser.add_argument("--sqs-port", type=int, default=int(env("SQS_PORT", "4566")))
    parser.add_argument("--graph-port", type=int, default=int(env("GRAPH_SANDBOX_PORT", "3002")))
    parser.add_argument("--stripe-port", type=int, default=stripe_sandbox.port())
    parser.add_argument("--web-port", type=int, default=web.port())
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(env("NEXUS_LOCAL_DIR", str(ROOT / ".local"))),
        help="where PostgreSQL data and generated dev secrets are kept (default .local/)",
    )
    parser.add_argument("--seed-demo", action="store_true", help="create a demo seller")
    parser.add_argument("--no-schedule", action="store_true", help="do not fire the schedule")
    parser.add_argument(
        "--isolation",
        choices=["process", "thread"],
        default=env("LOCAL_ISOLATION", "process"),
        help="each emulated execution environment an OS process (default, as on AWS) or a"
        " thread of this one (LOCAL_ISOLATION)",
    )
    return parser.parse_args(argv)


def _database_for_docker(url: str) -> str | None:
    """The database URL as a container reaches it; None for a Unix socket (the embedded
    server), which a container cannot reach."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    info = conninfo_to_dict(url)
    host = str(info.get("host") or "")
    if not host or host.startswith("/"):
        return None
    if "://" in url:
        return state.as_seen_from_docker(url)
    if host in ("127.0.0.1", "localhost"):
        info["host"] = state.DOCKER_HOST
    return make_conninfo("", **info)


def _email_from(app: App) -> str:
    """The sender the functions use (EMAIL_FROM, the template's EmailFromAddress), which the
    local SES must have verified."""
    return os.environ.get("EMAIL_FROM") or next(
        (
            f.environment["EMAIL_FROM"]
            for f in app.functions.values()
            if f.environment.get("EMAIL_FROM")
        ),
        "",
    )


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _free(host: str, port: int, what: str) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartError(
                    f"port {port} on {host} is already in use ({what}; stop the other process"
                    " or choose another port)"
                ) from exc
            raise StartError(f"cannot bind {host}:{port} for {what}: {exc}") from exc


class Stack:
    """Every part of the local stack, started in order and stopped in reverse."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sandbox = not os.environ.get("GRAPH_API_BASE_URL")
        self.stopping = threading.Event()
        self.pg: postgres.EmbeddedPostgres | None = None
        self.aws: LocalAws | None = None
        self.graph: FakeGraph | None = None
        self.stripe_sandbox = stripe_sandbox.wanted()
        self.stripe: FakeStripe | None = None
        self.sandboxes: list[FakeGraph | FakeStripe] = []  # stopped with the stack
        self.runtime: Runtime | None = None
        self.servers: list[ThreadingHTTPServer] = []
        self.web: web.WebServer | None = None
        # The servers whose serve_forever runs in a thread of its own: only those can be
        # shut down (shutdown() waits forever for a server that never served).
        self.serving: list[ThreadingHTTPServer] = []
        self.threads: list[threading.Thread] = []
        self.applied: list[str] = []
        self.values: dict[str, str] = {}
        self.demo_seeded = False
        self.state_path: Path | None = None
        self.sam_env_path: Path | None = None
        self.sam_database = False

    def check_ports(self) -> None:
        a = self.args
        _free(a.host, a.port, "HTTP API, PORT")
        _free(a.host, a.lambda_port, "Lambda invoke API, LAMBDA_PORT")
        _free(a.host, a.sqs_port, "SQS endpoint, SQS_PORT")
        if self.sandbox:
            _free(a.host, a.graph_port, "sandbox Graph API, GRAPH_SANDBOX_PORT")
        if self.stripe_sandbox:
            _free(a.host, a.stripe_port, "sandbox Stripe, STRIPE_SANDBOX_PORT")
        _free(a.host, a.web_port, "web app, WEB_PORT")

    def start(self) -> None:
        a = self.args
        template = parse()
        for schedule in template.schedules:
            validate(schedule.expression)  # a bad expression is a one-line start error
        # What every function's environment shares (POWERTOOLS_SERVICE_NAME among it), before
        # anything in this process creates the layer's Powertools Logger (the migrations).
        self._shared_environment(template)
        a.data_dir.mkdir(parents=True, exist_ok=True)
        database_url = os.environ.get("DATABASE_URL")
        if not database_url:
            self.pg = postgres.EmbeddedPostgres(a.data_dir / "pgdata")
            database_url = postgres.ensure_database(self.pg.url(), "nexus")
        self.applied = postgres.migrate_url(database_url)
        for key, value in secrets.load_or_create(a.data_dir / "secrets.json").items():
            os.environ[key] = value
        os.environ["DATABASE_URL"] = database_url

        self.aws = LocalAws(a.host, a.sqs_port)
        self.aws.start()
        use_local_endpoint(self.aws.url)
        # Bound before any function runs: its URL is their WEB_BASE_URL (links in emails,
        # Stripe's success_url, Meta's redirect_uri) and the template's WebBaseUrl (the files
        # bucket's CORS origin); its /api waits for the gateway.
        site = web.Site(files_origin=web.origin(self.aws.url))
        self.web = web.make_web_server(a.host, a.web_port, site)
        os.environ.setdefault("WEB_BASE_URL", self.web.base_url)
        self.servers = [self.web]  # closed by shutdown() even if the start goes no further
        self.values = {
            **self.aws.create_queues(template.queues),
            **self.aws.create_buckets(template.buckets),
        }
        self.app = parse(resources_values={**self.values, "WebBaseUrl": os.environ["WEB_BASE_URL"]})
        self.aws.apply_cors(self.app.bucket_cors)
        self.aws.verify_sender(_email_from(self.app))
        self._start_sandboxes()

        # Each function's own environment goes to its environments only (the runtime).
        self.runtime = Runtime(self.app, isolation=a.isolation)
        self.runtime.load_all()
        self.gateway = Gateway(self.app, self.runtime)
        self.web.gateway = self.gateway
        self.servers = [
            make_api_server(a.host, a.port, self.gateway),
            make_lambda_server(a.host, a.lambda_port, self.runtime),
            self.web,
        ]
        for source in self.app.sqs_sources:
            for _ in range(min(source.max_concurrency, self.runtime.limit(source.function_id))):
                poller = SqsPoller(
                    self.runtime,
                    source,
                    sqs=self.aws.client(),
                    queue_url=self.values[f"Ref:{source.queue_id}"],
                    queue_arn=self.values[f"GetAtt:{source.queue_id}.Arn"],
                    stop=self.stopping,
                )
                poller.start()
                self.threads.append(poller)
        if not a.no_schedule:
            for schedule in self.app.schedules:
                scheduler = Scheduler(self.runtime, schedule, self.stopping)
                scheduler.start()
                self.threads.append(scheduler)
        if a.seed_demo:
            demo.seed(database_url)
            self.demo_seeded = True

    def _start_sandboxes(self) -> None:
        a = self.args
        if self.sandbox:
            # With the demo Facebook app (Login dialog, tokens, Instagram): its secret is the
            # stack's META_APP_SECRET, its dialog on the same server.
            meta = demo_meta()
            os.environ.setdefault("META_APP_ID", meta.app_id)
            meta.app_id, meta.app_secret = os.environ["META_APP_ID"], os.environ["META_APP_SECRET"]
            self.graph = FakeGraph(demo_pages(), meta=meta)
            os.environ["GRAPH_API_BASE_URL"] = self.graph.start(a.graph_port)
            os.environ.setdefault("META_OAUTH_DIALOG_URL", os.environ["GRAPH_API_BASE_URL"])
            self.sandboxes.append(self.graph)
        if self.stripe_sandbox:  # with the stack's secrets; sets STRIPE_API_BASE_URL
            self.stripe = stripe_sandbox.start(a.host, a.stripe_port, self._urls()["api"])
            self.sandboxes.append(self.stripe)

    @staticmethod
    def _shared_environment(app: App) -> None:
        # Only Powertools' settings: the rest of what every function shares (DB_USER, the
        # empty placeholders) would change what this process's own work (the migrations, as
        # the schema owner) does; the environment (the developer's, or the stack's own
        # values) wins.
        for key, value in common_variables(app).items():
            if key.startswith("POWERTOOLS_"):
                os.environ.setdefault(key, value)

    def _urls(self) -> dict[str, str]:
        a = self.args
        host = "127.0.0.1" if a.host in ("0.0.0.0", "") else a.host
        return {
            "api": f"http://{host}:{a.port}",
            "lambda": f"http://{host}:{a.lambda_port}",
            "sqs": f"http://{host}:{a.sqs_port}",
        }

    def record(self) -> None:
        """Write where the stack listens (stack.json) and its values for sam local (env.json)."""
        urls = self._urls()
        queues = {q: self.values[f"Ref:{q}"] for q in self.app.queues}
        database_url = os.environ["DATABASE_URL"]
        self.state_path = state.write(
            self.args.data_dir,
            state.StackState(
                pid=os.getpid(),
                api_url=urls["api"],
                lambda_url=urls["lambda"],
                sqs_url=urls["sqs"],
                graph_url=os.environ["GRAPH_API_BASE_URL"],
                database_url=database_url,
                queues=queues,
                stripe_url=os.environ["STRIPE_API_BASE_URL"],
                web_url=self.web.base_url if self.web else "",
            ),
        )
        docker = state.as_seen_from_docker
        sam: dict[str, str] = {}
        container_database = _database_for_docker(database_url)
        self.sam_database = container_database is not None
        if container_database:
            sam["DATABASE_URL"] = container_database
        sam.update({name: os.environ[name] for name in secrets.NAMES})
        if os.environ.get("BCRYPT_ROUNDS"):
            sam["BCRYPT_ROUNDS"] = os.environ["BCRYPT_ROUNDS"]
        sam["GRAPH_API_BASE_URL"] = docker(os.environ["GRAPH_API_BASE_URL"])
        sam["STRIPE_API_BASE_URL"] = docker(os.environ["STRIPE_API_BASE_URL"])
        # The dialog is opened by the person's browser, on this machine: not docker's name.
        for name in ("META_APP_ID", "META_OAUTH_DIALOG_URL"):
            if os.environ.get(name):
                sam[name] = os.environ[name]
        sam["AWS_ENDPOINT_URL"] = docker(urls["sqs"])
        sam["INGEST_QUEUE_URL"] = docker(queues["IngestQueue"])
        sam["INGEST_DLQ_URL"] = docker(queues["IngestDeadLetterQueue"])
        sam["EXPORT_QUEUE_URL"] = docker(queues["ExportQueue"])
        sam["EXPORTS_BUCKET"] = self.values["Ref:ExportsBucket"]
        self.sam_env_path = state.write_sam_env(self.args.data_dir, sam)

    def banner(self) -> None:
        a, app = self.args, self.app
        base = f"http://{a.host}:{a.port}"
        where = f"embedded PostgreSQL in {a.data_dir / 'pgdata'}" if self.pg else "DATABASE_URL"
        print(f"Database: {where} (migrations applied now: {', '.join(self.applied) or 'none'})")
        print(f"Dev secrets: {a.data_dir / 'secrets.json'} (environment variables override)")
        print("Routes (from template.yaml):")
        for route in sorted(app.routes, key=lambda r: (r.path, r.method)):
            auth = "public" if route.authorizer is None else f"authorizer {route.authorizer}"
            print(f"  {route.method:<6} {base}{route.path}  -> {route.function_id} ({auth})")
        functions = ", ".join(sorted(app.functions))
        print(f"Lambda invoke API: http://{a.host}:{a.lambda_port} ({functions})")
        if self.aws is not None:
            print(f"Sent email (SES, as LocalStack lists it): GET {self.aws.mail_url}")
        print(f"SQS endpoint: http://{a.host}:{a.sqs_port}")
        for queue in app.queues:
            print(f"  {queue}: {self.values[f'Ref:{queue}']}")
        for bucket in app.buckets:
            print(f"S3 bucket {bucket}: {self.values[f'Ref:{bucket}']} (same endpoint)")
        for schedule in app.schedules:
            when = next_fire(schedule.expression, datetime.now(UTC))
            nxt = "off" if a.no_schedule else (when or "never (no time left to fire)")
            print(f"Schedule: {schedule.function_id} {schedule.expression}, next: {nxt}")
        sandbox = (
            " (sandbox: demo pages 1010, 2020, 3030; Facebook Login dialog for the demo users"
            " Dana Demo and Sam Sample, Instagram account demo.bakery)"
            if self.sandbox
            else ""
        )
        print(f"Graph API: {os.environ['GRAPH_API_BASE_URL']}{sandbox}")
        if self.stripe is not None:
            print(
                f"Stripe API: {self.stripe.base_url} (sandbox: pay at {self.stripe.base_url}"
                f"/pay/<session>, events at {self.stripe.base_url}/_sandbox/events,"
                " webhooks to POST /webhooks/stripe; make stripe ARGS=...)"
            )
        else:
            print(f"Stripe API: {os.environ['STRIPE_API_BASE_URL']}")
        if self.demo_seeded:
            print(
                f"Demo seller: {demo.DEMO_EMAIL} / {demo.DEMO_PASSWORD}, organization"
                f" {demo.ORGANIZATION_ID} (fixed ids, used by events/: make invoke ARGS=...)"
            )
        print(f"OpenAPI: {base}/openapi.json, Swagger UI: {base}/docs")
        if self.web is not None:
            w = self.web.base_url
            print(
                f"Web app: {w} (web/; {w}/api/* -> the HTTP API, Swagger UI at {w}/docs;"
                f" links in emails: {os.environ['WEB_BASE_URL']})"
            )
        print(f"Where this stack listens: {self.state_path} (make ops ARGS=--local ... reads it)")
        reach = "" if self.sam_database else " (no DATABASE_URL: the embedded server has no TCP)"
        print(f"For sam local --env-vars: {self.sam_env_path}{reach}")
        web_app = f", web app on {self.web.base_url}" if self.web else ""
        print(f"Nexus local stack ready: HTTP API on {base}{web_app}", flush=True)

    def serve(self) -> None:
        for server in self.servers[1:]:
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.serving.append(server)
        # In this thread: it has returned (Ctrl-C) by the time shutdown() runs here.
        self.servers[0].serve_forever()

    def shutdown(self) -> None:
        try:
            self.stopping.set()
            if self.state_path is not None:
                state.remove(self.args.data_dir, os.getpid())
            # A closed socket under a running serve_forever would spin its thread: stop the
            # loop first.
            for server in self.serving:
                server.shutdown()
            for server in self.servers:
                server.server_close()
            # The event sources finish what they hold before the functions and queues go.
            for thread in self.threads:
                if isinstance(thread, SqsPoller):
                    thread.finish(timeout=10)  # not an idle long poll
                else:
                    thread.join(timeout=10)
            if self.runtime is not None:
                self.runtime.shutdown()
            for sandbox in self.sandboxes:
                sandbox.stop()
            if self.aws is not None:
                self.aws.stop()
        finally:
            # Even when a second Ctrl-C cuts the rest short: PostgreSQL runs in a process
            # of its own and would outlive this one.
            if self.pg is not None:
                self.pg.stop()


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    logs.configure()
    signal.signal(signal.SIGTERM, _stop)
    stack = Stack(args)
    try:
        stack.check_ports()
    except StartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Whatever happens from here on (a start failure, Ctrl-C or SIGTERM while starting or
    # serving), what has started is stopped in order.
    try:
        try:
            stack.start()
            stack.record()
            stack.banner()
        except Exception as exc:  # noqa: BLE001 - any start failure becomes one clear line
            print(
                f"error: local stack failed to start: {type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
            return 1
        stack.serve()
    except KeyboardInterrupt:
        print("stopping...", flush=True)
    finally:
        stack.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
