"""Point clouds datasets ship: COLMAP points3D.bin / .txt and nerfstudio's PLY, written here by
independent writers (the formats' documented layouts), and their frames against the scene's cameras."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch
from plyfile import PlyData, PlyElement

from pvd.data import index_split, scene_normalization
from pvd.data.points import in_box, read_points, scene_points, scene_points_file
from pvd.errors import UserError


def cloud(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, 3)), rng.integers(0, 256, (n, 3))


def write_colmap_bin(path, xyz, rgb, tracks=None) -> None:
    """COLMAP's points3D.bin: uint64 count; per point uint64 id, 3 float64, 3 uint8, float64 error,
    uint64 track length and that many (int32 image id, int32 keypoint index) pairs; little-endian."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = [struct.pack("<Q", len(xyz))]
    for i, (p, c) in enumerate(zip(xyz, rgb)):
        track = tracks[i] if tracks is not None else [(1, i), (2, 2 * i)][: i % 3]
        out.append(struct.pack("<Q", 100 + i))
        out.append(struct.pack("<ddd", *map(float, p)))
        out.append(struct.pack("<BBB", *map(int, c)))
        out.append(struct.pack("<d", 0.5))
        out.append(struct.pack("<Q", len(track)))
        for image, key in track:
            out.append(struct.pack("<ii", image, key))
    path.write_bytes(b"".join(out))


def write_colmap_txt(path, xyz, rgb) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# 3D point list with one line of data per point:", "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[]"]
    for i, (p, c) in enumerate(zip(xyz, rgb)):
        track = " ".join(f"{j + 1} {7 * i + j}" for j in range(i % 3))
        x, y, z = (repr(float(v)) for v in p)
        lines.append(f"{i + 1} {x} {y} {z} {c[0]} {c[1]} {c[2]} 0.25 {track}".rstrip())
    path.write_text("\n".join(lines) + "\n")


def write_ply(path, xyz, rgb, color_type: str | None = "u1") -> None:
    fields = [("x", "f4"), ("y", "f4"), ("z", "f4")] + (
        [(k, color_type) for k in ("red", "green", "blue")] if color_type else []
    )
    vertex = np.empty(len(xyz), dtype=fields)
    for j, k in enumerate("xyz"):
        vertex[k] = xyz[:, j]
    if color_type:
        for j, k in enumerate(("red", "green", "blue")):
            vertex[k] = rgb[:, j] if color_type == "u1" else rgb[:, j] / 255.0
    path.parent.mkdir(parents=True, exist_ok=True)
    PlyData([PlyElement.describe(vertex, "vertex")]).write(str(path))


@pytest.mark.parametrize("name", ["points3D.bin", "points3D.txt", "sparse_pc.ply"])
def test_readers_give_the_written_points_and_colours(tmp_path, name):
    xyz, rgb = cloud()
    path = tmp_path / name
    {"points3D.bin": write_colmap_bin, "points3D.txt": write_colmap_txt, "sparse_pc.ply": write_ply}[name](
        path, xyz, rgb
    )
    points = read_points(path)
    assert points.positions.dtype == torch.float32 and points.positions.shape == (40, 3)
    torch.testing.assert_close(points.positions, torch.from_numpy(xyz).float())
    torch.testing.assert_close(points.colors, torch.from_numpy(rgb / 255).float())
    assert points.source == str(path)


def test_ply_float_colours_and_no_colours(tmp_path):
    xyz, rgb = cloud(10)
    write_ply(tmp_path / "f.ply", xyz, rgb, "f4")
    torch.testing.assert_close(read_points(tmp_path / "f.ply").colors, torch.from_numpy(rgb / 255).float())
    write_ply(tmp_path / "n.ply", xyz, rgb, None)
    assert torch.equal(read_points(tmp_path / "n.ply").colors, torch.full((10, 3), 0.5))


def _truncated(path):
    write_colmap_bin(path, *cloud(5))
    path.write_bytes(path.read_bytes()[:-5])


def _overcount(path):
    write_colmap_bin(path, *cloud(5))
    path.write_bytes(struct.pack("<Q", 10**6) + path.read_bytes()[8:])


