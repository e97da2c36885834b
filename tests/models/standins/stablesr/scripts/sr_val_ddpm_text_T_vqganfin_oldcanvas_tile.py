"""Stand-in for IceClear/StableSR scripts/sr_val_ddpm_text_T_vqganfin_oldcanvas_tile.py:
the same arguments; reads every file of --init-img, writes <stem>.png to --outdir."""

import argparse
import glob
import os
import sys

from standin_common import log, upscale_file

parser = argparse.ArgumentParser()
parser.add_argument("--init-img", type=str, nargs="?", default="inputs/user_upload")
parser.add_argument("--outdir", type=str, nargs="?", default="outputs/user_upload")
parser.add_argument("--ddpm_steps", type=int, default=1000)
parser.add_argument("--n_iter", type=int, default=1)
parser.add_argument("--C", type=int, default=4)
parser.add_argument("--f", type=int, default=8)
parser.add_argument("--n_samples", type=int, default=1)
parser.add_argument("--config", type=str, default="configs/stable-diffusion/v1-inference.yaml")
parser.add_argument("--ckpt", type=str, default="./stablesr_000117.ckpt")
parser.add_argument("--vqgan_ckpt", type=str, default="./vqgan_cfw_00011.ckpt")
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--precision", type=str, choices=["full", "autocast"], default="autocast")
parser.add_argument("--dec_w", type=float, default=0.5)
parser.add_argument("--tile_overlap", type=int, default=32)
parser.add_argument("--upscale", type=float, default=4.0)
parser.add_argument("--colorfix_type", type=str, default="nofix")
parser.add_argument("--vqgantile_stride", type=int, default=1000)
parser.add_argument("--vqgantile_size", type=int, default=1280)
parser.add_argument("--input_size", type=int, default=512)
opt = parser.parse_args()
log("stablesr", opt)

for path in (opt.config, opt.ckpt, opt.vqgan_ckpt):  # OmegaConf.load / torch.load, relative to cwd
    if not os.path.isfile(path):
        sys.exit(f"FileNotFoundError: {path}")
# the real script also loads configs/autoencoder/autoencoder_kl_64x64x4_resi.yaml
os.makedirs(opt.outdir, exist_ok=True)
for item in sorted(glob.glob(os.path.join(opt.init_img, "*"))):
    if os.path.exists(os.path.join(opt.outdir, item.split("/")[-1])):
        continue  # the real script skips inputs whose name exists in outdir
    basename = os.path.splitext(os.path.basename(item))[0]
    upscale_file(item, str(opt.outdir) + "/" + basename + ".png", int(opt.upscale), opt.seed + opt.ddpm_steps)
