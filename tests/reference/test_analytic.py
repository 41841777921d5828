"""The exact linear solver against closed-form pharmacokinetics.

Every reference value is a textbook formula written out here, or a plain
loop over ``scipy.linalg.expm``; none comes from pkpd.analytic.
"""

import numpy as np
import pytest
import scipy.linalg
import sympy as sp

from pkpd import Bolus, Covariate, Infusion, Model, Output, Param, Regimen, State
from pkpd.analytic import (
    BOLUS,
    INFUSION,
    RESET,
    events_from_regimen,
    linear_form,
    make_events,
    solve_linear,
    steady_state_before_dose,
)

RTOL, ATOL = 1e-10, 1e-12


def assert_exact(y, y_true):
    y, y_true = np.asarray(y), np.asarray(y_true)
    assert y.shape == y_true.shape
    err = np.abs(y - y_true) / (ATOL + RTOL * np.abs(y_true))
    assert err.max() < 1, f"max scaled error {err.max():.3g} at index {np.argmax(err)}"


# One compartment: k = CL/V.
CL, V = 2.0, 10.0
K = CL / V
A1 = np.array([[-K]])
# One compartment with first-order absorption: states depot, central.
KA = 1.3
A_ORAL = np.array([[-KA, 0.0], [KA, -K]])


def bolus_1cmt(D, t):
    return np.where(t >= 0, D / V * np.exp(-K * np.maximum(t, 0)), 0.0)


def infusion_1cmt(R, T, t):
    t = np.asarray(t, dtype=float)
    during = R / (K * V) * (1 - np.exp(-K * np.clip(t, 0, T)))
    return np.where(t <= T, during, during * np.exp(-K * (t - T)))


def bateman(D, t, ka=KA, k=K):
    tp = np.maximum(t, 0)
    c = D * ka / (V * (ka - k)) * (np.exp(-k * tp) - np.exp(-ka * tp))
    return np.where(t >= 0, c, 0.0)


# ---------------------------------------------------------- single doses
def test_one_compartment_iv_bolus():
    t = np.linspace(0, 48, 97)
    ev = make_events(0.0, BOLUS, 0, 100.0)
    y = solve_linear(A1, [0.0], t, ev)
    assert_exact(y[:, 0] / V, 100 / V * np.exp(-K * t))


def test_one_compartment_infusion_during_and_after():
    D, T = 100.0, 2.0
    t = np.concatenate([np.linspace(0, T, 11), np.linspace(T, 30, 20)])
    y = solve_linear(A1, [0.0], t, make_events(0.0, INFUSION, 0, D, T))
    assert_exact(y[:, 0] / V, infusion_1cmt(D / T, T, t))


def test_one_compartment_first_order_absorption():
    t = np.linspace(0, 36, 73)
    y = solve_linear(A_ORAL, [0.0, 0.0], t, make_events(0.0, BOLUS, 0, 250.0))
    assert_exact(y[:, 1] / V, bateman(250.0, t))
    assert_exact(y[:, 0], 250.0 * np.exp(-KA * t))


def test_absorption_rate_equal_to_elimination_rate():
    # A is defective here (one eigenvalue, one eigenvector): the expm path.
    A = np.array([[-K, 0.0], [K, -K]])
    t = np.linspace(0, 50, 51)
    y = solve_linear(A, [0.0, 0.0], t, make_events(0.0, BOLUS, 0, 80.0))
    assert_exact(y[:, 1] / V, 80.0 * K / V * t * np.exp(-K * t))


def test_transit_chain_with_one_rate_constant():
    # d/dt a_j = k a_(j-1) - k a_j: a_j(t) = D (k t)^j / j! exp(-k t) (Erlang).
    k, n, D = 0.7, 5, 10.0
    A = -k * np.eye(n) + k * np.eye(n, k=-1)
    t = np.linspace(0, 20, 41)
    y = solve_linear(A, np.zeros(n), t, make_events(0.0, BOLUS, 0, D))
    fact = np.cumprod(np.r_[1.0, np.arange(1, n)])
    y_true = D * (k * t[:, None]) ** np.arange(n) / fact * np.exp(-k * t[:, None])
    assert_exact(y, y_true)


