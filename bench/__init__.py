"""Benchmarks, run as modules: ``python -m bench.<name>``. Results go to bench-results/ (not committed)."""
