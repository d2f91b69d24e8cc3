"""Lens distortion of captured images, as COLMAP / nerfstudio / instant-ngp write it.

Coordinates are *normalised image coordinates* ``x = (u - cx) / fx``, ``y = (v - cy) / fy`` with
``u`` to the right and ``v`` down (pixel convention, as OpenCV). A model maps the undistorted
(pinhole) point ``(x, y)`` to where the lens puts it, ``(xd, yd)``:

* ``OPENCV`` (radial-tangential): ``r2 = x^2 + y^2``, ``radial = 1 + k1 r2 + k2 r2^2 + k3 r2^3``,
  ``xd = x radial + 2 p1 x y + p2 (r2 + 2 x^2)``, ``yd = y radial + p1 (r2 + 2 y^2) + 2 p2 x y``.
* ``OPENCV_FISHEYE`` (equidistant): ``r = |(x, y)|``, ``theta = atan(r)``,
  ``theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)``, ``(xd, yd) = (x, y) theta_d / r``.

Rays are cast through the *undistorted* direction of each (distorted) pixel: :func:`undistort`
inverts the model by Newton's method in float64 to ``TOLERANCE`` (normalised units; 1e-9 is far
below a thousandth of a pixel for any focal length under 10^6 px). Where it does not converge (a
model that folds over in the image corners) the caller gets the mask of failed points, and
:func:`check_invertible` turns failures at the image border into a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from pvd.errors import UserError

MODELS = ("PINHOLE", "SIMPLE_PINHOLE", "OPENCV", "OPENCV_FISHEYE")
COEFFS = ("k1", "k2", "k3", "k4", "p1", "p2")
TOLERANCE = 1e-9
ITERATIONS = 30


@dataclass(frozen=True)
class Distortion:
    """A lens model and its per-view coefficients.

    Attributes:
        model: ``OPENCV`` or ``OPENCV_FISHEYE``.
        coeffs: [n_views, 6] float64 ``k1 k2 k3 k4 p1 p2``.
    """

    model: str
    coeffs: Tensor

    def __getitem__(self, idx) -> Distortion:
        return Distortion(self.model, self.coeffs[idx])

    def to_dict(self) -> dict:
        return {"model": self.model, "coeffs": self.coeffs.tolist()}

    @staticmethod
    def from_dict(d: dict) -> Distortion:
        return Distortion(str(d["model"]), torch.tensor(d["coeffs"], dtype=torch.float64))


def check_model(model: str, coeffs: dict, where: str) -> None:
    """Reject unknown models and coefficients a model cannot use (names both)."""
    if model not in MODELS:
        raise UserError(f"{where}: camera_model {model!r} is not supported; supported: {', '.join(MODELS)}")
    used = {k for k, v in coeffs.items() if v}
    allowed = {"OPENCV": {"k1", "k2", "k3", "p1", "p2"}, "OPENCV_FISHEYE": {"k1", "k2", "k3", "k4"}}.get(model, set())
    extra = sorted(used - allowed)
    if extra:
        raise UserError(
            f"{where}: camera_model {model} has no coefficient(s) {', '.join(extra)} "
            f"(it uses {', '.join(sorted(allowed)) or 'none'}); for k4..k6 of OpenCV's rational "
            "model undistort the images first"
        )


def distort(model: str, coeffs: Tensor, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Undistorted normalised points [n] (coefficients [n, 6]) -> distorted points [n]."""
    k1, k2, k3, k4, p1, p2 = coeffs.unbind(-1)
    if model == "OPENCV_FISHEYE":
        r = torch.sqrt(x * x + y * y)
        theta = torch.atan(r)
        t2 = theta * theta
        theta_d = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
        factor = torch.where(r > 1e-12, theta_d / r.clamp_min(1e-12), torch.ones_like(r))
        return x * factor, y * factor
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    return (x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x), y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y)


def undistort(model: str, coeffs: Tensor, xd: Tensor, yd: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Invert :func:`distort`: distorted points [n] -> (x [n], y [n], converged [n] bool), float64."""
    coeffs = coeffs.double()
    xd, yd = xd.double(), yd.double()
    x, y = xd.clone(), yd.clone()
    eps = 1e-7
    for _ in range(ITERATIONS):
        fx, fy = distort(model, coeffs, x, y)
        rx, ry = fx - xd, fy - yd
        ax, ay = distort(model, coeffs, x + eps, y)
        bx, by = distort(model, coeffs, x, y + eps)
        j11, j21 = (ax - fx) / eps, (ay - fy) / eps
        j12, j22 = (bx - fx) / eps, (by - fy) / eps
        det = j11 * j22 - j12 * j21
        safe = det.abs() > 1e-12
        det = torch.where(safe, det, torch.ones_like(det))
        x = torch.where(safe, x - (j22 * rx - j12 * ry) / det, x)
        y = torch.where(safe, y - (j11 * ry - j21 * rx) / det, y)
    fx, fy = distort(model, coeffs, x, y)
    converged = torch.isfinite(x) & torch.isfinite(y) & ((fx - xd).abs() + (fy - yd).abs() < TOLERANCE * 10)
    return x, y, converged


def check_invertible(
    distortion: Distortion,
    fx: Tensor,
    fy: Tensor,
    cx: Tensor,
    cy: Tensor,
    width: int,
    height: int,
    where: str,
    samples: int = 64,
) -> None:
    """Raise a clear error when some view's distortion cannot be inverted along its image border."""
    t = (torch.arange(samples, dtype=torch.float64) + 0.5) / samples
    u = torch.cat([t * width, t * width, torch.zeros(samples), torch.full((samples,), float(width))])
    v = torch.cat([torch.zeros(samples), torch.full((samples,), float(height)), t * height, t * height])
    for view in range(len(fx)):
        xd = (u - float(cx[view])) / float(fx[view])
        yd = (v - float(cy[view])) / float(fy[view])
        coeffs = distortion.coeffs[view].expand(len(u), 6)
        x, y, ok = undistort(distortion.model, coeffs, xd, yd)
        if not bool(ok.all()):
            bad = int((~ok).nonzero()[0])
            raise UserError(
                f"{where}: the {distortion.model} distortion {distortion.coeffs[view].tolist()} of "
                f"view {view} cannot be inverted at pixel ({float(u[bad]):.0f}, {float(v[bad]):.0f}) "
                "of the image border: the model folds over there; check the coefficients"
            )