def test_two_compartment_iv_bolus_biexponential():
    CL2, V1, Q, V2, D = 0.17, 2.78, 0.3, 2.7, 600.0
    k10, k12, k21 = CL2 / V1, Q / V1, Q / V2
    A = np.array([[-(k10 + k12), k21], [k12, -k21]])
    s = k10 + k12 + k21
    alpha = (s + np.sqrt(s**2 - 4 * k10 * k21)) / 2
    beta = (s - np.sqrt(s**2 - 4 * k10 * k21)) / 2
    coef_a = D / V1 * (alpha - k21) / (alpha - beta)
    coef_b = D / V1 * (k21 - beta) / (alpha - beta)
    t = np.linspace(0, 200, 201)
    y = solve_linear(A, [0.0, 0.0], t, make_events(0.0, BOLUS, 0, D))
    assert_exact(y[:, 0] / V1, coef_a * np.exp(-alpha * t) + coef_b * np.exp(-beta * t))


# -------------------------------------------------------- multiple doses
def test_multiple_oral_doses_by_superposition():
    times, amounts = [0.0, 12.0, 24.0, 30.0], [100.0, 50.0, 100.0, 75.0]
    t = np.linspace(0, 72, 145)  # includes every dose time
    y = solve_linear(A_ORAL, [0.0, 0.0], t, make_events(times, BOLUS, 0, amounts))
    y_true = sum(bateman(d, t - td) for td, d in zip(times, amounts, strict=True))
    assert_exact(y[:, 1] / V, y_true)


def test_bolus_and_infusion_at_the_same_time():
    D_b, D_i, T = 40.0, 100.0, 3.0
    ev = make_events([0.0, 0.0], [INFUSION, BOLUS], 0, [D_i, D_b], [T, 0.0])
    t = np.linspace(0, 24, 49)
    y = solve_linear(A1, [0.0], t, ev)
    assert_exact(y[:, 0] / V, bolus_1cmt(D_b, t) + infusion_1cmt(D_i / T, T, t))


def test_bolus_at_the_end_of_an_infusion():
    D_i, T, D_b = 100.0, 2.0, 30.0
    ev = make_events([0.0, T], [INFUSION, BOLUS], 0, [D_i, D_b], [T, 0.0])
    t = np.array([0.0, 1.0, 1.999, T, 2.5, 10.0])
    y = solve_linear(A1, [0.0], t, ev)
    y_true = infusion_1cmt(D_i / T, T, t) + bolus_1cmt(D_b, t - T)
    assert_exact(y[:, 0] / V, y_true)
    # At t = T the bolus has been applied (post-dose value).
    assert y[3, 0] / V == pytest.approx(infusion_1cmt(D_i / T, T, T) + D_b / V, rel=1e-12)


def test_outputs_before_the_first_dose_and_nonzero_initial_state():
    t = np.array([0.0, 1.0, 5.0, 5.0, 8.0])
    y = solve_linear(A1, [20.0], t, make_events(5.0, BOLUS, 0, 100.0))
    assert_exact(y[:, 0], 20.0 * np.exp(-K * t) + V * bolus_1cmt(100.0, t - 5.0))


def test_reset_returns_to_the_initial_state_and_stops_infusions():
    ev = make_events([0.0, 0.0, 5.0, 8.0], [INFUSION, BOLUS, RESET, BOLUS], 0,
                     [100.0, 50.0, 0.0, 30.0], [10.0, 0, 0, 0])
    t = np.array([1.0, 5.0, 6.0, 8.0, 12.0])
    y = solve_linear(A1, [3.0], t, ev)
    before = 3.0 * np.exp(-K * t) + V * (bolus_1cmt(50.0, t) + infusion_1cmt(10.0, 10.0, t))
    after = 3.0 * np.exp(-K * (t - 5.0)) + V * bolus_1cmt(30.0, t - 8.0)
    assert_exact(y[:, 0], np.where(t < 5.0, before, after))


