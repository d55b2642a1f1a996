"""Property tests: packing and error-free reads round-trip any array."""

from __future__ import annotations

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
import naive  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from memsim import ApproximateMemory  # noqa: E402
from memsim.bits import pack_bits  # noqa: E402

shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=70)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.bool_, shapes))
def test_pack_round_trip_and_layout(bits):
    packed = pack_bits(bits)
    np.testing.assert_array_equal(packed.unpack(), bits)
    np.testing.assert_array_equal(packed.words, naive.pack(bits))
    assert packed.nbits == bits.size


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([np.bool_, np.uint8, np.int8, np.int16, np.int32]).flatmap(lambda dt: hnp.arrays(dt, shapes)))
def test_error_free_read_is_the_stored_array(array):
    mem = ApproximateMemory(seed=0)
    mem.store("a", array)
    out = mem.read("a")
    assert out.dtype == array.dtype and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.int16, shapes), st.floats(0.0, 1.0))
def test_flips_only_ever_touch_stored_bits(array, p):
    """Whatever p, a read of int16 words differs from the data only in bits of those words (no padding leaks)."""
    mem = ApproximateMemory(seed=1)
    mem.store("a", array)
    mem.set_rates(p, p)  # any probability up to 1 (set_ber stops at 0.5)
    packed = mem.read_packed("a")
    rem = packed.nbits % 64
    if rem:
        assert int(packed.words[-1]) >> rem == 0, "padding bits stay 0"
    assert mem.totals.bits_flipped <= array.size * 16
