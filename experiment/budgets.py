"""What an experiment runs: the paper's methods, and how much text and compute each budget spends.

Every method gets the same M2 and the same number of training ids, as in the paper; the text
is fixed, so a method whose ids hold more bytes makes fewer passes over it (the report says how
many).  Spec templates name the models the experiment builds: {m1} (M1's checkpoint), {spm}
(SentencePiece fitted on the training text) and {fit} (the training text, for StaticAC).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from compressor.tokenizers.paper import PAPER_METHODS as PAPER_TABLE
from compressor.tokenizers.paper import with_model

PAPER_METHODS = with_model(PAPER_TABLE, "m1={m1}")  # M1 drives AC and EqualInfoAC, as in the paper
# The smallest set that still shows the main finding: AC is not learnable, Equal-Info is.
DEMO_METHODS = ("bytes", "ac:v=65536,m1={m1}", "equal_info_ac:b=16,v=256,m1={m1}", "equal_info_ac:b=16,v=65536,m1={m1}")
# The paper's comparison across M2 sizes (its Table 15 and Figure 3).
LADDER_METHODS = ("bytes", "sentencepiece:model={spm}", *DEMO_METHODS[1:])


@dataclass(frozen=True)
class Budget:
    name: str
    methods: tuple[str, ...]
    train_docs: int  # the first documents: M1's, SentencePiece's and M2's training text
    held_out_docs: int  # the last documents: every method's evaluation text
    m1_size: str  # compressor.models.m1.model.SIZES
    m1_minutes: float
    m2_sizes: tuple[str, ...]  # m2_train.model.SIZES, smallest first: the findings are decided at the last
    m2_ids: int  # training ids per method
    batch: int  # sequences per step
    seq_len: int
    spm_vocab: int = 32000  # an upper bound: a small text supports fewer pieces
    generate_ids: int = 48
    workers: int = 2  # Beam DirectRunner worker processes and torchrun processes
    seeds: int = 1  # M2s per method: the same ids, another initialisation and data order each

    @property
    def m2_size(self) -> str:
        return self.m2_sizes[-1]

    def steps(self) -> int:
        return max(1, -(-self.m2_ids // (self.batch * self.seq_len)))

    def to_dict(self) -> dict:
        return asdict(self)


# On a CPU, a 65,536-id vocabulary makes M2's output layer the whole cost (tiny M2: 26 MFLOPs a
# training id, ~1,200 ids/s on 2 cores), so the CPU budgets train the tiny M2 on few ids.
BUDGETS = {
    # `make demo`: about 15 minutes on 2 cores, 2 seeds so that the findings can be decided.
    "demo": Budget("demo", DEMO_METHODS, 160, 40, "paper", 1.5, ("tiny",), 150_000, 16, 256, seeds=2),
    # The README's table: every method on the C4 sample, an hour or two on 2 cores (with --m1).
    "small": Budget("small", PAPER_METHODS, 800, 100, "paper", 25.0, ("tiny",), 400_000, 16, 512),
    # The paper's headline on 2 cores in about 90 minutes: the methods it compares across M2 sizes,
    # a ladder of three M2s ~4x apart (0.1m, 0.44m, 1.77m parameters without embeddings), 2 seeds.
    "scale": Budget(
        "scale", LADDER_METHODS, 800, 100, "paper", 6.0, ("tiny", "400k", "1.6m"), 150_000, 16, 256, seeds=2
    ),
    # The paper's 25m and 113m M2s on a GPU, 2 seeds.
    "full": Budget("full", PAPER_METHODS, 800, 100, "paper", 25.0, ("25m", "113m"), 50_000_000, 128, 512, seeds=2),
    # The test suite's: seconds per stage.
    "tiny": Budget(
        "tiny",
        (
            "bytes",
            "gzip:v=256",
            "ac:v=65536,m1={m1}",
            "equal_info_ac:b=16,v=256,m1={m1}",
            "equal_info_ac:b=16,v=65536,m1={m1}",
        ),
        24,
        6,
        "tiny",
        0.05,
        ("tiny",),
        6_000,
        8,
        64,
        generate_ids=12,
    ),
}