def expm_reference(A, y0, doses, t_out):
    """States at t_out by stepping expm([[A, r], [0, 0]]) between breakpoints.

    ``doses`` are (time, state, amount, duration) with duration 0 for a bolus.
    """
    n = A.shape[0]
    out = []
    for t_end in t_out:
        bps = sorted({0.0, t_end} | {t for t, *_ in doses} | {t + d for t, _, _, d in doses if d})
        y = np.array(y0, dtype=float)
        for t, s, a, d in doses:
            if t == 0.0 and d == 0.0:
                y[s] += a
        for lo, hi in zip(bps, bps[1:], strict=False):
            if lo >= t_end:
                break
            r = np.zeros(n)
            for t, s, a, d in doses:
                if d and t <= lo < t + d:
                    r[s] += a / d
            M = np.zeros((n + 1, n + 1))
            M[:n, :n], M[:n, n] = A, r
            y = (scipy.linalg.expm(M * (hi - lo)) @ np.r_[y, 1.0])[:n]
            for t, s, a, d in doses:
                if d == 0.0 and t == hi:
                    y[s] += a
        out.append(y)
    return np.array(out)


def events_of(doses):
    return make_events(*zip(*[(t, INFUSION if d else BOLUS, s, a, d) for t, s, a, d in doses],
                            strict=True))


def test_three_compartment_system_against_expm_superposition():
    # Depot -> central <-> two peripherals, with boluses and overlapping
    # infusions into different states.
    ka, k10, k12, k21, k13, k31 = 0.9, 0.25, 0.4, 0.15, 0.08, 0.02
    A = np.array([
        [-ka, 0.0, 0.0, 0.0],
        [ka, -(k10 + k12 + k13), k21, k31],
        [0.0, k12, -k21, 0.0],
        [0.0, k13, 0.0, -k31],
    ])
    y0 = np.array([0.0, 5.0, 1.0, 0.0])
    doses = [  # (time, state, amount, duration)
        (0.0, 0, 100.0, 0.0), (3.0, 1, 60.0, 4.0), (5.0, 2, 20.0, 1.5), (5.0, 1, 25.0, 0.0),
        (7.0, 0, 100.0, 0.0), (24.0, 1, 200.0, 0.5), (24.5, 0, 10.0, 0.0),
    ]
    t_out = np.linspace(0, 96, 193)
    y = solve_linear(A, y0, t_out, events_of(doses))
    assert_exact(y, expm_reference(A, y0, doses, t_out))


@pytest.mark.parametrize(
    "A",
    [
        # A catenary loop 1 -> 2 -> 3 -> 1 with loss: complex eigenvalues.
        np.array([[-1.0, 0.0, 2.0], [1.5, -1.6, 0.0], [0.0, 1.2, -2.1]]),
        # ka within 0.2 % of k, between the eigenvector and the expm paths.
        np.array([[-0.2004, 0.0, 0.0], [0.2004, -0.2, 0.0], [0.0, 0.1, -0.05]]),
        np.array([[-0.2008, 0.0, 0.0], [0.2008, -0.2, 0.0], [0.0, 0.1, -0.05]]),
    ],
    ids=["complex-eigenvalues", "near-defective-expm", "near-defective-eigen"],
)
def test_awkward_spectra_against_expm_superposition(A):
    doses = [(0.0, 0, 10.0, 0.0), (2.0, 1, 5.0, 3.0), (10.0, 0, 10.0, 0.0)]
    t_out = np.linspace(0, 40, 81)
    y = solve_linear(A, np.zeros(3), t_out, events_of(doses))
    assert_exact(y, expm_reference(A, np.zeros(3), doses, t_out))


# ----------------------------------------------------------- steady state
TAU = 12.0


