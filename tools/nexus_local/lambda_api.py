"""A Lambda Invoke API on 127.0.0.1:3001, like ``sam local start-lambda``:
``POST /2015-03-31/functions/{LogicalId}/invocations`` (``aws lambda invoke --endpoint-url``
and boto3 work against it)."""

from __future__ import annotations

import contextlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler

from nexus_local.httpd import LocalHTTPServer
from nexus_local.runtime import InvocationError, Runtime

_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")


class _Handler(BaseHTTPRequestHandler):
    runtime: Runtime  # set by make_lambda_server

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        match = _PATH.match(self.path.split("?")[0])
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not match:
            self._send(404, {"message": "Not Found"})
            return
        name = match.group(1).rsplit(":", 1)[-1]
        if name not in self.runtime.app.functions:
            self._send(
                404,
                {"Type": "User", "message": f"Function not found: {name}"},
                {"x-amzn-ErrorType": "ResourceNotFoundException"},
            )
            return
        try:
            event = json.loads(raw or b"{}")
        except ValueError:
            self._send(
                400,
                {"Type": "User", "message": "Could not parse request body into json"},
                {"x-amzn-ErrorType": "InvalidRequestContentException"},
            )
            return
        if self.headers.get("X-Amz-Invocation-Type") == "Event":
            threading.Thread(target=self._quiet_invoke, args=(name, event), daemon=True).start()
            self._send(202, None)
            return
        self._invoke(name, event)

    def _invoke(self, name: str, event: object) -> None:
        """A RequestResponse invocation: the result, or the function's error as Lambda
        reports it (200 with X-Amz-Function-Error)."""
        try:
            result = self.runtime.invoke(name, event)
        except InvocationError as exc:
            self._send(
                200,
                {
                    "errorMessage": exc.message,
                    "errorType": exc.error_type,
                    "requestId": exc.request_id,
                    "stackTrace": exc.stack_trace,
                },
                {"X-Amz-Function-Error": "Unhandled"},
            )
            return
        self._send(200, result)

    def _quiet_invoke(self, name: str, event: object) -> None:
        with contextlib.suppress(InvocationError):  # already logged with its request id
            self.runtime.invoke(name, event)

    def log_message(self, format: str, *args: object) -> None:
        pass


def make_lambda_server(host: str, port: int, runtime: Runtime) -> LocalHTTPServer:
    handler = type("Handler", (_Handler,), {"runtime": runtime})
    return LocalHTTPServer((host, port), handler)
