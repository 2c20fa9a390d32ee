"""Benchmarks of AsyncJSONDB's storage engine against its peers and the machine's limits.

A script, not a test: ``python -m benchmarks.run`` (see ``benchmarks/README.md``).
"""
