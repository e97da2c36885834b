"""Stand-in for cswry/OSEDiff test_osediff.py: the same arguments; only *.png inputs;
output saved under the input's file name in -o, prompts in -o/txt/. Like the real script it
never seeds: the offset comes from NumPy's global generator (the real forward samples the
VAE posterior)."""

import argparse
import glob
import os
import sys

import numpy as np
from standin_common import log, upscale_file

parser = argparse.ArgumentParser()
parser.add_argument("--input_image", "-i", type=str, default="preset/datasets/test_dataset/input")
parser.add_argument("--output_dir", "-o", type=str, default="preset/datasets/test_dataset/output")
parser.add_argument("--pretrained_model_name_or_path", type=str, default=None)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--process_size", type=int, default=512)
parser.add_argument("--upscale", type=int, default=4)
parser.add_argument("--align_method", type=str, choices=["wavelet", "adain", "nofix"], default="adain")
parser.add_argument("--osediff_path", type=str, default="preset/models/osediff.pkl")
parser.add_argument("--prompt", type=str, default="")
parser.add_argument("--ram_path", type=str, default=None)
parser.add_argument("--ram_ft_path", type=str, default=None)
parser.add_argument("--save_prompts", type=bool, default=True)
parser.add_argument("--mixed_precision", type=str, choices=["fp16", "fp32"], default="fp16")
parser.add_argument("--merge_and_unload_lora", default=False)
parser.add_argument("--vae_decoder_tiled_size", type=int, default=224)
parser.add_argument("--vae_encoder_tiled_size", type=int, default=1024)
parser.add_argument("--latent_tiled_size", type=int, default=96)
parser.add_argument("--latent_tiled_overlap", type=int, default=32)

if __name__ == "__main__":
    args = parser.parse_args()
    log("osediff", args)
    if not os.path.isdir(args.pretrained_model_name_or_path or ""):
        sys.exit(f"OSError: {args.pretrained_model_name_or_path} is not a diffusers folder")
    for p in (args.osediff_path, args.ram_path, args.ram_ft_path):
        if not os.path.isfile(p or ""):
            sys.exit(f"FileNotFoundError: {p}")
    image_names = sorted(glob.glob(f"{args.input_image}/*.png"))
    txt_path = os.path.join(args.output_dir, "txt")
    os.makedirs(txt_path, exist_ok=True)
    os.makedirs(args.output_dir, exist_ok=True)
    for image_name in image_names:
        bname = os.path.basename(image_name)
        with open(f"{txt_path}/{bname.split('.')[0]}.txt", "w", encoding="utf-8") as f:
            f.write("a photo, ")
        upscale_file(
            image_name, os.path.join(args.output_dir, bname), args.upscale, int(np.random.randint(0, 50))
        )
