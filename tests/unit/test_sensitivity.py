"""Local (forward sensitivity equations) and global (SALib) sensitivity analysis."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from pkpd.dosing import Bolus, Infusion, Regimen
from pkpd.errors import ModelError
from pkpd.language import parse_model
from pkpd.metrics import auc, nadir, time_below
from pkpd.population import Population
from pkpd.sensitivity import fast, local_sensitivity, morris, sobol
from pkpd.simulate import simulate

pytest.importorskip("SALib")

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
[states]
A1 = 0 [mg]
A2 = 0 [mg]
B = B0 [cells/uL]
[equations]
C = A1/V1
d/dt(A1) = -CL*C - Q*(C - A2/V2)
d/dt(A2) = Q*(C - A2/V2)
d/dt(B) = kout*B0 - kout*B - kmax*C/(EC50 + C)*B
[outputs]
conc = C [mg/L]
Bc = B [cells/uL]
"""

# Two independent decays and an inert state: y = exp(-ka t) + exp(-kb t) is additive
# in the effects of ka and kb, and kc has no effect at all.
ADDITIVE = """
name: additive
[parameters]
ka = 0.5 (0, inf)
kb = 1 (0, inf)
kc = 1 (0, inf)
[states]
A = 1
B = 1
C = 1
[equations]
d/dt(A) = -ka*A
d/dt(B) = -kb*B
d/dt(C) = -kc*C
[outputs]
y = A + B
"""


@pytest.fixture(scope="module")
def w1():
    return parse_model(W1)


REG = Regimen((Infusion(0, 300, "A1", duration=2.5 / 24), Infusion(14, 300, "A1", duration=2.5 / 24)))
TIMES = np.arange(0.0, 120.0, 1.0)


def test_local_sensitivities_match_finite_differences(w1):
    endpoints = [nadir("Bc"), time_below("Bc", 20.0), auc("conc", 0, 60)]
    ls = local_sensitivity(w1, REG, TIMES, endpoints=endpoints)
    assert ls.raw.shape == (len(TIMES), 2, 8)
    for j, w in enumerate(ls.wrt):
        v = w1.param(w).value
        h = 1e-5 * v
        hi = simulate(w1, REG, TIMES, params={w: v + h}, rtol=1e-11, atol=1e-13)
        lo = simulate(w1, REG, TIMES, params={w: v - h}, rtol=1e-11, atol=1e-13)
        for k, name in enumerate(ls.names):
            fd = (hi[name] - lo[name]) / (2 * h)
            # relative to the largest sensitivity, or to y/p where y barely depends on p
            scale = max(np.abs(fd).max(), 1e-3 * np.abs(hi[name]).max() / v)
            assert np.abs(ls.raw[:, k, j] - fd).max() / scale < 1e-5, (w, name)
        for i, e in enumerate(endpoints):
            fd = (e(hi) - e(lo)) / (2 * h)
            floor = 1e-6 * abs(ls.endpoint_values[i]) / v  # round-off of the FD
            assert ls.endpoint_raw[i, j] == pytest.approx(fd, rel=1e-4, abs=floor), (w, e.name)


def test_normalized_sensitivities_and_ranking(w1):
    ls = local_sensitivity(w1, REG, TIMES, wrt=["CL", "kmax", "B0"], endpoints=nadir("Bc"))
    rel = ls.relative
    np.testing.assert_allclose(rel[5:, 1, 0], ls.raw[5:, 1, 0] * 0.17 / ls.values[5:, 1])
    assert np.isnan(rel[0, 0, 0])  # conc is 0 before the dose: d log y undefined
    # B at steady state before any drug effect is proportional to B0
    assert rel[0, 1, 2] == pytest.approx(1.0)
    r = ls.ranking("Bc")
    assert list(r.columns) == ["rank", "param", "score", "signed", "share"]
    assert r["share"].sum() == pytest.approx(1.0)
    assert r["param"].iloc[0] == "kmax"
    frame = ls.to_frame()
    assert len(frame) == len(TIMES) * 2 * 3
    assert set(ls.endpoint_frame()["endpoint"]) == {"nadir(Bc)"}
    with pytest.raises(ModelError, match="no such parameter"):
        local_sensitivity(w1, REG, TIMES, wrt=["kmx"])


