"""Dataset and backbone-weight downloads: resumable, checksum-verified, extracted atomically.

Sources are listed in ``manifest.json`` beside this module. A download streams into
``<file>.part`` (resumed with an HTTP ``Range`` request after an interruption), is verified against
a SHA-256 and only then renamed into place:

* the manifest's digest when known (a prefix of at least 8 hex digits also counts, as in
  torchvision's weight file names);
* otherwise the digest recorded on the first download in ``ROOT/<archive>.sha256``, so later
  downloads are checked against it.

A dataset archive is extracted into a temporary folder inside ``ROOT`` and its top-level entries
renamed into ``ROOT``; a corrupt archive is reported, nothing appears, and the archive is moved
aside to ``<archive>.corrupt``. Success is
marked by ``ROOT/.pvd-complete-<dataset>.json`` (digest, size, source, extracted entries).

Environment overrides (for mirrors and tests): ``PVD_DATA_URL`` — fetch every dataset archive over
HTTP(S) from ``$PVD_DATA_URL/<archive>`` instead of its listed source; ``PVD_WEIGHTS_URL`` — the
same for the weight files.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from pvd.errors import SpecError, UserError
from pvd.records import atomic_path, sha256_file, write_json

MANIFEST = Path(__file__).with_name("manifest.json")
DATA_URL_ENV = "PVD_DATA_URL"
WEIGHTS_URL_ENV = "PVD_WEIGHTS_URL"
CHUNK = 1 << 20
SKIPPED_ENTRIES = ("__MACOSX",)


class DownloadError(UserError):
    """A download failed, was truncated, or its content is not what was expected."""


class DownloadOptionError(DownloadError, SpecError):
    """An argument of a download (``sha256``, ``root``) that cannot be used: a :class:`DownloadError`
    that names it (the CLI shows its flag)."""


class CorruptArchive(DownloadError):
    """An archive that cannot be read back completely."""


@dataclass(frozen=True)
class Source:
    """Where a file comes from: an HTTP(S) ``url`` or a Google Drive ``gdrive_id``."""

    name: str
    file: str
    url: str | None = None
    gdrive_id: str | None = None
    sha256: str | None = None


def _manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def dataset_sources() -> dict[str, Source]:
    """Dataset key -> archive source, from the manifest."""
    return {
        k: Source(k, v["archive"], v.get("url"), v.get("gdrive_id"), v.get("sha256"))
        for k, v in _manifest()["datasets"].items()
    }


def weight_sources() -> dict[str, Source]:
    """Backbone name -> weight file source, from the manifest."""
    return {k: Source(k, v["file"], v["url"], None, v["sha256"]) for k, v in _manifest()["weights"].items()}


def _matches(digest: str, expected: str) -> bool:
    return len(expected) >= 8 and digest.startswith(expected.lower())


def fetch(
    url: str,
    dest: Path,
    expected_sha256: str | None = None,
    retries: int = 3,
    progress: bool | None = None,
    timeout: float = 60.0,
) -> str:
    """Download ``url`` to ``dest`` via ``dest.part`` (resumable); verify; rename; return the digest.

    Raises:
        DownloadError: the transfer failed ``retries + 1`` times (the ``.part`` file is kept, so a
            later call resumes), or the digest differs from ``expected_sha256`` (the ``.part``
            file is removed and ``dest`` is not created).
    """
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            _stream(url, part, progress, timeout)
            break
        except (OSError, http.client.HTTPException) as exc:  # incl. URLError, resets, timeouts
            if attempt == retries:
                have = part.stat().st_size if part.exists() else 0
                raise DownloadError(
                    f"{url}: download failed after {attempt + 1} attempt(s) with "
                    f"{have} bytes in {part} ({exc}); run again to resume"
                ) from exc
            time.sleep(min(2.0**attempt, 10.0) * 0.1)
    digest = sha256_file(part)
    if expected_sha256 and not _matches(digest, expected_sha256):
        part.unlink()
        raise DownloadError(
            f"{url}: SHA-256 {digest} does not match the expected {expected_sha256}; "
            f"the download was removed and nothing was installed"
        )
    os.replace(part, dest)
    return digest


class _Truncated(DownloadError, OSError):
    """The server closed the connection before sending every byte."""


def _stream(url: str, part: Path, progress: bool | None, timeout: float) -> None:
    """Append the rest of ``url`` to ``part`` (Range request when ``part`` has bytes)."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "pvd-download"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the part file is complete
            return
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    with resp:
        if have and resp.status != 206:
            have = 0  # the server ignored the Range request: start over
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with (
            open(part, "ab" if have else "wb") as fh,
            tqdm(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                desc=part.name[:-5],
                disable=None if progress is None else not progress,
                leave=False,
            ) as bar,
        ):
            while block := resp.read(CHUNK):
                fh.write(block)
                bar.update(len(block))
        size = part.stat().st_size
        if total is not None and size < total:
            raise _Truncated(f"{url}: connection closed after {size} of {total} bytes")


def _recorded_digest(root: Path, archive: str) -> str | None:
    path = root / f"{archive}.sha256"
    if not path.is_file():
        return None
    text = path.read_text().split()
    if not text or len(text[0]) != 64:
        raise DownloadError(f"{path}: expected '<sha256>  {archive}'")
    return text[0]


