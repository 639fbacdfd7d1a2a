"""Normalised scores: the start is 0, the reference 1, for either direction of metric."""

import math

import pytest

from environments.normalise import normalise

# RE-Bench's kernel task: ln(ms), lower is better; y_s 1.56 (4.76 ms), y_r 0.47 (1.6 ms).
TRITON = {"y_s": 1.56, "y_r": 0.47}
# RE-Bench's scaling-law task: higher is better; y_s 0.24, y_r 0.84.
SCALING = {"y_s": 0.24, "y_r": 0.84}


@pytest.mark.parametrize("numbers", [TRITON, SCALING], ids=["lower is better", "higher"])
def test_start_is_zero_and_reference_is_one(numbers):
    assert normalise(numbers["y_s"], **numbers) == 0.0
    assert normalise(numbers["y_r"], **numbers) == pytest.approx(1.0)


def test_lower_is_better():
    assert normalise(0.47, **TRITON) == pytest.approx(1.0)
    between = normalise(1.0, **TRITON)
    assert 0 < between < 1 and between == pytest.approx((1.0 - 1.56) / (0.47 - 1.56))
    assert normalise(0.2, **TRITON) > 1  # faster than the reference
    assert normalise(2.0, **TRITON) < 0  # slower than the start


def test_higher_is_better():
    assert normalise(0.54, **SCALING) == pytest.approx(0.5)
    assert normalise(0.9, **SCALING) > 1
    assert normalise(0.1, **SCALING) < 0


@pytest.mark.parametrize(
    ("y", "y_s", "y_r"),
    [
        (None, 1.56, 0.47),
        (math.nan, 1.56, 0.47),
        (math.inf, 1.56, 0.47),
        (-math.inf, 1.56, 0.47),
        (1.0, None, 0.47),
        (1.0, 1.56, None),
        (1.0, 1.0, 1.0),
        (1.0, math.nan, 0.47),
        (True, 0.0, 1.0),
        ("fast", 0.0, 1.0),
    ],
)
def test_none_where_it_cannot_be_normalised(y, y_s, y_r):
    assert normalise(y, y_s, y_r) is None


def test_integers_are_numbers_too():
    assert normalise(5, 0, 10) == 0.5
