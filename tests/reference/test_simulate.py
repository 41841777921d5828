"""simulate() against closed-form solutions written here, a matrix exponential and scipy.

Errors are scaled by the tolerance, as scipy's own integrator tests do:
``|y - y_true| / (atol + rtol*|y_true|)``. Global errors of an adaptive solver are
a small multiple of the local tolerance over these short horizons, so the
bound is 10 for the ODE methods and 1 (at rtol 1e-10) for the exact solver.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import sympy as sp
from scipy.integrate import solve_ivp

from pkpd import (
    Bolus,
    Covariate,
    Infusion,
    Model,
    Param,
    Regimen,
    RegimenError,
    SimulationError,
    State,
    simulate,
)
from pkpd.simulate import prepare
from tests._models import onecmt_iv, onecmt_oral, w1_model, w1_regimen

ODE = ["nonstiff", "stiff"]
ALL = ["nonstiff", "stiff", "analytic"]
RTOL, ATOL = 1e-8, 1e-10


def scaled_err(y, y_true, rtol=RTOL, atol=ATOL):
    return np.max(np.abs(y - y_true) / (atol + rtol * np.abs(y_true)))


def bound(method):
    return 1.0 if method == "analytic" else 10.0


def tol(method):
    return (1e-10, 1e-12) if method == "analytic" else (RTOL, ATOL)


@pytest.mark.parametrize("method", ALL)
def test_iv_bolus_single_and_multiple(method):
    m = onecmt_iv()
    CL, V = 2.5, 30.0
    k = CL / V
    t = np.linspace(0, 72, 145)
    doses = [(0.0, 100.0), (12.0, 50.0), (30.0, 80.0)]
    sim = simulate(m, sum((Bolus(tt, a) for tt, a in doses), Regimen()), t, method=method,
                   rtol=tol(method)[0], atol=tol(method)[1])
    true = sum(np.where(t >= tt, a / V * np.exp(-k * (t - tt)), 0.0) for tt, a in doses)
    assert scaled_err(sim["conc"], true, *tol(method)) < bound(method)


@pytest.mark.parametrize("method", ALL)
def test_infusion_during_and_after(method):
    m = onecmt_iv()
    CL, V = 2.5, 30.0
    k = CL / V
    amt, dur = 120.0, 2.0
    t = np.linspace(0, 24, 97)
    sim = simulate(m, Infusion(0, amt, duration=dur), t, method=method, rtol=tol(method)[0],
                   atol=tol(method)[1])
    R = amt / dur
    c_end = R / CL * (1 - np.exp(-k * dur))
    true = np.where(t <= dur, R / CL * (1 - np.exp(-k * t)), c_end * np.exp(-k * (t - dur)))
    assert scaled_err(sim["conc"], true, *tol(method)) < bound(method)


@pytest.mark.parametrize("method", ALL)
def test_oral_absorption_with_F_and_lag(method):
    m = onecmt_oral().with_params(Fbio=0.7, tlag=0.5)
    ka, CL, V = 1.2, 2.5, 30.0
    k = CL / V
    t = np.linspace(0, 24, 97)
    sim = simulate(m, Bolus(1.0, 100), t, method=method, rtol=tol(method)[0],
                   atol=tol(method)[1])
    tt = t - 1.5
    true = np.where(tt > 0, 0.7 * 100 * ka / (V * (ka - k)) * (np.exp(-k * tt) - np.exp(-ka * tt)),
                    0.0)
    assert scaled_err(sim["conc"], true, *tol(method)) < bound(method)


@pytest.mark.parametrize("method", ALL)
def test_bolus_steady_state(method):
    m = onecmt_iv()
    CL, V, tau, D = 2.5, 30.0, 12.0, 100.0
    k = CL / V
    t = np.linspace(0, 36, 73)
    sim = simulate(m, Bolus(0, D, interval=tau, count=3, ss=True), t, method=method,
                   rtol=tol(method)[0], atol=tol(method)[1])
    true = D / V * np.exp(-k * (t % tau)) / (1 - np.exp(-k * tau))
    true[-1] = D / V * np.exp(-k * tau) / (1 - np.exp(-k * tau))  # t=36: no 4th dose
    assert scaled_err(sim["conc"], true, *tol(method)) < bound(method)


@pytest.mark.parametrize("method", ALL)
def test_infusion_steady_state(method):
    m = onecmt_iv()
    CL, V, tau, D, dur = 2.5, 30.0, 12.0, 100.0, 1.0
    k = CL / V
    R = D / dur
    t = np.linspace(0, 11.5, 24)
    sim = simulate(m, Infusion(0, D, duration=dur, interval=tau, ss=True), t, method=method,
                   rtol=tol(method)[0], atol=tol(method)[1])
    acc = 1 / (1 - np.exp(-k * tau))
    c_trough = R / CL * (1 - np.exp(-k * dur)) * np.exp(-k * (tau - dur)) * acc
    during = c_trough * np.exp(-k * t) + R / CL * (1 - np.exp(-k * t))
    c_peak = c_trough * np.exp(-k * dur) + R / CL * (1 - np.exp(-k * dur))
    true = np.where(t <= dur, during, c_peak * np.exp(-k * (t - dur)))
    assert scaled_err(sim["conc"], true, *tol(method)) < bound(method)


@pytest.mark.parametrize("method", ALL)
def test_oral_steady_state(method):
    m = onecmt_oral()
    ka, CL, V, tau, D = 1.2, 2.5, 30.0, 8.0, 100.0
    k = CL / V
    t = np.linspace(0, 7.9, 80)
    sim = simulate(m, Bolus(0, D, interval=tau, ss=True), t, method=method,
                   rtol=tol(method)[0], atol=tol(method)[1])
    true = D * ka / (V * (ka - k)) * (np.exp(-k * t) / (1 - np.exp(-k * tau))
                                      - np.exp(-ka * t) / (1 - np.exp(-ka * tau)))
    assert scaled_err(sim["conc"], true, *tol(method)) < bound(method)


@pytest.mark.parametrize("method", ALL)
def test_dose_at_end_of_infusion_and_bolus_with_infusion(method):
    m = onecmt_iv()
    CL, V = 2.5, 30.0
    k = CL / V
    reg = Infusion(0, 60, duration=2) + Bolus(2, 40) + Bolus(6, 30) + Infusion(6, 90, duration=3)
    t = np.linspace(0, 20, 81)
    sim = simulate(m, reg, t, method=method, rtol=tol(method)[0], atol=tol(method)[1])

    def inf(t, t0, amt, dur):
        R, s = amt / dur, np.clip(t - t0, 0, None)
        during = R / CL * (1 - np.exp(-k * np.minimum(s, dur)))
        return np.where(s > dur, during * np.exp(-k * (s - dur)), during)

    def bol(t, t0, amt):
        return np.where(t >= t0, amt / V * np.exp(-k * (t - t0)), 0.0)

    true = inf(t, 0, 60, 2) + bol(t, 2, 40) + bol(t, 6, 30) + inf(t, 6, 90, 3)
    assert scaled_err(sim["conc"], true, *tol(method)) < bound(method)
    # the output at a dose time is the post-dose value
    i2 = int(np.searchsorted(t, 2.0))
    assert sim["conc"][i2] > inf(np.array([2.0]), 0, 60, 2)[0] + 40 / V - 1e-6


@pytest.mark.parametrize("method", ALL)
def test_three_compartment_against_matrix_exponential(method):
    c1, c2, c3 = sp.symbols("c1 c2 c3")
    k10, k12, k21, k13, k31 = 0.3, 0.5, 0.2, 0.1, 0.05
    m = Model(name="three", params=[Param("k10", k10), Param("k12", k12), Param("k21", k21),
                                    Param("k13", k13), Param("k31", k31)],
              states=[State("c1", 0), State("c2", 0), State("c3", 0)],
              odes={"c1": -(sp.Symbol("k10") + sp.Symbol("k12") + sp.Symbol("k13")) * c1
                    + sp.Symbol("k21") * c2 + sp.Symbol("k31") * c3,
                    "c2": sp.Symbol("k12") * c1 - sp.Symbol("k21") * c2,
                    "c3": sp.Symbol("k13") * c1 - sp.Symbol("k31") * c3},
              dose_target="c1")
    A = np.array([[-(k10 + k12 + k13), k21, k31], [k12, -k21, 0], [k13, 0, -k31]])
    doses = [0.0, 10.0, 25.0]
    t = np.linspace(0, 60, 121)
    sim = simulate(m, sum((Bolus(d, 100) for d in doses), Regimen()), t, method=method,
                   rtol=tol(method)[0], atol=tol(method)[1])
    true = np.zeros((len(t), 3))
    for i, ti in enumerate(t):
        for d in doses:
            if ti >= d:
                true[i] += scipy.linalg.expm(A * (ti - d)) @ np.array([100.0, 0, 0])
    assert scaled_err(sim.states, true, *tol(method)) < bound(method)


def test_auto_uses_exact_solver_for_linear_models_only():
    assert simulate(onecmt_iv(), Bolus(0, 1), [0, 1]).method == "analytic"
    assert simulate(onecmt_iv(), Bolus(0, 1), [0, 1]).stats["solver"] == "analytic"
    assert simulate(w1_model(), w1_regimen(), [0, 1]).method == "auto"
    assert simulate(w1_model(), w1_regimen(), [0, 1]).stats["solver"] == "tsit5"
    with pytest.raises(SimulationError, match="linear"):
        simulate(w1_model(), w1_regimen(), [0, 1], method="analytic")


def test_w1_methods_agree_with_scipy_radau_at_tight_tolerance():
    m = w1_model()
    t = np.arange(0, 731.0, 5.0)
    ref = []
    # independent reference: scipy Radau restarted at each breakpoint
    p = m.param_values
    CL, V1, Q, V2, B0, kout, kmax, EC50 = (p[k] for k in
                                           ("CL", "V1", "Q", "V2", "B0", "kout", "kmax", "EC50"))
    infs = [(0, 300, 2.5 / 24), (14, 300, 2.5 / 24)] + [(168 * i, 600, 3.5 / 24) for i in (1, 2, 3, 4)]

    def rate(t):
        return sum(a / d for (s, a, d) in infs if s <= t < s + d)

    def f(t, y, r):
        C = y[0] / V1
        return [r - CL * C - Q * (C - y[1] / V2), Q * (C - y[1] / V2),
                kout * B0 - kout * y[2] - kmax * C / (EC50 + C) * y[2]]

    bps = sorted({0.0, 730.0} | {s for s, _, _ in infs} | {s + d for s, _, d in infs})
    y = np.array([0.0, 0.0, B0])
    for a, b in zip(bps[:-1], bps[1:], strict=True):
        r = rate(0.5 * (a + b))
        te = t[(t >= a) & (t < b)]
        sol = solve_ivp(f, (a, b), y, method="Radau", rtol=1e-11, atol=1e-12, args=(r,),
                        dense_output=True)
        if te.size:
            ref.extend(sol.sol(te).T)
        y = sol.y[:, -1]
    ref.append(y)
    ref = np.array(ref)
    for method in ("nonstiff", "stiff", "auto"):
        sim = simulate(m, w1_regimen(), t, method=method, rtol=1e-6, atol=1e-9)
        assert scaled_err(sim.states, ref, 1e-6, 1e-9) < 10, method


def test_stiff_problem_switches_method_and_matches_radau():
    y1, y2, y3 = sp.symbols("y1 y2 y3")
    m = Model(name="robertson", params=[Param("k1", 0.04), Param("k2", 3e7), Param("k3", 1e4)],
              states=[State("y1", 1), State("y2", 0), State("y3", 0)],
              odes={"y1": -sp.Symbol("k1") * y1 + sp.Symbol("k3") * y2 * y3,
                    "y2": sp.Symbol("k1") * y1 - sp.Symbol("k3") * y2 * y3 - sp.Symbol("k2") * y2 ** 2,
                    "y3": sp.Symbol("k2") * y2 ** 2})
    t = np.array([0, 1e-3, 0.1, 1, 10, 40.0])
    sim = simulate(m, None, t, method="auto", rtol=1e-6, atol=1e-10)
    assert sim.stats["switched_to_stiff"] and sim.stats["solver"] == "tsit5, then rodas4"
    stiff = simulate(m, None, t, method="stiff", rtol=1e-6, atol=1e-10)
    assert stiff.stats["solver"] == "rodas4"

    def f(t, y):
        return [-0.04 * y[0] + 1e4 * y[1] * y[2], 0.04 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1] ** 2,
                3e7 * y[1] ** 2]

    ref = solve_ivp(f, (0, 40), [1, 0, 0], method="Radau", rtol=1e-12, atol=1e-14, t_eval=t).y.T
    for s in (sim, stiff):
        assert scaled_err(s.states, ref, 1e-6, 1e-10) < 10
    assert stiff.stats["njev"] > 0


def test_time_varying_covariates_locf_nocb_linear():
    A, WT = sp.symbols("A WT")
    m = Model(name="cov", params=[Param("k", 1.0)], covariates=[Covariate("WT", 70.0)],
              states=[State("A", 0)], odes={"A": sp.Symbol("k") * WT})
    table = pd.DataFrame({"time": [0.0, 2.0, 5.0], "WT": [60.0, 80.0, 100.0]})
    t = np.array([0.0, 1.0, 2.0, 3.0, 5.0, 6.0])
    locf = simulate(m, None, t, covariates=table, interpolation={"WT": "locf"})["A"]
    np.testing.assert_allclose(locf, [0, 60, 120, 200, 360, 460], rtol=1e-7)
    nocb = simulate(m, None, t, covariates=table, interpolation={"WT": "nocb"})["A"]
    np.testing.assert_allclose(nocb, [0, 80, 160, 260, 460, 560], rtol=1e-7)
    lin = simulate(m, None, t, covariates=table, interpolation={"WT": "linear"})["A"]
    # integral of the piecewise-linear weight
    true = [0, 60 + 5, 140, 140 + 80 + 20 / 3 * 0.5, 140 + 3 * 90, 140 + 270 + 100]
    np.testing.assert_allclose(lin, true, rtol=1e-6)
    with pytest.raises(ValueError, match="interpolation"):
        simulate(m, None, t, covariates=table, interpolation={"WT": "cubic"})


def test_sensitivities_agree_with_finite_differences():
    m = w1_model()
    t = np.arange(0, 400.0, 7.0)
    prep = prepare(m, w1_regimen(), t, rtol=1e-10, atol=1e-12)
    p = prep.base_vector()
    idx = [0, 1, 4, 6, 7]  # CL, V1, B0, kmax, EC50
    _, O, S, OS, _ = prep.run(p, sens=idx)
    for q, j in enumerate(idx):
        h = 1e-5 * p[j]
        up, dn = p.copy(), p.copy()
        up[j] += h
        dn[j] -= h
        fd = (prep.run(up)[1] - prep.run(dn)[1]) / (2 * h)
        np.testing.assert_allclose(OS[:, :, q], fd, rtol=2e-4, atol=1e-5 * np.abs(fd).max() + 1e-6)


def test_sensitivities_through_F_lag_and_steady_state():
    m = onecmt_oral().with_params(Fbio=0.8, tlag=0.7)
    t = np.linspace(0, 30, 61)
    reg = Bolus(0, 100, interval=8, count=3, ss=True)
    for method in ("nonstiff", "stiff"):
        prep = prepare(m, reg, t, method=method, rtol=1e-10, atol=1e-12)
        p = prep.base_vector()
        idx = list(range(5))
        _, O, S, OS, _ = prep.run(p, sens=idx)
        for q, j in enumerate(idx):
            h = 1e-6 * max(p[j], 1e-3)
            up, dn = p.copy(), p.copy()
            up[j] += h
            dn[j] -= h
            fd = (prep.run(up)[1] - prep.run(dn)[1]) / (2 * h)
            # points right at a lagged dose time are discontinuous in the lag
            ok = np.all(np.abs(t[:, None] - (np.arange(3) * 8 + 0.7)) > 1e-3, axis=1)
            np.testing.assert_allclose(OS[ok, 0, q], fd[ok, 0], rtol=2e-3,
                                       atol=1e-5 * np.abs(fd).max(), err_msg=f"{method} p{j}")


def test_failure_raises_with_time_state_and_params():
    y = sp.Symbol("y")
    m = Model(name="blowup", params=[Param("k", 1.0)], states=[State("y", 1.0)],
              odes={"y": sp.Symbol("k") * y ** 2})
    with pytest.raises(SimulationError, match="failed at t = (0.99|1)") as info:
        simulate(m, None, [0, 2.0])
    err = info.value
    assert 0.99 < err.time < 1.001 and err.params["k"] == 1.0 and "y" in err.state


def test_bad_regimens_name_the_dose():
    m = onecmt_iv()
    with pytest.raises(RegimenError, match="amount must be non-negative"):
        Bolus(0, -5)
    with pytest.raises(RegimenError, match="time must be finite"):
        Bolus(float("nan"), 5)
    with pytest.raises(RegimenError, match="exactly one of duration= and rate="):
        Infusion(0, 10, duration=1, rate=3)
    with pytest.raises(RegimenError, match="duration must be positive"):
        Infusion(0, 10, duration=0)
    with pytest.raises(RegimenError, match="not a state.*did you mean 'central'"):
        simulate(m, Bolus(0, 1, "centrl"), [0, 1])
    with pytest.raises(RegimenError, match="overlap"):
        Infusion(0, 10, "central", duration=5, interval=4, count=2) + Bolus(0, 1)
    Regimen((Infusion(0, 10, "central", duration=5, interval=4, count=2),), allow_overlap=True)
    with pytest.raises(RegimenError, match="interval > 0"):
        Bolus(0, 1, count=3)


def test_regimen_words_and_frame():
    r = (Infusion(0, 300, "central", duration=2.5 / 24, unit="mg", route="IV")
         + Infusion(168, 600, "central", duration=3.5 / 24, interval=168, count=4, unit="mg",
                    route="IV"))
    assert r.in_words("day").splitlines()[-1] == (
        "600 mg IV over 3.5 h into central every 168 day, 4 times from day 168")
    f = r.to_frame()
    assert list(f["count"]) == [1, 4] and f["rate"].iloc[1] == pytest.approx(600 / (3.5 / 24))


def test_simulation_result_api():
    sim = simulate(w1_model(), w1_regimen(), np.arange(0, 10.0))
    df = sim.to_frame()
    assert list(df.columns) == ["time", "A1", "A2", "B", "conc", "bcells"]
    assert "w1" in repr(sim) and sim.to_dict()["schema"] == 1
    np.testing.assert_array_equal(sim["bcells"], sim["B"])
