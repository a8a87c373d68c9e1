"""The compiled build (REACTOR_COMPILE=1, mypyc) behaves exactly as the pure one.

It is built here the way a user builds it, `pip install .` with the variable
set (scripts/build-compiled), into a temporary directory; then the
engine's tests and the CLI's tests run again in a child pytest that imports
that build, and `reactor replay` of the bundled story must print the same
bytes with both builds. (The worker's tests, which need Kafka, run on the
pure build only.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def compiled_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("compiled") / "site"
    build = [str(REPO / "scripts" / "build-compiled"), str(site), sys.executable]
    subprocess.run(build, check=True, capture_output=True, timeout=600)
    return site


def run(site: Path | None, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, timeout=300)


def test_the_compiled_build_is_the_one_imported(compiled_site: Path):
    code = "import reactor.engine, reactor.state, reactor.context; print(reactor.engine.__file__)"
    done = run(compiled_site, "-c", code)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip().endswith(".so")
    assert Path(done.stdout.decode().strip()).parent == compiled_site / "reactor"


def test_replay_prints_the_same_bytes_compiled_and_pure(compiled_site: Path):
    args = ("-m", "reactor", "replay", "examples/events.jsonl", "--until", "2027-06-01T00:00:00Z")
    pure, compiled = run(None, *args), run(compiled_site, *args)
    assert pure.returncode == 0, pure.stderr.decode()
    assert compiled.stdout == pure.stdout
    assert compiled.stderr == pure.stderr
    assert pure.stdout.count(b"\n") > 400


def test_the_core_and_cli_tests_pass_on_the_compiled_build(compiled_site: Path):
    # mypyc checks declared types at run time: this is where a narrowing that
    # holds for mypy but not at run time shows up (it did once: a field that a
    # call in between set to None).
    args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/core", "tests/cli"]
    # The one test left out replaces a module global with monkeypatch (a faulty
    # `next_due`, to test replay's guard against due work that leaves itself
    # due): a mypyc module binds its globals at compile time, so it cannot be
    # reached there; the pure build runs it.
    guard = (
        "tests/core/test_reminders.py::test_replay_reports_due_work_that_leaves_itself_due_instead_of_looping"
    )
    done = run(compiled_site, *args, "--ignore=tests/core/test_compiled.py", f"--deselect={guard}")
    assert done.returncode == 0, done.stdout.decode()[-3000:]
    assert b" passed" in done.stdout and b"skipped" not in done.stdout
