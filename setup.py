"""Packaging lives in pyproject.toml; this file only adds the compiled build.

With REACTOR_COMPILE=1 the modules every event goes through are compiled with
mypyc (the same typed Python, as C extensions: about 1.5x the events per
second, see README "Speed"). Without it, reactor is pure Python: that is the
default, so that an editable install always runs the code you edit.
"""

from __future__ import annotations

import os

from setuptools import setup

#: The hot path: decode-free, I/O-free modules that mypy checks strictly.
COMPILED = [
    "src/reactor/clock.py",
    "src/reactor/state.py",
    "src/reactor/windows.py",
    "src/reactor/context.py",
    "src/reactor/actions.py",
    "src/reactor/engine.py",
    "src/reactor/steps.py",
    "src/reactor/due.py",
    "src/reactor/tiers.py",
    "src/reactor/achievements.py",
    "src/reactor/ledger.py",
    "src/reactor/config.py",
    "src/reactor/events.py",
    "src/reactor/replay.py",
]

if os.environ.get("REACTOR_COMPILE") == "1" and not os.environ.get("REACTOR_ASKING_REQUIREMENTS"):
    from mypyc.build import mypycify  # see _build/backend.py: installed for this build

    setup(ext_modules=mypycify(COMPILED, opt_level="3"))
else:
    setup()
