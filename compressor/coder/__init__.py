"""The arithmetic coder: a C core (range coder, CDF quantisation, the Equal-Info window rule) in
csrc/, its thin bindings `_coder`, the Python face `native`, and `reference`, a pure-Python twin
that the tests hold the C code to bit for bit.  Knows nothing of bytes, documents or models."""
