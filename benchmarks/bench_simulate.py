"""W1, W3, W4 and compile cost: pkpd against the naive scipy path, in one run.

Run: ``python benchmarks/bench_simulate.py`` (after ``make test`` or ``make demo``
has installed the environment). Prints medians and ratios; nothing is asserted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from workloads import (  # noqa: E402
    W1_TIMES,
    W3_TIMES,
    Naive,
    median_time,
    w1_model,
    w1_regimen,
    w3_model,
    w3_regimen,
)

from pkpd import simulate  # noqa: E402
from pkpd.simulate import prepare  # noqa: E402


def compile_times() -> tuple[tuple[float, ...], tuple[float, ...]]:
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import pkpd, pkpd.kernel
        from workloads import w1_model, w1_regimen
        m = w1_model()
        t0 = time.perf_counter()
        pkpd.compile_model(m)
        t1 = time.perf_counter()
        pkpd.simulate(m, w1_regimen(), [0.0, 1.0])
        print(t1 - t0, time.perf_counter() - t1)
    """)
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, PKPD_CACHE_DIR=d)
        run = [sys.executable, "-c", code]
        cold = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout
        warm = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout
    return tuple(map(float, cold.split())), tuple(map(float, warm.split()))


def main() -> None:
    print(f"pkpd speed workloads (rtol 1e-6, atol 1e-9), {os.cpu_count()} cores")
    cold, warm = compile_times()
    print(f"compile_model(W1) in a fresh process: cold {cold[0]:.2f} s, warm cache {warm[0]:.3f} s "
          "(goal cold <= 2 s, warm <= 0.2 s)")
    print(f"  then first simulation (loads the cached integration kernel once per process): "
          f"{cold[1]:.2f} s / {warm[1]:.2f} s")

    m1, r1 = w1_model(), w1_regimen()
    simulate(m1, r1, W1_TIMES)
    t_pkpd = median_time(lambda: simulate(m1, r1, W1_TIMES), 200)
    naive1 = Naive(m1)
    p1 = np.array([p.value for p in m1.params])
    y_naive = naive1.run(r1, W1_TIMES, p1)
    y_pkpd = simulate(m1, r1, W1_TIMES).states
    t_naive = median_time(lambda: naive1.run(r1, W1_TIMES, p1), 5)
    err = np.max(np.abs(y_pkpd - y_naive) / (1e-6 + 1e-4 * np.abs(y_naive)))
    print(f"W1 one subject:   pkpd {t_pkpd * 1e3:8.3f} ms   naive {t_naive * 1e3:8.1f} ms   "
          f"ratio {t_naive / t_pkpd:6.0f}x   (goal <= 0.2 ms, >= 150x; agreement {err:.2g} in units "
          "of 1e-4 rel)")

    m3, r3 = w3_model(), w3_regimen()
    simulate(m3, r3, W3_TIMES)
    t3 = median_time(lambda: simulate(m3, r3, W3_TIMES), 20)
    s3 = simulate(m3, r3, W3_TIMES)
    naive3 = Naive(m3)
    p3 = np.array([p.value for p in m3.params])
    t3n = median_time(lambda: naive3.run(r3, W3_TIMES, p3), 3)
    print(f"W3 51 states:     pkpd {t3 * 1e3:8.3f} ms   naive {t3n * 1e3:8.1f} ms   "
          f"ratio {t3n / t3:6.0f}x   (goal <= 3 ms; method used: {s3.method}, "
          f"switched to stiff: {s3.stats['switched_to_stiff']})")

    rng = np.random.default_rng(4)
    perturbed = [{p.name: p.value * (1 + 0.02 * rng.standard_normal()) for p in m1.params}
                 for _ in range(500)]

    def w4_simulate():
        for ps in perturbed:
            simulate(m1, r1, W1_TIMES, params=ps)

    prep = prepare(m1, r1, W1_TIMES)

    def w4_prepared():
        for ps in perturbed:
            prep.run(prep.base_vector(ps))

    w4_simulate()
    t4 = median_time(w4_simulate, 3)
    t4p = median_time(w4_prepared, 3)
    t4n = median_time(lambda: [naive1.run(r1, W1_TIMES, np.array(list(ps.values())))
                               for ps in perturbed[:10]], 1) * 50
    print(f"W4 500 fit calls: simulate() {t4:6.3f} s, prepare()+run {t4p:6.3f} s   naive "
          f"{t4n:6.1f} s (10 calls x 50)   ratio {t4n / t4p:6.0f}x   (goal <= 0.1 s)")


if __name__ == "__main__":
    main()
