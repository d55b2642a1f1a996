"""Fault models: how rates become flip masks."""

from __future__ import annotations

import numpy as np
import pytest

import memsim


def test_rates_equal_but_for_rounding_are_one_symmetric_rate():
    """A profile may compute p01 and p10 along different paths: equal to 1e-9 relative is symmetric."""
    from memsim import ApproximateMemory
    from memsim.memory.faults import symmetric_rate

    p = 1.01321e-06
    q = p * (1 + 1e-15)
    assert p != q and symmetric_rate(p, q) == pytest.approx(p, rel=1e-14)
    assert symmetric_rate(1e-3, 2e-3) is None
    mem = ApproximateMemory("transient", seed=0)
    mem.store("w", np.ones(4096, dtype=bool))
    mem.set_rates(p, q)
    assert mem.read("w").shape == (4096,)  # no "rates differ" error
    mem.set_rates(1e-3, 2e-3)
    with pytest.raises(memsim.ConfigError, match="rates differ"):
        mem.read("w")


@pytest.mark.parametrize(
    ("model", "options", "rates"),
    [
        ("transient", {}, (0.01, 0.01)),
        ("asymmetric", {}, (0.02, 0.005)),
        ("persistent", {}, (0.03, 0.01)),
        ("persistent", {"cell_map": (np.r_[np.ones(20), np.zeros(50_000)], np.full(50_020, 0.0))}, (0, 0)),
        ("persistent", {"cell_map": (np.full(50_020, 0.01), np.full(50_020, 0.3))}, (0, 0)),
        ("mixed", {"persistent_fraction": 0.3}, (0.02, 0.02)),
        ("mixed", {"persistent_fraction": 1.0}, (0.02, 0.02)),
    ],
)
@pytest.mark.parametrize("nbits", [70, 50_000])
def test_a_block_of_reads_equals_the_reads_one_at_a_time(model, options, rates, nbits):
    """Fault models that draw a block at once (flips_block) give exactly the bits of single reads."""
    from memsim import ApproximateMemory
    from memsim.memory.reads import ReadSet

    mem = ApproximateMemory(model, seed=4, **options)
    mem.store("w", np.random.default_rng(0).random(nbits) < 0.5)
    mem.set_rates(*rates)
    block = mem.read_words("w", ReadSet.images(10, 5, seed=2))
    block_flips = mem.totals.bits_flipped
    singles = np.concatenate([mem.read_words("w", ReadSet.images(10 + j, 1, seed=2)) for j in range(5)])
    np.testing.assert_array_equal(block, singles)
    assert mem.totals.reads == 10 and mem.totals.bits_flipped == 2 * block_flips
    if model == "persistent" and "cell_map" not in options:  # the same bits every read: one row, broadcast
        assert block.strides[0] == 0
    flipped = int(np.unpackbits(block.view(np.uint8) ^ np.tile(mem._get("w").words, (5, 1)).view(np.uint8)).sum())
    print(f"{model} {options and list(options)} {nbits} bits: {flipped} flips over 5 reads")
    assert flipped > 0 or nbits == 70
