import numpy as np
import pytest
import torch

from pvd.metrics import BACKBONE_FILES, Lpips, LpipsUnavailable, load_lpips
from pvd.metrics import lpips as lpips_mod


@pytest.fixture(scope="module")
def alex_random():
    """LPIPS-alex with a deterministic random trunk (the packaged linear layers are real)."""
    return Lpips("alex", backbone="random", seed=0)


def _image(seed, h=48, w=40):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.4 * np.sin(xx[..., None] / 5.0 + yy[..., None] / 3.0 + np.arange(3))
    return np.clip(base + 0.05 * rng.standard_normal((h, w, 3)), 0, 1).astype(np.float32)


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    lpips_mod.clear_cache()
    yield tmp_path / "torch_home" / "hub" / "checkpoints"
    lpips_mod.clear_cache()


def test_identical_zero_symmetric_and_grows_with_distortion(alex_random):
    img = _image(0)
    assert alex_random(img, img.copy()) == pytest.approx(0.0, abs=1e-7)
    noise = np.random.default_rng(1).standard_normal(img.shape).astype(np.float32)
    small, large = np.clip(img + 0.05 * noise, 0, 1), np.clip(img + 0.3 * noise, 0, 1)
    d_small = alex_random(small, img)
    assert d_small == pytest.approx(alex_random(img, small), rel=1e-5)
    assert 0 < d_small < alex_random(large, img)


def test_random_trunk_is_deterministic_and_inputs_are_mapped_to_minus_one_one(alex_random):
    img, other = _image(2), _image(3)
    again = Lpips("alex", backbone="random", seed=0)
    assert again(img, other) == alex_random(img, other)
    assert Lpips("alex", backbone="random", seed=1)(img, other) != alex_random(img, other)
    # the package's own [0,1] -> [-1,1] switch gives the same number as our mapping
    to_t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None]  # noqa: E731
    with torch.no_grad():
        ref = alex_random.module(to_t(img), to_t(other), normalize=True)
    assert alex_random(img, other) == pytest.approx(float(ref), rel=1e-6)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_min_side_is_the_smallest_accepted(net):
    m = Lpips(net, backbone="random")
    side = lpips_mod.MIN_SIDE[net]
    ok = np.full((side, side, 3), 0.5, np.float32)
    assert m(ok, ok) == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match=f"sides >= {side}"):
        m(ok[1:, 1:], ok[1:, 1:])
    # the bound is tight: the network itself fails one pixel below it
    small = torch.zeros(1, 3, side - 1, side - 1)
    with pytest.raises(RuntimeError):
        with torch.no_grad():
            m.module(small, small)


def test_offline_without_backbone_is_null_with_one_warning(empty_torch_home, capsys):
    with pytest.raises(LpipsUnavailable, match=BACKBONE_FILES["alex"]):
        Lpips("alex")
    first = load_lpips(("alex", "vgg"))
    second = load_lpips(("alex", "vgg"))
    assert first.models == {"alex": None, "vgg": None}
    assert first.score(_image(0), _image(1)) == {"alex": None, "vgg": None}
    assert "alexnet-owt-7be5be79.pth" in first.unavailable_reason
    assert "vgg16-397923af.pth" in first.unavailable_reason
    assert second.unavailable_reason == first.unavailable_reason
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1  # one line, printed once per process
    assert str(empty_torch_home) in lines[0] and "alexnet-owt-7be5be79.pth" in lines[0]
    assert not empty_torch_home.exists() or not any(empty_torch_home.iterdir())  # nothing downloaded


def test_backbone_file_is_loaded_into_the_trunk(empty_torch_home):
    """A torchvision-layout file is picked up; a foreign or truncated one is 'unavailable'."""
    import torchvision

    empty_torch_home.mkdir(parents=True)
    torch.manual_seed(5)
    features = torchvision.models.alexnet().features.state_dict()
    torch.save({f"features.{k}": v for k, v in features.items()}, empty_torch_home / BACKBONE_FILES["alex"])
    model = load_lpips(("alex",)).models["alex"]
    assert model is not None
    torch.testing.assert_close(model.module.net.slice1[0].weight, features["0.weight"])
    torch.testing.assert_close(getattr(model.module.net.slice5, "10").bias, features["10.bias"])

    lpips_mod.clear_cache()
    torch.save({"something": torch.zeros(1)}, empty_torch_home / BACKBONE_FILES["alex"])
    with pytest.raises(LpipsUnavailable, match="not torchvision's alex"):
        Lpips("alex")
    (empty_torch_home / BACKBONE_FILES["alex"]).write_bytes(b"PK\x03\x04truncated")
    with pytest.raises(LpipsUnavailable, match="unreadable"):
        Lpips("alex")


def test_bad_arguments(alex_random):
    with pytest.raises(ValueError, match="squeeze"):
        Lpips("squeeze", backbone="random")
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        alex_random(np.zeros((40, 40)), np.zeros((40, 40)))
