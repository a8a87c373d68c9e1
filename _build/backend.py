"""The build backend: setuptools, plus mypy when the hot path is compiled.

`REACTOR_COMPILE=1 pip install .` compiles the modules every event goes
through (see setup.py) with mypyc; the build then needs mypy, and only then,
so a plain install does not download it. This is setuptools' documented way
to add build requirements dynamically. (With --no-build-isolation, as the
tests and the benchmark build it, the environment must already have them.)
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (the backend's other hooks, unchanged)

#: The mypy whose mypyc compiles reactor (pinned: it generates the C code).
MYPYC = "mypy==2.4.1"


def _compiling() -> list[str]:
    """mypy, and reactor's own dependencies: mypyc type-checks the modules it
    compiles against them (pydantic's plugin included), as `mypy src` does."""
    if os.environ.get("REACTOR_COMPILE") != "1":
        return []
    with open("pyproject.toml", "rb") as file:
        project = tomllib.load(file)["project"]
    return [MYPYC, *project["dependencies"]]


def _requires(ask: Callable[[dict[str, Any] | None], list[str]], settings: dict[str, Any] | None) -> list[str]:
    # setuptools runs setup.py to answer, before mypy is installed: say so.
    os.environ["REACTOR_ASKING_REQUIREMENTS"] = "1"
    try:
        return [*ask(settings), *_compiling()]
    finally:
        del os.environ["REACTOR_ASKING_REQUIREMENTS"]


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    return _requires(_setuptools.get_requires_for_build_wheel, config_settings)


def get_requires_for_build_editable(config_settings: dict[str, Any] | None = None) -> list[str]:
    return _requires(_setuptools.get_requires_for_build_editable, config_settings)
