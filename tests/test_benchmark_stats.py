"""The benchmarks' shared statistics (``benchmarks/common.py``): what their ratios and intervals mean."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from common import alternating, paired  # noqa: E402


def test_sides_take_turns_going_first() -> None:
    order: list[str] = []
    out = alternating(4, {"a": lambda: order.append("a") or 1.0, "b": lambda: order.append("b") or 2.0}, between=lambda: None)
    assert order == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert out == {"a": [1.0] * 4, "b": [2.0] * 4}


def test_the_paired_ratio_compares_each_round_with_itself() -> None:
    # the machine's speed moves between rounds; each round's remote side is 0.8-0.95 of the side beside it
    baseline = [10.0, 20.0, 30.0, 40.0, 50.0]
    values = [9.5, 18.0, 24.0, 38.0, 40.0]  # ratios 0.95, 0.9, 0.8, 0.95, 0.8
    median, low, high = paired(values, baseline)
    assert median == pytest.approx(0.9)  # the ratio of the two medians is 24 / 30 = 0.8
    assert low == pytest.approx(0.8) and high == pytest.approx(0.95)


def test_the_interval_widens_with_the_spread_of_the_rounds() -> None:
    baseline = [20.0] * 9
    steady = paired([18.0, 18.2, 17.8, 18.1, 17.9, 18.0, 18.2, 17.8, 18.0], baseline)
    noisy = paired([14.0, 22.0, 16.0, 21.0, 18.0, 15.0, 23.0, 17.0, 19.0], baseline)
    assert steady[1] <= steady[0] <= steady[2] and noisy[1] <= noisy[0] <= noisy[2]
    assert noisy[2] - noisy[1] > 3 * (steady[2] - steady[1])
    assert noisy[1] < 0.9 < noisy[2]  # a target inside the interval is not shown either way
