"""Reference checkpoints built from the documented format alone, and the reference's lookups written
from it (docs/method.md, "The reference's checkpoint files").

Nothing here imports pvd's fields or ops: names, shapes and formulas are typed in from the spec, so
the import tests compare pvd's imported fields against an independent reading of the reference.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

# the documented offsets: bound 1, 128^3 grid, 1 cascade
HASH_OFFSETS = [
    0,
    4920,
    20552,
    63432,
    196088,
    585112,
    1109400,
    1633688,
    2157976,
    2682264,
    3206552,
    3730840,
    4255128,
    4779416,
    5303704,
]
PARAMS = {"hash": 10_616_496, "mlp": 443_548, "vm": 17_346_032, "tensors": 58_720_256}
GRID = 128


def _heads(g, sigma_in: int | None) -> dict:
    out = {}
    if sigma_in is not None:
        out["sigma_net.0.weight"] = torch.randn(64, sigma_in, generator=g) / math.sqrt(sigma_in)
        out["sigma_net.1.weight"] = torch.randn(16, 64, generator=g) / 8
    out["color_net.0.weight"] = torch.randn(64, 31, generator=g) / math.sqrt(31)
    out["color_net.1.weight"] = torch.randn(64, 64, generator=g) / 8
    out["color_net.2.weight"] = torch.randn(3, 64, generator=g) / 8
    return out


def field_state(arch: str, seed: int = 0) -> dict:
    """Random parameters with exactly the reference's names and shapes (the documented table)."""
    g = torch.Generator().manual_seed(seed)
    if arch == "hash":
        return {
            "encoder.embeddings": torch.rand(5303704, 2, generator=g) * 2 - 1,
            "encoder.offsets": torch.tensor(HASH_OFFSETS, dtype=torch.int32),
            **_heads(g, 28),
        }
    if arch == "mlp":
        shapes = [(256, 63), (256, 256), (256, 256), (256, 256), (256, 319), (256, 256), (256, 256), (28, 256)]
        out = {}
        for i, (o, n) in enumerate(shapes):
            out[f"nerf_mlp.{i}.weight"] = torch.randn(o, n, generator=g) * math.sqrt(2 / n)
            out[f"nerf_mlp.{i}.bias"] = torch.randn(o, generator=g) * 0.1
        return {**out, **_heads(g, 28)}
    if arch == "vm":
        out = {}
        for p in range(3):
            out[f"sigma_mat.{p}"] = torch.randn(1, 16, 300, 300, generator=g) * 0.5
            out[f"sigma_vec.{p}"] = torch.randn(1, 16, 300, 1, generator=g) * 0.5
            out[f"color_mat.{p}"] = torch.randn(1, 48, 300, 300, generator=g) * 0.5
            out[f"color_vec.{p}"] = torch.randn(1, 48, 300, 1, generator=g) * 0.5
        return {**out, "basis_mat.weight": torch.randn(15, 144, generator=g) / 12, **_heads(g, None)}
    if arch == "tensors":
        return {"tensor_volume.0": torch.randn(1, 28, 128, 128, 128, generator=g)}
    raise ValueError(arch)


def morton(i: int, j: int, k: int) -> int:
    """Bit b of i -> 3b, of j -> 3b + 1, of k -> 3b + 2."""
    out = 0
    for b in range(7):
        out |= ((i >> b) & 1) << (3 * b) | ((j >> b) & 1) << (3 * b + 1) | ((k >> b) & 1) << (3 * b + 2)
    return out


def grid_state(seed: int = 0, bound: float = 1.0) -> tuple[dict, float]:
    """Renderer buffers: a random Morton-ordered density grid with unseen cells (-1), its bitfield."""
    g = torch.Generator().manual_seed(seed + 100)
    n = GRID**3
    density = torch.rand(1, n, generator=g) ** 4 * 30
    density[torch.rand(1, n, generator=g) < 0.1] = -1.0
    mean = float(density.clamp(min=0).mean())
    bits = (density.reshape(-1) > min(mean, 10.0)).reshape(-1, 8).to(torch.int64)
    bitfield = (bits << torch.arange(8)).sum(1).to(torch.uint8)
    box = torch.tensor([-bound] * 3 + [bound] * 3)
    return {
        "aabb_train": box,
        "aabb_infer": box.clone(),
        "density_grid": density,
        "density_bitfield": bitfield,
        "step_counter": torch.zeros(16, 2, dtype=torch.int32),
    }, mean


