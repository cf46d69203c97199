"""graphsync.algorithms.weights: the one rule by which two weights are the same weight."""

import math
import struct

import numpy as np

from graphsync.algorithms import weights


def nan_with(bits):
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


NANS = [float("nan"), -float("nan"), np.float64("nan"), nan_with(0x7FF0000000000001), nan_with(0xFFF8000000000123)]


def test_every_nan_is_one_key_equal_to_itself_and_to_infinity():
    assert all(math.isnan(n) for n in NANS)
    assert {weights.key(n) for n in NANS} == {math.inf}
    assert len({(1, weights.key(n)) for n in NANS}) == 1  # one dict/Counter key
    assert weights.keys(np.array(NANS)).tolist() == [math.inf] * len(NANS)


def test_other_weights_keep_their_value_and_negative_zero_is_zero():
    for w in (1.0, 0.5, -2.5, 0.0, math.inf, -math.inf, 5e-324, 1.7976931348623157e308):
        assert weights.key(w) == w and type(weights.key(w)) is float
    assert math.copysign(1.0, weights.key(-0.0)) == 1.0
    assert weights.key(np.float32(2.5)) == 2.5 and weights.key(3) == 3.0
    a = np.array([1.0, -0.0, -math.inf])
    assert weights.keys(a) is a  # nothing to change: no copy
    assert weights.keys(np.array([math.nan, 2.0, math.inf])).tolist() == [math.inf, 2.0, math.inf]
    assert weights.keys([]).dtype == np.float64
