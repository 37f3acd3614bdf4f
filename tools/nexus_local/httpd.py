"""The HTTP server class of every local server (the API, the Lambda invoke API, the sandbox
Graph): a thread per connection, and a listen backlog for bursts. http.server's default
backlog of 5 made a burst of 50 parallel connections (50 logins at once) meet connection
resets while the accept loop caught up; moto's werkzeug server already listens with 128."""

from __future__ import annotations

from http.server import ThreadingHTTPServer

BACKLOG = 256


class LocalHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = BACKLOG
