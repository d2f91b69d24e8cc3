"""A model's surface as a triangle mesh: marching cubes on its density, coloured by the model.

The density is sampled on a regular grid of ``resolution`` points per axis over the box
``[-bound, bound]^3`` (corners included), as the renderer sees it: zero in the cells its occupancy grid
marks empty. The grid is padded with one layer of zeros, so a surface that meets the box's walls is
closed there and the mesh is watertight wherever the level set is. scikit-image's marching cubes finds
the surface ``sigma = threshold`` (density in 1 / box unit); faces wind counter-clockwise seen from
outside (normals point out of the dense side).

A vertex's colour is what a camera looking straight at the surface would see there: a short ray along
the inward normal, from ``SHADE_REACH`` voxels outside to as far inside, composited with the field's
density and colour (the colour of the nearest sample where the ray gathers no weight).

Surfaces that no training view sees are left out (unless told to keep them): a vertex is *seen* when
some training camera has it in front, in its image, on the side its normal faces, and no farther than
the surface that camera's rendered depth shows at that pixel (:mod:`pvd.interop.depth`) plus
``SEEN_SLACK`` voxels. A face stays when all its vertices are seen. What lies behind every view's
surface (the underside of an object filmed from above) is not known from the images: a model may hold
any density there. The test projects through the pinhole intrinsics (lens distortion is ignored).

The mesh is written in the dataset's world frame (the inverse of the model's normalisation), so it
lines up with the scene's cameras; ``.ply`` (binary, with vertex colours) or ``.obj`` (vertex colours
as trimesh writes them), chosen by the file's suffix, through trimesh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from pvd.data.cameras import Cameras
from pvd.errors import SpecError, UserError
from pvd.interop.depth import render_depth
from pvd.model import Model
from pvd.records import atomic_path

MESH_SUFFIXES = (".ply", ".obj")
SHADE_SAMPLES = 16
SHADE_REACH = 1.5
"""Vertex colours: samples per shading ray, and its reach on each side of the surface (voxels)."""
SEEN_SLACK = 0.5
"""How far (voxels) behind a view's rendered surface a vertex still counts as seen."""


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh in world units.

    Attributes:
        vertices: [n_vertices, 3] float32 world positions.
        faces: [n_faces, 3] int64 vertex indices, counter-clockwise seen from outside.
        colors: [n_vertices, 3] uint8 vertex colours.
        voxel: edge of one grid cell in world units.
        density_range: (min, max) of the sampled density (1 / box unit).
    """

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    voxel: float
    density_range: tuple[float, float]

    def bbox(self) -> tuple[list[float], list[float]]:
        """World axis-aligned bounding box (min, max) of the vertices."""
        return self.vertices.min(0).tolist(), self.vertices.max(0).tolist()


def grid_points(bound: float, resolution: int) -> Tensor:
    """[resolution] float32 coordinates of the grid's points along one axis of ``[-bound, bound]``."""
    return torch.linspace(-bound, bound, resolution)


@torch.no_grad()
def sample_density(model: Model, resolution: int, chunk: int = 1 << 16) -> Tensor:
    """[R, R, R] density (1 / box unit, x, y, z axes) at the grid points, zero in empty cells."""
    axis = grid_points(model.field.bound, resolution)
    device = next(model.field.parameters()).device
    out = torch.empty(resolution**3)
    xs = torch.cartesian_prod(axis, axis, axis)
    for start in range(0, len(xs), chunk):
        x = xs[start : start + chunk].to(device)
        sigma = model.field.density(x).float()
        out[start : start + chunk] = torch.where(model.grid.occupied(x), sigma, 0.0).cpu()
    return out.reshape(resolution, resolution, resolution)


def check_threshold(model: Model, threshold: float) -> None:
    """A :class:`SpecError` (``threshold``) unless the model's density can cross ``threshold``: its
    clamp ``[exp(lo), exp(hi)]`` (or zero, in empty cells) must straddle it."""
    hi = math.exp(model.meta.density_range[1])
    if not threshold < hi:
        raise SpecError(
            "threshold",
            f"must be below the model's largest density {hi:.4g} (exp of its log-density clamp "
            f"{model.meta.density_range[1]:g}), got {threshold:g}",
        )


