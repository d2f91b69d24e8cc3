"""The automatic scene box of captures on a real scene, against hand-set boxes (issue 30, item 4).

The "world" is a ``tiny`` hash teacher trained on the real Synthetic-NeRF lego (downscale 8). From
it the script renders a capture in the nerfstudio ``transforms.json`` layout that is hard for a box
sized from camera distances:

* off-centre cameras: every camera looks at a point ``AIM`` beside the model (jittered per camera),
  from one side only (azimuths over ``AZIMUTH``, elevations over ``ELEVATION``) and from varying
  distances, with a wide lens (``FOV``) so the model stays mostly in frame;
* an ``OPENCV`` lens (``LENS``): images rendered through the distortion, coefficients declared;
* a world frame moved by a similarity (:func:`pvd.data.demo_capture.similarity`), so nothing is at
  the origin; 100 x 100 px images; the test views are drawn apart from the training views.

Then the same ``tiny`` hash teacher is trained on the capture with

* ``auto``      -- the automatic box (:func:`pvd.data.capture.auto_box`: the region the cameras see);
* ``distance``  -- the previous automatic box (:func:`pvd.data.capture.distance_box`: centre where the
                   optical axes meet, size from the median camera distance), given as ``--box_centre``
                   and ``--scale``;
* ``hand_H``    -- hand-set boxes: centred on the model (the world origin, moved), half-size ``H``
                   lego units, given as ``--box_centre`` and ``--scale``;

and scored on the capture's test views (``psnr_test`` of each run's record), mean over ``--seeds``.

    python benchmarks/capture_box.py --out benchmarks/out/capture_box --seeds 0,1   # ~25 min, 2 CPU cores

Steps whose outputs exist in ``--out`` (the world teacher, the capture, finished runs) are reused.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch

from pvd.data import index_split
from pvd.data.cameras import Cameras
from pvd.data.capture import distance_box
from pvd.data.demo_capture import similarity
from pvd.data.distortion import COEFFS, Distortion
from pvd.data.poses import look_at
from pvd.evaluate.evaluate import render_view
from pvd.model import load_model

LEGO = "/work/shared/data/nerf_synthetic/lego"
AIM = (0.55, 0.65, 0.35)  # lego world units; the model spans about x +-0.65, y +-1.15, z -0.35..1.0
AIM_JITTER = 0.15
AZIMUTH = (-30.0, 150.0)  # degrees, one side of the model
ELEVATION = (8.0, 60.0)
DISTANCE = (3.2, 5.0)  # from the camera to its look-at point
FOV = 55.0  # degrees, horizontal = vertical
SIZE = 100
LENS = {"k1": -0.2, "k2": 0.04, "k3": 0.0, "k4": 0.0, "p1": 0.002, "p2": -0.001}
N_TRAIN, N_TEST = 100, 12
SIMILARITY_SEED = 7
HAND_HALF_SIZES = (1.1, 1.2, 1.3, 1.4, 1.6, 2.0)


def pvd(*args: str) -> None:
    print("$ pvd " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "pvd.cli", *args], check=True)


def rig(n: int, seed: int) -> torch.Tensor:
    """[n, 4, 4] off-centre camera poses in the lego's world frame (module doc)."""
    g = torch.Generator().manual_seed(seed)
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)  # noqa: E731
    az, el = torch.deg2rad(u(*AZIMUTH)), torch.deg2rad(u(*ELEVATION))
    dist = u(*DISTANCE)
    targets = torch.tensor(AIM, dtype=torch.float64) + AIM_JITTER * torch.randn(n, 3, generator=g, dtype=torch.float64)
    way = torch.stack([el.cos() * az.cos(), el.cos() * az.sin(), el.sin()], -1)
    centres = targets + dist[:, None] * way
    return look_at(centres.float(), targets.float(), torch.tensor([0.0, 0.0, 1.0]))


