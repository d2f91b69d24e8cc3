"""Make the shared NSVF lego readable in place for config/real-cpu.yaml (its ``tank`` dataset).

The shared copy stores ``rgb/*.png`` as relative symbolic links flattened into small text files; this
builds, outside the repository, a tree of real links to the images they name (the shared data is
never modified) and prints the scene folder it wrote:

    python benchmarks/prepare_nsvf.py /tmp/pvd-real-nsvf [--scene ../shared/data/nsvf/Lego]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pvd.data.nsvf import restore_links

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, help="folder of the tree of links (config/real-cpu.yaml: /tmp/pvd-real-nsvf)")
    p.add_argument("--scene", type=Path, default=REPO.parent / "shared" / "data" / "nsvf" / "Lego")
    args = p.parse_args()
    print(restore_links(args.scene, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
