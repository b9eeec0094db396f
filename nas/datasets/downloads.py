"""Verified downloads: a file fetched atomically and checked against its published checksum.

:data:`CHECKSUMS` holds the published checksums of the downloadable dataset files by file name;
:func:`download_file` streams a URL into place, :func:`download_from_mirrors` tries several base
URLs in turn.  A network failure raises :class:`DownloadError` (a
:class:`~nas.datasets.dataset.DatasetError`), which the dataset loaders turn into an "offline"
message.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from nas.datasets.dataset import DatasetError

log = logging.getLogger(__name__)

#: Published checksums of the downloadable files, ``"md5:<hex>"`` or ``"sha256:<hex>"`` by file
#: name.  Only downloads are verified: local copies (e.g. the Debian package, whose ``.gz`` files
#: were recompressed and so have other checksums) are validated structurally instead.
CHECKSUMS: dict[str, str] = {
    "cifar-10-python.tar.gz": "md5:c58f30108f718f92721af3b95e74349a",
    "cifar-100-python.tar.gz": "md5:eb9058c3a382ffc7106e4002c42a8d85",
    "train-images-idx3-ubyte.gz": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "md5:25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "md5:bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "md5:bb300cfdad3c16e7a12a480ee83cd310",
}


class DownloadError(DatasetError):
    """A download failed for a network reason (the caller turns it into an 'offline' message)."""


def published_checksum(filename: str) -> str | None:
    """The published checksum of the downloadable file ``filename`` (:data:`CHECKSUMS`), or None."""
    return CHECKSUMS.get(filename)


def _parse_checksum(spec: str) -> tuple[str, str]:
    algo, sep, digest = spec.partition(":")
    if not sep:  # bare hex digest: infer the algorithm from its length
        algo, digest = ("md5" if len(spec) == 32 else "sha256"), spec
    algo = algo.lower()
    if algo not in ("md5", "sha256"):
        raise ValueError(f"unsupported checksum algorithm {algo!r} (use md5: or sha256:)")
    return algo, digest.lower()


def download_file(
    url: str, dest: str | os.PathLike[str], checksum: str | None = None, timeout: float = 60.0
) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying ``checksum``
    (``"md5:<hex>"``/``"sha256:<hex>"``).

    The data is streamed into a temporary file next to ``dest`` that is renamed onto ``dest`` only
    after the checksum matched; on any failure the temporary file is deleted.  Works with
    ``file://`` URLs.

    Raises:
        DatasetError: checksum mismatch or an unwritable destination; a network failure raises a
            subclass whose message contains the reason.
    """
    dest = Path(dest)
    algo, expected = _parse_checksum(checksum) if checksum else ("sha256", None)
    hasher = hashlib.new(algo)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as exc:
        raise DatasetError(
            f"cannot write to {dest.parent} to download {url}: {exc.strerror or exc}; make it "
            f"writable or set XDG_CACHE_HOME / --data-dir"
        ) from exc
    tmp = Path(tmp_name)
    try:
        log.info("downloading %s -> %s", url, dest)
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=timeout)
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
                raise DownloadError(
                    f"download of {url} failed: {getattr(exc, 'reason', None) or exc}"
                ) from exc
            with response:
                while True:
                    try:
                        chunk = response.read(1 << 20)
                    except (http.client.HTTPException, OSError) as exc:
                        raise DownloadError(f"download of {url} failed: {exc}") from exc
                    if not chunk:
                        break
                    hasher.update(chunk)
                    out.write(chunk)
        actual = hasher.hexdigest()
        if expected is not None and actual != expected:
            raise DatasetError(
                f"checksum mismatch for {dest.name} downloaded from {url}: expected {algo} "
                f"{expected}, got {actual}; the partial file was deleted, retry or download it "
                f"by hand into {dest.parent}"
            )
        os.replace(tmp, dest)
    except OSError as exc:  # writing the file failed (disk full, permissions)
        tmp.unlink(missing_ok=True)
        raise DatasetError(
            f"cannot write {dest} while downloading {url}: {exc.strerror or exc}"
        ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def download_from_mirrors(filename: str, mirrors: Sequence[str], dest: Path) -> None:
    """Download ``filename`` from the first of ``mirrors`` (base URLs) that has it, verified against
    its published checksum; :class:`DownloadError` with every mirror's reason when all of them
    fail."""
    errors = []
    for base in mirrors:
        try:
            download_file(base + filename, dest, published_checksum(filename))
            return
        except DownloadError as exc:
            errors.append(str(exc))
    raise DownloadError("; ".join(errors) or f"no mirror configured for {filename}")
