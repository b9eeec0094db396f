"""Tests for nas.datasets: tiny files in the real formats, no network, no real datasets needed."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from nas.datasets import (
    Dataset,
    DatasetError,
    cifar,
    dataset,
    downloads,
    fashion_mnist,
    load_dataset,
    loader,
    locations,
)

REAL_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


# ------------------------------------------------------------------------------------------ helpers


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No real cache, $NAS_DATA, system folder or network; fresh in-process cache."""
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("NAS_DATA", raising=False)
    monkeypatch.setattr(
        locations, "SYSTEM_DIRS", {"fashion-mnist": (tmp_path / "system" / "fashion-mnist",)}
    )
    nowhere = (tmp_path / "no-mirror").as_uri() + "/"
    monkeypatch.setattr(fashion_mnist, "FASHION_MNIST_MIRRORS", (nowhere,))
    monkeypatch.setattr(cifar, "CIFAR_URLS", {k: nowhere + k for k in cifar.CIFAR_URLS})
    loader.clear_cache()
    yield cache
    loader.clear_cache()


def idx_bytes(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + np.ascontiguousarray(arr, dtype=np.uint8).tobytes()


def tiny_fmnist_arrays(seed: int = 0, n_train: int = 30, n_test: int = 10, hw: int = 6):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (n_train, hw, hw), dtype=np.uint8),
        (np.arange(n_train) % 10).astype(np.uint8),
        rng.integers(0, 256, (n_test, hw, hw), dtype=np.uint8),
        (np.arange(n_test)[::-1] % 10).astype(np.uint8),
    )


def write_fmnist(folder: Path, seed: int = 0, gz: bool | tuple[bool, ...] = True, **kw) -> tuple:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = tiny_fmnist_arrays(seed, **kw)
    gzs = gz if isinstance(gz, tuple) else (gz,) * 4
    for stem, arr, z in zip(fashion_mnist.FASHION_MNIST_FILES, arrays, gzs, strict=True):
        raw = idx_bytes(arr)
        if z:
            (folder / (stem + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / stem).write_bytes(raw)
    return arrays


def md5(path: Path) -> str:
    return "md5:" + hashlib.md5(path.read_bytes()).hexdigest()


def cifar_batch(
    n: int, seed: int, label_key: str = "labels", num_classes: int = 10, **extra
) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "batch_label": f"batch {seed}",
        "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        label_key: [int(v) for v in rng.integers(0, num_classes, n)],
        "filenames": [f"img{i}.png" for i in range(n)],
        **extra,
    }


def write_cifar10(folder: Path, n: int = 4) -> dict[str, dict]:
    batches = {f"data_batch_{i}": cifar_batch(n, i) for i in range(1, 6)}
    batches["test_batch"] = cifar_batch(n, 99)
    folder.mkdir(parents=True, exist_ok=True)
    for name, batch in batches.items():
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    names = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]
    (folder / "batches.meta").write_bytes(
        pickle.dumps({"label_names": names, "num_vis": 3072}, protocol=2)
    )
    return batches


def make_tar(src_dir: Path, arcname: str, dest: Path, hostile: bool = False) -> Path:
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(src_dir, arcname=arcname)
        if hostile:  # members a safe extractor must skip
            evil = tarfile.TarInfo(f"{arcname}/../../escaped.txt")
            evil.size = 4
            tar.addfile(evil, io.BytesIO(b"evil"))
            link = tarfile.TarInfo(f"{arcname}/link")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(link)
    return dest


def py2_cifar_pickle(rows: np.ndarray, labels: list[int]) -> bytes:
    """A batch as Python 2's cPickle (protocol 2) wrote the official files: str opcodes,
    numpy.core names."""

    def s(b: bytes) -> bytes:  # BINSTRING
        return b"T" + len(b).to_bytes(4, "little") + b

    n = rows.shape[0]
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85"
        + s(b"b")
        + b"\x87R("
        + b"K\x01J"
        + n.to_bytes(4, "little")
        + b"M\x00\x0c\x86"
        + b"cnumpy\ndtype\n"
        + s(b"u1")
        + b"K\x00K\x01\x87R(K\x03"
        + s(b"|")
        + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89"
        + s(rows.tobytes())
        + b"tb"
    )
    label_list = b"](" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
    return (
        b"\x80\x02}("
        + s(b"data")
        + array
        + s(b"labels")
        + label_list
        + s(b"batch_label")
        + s(b"b")
        + b"u."
    )


