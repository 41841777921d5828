"""Global sensitivity over a virtual population, against analytic indices.

The population's variability is an input of the analysis: Sobol treats it as one
group of the Saltelli design (row "population"), FAST as one factor per source
(rows "population:<name>"), Morris keeps one subject per trajectory.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from pkpd.language import parse_model
from pkpd.population import Population
from pkpd.sensitivity import fast, morris, sobol
from tests.unit.test_sensitivity import ADDITIVE

pytest.importorskip("SALib")

# y = x (z - 1), x ~ U(0, 1) varied, z ~ N(1, 1) from the population. E[y | x] = 0 and
# Var y = E[x^2] E[(z - 1)^2] = 1/3; E[y | z] = (z - 1)/2 has variance 1/4; so
# S1_x = 0, ST_x = 1 - S1_z = 0.25, S1_population = 0.75, ST_population = 1.
XZ = """
name: xz
[parameters]
x = 0.5 (0, 1)
z = 1
[states]
A = 0
[equations]
d/dt(A) = 0
[outputs]
y = x*(z - 1)
"""

# y = exp(-ka t) + exp(-kb t) (+ an inert kc): additive, so S1 = ST, shares of variances
T = 2.0


@pytest.fixture(scope="module")
def xz():
    m = parse_model(XZ)
    return m, Population(m, {"z": 1.0}, distribution={"z": "normal"})


def _rows(df):
    return df.set_index("param")


def test_sobol_over_a_population_matches_analytic_indices(xz):
    m, pop = xz
    res = sobol(m, None, [0.0, 1.0], params={"x": (0, 1)}, qoi="y", at=[1.0], n=2048,
                population=pop, rng=0)
    assert res.n_runs == 2048 * 4 and res.params == ("x",)
    df = _rows(res.to_frame())
    assert list(df.index) == ["x", "population"]
    # the bootstrap interval is narrow and holds the truth (sharing one subject across a
    # Saltelli row used to give S1_x = 0.26)
    assert (df["S1_conf"] < 0.1).all() and (df["ST_conf"] < 0.1).all()
    for param, s1, st in (("x", 0.0, 0.25), ("population", 0.75, 1.0)):
        assert abs(df.loc[param, "S1"] - s1) <= max(df.loc[param, "S1_conf"], 0.02), param
        assert abs(df.loc[param, "ST"] - st) <= max(df.loc[param, "ST_conf"], 0.02), param
    # A and B rows have independent subjects: z differs between them; AB_x keeps A's z
    y = res.values[:, 0].reshape(-1, 4)  # rows A, AB_x, AB_population, B per base sample
    x = res.samples[:, 0].reshape(-1, 4)
    z = y / x + 1
    np.testing.assert_allclose(z[:, 1], z[:, 0], rtol=1e-9)
    np.testing.assert_allclose(z[:, 2], z[:, 3], rtol=1e-9)
    assert np.corrcoef(z[:, 0], z[:, 3])[0, 1] < 0.1
    assert z.mean() == pytest.approx(1.0, abs=0.05) and z.std() == pytest.approx(1.0, abs=0.05)


def test_fast_over_a_population_matches_analytic_indices(xz):
    m, pop = xz
    res = fast(m, None, [0.0, 1.0], params={"x": (0, 1)}, qoi="y", at=[1.0], n=1000,
               population=pop, rng=0)
    assert res.n_runs == 1000 * 2
    df = _rows(res.to_frame())
    assert list(df.index) == ["x", "population:z"]
    # every sample had its own subject before: ST_x came out 0.88
    assert df.loc["x", "S1"] == pytest.approx(0.0, abs=0.01)
    assert df.loc["x", "ST"] == pytest.approx(0.25, abs=0.03)
    # FAST keeps M = 4 harmonics of the normal quantile function: S1 a little low
    assert df.loc["population:z", "S1"] == pytest.approx(0.75, abs=0.05)
    assert df.loc["population:z", "ST"] == pytest.approx(1.0, abs=0.01)


def test_morris_over_a_population_keeps_one_subject_per_trajectory(xz):
    m, pop = xz
    n = 400
    res = morris(m, None, [0.0, 1.0], params={"x": (0, 1)}, qoi="y", at=[1.0], n=n,
                 population=pop, rng=0)
    y = res.values[:, 0].reshape(n, 2)
    x = res.samples[:, 0].reshape(n, 2)
    # the elementary effect of x at a fixed subject is z - 1, per unit of x's range (1)
    ee = (y[:, 1] - y[:, 0]) / (x[:, 1] - x[:, 0])
    both = x[:, 0] > 0
    np.testing.assert_allclose(ee[both], y[both, 0] / x[both, 0], rtol=1e-9, atol=1e-12)
    df = _rows(res.to_frame())
    assert df.loc["x", "mu_star"] == pytest.approx(np.abs(ee).mean(), rel=1e-9)
    # E|z - 1| = sqrt(2 / pi), sd of |z - 1| = sqrt(1 - 2 / pi), over n subjects
    se = np.sqrt(1 - 2 / np.pi) / np.sqrt(n)
    assert df.loc["x", "mu_star"] == pytest.approx(np.sqrt(2 / np.pi), abs=4 * se)
    assert df.loc["x", "sigma"] == pytest.approx(1.0, abs=4 / np.sqrt(2 * n))


def _var_exp(pdf, lo, hi):
    """Variance of exp(-k T) for k with density pdf on (lo, hi), by quadrature."""
    m1 = integrate.quad(lambda k: np.exp(-k * T) * pdf(k), lo, hi)[0]
    m2 = integrate.quad(lambda k: np.exp(-2 * k * T) * pdf(k), lo, hi)[0]
    return m2 - m1 ** 2


def test_population_share_of_an_additive_model():
    # ka ~ U(0.1, 1) varied; kb log-normal (CV 50%) and kc (inert) from the population
    m = parse_model(ADDITIVE)
    pop = Population(m, {"kb": 0.5, "kc": 0.5})
    omega = np.sqrt(np.log1p(0.25))
    va = _var_exp(lambda k: 1 / 0.9, 0.1, 1.0)
    vb = _var_exp(stats.lognorm(omega, scale=1.0).pdf, 0.0, np.inf)
    s_ka, s_pop = va / (va + vb), vb / (va + vb)
    df = _rows(sobol(m, None, None, params={"ka": (0.1, 1.0)}, qoi="y", at=[T], n=2048,
                     population=pop, rng=1).to_frame())
    assert list(df.index) == ["ka", "population"]
    np.testing.assert_allclose(df.loc["ka", ["S1", "ST"]], s_ka, atol=0.03)
    np.testing.assert_allclose(df.loc["population", ["S1", "ST"]], s_pop, atol=0.03)
    fa = _rows(fast(m, None, None, params={"ka": (0.1, 1.0)}, qoi="y", at=[T], n=1000,
                    population=pop, rng=1).to_frame())
    assert list(fa.index) == ["ka", "population:kb", "population:kc"]
    np.testing.assert_allclose(fa.loc["ka", ["S1", "ST"]], s_ka, atol=0.03)
    np.testing.assert_allclose(fa.loc["population:kb", ["S1", "ST"]], s_pop, atol=0.03)
    # eFAST's total index of an inert factor is biased up by the curve's residual noise
    assert fa.loc["population:kc", "S1"] == pytest.approx(0.0, abs=0.01)
    assert fa.loc["population:kc", "ST"] == pytest.approx(0.0, abs=0.03)


@pytest.mark.parametrize("method", [sobol, fast])
def test_a_population_that_does_not_matter_leaves_the_indices_alone(method):
    # the population varies only kc, which y does not depend on
    m = parse_model(ADDITIVE)
    pop = Population(m, {"kc": 0.5})
    ranges = {"ka": (0.1, 1.0), "kb": (0.5, 2.0)}
    va, vb = (_var_exp(lambda k, w=hi - lo: 1 / w, lo, hi) for lo, hi in ranges.values())
    exact = np.array([va, vb]) / (va + vb)
    kw = {"n": 2048} if method is sobol else {"n": 1000}
    alone = method(m, None, None, params=ranges, qoi="y", at=[T], rng=2, **kw).to_frame()
    over = _rows(method(m, None, None, params=ranges, qoi="y", at=[T], rng=2, population=pop,
                        **kw).to_frame())
    share = "population" if method is sobol else "population:kc"
    assert list(over.index) == ["ka", "kb", share]
    for col in ("S1", "ST"):
        np.testing.assert_allclose(alone[col], exact, atol=0.03)
        np.testing.assert_allclose(over.loc[["ka", "kb"], col], exact, atol=0.03)
        np.testing.assert_allclose(over.loc[["ka", "kb"], col], alone[col], atol=0.03)
        # (eFAST's total index of an inert factor is biased up by the curve's residual noise)
        assert abs(over.loc[share, col]) < (0.03 if method is fast and col == "ST" else 0.01)


def test_population_factors_reproduce_the_population():
    # uniforms -> subjects: correlated log-normal etas, a covariate law, a callable
    # covariate, compared with the population's own definition
    from pkpd.sensitivity import _population_factors

    m = parse_model("""
