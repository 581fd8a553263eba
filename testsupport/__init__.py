"""Helpers shared by the integration tests (tests/integration) and the benchmarks (benchmarks/).

A plain package at the repo root, not installed: pytest finds it through tests/conftest.py
(the repo root on sys.path) and the benchmark scripts put the repo root on sys.path
themselves. Nothing in it imports pytest, so benchmarks run without the test tools.
"""
