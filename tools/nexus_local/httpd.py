"""The HTTP server class of every local server (the API, the Lambda invoke API, the sandbox
Graph, the web app): a thread per connection, and a listen backlog for bursts. http.server's
default backlog of 5 made a burst of 50 parallel connections (50 logins at once) meet
connection resets while the accept loop caught up; moto's werkzeug server already listens
with 128. Also the two halves of a gateway's exchange that the API front and the web app's
``/api`` proxy share: the request's headers as API Gateway joins them, and an answer written
with every cookie as a ``Set-Cookie`` of its own."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BACKLOG = 256


class LocalHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = BACKLOG


def joined_headers(handler: BaseHTTPRequestHandler) -> dict[str, str]:
    """The request's headers, names in lower case, repeated ones joined with commas (as API
    Gateway's payload 2.0 joins them)."""
    headers: dict[str, str] = {}
    for key, value in handler.headers.items():
        k = key.lower()
        headers[k] = f"{headers[k]},{value}" if k in headers else value
    return headers


def write_answer(
    handler: BaseHTTPRequestHandler,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    cookies: Iterable[str] = (),
) -> None:
    """Status, headers (their own Content-Length and Connection dropped), one ``Set-Cookie``
    per cookie, and the body unless the request was HEAD."""
    handler.send_response(status)
    for key, value in headers.items():
        if key.lower() not in ("content-length", "connection"):
            handler.send_header(key, value)
    for cookie in cookies:
        handler.send_header("Set-Cookie", cookie)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)
