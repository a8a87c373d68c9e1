"""`reactor replay --deliver`: a dry run that posts payloads to a test endpoint."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from http_server import Reply, ScriptedServer
from support import REPO, profile_updated, write_config


@pytest.fixture
def server():
    srv = ScriptedServer().start_in_thread()
    yield srv
    srv.stop_thread()


def test_replay_deliver_posts_each_payload_and_reports_failures(tmp_path, server):
    root = write_config(
        tmp_path / "cfg",
        {
            "reactions/r.yaml": """
            reactions:
              - {id: to-ok, on: [profile.updated], when: {"==": [{"var": "profile.id"}, "p-1"]},
                 actions: [{type: target.send, target: ok}]}
              - {id: to-bad, on: [profile.updated], when: {"==": [{"var": "profile.id"}, "p-2"]},
                 actions: [{type: target.send, target: bad}]}
        """,
            "targets/t.yaml": """
            targets:
              - {id: ok, url: "${HOOK_URL}/ok", body: '{"id": {{ profile.id | tojson }}}'}
              - {id: bad, url: "${HOOK_URL}/bad", body: '{"id": {{ profile.id | tojson }}}'}
        """,
        },
    )
    server.script("/bad", Reply(400))
    events = b"\n".join(
        [profile_updated("p-1", id="e1"), profile_updated("p-2", id="e2", at="2026-11-21T00:00:00Z")]
    )
    done = subprocess.run(
        [sys.executable, "-m", "reactor", "replay", "--deliver", "--config", str(root), "-"],
        input=events,
        capture_output=True,
        cwd=REPO,
        timeout=60,
        env={"PATH": "", "HOOK_URL": server.url},
    )
    assert done.returncode == 1  # one delivery was refused
    stderr = [orjson.loads(line) for line in done.stderr.splitlines()]
    summary = stderr[-1]["summary"]
    assert summary["deliveries"] == {"delivered": 1, "dead_letter": 1}
    (letter,) = stderr[:-1]
    assert letter["error"]["code"] == "http_400" and letter["action"]["profile_id"] == "p-2"
    assert [orjson.loads(r.body) for r in server.requests_to("/ok")] == [{"id": "p-1"}]
    assert [orjson.loads(r.body) for r in server.requests_to("/bad")] == [{"id": "p-2"}]