def test_steady_state_bolus():
    D = 100.0
    t = np.linspace(0, 3 * TAU, 36, endpoint=False)
    ev = make_events([0.0, TAU, 2 * TAU], BOLUS, 0, D, 0.0, [TAU, 0.0, 0.0])
    y = solve_linear(A1, [0.0], t, ev)
    tm = np.mod(t, TAU)
    assert_exact(y[:, 0] / V, D / V * np.exp(-K * tm) / (1 - np.exp(-K * TAU)))
    pre = steady_state_before_dose(A1, [D], TAU)
    assert_exact(pre, [D * np.exp(-K * TAU) / (1 - np.exp(-K * TAU))])


def test_steady_state_discards_history():
    D = 100.0
    ev = make_events([0.0, 3.0, 20.0], [INFUSION, BOLUS, BOLUS], 0, [500.0, 70.0, D],
                     [30.0, 0.0, 0.0], [0.0, 0.0, TAU])
    t = np.linspace(20.0, 20.0 + TAU, 13)
    y = solve_linear(A1, [10.0], t, ev)
    assert_exact(y[:, 0] / V, D / V * np.exp(-K * (t - 20.0)) / (1 - np.exp(-K * TAU)))


def test_steady_state_infusion():
    D, T = 100.0, 2.0
    R = D / T
    t = np.linspace(0, TAU, 25)
    y = solve_linear(A1, [0.0], t, make_events(0.0, INFUSION, 0, D, T, TAU))
    trough = R / (K * V) * (1 - np.exp(-K * T)) * np.exp(-K * (TAU - T)) / (1 - np.exp(-K * TAU))
    during = trough * np.exp(-K * t) + R / (K * V) * (1 - np.exp(-K * t))
    after = R / (K * V) * (1 - np.exp(-K * T)) * np.exp(-K * (t - T)) / (1 - np.exp(-K * TAU))
    assert_exact(y[:, 0] / V, np.where(t <= T, during, after))
    pre = steady_state_before_dose(A1, [D], TAU, duration=T)
    assert_exact(pre / V, [trough])


def test_steady_state_continuous_infusion():
    # duration == interval: the steady state of a constant rate, R / CL.
    D = 100.0
    y = solve_linear(A1, [0.0], [0.0, 5.0, TAU], make_events(0.0, INFUSION, 0, D, TAU, TAU))
    assert_exact(y[:, 0] / V, np.full(3, D / TAU / CL))


def test_steady_state_oral():
    D = 300.0
    t = np.linspace(0, TAU, 25)
    y = solve_linear(A_ORAL, [0.0, 0.0], t, make_events(0.0, BOLUS, 0, D, 0.0, TAU))
    c = D * KA / (V * (KA - K)) * (np.exp(-K * t) / (1 - np.exp(-K * TAU))
                                   - np.exp(-KA * t) / (1 - np.exp(-KA * TAU)))
    assert_exact(y[:, 1] / V, c)


def test_steady_state_with_a_defective_matrix():
    # ka == k: the expm path; compare with the periodic sum of D k t exp(-k t).
    A = np.array([[-K, 0.0], [K, -K]])
    D = 50.0
    t = np.linspace(0, TAU, 13)
    y = solve_linear(A, [0.0, 0.0], t, make_events(0.0, BOLUS, 0, D, 0.0, TAU))
    q = np.exp(-K * TAU)
    # sum_j (t + j tau) q^j = t / (1 - q) + tau q / (1 - q)^2
    c = D * K / V * np.exp(-K * t) * (t / (1 - q) + TAU * q / (1 - q) ** 2)
    assert_exact(y[:, 1] / V, c)


def test_steady_state_without_elimination_is_an_error():
    A = np.array([[-K, 0.0], [K, 0.0]])  # second state accumulates
    with pytest.raises(ValueError, match="no periodic steady state"):
        solve_linear(A, [0.0, 0.0], [0.0, 1.0], make_events(0.0, BOLUS, 0, 1.0, 0.0, TAU))


