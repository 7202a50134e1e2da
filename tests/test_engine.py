"""The engine's contract seen from Python: sampled designs, failure capture at scale, and
determinism across shard sizes and threads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import qmc

import sweep_magic as sm

# gbm_option's five float parameters, each sampled on an interval where value - offset is
# the unit coordinate exactly (dyadic rationals survive the affine map unchanged).
UNIT_DIMS = {
    "s0": ({"uniform": [1, 2]}, 1.0),
    "strike": ({"uniform": [1, 2]}, 1.0),
    "rate": ({"uniform": [0, 1]}, 0.0),
    "sigma": ({"uniform": [1, 2]}, 1.0),
    "maturity": ({"uniform": [1, 2]}, 1.0),
}


@pytest.mark.parametrize("k", [3, 7, 10])
def test_unscrambled_sobol_matches_scipy(k: int) -> None:
    n = 2**k
    spec = sm.Spec(
        {
            "experiment": "gbm_option",
            "sample": {
                "method": "sobol",
                "n": n,
                "params": {name: dist for name, (dist, _) in UNIT_DIMS.items()},
            },
        }
    )
    points = spec.preview(n)
    ours = np.column_stack([points[name] - off for name, (_, off) in UNIT_DIMS.items()])
    theirs = qmc.Sobol(d=len(UNIT_DIMS), scramble=False).random(n)
    np.testing.assert_array_equal(ours, theirs)


def test_scrambled_sobol_is_seeded_and_balanced() -> None:
    def design(seed: int) -> pd.DataFrame:
        return sm.Spec(
            {
                "experiment": "gbm_option",
                "seed": seed,
                "sample": {
                    "method": "sobol",
                    "n": 256,
                    "scramble": True,
                    "params": {"s0": {"uniform": [1, 2]}, "strike": {"uniform": [1, 2]}},
                },
                "params": {"sigma": 0.2},
            }
        ).preview(256)

    a, b, c = design(1), design(1), design(2)
    pd.testing.assert_frame_equal(a, b)
    assert not a["s0"].equals(c["s0"])
    # Each of the 256 equal cells of [1, 2) holds exactly one point per dimension.
    for col in ("s0", "strike"):
        cells = np.floor((a[col] - 1.0) * 256).astype(int)
        assert sorted(cells) == list(range(256))


def test_lhs_puts_one_point_in_each_stratum() -> None:
    n = 97
    pts = sm.Spec(
        {
            "experiment": "gbm_option",
            "sample": {
                "method": "lhs",
                "n": n,
                "params": {"s0": {"uniform": [50, 150]}, "sigma": {"uniform": [0.1, 0.6]}},
            },
            "params": {"strike": 100},
        }
    ).preview(n)
    for col, (lo, hi) in {"s0": (50, 150), "sigma": (0.1, 0.6)}.items():
        strata = np.floor((pts[col] - lo) / (hi - lo) * n).astype(int)
        assert sorted(strata) == list(range(n))


@pytest.mark.parametrize(("fail_rate", "shard_size"), [(0.0, 7), (0.1, 1), (0.5, 13), (1.0, 50)])
def test_every_row_lands_exactly_once_at_any_fail_rate(
    root: Path, fail_rate: float, shard_size: int
) -> None:
    # 60 points cycling through the three failure modes, 3 replicates each.
    spec = {
        "experiment": "diag_fail",
        "replicates": 3,
        "shard_size": shard_size,
        "params": {"fail_rate": fail_rate},
        "zip": [{"mode": ["error", "panic", "nan"] * 20}],
    }
    run = sm.run(spec).wait()
    ok, failed = run.to_pandas(), run.failures()
    keys = list(zip(ok.point, ok.replicate, strict=True)) + list(
        zip(failed.point, failed.replicate, strict=True)
    )
    assert sorted(keys) == [(p, r) for p in range(60) for r in range(3)]
    expected = fail_rate * 180
    # Rows fail independently with probability fail_rate: allow 4 binomial SDs.
    assert abs(len(failed) - expected) <= 4 * (180 * fail_rate * (1 - fail_rate)) ** 0.5 + 1e-9


def test_results_are_identical_across_shard_sizes_and_threads(root: Path) -> None:
    base = {
        "experiment": "gbm_option",
        "seed": 99,
        "replicates": 2,
        "params": {"paths": 2000},
        "zip": [{"s0": [90, 100, 110], "strike": [95, 100, 105]}],
        "sample": {"method": "lhs", "n": 10, "params": {"sigma": {"uniform": [0.1, 0.5]}}},
    }
    frames = [
        sm.run({**base, "shard_size": size}, threads=threads).wait().to_pandas()
        for size, threads in [(1, 1), (4, 2), (30, 2)]
    ]
    for other in frames[1:]:
        pd.testing.assert_frame_equal(
            frames[0].drop(columns="duration_us"), other.drop(columns="duration_us")
        )
    changed = sm.run({**base, "seed": 100}).wait().to_pandas()
    assert not np.array_equal(changed["price"], frames[0]["price"])
