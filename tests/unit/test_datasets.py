"""Data sets: readers on the real files, the shipped demo subset, fetch with checksum and resume, bad files."""

from __future__ import annotations

import gzip
import http.server
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from helpers import data_root

from memsim import MemsimError
from memsim.datasets import DATASETS, DatasetError, fetch, load_dataset, verify

SHARED = data_root()
needs_shared = pytest.mark.skipif(
    not (SHARED / "fashion-mnist").is_dir(), reason=f"no fashion-mnist in {SHARED} ($MEMSIM_DATA or ../shared/datasets)"
)


@needs_shared
def test_real_files(monkeypatch):
    monkeypatch.setenv("MEMSIM_DATA", str(SHARED))
    x, y = load_dataset("fashion-mnist", "test")
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [1000] * 10
    x, y = load_dataset("mnist", "train")
    assert x.shape == (60000, 28, 28) and np.bincount(y)[0] == 5923
    x, y = load_dataset("cifar10", "test")
    assert x.shape == (10000, 3, 32, 32) and np.bincount(y).tolist() == [1000] * 10
    assert x[0, 0, 0, :9].tolist() == [158, 159, 165, 166, 160, 156, 162, 159, 158]  # record 0, red row 0
    assert all(verify("fashion-mnist").values())


def test_demo_subset_ships_with_the_package():
    x, y = load_dataset("fashion-mnist-demo")
    assert x.shape == (1000, 28, 28) and y.shape == (1000,) and y.max() == 9
    with pytest.raises(DatasetError, match="has only the 'test' split"):
        load_dataset("fashion-mnist-demo", "train")


def test_missing_data_set_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMSIM_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(DatasetError, match=r"data set 'mnist' not found .* Get it with `memsim data fetch mnist`"):
        load_dataset("mnist")
    with pytest.raises(MemsimError, match=r"unknown data set 'fashion' \(did you mean 'fashion-mnist'\?\)"):
        load_dataset("fashion")
    with pytest.raises(MemsimError, match=r"has no split 'valid'; splits: train, test"):
        load_dataset("fashion-mnist", "valid")


def write_idx(path: Path, magic: int, array: np.ndarray, count: int | None = None) -> None:
    dims = list(array.shape)
    if count is not None:
        dims[0] = count
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


@pytest.mark.parametrize(
    ("images_magic", "count", "message"),
    [
        (0x00000801, None, r"IDX magic number 0x00000801, expected 0x00000803"),
        (0x00000803, 7, r"header promises \[7, 28, 28\] = 5488 bytes of data, the file holds 3136"),
    ],
)
def test_corrupt_idx_files(tmp_path, images_magic, count, message):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images_magic, np.zeros((4, 28, 28)), count)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", 0x00000801, np.zeros(4))
    with pytest.raises(DatasetError, match=message):
        load_dataset("fashion-mnist", root=tmp_path)


