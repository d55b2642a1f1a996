"""Speed settings in one place (numba flags, chunk and block sizes, sampler crossover).

Kernels read these at import (numba flags) or at call time (sizes); nothing in a
kernel hard-codes them. No result depends on the block sizes (every random draw is
keyed by what it describes, not by the call it happens in); ``CHUNK_WORDS``,
``GEOMETRIC_MAX_P`` and ``P_BITS`` shape the random streams of a read, so they are
fixed for reproducibility and never depend on the thread count.
"""

from __future__ import annotations

import os
from typing import TypedDict

__all__ = [
    "CHUNK_WORDS",
    "CONV_BLOCK",
    "DENSE_BLOCK",
    "EXPLICIT_BLOCK_MB",
    "FIRST_LAYER_CACHE_MB",
    "GEOMETRIC_MAX_P",
    "MARGIN_BLOCK",
    "NUMBA_FLAGS",
    "NUMBA_PARALLEL_FLAGS",
    "P_BITS",
    "popcount_isa",
    "reset",
]


class JitFlags(TypedDict, total=False):
    """Keyword arguments of ``numba.njit`` that memsim sets (typed, so type checkers accept ``**flags``)."""

    cache: bool
    nogil: bool
    parallel: bool


#: ``cache=True`` keeps compiled kernels between runs (set MEMSIM_NUMBA_CACHE=0 to disable).
NUMBA_FLAGS: JitFlags = {"cache": os.environ.get("MEMSIM_NUMBA_CACHE", "1") != "0", "nogil": True}
NUMBA_PARALLEL_FLAGS: JitFlags = {**NUMBA_FLAGS, "parallel": True}

#: Words (64 bits) per independent RNG stream. Fixed, so results do not depend on threads.
CHUNK_WORDS: int = 1024

#: Above this flip probability the bit-parallel sampler beats geometric skipping
#: (crossover measured at p ~ 0.02-0.03 on the 2-core development machine; tests/benchmarks/test_bench_memory.py).
GEOMETRIC_MAX_P: float = 0.025

#: Significant binary digits of p the bit-parallel sampler builds from random words; the
#: remainder (below p * 2**-P_BITS) is added exactly by a sparse geometric pass.
P_BITS: int = 12

#: Images per kernel call when convolutions are involved (bounds their activations' memory).
CONV_BLOCK: int = 256

#: Images per kernel call of dense-only networks (amortises kernel launches).
DENSE_BLOCK: int = 4096

#: Memory (MiB) for a block of explicit per-image reads of one dense layer (the read words, their
#: flip masks and the kernel layout): larger blocks amortise kernel launches, results do not change.
EXPLICIT_BLOCK_MB: float = 64.0

#: Images per call of the importance kernel (margins): short calls keep Ctrl-C responsive.
MARGIN_BLOCK: int = 64

#: Memory (MiB) a network may keep for its first layer's clean mismatch counts of images it has
#: evaluated before (a BER sweep reads the same images at every point); 0 turns it off.
FIRST_LAYER_CACHE_MB: float = 256.0

_DEFAULTS = {
    "CHUNK_WORDS": CHUNK_WORDS,
    "GEOMETRIC_MAX_P": GEOMETRIC_MAX_P,
    "P_BITS": P_BITS,
    "CONV_BLOCK": CONV_BLOCK,
    "DENSE_BLOCK": DENSE_BLOCK,
    "MARGIN_BLOCK": MARGIN_BLOCK,
    "FIRST_LAYER_CACHE_MB": FIRST_LAYER_CACHE_MB,
    "EXPLICIT_BLOCK_MB": EXPLICIT_BLOCK_MB,
}


def popcount_isa() -> dict[str, str]:
    """How numba compiles the XOR-popcount loops on this machine, as it will compile them.

    numba targets the host CPU unless ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES`` say
    otherwise; LLVM then vectorises the engine's loops over neurons or output channels. With
    AVX-512 VPOPCNTDQ it counts 8 words per instruction; with AVX2 LLVM counts 4 words at a
    time by nibble lookup (``vpshufb``, several instructions); with only POPCNT the loop is
    scalar (one word per instruction); without POPCNT it falls back to bit tricks.

    The patch-word convolutions (at most 7 input channels) count in 16- or 32-bit lanes;
    AVX-512 BITALG counts 32 uint16 lanes per instruction (``vpopcntw``), elsewhere LLVM
    emulates the narrow counts.

    Returns
    -------
    dict of str
        ``target`` (CPU name numba compiles for), ``popcount`` (``avx512-vpopcntdq``,
        ``avx2-lookup``, ``popcnt`` or ``software``), ``vector_words`` (words per step) and
        ``lanes16`` (``avx512-bitalg`` or ``emulated``).
    """
    from numba.core.registry import cpu_target  # numba's own answer, overrides included

    _, cpu, features = cpu_target.target_context.codegen().magic_tuple()
    on = {f[1:] for f in features.split(",") if f.startswith("+")}
    if {"avx512f", "avx512vpopcntdq"} <= on:
        isa, width = "avx512-vpopcntdq", "8"
    elif "avx2" in on:
        isa, width = "avx2-lookup", "4"
    elif "popcnt" in on:
        isa, width = "popcnt", "1"
    else:
        isa, width = "software", "1"
    lanes16 = "avx512-bitalg" if {"avx512f", "avx512bitalg"} <= on else "emulated"
    return {"target": cpu, "popcount": isa, "vector_words": width, "lanes16": lanes16}


def reset() -> None:
    """Restore every size and crossover above to its default (tests change them to prove they change no result)."""
    globals().update(_DEFAULTS)