name: cov
[parameters]
CL = 2 (0, inf)
V = 30 (0, inf)
[covariates]
WT = 70
AGE = 40
[states]
A = 0
[equations]
d/dt(A) = -CL/V*A*(WT/70)
[outputs]
c = A/V + AGE*0
""")
    pop = Population(m, {"CL": 0.3, "V": 0.2}, correlation={("CL", "V"): 0.6},
                     covariates={"WT": stats.norm(70, 10),
                                 "AGE": lambda rng, n: rng.uniform(20, 60, n)})
    f = _population_factors(pop, np.random.default_rng(0))
    assert f.names == ("population:CL", "population:V", "population:WT", "population:AGE")
    u = np.random.default_rng(1).uniform(size=(20000, 4))
    rows = pd.DataFrame(f.rows(u), columns=f.columns)
    eta = np.log(rows[["CL", "V"]].to_numpy() / [2.0, 30.0])
    np.testing.assert_allclose(np.cov(eta.T), pop.omega, rtol=0.05)
    assert rows["WT"].mean() == pytest.approx(70, abs=0.3)
    assert rows["WT"].std() == pytest.approx(10, rel=0.03)
    assert stats.kstest(rows["AGE"], stats.uniform(20, 40).cdf).pvalue > 1e-3
    # a covariate table: each row drawn with probability 1 / rows
    table = pd.DataFrame({"WT": [50.0, 90.0, 70.0, 60.0], "AGE": [30.0, 70.0, 50.0, 20.0]})
    ft = _population_factors(Population(m, covariates=table), np.random.default_rng(0))
    assert ft.names == ("population:covariates",)
    got = pd.DataFrame(ft.rows(np.linspace(0, 1, 4001)[:, None]), columns=ft.columns)
    counts = got.groupby(["WT", "AGE"]).size()
    assert len(counts) == 4 and counts.min() >= 1000 - 1


def test_sampled_subjects_outside_the_bounds_are_refused():
    # a normal IIV with a large SD gives some subjects CL < 0 (bounds (0, inf))
    from pkpd import Bolus, Population, parse_model, sobol
    from pkpd.errors import ModelError

    m = parse_model("""
name: pk
time: h
dose: central
[parameters]
CL = 2 [L/h] (0, inf)
V = 20 [L] (0, inf)
[states]
central = 0 [mg]
[equations]
d/dt(central) = -CL/V*central
[outputs]
conc = central/V [mg/L]
""")
    pop = Population(m, {"CL": 1.0}, distribution={"CL": "normal"})
    with pytest.raises(ModelError, match=r"parameter 'CL' = -?[0-9.e-]+ is outside its bounds"):
        sobol(m, Bolus(0, 100), None, params={"V": (10, 30)}, qoi="conc", at=[1.0], n=16,
              rng=3, population=pop)