def test_truncated_gzip_and_mismatched_counts(tmp_path):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    write_idx(folder / "t10k-images-idx3-ubyte.gz", 0x00000803, np.zeros((4, 28, 28)))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", 0x00000801, np.zeros(5))
    with pytest.raises(DatasetError, match=r"4 images but 5 labels"):
        load_dataset("fashion-mnist", root=tmp_path)
    data = (folder / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(data[:-8])
    with pytest.raises(DatasetError, match=r"cannot read \(corrupt or truncated gzip\?\)"):
        load_dataset("fashion-mnist", root=tmp_path)


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with HTTP Range support; can cut a response short once to simulate a dropped connection."""

    cut_after: ClassVar[int | None] = None
    ranges: ClassVar[list[str]] = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        if "Range" in self.headers:
            RangeHandler.ranges.append(self.headers["Range"])
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if RangeHandler.cut_after is not None:
            body = body[: RangeHandler.cut_after]
            RangeHandler.cut_after = None
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path):
    src = tmp_path / "served"
    src.mkdir()
    handler = lambda *a, **k: RangeHandler(*a, directory=str(src), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield src, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@needs_shared
def test_fetch_checks_sha256_resumes_and_never_leaves_a_bad_file(tmp_path, server):
    src, base = server
    files = DATASETS["fashion-mnist"].files
    for f in files:
        (src / f).write_bytes((SHARED / "fashion-mnist" / f).read_bytes())
    urls = {f: f"{base}/{f}" for f in files}
    root = tmp_path / "data"
    RangeHandler.cut_after = 1000  # the first download drops after 1000 bytes
    RangeHandler.ranges = []
    with pytest.raises(
        DatasetError, match=r"stopped at 1000 of \d+ bytes; run the command again to resume|cannot download"
    ):
        fetch("fashion-mnist", root=root, urls=urls, progress=False)
    assert not any((root / "fashion-mnist" / f).exists() for f in files), "nothing corrupt under a real name"
    parts = list((root / "fashion-mnist" / ".download").glob("*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size == 1000
    folder = fetch("fashion-mnist", root=root, urls=urls, progress=False)
    assert RangeHandler.ranges == ["bytes=1000-"], "the second fetch resumed the partial file"
    assert all(verify("fashion-mnist", root=root).values())
    assert load_dataset("fashion-mnist", "test", root=root)[0].shape == (10000, 28, 28)
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)


@needs_shared
def test_fetch_rejects_a_wrong_file(tmp_path, server, monkeypatch):
    """A file whose sha256 differs is deleted, never put in place; the default target is $MEMSIM_DATA."""
    src, base = server
    files = DATASETS["mnist"].files
    for f in files:
        (src / f).write_bytes(b"not the real file")
    monkeypatch.setenv("MEMSIM_DATA", str(tmp_path / "d"))
    with pytest.raises(DatasetError, match=r"sha256 [0-9a-f]+ does not match the published"):
        fetch("mnist", urls={f: f"{base}/{f}" for f in files}, progress=False)
    assert (tmp_path / "d" / "mnist").is_dir()
    assert not (tmp_path / "d" / "mnist" / next(iter(files))).exists()


def test_a_failed_fetch_leaves_no_folders_behind(tmp_path):
    from memsim.datasets import fetch

    root = tmp_path / "new" / "x"
    with pytest.raises(DatasetError, match="cannot download"):
        fetch("fashion-mnist", root=root, urls={f: "http://127.0.0.1:9/none" for f in DATASETS["fashion-mnist"].files},
              progress=False)  # fmt: skip
    assert not (tmp_path / "new").exists(), "the folder tree made for the fetch is removed again"


def test_verify_with_missing_files_is_an_error(tmp_path, capsys):
    from memsim.cli.app import main

    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"x")
    assert main(["data", "verify", "fashion-mnist", "--root", str(tmp_path)]) == 1
    assert "sha256 mismatch" in capsys.readouterr().err
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    shared = SHARED / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz"
    if not shared.is_file():
        pytest.skip(f"{shared} not present")
    (folder / shared.name).write_bytes(shared.read_bytes())
    assert main(["data", "verify", "fashion-mnist", "--root", str(tmp_path)]) == 1
    assert "3 file(s) missing" in capsys.readouterr().err


def test_a_users_npz_data_set(tmp_path):
    """`--dataset my_data.npz`: uint8 images and integer labels, or per split; bad files name the array."""
    import numpy as np

    from memsim.datasets import load_dataset as load
    from memsim.errors import DatasetError

    images = np.arange(2 * 5 * 5, dtype=np.uint8).reshape(2, 5, 5)
    np.savez(tmp_path / "d.npz", images=images, labels=np.array([1, 0]))
    got, labels = load(str(tmp_path / "d.npz"))
    assert np.array_equal(got, images) and labels.tolist() == [1, 0]
    np.savez(
        tmp_path / "s.npz",
        images_test=images[:1],
        labels_test=np.array([3]),
        images_train=images,
        labels_train=np.array([0, 1]),
    )
    assert load(str(tmp_path / "s.npz"), "train")[1].tolist() == [0, 1]
    assert load(str(tmp_path / "s.npz"), "test")[1].tolist() == [3]
    for arrays, message in (
        ({"images": images}, r"d2.npz: missing array 'labels'"),
        ({"images": images.astype(float), "labels": np.array([1, 0])}, r"images must be uint8 images"),
        ({"images": images, "labels": np.array([1])}, r"labels must be 2 integer labels \(one per image\)"),
        ({"images": images, "labels": np.array([1, -1])}, r"labels holds a negative label \(-1\)"),
    ):
        np.savez(tmp_path / "d2.npz", **arrays)
        with pytest.raises(DatasetError, match=message):
            load(str(tmp_path / "d2.npz"))
