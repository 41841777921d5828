"""pkpd.fit against an independent fit of the closed-form solution, on real data.

Theophylline (Boeckmann, Sheiner & Beal 1994), each subject separately: the
one-compartment first-order absorption model fitted by pkpd (compiled model,
sensitivities, additive error by maximum likelihood) against
``scipy.optimize.least_squares`` on the Bateman equation written here. With an
additive error model the maximum-likelihood estimates of the structural
parameters are the least-squares estimates, so both must agree to 4
significant digits. The t = 0 samples carry ``EXCL = 1`` in the shipped
dataset (see ``pkpd/data/README.md``) and are left out of both fits.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import least_squares

from pkpd import datasets, read_nonmem
from pkpd.fit import fit, fit_each
from pkpd.language import load_model


def bateman(t, dose, ka, CL, V):
    k = CL / V
    return dose * ka / (V * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))


def independent_fit(t, y, dose, start):
    def res(z):
        return bateman(t, dose, *np.exp(z)) - y

    out = least_squares(res, np.log(start), method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15,
                        max_nfev=20000)
    return np.exp(out.x), float(np.sum(out.fun ** 2))


@pytest.fixture(scope="module")
def theoph():
    model = load_model("pk_1cmt_oral")
    frame = datasets.load("theoph")
    return model, frame, read_nonmem(frame, model)


def test_theophylline_per_subject_fits_match_closed_form_least_squares(theoph):
    model, frame, ds = theoph
    fits = fit_each(model, ds, vary={"ka": 1.5, "CL": 2.8, "V": 32.0},
                    fixed={"Fbio": 1, "tlag": 0}, error="additive", log_params="all")
    fits.raise_for_status()
    assert len(fits) == 12
    for s in ds:
        obs = s.observations
        dose = s.regimen.doses[0].amount
        ref, sse = independent_fit(obs["time"].to_numpy(), obs["dv"].to_numpy(), dose,
                                   [1.5, 2.8, 32.0])
        r = fits[s.id]
        got = np.array([r.params["ka"], r.params["CL"], r.params["V"]])
        np.testing.assert_allclose(got, ref, rtol=5e-5, err_msg=f"ID {s.id}")
        # sigma is the ML estimate sqrt(SSE / n), the OFV the Gaussian -2LL at it
        n = len(obs)
        assert r.params["sigma_add_conc"] == pytest.approx(np.sqrt(sse / n), rel=1e-5)
        assert r.ofv == pytest.approx(n * (np.log(2 * np.pi * sse / n) + 1), rel=1e-6)


def test_pooled_theophylline_matches_closed_form(theoph):
    model, frame, ds = theoph
    res = fit(model, ds, vary={"ka": 1.5, "CL": 2.8, "V": 32.0}, fixed={"Fbio": 1, "tlag": 0},
              error="additive", log_params="all").raise_for_status()
    t = np.concatenate([s.observations["time"].to_numpy() for s in ds])
    y = np.concatenate([s.observations["dv"].to_numpy() for s in ds])
    dose = np.concatenate([np.full(len(s.observations), s.regimen.doses[0].amount) for s in ds])
    ref, _ = independent_fit(t, y, dose, [1.5, 2.8, 32.0])
    got = np.array([res.params[k] for k in ("ka", "CL", "V")])
    np.testing.assert_allclose(got, ref, rtol=5e-5)
