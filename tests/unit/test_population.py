"""Virtual populations and the compiled batch engine."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pkpd.data import read_nonmem
from pkpd.dosing import Bolus, Infusion, Regimen
from pkpd.errors import ModelError, SimulationError
from pkpd.language import parse_model
from pkpd.population import Population, ResidualError, simulate_population
from pkpd.simulate import simulate

W1 = """
name: w1
time: day
dose: A1
[parameters]
CL = 0.17 [L/day] (0, inf)
V1 = 2.78 [L] (0, inf)
Q = 0.3 [L/day] (0, inf)
V2 = 2.7 [L] (0, inf)
B0 = 200 [cells/uL] (0, inf)
kout = 0.05 [1/day] (0, inf)
kmax = 2 [1/day] (0, inf)
EC50 = 0.5 [mg/L] (0, inf)
F1 = 0.8 [] (0, 1)
[covariates]
WT = 70 [kg]
[states]
A1 = 0 [mg]
A2 = 0 [mg]
B = B0 [cells/uL]
[equations]
C = A1/(V1*(WT/70))
d/dt(A1) = -CL*C - Q*(C - A2/V2)
d/dt(A2) = Q*(C - A2/V2)
d/dt(B) = kout*B0 - kout*B - kmax*C/(EC50 + C)*B
[outputs]
conc = C [mg/L]
Bc = B [cells/uL]
"""

IIV = {"CL": 0.3, "V1": 0.3, "kmax": 0.3, "EC50": 0.3, "B0": 0.3}


@pytest.fixture(scope="module")
def model():
    return parse_model(W1)


@pytest.fixture(scope="module")
def regimen():
    return Regimen((Infusion(0, 300, "A1", duration=2.5 / 24),
                    Infusion(14, 300, "A1", duration=2.5 / 24),
                    Infusion(168, 600, "A1", duration=3.5 / 24)))


TIMES = np.arange(0.0, 200.0, 1.0)


# ------------------------------------------------------------------ sampling
def test_sampling_is_reproducible(model):
    pop = Population(model, IIV)
    a = pop.sample(50, rng=3)
    b = pop.sample(50, rng=np.random.default_rng(3))
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(pop.sample(50, rng=4))
    assert list(a.columns) == ["ID", *model.param_names, "WT"]
    assert (a["Q"] == 0.3).all()


def test_correlation_and_cv_are_honoured(model):
    pop = Population(model, {"CL": 0.3, "V1": 0.2, "EC50": 0.5},
                     correlation={("CL", "V1"): 0.6, ("V1", "EC50"): -0.3})
    s = pop.sample(40_000, rng=1)
    logs = np.log(s[["CL", "V1", "EC50"]].to_numpy())
    r = np.corrcoef(logs.T)
    assert r[0, 1] == pytest.approx(0.6, abs=0.015)
    assert r[1, 2] == pytest.approx(-0.3, abs=0.015)
    assert r[0, 2] == pytest.approx(0.0, abs=0.015)
    cv = s[["CL", "V1", "EC50"]].std() / s[["CL", "V1", "EC50"]].mean()
    np.testing.assert_allclose(cv, [0.3, 0.2, 0.5], rtol=0.05)
    np.testing.assert_allclose(pop.correlation_matrix[0, 1], 0.6)


def test_full_omega_normal_and_logit(model):
    omega = np.array([[0.04, 0.01], [0.01, 0.25]])
    pop = Population(model, {"CL": 0.0, "F1": 0.0}, distribution={"CL": "normal", "F1": "logit"},
                     omega=omega)
    s = pop.sample(40_000, rng=2)
    assert s["CL"].mean() == pytest.approx(0.17, abs=0.004)
    assert s["CL"].var() == pytest.approx(0.04, rel=0.05)
    f = s["F1"].to_numpy()
    assert ((f > 0) & (f < 1)).all()
    logit = np.log(f / (1 - f))
    assert logit.mean() == pytest.approx(np.log(0.8 / 0.2), abs=0.01)
    assert np.corrcoef(s["CL"], logit)[0, 1] == pytest.approx(0.1, abs=0.015)


def test_invalid_specifications(model):
    with pytest.raises(ModelError, match="no such parameter"):
        Population(model, {"Cl": 0.3})
    with pytest.raises(ValueError, match="positive definite"):
        Population(model, {"CL": 0.3, "V1": 0.3, "Q": 0.3},
                   correlation={("CL", "V1"): 0.9, ("CL", "Q"): 0.9, ("V1", "Q"): -0.9})
    with pytest.raises(ModelError, match="no covariate"):
        Population(model, {}, covariates={"AGE": 40})


def test_covariates_from_distributions_and_tables(model):
    pop = Population(model, {"CL": 0.3}, covariates={"WT": stats.norm(70, 10)})
    s = pop.sample(5000, rng=0)
    assert s["WT"].mean() == pytest.approx(70, abs=0.5)
    table = pd.DataFrame({"WT": [50.0, 60.0, 90.0]})
    tpop = Population(model, {"CL": 0.3}, covariates=table)
    assert tpop.sample(rng=0)["WT"].tolist() == [50.0, 60.0, 90.0]
    assert set(tpop.sample(100, rng=0)["WT"]) <= {50.0, 60.0, 90.0}


# ------------------------------------------------------------------ batch runs
def test_batch_equals_individual_simulations(model, regimen):
    pop = Population(model, IIV, covariates={"WT": stats.uniform(50, 50)})
    res = simulate_population(pop, regimen, TIMES, n=12, rng=5, n_jobs=2)
    frame = res.to_frame()
    assert list(frame.columns) == ["ID", "time", "conc", "Bc"]
    assert len(frame) == 12 * len(TIMES)
    for k, row in res.params.iterrows():
        sim = simulate(model, regimen, TIMES, params={n: row[n] for n in model.param_names},
                       covariates={"WT": row["WT"]})
        np.testing.assert_allclose(res["conc"][k], sim["conc"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(res["Bc"][k], sim["Bc"], rtol=0, atol=1e-10)


def test_per_subject_regimens_and_table(model):
    table = pd.DataFrame({"ID": [10, 20, 30], "CL": [0.1, 0.2, 0.3], "WT": [60.0, 70.0, 80.0]})
    regs = {10: Regimen((Bolus(0, 100, "A1"),)), 20: Regimen((Bolus(5, 200, "A1"),)),
            30: Regimen((Bolus(0, 50, "A1", interval=7, count=3),))}
    res = simulate_population(table, regs, TIMES[:40], model=model)
    for k, (i, reg) in enumerate(regs.items()):
        sim = simulate(model, reg, TIMES[:40], params={"CL": table.CL[k]},
                       covariates={"WT": table.WT[k]})
        np.testing.assert_allclose(res["Bc"][k], sim["Bc"], rtol=0, atol=1e-10)
        assert res.ids[k] == i


def test_steady_state_doses(model):
    reg = Regimen((Bolus(0, 100, "A1", interval=14, count=3, ss=True),))
    table = pd.DataFrame({"CL": [0.5, 1.0]})
    res = simulate_population(table, reg, TIMES[:30], model=model)
    for k in range(2):
        sim = simulate(model, reg, TIMES[:30], params={"CL": table.CL[k]})
        np.testing.assert_allclose(res["conc"][k], sim["conc"], rtol=0, atol=1e-10)


@pytest.fixture(scope="module")
def model_nocov():
    """The same model without covariates (the per-subject batch path had a reshape bug)."""
    text = W1.replace("[covariates]\nWT = 70 [kg]\n", "").replace("(V1*(WT/70))", "V1")
    return parse_model(text)


def test_models_without_covariates_per_subject_and_steady_state(model_nocov):
    regs = {1: Regimen((Bolus(0, 100, "A1"),)),
            2: Regimen((Infusion(0, 600, "A1", duration=0.15, interval=28, count=3, ss=True),))}
    table = pd.DataFrame({"ID": [1, 2], "CL": [0.2, 0.3]})
    res = simulate_population(table, regs, TIMES[:60], model=model_nocov)
    for k, (i, reg) in enumerate(regs.items()):
        assert res.ids[k] == i
        sim = simulate(model_nocov, reg, TIMES[:60], params={"CL": table.CL[k]})
        np.testing.assert_allclose(res["Bc"][k], sim["Bc"], rtol=0, atol=1e-10)
    frame = pd.DataFrame({"ID": [1, 1, 2, 2], "TIME": [0.0, 5.0, 0.0, 9.0],
                          "AMT": [100, 0, 50, 0], "CMT": ["A1", None, "A1", None],
                          "DV": [None, 1.0, None, 2.0], "DVID": [None, "Bc", None, "Bc"]})
    ds = read_nonmem(frame)
    df = simulate_population(Population(model_nocov, {"CL": 0.3}), ds, rng=1).to_frame()
    assert df.groupby("ID").size().to_dict() == {1: 1, 2: 1}


def test_nonmem_dataset(model):
    frame = pd.DataFrame({
        "ID": [1, 1, 1, 2, 2, 2, 2],
        "TIME": [0.0, 1.0, 10.0, 0.0, 2.0, 3.0, 20.0],
        "AMT": [100, 0, 0, 200, 0, 0, 0],
        "CMT": ["A1", None, None, "A1", None, None, None],
        "DV": [None, 1.0, 2.0, None, 1.0, 1.0, 1.0],
        "DVID": [None, "Bc", "Bc", None, "Bc", "Bc", "Bc"],
        "WT": [60, 60, 60, 80, 80, 80, 80]})
    ds = read_nonmem(frame, covariates=["WT"])
    pop = Population(model, {"CL": 0.3})
    res = simulate_population(pop, ds, rng=1)
    df = res.to_frame()
    assert df.groupby("ID").size().to_dict() == {1: 2, 2: 3}
    sub = res.params.set_index("ID")
    for sid, t in ((1, [1.0, 10.0]), (2, [2.0, 3.0, 20.0])):
        sim = simulate(model, ds.subject(sid).regimen, t, params={"CL": sub.loc[sid, "CL"]},
                       covariates={"WT": ds.subject(sid).covariates["WT"]})
        np.testing.assert_allclose(df[df.ID == sid]["Bc"], sim["Bc"], rtol=0, atol=1e-10)
    assert len(res.bands()) == 2 * 5


def test_executors_give_identical_results(model, regimen):
    pop = Population(model, IIV)
    ref = simulate_population(pop, regimen, TIMES, n=30, rng=11)
    chunked = simulate_population(pop, regimen, TIMES, n=30, rng=11, chunk_size=7, n_jobs=1)
    np.testing.assert_array_equal(ref.outputs, chunked.outputs)
    pytest.importorskip("tqdm")
    shown = simulate_population(pop, regimen, TIMES, n=30, rng=11, chunk_size=10, progress=True)
    np.testing.assert_array_equal(ref.outputs, shown.outputs)
    with ThreadPoolExecutor(2) as ex:
        threaded = simulate_population(pop, regimen, TIMES, n=30, rng=11, executor=ex)
    np.testing.assert_array_equal(ref.outputs, threaded.outputs)
    pd.testing.assert_frame_equal(ref.params, threaded.params)


def test_dask_cluster_gives_identical_results(model, regimen):
    distributed = pytest.importorskip("distributed")
    pop = Population(model, IIV)
    ref = simulate_population(pop, regimen, TIMES, n=30, rng=11)
    with (distributed.LocalCluster(processes=False, n_workers=2, threads_per_worker=1,
                                   dashboard_address=":0") as cluster,
          distributed.Client(cluster) as client):
        res = simulate_population(pop, regimen, TIMES, n=30, rng=11, executor=client,
                                  chunk_size=8)
    np.testing.assert_array_equal(ref.outputs, res.outputs)
    np.testing.assert_array_equal(ref.states, res.states)


def test_failed_subject_raises_with_its_id(model, regimen):
    # CL = 1e6 is within bounds but so stiff that the explicit method runs out of steps
    table = pd.DataFrame({"ID": [101, 102, 103], "CL": [0.17, 1e6, 0.2]})
    with pytest.raises(SimulationError, match=r"1 of 3 subjects failed \(IDs 102\)") as info:
        simulate_population(table, regimen, TIMES, model=model, method="nonstiff",
                            max_steps=2000)
    assert info.value.failed_ids == [102]
    assert info.value.params["CL"] == 1e6


def test_observations_bands_and_endpoints(model, regimen):
    from pkpd.metrics import nadir

    pop = Population(model, IIV, residual={"Bc": ResidualError(additive=1.0, proportional=0.1)})
    res = simulate_population(pop, regimen, TIMES, n=200, rng=2, observations=True,
                              percentiles=(10, 50, 90))
    again = simulate_population(pop, regimen, TIMES, n=200, rng=2, observations=True)
    np.testing.assert_array_equal(res.observed, again.observed)
    df = res.to_frame()
    assert "Bc_obs" in df and "conc_obs" not in df
    rel = (df["Bc_obs"] - df["Bc"]) / np.sqrt(1 + (0.1 * df["Bc"]) ** 2)
    assert rel.std() == pytest.approx(1.0, rel=0.05)
    b = res.bands(["Bc"])
    np.testing.assert_allclose(b["p90"], np.percentile(res["Bc"], 90, axis=0))
    assert list(b.columns) == ["output", "time", "p10", "p50", "p90"]
    e = res.evaluate(nadir("Bc"))
    np.testing.assert_allclose(e.to_numpy(), res["Bc"].min(axis=1))
    assert "Bc [cells/uL]" in res.summary()


def test_plot_population(model, regimen):
    pytest.importorskip("matplotlib")
    res = simulate_population(Population(model, IIV), regimen, TIMES, n=20, rng=0)
    fig = res.plot(individuals=3, logy=True)
    assert len(fig.axes) == 2
    import matplotlib.pyplot as plt

    plt.close(fig)
