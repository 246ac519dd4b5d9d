"""Benchmarks of the library, each against a named reference in the same run (`eqinfo bench ...`)."""