def _ishigami(X, a=7.0, b=0.1):
    return np.sin(X[:, 0]) + a * np.sin(X[:, 1]) ** 2 + b * X[:, 2] ** 4 * np.sin(X[:, 0])


ISHIGAMI = {f"x{i}": (-np.pi, np.pi) for i in (1, 2, 3)}


def test_sobol_reproduces_ishigami():
    res = sobol(_ishigami, params=ISHIGAMI, n=4096, rng=0)
    df = res.to_frame()
    np.testing.assert_allclose(df["S1"], [0.314, 0.442, 0.0], atol=0.03)
    np.testing.assert_allclose(df["ST"], [0.558, 0.442, 0.244], atol=0.03)
    assert (df["S1_conf"] > 0).all() and res.n_runs == 4096 * 5
    again = sobol(_ishigami, params=ISHIGAMI, n=4096, rng=0)
    np.testing.assert_array_equal(again.to_frame()["S1"], df["S1"])
    s2 = sobol(_ishigami, params=ISHIGAMI, n=2048, rng=1, second_order=True).second_order
    # the only interaction is x1-x3: S13 = ST1 - S1 = 0.244
    assert s2.set_index(["param_i", "param_j"]).loc[("x1", "x3"), "S2"] == pytest.approx(0.244, abs=0.08)


@pytest.mark.parametrize("method", [sobol, morris, fast])
def test_non_finite_quantity_of_interest_is_refused(method):
    def f(x):
        return np.where(x[:, 0] > 3.0, np.nan, x[:, 0])
    # an undefined QoI (e.g. no recovery within the grid) used to reach SALib and give zeros
    with pytest.raises(ValueError, match=r"'y' is not finite for \d+ of \d+ samples \(first at x1="):
        method(f, params=ISHIGAMI, n=256 if method is not fast else 400, rng=0)


def test_fast_and_morris_on_ishigami():
    df = fast(_ishigami, params=ISHIGAMI, n=2000, rng=0).to_frame()
    np.testing.assert_allclose(df["S1"], [0.314, 0.442, 0.0], atol=0.03)
    state = np.random.get_state()[1].copy()  # noqa: NPY002 - checking it is left alone
    fast(_ishigami, params=ISHIGAMI, n=500, rng=0)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002
    mo = morris(_ishigami, params=ISHIGAMI, n=200, rng=0).to_frame()
    assert list(mo.columns) == ["qoi", "param", "mu", "mu_star", "sigma", "mu_star_conf"]
    assert (mo["mu_star"] > 0).all()


def test_sobol_on_an_ode_matches_exact_variances():
    m = parse_model(ADDITIVE)
    t = 2.0
    ranges = {"ka": (0.1, 1.0), "kb": (0.5, 2.0), "kc": (1.0, 2.0)}

    def var(lo, hi):  # variance of exp(-k t), k ~ U(lo, hi), by quadrature
        m1 = integrate.quad(lambda k: np.exp(-k * t), lo, hi)[0] / (hi - lo)
        m2 = integrate.quad(lambda k: np.exp(-2 * k * t), lo, hi)[0] / (hi - lo)
        return m2 - m1 ** 2

    va, vb = var(*ranges["ka"]), var(*ranges["kb"])
    exact = np.array([va, vb, 0.0]) / (va + vb)
    res = sobol(m, None, None, params=ranges, qoi="y", at=[t], n=2048, rng=3)
    df = res.to_frame()
    assert res.qois == ("y@2",)
    np.testing.assert_allclose(df["S1"], exact, atol=0.03)
    np.testing.assert_allclose(df["ST"], exact, atol=0.03)
    # the simulated outputs are the closed form
    np.testing.assert_allclose(res.values[:, 0],
                               np.exp(-res.samples[:, 0] * t) + np.exp(-res.samples[:, 1] * t),
                               rtol=1e-5)


