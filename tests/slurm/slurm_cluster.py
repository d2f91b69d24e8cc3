"""A private single-node SLURM cluster on 127.0.0.1, for testing the workflow's SLURM profile.

`LocalSlurm(root)` is a context manager that installs Debian's `slurmctld slurmd slurm-client munge`
when they are missing, writes its own munge key and `slurm.conf` under `root`, starts `munged`,
`slurmctld` and `slurmd` (all bound to 127.0.0.1: `SlurmctldHost=localhost(127.0.0.1)`,
`NodeAddr=127.0.0.1`, `CommunicationParameters=NoInAddrAny,NoCtldInAddrAny`, ports picked free on
127.0.0.1), waits until the node is idle, and on exit cancels the cluster's jobs and stops every
daemon it started by PID, also when the body raised.

Two facts of these machines shape it:
- No slurmdbd: `sacct` cannot see jobs, so the Snakemake plugin must query `squeue`
  (`--slurm-status-command squeue`), which needs finished jobs kept in slurmctld (`MinJobAge`).
  Every finished job is also written by `jobcomp/filetxt` to `root/jobcomp.log`, the record the
  tests use to prove a job ran under SLURM.
- The plugin's job step strips `SLURM_CONF` from the environment of its inner `srun`. Rather than
  writing `/etc/slurm/slurm.conf`, `root/bin` holds one wrapper per SLURM client command that sets
  `SLURM_CONF` and runs the real binary; `LocalSlurm.env()` puts it first on `PATH`, and
  `sbatch --export=ALL` carries that `PATH` into every job.

Command line: `python tests/slurm/slurm_cluster.py [--root DIR] -- COMMAND ...` starts the cluster, runs
COMMAND with `LocalSlurm.env()`, stops the cluster and exits with COMMAND's status.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENT_COMMANDS = ("sbatch", "srun", "squeue", "scancel", "scontrol", "sinfo", "sacct", "sacctmgr", "sshare")
NODE_NAME = "pvdnode"
PARTITION = "debug"
MIN_JOB_AGE_S = 3600
NOMINAL_CPUS = 32
NOMINAL_MEMORY_MB = 512_000
START_TIMEOUT_S = 60.0


class ClusterError(RuntimeError):
    """The private cluster could not be installed, started or queried; the message names the log to read."""


@dataclass(frozen=True)
class Layout:
    """Every file and directory of one private cluster, all under `root`."""

    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def munge_dir(self) -> Path:
        return self.root / "munge"

    @property
    def munge_key(self) -> Path:
        return self.munge_dir / "munge.key"

    @property
    def munge_socket(self) -> Path:
        return self.munge_dir / "munge.socket"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    @property
    def bin(self) -> Path:
        """Wrappers of the SLURM client commands (see the module docstring)."""
        return self.root / "bin"

    @property
    def logs(self) -> Path:
        """Daemon logs: munged.log, slurmctld.log, slurmd.log, jobcomp.log (one line per finished job)."""
        return self.root / "logs"

    @property
    def jobcomp(self) -> Path:
        return self.logs / "jobcomp.log"


def ensure_installed() -> None:
    """Install the Debian packages when any daemon or `sbatch` is missing (apt-get; needs root)."""
    if all(shutil.which(cmd) for cmd in (*DAEMONS, "sbatch")):
        return
    if os.geteuid() != 0:
        raise ClusterError(f"SLURM is not installed and installing {' '.join(PACKAGES)} needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise ClusterError(f"apt-get install {' '.join(PACKAGES)} failed:\n{done.stderr[-2000:]}")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def slurm_conf(layout: Layout, cpus: int, memory_mb: int) -> str:
    """The text of `slurm.conf` for a one-node cluster that listens on 127.0.0.1 only, without GPUs.

    The node's CPUs and memory are nominal (`SlurmdParameters=config_overrides`): SLURM schedules
    against them but, without cgroups, enforces neither, so a profile's paper-scale requests fit.
    """
    root = layout.root
    return "\n".join(
        [
            "ClusterName=pvdtest",
            "SlurmctldHost=localhost(127.0.0.1)",
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            "CommunicationParameters=NoInAddrAny,NoCtldInAddrAny",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={layout.munge_socket}",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"StateSaveLocation={layout.state}",
            f"SlurmdSpoolDir={layout.spool}",
            f"SlurmctldPidFile={root}/slurmctld.pid",
            f"SlurmdPidFile={root}/slurmd.pid",
            f"SlurmctldLogFile={layout.logs}/slurmctld.log",
            f"SlurmdLogFile={layout.logs}/slurmd.log",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={layout.jobcomp}",
            "SchedulerType=sched/backfill",
            "SchedulerParameters=sched_interval=2,bf_interval=1,sched_min_interval=0",
            "DefMemPerCPU=1024",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU_Memory",
            "MpiDefault=none",
            "MailProg=/bin/true",
            "SwitchType=switch/none",
            "ReturnToService=2",
            "SlurmdParameters=config_overrides",
            f"MinJobAge={MIN_JOB_AGE_S}",
            "SlurmctldTimeout=30",
            "SlurmdTimeout=30",
            "InactiveLimit=0",
            "KillWait=5",
            "Waittime=0",
            f"NodeName={NODE_NAME} NodeHostname={NODE_NAME} NodeAddr=127.0.0.1 "
            f"CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN",
            f"PartitionName={PARTITION} Nodes={NODE_NAME} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]
    )


def write_wrappers(layout: Layout) -> None:
    """One executable per SLURM client command in `layout.bin`: set SLURM_CONF, exec the real binary."""
    layout.bin.mkdir(parents=True, exist_ok=True)
    search = os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep) if Path(d) != layout.bin)
    for command in CLIENT_COMMANDS:
        real = shutil.which(command, path=search)
        if real is None:
            raise ClusterError(f"SLURM client command {command!r} is not on PATH after installing slurm-client")
        wrapper = layout.bin / command
        wrapper.write_text(f'#!/bin/sh\nSLURM_CONF="{layout.conf}" exec "{real}" "$@"\n')
        wrapper.chmod(0o755)


def read_jobcomp(path: Path) -> list[dict[str, str]]:
    """The finished jobs that `jobcomp/filetxt` logged: one dict per line (JobId, Name, JobState, ...)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        if "JobId" in fields:
            records.append(fields)
    return records


