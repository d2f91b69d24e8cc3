"""Bake an edit program into a ``tensors`` grid: a plain Plenoxels checkpoint of the edited scene.

:func:`bake_model` compiles the program like :func:`pvd.edit.apply.edit_model` (box coordinates of
the base, :func:`pvd.edit.apply.compile_program`) and evaluates it for every voxel of the base's
grid, operation by operation, on the raw channels (``s`` = log-density, 27 SH coefficients; layout
in :mod:`pvd.fields.tensors`). The result is an ordinary ``tensors`` model (``model_type =
"tensors"``, the base's resolution and box, density range ``(floor, base hi)``) that ``pvd
distill``, ``pvd evaluate`` and ``pvd render`` read unchanged; ``meta.train_config["edit"]`` keeps
the program, the sources' provenance and ``baked: true``.

Per voxel (centre ``x``, cell ``x +- h/2``, ``h`` the grid spacing) and operation, from the base's
channels (copied bit for bit where no operation reaches):

* ``erase`` / ``keep``: ``s += log(1 - c)``, not below the floor (the edited model's lower
  log-density clamp, default -10), with ``c`` the share of the voxel's cell inside (outside) the
  box; the SH coefficients are kept.
* ``move``: the box is emptied as by ``erase``; then, with ``y = matrix @ x + offset`` the inverse
  placement, ``G_{k-1}`` is resampled trilinearly at ``y``, its ``s`` capped at the base's upper
  clamp and raised by ``log(density_factor)`` and ``log(c')``, ``c'`` the share of the cell's
  footprint in the source box (per axis ``sum_j |matrix_ij| h / 2``; exact for turns by multiples
  of 90 degrees, the footprint's bounding box otherwise), and its SH coefficients turned about z
  by the op's ``rotate_z`` (:func:`sh_rotate_z`); it is combined with what the voxel holds.
* ``insert`` from a ``tensors`` checkpoint: as ``move``, resampling the other grid at ``y`` (its own
  box, resolution and clamps).

Decided, measured on tests/edit/test_bake.py's scene (a ball on a coarse 33^3 grid whose empty
space sits at the clamp, renders of the baked model against the wrapped ``edited`` one, mean PSNR)
and on the trained demo teacher (64^3, 1500 steps; docs/editing.md):

* **Cell shares, not centre tests.** A box face between two voxel centres is a step the grid
  cannot hold; deciding per centre moves a cut face by up to a voxel and shaved the rim of a
  half-erased ball (23.7 dB); weighting by the share of the cell gave 30.9 dB (trained teacher,
  erasing a solid: 45.4 -> 46.4 dB).
* **Overlaps add densities, empty space once** (:func:`_combine`): the fields' lower clamp (sigma
  ``exp(-2)``) is their empty space; the wrapped model adds a moved box's empty space onto the
  destination's. Adding it twice in the grid also raises the voxels next to every moved surface,
  and trilinear interpolation then moves the surface outwards (a move by whole voxels: 38.8 dB);
  counting it once keeps a move by whole voxels into empty space an exact copy of the voxels
  (47.2 dB; the rest is the wrapped model's doubled fog). On the trained teacher, whose empty
  voxels sit near -1 (above the clamp: the occupancy grid stops their gradients), the two rules
  are within 0.7 dB of each other (55-60 dB).
* **Colours mix in SH-coefficient space**, in proportion to density (the wrapped model mixes
  colours after the sigmoid): exact where one side dominates, as solids placed in empty space do.

What remains different from the wrapped model: faces are a cell wide instead of sharp; erased
space has sigma ``exp(floor)`` (4.5e-5 at -10) instead of 0; voxels the base left below its own
lower clamp render a little emptier (the baked clamp is the floor); content moved by a fraction
of a voxel, or turned, is resampled (a slight blur).

Inserting from a ``hash``, ``vm`` or ``mlp`` checkpoint is refused (decided), with an error naming
the operation and the architecture that points to the unbaked edit plus distillation into
``tensors``. A per-voxel fit (the density at the centre, SH coefficients by least squares on
``logit(rgb)`` over fixed directions) would read those fields where they were never trained: their
colour is constrained only near surfaces, where rays stop, but a grid renders a surface by
interpolating the voxels on either side of it, up to a voxel away, inside solids or in empty
space, where such a field's colour is arbitrary; and a hash grid's surfaces (the paper preset's
finest level: 2048 cells per bound) would be point-sampled at 64-128 voxels per axis, unfiltered. Distillation fits the
grid to rendered colour instead, which is what makes those conversions work.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from pvd.edit.apply import (
    DEFAULT_FLOOR,
    DEFAULT_PASSES,
    EditStats,
    check_edit,
    compile_program,
    finish_grid,
    source_entry,
)
from pvd.edit.program import EditOptionError, EditProgram
from pvd.fields.tensors import SH_BANDS
from pvd.model import Model, ModelMeta, build_model

_PAIRS = ((1, 3, 1), (1, 7, 5), (2, 8, 4))
"""(m, index of the m term, index of the -m term) of the 9 SH terms (band-major, m = -l..l)."""


def sh_rotate_z(coeffs: Tensor, angle: float) -> Tensor:
    """SH coefficients [..., 9] of ``f`` -> those of ``f`` turned by ``angle`` radians about +z.

    The turned function is ``g(d) = f(Rz(-angle) d)`` (content turned by ``+angle``). Band 0 and
    the m = 0 terms are unchanged; each (m, -m) pair of bands 1 and 2 turns like ``(cos ma, sin ma)``:
    ``g_m = cos(m a) f_m - sin(m a) f_-m``, ``g_-m = sin(m a) f_m + cos(m a) f_-m``, in the basis of
    :func:`pvd.ops.sh.sh_encode` (tests/edit/test_bake.py checks the signs against it).
    """
    if coeffs.shape[-1] != SH_BANDS**2:
        raise ValueError(f"sh_rotate_z: coeffs must be [..., {SH_BANDS**2}], got {list(coeffs.shape)}")
    out = coeffs.clone()
    for m, plus, minus in _PAIRS:
        c, s = math.cos(m * angle), math.sin(m * angle)
        out[..., plus] = c * coeffs[..., plus] - s * coeffs[..., minus]
        out[..., minus] = s * coeffs[..., plus] + c * coeffs[..., minus]
    return out


def voxel_centres(resolution: int, bound: float) -> Tensor:
    """[resolution^3, 3] box positions of the grid points, in the row order of
    :class:`pvd.fields.tensors.TensorsField` (row ``(k * R + j) * R + i`` for (i, j, k) along x, y, z)."""
    lin = torch.linspace(-bound, bound, resolution)
    z, y, x = torch.meshgrid(lin, lin, lin, indexing="ij")
    return torch.stack([x, y, z], -1).reshape(-1, 3)


def sample_channels(grid: Tensor, resolution: int, bound: float, x: Tensor) -> Tensor:
    """Trilinear samples of a channel-last grid, as :meth:`TensorsField.interpolate` does it.

    Args:
        grid: [resolution^3, C] channels (row order of :func:`voxel_centres`).
        x: [n, 3] box positions (clamped to the box).
    Returns:
        [n, C].
    """
    volume = grid.T.reshape(1, grid.shape[1], resolution, resolution, resolution)  # axes [z, y, x]
    coords = (x / bound).reshape(1, -1, 1, 1, 3).to(grid.dtype)
    out = F.grid_sample(volume, coords, mode="bilinear", padding_mode="border", align_corners=True)
    return out.reshape(grid.shape[1], -1).T


def coverage(y: Tensor, half: Tensor, op: dict) -> Tensor:
    """[n] share of each footprint ``[y - half, y + half]`` ([n, 3] centres, [3] or [n, 3] half-sizes)
    inside the op's box ``[lo, hi]``: the product of the three 1-D overlaps."""
    lo, hi = (torch.tensor(op[k], dtype=y.dtype, device=y.device) for k in ("lo", "hi"))
    overlap = torch.minimum(y + half, hi) - torch.maximum(y - half, lo)
    return (overlap / (2 * half)).clamp(0.0, 1.0).prod(-1)


