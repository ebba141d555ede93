"""Benchmarks: our channel layers side by side with fast-channels 1.1.0 and channels-redis 4.3.0.

`python -m ops.bench` runs every scenario against every implementation on one Redis started for
the run, prints the table and writes results.md, results.json and a plot. See README.md here.
"""