def write_capture(world_ckpt: Path, out: Path) -> None:
    """Render the capture from the world teacher into ``out`` (module doc)."""
    model = load_model(world_ckpt)
    rot, shift, scale = similarity(SIMILARITY_SEED)
    focal = 0.5 * SIZE / math.tan(math.radians(FOV) / 2)
    tmp = out.with_name(out.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    frames, lists = [], {}
    for split, n, seed in (("train", N_TRAIN, 0), ("test", N_TEST, 1)):
        c2w = rig(n, seed)
        lens = Distortion("OPENCV", torch.tensor([[LENS[k] for k in COEFFS]] * n, dtype=torch.float64))
        full = torch.full((n,), focal)
        cams = Cameras(c2w, full, full, torch.full((n,), SIZE / 2), torch.full((n,), SIZE / 2), SIZE, SIZE, lens)
        (tmp / split).mkdir(exist_ok=True)
        lists[split] = []
        for i in range(n):
            name = f"{split}/r_{i}.png"
            rgb = render_view(model, cams, i, torch.device("cpu"))
            iio.imwrite(tmp / name, (rgb.numpy() * 255 + 0.5).astype(np.uint8))
            moved = c2w[i].double().clone()
            moved[:3, :3] = rot.double() @ moved[:3, :3]
            moved[:3, 3] = scale * (rot.double() @ moved[:3, 3]) + shift.double()
            frames.append({"file_path": name, "transform_matrix": moved.tolist()})
            lists[split].append(name)
        print(f"rendered {n} {split} views", flush=True)
    doc = {
        "camera_model": "OPENCV",
        "fl_x": focal,
        "fl_y": focal,
        "cx": SIZE / 2,
        "cy": SIZE / 2,
        "w": SIZE,
        "h": SIZE,
        **LENS,
        "frames": frames,
        "train_filenames": lists["train"],
        "val_filenames": lists["test"],
        "test_filenames": lists["test"],
        "capture_box_benchmark": {"aim": AIM, "similarity_seed": SIMILARITY_SEED, "similarity_scale": scale},
    }
    (tmp / "transforms.json").write_text(json.dumps(doc, indent=1) + "\n")
    tmp.rename(out)


def cases(capture: Path) -> dict[str, list[str]]:
    """Extra ``pvd train`` flags of every case (module doc)."""
    rot, shift, scale = similarity(SIMILARITY_SEED)
    doc = json.loads((capture / "transforms.json").read_text())
    c2w = torch.tensor([f["transform_matrix"] for f in doc["frames"]], dtype=torch.float64)
    old = distance_box(c2w, None, str(capture))
    out = {"auto": [], "distance": ["--box_centre", *map(str, old.centre), "--scale", str(old.scale)]}
    for half in HAND_HALF_SIZES:
        out[f"hand_{half:g}"] = ["--box_centre", *map(str, shift.tolist()), "--scale", str(1.0 / (half * scale))]
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--lego", default=LEGO, help="the Synthetic-NeRF lego folder (read in place)")
    p.add_argument("--seeds", default="0", help="training seeds, comma-separated")
    p.add_argument("--extra", default="--threads 1", help="extra flags for pvd train")
    p.add_argument("--only", default="", help="comma-separated cases to run (default: all)")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    world = args.out / "world"
    if not (world / "record.json").exists():
        pvd(
            "train",
            args.lego,
            "--data_type",
            "synthetic",
            "--model_type",
            "hash",
            "--downscale",
            "8",
            "--workspace",
            str(world),
            "--no_progress",
            "--curve_points",
            "0",
            *args.extra.split(),
        )
    capture = args.out / "capture"
    if not (capture / "transforms.json").exists():
        write_capture(world / "checkpoint.pt", capture)
    box = index_split(capture, "capture", "train").meta["box"]
    print(f"automatic box: {json.dumps(box)}")
    seeds = [int(v) for v in args.seeds.split(",")]
    wanted = set(filter(None, args.only.split(",")))
    psnr: dict[str, list[float]] = {}
    for name, flags in cases(capture).items():
        if wanted and name not in wanted:
            continue
        for seed in seeds:
            ws = args.out / f"ws_{name}_seed{seed}"
            if not (ws / "record.json").exists():
                pvd(
                    "train",
                    str(capture),
                    "--data_type",
                    "capture",
                    "--model_type",
                    "hash",
                    "--workspace",
                    str(ws),
                    "--seed",
                    str(seed),
                    "--no_progress",
                    "--curve_points",
                    "0",
                    "--overwrite",
                    *flags,
                    *args.extra.split(),
                )
            record = json.loads((ws / "record.json").read_text())
            psnr.setdefault(name, []).append(record["metrics"]["psnr_test"])
            cfg = record["config"]
            print(
                f"seed {seed} {name:10s} test {psnr[name][-1]:6.2f} dB  {record['seconds']:6.1f} s  "
                f"scale {cfg['scale']:.4f} bound {cfg['bound']:g}",
                flush=True,
            )
    mean = {k: sum(v) / len(v) for k, v in psnr.items()}
    print(f"means over seeds {seeds}: " + ", ".join(f"{k} {v:.2f}" for k, v in mean.items()))
    hands = {k: v for k, v in mean.items() if k.startswith("hand_")}
    if hands and "auto" in mean:
        best = max(hands, key=hands.get)
        print(f"best hand-set box: {best} {hands[best]:.2f} dB")
        print(f"auto     - best hand: {mean['auto'] - hands[best]:+.2f} dB (bar: within 0.5)")
        if "distance" in mean:
            print(f"distance - best hand: {mean['distance'] - hands[best]:+.2f} dB (the previous automatic box)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
