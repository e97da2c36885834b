"""Measure a small autoencoder for Miniature v2 (docs/MINIATURE.md): is it sharp enough, and
is the latent SR task it poses more than an identity map?

On the ``sample`` protocol's 210 HR crops (128², seven photos never used for training):

* ``recon_psnr_y`` — encode → decode the HR (posterior mode), PSNR-Y against the HR: the
  ceiling of every model that uses this VAE. Acceptance: above bicubic's ×4 PSNR-Y.
* for N in 2, 4, 8: LR = MATLAB bicubic ×N of the HR crop (``yonos_bench.degradations``),
  z_l = encode(bicubic-upsampled LR) exactly as the pipeline conditions the UNet, z_h =
  encode(HR); ``latent_gap`` = Σ(z_l − z_h)² / Σ(z_h − mean z_h)² over all crops (the
  fraction of the latent variance the UNet has to restore; acceptance: ≥ 0.10 at ×4 and
  ×8); ``decode_lr_latent_psnr_y`` = PSNR-Y of decode(z_l) (what a UNet that copies its
  condition would score); ``bicubic_psnr_y`` = PSNR-Y of the upsampled LR itself.

For reference the same gap is computed in pixel space (``pixel_gap``: the image itself as
the "latent", i.e. an ideal identity autoencoder): it bounds what a faithful latent that
weights all frequencies alike can show.

PSNR-Y is pyiqa's (BT.601 Y, no border crop; the protocol's ``psnr-y``), averaged over crops.

    python benchmarks/miniature_autoencoder.py VAE [VAE ...] [--json out.json]

VAE: an ``AutoencoderKL`` folder, an autoencoder run folder (its ``vae/``) or a YONOS
pipeline folder (its ``vae/``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

SCALES = (2, 4, 8)


def load_vae(path: Path):
    from diffusers import AutoencoderKL

    for cand in (path, path / "vae", path / "result" / "vae"):
        if (cand / "config.json").is_file() and "AutoencoderKL" in (cand / "config.json").read_text():
            return AutoencoderKL.from_pretrained(str(cand)).float().eval()
    sys.exit(f"No AutoencoderKL under {path} (looked at ., vae/, result/vae/).")


def sample_hr() -> torch.Tensor:
    """The ``sample`` protocol's HR crops as float (B, 3, 128, 128) in [0, 1]."""
    from yonos_bench.core.imageio import read_rgb8
    from yonos_bench.protocols.pairs import load_prepared

    prepared = load_prepared("sample")
    imgs = [torch.from_numpy(read_rgb8(p.hr_path).copy()).permute(2, 0, 1) for p in prepared.pairs]
    return torch.stack(imgs).float() / 255.0, [p.source for p in prepared.pairs]


def psnr_y(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    import pyiqa

    metric = pyiqa.create_metric("psnr", test_y_channel=True, color_space="ycbcr", crop_border=0,
                                 eps=1e-8, device="cpu")  # fmt: skip
    return metric(a.clamp(0, 1), b.clamp(0, 1)).flatten()


@torch.no_grad()
def measure(vae, hr: torch.Tensor, chunk: int = 30) -> dict:
    from yonos_bench.degradations import degrade
    from yonos_train.pipeline import decode_latents, encode_latents, upsample_lr

    def enc(x):
        return torch.cat([encode_latents(vae, c) for c in x.split(chunk)])

    def dec(z):
        return torch.cat([(decode_latents(vae, c) + 1) / 2 for c in z.split(chunk)])

    z_h = enc(hr)
    out: dict = {
        "recon_psnr_y": float(psnr_y(dec(z_h), hr).mean()),
        "latent_shape": list(z_h.shape[1:]),
        "latent_std": float(z_h.std()),
    }
    var = float(((z_h - z_h.mean()) ** 2).sum())
    for n in SCALES:
        lr = degrade("bicubic", hr, n, list(range(hr.shape[0]))).lr
        up = upsample_lr(lr, n)
        z_l = enc(up)
        out[f"x{n}"] = {
            "latent_gap": float(((z_l - z_h) ** 2).sum()) / var,
            "decode_lr_latent_psnr_y": float(psnr_y(dec(z_l), hr).mean()),
            "bicubic_psnr_y": float(psnr_y(up, hr).mean()),
        }
    return out


@torch.no_grad()
def pixel_gaps(hr: torch.Tensor) -> dict:
    """Σ(up(LR) − HR)² / Σ(HR − mean HR)² per scale: the latent gap of the identity map."""
    from yonos_bench.degradations import degrade
    from yonos_train.pipeline import upsample_lr

    var = float(((hr - hr.mean()) ** 2).sum())
    return {f"x{n}": float(((upsample_lr(degrade("bicubic", hr, n).lr, n) - hr) ** 2).sum()) / var for n in SCALES}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("vaes", nargs="+", type=Path)
    ap.add_argument("--json", type=Path, help="write the measurements here")
    ns = ap.parse_args()
    torch.set_num_threads(1)
    hr, _sources = sample_hr()
    results = {"protocol": "sample v1 (210 HR crops of 128 px)", "pixel_gap": pixel_gaps(hr), "vaes": {}}
    print("pixel-space gap (identity map): " + ", ".join(f"{k} {v:.3%}" for k, v in results["pixel_gap"].items()))
    for path in ns.vaes:
        t0 = time.perf_counter()
        vae = load_vae(path)
        res = measure(vae, hr)
        res["params"] = sum(p.numel() for p in vae.parameters())
        res["factor"] = 2 ** (len(vae.config.block_out_channels) - 1)
        res["seconds"] = round(time.perf_counter() - t0, 1)
        results["vaes"][str(path)] = res
        gaps = ", ".join(f"×{n} {res[f'x{n}']['latent_gap']:.3%}" for n in SCALES)
        dl = ", ".join(f"×{n} {res[f'x{n}']['decode_lr_latent_psnr_y']:.2f}" for n in SCALES)
        bic = ", ".join(f"×{n} {res[f'x{n}']['bicubic_psnr_y']:.2f}" for n in SCALES)
        print(f"{path}: factor {res['factor']}, {res['params']:,} params, latent {res['latent_shape']}\n"
              f"  recon PSNR-Y {res['recon_psnr_y']:.2f} dB | latent gap {gaps}\n"
              f"  decode(z_l) PSNR-Y {dl} | bicubic PSNR-Y {bic}", flush=True)  # fmt: skip
    if ns.json:
        from yonos_bench.core.atomic import write_json_atomic

        write_json_atomic(ns.json, results)


if __name__ == "__main__":
    main()
