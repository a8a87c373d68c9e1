"""Delivery by the worker to a real HTTP server on 127.0.0.1 (CONTRACT §5)."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime

import orjson
import pytest
from harness import Deployment, WorkerProcess, consume, publish, reactor_cli, worker_env

from http_server import Reply, ScriptedServer
from support import write_config

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SECRET = "whsec-e2e-91c2"
TOKEN = "tok-e2e-77aa"

CONFIG = {
    "reactions/r.yaml": """
        reactions:
          - id: welcome
            on: [profile.updated]
            actions: [{type: target.send, target: hook}]
    """,
    "targets/t.yaml": """
        targets:
          - id: hook
            url: "${HOOK_URL}/hooks/welcome"
            headers: {Authorization: "Bearer ${HOOK_TOKEN}"}
            secret: "${HOOK_SECRET}"
            max_attempts: 5
            timeout: 2
            body: '{"to": {{ email | tojson }}, "profile": {{ profile.id | tojson }}}'
    """,
}


def event(event_id: str, profile: str) -> bytes:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return orjson.dumps(
        {
            "id": event_id,
            "type": "profile.updated",
            "occurred_at": now,
            "profile_id": profile,
            "data": {"profile": {"id": profile, "email": f"{profile}@example.com"}},
        }
    )


@pytest.fixture
def server():
    srv = ScriptedServer().start_in_thread()
    yield srv
    srv.stop_thread()


@pytest.fixture
def deployment(kafka_bootstrap, tmp_path, server):
    root = write_config(tmp_path / "cfg", CONFIG)
    env = worker_env(
        kafka_bootstrap,
        tmp_path,
        config=root,
        REACTOR_DELIVER="true",
        HOOK_URL=server.url,
        HOOK_TOKEN=TOKEN,
        HOOK_SECRET=SECRET,
    )
    start = Deployment(env, tmp_path)
    yield start
    start.stop_all()


def test_the_worker_delivers_signed_payloads_and_retries_a_flaky_endpoint(
    server, deployment, kafka_bootstrap
):
    server.script("/hooks/welcome", Reply(503), Reply(503), Reply(200))
    worker = deployment()
    publish(deployment.env, [event("e1", "p-1")])
    assert server.wait_for(lambda: server.processed, timeout=60)
    requests = server.requests_to("/hooks/welcome")
    assert len(requests) == 3 and len({r.headers["Idempotency-Key"] for r in requests}) == 1
    (action,) = consume(kafka_bootstrap, deployment.env["REACTOR_ACTIONS_TOPIC"], lambda r: len(r) >= 1)
    assert requests[0].headers["Idempotency-Key"] == action["id"]
    body = requests[-1].body
    assert orjson.loads(body) == {"to": "p-1@example.com", "profile": "p-1"}
    assert (
        requests[-1].headers["X-Reactor-Signature"]
        == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    )
    assert requests[-1].headers["Authorization"] == f"Bearer {TOKEN}"
    metrics = worker.metrics()
    assert 'reactor_deliveries_total{outcome="delivered",target="hook"} 1.0' in metrics
    assert 'reactor_delivery_attempts_total{status="503",target="hook"} 2.0' in metrics
    assert SECRET not in worker.log() and TOKEN not in worker.log()


def test_a_rejected_delivery_goes_to_the_dead_letters_and_deliveries_retry_sends_it_again(
    server, deployment, kafka_bootstrap
):
    server.script("/hooks/welcome", Reply(400))
    deployment()
    publish(deployment.env, [event("e1", "p-1")])
    (letter,) = consume(
        kafka_bootstrap, deployment.env["REACTOR_DELIVERIES_DLQ_TOPIC"], lambda r: len(r) >= 1
    )
    assert letter["error"]["code"] == "http_400" and letter["last_status"] == 400
    assert [a["status"] for a in letter["attempts"]] == [400]
    assert letter["action"]["payload"] == {"to": "p-1@example.com", "profile": "p-1"}
    text = orjson.dumps(letter).decode()
    assert SECRET not in text and TOKEN not in text
    # The platform is fixed: the command sends it again, once.
    done = reactor_cli(deployment.env, "deliveries", "retry")
    assert done.returncode == 0, done.stderr.decode()
    assert b"1 delivered" in done.stderr
    assert server.processed == {letter["action"]["id"]}
    again = reactor_cli(deployment.env, "deliveries", "retry")  # nothing new: nothing sent
    assert again.returncode == 0 and b"read 0 dead letters" in again.stderr
    assert len(server.requests_to("/hooks/welcome")) == 2


def test_a_worker_killed_mid_retry_completes_the_delivery_after_restart_once(
    server, deployment, kafka_bootstrap
):
    server.script("/hooks/welcome", Reply(503), Reply(503), Reply(503))
    worker = deployment()
    publish(deployment.env, [event("e1", "p-1")])
    assert server.wait_for(lambda: len(server.requests_to("/hooks/welcome")) >= 1, timeout=60)
    worker.kill()  # SIGKILL between attempts: the retry is in the retry topic, not only in memory
    deployment()
    assert server.wait_for(lambda: server.processed, timeout=90)
    time.sleep(3)
    keys = {r.headers["Idempotency-Key"] for r in server.requests_to("/hooks/welcome")}
    assert len(keys) == 1
    # An idempotent endpoint acts once per key: every attempt, before and after
    # the crash, carried the same key (a crash can repeat an attempt, never mint a key).
    assert server.processed == keys


def test_reactor_deliver_runs_delivery_alone_and_logs_urls_as_written(server, kafka_bootstrap, tmp_path):
    """A processing-only worker (REACTOR_DELIVER=false) and `reactor deliver`
    beside it. The target's URL holds a token in its query string: httpx's own
    request log would print it resolved; reactor logs the URL as written."""
    root = write_config(
        tmp_path / "cfg2",
        {
            "reactions/r.yaml": CONFIG["reactions/r.yaml"],
            "targets/t.yaml": """
        targets:
          - id: hook
            url: "${HOOK_URL}/hooks/welcome?token=${HOOK_TOKEN}"
            body: '{"profile": {{ profile.id | tojson }}}'
    """,
        },
    )
    env = worker_env(
        kafka_bootstrap,
        tmp_path,
        config=root,
        HOOK_URL=server.url,
        HOOK_TOKEN=TOKEN,
        REACTOR_LOG_LEVEL="debug",
    )
    deployment = Deployment(env, tmp_path)
    try:
        deployment()  # REACTOR_DELIVER=false: processing only
        delivery = WorkerProcess(env, tmp_path / "deliver.log", command=("deliver",)).start()
        deployment.workers.append(delivery)
        publish(env, [event("e1", "p-1"), event("e2", "p-2")])
        assert server.wait_for(lambda: len(server.processed) == 2, timeout=60)
        (first, _) = server.requests_to("/hooks/welcome")
        assert first.headers["Idempotency-Key"].startswith("act-")
        time.sleep(1)
        log = delivery.log()
        assert TOKEN not in log and TOKEN not in deployment.workers[0].log()
        assert "${HOOK_URL}/hooks/welcome?token=${HOOK_TOKEN}" in log  # the URL as written
        assert 'reactor_deliveries_total{outcome="delivered",target="hook"} 2.0' in delivery.metrics()
    finally:
        deployment.stop_all()
