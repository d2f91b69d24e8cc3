"""The embedded demo scene: a procedurally rendered analytic scene in the Blender format.

A few solids (a striped sphere, a checkered box, a ringed cylinder, a glossy ball on a ringed disc)
lit by one directional light with Lambert diffuse plus a Blinn-Phong highlight (view-dependent), on a
transparent background. Rays are cast analytically (no NeRF). Every pixel averages a regular
``spp x spp`` grid of sub-pixel rays, premultiplied colour and alpha alike, so the fine textures are
anti-aliased consistently in every view. PNGs store straight (un-premultiplied) RGBA.

World: z up, everything inside ``[-1, 1]^3`` (so ``bound 1, scale 0.8`` fits). Cameras sit on the
upper hemisphere at ``radius`` looking at the origin: train and val at random directions, test on
an orbit at 30 degrees elevation. The same seed gives byte-identical files.

Every scene also gets ``solids.json``: ``[{"name", "kind", "bbox_min", "bbox_max"}]`` (world
coordinates, names from :data:`SOLID_NAMES`). A :class:`SceneEdit` renders the same cameras with
solids left out, translated, or taken from another seed's scene: the exact ground truth of the
scene edits of :mod:`pvd.edit` (translations are exact: the light is directional, without shadows).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from pvd.data.cameras import Cameras, Normalization, pixel_rays
from pvd.data.distortion import Distortion
from pvd.errors import SpecError, UserError
from pvd.records import file_mode, write_error

LIGHT = torch.tensor([0.45, -0.5, 0.74]) / math.sqrt(0.45**2 + 0.5**2 + 0.74**2)


MAX_SIDE_RAYS = 4096  # size x spp: sub-pixel rays along an image side (a view's rays are rendered at once)


@dataclass(frozen=True)
class DemoConfig:
    """What the demo scene looks like and how it is sampled."""

    seed: int = 0
    size: int = 80
    n_train: int = 50
    n_val: int = 10
    n_test: int = 10
    spp: int = 4  # sub-pixel rays per axis (spp^2 per pixel)
    radius: float = 4.0
    camera_angle_x: float = 0.6911112070083618


@dataclass(frozen=True)
class Solid:
    """One analytic solid: ``kind`` sphere | box | cylinder, in world units.

    ``centre`` [3]; ``size``: sphere (radius,), box (half x, half y, half z), cylinder (radius,
    z_min, z_max) about the vertical axis through ``centre`` (z range in world z); ``angle`` turns a
    box about z. ``texture``: plain | stripes | checker | rings; ``period`` is the stripe count
    around a sphere, otherwise a length in world units.
    """

    kind: str
    centre: tuple[float, float, float]
    size: tuple[float, ...]
    colour: tuple[float, float, float]
    texture: str = "plain"
    period: float = 0.1
    specular: float = 0.2
    shininess: float = 16.0
    angle: float = 0.0


def demo_solids(seed: int) -> list[Solid]:
    """The scene for a seed: fixed layout, jittered positions and colours."""
    rng = np.random.default_rng(seed)

    def jit(xyz, s=0.05):
        return tuple(float(v) for v in np.asarray(xyz) + rng.uniform(-s, s, 3) * [1, 1, 0])

    def hue(rgb):
        return tuple(float(v) for v in np.clip(np.asarray(rgb) + rng.uniform(-0.1, 0.1, 3), 0, 1))

    return [  # in the order of SOLID_NAMES
        Solid("cylinder", (0.0, 0.0, 0.0), (0.9, -0.12, 0.0), hue((0.55, 0.55, 0.6)), "rings", 0.12, 0.1, 8.0),
        Solid("sphere", jit((-0.38, -0.3, 0.36)), (0.36,), hue((0.85, 0.2, 0.15)), "stripes", 12.0, 0.5, 32.0),
        Solid(
            "box",
            jit((0.38, 0.05, 0.26)),
            (0.26, 0.22, 0.26),
            hue((0.2, 0.45, 0.85)),
            "checker",
            0.09,
            0.25,
            16.0,
            float(rng.uniform(0.2, 0.6)),
        ),
        Solid("cylinder", jit((-0.25, 0.48, 0.0)), (0.17, 0.0, 0.75), hue((0.25, 0.75, 0.3)), "rings", 0.06, 0.3, 24.0),
        Solid("sphere", jit((0.3, -0.55, 0.14)), (0.14,), hue((0.85, 0.75, 0.2)), "plain", 1.0, 0.9, 96.0),
    ]


SOLID_NAMES = ("disc", "striped_sphere", "checkered_box", "ringed_cylinder", "glossy_ball")


@dataclass(frozen=True)
class SceneEdit:
    """Solids to leave out, move or take from another seed's scene (exact ground truth for edits).

    Attributes:
        without: names of solids left out.
        move: (name, (dx, dy, dz)) translations in world units.
        insert: (seed, name, (dx, dy, dz)): the solid ``name`` of seed ``seed``'s scene, translated,
            added as ``seed{seed}_{name}``.
    """

    without: tuple[str, ...] = ()
    move: tuple[tuple[str, tuple[float, float, float]], ...] = ()
    insert: tuple[tuple[int, str, tuple[float, float, float]], ...] = ()

    def to_dict(self) -> dict:
        return {
            "without": list(self.without),
            "move": [[n, list(d)] for n, d in self.move],
            "insert": [[seed, n, list(d)] for seed, n, d in self.insert],
        }


def translated(s: Solid, delta: tuple[float, float, float]) -> Solid:
    """``s`` moved by ``delta`` (a cylinder's world z range moves too)."""
    centre = tuple(c + d for c, d in zip(s.centre, delta))
    size = s.size if s.kind != "cylinder" else (s.size[0], s.size[1] + delta[2], s.size[2] + delta[2])
    return replace(s, centre=centre, size=size)


def solid_bbox(s: Solid) -> tuple[list[float], list[float]]:
    """World axis-aligned bounding box ``(min, max)`` of a solid (exact)."""
    c = s.centre
    if s.kind == "sphere":
        r = s.size[0]
        return [v - r for v in c], [v + r for v in c]
    if s.kind == "box":
        cos, sin = abs(math.cos(s.angle)), abs(math.sin(s.angle))
        hx, hy, hz = s.size
        half = (cos * hx + sin * hy, sin * hx + cos * hy, hz)
        return [v - h for v, h in zip(c, half)], [v + h for v, h in zip(c, half)]
    r, z0, z1 = s.size
    return [c[0] - r, c[1] - r, z0], [c[0] + r, c[1] + r, z1]


def _reach(s: Solid) -> float:
    """Largest distance of the solid from the origin (rays beyond SCENE_RADIUS are not cast)."""
    lo, hi = solid_bbox(s)
    if s.kind == "sphere":
        return math.dist(s.centre, (0, 0, 0)) + s.size[0]
    if s.kind == "cylinder":
        return math.hypot(math.hypot(*s.centre[:2]) + s.size[0], max(abs(lo[2]), abs(hi[2])))
    corners = (
        torch.tensor([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=torch.float64)
        * torch.tensor(s.size, dtype=torch.float64)
    ) @ _rotation(s).double().T
    return float((corners + torch.tensor(s.centre, dtype=torch.float64)).norm(dim=-1).max())


def _named(seed: int, name: str, field: str) -> Solid:
    if name not in SOLID_NAMES:
        raise SpecError(field, f"{name!r}: no such solid; the demo scene has {', '.join(SOLID_NAMES)}")
    return demo_solids(seed)[SOLID_NAMES.index(name)]


def edited_solids(seed: int, edit: SceneEdit) -> list[tuple[str, Solid]]:
    """The named solids of seed ``seed``'s scene after ``edit``; errors (:class:`SpecError`) name
    the field of :class:`SceneEdit` (``without``, ``move``, ``insert``) and the solid."""
    named = dict(zip(SOLID_NAMES, demo_solids(seed)))
    inserted: dict[str, str] = {}  # key in named -> SEED:NAME
    for name in edit.without:
        _named(seed, name, "without")
        if name not in named:
            raise SpecError("without", f"{name!r} is given twice")
        del named[name]
    for name, delta in edit.move:
        _named(seed, name, "move")
        if name not in named:
            raise SpecError("move", f"{name!r}: the solid is also left out by `without`")
        named[name] = translated(named[name], delta)
    for other, name, delta in edit.insert:
        key = f"seed{other}_{name}"
        if key in named:
            raise SpecError("insert", f"{other}:{name} is given twice")
        named[key] = translated(_named(other, name, "insert"), delta)
        inserted[key] = f"{other}:{name}"
    for name, solid in named.items():
        if _reach(solid) > SCENE_RADIUS:
            field, label = ("insert", inserted[name]) if name in inserted else ("move", name)
            raise SpecError(
                field,
                f"{label}: the solid would reach {_reach(solid):.3f} from the origin; "
                f"demo solids must stay within {SCENE_RADIUS}",
            )
    if not named:
        raise SpecError("without", "leaves no solid in the scene")
    return list(named.items())


def solids_manifest(named: list[tuple[str, Solid]]) -> list[dict]:
    """``solids.json``: name, kind and world bounding box of every solid."""
    out = []
    for name, s in named:
        lo, hi = solid_bbox(s)
        out.append(
            {"name": name, "kind": s.kind, "bbox_min": [round(v, 6) for v in lo], "bbox_max": [round(v, 6) for v in hi]}
        )
    return out


def _intersect(s: Solid, o: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
    """-> t [n] (inf on a miss) and outward unit normal [n, 3] at the nearest hit in front."""
    c = o.new_tensor(s.centre)
    inf = torch.full_like(o[:, 0], math.inf)
    if s.kind == "sphere":
        oc = o - c
        b = (oc * d).sum(-1)
        disc = b * b - ((oc * oc).sum(-1) - s.size[0] ** 2)
        t = -b - disc.clamp_min(0).sqrt()
        t = torch.where((disc >= 0) & (t > 0), t, inf)
        return t, (o + t[:, None].clamp_max(1e9) * d - c) / s.size[0]
    if s.kind == "box":
        rot = _rotation(s).to(o)
        lo, ld = (o - c) @ rot, d @ rot
        half = o.new_tensor(s.size)
        inv = 1.0 / torch.where(ld.abs() < 1e-12, torch.full_like(ld, 1e-12), ld)
        t0, t1 = (-half - lo) * inv, (half - lo) * inv
        near, axis = torch.minimum(t0, t1).max(-1)
        far = torch.maximum(t0, t1).min(-1).values
        t = torch.where((near <= far) & (near > 0), near, inf)
        normal = torch.nn.functional.one_hot(axis, 3).to(o) * -torch.sign(ld.gather(1, axis[:, None]))
        return t, normal @ rot.T
    radius, z0, z1 = s.size
    oc = (o - c)[:, :2]
    a = (d[:, :2] ** 2).sum(-1).clamp_min(1e-12)
    b = (oc * d[:, :2]).sum(-1)
    disc = b * b - a * ((oc**2).sum(-1) - radius**2)
    t_side = (-b - disc.clamp_min(0).sqrt()) / a
    z_side = o[:, 2] + t_side * d[:, 2]
    t_side = torch.where((disc >= 0) & (t_side > 0) & (z_side >= z0) & (z_side <= z1), t_side, inf)
    dz = torch.where(d[:, 2].abs() < 1e-12, torch.full_like(d[:, 2], 1e-12), d[:, 2])
    cap_z = torch.where(d[:, 2] < 0, torch.full_like(dz, z1), torch.full_like(dz, z0))
    t_cap = (cap_z - o[:, 2]) / dz
    xy = oc + t_cap[:, None] * d[:, :2]
    t_cap = torch.where((t_cap > 0) & ((xy**2).sum(-1) <= radius**2), t_cap, inf)
    side_xy = oc + t_side[:, None].clamp_max(1e9) * d[:, :2]
    side_n = torch.cat([side_xy, torch.zeros_like(a)[:, None]], -1)
    cap_n = torch.zeros_like(o)
    cap_n[:, 2] = torch.where(d[:, 2] < 0, 1.0, -1.0)
    use_cap = t_cap < t_side
    return torch.minimum(t_side, t_cap), torch.where(use_cap[:, None], cap_n, side_n / radius)


TEXTURES = ("plain", "stripes", "checker", "rings")
SCENE_RADIUS = 1.2  # every solid lies inside this sphere about the origin


def _texture_parity(local: Tensor, period: Tensor, texture: Tensor) -> Tensor:
    """[n] 0/1 pattern of each ray's texture at solid-local points ``local`` [n, 3]."""
    stripes = torch.floor(torch.atan2(local[:, 1], local[:, 0]) / (2 * math.pi) * period) % 2
    checker = torch.floor(local / period[:, None]).sum(-1) % 2
    rings = torch.floor((local[:, 2] + local[:, :2].norm(dim=-1)) / period) % 2
    patterns = torch.stack([torch.zeros_like(period), stripes, checker, rings], -1)
    return patterns.gather(1, texture[:, None])[:, 0]


def _rotation(s: Solid) -> Tensor:
    """[3, 3] solid-local -> world rotation (boxes turn about z)."""
    cos, sin = math.cos(s.angle), math.sin(s.angle)
    return torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])


def shade_rays(solids: list[Solid], origins: Tensor, directions: Tensor) -> tuple[Tensor, Tensor]:
    """Point-sample the scene: [n, 3] world rays -> colour [n, 3] and coverage alpha [n] (0 or 1).

    Rays missing the bounding sphere are skipped; the others are shaded all at once with the
    material of the solid they hit first (textures alternate the colour with a light tone).
    """
    rgb = torch.zeros_like(origins)
    alpha = torch.zeros_like(origins[:, 0])
    b = (origins * directions).sum(-1)
    near = (b * b - (origins * origins).sum(-1) + SCENE_RADIUS**2 > 0).nonzero()[:, 0]
    o, d = origins[near], directions[near]
    hits = [_intersect(s, o, d) for s in solids]
    t, which = torch.stack([h[0] for h in hits], -1).min(-1)
    hit = torch.isfinite(t)
    t = torch.where(hit, t, 0.0)
    normal = torch.stack([h[1] for h in hits], 1).gather(1, which[:, None, None].expand(-1, 1, 3))[:, 0]
    normal = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def per_ray(values) -> Tensor:
        return torch.as_tensor(values, dtype=o.dtype)[which]

    colour = per_ray([s.colour for s in solids])
    p = o + t[:, None] * d
    local = torch.einsum(
        "nij,ni->nj", per_ray(torch.stack([_rotation(s) for s in solids])), p - per_ray([s.centre for s in solids])
    )
    odd = _texture_parity(
        local, per_ray([s.period for s in solids]), torch.tensor([TEXTURES.index(s.texture) for s in solids])[which]
    )
    albedo = torch.where(odd[:, None] > 0, 0.35 * colour + 0.6, colour)
    light = LIGHT.to(o)
    diffuse = (normal @ light).clamp_min(0)
    half = light - d
    half = half / half.norm(dim=-1, keepdim=True)
    spec = per_ray([s.specular for s in solids]) * (
        (normal * half).sum(-1).clamp_min(0) ** per_ray([s.shininess for s in solids])
    )
    shaded = (albedo * (0.25 + 0.75 * diffuse[:, None]) + spec[:, None]).clamp(0, 1)
    rgb[near] = torch.where(hit[:, None], shaded, 0.0)
    alpha[near] = hit.to(o.dtype)
    return rgb, alpha


def demo_poses(config: DemoConfig, split: str) -> Tensor:
    """[n, 4, 4] OpenGL camera-to-world matrices looking at the origin from the upper hemisphere."""
    n = {"train": config.n_train, "val": config.n_val, "test": config.n_test}[split]
    rng = np.random.default_rng([config.seed, ("train", "val", "test").index(split)])
    if split == "test":
        azimuth = rng.uniform(0, 2 * np.pi) + np.arange(n) * 2 * np.pi / max(n, 1)
        height = np.full(n, math.sin(math.radians(30.0)))
    else:
        azimuth = rng.uniform(0, 2 * np.pi, n)
        height = rng.uniform(0.1, 0.95, n)
    ring = np.sqrt(1 - height**2)
    back = np.stack([ring * np.cos(azimuth), ring * np.sin(azimuth), height], -1)
    right = np.cross([0.0, 0.0, 1.0], back)
    right /= np.linalg.norm(right, axis=-1, keepdims=True)
    up = np.cross(back, right)
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, :3, 0], c2w[:, :3, 1], c2w[:, :3, 2] = right, up, back
    c2w[:, :3, 3] = config.radius * back
    return torch.from_numpy(c2w).float()


