"""Anti-CD20 B-cell models of the library: they load, simulate their labelled
regimens, keep amounts non-negative, conserve drug mass, and reproduce the
published numbers (sources and evidence tags: ../shared/reference/ms-models.md
sections 1-3; every tolerance is justified where it is used)."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pytest

from pkpd import Bolus, State, compile_model, simulate
from pkpd.language import load_model
from pkpd.metrics import time_to_below, time_to_recovery
from pkpd.notation import model_regimens, regimen_from_model

MODELS = ["ofatumumab_bcell", "ocrelizumab_bcell", "rituximab_kpd"]
WEEK = 7.0


@pytest.fixture(scope="module", params=MODELS)
def model(request):
    return load_model(request.param)


def test_model_files_state_sources_units_and_evidence(model):
    assert model.time_unit == "day"
    assert model.sources and all(len(s) > 40 for s in model.sources)
    assert "regimen" in dict(model.meta)
    for p in model.params:
        assert p.unit, f"{p.name} has no unit"
        assert re.search(r"published|assumption|calibrated|derived|illustrative",
                         p.description), f"{p.name}: say where the value comes from"


def test_every_regimen_simulates_with_non_negative_amounts(model):
    for name, regimen in model_regimens(model).items():
        t = np.linspace(0.0, regimen.last_dose_time + 365.0, 1500)
        sim = simulate(model, regimen, t)
        assert np.isfinite(sim.states).all(), name
        scale = np.abs(sim.states).max(axis=0)
        assert (sim.states >= -1e-9 * scale).all(), name


@pytest.mark.parametrize(("name", "pk_states"), [
    ("ofatumumab_bcell", ("depot", "central", "periph")),
    ("ocrelizumab_bcell", ("central", "periph")),
])
def test_drug_mass_balance(name, pk_states):
    """Bioavailable dose = drug remaining + drug eliminated.

    The elimination is accumulated by a bookkeeping state added here, whose
    derivative is the model's ``elim_rate`` output (linear clearance plus,
    for ofatumumab, internalisation of the drug-CD20 complex).
    """
    m = load_model(name)
    rate = next(o.expr for o in m.outputs if o.name == "elim_rate")
    aug = replace(m, states=(*m.states, State("Aelim", 0, "mg")), odes=(*m.odes, ("Aelim", rate)))
    regimen = regimen_from_model(m)
    t = np.linspace(0.0, regimen.last_dose_time + 200.0, 400)
    sim = simulate(aug, regimen, t, rtol=1e-10, atol=1e-10)
    F = m.param("Fsc").value if name == "ofatumumab_bcell" else 1.0
    given = np.zeros_like(t)
    for d in regimen:
        for t0 in d.times():
            if d.duration > 0:
                given += F * d.amount * np.clip((t - t0) / d.duration, 0.0, 1.0)
            else:  # the output at a dose time is the post-dose value
                given += F * d.amount * (t >= t0)
    held = sum(sim[s] for s in pk_states) + sim["Aelim"]
    assert np.abs(held - given).max() <= 1e-7 * given.max()


# ----------------------------------------------------------------- ofatumumab
def test_ofatumumab_time_to_b_cells_below_8():
    """Yu 2022 abstract: median time to B < 8 cells/uL is 11 days (V-src).

    The published value is a population median of individual times, not the
    time of the typical (median-parameter) subject, and the typical subject
    need not sit at the median of a non-linear endpoint; 9.5-13 d accepts
    that difference (about +-15%) while failing any error in structure or
    units (a wrong F or EC50 moves it by days). The library notes' own
    typical-value simulation gives 11.4 d (CALC), matched to 0.2 d here.
    """
    m = load_model("ofatumumab_bcell")
    t = np.arange(0.0, 60.0, 0.01)
    sim = simulate(m, regimen_from_model(m), t)
    t8 = float(time_to_below("bcells", 8.0)((t, sim["bcells"])))
    assert 9.5 <= t8 <= 13.0
    assert t8 == pytest.approx(11.4, abs=0.2)
    # The other CALC numbers of the notes: < 40 cells/uL (LLN) at 7.1 d; day 14 about
    # 5.4 and day 28 about 1.5 cells/uL (given to 2 digits, so 3% tolerance).
    assert float(time_to_below("bcells", 40.0)((t, sim["bcells"]))) == pytest.approx(7.1, abs=0.1)
    b = dict(zip(np.round(t, 2), sim["bcells"], strict=True))
    assert b[14.0] == pytest.approx(5.4, rel=0.03)
    assert b[28.0] == pytest.approx(1.5, rel=0.03)


# ---------------------------------------------------------------- ocrelizumab
def _two_cmt_half_life(CL: float, V1: float, Q: float, V2: float) -> float:
    A = np.array([[-(CL + Q) / V1, Q / V2], [Q / V1, -Q / V2]])
    return math.log(2) / float(np.min(np.abs(np.linalg.eigvals(A))))


def test_ocrelizumab_terminal_half_life():
    """SmPC and Gibiansky 2021: terminal half-life 26 days (V-src).

    Computed from the eigenvalues of the linear system once CLT has decayed
    (CL = CLinf); the published value is rounded to whole days, hence +-0.5 d;
    the notes' calculation gives 25.8 d. The simulated terminal slope of the
    model file's equations must agree with the eigenvalue: exactly with CLT
    set to 0, and within 2% three years after the first dose, when the
    remaining CLT is 1.4% of CLinf.
    """
    m = load_model("ocrelizumab_bcell")
    p = m.param_values
    half = _two_cmt_half_life(p["CLinf"], p["V1"], p["Q"], p["V2"])
    assert abs(half - 26.0) <= 0.5
    assert half == pytest.approx(25.8, abs=0.05)

    def slope_half_life(params, t0):
        t = np.array([t0, t0 + 100.0])
        sim = simulate(m, Bolus(0.0, 600.0, "central"), t, params=params, rtol=1e-10,
                       atol=1e-14)
        return math.log(2) * 100.0 / math.log(sim["conc"][0] / sim["conc"][1])

    assert slope_half_life({"CLT": 0.0}, 300.0) == pytest.approx(half, rel=1e-5)
    assert slope_half_life(None, 1095.0) == pytest.approx(half, rel=0.02)


def test_ocrelizumab_ppms_cmax():
    """EU SmPC: PPMS mean Cmax 141 ug/mL after the 2 x 300 mg course (V-src).

    The typical-value simulation gives the concentration of the median
    subject, about 132 ug/mL (133 in the notes' bolus approximation, CALC);
    an arithmetic mean of individuals lies above it (for log-normal
    variability in V1 with CV 30%, by exp(omega^2/2), about 4.5%), and the
    IIV was not retrieved, so the published mean is matched within 10%.
    """
    m = load_model("ocrelizumab_bcell")
    r = regimen_from_model(m, "ppms_first_course")
    end = 14.0 + 2.5 / 24  # end of the second infusion, where the concentration peaks
    t = np.sort(np.r_[np.linspace(0.0, 28.0, 2801), end])
    cmax = float(simulate(m, r, t)["conc"].max())
    assert cmax == pytest.approx(141.0, rel=0.10)
    assert cmax == pytest.approx(133.0, rel=0.02)


def test_ocrelizumab_weight_effect_on_auc_is_consistent_with_the_assumed_exponent():
    """Gibiansky 2021: AUCtau +26% below 60 kg and -21% above 90 kg vs 60-90 kg (V-src).

    The weight exponents of the paper were not retrieved; the model assumes
    0.75 on clearances. With assumed group medians of 55, 75 and 100 kg this
    assumption reproduces both differences within 5 percentage points, which
    is all this test claims: a consistency check of an assumption.
    """
    m = load_model("ocrelizumab_bcell")
    r = regimen_from_model(m)
    t = np.linspace(24 * WEEK, 48 * WEEK, 2001)  # the second 24-week interval

    def auc(wt):
        return float(np.trapezoid(simulate(m, r, t, covariates={"WT": wt})["conc"], t))

    ref = auc(75.0)
    assert auc(55.0) / ref - 1 == pytest.approx(0.26, abs=0.05)
    assert auc(100.0) / ref - 1 == pytest.approx(-0.21, abs=0.05)


def test_ocrelizumab_depletion_and_calibrated_repletion():
    """Depletion >= 97% by the first assessment at 2 weeks (V-src), and B cells
    back at the LLN (40 cells/uL) 72 weeks after the last infusion (V-src,
    PMC8217029 Table 2). The repletion time is what kout was calibrated to
    (models/calibration/ocrelizumab_bcell.py), so this checks the calibration
    still holds; +-1 week absorbs the rounding of kout to 3 significant digits and solver
    tolerance, and is a tenth of the published range's narrowest side."""
    m = load_model("ocrelizumab_bcell")
    r = regimen_from_model(m)
    last = r.last_dose_time
    assert last == 96 * WEEK
    t = np.arange(0.0, last + 120 * WEEK, 0.1)
    b = simulate(m, r, t)["bcells"]
    b0 = m.param("B0").value
    assert b[np.searchsorted(t, 14.0)] / b0 <= 0.03
    weeks = float(time_to_recovery("bcells", 40.0, after=last)((t, b))) / WEEK
    assert weeks == pytest.approx(72.0, abs=1.0)


# ------------------------------------------------------------------ rituximab
def test_rituximab_published_rates_and_half_lives():
    """PMC6624401 abstract: kdecay 0.036/d -> effect t1/2 19 d, kturn 0.02/d ->
    turnover t1/2 35 d, death rate x35 (V-src): the half-lives are the published
    rates' ln 2/k rounded to days, and the simulated model obeys them."""
    m = load_model("rituximab_kpd")
    p = m.param_values
    assert round(math.log(2) / p["kdecay"]) == 19
    assert round(math.log(2) / p["kturn"]) == 35
    half = math.log(2) / p["kdecay"]
    sim = simulate(m, regimen_from_model(m, "single"), np.array([0.0, half, 2 * half]),
                   rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sim["effect"], [1.0, 0.5, 0.25], rtol=1e-8)
    # right after one 750 mg/m2 dose the death rate is 35 x kturn
    cm = compile_model(m)
    y = np.array([750.0, p["B0"]])
    dB = cm.rhs(0.0, y, cm.param_vector())[1]
    assert dB == pytest.approx(p["kturn"] * p["B0"] - 35 * p["kturn"] * p["B0"], rel=1e-12)


def test_rituximab_reproduces_the_notes_calculation():
    """ms-models.md 3a (CALC, from the same reading with E(0) = 1): nadir about
    4% of baseline at day 10; 50%, 80% and 90% recovery at days 123, 186, 226.
    The notes give whole days and percent, so +-1 day and +-0.5 points."""
    m = load_model("rituximab_kpd")
    t = np.arange(0.0, 400.0, 0.01)
    y = simulate(m, regimen_from_model(m, "single"), t)["bcells_pct"]
    assert y.min() == pytest.approx(4.0, abs=0.5)
    assert t[y.argmin()] == pytest.approx(10.0, abs=1.0)
    for pct, tday in ((50, 123), (80, 186), (90, 226)):
        assert float(time_to_recovery("p", pct, after=0.0)((t, y))) == pytest.approx(tday, abs=1.0)
