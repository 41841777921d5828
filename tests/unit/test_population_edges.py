"""Edge cases of populations: bounds, dataset covariates, clear errors, provenance.

Truth is the closed form of a one-compartment IV bolus with allometric clearance,
``C(t) = D/V * exp(-TVCL * (WT/70)^0.75 / V * t)``, written here.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pkpd.data import read_nonmem
from pkpd.dosing import Bolus
from pkpd.errors import ModelError
from pkpd.language import parse_model
from pkpd.population import Population, simulate_population
from pkpd.simulate import simulate

ALLO = """
name: allo
time: h
dose: central
[parameters]
TVCL = 2 [L/h] (0, inf)
V = 20 [L] (1, 100)
[covariates]
WT = 70 [kg]
[states]
central = 0 [mg]
[equations]
CL = TVCL*(WT/70)^0.75
d/dt(central) = -CL/V*central
[outputs]
conc = central/V [mg/L]
"""

DOSE = 100.0
TIMES = np.array([0.0, 1.0, 2.0, 5.0, 10.0])


@pytest.fixture(scope="module")
def model():
    return parse_model(ALLO)


def conc(t, tvcl, v, wt):
    """Closed-form concentration after a bolus of DOSE at t = 0."""
    k = tvcl * (wt / 70.0) ** 0.75 / v
    return DOSE / v * np.exp(-k * np.asarray(t))


def dataset(weights, times=(1.0, 5.0)):
    """Bolus of DOSE at 0 and observations at ``times``; ``weights[id]`` is a WT per row."""
    rows = []
    for sid, wt in weights.items():
        wts = wt if isinstance(wt, list) else [wt] * (len(times) + 1)
        for tt, w in zip((0.0, *times), wts, strict=True):
            dosed = tt == 0.0
            rows.append({"ID": sid, "TIME": tt, "AMT": DOSE if dosed else 0.0,
                         "EVID": int(dosed), "MDV": int(dosed), "DV": np.nan if dosed else 1.0,
                         "DVID": None if dosed else "conc", "WT": w})
    return read_nonmem(pd.DataFrame(rows), covariates=["WT"])


# ------------------------------------------------------------------ 1. parameter bounds
def test_normal_iiv_below_a_lower_bound_is_an_error_naming_the_subject(model):
    pop = Population(model, {"TVCL": 0.8}, distribution={"TVCL": "normal"})
    drawn = pop.sample(200, rng=3)  # simulate_population draws the same subjects
    bad = drawn[drawn["TVCL"] < 0]
    assert len(bad) > 0  # CV 0.8: about 11 % of subjects below 0
    first = bad.iloc[0]
    with pytest.raises(ModelError) as info:
        simulate_population(pop, Bolus(0, DOSE), TIMES, n=200, rng=3)
    msg = str(info.value)
    assert msg.startswith(f"ID {int(first['ID'])}: parameter 'TVCL' = {first['TVCL']:g} "
                          f"is outside its bounds (0, inf)")
    assert f"{len(bad)} of 200 subjects" in msg
    # simulate() refuses the same value
    with pytest.raises(ModelError, match="outside its bounds"):
        simulate(model.with_params({"TVCL": float(first["TVCL"])}), Bolus(0, DOSE), TIMES)
    # a log-normal IIV of the same size stays positive and simulates
    ok = simulate_population(Population(model, {"TVCL": 0.8}), Bolus(0, DOSE), TIMES, n=200,
                             rng=3)
    assert (ok.params["TVCL"] > 0).all()


def test_parameter_table_outside_bounds_is_an_error(model):
    low = pd.DataFrame({"ID": [101, 102, 103], "TVCL": [2.0, -0.5, 3.0]})
    with pytest.raises(ModelError, match=r"^ID 102: parameter 'TVCL' = -0.5 is outside its "
                                         r"bounds \(0, inf\); 1 of 3 subjects"):
        simulate_population(low, Bolus(0, DOSE), TIMES, model=model)
    high = pd.DataFrame({"ID": [1, 2, 3], "V": [20.0, 100.0, 150.0]})
    with pytest.raises(ModelError, match=r"^ID 3: parameter 'V' = 150 is outside its bounds "
                                         r"\(1, 100\)"):
        simulate_population(high, Bolus(0, DOSE), TIMES, model=model)
    # bounds are inclusive, as in simulate(): V = 100 runs and is right
    edge = simulate_population(high.iloc[:2], Bolus(0, DOSE), TIMES, model=model)
    np.testing.assert_allclose(edge["conc"][1], conc(TIMES, 2.0, 100.0, 70.0), rtol=1e-5)


# ------------------------------------------------------------------ 2. params as simulated
def test_params_show_the_dataset_covariates_that_were_used(model):
    ds = dataset({1: 40.0, 2: 140.0})
    pop = Population(model, {"TVCL": 0.3}, covariates={"WT": stats.norm(70, 1)})
    res = simulate_population(pop, ds, rng=1)
    p = res.params.set_index("ID")
    assert p["WT"].tolist() == [40.0, 140.0]
    np.testing.assert_array_equal(p["TVCL"], pop.sample(2, rng=1)["TVCL"])
    df = res.to_frame()
    for sid in (1, 2):
        t = df.loc[df.ID == sid, "time"].to_numpy()
        truth = conc(t, p.loc[sid, "TVCL"], p.loc[sid, "V"], p.loc[sid, "WT"])
        np.testing.assert_allclose(df.loc[df.ID == sid, "conc"], truth, rtol=1e-5)
    # a parameter table's WT is replaced by the dataset's too, and params say so
    tab = pd.DataFrame({"ID": [2, 1], "TVCL": [1.5, 2.5], "WT": [70.0, 70.0]})
    res = simulate_population(tab, ds, model=model)
    assert res.params[["ID", "TVCL", "WT"]].values.tolist() == [[2, 1.5, 140.0], [1, 2.5, 40.0]]


def test_time_varying_dataset_covariate_shows_its_first_value(model):
    # WT 40 up to t = 2, then 140 (LOCF)
    ds = dataset({1: [40.0, 40.0, 140.0, 140.0]}, times=(1.0, 2.0, 5.0))
    res = simulate_population(Population(model, {}, covariates={"WT": 70.0}), ds, rng=0)
    assert res.params["WT"].tolist() == [40.0]
    k1, k2 = 2.0 * (40 / 70) ** 0.75 / 20, 2.0 * (140 / 70) ** 0.75 / 20
    truth = DOSE / 20 * np.exp([-k1, -2 * k1, -2 * k1 - 3 * k2])
    np.testing.assert_allclose(res.outputs[:, 0], truth, rtol=1e-5)


# ------------------------------------------------------------------ 3. clear errors
def test_dataset_and_table_with_different_ids(model):
    ds = dataset({1: 60.0, 2: 80.0})
    with pytest.raises(ValueError, match=r"IDs 7, 8 of the parameter table are not in the "
                                         r"dataset; its IDs are 1, 2"):
        simulate_population(pd.DataFrame({"ID": [7, 8], "TVCL": [1.0, 4.0]}), ds, model=model)
    with pytest.raises(ValueError, match=r"dataset IDs 2 have no row in the parameter table"):
        simulate_population(pd.DataFrame({"ID": [1], "TVCL": [1.0]}), ds, model=model)
    with pytest.raises(ValueError, match=r"3 rows but the dataset has 2 subjects"):
        simulate_population(pd.DataFrame({"TVCL": [1.0, 4.0, 3.0]}), ds, model=model)
    # without an ID column, rows are the dataset's subjects in order
    res = simulate_population(pd.DataFrame({"TVCL": [1.0, 4.0]}), ds, model=model)
    assert res.ids.tolist() == [1, 2]
    np.testing.assert_allclose(res.to_frame().query("ID == 2")["conc"],
                               conc([1.0, 5.0], 4.0, 20.0, 80.0), rtol=1e-5)


def test_n_must_match_a_dataset_or_a_mapping(model):
    pop = Population(model, {"TVCL": 0.3})
    with pytest.raises(ValueError, match=r"n = 5 does not match the 2 subjects of the dataset"):
        simulate_population(pop, dataset({1: 60.0, 2: 80.0}), n=5, rng=1)
    regs = {"a": Bolus(0, 50.0), "b": Bolus(0, 100.0)}
    with pytest.raises(ValueError, match=r"n = 3 does not match the 2 regimens"):
        simulate_population(pop, regs, TIMES, n=3, rng=1)
    assert simulate_population(pop, regs, TIMES, n=2, rng=1).ids.tolist() == ["a", "b"]


@pytest.mark.parametrize("bad", [(5, 50, 150), (-1, 50), (float("nan"),), (), ("x",)])
def test_percentiles_are_validated_at_the_call(model, bad):
    with pytest.raises(ValueError, match="percentiles must be"):
        simulate_population(Population(model, {"TVCL": 0.3}), Bolus(0, DOSE), TIMES, n=3,
                            rng=1, percentiles=bad)


def test_bands_validate_and_summary_always_has_the_median(model):
    res = simulate_population(Population(model, {"TVCL": 0.3}), Bolus(0, DOSE), TIMES, n=40,
                              rng=2, percentiles=(10, 90))
    with pytest.raises(ValueError, match="percentiles must be"):
        res.bands(percentiles=[101])
    text = res.summary()
    assert "nan" not in text and "median [p10, p90]" in text
    median = np.percentile(res["conc"], 50, axis=0)
    lo, hi = np.percentile(res["conc"], [10, 90], axis=0)
    rows = re.findall(r"t=(\S+)\s+(\S+)\s+\[(\S+), (\S+)\]", text)
    assert len(rows) == len(TIMES)
    for t, med, a, b in rows:
        k = int(np.flatnonzero(TIMES == float(t))[0])
        assert (med, a, b) == (f"{median[k]:.4g}", f"{lo[k]:.4g}", f"{hi[k]:.4g}")


def test_messages_show_plain_ids(model):
    tab = pd.DataFrame({"ID": np.array([1, 2, 3], dtype=np.int64), "TVCL": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match=r"no regimen for IDs 3; the mapping has IDs 1, 2$"):
        simulate_population(tab, {1: Bolus(0, DOSE), 2: Bolus(0, DOSE)}, TIMES, model=model)
    tab.loc[1, "TVCL"] = np.nan
    with pytest.raises(ValueError, match=r"^ID 2: TVCL is not finite"):
        simulate_population(tab, Bolus(0, DOSE), TIMES, model=model)
    tab.loc[1, "TVCL"] = -1.0
    with pytest.raises(ModelError) as info:
        simulate_population(tab, Bolus(0, DOSE), TIMES, model=model)
    assert "np." not in str(info.value) and str(info.value).startswith("ID 2:")
    with pytest.raises(ValueError, match=r"repeated: 5$"):
        simulate_population(pd.DataFrame({"ID": [5, 5], "TVCL": [1.0, 2.0]}), Bolus(0, DOSE),
                            TIMES, model=model)


def test_covariate_table_ids_are_kept(model):
    table = pd.DataFrame({"ID": [11, 12, 13], "WT": [40.0, 80.0, 120.0]})
    pop = Population(model, {"TVCL": 0.3}, covariates=table)
    assert pop.sample(rng=0)["ID"].tolist() == [11, 12, 13]
    res = simulate_population(pop, Bolus(0, DOSE), TIMES, rng=0)
    assert res.ids.tolist() == [11, 12, 13]
    p = res.params.set_index("ID")
    np.testing.assert_allclose(res["conc"][2], conc(TIMES, p.loc[13, "TVCL"], 20.0, 120.0),
                               rtol=1e-5)
    # rows drawn with replacement can repeat: renumbered 1..n
    assert pop.sample(5, rng=0)["ID"].tolist() == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="ID 12 occurs twice"):
        Population(model, {}, covariates=pd.DataFrame({"ID": [11, 12, 12], "WT": [1.0] * 3}))


# ------------------------------------------------------------------ 4. provenance
def test_settings_are_recorded(model):
    pop = Population(model, {"TVCL": 0.3})
    res = simulate_population(pop, Bolus(0, DOSE), TIMES, n=4, rng=7, method="stiff",
                              rtol=1e-7, atol=1e-10, hmax=0.5, max_steps=12345)
    assert res.provenance() == {"method": "stiff", "rtol": 1e-7, "atol": 1e-10, "hmax": 0.5,
                                "max_steps": 12345, "n_subjects": 4, "seed": 7}
    assert res.to_dict()["settings"] == res.provenance()
    other = simulate_population(pop, Bolus(0, DOSE), TIMES, n=3,
                                rng=np.random.default_rng(7))
    assert other.provenance() == {"method": "auto", "rtol": 1e-6, "atol": 1e-9, "hmax": None,
                                  "max_steps": 100_000, "n_subjects": 3}


def test_report_lists_the_settings(model):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from pkpd.report import Report

    res = simulate_population(Population(model, {"TVCL": 0.3}), Bolus(0, DOSE), TIMES, n=4,
                              rng=7, rtol=3e-7, max_steps=4321)
    r = Report("settings")
    r.add_population(res)
    plt.close("all")
    text = r.to_html()
    prov = text[text.index('<h2 id="provenance">'):]
    assert re.search(r">rtol</th><td[^>]*>3e-07</td>", prov)
    assert re.search(r">max_steps</th><td[^>]*>4321</td>", prov)
