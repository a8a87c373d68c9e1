"""Target delivery against a real HTTP server on 127.0.0.1 (CONTRACT §5)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
from pathlib import Path

import orjson
import pytest

from http_server import Reply, ScriptedServer
from reactor.config import load_config
from reactor.delivery import Deliverer, HttpxSender, backoff, dead_letter, retry_after_seconds
from support import write_config

SECRET = "whsec-test-7f3a9c"
TOKEN = "tok-live-5b1e22"


@pytest.fixture
async def server():
    srv = await ScriptedServer().start()
    yield srv
    await srv.stop()


@pytest.fixture
def target_for(tmp_path: Path):
    def make(path: str, **extra: object):
        spec = {
            "id": "hook",
            "url": "${HOOK_BASE}" + path,
            "body": "{}",
            "headers": {"Authorization": "Bearer ${HOOK_TOKEN}"},
            "secret": "${HOOK_SECRET}",
            **extra,
        }
        root = write_config(
            tmp_path / f"cfg{random.random()}", {"targets/t.yaml": orjson.dumps({"targets": [spec]}).decode()}
        )
        return load_config(root).targets["hook"]

    return make


def action(action_id: str = "act-1") -> dict:
    return {
        "id": action_id,
        "type": "target.send",
        "profile_id": "p-1",
        "reaction_id": "r",
        "event_id": "e",
        "at": "2026-11-20T10:00:00Z",
        "config_version": "v",
        "target": "hook",
        "payload": {"to": "ava@example.com", "n": 1},
    }


@pytest.fixture
async def deliverer(server: ScriptedServer):
    sleeps: list[float] = []

    async def no_wait(seconds: float) -> None:
        sleeps.append(seconds)

    environ = {"HOOK_BASE": server.url, "HOOK_TOKEN": TOKEN, "HOOK_SECRET": SECRET}
    d = Deliverer(HttpxSender(), environ=environ, rng=random.Random(1))
    d.sleeps = sleeps  # type: ignore[attr-defined]
    d.no_wait = no_wait  # type: ignore[attr-defined]
    yield d
    await d.sender.aclose()  # type: ignore[attr-defined]


async def test_a_delivery_is_signed_carries_its_idempotency_key_and_env_headers(
    server, deliverer, target_for
):
    outcome, attempts = await deliverer.deliver(action(), target_for("/ok"))
    assert outcome.kind == "delivered" and [a.status for a in attempts] == [200]
    (got,) = server.requests_to("/ok")
    assert got.method == "POST"
    assert orjson.loads(got.body) == {"to": "ava@example.com", "n": 1}
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Idempotency-Key"] == "act-1"
    assert got.headers["Authorization"] == f"Bearer {TOKEN}"
    expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Reactor-Signature"] == expected


async def test_two_503s_then_200_is_one_delivery_in_three_attempts_with_one_key(
    server, deliverer, target_for
):
    server.script("/flaky", Reply(503), Reply(503), Reply(200))
    outcome, attempts = await deliverer.deliver(
        action("act-flaky"), target_for("/flaky"), sleep=deliverer.no_wait
    )
    assert outcome.kind == "delivered"
    assert [a.status for a in attempts] == [503, 503, 200]
    assert {r.headers["Idempotency-Key"] for r in server.requests_to("/flaky")} == {"act-flaky"}
    assert len(server.requests_to("/flaky")) == 3
    # Exponential backoff with full jitter: within [0, 1s] then [0, 2s].
    assert 0 <= deliverer.sleeps[0] <= 1 and 0 <= deliverer.sleeps[1] <= 2


async def test_429_with_retry_after_is_honoured(server, deliverer, target_for):
    server.script("/busy", Reply(429, {"Retry-After": "2"}), Reply(200))
    outcome, attempts = await deliverer.deliver(action(), target_for("/busy"))  # real sleep
    assert outcome.kind == "delivered" and [a.status for a in attempts] == [429, 200]
    first, second = server.requests_to("/busy")
    assert second.at - first.at >= 2.0


async def test_400_goes_straight_to_the_dead_letters(server, deliverer, target_for):
    server.script("/bad", Reply(400))
    outcome, attempts = await deliverer.deliver(action(), target_for("/bad"), sleep=deliverer.no_wait)
    assert outcome.kind == "dead" and outcome.code == "http_400"
    assert len(server.requests_to("/bad")) == 1
    record = dead_letter(action(), "hook", outcome, attempts)
    assert record["last_status"] == 400 and record["attempts"][0]["status"] == 400
    assert record["action"]["id"] == "act-1"


async def test_exhausted_retries_go_to_the_dead_letters_with_every_status(server, deliverer, target_for):
    server.script("/down", *[Reply(500)] * 3)
    outcome, attempts = await deliverer.deliver(
        action(), target_for("/down", max_attempts=3), sleep=deliverer.no_wait
    )
    assert outcome.kind == "dead" and outcome.code == "attempts_exhausted"
    record = dead_letter(action(), "hook", outcome, attempts)
    assert [a["status"] for a in record["attempts"]] == [500, 500, 500]
    assert "gave up after 3 attempts" in record["error"]["message"]


async def test_a_server_that_hangs_hits_the_timeout_and_is_retried(server, deliverer, target_for):
    server.script("/slow", Reply(200, delay=3), Reply(200))
    outcome, attempts = await deliverer.deliver(
        action(), target_for("/slow", timeout=0.5), sleep=deliverer.no_wait
    )
    assert outcome.kind == "delivered"
    assert [a.status for a in attempts] == [None, 200]
    assert attempts[0].error == "timed out after 0.5s"


async def test_connection_refused_is_retried(deliverer, target_for, server):
    deliverer.environ = {**deliverer.environ, "HOOK_BASE": "http://127.0.0.1:1"}
    outcome, attempts = await deliverer.deliver(
        action(), target_for("/x", max_attempts=2), sleep=deliverer.no_wait
    )
    assert outcome.kind == "dead" and [a.status for a in attempts] == [None, None]
    assert "ConnectError" in (attempts[0].error or "")


async def test_a_missing_environment_variable_is_a_dead_letter_naming_it(deliverer, target_for, caplog):
    deliverer.environ = {"HOOK_BASE": "http://127.0.0.1:1", "HOOK_SECRET": SECRET}
    outcome, attempts = await deliverer.deliver(action(), target_for("/x"))
    assert outcome.kind == "dead" and outcome.code == "config"
    assert attempts[0].error == "environment variable HOOK_TOKEN is not set"


async def test_secrets_never_reach_dead_letters_or_logs(server, deliverer, target_for, caplog):
    caplog.set_level(logging.DEBUG)
    server.script("/bad", Reply(401))
    outcome, attempts = await deliverer.deliver(action(), target_for("/bad"), sleep=deliverer.no_wait)
    deliverer.environ = {**deliverer.environ, "HOOK_BASE": f"http://{TOKEN}@127.0.0.1:1"}
    outcome2, attempts2 = await deliverer.deliver(
        action(), target_for("/x", max_attempts=1), sleep=deliverer.no_wait
    )
    text = (
        orjson.dumps(
            [
                dead_letter(action(), "hook", outcome, attempts),
                dead_letter(action(), "hook", outcome2, attempts2),
            ]
        ).decode()
        + caplog.text
    )
    assert SECRET not in text and TOKEN not in text


async def test_per_target_concurrency_limit(server, target_for):
    import asyncio

    server.script("/c", *[Reply(200, delay=0.3)] * 6)
    d = Deliverer(HttpxSender(), environ={"HOOK_BASE": server.url, "HOOK_TOKEN": "t", "HOOK_SECRET": "s"})
    target = target_for("/c", concurrency=2)
    started = asyncio.get_running_loop().time()
    await asyncio.gather(*(d.attempt(action(f"a{i}"), target, 1) for i in range(6)))
    elapsed = asyncio.get_running_loop().time() - started
    await d.sender.aclose()  # type: ignore[attr-defined]
    # Six requests of 0.3 s, two at a time: three rounds.
    assert elapsed >= 0.85


def test_backoff_grows_exponentially_and_is_capped():
    rng = random.Random(3)
    assert all(0 <= backoff(1, rng) <= 1 for _ in range(100))
    assert all(0 <= backoff(5, rng) <= 16 for _ in range(100))
    assert max(backoff(30, rng) for _ in range(200)) <= 300
    assert max(backoff(4, rng) for _ in range(200)) > 4  # jitter spreads up to 8 s


def test_retry_after_as_seconds_or_an_http_date():
    assert retry_after_seconds("2") == 2
    assert retry_after_seconds("Wed, 21 Oct 2026 07:28:00 GMT", now=1792567670.0) == 10.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


async def test_per_target_rate_limit(server, target_for):
    import asyncio

    d = Deliverer(HttpxSender(), environ={"HOOK_BASE": server.url, "HOOK_TOKEN": "t", "HOOK_SECRET": "s"})
    target = target_for("/r", rate_limit=5, concurrency=10)
    await asyncio.gather(*(d.attempt(action(f"a{i}"), target, 1) for i in range(10)))
    await d.sender.aclose()  # type: ignore[attr-defined]
    times = sorted(r.at for r in server.requests_to("/r"))
    # A bucket of 5 a second: the first 5 at once, the next 5 over the following second.
    assert len(times) == 10
    assert times[-1] - times[0] >= 0.9
    assert times[4] - times[0] < 0.5


# --- secrets in every form, header values, protocols (issue #10) ----------------


class EchoingSender:
    """The Sender protocol's in-memory twin (STYLE.md), for one thing a real
    server cannot be made to do on demand: an HTTP library error whose text
    quotes the request back, the secret in it in some form."""

    def __init__(self, form: str) -> None:
        self.form = form

    async def send(self, request):
        import httpx

        raise httpx.ConnectError(f"cannot connect to {self.form} (from {request.url})")


@pytest.mark.parametrize(
    ("secret", "form"),
    [
        ("tok-raw-81f2", "tok-raw-81f2"),  # as it is
        ('tok"q\\uote', orjson.dumps('tok"q\\uote').decode()[1:-1]),  # JSON-escaped: tok\"q\\uote
        ("tok/p+e=rc", "tok%2Fp%2Be%3Drc"),  # percent-encoded, as in a URL
        ("tok-nl-5c3e\n", "tok-nl-5c3e"),  # from a secret file, with its newline; the text holds it stripped
    ],
    ids=["raw", "json-escaped", "percent-encoded", "trailing-newline"],
)
async def test_a_secret_is_scrubbed_from_error_texts_in_every_form(target_for, secret, form):
    target = target_for("/x?key=${HOOK_KEY}", max_attempts=1, headers={})
    environ = {"HOOK_BASE": "http://127.0.0.1:1", "HOOK_KEY": secret, "HOOK_SECRET": SECRET}
    deliverer = Deliverer(EchoingSender(form), environ=environ)
    outcome, attempts = await deliverer.deliver(action(), target)
    assert outcome.kind == "dead" and outcome.code == "attempts_exhausted"
    text = orjson.dumps(dead_letter(action(), "hook", outcome, attempts)).decode()
    assert form not in text and secret not in text and secret.strip() not in text
    assert "cannot connect to ***" in text


@pytest.mark.parametrize("value", ["tok-abc\n", "tok-abc\r\n", "tok\rabc"], ids=["lf", "crlf", "cr"])
async def test_a_header_value_with_a_line_break_is_refused_naming_the_variable(
    server, deliverer, target_for, value
):
    deliverer.environ = {**deliverer.environ, "HOOK_TOKEN": value}
    outcome, attempts = await deliverer.deliver(action(), target_for("/h"), sleep=deliverer.no_wait)
    assert outcome.kind == "dead" and outcome.code == "config" and len(attempts) == 1
    message = attempts[0].error or ""
    assert "HOOK_TOKEN" in message and "line break" in message
    assert "tok" not in message and value.strip() not in message
    assert server.requests_to("/h") == []  # nothing was sent


async def test_a_non_ascii_header_value_is_an_error_not_a_crash(server, deliverer, target_for):
    deliverer.environ = {**deliverer.environ, "HOOK_TOKEN": "tök-ünïcode"}
    outcome, attempts = await deliverer.deliver(action(), target_for("/n"), sleep=deliverer.no_wait)
    assert outcome.kind == "dead" and outcome.code == "config"
    assert "HOOK_TOKEN" in (attempts[0].error or "") and "ASCII" in (attempts[0].error or "")
    assert "tök" not in (attempts[0].error or "")
    assert server.requests_to("/n") == []


@pytest.mark.parametrize("scheme", ["ftp", "file", "gopher"])
async def test_an_unsupported_protocol_is_not_retried(deliverer, target_for, scheme):
    deliverer.environ = {**deliverer.environ, "HOOK_BASE": f"{scheme}://127.0.0.1"}
    outcome, attempts = await deliverer.deliver(action(), target_for("/p"), sleep=deliverer.no_wait)
    assert outcome.kind == "dead" and outcome.code == "unsupported_protocol"
    assert len(attempts) == 1 and deliverer.sleeps == []
