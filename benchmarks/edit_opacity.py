"""Opacity left where an edit emptied space, on the workflow's edit outputs (config/bench-edits-demo.yaml).

For every erase and move edit with a ground truth under ``RESULTS/edits/`` (the workflow's path
scheme), and every edited teacher and its students there: the mean accumulated opacity on test
pixels that are background in the truth and whose ray crosses the emptied box (erase: its box; move:
the source box), the acceptance measure of issue 13 (bar: <= 0.02). Reads the checkpoints, the
programs (``edited/program.json``) and the truth scenes the workflow wrote; runs nothing else.

    snakemake --cores all --configfile config/bench-edits-demo.yaml
    python benchmarks/edit_opacity.py results/bench-edits-demo --out benchmarks/results/edit_opacity

Writes ``OUT.json`` and ``OUT.md`` (default: print the table only).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from pvd.data import load_split
from pvd.data.cameras import Normalization, image_rays
from pvd.model import load_model
from pvd.ops.ray_aabb import ray_aabb_torch

EMPTYING = ("erase", "move")
BAR = 0.02


@torch.no_grad()
def emptied_opacity(ckpt: Path, truth: Path, box: tuple[list[float], list[float]]) -> dict:
    """Mean accumulated opacity over test pixels that are background in ``truth`` and whose ray
    crosses the world ``box``.

    Two pixel sets: ``all`` (every such pixel) and ``clear`` (those whose 3x3 neighbourhood is
    background too). A pixel next to a remaining solid's silhouette is partly covered by it: every
    model, edited or not, blurs a silhouette over about one pixel (measured: the edited tensors
    teacher's opacity is 0.17 on such pixels and 0.006-0.03 elsewhere), so ``clear`` measures what
    the edit left in the emptied space and ``all`` adds the neighbours' silhouettes.
    Returns {"all": mean, "clear": mean, "pixels_all": n, "pixels_clear": n}.
    """
    model = load_model(ckpt)
    split = load_split(truth, "synthetic", "test")
    aabb = torch.tensor(box[0] + box[1], dtype=torch.float32)
    sums = {"all": 0.0, "clear": 0.0}
    counts = {"all": 0, "clear": 0}
    for view in range(len(split)):
        alpha = split.images[view, ..., 3]
        near_fg = torch.nn.functional.max_pool2d((alpha > 0).float()[None, None], 3, 1, 1)[0, 0] > 0
        world = image_rays(split.cameras, view, Normalization())
        _, _, hit = ray_aabb_torch(world.origins, world.directions, aabb)
        masks = {"all": hit & (alpha.reshape(-1) == 0)}
        masks["clear"] = masks["all"] & ~near_fg.reshape(-1)
        if not masks["all"].any():
            continue
        out = model.renderer.render_image(image_rays(split.cameras, view, model.normalization), 1.0)
        for key, mask in masks.items():
            sums[key] += float(out.opacity[mask].sum())
            counts[key] += int(mask.sum())
    result = {k: (sums[k] / counts[k] if counts[k] else float("nan")) for k in sums}
    return {**result, "pixels_all": counts["all"], "pixels_clear": counts["clear"]}


def measure(results: Path) -> list[dict]:
    """One row per (edit, teacher, model) of the emptying edits with a truth: edited teacher, then students."""
    rows = []
    for edit in sorted(p for p in (results / "edits").iterdir() if (p / "truth").is_dir()):
        for teacher in sorted(p for p in edit.iterdir() if (p / "edited" / "program.json").is_file()):
            op = json.loads((teacher / "edited" / "program.json").read_text())["operations"][0]
            if op["op"] not in EMPTYING:
                continue
            models = {"edited": teacher / "edited" / "checkpoint.pt"}
            models.update({p.name: p / "checkpoint.pt" for p in sorted((teacher / "distill").glob("*"))})
            for model, ckpt in models.items():
                opacity = emptied_opacity(ckpt, edit / "truth", (op["min"], op["max"]))
                rows.append({"edit": edit.name, "op": op["op"], "teacher": teacher.name, "model": model, **opacity})
    return rows


def table(rows: list[dict], results: Path) -> str:
    lines = [
        f"# Opacity in the emptied boxes (`python benchmarks/edit_opacity.py {results}`)\n",
        "Mean accumulated opacity over test pixels that are background in the truth, are not next to a "
        "foreground pixel and whose ray crosses the emptied box (erase: its box; move: the source box); in "
        f"brackets over every background pixel crossing it, and the pixel counts. Bar: <= {BAR}.\n",
        "| edit | teacher | model | opacity in emptied box | pixels | meets |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['edit']} | {r['teacher']} | {r['model']} | {r['clear']:.4f} ({r['all']:.4f}) | "
            f"{r['pixels_clear']} ({r['pixels_all']}) | {'yes' if r['clear'] <= BAR else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path, help="the workflow's results folder of the run (results/<name>)")
    p.add_argument("--out", type=Path, help="also write OUT.json and OUT.md")
    args = p.parse_args()
    rows = measure(args.results)
    text = table(rows, args.results)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(
            json.dumps({"results": str(args.results), "rows": rows}, indent=2) + "\n"
        )
        args.out.with_suffix(".md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
