"""M1's lockstep step on a GPU as one CUDA graph launch: no per-operation launches.

`IntegerM1.extend` runs about a hundred small kernels a step, each launched from Python, so a
GPU waits on the host.  Here a step is captured once per lane bucket and replayed:

- the rows are padded to the next power of two (at least 8) by repeating the first row: its
  slot, position and token, so a padding row writes the very keys and values the first one
  writes, and its CDFs are dropped;
- attention reads every position of the cache's capacity, not the step's span: a key after the
  query's position is masked, and the exp table's last entry is 0, so it adds exact zeros to
  float64 sums of integers and the CDFs are bit-identical to the eager step's;
- the cache's tensors are the graph's: when `KVCache.reserve` grows them, the bucket's graph is
  captured again (growth doubles, so this is rare).

`padded_extend` is that arithmetic without the capture: it runs on any device, which is how
the tests hold it to the eager step on a CPU.  The capture itself needs a GPU; `make gpu-check`
codes with it on the GPU and decodes on the CPU.
"""

from __future__ import annotations

import numpy as np
import torch

MIN_BUCKET = 8


def bucket(rows: int) -> int:
    """The lane count a step of `rows` rows is padded to."""
    return max(MIN_BUCKET, 1 << max(0, rows - 1).bit_length())


def padded_extend(
    m, k: list[torch.Tensor], v: list[torch.Tensor], idx: torch.Tensor, pos: torch.Tensor, tok: torch.Tensor
) -> torch.Tensor:
    """`IntegerM1.extend`'s arithmetic on device tensors of fixed shapes: slots `idx`, positions
    `pos`, tokens `tok` [rows] and the caches k, v (per layer) -> int32 CDFs [rows, 258]."""
    capacity = k[0].shape[2]
    dist = (pos[:, None] - torch.arange(capacity, device=pos.device)[None, :]).float()[:, None, None, :]

    def attention(qkv: torch.Tensor, i: int) -> torch.Tensor:
        q, keys, values = m._heads(qkv)
        k[i][idx, :, pos] = keys[:, :, 0].to(torch.int8)
        v[i][idx, :, pos] = values[:, :, 0].to(torch.int8)
        return m._attend(q, k[i][idx].float(), v[i][idx], dist, i).transpose(1, 2).reshape(idx.numel(), 1, -1)

    return m._cdfs_of(m._logits(m.t["embed"][tok][:, None], attention)[:, 0])


class GraphSteps:
    """`extend` through one captured graph per lane bucket (`capture=False`: the same static
    buffers and padding, run eagerly, for the tests)."""

    def __init__(self, m, capture: bool = True):
        self.m, self.capture = m, capture
        self.steps: dict[int, dict] = {}  # bucket -> its static inputs, graph, output and cache key
        self.pool = torch.cuda.graph_pool_handle() if capture else None

    def extend(self, cache, slots: np.ndarray, tokens: np.ndarray) -> torch.Tensor:
        rows = slots.size
        size = bucket(rows)
        pos_np = cache.length[slots]
        cache.reserve(0, int(pos_np.max()) + 1)
        key = (cache.k[0].data_ptr(), tuple(cache.k[0].shape))
        step = self.steps.get(size)
        if step is None:
            inputs = [torch.zeros(size, dtype=torch.int64, device=self.m.device) for _ in range(3)]
            step = self.steps[size] = {"inputs": inputs, "key": None, "graph": None, "out": None}
        fill = np.zeros(size - rows, dtype=np.int64)  # padding rows repeat row 0
        for buffer, values in zip(step["inputs"], (slots, pos_np, tokens), strict=True):
            values = values.astype(np.int64)
            buffer.copy_(torch.from_numpy(np.concatenate([values, values[fill]])))
        if not self.capture:
            out = padded_extend(self.m, cache.k, cache.v, *step["inputs"])
        else:
            if step["key"] != key:
                self._capture(step, cache)
                step["key"] = key
            step["graph"].replay()
            out = step["out"]
        cache.length[slots] += 1
        return out[:rows].cpu()

    def _capture(self, step: dict, cache) -> None:
        """Records the step over this cache's tensors.  The warm-up, on a side stream as graphs
        ask, runs the real step (the inputs hold it already): its writes are the replay's."""
        device = self.m.device
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            padded_extend(self.m, cache.k, cache.v, *step["inputs"])
        torch.cuda.current_stream(device).wait_stream(side)
        step["graph"] = torch.cuda.CUDAGraph()
        with torch.cuda.graph(step["graph"], pool=self.pool):
            step["out"] = padded_extend(self.m, cache.k, cache.v, *step["inputs"])
