"""Data sets (numpy only): Fashion-MNIST and MNIST (IDX files), CIFAR-10 (binary batches).

Where files are looked for, in order: an explicit ``root``; ``$MEMSIM_DATA``; the
user cache (``$XDG_CACHE_HOME/memsim/datasets`` or ``~/.cache/memsim/datasets``).
Each data set lives in its own folder there (``fashion-mnist/``, ``mnist/``,
``cifar-10-batches-bin/``), in the publisher's original file format.

``fashion-mnist-demo`` is a 1,000-image subset of the Fashion-MNIST test set that
ships inside the package (MIT licence, Zalando SE), for ``memsim demo`` and quick
examples without any download.

:func:`fetch` downloads the publisher's files with a progress bar, resumes partial
downloads, checks every file's sha256 and renames it into place only when it
matches; :func:`verify` re-checks files on disk.
"""

from __future__ import annotations

import gzip
import http.client
import os
import sys
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from memsim.errors import DatasetError, UnknownNameError, suggest
from memsim.fileio import sha256

__all__ = ["DATASETS", "Dataset", "DatasetError", "available_datasets", "data_dirs", "fetch", "load_dataset", "verify"]

_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Dataset:
    """Where a data set's files are, what they must hash to, and how to read them."""

    name: str
    folder: str
    files: dict[str, str]  # file name -> sha256
    splits: dict[str, tuple[str, ...]]  # split -> files (images, labels) or batches
    kind: str  # "idx" or "cifar"
    urls: dict[str, str]  # file name (or archive) -> URL
    archive: str | None = None  # CIFAR-10 comes as one tar.gz holding the batches
    classes: tuple[str, ...] = ()
    licence: str = ""


