"""``pvd data demo | download | weights``: the embedded demo scene, dataset and weight downloads."""

from __future__ import annotations

import argparse
import math
import time

from pvd.data.demo import SOLID_NAMES, DemoConfig, SceneEdit, write_demo
from pvd.data.demo_capture import CaptureOptions, write_demo_capture
from pvd.data.distortion import COEFFS, MODELS
from pvd.data.download import dataset_sources, download_dataset, download_weights
from pvd.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    defaults = DemoConfig()

    demo = sub.add_parser("demo", help="write the procedural demo scene (Blender format)")
    demo.add_argument("out_dir", metavar="OUT_DIR", help="folder to create (must not hold files)")
    demo.add_argument("--seed", type=int, default=defaults.seed, help="scene and camera seed")
    demo.add_argument("--size", type=int, default=defaults.size, help="image width = height (px)")
    for split in ("train", "val", "test"):
        demo.add_argument(
            f"--n_{split}", type=int, default=getattr(defaults, f"n_{split}"), help=f"number of {split} views"
        )
    demo.add_argument(
        "--spp", type=int, default=defaults.spp, help="anti-aliasing: sub-pixel rays per axis (spp^2 per pixel)"
    )
    demo.add_argument(
        "--without",
        action="append",
        default=[],
        metavar="NAME",
        help=f"leave a solid out (repeatable; names: {', '.join(SOLID_NAMES)})",
    )
    demo.add_argument(
        "--move",
        action="append",
        default=[],
        nargs=4,
        metavar=("NAME", "DX", "DY", "DZ"),
        help="translate a solid by DX DY DZ world units (repeatable)",
    )
    demo.add_argument(
        "--insert",
        action="append",
        default=[],
        nargs=4,
        metavar=("SEED:NAME", "DX", "DY", "DZ"),
        help="add the solid NAME of seed SEED's scene, translated (repeatable)",
    )

    dl = sub.add_parser("download", help="download, verify and extract a dataset")
    dl.add_argument(
        "dataset",
        metavar="DATASET",
        choices=sorted(dataset_sources()),
        help="one of: " + ", ".join(sorted(dataset_sources())),
    )
    dl.add_argument("--root", required=True, help="folder receiving the extracted dataset")
    dl.add_argument("--url", default=None, help="fetch the archive from this URL instead")
    dl.add_argument("--sha256", default=None, help="expected SHA-256 of the archive")
    dl.add_argument("--keep_archive", action="store_true", help="keep the zip after extraction")

    cap = sub.add_parser(
        "demo-capture",
        help="the demo scene as a capture (transforms.json), optionally "
        "through a distorting lens and moved by a random similarity",
    )
    cap.add_argument("out_dir", metavar="OUT_DIR", help="folder to create (must not hold files)")
    cap.add_argument("--seed", type=int, default=defaults.seed, help="scene and camera seed")
    cap.add_argument("--size", type=int, default=defaults.size, help="image width = height (px)")
    cap.add_argument("--camera_model", default="PINHOLE", choices=MODELS, help="the lens")
    for key in COEFFS:
        cap.add_argument(f"--{key}", type=float, default=0.0, help=f"lens coefficient {key}")
    cap.add_argument(
        "--similarity",
        type=int,
        metavar="SEED",
        help="move the whole capture by a random rotation, translation and scale from SEED",
    )

    sub.add_parser(
        "weights", help="download the AlexNet/VGG16 backbones that LPIPS loads into $TORCH_HOME/hub/checkpoints"
    )


def _delta(flag: str, values: list[str]) -> tuple[float, float, float]:
    try:
        delta = tuple(float(v) for v in values)
    except ValueError:
        raise UserError(f"{flag}: DX DY DZ must be numbers, got {' '.join(values)}") from None
    if not all(math.isfinite(v) for v in delta):
        raise UserError(f"{flag}: DX DY DZ must be finite numbers, got {' '.join(values)}")
    return delta


def scene_edit(args: argparse.Namespace) -> SceneEdit:
    """The :class:`SceneEdit` of ``--without``, ``--move`` and ``--insert``."""
    move = tuple((name, _delta(f"--move {name}", d)) for name, *d in args.move)
    insert = []
    for spec, *d in args.insert:
        seed, sep, name = spec.partition(":")
        if not sep or not seed.lstrip("-").isdigit():
            raise UserError(f"--insert {spec!r}: expected SEED:NAME, e.g. 1:striped_sphere")
        insert.append((int(seed), name, _delta(f"--insert {spec}", d)))
    return SceneEdit(tuple(args.without), move, tuple(insert))


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    if args.data_command == "demo":
        config = DemoConfig(
            seed=args.seed, size=args.size, n_train=args.n_train, n_val=args.n_val, n_test=args.n_test, spp=args.spp
        )
        out = write_demo(args.out_dir, config, edit=scene_edit(args))
        print(
            f"demo scene ({config.n_train}/{config.n_val}/{config.n_test} views, {config.size} px, "
            f"seed {config.seed}) written to {out} in {time.perf_counter() - start:.1f} s"
        )
    elif args.data_command == "demo-capture":
        config = DemoConfig(seed=args.seed, size=args.size)
        options = CaptureOptions(args.camera_model, tuple(getattr(args, k) for k in COEFFS), args.similarity)
        out = write_demo_capture(args.out_dir, config, options)
        print(
            f"demo capture ({options.camera_model}, similarity {options.similarity_seed}) written to {out} "
            f"in {time.perf_counter() - start:.1f} s"
        )
    elif args.data_command == "download":
        record = download_dataset(
            args.dataset, args.root, url=args.url, sha256=args.sha256, keep_archive=args.keep_archive
        )
        print(f"{args.dataset}: {', '.join(record['extracted'])} in {args.root} (sha256 {record['sha256']})")
    else:
        for path in download_weights():
            print(path)
    return 0
