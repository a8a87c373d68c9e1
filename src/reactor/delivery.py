"""Target delivery: POST each `target.send` payload to its target, once, signed.

The rules (CONTRACT §5): `Content-Type: application/json`, `Idempotency-Key`
(the action id), `X-Reactor-Signature: sha256=<hex HMAC of the body>` when the
target has a secret. 2xx is done. 408, 429 (honouring `Retry-After`), 5xx,
timeouts and connection errors are retried with exponential backoff and full
jitter up to the target's `max_attempts`; any other status, or running out of
attempts, is a dead letter carrying every attempt's outcome.

Secrets (`${VAR}` in `url`, `headers` and `secret`) are resolved from the
environment at the moment of sending and never leave this module: errors and
dead letters carry the URL as written in the YAML and scrub resolved values.

Only this module and the worker import httpx.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import hmac
import os
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx
import orjson

from reactor.config import Target
from reactor.errors import DeliveryError

__all__ = [
    "Attempt",
    "Deliverer",
    "DeliveryOutcome",
    "HttpxSender",
    "Request",
    "Sender",
    "backoff",
    "dead_letter",
    "resolve",
    "retry_after_seconds",
    "sign",
]

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
BASE_DELAY = 1.0
MAX_DELAY = 300.0
MAX_RETRY_AFTER = 3600.0


def resolve(text: str, environ: Mapping[str, str], secrets: list[str] | None = None) -> str:
    """`text` with every `${VAR}` replaced from `environ`. Raises DeliveryError
    naming the variable (never a value) when one is not set. Resolved values
    are appended to `secrets`, so that they can be scrubbed from messages."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise DeliveryError(f"environment variable {name} is not set")
        found = environ[name]
        if secrets is not None and found:
            secrets.append(found)
        return found

    return _VARIABLE.sub(value, text)


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


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


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

    def request(self, action: Mapping[str, Any], target: Target, secrets: list[str]) -> Request:
        """The HTTP request for a `target.send` action. Raises DeliveryError
        when a `${VAR}` it needs is not set."""
        spec = target.spec
        body = orjson.dumps(action["payload"])
        headers = {name: resolve(value, self.environ, secrets) for name, value in spec.headers.items()}
        headers["Content-Type"] = "application/json"
        headers["Idempotency-Key"] = str(action["id"])
        if spec.secret is not None:
            headers["X-Reactor-Signature"] = sign(resolve(spec.secret, self.environ, secrets), body)
        return Request(spec.method, resolve(spec.url, self.environ, secrets), headers, body, spec.timeout)

    async def attempt(self, action: Mapping[str, Any], target: Target, number: int) -> DeliveryOutcome:
        """Try once (attempt `number`, 1-based) and say what comes next."""
        secrets: list[str] = []
        started = time.time()
        try:
            request = self.request(action, target, secrets)
        except DeliveryError as exc:
            return DeliveryOutcome("dead", Attempt(started, None, exc.message), code="config")
        gate = self._gate(target)
        async with gate.semaphore:
            if gate.limiter is not None:
                await gate.limiter.acquire()
            try:
                response = await self.sender.send(request)
            except httpx.TimeoutException:
                attempt = Attempt(started, None, f"timed out after {target.spec.timeout:g}s")
                return self._retry_or_dead(attempt, number, target)
            except httpx.TransportError as exc:
                message = _scrub(f"{type(exc).__name__}: {exc}", secrets)
                return self._retry_or_dead(Attempt(started, None, message), number, target)
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


def dead_letter(
    action: Mapping[str, Any],
    target_id: str,
    outcome: DeliveryOutcome,
    attempts: Sequence[Attempt | Mapping[str, Any]],
) -> dict[str, Any]:
    """The `reactor.deliveries.dlq` record: the action, and every attempt."""
    last = outcome.attempt
    message = last.error or (f"HTTP {last.status}" if last.status else "failed")
    if outcome.code == "attempts_exhausted":
        message = f"gave up after {len(attempts)} attempts; last: {message}"
    return {
        "error": {"code": outcome.code, "message": message, "path": f"targets.{target_id}"},
        "target": target_id,
        "last_status": last.status,
        "attempts": [a.as_dict() if isinstance(a, Attempt) else dict(a) for a in attempts],
        "action": dict(action),
    }


async def deliver_all(
    actions: Sequence[Mapping[str, Any]],
    targets: Mapping[str, Target],
    deliverer: Deliverer,
    on_dead: Callable[[dict[str, Any]], None],
) -> dict[str, int]:
    """Deliver `target.send` actions concurrently (within each target's limits),
    retrying in place; returns counts by outcome. For `replay --deliver` and
    `deliveries retry`, which run without the worker's retry topic."""
    counts = {"delivered": 0, "dead_letter": 0}

    async def one(action: Mapping[str, Any]) -> None:
        target = targets.get(str(action.get("target")))
        if target is None:
            attempt = Attempt(
                time.time(), None, f"target {action.get('target')!r} is not in the configuration"
            )
            outcome, attempts = DeliveryOutcome("dead", attempt, code="unknown_target"), [attempt]
        else:
            outcome, attempts = await deliverer.deliver(action, target)
        if outcome.kind == "delivered":
            counts["delivered"] += 1
        else:
            counts["dead_letter"] += 1
            on_dead(dead_letter(action, str(action.get("target")), outcome, attempts))

    await asyncio.gather(*(one(a) for a in actions if a.get("type") == "target.send"))
    return counts
