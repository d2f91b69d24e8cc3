"""The standard 3D Gaussian splatting ``.ply`` (the original implementation's layout) in and out.

One ``vertex`` element, one float32 property per value, in this order::

    x y z  nx ny nz  f_dc_0..2  f_rest_0..(3 (K - 1) - 1)  opacity  scale_0..2  rot_0..3

(``K = (degree + 1)^2``; 45 ``f_rest`` at degree 3). Values are stored pre-activation: ``scale_*``
are log standard deviations, ``opacity`` is a logit, ``rot_*`` a quaternion ``(w, x, y, z)``
(readers normalise it), ``f_dc_*`` the degree-0 SH coefficient per colour and ``f_rest`` the
higher ones **channel-major** (red's K - 1 coefficients, then green's, then blue's); the normals
are zero. Coordinates are the dataset's world frame: :func:`to_world` / :func:`to_box` undo and
re-apply pvd's world -> box normalisation (``box = scale * world + offset``; scales shift by
``log scale``; rotations, opacities and SH are unchanged, so normalisations with a rotation --
torch-ngp's frame -- are refused).

    params = read_ply("point_cloud.ply")            # {"means": [n, 3], ...} as pvd.fields.gs.PARAMS
    write_ply("out.ply", params)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from pvd.data.cameras import Normalization
from pvd.errors import UserError
from pvd.records import atomic_path

PARAMS = ("means", "log_scales", "quats", "opacity_logits", "sh_dc", "sh_rest")


class PlyFormatError(UserError):
    """A file is not a 3DGS ``.ply`` of the expected layout."""


def property_names(degree: int) -> list[str]:
    """The layout's property names at SH ``degree`` (0..3), in file order."""
    n_rest = 3 * ((degree + 1) ** 2 - 1)
    return [
        *"x y z nx ny nz".split(),
        *(f"f_dc_{i}" for i in range(3)),
        *(f"f_rest_{i}" for i in range(n_rest)),
        "opacity",
        *(f"scale_{i}" for i in range(3)),
        *(f"rot_{i}" for i in range(4)),
    ]


def write_ply(path: str | Path, params: dict[str, Tensor]) -> None:
    """Atomically write Gaussians (pre-activation values, ``sh_rest`` [n, K - 1, 3]) to ``path``."""
    from plyfile import PlyData, PlyElement

    n, k1 = params["means"].shape[0], params["sh_rest"].shape[1]
    degree = math.isqrt(k1 + 1) - 1
    cols = [
        params["means"],
        torch.zeros(n, 3),
        params["sh_dc"],
        params["sh_rest"].transpose(1, 2).reshape(n, -1),  # channel-major
        params["opacity_logits"][:, None],
        params["log_scales"],
        params["quats"],
    ]
    values = torch.cat([c.detach().cpu().float() for c in cols], dim=1).numpy()
    names = property_names(degree)
    data = np.empty(n, dtype=[(name, "f4") for name in names])
    for i, name in enumerate(names):
        data[name] = values[:, i]
    with atomic_path(path) as tmp:
        PlyData([PlyElement.describe(data, "vertex")]).write(str(tmp))


def read_ply(path: str | Path) -> dict[str, Tensor]:
    """Gaussians of a 3DGS ``.ply`` (pre-activation float32 tensors, names :data:`PARAMS`)."""
    from plyfile import PlyData

    path = Path(path)
    if not path.is_file():
        raise PlyFormatError(f"{path} does not exist")
    try:
        ply = PlyData.read(str(path))
    except Exception as exc:  # plyfile raises several types on foreign or truncated files
        raise PlyFormatError(f"{path} is not a readable .ply file ({type(exc).__name__}: {exc})") from None
    if "vertex" not in [e.name for e in ply.elements]:
        raise PlyFormatError(f"{path} has no 'vertex' element; expected a 3D Gaussian splatting .ply")
    vertex = ply["vertex"]
    names = [p.name for p in vertex.properties]
    n_rest = sum(1 for name in names if name.startswith("f_rest_"))
    k = n_rest // 3 + 1
    degree = math.isqrt(k) - 1
    if n_rest % 3 or (degree + 1) ** 2 != k or degree > 3:
        raise PlyFormatError(f"{path}: {n_rest} f_rest properties; expected 0, 9, 24 or 45 (SH degree 0..3)")
    need = [name for name in property_names(degree) if not name.startswith("n")]
    missing = [name for name in need if name not in names]
    if missing:
        raise PlyFormatError(f"{path}: vertex lacks {missing[:6]}; expected the 3DGS layout {need[:10]}...")
    col = lambda *keys: torch.from_numpy(np.stack([np.asarray(vertex[k], dtype=np.float32) for k in keys], 1))  # noqa: E731
    n = vertex.count
    rest = col(*(f"f_rest_{i}" for i in range(n_rest))) if n_rest else torch.zeros(n, 0)
    params = {
        "means": col("x", "y", "z"),
        "log_scales": col("scale_0", "scale_1", "scale_2"),
        "quats": col("rot_0", "rot_1", "rot_2", "rot_3"),
        "opacity_logits": col("opacity")[:, 0],
        "sh_dc": col("f_dc_0", "f_dc_1", "f_dc_2"),
        "sh_rest": rest.reshape(n, 3, k - 1).transpose(1, 2).contiguous(),
    }
    for name, value in params.items():
        if not bool(torch.isfinite(value).all()):
            raise PlyFormatError(f"{path}: {name} holds non-finite values")
    return params


def _check_frame(norm: Normalization) -> None:
    if norm.rotated:
        raise UserError("the .ply frame conversion needs a normalisation without rotation (train gs with `frame` pvd)")


def to_world(params: dict[str, Tensor], norm: Normalization) -> dict[str, Tensor]:
    """Box-frame parameters -> the dataset's world frame (undoes ``norm``)."""
    _check_frame(norm)
    out = {k: v.detach().cpu().float().clone() for k, v in params.items()}
    out["means"] = norm.to_world(out["means"].double()).float()
    out["log_scales"] = out["log_scales"] - math.log(norm.scale)
    return out


def to_box(params: dict[str, Tensor], norm: Normalization) -> dict[str, Tensor]:
    """World-frame parameters -> pvd's box (applies ``norm``)."""
    _check_frame(norm)
    out = {k: v.clone() for k, v in params.items()}
    out["means"] = norm.to_box(out["means"].double()).float()
    out["log_scales"] = out["log_scales"] + math.log(norm.scale)
    return out
