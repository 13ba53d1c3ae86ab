"""Benchmarks: each module measures a target against a baseline measured in the same run."""
