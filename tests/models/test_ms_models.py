"""MS immunotherapy models: interferon-beta, fingolimod, natalizumab, Teff/Treg.

Each test states the published number it checks and why its tolerance is what it is.
"""

from __future__ import annotations

import numpy as np
import pytest

from pkpd import Bolus, Infusion, Regimen
from pkpd.language import load_model
from pkpd.notation import model_regimens
from pkpd.simulate import simulate


def _at(sim, t: float, name: str) -> float:
    return float(sim[name][np.argmin(np.abs(sim.times - t))])


def _nonnegative(sim) -> bool:
    scale = np.maximum(np.abs(sim.states).max(axis=0), 1.0)
    return bool(np.all(sim.states >= -1e-6 * scale))


# ------------------------------------------------------------- interferon-beta
@pytest.fixture(scope="module")
def ifn():
    return load_model("interferon_beta_neopterin")


def test_ifn_neopterin_peaks_24_to_48_h_after_44ug_sc(ifn):
    # Neurology 2002;58:1409: neopterin peaks 24-48 h after an IFN-beta-1a injection
    t = np.arange(0, 168.01, 0.25)
    sim = simulate(ifn, model_regimens(ifn)["default"], t)
    t_peak = t[sim["neopterin"].argmax()]
    assert 24 <= t_peak <= 48
    assert sim["neopterin"].max() > 1.2 * ifn.param_values["N0"]


def test_ifn_mxa_peaks_before_neopterin(ifn):
    # MxA is a direct ISG response; neopterin passes through a precursor pool
    t = np.arange(0, 168.01, 0.25)
    sim = simulate(ifn, Bolus(0, 44, "depot"), t)
    assert t[sim["mxa"].argmax()] < t[sim["neopterin"].argmax()]
    assert sim["mxa"].max() > 1.5


def test_ifn_sc_pk_matches_rebif_label_60ug(ifn):
    # Rebif label, 60 ug SC in healthy volunteers: Cmax 5.1 +- 1.7 IU/mL, Tmax 16 h,
    # AUC0-96 294 +- 81 IU.h/mL. Cmax and AUC must fall within one reported SD;
    # Tmax within 4 h of the reported 16 h (a median from sparse sampling).
    t = np.arange(0, 96.01, 0.25)
    sim = simulate(ifn, Bolus(0, 60, "depot"), t)
    conc = sim["conc"]
    assert abs(conc.max() - 5.1) <= 1.7
    assert abs(t[conc.argmax()] - 16) <= 4
    assert abs(np.trapezoid(conc, t) - 294) <= 81


@pytest.mark.parametrize("name", ["rebif_44ug_tiw", "avonex_30ug_im_weekly",
                                  "betaferon_250ug_eod", "plegridy_125ug_q2w"])
def test_ifn_named_regimens_simulate(ifn, name):
    t = np.arange(0, 8 * 168.0, 2.0)
    sim = simulate(ifn, model_regimens(ifn)[name], t)
    assert np.all(np.isfinite(sim.states))
    assert _nonnegative(sim)
    assert sim["neopterin"].max() > 1.2 * ifn.param_values["N0"]


# ------------------------------------------------------------------ fingolimod
@pytest.fixture(scope="module")
def fingolimod():
    m = load_model("fingolimod_lymphocytes")
    t = np.arange(0, 180.001, 1 / 24)
    return m, simulate(m, model_regimens(m)["default"], t)


def test_fingolimod_lymphocytes_24_to_30_percent_within_2_weeks(fingolimod):
    # Francis et al. Mult Scler 2014 (V-src abstract): 0.5 mg/d gives a steady state of
    # 24-30% of baseline within 2 weeks, stable on therapy; checked at day 14 and just before
    # the last dose on day 89. IC50 and n were calibrated to these targets (model file), so
    # this checks that the calibration holds, with the published range as the tolerance.
    _, sim = fingolimod
    assert 0.24 <= _at(sim, 14, "lymphocytes") <= 0.30
    assert 0.24 <= _at(sim, 89, "lymphocytes") <= 0.30
    assert _at(sim, 7, "lymphocytes") > _at(sim, 14, "lymphocytes")  # still falling in week 1


def test_fingolimod_recovery_80_percent_3_months_after_stop(fingolimod):
    # Francis et al. 2014: after stopping, 80% of baseline by 3 months. Last dose on day 89;
    # "3 months" read as 90 days (day 179); +-5 percentage points for reading a pooled
    # summary. Also a calibration target. Recovery is monotone once the drug washes out
    # (t1/2 8 d).
    _, sim = fingolimod
    assert abs(_at(sim, 179, "lymphocytes") - 0.80) <= 0.05
    after = sim["lymphocytes"][sim.times >= 92]
    assert np.all(np.diff(after) > 0)


