"""Target delivery: POST each `target.send` payload to its target, once, signed.

The rules (CONTRACT §5): `Content-Type: application/json`, `Idempotency-Key`
(the action id), `X-Reactor-Signature: sha256=<hex HMAC of the body>` when the
target has a secret. 2xx is done. 408, 429 (honouring `Retry-After`), 5xx,
timeouts and connection errors are retried with exponential backoff and full
jitter up to the target's `max_attempts`; any other status, a URL or protocol
that can never work, or running out of attempts, is a dead letter carrying
every attempt's outcome.

Secrets (`${VAR}` in `url`, `headers` and `secret`) are resolved at the
moment of sending (see `secrets.py`) and never leave this module: errors and
dead letters carry the URL as written in the YAML and scrub resolved values.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import hmac
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx
import orjson

from reactor.config import Target
from reactor.delivery.secrets import Secrets, header_value, resolve
from reactor.errors import DeliveryError

__all__ = [
    "Attempt",
    "Deliverer",
    "DeliveryOutcome",
    "HttpxSender",
    "Request",
    "Response",
    "Sender",
    "backoff",
    "quiet_http_logs",
    "retry_after_seconds",
    "sign",
]

BASE_DELAY = 1.0
MAX_DELAY = 300.0
MAX_RETRY_AFTER = 3600.0


def quiet_http_logs() -> None:
    """Silence httpx's and httpcore's own request logs: they print the URL as
    sent, with every `${VAR}` resolved (a token in a query string, a password
    in the authority). reactor logs the URL as written instead."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def sign(secret: str, body: bytes) -> str:
    """The `X-Reactor-Signature` value: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based):
    exponential with full jitter, capped (AWS architecture blog's "full jitter")."""
    ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1))
    return (rng or random).uniform(0, ceiling)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds to wait: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    wait = when.timestamp() - (time.time() if now is None else now)
    return min(max(wait, 0.0), MAX_RETRY_AFTER)


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    timeout: float


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str]


class Sender(Protocol):
    """Sends one HTTP request. Raises `httpx.TransportError` (timeouts,
    connection errors) when no response came back."""

    async def send(self, request: Request) -> Response: ...


class HttpxSender:
    """The real sender: one pooled `httpx.AsyncClient`."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self.client = client or httpx.AsyncClient(
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            follow_redirects=False,
        )

    async def send(self, request: Request) -> Response:
        response = await self.client.request(
            request.method,
            request.url,
            content=request.body,
            headers=dict(request.headers),
            timeout=httpx.Timeout(request.timeout),
        )
        await response.aclose()
        return Response(response.status_code, dict(response.headers))

    async def aclose(self) -> None:
        await self.client.aclose()


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try: when, the HTTP status (None if no response), and the error."""

    at: float
    status: int | None
    error: str | None = None
    retry_after: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"at": round(self.at, 3), "status": self.status, "error": self.error}


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """`delivered`, `retry` (with `wait` seconds) or `dead` (no more tries)."""

    kind: Literal["delivered", "retry", "dead"]
    attempt: Attempt
    wait: float = 0.0
    code: str = ""