def _scaled(s: Tensor, share: Tensor, floor: float) -> Tensor:
    """log-density ``s`` [n] of ``share`` [n] in [0, 1] of the content: ``s + log(share)``, not below
    ``floor`` (``floor`` where the share is 0)."""
    return torch.maximum(s + torch.log(share), torch.full_like(s, floor))


def _combine(a: Tensor, b: Tensor, fog: float) -> Tensor:
    """Channels [n, 28] of what a voxel holds (``a``) and of content placed there (``b``) -> [n, 28].

    Densities add, but the empty space of both counts once: ``sigma = sigma_a + sigma_b - m`` with
    ``m = min(sigma_a, sigma_b, exp(fog))``, ``fog`` the sources' lower clamp. SH coefficients mix
    in proportion to density, ``m`` counted as ``b``'s. Computed in float64 (raw ``s`` is unclamped).
    """
    sa, sb = torch.exp(a[:, 0].double()), torch.exp(b[:, 0].double())
    shared = torch.minimum(torch.minimum(sa, sb), torch.full_like(sa, math.exp(fog)))
    sigma = sa + sb - shared
    wa = ((sa - shared) / sigma).to(a.dtype)[:, None]
    return torch.cat([torch.log(sigma).to(a.dtype)[:, None], a[:, 1:] * wa + b[:, 1:] * (1 - wa)], dim=1)


