"""The speed workloads W1-W4 of shared/bench/WORKLOADS.md, and the naive baseline.

The naive path is what a modeller writes first: ``scipy.integrate.solve_ivp``
(LSODA) with a ``sympy.lambdify`` right-hand side, restarted at every dose
breakpoint, with output on the requested grid.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp

from pkpd import Infusion, Model, Output, Param, State
from pkpd.dosing import as_regimen

RTOL, ATOL = 1e-6, 1e-9


def median_time(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` calls of ``fn``, in seconds."""
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def w1_model() -> Model:
    A1, A2, B, CL, V1, Q, V2, B0, kout, kmax, EC50, C = sp.symbols(
        "A1 A2 B CL V1 Q V2 B0 kout kmax EC50 C")
    return Model(
        name="W1",
        params=[Param("CL", 0.17, "L/day", 0), Param("V1", 2.78, "L", 0),
                Param("Q", 0.3, "L/day", 0), Param("V2", 2.7, "L", 0),
                Param("B0", 200.0, "cells/uL", 0), Param("kout", 0.05, "1/day", 0),
                Param("kmax", 2.0, "1/day", 0), Param("EC50", 0.5, "mg/L", 0)],
        states=[State("A1", 0, "mg"), State("A2", 0, "mg"), State("B", B0, "cells/uL")],
        assignments={"C": A1 / V1},
        odes={"A1": -CL * C - Q * (C - A2 / V2), "A2": Q * (C - A2 / V2),
              "B": kout * B0 - kout * B - kmax * C / (EC50 + C) * B},
        outputs=[Output("conc", C, "mg/L"), Output("bcells", B, "cells/uL")],
        dose_target="A1", time_unit="day")


def w1_regimen():
    return (Infusion(0, 300, "A1", duration=2.5 / 24) + Infusion(14, 300, "A1", duration=2.5 / 24)
            + Infusion(168, 600, "A1", duration=3.5 / 24, interval=168, count=4))


W1_TIMES = np.arange(0, 731.0)


def w3_model(n_transit: int = 48) -> Model:
    """Friberg-type chain: drug (1 cmt) + Prol + 48 transit + Circ."""
    A, Prol, Circ = sp.symbols("A Prol Circ")
    CL, V, ktr, Circ0, gam, Emax, EC50 = sp.symbols("CL V ktr Circ0 gam Emax EC50")
    T = [sp.Symbol(f"T{i}") for i in range(1, n_transit + 1)]
    C = A / V
    edrug = 1 - Emax * C / (EC50 + C)
    odes = {"A": -CL * C,
            "Prol": ktr * Prol * edrug * (Circ0 / Circ) ** gam - ktr * Prol}
    prev = Prol
    for Ti in T:
        odes[Ti.name] = ktr * (prev - Ti)
        prev = Ti
    odes["Circ"] = ktr * (prev - Circ)
    return Model(
        name="W3",
        params=[Param("CL", 240.0, "L/day", 0), Param("V", 10.0, "L", 0),
                Param("ktr", 0.5, "1/day", 0), Param("Circ0", 5.0, "1e9/L", 0),
                Param("gam", 0.2, "", 0), Param("Emax", 1.0, "", 0),
                Param("EC50", 10.0, "mg/L", 0)],
        states=[State("A", 0, "mg"), State("Prol", Circ0)] + [State(t.name, Circ0) for t in T]
        + [State("Circ", Circ0)],
        odes=odes, outputs=[Output("circ", Circ)], dose_target="A", time_unit="day")


def w3_regimen():
    return Infusion(0, 500, "A", duration=1 / 24, interval=21, count=6)


W3_TIMES = np.arange(0, 366.0)


class Naive:
    """solve_ivp(LSODA) + lambdify RHS, restarted at every breakpoint."""

    def __init__(self, model: Model):
        ex = model.expanded()
        self.model = model
        self.f = sp.lambdify((sp.Symbol("t"), ex.states, ex.params), list(ex.rhs), "numpy")
        self.init = sp.lambdify((ex.params,), list(ex.inits), "numpy")

    def _rhs(self, t: float, y: np.ndarray, params: np.ndarray, r: np.ndarray) -> np.ndarray:
        return np.asarray(self.f(t, y, params)) + r

    def run(self, regimen, times, params: np.ndarray) -> np.ndarray:
        n = len(self.model.states)
        idx = {s: i for i, s in enumerate(self.model.state_names)}
        infs = []
        for d in as_regimen(regimen):
            for t0 in d.times():
                infs.append((float(t0), float(t0 + d.duration), idx[d.target], d.amount / d.duration))
        bps = sorted({times[0], times[-1]} | {a for a, _, _, _ in infs} | {b for _, b, _, _ in infs})
        bps = [b for b in bps if times[0] <= b <= times[-1]]
        y = np.array(self.init(params), dtype=float)
        out = np.empty((len(times), n))
        k = 0
        for a, b in zip(bps[:-1], bps[1:], strict=True):
            r = np.zeros(n)
            for s, e, c, rate in infs:
                if s <= a < e:
                    r[c] += rate
            sel = times[(times >= a) & (times < b)]
            sol = solve_ivp(self._rhs, (a, b), y, args=(params, r), method="LSODA",
                            rtol=RTOL, atol=ATOL, t_eval=np.r_[sel, b])
            out[k:k + len(sel)] = sol.y[:, :-1].T
            k += len(sel)
            y = sol.y[:, -1]
        out[k:] = y
        return out
