"""The benchmark harness's rules for a shared machine: a pair measured while other processes
or the hypervisor took more than a tenth of a core is marked loaded, the median rests on quiet
pairs when there are enough of them, and the report says which pairs were loaded and when the
figure is not from a quiet machine. (The measurements run in `scripts/bench.sh`, not here.)"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def efficiency() -> Any:
    sys.path.insert(0, str(BENCH))
    try:
        from bench import efficiency as module
    finally:
        sys.path.remove(str(BENCH))
    return module


def _pair(eff: float, loaded: bool) -> dict[str, Any]:
    return {
        "base_s": 10.0,
        "parallel_s": 10.0 / (eff * 2),
        "speedup": eff * 2,
        "efficiency": eff,
        "load_before": 3.5 if loaded else 0.4,
        "load_after": 3.1 if loaded else 0.6,
        "others_s": 2.5 if loaded else 0.1,
        "stolen_s": 0.5 if loaded else 0.1,
        "taken": 0.2 if loaded else 0.01,
        "loaded": loaded,
    }


def test_the_median_uses_only_quiet_pairs_when_three_or_more_were_quiet(efficiency: Any) -> None:
    pairs = [
        _pair(0.50, True),
        _pair(0.97, False),
        _pair(0.99, False),
        _pair(0.60, True),
        _pair(0.98, False),
    ]
    summary = efficiency._summary(pairs)
    assert summary["efficiency"] == pytest.approx(0.98)
    assert (summary["min"], summary["max"]) == (0.97, 0.99)
    assert (summary["quiet_pairs"], summary["pairs_used"], summary["on_quiet_pairs"]) == (
        3,
        3,
        True,
    )


def test_a_loaded_machine_is_reported_as_such(efficiency: Any) -> None:
    pairs = [_pair(0.7, True), _pair(0.8, True), _pair(0.97, False), _pair(0.75, True)]
    summary = efficiency._summary(pairs)
    assert not summary["on_quiet_pairs"]
    assert summary["pairs_used"] == 4
    assert summary["efficiency"] == pytest.approx(0.775)
    result = {
        "points": 10_000,
        "paths": 2000,
        "cores": 2,
        "kernel_s": 1e-3,
        "local": {"pairs": pairs, **summary},
        "ray": {"pairs": pairs, **summary},
    }
    lines, targets = efficiency.section(result)
    text = "\n".join(lines)
    assert text.count("**loaded**") == 6  # three loaded pairs per backend
    local = targets[0]
    assert not local.ok
    assert "loaded machine" in local.measured
    assert "only 1 quiet pairs" in local.why