def _placed(part: Tensor, op: dict, hi: float) -> Tensor:
    """Resampled [n, 28] channels placed by ``op``: ``s`` capped at ``hi`` and raised by
    ``log(density_factor)``, SH coefficients turned like the content."""
    rot = op["rotation"]  # Rz(rotate_z)^T: destination -> source directions
    if abs(rot[2][2] - 1.0) > 1e-6:
        raise EditOptionError(
            "bake",
            "cannot turn the content about a box axis other than z (a rotate_z in a checkpoint whose "
            "frame moves the world's z axis, e.g. torch-ngp's); the SH turn supports z only: edit "
            "without `bake` and distil into tensors",
        )
    angle = math.atan2(rot[0][1], rot[0][0])
    coeffs = sh_rotate_z(part[:, 1:].reshape(-1, 3, SH_BANDS**2), angle).reshape(-1, 3 * SH_BANDS**2)
    s = part[:, 0].clamp(max=hi) + math.log(op["density_factor"])
    return torch.cat([s[:, None], coeffs], dim=1)


@torch.no_grad()
def bake_channels(base: Model, ops: list[dict], sources: list[Model], floor: float) -> Tensor:
    """The base's [R^3, 28] grid channels with the compiled ``ops`` applied (see module doc).

    Args:
        base: the ``tensors`` model edited (its grid gives ``G_0`` and the voxel centres).
        ops: :func:`compile_program`'s operations (box coordinates of the base).
        sources: the inserted ``tensors`` models, in the order of the ops' ``source`` index (1-based).
        floor: log-density of emptied voxels.
    """
    res, bound = base.field.res, base.field.bound
    grid = base.field.grid.detach().clone()
    x = voxel_centres(res, bound).to(grid)
    half = torch.full((3,), bound / (res - 1), dtype=grid.dtype, device=grid.device)  # half a voxel
    for op in ops:
        prev = grid  # a move reads the level before it while writing this one
        grid = prev.clone() if op["kind"] == "move" else prev
        if op["kind"] in ("erase", "keep", "move"):
            gone = coverage(x, half, op)
            if op["kind"] == "keep":
                gone = 1 - gone
            hit = gone > 0
            grid[hit, 0] = _scaled(prev[hit, 0], 1 - gone[hit], floor)
        if op["kind"] in ("move", "insert"):
            matrix = torch.tensor(op["matrix"], dtype=x.dtype, device=x.device)
            y = x @ matrix.T + torch.tensor(op["offset"], dtype=x.dtype, device=x.device)
            share = coverage(y, matrix.abs() @ half, op)  # the voxel's footprint in the source box
            hit = share > 0
            if op["kind"] == "move":
                field = base.field
                src = prev
            else:
                field = sources[op["source"] - 1].field
                src = field.grid.detach()
            part = _placed(sample_channels(src, field.res, field.bound, y[hit]), op, field.density_range[1])
            part[:, 0] = _scaled(part[:, 0], share[hit], floor)
            grid[hit] = _combine(grid[hit], part, max(base.field.density_range[0], field.density_range[0]))
    return grid