def download_dataset(
    name: str,
    root: str | Path,
    url: str | None = None,
    sha256: str | None = None,
    retries: int = 3,
    keep_archive: bool = False,
    progress: bool | None = None,
) -> dict:
    """Download, verify and extract one dataset archive into ``root``; return its marker record.

    Args:
        name: dataset key (``synthetic``, ``llff``, ``tank``).
        root: folder receiving the extracted dataset.
        url: fetch the archive from this HTTP(S) URL instead of the manifest source.
        sha256: expected digest, overriding the manifest and the recorded digest.
    An archive already present at ``root/<archive>`` is verified and extracted without downloading.
    """
    sources = dataset_sources()
    if name not in sources:
        raise DownloadError(f"unknown dataset {name!r}; expected one of {', '.join(sources)}")
    src = sources[name]
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{8,64}", sha256):
        raise DownloadOptionError(
            "sha256", f"{sha256!r}: expected a SHA-256 digest (64 hexadecimal digits, or a prefix of at least 8)"
        )
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise DownloadOptionError("root", f"{root} is a file; expected a folder to extract the dataset into")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadOptionError("root", f"{root}: cannot create the folder ({exc.strerror or exc})") from None
    marker = root / f".pvd-complete-{name}.json"
    if marker.is_file():
        return json.loads(marker.read_text())
    recorded = _recorded_digest(root, src.file)
    expected = sha256 or src.sha256 or recorded
    archive = root / src.file
    base = os.environ.get(DATA_URL_ENV)
    url = url or (f"{base.rstrip('/')}/{src.file}" if base else src.url)
    if archive.is_file():
        origin, digest = str(archive), sha256_file(archive)
        if expected and not _matches(digest, expected):
            raise DownloadError(
                f"{archive}: SHA-256 {digest} does not match the expected "
                f"{expected}; remove the file and download again"
            )
    elif url:
        origin, digest = url, fetch(url, archive, expected, retries, progress)
    else:
        origin, digest = f"gdrive:{src.gdrive_id}", _fetch_gdrive(src, archive, expected, progress)
    try:
        extracted = extract_zip(archive, root, progress)
    except CorruptArchive as exc:
        aside = archive.with_name(archive.name + ".corrupt")
        os.replace(archive, aside)
        raise CorruptArchive(f"{exc}; the archive was moved to {aside}") from exc
    if expected is None:
        with atomic_path(root / f"{src.file}.sha256") as tmp:
            tmp.write_text(f"{digest}  {src.file}\n")
    record = {
        "dataset": name,
        "archive": src.file,
        "sha256": digest,
        "source": origin,
        "bytes": archive.stat().st_size,
        "extracted": extracted,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json(marker, record)
    if not keep_archive:
        archive.unlink()
    return record


def _fetch_gdrive(src: Source, archive: Path, expected: str | None, progress: bool | None) -> str:
    import gdown

    part = archive.with_name(archive.name + ".part")
    try:
        gdown.download(id=src.gdrive_id, output=str(part), quiet=progress is False, resume=True)
    except Exception as exc:  # gdown raises its own types for quota, permission and network errors
        raise DownloadError(
            f"Google Drive file {src.gdrive_id} ({src.file}): {exc}; run again to "
            f"resume, or fetch it by hand and place it at {archive}"
        ) from exc
    digest = sha256_file(part)
    if expected and not _matches(digest, expected):
        part.unlink()
        raise DownloadError(
            f"{src.file}: SHA-256 {digest} does not match the expected {expected}; "
            "the download was removed and nothing was installed"
        )
    os.replace(part, archive)
    return digest


def extract_zip(archive: Path, root: Path, progress: bool | None = None) -> list[str]:
    """Extract ``archive`` into ``root`` atomically; return the top-level entries created.

    Members under ``__MACOSX/`` (resource forks of macOS-made archives) are left out.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CorruptArchive(f"{archive}: not a readable zip archive ({exc}); nothing extracted") from exc
    with zf:
        members = [m for m in zf.infolist() if PurePosixPath(m.filename).parts[0] not in SKIPPED_ENTRIES]
        for m in members:
            parts = PurePosixPath(m.filename).parts
            if m.filename.startswith("/") or ".." in parts:
                raise DownloadError(f"{archive}: unsafe member path {m.filename!r}; nothing extracted")
        tops = sorted({PurePosixPath(m.filename).parts[0] for m in members})
        if not tops:
            raise DownloadError(f"{archive}: empty archive; nothing extracted")
        for top in tops:
            if (root / top).exists():
                raise DownloadError(
                    f"{root / top}: already exists without a completion marker; "
                    "remove it (or finish it by hand) and run again"
                )
        tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=root))
        try:
            for m in tqdm(
                members,
                desc=f"extracting {archive.name}",
                unit="file",
                disable=None if progress is None else not progress,
                leave=False,
            ):
                zf.extract(m, tmp)
            for top in tops:
                os.replace(tmp / top, root / top)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise CorruptArchive(f"{archive}: corrupt archive ({exc}); nothing extracted") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return tops


def download_weights(dest_dir: str | Path | None = None, retries: int = 3, progress: bool | None = None) -> list[Path]:
    """Fetch the torchvision backbones the ``lpips`` package loads (AlexNet, VGG16).

    Files go to ``dest_dir`` (default ``$TORCH_HOME/hub/checkpoints``, where torchvision looks);
    present files are verified instead of fetched again. Returns the file paths.
    """
    if dest_dir is None:
        import torch.hub

        dest_dir = Path(torch.hub.get_dir()) / "checkpoints"
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    base = os.environ.get(WEIGHTS_URL_ENV)
    paths = []
    for src in weight_sources().values():
        target = dest_dir / src.file
        if target.is_file():
            digest = sha256_file(target)
            if not _matches(digest, src.sha256):
                raise DownloadError(
                    f"{target}: SHA-256 {digest} does not start with {src.sha256}; remove the file and run again"
                )
        else:
            url = f"{base.rstrip('/')}/{src.file}" if base else src.url
            fetch(url, target, src.sha256, retries, progress)
        paths.append(target)
    return paths
