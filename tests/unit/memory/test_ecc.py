"""SECDED codes: the decoder against a textbook per-codeword decoder, and post-ECC rates against closed forms."""

from __future__ import annotations

import itertools
import math
import zlib

import naive
import numpy as np
import pytest
from scipy import stats

from memsim.errors import ConfigError, UnknownNameError
from memsim.memory.ecc import CODES, decode_errors, encode_array, get_code


def _bits(words: np.ndarray, nbits: int) -> list[int]:
    return [int(b) for b in naive.unpack(words, nbits)]


@pytest.mark.parametrize("name", list(CODES))
def test_codes_are_secded(name):
    code = CODES[name]
    cols = [int(c) for c in code.columns]
    assert len(set(cols)) == code.n and 0 not in cols, "distinct nonzero columns: single errors are located"
    overall = 1 << code.r
    assert all(c & overall for c in cols), "every column has the overall parity: odd errors are odd"
    assert all((a ^ b) & (overall - 1) for a, b in itertools.combinations(cols, 2)), "no double error looks clean"
    assert 2**code.r >= code.n - 1


@pytest.mark.parametrize("name", list(CODES))
def test_encoding_matches_the_textbook_encoder(name):
    code = CODES[name]
    rng = np.random.default_rng(3)
    nbits = 4 * 64
    words = rng.integers(0, 2**63, size=nbits // 64, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    check = encode_array(code, words, nbits)
    data, cbits = _bits(words, nbits), _bits(check, nbits // code.k * code.check_bits)
    nc = code.check_bits
    for i in range(nbits // code.k):
        d = data[i * code.k : (i + 1) * code.k]
        assert cbits[i * nc : (i + 1) * nc] == naive.ecc_encode(code.columns, code.k, d)


@pytest.mark.parametrize("policy", ["leave", "zero", "count"])
@pytest.mark.parametrize("name", list(CODES))
def test_decoder_matches_the_textbook_decoder(name, policy):
    """Every codeword of several reads with 0 to 5 errors anywhere, decoded both ways."""
    code = CODES[name]
    rng = np.random.default_rng(zlib.crc32(f"{name}-{policy}".encode()))
    nbits = 8 * 64
    ncw, nc = nbits // code.k, code.check_bits
    words = rng.integers(0, 2**64, size=nbits // 64, dtype=np.uint64, endpoint=False)
    check = encode_array(code, words, nbits)
    reads = 6
    err_d = np.zeros((reads, nbits // 64), dtype=np.uint64)
    err_c = np.zeros((reads, check.size), dtype=np.uint64)
    flips = []
    for row in range(reads):
        ed, ec = np.zeros(nbits, dtype=bool), np.zeros(check.size * 64, dtype=bool)
        for i in range(ncw):
            for j in rng.choice(code.n, size=int(rng.integers(0, 6)), replace=False):
                if j < code.k:
                    ed[i * code.k + j] = True
                else:
                    ec[i * nc + j - code.k] = True
        err_d[row], err_c[row] = naive.pack(ed), naive.pack(ec)
        flips.append((ed, ec))
    residual = err_d.copy()
    counts = decode_errors(code, residual, err_c, words, nbits, policy)
    stored_d, stored_c = _bits(words, nbits), _bits(check, ncw * nc)
    expect = {"corrected": 0, "detected": 0, "silent": 0, "raw": 0}
    for row, (ed, ec) in enumerate(flips):
        got = _bits(residual[row : row + 1].ravel(), nbits)
        detected_here = 0
        for i in range(ncw):
            d = stored_d[i * code.k : (i + 1) * code.k]
            c = stored_c[i * nc : (i + 1) * nc]
            e = [int(x) for x in ed[i * code.k : (i + 1) * code.k]] + [int(x) for x in ec[i * nc : (i + 1) * nc]]
            if not any(e):
                assert not any(got[i * code.k : (i + 1) * code.k])
                continue
            expect["raw"] += sum(e)
            received = [a ^ b for a, b in zip(d + c, e, strict=True)]
            out, verdict = naive.ecc_decode(code.columns, code.k, received)
            if verdict == "detected" and policy == "zero":
                out = [0] * code.k
            outcome = "detected" if verdict == "detected" else ("corrected" if out == d else "silent")
            expect[outcome] += 1
            detected_here += outcome == "detected"
            assert [a ^ b for a, b in zip(d, out, strict=True)] == got[i * code.k : (i + 1) * code.k], (row, i)
        assert counts.detected_reads[row] == detected_here
    print(name, policy, counts.to_dict())
    assert (counts.raw_flips, counts.corrected, counts.detected, counts.silent) == (
        expect["raw"], expect["corrected"], expect["detected"], expect["silent"])  # fmt: skip
    assert counts.silent > 0 and counts.detected > 0 and counts.corrected > 0, "every outcome exercised"


def _exact_outcomes(code_name: str, p: float) -> dict[str, float]:
    """Outcome probabilities of one codeword under i.i.d. flips at p: every error pattern, textbook-decoded."""
    code = CODES[code_name]
    data = [1, 0, 1, 1, 0, 0, 1, 0][: code.k] + [0] * (code.k - 8)
    word = data + naive.ecc_encode(code.columns, code.k, data)
    probs = {"clean": 0.0, "corrected": 0.0, "detected": 0.0, "silent": 0.0}
    for pattern in range(1 << code.n):
        w = bin(pattern).count("1")
        e = [pattern >> j & 1 for j in range(code.n)]
        prob = p**w * (1 - p) ** (code.n - w)
        if w == 0:
            probs["clean"] += prob
            continue
        out, verdict = naive.ecc_decode(code.columns, code.k, [a ^ b for a, b in zip(word, e, strict=True)])
        probs["detected" if verdict == "detected" else ("corrected" if out == data else "silent")] += prob
    return probs


def test_post_ecc_outcomes_match_their_closed_form():
    """secded8 under i.i.d. flips at 5 %: codeword outcomes against the exact sum over all 8192 patterns."""
    code, p = CODES["secded8"], 0.05
    exact = _exact_outcomes("secded8", p)
    n = code.n
    assert exact["corrected"] >= n * p * (1 - p) ** (n - 1), "every single error is corrected"
    assert exact["detected"] >= math.comb(n, 2) * p**2 * (1 - p) ** (n - 2), "every double error is detected"
    rng = np.random.default_rng(11)
    nbits, reads = 64 * 64, 40
    words = rng.integers(0, 2**64, size=nbits // 64, dtype=np.uint64, endpoint=False)
    check = encode_array(code, words, nbits)
    ncw = nbits // code.k
    err_d = naive.pack(rng.random((reads, nbits)) < p).reshape(reads, -1)
    err_c = np.stack([naive.pack(rng.random(check.size * 64) < p) for _ in range(reads)])
    err_c[:, -1] &= np.uint64((1 << (ncw * code.check_bits % 64)) - 1) if ncw * code.check_bits % 64 else ~np.uint64(0)
    counts = decode_errors(code, err_d, err_c, words, nbits)
    total = ncw * reads
    observed = [total - counts.corrected - counts.detected - counts.silent, counts.corrected, counts.detected,
                counts.silent]  # fmt: skip
    expected = [total * exact[o] for o in ("clean", "corrected", "detected", "silent")]
    _, pvalue = stats.chisquare(observed, expected)
    print(f"secded8 at p={p}: observed {observed}, expected {[round(e, 1) for e in expected]}, p-value {pvalue:.3f}")
    assert pvalue > 1e-3


def test_bad_codes_and_policies():
    with pytest.raises(UnknownNameError, match=r"unknown code 'secded63'.*secded64"):
        get_code("secded63")
    assert get_code("hamming72") is CODES["secded64"]
    with pytest.raises(ConfigError, match="100 data bits do not split into secded64's 64-bit codewords"):
        encode_array(CODES["secded64"], np.zeros(2, dtype=np.uint64), 100)
    with pytest.raises(ConfigError, match="policy 'ignore': choose one of leave, zero, count"):
        decode_errors(CODES["secded64"], np.zeros((1, 1), np.uint64), np.zeros((1, 1), np.uint64),
                      np.zeros(1, np.uint64), 64, "ignore")  # fmt: skip
    with pytest.raises(ConfigError, match="decode_pj must be a non-negative number"):
        CODES["secded64"].with_costs(decode_pj=-1)
