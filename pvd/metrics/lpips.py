"""LPIPS v0.1 (Zhang et al. 2018) with AlexNet and VGG backbones, through the ``lpips`` package.

The package ships its calibrated linear layers; the ImageNet backbones are torchvision's files
``alexnet-owt-7be5be79.pth`` and ``vgg16-397923af.pth``, read here from
``$TORCH_HOME/hub/checkpoints/`` (torch's hub directory). This module never downloads anything:
the trunk is built randomly initialised and the backbone file, when present, is loaded into it.
When the file is missing or unreadable the metric is *unavailable* — :func:`load_lpips` returns
``None`` for that backbone with the reason and prints one warning line naming the file and the
directory — never a crash and never a made-up number (``pvd data weights`` fetches the files).

Models are built lazily on first use and cached per (backbone, device). Images are [H, W, 3] in
[0, 1], mapped to [-1, 1] before the network; a distance of 0 means identical images.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from pvd.metrics.psnr import ArrayLike, check_pair

LPIPS_NETS = ("alex", "vgg")
BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}
BACKBONE_URLS = {net: f"https://download.pytorch.org/models/{name}" for net, name in BACKBONE_FILES.items()}
# Smallest image side each backbone's pooling stack accepts (checked in tests/metrics/test_lpips.py).
MIN_SIDE = {"alex": 31, "vgg": 16}

_CACHE: dict[tuple[str, str], Lpips | LpipsUnavailable] = {}
_WARNED: set[str] = set()


class LpipsUnavailable(Exception):
    """The backbone weights for an LPIPS network cannot be used; ``str(exc)`` says why."""


def checkpoints_dir() -> Path:
    """Where torchvision keeps backbone files: ``$TORCH_HOME/hub/checkpoints`` (torch's default)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def backbone_path(net: str) -> Path:
    """The backbone file LPIPS-``net`` needs."""
    _check_net(net)
    return checkpoints_dir() / BACKBONE_FILES[net]


def _check_net(net: str) -> None:
    if net not in LPIPS_NETS:
        raise ValueError(f"LPIPS network {net!r} is not one of {LPIPS_NETS}")


def _build_module(net: str, seed: int) -> nn.Module:
    """LPIPS v0.1 with packaged linear layers and a trunk randomly initialised from ``seed``."""
    import lpips

    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's deprecation note for ``pretrained=``
        torch.manual_seed(seed)
        module = lpips.LPIPS(net=net, version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    return module.eval()


def _load_backbone(module: nn.Module, net: str, path: Path) -> None:
    """Copy torchvision ``features.*`` weights from ``path`` into the LPIPS trunk slices."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # any unreadable file means "unavailable", reported with its cause
        raise LpipsUnavailable(f"backbone file {path} is unreadable ({type(exc).__name__})") from None
    target = {}
    for slice_name, block in module.net.named_children():
        for idx, layer in block.named_children():
            for pname in dict(layer.named_parameters(recurse=False)):
                target[f"features.{idx}.{pname}"] = f"{slice_name}.{idx}.{pname}"
    missing = sorted(k for k in target if k not in state)
    if missing:
        raise LpipsUnavailable(f"backbone file {path} lacks {missing[:2]}...: not torchvision's {net} weights")
    try:
        module.net.load_state_dict({dst: state[src] for src, dst in target.items()}, strict=True)
    except RuntimeError:
        raise LpipsUnavailable(f"backbone file {path} does not fit torchvision's {net} layers") from None


class Lpips:
    """LPIPS v0.1 distance with one backbone on one device.

    Args:
        net: ``alex`` or ``vgg``.
        device: torch device for the network.
        backbone: ``pretrained`` (load the torchvision file; raises :class:`LpipsUnavailable` when
            it is missing or unreadable) or ``random`` (a deterministic random trunk from ``seed``,
            for testing the plumbing; its numbers are not LPIPS).
        seed: seed of the random trunk.
    """

    def __init__(self, net: str, device: str | torch.device = "cpu", backbone: str = "pretrained", seed: int = 0):
        _check_net(net)
        if backbone not in ("pretrained", "random"):
            raise ValueError(f"backbone must be 'pretrained' or 'random', got {backbone!r}")
        path = backbone_path(net)
        if backbone == "pretrained" and not path.is_file():
            raise LpipsUnavailable(f"backbone file {path.name} is not in {path.parent}")
        module = _build_module(net, seed)
        if backbone == "pretrained":
            _load_backbone(module, net, path)
        self.net = net
        self.device = torch.device(device)
        self.module = module.to(self.device)

    def __call__(self, pred: ArrayLike, gt: ArrayLike) -> float:
        """Distance between two [H, W, 3] images in [0, 1] (sides >= ``MIN_SIDE[net]``)."""
        p, g = check_pair(pred, gt)
        if p.ndim != 3 or p.shape[-1] != 3:
            raise ValueError(f"LPIPS needs [H, W, 3] RGB images, got {tuple(p.shape)}")
        if min(p.shape[:2]) < MIN_SIDE[self.net]:
            raise ValueError(
                f"LPIPS-{self.net} needs image sides >= {MIN_SIDE[self.net]} px, got {p.shape[1]}x{p.shape[0]}"
            )
        with torch.no_grad():
            d = self.module(self._to_input(p), self._to_input(g))
        return float(d.reshape(()))

    def _to_input(self, img: Tensor) -> Tensor:
        """[H, W, 3] in [0, 1] -> [1, 3, H, W] float32 in [-1, 1] on the network's device."""
        return (img.to(self.device, torch.float32).permute(2, 0, 1)[None] * 2 - 1).contiguous()


def get_lpips(net: str, device: str | torch.device = "cpu") -> Lpips:
    """The cached pretrained LPIPS-``net`` on ``device``; raises :class:`LpipsUnavailable` (also cached)."""
    key = (net, str(torch.device(device)))
    if key not in _CACHE:
        try:
            _CACHE[key] = Lpips(net, device)
        except LpipsUnavailable as exc:
            _CACHE[key] = exc
    entry = _CACHE[key]
    if isinstance(entry, LpipsUnavailable):
        raise entry
    return entry


def clear_cache() -> None:
    """Forget cached models and failures (e.g. after placing the backbone files)."""
    _CACHE.clear()
    _WARNED.clear()


@dataclass
class LpipsSet:
    """The LPIPS networks an evaluation uses.

    Attributes:
        models: backbone name -> model, or ``None`` when unavailable.
        unavailable_reason: why some backbone is unavailable (``None`` when all are usable).
    """

    models: dict[str, Lpips | None] = field(default_factory=dict)
    unavailable_reason: str | None = None

    def score(self, pred: ArrayLike, gt: ArrayLike) -> dict[str, float | None]:
        """backbone -> distance of one pair, ``None`` for unavailable backbones."""
        return {net: (m(pred, gt) if m is not None else None) for net, m in self.models.items()}


def load_lpips(nets: tuple[str, ...] = LPIPS_NETS, device: str | torch.device = "cpu", warn: bool = True) -> LpipsSet:
    """Load the pretrained ``nets``; missing ones become ``None`` with one warning line on stderr."""
    models: dict[str, Lpips | None] = {}
    reasons = []
    for net in nets:
        try:
            models[net] = get_lpips(net, device)
        except LpipsUnavailable as exc:
            models[net] = None
            reasons.append(f"lpips_{net}: {exc}")
    if not reasons:
        return LpipsSet(models)
    reason = "; ".join(reasons)
    missing = [BACKBONE_FILES[n] for n, m in models.items() if m is None]
    message = (
        f"warning: LPIPS unavailable ({reason}); place {', '.join(missing)} in "
        f"{checkpoints_dir()} (`pvd data weights` downloads them); reporting null"
    )
    if warn and message not in _WARNED:
        _WARNED.add(message)
        print(message, file=sys.stderr)
    return LpipsSet(models, reason)
