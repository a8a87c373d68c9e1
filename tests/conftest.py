"""Shared fixtures: a clean environment, configuration roots written from YAML
text, and events built the way upstream systems send them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reactor.config import Config, load_config
from support import write_config

REPO = Path(__file__).resolve().parent.parent

_KEEP_ENV = {
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "JAVA_HOME",
    "MAVEN_OPTS",
    "KAFKA_BOOTSTRAP_SERVERS",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "REACTOR_KAFKA_JARS",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's REACTOR_*/COMMS_* settings or secrets."""
    for name in list(os.environ):
        if name not in _KEEP_ENV and (
            name.startswith(("REACTOR_", "COMMS_")) or "SECRET" in name or "TOKEN" in name
        ):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def config_root(tmp_path: Path) -> Callable[..., Path]:
    def make(files: dict[str, str]) -> Path:
        return write_config(tmp_path / "config", files)

    return make


@pytest.fixture
def make_config(config_root: Callable[..., Path]) -> Callable[..., Config]:
    """Load a configuration from one reactions file (plus optional extra files)."""

    def make(reactions_yaml: str, **extra: str) -> Config:
        files = {"reactions/rules.yaml": reactions_yaml}
        files.update({k.replace("__", "/"): v for k, v in extra.items()})
        return load_config(config_root(files))

    return make


@pytest.fixture
def sample_config() -> Config:
    """The bundled sample configuration (reactions/ and targets/ at the repo root)."""
    return load_config(REPO)


@pytest.fixture
def examples_file() -> Iterator[Path]:
    yield REPO / "examples" / "events.jsonl"
