"""The second half of the paper: M2, a transformer trained with FSDP2 on the pipeline's token
shards, evaluated in bits per raw byte, and generation back to text."""
