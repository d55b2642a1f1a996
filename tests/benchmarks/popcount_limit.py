"""The machine's XOR-popcount loop limit, as numba compiles it here and as a scalar POPCNT build would.

Shared by the engine benchmarks: every speed claim is printed next to the share of this
limit it reaches, measured in the same run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numba
import numpy as np
from numba import njit, prange

from memsim.bits import popcount

#: numba target of the scalar reference build: POPCNT and SSE4.2, no vector popcount.
SCALAR_ENV = {"NUMBA_CPU_NAME": "x86-64-v2", "NUMBA_CPU_FEATURES": "+popcnt,+sse4.2,+cx16,+sahf"}


@njit(parallel=True, cache=True)
def _popcount_peak(a, b, reps):  # type: ignore[no-untyped-def]
    # Tight XOR-popcount loop over L1-resident data, one slice per thread: the machine's practical limit.
    threads = a.shape[0]
    total = np.zeros(threads, np.int64)
    for t in prange(threads):
        acc = 0
        for _ in range(reps):
            for i in range(a.shape[1]):
                acc += popcount(a[t, i] ^ b[t, i])
        total[t] = acc
    return total.sum()


def popcount_limit_words_per_s() -> float:
    """XOR-popcount words per second of the tight loop on all numba threads, as compiled in this process."""
    threads = numba.get_num_threads()
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**63, (threads, 512), dtype=np.uint64)
    b = rng.integers(0, 2**63, (threads, 512), dtype=np.uint64)
    reps = 20_000
    _popcount_peak(a, b, 10)  # compile or load
    times = []
    for _ in range(7):  # the best of several: a limit is what the machine can do, noise only slows it
        start = time.perf_counter()
        _popcount_peak(a, b, reps)
        times.append(time.perf_counter() - start)
    return threads * 512 * reps / min(times)


def run_scalar(code: str) -> dict:
    """Run ``code`` (which prints one JSON object) in a process whose numba targets the scalar POPCNT build."""
    env = {**os.environ, **SCALAR_ENV, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


_SCALAR_CODE = """
import json, time
import numpy as np
from popcount_limit import popcount_limit_words_per_s
from memsim import config
from memsim.bnn import BNN
net = BNN.random("fashion-fcnn", seed=0)
images = np.random.default_rng(1).integers(0, 256, ({n}, 28, 28), dtype=np.uint8)
net.forward(images[:64])
times = []
for _ in range(5):
    start = time.perf_counter()
    net.forward(images)
    times.append(time.perf_counter() - start)
print(json.dumps({{"limit": popcount_limit_words_per_s(), "fcnn_s": sorted(times)[2], **config.popcount_isa()}}))
"""


def scalar_build(n_images: int) -> dict:
    """The scalar POPCNT build's loop limit and clean FCNN time (random weights, ``n_images``), in a subprocess."""
    return run_scalar(_SCALAR_CODE.format(n=n_images))


def scalar_limit_words_per_s() -> float:
    """The tight loop's limit in the scalar POPCNT build (one word per instruction), in a subprocess."""
    code = "import json; from popcount_limit import popcount_limit_words_per_s as f; print(json.dumps({'limit': f()}))"
    return float(run_scalar(code)["limit"])
