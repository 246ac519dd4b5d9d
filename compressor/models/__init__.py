"""Byte models, the coder's source of probabilities: the ByteModel protocol and alphabet (base),
the uniform, unigram and order-2 models (simple), and M1, the byte transformer with its exact
integer twin (m1/)."""
