"""The torch path (issue 25, items 2-3): per-image fresh flips added as corrections to the clean batched
forward equal, image by image, the module holding the weights that image read (`materialize`)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from memsim import ApproximateMemory, ConfigError  # noqa: E402
from memsim.bits import pack_bits  # noqa: E402
from memsim.memory import FaultModel, ReadSet, faults, register_fault_model  # noqa: E402
from memsim.qnn import from_torch  # noqa: E402


class Residual(nn.Module):
    """Strided, padded, dilated and grouped convolutions, batch norm, a residual add, pooling, two Linears."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(2, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2), nn.ReLU())
        self.down = nn.Conv2d(8, 6, 3, stride=2, padding=1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(6 * 4 * 4, 12), nn.ReLU(), nn.Linear(12, 5))

    def forward(self, x):
        h = torch.relu(self.bn(self.stem(x)))
        h = h + self.block(h)
        return self.head(self.down(torch.nn.functional.max_pool2d(h, 2)))


def _seq1d() -> nn.Module:
    return nn.Sequential(nn.Conv1d(3, 4, 5, stride=2, padding=2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8, 6))


NETS = {"residual-2d": (Residual, (2, 16, 16)), "conv1d": (_seq1d, (3, 16))}


def _net(kind, bits, scheme, per_channel):
    torch.manual_seed(0)
    make, shape = NETS[kind]
    module = make()
    if kind == "residual-2d":  # batch norm with statistics that are not the identity
        module.bn.running_mean.uniform_(-0.2, 0.2)
        module.bn.running_var.uniform_(0.5, 1.5)
    x = torch.rand(40, *shape)
    return from_torch(module, x[:2], bits=bits, scheme=scheme, per_channel=per_channel), x


@pytest.mark.parametrize("kind", list(NETS))
@pytest.mark.parametrize(("bits", "scheme", "per_channel"), [(8, "symmetric", False), (4, "asymmetric", True),
                                                             (3, "symmetric", True), (16, "asymmetric", False),
                                                             (1, "binary", True)])  # fmt: skip
@pytest.mark.parametrize("granularity", ["per_sample", "per_batch"])
def test_corrections_equal_the_materialised_module_of_each_image(kind, bits, scheme, per_channel, granularity):
    qnn, x = _net(kind, bits, scheme, per_channel)
    mem = ApproximateMemory(seed=1)
    qnn.store_weights(mem)
    mem.set_ber(0.02)
    got = qnn.forward(x, mem, granularity=granularity, seed=7, batch_size=16)
    worst = 0.0
    for i in range(len(x)):
        alone = qnn.materialize(mem, i, seed=7, granularity=granularity, batch_size=16)
        with torch.no_grad():
            want = alone(x[i : i + 1]).numpy()[0]
        worst = max(worst, float(np.max(np.abs(got[i] - want))))
        np.testing.assert_allclose(got[i], want, rtol=1e-4, atol=1e-4)
    clean = qnn.forward(x)
    print(f"\n{kind} {bits}-bit {scheme}: largest |corrected - materialised| {worst:.2e}; "
          f"flips moved the outputs by up to {float(np.max(np.abs(got - clean))):.3f}")  # fmt: skip
    assert np.array_equal(got.argmax(1), np.array([
        qnn.materialize(mem, i, seed=7, granularity=granularity, batch_size=16)(x[i : i + 1]).argmax(1).item()
        for i in range(len(x))
    ]))  # fmt: skip
    assert not np.allclose(got, clean), "flips at BER 0.02 change the outputs"


def test_a_split_call_equals_the_single_call():
    qnn, x = _net("residual-2d", 8, "symmetric", False)
    mem = ApproximateMemory(seed=3)
    qnn.store_weights(mem)
    mem.set_ber(0.01)
    whole = qnn.forward(x, mem, seed=2, batch_size=8)
    parts = np.concatenate([qnn.forward(x[:13], mem, seed=2, batch_size=8),
                            qnn.forward(x[13:], mem, seed=2, first_index=13, batch_size=5)])  # fmt: skip
    np.testing.assert_allclose(whole, parts, rtol=1e-5, atol=1e-5)


