"""The compression stage: an Apache Beam pipeline from text corpora to M2's token shards.

Documents are read and batched (`inputs`), coded by any tokenizer, M1 included, many examples in
lockstep per worker (`coding`), cut into training records per input file (`packing`), and written
as ArrayRecord shards with a manifest and a dead-letter file (`shards`, `manifest`); `compress`
assembles the pipeline, `decode` turns shards back into documents.
"""
