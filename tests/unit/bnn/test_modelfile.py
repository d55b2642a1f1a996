"""Model files: round trip, metadata, and a clear error for every inconsistency."""

from __future__ import annotations

import numpy as np
import pytest

from memsim import UnknownNameError
from memsim.bnn import BNN, ModelFileError, load_model, save_model


def saved(tmp_path, arch="fashion-cnn", **meta):
    net = BNN.random(arch, seed=0)
    net.metadata.update(meta)
    path = tmp_path / "m.npz"
    save_model(net, path)
    return net, path


def rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    np.savez(path, **arrays)


def test_round_trip_is_exact_and_keeps_metadata(tmp_path):
    net, path = saved(
        tmp_path, loss="mhl", b=128, train_ber=0.05, epochs=3, dataset="fashion-mnist", clean_accuracy=0.9
    )
    back = load_model(path)
    assert back.arch == "fashion-cnn" and back.input_shape == (1, 28, 28)
    assert back.metadata["loss"] == "mhl" and back.metadata["b"] == 128
    for a, b in zip(net.layers, back.layers, strict=True):
        np.testing.assert_array_equal(a.weights, b.weights)
        assert a.shape == b.shape
    imgs = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    np.testing.assert_array_equal(back.forward(imgs), net.forward(imgs))
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"], "no temporary file left behind"


def test_wrong_schema_version(tmp_path):
    _, path = saved(tmp_path)
    rewrite(path, schema_version=np.int64(2))
    with pytest.raises(ModelFileError, match=r"m\.npz: schema_version 2 is not supported; this memsim reads 1"):
        load_model(path)


def test_missing_layer(tmp_path):
    _, path = saved(tmp_path)
    rewrite(path, layer2_weights=None)
    with pytest.raises(
        ModelFileError, match=r"m\.npz: layer 2: missing key 'layer2_weights' \(the file declares 4 layers\)"
    ):
        load_model(path)


def test_shape_mismatch_between_layers(tmp_path):
    _, path = saved(tmp_path)
    bits = 2048 * 7 * 7 * 32
    rewrite(path, layer2_shape=np.array([2048, 7, 7, 32]), layer2_weights=np.zeros((bits + 7) // 8, np.uint8))
    with pytest.raises(
        ModelFileError,
        match=r"layer 2 \(dense\): input shape \(7, 7, 32\) does not match the previous layer's output \(7, 7, 64\)",
    ):
        load_model(path)


def test_thresholds_of_the_wrong_length(tmp_path):
    _, path = saved(tmp_path)
    rewrite(path, layer0_threshold=np.zeros(63, np.int32))
    with pytest.raises(
        ModelFileError, match=r"layer 0 \(conv\): thresholds must have length 64 \(one per neuron\), got 63"
    ):
        load_model(path)


def test_weights_of_the_wrong_size(tmp_path):
    _, path = saved(tmp_path)
    rewrite(path, layer3_weights=np.zeros(10, np.uint8))
    with pytest.raises(ModelFileError, match=r"layer 3: weights hold 10 bytes; shape \(10, 2048\) needs 2560"):
        load_model(path)


def test_pickles_and_truncation_are_refused(tmp_path):
    _, path = saved(tmp_path)
    rewrite(path, metadata_json=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ModelFileError, match=r"m\.npz: metadata_json: holds pickled Python objects"):
        load_model(path)
    _, path = saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelFileError, match=r"m\.npz: not a readable NPZ archive"):
        load_model(path)


def test_another_architecture_than_requested(tmp_path):
    _, path = saved(tmp_path)
    with pytest.raises(ModelFileError, match=r"the model is a 'fashion-cnn' network, not the requested 'fashion-fcnn'"):
        load_model(path, arch="fashion-fcnn")


def test_an_unknown_architecture_in_a_model_file_is_refused(tmp_path):
    _, path = saved(tmp_path)
    rewrite(path, arch=np.str_("fashion-cnnn"))
    with pytest.raises(
        ModelFileError,
        match=r"m\.npz: arch 'fashion-cnnn' is not an architecture \(did you mean 'fashion-cnn'\?\); known: ",
    ):
        load_model(path)


def test_unknown_model_name():
    with pytest.raises(UnknownNameError, match=r"unknown model 'no_such_model'"):
        load_model("no_such_model")


def test_save_refuses_bad_paths(tmp_path):
    net = BNN.random("fashion-fcnn", seed=0)
    with pytest.raises(ModelFileError, match=r"model files end in \.npz"):
        save_model(net, tmp_path / "m.pt")
    with pytest.raises(ModelFileError, match=r"does not exist"):
        save_model(net, tmp_path / "nope" / "m.npz")


def test_unserialisable_metadata_is_a_model_file_error(tmp_path):
    net = BNN.random("fashion-fcnn", seed=0)
    net.metadata["bad"] = object()
    with pytest.raises(ModelFileError, match=r"m\.npz: metadata: value <object object at .*> is not JSON-serialisable"):
        save_model(net, tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()
