"""eqinfo: exact arithmetic coding with Equal-Info Windows, byte models and tokenizers."""
