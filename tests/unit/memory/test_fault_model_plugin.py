"""A new fault model plugs into the memory and runs through the engine with no engine change."""

from __future__ import annotations

import naive
import numpy as np
from helpers import awkward_net, images_for

from memsim import ApproximateMemory
from memsim.bits import n_words, pack_bits
from memsim.memory import FaultModel, ReadSet, available_fault_models, faults, register_fault_model


class EveryKthCell(FaultModel):
    """Toy model: only cells whose address is a multiple of ``k`` fail, each with probability ``ber`` per read."""

    name = "every_kth"

    def __init__(self, k: int = 3) -> None:
        self.k = k

    def flips(self, data, ctx):
        fresh = ctx.mask(ctx.p01, 0)
        address = ctx.cell_offset + np.arange(ctx.nbits)
        return fresh & pack_bits(address % self.k == 0).words


class SymmetricToy(FaultModel):
    """Toy model that declares it can serve i.i.d. symmetric flips (so the engine takes its fast path)."""

    name = "symmetric_toy"

    def flips(self, data, ctx):
        return ctx.mask(ctx.p01, 0)

    def iid_rate(self, p01, p10):
        return p01 if p01 == p10 else None


def test_a_registered_toy_model_runs_through_the_engine(monkeypatch):
    monkeypatch.setattr(faults, "_REGISTRY", dict(faults._REGISTRY))  # the registration ends with the test
    register_fault_model("every_kth", EveryKthCell)
    assert "every_kth" in available_fault_models()
    net = awkward_net(3, 1, True, 3, 20, 4)
    imgs = images_for(net, 5)
    mem = ApproximateMemory("every_kth", seed=4, k=3)
    net.store_weights(mem)
    mem.set_ber(0.3)
    got = net.forward(imgs, memory=mem, seed=2)
    expected = []
    for j in range(len(imgs)):
        reads = ReadSet.images(j, 1, 2)
        weights = [mem.read_words(f"layer{i}", reads)[0] for i in range(len(net.layers))]
        for i, w in enumerate(weights):  # the toy's flips land only on every third cell of the address space
            stored = net.layers[i].weights
            offset = mem.info(f"layer{i}")["cell_offset"]
            flipped = naive.unpack(w ^ stored, net.layers[i].nbits)
            assert not flipped[(offset + np.arange(flipped.size)) % 3 != 0].any()
        expected.append(naive.bnn_forward(net, imgs[j : j + 1], weights)[0])
    np.testing.assert_array_equal(got, np.array(expected))
    assert not np.array_equal(got, net.forward(imgs)), "the toy model flips something"
    assert mem.totals.bits_flipped > 0


def test_a_model_that_declares_iid_flips_gets_the_fast_path(monkeypatch):
    monkeypatch.setattr(faults, "_REGISTRY", dict(faults._REGISTRY))
    register_fault_model("symmetric_toy", SymmetricToy)
    net = awkward_net(3, 1, True, 3, 20, 4)
    imgs = images_for(net, 6)
    mem = ApproximateMemory("symmetric_toy", seed=4)
    net.store_weights(mem)
    mem.set_ber(0.05)
    served = []
    original = mem.symmetric_flips

    def spy(name, reads):
        law = original(name, reads)
        served.append((name, law))
        return law

    monkeypatch.setattr(mem, "symmetric_flips", spy)
    net.forward(imgs, memory=mem, seed=1)
    assert [name for name, law in served if law is not None] == ["layer2", "layer3"], "both dense layers"
    assert mem.counter_for("layer2").reads == len(imgs), "the memory counted the fast-path reads itself"
    assert mem.counter_for("layer2").bits_read == len(imgs) * net.layers[2].nbits
    assert n_words(net.layers[2].nbits) > 0
