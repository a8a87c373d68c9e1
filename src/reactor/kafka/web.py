"""The worker's web port: `/metrics` (Prometheus) and `/healthz`, on the stdlib's threaded server.

The server runs in a daemon thread and only reads: the metrics registry
(thread-safe) and a health function the worker keeps answering from its own
bookkeeping. A port in use is a one-line error before anything else starts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from reactor.errors import ReactorError
from reactor.metrics import Metrics

__all__ = ["PortInUse", "WebServer"]


class PortInUse(ReactorError):
    """Raised when the web port cannot be bound."""


class WebServer:
    """Serves `/metrics` and `/healthz` on (host, port) until `stop`."""

    def __init__(self, host: str, port: int, metrics: Metrics, health: Callable[[], dict[str, Any]]) -> None:
        metrics_page, health_page = metrics.render, health

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/metrics":
                    self._send(200, metrics_page(), "text/plain; version=0.0.4; charset=utf-8")
                elif self.path.split("?")[0] == "/healthz":
                    body = health_page()
                    self._send(200 if body.get("ready") else 503, orjson.dumps(body), "application/json")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # no access log on stderr: logs there are JSON lines

        try:
            self.server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise PortInUse(f"cannot listen on {host}:{port} (REACTOR_WEB_PORT): {exc.strerror}") from None
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="reactor-web", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> WebServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