def test_fingolimod_base_sets_the_unit_of_the_counts():
    # The IDR is linear in BASE: BASE = 1.7 (10^9/L, as in the simulated dataset) scales the
    # count by 1.7 and leaves the fraction of baseline unchanged.
    m = load_model("fingolimod_lymphocytes")
    t = np.array([0.0, 0.25, 14.0, 120.0])
    one = simulate(m, model_regimens(m)["default"], t)
    scaled = simulate(m, model_regimens(m)["default"], t, params={"BASE": 1.7})
    np.testing.assert_allclose(scaled["lymphocytes"], 1.7 * one["lymphocytes"], rtol=1e-6)
    np.testing.assert_allclose(scaled["fraction"], one["lymphocytes"], rtol=1e-6)


def test_fingolimod_pk_matches_kovarik_day7():
    # Kovarik 2004, 1.25 mg/d for 7 d: day-7 Cmax 5.0 ng/mL, AUC 109 ng.h/mL. V/F was
    # derived from the AUC, so 5% covers rounding; Cmax is a check (10%).
    m = load_model("fingolimod_lymphocytes")
    t = np.arange(0, 7.0, 1 / 96)
    sim = simulate(m, model_regimens(m)["kovarik_1_25mg_7d"], t)
    day7 = t >= 6
    auc = np.trapezoid(sim["conc"][day7], t[day7]) * 24
    assert abs(auc - 109) <= 0.05 * 109
    assert abs(sim["conc"][day7].max() - 5.0) <= 0.10 * 5.0


def test_fingolimod_mass_balance_and_nonnegative(fingolimod):
    m, sim = fingolimod
    total = sim["depot"] + sim["central"] + sim["Aelim"]
    np.testing.assert_allclose(total[sim.times > 89.5], 0.5 * 90, rtol=1e-6)
    assert _nonnegative(sim)


# ----------------------------------------------------------------- natalizumab
# Published numbers (ms-models 8c, PMID 30939392, real-world cohort at nadir, V-src):
# SID (every 4 weeks) vs EID mean trough 35.7 vs 18.2 ug/mL, occupancy 87.4 vs 78.2%.
# Product information 5.2 (read for the model file, V-src): median linear CL 6.08 mL/h,
# Vss 5.96 L, half-life 28.2 d, Cmax 110 +- 52 ug/mL, q4w mean troughs 23-29 ug/mL,
# q6w troughs about 60-70% lower. Only EC50 is calibrated (to the SID occupancy).
def _steady_trough(model, regimen):
    d = next(iter(regimen))
    end = d.time + d.interval * d.count
    t = np.linspace(0, end - 1e-6, 2001)
    sim = simulate(model, regimen, t)
    return sim["conc"][-1], sim["saturation"][-1], sim


def _every(weeks: int, count: int) -> Regimen:
    return Regimen((Infusion(0.0, 300.0, "central", duration=1 / 24, interval=7.0 * weeks,
                             count=count),))


@pytest.fixture(scope="module")
def natalizumab():
    m = load_model("natalizumab")
    regs = model_regimens(m)
    return m, _steady_trough(m, regs["sid_q4w"]), _steady_trough(m, regs["eid_q6w"])


def test_natalizumab_sid_trough_and_saturation_above_eid(natalizumab):
    # Published ordering: standard interval dosing keeps higher troughs and saturation
    _, (c_sid, s_sid, sim_sid), (c_eid, s_eid, sim_eid) = natalizumab
    assert c_sid > c_eid
    assert s_sid > s_eid
    assert _nonnegative(sim_sid) and _nonnegative(sim_eid)


def test_natalizumab_sid_trough_reproduces_the_real_world_mean(natalizumab):
    # 35.7 ug/mL (PMID 30939392); not calibrated: CL and Vss are the product information's
    # medians, the rest BIIB107 template values. 15%: the trials' own mean q4w troughs vary
    # by +-12% between visits (23-29 ug/mL), so a typical-value model is held to about that.
    # (The trials' 23-29 are themselves 20-35% below the real-world mean; the model, at 36.6,
    # does not reproduce them -- said in the model file.)
    _, (c_sid, _, _), _ = natalizumab
    assert c_sid == pytest.approx(35.7, rel=0.15)


def test_natalizumab_eid_occupancy_is_predicted_from_the_sid_calibration(natalizumab):
    # EC50 was calibrated so that the SID trough occupancy is 87.4%; the EID occupancy
    # (78.2%, PMID 30939392) is then a prediction. +-3 points is a third of the published
    # SID-EID difference (9.2 points), so the test separates the two regimens.
    _, (_, s_sid, _), (_, s_eid, _) = natalizumab
    assert s_sid == pytest.approx(87.4, abs=0.1)  # the calibration holds
    assert s_eid == pytest.approx(78.2, abs=3.0)


