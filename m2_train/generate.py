"""Generation: M2 continues a prompt in its tokenizer's ids, and the tokenizer (M1 for the AC
methods) turns them back into text, as far as they decode.

A method whose streams end in EOS would tell M2 that the prompt's document is over.  EqualInfoAC
conditions on the prompt's whole windows before the one holding EOS, so M2 continues the text
those windows hold; the other stream methods (AC, StaticAC, GZip) cannot stop a stream early, so
M2 sees the whole prompt stream and its ids start what follows it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from compressor.codecs.results import Prefix
from compressor.tokenizers import Tokenizer
from m2_train.model import M2


@dataclass
class Sample:
    prompt: bytes  # the text the conditioning ids stand for
    ids: list[int]  # M2's new ids
    decoded: Prefix  # what prompt ids + new ids decode to

    @property
    def continuation(self) -> bytes:
        text = self.decoded.text
        return text[len(self.prompt) :] if text.startswith(self.prompt) else text


def conditioning(tokenizer: Tokenizer, prompt: bytes) -> tuple[np.ndarray, bytes]:
    """The ids M2 is given for a prompt, and the text they stand for."""
    ids = tokenizer.encode(prompt)
    if tokenizer.name == "equal_info_ac":
        [doc] = tokenizer.encode_detailed([prompt])
        bits, token_bits = tokenizer.codec.window_bits, tokenizer.codec.token_bits
        per_unit = tokenizer.unit_tokens * token_bits // bits  # windows per whole number of ids
        keep = (doc.windows - 1) // per_unit * per_unit * bits // token_bits
        ids = ids[:keep]
        return ids, tokenizer.decode_prefix(ids).text
    return ids, prompt


def pick(logits: torch.Tensor, pad_id: int, temperature: float, top_k: int, generator: torch.Generator) -> int:
    """The next id from the last position's logits (temperature 0: greedy; top_k 0: all ids)."""
    logits = logits.float().cpu()
    logits[pad_id] = -float("inf")  # PAD is never a token of a stream
    if temperature == 0:
        return int(logits.argmax())
    logits = logits / temperature
    if top_k:
        logits[logits < torch.topk(logits, min(top_k, logits.numel())).values[-1]] = -float("inf")
    return int(torch.multinomial(torch.softmax(logits, -1), 1, generator=generator))


@torch.no_grad()
def continue_ids(
    model: M2, ids: list[int], max_new: int, temperature: float, top_k: int, seed: int, cache: bool = True
) -> list[int]:
    """`max_new` ids after `ids`.  M2 sees PAD, then as many of the latest ids as fit, as every
    training sequence starts: when its context is full it starts again from PAD and the latest
    half.  With `cache`, a KV cache computes each new position once; without, every step runs
    the whole context again (the same contexts, so the same logits up to float rounding)."""
    cfg = model.cfg
    device = next(model.parameters()).device
    generator = torch.Generator(device="cpu").manual_seed(seed)
    history = list(ids)
    window = [cfg.pad_id, *history[max(0, len(history) - cfg.seq_len + 1) :]]

    def logits_after(fed: list[int]) -> torch.Tensor:
        if not cache:
            return model(torch.tensor(window, device=device)[None])[0, -1]
        return model.extend(torch.tensor(fed, device=device)[None], kv)[0, -1]

    kv = model.new_cache()
    logits, new = logits_after(window), []
    for _ in range(max_new):
        choice = pick(logits, cfg.pad_id, temperature, top_k, generator)
        new.append(choice)
        history.append(choice)
        if len(new) == max_new:
            break
        if len(window) == cfg.seq_len:  # full: PAD and the latest half, computed afresh
            window, kv = [cfg.pad_id, *history[-(cfg.seq_len // 2) :]], model.new_cache()
            logits = logits_after(window)
        else:
            window.append(choice)
            logits = logits_after([choice])
    return new


def sample(
    model: M2,
    tokenizer: Tokenizer,
    prompt: bytes,
    max_new: int,
    temperature: float = 1.0,
    top_k: int = 0,
    seed: int = 0,
) -> Sample:
    """Samples `max_new` ids after the prompt's (temperature 0: greedy; top_k 0: all ids)."""
    ids, text = conditioning(tokenizer, prompt)
    new = continue_ids(model, ids.tolist(), max_new, temperature, top_k, seed)
    return Sample(text, new, tokenizer.decode_prefix(np.array([*ids.tolist(), *new], dtype=np.int64)))
