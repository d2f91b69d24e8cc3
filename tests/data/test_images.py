import numpy as np
import pytest
import torch

from pvd.data.images import area_downscale, image_size, read_image, read_images
from pvd.data.scene import DataError


def test_read_image_channels_and_ranges(tmp_path, write_png):
    rgba = np.random.default_rng(0).integers(0, 256, (5, 7, 4), dtype=np.uint8)
    img = read_image(write_png(tmp_path / "rgba.png", rgba))
    assert img.dtype == np.float32 and img.shape == (5, 7, 4)
    np.testing.assert_allclose(img, rgba / 255.0, atol=1e-7)
    assert image_size(tmp_path / "rgba.png") == (7, 5)

    grey = read_image(write_png(tmp_path / "grey.png", rgba[..., 0]))
    assert grey.shape == (5, 7, 3) and np.array_equal(grey[..., 0], grey[..., 2])
    grey_alpha = read_image(write_png(tmp_path / "la.png", rgba[..., :2]))
    assert grey_alpha.shape == (5, 7, 4)
    np.testing.assert_allclose(grey_alpha[..., 3], rgba[..., 1] / 255.0, atol=1e-7)
    deep = read_image(write_png(tmp_path / "deep.png", np.full((2, 3), 65535, np.uint16)))
    assert deep.shape == (2, 3, 3) and float(deep.min()) == 1.0


def test_bad_images_name_the_file(tmp_path, write_png):
    with pytest.raises(DataError, match="missing.png: image file not found"):
        read_image(tmp_path / "missing.png")
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG this is not a png" * 10)
    with pytest.raises(DataError, match="garbage.png: unreadable image"):
        read_image(garbage)
    full = write_png(tmp_path / "full.png", np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    cut = tmp_path / "cut.png"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(DataError, match="cut.png: unreadable image"):
        read_image(cut)
    stub = tmp_path / "stub.png"
    stub.write_text("full.png")
    with pytest.raises(DataError, match="symbolic link stored as text"):
        image_size(stub)


def test_area_downscale_averages_blocks_and_crops_the_remainder():
    img = np.random.default_rng(2).random((7, 9, 3), dtype=np.float32)
    out = area_downscale(img, 2)
    assert out.shape == (3, 4, 3)
    np.testing.assert_allclose(out[1, 2], img[2:4, 4:6].mean(axis=(0, 1)), rtol=1e-6)
    assert area_downscale(img, 1) is img
    with pytest.raises(DataError, match="cannot downscale"):
        area_downscale(img, 8)


def test_rgba_downscale_commutes_with_compositing():
    rng = np.random.default_rng(3)
    img = rng.random((8, 8, 4), dtype=np.float32)
    img[..., 3] = (rng.random((8, 8)) > 0.5) * rng.random((8, 8))  # many clear pixels
    img[:4, :4, 3] = 0  # one fully clear block
    small = area_downscale(img, 4)
    for bg in (np.zeros(3), np.ones(3), rng.random(3)):
        full_comp = img[..., :3] * img[..., 3:] + bg * (1 - img[..., 3:])
        small_comp = small[..., :3] * small[..., 3:] + bg * (1 - small[..., 3:])
        np.testing.assert_allclose(small_comp, area_downscale(full_comp.astype(np.float32), 4), atol=1e-6)
    assert small[0, 0, 3] == 0
    np.testing.assert_allclose(small[0, 0, :3], img[:4, :4, :3].mean(axis=(0, 1)), rtol=1e-6)


def test_read_images_stacks_and_checks_every_file(tmp_path, write_png):
    rng = np.random.default_rng(4)
    files = [write_png(tmp_path / f"{i}.png", rng.integers(0, 256, (6, 8, 4), dtype=np.uint8)) for i in range(5)]
    out = read_images(files, (8, 6), downscale=2, workers=2, progress=False)
    assert out.shape == (5, 3, 4, 4) and out.dtype == torch.float32
    torch.testing.assert_close(out[3], torch.from_numpy(area_downscale(read_image(files[3]), 2)))
    write_png(tmp_path / "3.png", rng.integers(0, 256, (6, 9, 4), dtype=np.uint8))
    with pytest.raises(DataError, match=r"3.png: image is 9x6, expected 8x6"):
        read_images(files, (8, 6), progress=False)
    write_png(tmp_path / "3.png", rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
    with pytest.raises(DataError, match="3.png: 3 channels"):
        read_images(files, (8, 6), progress=False)
