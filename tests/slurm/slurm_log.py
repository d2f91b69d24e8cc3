"""Reading a Snakemake run's log: which jobs it planned, which it ran locally, which it sent to SLURM.

Snakemake 9 with the SLURM executor plugin prints, per submitted job,
`Job <n> has been submitted with SLURM jobid <id> (log: <dir>/rule_<rule>/[<wildcards>/]<id>.log).`,
per local job `localrule <rule>:`, and before running a `Job stats:` table (`<rule> <count>` rows
ending in `total <n>`); each job block (`rule <rule>:` then indented lines) has a `resources:` line.
These parsers turn that text into data the tests compare.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import PurePath

JOB_BLOCK = re.compile(r"^(local)?rule (\w+):\n((?:    .*\n)+)", re.MULTILINE)
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+?)\)\.?$", re.MULTILINE)
LOCAL_RULE = re.compile(r"^localrule (\w+):$", re.MULTILINE)
STATS_ROW = re.compile(r"^(\w+)\s+(\d+)$")


@dataclass(frozen=True)
class Submission:
    """One job Snakemake handed to SLURM: its rule, the wildcard path of its log dir, its SLURM job id."""

    rule: str
    wildcards: str
    slurm_id: str
    log: PurePath


def submissions(log: str) -> list[Submission]:
    """Every `has been submitted with SLURM jobid` line of `log`, in order."""
    found = []
    for slurm_id, path in SUBMITTED.findall(log):
        log_path = PurePath(path)
        parts = log_path.parts
        rule_index = max(i for i, part in enumerate(parts) if part.startswith("rule_"))
        found.append(
            Submission(
                rule=parts[rule_index][len("rule_") :],
                wildcards="/".join(parts[rule_index + 1 : -1]),
                slurm_id=slurm_id,
                log=log_path,
            )
        )
    return found


def local_jobs(log: str) -> Counter:
    """Rule -> number of jobs Snakemake ran itself (`localrule` blocks)."""
    return Counter(LOCAL_RULE.findall(log))


def job_stats(log: str) -> Counter:
    """Rule -> planned job count from the first `Job stats:` table of `log` (without the total row)."""
    lines = log.splitlines()
    if "Job stats:" not in lines:
        return Counter()
    counts: Counter = Counter()
    for line in lines[lines.index("Job stats:") + 3 :]:
        row = STATS_ROW.match(line.strip())
        if row is None:
            break
        if row.group(1) != "total":
            counts[row.group(1)] = int(row.group(2))
    return counts


@dataclass(frozen=True)
class PlannedJob:
    """One job block of a Snakemake log: its rule, whether Snakemake runs it itself, its resources."""

    rule: str
    local: bool
    resources: dict[str, str]


def planned_jobs(log: str) -> list[PlannedJob]:
    """Every job block of `log` in order; resources as printed (`gpu` -> "1")."""
    jobs = []
    for local, rule, body in JOB_BLOCK.findall(log):
        line = next((ln.strip() for ln in body.splitlines() if ln.strip().startswith("resources:")), "resources:")
        items = [item.strip() for item in line[len("resources:") :].split(",") if "=" in item]
        jobs.append(PlannedJob(rule, bool(local), dict(item.split("=", 1) for item in items)))
    return jobs
