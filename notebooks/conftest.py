"""nbval runs these notebooks with results in a throw-away root, never in the repository, and
the cloud notebook against the local emulation of the cloud path (started once, before the
first kernel, so every kernel inherits its environment)."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import pytest

os.environ.setdefault("SWEEP_ROOT", tempfile.mkdtemp(prefix="sweep-notebooks-"))
os.environ.setdefault("MPLBACKEND", "Agg")

_emulation: Any = None


def pytest_collection_finish(session: pytest.Session) -> None:
    global _emulation
    if any("cloud" in os.path.basename(str(item.fspath)) for item in session.items):
        from sweep_magic.local_cloud import LocalCloud

        # The same build features as tests/test_cloud.py, so the Lambdas build once.
        _emulation = LocalCloud(features=("fault-injection",)).start()
        os.environ.update(_emulation.client_env())


def pytest_unconfigure(config: pytest.Config) -> None:
    if _emulation is not None:
        _emulation.stop()
