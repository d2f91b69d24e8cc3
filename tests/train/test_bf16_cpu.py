"""bfloat16 steps on the CPU: bounded matrix shapes (padded rows) and float32 geometry.

oneDNN compiles a kernel for every new shape of a bfloat16 product, so the MLPs pad their rows to a
few sizes per doubling (:func:`pvd.fields.heads.bucket_rows`); autocast lowers every matrix product,
so the steps' rays and poses are computed with autocast off (:func:`pvd.train.loop.full_precision`).
"""

from __future__ import annotations

import json

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from pvd.cli import main
from pvd.data import load_split
from pvd.data.cameras import Normalization, pixel_rays
from pvd.fields.heads import BiasFreeMLP, bucket_rows
from pvd.fields.mlp import MLPConfig, MLPField
from pvd.train.loop import autocast_dtype, full_precision, native_bf16_cpu

BF16 = torch.bfloat16


class Recorder(TorchDispatchMode):
    """Records the shapes of the tensor inputs of every op that takes a ``dtype`` tensor (default
    bfloat16; None: every op): ``(op name, [shape, ...])``."""

    def __init__(self, dtype: torch.dtype | None = BF16):
        super().__init__()
        self.dtype = dtype
        self.calls: list[tuple[str, list[tuple[int, ...]]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if any(self.dtype is None or t.dtype == self.dtype for t in tensors):
            self.calls.append((str(func), [tuple(t.shape) for t in tensors]))
        return func(*args, **(kwargs or {}))


def test_bucket_rows_bounds_the_padding_and_the_number_of_shapes():
    sizes = range(1, 70_000)
    buckets = [bucket_rows(n) for n in sizes]
    assert all(b >= n for n, b in zip(sizes, buckets))
    assert all(b <= max(64, 1.25 * n) for n, b in zip(sizes, buckets))
    # four sizes per doubling: 1024..65536 is six doublings
    assert len({b for n, b in zip(sizes, buckets) if n > 1024}) <= 4 * 6 + 1
    assert bucket_rows(4096) == 4096 and bucket_rows(4097) == 5120


def test_padded_mlp_matches_the_unpadded_products_and_gradients():
    torch.manual_seed(0)
    mlp = BiasFreeMLP((31, 32, 32, 3))
    x = torch.randn(3001, 31)
    with torch.autocast("cpu", dtype=BF16):
        padded = mlp(x)  # 3001 rows padded to 3072
        manual = x
        for i, layer in enumerate(mlp.layers):
            manual = torch.nn.functional.linear(manual, layer.weight)
            manual = torch.relu(manual) if i < 2 else manual
    assert padded.shape == (3001, 3) and padded.dtype == BF16
    torch.testing.assert_close(padded.float(), manual.float(), atol=2e-2, rtol=2e-2)
    grads = []
    for out in (padded, manual):
        mlp.zero_grad()
        out.float().square().sum().backward(retain_graph=True)
        grads.append(mlp.layers[0].weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], atol=5e-2, rtol=5e-2)
    # without autocast nothing is padded: every float32 product has the input's 3001 rows
    with Recorder(dtype=None) as rec:
        mlp(x)
    rows = {shapes[0][0] for name, shapes in rec.calls if "mm" in name}
    assert rows == {3001}, rows


def test_mlp_field_products_use_bucketed_rows_forward_and_backward():
    field = MLPField(MLPConfig(n_octaves=4, width=32, n_layers=4, skip=1), bound=1.0)
    rows = set()
    for n in (1000, 1013, 2900, 3001, 5555):
        x, d = torch.rand(n, 3) * 2 - 1, torch.nn.functional.normalize(torch.randn(n, 3), dim=1)
        with Recorder() as rec:
            with torch.autocast("cpu", dtype=BF16):
                out = field(x, d)
            (out.rgb.float().sum() + out.sigma.float().sum()).backward()
        assert out.rgb.shape == (n, 3) and out.sigma.shape == (n,)
        for name, shapes in rec.calls:
            if "mm" in name:
                rows.update(s for shape in shapes if len(shape) == 2 for s in shape if s > 64)
    assert rows <= {bucket_rows(n) for n in (1000, 1013, 2900, 3001, 5555)} | {64, 96}, rows


class CatRecorder(TorchDispatchMode):
    """Records the dtypes and shapes of every concatenation's inputs."""

    def __init__(self):
        super().__init__()
        self.cats: list[list[tuple[torch.dtype, tuple[int, ...]]]] = []
        self.ops: list[tuple[str, torch.dtype, tuple[int, ...]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten.cat.default:
            self.cats.append([(t.dtype, tuple(t.shape)) for t in args[0]])
        elif args and isinstance(args[0], torch.Tensor):
            self.ops.append((str(func), args[0].dtype, tuple(args[0].shape)))
        return func(*args, **(kwargs or {}))


def test_mlp_field_under_bf16_concatenates_and_encodes_without_float32_copies():
    """The trunk's skip concatenation stays in bfloat16 (a float32 encoding promoted the hidden
    layer to float32 and the next product cast it back) and the colour head's SH basis is the
    float32 kernel's, cast once (not ~40 bfloat16 element-wise ops on the directions)."""
    field = MLPField(MLPConfig(n_octaves=4, width=32, n_layers=4, skip=1), bound=1.0)
    x, d = torch.rand(3001, 3) * 2 - 1, torch.nn.functional.normalize(torch.randn(3001, 3), dim=1)
    with CatRecorder() as rec:
        with torch.autocast("cpu", dtype=BF16):
            out = field(x, d)
    assert out.rgb.dtype == BF16
    skip = [inputs for inputs in rec.cats if any(shape[-1] == 32 for _, shape in inputs)]
    assert skip, rec.cats  # the trunk's [hidden, encoding]
    assert all(dtype == BF16 for inputs in skip for dtype, _ in inputs), skip
    bf16_direction_ops = [op for op in rec.ops if op[0].startswith("aten.mul") and op[1] == BF16 and op[2] == (3001,)]
    assert bf16_direction_ops == [], bf16_direction_ops[:5]


def test_rays_are_float32_under_autocast(demo_scene):
    split = load_split(demo_scene, "synthetic", "train")
    cams, norm = split.cameras, Normalization(1.0, 0.8, (0.1, 0.0, -0.1))
    g = torch.Generator().manual_seed(0)
    view = torch.randint(len(cams), (4096,), generator=g)
    u, v = torch.rand(4096, generator=g) * cams.width, torch.rand(4096, generator=g) * cams.height
    exact = pixel_rays(cams, view, u, v, norm)
    with torch.autocast("cpu", dtype=BF16):
        lowered = pixel_rays(cams, view, u, v, norm)
        with full_precision(torch.device("cpu")):
            kept = pixel_rays(cams, view, u, v, norm)
    # the problem is real: autocast lowers the rotation of the directions
    assert (lowered.directions - exact.directions).abs().max() > 1e-4
    assert torch.equal(kept.directions, exact.directions) and torch.equal(kept.origins, exact.origins)


def _bf16_geometry(rec: Recorder) -> list:
    """bfloat16 ops that took [..., 3, 3] rotations (poses, and the cameras' rotations of the ray
    directions)."""
    return [c for c in rec.calls if any(len(s) >= 2 and s[-2:] == (3, 3) for s in c[1])]


def test_bf16_teacher_and_distillation_steps_keep_geometry_float32(demo_scene, tmp_path):
    common = ["--iters", "4", "--batch_rays", "128", "--no_progress", "--precision", "bf16", "--curve_points", "0"]
    with Recorder() as rec:
        code = main(
            ["train", str(demo_scene), "--data_type", "synthetic", "--model_type", "mlp"]
            + ["--workspace", str(tmp_path / "t"), *common]
        )
    assert code == 0 and rec.calls, "the steps ran no bfloat16 op at all"
    assert _bf16_geometry(rec) == []
    with Recorder() as rec:
        code = main(
            ["distill", str(demo_scene), "--ckpt_teacher", str(tmp_path / "t" / "checkpoint.pt")]
            + ["--teacher_type", "mlp", "--model_type", "mlp", "--workspace", str(tmp_path / "s"), *common]
        )
    assert code == 0 and rec.calls
    assert _bf16_geometry(rec) == []


def test_auto_precision_is_bf16_for_mlp_students_on_cpus_with_native_bf16():
    cpu = torch.device("cpu")
    native = native_bf16_cpu()
    caps = torch.cpu.get_capabilities()
    assert native == bool(caps.get("avx512_bf16") or caps.get("amx_bf16"))
    assert autocast_dtype("auto", cpu, "mlp") == (BF16 if native else None)
    for student in ("hash", "vm", "tensors", "gs", None):  # None: a teacher's steps
        assert autocast_dtype("auto", cpu, student) is None
    assert autocast_dtype("fp32", cpu, "mlp") is None and autocast_dtype("bf16", cpu, "hash") == BF16
    assert autocast_dtype("auto", torch.device("cuda"), "mlp") == torch.float16


def test_auto_precision_of_runs_is_recorded(demo_scene, tmp_path):
    """The record says what the steps ran in, by the same rule as the steps: an mlp teacher in
    float32, an mlp student in bfloat16 where the CPU has it, a hash student in float32."""
    args = ["--iters", "3", "--batch_rays", "64", "--no_progress", "--curve_points", "0"]
    teacher = tmp_path / "mlp"
    cmd = ["train", str(demo_scene), "--data_type", "synthetic", "--model_type", "mlp", "--workspace", str(teacher)]
    assert main([*cmd, *args]) == 0
    assert json.loads((teacher / "record.json").read_text())["precision"] == "float32"
    for student in ("mlp", "hash"):
        ws = tmp_path / f"mlp2{student}"
        cmd = ["distill", str(demo_scene), "--ckpt_teacher", str(teacher / "checkpoint.pt"), "--model_type", student]
        assert main([*cmd, "--workspace", str(ws), *args]) == 0
        record = json.loads((ws / "record.json").read_text())
        expected = "bfloat16" if student == "mlp" and native_bf16_cpu() else "float32"
        assert record["precision"] == expected and record["config"]["precision"] is None
