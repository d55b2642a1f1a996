"""A torch network's m-bit weights in a partitioned memory: codes decoded per read, top bits protected."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_qnn_exact import _net  # noqa: E402

from memsim.experiment.evaluate import word_bits  # noqa: E402
from memsim.memory.partition import PartitionedMemory, Partitioning  # noqa: E402
from memsim.memory.quant import unpack_codes  # noqa: E402
from memsim.memory.reads import ReadSet  # noqa: E402


def test_coded_weights_equal_the_materialised_module_and_count_their_decoding():
    qnn, x = _net("residual-2d", 8, "symmetric", False)
    mem = PartitionedMemory(Partitioning.parse(ecc="secded16"), "transient", seed=2)
    mem.set_ber(0.01)
    qnn.store_weights(mem)
    got = qnn.forward(x, mem, seed=3, batch_size=16)
    for i in range(0, len(x), 5):
        with torch.no_grad():
            want = qnn.materialize(mem, i, seed=3)(x[i : i + 1]).numpy()[0]
        np.testing.assert_allclose(got[i], want, rtol=1e-4, atol=1e-4)
    c = mem.region_counts()["main"]
    print(c.decode.to_dict())
    assert c.decode.corrected > 0 and c.codewords > 0 and c.check_bits_read == c.codewords * 6


def test_protected_top_bits_of_every_code_read_as_stored():
    qnn, x = _net("residual-2d", 4, "asymmetric", True)
    p = Partitioning.parse(["safe=ber:0"], protect=["*.weight=msb:2@safe"])
    mem = PartitionedMemory(p, "transient", seed=2, word_bits=word_bits(qnn))
    mem.set_ber(0.3)
    qnn.store_weights(mem)
    assert word_bits(qnn) == {n: 4 for n in qnn.weight_names()}
    name, layer = qnn.weight_names()[0], qnn.layers[0]
    law = mem.flip_law(name, ReadSet.images(0, 1, seed=1))
    assert law is not None
    stored = unpack_codes(layer.words, int(layer.q.codes.size), 4)
    free = unpack_codes(law.free, int(layer.q.codes.size), 4)
    assert np.all(free == 0b0011) and np.array_equal(unpack_codes(law.words, stored.size, 4) >> 2, stored >> 2)
    out = qnn.forward(x, mem, seed=1)
    assert not np.allclose(out, qnn.forward(x)), "the low bits flip at 30 %"
    c = mem.region_counts()
    assert c["safe"].bits_read * 1 == c["main"].bits_read, "2 of 4 bits of every code in each region"