def test_without_flips_the_output_is_the_quantized_module_and_bits_count_m_per_weight():
    qnn, x = _net("residual-2d", 4, "symmetric", True)
    mem = ApproximateMemory(seed=0)
    names = qnn.store_weights(mem)
    mem.set_ber(0.0)
    with torch.no_grad():
        np.testing.assert_allclose(qnn.forward(x, mem), qnn.materialize()(x).numpy(), rtol=1e-6, atol=1e-6)
    weights = sum(p.numel() for n, p in qnn.module.named_parameters() if n.endswith("weight") and p.dim() >= 2)
    assert qnn.n_weight_bits == 4 * weights
    assert mem.totals.bits_read == len(x) * qnn.n_weight_bits
    assert names == ["stem.weight", "block.0.weight", "down.weight", "head.1.weight", "head.3.weight"]


def test_layers_that_cannot_be_stored_are_named():
    with pytest.raises(ConfigError, match=r"layer '0' \(Embedding\) holds weights memsim cannot store"):
        from_torch(nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(8, 2)), torch.zeros(1, 2).long())
    with pytest.raises(ConfigError, match=r"layer '0' \(Conv2d\): padding_mode 'reflect'"):
        from_torch(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect")), torch.zeros(1, 1, 4, 4))
    with pytest.raises(ConfigError, match=r"bits must be 1 \(binary\) or one of"):
        from_torch(nn.Linear(3, 2), torch.zeros(1, 3), bits=17)
    with pytest.raises(ConfigError, match=r"does not run on the example input of shape \(1, 4\)"):
        from_torch(nn.Linear(3, 2), torch.zeros(1, 4))


class EveryThird(FaultModel):
    """A fault model with no flip law: the torch path reads its words and compares them (the dense path)."""

    name = "every_third_qnn"

    def flips(self, data, ctx):
        address = ctx.cell_offset + np.arange(ctx.nbits)
        return ctx.mask(ctx.p01, 0) & pack_bits(address % 3 == 0).words


@pytest.mark.parametrize("fault", ["persistent", "mixed", "dense"])
def test_stuck_cells_and_models_without_a_law_equal_the_materialised_module(fault, monkeypatch):
    """Stuck cells move the batch's base weights (one chip); a model without a flip law takes the dense reads."""
    qnn, x = _net("residual-2d", 4, "asymmetric", True)
    if fault == "dense":
        monkeypatch.setattr(faults, "_REGISTRY", dict(faults._REGISTRY))
        register_fault_model("every_third_qnn", EveryThird)
        mem = ApproximateMemory("every_third_qnn", seed=5)
    else:
        mem = ApproximateMemory(fault, seed=5)
    qnn.store_weights(mem)
    mem.set_ber(0.01)
    if fault == "dense":
        assert mem.flip_law("stem.weight", ReadSet.images(0, 1, 0)) is None
    got = qnn.forward(x, mem, seed=4, batch_size=16)
    for i in range(0, len(x), 7):
        with torch.no_grad():
            want = qnn.materialize(mem, i, seed=4)(x[i : i + 1]).numpy()[0]
        np.testing.assert_allclose(got[i], want, rtol=1e-4, atol=1e-4)
    assert not np.allclose(got, qnn.forward(x))


@pytest.mark.jit
def test_the_thread_count_does_not_change_the_outputs():
    import numba

    qnn, x = _net("residual-2d", 8, "symmetric", False)
    mem = ApproximateMemory(seed=3)
    qnn.store_weights(mem)
    mem.set_ber(0.01)
    before = numba.get_num_threads()
    try:
        outs = []
        for threads in (1, before):
            numba.set_num_threads(threads)
            outs.append(qnn.forward(x, mem, seed=2, batch_size=16))
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(outs[0], outs[1])
