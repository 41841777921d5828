"""pkpd.fit: likelihood, Jacobians, covariance, recovery, censoring, errors, results."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from pkpd import Bolus, Dataset, Subject, datasets, simulate
from pkpd.dosing import as_regimen
from pkpd.errors import DataError, FitError, SpecError
from pkpd.fit import (
    FitResult,
    SubjectFits,
    _build,
    bootstrap,
    fit,
    fit_each,
    profile,
    run_fit,
)
from pkpd.language import load_model, parse_model

TRUTH = {"ka": 1.2, "CL": 3.0, "V": 30.0}
TIMES = np.array([0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24.0])
FIXED = {"Fbio": 1.0, "tlag": 0.0}


@pytest.fixture(scope="module")
def oral():
    return load_model("pk_1cmt_oral")


def simulated(model, rng, *, n_subjects=4, sigma=0.15, kind="proportional", lloq=None,
              times=TIMES, dose=320.0):
    """Seeded data from the model at TRUTH: a Dataset of n_subjects sharing parameters."""
    gen = np.random.default_rng(rng)
    f = simulate(model, Bolus(0, dose, "depot"), times, params=TRUTH)["conc"]
    subjects = []
    for i in range(n_subjects):
        eps = gen.standard_normal(len(times))
        sd = {"lognormal": 0.0, "proportional": sigma * f, "additive": sigma + 0 * f,
              "combined": np.sqrt(0.3**2 + (sigma * f) ** 2)}[kind]
        y = f * np.exp(sigma * eps) if kind == "lognormal" else f + sd * eps
        cens = np.zeros(len(y), dtype=int)
        ll = np.full(len(y), np.nan)
        if lloq is not None:
            cens = (y < lloq).astype(int)
            y = np.where(cens == 1, lloq, y)
            ll = np.full(len(y), lloq)
        obs = pd.DataFrame({"time": times, "output": "conc", "dv": y, "cens": cens,
                            "lloq": ll, "row": np.arange(1, len(y) + 1)})
        subjects.append(Subject(i + 1, as_regimen(Bolus(0, dose, "depot")), obs))
    return Dataset(tuple(subjects), ("conc",))


def options(**kw):
    base = {"vary": ["ka", "CL", "V"], "fixed": FIXED, "error": "proportional", "log_params": (),
            "outputs": None, "censoring": None, "jacobian": "sensitivity",
            "method": "least_squares", "max_nfev": None, "rtol": 1e-8, "atol": 1e-10,
            "tol": 1e-10, "solver": "auto", "covariance": True}
    return base | kw


# --------------------------------------------------------------------------- recovery
def test_parameter_recovery_within_3_se(oral):
    data = simulated(oral, 1)
    res = fit(oral, data, vary=["ka", "CL", "V"], fixed=FIXED, error="proportional",
              log_params=["ka", "CL", "V"])
    res.raise_for_status()
    for name, true in TRUTH.items():
        assert abs(res.params[name] - true) < 3 * res.stderr[name], (name, res.params[name])
    assert abs(res.params["sigma_prop_conc"] - 0.15) < 3 * res.stderr["sigma_prop_conc"]


@pytest.mark.slow
def test_wald_interval_coverage_is_near_nominal(oral):
    hits, n = {k: 0 for k in TRUTH}, 100
    for seed in range(n):
        res = fit(oral, simulated(oral, seed, n_subjects=2), vary=["ka", "CL", "V"],
                  fixed=FIXED, error="proportional", log_params="all")
        for k, true in TRUTH.items():
            hits[k] += abs(res.params[k] - true) < 1.96 * res.stderr[k]
    for k in TRUTH:
        assert 0.85 <= hits[k] / n <= 0.99, (k, hits[k])


# --------------------------------------------------------------------------- jacobian
@pytest.mark.parametrize("error", ["additive", "proportional", "combined", "lognormal"])
@pytest.mark.parametrize("log", [(), ("ka", "V")])
def test_sensitivity_jacobian_matches_finite_differences(oral, error, log):
    data = simulated(oral, 3, n_subjects=2, lloq=2.0,
                     sigma=0.15 if error != "additive" else 0.3)
    prob = _build(oral, data, options(error=error, log_params=log))
    prob.finish_init()
    x = prob.x_init + 0.05  # away from the starting point
    prob.anchor_at(prob.x_init)
    assert prob.cens.any() and (~prob.cens).any()
    rho, J = prob.residuals(x, jac=True)
    Jfd = np.empty_like(J)
    for j in range(len(x)):
        h = 1e-6 * max(1.0, abs(x[j]))
        xp, xm = x.copy(), x.copy()
        xp[j] += h
        xm[j] -= h
        Jfd[:, j] = (prob.residuals(xp) - prob.residuals(xm)) / (2 * h)
    np.testing.assert_allclose(J, Jfd, rtol=1e-4, atol=1e-6 * np.abs(Jfd).max())


def test_objective_is_the_exact_gaussian_minus_2ll(oral):
    data = simulated(oral, 4, n_subjects=2, lloq=2.0)
    prob = _build(oral, data, options(error="combined"))
    prob.finish_init()
    prob.anchor_at(prob.x_init)
    x = prob.x_init - 0.1
    th = prob.natural(x)
    f = prob.predict_obs(th)
    a, b = th[prob.names.index("sigma_add_conc")], th[prob.names.index("sigma_prop_conc")]
    s = np.sqrt(a * a + b * b * f * f)
    from scipy.stats import norm

    u = ~prob.cens
    expect = -2 * (norm.logpdf(prob.y[u], f[u], s[u]).sum()
                   + norm.logcdf((prob.lloq[~u] - f[~u]) / s[~u]).sum())
    assert prob.ofv(prob.residuals(x)) == pytest.approx(expect, rel=1e-12)


def test_lognormal_ofv_is_on_the_data_scale(oral):
    data = simulated(oral, 5, kind="lognormal")
    res = fit(oral, data, vary=["ka", "CL", "V"], fixed=FIXED, error="lognormal")
    from scipy.stats import lognorm

    pr = res.predict()
    s = res.params["sigma_log_conc"]
    expect = -2 * lognorm.logpdf(pr["dv"], s, scale=pr["pred"]).sum()
    assert res.ofv == pytest.approx(expect, rel=1e-10)


def test_sensitivity_fit_needs_fewer_model_evaluations_than_fd(oral, capsys):
    data = simulated(oral, 2)
    kw = {"vary": ["ka", "CL", "V"], "fixed": FIXED, "error": "proportional"}
    sens = fit(oral, data, jacobian="sensitivity", **kw)
    fd = fit(oral, data, jacobian="fd", **kw)
    for k in sens.params:
        assert sens.params[k] == pytest.approx(fd.params[k], rel=1e-4)
    with capsys.disabled():
        print(f"\n[fit] model evaluations: sensitivity nfev={sens.nfev} + njev={sens.njev}; "
              f"finite differences nfev={fd.nfev} + njev={fd.njev}")
    assert sens.nfev + sens.njev < fd.nfev + fd.njev
    assert sens.nfev < fd.nfev / 2


# --------------------------------------------------------------------------- covariance
def test_covariance_is_twice_inverse_hessian_of_ofv(oral):
    data = simulated(oral, 6, n_subjects=3, kind="combined", sigma=0.1)
    res = fit(oral, data, vary=["ka", "CL", "V"], fixed=FIXED, error="combined",
              log_params=["ka", "CL", "V"])
    prob = _build(oral, data, options(error="combined", log_params=["ka", "CL", "V"]))
    x = prob.internal(np.array([res.params[n] for n in prob.names]))
    prob.anchor_at(x)

    def ofv(z):
        return prob.ofv(prob.residuals(z))

    n = len(x)
    H = np.empty((n, n))
    h = 1e-3
    for i in range(n):
        for j in range(n):
            e_i, e_j = np.eye(n)[i] * h, np.eye(n)[j] * h
            H[i, j] = (ofv(x + e_i + e_j) - ofv(x + e_i - e_j) - ofv(x - e_i + e_j)
                       + ofv(x - e_i - e_j)) / (4 * h * h)
    cov_x = 2 * np.linalg.inv(H)
    d = np.where(prob.is_log, prob.natural(x), 1.0)
    np.testing.assert_allclose(res.covariance, cov_x * np.outer(d, d), rtol=2e-3)
    corr = res.correlation
    np.testing.assert_allclose(np.diag(corr), 1.0)
    assert np.all(np.abs(corr) <= 1 + 1e-12)


def test_additive_fit_standard_errors_match_least_squares_theory(oral):
    """Additive error: structural SEs close to the least-squares ones, (J^T J)^-1 SSE / n.

    They differ only by the residual-curvature term the observed Hessian keeps.
    """
    data = simulated(oral, 7, kind="additive", sigma=0.3)
    res = fit(oral, data, vary=["ka", "CL", "V"], fixed=FIXED, error="additive")
    prob = _build(oral, data, options(error="additive"))
    th = np.array([res.params[n] for n in prob.names])
    f, df = prob.predict_obs(th, sens=True)
    sse = float(np.sum((prob.y - f) ** 2))
    cov = np.linalg.inv(df.T @ df) * sse / prob.n
    se = np.sqrt(np.diag(cov))
    for k, name in enumerate(["ka", "CL", "V"]):
        assert res.stderr[name] == pytest.approx(se[k], rel=2e-2)
    assert res.params["sigma_add_conc"] == pytest.approx(math.sqrt(sse / prob.n), rel=1e-4)


# --------------------------------------------------------------------------- censoring
def test_m3_recovers_truth_better_than_dropping_blq(oral):
    err_m3, err_drop = [], []
    for seed in range(4):
        data = simulated(oral, 100 + seed, n_subjects=3, lloq=3.0)
        kw = {"vary": ["ka", "CL", "V"], "fixed": FIXED, "error": "proportional",
              "log_params": "all"}
        m3 = fit(oral, data, censoring="m3", **kw).raise_for_status()
        drop = fit(oral, data, censoring="drop", **kw).raise_for_status()
        assert m3.n_obs > drop.n_obs and m3.censoring == {"conc": "m3"}
        err_m3.append(sum(math.log(m3.params[k] / v) ** 2 for k, v in TRUTH.items()))
        err_drop.append(sum(math.log(drop.params[k] / v) ** 2 for k, v in TRUTH.items()))
    assert np.mean(err_m3) < 0.5 * np.mean(err_drop), (err_m3, err_drop)


# --------------------------------------------------------------------------- inputs
def test_long_frame_with_regimen_equals_dataset(oral):
    data = simulated(oral, 8, n_subjects=1)
    obs = data.subjects[0].observations
    long = obs[["time", "dv"]]
    a = fit(oral, long, regimen=Bolus(0, 320.0, "depot"), vary=["ka", "CL", "V"], fixed=FIXED,
            error="proportional")
    b = fit(oral, data, vary=["ka", "CL", "V"], fixed=FIXED, error="proportional")
    for k in a.params:
        assert a.params[k] == pytest.approx(b.params[k], rel=1e-6)


def test_nonmem_frame_and_per_subject(oral):
    theoph = datasets.load("theoph")
    sub = theoph[theoph.ID.isin([1, 2, 3])]
    fits = fit_each(oral, sub, vary=["ka", "CL", "V"], fixed=FIXED)
    assert isinstance(fits, SubjectFits) and len(fits) == 3 and fits.success
    frame = fits.to_frame()
    assert list(frame["ID"]) == [1, 2, 3] and {"ka", "se_ka", "ofv"} <= set(frame.columns)
    assert isinstance(fits[2], FitResult) and fits[2].n_obs == 10
    assert "SubjectFits" in repr(fits) and "\n" not in repr(fits)
    # the same fits from worker processes, and each equals a fit of that subject alone
    par = fit_each(oral, sub, vary=["ka", "CL", "V"], fixed=FIXED, n_jobs=2)
    alone = fit(oral, sub[sub.ID == 2], vary=["ka", "CL", "V"], fixed=FIXED)
    for k in alone.params:
        assert par[2].params[k] == fits[2].params[k] == pytest.approx(alone.params[k], rel=1e-12)
    with pytest.raises(FitError, match="unknown option 'vari'.*vary"):
        fit_each(oral, sub, vari=["ka"])


# --------------------------------------------------------------------------- errors
def test_unknown_output_is_a_data_error(oral):
    data = simulated(oral, 9, n_subjects=1)
    s = data.subjects[0]
    bad = Subject(1, s.regimen, s.observations.assign(output="cnoc"))
    with pytest.raises(DataError, match="output 'cnoc'.*did you mean 'conc'"):
        fit(oral, Dataset((bad,), ("cnoc",)), vary=["CL"], fixed=FIXED)
    with pytest.raises(DataError, match="no output 'effect'"):
        fit(oral, data, vary=["CL"], fixed=FIXED, outputs=["effect"])


def test_observation_before_first_dose_names_the_row(oral):
    long = pd.DataFrame({"time": [-1.0, 1.0, 2.0, 4.0], "dv": [0.5, 5.0, 6.0, 5.0]})
    with pytest.raises(DataError, match=r"row 1 \(ID 1\).*before the first dose"):
        fit(oral, long, regimen=Bolus(0, 320, "depot"), vary=["CL"], fixed=FIXED)


def test_no_observations_is_a_data_error(oral):
    long = pd.DataFrame({"time": [], "dv": []})
    with pytest.raises(DataError, match="no observations"):
        fit(oral, long, regimen=Bolus(0, 320, "depot"), vary=["CL"], fixed=FIXED)


def test_negative_dv_with_lognormal_error_names_the_row(oral):
    long = pd.DataFrame({"time": [1.0, 2.0, 4.0], "dv": [5.0, -0.1, 5.0]})
    with pytest.raises(DataError, match=r"row 2 \(ID 1\).*not positive.*lognormal"):
        fit(oral, long, regimen=Bolus(0, 320, "depot"), vary=["CL"], fixed=FIXED,
            error="lognormal")


def test_zero_prediction_with_proportional_error_names_the_row(oral):
    long = pd.DataFrame({"time": [0.0, 2.0, 4.0], "dv": [0.1, 5.0, 5.0]})
    with pytest.raises(DataError, match=r"row 1 \(ID 1\).*predicts conc = 0"):
        fit(oral, long, regimen=Bolus(0, 320, "depot"), vary=["CL"], fixed=FIXED,
            error="proportional")


def test_unknown_free_parameter_suggests_the_closest_name(oral):
    data = simulated(oral, 10, n_subjects=1)
    with pytest.raises(FitError, match="'Cl'.*did you mean 'CL'"):
        fit(oral, data, vary=["Cl", "V"], fixed=FIXED)
    with pytest.raises(FitError, match="'Vc'.*did you mean 'V'"):
        fit(oral, data, vary=["CL"], fixed={"Vc": 3})
    with pytest.raises(FitError, match="both free and fixed"):
        fit(oral, data, vary=["CL", "Fbio"], fixed=FIXED)
    with pytest.raises(FitError, match="error model for 'conc'"):
        fit(oral, data, vary=["CL"], fixed=FIXED, error="poisson")
    with pytest.raises(FitError, match="outside its bounds"):
        fit(oral, data, vary={"CL": (5.0, 0.0, 1.0)}, fixed=FIXED)


def test_failed_fit_returns_a_result_that_says_so(oral):
    data = simulated(oral, 11, n_subjects=1)
    res = fit(oral, data, vary={"ka": 20.0, "CL": 0.1, "V": 300.0}, fixed=FIXED, max_nfev=3)
    assert not res.success and "max_nfev=3" in res.message
    assert "FAILED" in repr(res)
    with pytest.raises(FitError, match="did not succeed"):
        res.raise_for_status()


def test_integration_failure_inside_the_fit_is_caught():
    # dA/dt = k A^2 blows up at t = 1/k: trial steps with large k fail to integrate
    m = parse_model("""
