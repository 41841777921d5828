"""W2: 1000 subjects of W1 (../shared/bench/WORKLOADS.md), pkpd vs the naive scipy loop.

pkpd: ``simulate_population`` (sampling included), one call into the compiled
batch kernel over all cores (``--threads``, default 2). Baseline, in the same
process: scipy ``solve_ivp(LSODA)`` with a ``sympy.lambdify`` right-hand side,
restarted at every infusion start and stop. The baseline is timed on a subset
of subjects (``--naive``, default 20) and extrapolated to 1000; the output
says so.

Usage: python benchmarks/bench_population.py [--threads 2] [--repeat 5] [--naive 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from workloads import ATOL, RTOL, W1_TIMES, Naive, median_time, w1_model, w1_regimen  # noqa: E402

from pkpd.population import Population, simulate_population  # noqa: E402

IIV = {"CL": 0.3, "V1": 0.3, "kmax": 0.3, "EC50": 0.3, "B0": 0.3}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--naive", type=int, default=20)
    ap.add_argument("--subjects", type=int, default=1000)
    a = ap.parse_args()
    m, reg = w1_model(), w1_regimen()
    pop = Population(m, IIV)
    n = a.subjects

    def run():
        return simulate_population(pop, reg, W1_TIMES, n=n, rng=2024, n_jobs=a.threads,
                                   rtol=RTOL, atol=ATOL)

    t0 = time.perf_counter()
    res = run()
    first = time.perf_counter() - t0
    med = median_time(run, a.repeat)

    naive = Naive(m)
    params = res.params.head(a.naive)
    t0 = time.perf_counter()
    worst = 0.0
    for k, row in params.iterrows():
        y = naive.run(reg, W1_TIMES, row[list(m.param_names)].to_numpy(dtype=float))
        b = res["bcells"][k]
        worst = max(worst, float(np.max(np.abs(y[:, 2] - b) / (1e-3 + np.abs(y[:, 2])))))
    naive_each = (time.perf_counter() - t0) / len(params)
    naive_total = naive_each * n
    print(f"W2: {n} subjects x {len(W1_TIMES)} times, threads={a.threads}")
    print(f"pkpd simulate_population: median {med:.3f} s over {a.repeat} runs "
          f"(first call incl. compile/cache load {first:.2f} s); "
          f"{med / n * 1e3:.3f} ms per subject")
    print(f"naive solve_ivp(LSODA)+lambdify: {naive_each * 1e3:.1f} ms per subject, measured on "
          f"{len(params)} subjects and extrapolated to {n}: {naive_total:.1f} s")
    print(f"ratio naive/pkpd: {naive_total / med:.0f}x   (goal: pkpd <= 0.1 s on 2 cores)")
    print(f"max relative difference of B vs the naive solver on the subset: {worst:.1e}")


if __name__ == "__main__":
    main()