def test_singular_matrix_without_steady_state_is_solved():
    # No elimination from the second state: the amount absorbed just accumulates.
    A = np.array([[-KA, 0.0], [KA, 0.0]])
    t = np.linspace(0, 10, 11)
    y = solve_linear(A, [0.0, 0.0], t, make_events([0.0, 0.0], [BOLUS, INFUSION], [0, 1],
                                                   [100.0, 20.0], [0.0, 4.0]))
    y_true = 100.0 * (1 - np.exp(-KA * t)) + 5.0 * np.minimum(t, 4.0)
    assert_exact(y[:, 1], y_true)


# ------------------------------------------------------- models from Python
ka_, cl_, v_, f_, tlag_, wt_ = sp.symbols("ka CL V Fpo tlag WT")
depot, central = sp.symbols("depot central")


def oral_model(**extra):
    return Model(
        name="oral_1cmt",
        params=[Param("ka", KA), Param("CL", CL), Param("V", V), Param("Fpo", 0.6),
                Param("tlag", 0.75)],
        covariates=[Covariate("WT", 70.0)],
        states=[State("depot"), State("central")],
        assignments={"k": cl_ * (wt_ / 70) ** 0.75 / v_},
        odes={"depot": -ka_ * depot, "central": ka_ * depot - sp.Symbol("k") * central},
        outputs=[Output("conc", central / v_)],
        dose_target="depot",
        bioavailability={"depot": f_},
        lag={"depot": tlag_},
        **extra,
    )


def test_lag_and_bioavailability_from_a_python_model():
    m = oral_model()
    lf = linear_form(m)
    assert lf is not None
    p = np.array([KA, CL, V, 0.6, 0.75])
    A, C, y0, F, lag = lf.numeric(p, [70.0])
    assert_exact(A, A_ORAL)
    assert_exact(F, [0.6, 1.0])
    assert_exact(lag, [0.75, 0.0])
    regimen = (Bolus(0.0, 100.0, interval=12.0, count=3) + Infusion(30.0, 40.0, "central", duration=1.0))
    ev = events_from_regimen(regimen.check(m), m.state_names, F, lag)
    t = np.linspace(0, 48, 193)
    conc = solve_linear(A, y0, t, ev) @ C.T
    y_true = sum(bateman(0.6 * 100.0, t - td - 0.75) for td in (0.0, 12.0, 24.0))
    y_true = y_true + infusion_1cmt(40.0, 1.0, t - 30.0) * (t >= 30.0)
    assert_exact(conc[:, 0], y_true)
    # A covariate enters A through the assignment k = CL * (WT/70)^0.75 / V.
    A2, *_ = lf.numeric(p, [100.0])
    assert A2[1, 1] == pytest.approx(-CL * (100.0 / 70) ** 0.75 / V, rel=1e-14)


def test_linear_form_of_a_two_compartment_model():
    cl, v1, q, v2, a1, a2 = sp.symbols("CL V1 Q V2 A1 A2")
    m = Model(
        name="iv_2cmt",
        params=[Param("CL", 0.17), Param("V1", 2.78), Param("Q", 0.3), Param("V2", 2.7)],
        states=[State("A1"), State("A2")],
        assignments={"C": a1 / v1},
        odes={"A1": -cl * sp.Symbol("C") - q * (sp.Symbol("C") - a2 / v2),
              "A2": q * (sp.Symbol("C") - a2 / v2)},
        outputs=[Output("conc", sp.Symbol("C")), Output("total", a1 + a2)],
    )
    lf = linear_form(m)
    assert lf is not None
    expected = sp.Matrix([[-(cl + q) / v1, q / v2], [q / v1, -q / v2]])
    assert sp.simplify(lf.A - expected) == sp.zeros(2, 2)
    assert sp.simplify(lf.C - sp.Matrix([[1 / v1, 0], [1, 1]])) == sp.zeros(2, 2)


