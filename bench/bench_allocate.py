"""Benchmark ``optimizer.allocate`` on large random problems (run: python bench/bench_allocate.py).

Prints wall time, demand evaluations and the certified optimality gap per scenario. Not a
test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from optimizer import HillCurve, allocate


def scenarios(n: int, rng: np.random.Generator):
    """(name, curves, allocate keyword arguments) for n campaigns."""
    vmax, half = rng.uniform(10, 1000, n), rng.uniform(10, 500, n)
    current = rng.uniform(20, 200, n)
    concave = HillCurve(vmax, half, rng.uniform(0.5, 1.0, n))
    mixed = HillCurve(vmax, half, rng.uniform(0.5, 3.0, n))
    yield "concave, free", concave, {"total_budget": current.sum()}
    yield "concave, max_change=0.3", concave, {"total_budget": current.sum(), "current": current, "max_change": 0.3}
    yield "shape 0.5-3, free", mixed, {"total_budget": current.sum()}
    yield "identical S-curves", HillCurve(np.full(n, 100.0), 100.0, 2.0), {"total_budget": 50.0 * n}


def main() -> None:
    """Run every scenario for each campaign count and print one line per run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'campaigns':>9}  {'scenario':<26} {'best s':>8} {'nit':>5} {'gap':>9}")
    for n in args.campaigns:
        for name, curves, kwargs in scenarios(n, rng):
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                plan = allocate(curves, **kwargs)
                times.append(time.perf_counter() - start)
            print(f"{n:>9}  {name:<26} {min(times):>8.3f} {plan.nit:>5} {plan.optimality_gap:>9.1e}")


if __name__ == "__main__":
    main()