def test_sobol_of_an_endpoint_over_a_population(w1):
    pop = Population(w1, {"B0": 0.3, "V1": 0.2})
    qoi = [nadir("Bc"), time_below("Bc", 20.0)]
    params = {"CL": stats.lognorm(0.3, scale=0.17), "kmax": (1.0, 3.0)}
    res = sobol(w1, REG, TIMES, params=params, qoi=qoi, n=64, population=pop, rng=4,
                chunk_size=100)
    again = sobol(w1, REG, TIMES, params=params, qoi=qoi, n=64, population=pop, rng=4)
    np.testing.assert_array_equal(res.values, again.values)
    # the population (IIV on B0 and V1) is one more group of the Saltelli design: n (k + 3) runs
    assert res.values.shape == (64 * 5, 2)
    assert res.indices.shape[0] == 6
    assert res.indices["param"].tolist() == ["CL", "kmax", "population"] * 2
    assert res.params == ("CL", "kmax")
    text = res.summary()
    assert "nadir(Bc)" in text and "time(Bc < 20)" in text
    mo = morris(w1, REG, TIMES, params=params, qoi="Bc", at=[10, 50], n=10, rng=0)
    assert mo.qois == ("Bc@10", "Bc@50")


def test_sensitivity_plots(w1):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    ls = local_sensitivity(w1, REG, TIMES, endpoints=nadir("Bc"))
    for fig in (ls.plot("heatmap", "Bc"), ls.plot("tornado")):
        assert fig.axes
        plt.close(fig)
    res = sobol(_ishigami, params=ISHIGAMI, n=256, rng=0)
    for kind in ("bar", "time"):
        plt.close(res.plot(kind))


PK = """
name: pk
dose: central
[parameters]
CL = 2.8 (0, inf)
V = 32 (0, inf)
[states]
central = 0
[equations]
d/dt(central) = -CL/V*central
[outputs]
conc = central/V
"""


@pytest.mark.parametrize(("at", "times", "message"), [
    ([np.nan], None, r"at= must hold finite times; got nan at position 0"),
    ([1.0, np.inf], None, r"at= must hold finite times; got inf at position 1"),
    ([], None, r"at= must be a non-empty 1-D sequence of times at which to analyse 'conc'"),
    ([[1.0, 2.0]], None, r"non-empty 1-D"),
    (["soon"], None, r"at= must be a sequence of times \(numbers\)"),
    ([-5.0], None, r"at=-5 is before the start of the simulation, t = 0"),
    ([1e300], np.linspace(0, 24, 25), r"at=1e\+300 is outside the simulated times \[0, 24\]"),
    ([-5.0], np.linspace(0, 24, 25), r"at=-5 is outside the simulated times \[0, 24\]"),
    ([2.0], [0.0, np.nan], r"times must be a non-empty 1-D sequence of finite output times"),
])
def test_output_times_are_validated(at, times, message):
    # at=[nan] used to hang in the compiled kernel; the others gave all-zero indices
    m = parse_model(PK)
    with pytest.raises(ValueError, match=message):
        sobol(m, Bolus(0, 100), times, params={"CL": (1, 5)}, qoi="conc", at=at, n=8, rng=1)


def test_an_output_that_does_not_vary_is_refused():
    m = parse_model(PK)
    # long after the dose the concentration underflows to 0 for every clearance
    with pytest.raises(ValueError, match=r"'conc@1e\+300' is the same \(-?0, to a relative 1e-06\) "
                                         r"for all 8 samples"):
        morris(m, Bolus(0, 100), None, params={"CL": (1, 5)}, qoi="conc", at=[1e300], n=4,
               rng=1)
    # next to a varying one (a time course), a constant quantity gets NaN indices
    for method, n in ((sobol, 8), (morris, 4), (fast, 100)):
        res = method(m, Bolus(0, 100), None, params={"CL": (1, 5)}, qoi="conc",
                     at=[1.0, 1e300], n=n, rng=1)
        df = res.to_frame()
        const = df[df.qoi == "conc@1e+300"].drop(columns=["qoi", "param"])
        varying = df[df.qoi == "conc@1"].drop(columns=["qoi", "param"])
        assert const.isna().all().all() and varying.notna().all().all(), method.__name__
    # y = exp(-ka t) + exp(-kb t) does not depend on kc: its spread is solver noise
    with pytest.raises(ValueError, match=r"'y@2' is the same"):
        fast(parse_model(ADDITIVE), None, None, params={"kc": (1.0, 2.0)}, qoi="y", at=[2.0],
             n=100, rng=0)
    for method in (sobol, morris, fast):
        with pytest.raises(ValueError, match=r"'y' is the same \(3, to a relative 1e-12\)"):
            method(lambda x: np.full(len(x), 3.0), params=ISHIGAMI, n=128 if method is not fast else 100,
                   rng=0)
    # a varying quantity next to it is still analysed when asked alone
    res = sobol(m, Bolus(0, 100), None, params={"CL": (1, 5)}, qoi="conc", at=[1.0], n=8, rng=1)
    assert np.ptp(res.values) > 0