def _trailing(path):
    write_colmap_bin(path, *cloud(5))
    path.write_bytes(path.read_bytes() + b"\0\0\0")


def _bad_txt(path):
    path.write_text("# header\n1 0.0 0.0 0.0 255 0 0 0.1\n2 0.5 nan? 1 2 3 4 0.1\n")


def _short_txt(path):
    path.write_text("1 0.0 0.0 0.0 255 0\n")


def _colour_txt(path):
    path.write_text("1 0.0 0.0 0.0 256 0 0 0.1\n")


def _nan_txt(path):
    path.write_text("1 nan 0.0 0.0 1 0 0 0.1\n")


def _empty_txt(path):
    path.write_text("# no points\n")


def _no_xyz_ply(path):
    vertex = np.zeros(3, dtype=[("x", "f4"), ("y", "f4")])
    PlyData([PlyElement.describe(vertex, "vertex")]).write(str(path))


def _garbage_ply(path):
    path.write_bytes(b"not a ply at all\n")


@pytest.mark.parametrize(
    "name, damage, message",
    [
        ("points3D.bin", _truncated, "is cut off"),
        ("points3D.bin", _overcount, "says 1000000 points"),
        ("points3D.bin", _trailing, "3 bytes after the 5 points"),
        ("points3D.txt", _bad_txt, "line 3: X Y Z must be numbers"),
        ("points3D.txt", _short_txt, "line 1: expected 'ID X Y Z R G B ERROR'"),
        ("points3D.txt", _colour_txt, "R G B must be in 0..255"),
        ("points3D.txt", _nan_txt, "must be finite"),
        ("points3D.txt", _empty_txt, "has no points"),
        ("cloud.ply", _no_xyz_ply, "lack z"),
        ("cloud.ply", _garbage_ply, "not a readable PLY"),
        ("cloud.xyz", _empty_txt, "unknown point cloud format"),
    ],
)
def test_malformed_files_are_one_line_errors_naming_the_file(tmp_path, name, damage, message):
    path = tmp_path / name
    damage(path)
    with pytest.raises(UserError, match=message) as err:
        read_points(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_llff_points_land_where_colmap_projects_them(tmp_path, write_png):
    """A COLMAP world (OpenCV cameras x right, y down, z forward) stored as LLFF poses and a
    points3D.bin: after pvd's scaling and recentring, each point projected by the loaded cameras
    lands on the pixel COLMAP's own projection gives."""
    rng = np.random.default_rng(1)
    base = rotation(rng)
    n, f, full_w, full_h = 9, 120.0, 160.0, 120.0
    w2c = []
    for _ in range(n):
        tilt = np.linalg.qr(np.eye(3) + 0.05 * rng.normal(size=(3, 3)))[0]
        r = (tilt * np.sign(np.diag(tilt))) @ base  # a slightly turned copy of the rig's rotation
        centre = rng.uniform(-0.5, 0.5, 3) + np.array([3.0, -2.0, 1.0])
        w2c.append((r, -r @ centre))
    # points in front of every camera: along the mean viewing axis, 4-6 units away
    forward = base[2]
    points = np.array([3.0, -2.0, 1.0]) + forward * rng.uniform(4, 6, (30, 1)) + rng.uniform(-0.6, 0.6, (30, 3))
    colours = rng.integers(0, 256, (30, 3))
    rows = []
    for r, t in w2c:
        c2w_cv = np.eye(4)
        c2w_cv[:3, :3], c2w_cv[:3, 3] = r.T, -r.T @ t
        down_right_back = np.stack([c2w_cv[:3, 1], c2w_cv[:3, 0], -c2w_cv[:3, 2], c2w_cv[:3, 3]], 1)
        pose = np.concatenate([down_right_back, [[full_h], [full_w], [f]]], 1)
        rows.append(np.concatenate([pose.reshape(15), [1.0, 10.0]]))
    np.save(tmp_path / "poses_bounds.npy", np.array(rows))
    for i in range(n):
        write_png(tmp_path / "images_4" / f"{i:02d}.png", np.zeros((30, 40, 3), np.uint8))
    write_colmap_bin(tmp_path / "sparse" / "0" / "points3D.bin", points, colours)

    assert scene_points_file(tmp_path, "llff") == tmp_path / "sparse" / "0" / "points3D.bin"
    world = scene_points(tmp_path, "llff")
    torch.testing.assert_close(world.colors, torch.from_numpy(colours / 255).float())
    split = index_split(tmp_path, "llff", "train")
    order = [i for i in range(n) if i % 8]
    for view, i in enumerate(order):
        r, t = w2c[i]
        cam = points @ r.T + t  # COLMAP: pixel = f * (x, y) / z + principal point (full resolution)
        expected = (f * cam[:, :2] / cam[:, 2:] + [full_w / 2, full_h / 2]) / 4
        c2w = split.cameras.c2w[view].double()
        local = (world.positions.double() - c2w[:3, 3]) @ c2w[:3, :3]  # OpenGL: x right, y up, -z forward
        fx, cx, cy = float(split.cameras.fx[view]), float(split.cameras.cx[view]), float(split.cameras.cy[view])
        u = cx + fx * local[:, 0] / -local[:, 2]
        v = cy - fx * local[:, 1] / -local[:, 2]
        np.testing.assert_allclose(torch.stack([u, v], 1).numpy(), expected, atol=1e-3)
    norm = scene_normalization(split, "llff", 1.0, 0.15)
    boxed = in_box(world, norm.to_box, 1.0)
    inside = (0.15 * world.positions).abs().amax(1) <= 1.0
    assert 0 < len(boxed) == int(inside.sum()) < len(world)  # some points lie outside that box
    torch.testing.assert_close(boxed.positions, 0.15 * world.positions[inside])


def test_capture_ply_is_taken_as_is_and_colmap_through_applied_transform(tmp_path):
    xyz, rgb = cloud(20, seed=3)
    applied = np.array([[0.0, 1.0, 0.0, 0.5], [1.0, 0.0, 0.0, -1.0], [0.0, 0.0, -1.0, 2.0]])
    doc = {"frames": [], "applied_transform": applied.tolist()}
    (tmp_path / "transforms.json").write_text(json.dumps(doc))
    colmap = (xyz - applied[:, 3]) @ applied[:, :3]  # the inverse of the (orthogonal) transform
    write_colmap_txt(tmp_path / "colmap" / "sparse" / "0" / "points3D.txt", colmap, rgb)
    assert scene_points_file(tmp_path, "capture") == tmp_path / "colmap/sparse/0/points3D.txt"
    torch.testing.assert_close(scene_points(tmp_path, "capture").positions, torch.from_numpy(xyz).float())
    write_ply(tmp_path / "sparse_pc.ply", xyz, rgb)
    (tmp_path / "transforms.json").write_text(json.dumps({**doc, "ply_file_path": "sparse_pc.ply"}))
    assert scene_points_file(tmp_path, "capture") == tmp_path / "sparse_pc.ply"
    torch.testing.assert_close(scene_points(tmp_path, "capture").positions, torch.from_numpy(xyz).float())
    (tmp_path / "transforms.json").write_text(json.dumps({**doc, "ply_file_path": "missing.ply"}))
    with pytest.raises(UserError, match="'ply_file_path' names no file"):
        scene_points_file(tmp_path, "capture")


def test_scenes_without_a_cloud_have_none(tmp_path, lego_dir):
    assert scene_points_file(lego_dir, "synthetic") is None and scene_points(lego_dir, "synthetic") is None
    (tmp_path / "transforms.json").write_text(json.dumps({"frames": []}))
    write_colmap_txt(tmp_path / "sparse" / "0" / "points3D.txt", *cloud(3))
    assert scene_points_file(tmp_path, "capture") is None  # a COLMAP frame the json does not relate to its own
    write_ply(tmp_path / "cloud.ply", *cloud(3))
    (tmp_path / "transforms.json").write_text(json.dumps({"frames": [], "ply_file_path": "cloud.ply"}))
    assert scene_points_file(tmp_path, "synthetic") == tmp_path / "cloud.ply"  # instant-ngp's single json
    assert scene_points_file(tmp_path, "tank") is None
