"""Compare two finished workflow runs of one config model by model (e.g. before/after a change).

    python benchmarks/compare_runs.py BEFORE/results/demo AFTER/results/demo [--labels before after]

For every model evaluated in both (``*/eval/<model>/metrics.json``): the test PSNR of each and the
difference; for every training or distillation run (``record.json`` of ``teacher/`` and
``distill/``): steps, why it stopped (the stopping rule's ``stop.reason``, else ``cap``) and
processor seconds. Then the sums of the runs' wall and processor seconds. Reads the records only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def evaluations(root: Path) -> dict[str, float]:
    """``{scene/model: test PSNR}`` of every ``metrics.json`` under ``root``."""
    out = {}
    for path in sorted(root.glob("**/eval/*/metrics.json")):
        metrics = json.loads(path.read_text())
        scene = path.parents[2].name
        out[f"{scene}/{path.parent.name}"] = float(metrics["psnr"] if "psnr" in metrics else metrics["metrics"]["psnr"])
    return out


def runs(root: Path) -> dict[str, dict]:
    """``{kind/scene/name: record}`` of every teacher and distillation record under ``root``."""
    out = {}
    for path in sorted(root.glob("**/record.json")):
        record = json.loads(path.read_text())
        if record.get("kind") in ("train", "distill"):
            out[f"{record['kind']}/{path.parents[2].name}/{path.parent.name}"] = record
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("--labels", nargs=2, default=["before", "after"])
    args = p.parse_args()
    a_label, b_label = args.labels
    a, b = evaluations(args.before), evaluations(args.after)
    print(f"# test PSNR (dB) of every evaluated model: {a_label} = {args.before}, {b_label} = {args.after}")
    print(f"{'model':<40} {a_label:>10} {b_label:>10} {'diff':>8}")
    diffs = []
    for key in sorted(set(a) | set(b)):
        if key in a and key in b:
            diffs.append(b[key] - a[key])
            print(f"{key:<40} {a[key]:>10.4f} {b[key]:>10.4f} {b[key] - a[key]:>+8.4f}")
        else:
            print(f"{key:<40} {a.get(key, float('nan')):>10.4f} {b.get(key, float('nan')):>10.4f}   (one side only)")
    if diffs:
        worst, mean = max(abs(d) for d in diffs), sum(diffs) / len(diffs)
        print(f"max |diff| {worst:.4f} dB over {len(diffs)} models; mean {mean:+.4f}")
    ra, rb = runs(args.before), runs(args.after)
    print("\n# training and distillation runs: steps (why they ended) and processor seconds")
    heads = (f"{a_label} steps", f"{b_label} steps", f"{a_label} cpu s", f"{b_label} cpu s")
    print(f"{'run':<44} {heads[0]:>14} {heads[1]:>22} {heads[2]:>12} {heads[3]:>12}")
    totals = {a_label: [0.0, 0.0], b_label: [0.0, 0.0]}
    for key in sorted(set(ra) | set(rb)):
        cells = []
        for label, records in ((a_label, ra), (b_label, rb)):
            r = records.get(key)
            if r is None:
                cells.append(("-", float("nan")))
                continue
            why = (r.get("stop") or {}).get("reason", "cap")
            cells.append((f"{r.get('iterations', '?')} ({why})", float(r.get("cpu_seconds", float("nan")))))
            totals[label][0] += float(r.get("seconds", 0.0))
            totals[label][1] += float(r.get("cpu_seconds", 0.0))
        print(f"{key:<44} {cells[0][0]:>14} {cells[1][0]:>22} {cells[0][1]:>12.1f} {cells[1][1]:>12.1f}")
    for label, (wall, cpu) in totals.items():
        print(f"sum over runs, {label}: {wall:.1f} wall s, {cpu:.1f} processor s (training steps only)")


if __name__ == "__main__":
    main()