def test_natalizumab_eid_trough_relative_to_sid(natalizumab):
    # Product information: q6w troughs about 60-70% lower than q4w ("about": +-5 points).
    # The real-world EID mean 18.2 ug/mL (interval of that cohort not in its abstract; EID
    # in practice is every 5-8 weeks) lies between this model's q5w and q6w troughs; the
    # exact q6w value (14.5) is 20% below it, as the model file says. Every EID trough stays
    # above the 2 ug/mL target of model-informed extended dosing (ms-models 8c).
    m, (c_sid, _, _), (c_eid, _, _) = natalizumab
    assert 0.25 <= c_eid / c_sid <= 0.45
    c_q5w, _, _ = _steady_trough(m, _every(5, 11))
    assert c_eid < 18.2 < c_q5w
    assert c_eid > 2.0


def test_natalizumab_cmax_and_half_life_match_the_product_information(natalizumab):
    # Cmax after repeated 300 mg: 110 +- 52 ug/mL (within one SD). Half-life median 28.2 d:
    # ln2*Vss/CL from the published medians gives it to 1%; the simulated slope of the
    # linear part (Vmax = 0) also depends on the template split of Vss and on Q, hence 10%.
    m, (_, _, sim_sid), _ = natalizumab
    last = sim_sid.times >= sim_sid.times[-1] - 28
    assert abs(sim_sid["conc"][last].max() - 110) <= 52
    p = m.param_values
    assert np.log(2) * (p["Vc"] + p["Vp"]) / p["CL"] == pytest.approx(28.2, rel=0.01)
    assert p["CL"] == pytest.approx(6.08e-3 * 24, rel=0.01)
    t = np.array([60.0, 90.0])
    sim = simulate(m, Bolus(0, 300, "central"), t, params={"Vmax": 0.0})
    half_life = np.log(2) * 30 / np.log(sim["conc"][0] / sim["conc"][1])
    assert half_life == pytest.approx(28.2, rel=0.10)


def test_natalizumab_saturation_above_80_percent_24_h_after_dose():
    # Label: alpha4 saturation >= 80% 24 h after 1-6 mg/kg IV (300 mg = 4.3 mg/kg at 70 kg)
    m = load_model("natalizumab")
    sim = simulate(m, model_regimens(m)["default"], np.array([0.0, 1.0]))
    assert sim["saturation"][1] >= 80


def test_natalizumab_mass_balance():
    m = load_model("natalizumab")
    t = np.array([400.0, 500.0])
    sim = simulate(m, model_regimens(m)["sid_q4w"], t, rtol=1e-9, atol=1e-12)
    total = sim["central"] + sim["periph"] + sim["Aelim"]
    np.testing.assert_allclose(total, 300 * 13, rtol=1e-6)


# -------------------------------------------------------------------- Teff/Treg
@pytest.fixture(scope="module")
def teff_treg():
    return load_model("teff_treg")


def test_teff_treg_untreated_stays_at_autoimmune_equilibrium(teff_treg):
    t = np.linspace(0, 365, 74)
    sim = simulate(teff_treg, None, t)
    assert sim["R0"][0] > 1
    assert sim["teff"][0] > 1000  # chronic autoimmunity, not the trivial equilibrium
    np.testing.assert_allclose(sim.states, np.broadcast_to(sim.states[0], sim.states.shape),
                               rtol=1e-5)  # 10x the integrator rtol


def test_teff_treg_therapy_lowers_teff_then_it_returns(teff_treg):
    # Alexander & Wahl 2010: antigen-specific Tregs change the autoimmune response
    # quantitatively but not the long-term outcome
    t = np.linspace(0, 730, 731)
    sim = simulate(teff_treg, model_regimens(teff_treg)["default"], t)
    teff0 = sim["teff"][0]
    assert sim["teff"][t <= 70].min() < 0.5 * teff0
    assert sim["treg"][t <= 70].max() > sim["treg"][0]
    assert sim["teff"][-1] == pytest.approx(teff0, rel=0.01)
    assert _nonnegative(sim)


def test_ifn_accumulation_66ug_q48h(ifn):
    # Buchwalder-Csajka: 66 ug SC every 48 h x 4 accumulates 2.4-fold (AUC of the 4th
    # vs the 1st interval). Not a calibration target (ka was set from that study's
    # 66 h half-life), so 10% is allowed for the different AUC definitions.
    t = np.arange(0, 192.01, 0.25)
    conc = simulate(ifn, Bolus(0, 66, "depot", interval=48, count=4), t)["conc"]
    first, fourth = t < 48, (t >= 144) & (t < 192)
    ratio = np.trapezoid(conc[fourth], t[fourth]) / np.trapezoid(conc[first], t[first])
    assert ratio == pytest.approx(2.4, rel=0.10)
