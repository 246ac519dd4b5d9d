"""M1's integer step on the CPU: int8 GEMMs, and everything between them in C.

The torch path in `integer.py` defines the arithmetic and runs on every device; on a CPU it
spends half of each step in dozens of small elementwise operations, and its GEMMs are float32
over int8 values.  Here the GEMMs are int8 x int8 -> int32 (`torch._int_mm`, which oneDNN runs
on the CPU's integer units), so the accumulators are the same integers that the float GEMM
gives, exactly.  The rest runs in `compressor/coder/csrc/m1_step.c`, which performs the torch
path's correctly rounded operations in the same order per element.  So the CDFs are
bit-identical, as tests/test_m1_kernels.py checks.
"""

from __future__ import annotations

import numpy as np
import torch

from compressor.coder import _coder

ACT_MAX = 127


class CpuStep:
    """The weights and scales of an integer M1, laid out for the kernels (CPU tensors only)."""

    def __init__(self, t: dict[str, torch.Tensor], n_layer: int, n_head: int, lut: torch.Tensor, precision: int):
        self.n_layer, self.precision = n_layer, precision
        self.embed = t["embed"].to(torch.int32).numpy()
        self.lut = np.ascontiguousarray(lut.numpy(), dtype=np.int32)
        self.slopes = t["slopes"].float().numpy()
        # _int_mm takes the weights as [in, out]; the transpose of a contiguous [out, in] is that.
        self.w = {k[:-2]: v.to(torch.int8).contiguous().T for k, v in t.items() if k.endswith(".w")}
        self.bias = {k[:-2]: v.float().numpy() for k, v in t.items() if k.endswith(".b")}
        self.m = {k[:-2]: v.float().numpy() for k, v in t.items() if k.endswith(".m")}
        self.ln = {
            k[:-2]: (t[k].double().numpy(), t[k[:-2] + ".h"].double().numpy(), float(t[k[:-2] + ".eps"]))
            for k in t
            if k.endswith(".g")
        }
        self.score = [float(t[f"{i}.score"].float()) for i in range(n_layer)]
        self.v_to_att = [float(t[f"{i}.v_to_att"].float()) for i in range(n_layer)]
        self.d = self.embed.shape[1]

    def _gemm(self, x: np.ndarray, name: str) -> np.ndarray:
        """int8 [rows, in] @ the layer's int8 weights -> exact int32 accumulators [rows, out]."""
        return torch._int_mm(torch.from_numpy(x), self.w[name]).numpy()

    def _layernorm(self, r: np.ndarray, name: str) -> np.ndarray:
        g, h, eps = self.ln[name]
        out = np.empty(r.shape, dtype=np.int8)
        _coder.m1_layernorm(r, g, h, eps, out)
        return out

    def _linear(self, x: np.ndarray, name: str, lo: int, hi: int) -> np.ndarray:
        acc = self._gemm(x, name)
        out = np.empty(acc.shape, dtype=np.int8)
        _coder.m1_requant(acc, self.bias[name], self.m[name], lo, hi, out)
        return out

    def _residual(self, r: np.ndarray, x: np.ndarray, name: str) -> None:
        _coder.m1_residual(r, self._gemm(x, name), self.bias[name], self.m[name])

    def cdfs(self, tokens: np.ndarray, slot: np.ndarray, pos: np.ndarray, k: list, v: list) -> np.ndarray:
        """One position per row: `tokens[i]` at position `pos[i]` of cache slot `slot[i]`, whose
        earlier positions hold keys and values already (or are rows of this same call) -> int32
        CDFs [rows, 258] of the symbol after each.  k[i] and v[i] are layer i's int8 caches."""
        r = self.embed[tokens]
        att = np.empty((r.shape[0], self.d), dtype=np.int8)
        for i in range(self.n_layer):
            qkv = self._linear(self._layernorm(r, f"{i}.ln1"), f"{i}.qkv", -ACT_MAX, ACT_MAX)
            _coder.m1_attend(qkv, slot, pos, k[i], v[i], self.score[i], self.slopes, self.v_to_att[i], self.lut, att)
            self._residual(r, att, f"{i}.proj")
            hid = self._linear(self._layernorm(r, f"{i}.ln2"), f"{i}.fc", 0, ACT_MAX)
            self._residual(r, hid, f"{i}.out")
        acc = self._gemm(self._layernorm(r, "lnf"), "head")
        out = np.empty((r.shape[0], acc.shape[1] + 1), dtype=np.int32)
        _coder.m1_cdfs(acc, self.bias["head"], self.m["head"], self.lut, self.precision, out)
        return out
