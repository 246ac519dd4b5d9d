"""eqinfo's library: exact arithmetic coding with Equal-Info Windows, byte models and tokenizers.

Layers, each importing only those below it (pyproject.toml's import-linter contracts):

    cli, bench      the `eqinfo` commands and benchmarks
    tokenizers      spec strings -> one Tokenizer interface for every method of the paper
    codecs, shards  documents <-> tokens over a byte model; the shard record layout
    models          byte models: the protocol, the simple models, M1
    coder, io       the C arithmetic coder and its Python twin; local and gs:// files
"""
