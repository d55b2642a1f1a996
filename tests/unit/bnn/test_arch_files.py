"""Your own binarized architecture as data (issue 25, item 5): a YAML or JSON file for `BNN.random`,
`memsim train --arch FILE` and model files that carry it; bad files are one line naming the layer and field."""

from __future__ import annotations

import json

import numpy as np
import pytest

from memsim import BNN, ConfigError, load_model, save_model
from memsim.bnn import architectures
from memsim.bnn.architectures import ARCHITECTURES, layer_shapes, resolve_architecture
from memsim.errors import ModelFileError, UnknownNameError

YAML = """\
name: tiny-valid
input_shape: [1, 28, 28]
dataset: fashion-mnist-demo
layers:
  - {conv: 8, pool: true, padding: 0}
  - {conv: 16, pool: true}
  - {dense: 32}
  - {dense: 10}
"""


@pytest.fixture(autouse=True)
def _registry(monkeypatch):
    monkeypatch.setattr(architectures, "ARCHITECTURES", dict(ARCHITECTURES))  # registrations end with the test
    import memsim.bnn.modelfile as modelfile
    import memsim.bnn.network as network

    monkeypatch.setattr(network, "ARCHITECTURES", architectures.ARCHITECTURES)
    monkeypatch.setattr(modelfile, "ARCHITECTURES", architectures.ARCHITECTURES)


def _file(tmp_path, text=YAML, name="arch.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_yaml_architecture_runs_on_the_engine_and_its_model_file_carries_it(tmp_path):
    path = _file(tmp_path)
    net = BNN.random(str(path), seed=3)
    assert net.arch == "tiny-valid"
    shapes = layer_shapes("tiny-valid")
    # 28 -> 26 (valid 3x3) -> 13 (pool) -> 13 (same) -> 6 (pool): the dense layer sees 6 x 6 x 16
    assert [s.padding for s in shapes[:2]] == [0, 1] and shapes[2].in_shape == (6, 6, 16)
    images = np.random.default_rng(0).integers(0, 256, (20, 28, 28), dtype=np.uint8)
    out = net.forward(images)
    assert out.shape == (20, 10)
    model = tmp_path / "tiny.npz"
    save_model(net, model)
    del architectures.ARCHITECTURES["tiny-valid"]  # a new process that never saw the YAML file
    back = load_model(model)
    np.testing.assert_array_equal(back.forward(images), out)
    assert "tiny-valid" in architectures.ARCHITECTURES


def test_json_files_and_the_same_file_twice(tmp_path):
    spec = {"name": "tiny-json", "input_shape": [3, 8, 8], "layers": [{"conv": 4}, {"dense": 5}]}
    path = _file(tmp_path, json.dumps(spec), "a.json")
    assert resolve_architecture(str(path)) == resolve_architecture(str(path)) == "tiny-json"
    other = _file(tmp_path, json.dumps({**spec, "layers": [{"dense": 5}]}), "b.json")
    with pytest.raises(ConfigError, match=r"b.json: architecture name 'tiny-json' is taken by another architecture"):
        resolve_architecture(str(other))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\ninput_shape: [1, 28, 28]\nlayers: [{conv: 8}, {dense: 10}, {conv: 4}]",
         r"layers\[2\]: a convolution cannot follow a dense layer"),
        ("name: x\ninput_shape: [1, 28, 28]\nlayers: [{conv: 8, padding: 2}, {dense: 10}]",
         r"layers\[0\]: padding must be 0 or 1 \(3x3 kernels\), got 2"),
        ("name: x\ninput_shape: [1, 28, 28]\nlayers: [{conv: 8, stride: 2}, {dense: 10}]",
         r"layers\[0\]: unknown field\(s\) stride"),
        ("name: x\ninput_shape: [1, 4, 4]\nlayers: [{conv: 8, pool: true, padding: 0}, {conv: 8, padding: 0}, {dense: 2}]",
         r"layers\[1\]: the feature map vanishes"),
        ("name: x\ninput_shape: [1, 28]\nlayers: [{dense: 10}]", r"input_shape must be \[C, H, W\]"),
        ("name: x y\ninput_shape: [1, 2, 2]\nlayers: [{dense: 10}]", r"name must be letters"),
        ("name: x\ninput_shape: [1, 2, 2]\nlayers: [{dense: 0}]", r"layers\[0\]: dense takes a positive number"),
        ("name: x\ninput_shape: [1, 2, 2]\nlayers: [{conv: 3}]", r"the last layer must be dense"),
        ("name: x\ninput_shape: [1, 2, 2]\nlayers: [{dense: 2}]\nbias: true", r"unknown field\(s\) bias"),
        ("name: [unclosed", r"not valid YAML"),
    ],
)  # fmt: skip
def test_bad_architecture_files_are_one_line_naming_the_layer_and_field(tmp_path, text, message):
    path = _file(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as err:
        BNN.random(str(path))
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_unknown_names_and_missing_files():
    with pytest.raises(UnknownNameError, match=r"or a .yaml/.json architecture file"):
        BNN.random("fashion-fnn")
    with pytest.raises(ConfigError, match=r"cannot read the architecture file"):
        BNN.random("/nonexistent/arch.yaml")


def test_a_model_file_whose_architecture_description_is_wrong(tmp_path):
    net = BNN.random(str(_file(tmp_path)), seed=0)
    model = tmp_path / "m.npz"
    save_model(net, model)
    arrays = dict(np.load(model))
    arrays["arch_json"] = np.str_(
        json.dumps({"name": "tiny-valid", "input_shape": [1, 28, 28], "layers": [{"conv": 3}]})
    )
    np.savez(model, **arrays)
    del architectures.ARCHITECTURES["tiny-valid"]
    with pytest.raises(ModelFileError, match=r"m.npz: arch_json: .*the last layer must be dense"):
        load_model(model)
