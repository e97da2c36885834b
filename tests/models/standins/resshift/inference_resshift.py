"""Stand-in for zsyOAOA/ResShift inference_resshift.py: the same arguments, checkpoints
under ./weights named as the real script names them (it downloads missing ones: here that
fails, as it does offline), outputs <stem>.png in -o (sampler.py)."""

import argparse
import sys
from pathlib import Path

from standin_common import log, upscale_file

_STEP = {"v1": 15, "v2": 15, "v3": 4}
parser = argparse.ArgumentParser()
parser.add_argument("-i", "--in_path", type=str, default="")
parser.add_argument("-o", "--out_path", type=str, default="./results")
parser.add_argument("--mask_path", type=str, default="")
parser.add_argument("--scale", type=int, default=4)
parser.add_argument("--seed", type=int, default=12345)
parser.add_argument("--bs", type=int, default=1)
parser.add_argument("-v", "--version", type=str, default="v1", choices=["v1", "v2", "v3"])
parser.add_argument("--chop_size", type=int, default=512, choices=[512, 256, 64])
parser.add_argument("--chop_stride", type=int, default=-1)
parser.add_argument(
    "--task",
    type=str,
    default="realsr",
    choices=["realsr", "bicsr", "inpaint_imagenet", "inpaint_face", "faceir"],
)
args = parser.parse_args()
log("resshift", args)

assert args.task == "realsr", "the stand-in implements the realsr task only"
assert args.scale == 4, "We only support the 4x super-resolution now!"
ckpt = Path("./weights") / f"resshift_{args.task}x{args.scale}_s{_STEP[args.version]}_{args.version}.pth"
for p in (ckpt, Path("./weights") / "autoencoder_vq_f4.pth"):
    if not p.exists():
        sys.exit(
            f"Downloading: https://github.com/zsyOAOA/ResShift/releases/download/v2.0/{p.name} -> "
            "urlopen error [Errno -3] Temporary failure in name resolution"
        )
out = Path(args.out_path)
out.mkdir(parents=True, exist_ok=True)
for p in sorted(Path(args.in_path).rglob("*")):  # recursive folder dataset
    if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"):
        upscale_file(p, out / f"{p.stem}.png", args.scale, args.seed + _STEP[args.version])
