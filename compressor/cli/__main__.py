"""`python -m compressor.cli`: the `eqinfo` command."""

from compressor.cli import main

main()