def test_ranges_and_distributions_must_respect_the_bounds():
    m = parse_model(PK)
    reg = Bolus(0, 100)
    with pytest.raises(ModelError, match=r"parameter 'CL' of model 'pk': the range \(-1, 5\) "
                                         r"reaches outside its bounds \(0, inf\)"):
        sobol(m, reg, None, params={"CL": (-1, 5)}, qoi="conc", at=[1.0], n=8, rng=0)
    # a normal law with CV 50% puts 2.3% of clearances below 0
    with pytest.raises(ModelError, match=r"parameter 'CL' of model 'pk' has bounds \(0, inf\), "
                                         r"but the distribution norm\(loc=2.8, scale=1.4\) puts "
                                         r"0.0228 of its probability outside them"):
        morris(m, reg, None, params={"CL": stats.norm(loc=2.8, scale=1.4)}, qoi="conc",
               at=[1.0], n=4, rng=0)
    bounded = m.with_params({})  # same model; bounds (0, inf) both
    for ok in ({"CL": (0.0, 5.0)}, {"CL": stats.lognorm(0.5, scale=2.8)},
               {"CL": stats.norm(2.8, 0.2)}):  # 14 SD above 0: nothing to clip
        res = sobol(bounded, reg, None, params=ok, qoi="conc", at=[1.0], n=8, rng=0)
        assert (res.samples[:, 0] >= 0).all()


@pytest.mark.parametrize("levels", [4, 6])
def test_morris_puts_distribution_levels_at_bin_midpoints(levels):
    # f = Phi(a) + 2 b: per unit of probability a has elementary effect 1, per unit of its
    # range b has 2, exactly, whatever the levels
    def f(x):
        return stats.norm.cdf(x[:, 0]) + 2 * x[:, 1]

    res = morris(f, params={"a": stats.norm(0, 1), "b": (0, 1)}, n=50, num_levels=levels, rng=2)
    a, b = res.samples[:, 0], res.samples[:, 1]
    # level j -> the quantile (j + 1/2) / levels: the central mass, not +-7 SD
    np.testing.assert_allclose(np.unique(a), stats.norm.ppf((np.arange(levels) + 0.5) / levels))
    assert a.min() >= stats.norm.ppf(0.5 / levels) - 1e-12
    assert a.max() <= stats.norm.ppf(1 - 0.5 / levels) + 1e-12
    np.testing.assert_allclose(np.unique(b), np.arange(levels) / (levels - 1), atol=1e-12)
    df = res.to_frame().set_index("param")
    np.testing.assert_allclose(df.loc["a", ["mu", "mu_star"]], 1.0, rtol=1e-9)
    np.testing.assert_allclose(df.loc["b", ["mu", "mu_star"]], 2.0, rtol=1e-9)
    np.testing.assert_allclose(df["sigma"], 0.0, atol=1e-9)


def test_results_record_their_settings_for_reports():
    from pkpd.report import Report

    m = parse_model(PK)
    loc = local_sensitivity(m, Bolus(0, 100), [1.0, 2.0], rtol=1e-9, atol=1e-11)
    assert loc.provenance() == {"solver": "auto", "rtol": 1e-9, "atol": 1e-11,
                                "max_steps": 100_000}
    g = sobol(m, Bolus(0, 100), None, params={"CL": (1, 5)}, qoi="conc", at=[1.0], n=8, rng=7,
              rtol=3e-7)
    assert g.provenance()["seed"] == 7 and g.provenance()["rtol"] == 3e-7
    assert g.provenance()["n"] == 8 and g.provenance()["solver"] == "auto"
    f = morris(lambda x: x[:, 0], params={"a": (0, 1)}, n=4, rng=1)
    assert f.provenance() == {"n": 4, "num_levels": 4, "seed": 1}  # no solver for a function
    r = Report("t")
    r.add_sensitivity(g)
    html = r.to_html()
    assert "3e-07" in html
