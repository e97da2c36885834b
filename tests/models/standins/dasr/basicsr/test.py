"""Stand-in for csjliang/DASR basicsr/test.py: only -opt (BasicSR's parse_options); inputs
from the YAML's datasets; outputs at <root>/results/<name>/visualization/<dataset>/
<image>_<val.suffix or name>.png, root being this file's grandparent (BasicSR's root_path)."""

import argparse
import os
import sys
from os import path as osp

import yaml
from standin_common import log, upscale_file

import basicsr  # noqa: F401  (the real script imports basicsr.*: the checkout must be on sys.path)


def test_pipeline(root_path):
    parser = argparse.ArgumentParser()
    parser.add_argument("-opt", type=str, required=True)
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm"], default="none")
    parser.add_argument("--auto_resume", action="store_true")
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--local_rank", type=int, default=0)
    args = parser.parse_args()
    log("dasr", args)
    with open(args.opt) as f:
        opt = yaml.safe_load(f)
    for key in ("pretrain_network_g", "pretrain_network_p"):
        if not osp.isfile(opt["path"][key]):  # relative to the working directory, as BasicSR loads it
            sys.exit(f"FileNotFoundError: {opt['path'][key]}")
    results_root = osp.join(root_path, "results", opt["name"])
    os.makedirs(results_root, exist_ok=True)
    with open(osp.join(results_root, f"test_{opt['name']}.log"), "w") as f:
        f.write(yaml.safe_dump(opt))
    suffix = opt["val"]["suffix"] or opt["name"]
    for _, ds in sorted(opt["datasets"].items()):
        assert ds["type"] == "SingleImageDataset"
        vis = osp.join(results_root, "visualization", ds["name"])
        os.makedirs(vis, exist_ok=True)
        for fname in sorted(os.listdir(ds["dataroot_lq"])):
            img_name = osp.splitext(osp.basename(fname))[0]
            upscale_file(
                osp.join(ds["dataroot_lq"], fname), osp.join(vis, f"{img_name}_{suffix}.png"), opt["scale"], 0
            )


if __name__ == "__main__":
    root_path = osp.abspath(osp.join(__file__, osp.pardir, osp.pardir))
    test_pipeline(root_path)
