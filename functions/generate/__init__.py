"""Synthetic provinces for demos, tests and benchmarks (`creditrisk generate`, docs/synthetic-data.md)."""
