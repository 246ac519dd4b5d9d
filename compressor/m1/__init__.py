"""M1: the small byte-level transformer whose probabilities drive the coder."""