def listening_addresses(pids: list[int]) -> set[str]:
    """The local IPv4/IPv6 addresses on which any of `pids` holds a listening TCP socket (hex decoded)."""
    inodes = set()
    for pid in pids:
        fd_dir = Path(f"/proc/{pid}/fd")
        for fd in fd_dir.iterdir() if fd_dir.exists() else ():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    addresses = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        if not Path(table).exists():
            continue
        for row in Path(table).read_text().splitlines()[1:]:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A" and cols[9] in inodes:
                addresses.add(_decode_address(cols[1].split(":")[0], width))
    return addresses


def _decode_address(hex_addr: str, width: int) -> str:
    """`/proc/net/tcp*` stores addresses as little-endian 32-bit words in hex."""
    raw = bytes.fromhex(hex_addr)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if width == 8 else socket.AF_INET6
    return socket.inet_ntop(family, words)


class LocalSlurm:
    """A running single-node SLURM cluster under `root` (a context manager; see the module docstring).

    cpus, memory_mb: what the node declares (nominal, see `slurm_conf`); cap concurrency with
    Snakemake's `--jobs` instead. The node declares no GPUs: a count-only GPU gres line leaves it INVAL
    without real devices, so jobs run through it must request none.
    """

    def __init__(self, root: Path, cpus: int = NOMINAL_CPUS, memory_mb: int = NOMINAL_MEMORY_MB):
        self.layout = Layout(Path(root).resolve())
        self.cpus = cpus
        self.memory_mb = memory_mb
        self.processes: dict[str, subprocess.Popen] = {}

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """`base` (default os.environ) with SLURM_CONF set and the client wrappers first on PATH."""
        env = dict(os.environ if base is None else base)
        env["SLURM_CONF"] = str(self.layout.conf)
        env["PATH"] = f"{self.layout.bin}{os.pathsep}{env.get('PATH', '')}"
        return env

    def client(self, *args: str, check: bool = True) -> str:
        """Run one SLURM client command (e.g. `client("sinfo", "-h")`) against this cluster; its stdout."""
        done = subprocess.run(list(args), env=self.env(), capture_output=True, text=True, timeout=30)
        if check and done.returncode != 0:
            raise ClusterError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def jobs(self) -> list[dict[str, str]]:
        """Every job this cluster finished so far, from `logs/jobcomp.log`."""
        return read_jobcomp(self.layout.jobcomp)

    def pids(self) -> dict[str, int]:
        """Name -> PID of the daemons this object started and that still run."""
        return {name: proc.pid for name, proc in self.processes.items() if proc.poll() is None}

    def __enter__(self) -> LocalSlurm:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> None:
        """Install if needed, write the configuration, start the three daemons, wait for an idle node."""
        ensure_installed()
        layout = self.layout
        for directory in (layout.root, layout.munge_dir, layout.state, layout.spool, layout.logs):
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o700)
        layout.munge_key.write_bytes(os.urandom(1024))
        layout.munge_key.chmod(0o400)
        layout.conf.write_text(slurm_conf(layout, self.cpus, self.memory_mb))
        write_wrappers(layout)
        self._spawn(
            "munged",
            [
                "munged",
                "-F",
                "--force",
                f"--key-file={layout.munge_key}",
                f"--socket={layout.munge_socket}",
                f"--pid-file={layout.munge_dir}/munged.pid",
                f"--log-file={layout.logs}/munged.log",
                f"--seed-file={layout.munge_dir}/seed",
            ],
        )
        self._wait(lambda: layout.munge_socket.exists(), "munged to create its socket", "munged")
        self._spawn("slurmctld", ["slurmctld", "-D", "-f", str(layout.conf)])
        self._wait(
            lambda: self.client("scontrol", "ping", check=False).find("UP") >= 0,
            "slurmctld to answer scontrol ping",
            "slurmctld",
        )
        self._spawn("slurmd", ["slurmd", "-D", "-N", NODE_NAME, "-f", str(layout.conf)])
        self._wait(self._node_idle, f"node {NODE_NAME} to become idle", "slurmd")
        foreign = listening_addresses(list(self.pids().values())) - {"127.0.0.1"}
        if foreign:
            raise ClusterError(f"the SLURM daemons listen on {sorted(foreign)}, not only on 127.0.0.1")

    def stop(self) -> None:
        """Cancel this cluster's jobs, then stop slurmd, slurmctld and munged by PID (TERM, then KILL)."""
        if self.processes.get("slurmctld") and self.processes["slurmctld"].poll() is None:
            self.client("scancel", "--full", "--user", "root", check=False)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and self.client("squeue", "-h", "-t", "R,CG", check=False).strip():
                time.sleep(0.5)
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.processes.clear()

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(self.layout.logs / f"{name}.out", "w")
        self.processes[name] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env(), start_new_session=True
        )
        log.close()

    def _node_idle(self) -> bool:
        state = self.client("sinfo", "-h", "-n", NODE_NAME, "-o", "%T", check=False).strip()
        if state.startswith(("inval", "drain", "down")) and not state.startswith("down*"):
            raise ClusterError(f"node {NODE_NAME} is {state!r}; see {self.layout.logs}/slurmctld.log")
        return state == "idle"

    def _wait(self, ready, what: str, daemon: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready():
            proc = self.processes[daemon]
            if proc.poll() is not None:
                raise ClusterError(
                    f"{daemon} exited with {proc.returncode} while waiting for {what}; "
                    f"see {self.layout.logs}/{daemon}.out and {daemon}.log"
                )
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"timed out after {START_TIMEOUT_S:.0f} s waiting for {what}; see {self.layout.logs}"
                )
            time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    """`python tests/slurm/slurm_cluster.py [--root DIR] -- COMMAND ...`: run COMMAND on a private cluster."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--root", type=Path, help="cluster directory (default: a new temp dir, kept for its logs)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="command to run with SLURM_CONF and PATH set")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a COMMAND after --, e.g. -- snakemake --profile profiles/slurm ...")
    root = args.root or Path(tempfile.mkdtemp(prefix="pvd-slurm-"))

    def raise_exit(signum, _frame):
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, raise_exit)
    started = time.monotonic()
    with LocalSlurm(root) as cluster:
        print(f"[slurm] cluster up in {time.monotonic() - started:.1f} s under {root}", file=sys.stderr)
        status = subprocess.run(command, env=cluster.env()).returncode
        print(f"[slurm] {len(cluster.jobs())} jobs finished; logs in {cluster.layout.logs}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
