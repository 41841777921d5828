"""Dose-response curves on real data, against independent fits and published estimates.

Truth here does not come from pkpd.curves: every fit is repeated with
``scipy.optimize.least_squares`` (Levenberg-Marquardt, no bounds) on the
formula written out in this file, with the covariance ``s^2 (J^T J)^-1``
from an analytic Jacobian, also written here. Published values: R drc's
``drm(rootl ~ conc, data = ryegrass, fct = LL.4())`` and R's
``nls(rate ~ Vm*conc/(K + conc), Puromycin, subset = state == "treated")``
(printed to the digits below in their documentation and in Bates & Watts 1988).
"""

from __future__ import annotations

import filecmp
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, stats

from pkpd import datasets
from pkpd.curves import fit_curve

SHARED = Path(__file__).parents[2].parent / "shared" / "data"
PKG_DATA = Path(__file__).parents[2] / "pkpd" / "data"


# ----------------------------------------------------------------------------- independent fits
def ll4(theta, x):
    b, c, d, e = theta
    logx = np.log(np.where(x > 0, x, 1.0))
    u = np.where(x > 0, np.exp(b * (logx - math.log(e))), 0.0)  # (x/e)^b, 0 at x = 0 (b > 0)
    return c + (d - c) / (1 + u)


def ll4_jac(theta, x):
    b, c, d, e = theta
    logx = np.log(np.where(x > 0, x, 1.0))
    u = np.where(x > 0, np.exp(b * (logx - math.log(e))), 0.0)
    g = 1 / (1 + u)
    dg_du = -g * g
    du_db = np.where(x > 0, u * (logx - math.log(e)), 0.0)
    du_de = -u * b / e
    return np.column_stack([(d - c) * dg_du * du_db, 1 - g, g, (d - c) * dg_du * du_de])


def mm(theta, x):
    vmax, km = theta
    return vmax * x / (km + x)


def mm_jac(theta, x):
    vmax, km = theta
    return np.column_stack([x / (km + x), -vmax * x / (km + x) ** 2])


def independent_fit(f, jac, x, y, start):
    """Unbounded Levenberg-Marquardt fit; estimates, SEs from s^2 (J^T J)^-1, RSS."""
    sol = optimize.least_squares(lambda th: f(th, x) - y, start, jac=lambda th: jac(th, x),
                                 method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15)
    assert sol.success
    rss = float(np.sum((f(sol.x, x) - y) ** 2))
    J = jac(sol.x, x)
    s2 = rss / (len(x) - len(start))
    cov = s2 * np.linalg.inv(J.T @ J)
    return sol.x, np.sqrt(np.diag(cov)), rss


def profile_rss(f, x, y, theta_hat, k, value):
    """Minimum RSS with parameter k fixed at value (the others refitted)."""
    free = [i for i in range(len(theta_hat)) if i != k]

    def resid(z):
        th = np.array(theta_hat, dtype=float)
        th[free] = z
        th[k] = value
        return f(th, x) - y

    sol = optimize.least_squares(resid, np.asarray(theta_hat)[free], method="lm",
                                 xtol=1e-15, ftol=1e-15, gtol=1e-15)
    return float(np.sum(sol.fun ** 2))


def r_aic(rss, n, p):
    """R's AIC of an unweighted nls fit: -2 logLik + 2 (p + 1)."""
    loglik = -n / 2 * (math.log(2 * math.pi) + 1 - math.log(n) + math.log(rss))
    return -2 * loglik + 2 * (p + 1)


def check_profile_endpoints(res, f, x, y, theta_hat, names, rss_hat):
    """At each end of a profile interval, the F statistic equals its 95 % quantile."""
    n, p = len(x), len(names)
    fq = stats.f.ppf(0.95, 1, n - p)
    for k, nm in enumerate(names):
        assert res.ci_method[nm] == "profile"
        for end in res.ci[nm]:
            F = (profile_rss(f, x, y, theta_hat, k, end) - rss_hat) / (rss_hat / (n - p))
            assert F == pytest.approx(fq, rel=1e-3), (nm, end, F, fq)


# ----------------------------------------------------------------------------- data
def test_shipped_files_are_the_originals():
    if not SHARED.is_dir():
        pytest.skip(f"original data not found at {SHARED}")
    for name in ("ryegrass.csv", "puromycin.csv"):
        assert filecmp.cmp(SHARED / name, PKG_DATA / name, shallow=False), name


def test_datasets_are_listed_and_described():
    assert {"ryegrass", "puromycin"} <= set(datasets.list_datasets())
    assert list(datasets.load("ryegrass").columns) == ["rootl", "conc"]
    assert list(datasets.load("puromycin").columns) == ["conc", "rate", "state"]
    assert "Licence" in datasets.describe("ryegrass")
    assert "Licence" in datasets.describe("puromycin")