def checkpoint(arch: str, seed: int = 0) -> dict:
    """A whole reference .pth payload."""
    grid, mean = grid_state(seed)
    out = {
        "model": {**field_state(arch, seed), **grid},
        "epoch": 300,
        "global_step": 30000,
        "stats": {"loss": [0.1], "valid_loss": [], "results": [], "checkpoints": [], "best_result": None},
        "mean_count": 200,
        "mean_density": mean,
    }
    if arch == "vm":
        out["resolution"] = [300, 300, 300]
    return out


# ------------------------------------------------------------------ the reference's lookups (docs/method.md)


def sh(d: Tensor, degree: int) -> Tensor:
    """torch-ngp's SH basis with its constants and signs; degree 3 (9 terms) or 4 (16)."""
    x, y, z = d.unbind(-1)
    x2, y2, z2 = x * x, y * y, z * z
    out = [
        torch.full_like(x, 0.28209479177387814),
        -0.48860251190291987 * y,
        0.48860251190291987 * z,
        -0.48860251190291987 * x,
        1.0925484305920792 * x * y,
        -1.0925484305920792 * y * z,
        0.94617469575755997 * z2 - 0.31539156525251999,
        -1.0925484305920792 * x * z,
        0.54627421529603959 * x2 - 0.54627421529603959 * y2,
    ]
    if degree == 4:
        out += [
            0.59004358992664352 * y * (-3.0 * x2 + y2),
            2.8906114426405538 * x * y * z,
            0.45704579946446572 * y * (1.0 - 5.0 * z2),
            0.3731763325901154 * z * (5.0 * z2 - 3.0),
            0.45704579946446572 * x * (1.0 - 5.0 * z2),
            1.4453057213202769 * z * (x2 - y2),
            0.59004358992664352 * x * (-x2 + 3.0 * y2),
        ]
    return torch.stack(out, -1)


def heads(m: dict, feat: Tensor, d: Tensor) -> Tensor:
    h = torch.cat([sh(d, 4), feat], -1)
    h = torch.relu(h @ m["color_net.0.weight"].double().T)
    h = torch.relu(h @ m["color_net.1.weight"].double().T)
    return torch.sigmoid(h @ m["color_net.2.weight"].double().T)


def hash_encode(m: dict, p: Tensor, bound: float = 1.0) -> Tensor:
    """The documented GridEncoder lookup, level by level, numpy integers for the hash."""
    pls = np.exp2(np.log2(2048 * bound / 16) / 13)
    S = np.float32(np.log2(pls))
    u = ((p + bound) / (2 * bound)).numpy().astype(np.float32)
    n = u.shape[0]
    table = m["encoder.embeddings"].double().numpy()
    offsets = m["encoder.offsets"].numpy().astype(np.int64)
    outside = ((u < 0) | (u > 1)).any(1)
    out = np.zeros((n, 28))
    for level in range(14):
        scale = np.float32(np.float32(2.0) ** (np.float32(level) * S)) * np.float32(16) - np.float32(1)
        R = math.ceil(scale) + 1
        rows = int(offsets[level + 1] - offsets[level])
        pos = u * scale + np.float32(0.5)
        g0 = np.floor(pos).astype(np.int64)
        frac = (pos - g0).astype(np.float64)
        acc = np.zeros((n, 2))
        for corner in range(8):
            bits = [(corner >> a) & 1 for a in range(3)]
            v = g0 + np.array(bits)
            w = np.prod([frac[:, a] if bits[a] else 1 - frac[:, a] for a in range(3)], axis=0)
            if (R + 1) ** 3 <= rows:
                idx = v[:, 0] + v[:, 1] * (R + 1) + v[:, 2] * (R + 1) ** 2
            else:
                vv = v.astype(np.uint64)
                idx = (vv[:, 0] * np.uint64(1)) ^ (vv[:, 1] * np.uint64(2654435761)) ^ (vv[:, 2] * np.uint64(805459861))
                idx = (idx & np.uint64(0xFFFFFFFF)).astype(np.int64)
            rowi = offsets[level] + idx % rows
            acc += w[:, None] * table[rowi]
        out[:, 2 * level : 2 * level + 2] = acc
    out[outside] = 0.0
    return torch.from_numpy(out)


