"""Benchmarks: each module runs as `python -m bench.NAME [--quick]` and records its figures in docs/benchmarks.md."""