# ------------------------------------------------------------------------------------ Fashion-MNIST


@pytest.mark.parametrize(
    "gz", [True, False, (True, False, False, True)], ids=["gz", "plain", "mixed"]
)
def test_fashion_mnist_decodes_idx(tmp_path: Path, gz) -> None:
    tr_x, tr_y, te_x, te_y = write_fmnist(tmp_path / "d", gz=gz)
    ds = load_dataset("fashion-mnist", data_dir=tmp_path / "d", download=False)
    assert isinstance(ds, Dataset) and ds.name == "fashion-mnist"
    assert ds.train_x.shape == (30, 1, 6, 6) and ds.test_x.shape == (10, 1, 6, 6)
    assert ds.train_x.dtype == torch.uint8 and ds.train_y.dtype == torch.int64
    assert ds.train_x.is_contiguous() and ds.test_x.is_contiguous()
    assert np.array_equal(ds.train_x[:, 0].numpy(), tr_x) and np.array_equal(
        ds.test_x[:, 0].numpy(), te_x
    )
    assert ds.train_y.tolist() == tr_y.tolist() and ds.test_y.tolist() == te_y.tolist()
    assert ds.num_classes == 10 and ds.in_channels == 1 and ds.resolution == 6 and ds.hflip
    assert ds.mean == pytest.approx((tr_x.mean() / 255,)) and ds.std == pytest.approx(
        (tr_x.std() / 255,)
    )
    assert ds.classes[0] == "T-shirt/top"


def test_decoded_once_and_reloaded_when_file_changes(tmp_path: Path) -> None:
    write_fmnist(tmp_path / "d")
    a = load_dataset("fashion-mnist", tmp_path / "d")
    assert load_dataset("fashion-mnist", str(tmp_path / "d")) is a  # in-process cache
    write_fmnist(tmp_path / "d", seed=1, n_train=20)  # replaced files: new size/mtime
    b = load_dataset("fashion-mnist", tmp_path / "d")
    assert b is not a and b.train_x.shape[0] == 20


