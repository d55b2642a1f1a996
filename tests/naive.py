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


def weak_cells(
    nbits: int, fault_fraction: float, share01: float, k0: int, k1: int, offset: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Stuck-at-1 / stuck-at-0 cells at addresses a = offset + i: faulty iff u_2a < fraction; stuck-at-1 iff u_2a+1 < share."""
    stuck1 = np.zeros(nbits, bool)
    stuck0 = np.zeros(nbits, bool)
    for i in range(nbits):
        a = offset + i
        if hash_uniform(k0, k1, 2 * a) < fault_fraction:
            if hash_uniform(k0, k1, 2 * a + 1) < share01:
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


def bnn_forward(net, images: np.ndarray, weights: list[np.ndarray] | None = None, thresholds=None) -> np.ndarray:
    """The network in +-1 integer arithmetic, one image and one neuron at a time, zero padding as 0.

    ``weights``: stored-order word streams per layer (default: the network's clean weights).
    ``thresholds``: per layer, thresholds replacing the layer's (None: its own).
    """
    thresholds = thresholds if thresholds is not None else [None] * len(net.layers)
    c, h, w = net.input_shape
    imgs = np.asarray(images).reshape(-1, c, h, w)
    streams = weights if weights is not None else [layer.weights for layer in net.layers]
    out = []
    for img in imgs:
        x = np.where(img > net.input_threshold[:, None, None], 1, -1).astype(np.int64)  # (C, H, W)
        for layer, stream, s_over in zip(net.layers, streams, thresholds, strict=True):
            wts = signs(stream, layer.shape)
            s = layer.threshold if s_over is None else np.asarray(s_over)
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
                fire = hpre > s[:, None, None]
                fire ^= layer.invert[:, None, None]
                x = np.where(fire, 1, -1)
            else:
                vec = x.transpose(1, 2, 0).ravel() if x.ndim == 3 and len(layer.in_shape) == 3 else x.ravel()
                hpre = wts.reshape(layer.n_out, -1) @ vec
                if layer.threshold is None:
                    out.append(hpre)
                    break
                fire = (hpre > s) ^ layer.invert
                x = np.where(fire, 1, -1)
    return np.array(out, dtype=np.int64)


# ---------------------------------------------------------- per-kernel twins
def xor_count(data: np.ndarray, flips: np.ndarray) -> tuple[np.ndarray, int]:
    return np.array([int(d) ^ int(f) for d, f in zip(data, flips, strict=True)], dtype=np.uint64), popcount(flips)


def mixed_flips(stuck_flips, data, stuck, t0, t1) -> np.ndarray:
    """stuck_flips | (transient flips by stored bit on the cells not stuck), bit by bit."""
    out = []
    for sf, d, st, a, b in zip(*(x.tolist() for x in (stuck_flips, data, stuck, t0, t1)), strict=True):
        word = sf
        for bit in range(64):
            if not (st >> bit) & 1:
                chosen = (b if (d >> bit) & 1 else a) >> bit & 1
                word |= chosen << bit
        out.append(word)
    return np.array(out, dtype=np.uint64)


def sparse_mask(base, positions, probs, k0: int, k1: int, event: int) -> np.ndarray:
    """base | bit positions[j] set iff the j-th draw of the read's stream is below probs[j]."""
    words = [int(w) for w in base]
    gen = stream(k0, k1, event, 0)
    for pos, p in zip(positions.tolist(), probs.tolist(), strict=True):
        if unit(gen.next()) < p:
            words[pos // 64] |= 1 << (pos % 64)
    return np.array(words, dtype=np.uint64)


def binarize(images: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(B, C, ...) uint8 -> bool of pixel > its channel's threshold."""
    shape = (1, -1) + (1,) * (images.ndim - 2)
    return images > np.asarray(thresholds).reshape(shape)


def binarize_flat(images: np.ndarray, thresholds: np.ndarray, nw: int) -> np.ndarray:
    bits = binarize(images, thresholds).reshape(len(images), -1)
    out = np.zeros((len(images), nw), dtype=np.uint64)
    for b, row in enumerate(bits):
        out[b, : (row.size + 63) // 64] = pack(row)
    return out


def binarize_hwc(images: np.ndarray, thresholds: np.ndarray, nwc: int) -> np.ndarray:
    bits = binarize(images, thresholds)  # (B, C, H, W)
    B, C, H, W = bits.shape
    out = np.zeros((B, H, W, nwc), dtype=np.uint64)
    for b in range(B):
        for y in range(H):
            for x in range(W):
                out[b, y, x, : (C + 63) // 64] = pack(bits[b, :, y, x])
    return out


def dense_h(x: np.ndarray, w: np.ndarray, n_in: int) -> np.ndarray:
    """h = n_in - 2 * popcount(x XOR w) per (image, neuron)."""
    return np.array([[n_in - 2 * popcount(xr ^ wr) for wr in w] for xr in x], dtype=np.int32)


def dense_mismatch(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.array([[popcount(xr ^ wr) for wr in w] for xr in x], dtype=np.int32)


def threshold(h: np.ndarray, s: np.ndarray, invert: np.ndarray) -> np.ndarray:
    """Packed firing bits along the last axis: fire iff h > s, inverted where invert."""
    fire = (h > s) ^ invert
    lead = fire.shape[:-1]
    nw = (fire.shape[-1] + 63) // 64
    out = np.zeros((*lead, nw), dtype=np.uint64)
    for idx in np.ndindex(*lead):
        out[idx] = pack(fire[idx]) if fire.shape[-1] else out[idx]
    return out


def conv3x3_h(x: np.ndarray, w: np.ndarray, c_in: int, pad: int, mode: int) -> np.ndarray:
    """Integer pre-activations of a 3x3 convolution over packed channel words, position by position."""
    B, H, W, _ = x.shape
    n_out = w.shape[1]
    ho, wo = H + 2 * pad - 2, W + 2 * pad - 2
    out = np.zeros((B, ho, wo, n_out), dtype=np.int32)
    for b in range(B):
        for yo in range(ho):
            for xo in range(wo):
                r = 0 if mode == 0 else (b if mode == 1 else yo * wo + xo)
                for o in range(n_out):
                    n_valid = mism = 0
                    for dy in range(3):
                        for dx in range(3):
                            yi, xi = yo + dy - pad, xo + dx - pad
                            if 0 <= yi < H and 0 <= xi < W:
                                n_valid += c_in
                                mism += popcount(x[b, yi, xi] ^ w[r, o, dy, dx])
                    out[b, yo, xo, o] = n_valid - 2 * mism
    return out


def maxpool2(h: np.ndarray) -> np.ndarray:
    B, H, W, C = h.shape
    return h[:, : H // 2 * 2, : W // 2 * 2].reshape(B, H // 2, 2, W // 2, 2, C).max(axis=(2, 4)).astype(np.int32)


def realign_rows(stream_words: np.ndarray, rows: int, n_bits: int) -> np.ndarray:
    bits = unpack(stream_words, rows * n_bits).reshape(rows, n_bits)
    nw = (n_bits + 63) // 64
    return np.array([np.pad(pack(r), (0, nw - (r.size + 63) // 64)) for r in bits], dtype=np.uint64)


def output_margin(h: np.ndarray) -> np.ndarray:
    top2 = np.sort(h, axis=1)[:, -2:]
    return (top2[:, 1] - top2[:, 0]).astype(np.int32)


def binom_pmf(N: int, p: float, k: int) -> float:
    if not 0 <= k <= N:
        return 0.0
    if p == 0.0:
        return 1.0 if k == 0 else 0.0
    return math.comb(N, k) * p**k * (1 - p) ** (N - k)


def counter_uniform(k0: int, k1: int, event: int, index: int) -> float:
    """Number `index` of the SplitMix64 stream of (key, event): seed + (index + 1) * golden, finalised."""
    base = splitmix64(k0 ^ splitmix64(k1 ^ splitmix64(event)))
    return unit(splitmix64((base + index * GOLDEN) & MASK64))


def sample_fire(mism, lo, table, t_fire, invert, k0: int, k1: int, events) -> np.ndarray:
    """The fast path's hidden layer, one neuron at a time: neuron o of image b draws number o of b's stream."""
    B, n_out = mism.shape
    width = table.shape[1]
    fire = np.zeros((B, n_out), dtype=bool)
    for b in range(B):
        for o in range(n_out):
            m = int(mism[b, o])
            t = t_fire[b, o] if np.ndim(t_fire) == 2 else t_fire[o]  # per image, or shared
            k = int(t) - m - int(lo[m])
            if k < 0:
                f = False
            elif k >= width:
                f = True
            else:
                f = counter_uniform(k0, k1, int(events[b]), o) < table[m, k]
            fire[b, o] = f != bool(invert[o])
    return threshold(fire.astype(np.int32), np.zeros(n_out, np.int32), np.zeros(n_out, bool))


def sample_output(mism, lo, table, n: int, k0: int, k1: int, events) -> np.ndarray:
    B, n_out = mism.shape
    out = np.zeros((B, n_out), dtype=np.int32)
    for b in range(B):
        gen = stream(k0, k1, int(events[b]), 0)
        for o in range(n_out):
            m = int(mism[b, o])
            u = unit(gen.next())
            k = int(np.searchsorted(table[m], u, side="left"))  # smallest k with table[m, k] >= u
            out[b, o] = n - 2 * (m + int(lo[m]) + min(k, table.shape[1] - 1))
    return out


def binom_inv(lo, table, k: int, u: float) -> int:
    """Bin(k, p) by inversion of its tabulated CDF: the smallest x with P(X <= x) >= u (a plain search)."""
    row = table[k]
    j = int(np.searchsorted(row, u, side="left"))
    return int(lo[k]) + min(j, row.size - 1)


def binom_cdf(lo, table, k: int, x: int) -> float:
    j = x - int(lo[k])
    return 0.0 if j < 0 else (1.0 if j >= table.shape[1] else float(table[k, j]))


def law_mismatches(x, w, free, n_after, tables, k0: int, k1: int, events, limits=None, base=None):
    """The law path one neuron at a time: counts by popcount, binomials by inversion, the last one by its CDF
    where ``limits`` is given (hidden: fires iff the mismatches stay <= limit). Same uniforms (4 o + g).

    ``base = (nb, lo, table)``: a symmetric hidden layer's base split (lawpath.base_table): D(c, a) is
    D(nb, min(a, nb)) from the transient table plus the rest's two binomials, drawn."""
    (lo01, t01), (lo10, t10) = tables
    sym = t01 is t10
    B, n_out = x.shape[0], w.shape[0]
    out = np.zeros((B, n_out), dtype=np.int64)
    for b in range(B):
        for o in range(n_out):
            d = x[b] ^ w[o]
            m = popcount(d)
            a1, a0 = popcount(d & w[o] & free[o]), popcount(d & ~w[o] & free[o])
            c1, c0 = popcount(w[o] & free[o]), popcount(~w[o] & free[o])
            u = [counter_uniform(k0, k1, int(events[b]), 4 * o + g) for g in range(4)]
            if sym and limits is not None and base is not None and base[0] > 0:
                nb, dlo, dtable = base
                a, c = a1 + a0, c1 + c0
                ab = min(a, nb)
                r = binom_inv(lo01, t01, c - a - nb + ab, u[1]) - binom_inv(lo01, t01, a - ab, u[2])
                k = max(int(limits[o]), -1) - m - r  # P(D(nb, ab) <= k)
                j = k - int(dlo[ab])
                out[b, o] = u[0] < (0.0 if j < 0 else (1.0 if j >= dtable.shape[1] else dtable[ab, j]))
                continue
            if sym:
                xs = binom_inv(lo01, t01, a1 + a0, u[0])
                rest = c1 + c0 - a1 - a0
                if limits is not None:
                    out[b, o] = u[1] < binom_cdf(lo01, t01, rest, max(int(limits[o]), -1) - m + xs)
                else:
                    out[b, o] = m - xs + binom_inv(lo01, t01, rest, u[1])
                continue
            x1, x0 = binom_inv(lo10, t10, a1, u[0]), binom_inv(lo01, t01, a0, u[1])
            y1 = binom_inv(lo10, t10, c1 - a1, u[2])
            if limits is not None:
                out[b, o] = u[3] < binom_cdf(lo01, t01, c0 - a0, max(int(limits[o]), -1) - m + x1 + x0 - y1)
            else:
                out[b, o] = m - x1 - x0 + y1 + binom_inv(lo01, t01, c0 - a0, u[3])
    return out


def exponential(gen: Xoshiro256ss) -> float:
    """An Exp(1) draw by the ziggurat of memsim.rng, step by step on Python floats (its tables rebuilt here)."""
    r_tail, v = 7.69711747013104972, 3.949659822581572e-3
    x = [v / math.exp(-r_tail), r_tail] + [0.0] * 255
    for i in range(1, 255):
        x[i + 1] = -math.log(math.exp(-x[i]) + v / x[i])
    x[256] = 0.0
    f = [math.exp(-e) for e in x]
    f[256] = 1.0
    while True:
        r = gen.next()
        i, u = r & 255, unit(r)
        if u < x[i + 1] / x[i]:
            return u * x[i]
        r2 = unit(gen.next())
        if i == 0:
            return r_tail - math.log(1.0 - r2)
        z = u * x[i]
        if f[i] + r2 * (f[i + 1] - f[i]) < math.exp(-z):
            return z


def sparse_flips(words, free, nbits: int, p01: float, p10: float, k0: int, k1: int, event: int) -> list[int]:
    """The bits one read flips: geometric gaps of rate max(p01, p10), thinned by the stored value, free bits only."""
    pmax = max(p01, p10)
    if pmax <= 0:
        return []
    scale = 0.0 if pmax >= 1 else -1.0 / math.log1p(-pmax)
    gen = stream(k0, k1, event, 1 << 40)
    out, b = [], -1
    while True:
        gap = math.floor(exponential(gen) * scale)
        if gap >= nbits - b - 1:
            return out
        b += 1 + gap
        bit_set = (int(words[b // 64]) >> (b % 64)) & 1
        if free is not None and not (int(free[b // 64]) >> (b % 64)) & 1:
            continue
        keep = (p10 if bit_set else p01) / pmax
        if (p01 < pmax or p10 < pmax) and keep < 1.0 and unit(gen.next()) >= keep:
            continue
        out.append(b)


# ----------------------------------------------------------------------------- ECC
def ecc_syndrome(columns: np.ndarray, bits: list[int]) -> int:
    """The syndrome of a received codeword (bits: data then check), H times the word over GF(2)."""
    s = 0
    for j, b in enumerate(bits):
        if b:
            s ^= int(columns[j])
    return s


def ecc_encode(columns: np.ndarray, k: int, data: list[int]) -> list[int]:
    """The check bits that make ``data + check`` a codeword, by trying every check value."""
    nc = len(columns) - k
    for value in range(1 << nc):
        check = [value >> j & 1 for j in range(nc)]
        if ecc_syndrome(columns, data + check) == 0:
            return check
    raise AssertionError("no check bits make a codeword")


def ecc_decode(columns: np.ndarray, k: int, received: list[int]) -> tuple[list[int], str]:
    """Textbook SECDED decoding of one received word: (decoded data bits, 'ok' / 'corrected' / 'detected')."""
    n = len(columns)
    r = n - k - 1
    s = ecc_syndrome(columns, received)
    if s == 0:
        return received[:k], "ok"
    if s >> r & 1:  # odd weight: the single error whose column equals the syndrome
        for j in range(n):
            if int(columns[j]) == s:
                fixed = list(received)
                fixed[j] ^= 1
                return fixed[:k], "corrected"
    return received[:k], "detected"