@pytest.mark.parametrize(
    "rhs",
    [
        -sp.Symbol("CL") / sp.Symbol("V") * central / (1 + central),  # Michaelis-Menten
        -sp.Symbol("CL") * sp.exp(-0.1 * sp.Symbol("t")) / sp.Symbol("V") * central,  # CL(t)
        -sp.Symbol("CL") / sp.Symbol("V") * central + 1,  # zero-order production
    ],
    ids=["michaelis-menten", "time-varying-clearance", "constant-input"],
)
def test_linear_form_rejects_nonlinear_models(rhs):
    m = Model(name="nl", params=[Param("CL", 1.0), Param("V", 10.0)],
              states=[State("central")], odes={"central": rhs},
              outputs=[Output("conc", central / sp.Symbol("V"))])
    assert linear_form(m) is None


def test_linear_form_rejects_an_emax_effect_state():
    e, kout, emax, ec50 = sp.symbols("E kout Emax EC50")
    m = oral_model()
    m = Model(
        name="pkpd",
        params=[*m.params, Param("kout", 0.1), Param("Emax", 2.0), Param("EC50", 1.0)],
        states=[*m.states, State("E", 1.0)],
        odes={**dict(m.odes), "E": kout * (1 - e) - emax * (central / v_) / (ec50 + central / v_) * e},
        outputs=m.outputs, covariates=m.covariates, assignments=m.assignments,
    )
    assert linear_form(m) is None


# ------------------------------------------------------------ bad input
def test_outputs_before_start_are_an_error():
    with pytest.raises(ValueError, match="before the start time"):
        solve_linear(A1, [0.0], [0.0, 1.0], None, t0=0.5)


def test_unsorted_outputs_are_an_error():
    with pytest.raises(ValueError, match="sorted"):
        solve_linear(A1, [0.0], [1.0, 0.0])


def test_invalid_events_are_an_error():
    with pytest.raises(ValueError, match="duration > 0"):
        solve_linear(A1, [0.0], [1.0], make_events(0.0, INFUSION, 0, 1.0, 0.0))
    with pytest.raises(ValueError, match="state"):
        solve_linear(A1, [0.0], [1.0], make_events(0.0, BOLUS, 3, 1.0))
    with pytest.raises(ValueError, match="duration <= interval"):
        solve_linear(A1, [0.0], [1.0], make_events(0.0, INFUSION, 0, 1.0, 5.0, 4.0))


def test_empty_regimen_and_empty_outputs():
    assert solve_linear(A1, [1.0], np.empty(0)).shape == (0, 1)
    ev = events_from_regimen(Regimen(()), ("central",), [1.0], [0.0])
    assert_exact(solve_linear(A1, [1.0], [2.0], ev), [[np.exp(-2 * K)]])


def test_events_from_a_steady_state_regimen():
    regimen = Bolus(5.0, 100.0, "central", interval=TAU, count=3, ss=True)
    ev = events_from_regimen(Regimen((regimen,)), ("central",), [0.5], [1.0])
    t = np.linspace(6.0, 6.0 + 3 * TAU, 36, endpoint=False)
    y = solve_linear(A1, [0.0], t, ev)
    tm = np.mod(t - 6.0, TAU)
    assert_exact(y[:, 0] / V, 50.0 / V * np.exp(-K * tm) / (1 - np.exp(-K * TAU)))


# ------------------------------------------- steady state with a lag time
# NONMEM semantics: the steady state is the state at the dose record time; the
# lagged dose acts lag later. The truth is the superposition of the doses at
# record time + lag - j * TAU (j = 0, 1, ..., N_PAST) and of the repeats.
N_PAST = 600  # exp(-K * TAU * N_PAST) = exp(-1440): nothing left of older doses


def step_1cmt(R, t):
    """Concentration after a constant input ``R`` into central from t = 0 (0 before)."""
    tp = np.maximum(t, 0.0)
    return np.where(t >= 0, R / (K * V) * (1 - np.exp(-K * tp)), 0.0)


