"""Sobol analysis of W1 with a B-cell endpoint: 50,000 runs, pkpd vs the naive scipy loop.

Quantity of interest: time with B below 10 cells/uL over days 0..730 (and the
B nadir). Eight parameters of W1 varied uniformly over +-30 % of their values;
Saltelli sampling with n = 5000 base samples, first and total indices:
n * (k + 2) = 50,000 runs through the compiled batch kernel on ``--threads``
cores. Baseline, in the same process: the naive ``solve_ivp(LSODA)`` +
``sympy.lambdify`` loop of bench_population.py, timed on ``--naive`` runs
and extrapolated to 50,000 (the output says so).

Usage: python benchmarks/bench_sobol.py [--threads 2] [--repeat 3] [--n 5000]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from workloads import W1_TIMES, Naive, median_time, w1_model, w1_regimen  # noqa: E402

from pkpd.metrics import nadir, time_below  # noqa: E402
from pkpd.sensitivity import sobol  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--naive", type=int, default=10)
    a = ap.parse_args()
    m, reg = w1_model(), w1_regimen()
    ranges = {p.name: (0.7 * p.value, 1.3 * p.value) for p in m.params}
    qoi = [time_below("bcells", 10.0), nadir("bcells")]

    def run():
        with warnings.catch_warnings():
            # n = 5000 gives exactly 50,000 runs; SALib prefers powers of 2
            warnings.filterwarnings("ignore", message=".*power of 2.*")
            return sobol(m, reg, W1_TIMES, params=ranges, qoi=qoi, n=a.n, rng=7, n_jobs=a.threads)

    t0 = time.perf_counter()
    res = run()
    first = time.perf_counter() - t0
    med = median_time(run, a.repeat)

    naive = Naive(m)
    names = list(m.param_names)
    t0 = time.perf_counter()
    for row in res.samples[: a.naive]:
        naive.run(reg, W1_TIMES, np.asarray(row, dtype=float))
    naive_each = (time.perf_counter() - t0) / a.naive
    naive_total = naive_each * res.n_runs
    print(f"Sobol of W1: {res.n_runs} runs, {len(names)} parameters, threads={a.threads}")
    print(res.summary())
    print(f"pkpd sobol(): median {med:.2f} s over {a.repeat} runs ("
          f"first call {first:.2f} s); {med / res.n_runs * 1e6:.0f} us per run incl. analysis")
    print(f"naive solve_ivp(LSODA)+lambdify: {naive_each * 1e3:.1f} ms per run, measured on "
          f"{a.naive} runs and extrapolated to {res.n_runs}: {naive_total:.0f} s")
    print(f"ratio naive/pkpd: {naive_total / med:.0f}x   (goal: pkpd <= 5 s on 2 cores)")
    assert np.isfinite(res.indices[["S1", "ST"]].to_numpy()).all()


if __name__ == "__main__":
    main()
