"""A small numpy interpreter of ncnn graphs: the independent reference for the imported weights.

Written for the tests from ncnn's documented formats (Tencent/ncnn docs "param and model file
structure" and "operation param weight table"), sharing no code with
``yonos_bench.models.ncnn_import``: it reads the package's ``.param``/``.bin`` itself and runs
the graph layer by layer, in float64, on one CHW image. Layers: Input, Split, Convolution
(with fused activation), PReLU, Concat, Eltwise, BinaryOp, Interp (nearest), PixelShuffle.
"""

from __future__ import annotations

import numpy as np


def _parse(text: str) -> list[tuple[str, str, list[str], list[str], dict]]:
    rows = [r.split() for r in text.strip().splitlines()]
    assert rows[0] == ["7767517"], "ncnn param magic"
    layers = []
    for t in rows[2:]:
        n_in, n_out = int(t[2]), int(t[3])
        params = {}
        for kv in t[4 + n_in + n_out :]:
            k, v = kv.split("=")
            k = int(k)
            if k <= -23300:  # array: -23300-id = count,values...
                params[-23300 - k] = [float(x) for x in v.split(",")[1:]]
            else:
                params[k] = float(v) if ("." in v or "e" in v) else int(v)
        layers.append((t[0], t[1], t[4 : 4 + n_in], t[4 + n_in : 4 + n_in + n_out], params))
    assert len(layers) == int(rows[1][0])
    return layers


class NcnnNet:
    def __init__(self, param_text: str, bin_data: bytes):
        self.layers = _parse(param_text)
        self.weights: dict[str, tuple] = {}
        pos = 0
        for kind, name, _, _, p in self.layers:
            if kind == "Convolution":
                n = p[6]
                flag = np.frombuffer(bin_data, "<u4", 1, pos)[0]
                pos += 4
                if flag == 0x01306B47:  # float16, padded to 4 bytes
                    w = np.frombuffer(bin_data, "<f2", n, pos).astype(np.float64)
                    pos += (2 * n + 3) // 4 * 4
                else:
                    assert flag == 0, f"{name}: unsupported storage flag {flag:#x}"
                    w = np.frombuffer(bin_data, "<f4", n, pos).astype(np.float64)
                    pos += 4 * n
                cout, k = p[0], p[1]
                w = w.reshape(cout, -1, k, k)
                b = None
                if p.get(5, 0):
                    b = np.frombuffer(bin_data, "<f4", cout, pos).astype(np.float64)
                    pos += 4 * cout
                self.weights[name] = (w, b)
            elif kind == "PReLU":
                self.weights[name] = (np.frombuffer(bin_data, "<f4", p[0], pos).astype(np.float64),)
                pos += 4 * p[0]
        assert pos == len(bin_data), "every weight byte is consumed"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``x``: (3, H, W) RGB in [0, 1]; returns the graph's output blob (C, H', W')."""
        blobs = {}
        out_name = None
        for kind, name, ins, outs, p in self.layers:
            a = [blobs[i] for i in ins]
            if kind == "Input":
                y = [np.asarray(x, dtype=np.float64)]
            elif kind == "Split":
                y = [a[0]] * len(outs)
            elif kind == "Convolution":
                y = [self._conv(a[0], name, p)]
            elif kind == "PReLU":
                (s,) = self.weights[name]
                y = [np.where(a[0] >= 0, a[0], a[0] * s[:, None, None])]
            elif kind == "Concat":
                assert p.get(0, 0) == 0
                y = [np.concatenate(a, axis=0)]
            elif kind == "Eltwise":
                assert p.get(0) == 1, "only SUM"
                coeffs = p.get(1, [1.0] * len(a))
                y = [sum(c * t for c, t in zip(coeffs, a, strict=True))]
            elif kind == "BinaryOp":
                op = p.get(0, 0)
                y = [{0: np.add, 1: np.subtract, 2: np.multiply}[op](a[0], a[1])]
            elif kind == "Interp":
                assert p[0] == 1, "nearest only"
                fy, fx = p[1], p[2]
                assert fy == int(fy) and fx == int(fx)
                y = [a[0].repeat(int(fy), axis=1).repeat(int(fx), axis=2)]
            elif kind == "PixelShuffle":
                r = p[0]
                assert p.get(1, 0) == 0
                c, h, w = a[0].shape
                t = a[0].reshape(c // (r * r), r, r, h, w).transpose(0, 3, 1, 4, 2)
                y = [t.reshape(c // (r * r), h * r, w * r)]
            else:
                raise NotImplementedError(kind)
            for o, v in zip(outs, y, strict=True):
                blobs[o] = v
            out_name = outs[-1]
        return blobs[out_name]

    def _conv(self, x: np.ndarray, name: str, p: dict) -> np.ndarray:
        w, b = self.weights[name]
        cout, k = p[0], p[1]
        assert p.get(2, 1) == 1 and p.get(3, 1) == 1, "dilation and stride 1"
        pad = p.get(4, 0)
        _, h, wd = x.shape
        xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
        oh, ow = h + 2 * pad - k + 1, wd + 2 * pad - k + 1
        # im2col: rows (cin, dy, dx) in the kernel's memory order, one GEMM per convolution
        cols = np.stack([xp[:, dy : dy + oh, dx : dx + ow] for dy in range(k) for dx in range(k)], axis=1)
        y = (w.reshape(cout, -1) @ cols.reshape(-1, oh * ow)).reshape(cout, oh, ow)
        if b is not None:
            y += b[:, None, None]
        act = p.get(9, 0)
        if act == 1:
            y = np.maximum(y, 0)
        elif act == 2:
            slope = p.get(10, [0.0])[0]
            y = np.where(y >= 0, y, y * slope)
        else:
            assert act == 0, f"activation {act}"
        return y