# ----------------------------------------------------------------------------- ryegrass, 4PL
@pytest.fixture(scope="module")
def ryegrass():
    d = datasets.load("ryegrass")
    assert len(d) == 24
    return d["conc"].to_numpy(dtype=float), d["rootl"].to_numpy(dtype=float)


@pytest.fixture(scope="module")
def ryegrass_fit(ryegrass):
    return fit_curve(*ryegrass, "4pl")


def test_ryegrass_4pl_matches_drc(ryegrass_fit):
    res = ryegrass_fit
    assert res.success
    # drc LL.4: b = 2.98, c = 0.48, d = 7.79, e = 3.06 (printed to these digits)
    for nm, published in {"b": 2.98, "c": 0.48, "d": 7.79, "e": 3.06}.items():
        assert abs(res.params[nm] - published) <= 0.005 + 1e-9, (nm, res.params[nm])
    assert res.ed50 == res.params["e"]
    # residual standard error 0.5196 on 20 degrees of freedom
    assert res.dof == 20
    assert res.residual_sd == pytest.approx(0.5196, abs=5e-5)


def test_ryegrass_4pl_matches_independent_least_squares(ryegrass, ryegrass_fit):
    x, y = ryegrass
    res = ryegrass_fit
    names = ["b", "c", "d", "e"]
    theta, se, rss = independent_fit(ll4, ll4_jac, x, y, np.array([1.0, 0.0, 8.0, 2.0]))
    for k, nm in enumerate(names):
        assert res.params[nm] == pytest.approx(theta[k], rel=1e-4), nm  # 4 significant digits
        assert res.stderr[nm] == pytest.approx(se[k], rel=0.01), nm
    assert res.rss == pytest.approx(rss, rel=1e-8)
    assert res.aic == pytest.approx(r_aic(rss, len(x), 4), rel=1e-8)
    check_profile_endpoints(res, ll4, x, y, theta, names, rss)
    assert np.allclose(res.predict(x), ll4(theta, x), rtol=1e-4)


# ----------------------------------------------------------------------------- puromycin, MM
@pytest.fixture(scope="module")
def puromycin():
    d = datasets.load("puromycin")
    d = d[d["state"] == "treated"]
    assert len(d) == 12
    return d["conc"].to_numpy(dtype=float), d["rate"].to_numpy(dtype=float)


def test_puromycin_michaelis_menten(puromycin):
    x, y = puromycin
    res = fit_curve(x, y, "mm")
    assert res.success
    # R nls: Vm = 212.7, K = 0.06412; SEs 6.947, 0.008281; residual SE 10.93 on 10 df
    assert res.params["Vmax"] == pytest.approx(212.7, abs=0.05)
    assert res.params["Km"] == pytest.approx(0.06412, abs=5e-6)
    assert res.stderr["Vmax"] == pytest.approx(6.947, abs=5e-4)
    assert res.stderr["Km"] == pytest.approx(0.008281, abs=5e-7)
    assert res.residual_sd == pytest.approx(10.93, abs=5e-3)
    theta, se, rss = independent_fit(mm, mm_jac, x, y, np.array([150.0, 0.1]))
    for k, nm in enumerate(["Vmax", "Km"]):
        assert res.params[nm] == pytest.approx(theta[k], rel=1e-4), nm
        assert res.stderr[nm] == pytest.approx(se[k], rel=0.01), nm
    assert res.ec50 == res.params["Km"]
    assert res.aic == pytest.approx(r_aic(rss, len(x), 2), rel=1e-8)
    check_profile_endpoints(res, mm, x, y, theta, ["Vmax", "Km"], rss)
    lo, hi = res.ed50_ci
    assert lo < res.ed50 < hi


def test_sigmoid_emax_is_4pl_reparametrised(ryegrass, ryegrass_fit):
    """Hill with E0 = d, Emax = c - d, ED50 = e, h = b is the same curve."""
    res = fit_curve(*ryegrass, "sigmoid_emax")
    p4 = ryegrass_fit.params
    assert res.params["E0"] == pytest.approx(p4["d"], rel=1e-4)
    assert res.params["Emax"] == pytest.approx(p4["c"] - p4["d"], rel=1e-4)
    assert res.params["ED50"] == pytest.approx(p4["e"], rel=1e-4)
    assert res.params["h"] == pytest.approx(p4["b"], rel=1e-4)
    assert res.rss == pytest.approx(ryegrass_fit.rss, rel=1e-8)