def sigma_net(m: dict, enc: Tensor) -> Tensor:
    return torch.relu(enc @ m["sigma_net.0.weight"].double().T) @ m["sigma_net.1.weight"].double().T


def reference_field(arch: str, m: dict, p: Tensor, d: Tensor, bound: float = 1.0) -> tuple[Tensor, Tensor]:
    """(clamped log-density [n], rgb [n, 3]) of the reference model ``m`` at box points ``p``."""
    p, d = p.double(), d.double()
    if arch == "hash":
        h = sigma_net(m, hash_encode(m, p, bound))
        return h[:, 0].clamp(-2, 7), heads(m, h[:, 1:], d)
    if arch == "mlp":
        pe = [p] + [f(p * 2.0**k) for k in range(10) for f in (torch.sin, torch.cos)]
        x = inp = torch.cat(pe, -1)
        for i in range(8):
            x = x @ m[f"nerf_mlp.{i}.weight"].double().T + m[f"nerf_mlp.{i}.bias"].double()
            if i != 7:
                x = torch.relu(x)
            if i == 3:
                x = torch.cat([inp, x], -1)
        h = sigma_net(m, x)
        return h[:, 0].clamp(-2, 7), heads(m, h[:, 1:], d)
    c = p / bound  # [-1, 1]
    if arch == "vm":

        def bilinear(img, a, b):  # img [C, H, W]; a along W, b along H
            H, W = img.shape[1:]
            fx, fy = (a + 1) / 2 * (W - 1), (b + 1) / 2 * (H - 1)
            x0 = fx.floor().clamp(0, max(W - 2, 0)).long()
            y0 = fy.floor().clamp(0, max(H - 2, 0)).long()
            tx, ty = fx - x0, fy - y0
            x1 = (x0 + 1).clamp(max=W - 1)
            y1 = (y0 + 1).clamp(max=H - 1)
            return (
                img[:, y0, x0] * (1 - tx) * (1 - ty)
                + img[:, y0, x1] * tx * (1 - ty)
                + img[:, y1, x0] * (1 - tx) * ty
                + img[:, y1, x1] * tx * ty
            )  # [C, n]

        pairs, lines = [(0, 1), (0, 2), (1, 2)], [2, 1, 0]
        sigma = 0
        feats = []
        zero = torch.zeros_like(c[:, 0])
        for i in range(3):
            a, b = pairs[i]
            plane = bilinear(m[f"sigma_mat.{i}"][0].double(), c[:, a], c[:, b])
            line = bilinear(m[f"sigma_vec.{i}"][0].double(), zero, c[:, lines[i]])
            sigma = sigma + (plane * line).sum(0)
            feats.append(
                bilinear(m[f"color_mat.{i}"][0].double(), c[:, a], c[:, b])
                * bilinear(m[f"color_vec.{i}"][0].double(), zero, c[:, lines[i]])
            )
        f = torch.cat(feats, 0).T @ m["basis_mat.weight"].double().T
        return sigma.clamp(-2, 7), heads(m, f, d)
    if arch == "tensors":
        vol = m["tensor_volume.0"][0].double()  # [28, D (z), H (y), W (x)]
        R = vol.shape[1]
        f = (c + 1) / 2 * (R - 1)
        i0 = f.floor().clamp(0, R - 2).long()
        t = f - i0
        val = 0
        for corner in range(8):
            bx, by, bz = corner & 1, (corner >> 1) & 1, (corner >> 2) & 1
            w = (t[:, 0] if bx else 1 - t[:, 0]) * (t[:, 1] if by else 1 - t[:, 1]) * (t[:, 2] if bz else 1 - t[:, 2])
            val = val + w * vol[:, i0[:, 2] + bz, i0[:, 1] + by, i0[:, 0] + bx]
        val = val.T  # [n, 28]
        rgb = torch.sigmoid((val[:, 1:].reshape(-1, 3, 9) * sh(d, 3)[:, None, :]).sum(-1))
        return val[:, 0].clamp(-2, 7), rgb
    raise ValueError(arch)
