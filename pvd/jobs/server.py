"""A job server: runs ``pvd`` commands in children forked from a process that has torch and pvd
imported, so a workflow's jobs skip the ~2 s start each (:mod:`pvd.jobs.client` is the client).

    python -m pvd.jobs.server --socket PATH [--idle 600]

The workflow starts one per Snakemake run (``Snakefile``: ``onstart``) and stops it at the end;
jobs find it through ``PVD_JOB_SERVER``. For each connection the server checks that the client's
interpreter, import path and pvd are its own and that no pvd source file changed since it started
(else it answers ``refused`` and the client runs the command itself), then forks. The child starts
a new session (so a terminal's Ctrl-C reaches it only through its client), takes the client's
working directory, environment and standard streams, and runs
:func:`pvd.cli.main`; a thread watches the connection and stops the child as on SIGTERM if the
client disappears. The server reaps each child and sends its client the exit status or the signal
it died of. It never runs torch itself (no thread pools exist to be broken by the fork). It takes
no new jobs after SIGTERM/SIGINT/SIGHUP, ``--idle`` seconds without jobs, or when the process that
started it is gone, and exits once the running jobs have ended.
"""

from __future__ import annotations

import argparse
import io
import os
import selectors
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from pvd.jobs.client import MAX_MESSAGE, identity, read_message, send_message


def source_stamp() -> tuple:
    """Sizes and modification times of pvd's Python files: a change means the loaded code is stale."""
    root = Path(__file__).resolve().parent
    return tuple(sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*.py")))


def preload() -> None:
    """Import what every command needs, without running any torch op (fork-safe)."""
    import pvd.cli  # noqa: F401  (torch, numpy, every run kind)
    from pvd.train.loop import skip_dynamo_import

    skip_dynamo_import()


def _watch(conn: socket.socket) -> None:
    """In the child: stop it as on SIGTERM when its client disconnects (killed outright)."""
    conn.settimeout(None)
    try:
        while conn.recv(4096):
            pass
    except OSError:  # reset by the peer: gone as well
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def run_child(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked child: become the job and run it; never returns."""
    status = 1
    try:
        os.setsid()
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD):
            signal.signal(s, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in zip((0, 1, 2), fds):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdin = io.TextIOWrapper(open(0, "rb", closefd=False))
        sys.stdout = io.TextIOWrapper(open(1, "wb", closefd=False), line_buffering=os.isatty(1))
        sys.stderr = io.TextIOWrapper(open(2, "wb", closefd=False), line_buffering=True)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = ["pvd", *request["argv"]]
        threading.Thread(target=_watch, args=(conn,), daemon=True).start()
        from pvd.cli import main

        try:
            status = int(main(request["argv"]) or 0)
        except SystemExit as exc:  # argparse's usage errors and --help
            status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except KeyboardInterrupt:
            status = 130
    except BaseException:  # report like an interpreter would, then exit 1
        import traceback

        traceback.print_exc()
        status = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(status)


class JobServer:
    """Accepts jobs on a Unix socket and forks one child per job (see the module doc)."""

    def __init__(self, path: Path, idle: float):
        self.path, self.idle = path, idle
        self.identity, self.stamp = identity(), source_stamp()
        self.parent = os.getppid()
        self.children: dict[int, socket.socket] = {}
        self.selector = selectors.DefaultSelector()
        self.stopping = False

    def serve(self) -> None:
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(tmp))
        listener.listen(64)
        os.replace(tmp, self.path)  # clients see the socket only once it listens
        wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        for s in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, lambda *_: None)  # handled through the wake-up pipe
        self.selector.register(listener, selectors.EVENT_READ, "accept")
        self.selector.register(wake_r, selectors.EVENT_READ, "signal")
        last = time.monotonic()
        try:
            while not (self.stopping and not self.children):
                events = self.selector.select(timeout=1.0)
                for key, _ in events:
                    if key.data == "accept":
                        self.accept(listener)
                    elif {signal.SIGTERM, signal.SIGINT, signal.SIGHUP} & set(os.read(wake_r, 512)):
                        self.stopping = True
                self.reap()
                if self.children or events:
                    last = time.monotonic()
                if os.getppid() != self.parent or time.monotonic() - last > self.idle:
                    self.stopping = True
                if self.stopping and listener.fileno() >= 0:  # no new jobs; the running ones finish
                    self.selector.unregister(listener)
                    listener.close()
                    self.path.unlink(missing_ok=True)
        finally:
            if listener.fileno() >= 0:
                listener.close()
                self.path.unlink(missing_ok=True)

    def accept(self, listener: socket.socket) -> None:
        conn, _ = listener.accept()
        try:
            conn.settimeout(10)
            data, fds, _, _ = socket.recv_fds(conn, MAX_MESSAGE, 3)
            buffer = bytearray(data)
            request = read_message(conn, buffer)
        except (OSError, ValueError):
            conn.close()
            return
        if request is None or len(fds) != 3 or not self.same(request):
            for fd in fds:
                os.close(fd)
            try:
                send_message(conn, {"refused": "a job server of other code"})
            except OSError:
                pass
            conn.close()
            return
        conn.settimeout(None)
        pid = os.fork()
        if pid == 0:
            signal.set_wakeup_fd(-1)
            for key in list(self.selector.get_map().values()):
                os.close(key.fd)  # the listener and the wake-up pipe
            os.close(self.wake_w)
            for other in self.children.values():
                other.close()
            run_child(conn, request, fds)
        for fd in fds:
            os.close(fd)
        try:
            send_message(conn, {"pid": pid})
        except OSError:
            pass
        self.children[pid] = conn

    def same(self, request: dict) -> bool:
        return request.get("identity") == self.identity and source_stamp() == self.stamp

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            result = {"signal": os.WTERMSIG(status)} if os.WIFSIGNALED(status) else {"exit": os.WEXITSTATUS(status)}
            try:
                send_message(conn, result)
            except OSError:
                pass
            conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pvd.jobs.server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", required=True, type=Path, help="path of the Unix socket to listen on")
    parser.add_argument("--idle", type=float, default=600.0, help="seconds without jobs after which it stops")
    args = parser.parse_args(argv)
    preload()
    JobServer(args.socket.absolute(), args.idle).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
