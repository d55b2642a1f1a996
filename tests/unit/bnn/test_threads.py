"""One network shared by threads (Dask's threaded workers): its caches must not break or mix results."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from memsim.bnn import BNN
from memsim.bnn.layers import Dense


@pytest.mark.jit  # 12,000 first-layer counts: minutes without the compiled kernels
def test_first_layer_memo_survives_threads_and_keeps_counts_right():
    """Many threads feeding distinct and repeated blocks through the memo of first-layer counts at once.

    Without the lock, iterating the memo while another thread inserted raised "dictionary changed size
    during iteration" (and a KeyError on an evicted key) at a 1 microsecond switch interval.
    """
    net = BNN.random("fashion-fcnn", seed=0)
    layer = net.layers[0]
    assert isinstance(layer, Dense)
    w = net._clean_kernel_weights()[0]
    rng = np.random.default_rng(0)
    blocks = [rng.integers(0, 2**63, (2, 13), dtype=np.uint64) for _ in range(400)]
    want = [((layer.n_in - net._dense_clean_h(x, layer, w)) // 2).astype(np.int32) for x in blocks]
    errors: list[BaseException] = []
    wrong: list[int] = []

    def work(seed: int) -> None:
        order = np.random.default_rng(seed).integers(0, len(blocks), 1500)
        try:
            for i in order:
                got = net._first_mismatches(blocks[i], layer, w)
                if got is not None and not np.array_equal(got, want[i]):
                    wrong.append(int(i))
        except BaseException as err:  # any error in a worker thread fails the test
            errors.append(err)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors[:1]
    assert not wrong
    assert any(v is not None for v in net._first_memo.values())  # the memo did keep counts
