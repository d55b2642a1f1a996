"""Slow, obviously correct twins of memsim's kernels (pure Python / numpy), for equality tests."""

from __future__ import annotations

import math

import numpy as np

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def splitmix64(x: int) -> int:
    """splitmix64 finaliser of x + golden, on Python ints (Steele, Lea, Flood 2014)."""
    z = (x + GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


class Xoshiro256ss:
    """xoshiro256** (Blackman and Vigna) on Python ints."""

    def __init__(self, s0: int, s1: int, s2: int, s3: int) -> None:
        self.s = [s0, s1, s2, s3]

    def next(self) -> int:
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & MASK64  # noqa: E731
        result = (rotl((s[1] * 5) & MASK64, 7) * 9) & MASK64
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result


def stream(k0: int, k1: int, event: int, chunk: int) -> Xoshiro256ss:
    """The generator of one (event, chunk), derived as documented in memsim.rng."""
    x = splitmix64(k0 ^ splitmix64(k1 ^ splitmix64(event)))
    x ^= splitmix64((chunk * GOLDEN) & MASK64)
    s0 = splitmix64(x)
    s1 = splitmix64(s0)
    s2 = splitmix64(s1)
    s3 = splitmix64(s2)
    return Xoshiro256ss(s0, s1, s2, s3)


def unit(r: int) -> float:
    return (r >> 11) * (1.0 / 9007199254740992.0)


def pack(bits: np.ndarray) -> np.ndarray:
    """Bit i of the flat array -> bit i % 64 of word i // 64, by a loop."""
    flat = [bool(b) for b in np.asarray(bits).ravel()]
    words = [0] * ((len(flat) + 63) // 64)
    for i, b in enumerate(flat):
        if b:
            words[i // 64] |= 1 << (i % 64)
    return np.array(words, dtype=np.uint64)


def unpack(words: np.ndarray, nbits: int) -> np.ndarray:
    return np.array([(int(words[i // 64]) >> (i % 64)) & 1 for i in range(nbits)], dtype=bool)


def geometric_mask(
    nbits: int,
    p: float,
    k0: int,
    k1: int,
    event: int,
    chunk_words: int,
    words: list[int] | None = None,
    offset: int = 0,
) -> np.ndarray:
    """Geometric-skip mask, one chunk stream after another, in plain Python (OR-ed into ``words`` if given)."""
    nwords = (nbits + 63) // 64
    words = [0] * nwords if words is None else [int(w) for w in words]
    log_q = math.log1p(-p)
    for c in range((nwords + chunk_words - 1) // chunk_words):
        w0, w1 = c * chunk_words, min(nwords, (c + 1) * chunk_words)
        gen = stream(k0, k1, event, c + offset)
        end, pos = min(nbits, w1 * 64), w0 * 64 - 1
        while True:
            gap = math.log1p(-unit(gen.next())) / log_q
            if gap >= end - 1 - pos:
                break
            pos += 1 + int(gap)
            words[pos // 64] |= 1 << (pos % 64)
    return np.array(words, dtype=np.uint64)


def bitparallel_mask(nbits: int, digits: np.ndarray, k0: int, k1: int, event: int, chunk_words: int) -> np.ndarray:
    """Bit-parallel mask: m = r for the lowest digit, then m = r | m (digit 1) or r & m (digit 0)."""
    nwords = (nbits + 63) // 64
    words = [0] * nwords
    for c in range((nwords + chunk_words - 1) // chunk_words):
        gen = stream(k0, k1, event, c)
        for w in range(c * chunk_words, min(nwords, (c + 1) * chunk_words)):
            m = gen.next()
            for d in digits[1:]:
                r = gen.next()
                m = (m | r) if d else (m & r)
            words[w] = m
    if nbits % 64:
        words[-1] &= (1 << (nbits % 64)) - 1
    return np.array(words, dtype=np.uint64)


def hash_uniform(k0: int, k1: int, index: int) -> float:
    return unit(splitmix64(k0 ^ splitmix64(k1 ^ index)))


def weak_cells(nbits: int, fault_fraction: float, share01: float, k0: int, k1: int) -> tuple[np.ndarray, np.ndarray]:
    """Stuck-at-1 / stuck-at-0 cells: faulty iff u_2i < fraction; stuck-at-1 iff u_2i+1 < share."""
    stuck1 = np.zeros(nbits, bool)
    stuck0 = np.zeros(nbits, bool)
    for i in range(nbits):
        if hash_uniform(k0, k1, 2 * i) < fault_fraction:
            if hash_uniform(k0, k1, 2 * i + 1) < share01:
                stuck1[i] = True
            else:
                stuck0[i] = True
    return pack(stuck1), pack(stuck0)


def directional(data: np.ndarray, flip0: np.ndarray, flip1: np.ndarray) -> np.ndarray:
    """Flips of stored 0s from flip0 and of stored 1s from flip1, bit by bit."""
    out = []
    for d, a, b in zip(data.tolist(), flip0.tolist(), flip1.tolist(), strict=True):
        word = 0
        for bit in range(64):
            stored = (d >> bit) & 1
            chosen = (b if stored else a) >> bit & 1
            word |= chosen << bit
        out.append(word)
    return np.array(out, dtype=np.uint64)


def popcount(words: np.ndarray) -> int:
    return sum(bin(int(w)).count("1") for w in words)


# --------------------------------------------------------------- BNN engine
def signs(words: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Stored-order weight bits -> +-1 integers of ``shape`` (bit 1 = +1)."""
    nbits = int(np.prod(shape))
    bits = np.unpackbits(np.ascontiguousarray(words).view(np.uint8), count=nbits, bitorder="little")
    return np.where(bits == 1, 1, -1).astype(np.int64).reshape(shape)


def bnn_forward(net, images: np.ndarray, weights: list[np.ndarray] | None = None) -> np.ndarray:
    """The network in +-1 integer arithmetic, one image and one neuron at a time, zero padding as 0.

    ``weights``: stored-order word streams per layer (default: the network's clean weights).
    """
    c, h, w = net.input_shape
    imgs = np.asarray(images).reshape(-1, c, h, w)
    streams = weights if weights is not None else [layer.weights for layer in net.layers]
    out = []
    for img in imgs:
        x = np.where(img > net.input_threshold[:, None, None], 1, -1).astype(np.int64)  # (C, H, W)
        for layer, stream in zip(net.layers, streams, strict=True):
            wts = signs(stream, layer.shape)
            if layer.kind == "conv":
                pad = layer.padding
                xp = np.zeros((x.shape[0], x.shape[1] + 2 * pad, x.shape[2] + 2 * pad), dtype=np.int64)
                xp[:, pad : pad + x.shape[1], pad : pad + x.shape[2]] = x
                ho, wo = xp.shape[1] - 2, xp.shape[2] - 2
                hpre = np.zeros((layer.c_out, ho, wo), dtype=np.int64)
                for o in range(layer.c_out):
                    for yy in range(ho):
                        for xx in range(wo):
                            patch = xp[:, yy : yy + 3, xx : xx + 3]  # (C, 3, 3)
                            hpre[o, yy, xx] = int(np.sum(patch * wts[o].transpose(2, 0, 1)))
                if layer.pool:
                    hpre = (
                        hpre[:, : ho // 2 * 2, : wo // 2 * 2]
                        .reshape(layer.c_out, ho // 2, 2, wo // 2, 2)
                        .max(axis=(2, 4))
                    )
                fire = hpre > layer.threshold[:, None, None]
                fire ^= layer.invert[:, None, None]
                x = np.where(fire, 1, -1)
            else:
                vec = x.transpose(1, 2, 0).ravel() if x.ndim == 3 and len(layer.in_shape) == 3 else x.ravel()
                hpre = wts.reshape(layer.n_out, -1) @ vec
                if layer.threshold is None:
                    out.append(hpre)
                    break
                fire = (hpre > layer.threshold) ^ layer.invert
                x = np.where(fire, 1, -1)
    return np.array(out, dtype=np.int64)