def render_view(solids: list[Solid], c2w: Tensor, config: DemoConfig, lens: Distortion | None = None) -> np.ndarray:
    """One anti-aliased view: [size, size, 4] uint8 straight RGBA (seen through ``lens``, one view's
    distortion, when given)."""
    size, spp = config.size, config.spp
    focal = 0.5 * size / math.tan(0.5 * config.camera_angle_x)
    one = torch.ones(1)
    cams = Cameras(c2w[None], one * focal, one * focal, one * size / 2, one * size / 2, size, size, lens)
    sub = (torch.arange(spp, dtype=torch.float32) + 0.5) / spp
    pix = torch.arange(size, dtype=torch.float32)
    v = (pix[:, None, None, None] + sub[None, None, :, None]).expand(size, size, spp, spp)
    u = (pix[None, :, None, None] + sub[None, None, None, :]).expand(size, size, spp, spp)
    rays = pixel_rays(cams, torch.zeros(v.numel(), dtype=torch.long), u.reshape(-1), v.reshape(-1), Normalization())
    rgb, alpha = shade_rays(solids, rays.origins, rays.directions)
    premul = (rgb * alpha[:, None]).reshape(size, size, spp * spp, 3).mean(2)
    cover = alpha.reshape(size, size, spp * spp).mean(2)
    straight = torch.where(cover[..., None] > 0, premul / cover.clamp_min(1e-8)[..., None], 0.0)
    rgba = torch.cat([straight.clamp(0, 1), cover[..., None]], -1)
    return (rgba * 255 + 0.5).to(torch.uint8).numpy()


