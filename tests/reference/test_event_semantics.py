"""Event semantics found wrong by exploratory testing, against closed forms.

Resets ending running infusions, steady-state doses discarding earlier history,
linearly interpolated covariates in outputs and in the stiff method, covariates
at the time of a steady-state dose, states without elimination under SS
dosing, and invalid bioavailability or lag.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import solve_ivp

from pkpd import Bolus, Infusion, Regimen, Reset, parse_model, simulate
from pkpd.errors import RegimenError, SimulationError

IV = """
name: iv
time: h
dose: central
[parameters]
CL = 2 [L/h]
V = 20 [L]
[states]
central = 0 [mg]
[equations]
d/dt(central) = -CL/V*central
[outputs]
conc = central/V [mg/L]
"""

COV = """
name: covtest
time: h
dose: central
[parameters]
CL = 2 [L/h]
V = 20 [L]
[covariates]
WT = 70 [kg]
[states]
central = 0 [mg]
[equations]
d/dt(central) = -CL*(WT/70)*central/V
[outputs]
conc = central/V
wt = WT
"""

MM_AUC = """
name: mm
time: h
dose: central
[parameters]
Vmax = 20
Km = 2
V = 10
[states]
central = 0
auc = 0
[equations]
C = central/V
d/dt(central) = -Vmax*C/(Km+C)
d/dt(auc) = C
[outputs]
conc = C
"""

ORAL_LAG = """
name: oral
time: h
dose: depot
[parameters]
ka = 1 [1/h]
CL = 2 [L/h]
V = 20 [L]
tlag = 0.5 [h]
Fbio = 1
[states]
depot = 0 [mg]
central = 0 [mg]
[equations]
d/dt(depot) = -ka*depot
d/dt(central) = ka*depot - CL/V*central
lag(depot) = tlag
F(depot) = Fbio
[outputs]
conc = central/V
"""

K = 2 / 20  # CL/V of IV and COV (at WT 70)
ODE = ["tsit5", "rodas4"]


@pytest.mark.parametrize("method", ODE + ["auto"])
@pytest.mark.parametrize("t_reset", [2.0, 5.0])
def test_a_reset_ends_a_running_infusion(method, t_reset):
    m = parse_model(IV)
    reg = Infusion(0, 100, "central", duration=5) + Reset(t_reset)
    t = np.array([1.0, t_reset, t_reset + 1, 10.0, 30.0])
    got = simulate(m, reg, t, method=method, rtol=1e-10, atol=1e-12)["central"]
    rate = 100 / 5
    before = rate / K * (1 - np.exp(-K * t[0]))
    np.testing.assert_allclose(got, [before, 0, 0, 0, 0], atol=1e-8)


@pytest.mark.parametrize("method", ODE + ["auto"])
def test_a_steady_state_dose_discards_a_running_infusion(method):
    m = parse_model(IV)
    reg = Infusion(0, 100, "central", duration=10) + Bolus(5, 100, "central", interval=12,
                                                           ss=True)
    t = np.array([8.0, 12.0, 16.9])
    got = simulate(m, reg, t, method=method, rtol=1e-10, atol=1e-12)["central"]
    # NONMEM SS=1: the system is reset to the steady state of the SS dose alone
    ref = 100 * np.exp(-K * (t - 5)) / (1 - np.exp(-K * 12))
    np.testing.assert_allclose(got, ref, rtol=1e-7)


@pytest.mark.parametrize("method", ["tsit5", "rodas4"])
def test_linear_covariates_in_outputs_and_the_stiff_method(method):
    m = parse_model(COV)
    tab = pd.DataFrame({"time": [0.0, 5, 10], "WT": [70.0, 140, 35]})
    t = np.linspace(0, 15, 31)
    s = simulate(m, Bolus(0, 100), t, covariates=tab, interpolation={"WT": "linear"},
                 method=method, rtol=1e-8, atol=1e-11)
    # the output WT is the interpolated covariate at each output time, exactly
    np.testing.assert_allclose(s["wt"], np.interp(t, tab.time, tab.WT), rtol=1e-12)

    def f(tt, y):
        return [-2 * (np.interp(tt, tab.time, tab.WT) / 70) * y[0] / 20]

    ref = solve_ivp(f, (0, 15), [100.0], t_eval=t, rtol=1e-12, atol=1e-14,
                    method="DOP853").y[0]
    np.testing.assert_allclose(s["central"], ref, rtol=1e-6)
    # the stiff method used to ignore the covariate's time dependence (no df/dt term)
    assert s.stats["naccept"] < 200


def test_steady_state_uses_the_covariates_at_the_dose_time():
    m = parse_model(COV)
    t = np.array([24.0, 30.0])
    k = 2 * (140 / 70) / 20
    ref = 100 / 20 * np.exp(-k * (t - 24)) / (1 - np.exp(-k * 12))
    tab = pd.DataFrame({"time": [0.0, 20], "WT": [70.0, 140]})
    got = simulate(m, Bolus(24, 100, "central", interval=12, ss=True), t, covariates=tab)
    np.testing.assert_allclose(got["conc"], ref, rtol=1e-6)


@pytest.mark.parametrize("method", ["tsit5", "auto"])
def test_a_state_without_elimination_has_no_steady_state(method):
    m = parse_model(MM_AUC)
    with pytest.raises(SimulationError, match="no periodic steady state"):
        simulate(m, Bolus(0, 150, "central", interval=12, ss=True), [0.0, 6.0], method=method)


def test_steady_state_of_a_nonlinear_model_equals_many_doses():
    m = parse_model(MM_AUC.replace("auc = 0\n", "").replace("d/dt(auc) = C\n", ""))
    t = np.array([0.0, 3, 6, 11.9])
    ss = simulate(m, Bolus(0, 150, "central", interval=12, ss=True), t, rtol=1e-9, atol=1e-12)
    n = 200
    long = simulate(m, Bolus(0, 150, "central", interval=12, count=n), t + 12 * (n - 1),
                    rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ss["conc"], long["conc"], rtol=1e-6)


@pytest.mark.parametrize("method", ["tsit5", "rodas4", "auto"])
@pytest.mark.parametrize("params", [{"tlag": -1.0}, {"Fbio": -0.5}])
def test_negative_or_non_finite_bioavailability_or_lag_is_refused(method, params):
    m = parse_model(ORAL_LAG)
    with pytest.raises(RegimenError, match="bioavailability .F. and lag must be finite"):
        simulate(m, Regimen((Bolus(0.5, 100, "depot"),)), [0.0, 1.0, 2.0], params=params,
                 method=method)


@pytest.mark.parametrize("method", ["tsit5", "rodas4", "auto"])
def test_a_zero_volume_is_a_simulation_error_not_a_zero_division(method):
    m = parse_model(IV)
    with pytest.raises(SimulationError):
        simulate(m, Bolus(0, 100, "central"), [0.0, 1.0, 2.0], params={"V": 0.0}, method=method)


def test_ss_infusion_still_running_at_the_next_dose_is_refused_on_the_ode_path():
    m = parse_model(ORAL_LAG)
    reg = Infusion(0, 100, "depot", duration=4, interval=6, ss=True)
    with pytest.raises(RegimenError, match="still running at the dose time"):
        simulate(m, reg, [0.0, 1.0], params={"tlag": 3.0}, method="tsit5")
    # lag + duration within the interval is fine on both paths and they agree
    t = np.array([0.0, 1.0, 2.0, 5.0])
    a = simulate(m, reg, t, params={"tlag": 1.5}, method="tsit5", rtol=1e-10, atol=1e-12)
    b = simulate(m, reg, t, params={"tlag": 1.5}, method="analytic")
    np.testing.assert_allclose(a["depot"], b["depot"], rtol=1e-7, atol=1e-9)