name: blowup
[parameters]
k = 0.2 (0, inf)
[states]
A = 1
[equations]
d/dt(A) = k*A*A
[outputs]
a = A
""")
    t = np.linspace(0.5, 4.0, 8)
    y = 1 / (1 - 0.2 * t)
    long = pd.DataFrame({"time": t, "dv": y * (1 + 0.01 * np.sin(7 * t))})
    res = fit(m, long, regimen=None, vary={"k": 0.24}, error="proportional")
    assert isinstance(res, FitResult)
    assert res.success, res.message
    assert res.params["k"] == pytest.approx(0.2, rel=0.02)


# --------------------------------------------------------------------------- results
def test_result_api(oral, tmp_path):
    data = simulated(oral, 12, n_subjects=2)
    res = fit(oral, data, vary={"ka": (1.0, 0.01, 10.0), "CL": 2.0, "V": 25.0}, fixed=FIXED,
              error="proportional", log_params=["CL"])
    assert "\n" not in repr(res) and repr(res).startswith("<FitResult 'pk_1cmt_oral' converged")
    text = res.summary()
    for part in ("[[Fit Statistics]]", "-2LL (OFV)", "AIC", "BIC", "[[Variables]]",
                 "(init = 1, bounds = [0.01, 10])", "Fbio:", "(fixed)", "# function evals"):
        assert part in text, part
    assert res.aic == pytest.approx(res.ofv + 2 * 4)
    assert res.bic == pytest.approx(res.ofv + 4 * math.log(24))
    frame = res.to_frame()
    assert list(frame["name"]) == ["ka", "CL", "V", "sigma_prop_conc", "Fbio", "tlag"]
    d = json.loads(res.to_json(tmp_path / "r.json"))
    assert d["schema"] == 1 and d["params"]["CL"] == res.params["CL"]
    assert res.model.param("CL").value == res.params["CL"]
    assert res.model.param("Fbio").value == 1.0
    pr = res.predict()
    assert len(pr) == res.n_obs and {"pred", "res", "iwres"} <= set(pr.columns)
    curve = res.predict(times=[1.0, 2.0])
    assert list(curve.columns) == ["ID", "time", "conc"] and len(curve) == 4
    with pytest.raises(AttributeError):
        res.ofv = 0.0  # frozen


def test_parameter_at_bound_is_flagged(oral):
    data = simulated(oral, 13, n_subjects=1)
    res = fit(oral, data, vary={"ka": 1.2, "CL": (2.0, 0.5, 2.0), "V": 30.0}, fixed=FIXED,
              error="proportional")
    assert res.at_bound == {"CL": "upper"}
    assert "at upper boundary" in res.summary()


def test_gof_plots(oral):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pkpd.plot import plot_gof, plot_individual_fits

    res = fit(oral, simulated(oral, 14, n_subjects=2, lloq=2.0), vary=["ka", "CL", "V"],
              fixed=FIXED, error="proportional")
    fig = plot_gof(res)
    assert len(fig.axes) == 3
    fig2 = plot_individual_fits(res)
    assert len([a for a in fig2.axes if a.get_visible()]) == 2
    plt.close("all")


# --------------------------------------------------------------------------- uncertainty
def test_profile_interval_brackets_estimate_and_is_close_to_wald(oral):
    res = fit(oral, simulated(oral, 15, n_subjects=3), vary=["ka", "CL", "V"], fixed=FIXED,
              error="proportional", log_params="all")
    pr = profile(res, "CL")
    assert pr.lower < res.params["CL"] < pr.upper
    wald = 1.96 * res.stderr["CL"]
    assert pr.upper - pr.lower == pytest.approx(2 * wald, rel=0.2)
    crit = pr.table.set_index("value")["delta"]
    assert crit.min() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(FitError, match="did you mean 'CL'"):
        profile(res, "cl")


def test_bootstrap_case_and_parametric(oral):
    res = fit(oral, simulated(oral, 16, n_subjects=4), vary=["ka", "CL", "V"], fixed=FIXED,
              error="proportional")
    for kind in ("case", "parametric"):
        bs = bootstrap(res, 6, kind=kind, rng=0, n_jobs=1, progress=False)
        assert len(bs.table) == 6 and bs.n_failed == 0
        ci = bs.ci.set_index("name")
        assert (ci["lower"] <= ci["upper"]).all()
        assert ci.loc["CL", "lower"] < res.params["CL"] * 1.5
    again = bootstrap(res, 6, kind="parametric", rng=0, n_jobs=1, progress=False)
    pd.testing.assert_frame_equal(again.table, bs.table)


@pytest.mark.slow
def test_bootstrap_in_worker_processes(oral):
    res = fit(oral, simulated(oral, 17, n_subjects=4), vary=["ka", "CL", "V"], fixed=FIXED,
              error="proportional")
    serial = bootstrap(res, 4, rng=1, n_jobs=1, progress=False)
    parallel = bootstrap(res, 4, rng=1, n_jobs=2, progress=False)
    pd.testing.assert_frame_equal(serial.table, parallel.table)


# --------------------------------------------------------------------------- fit specs
def test_run_fit_writes_estimates_and_summary(tmp_path):
    from pathlib import Path

    spec = Path(__file__).resolve().parents[2] / "fits" / "theoph_pooled.toml"
    res = run_fit(spec, tmp_path)
    assert res.success
    est = pd.read_csv(tmp_path / "theoph_pooled.estimates.csv")
    assert set(est["name"]) >= {"ka", "CL", "V", "sigma_prop_conc", "Fbio"}
    assert "[[Variables]]" in (tmp_path / "theoph_pooled.summary.txt").read_text()


def test_run_fit_rejects_unknown_keys(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('model = "pk_1cmt_oral"\ndataset = "theoph"\nparamters = {}\n')
    # a bad specification is bad input (SpecError, a ValueError: `pkpd fit` exits with 2)
    with pytest.raises(SpecError, match="unknown key 'paramters'.*did you mean 'parameters'"):
        run_fit(p, tmp_path)