class _RateLimiter:
    """A token bucket: at most `rate` requests a second, bursts of `rate`."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = max(rate, 1.0)
        self.updated = time.monotonic()
        self.lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self.lock:
            while True:
                now = time.monotonic()
                self.tokens = min(max(self.rate, 1.0), self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


@dataclass
class _Gate:
    concurrency: int
    rate: float | None
    semaphore: asyncio.Semaphore
    limiter: _RateLimiter | None


@dataclass
class Deliverer:
    """Makes delivery attempts for targets, within each target's concurrency
    and rate limits. Stateless between attempts: what to do next is decided
    by the caller (the worker's agents, replay, `deliveries retry`)."""

    sender: Sender
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    rng: random.Random = field(default_factory=random.Random)
    _gates: dict[str, _Gate] = field(default_factory=dict)

    def _gate(self, target: Target) -> _Gate:
        spec = target.spec
        gate = self._gates.get(target.id)
        if gate is None or (gate.concurrency, gate.rate) != (spec.concurrency, spec.rate_limit):
            gate = _Gate(  # new, or the target's limits changed in a reload
                spec.concurrency,
                spec.rate_limit,
                asyncio.Semaphore(spec.concurrency),
                _RateLimiter(spec.rate_limit) if spec.rate_limit else None,
            )
            self._gates[target.id] = gate
        return gate

    def request(self, action: Mapping[str, Any], target: Target, secrets: Secrets) -> Request:
        """The HTTP request for a `target.send` action. Raises DeliveryError
        when a `${VAR}` it needs is not set, or a header value cannot be sent."""
        spec = target.spec
        body = orjson.dumps(action["payload"])
        headers = {
            name: header_value(name, value, self.environ, secrets) for name, value in spec.headers.items()
        }
        headers["Content-Type"] = "application/json"
        headers["Idempotency-Key"] = str(action["id"])
        if spec.secret is not None:
            key = resolve(spec.secret, self.environ, secrets)
            headers["X-Reactor-Signature"] = sign(key, body)
        return Request(spec.method, resolve(spec.url, self.environ, secrets), headers, body, spec.timeout)

    async def attempt(self, action: Mapping[str, Any], target: Target, number: int) -> DeliveryOutcome:
        """Try once (attempt `number`, 1-based) and say what comes next. Never
        raises: whatever goes wrong is an outcome, its message scrubbed."""
        secrets = Secrets()
        started = time.time()
        try:
            request = self.request(action, target, secrets)
        except DeliveryError as exc:
            return DeliveryOutcome("dead", Attempt(started, None, secrets.scrub(exc.message)), code="config")
        gate = self._gate(target)
        async with gate.semaphore:
            if gate.limiter is not None:
                await gate.limiter.acquire()
            try:
                response = await self.sender.send(request)
            except httpx.TimeoutException:
                attempt = Attempt(started, None, f"timed out after {target.spec.timeout:g}s")
                return self._retry_or_dead(attempt, number, target)
            except httpx.UnsupportedProtocol as exc:  # never works, however often tried
                message = secrets.scrub(f"unsupported protocol: {exc}")
                return DeliveryOutcome("dead", Attempt(started, None, message), code="unsupported_protocol")
            except httpx.TransportError as exc:
                message = secrets.scrub(f"{type(exc).__name__}: {exc}")
                return self._retry_or_dead(Attempt(started, None, message), number, target)
            except (httpx.InvalidURL, ValueError, TypeError) as exc:  # a URL or value httpx refuses
                message = secrets.scrub(f"cannot send: {type(exc).__name__}: {exc}")
                return DeliveryOutcome("dead", Attempt(started, None, message), code="invalid_request")
        status = response.status
        if 200 <= status < 300:
            return DeliveryOutcome("delivered", Attempt(started, status))
        retry_after = retry_after_seconds(response.headers.get("retry-after")) if status == 429 else None
        attempt = Attempt(started, status, f"HTTP {status}", retry_after)
        if status in (408, 429) or status >= 500:
            return self._retry_or_dead(attempt, number, target)
        return DeliveryOutcome("dead", attempt, code=f"http_{status}")

    def _retry_or_dead(self, attempt: Attempt, number: int, target: Target) -> DeliveryOutcome:
        if number >= target.spec.max_attempts:
            return DeliveryOutcome("dead", attempt, code="attempts_exhausted")
        wait = attempt.retry_after if attempt.retry_after is not None else backoff(number, self.rng)
        return DeliveryOutcome("retry", attempt, wait=wait)

    async def deliver(
        self,
        action: Mapping[str, Any],
        target: Target,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> tuple[DeliveryOutcome, list[Attempt]]:
        """Attempt until delivered or dead, sleeping between attempts (used by
        `replay --deliver` and `deliveries retry`, which have no retry topic)."""
        attempts: list[Attempt] = []
        number = 1
        while True:
            outcome = await self.attempt(action, target, number)
            attempts.append(outcome.attempt)
            if outcome.kind != "retry":
                return outcome, attempts
            await sleep(outcome.wait)
            number += 1