def check_bake_base(base: Model) -> None:
    """Raise an :class:`EditOptionError` naming ``bake`` unless ``base`` is a ``tensors`` model."""
    if base.model_type != "tensors":
        raise EditOptionError(
            "bake",
            f"writes the edit into a tensors (Plenoxels) voxel grid, but the base checkpoint is "
            f"{base.model_type}: edit without `bake` (an edited checkpoint), and distil it into "
            "tensors if a voxel grid is wanted",
        )


def _check_inserts(program: EditProgram, inserted: dict[str, Model]) -> None:
    for i, op in enumerate(program.ops):
        arch = inserted[op.checkpoint].model_type if op.kind == "insert" else "tensors"
        if arch != "tensors":
            raise EditOptionError(
                "bake",
                f"cannot insert from the {arch} checkpoint {op.checkpoint} (edit program: operation "
                f"{i + 1} (insert)), only from tensors grids; edit without `bake` and distil the "
                "edited checkpoint into tensors (a distillation with `teacher_type` edited and "
                "`model_type` tensors)",
            )


def bake_model(
    base: Model,
    program: EditProgram,
    inserted: dict[str, Model] | None = None,
    base_path: str | Path | None = None,
    density_floor: float = DEFAULT_FLOOR,
    grid_passes: int = DEFAULT_PASSES,
    seed: int = 0,
) -> tuple[Model, EditStats]:
    """The ``tensors`` model of ``program`` baked into ``base``'s grid (arguments as
    :func:`pvd.edit.apply.edit_model`), on ``base``'s device, with its grid rebuilt.

    Its density range is ``(density_floor, base hi)``; ``meta.train_config["edit"]`` holds the
    program, the sources (architecture, path, SHA-256), the floor, passes, seed and ``baked: true``.
    """
    start = time.perf_counter()
    inserted = inserted or {}
    check_bake_base(base)
    check_edit(base, program, inserted, density_floor, grid_passes)
    _check_inserts(program, inserted)
    ops = compile_program(program, base.normalization, inserted)
    sources = [source_entry(base, base_path)] + [source_entry(m, p) for p, m in inserted.items()]
    edit = {
        "baked": True,
        "program": program.to_dict(),
        "density_floor": density_floor,
        "grid_passes": grid_passes,
        "seed": seed,
        "sources": [{k: v for k, v in s.items() if k in ("model_type", "checkpoint", "sha256")} for s in sources],
    }
    meta = replace(
        base.meta,
        density_range=(float(density_floor), base.meta.density_range[1]),
        kind="teacher",
        teacher_type=None,
        teacher_checkpoint=None,
        teacher_sha256=None,
        train_config={"edit": edit},
        step=0,
    )
    device = base.grid.density.device
    baked = build_model(ModelMeta.from_dict(meta.to_dict(), "baked model"), device)
    channels = bake_channels(base, ops, list(inserted.values()), float(density_floor))
    with torch.no_grad():
        baked.field.grid.copy_(channels)
    return baked, finish_grid(baked, base, grid_passes, seed, start)
