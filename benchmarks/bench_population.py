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
import statistics
import time

import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp

from pkpd.dosing import Infusion, Regimen
from pkpd.language import parse_model
from pkpd.population import Population, simulate_population

W1 = """
name: w1
time: day
dose: A1
[parameters]
CL = 0.17 [L/day] (0, inf)
V1 = 2.78 [L] (0, inf)
Q = 0.3 [L/day] (0, inf)
V2 = 2.7 [L] (0, inf)
B0 = 200 [cells/uL] (0, inf)
kout = 0.05 [1/day] (0, inf)
kmax = 2 [1/day] (0, inf)
EC50 = 0.5 [mg/L] (0, inf)
[states]
A1 = 0 [mg]
A2 = 0 [mg]
B = B0 [cells/uL]
[equations]
C = A1/V1
d/dt(A1) = -CL*C - Q*(C - A2/V2)
d/dt(A2) = Q*(C - A2/V2)
d/dt(B) = kout*B0 - kout*B - kmax*C/(EC50 + C)*B
[outputs]
conc = C [mg/L]
Bc = B [cells/uL]
"""
DOSES = [(0.0, 300.0, 2.5 / 24), (14.0, 300.0, 2.5 / 24)] + [
    (t, 600.0, 3.5 / 24) for t in (168.0, 336.0, 504.0, 672.0)]
TIMES = np.arange(0.0, 731.0)
IIV = {"CL": 0.3, "V1": 0.3, "kmax": 0.3, "EC50": 0.3, "B0": 0.3}
RTOL, ATOL = 1e-6, 1e-9


def model_and_regimen():
    m = parse_model(W1)
    reg = Regimen(tuple(Infusion(t, a, "A1", duration=d) for t, a, d in DOSES))
    return m, reg


def naive_rhs():
    A1, A2, B, CL, V1, Q, V2, B0, kout, kmax, EC50, rin = sp.symbols(
        "A1 A2 B CL V1 Q V2 B0 kout kmax EC50 rin")
    C = A1 / V1
    f = [rin - CL * C - Q * (C - A2 / V2), Q * (C - A2 / V2),
         kout * B0 - kout * B - kmax * C / (EC50 + C) * B]
    return sp.lambdify((A1, A2, B, CL, V1, Q, V2, B0, kout, kmax, EC50, rin), f, "numpy")


def naive_subject(fn, p):
    """One W1 subject with solve_ivp(LSODA), restarting at every infusion start/stop."""
    edges = sorted({0.0, TIMES[-1]} | {t for t, _, _ in DOSES} | {t + d for t, _, d in DOSES})
    y = np.array([0.0, 0.0, p["B0"]])
    out = np.empty((len(TIMES), 3))
    args = [p[k] for k in ("CL", "V1", "Q", "V2", "B0", "kout", "kmax", "EC50")]
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        rin = sum(amt / d for t, amt, d in DOSES if t <= a < t + d)
        mask = (TIMES >= a) & ((TIMES < b) | (b == TIMES[-1]))
        t_eval = np.union1d(TIMES[mask], [b])  # b gives the state to restart from
        sol = solve_ivp(lambda t, z, r=rin: fn(*z, *args, r), (a, b), y, method="LSODA",
                        t_eval=t_eval, rtol=RTOL, atol=ATOL)
        keep = np.isin(sol.t, TIMES[mask])
        out[mask] = sol.y[:, keep].T
        y = sol.y[:, -1]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--naive", type=int, default=20)
    ap.add_argument("--subjects", type=int, default=1000)
    a = ap.parse_args()
    m, reg = model_and_regimen()
    pop = Population(m, IIV)
    n = a.subjects

    def run():
        return simulate_population(pop, reg, TIMES, n=n, rng=2024, n_jobs=a.threads,
                                   rtol=RTOL, atol=ATOL)

    t0 = time.perf_counter()
    res = run()
    first = time.perf_counter() - t0
    times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        res = run()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)

    fn = naive_rhs()
    params = res.params.head(a.naive)
    t0 = time.perf_counter()
    worst = 0.0
    for k, row in params.iterrows():
        y = naive_subject(fn, row)
        worst = max(worst, float(np.max(np.abs(y[:, 2] - res["Bc"][k]) / (1e-3 + np.abs(y[:, 2])))))
    naive_each = (time.perf_counter() - t0) / len(params)
    naive_total = naive_each * n
    print(f"W2: {n} subjects x {len(TIMES)} times, threads={a.threads}")
    print(f"pkpd simulate_population: median {med:.3f} s over {a.repeat} runs "
          f"(min {min(times):.3f} s; first call incl. compile/cache load {first:.2f} s); "
          f"{med / n * 1e3:.3f} ms per subject")
    print(f"naive solve_ivp(LSODA)+lambdify: {naive_each * 1e3:.1f} ms per subject, measured on "
          f"{len(params)} subjects and extrapolated to {n}: {naive_total:.1f} s")
    print(f"ratio naive/pkpd: {naive_total / med:.0f}x   (goal: pkpd <= 0.1 s on 2 cores)")
    print(f"max relative difference of B vs the naive solver on the subset: {worst:.1e}")


if __name__ == "__main__":
    main()
