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

from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import least_squares

import pkpd
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
        # sigma is the ML estimate sqrt(SSE / n), the OFV the Gaussian -2LL at it (4
        # significant digits, as for the structural parameters; the optimiser's default
        # ftol/xtol of 1e-8 stops within that)
        n = len(obs)
        assert r.params["sigma_add_conc"] == pytest.approx(np.sqrt(sse / n), rel=5e-5)
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


FITS = Path(__file__).resolve().parents[2] / "fits"


@pytest.mark.parametrize("spec", sorted(p.name for p in FITS.glob("*.toml")))
def test_every_shipped_fit_specification_converges(spec):
    res = pkpd.run_fit(FITS / spec, write=False)
    res.raise_for_status()


def test_warfarin_pkpd_pooled_fit_is_near_holford_1986():
    # Holford NHG, Clin Pharmacokinet 1986;11:483-504: for a 70 kg adult CL about 0.13 L/h,
    # V about 8 L, prothrombin complex half-life about 14 h (kout = ln2/14 = 0.05 /h).
    # A pooled fit of the O'Reilly data is not a population analysis, so allow 25%.
    res = pkpd.run_fit(FITS / "warfarin_pkpd.toml", write=False).raise_for_status()
    assert res.params["CL"] == pytest.approx(0.13, rel=0.25)
    assert res.params["V"] == pytest.approx(8.0, rel=0.25)
    assert res.params["kout"] == pytest.approx(np.log(2) / 14, rel=0.25)
    # both outputs with their own error models, each contributing to the likelihood
    assert {"sigma_add_cp", "sigma_prop_cp", "sigma_add_pca"} <= set(res.params)
