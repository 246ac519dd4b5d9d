"""M1's exact inference path: the same network in integer-valued arithmetic.

The coder needs the encoder and the decoder to see the *same* CDFs, whatever the batch size,
padding, thread count or device.  Float inference does not give that (reductions reorder).  Here
every reduction is a sum of integers that floats represent exactly, and every other operation
is one correctly rounded IEEE operation, so any order, any BLAS, any device gives the same bits:

- weights int8 per output channel; matmul inputs int8 (ReLU outputs 0..127), so a K=1024 dot
  product stays below 2^24 and float32 sums it exactly (TF32 and bf16 matmul modes, which keep
  8 or more significand bits and accumulate in float32, are exact on these operands too);
- the residual stream in int16 fixed point;
- LayerNorm from exact integer sums (int64), then one float64 sqrt and one divide;
- softmax (attention and output) through an exp lookup table on a 1/32-nat grid; attention's
  weighted sum is exact in float64 (weights <= 2^15, values <= 127);
- the output CDF is computed from the table's integers in int64.
Calibration picks every fixed-point scale from the float model's activations on sample text.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from compressor.models.base import symbols_of
from compressor.models.m1.graphs import GraphSteps
from compressor.models.m1.kernels import CpuStep
from compressor.models.m1.model import BOS, M1, alibi_bias, alibi_slopes

LUT_STEP = 32  # exp table entries per nat
LUT_NATS = 24  # beyond this a weight is zero
LUT_ONE = 1 << 15  # exp(0) in the table
ACT_MAX, RES_MAX = 127, 32767
# "1": on a GPU, `extend` replays a CUDA graph per lane bucket (graphs.py); opt-in until a GPU
# check has held its CDFs to the CPU's (`make gpu-check` runs it both ways)
GRAPHS_ENV = "EQINFO_M1_CUDA_GRAPHS"


def exp_table() -> torch.Tensor:
    idx = torch.arange(LUT_STEP * LUT_NATS + 1, dtype=torch.float64)
    return torch.round(LUT_ONE * torch.exp(-idx / LUT_STEP)).to(torch.int64)


def _quantize_weight(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """int8 per output channel: (w_q as float32, scale per row as float64)."""
    scale = w.abs().amax(dim=1).clamp_min(1e-12).double() / ACT_MAX
    return torch.round(w.double() / scale[:, None]).clamp(-ACT_MAX, ACT_MAX).float(), scale


class _Calibrator:
    """Records the largest magnitude seen at each named point of the float model."""

    def __init__(self):
        self.peak: dict[str, float] = {}

    def see(self, name: str, x: torch.Tensor) -> None:
        self.peak[name] = max(self.peak.get(name, 0.0), float(x.abs().max()))


def _float_pass(model: M1, tokens: torch.Tensor, cal: _Calibrator) -> None:
    """The float forward pass, reporting every point the integer path quantises."""
    x = model.embed(tokens)
    cal.see("res", x)
    n_head = model.cfg.n_head
    bias = None
    for i, blk in enumerate(model.blocks):
        b, t, d = x.shape
        h = blk.ln1(x)
        cal.see(f"{i}.ln1", h)
        q, k, v = blk.qkv(h).split(d, dim=2)
        for name, z in (("q", q), ("k", k), ("v", v)):
            cal.see(f"{i}.{name}", z)
        if bias is None:
            bias = alibi_bias(n_head, t)
        qh, kh, vh = (z.view(b, t, n_head, d // n_head).transpose(1, 2) for z in (q, k, v))
        att = torch.nn.functional.scaled_dot_product_attention(qh, kh, vh, attn_mask=bias)
        att = att.transpose(1, 2).reshape(b, t, d)
        cal.see(f"{i}.att", att)
        x = x + blk.proj(att)
        cal.see("res", x)
        h = blk.ln2(x)
        cal.see(f"{i}.ln2", h)
        hid = torch.relu(blk.fc(h))
        cal.see(f"{i}.hid", hid)
        x = x + blk.out(hid)
        cal.see("res", x)
    cal.see("lnf", model.ln_f(x))


class KVCache:
    """Keys and values (int8: they are requantised activations) of every position fed so far,
    per layer, for a set of slots (one per live history); `length[slot]` positions each.  Slots
    and capacity grow on demand, so memory follows the histories live at once, not all of them."""

    def __init__(self, rows: int, n_layer: int, n_head: int, head_dim: int, device: torch.device, capacity: int = 32):
        shape = (rows, n_head, capacity, head_dim)
        self.k = [torch.zeros(shape, dtype=torch.int8, device=device) for _ in range(n_layer)]
        self.v = [torch.zeros(shape, dtype=torch.int8, device=device) for _ in range(n_layer)]
        self.length = np.zeros(rows, dtype=np.int64)
        self.taken = np.zeros(rows, dtype=bool)

    @property
    def rows(self) -> int:
        return self.length.size

    def take(self, count: int) -> np.ndarray:
        """The `count` lowest free slots, emptied and marked taken (the cache grows if too few are free)."""
        free = np.flatnonzero(~self.taken)
        if free.size < count:
            self.reserve(self.rows + count - free.size, 0)
            free = np.flatnonzero(~self.taken)
        slots = free[:count]
        self.taken[slots] = True
        self.length[slots] = 0
        return slots

    def free(self, slots: np.ndarray) -> None:
        self.taken[slots] = False

    def reserve(self, rows: int, positions: int) -> None:
        """Room for at least `rows` slots of `positions` positions (doubling, so growth is rare)."""
        have_rows, have_positions = self.k[0].shape[0], self.k[0].shape[2]
        grow_rows = max(rows, 2 * have_rows) - have_rows if rows > have_rows else 0
        grow_positions = max(positions, 2 * have_positions) - have_positions if positions > have_positions else 0
        if grow_rows or grow_positions:

            def pad(c: torch.Tensor) -> torch.Tensor:
                c = torch.cat([c, c.new_zeros((c.shape[0], c.shape[1], grow_positions, c.shape[3]))], dim=2)
                return torch.cat([c, c.new_zeros((grow_rows, *c.shape[1:]))], dim=0)

            self.k, self.v = [pad(c) for c in self.k], [pad(c) for c in self.v]
            self.length = np.concatenate([self.length, np.zeros(grow_rows, dtype=np.int64)])
            self.taken = np.concatenate([self.taken, np.zeros(grow_rows, dtype=bool)])


class IntegerM1:
    """The integer twin of a float M1, built by `calibrate` or loaded from its tensors.

    On the CPU, `cdfs` and `extend` run the C kernels of `kernels.py` (`fused=False` keeps the
    torch path, which every device runs and which defines the arithmetic); on a GPU with
    $EQINFO_M1_CUDA_GRAPHS=1, `extend` replays CUDA graphs of that path (`graphs.py`)."""

    def __init__(
        self,
        tensors: dict[str, torch.Tensor],
        n_layer: int,
        n_head: int,
        precision: int = 14,
        device: str | torch.device = "cpu",
        fused: bool | None = None,
    ):
        self.device = torch.device(device)
        self.t = {k: v.to(self.device) for k, v in tensors.items()}
        self.n_layer, self.n_head, self.precision = n_layer, n_head, precision
        self.lut = exp_table().to(self.device)
        # The matmul side runs in float32: accumulators are exact there, and each multiply by a
        # scale is one correctly rounded float32 operation, as deterministic as float64 and half
        # the memory traffic.
        self.f32 = {k: v.float() for k, v in self.t.items() if k.endswith((".b", ".m", ".score", ".v_to_att"))}
        if fused and self.device.type != "cpu":
            raise ValueError(f"M1's fused kernels run on the CPU, not {self.device}")
        fused = self.device.type == "cpu" if fused is None else fused
        self.fused = CpuStep(self.t, n_layer, n_head, self.lut, precision) if fused else None
        graphs = self.device.type == "cuda" and os.environ.get(GRAPHS_ENV) == "1"
        self.graphs = GraphSteps(self) if graphs else None

    # -- construction ---------------------------------------------------------------------

    @classmethod
    @torch.no_grad()
    def calibrate(cls, model: M1, docs: Sequence[bytes], precision: int = 14, segment: int = 256) -> IntegerM1:
        model.eval()
        cal = _Calibrator()
        for d in docs:
            s = symbols_of(d)[:-1]
            for i in range(0, max(1, s.size), segment):
                toks = torch.tensor([[BOS, *s[i : i + segment - 1].tolist()]], dtype=torch.long)
                _float_pass(model, toks, cal)
        margin = 1.1
        scale = {k: v * margin / (RES_MAX if k == "res" else ACT_MAX) for k, v in cal.peak.items()}
        t: dict[str, torch.Tensor] = {}
        s_res = scale["res"]
        t["embed"] = torch.round(model.embed.weight.double() / s_res).clamp(-RES_MAX, RES_MAX).to(torch.int64)
        t["s_res"] = torch.tensor(s_res, dtype=torch.float64)
        for i, blk in enumerate(model.blocks):
            d = blk.qkv.in_features
            hd = d // model.cfg.n_head

            def linear(name: str, lin: torch.nn.Linear, s_in: float, s_out: float | torch.Tensor) -> None:
                wq, sw = _quantize_weight(lin.weight.detach())
                t[f"{name}.w"] = wq
                acc_scale = sw * s_in  # one accumulator unit in real terms, per output channel
                t[f"{name}.b"] = torch.round(lin.bias.detach().double() / acc_scale)
                t[f"{name}.m"] = acc_scale / s_out  # accumulator -> output fixed point

            for ln_name, ln in ((f"{i}.ln1", blk.ln1), (f"{i}.ln2", blk.ln2)):
                t[f"{ln_name}.g"] = ln.weight.detach().double() / scale[ln_name]
                t[f"{ln_name}.h"] = ln.bias.detach().double() / scale[ln_name]
                t[f"{ln_name}.eps"] = torch.tensor(ln.eps / s_res**2, dtype=torch.float64)
            s_qkv = torch.cat([torch.full((d,), scale[f"{i}.{n}"], dtype=torch.float64) for n in "qkv"])
            linear(f"{i}.qkv", blk.qkv, scale[f"{i}.ln1"], s_qkv)
            # scores: q.k in units s_q s_k / sqrt(hd), then nats -> table steps
            t[f"{i}.score"] = torch.tensor(scale[f"{i}.q"] * scale[f"{i}.k"] / math.sqrt(hd) * LUT_STEP)
            t[f"{i}.v_to_att"] = torch.tensor(scale[f"{i}.v"] / scale[f"{i}.att"], dtype=torch.float64)
            linear(f"{i}.proj", blk.proj, scale[f"{i}.att"], s_res)
            linear(f"{i}.fc", blk.fc, scale[f"{i}.ln2"], scale[f"{i}.hid"])
            linear(f"{i}.out", blk.out, scale[f"{i}.hid"], s_res)
        t["lnf.g"] = model.ln_f.weight.detach().double() / scale["lnf"]
        t["lnf.h"] = model.ln_f.bias.detach().double() / scale["lnf"]
        t["lnf.eps"] = torch.tensor(model.ln_f.eps / s_res**2, dtype=torch.float64)
        linear("head", model.head, scale["lnf"], 1.0 / LUT_STEP)  # head output in table steps (1/32 nat)
        t["slopes"] = alibi_slopes(model.cfg.n_head).double() * LUT_STEP
        return cls(t, model.cfg.n_layer, model.cfg.n_head, precision)

    # -- inference ------------------------------------------------------------------------

    def _layernorm(self, r: torch.Tensor, name: str) -> torch.Tensor:
        """int residual -> int8-valued float32 activations, from exact integer sums."""
        d = r.shape[-1]
        s1 = r.sum(-1, keepdim=True)
        s2 = (r * r).sum(-1, keepdim=True)
        var_d2 = (d * s2 - s1 * s1).double() + d * d * self.t[f"{name}.eps"]
        y = (d * r - s1).double() / torch.sqrt(var_d2)
        y = y * self.t[f"{name}.g"]
        y = y + self.t[f"{name}.h"]
        return torch.round(y).clamp(-ACT_MAX, ACT_MAX).float()

    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """Exact integer accumulator (float32 holds it: |sum| < 2^24), plus the integer bias."""
        return (x @ self.t[f"{name}.w"].T).add_(self.f32[f"{name}.b"])

    def _requant(self, acc: torch.Tensor, name: str, lo: int, hi: int) -> torch.Tensor:
        return acc.mul_(self.f32[f"{name}.m"]).round_().clamp_(lo, hi)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dist: torch.Tensor, i: int) -> torch.Tensor:
        """q and k [B, H, Tq or Tk, hd] (int8-valued float32), v [B, H, Tk, hd] (int8-valued, any
        dtype: it is widened to float64 once), dist: query position minus key position (float32,
        broadcastable; negative means the future) -> [B, H, Tq, hd]."""
        z = (q @ k.transpose(-1, -2)).mul_(self.f32[f"{i}.score"])  # q.k exact: |sum| <= 64 * 127^2
        z = z - self.t["slopes"].float()[:, None, None] * dist
        z = z.masked_fill(dist < 0, -math.inf)
        steps = torch.round(z.amax(-1, keepdim=True) - z).clamp(max=self.lut.numel() - 1)
        w = self.lut[steps.to(torch.int64)].double()  # <= 2^15 each; 0 for the future
        num = w @ v.double()  # exact: <= 2^15 * 127 * T
        att = num / w.sum(-1, keepdim=True)
        return torch.round(att.float() * self.f32[f"{i}.v_to_att"]).clamp(-ACT_MAX, ACT_MAX)

    def _heads(self, qkv: torch.Tensor) -> tuple[torch.Tensor, ...]:
        b, t, d3 = qkv.shape
        return tuple(z.view(b, t, self.n_head, -1).transpose(1, 2) for z in qkv.split(d3 // 3, dim=2))

    def _full_attention(self, qkv: torch.Tensor, i: int) -> torch.Tensor:
        b, t, _ = qkv.shape
        pos = torch.arange(t, dtype=torch.float32, device=self.device)
        att = self._attend(*self._heads(qkv), pos[:, None] - pos[None, :], i)
        return att.transpose(1, 2).reshape(b, t, -1)

    def _logits(self, r: torch.Tensor, attention) -> torch.Tensor:
        """Residual stream [B, T, d] through every block (attention(qkv, layer) mixes positions) and
        the head -> logits in 1/32-nat table steps."""
        for i in range(self.n_layer):
            qkv = self._requant(self._linear(self._layernorm(r, f"{i}.ln1"), f"{i}.qkv"), f"{i}.qkv", -127, 127)
            att = attention(qkv, i)
            r = (r + self._requant(self._linear(att, f"{i}.proj"), f"{i}.proj", -RES_MAX, RES_MAX).long()).clamp(
                -RES_MAX, RES_MAX
            )
            hid = self._requant(self._linear(self._layernorm(r, f"{i}.ln2"), f"{i}.fc"), f"{i}.fc", 0, ACT_MAX).float()
            r = (r + self._requant(self._linear(hid, f"{i}.out"), f"{i}.out", -RES_MAX, RES_MAX).long()).clamp(
                -RES_MAX, RES_MAX
            )
        return self._linear(self._layernorm(r, "lnf"), "head").mul_(self.f32["head.m"]).round_()

    @torch.no_grad()
    def step_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, T] (BOS first) -> output logits in 1/32-nat table steps (integer-valued floats)."""
        return self._logits(self.t["embed"][tokens.to(self.device)], self._full_attention)

    def cdfs(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, T] -> int32 CDFs [B, T, 258] of total 2^precision, every symbol >= 1 (on the CPU)."""
        if self.fused is None:
            return self._cdfs_of(self.step_logits(tokens)).cpu()
        b, t = tokens.shape
        d = self.t["0.proj.w"].shape[0]
        k, v = (np.zeros((b, self.n_head, t, d // self.n_head), dtype=np.int8) for _ in "kv")
        slot, pos = np.repeat(np.arange(b), t), np.tile(np.arange(t), b)
        cdfs = self.fused.cdfs(tokens.numpy().reshape(-1), slot, pos, [k] * self.n_layer, [v] * self.n_layer)
        return torch.from_numpy(cdfs.reshape(b, t, -1))

    def _cdfs_of(self, logits: torch.Tensor) -> torch.Tensor:
        steps = (logits.amax(-1, keepdim=True) - logits).clamp(max=self.lut.numel() - 1).to(torch.int64)
        e = self.lut[steps]  # int64, the max symbol gets LUT_ONE
        n = e.shape[-1]
        budget = (1 << self.precision) - n
        total = e.sum(-1, keepdim=True)
        extra = (e * budget) // total
        rem = budget - extra.sum(-1, keepdim=True)
        first_max = (steps == 0).to(torch.int64).argmax(-1, keepdim=True)
        extra = extra.scatter_add(-1, first_max, rem)
        cdf = e.new_zeros((*e.shape[:-1], n + 1))
        cdf[..., 1:] = torch.cumsum(extra + 1, -1)
        return cdf.to(torch.int32)

    # -- incremental inference ------------------------------------------------------------

    def new_cache(self, rows: int) -> KVCache:
        d = self.t["0.proj.w"].shape[0]
        return KVCache(rows, self.n_layer, self.n_head, d // self.n_head, self.device)

    @torch.no_grad()
    def extend(self, cache: KVCache, slots: np.ndarray, tokens: np.ndarray) -> torch.Tensor:
        """Feeds one token to each of `slots` of the cache (at its next position) -> int32 CDFs
        [len(slots), 258] of the symbol after it (on the CPU): the very CDFs `cdfs` gives at that
        position, since each position's arithmetic is the same and every sum is exact.  Slots
        that form a run (the usual case: every live history fed) are read in place, not gathered."""
        if self.graphs is not None:
            return self.graphs.extend(cache, slots, tokens)
        pos_np = cache.length[slots]
        span = int(pos_np.max()) + 1
        cache.reserve(0, span)
        if self.fused is not None:
            k, v = [c.numpy() for c in cache.k], [c.numpy() for c in cache.v]
            cdfs = self.fused.cdfs(tokens.astype(np.int64), slots.astype(np.int64), pos_np, k, v)
            cache.length[slots] += 1
            return torch.from_numpy(cdfs)
        idx = torch.from_numpy(slots.astype(np.int64)).to(self.device)
        rows = slice(int(slots[0]), int(slots[0]) + slots.size) if (np.diff(slots) == 1).all() else idx
        pos = torch.from_numpy(pos_np).to(self.device)
        dist = (pos[:, None] - torch.arange(span, device=self.device)[None, :]).float()[:, None, None, :]

        def attention(qkv: torch.Tensor, i: int) -> torch.Tensor:
            q, k, v = self._heads(qkv)
            cache.k[i][idx, :, pos] = k[:, :, 0].to(torch.int8)
            cache.v[i][idx, :, pos] = v[:, :, 0].to(torch.int8)
            keys, values = cache.k[i][rows, :, :span].float(), cache.v[i][rows, :, :span]
            return self._attend(q, keys, values, dist, i).transpose(1, 2).reshape(len(slots), 1, -1)

        tok = torch.from_numpy(tokens.astype(np.int64)).to(self.device)
        logits = self._logits(self.t["embed"][tok][:, None], attention)
        cache.length[slots] += 1
        return self._cdfs_of(logits[:, 0]).cpu()

    # -- persistence ----------------------------------------------------------------------

    def save(self, path: Path) -> None:
        from safetensors.torch import save_file

        meta = {"n_layer": str(self.n_layer), "n_head": str(self.n_head), "precision": str(self.precision)}
        save_file({k: v.cpu().contiguous() for k, v in self.t.items()}, str(path), metadata=meta)

    @classmethod
    def load(cls, path: Path, device: str | torch.device = "cpu", fused: bool | None = None) -> IntegerM1:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
        return cls(tensors, int(meta["n_layer"]), int(meta["n_head"]), int(meta["precision"]), device, fused)
