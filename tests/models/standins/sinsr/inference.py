"""Stand-in for wyf0912/SinSR inference.py: the same arguments; outputs <stem>.png in -o;
then, like the real script, evaluate.evaluate(out_path, ref_path, None)."""

import argparse
import sys
from pathlib import Path

from standin_common import log, upscale_file

parser = argparse.ArgumentParser()
parser.add_argument("-i", "--in_path", type=str, default="")
parser.add_argument("-o", "--out_path", type=str, default="./results")
parser.add_argument("-r", "--ref_path", type=str, default=None)
parser.add_argument("-s", "--steps", type=int, default=15)
parser.add_argument("-c", "--config", type=str, default=None)
parser.add_argument("-is", "--infer_steps", type=int, default=None)
parser.add_argument("--scale", type=int, default=4)
parser.add_argument("--seed", type=int, default=12345)
parser.add_argument("--one_step", action="store_true")
parser.add_argument("--ckpt", type=str, default=None)
parser.add_argument("--chop_size", type=int, default=512, choices=[512, 256])
parser.add_argument(
    "--task", type=str, default="SinSR", choices=["SinSR", "realsrx4", "bicsrx4_opencv", "bicsrx4_matlab"]
)
parser.add_argument("--ddim", action="store_true")


def main():
    args = parser.parse_args()
    log("sinsr", args)
    ckpt = Path(args.ckpt) if args.ckpt else Path("./weights") / "SinSR_v1.pth"
    for p in (ckpt, Path("./weights") / "autoencoder_vq_f4.pth"):
        if not p.exists():
            sys.exit(f"Downloading {p.name}: urlopen error [Errno -3] Temporary failure in name resolution")
    out = Path(args.out_path)
    out.mkdir(parents=True, exist_ok=True)
    steps = 1 if args.one_step else (args.infer_steps or args.steps)
    for p in sorted(Path(args.in_path).glob("*")):
        upscale_file(p, out / f"{p.stem}.png", args.scale, args.seed + steps)
    import evaluate

    evaluate.evaluate(args.out_path, args.ref_path, None)


if __name__ == "__main__":
    main()
