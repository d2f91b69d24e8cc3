"""The job server (pvd/jobs/server.py) and its client (pvd/jobs/client.py, the `pvd` command), with real
processes: a job runs in a child of the server, its output, exit status and signals are the
client's; a killed client stops its job; a server of other code is refused and the job runs in
the client; an idle server goes away."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PVD = [sys.executable, "-m", "pvd.jobs.client"]


@pytest.fixture
def server(tmp_path):
    path = tmp_path / "jobs.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pvd.jobs.server", "--socket", str(path), "--idle", "60"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the job server did not start"
        time.sleep(0.1)
    yield proc, path
    proc.terminate()
    proc.wait(timeout=60)


def _env(path, **extra):
    return {**os.environ, "PVD_JOB_SERVER": str(path), **extra}


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _train(scene, ws, iters="100000"):
    return [*PVD, "train", str(scene), "--data_type", "synthetic", "--model_type", "hash", "--workspace", str(ws)] + [
        "--iters",
        iters,
        "--no_progress",
        "--curve_points",
        "0",
        "--ckpt_every",
        "1000000",
    ]


def _wait_for(predicate, seconds=120):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_output_and_exit_status_are_the_jobs(server, tmp_path):
    proc, path = server
    ok = subprocess.run([*PVD, "--version"], env=_env(path), capture_output=True, text=True, timeout=60)
    here = subprocess.run([*PVD, "--version"], env=_env(tmp_path / "none"), capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout == here.stdout and ok.stdout.strip()
    bad = subprocess.run(
        [*PVD, "evaluate", str(tmp_path / "missing"), "--ckpt", "x.pt", "--workspace", str(tmp_path / "ws")],
        env=_env(path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "missing" in bad.stderr and "Traceback" not in bad.stderr


def test_a_job_runs_in_the_server_and_takes_the_clients_signals(server, demo_scene, tmp_path):
    proc, path = server
    client = subprocess.Popen(_train(demo_scene, tmp_path / "ws"), env=_env(path), stdout=subprocess.PIPE, text=True)
    _wait_for(lambda: _children(proc.pid))
    (job,) = _children(proc.pid)
    assert _children(client.pid) == [], "the job is the server's child, not the client's"
    time.sleep(12)  # into the training steps, past any timeout of the connection
    assert Path(f"/proc/{job}").exists(), "the job runs as long as its client"
    client.send_signal(signal.SIGINT)  # Ctrl-C: the job stops as it would on its own
    out, _ = client.communicate(timeout=120)
    assert client.returncode == 130, out
    _wait_for(lambda: not Path(f"/proc/{job}").exists() or "Z" in Path(f"/proc/{job}/stat").read_text().split()[2])


def test_a_killed_client_stops_its_job(server, demo_scene, tmp_path):
    proc, path = server
    client = subprocess.Popen(_train(demo_scene, tmp_path / "ws"), env=_env(path), stdout=subprocess.DEVNULL)
    _wait_for(lambda: _children(proc.pid))
    (job,) = _children(proc.pid)
    client.kill()
    client.wait()
    _wait_for(lambda: not _children(proc.pid), seconds=60)
    assert not Path(f"/proc/{job}").exists()


def test_a_server_of_other_code_is_refused_and_the_job_runs_in_the_client(server, demo_scene, tmp_path):
    proc, path = server
    other = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    ws = tmp_path / "ws"
    client = subprocess.Popen(_train(demo_scene, ws), env=_env(path, PYTHONPATH=other), stdout=subprocess.DEVNULL)
    try:
        _wait_for(lambda: ws.exists())  # the job has started: in the client itself
        assert _children(proc.pid) == [], "the server ran nothing"
    finally:
        client.kill()
        client.wait()


def test_an_idle_server_stops_and_removes_its_socket(tmp_path):
    path = tmp_path / "idle.sock"
    proc = subprocess.Popen([sys.executable, "-m", "pvd.jobs.server", "--socket", str(path), "--idle", "1"])
    assert proc.wait(timeout=120) == 0
    assert not path.exists()
