"""The ``pvd`` command's entry point: hand the job to a running job server, or run it here.

Starting a ``pvd`` process costs about 2 s of processor time before it does anything (importing
torch); a workflow of a hundred short jobs pays that a hundred times. When ``PVD_JOB_SERVER`` names
the socket of a job server (:mod:`pvd.jobs.server`, started by the workflow for one Snakemake run),
this process -- which imports nothing heavy -- sends the server its arguments, working directory,
environment and standard streams; the server forks a child that already has torch and pvd
imported, and the child runs the command exactly as this process would have. This process waits,
passes the signals it gets (Ctrl-C, SIGTERM from a scheduler) on to the child, and exits with the
child's status (or dies of the child's signal), so callers cannot tell the difference. If this
process is killed outright, the child sees its connection close and stops as on SIGTERM.

Anything unusual runs the command here, as without a server: no server listening at the path, a
server of another Python, pvd or code version (it says so with ``refused``), or ``PVD_JOB_SERVER``
unset.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys

ENV = "PVD_JOB_SERVER"
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
MAX_MESSAGE = 1 << 16


def identity() -> dict:
    """What must match between a client and a server for the server's loaded code to be this
    process's: the interpreter, the import path and where pvd comes from."""
    import pvd

    return {"python": os.path.realpath(sys.executable), "path": sys.path[1:], "pvd": os.path.realpath(pvd.__file__)}


def send_message(sock: socket.socket, message: dict, fds: list[int] | None = None) -> None:
    """One JSON message, newline-terminated, optionally with file descriptors attached."""
    data = (json.dumps(message) + "\n").encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.sendall(data)


def read_message(sock: socket.socket, buffer: bytearray) -> dict | None:
    """The next newline-terminated JSON message (None when the peer closed first)."""
    while b"\n" not in buffer:
        chunk = sock.recv(4096)
        if not chunk or len(buffer) > MAX_MESSAGE:
            return None
        buffer.extend(chunk)
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return json.loads(line)


def delegate(path: str, argv: list[str]) -> int | None:
    """Run ``argv`` through the job server at ``path``; its exit status, or None when the server is
    not usable (then nothing has run)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "identity": identity()}
        send_message(sock, request, [0, 1, 2])
        buffer = bytearray()
        reply = read_message(sock, buffer)
    except OSError:
        sock.close()
        return None
    if reply is None or "pid" not in reply:
        sock.close()
        return None
    child = int(reply["pid"])

    def forward(signum, frame):
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    for s in FORWARDED:
        signal.signal(s, forward)
    try:
        result = read_message(sock, buffer)  # (signals interrupt nothing here: the handler returns)
    except OSError:  # the connection reset: as if the server closed it
        result = None
    sock.close()
    if result is None:  # the server went away: the child is gone with it
        print(f"pvd: the job server at {path} stopped before the job ended", file=sys.stderr)
        return 1
    if "signal" in result:  # die of the child's signal, as the job itself would have
        signum = int(result["signal"])
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return 128 + signum
    return int(result["exit"])


def main(argv: list[str] | None = None) -> int:
    """The ``pvd`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    path = os.environ.get(ENV)
    if path and os.path.exists(path):
        status = delegate(path, argv)
        if status is not None:
            return status
    from pvd.cli import main as run_here

    return run_here(argv)


if __name__ == "__main__":
    sys.exit(main())
