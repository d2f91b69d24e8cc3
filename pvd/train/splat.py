"""Teacher training of Gaussian fields (``gs``) from whole images: the 3DGS schedule, simplified.

One step renders one random training view by rasterisation (:mod:`pvd.render.splat`) over a random
per-pixel background (RGBA data; white otherwise, as :mod:`pvd.train.teacher`), takes the L1 loss
against the ground truth composited over the same background, and steps Adam with per-part
learning rates (the means' decaying exponentially to ``lr * lr_final_ratio``). After the step
(Kerbl et al. 2023, "adaptive density control"):

* the norm of each visible Gaussian's view-space position gradient (pixels scaled to NDC, ``W / 2``
  and ``H / 2`` per unit) is accumulated;
* every ``densify_every`` steps in ``[densify_from, densify_until)``: Gaussians whose mean gradient
  exceeds ``grad_threshold`` are cloned (largest scale <= ``percent_dense`` x scene extent) or split
  into two samples of themselves with scales / 1.6 (larger ones); Gaussians with opacity below
  ``prune_opacity`` or wider than ``0.1`` x extent are removed; at most ``max_gaussians`` are kept
  (the highest gradients are densified first);
* every ``reset_every`` steps the opacities are capped at 0.01;
* every ``sh_every`` steps the active SH degree rises by one, up to the field's.

The scene extent is 1.1 x the largest distance of a training camera from their mean (box units).
Densification replaces the field's parameters by new ones of the new size in the engine's
optimiser (its moments edited alongside), so checkpoints and ``--resume`` work unchanged.
The occupancy grid is rebuilt from the field's point density at the end, for the volume renderer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from pvd.data.scene import SceneSplit
from pvd.fields.gs import PARAMS, GSField, logit
from pvd.model import Model
from pvd.ops.splat import quat_to_rotmat
from pvd.train.loop import AdamW
from pvd.train.teacher import TeacherConfig

RESET_OPACITY = 0.01


@dataclass(frozen=True)
class GSTeacherConfig(TeacherConfig):
    """The schedule of ``gs`` teachers (see the module doc); ``lr`` is the means' learning rate
    (box units), ``batch_rays`` is unused (one whole view per step)."""

    lr: float = 5e-4
    lr_final_ratio: float = 0.01
    weight_decay: float = 0.0
    lr_sh: float = 2.5e-3
    lr_opacity: float = 5e-2
    lr_scale: float = 5e-3
    lr_rotation: float = 1e-3
    densify_from: int = 500
    densify_until: int = 15000
    densify_every: int = 100
    reset_every: int = 3000
    sh_every: int = 1000
    grad_threshold: float = 2e-4
    percent_dense: float = 0.01
    prune_opacity: float = 0.005
    max_gaussians: int = 3_000_000


def scene_extent(split: SceneSplit, model: Model) -> float:
    """1.1 x the largest distance of a training camera centre from their mean, in box units."""
    centers = model.normalization.to_box(split.cameras.centers().double())
    return 1.1 * float((centers - centers.mean(0)).norm(dim=-1).max()) or 1.0


def gs_optimizer(field: GSField, cfg: GSTeacherConfig):
    """Adam (eps 1e-15; the engine's AdamW without weight decay, which is Adam and runs without
    torch's dynamo wrapper) with one group per parameter and the means' exponential decay."""
    rates = {
        "means": cfg.lr,
        "log_scales": cfg.lr_scale,
        "quats": cfg.lr_rotation,
        "opacity_logits": cfg.lr_opacity,
        "sh_dc": cfg.lr_sh,
        "sh_rest": cfg.lr_sh / 20,
    }
    groups = [{"params": [getattr(field, k)], "lr": rates[k], "name": k} for k in PARAMS]
    opt = AdamW(groups, eps=1e-15, weight_decay=0.0)
    decay = [
        (lambda step: cfg.lr_final_ratio ** min(step / max(cfg.iters, 1), 1.0)) if k == "means" else (lambda step: 1.0)
        for k in PARAMS
    ]
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, decay)


@torch.no_grad()
def edit_gaussians(field: GSField, opt: torch.optim.Optimizer, keep: Tensor, new: dict[str, Tensor] | None) -> None:
    """Keep the Gaussians where ``keep`` ([n] bool) is set and append ``new`` (pre-activation values
    per :data:`PARAMS`); Adam's moments follow (zeros for the new ones)."""
    for name in PARAMS:
        p = getattr(field, name)
        parts = [p.data[keep]] + ([new[name].to(p.dtype)] if new is not None else [])
        q = torch.nn.Parameter(torch.cat(parts))
        state = opt.state.pop(p, None)
        if state:
            for key in ("exp_avg", "exp_avg_sq"):
                added = [torch.zeros_like(new[name])] if new is not None else []
                state[key] = torch.cat([state[key][keep]] + added)
            opt.state[q] = state
        for group in opt.param_groups:
            group["params"] = [q if x is p else x for x in group["params"]]
        setattr(field, name, q)
    field._index = None


class GSTeacherTask:
    """One ``gs`` teacher step and the adaptive density control after it (see the module doc)."""

    def __init__(self, model: Model, split: SceneSplit, cfg: GSTeacherConfig, generator, device, optimizer):
        self.model, self.split, self.cfg, self.gen, self.device = model, split, cfg, generator, device
        self.opt = optimizer
        self.field: GSField = model.field
        self.extent = scene_extent(split, model)
        self.label = "train gs"
        self.losses: list[float] = []
        n = len(self.field)
        self.grad_sum = torch.zeros(n, device=device)
        self.grad_count = torch.zeros(n, device=device)
        self._loss: Tensor | None = None
        self._out = None
        if cfg.sh_every > 0:
            self.field.active_degree.fill_(0)

    def loss(self, step: int, log) -> Tensor:
        cams, device = self.split.cameras, self.device
        view = int(torch.randint(len(self.split), (1,), generator=self.gen))
        image = self.split.images[view].to(device)  # [H, W, C]
        if self.split.has_alpha:
            bg = torch.rand(cams.height, cams.width, 3, generator=self.gen).to(device)
            target = image[..., :3] * image[..., 3:4] + bg * (1 - image[..., 3:4])
        else:
            bg, target = torch.ones(3, device=device), image[..., :3]
        out = self.model.renderer.render_camera(cams, view, self.model.normalization, bg)
        self._out = out
        self._loss = (out.rgb - target).abs().mean()
        self._mse = float(((out.rgb.detach() - target) ** 2).mean())
        return self._loss

    def lr_factor(self, step: int) -> float:
        return 1.0

    def after_step(self, step: int) -> dict[str, float]:
        cfg, field, done = self.cfg, self.field, step + 1
        out, self._out = self._out, None
        self.losses.append(self._mse)
        if done < cfg.densify_until and out is not None and out.means2d is not None and out.means2d.grad is not None:
            cams = self.split.cameras
            g = out.means2d.grad * out.means2d.new_tensor([0.5 * cams.width, 0.5 * cams.height])
            visible = out.radii > 0
            self.grad_sum[visible] += g[visible].norm(dim=-1)
            self.grad_count[visible] += 1
        if cfg.densify_every > 0 and cfg.densify_from <= done < cfg.densify_until and done % cfg.densify_every == 0:
            self.densify()
        if cfg.reset_every > 0 and done % cfg.reset_every == 0 and done < cfg.densify_until:
            with torch.no_grad():
                field.opacity_logits.data.clamp_(max=logit(RESET_OPACITY))
                state = self.opt.state.get(field.opacity_logits)
                if state:
                    state["exp_avg"].zero_()
                    state["exp_avg_sq"].zero_()
        if cfg.sh_every > 0 and done % cfg.sh_every == 0 and field.degree < field.config.sh_degree:
            field.active_degree += 1
        return {
            "loss": float(self._loss.detach()),
            "psnr": -10 * math.log10(max(self._mse, 1e-10)),
            "n": float(len(field)),
        }

    @torch.no_grad()
    def densify(self) -> None:
        cfg, field = self.cfg, self.field
        grads = self.grad_sum / self.grad_count.clamp_min(1)
        scales = torch.exp(field.log_scales)
        big = scales.max(dim=1).values > cfg.percent_dense * self.extent
        hot = grads >= cfg.grad_threshold
        room = max(0, cfg.max_gaussians - len(field))
        if int(hot.sum()) > room:  # densify the highest gradients that fit
            top = torch.topk(torch.where(hot, grads, torch.zeros_like(grads)), room).indices
            hot = torch.zeros_like(hot)
            hot[top] = True
        clone, split = hot & ~big, hot & big
        new = {name: getattr(field, name).data[clone] for name in PARAMS}
        idx = split.nonzero().squeeze(1)
        if idx.numel():
            rot = quat_to_rotmat(torch.nn.functional.normalize(field.quats.data[idx], dim=-1))
            parts = []
            for _ in range(2):
                offset = torch.randn(idx.numel(), 3, generator=self.gen).to(rot) * scales[idx]
                part = {name: getattr(field, name).data[idx] for name in PARAMS}
                part["means"] = part["means"] + (rot @ offset[:, :, None]).squeeze(2)
                part["log_scales"] = part["log_scales"] - math.log(1.6)
                parts.append(part)
            new = {name: torch.cat([new[name]] + [p[name] for p in parts]) for name in PARAMS}
        opacity = torch.sigmoid(field.opacity_logits.data)
        keep = ~split & (opacity >= cfg.prune_opacity) & (scales.max(dim=1).values <= 0.1 * self.extent)
        n_new = new["means"].shape[0]
        keep_new = torch.ones(n_new, dtype=torch.bool, device=keep.device)
        if n_new:
            keep_new = torch.sigmoid(new["opacity_logits"]) >= cfg.prune_opacity
        edit_gaussians(field, self.opt, keep, {k: v[keep_new] for k, v in new.items()})
        n = len(field)
        self.grad_sum = torch.zeros(n, device=self.device)
        self.grad_count = torch.zeros(n, device=self.device)

    def finished(self, done: int, curve: list[dict]) -> bool:
        return False

    def diverged(self, step: int, value: float) -> str:
        return (
            f"training of gs diverged at step {step}: loss is {value}; try a lower learning rate (lr) or another seed"
        )

    def state_dict(self) -> dict:
        return {"losses": list(self.losses), "grad_sum": self.grad_sum.cpu(), "grad_count": self.grad_count.cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.losses = list(state["losses"])
        self.grad_sum = state["grad_sum"].to(self.device)
        self.grad_count = state["grad_count"].to(self.device)
