"""A real HTTP server on 127.0.0.1 for delivery tests (aiohttp, a random port).

It answers each path from a script of responses (status, headers, delay),
records every request it receives, and counts 2xx answers per
`Idempotency-Key`, the way an idempotent endpoint (Stripe's) keys its work.
It can run in the test's event loop, or in a thread for a worker subprocess.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a hanging server: a long delay)


@dataclass
class Received:
    path: str
    method: str
    headers: dict[str, str]
    body: bytes
    at: float


class ScriptedServer:
    def __init__(self) -> None:
        self.scripts: dict[str, list[Reply]] = defaultdict(list)
        self.received: list[Received] = []
        self.successes: dict[str, int] = defaultdict(int)  # idempotency key -> 2xx answers
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def script(self, path: str, *replies: Reply) -> None:
        """Answer `path` with these replies in turn, then 200 for ever."""
        self.scripts[path].extend(replies)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def processed(self) -> set[str]:
        """Idempotency keys processed: an idempotent endpoint acts on each once,
        and answers a repeat of a done key without acting again."""
        return {key for key, count in self.successes.items() if count}

    def requests_to(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(
            Received(request.path, request.method, dict(request.headers), body, time.monotonic())
        )
        script = self.scripts.get(request.path)
        reply = script.pop(0) if script else Reply()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        key = request.headers.get("Idempotency-Key", "")
        if 200 <= reply.status < 300 and key:
            self.successes[key] += 1
        return web.Response(status=reply.status, headers=reply.headers, text="{}")

    async def start(self) -> ScriptedServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- in a thread, for servers a subprocess talks to ----------------------

    def start_in_thread(self) -> ScriptedServer:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self.stop())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop_thread(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def wait_for(self, predicate: Any, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return predicate()
