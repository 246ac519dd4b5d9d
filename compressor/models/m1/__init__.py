"""M1: the small byte-level transformer whose probabilities drive the coder.

model.py is the float model (training only), data.py and train.py train it, checkpoint.py saves
and loads it, integer.py is its exact integer twin, evaluate.py scores it in bits/byte, and
bytemodel.py puts the twin behind the ByteModel protocol (with a KV-cache session) for coding.
"""
