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
