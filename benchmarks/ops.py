"""Throughput of each op, PyTorch twin vs native kernel, on the CPU (and the GPU when there is one).

    python benchmarks/ops.py                      # CPU, default sizes, table on stdout
    python benchmarks/ops.py --device cuda        # the GPU section
    python benchmarks/ops.py --ops hash_grid --repeats 5 --json benchmarks/out/ops.json
    python benchmarks/ops.py --threads 1,2         # CPU rows at 1 and at 2 threads
    python benchmarks/ops.py --ops vm_products --threads 1   # the vm field's plane x line products

Each case times the whole op (forward, plus backward where the op is differentiable) ``--repeats``
times per backend and keeps the best run: the CPU is shared, so the best run is the least disturbed
one. On CPUs shared with other jobs, waking a second thread can cost milliseconds per parallel
region (it hurts the twins' many small ops most): ``--threads 1,2`` shows both. Throughput is items
per second (points, directions, rays or samples: the unit column), in thousands (k) or millions (M).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pvd.ops import backend  # noqa: E402
from pvd.ops.composite import composite, composite_torch  # noqa: E402
from pvd.ops.hash_grid import hash_grid, hash_grid_torch, make_layout  # noqa: E402
from pvd.ops.march import march, march_torch  # noqa: E402
from pvd.ops.ray_aabb import ray_aabb, ray_aabb_torch  # noqa: E402
from pvd.ops.sh import sh_encode, sh_encode_torch  # noqa: E402
from pvd.ops.vm_products import vm_products, vm_products_torch  # noqa: E402
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
        offsets, resolutions = (
            torch.tensor(layout.offsets, device=device),
            torch.tensor(layout.resolutions, device=device),
        )

        def run(op):
            table.grad = None
            op(x, table, offsets, resolutions).backward(grad)

        return run

    return Case("hash_grid fwd+bwd (paper preset)", "points", n, setup, hash_grid_torch, hash_grid, twin_repeats=2)


def vm_products_case(n: int, resolution: int = 96, ranks: tuple[int, ...] = (8, 24)) -> Case:
    """Tiny vm preset: density (rank 8) and appearance (rank 24) factor sets at 96 texels per axis,
    both sampled at the same ``n`` points; fwd + bwd (gradients to planes and lines)."""

    def setup(device: str):
        g = torch.Generator().manual_seed(5)
        unit = (torch.rand(n, 3, generator=g) * 2 - 1).to(device)
        sets = []
        for rank in ranks:
            planes = (0.1 * torch.randn(3, rank, resolution, resolution, generator=g)).to(device)
            lines = (0.1 * torch.randn(3, rank, resolution, 1, generator=g)).to(device)
            grad = torch.randn(3, rank, n, generator=g).to(device)
            sets.append((planes.requires_grad_(True), lines.requires_grad_(True), grad))

        def run(op):
            for planes, lines, grad in sets:
                planes.grad = lines.grad = None
                op(planes, lines, unit).backward(grad)

        return run

    name = f"vm_products fwd+bwd (R {'+'.join(map(str, ranks))}, {resolution})"
    return Case(name, "points", n, setup, vm_products_torch, vm_products)


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


def ray_aabb_case(n: int) -> Case:
    def setup(device: str):
        o, d = _camera_rays(n, device)
        aabb = torch.tensor([-1.0] * 3 + [1.0] * 3, device=device)
        return lambda op: op(o, d, aabb)

    return Case("ray_aabb", "rays", n, setup, ray_aabb_torch, ray_aabb)


def _camera_rays(n: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays from a sphere of radius 4 towards the box centre, slightly scattered."""
    g = torch.Generator().manual_seed(2)
    o = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1) * 4
    d = torch.nn.functional.normalize(-o + torch.randn(n, 3, generator=g) * 0.3, dim=-1)
    return o.to(device), d.to(device)


def _shell_scene(n_rays: int, device: str):
    """Rays, near/far, jitter and a 128^3 grid whose occupied cells form a shell (a surface)."""
    o, d = _camera_rays(n_rays, device)
    xs = (torch.arange(128) + 0.5) / 128 * 2 - 1
    gx, gy, gz = torch.meshgrid(xs, xs, xs, indexing="ij")
    occ = (((gx**2 + gy**2 + gz**2).sqrt() - 0.6).abs() < 0.05)[None].to(device)
    t_near, t_far, hit = ray_aabb_torch(o, d, torch.tensor([-1.0] * 3 + [1.0] * 3, device=device))
    near = torch.where(hit, t_near.clamp_min(0.2), torch.zeros_like(t_near))
    far = torch.where(hit, t_far, torch.zeros_like(t_far))
    u = torch.rand(n_rays, generator=torch.Generator().manual_seed(3)).to(device)
    return o, d, near, far, u, occ


MARCH_ARGS = (1.0, 2 * math.sqrt(3) / 1024, 2 * math.sqrt(3) / 128, 0.0, 1024, 1 << 30)