def test_search_order(tmp_path: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def n_train(**kw) -> int:
        loader.clear_cache()
        return load_dataset("fashion-mnist", download=False, **kw).train_x.shape[0]

    write_fmnist(tmp_path / "system" / "fashion-mnist", n_train=11)
    assert n_train() == 11  # Debian folder, searched last
    write_fmnist(isolated / "nas" / "fashion-mnist", n_train=12)
    assert n_train() == 12  # user cache beats the system folder
    write_fmnist(tmp_path / "env", n_train=13)
    monkeypatch.setenv("NAS_DATA", str(tmp_path / "env"))
    assert n_train() == 13  # $NAS_DATA itself
    write_fmnist(tmp_path / "env" / "fashion-mnist", n_train=14)
    assert n_train() == 14  # $NAS_DATA/fashion-mnist beats $NAS_DATA
    write_fmnist(tmp_path / "arg" / "fashion-mnist", n_train=15)
    assert n_train(data_dir=tmp_path / "arg") == 15  # data_dir/fashion-mnist
    write_fmnist(tmp_path / "arg", n_train=16)
    assert n_train(data_dir=tmp_path / "arg") == 16  # data_dir itself comes first
    (tmp_path / "empty").mkdir()
    # a data_dir without files falls through (with a note)
    assert n_train(data_dir=tmp_path / "empty") == 14
    with pytest.raises(DatasetError, match="does not exist"):
        n_train(data_dir=tmp_path / "missing")  # a data_dir that does not exist is a mistake


def test_download_with_good_checksum(
    tmp_path: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "mirror"
    tr_x, *_ = write_fmnist(mirror, gz=True)
    monkeypatch.setattr(
        fashion_mnist, "FASHION_MNIST_MIRRORS", ("http://broken.invalid/", mirror.as_uri() + "/")
    )
    monkeypatch.setattr(
        downloads,
        "CHECKSUMS",
        {f"{s}.gz": md5(mirror / f"{s}.gz") for s in fashion_mnist.FASHION_MNIST_FILES},
    )
    real_urlopen = downloads.urllib.request.urlopen

    def urlopen(
        url: str, timeout: float = 0
    ):  # the first mirror is "offline", the second a file:// URL
        if url.startswith("http://broken.invalid/"):
            raise urllib.error.URLError("Name or service not known")
        return real_urlopen(url, timeout=timeout)

    monkeypatch.setattr(downloads.urllib.request, "urlopen", urlopen)
    ds = load_dataset("fashion-mnist")
    cache = isolated / "nas" / "fashion-mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        f"{s}.gz" for s in fashion_mnist.FASHION_MNIST_FILES
    )
    assert np.array_equal(ds.train_x[:, 0].numpy(), tr_x)


def test_download_with_wrong_checksum_removes_partial_file(
    tmp_path: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "mirror"
    write_fmnist(mirror, gz=True)
    monkeypatch.setattr(fashion_mnist, "FASHION_MNIST_MIRRORS", (mirror.as_uri() + "/",))
    bad = {f"{s}.gz": "md5:" + "0" * 32 for s in fashion_mnist.FASHION_MNIST_FILES}
    monkeypatch.setattr(downloads, "CHECKSUMS", bad)
    with pytest.raises(
        DatasetError, match=r"checksum mismatch for train-images-idx3-ubyte\.gz.*deleted"
    ):
        load_dataset("fashion-mnist")
    assert list((isolated / "nas" / "fashion-mnist").iterdir()) == []


def test_download_file_with_monkeypatched_urlopen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = b"x" * 3_000_000  # several read() chunks
    monkeypatch.setattr(
        downloads.urllib.request, "urlopen", lambda url, timeout=0: io.BytesIO(payload)
    )
    dest = tmp_path / "sub" / "f.bin"
    good = "sha256:" + hashlib.sha256(payload).hexdigest()
    assert downloads.download_file("https://example.org/f.bin", dest, good) == dest
    assert dest.read_bytes() == payload
    with pytest.raises(DatasetError, match="checksum mismatch"):
        downloads.download_file(
            "https://example.org/f.bin", tmp_path / "g.bin", "sha256:" + "1" * 64
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]  # no partial g.bin / .part file


def test_offline_error_names_files_folders_and_fixes(
    tmp_path: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(url: str, timeout: float = 0):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(downloads.urllib.request, "urlopen", offline)
    monkeypatch.setattr(fashion_mnist, "FASHION_MNIST_MIRRORS", ("http://fashion-mnist.example/",))
    partial = tmp_path / "partial"
    write_fmnist(partial)
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setenv("NAS_DATA", str(tmp_path / "env"))
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion-mnist", data_dir=partial)
    msg = str(info.value)
    assert "\n" not in msg
    assert "train-images-idx3-ubyte" in msg and "t10k-labels-idx1-ubyte" in msg
    assert f"{partial} (missing t10k-labels-idx1-ubyte[.gz])" in msg
    for folder in locations.search_dirs("fashion-mnist", partial):
        assert str(folder) in msg
    assert (
        str(tmp_path / "env" / "fashion-mnist") in msg
        and str(isolated / "nas" / "fashion-mnist") in msg
    )
    assert "Temporary failure in name resolution" in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "--data-dir" in msg
    assert "http://fashion-mnist.example/train-images-idx3-ubyte.gz" in msg

    with pytest.raises(
        DatasetError, match=r"downloads disabled.*apt-get install dataset-fashion-mnist"
    ):
        load_dataset("fashion-mnist", download=False)


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[:-7])


def _bad_magic(p: Path) -> None:
    p.write_bytes(b"\x12\x34" + p.read_bytes()[2:])


def _garbage_gzip(p: Path) -> None:
    p.write_bytes(b"\x1f\x8b" + b"not really gzip" * 10)


def _truncated_gzip(p: Path) -> None:
    p.write_bytes(gzip.compress(p.read_bytes())[:-12])


def _other_count(p: Path) -> None:
    p.write_bytes(idx_bytes(np.zeros(29, np.uint8)))


@pytest.mark.parametrize(
    ("stem", "damage", "pattern"),
    [
        ("train-images-idx3-ubyte", _truncate, "wrong size"),
        ("t10k-images-idx3-ubyte", _bad_magic, "bad magic number"),
        ("train-labels-idx1-ubyte", _garbage_gzip, "corrupt or truncated gzip"),
        ("t10k-labels-idx1-ubyte", _truncated_gzip, "corrupt or truncated gzip"),
        ("train-labels-idx1-ubyte", _other_count, "30 images but"),
    ],
    ids=["truncated", "bad-magic", "bad-gzip", "truncated-gzip", "count-mismatch"],
)
def test_corrupt_idx_files_name_the_file(tmp_path: Path, stem: str, damage, pattern: str) -> None:
    write_fmnist(tmp_path, gz=False)
    damage(tmp_path / stem)
    with pytest.raises(DatasetError, match=pattern) as info:
        load_dataset("fashion-mnist", tmp_path, download=False)
    assert str(tmp_path / stem) in str(info.value)


@pytest.mark.skipif(
    not REAL_FASHION_MNIST.is_dir(),
    reason=(
        "Debian package dataset-fashion-mnist not installed (apt-get install dataset-fashion-mnist)"
    ),
)
def test_real_fashion_mnist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locations, "SYSTEM_DIRS", {"fashion-mnist": (REAL_FASHION_MNIST,)})
    ds = load_dataset("fashion-mnist", download=False)
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.test_x.shape == (10000, 1, 28, 28)
    assert (
        torch.bincount(ds.train_y).tolist() == [6000] * 10
        and torch.bincount(ds.test_y).tolist() == [1000] * 10
    )
    assert ds.mean == pytest.approx((0.2860,), abs=1e-4) and ds.std == pytest.approx(
        (0.3530,), abs=1e-4
    )


# -------------------------------------------------------------------------------------------- CIFAR


def test_cifar10_extracted_folder(tmp_path: Path) -> None:
    batches = write_cifar10(tmp_path / "cifar-10-batches-py")
    ds = load_dataset("cifar10", tmp_path, download=False)
    assert ds.train_x.shape == (20, 3, 32, 32) and ds.test_x.shape == (4, 3, 32, 32)
    assert (
        ds.train_x.dtype == torch.uint8
        and ds.train_y.dtype == torch.int64
        and ds.train_x.is_contiguous()
    )
    rows = np.concatenate([batches[f"data_batch_{i}"]["data"] for i in range(1, 6)])
    # CIFAR rows are 1024 red, then green, then blue values, each row-major 32x32
    assert ds.train_x[5, 1, 2, 3].item() == rows[5, 1024 + 2 * 32 + 3]
    assert np.array_equal(ds.train_x.reshape(20, -1).numpy(), rows)
    assert ds.train_y.tolist() == [
        v for i in range(1, 6) for v in batches[f"data_batch_{i}"]["labels"]
    ]
    assert ds.test_y.tolist() == batches["test_batch"]["labels"]
    assert (
        ds.num_classes == 10
        and ds.in_channels == 3
        and ds.resolution == 32
        and ds.classes[-1] == "truck"
    )
    expect = rows.reshape(20, 3, -1).transpose(1, 0, 2).reshape(3, -1) / 255
    assert ds.mean == pytest.approx(tuple(expect.mean(1))) and ds.std == pytest.approx(
        tuple(expect.std(1))
    )


def test_cifar10_archive_is_extracted_on_first_use(tmp_path: Path) -> None:
    write_cifar10(tmp_path / "src" / "cifar-10-batches-py")
    env = tmp_path / "env" / "cifar10"
    env.mkdir(parents=True)
    src = tmp_path / "src" / "cifar-10-batches-py"
    make_tar(src, "cifar-10-batches-py", env / "cifar-10-python.tar.gz", hostile=True)
    ds = load_dataset("cifar10", tmp_path / "env", download=False)
    assert ds.train_x.shape == (20, 3, 32, 32)
    assert (env / "cifar-10-batches-py" / "data_batch_5").is_file()
    assert (
        not (tmp_path / "escaped.txt").exists() and not (tmp_path / "env" / "escaped.txt").exists()
    )
    assert not (env / "cifar-10-batches-py" / "link").exists()
    assert [
        p.name for p in env.iterdir() if p.name.startswith(".")
    ] == []  # no temporary folders left


def test_cifar10_python2_pickles(tmp_path: Path) -> None:
    """The official files were written by Python 2 (byte strings, numpy.core module paths)."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(5)
    rows = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        rows[name] = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
        (folder / name).write_bytes(py2_cifar_pickle(rows[name], [1, 2, 9]))
    ds = load_dataset("cifar10", folder, download=False)
    assert np.array_equal(ds.test_x.reshape(3, -1).numpy(), rows["test_batch"])
    assert ds.train_y.tolist() == [1, 2, 9] * 5 and ds.classes == ()


def test_cifar100_uses_fine_labels(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    train = cifar_batch(6, 1, "fine_labels", 100, coarse_labels=[0] * 6)
    test = cifar_batch(3, 2, "fine_labels", 100, coarse_labels=[1] * 3)
    (folder / "train").write_bytes(pickle.dumps(train))
    (folder / "test").write_bytes(pickle.dumps(test))
    meta = {"fine_label_names": [f"c{i}" for i in range(100)], "coarse_label_names": ["x"] * 20}
    (folder / "meta").write_bytes(pickle.dumps(meta))
    ds = load_dataset("cifar100", tmp_path, download=False)
    assert (
        ds.num_classes == 100
        and ds.train_y.tolist() == train["fine_labels"]
        and ds.classes[5] == "c5"
    )
    assert ds.test_x.shape == (3, 3, 32, 32)


def test_cifar_download(tmp_path: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar10(tmp_path / "src" / "cifar-10-batches-py")
    archive = make_tar(
        tmp_path / "src" / "cifar-10-batches-py",
        "cifar-10-batches-py",
        tmp_path / "cifar-10-python.tar.gz",
    )
    monkeypatch.setattr(cifar, "CIFAR_URLS", {"cifar-10-python.tar.gz": archive.as_uri()})
    monkeypatch.setattr(downloads, "CHECKSUMS", {"cifar-10-python.tar.gz": md5(archive)})
    ds = load_dataset("cifar10")
    assert ds.train_x.shape == (20, 3, 32, 32)
    assert (isolated / "nas" / "cifar10" / "cifar-10-batches-py" / "test_batch").is_file()

    with pytest.raises(DatasetError, match=r"checksum mismatch for a\.tar\.gz"):
        downloads.download_file(archive.as_uri(), tmp_path / "x" / "a.tar.gz", "md5:" + "f" * 32)
    assert list((tmp_path / "x").iterdir()) == []


def test_cifar_missing_offline(tmp_path: Path) -> None:
    incomplete = tmp_path / "d" / "cifar-100-python"
    incomplete.mkdir(parents=True)
    (incomplete / "train").write_bytes(b"")
    with pytest.raises(DatasetError) as info:
        load_dataset("cifar100", tmp_path / "d")
    msg = str(info.value)
    assert "cifar-100-python.tar.gz" in msg and "download of file://" in msg and "\n" not in msg
    assert f"{tmp_path / 'd'} (cifar-100-python/ lacks test)" in msg
    assert str(tmp_path / "d" / "cifar100") in msg and "--data-dir" in msg


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"definitely not a pickle", "cannot unpickle"),
        (pickle.dumps(cifar_batch(4, 0))[:-40], "cannot unpickle"),
        (
            pickle.dumps({"data": np.zeros((4, 100), np.uint8), "labels": [0] * 4}),
            r"expected uint8 \(N, 3072\)",
        ),
        (
            pickle.dumps({"data": np.zeros((4, 3072), np.uint8), "labels": [0] * 3}),
            "4 images but 3 labels",
        ),
        (pickle.dumps({"data": np.zeros((4, 3072), np.uint8)}), "lacks the 'data' or 'labels'"),
        (pickle.dumps([1, 2, 3]), "expected a dict"),
        (pickle.dumps({"data": _Evil(), "labels": []}), "unexpected object builtins.print"),
    ],
    ids=[
        "garbage",
        "truncated",
        "wrong-size",
        "label-count",
        "no-labels",
        "not-dict",
        "unsafe-global",
    ],
)
def test_corrupt_cifar_batch_names_the_file(tmp_path: Path, content: bytes, pattern: str) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    (folder / "data_batch_3").write_bytes(content)
    with pytest.raises(DatasetError, match=pattern) as info:
        load_dataset("cifar10", tmp_path, download=False)
    assert str(folder / "data_batch_3") in str(info.value)


def test_corrupt_cifar_archive_names_the_file(tmp_path: Path) -> None:
    write_cifar10(tmp_path / "src" / "cifar-10-batches-py")
    (tmp_path / "d").mkdir()
    archive = make_tar(
        tmp_path / "src" / "cifar-10-batches-py",
        "cifar-10-batches-py",
        tmp_path / "d" / "cifar-10-python.tar.gz",
    )
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DatasetError, match="corrupt or truncated archive") as info:
        load_dataset("cifar10", tmp_path / "d", download=False)
    assert str(archive) in str(info.value)
    assert not (tmp_path / "d" / "cifar-10-batches-py").exists()


# -------------------------------------------------------------------------------------- imagefolder


def _png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_imagefolder_train_test(tmp_path: Path) -> None:
    pytest.importorskip("PIL", reason="Pillow is needed to write and read PNG files")
    rng = np.random.default_rng(0)
    pixels = {}
    for split, n in (("train", 3), ("test", 1)):
        for cls in ("cat", "dog"):
            for i in range(n):
                arr = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
                pixels[(split, cls, i)] = arr
                _png(tmp_path / "imgs" / split / cls / f"{i}.png", arr)
    # promoted to RGB
    _png(tmp_path / "imgs" / "train" / "dog" / "gray.png", np.full((5, 7), 200, np.uint8))
    (tmp_path / "imgs" / "train" / "dog" / "notes.txt").write_text("ignored")
    ds = load_dataset(f"imagefolder:{tmp_path / 'imgs'}")
    assert ds.classes == ("cat", "dog") and ds.num_classes == 2
    assert ds.train_x.shape == (7, 3, 5, 7) and ds.test_x.shape == (2, 3, 5, 7)
    assert ds.train_y.tolist() == [0, 0, 0, 1, 1, 1, 1] and ds.test_y.tolist() == [0, 1]
    assert np.array_equal(ds.train_x[0].numpy().transpose(1, 2, 0), pixels[("train", "cat", 0)])
    assert ds.train_x[6].unique().tolist() == [200]

    small = load_dataset(f"imagefolder:{tmp_path / 'imgs'}@4")
    assert (
        small.train_x.shape == (7, 3, 4, 4) and small.resolution == 4 and small.name.endswith("@4")
    )


def test_imagefolder_auto_split_grayscale_and_errors(tmp_path: Path) -> None:
    pytest.importorskip("PIL", reason="Pillow is needed to write and read PNG files")
    for cls in ("a", "b", "c"):
        for i in range(10):
            _png(tmp_path / "flat" / cls / f"{i:02d}.png", np.full((4, 4), 10 * i, np.uint8))
    ds = load_dataset(f"imagefolder:{tmp_path / 'flat'}")
    assert ds.in_channels == 1 and ds.train_x.shape[0] == 24 and ds.test_x.shape[0] == 6
    assert torch.bincount(ds.test_y).tolist() == [2, 2, 2]
    loader.clear_cache()
    again = load_dataset(f"imagefolder:{tmp_path / 'flat'}")
    assert torch.equal(again.test_x, ds.test_x) and torch.equal(again.train_y, ds.train_y)

    _png(tmp_path / "flat" / "b" / "big.png", np.zeros((6, 4), np.uint8))
    with pytest.raises(DatasetError, match=r"big\.png is 4x6 but .* is 4x4.*@4"):
        load_dataset(f"imagefolder:{tmp_path / 'flat'}")
    assert load_dataset(f"imagefolder:{tmp_path / 'flat'}@3").train_x.shape[1:] == (1, 3, 3)

    (tmp_path / "flat" / "c" / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DatasetError, match=r"cannot decode image .*broken\.png"):
        load_dataset(f"imagefolder:{tmp_path / 'flat'}@3")
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(f"imagefolder:{tmp_path / 'missing'}")
    with pytest.raises(DatasetError, match="positive integer"):
        load_dataset(f"imagefolder:{tmp_path / 'flat'}@big")


# ----------------------------------------------------------------------------- synthetic and subset


def test_synthetic_is_deterministic_and_shaped() -> None:
    a = load_dataset("synthetic:200")
    loader.clear_cache()
    b = load_dataset("synthetic:200")
    assert a is not b and torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert a.train_x.shape == (200, 1, 28, 28) and a.test_x.shape == (50, 1, 28, 28)
    assert torch.bincount(a.train_y).tolist() == [20] * 10 and not a.hflip
    # test images are not copies of training images
    assert not torch.equal(a.train_x[:50], a.test_x)
    default = load_dataset("synthetic")
    assert default.train_x.shape[0] == 2048 and default.test_x.shape[0] == 512
    for bad in ("synthetic:0", "synthetic:abc", "synthetic:"):
        with pytest.raises(DatasetError, match="positive number"):
            load_dataset(bad)


@pytest.fixture
def one_thread():
    """A single intra-op thread: tiny convolutions on shared cores are much faster
    without contention."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_synthetic_is_learnable(one_thread) -> None:
    torch.manual_seed(0)
    ds = load_dataset("synthetic:600")
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 5, padding=2),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(4),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 7 * 7, 10),
    )
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    x = (ds.train_x.float() / 255 - ds.mean[0]) / ds.std[0]
    for _ in range(3):
        for idx in torch.randperm(len(x)).split(50):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[idx]), ds.train_y[idx]).backward()
            opt.step()
    with torch.no_grad():
        acc = (
            (net((ds.test_x.float() / 255 - ds.mean[0]) / ds.std[0]).argmax(1) == ds.test_y)
            .float()
            .mean()
        )
    assert acc > 0.5  # chance is 0.1


