"""Benchmarks: each prints JSON lines measured against a baseline from the same run; none asserts
speed."""
