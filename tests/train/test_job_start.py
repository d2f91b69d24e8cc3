"""A job's fixed cost: the ``pvd`` command never imports torch._dynamo (about 1.5 s of each job's
start on a CPU), through torch's optimisers, schedulers or the meta-device sizing of fields, for
every architecture it trains or distils into."""

import subprocess
import sys

import pytest

from pvd.train.loop import skip_dynamo_import

# runs the commands in one fresh interpreter and reports whether torch._dynamo got imported
SCRIPT = """
import sys
import pvd.cli
for argv in {runs!r}:
    assert pvd.cli.main(argv) == 0, argv
print("DYNAMO" if "torch._dynamo" in sys.modules else "NO-DYNAMO")
"""


def _runs(scene, root, arch):
    base = ["--data_type", "synthetic", "--no_progress", "--iters", "4", "--curve_points", "2"]
    teacher = ["train", str(scene), "--model_type", arch, "--workspace", str(root / "t"), *base]
    student = "hash" if arch == "gs" else "vm"
    distill = ["distill", str(scene), "--ckpt_teacher", str(root / "t" / "checkpoint.pt"), "--model_type", student]
    evaluate = ["evaluate", str(scene), "--data_type", "synthetic", "--ckpt", str(root / "s" / "checkpoint.pt")]
    return [
        teacher,
        [*distill, "--workspace", str(root / "s"), *base, "--stage_iters", "1,2"],
        [*evaluate, "--workspace", str(root / "e"), "--no_progress", "--no_lpips"],
    ]


@pytest.mark.parametrize("arch", ["hash", "gs"])
def test_commands_never_import_dynamo(demo_scene, tmp_path, arch):
    script = SCRIPT.format(runs=_runs(demo_scene, tmp_path, arch))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "NO-DYNAMO"


def test_marking_finds_torch_wrappers():
    # in this (pytest) process torch._dynamo may be loaded already: then nothing is marked
    out = subprocess.run(
        [sys.executable, "-c", "from pvd.train.loop import skip_dynamo_import as s; print(s())"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert int(out.stdout) > 0, "torch's dynamo-disabling wrappers were not recognised"
    assert skip_dynamo_import() >= 0
