"""Shared fixtures: a fresh result root per test and the installed `sweep` command."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import pytest


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A result root that does not exist yet; also set as SWEEP_ROOT."""
    r = tmp_path / "sweep-root"
    monkeypatch.setenv("SWEEP_ROOT", str(r))
    return r


@pytest.fixture(scope="session")
def sweep_cmd() -> list[str]:
    """The `sweep` console script installed beside this interpreter."""
    script = Path(sys.executable).parent / "sweep"
    assert script.exists(), f"{script} missing: is sweep_magic installed in this venv?"
    return [str(script)]


@pytest.fixture
def clean_env(root: Path) -> dict[str, str]:
    """Environment for subprocesses: this one, with SWEEP_ROOT pointing at the test root."""
    env = dict(os.environ)
    env["SWEEP_ROOT"] = str(root)
    return env


def black_scholes_call(s0: float, strike: float, rate: float, sigma: float, t: float) -> float:
    """Closed-form European call price, for checking the kernel from Python."""

    def cdf(x: float) -> float:
        return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))

    vol = sigma * math.sqrt(t)
    d1 = (math.log(s0 / strike) + (rate + 0.5 * sigma * sigma) * t) / vol
    return s0 * cdf(d1) - strike * math.exp(-rate * t) * cdf(d1 - vol)
