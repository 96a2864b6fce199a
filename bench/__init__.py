"""MBO's benchmarks (issue #3): ``make bench`` or ``python -m bench [--quick] [--only ...]``.

Benchmarks are not tests: their timings depend on the machine. The full run writes
``bench/results.md`` (quoted by the README); see ``bench/runner.py`` for the sections.
"""
