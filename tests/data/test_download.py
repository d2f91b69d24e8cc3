"""Downloads end to end against a real HTTP server on 127.0.0.1 (no other network)."""

import hashlib
import io
import json
import random
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pvd.cli import main
from pvd.data.download import DownloadError, download_dataset, download_weights, weight_sources


class Server:
    """Serves ``files`` (name -> bytes) with Range support; names in ``cut`` are sent half-way
    once (full Content-Length announced, connection closed early)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                rng = self.headers.get("Range")
                server.requests.append((name, rng))
                if name not in server.files:
                    self.send_error(404)
                    return
                body, start = server.files[name], 0
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if name in server.cut:
                    server.cut.discard(name)
                    self.wfile.write(body[start : start + (len(body) - start) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.close()


PAYLOAD = random.Random(0).randbytes(50_000)


def make_zip(extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("nerf_synthetic/lego/transforms_train.json", json.dumps({"frames": []}))
        zf.writestr("nerf_synthetic/lego/train/r_0.png", PAYLOAD)
        zf.writestr("__MACOSX/nerf_synthetic/._lego", b"resource fork")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


def corrupt_member_data(archive: bytes, member: str) -> bytes:
    """Zero 64 bytes in the middle of one member's compressed data (headers stay intact)."""
    info = zipfile.ZipFile(io.BytesIO(archive)).getinfo(member)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    middle = start + info.compress_size // 2
    return archive[:middle] + bytes(64) + archive[middle + 64 :]


def test_download_verify_extract_and_mark(server, tmp_path):
    archive = make_zip()
    server.files["nerf_synthetic.zip"] = archive
    root = tmp_path / "data"
    record = download_dataset("synthetic", root, url=f"{server.url}/nerf_synthetic.zip", progress=False)
    digest = hashlib.sha256(archive).hexdigest()
    assert record["sha256"] == digest and record["extracted"] == ["nerf_synthetic"]
    assert (root / "nerf_synthetic/lego/train/r_0.png").read_bytes() == PAYLOAD
    assert not (root / "__MACOSX").exists() and not (root / "nerf_synthetic.zip").exists()
    assert (root / "nerf_synthetic.zip.sha256").read_text().split()[0] == digest
    assert json.loads((root / ".pvd-complete-synthetic.json").read_text())["sha256"] == digest
    assert not [p for p in root.iterdir() if p.name.startswith(".extract-")]
    n_requests = len(server.requests)
    assert download_dataset("synthetic", root, url=f"{server.url}/nerf_synthetic.zip") == record
    assert len(server.requests) == n_requests  # complete: nothing fetched again


def test_interrupted_transfer_resumes_with_range(server, tmp_path):
    archive = make_zip({"nerf_synthetic/big.bin": bytes(200_000)})
    server.files["nerf_synthetic.zip"] = archive
    server.cut.add("nerf_synthetic.zip")
    url = f"{server.url}/nerf_synthetic.zip"
    with pytest.raises(DownloadError, match=r"connection closed after \d+ of \d+ bytes.*run again"):
        download_dataset("synthetic", tmp_path, url=url, retries=0, progress=False)
    part = tmp_path / "nerf_synthetic.zip.part"
    assert 0 < part.stat().st_size < len(archive)
    assert not (tmp_path / "nerf_synthetic").exists()
    record = download_dataset("synthetic", tmp_path, url=url, retries=0, progress=False)
    assert server.requests[-1] == ("nerf_synthetic.zip", f"bytes={len(archive) // 2}-")
    assert record["sha256"] == hashlib.sha256(archive).hexdigest() and not part.exists()
    assert (tmp_path / "nerf_synthetic/big.bin").stat().st_size == 200_000


def test_retries_resume_within_one_call(server, tmp_path):
    archive = make_zip()
    server.files["nerf_synthetic.zip"] = archive
    server.cut.add("nerf_synthetic.zip")
    download_dataset("synthetic", tmp_path, url=f"{server.url}/nerf_synthetic.zip", retries=2, progress=False)
    assert [r[1] is not None for r in server.requests] == [False, True]


def test_checksum_mismatch_extracts_nothing(server, tmp_path):
    server.files["nerf_synthetic.zip"] = make_zip()
    url = f"{server.url}/nerf_synthetic.zip"
    with pytest.raises(DownloadError, match="does not match the expected 0123abcd"):
        download_dataset("synthetic", tmp_path, url=url, sha256="0123abcd" * 8, progress=False)
    (tmp_path / "nerf_synthetic.zip.sha256").write_text("f" * 64 + "  nerf_synthetic.zip\n")
    with pytest.raises(DownloadError, match="does not match the expected ffff"):
        download_dataset("synthetic", tmp_path, url=url, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nerf_synthetic.zip.sha256"]


@pytest.mark.parametrize(
    "payload, message, left",
    [
        (b"this is not a zip archive" * 100, "not a readable zip archive", "nerf_llff_data.zip.corrupt"),
        ("corrupt", r"corrupt archive \(.*CRC", "nerf_llff_data.zip.corrupt"),
        ("unsafe", "unsafe member path '../escape.txt'", "nerf_llff_data.zip"),
    ],
)
def test_corrupt_or_unsafe_archives_are_reported(server, tmp_path, payload, message, left):
    if payload == "corrupt":
        payload = corrupt_member_data(make_zip(), "nerf_synthetic/lego/train/r_0.png")
    elif payload == "unsafe":
        payload = make_zip({"../escape.txt": b"x"})
    server.files["nerf_llff_data.zip"] = payload
    with pytest.raises(DownloadError, match=message):
        download_dataset("llff", tmp_path / "root", url=f"{server.url}/nerf_llff_data.zip", progress=False)
    assert [p.name for p in (tmp_path / "root").iterdir()] == [left]
    assert not (tmp_path / "escape.txt").exists()


def test_cli_download_from_a_mirror_url(server, tmp_path, monkeypatch, capsys):
    archive = make_zip()
    server.files["TanksAndTemple.zip"] = archive
    monkeypatch.setenv("PVD_DATA_URL", server.url)
    assert main(["data", "download", "tank", "--root", str(tmp_path)]) == 0
    assert hashlib.sha256(archive).hexdigest() in capsys.readouterr().out
    assert (tmp_path / ".pvd-complete-tank.json").is_file()
    assert main(["data", "download", "tank", "--root", str(tmp_path / "b"), "--url", f"{server.url}/missing.zip"]) == 2
    assert "HTTP 404" in capsys.readouterr().err


def test_weights_are_verified_against_their_hash_prefix(server, tmp_path, monkeypatch):
    for src in weight_sources().values():
        server.files[src.file] = b"not the real weights"
    monkeypatch.setenv("PVD_WEIGHTS_URL", server.url)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(
        DownloadError,
        match=r"alexnet-owt-7be5be79.pth: SHA-256 .* does not match "
        r"the expected 7be5be79",
    ):
        download_weights(progress=False)
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    assert checkpoints.is_dir() and list(checkpoints.iterdir()) == []