def step_oral(R, t, ka=KA, k=K):
    """Concentration after a constant input ``R`` into the depot from t = 0 (0 before)."""
    tp = np.maximum(t, 0.0)
    c = R * ka / (V * (ka - k)) * ((1 - np.exp(-k * tp)) / k - (1 - np.exp(-ka * tp)) / ka)
    return np.where(t >= 0, c, 0.0)


def infusion_sum(step, R, T, starts, t):
    """Superposition of infusions of rate R over [s, s + T): a step up minus a step down."""
    return sum(step(R, t - s) - step(R, t - s - T) for s in starts)


def iv_lag_model():
    """One compartment with a lag on central: dose into central, lag tlag."""
    return Model(
        name="iv_lag",
        params=[Param("CL", CL), Param("V", V), Param("tlag", 0.0)],
        states=[State("central")],
        odes={"central": -cl_ / v_ * central},
        outputs=[Output("conc", central / v_)],
        dose_target="central",
        lag={"central": tlag_},
    )


@pytest.mark.parametrize("method", ["auto", "analytic"])
def test_steady_state_oral_bolus_with_lag(method):
    from pkpd import simulate

    D, F, LAG = 100.0, 0.6, 0.75
    t = np.array([0.0, 0.5, 0.75, 1.0, 2.0, 11.9, 12.0, 12.5, 12.75, 13.0, 30.0])
    regimen = Bolus(0.0, D, "depot", interval=TAU, count=2, ss=True)
    sim = simulate(oral_model(), regimen, t, params=dict(Fpo=F, tlag=LAG), method=method)
    assert sim.method == "analytic"
    doses = [LAG - j * TAU for j in range(N_PAST)] + [TAU + LAG]
    y_true = sum(bateman(F * D, t - s) for s in doses)
    # before the fix the history was dropped until time + lag: conc 0 at t = 0 and 0.5
    assert y_true[0] > 0.5
    assert_exact(sim["conc"], y_true)
    # the same from events built by hand: restart at 0, the dose acts at LAG
    A, y0 = A_ORAL, np.zeros(2)
    ev = make_events([LAG, TAU + LAG], BOLUS, 0, F * D, 0.0, [TAU, 0.0], [LAG, 0.0])
    assert_exact(solve_linear(A, y0, t, ev)[:, 1] / V, y_true)


@pytest.mark.parametrize("lag", [1.5, 11.0], ids=["ends-before-record", "runs-at-record"])
def test_steady_state_infusion_with_lag(lag):
    from pkpd import simulate

    # 2 h infusions every 12 h into a lagged central compartment. With lag 11 the
    # infusion of the previous interval (from -1 to 1) still runs at the record time 0.
    D, T = 100.0, 2.0
    t = np.array([0.0, 0.5, 1.0, 1.5, 2.5, 3.5, 11.0, 12.0, 13.0, 14.0, 25.0, 40.0])
    regimen = Infusion(0.0, D, "central", duration=T, interval=TAU, count=2, ss=True)
    sim = simulate(iv_lag_model(), regimen, t, params=dict(tlag=lag), method="analytic")
    starts = [lag - j * TAU for j in range(N_PAST)] + [TAU + lag]
    y_true = infusion_sum(step_1cmt, D / T, T, starts, t)
    assert_exact(sim["conc"], y_true)


def test_steady_state_infusion_into_a_lagged_depot():
    from pkpd import simulate

    D, T, F, LAG = 100.0, 4.0, 0.6, 9.0  # lag + duration > interval
    t = np.array([0.0, 0.5, 1.0, 2.0, 9.0, 10.0, 13.0, 21.0, 24.0, 36.0])
    regimen = Infusion(0.0, D, "depot", duration=T, interval=TAU, count=3, ss=True)
    sim = simulate(oral_model(), regimen, t, params=dict(Fpo=F, tlag=LAG), method="analytic")
    starts = [LAG - j * TAU for j in range(N_PAST)] + [TAU + LAG, 2 * TAU + LAG]
    assert_exact(sim["conc"], infusion_sum(step_oral, F * D / T, T, starts, t))


