"""simulate() reuses prepared kernel arrays across calls: values must never leak between calls.

Truth: the closed form of a one-compartment IV bolus, C(t) = D/V exp(-CL/V t),
integrated by the ODE kernel (method="nonstiff", not the exact linear path).
"""

import numpy as np
import pytest

from pkpd import Bolus, load_model, simulate
from pkpd.errors import RegimenError

RTOL, ATOL = 1e-8, 1e-12


def _truth(dose, cl, v, t, t_dose=0.0):
    t = np.asarray(t, dtype=float)
    return np.where(t >= t_dose, dose / v * np.exp(-cl / v * (t - t_dose)), 0.0)


def _close(sim, expected):
    err = np.abs(sim["conc"] - expected) / (1e-9 + 1e-5 * np.abs(expected))
    assert err.max() < 1.0, err.max()


@pytest.fixture()
def m():
    return load_model("pk_1cmt_iv")


def test_new_parameter_values_each_call(m):
    t = np.linspace(0, 24, 13)
    reg = Bolus(0, 100, "central")
    for cl, v in [(2.8, 32.0), (5.0, 32.0), (2.8, 10.0), (2.8, 32.0)]:
        sim = simulate(m, reg, t, params={"CL": cl, "V": v}, method="nonstiff",
                       rtol=RTOL, atol=ATOL)
        _close(sim, _truth(100, cl, v, t))
        assert sim.model.param_values == {"CL": cl, "V": v}


def test_changing_the_callers_grid_in_place_is_seen(m):
    t = np.linspace(0, 24, 13)
    reg = Bolus(0, 100, "central")
    simulate(m, reg, t, method="nonstiff", rtol=RTOL, atol=ATOL)
    t *= 2.0  # same array object, new values: must not hit the old entry
    sim = simulate(m, reg, t, method="nonstiff", rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(sim.times, t)
    _close(sim, _truth(100, 2.8, 32.0, t))


def test_different_regimens_and_options_are_different_entries(m):
    t = np.linspace(0, 24, 13)
    a = simulate(m, Bolus(0, 100, "central"), t, method="nonstiff", rtol=RTOL, atol=ATOL)
    b = simulate(m, Bolus(2, 50, "central"), t, method="nonstiff", rtol=RTOL, atol=ATOL)
    _close(a, _truth(100, 2.8, 32.0, t))
    _close(b, _truth(50, 2.8, 32.0, t, t_dose=2.0))
    # a list of doses equal to a cached Regimen gives the same answer
    c = simulate(m, [Bolus(2, 50, "central")], t, method="nonstiff", rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(b["conc"], c["conc"])
    # looser tolerance: its own entry (fewer steps), still close to the truth
    d = simulate(m, Bolus(0, 100, "central"), t, method="nonstiff", rtol=1e-4, atol=1e-8)
    assert d.stats["naccept"] < a.stats["naccept"]


def test_bad_input_still_raises_after_a_cached_call(m):
    t = np.linspace(0, 24, 13)
    simulate(m, Bolus(0, 100, "central"), t)
    with pytest.raises(RegimenError, match="not a state"):
        simulate(m, Bolus(0, 100, "gut"), t)
    with pytest.raises(ValueError, match="sorted"):
        simulate(m, Bolus(0, 100, "central"), t[::-1])
    with pytest.raises(ValueError, match="method"):
        simulate(m, Bolus(0, 100, "central"), t, method="euler")
