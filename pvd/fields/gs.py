"""``gs``: 3D Gaussian splatting (Kerbl et al. 2023): a set of anisotropic Gaussians in the box.

Parameters (``n`` Gaussians; stored pre-activation as the original implementation does, so a
``.ply`` holds them as they are): ``means`` [n, 3] (box units), ``log_scales`` [n, 3], ``quats``
[n, 4] (``(w, x, y, z)``, normalised on use), ``opacity_logits`` [n], ``sh_dc`` [n, 3] and
``sh_rest`` [n, K - 1, 3] (SH coefficients of degrees up to ``config.sh_degree``, ``K = (degree +
1)^2``, band-major). The buffer ``active_degree`` is the SH degree in use (training ramps it up).
``n`` changes during training (densification): loading a state dict of another ``n`` resizes.

Images come from the rasteriser (:mod:`pvd.ops.splat`, :meth:`GSField.gaussians`). For the volume
renderer and distillation the field is also defined at points:

* density ``sigma(x) = sum_i k_i exp(-m_i(x)^2 / 2)`` over the Gaussians with Mahalanobis distance
  ``m_i < 3``, ``k_i = -log(1 - min(o_i, 0.99)) / (sqrt(2 pi) s_min,i)`` (scales raised to at least
  ``config.min_thickness`` first). A ray crossing a Gaussian
  along its thinnest axis through its centre then accumulates optical depth ``-log(1 - o_i)``, i.e.
  the splat's own alpha ``o_i``; flat Gaussians seen face-on (what 3DGS surfaces are made of) render
  about as the rasteriser draws them, thick ones seen edge-on come out somewhat more opaque;
* colour: the kernel-weighted mean ``sum_i k_i e_i c_i(d) / sum_i k_i e_i`` of the Gaussians' SH
  colours at the ray direction ``d`` (``c = clamp(SH(d) + 0.5, 0, 1)``); ``geo`` is the weighted
  SH coefficients, so the colour is linear in them as for ``tensors``. No feature: ``h = None``.

Point queries use :class:`GaussianIndex`, a uniform grid over the box listing, per cell, the
Gaussians whose 3-sigma box overlaps it (very large Gaussians are tested against every point), so
a query costs the Gaussians near the point, not ``n``. The index is rebuilt when the parameters
change (tracked by the tensors' versions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pvd.errors import UserError
from pvd.fields.base import Field
from pvd.ops.gs_points import GaussianIndex, gs_points
from pvd.ops.sh import sh_encode
from pvd.ops.splat import ALPHA_MAX, Gaussians, quat_to_rotmat

SH_C0 = 0.28209479177387814
CUTOFF2 = 9.0  # kernels end at 3 sigma
PARAMS = ("means", "log_scales", "quats", "opacity_logits", "sh_dc", "sh_rest")


@dataclass(frozen=True)
class GSConfig:
    """Sizes of the Gaussian field.

    Attributes:
        n_init: Gaussians at initialisation (uniform in the box unless set from points).
        sh_degree: highest SH degree (0..3).
        init_opacity: opacity of new Gaussians.
        init_extent: new Gaussians fill ``[-init_extent * bound, init_extent * bound]^3``.
        index_resolution: at most this many cells per axis of the point-query index (fewer when
            the Gaussians are large: a cell is half as wide as a typical Gaussian's 3-sigma radius).
        index_max_cells: Gaussians overlapping more cells than this are tested against every point.
        min_thickness: point queries widen every Gaussian to at least this standard deviation (box
            units, its optical depth kept): a volume renderer stepping ``dt`` resolves kernels of
            about ``dt / 2`` and more, while trained splats are often far thinner (tiny: 0.01 for
            its 0.018 step; with 0 the demo teacher's volume render was 20.7 dB against its splat
            render, with 0.01 26.9 dB).
    """

    n_init: int = 100_000
    sh_degree: int = 3
    init_opacity: float = 0.1
    init_extent: float = 1.0
    index_resolution: int = 64
    index_max_cells: int = 32768
    min_thickness: float = 0.0

    def __post_init__(self):
        if self.n_init < 1:
            raise UserError(f"gs field config: n_init must be >= 1, got {self.n_init!r}")
        if not 0 <= self.sh_degree <= 3:
            raise UserError(f"gs field config: sh_degree must be in 0..3, got {self.sh_degree!r}")
        if not 0 < self.init_opacity < 1:
            raise UserError(f"gs field config: init_opacity must be in (0, 1), got {self.init_opacity!r}")
        if not self.init_extent > 0:
            raise UserError(f"gs field config: init_extent must be > 0, got {self.init_extent!r}")
        if not self.min_thickness >= 0:
            raise UserError(f"gs field config: min_thickness must be >= 0, got {self.min_thickness!r}")
        if self.index_resolution < 1 or self.index_max_cells < 1:
            raise UserError("gs field config: index_resolution and index_max_cells must be >= 1")


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def density_weights(opacities: Tensor, scales: Tensor) -> Tensor:
    """[n] peak density ``k_i`` of each Gaussian's kernel (see the module doc)."""
    tau = -torch.log1p(-opacities.clamp_max(ALPHA_MAX))
    return tau / (math.sqrt(2 * math.pi) * scales.min(dim=-1).values.clamp_min(1e-8))


class GSField(Field):
    """The Gaussian field (see the module doc)."""

    key = "gs"
    has_feature = False

    def __init__(self, config: GSConfig, bound: float, density_range=(-2.0, 7.0)):
        super().__init__(config, bound, density_range)
        n = config.n_init
        k = (config.sh_degree + 1) ** 2
        half = config.init_extent * self.bound
        spacing = 0.5 * 2 * half / n ** (1 / 3)  # about the mean distance to the 3 nearest neighbours
        self.means = nn.Parameter((torch.rand(n, 3) * 2 - 1) * half)
        self.log_scales = nn.Parameter(torch.full((n, 3), math.log(spacing)))
        self.quats = nn.Parameter(torch.tensor([1.0, 0.0, 0.0, 0.0]).repeat(n, 1))
        self.opacity_logits = nn.Parameter(torch.full((n,), logit(config.init_opacity)))
        self.sh_dc = nn.Parameter((torch.rand(n, 3) - 0.5) / SH_C0)
        self.sh_rest = nn.Parameter(torch.zeros(n, k - 1, 3))
        self.register_buffer("active_degree", torch.tensor(config.sh_degree, dtype=torch.long))
        self._index: tuple[tuple, GaussianIndex] | None = None

    # -- parameters ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.means.shape[0]

    @property
    def degree(self) -> int:
        return int(self.active_degree)

    def set_from(self, params: dict[str, Tensor]) -> None:
        """Replace every parameter (pre-activation values, names :data:`PARAMS`; ``n`` may change)."""
        n = params["means"].shape[0]
        for name in PARAMS:
            want = (n, *getattr(self, name).shape[1:])
            value = params[name]
            if tuple(value.shape) != want:
                raise UserError(f"gs parameters: {name} must have shape {list(want)}, got {list(value.shape)}")
            getattr(self, name).data = value.detach().to(self.means.device, torch.float32).clone()
        self._index = None

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + "means"
        if key in state_dict:  # resize to the stored number of Gaussians before copying
            n = state_dict[key].shape[0]
            for name in PARAMS:
                p = getattr(self, name)
                p.data = p.data.new_zeros((n, *p.shape[1:]))
            self._index = None
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def gaussians(self) -> Gaussians:
        """The activated Gaussians (differentiable), SH up to the active degree."""
        k = (self.degree + 1) ** 2
        sh = torch.cat([self.sh_dc[:, None, :], self.sh_rest[:, : k - 1]], dim=1)
        return Gaussians(
            means=self.means,
            quats=nn.functional.normalize(self.quats, dim=-1),
            scales=torch.exp(self.log_scales),
            opacities=torch.sigmoid(self.opacity_logits),
            sh=sh,
        )

    # -- point queries ------------------------------------------------------------------------
    def index(self) -> GaussianIndex:
        """The point-query index of the current parameters (rebuilt when they changed)."""
        key = tuple((p.data_ptr(), p._version, tuple(p.shape)) for p in (self.means, self.log_scales, self.quats))
        if self._index is None or self._index[0] != key:
            with torch.no_grad(), torch.autocast(self.means.device.type, enabled=False):
                # the covariances the queries use (scales raised to min_thickness): a widened thin
                # Gaussian reaches cells beyond its own 3-sigma box
                scales = torch.exp(self.log_scales).clamp_min(self.config.min_thickness)
                rot = quat_to_rotmat(nn.functional.normalize(self.quats, dim=-1)) * scales[:, None]
                covs = rot @ rot.transpose(1, 2)
            c = self.config
            self._index = (
                key,
                GaussianIndex(self.means.detach(), covs, self.bound, c.index_resolution, c.index_max_cells),
            )
        return self._index[1]

    def raw_density_and_feature(self, x: Tensor) -> tuple[Tensor, None, Tensor]:
        """[n, 3] box positions -> (s_raw [n], None, kernel-weighted SH coefficients [n, K * 3]).

        Always in float32 (autocast off): the precision matrices of thin Gaussians do not survive
        bfloat16. Queries without gradients run the native kernel (:func:`pvd.ops.gs_points.gs_points`).
        """
        with torch.autocast(x.device.type, enabled=False):
            x = x.float()
            g = self.gaussians()
            scales = g.scales.clamp_min(self.config.min_thickness)
            # per Gaussian once: the precision R S^-2 R^T as its 6 distinct entries, the peak density
            rot = quat_to_rotmat(g.quats) / scales[:, None, :]
            prec = rot @ rot.transpose(1, 2)
            prec6 = prec.reshape(-1, 9)[:, [0, 4, 8, 1, 2, 5]]
            peak = density_weights(g.opacities, scales)
            sigma, coeffs = gs_points(x, g.means, prec6, peak, g.sh.reshape(len(self), -1), self.index(), CUTOFF2)
            coeffs = coeffs / sigma.clamp_min(1e-12)[:, None]
            return torch.log(sigma.clamp_min(1e-12)), None, coeffs

    def color(self, geo: Tensor, d: Tensor) -> Tensor:
        """Weighted SH coefficients [n, K * 3], d [n, 3] -> rgb [n, 3] in [0, 1]."""
        k = geo.shape[1] // 3
        basis = sh_encode(d.to(geo.dtype), math.isqrt(k))  # [n, K]
        # a product and a sum over K (einsum ran a [1, K] x [K, 3] matrix product per point: 5 % of a
        # gs -> mlp step, and in bfloat16 under autocast)
        return ((geo.reshape(-1, k, 3) * basis[:, :, None]).sum(1) + 0.5).clamp(0.0, 1.0)
