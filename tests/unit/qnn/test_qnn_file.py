"""A QNN's model file (issue 25, item 2): a round trip gives the same codes and outputs, a bad file or an
unsavable network is one line naming what is wrong, and `memsim sweep` runs the file from the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from memsim import ApproximateMemory, ConfigError  # noqa: E402
from memsim.errors import ModelFileError  # noqa: E402
from memsim.experiment.networks import is_qnn_file, load_network  # noqa: E402
from memsim.qnn import from_torch  # noqa: E402


class Res(nn.Module):
    """Batch norm, a residual add, functional pooling and relu, an adaptive pool: what fx must carry."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.c2 = nn.Conv2d(6, 6, 3, padding=2, dilation=2, groups=2)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 10))

    def forward(self, x):
        h = torch.relu(self.bn(self.c1(x)))
        h = h + torch.relu(self.c2(h))
        return self.head(torch.nn.functional.max_pool2d(h, 2))


def _qnn(**kwargs):
    torch.manual_seed(1)
    module = Res()
    module.bn.running_mean.uniform_(-0.3, 0.3)
    options = {"bits": 4, "scheme": "asymmetric", "per_channel": True, "mean": 0.3, "std": 0.35,
               "name": "tiny-res", "dataset": "fashion-mnist-demo", **kwargs}  # fmt: skip
    return from_torch(module, torch.rand(2, 1, 12, 12), **options)


def _images(n=30):
    return np.random.default_rng(0).integers(0, 256, (n, 12, 12), dtype=np.uint8)


def test_a_round_trip_keeps_codes_outputs_and_flips(tmp_path):
    qnn = _qnn()
    path = tmp_path / "tiny.npz"
    qnn.save(path)
    assert is_qnn_file(path)
    back = load_network(path)
    assert (back.arch, back.n_classes, back.layer_ops(), back.metadata) == (
        "tiny-res", 10, qnn.layer_ops(), {"dataset": "fashion-mnist-demo"}
    )  # fmt: skip
    for a, b in zip(qnn.layers, back.layers, strict=True):
        assert a.name == b.name and np.array_equal(a.q.codes, b.q.codes) and np.array_equal(a.words, b.words)
    x = _images()
    np.testing.assert_array_equal(qnn.forward(x), back.forward(x))
    outs = []
    for net in (qnn, back):
        mem = ApproximateMemory(seed=2)
        net.store_weights(mem)
        mem.set_ber(0.02)
        outs.append(net.forward(x, mem, seed=5))
    np.testing.assert_array_equal(*outs)
    assert back.compute_pj_per_op == pytest.approx(0.2)  # 4-bit weights, 8-bit activations


def test_a_file_names_only_listed_operations(tmp_path):
    path = tmp_path / "tiny.npz"
    _qnn().save(path)
    arrays = dict(np.load(path))
    header = json.loads(str(arrays["qnn_json"]))
    node = next(n for n in header["graph"] if n["op"] == "call_function")
    node["target"] = "os.system"
    arrays["qnn_json"] = np.array(json.dumps(header))
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ModelFileError, match=r"bad.npz: node .*: function 'os.system' is not one memsim reads"):
        load_network(bad)
    header["modules"]["c1"]["kind"] = "Embedding"
    arrays["qnn_json"] = np.array(json.dumps(header))
    np.savez(bad, **arrays)
    with pytest.raises(ModelFileError, match=r"module 'c1': kind 'Embedding' is not one memsim reads"):
        load_network(bad)
    header["modules"]["c1"]["kind"] = "Conv2d"
    header["graph"].insert(1, {"name": "peek", "op": "call_function", "target": "builtins.getattr",
                               "args": {"tuple": [{"node": header["graph"][0]["name"]}, "__class__"]}, "kwargs": {"dict": {}}})  # fmt: skip
    arrays["qnn_json"] = np.array(json.dumps(header))
    np.savez(bad, **arrays)
    with pytest.raises(ModelFileError, match=r"node 'peek': getattr of \('__class__',\); memsim reads only"):
        load_network(bad)
    del arrays["codes/c1"]
    arrays["qnn_json"] = np.array(json.dumps(json.loads(str(np.load(path)["qnn_json"]))))
    np.savez(bad, **arrays)
    with pytest.raises(ModelFileError, match=r"layer 'c1' lacks the array 'codes/c1'"):
        load_network(bad)


def test_what_cannot_be_saved_is_named_and_nothing_is_written(tmp_path):
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(x) if x.sum() > 0 else -self.fc(x)  # data-dependent: fx cannot trace it

    net = from_torch(Branchy(), torch.ones(1, 4))
    with pytest.raises(ConfigError, match=r"Branchy cannot be saved: torch.fx cannot trace it"):
        net.save(tmp_path / "b.npz")
    with pytest.raises(ConfigError, match=r"a preprocess callable cannot be saved safely"):
        _qnn(preprocess=lambda x: x * 2).save(tmp_path / "p.npz")
    with pytest.raises(ModelFileError, match=r"model files end in .npz"):
        _qnn().save(tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []


def test_inputs_of_another_shape_and_bad_normalisation_are_refused():
    qnn = _qnn()
    with pytest.raises(
        ConfigError, match=r"inputs of shape \(28, 28\) do not match the model's input shape \(1, 12, 12\)"
    ):
        qnn.forward(np.zeros((2, 28, 28), dtype=np.uint8))
    with pytest.raises(ConfigError, match=r"std must be finite numbers > 0"):
        _qnn(std=0.0)
    with pytest.raises(ConfigError, match=r"a torch network's memory holds its weights only"):
        qnn.predict(_images(2), in_memory="weights,thresholds")


@pytest.mark.slow
@pytest.mark.jit
def test_memsim_sweep_runs_a_torch_network_from_the_cli(tmp_path):
    path = tmp_path / "tiny.npz"
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 14 * 14, 10)
    )
    from_torch(module, torch.rand(1, 1, 28, 28), bits=8, dataset="fashion-mnist-demo").save(path)
    out = tmp_path / "sweep"
    run = subprocess.run(
        [sys.executable, "-m", "memsim", "sweep", "--model", str(path), "--profile", "sram_14nm_chandramoorthy2019",
         "--vdd_over_vmin", "1.0,0.8", "--limit", "200", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = (out / "sweep.csv").read_text().splitlines()
    header = rows[0].split(",")
    first = dict(zip(header, rows[1].split(","), strict=True))
    bits = 8 * sum(p.numel() for n, p in module.named_parameters() if n.endswith("weight"))
    assert float(first["bits_read_per_inference"]) == bits
    ops = 28 * 28 * 4 * 9 + 4 * 14 * 14 * 10
    assert float(first["compute_energy_pj_per_inference"]) == pytest.approx(ops * 0.3)
    plot = subprocess.run([sys.executable, "-m", "memsim", "plot", str(out), "--out", str(tmp_path / "p.png")],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert plot.returncode == 0, plot.stderr
    pooled = subprocess.run(
        [sys.executable, "-m", "memsim", "sweep", "--model", str(path), "--profile", "sram_14nm_chandramoorthy2019",
         "--vdd_over_vmin", "1.0,0.8", "--limit", "200", "--out", str(tmp_path / "pooled"), "--workers", "2"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert pooled.returncode == 0, pooled.stderr
    accuracy = header.index("accuracy")
    mine = sorted(r.split(",")[accuracy] for r in rows[1:])
    theirs = sorted(r.split(",")[accuracy] for r in (tmp_path / "pooled" / "sweep.csv").read_text().splitlines()[1:])
    assert mine == theirs, "two workers give the rows one process gives"
