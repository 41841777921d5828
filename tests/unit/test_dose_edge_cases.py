"""Dose records at the edges of the NONMEM conventions, against closed forms written here.

One compartment, IV: ``c(t) = R / CL * (1 - exp(-k t))`` under a constant input ``R``
from t = 0, so an infusion of rate ``R`` over ``[s, s + T)`` is that step at ``s``
minus the same step at ``s + T``; doses add (superposition).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pkpd import (
    DataError,
    Infusion,
    PkpdError,
    RegimenError,
    load_model,
    read_nonmem,
    simulate,
)

IV = load_model("pk_1cmt_iv")
ORAL = load_model("pk_1cmt_oral")
CL, V = IV.param_values["CL"], IV.param_values["V"]
K = CL / V


def step(R: float, t: np.ndarray) -> np.ndarray:
    """Concentration after a constant input R into central from t = 0 (0 before)."""
    return np.where(t >= 0, R / CL * (1 - np.exp(-K * np.maximum(t, 0.0))), 0.0)


def infusions(R: float, T: float, starts, t: np.ndarray) -> np.ndarray:
    return sum(step(R, t - s) - step(R, t - s - T) for s in starts)


def assert_close(y, y_true, rtol):
    err = np.abs(y - y_true) / (1e-12 + rtol * np.abs(y_true))
    assert err.max() < 1, f"max scaled error {err.max():.3g}: {y} vs {y_true}"


def _frame(**columns) -> pd.DataFrame:
    n = len(columns["TIME"])
    base = {"ID": [1] * n, "EVID": [0] * n, "AMT": [0.0] * n, "RATE": [0.0] * n,
            "II": [0.0] * n, "ADDL": [0] * n, "SS": [0] * n, "MDV": [0] * n}
    base.update(columns)
    return pd.DataFrame(base)


# ------------------------------------------------ overlapping infusions in a dataset
@pytest.mark.parametrize("method,rtol", [("auto", 1e-10), ("tsit5", 1e-6)])
def test_overlapping_infusions_from_a_dataset_add_their_rates(method, rtol):
    # 100 over 18 h every 12 h, 3 times (NONMEM accepts this: the rates add).
    R, T = 100 / 18, 18.0
    f = _frame(TIME=[0.0, 0.0, 30.0], EVID=[1, 0, 0], AMT=[100.0, 0, 0], RATE=[R, 0, 0],
               II=[12.0, 0, 0], ADDL=[2, 0, 0], DV=[np.nan, 0.0, 1.0], MDV=[1, 0, 0])
    regimen = read_nonmem(f, IV).subject(1).regimen
    assert regimen.doses == (Infusion(0.0, 100.0, "central", rate=R, interval=12.0, count=3),)
    t = np.array([0.0, 6.0, 12.0, 15.0, 18.0, 24.0, 30.0, 36.0, 42.0, 50.0])
    sim = simulate(IV, regimen, t, method=method, rtol=rtol * 1e-2, atol=1e-12)
    assert_close(sim["conc"], infusions(R, T, (0.0, 12.0, 24.0), t), rtol)


def test_overlapping_infusion_rows_add_their_rates():
    # two rows: 10 h infusions starting 1 h apart
    f = _frame(TIME=[0.0, 1.0, 5.0, 20.0], EVID=[1, 1, 0, 0], AMT=[100.0, 50.0, 0, 0],
               RATE=[10.0, 5.0, 0, 0], DV=[np.nan, np.nan, 1.0, 1.0], MDV=[1, 1, 0, 0])
    regimen = read_nonmem(f, IV).subject(1).regimen
    t = np.array([0.0, 0.5, 1.0, 5.0, 10.0, 10.5, 11.0, 20.0])
    y_true = infusions(10.0, 10.0, (0.0,), t) + infusions(5.0, 10.0, (1.0,), t)
    assert_close(simulate(IV, regimen, t)["conc"], y_true, 1e-10)


# ------------------------------------ steady-state infusions longer than the interval
def test_steady_state_infusion_longer_than_the_interval_is_rejected_when_built():
    with pytest.raises(RegimenError, match=r"steady state with an infusion longer than the "
                                           r"dosing interval is not supported \(duration 18 > "
                                           r"interval 12\)"):
        Infusion(0, 100, "central", duration=18, interval=12, ss=True)
    with pytest.raises(RegimenError, match="longer than the dosing interval"):
        Infusion(0, 100, "central", rate=100 / 18, interval=12, ss=True)
    # without steady state, repeats longer than the interval are ordinary (overlapping) doses
    assert Infusion(0, 100, "central", duration=18, interval=12, count=3).duration == 18.0


def test_steady_state_infusion_longer_than_II_is_a_data_error():
    f = _frame(TIME=[0.0, 6.0], EVID=[1, 0], AMT=[100.0, 0], RATE=[100 / 18, 0],
               II=[12.0, 0], SS=[1, 0], DV=[np.nan, 1.0], MDV=[1, 0])
    f.loc[1, "ID"] = f.loc[0, "ID"] = 7
    with pytest.raises(DataError, match=r"^row 1 \(ID 7\): SS=1 with AMT 100.0 and RATE "
                                        r"5.5555\d* \(an infusion lasting AMT/RATE = 18\) "
                                        r"longer than II 12.0: steady state with an infusion "
                                        r"longer than the dosing interval is not supported"):
        read_nonmem(f, IV)


@pytest.mark.parametrize("method", ["auto", "tsit5"])
def test_rate_giving_a_duration_of_one_interval_is_a_constant_infusion(method):
    # RATE written with 10 digits: AMT / RATE = 12.0000000005 > II = 12, taken as 12.
    R = 8.3333333333
    assert 100 / R > 12.0
    f = _frame(TIME=[0.0, 5.0, 12.0], EVID=[1, 0, 0], AMT=[100.0, 0, 0], RATE=[R, 0, 0],
               II=[12.0, 0, 0], SS=[1, 0, 0], DV=[np.nan, 1.0, 1.0], MDV=[1, 0, 0])
    (dose,) = read_nonmem(f, IV).subject(1).regimen.doses
    assert dose.duration == 12.0
    assert dose == Infusion(0, 100, "central", rate=R, interval=12, ss=True)
    t = np.array([0.0, 5.0, 11.0])
    sim = simulate(IV, dose, t, method=method, rtol=1e-10, atol=1e-12)
    assert_close(sim["conc"], np.full(3, 100 / 12 / CL), 1e-8)  # steady state of a constant rate


@pytest.mark.parametrize("method", ["auto", "tsit5"])
def test_lag_is_a_model_parameter_checked_when_simulating(method):
    # An SS infusion into a lagged depot is a valid dose whatever the lag ...
    dose = Infusion(0, 100, "depot", duration=2, interval=12, ss=True)
    f = _frame(TIME=[0.0, 1.0], EVID=[1, 0], AMT=[100.0, 0], RATE=[50.0, 0], II=[12.0, 0],
               SS=[1, 0], CMT=["depot", None], DV=[np.nan, 1.0], MDV=[1, 0])
    assert read_nonmem(f, ORAL).subject(1).regimen.doses == (dose,)
    # ... and a lag of at least the interval is reported when the model's value is known.
    with pytest.raises(PkpdError, match=r"lag.*\(13\).*interval \(12\)"):
        simulate(ORAL, dose, [0.0, 1.0], params=dict(tlag=13.0), method=method)