def _idx_dataset(name: str, files: dict[str, str], url: str, classes: tuple[str, ...], licence: str) -> Dataset:
    """An (Fashion-)MNIST-style data set: four gzipped IDX files under ``url``."""
    splits: dict[str, tuple[str, ...]] = {
        "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
        "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    }
    return Dataset(name, name, files, splits, "idx", {f: url + f for f in files}, classes=classes, licence=licence)


DATASETS: dict[str, Dataset] = {
    "fashion-mnist": _idx_dataset(
        "fashion-mnist",
        {
            "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        "MIT, Copyright (c) 2017 Zalando SE",
    ),
    "mnist": _idx_dataset(
        "mnist",
        {
            "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        tuple(str(i) for i in range(10)),
        "no formal licence; cite LeCun et al. 1998",
    ),
    "cifar10": Dataset(
        "cifar10",
        "cifar-10-batches-bin",
        {
            "test_batch.bin": "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b",
            "data_batch_1.bin": "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5",
            "data_batch_2.bin": "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed",
            "data_batch_3.bin": "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67",
            "data_batch_4.bin": "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48",
            "data_batch_5.bin": "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add",
        },
        {
            "test": ("test_batch.bin",),
            "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
            "train1": ("data_batch_1.bin",),
        },
        "cifar",
        {"cifar-10-binary.tar.gz": "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"},
        archive="cifar-10-binary.tar.gz",
        classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        licence="no formal licence; cite Krizhevsky 2009",
    ),
}
DEMO = "fashion-mnist-demo"
_DEMO_FILE = _HERE / "data" / "fashion_mnist_test_1000.npz"


def available_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return [*DATASETS, DEMO]


def _get(name: str) -> Dataset:
    if name not in DATASETS:
        raise UnknownNameError(
            f"unknown data set {name!r}{suggest(name, available_datasets())}; valid: {', '.join(available_datasets())}"
        )
    return DATASETS[name]


def cache_dir() -> Path:
    """The per-user download directory."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "memsim" / "datasets"


def data_dirs(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Directories searched for data sets, in order: ``root``, ``$MEMSIM_DATA``, the user cache."""
    dirs = [] if root is None else [Path(root)]
    dirs += [Path(p) for p in os.environ.get("MEMSIM_DATA", "").split(os.pathsep) if p]
    dirs.append(cache_dir())
    return dirs


def _locate(ds: Dataset, files: tuple[str, ...], root: str | os.PathLike[str] | None) -> Path:
    for directory in data_dirs(root):
        folder = directory / ds.folder
        if all((folder / f).is_file() for f in files):
            return folder
    searched = ", ".join(str(d / ds.folder) for d in data_dirs(root))
    raise DatasetError(
        f"data set {ds.name!r} not found (need {', '.join(files)}; searched {searched}). "
        f"Get it with `memsim data fetch {ds.name}`, or point MEMSIM_DATA at a folder holding {ds.folder}/"
    )


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as err:
        raise DatasetError(f"{path}: cannot read (corrupt or truncated gzip?): {err}") from None
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path}: {len(data)} bytes is too short for an IDX header")
    got = int.from_bytes(data[:4], "big")
    if got != magic:
        raise DatasetError(f"{path}: IDX magic number 0x{got:08x}, expected 0x{magic:08x} (wrong file?)")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = int(np.prod(dims))
    if len(data) - header != expected:
        raise DatasetError(
            f"{path}: header promises {dims} = {expected} bytes of data, the file holds {len(data) - header}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _read_cifar(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 3073:
        raise DatasetError(f"{path}: {raw.size} bytes is not a whole number of 3073-byte CIFAR-10 records")
    rec = raw.reshape(-1, 3073)
    labels = rec[:, 0].copy()
    if labels.max(initial=0) > 9:
        raise DatasetError(f"{path}: label {int(labels.max())} outside 0..9 (not a CIFAR-10 batch?)")
    return rec[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def load_dataset(
    name: str, split: str = "test", root: str | os.PathLike[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of a data set split.

    Parameters
    ----------
    name : str
        ``fashion-mnist``, ``mnist``, ``cifar10`` or ``fashion-mnist-demo`` (shipped); or a
        user's ``.npz`` file of uint8 ``images`` (``(N, H, W)``, ``(N, C, H, W)`` or
        ``(N, H, W, C)``) and integer ``labels`` (``(N,)``), or per split ``images_<split>``
        and ``labels_<split>``.
    split : str
        ``train`` or ``test`` (CIFAR-10 also ``train1``: the first training batch).
    root : path, optional
        Directory holding the data set's folder; searched before ``$MEMSIM_DATA``.

    Returns
    -------
    images : ndarray of uint8
        ``(N, 28, 28)`` for (Fashion-)MNIST, ``(N, 3, 32, 32)`` for CIFAR-10.
    labels : ndarray of uint8, shape (N,)

    Raises
    ------
    DatasetError
        If files are missing (the message says how to get them) or corrupt.
    """
    if str(name).lower().endswith(".npz"):
        return _read_user_npz(Path(name), split)
    if name == DEMO:
        if split != "test":
            raise DatasetError(f"{DEMO} has only the 'test' split (1,000 Fashion-MNIST test images)")
        with np.load(_DEMO_FILE, allow_pickle=False) as z:
            return z["images"], z["labels"]
    ds = _get(name)
    if split not in ds.splits:
        raise UnknownNameError(f"data set {name!r} has no split {split!r}; splits: {', '.join(ds.splits)}")
    files = ds.splits[split]
    folder = _locate(ds, files, root)
    if ds.kind == "idx":
        images = _read_idx(folder / files[0], 0x00000803, 3)
        labels = _read_idx(folder / files[1], 0x00000801, 1)
        if images.shape[0] != labels.shape[0]:
            raise DatasetError(f"{folder}: {images.shape[0]} images but {labels.shape[0]} labels in split {split!r}")
        return images, labels
    parts = [_read_cifar(folder / f) for f in files]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _read_user_npz(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """A user's data set file: ``images``/``labels``, or ``images_<split>``/``labels_<split>``."""
    from memsim.fileio import load_npz

    arrays = load_npz(path, error=DatasetError)
    keys = (f"images_{split}", f"labels_{split}") if f"images_{split}" in arrays else ("images", "labels")
    for key in keys:
        if key not in arrays:
            raise DatasetError(
                f"{path}: missing array {key!r}; a data set file holds 'images' and 'labels' "
                f"(or 'images_<split>' and 'labels_<split>'); found: {', '.join(arrays) or '(none)'}"
            )
    images, labels = arrays[keys[0]], arrays[keys[1]]
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise DatasetError(
            f"{path}: {keys[0]} must be uint8 images (N, H, W), (N, C, H, W) or (N, H, W, C); "
            f"got {images.dtype} of shape {images.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer) or labels.shape != (images.shape[0],):
        raise DatasetError(
            f"{path}: {keys[1]} must be {images.shape[0]} integer labels (one per image); "
            f"got {labels.dtype} of shape {labels.shape}"
        )
    if labels.size and labels.min() < 0:
        raise DatasetError(f"{path}: {keys[1]} holds a negative label ({int(labels.min())})")
    return images, labels


def verify(name: str, root: str | os.PathLike[str] | None = None) -> dict[str, bool]:
    """Check the sha256 of every file of a data set that is present.

    Returns
    -------
    dict
        File name -> True (matches) / False (differs); missing files are left out.

    Raises
    ------
    DatasetError
        If no file of the data set is found.
    """
    ds = _get(name)
    for directory in data_dirs(root):
        folder = directory / ds.folder
        present = [f for f in ds.files if (folder / f).is_file()]
        if present:
            return {f: sha256(folder / f) == ds.files[f] for f in present}
    raise DatasetError(
        f"data set {name!r} not found in {', '.join(str(d) for d in data_dirs(root))}; "
        f"get it with `memsim data fetch {name}`"
    )


def _progress(label: str) -> Callable[[int, int | None], None]:
    from tqdm.auto import tqdm

    bars: list[Any] = []

    def report(done: int, total: int | None) -> None:
        if not bars:
            bars.append(
                tqdm(total=total, desc=label, unit="B", unit_scale=True, leave=False, disable=not sys.stderr.isatty())
            )
        bars[0].update(done - bars[0].n)
        if total is not None and done >= total:
            bars[0].close()

    return report


def _download(url: str, dest: Path, progress: Callable[[int, int | None], None] | None) -> None:
    """Download ``url`` to ``dest`` via ``dest.part``, resuming a partial ``.part`` with an HTTP Range request."""
    part = dest.with_name(dest.name + ".part")
    start = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status = getattr(response, "status", 200)
            if start and status != 206:  # the server ignored the range: start over
                start = 0
            length = response.headers.get("Content-Length")
            total = start + int(length) if length is not None else None
            with open(part, "ab" if start else "wb") as handle:
                done = start
                for block in iter(lambda: response.read(1 << 16), b""):
                    handle.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
            if total is not None and done < total:
                raise DatasetError(
                    f"download of {url} stopped at {done} of {total} bytes; run the command again to resume"
                )
    except DatasetError:
        raise
    except urllib.error.HTTPError as err:
        if err.code == 416 and start:  # the part is already complete
            pass
        else:
            raise DatasetError(f"cannot download {url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        raise DatasetError(f"cannot download {url}: {err!r}; run the command again to resume") from None
    os.replace(part, dest)


def fetch(
    name: str,
    root: str | os.PathLike[str] | None = None,
    urls: dict[str, str] | None = None,
    progress: bool = True,
) -> Path:
    """Download a data set's files, check their sha256, and put them in place.

    Files already present with the right checksum are kept. Partial downloads
    resume. A file is renamed into place only after its checksum matched, so a
    failed or interrupted fetch never leaves a corrupt file under its real name.

    Parameters
    ----------
    name : str
        ``fashion-mnist``, ``mnist`` or ``cifar10``.
    root : path, optional
        Directory to fetch into (default: ``$MEMSIM_DATA``'s first entry, else the user cache).
    urls : dict, optional
        File name -> URL overrides (mirrors; tests use a local server).
    progress : bool
        Show a progress bar on a terminal.

    Returns
    -------
    pathlib.Path
        The data set's folder.
    """
    ds = _get(name)
    base = Path(root) if root is not None else data_dirs()[0]
    folder = base / ds.folder
    created = [p for p in (folder / ".download", folder, *folder.parents) if not p.exists()]
    try:
        return _fetch_into(ds, folder, urls, progress)
    except BaseException:
        for path in created:  # no side effects on failure: remove the empty folders this call made
            try:
                path.rmdir()
            except OSError:
                break  # not empty (a partial download to resume from) or not ours
        raise


def _fetch_into(ds: Dataset, folder: Path, urls: dict[str, str] | None, progress: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sources = {**ds.urls, **(urls or {})}
    missing = [f for f in ds.files if not ((folder / f).is_file() and sha256(folder / f) == ds.files[f])]
    if not missing:
        return folder
    staging = folder / ".download"
    staging.mkdir(exist_ok=True)
    if ds.archive is not None:
        archive = staging / ds.archive
        if not archive.is_file():
            _download(sources[ds.archive], archive, _progress(ds.archive) if progress else None)
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
                for f in missing:
                    if f not in members:
                        raise DatasetError(f"{archive}: no {f} inside the archive")
                    handle = tar.extractfile(members[f])
                    assert handle is not None
                    (staging / f).write_bytes(handle.read())
        except (tarfile.TarError, EOFError, OSError) as err:
            archive.unlink(missing_ok=True)
            raise DatasetError(f"{archive}: corrupt archive ({err}); deleted it, run the fetch again") from None
    else:
        for f in missing:
            _download(sources[f], staging / f, _progress(f) if progress else None)
    for f in missing:
        digest = sha256(staging / f)
        if digest != ds.files[f]:
            (staging / f).unlink()
            raise DatasetError(f"{f}: sha256 {digest} does not match the published {ds.files[f]}; deleted the download")
        os.replace(staging / f, folder / f)
    if ds.archive is not None:
        (staging / ds.archive).unlink(missing_ok=True)
    try:
        staging.rmdir()
    except OSError:
        pass
    return folder
