"""Fit W1 (shared/bench/WORKLOADS.md) with pkpd.fit and with a naive scipy objective.

Four parameters (CL, V1, kmax, EC50) are estimated from 40 simulated
observations (20 concentrations, 20 B-cell counts, additive noise with known
standard deviations, seeded). Both fits minimise the same weighted sum of
squares from the same start on the log scale:

- pkpd: :func:`pkpd.fit.fit` with the error parameters fixed (so the OFV is
  the weighted SSE plus a constant), Jacobian from forward sensitivities;
- naive: ``scipy.optimize.least_squares`` (TRF, 2-point finite differences)
  on ``solve_ivp(LSODA)`` with a ``sympy.lambdify`` right-hand side
  restarted at every infusion breakpoint (benchmarks/workloads.py).

Run: ``python benchmarks/bench_fit.py``. Prints medians, model evaluations and
the ratio; nothing is asserted.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

sys.path.insert(0, str(Path(__file__).parent))
from workloads import ATOL, RTOL, Naive, median_time, w1_model, w1_regimen  # noqa: E402

from pkpd import simulate  # noqa: E402
from pkpd.fit import fit  # noqa: E402

FREE = ("CL", "V1", "kmax", "EC50")
SD = {"conc": 5.0, "bcells": 5.0}
T_CONC = np.array([0.2, 1, 3, 7, 13.5, 14.2, 15, 21, 28, 56, 112, 167, 168.2, 170, 200, 336.2,
                   400, 504.2, 672.2, 700])
T_B = np.array([1, 3, 7, 14, 21, 42, 84, 126, 160, 175, 250, 300, 330, 350, 420, 500, 560,
                620, 690, 730.0])
START = {"CL": 0.25, "V1": 2.0, "kmax": 1.2, "EC50": 1.0}


def data(seed: int = 0) -> pd.DataFrame:
    m = w1_model()
    gen = np.random.default_rng(seed)
    times = np.unique(np.r_[T_CONC, T_B])
    sim = simulate(m, w1_regimen(), times, rtol=1e-10, atol=1e-12)
    rows = []
    for out, ts in (("conc", T_CONC), ("bcells", T_B)):
        f = sim[out][np.searchsorted(times, ts)]
        for t, v in zip(ts, f + SD[out] * gen.standard_normal(len(ts)), strict=True):
            rows.append((t, out, v))
    return pd.DataFrame(rows, columns=["time", "output", "dv"]).sort_values("time")


def fit_pkpd(obs: pd.DataFrame, covariance: bool = False):
    return fit(w1_model(), obs, regimen=w1_regimen(), vary=START, log_params="all",
               fixed={"sigma_add_conc": SD["conc"], "sigma_add_bcells": SD["bcells"]},
               error="additive", rtol=RTOL, atol=ATOL, covariance=covariance)


def fit_naive(obs: pd.DataFrame, naive: Naive) -> tuple[np.ndarray, int]:
    m = naive.model
    base = np.array([p.value for p in m.params])
    idx = [m.param_names.index(n) for n in FREE]
    grid = np.unique(np.r_[0.0, obs["time"].to_numpy()])
    ti = np.searchsorted(grid, obs["time"].to_numpy())
    col = {"conc": None, "bcells": m.state_names.index("B")}
    is_conc = (obs["output"] == "conc").to_numpy()
    sd = np.where(is_conc, SD["conc"], SD["bcells"])
    y = obs["dv"].to_numpy()
    count = [0]

    def residuals(z):
        count[0] += 1
        p = base.copy()
        p[idx] = np.exp(z)
        Y = naive.run(w1_regimen(), grid, p)
        conc = Y[:, m.state_names.index("A1")] / p[m.param_names.index("V1")]
        f = np.where(is_conc, conc[ti], Y[ti, col["bcells"]])
        return (y - f) / sd

    out = least_squares(residuals, np.log([START[n] for n in FREE]), method="trf",
                        xtol=1e-8, ftol=1e-8, gtol=1e-8)
    return np.exp(out.x), count[0], float(np.sum(out.fun ** 2))


def main() -> None:
    obs = data()
    naive = Naive(w1_model())
    fit_pkpd(obs)  # compile and warm up
    res = fit_pkpd(obs)
    res.raise_for_status()
    est_naive, nfev_naive, wsse_naive = fit_naive(obs, naive)
    t_pkpd = median_time(lambda: fit_pkpd(obs), 15)
    t_cov = median_time(lambda: fit_pkpd(obs, covariance=True), 15)
    t_naive = median_time(lambda: fit_naive(obs, naive), 3)
    print(f"W1 fit: 4 parameters, {len(obs)} observations (rtol {RTOL:g}, atol {ATOL:g})")
    print(f"{'':24}{'median':>10}{'evaluations':>30}")
    print(f"{'pkpd (sensitivities)':24}{1e3 * t_pkpd:9.1f} ms"
          f"{f'{res.nfev} plain + {res.njev} with sensitivities':>36}")
    print(f"{'pkpd + covariance':24}{1e3 * t_cov:9.1f} ms")
    print(f"{'naive (LSODA + FD)':24}{1e3 * t_naive:9.1f} ms{f'{nfev_naive} plain':>36}")
    print(f"ratio naive / pkpd: {t_naive / t_pkpd:.0f}x")
    pr = res.predict()
    wsse = float(np.sum((pr["res"] / pr["sd"]) ** 2))
    print(f"weighted SSE at the estimate: pkpd {wsse:.6g}, naive {wsse_naive:.6g}")
    print("estimates (truth CL 0.17, V1 2.78, kmax 2, EC50 0.5):")
    for k, n in enumerate(FREE):
        print(f"  {n:5} pkpd {res.params[n]:.5g}   naive {est_naive[k]:.5g}")


if __name__ == "__main__":
    main()