def test_subset_is_seeded_and_stratified() -> None:
    ds = load_dataset("synthetic:400")
    a, b, c = ds.subset(50, 20, seed=1), ds.subset(50, 20, seed=1), ds.subset(50, 20, seed=2)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.train_x, c.train_x)
    assert a.train_x.shape == (50, 1, 28, 28) and a.test_x.shape == (20, 1, 28, 28)
    assert (
        torch.bincount(a.train_y).tolist() == [5] * 10
        and torch.bincount(a.test_y).tolist() == [2] * 10
    )
    assert a.train_x.is_contiguous() and a.name == ds.name and a.hflip == ds.hflip
    assert a.mean == dataset.channel_stats(a.train_x)[0] and a.mean != ds.mean
    half = ds.subset(None, 10)
    assert half.train_x is ds.train_x and half.mean == ds.mean and half.test_x.shape[0] == 10
    assert ds.subset() is ds and ds.subset(400) is ds
    for bad in (0, 401, -1, 2.5):
        with pytest.raises(DatasetError, match="train_size"):
            ds.subset(bad)


def test_unknown_spec() -> None:
    for spec in ("mnist", "", "cifar10:5", "imagefolder:"):
        with pytest.raises(DatasetError):
            load_dataset(spec)


def test_fashion_mnist_files_are_read_once_when_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counts reads instead of timing them (a timing depends on the machine): the four IDX files are
    decoded by the first load only, and the next 20 loads return the same dataset object. Mutation
    checked: the in-process cache bypassed (`decode_fashion_mnist.__wrapped__` called
    in `load_fashion_mnist`)."""
    write_fmnist(tmp_path)
    reads: list[Path] = []
    real_read_idx = fashion_mnist.read_idx

    def counting_read_idx(path: Path, *args: object, **kwargs: object) -> np.ndarray:
        reads.append(Path(path))
        return real_read_idx(path, *args, **kwargs)

    monkeypatch.setattr(fashion_mnist, "read_idx", counting_read_idx)
    first = load_dataset("fashion-mnist", tmp_path)
    assert len(reads) == 4  # train/test images and labels
    for _ in range(20):
        assert load_dataset("fashion-mnist", tmp_path) is first
    assert len(reads) == 4
