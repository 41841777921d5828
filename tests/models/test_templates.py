"""Generic template models: load, simulate, non-negativity, mass balance and reference solutions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from pkpd import Bolus, simulate
from pkpd.language import load_model
from pkpd.notation import model_regimens

TEMPLATES = ["pk_2cmt_oral", "pk_3cmt_iv", "pk_3cmt_oral", "tmdd_full", "tmdd_qss",
             "idr1", "idr2", "idr3", "idr4", "friberg_transit", "emax_direct",
             "sigmoid_emax_direct"]

# Drug amount held in each model, as (state, factor) pairs: the factor turns a
# concentration state into an amount (bound drug in the TMDD models).
DRUG = {
    "pk_2cmt_oral": [("depot", 1), ("central", 1), ("periph", 1), ("Aelim", 1)],
    "pk_3cmt_iv": [("central", 1), ("periph1", 1), ("periph2", 1), ("Aelim", 1)],
    "pk_3cmt_oral": [("depot", 1), ("central", 1), ("periph1", 1), ("periph2", 1), ("Aelim", 1)],
    "tmdd_full": [("central", 1), ("tissue", 1), ("RC", "V"), ("Aelim", 1)],
    "tmdd_qss": [("central", 1), ("tissue", 1), ("Aelim", 1)],
    "friberg_transit": [("central", 1), ("periph", 1), ("Aelim", 1)],
    **{f"idr{k}": [("central", 1), ("Aelim", 1)] for k in (1, 2, 3, 4)},
    "emax_direct": [("central", 1), ("Aelim", 1)],
    "sigmoid_emax_direct": [("central", 1), ("Aelim", 1)],
}


def _end_time(regimen) -> float:
    return max(d.time + d.interval * (d.count - 1) + getattr(d, "duration", 0.0) for d in regimen)


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_loads_and_simulates_default_regimen(name):
    m = load_model(name)
    assert m.sources, "every model names its source"
    regimen = model_regimens(m)["default"]
    t = np.linspace(0, _end_time(regimen) + 48, 400)
    sim = simulate(m, regimen, t)
    assert np.all(np.isfinite(sim.states))
    scale = np.maximum(np.abs(sim.states).max(axis=0), 1.0)
    # amounts and cell counts never go below zero beyond the integrator's tolerance
    assert np.all(sim.states >= -1e-6 * scale)


@pytest.mark.parametrize("name", sorted(DRUG))
def test_mass_balance_dosed_equals_remaining_plus_eliminated(name):
    m = load_model(name)
    regimen = model_regimens(m)["default"]
    dosed = sum(d.amount * d.count for d in regimen)  # all bioavailabilities are 1
    t = np.linspace(0, _end_time(regimen) + 24, 50)
    t = t[t > _end_time(regimen)]
    sim = simulate(m, regimen, t, rtol=1e-9, atol=1e-12)
    total = sum(sim[s] * (m.param_values[f] if isinstance(f, str) else f) for s, f in DRUG[name])
    np.testing.assert_allclose(total, dosed, rtol=1e-6)


IDR_EQUATIONS = {
    "idr1": lambda p, C, R: p["kin"] * (1 - p["Imax"] * C**p["n"] / (p["IC50"]**p["n"] + C**p["n"]))
    - p["kout"] * R,
    "idr2": lambda p, C, R: p["kin"] - p["kout"] * (1 - p["Imax"] * C**p["n"]
                                                   / (p["IC50"]**p["n"] + C**p["n"])) * R,
    "idr3": lambda p, C, R: p["kin"] * (1 + p["Emax"] * C**p["n"] / (p["EC50"]**p["n"] + C**p["n"]))
    - p["kout"] * R,
    "idr4": lambda p, C, R: p["kin"] - p["kout"] * (1 + p["Emax"] * C**p["n"]
                                                   / (p["EC50"]**p["n"] + C**p["n"])) * R,
}


@pytest.mark.parametrize("name", sorted(IDR_EQUATIONS))
def test_idr_matches_independent_scipy_solution(name):
    m = load_model(name)
    p = m.param_values
    dose = 100.0
    t = np.linspace(0, 48, 97)

    def rhs(_t, y):
        C = y[0] / p["V"]
        return [-p["CL"] * C, IDR_EQUATIONS[name](p, C, y[1])]

    ref = solve_ivp(rhs, (0, 48), [dose, p["kin"] / p["kout"]], t_eval=t, method="DOP853",
                    rtol=1e-12, atol=1e-12)
    sim = simulate(m, Bolus(0, dose, "central"), t, rtol=1e-10, atol=1e-12)
    got = np.column_stack([sim["central"], sim["R"]])
    # solved at rtol 1e-10; global error accumulates over the steps, so the
    # comparison allows 100x that (scaled as in scipy's own solve_ivp tests)
    err = np.abs(got - ref.y.T) / (1e-10 + 1e-8 * np.abs(ref.y.T))
    assert err.max() < 5


@pytest.mark.parametrize("name, direction", [("idr1", -1), ("idr2", 1), ("idr3", 1), ("idr4", -1)])
def test_idr_baseline_and_direction(name, direction):
    m = load_model(name)
    p = m.param_values
    base = p["kin"] / p["kout"]
    t = np.linspace(0, 48, 49)
    still = simulate(m, None, t)
    np.testing.assert_allclose(still["response"], base, rtol=1e-12)
    sim = simulate(m, Bolus(0, 100, "central"), t)
    change = sim["response"][1:] - base
    assert np.all(direction * change > 0)
    assert abs(sim["response"][-1] - base) < abs(change).max()  # returns towards baseline


def test_friberg_stays_at_circ0_without_drug():
    m = load_model("friberg_transit")
    t = np.linspace(0, 2000, 41)
    sim = simulate(m, None, t)
    np.testing.assert_allclose(sim.states[:, 3:], m.param_values["CIRC0"], rtol=1e-12)


def test_friberg_course_gives_nadir_then_rebound():
    m = load_model("friberg_transit")
    t = np.linspace(0, 1008, 1009)
    sim = simulate(m, Bolus(0, 369, "central"), t)
    circ = sim["circ"]
    assert circ.min() < 0.7 * m.param_values["CIRC0"]
    assert circ[-1] > 0.9 * m.param_values["CIRC0"]


def test_tmdd_qss_approaches_full_tmdd_for_fast_binding():
    full = load_model("tmdd_full")
    qss = load_model("tmdd_qss")
    p = full.param_values
    scale = 1000.0
    fast = {"kon": p["kon"] * scale, "koff": p["koff"] * scale}
    kss = (fast["koff"] + p["kint"]) / fast["kon"]
    t = np.linspace(0, 200, 201)
    dose = Bolus(0, 10, "central")
    a = simulate(full, dose, t, params=fast, rtol=1e-9, atol=1e-12)
    b = simulate(qss, dose, t, params={"KSS": kss}, rtol=1e-9, atol=1e-12)
    # from t = 1 h on: at t = 0 the full model has not bound any drug yet,
    # while the QSS model starts at binding equilibrium by construction
    later = t >= 1
    for out in ("conc", "Ctot", "target"):
        np.testing.assert_allclose(a[out][later], b[out][later], rtol=0,
                                   atol=5e-3 * np.abs(a[out]).max(), err_msg=out)
    # with the default (slower) binding the two models differ visibly
    slow = simulate(full, dose, t, rtol=1e-9, atol=1e-12)
    assert (np.abs(slow["conc"] - b["conc"])[later].max()
            > 10 * np.abs(a["conc"] - b["conc"])[later].max())


def test_emax_models_effect_between_e0_and_e0_plus_emax():
    for name in ("emax_direct", "sigmoid_emax_direct"):
        m = load_model(name)
        p = m.param_values
        sim = simulate(m, Bolus(0, 100, "central"), np.linspace(0, 48, 49))
        eff = sim["effect"]
        assert eff[0] > p["E0"] + 0.5 * p["Emax"]  # C0 = 10 mg/L > EC50
        assert np.all((eff >= p["E0"]) & (eff <= p["E0"] + p["Emax"]))
        assert np.all(np.diff(eff) < 0)