def write_demo(
    out_dir: str | Path, config: DemoConfig = DemoConfig(), progress: bool | None = None, edit: SceneEdit = SceneEdit()
) -> Path:
    """Render the demo scene into ``out_dir`` (Blender layout) with ``solids.json``, atomically.

    ``edit`` leaves out, moves or inserts solids (:class:`SceneEdit`); the cameras stay those of
    ``config``, so an edited scene is the exact ground truth of an edit of the original. The scene
    is built in a temporary folder beside ``out_dir`` and renamed into place; an existing
    non-empty ``out_dir`` is an error.
    """
    out_dir = Path(out_dir)
    for name in ("size", "spp", "n_train", "n_val", "n_test"):
        if getattr(config, name) < 1:
            raise SpecError(name, f"must be at least 1, got {getattr(config, name)}")
    if config.size * config.spp > MAX_SIDE_RAYS:
        raise SpecError(
            "size",
            f"must be at most {MAX_SIDE_RAYS // config.spp} at spp {config.spp} (an image side renders size x spp "
            f"sub-pixel rays, at most {MAX_SIDE_RAYS}), got {config.size}",
        )
    if config.seed < 0:
        raise SpecError("seed", f"must be >= 0, got {config.seed}")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UserError(f"{out_dir}: already exists and is not an empty folder; remove it or choose another OUT_DIR")
    named = edited_solids(config.seed, edit)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    os.chmod(tmp, file_mode(directory=True))  # mkdtemp made it private (0o700)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # ~10^5-element ops: intra-op threads cost more than they give
    try:
        solids = [s for _, s in named]
        (tmp / "solids.json").write_text(json.dumps(solids_manifest(named), indent=2) + "\n")
        total = config.n_train + config.n_val + config.n_test
        bar = tqdm(
            total=total,
            desc="rendering demo",
            unit="view",
            disable=None if progress is None else not progress,
            leave=False,
        )
        for split in ("train", "val", "test"):
            (tmp / split).mkdir()
            frames = []
            for i, c2w in enumerate(demo_poses(config, split)):
                iio.imwrite(tmp / split / f"r_{i}.png", render_view(solids, c2w, config))
                frames.append({"file_path": f"./{split}/r_{i}", "transform_matrix": c2w.tolist()})
                bar.update()
            doc = {
                "camera_angle_x": config.camera_angle_x,
                "frames": frames,
                "pvd_demo": {**asdict(config), "solids": [asdict(s) for s in solids]},
            }
            if edit != SceneEdit():
                doc["pvd_demo"]["edit"] = edit.to_dict()
            (tmp / f"transforms_{split}.json").write_text(json.dumps(doc, indent=2) + "\n")
        bar.close()
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(tmp, out_dir)
    except OSError as exc:  # a full disk names OUT_DIR (the partial scene is removed below)
        raise (write_error(exc, out_dir) or exc) from None
    finally:
        torch.set_num_threads(threads)
        if tmp.exists():
            shutil.rmtree(tmp)
    return out_dir