def test_steady_state_lag_not_shorter_than_the_interval_is_an_error():
    from pkpd import RegimenError

    regimen = Regimen((Bolus(0.0, 100.0, "central", interval=TAU, ss=True),))
    with pytest.raises(RegimenError, match=r"lag of state 'central' \(12\) must be shorter "
                                           r"than the steady-state interval \(12\)"):
        events_from_regimen(regimen, ("central",), [1.0], [TAU])
    with pytest.raises(ValueError, match="0 <= lag < interval"):
        solve_linear(A1, [0.0], [1.0], make_events(TAU, BOLUS, 0, 1.0, 0.0, TAU, TAU))
    with pytest.raises(ValueError, match="lag 0 otherwise"):
        solve_linear(A1, [0.0], [1.0], make_events(1.0, BOLUS, 0, 1.0, 0.0, 0.0, 1.0))


# --------------------------------------------- long repeats: only up to t_end
def test_long_repeat_is_expanded_only_up_to_the_last_time():
    many = Regimen((Bolus(0.0, 100.0, "central", interval=TAU, count=10**6),))
    few = Regimen((Bolus(0.0, 100.0, "central", interval=TAU, count=5),))  # 0..48
    t = np.linspace(0.0, 50.0, 101)
    ev = events_from_regimen(many, ("central",), [1.0], [0.5], t_end=t[-1])
    assert np.array_equal(ev, events_from_regimen(few, ("central",), [1.0], [0.5]))
    # a dose exactly at t_end is kept; lag counts
    ev = events_from_regimen(many, ("central",), [1.0], [0.0], t_end=48.0)
    assert np.array_equal(ev["time"], TAU * np.arange(5))
    # a steady-state entry keeps its first dose (the restart) even after t_end
    ss = Regimen((Bolus(0.0, 100.0, "central", interval=TAU, count=10**6, ss=True),))
    ev = events_from_regimen(ss, ("central",), [1.0], [2.0], t_end=1.0)
    assert ev.size == 1 and ev["lag"][0] == 2.0 and ev["interval"][0] == TAU

    y_true = sum(bolus_1cmt(100.0, t - s) for s in TAU * np.arange(5)) * V
    y_few = solve_linear(A1, [0.0], t, events_from_regimen(few, ("central",), [1.0], [0.0]))
    ev_many = events_from_regimen(many, ("central",), [1.0], [0.0])
    assert ev_many.size == 10**6
    y_many = solve_linear(A1, [0.0], t, ev_many)
    assert np.array_equal(y_many, y_few)
    assert_exact(y_many[:, 0], y_true)


def test_long_repeat_costs_only_the_doses_up_to_the_last_output():
    import time

    from pkpd import simulate

    m = iv_lag_model()
    t = np.array([0.0, 1.0, 2.0, 30.0])
    many = Bolus(0.0, 100.0, interval=TAU, count=10**6)
    few = Bolus(0.0, 100.0, interval=TAU, count=3)  # 0, 12, 24: covers t
    y_few = simulate(m, few, t)["conc"]
    y_many = simulate(m, many, t)["conc"]  # prepares and caches
    assert np.array_equal(y_many, y_few)
    assert_exact(y_many, sum(bolus_1cmt(100.0, t - s) for s in (0.0, TAU, 2 * TAU)))
    # Solving every one of the 10**6 doses took 1.8 s; up to t[-1] it takes well under 0.1 s.
    elapsed = min(_timed(lambda: simulate(m, many, t), time.perf_counter) for _ in range(2))
    assert elapsed < 0.6, f"{elapsed:.2f} s for a 10**6-dose repeat and 4 output times"


def _timed(f, clock):
    start = clock()
    f()
    return clock() - start