def march_case(n_rays: int) -> Case:
    """Training march: 1024 finest steps across the diagonal, jittered, shell occupancy 128^3."""

    def setup(device: str):
        o, d, near, far, u, occ = _shell_scene(n_rays, device)
        return lambda op: op(o, d, near, far, u, occ, *MARCH_ARGS)

    return Case("march (train, 128^3 shell)", "rays", n_rays, setup, march_torch, march)


def composite_case(n_rays: int) -> Case:
    """Forward + backward on the samples of :func:`march_case`'s rays."""
    o, d, near, far, u, occ = _shell_scene(n_rays, "cpu")
    ray_indices, t, deltas, _ = march_torch(o, d, near, far, u, occ, *MARCH_ARGS)

    def setup(device: str):
        g = torch.Generator().manual_seed(4)
        m = ray_indices.numel()
        sigmas = (torch.rand(m, generator=g) * 50).to(device).requires_grad_(True)
        rgbs = torch.rand(m, 3, generator=g).to(device).requires_grad_(True)
        ri, ts, dl = ray_indices.to(device), t.to(device), deltas.to(device)

        def run(op):
            sigmas.grad = rgbs.grad = None
            _, rgb, depth, opacity = op(sigmas, rgbs, dl, ts, ri, n_rays)
            (rgb.sum() + depth.sum() + opacity.sum()).backward()

        return run

    return Case("composite fwd+bwd", "samples", ray_indices.numel(), setup, composite_torch, composite)


# name -> Case built from the parsed arguments (built only when selected)
CASES: dict[str, Callable[[argparse.Namespace], Case]] = {
    "hash_grid": lambda a: hash_grid_case(a.points),
    "sh": lambda a: sh_case(a.points),
    "ray_aabb": lambda a: ray_aabb_case(a.points),
    "march": lambda a: march_case(a.rays),
    "composite": lambda a: composite_case(a.rays),
    "vm_products": lambda a: vm_products_case(a.vm_points),
}


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
    row = {
        "op": case.name,
        "device": device,
        "threads": torch.get_num_threads(),
        "items": case.items,
        "unit": case.unit,
        "native_backend": native,
    }
    twin_s = best_time(lambda: run(case.twin), case.twin_repeats or repeats, device)
    row["twin_per_s"] = case.items / twin_s
    if native.startswith("native"):
        native_s = best_time(lambda: run(case.native), repeats, device)
        row["native_per_s"] = case.items / native_s
        row["speedup"] = twin_s / native_s
    return row


def rate(per_s: float) -> str:
    return f"{per_s / 1e6:8.3f} M" if per_s >= 1e6 else f"{per_s / 1e3:8.1f} k"


def print_table(rows: list[dict]) -> None:
    header = (
        f"| {'op':<34} | {'device':<6} | {'threads':>7} | {'items':>8} | {'unit':<7} | {'twin /s':>10} "
        f"| {'native /s':>10} | {'speedup':>7} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for r in rows:
        native = rate(r["native_per_s"]) if "native_per_s" in r else "   (none)"
        speedup = f"{r['speedup']:6.1f}x" if "speedup" in r else "      -"
        print(
            f"| {r['op']:<34} | {r['device']:<6} | {r['threads']:>7} | {r['items']:>8} | {r['unit']:<7} "
            f"| {rate(r['twin_per_s']):>10} "
            f"| {native:>10} | {speedup:>7} |"
        )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("cpu", "cuda", "all"), default="cpu")
    p.add_argument(
        "--points",
        type=int,
        default=1 << 18,
        help="points / directions / rays per call for the encodings and ray_aabb (default 2^18)",
    )
    p.add_argument(
        "--vm_points", type=int, default=30000, help="points per call for vm_products (default 30000: a tiny step)"
    )
    p.add_argument("--rays", type=int, default=4096, help="rays per batch for march and composite (default 4096)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per backend; the best counts")
    p.add_argument("--ops", default="all", help="comma-separated subset of: " + ", ".join(CASES))
    p.add_argument(
        "--threads",
        default=None,
        help="comma-separated CPU thread counts to run the CPU rows at (default: torch's current setting)",
    )
    p.add_argument("--json", type=Path, help="also write the rows here (atomically)")
    args = p.parse_args()
    names = list(CASES) if args.ops == "all" else args.ops.split(",")
    unknown = [n for n in names if n not in CASES]
    if unknown:
        p.error(f"--ops: unknown {', '.join(unknown)}; choose from {', '.join(CASES)}")
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    if "cuda" in devices and not torch.cuda.is_available():
        print("no CUDA GPU: skipping the GPU section", file=sys.stderr)
        devices.remove("cuda")
    rows = []
    threads = [int(t) for t in args.threads.split(",")] if args.threads else [torch.get_num_threads()]
    built = {name: CASES[name](args) for name in names}
    for device in devices:
        for n_threads in threads if device == "cpu" else [torch.get_num_threads()]:
            torch.set_num_threads(n_threads)
            for name in names:
                rows.append(measure(built[name], device, args.repeats))
                print(f"measured {name} on {device} ({n_threads} threads)", file=sys.stderr, flush=True)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs")
    print_table(rows)
    if args.json:
        write_json(args.json, {"torch": torch.__version__, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
