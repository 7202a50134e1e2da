"""`summarize`: means, standard deviations and Student t 95% confidence half-widths."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy.stats import t  # type: ignore[import-untyped]

from sweep_magic.analysis import summarize
from sweep_magic.errors import SweepError


def test_ci95_of_a_small_sample_is_the_student_t_half_width() -> None:
    frame = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0, 5.0]})
    out = summarize(frame, [], ["y"])
    # n = 5: mean 3, sample variance 10/4 = 2.5, df = 4, half-width t(0.975, 4) * s / sqrt(n).
    expected = float(t.ppf(0.975, 4)) * math.sqrt(2.5) / math.sqrt(5)
    assert expected == pytest.approx(1.9632431615, rel=1e-9)  # t(0.975, 4) = 2.7764451052
    row = out.iloc[0]
    assert row["y_mean"] == pytest.approx(3.0)
    assert row["y_std"] == pytest.approx(math.sqrt(2.5))
    assert row["y_count"] == 5
    assert row["y_ci95"] == pytest.approx(expected, rel=1e-12)


def test_ci95_per_group_uses_each_groups_degrees_of_freedom() -> None:
    big = [float(i % 7) for i in range(40)]  # df = 39: beyond any 30-row table
    frame = pd.DataFrame(
        {
            "g": ["a"] * 40 + ["b"] * 2 + ["c"],
            "y": [*big, 10.0, 14.0, 7.0],
        }
    )
    ci = summarize(frame, ["g"], ["y"]).set_index("g")["y_ci95"].to_dict()
    s_a = pd.Series(big).std()
    assert ci["a"] == pytest.approx(float(t.ppf(0.975, 39)) * s_a / math.sqrt(40), rel=1e-12)
    # n = 2: df = 1, t = 12.7062..., s = sqrt(8).
    assert ci["b"] == pytest.approx(float(t.ppf(0.975, 1)) * math.sqrt(8) / math.sqrt(2), rel=1e-12)
    # A single replicate has no interval.
    assert math.isnan(ci["c"])


def test_unknown_columns_are_named() -> None:
    with pytest.raises(SweepError, match="unknown column"):
        summarize(pd.DataFrame({"y": [1.0]}), ["x"], ["y"])