@torch.no_grad()
def shade_vertices(model: Model, box_vertices: Tensor, inward: Tensor, voxel: float, chunk: int = 1 << 14) -> Tensor:
    """[n, 3] uint8 colours of box-frame vertices seen along their [n, 3] unit inward normals (module doc)."""
    device = next(model.field.parameters()).device
    offsets = torch.linspace(-SHADE_REACH, SHADE_REACH, SHADE_SAMPLES) * voxel  # box units along the ray
    delta = float(offsets[1] - offsets[0])
    colors = []
    for start in range(0, len(box_vertices), chunk):
        v = box_vertices[start : start + chunk].to(device)
        d = inward[start : start + chunk].to(device)
        x = v[:, None, :] + offsets.to(device)[None, :, None] * d[:, None, :]  # [m, S, 3]
        x = x.clamp(-model.field.bound, model.field.bound)
        dirs = d[:, None, :].expand_as(x)
        out = model.field(x.reshape(-1, 3), dirs.reshape(-1, 3))
        sigma = out.sigma.float().reshape(len(v), SHADE_SAMPLES)
        rgb = out.rgb.float().reshape(len(v), SHADE_SAMPLES, 3)
        alpha = 1 - torch.exp(-sigma * delta)
        trans = torch.cumprod(torch.cat([alpha.new_ones(len(v), 1), 1 - alpha[:, :-1]], 1), 1)
        w = alpha * trans
        total = w.sum(1, keepdim=True)
        mid = rgb[:, SHADE_SAMPLES // 2]
        c = torch.where(total > 1e-6, (w[..., None] * rgb).sum(1) / total.clamp_min(1e-6), mid)
        colors.append((c.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu())
    return torch.cat(colors) if colors else torch.zeros(0, 3, dtype=torch.uint8)


@torch.no_grad()
def seen_vertices(
    model: Model, box_vertices: Tensor, outward: Tensor, cameras: Cameras, slack: float, device: torch.device
) -> Tensor:
    """[n] bool: which box-frame vertices (with [n, 3] outward unit normals) some camera sees (module
    doc); ``slack`` in box units."""
    norm = model.normalization
    rot = torch.tensor(norm.rotation, dtype=torch.float32)
    seen = torch.zeros(len(box_vertices), dtype=torch.bool)
    for view in range(len(cameras)):
        depth = render_depth(model, cameras, view, device)
        h, w = depth.height, depth.width
        far = depth.distance.reshape(1, 1, h, w).nan_to_num(posinf=1e30)
        far = far.reshape(-1)
        origin = depth.origins[0]
        to_cam = rot @ cameras.c2w[view, :3, :3].float()  # camera axes in the box frame (columns)
        rel = box_vertices - origin
        q = rel @ to_cam  # [n, 3] camera-frame coordinates (scaled; the projection does not mind)
        z = -q[:, 2]
        front = z > 1e-9
        zs = z.clamp_min(1e-9)
        u = cameras.cx[view] + cameras.fx[view] * q[:, 0] / zs
        v = cameras.cy[view] - cameras.fy[view] * q[:, 1] / zs
        inside = front & (u >= 0) & (u < w) & (v >= 0) & (v < h)
        facing = (outward * -rel).sum(-1) > 0
        col = u.clamp(0, w - 1).long()
        row = v.clamp(0, h - 1).long()
        unblocked = rel.norm(dim=-1) <= far[row * w + col] + slack
        seen |= inside & facing & unblocked
    return seen


def keep_faces(faces: np.ndarray, keep_vertex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Faces ([m, 3]) whose vertices are all kept, re-indexed over the vertices they use; returns
    (faces, indices of those vertices)."""
    faces = faces[keep_vertex[faces].all(1)]
    used = np.unique(faces)
    remap = np.full(len(keep_vertex), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return remap[faces], used


def extract_mesh(
    model: Model,
    threshold: float,
    resolution: int,
    cameras: Cameras | None = None,
    device: torch.device = torch.device("cpu"),
) -> Mesh:
    """The coloured surface ``sigma = threshold`` of ``model`` on a ``resolution``^3 grid (module doc):
    with ``cameras`` (the training views), only what they see.

    Raises :class:`SpecError` (``threshold``) when the density never crosses ``threshold``: the
    message gives the range the model's density spans.
    """
    import trimesh
    from skimage.measure import marching_cubes

    if resolution < 2:
        raise SpecError("resolution", f"must be >= 2, got {resolution}")
    check_threshold(model, threshold)
    density = sample_density(model, resolution)
    d_lo, d_hi = float(density.min()), float(density.max())
    if not d_hi > threshold:
        raise SpecError(
            "threshold",
            f"{threshold:g}: the model's density stays within [{d_lo:.4g}, {d_hi:.4g}] on the "
            f"{resolution}^3 grid, nowhere above it, so the mesh would be empty; give a lower threshold",
        )
    bound = model.field.bound
    step = 2 * bound / (resolution - 1)
    padded = np.pad(density.numpy(), 1, mode="constant", constant_values=0.0)
    verts, faces, _, _ = marching_cubes(padded, level=threshold, spacing=(step, step, step))
    box = torch.from_numpy(np.ascontiguousarray(verts)).float() - (bound + step)  # undo the pad's offset
    faces = np.ascontiguousarray(faces[:, ::-1]).astype(np.int64)  # skimage winds clockwise from outside
    normals = torch.from_numpy(
        np.asarray(trimesh.Trimesh(box.numpy(), faces, process=False).vertex_normals, dtype=np.float32)
    )
    if cameras is not None:
        seen = seen_vertices(model, box, normals, cameras, SEEN_SLACK * step, device)
        faces, used = keep_faces(faces, seen.numpy())
        if not len(faces):
            raise SpecError(
                "threshold",
                f"{threshold:g}: the surface at this density lies where no training view sees it, so the mesh "
                "would be empty (give a lower threshold, or `keep_unseen`)",
            )
        box, normals = box[used], normals[used]
    colors = shade_vertices(model, box, -normals, step)
    world = model.normalization.to_world(box)
    return Mesh(
        vertices=world.numpy().astype(np.float32),
        faces=faces,
        colors=colors.numpy(),
        voxel=step / model.normalization.scale,
        density_range=(d_lo, d_hi),
    )


def write_mesh(path: Path, mesh: Mesh) -> None:
    """Atomically write ``mesh`` as ``.ply`` or ``.obj`` (by ``path``'s suffix) through trimesh."""
    import trimesh

    kind = path.suffix.lower()
    if kind not in MESH_SUFFIXES:
        raise UserError(f"{path}: a mesh file ends in {' or '.join(MESH_SUFFIXES)}")
    alpha = np.full((len(mesh.colors), 1), 255, dtype=np.uint8)
    tm = trimesh.Trimesh(
        mesh.vertices, mesh.faces, vertex_colors=np.concatenate([mesh.colors, alpha], 1), process=False
    )
    with atomic_path(path) as tmp:
        tm.export(tmp, file_type=kind.lstrip("."))
