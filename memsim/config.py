"""Kernel settings in one place (numba flags, chunk sizes, sampler crossover).

Kernels read these at import (numba flags) or at call time (sizes); nothing in a
kernel hard-codes them. Results never depend on them: chunking is fixed by
``CHUNK_WORDS``, not by the thread count, so the same seed gives the same bits on
1 or 2 threads.
"""

from __future__ import annotations

import os

__all__ = ["CHUNK_WORDS", "GEOMETRIC_MAX_P", "NUMBA_FLAGS", "NUMBA_PARALLEL_FLAGS", "P_BITS"]

#: ``cache=True`` keeps compiled kernels between runs (set MEMSIM_NUMBA_CACHE=0 to disable).
NUMBA_FLAGS: dict[str, bool] = {"cache": os.environ.get("MEMSIM_NUMBA_CACHE", "1") != "0", "nogil": True}
NUMBA_PARALLEL_FLAGS: dict[str, bool] = {**NUMBA_FLAGS, "parallel": True}

#: Words (64 bits) per independent RNG stream. Fixed, so results do not depend on threads.
CHUNK_WORDS: int = 1024

#: Above this flip probability the bit-parallel sampler beats geometric skipping
#: (crossover measured at p ~ 0.02-0.03 on this machine: shared/research/performance.md §3).
GEOMETRIC_MAX_P: float = 0.025

#: Significant binary digits of p the bit-parallel sampler builds from random words; the
#: remainder (below p * 2**-P_BITS) is added exactly by a sparse geometric pass.
P_BITS: int = 12
