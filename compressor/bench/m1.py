"""EqualInfoCodec throughput with M1 on this machine, against this machine's own GEMM peaks.

On the CPU, M1's matmuls run as int8 GEMMs (exact, `compressor/models/m1/kernels.py`), so the
model's FLOP/s is given against both the fp32 and the int8 GEMM peak measured in the same run.

Encoding runs many documents in lockstep, one batched integer forward per step (one new position
per document through M1's KV cache); the model's FLOPs are counted from the positions it actually
computed and compared with the best GEMM rate torch reaches here in the same run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from compressor.codecs.equal_info import EqualInfoCodec
from compressor.models.m1.bytemodel import M1ByteModel, M1Session
from compressor.models.peak import matmul_peak_flops


class CountingModel:
    """Wraps M1 to count the positions its sessions compute (encoding feeds one position per
    document per step), the key positions they attend to, and the time they take."""

    def __init__(self, model: M1ByteModel):
        self.inner, self.tokens, self.seconds, self.attn_pairs = model, 0, 0.0, 0
        self.name, self.precision = model.name, model.precision
        self.context_size, self.segment = model.context_size, model.segment

    def predict(self, contexts):
        return self.inner.predict(contexts)

    def session(self, n: int) -> CountingSession:
        return CountingSession(self, self.inner.session(n))


class CountingSession:
    """An M1 session whose work and time are added to its CountingModel's."""

    def __init__(self, owner: CountingModel, inner: M1Session):
        self.owner, self.inner = owner, inner
        self.append, self.reset = inner.append, inner.reset

    def next_cdfs(self, docs):
        before = (self.inner.positions, self.inner.attended)
        t = time.perf_counter()
        out = self.inner.next_cdfs(docs)
        self.owner.seconds += time.perf_counter() - t
        self.owner.tokens += self.inner.positions - before[0]
        self.owner.attn_pairs += self.inner.attended - before[1]
        return out


def flops_per_token(integer) -> float:
    """2 FLOPs per weight of every matmul (embedding lookups are free)."""
    return 2.0 * sum(v.numel() for k, v in integer.t.items() if k.endswith(".w"))


def equal_examples(docs: Sequence[bytes], count: int, size: int) -> list[bytes]:
    """The documents' text cut into `count` examples of `size` bytes (as the pipeline cuts C4), so
    that every lockstep step has the full batch; fewer if the text runs out."""
    text = b"\n".join(docs)
    return [text[i * size : (i + 1) * size] for i in range(min(count, len(text) // size))]


def run(
    model: M1ByteModel,
    docs: Sequence[bytes],
    window_bits: int = 16,
    token_bits: int = 16,
    decode_model: M1ByteModel | None = None,
) -> dict:
    """Encodes with `model`, decodes with `decode_model` (default: the same), e.g. on another device."""
    peak = matmul_peak_flops(model.integer.device)
    int8_peak = matmul_peak_flops(model.integer.device, int8=True)
    counting = CountingModel(model)
    codec = EqualInfoCodec(counting, window_bits, token_bits)
    t = time.perf_counter()
    encoded = codec.encode_batch(docs)
    t_enc = time.perf_counter() - t
    enc_tokens, enc_model_s, enc_pairs = counting.tokens, counting.seconds, counting.attn_pairs
    t = time.perf_counter()
    decoder = EqualInfoCodec(decode_model or model, window_bits, token_bits)
    decoded = decoder.decode_batch([e.tokens for e in encoded])
    t_dec = time.perf_counter() - t
    raw = sum(map(len, docs))
    d_model = model.integer.t["0.proj.w"].shape[0]
    attn = 4.0 * d_model * model.integer.n_layer  # QK and AV per attended pair
    enc_flops = flops_per_token(model.integer) * enc_tokens + attn * enc_pairs
    return {
        "documents": len(docs),
        "raw_bytes": raw,
        "window_bits": window_bits,
        "threads": torch.get_num_threads(),
        "encode_device": str(model.integer.device),
        "decode_device": str((decode_model or model).integer.device),
        "encode_bytes_s": round(raw / t_enc, 1),
        "decode_bytes_s": round(raw / t_dec, 1),
        "encode_model_share": round(enc_model_s / t_enc, 3),
        "encode_tokens_per_byte": round(enc_tokens / raw, 3),
        "encode_gflops_s": round(enc_flops / t_enc / 1e9, 2),
        "matmul_peak_gflops_s": round(peak / 1e9, 2),
        "encode_peak_fraction": round(enc_flops / t_enc / peak, 4),
        "int8_matmul_peak_gops_s": round(int8_peak / 1e9, 2),
        "encode_int8_peak_fraction": round(enc_flops / t_enc / int8_peak, 4),
        "fused_cpu_step": model.integer.fused is not None,
        "bytes_per_token": round(raw / sum(e.tokens.size for e in encoded), 4),
        "exact": decoded == list(docs),
    }
