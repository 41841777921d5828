"""Cross-check W1 and W3 against R's deSolve (an independent code base).

R integrates the same equations with ``deSolve::lsoda`` at rtol 1e-12, atol
1e-14, restarting at every infusion start and end with the infusion rate held
constant on each segment (the equations are written out in R below, not taken
from pkpd). pkpd runs at its default tolerances (rtol 1e-6, atol 1e-9) and at
tight ones (1e-10, 1e-12); the script prints the largest error of each, scaled
by the requested tolerance, ``|y - y_R| / (atol + rtol |y_R|)``, and the
largest relative difference.

Needs ``Rscript`` with deSolve (Debian: ``apt install r-base-core
r-cran-desolve``); not part of the test suite (CI has no R).

Usage: python benchmarks/crosscheck_desolve.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from workloads import W1_TIMES, W3_TIMES, w1_model, w1_regimen, w3_model, w3_regimen  # noqa: E402

from pkpd import simulate  # noqa: E402

R_COMMON = """
suppressMessages(library(deSolve))
run <- function(f, y0, times, inf, parms) {
  bps <- sort(unique(c(times[1], times[length(times)], inf$start, inf$end)))
  bps <- bps[bps >= times[1] & bps <= times[length(times)]]
  out <- matrix(NA_real_, length(times), length(y0))
  y <- y0
  for (k in seq_len(length(bps) - 1)) {
    a <- bps[k]; b <- bps[k + 1]
    r <- rep(0, length(y0))
    on <- inf$start <= a & a < inf$end
    for (j in which(on)) r[inf$cmt[j]] <- r[inf$cmt[j]] + inf$rate[j]
    sel <- which(times >= a & times < b)
    tt <- unique(c(a, times[sel], b))
    sol <- lsoda(y, tt, function(t, y, p) list(f(t, y, p) + r), parms,
                 rtol = 1e-12, atol = 1e-14)
    for (i in sel) out[i, ] <- sol[match(times[i], sol[, 1]), -1]
    y <- sol[nrow(sol), -1]
  }
  out[times >= bps[length(bps)], ] <- matrix(y, sum(times >= bps[length(bps)]), length(y0),
                                             byrow = TRUE)
  out
}
"""

R_W1 = """
f1 <- function(t, y, p) with(as.list(p), {
  C <- y[1] / V1
  c(-CL * C - Q * (C - y[2] / V2), Q * (C - y[2] / V2),
    kout * B0 - kout * y[3] - kmax * C / (EC50 + C) * y[3])
})
p1 <- c(CL = 0.17, V1 = 2.78, Q = 0.3, V2 = 2.7, B0 = 200, kout = 0.05, kmax = 2, EC50 = 0.5)
st <- c(0, 14, 168, 336, 504, 672); du <- c(2.5, 2.5, 3.5, 3.5, 3.5, 3.5) / 24
am <- c(300, 300, 600, 600, 600, 600)
inf1 <- data.frame(start = st, end = st + du, cmt = 1, rate = am / du)
write.csv(run(f1, c(0, 0, 200), 0:730, inf1, p1), "w1.csv", row.names = FALSE)
"""

R_W3 = """
f3 <- function(t, y, p) with(as.list(p), {
  C <- y[1] / V
  n <- length(y)
  prol <- y[2]; tr <- y[3:(n - 1)]; circ <- y[n]
  edrug <- 1 - Emax * C / (EC50 + C)
  c(-CL * C,
    ktr * prol * edrug * (Circ0 / circ)^gam - ktr * prol,
    ktr * (c(prol, tr[-length(tr)]) - tr),
    ktr * (tr[length(tr)] - circ))
})
p3 <- c(CL = 240, V = 10, ktr = 0.5, Circ0 = 5, gam = 0.2, Emax = 1, EC50 = 10)
st <- 21 * (0:5)
inf3 <- data.frame(start = st, end = st + 1 / 24, cmt = 1, rate = 500 * 24)
write.csv(run(f3, c(0, rep(5, 50)), 0:365, inf3, p3), "w3.csv", row.names = FALSE)
"""


def _compare(name: str, ours: np.ndarray, ref: np.ndarray, rtol: float, atol: float) -> str:
    scaled = np.max(np.abs(ours - ref) / (atol + rtol * np.abs(ref)))
    rel = np.max(np.abs(ours - ref) / np.maximum(np.abs(ref), 1e-6))
    return (f"{name:>28s}: max error {scaled:8.3f} tolerance units, "
            f"max relative difference {rel:.2e}")


def main() -> int:
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("Rscript not found: install R and deSolve (apt install r-base-core r-cran-desolve)")
        return 1
    with tempfile.TemporaryDirectory() as d:
        script = Path(d) / "check.R"
        script.write_text(textwrap.dedent(R_COMMON + R_W1 + R_W3))
        subprocess.run([rscript, str(script)], cwd=d, check=True)
        ref1 = np.loadtxt(Path(d) / "w1.csv", delimiter=",", skiprows=1)
        ref3 = np.loadtxt(Path(d) / "w3.csv", delimiter=",", skiprows=1)
    ver = subprocess.run([rscript, "-e", "cat(format(packageVersion('deSolve')))"],
                         capture_output=True, text=True).stdout.strip()
    print(f"reference: R deSolve {ver} lsoda at rtol 1e-12, atol 1e-14")
    for label, model, reg, times, ref in (("W1", w1_model(), w1_regimen(), W1_TIMES, ref1),
                                          ("W3", w3_model(), w3_regimen(), W3_TIMES, ref3)):
        for method in ("tsit5", "rodas4", "auto"):
            for rtol, atol in ((1e-6, 1e-9), (1e-10, 1e-12)):
                s = simulate(model, reg, times, method=method, rtol=rtol, atol=atol)
                print(_compare(f"{label} {method} rtol {rtol:g}", s.states, ref, rtol, atol))
    return 0


if __name__ == "__main__":
    sys.exit(main())
