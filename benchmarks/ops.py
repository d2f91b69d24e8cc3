"""Throughput of each op, PyTorch twin vs native kernel, on the CPU (and the GPU when there is one).

    python benchmarks/ops.py                      # CPU, default sizes, table on stdout
    python benchmarks/ops.py --device cuda        # the GPU section
    python benchmarks/ops.py --ops hash_grid --repeats 5 --json benchmarks/out/ops.json

Each case times the whole op (forward, plus backward where the op is differentiable) ``--repeats``
times per backend and keeps the best run: the CPU is shared, so the best run is the least disturbed
one. Throughput is items per second (points, directions, rays or samples, as the table says).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pvd.ops import backend  # noqa: E402
from pvd.ops.hash_grid import hash_grid, hash_grid_torch, make_layout  # noqa: E402
from pvd.ops.sh import sh_encode, sh_encode_torch  # noqa: E402
from pvd.records import write_json  # noqa: E402


@dataclass(frozen=True)
class Case:
    """One benchmark: ``setup(device)`` returns a closure ``run(op)`` that calls ``op`` once."""

    name: str
    unit: str
    items: int
    setup: Callable[[str], Callable[[Callable], None]]
    twin: Callable
    native: Callable
    twin_repeats: int | None = None  # fewer repeats for slow twins (None: as many as native)


def hash_grid_case(n: int) -> Case:
    """Paper preset: 14 levels x 2 features, 2^19 rows per level, resolutions 16..2048; fwd + bwd."""
    layout = make_layout(14, 2, 19, 16, 2048)

    def setup(device: str):
        g = torch.Generator().manual_seed(0)
        table = ((torch.rand(layout.n_entries, 2, generator=g) * 2 - 1) * 1e-4).to(device).requires_grad_(True)
        x = torch.rand(n, 3, generator=g).to(device)
        grad = torch.randn(n, 28, generator=g).to(device)
        offsets, resolutions = torch.tensor(layout.offsets, device=device), torch.tensor(layout.resolutions, device=device)

        def run(op):
            table.grad = None
            op(x, table, offsets, resolutions).backward(grad)
        return run

    return Case("hash_grid fwd+bwd (paper preset)", "points", n, setup, hash_grid_torch, hash_grid, twin_repeats=2)


def sh_case(n: int) -> Case:
    """Four bands (16 outputs), gradient to the directions."""

    def setup(device: str):
        g = torch.Generator().manual_seed(1)
        d = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1).to(device).requires_grad_(True)
        grad = torch.randn(n, 16, generator=g).to(device)

        def run(op):
            d.grad = None
            op(d, 4).backward(grad)
        return run

    return Case("sh_encode fwd+bwd (4 bands)", "dirs", n, setup, sh_encode_torch, sh_encode)


def cases(points: int) -> dict[str, Case]:
    return {"hash_grid": hash_grid_case(points), "sh": sh_case(points)}


def best_time(run: Callable[[], None], repeats: int, device: str) -> float:
    """Best wall time of ``repeats`` runs after one warm-up run."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    run()
    sync()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def measure(case: Case, device: str, repeats: int) -> dict:
    run = case.setup(device)
    native = backend.active_backend(device)
    row = {"op": case.name, "device": device, "items": case.items, "unit": case.unit, "native_backend": native}
    twin_s = best_time(lambda: run(case.twin), case.twin_repeats or repeats, device)
    row["twin_per_s"] = case.items / twin_s
    if native.startswith("native"):
        native_s = best_time(lambda: run(case.native), repeats, device)
        row["native_per_s"] = case.items / native_s
        row["speedup"] = twin_s / native_s
    return row


def print_table(rows: list[dict]) -> None:
    header = f"| {'op':<36} | {'device':<6} | {'items':>8} | {'twin /s':>10} | {'native /s':>10} | {'speedup':>7} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for r in rows:
        native = f"{r['native_per_s'] / 1e6:8.3f} M" if "native_per_s" in r else "   (none)"
        speedup = f"{r['speedup']:6.1f}x" if "speedup" in r else "      -"
        print(f"| {r['op']:<36} | {r['device']:<6} | {r['items']:>8} | {r['twin_per_s'] / 1e6:8.3f} M "
              f"| {native:>10} | {speedup:>7} |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("cpu", "cuda", "all"), default="cpu")
    p.add_argument("--points", type=int, default=1 << 18, help="points / directions per call (default 2^18)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per backend; the best counts")
    p.add_argument("--ops", default="all", help="comma-separated subset of: " + ", ".join(cases(1)))
    p.add_argument("--json", type=Path, help="also write the rows here (atomically)")
    args = p.parse_args()
    table = cases(args.points)
    names = list(table) if args.ops == "all" else args.ops.split(",")
    unknown = [n for n in names if n not in table]
    if unknown:
        p.error(f"--ops: unknown {', '.join(unknown)}; choose from {', '.join(table)}")
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    if "cuda" in devices and not torch.cuda.is_available():
        print("no CUDA GPU: skipping the GPU section", file=sys.stderr)
        devices.remove("cuda")
    rows = []
    for device in devices:
        for name in names:
            rows.append(measure(table[name], device, args.repeats))
            print(f"measured {name} on {device}", file=sys.stderr, flush=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print_table(rows)
    if args.json:
        write_json(args.json, {"threads": torch.get_num_threads(), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
