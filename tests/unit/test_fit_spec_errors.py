"""pkpd.fit: bad input is refused with errors that name the problem.

Fits without doses, malformed fit specifications (SpecError naming file and key,
`pkpd fit` exit status 2), strings where booleans or numbers are needed, options of
:func:`pkpd.fit.fit` out of range, non-numeric cells in a long observation table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import curve_fit

from pkpd import Bolus, datasets
from pkpd.cli import main
from pkpd.errors import DataError, FitError, SpecError
from pkpd.fit import fit, fit_each, run_fit
from pkpd.language import load_model, parse_model

FIXED = {"Fbio": 1.0, "tlag": 0.0}
VARY = ["ka", "CL", "V"]
T = np.array([0.5, 1, 2, 4, 8, 12, 24.0])


@pytest.fixture(scope="module")
def oral():
    return load_model("pk_1cmt_oral")


@pytest.fixture(scope="module")
def theoph():
    return datasets.load("theoph")


# --------------------------------------------------------------------------- no doses
def oral_conc(t, ka=1.2, CL=3.0, V=30.0, dose=320.0):
    """One-compartment oral absorption, closed form."""
    k = CL / V
    return dose * ka / (V * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))


def test_long_table_without_regimen_is_refused_naming_the_subject(oral):
    noise = 1 + 0.05 * np.random.default_rng(1).standard_normal(T.size)
    long = pd.DataFrame({"time": T, "dv": oral_conc(T) * noise})
    with pytest.raises(DataError, match=r"ID 1 has observations \(7\) but no doses.*"
                                        r"starts every state at 0.*conc = 0.*regimen="):
        fit(oral, long, vary=VARY, fixed=FIXED)
    # the same table with its dose fits
    assert fit(oral, long, regimen=Bolus(0, 320, "depot"), vary=VARY, fixed=FIXED).success


def test_nonmem_frame_without_dose_rows_names_the_undosed_subjects(oral, theoph):
    obs_only = theoph[(theoph.ID.isin([1, 2])) & (theoph.EVID == 0)]
    with pytest.raises(DataError, match=r"IDs 1, 2 \(2 subjects\) have observations \(20\) "
                                        r"but no doses.*AMT"):
        fit(oral, obs_only, vary=VARY, fixed=FIXED)
    # pooled with a dosed subject: only the undosed one is named
    mixed = pd.concat([theoph[theoph.ID == 1], theoph[(theoph.ID == 2) & (theoph.EVID == 0)]])
    with pytest.raises(DataError, match=r"^ID 2 has observations \(10\) but no doses"):
        fit(oral, mixed, vary=VARY, fixed=FIXED)
    with pytest.raises(DataError, match=r"^ID 2 has observations"):
        fit_each(oral, theoph[(theoph.ID == 2) & (theoph.EVID == 0)], vary=VARY, fixed=FIXED)


BASELINE = """
name: decline
[parameters]
R0 = 8 (0, inf)
k = 0.3 (0, inf)
[states]
R = R0
[equations]
d/dt(R) = -k*R
[outputs]
resp = R
"""

PRODUCTION = """
name: turnover
[parameters]
kin = 2 (0, inf)
kout = 0.2 (0, inf)
[states]
R = 0
[equations]
d/dt(R) = kin - kout*R
[outputs]
resp = R
"""


@pytest.mark.parametrize("text, closed_form, start", [
    # a non-zero initial state (a baseline) needs no dose
    (BASELINE, lambda t, R0, k: R0 * np.exp(-k * t), {"R0": 8.0, "k": 0.3}),
    # every state starts at 0, but a zero-order input that is not a dose drives it
    (PRODUCTION, lambda t, kin, kout: kin / kout * (1 - np.exp(-kout * t)),
     {"kin": 2.0, "kout": 0.2}),
])
def test_models_that_need_no_dose_are_fitted_without_doses(text, closed_form, start):
    model = parse_model(text)
    truth = {k: 1.3 * v for k, v in start.items()}
    t = np.linspace(0.5, 20, 12)
    y = closed_form(t, *truth.values()) + 0.05 * np.random.default_rng(3).standard_normal(t.size)
    res = fit(model, pd.DataFrame({"time": t, "dv": y}), vary=start, error="additive")
    assert res.success, res.message
    # additive error: the ML estimate is the least-squares fit of the closed form
    ref, _ = curve_fit(closed_form, t, y, p0=list(start.values()), xtol=1e-14, ftol=1e-14)
    for name, value in zip(start, ref, strict=True):
        assert res.params[name] == pytest.approx(value, rel=1e-4), name


# --------------------------------------------------------------------------- fit() options
@pytest.mark.parametrize("option, pattern", [
    ({"method": "foo"}, r"method must be one of least_squares, leastsq, nelder.*got 'foo'"),
    ({"method": "Nelder"}, r"method must be one of .*did you mean 'nelder'"),
    ({"method": "emcee"}, r"method must be one of"),
    ({"tol": -1}, r"tol must be a number from 2.2\d*e-16 .* to below 1.*got -1"),
    ({"tol": 0.0}, r"tol must be .*got 0.0"),
    ({"rtol": 0}, r"rtol must be a positive number"),
    ({"atol": float("nan")}, r"atol must be a positive number"),
    ({"max_nfev": "100"}, r"max_nfev must be a positive integer.*got '100' \(str\)"),
    ({"max_nfev": 0}, r"max_nfev must be a positive integer"),
    ({"solver": "rk4"}, r"solver must be one of auto, .*stiff.*got 'rk4'"),
    ({"covariance": "yes"}, r"covariance must be True or False"),
    ({"error": 5}, r"error must be an error model .*got 5 \(int\)"),
    ({"censoring": 5}, r"censoring must be 'm3', 'drop'"),
    ({"fixed": {"Fbio": "one", "tlag": 0}}, r"fixed value of 'Fbio' must be a finite number"),
    ({"vary": {"ka": "fast"}}, r"initial value of 'ka' must be a finite number"),
    ({"vary": {"ka": {"init": 1.0, "lowr": 0.1}}}, r"vary\['ka'\] has an unknown key 'lowr'; "
                                                   r"did you mean 'lower'"),
    ({"outputs": 5}, r"outputs must be an output name"),
])
def test_fit_options_out_of_range_are_fit_errors(oral, theoph, option, pattern):
    kw = {"vary": VARY, "fixed": FIXED} | option
    with pytest.raises(FitError, match=pattern):
        fit(oral, theoph[theoph.ID == 1], **kw)


def test_fit_each_checks_n_jobs_and_progress(oral, theoph):
    with pytest.raises(ValueError, match=r"n_jobs must be -1 .* got '2' \(str\)"):
        fit_each(oral, theoph[theoph.ID == 1], vary=VARY, fixed=FIXED, n_jobs="2")
    with pytest.raises(ValueError, match=r"progress must be True, False or None"):
        fit_each(oral, theoph[theoph.ID == 1], vary=VARY, fixed=FIXED, progress="no")


def test_a_method_other_than_least_squares_is_used_and_recorded(oral, theoph):
    one = theoph[theoph.ID == 1]
    ref = fit(oral, one, vary=VARY, fixed=FIXED)
    res = fit(oral, one, vary=VARY, fixed=FIXED, method="nelder", max_nfev=3000)
    assert res.success and res.method == "nelder" and "= nelder" in res.summary()
    assert "no jacobian in the search" in res.summary()
    assert "(jacobian: sensitivity)" in ref.summary()
    # Nelder-Mead reaches the same maximum of the likelihood from the values alone
    assert res.ofv == pytest.approx(ref.ofv, abs=1e-4)
    for k in VARY:
        assert res.params[k] == pytest.approx(ref.params[k], rel=2e-3), k


# --------------------------------------------------------------------------- long tables
@pytest.mark.parametrize("columns, pattern", [
    ({"time": [0.5, 1, 2, 4], "dv": [2.0, "x", 2.7, 2.4]}, r"^row 2: dv is 'x', which is not a "
                                                           r"number"),
    ({"time": [0.5, "1h", 2, 4], "dv": [2.0, 2.2, 2.7, 2.4]}, r"^row 2: time is '1h'"),
    ({"time": [0.5, 1, np.nan, 4], "dv": [2.0, 2.2, 2.7, 2.4]}, r"^row 3: time is missing"),
    ({"time": [0.5, 1, 2, 4], "dv": [2.0, 2.2, 2.7, 2.4], "cens": [0, 0, "<LOQ", 0]},
     r"^row 3: cens is '<LOQ', which is not a number; cens must be 0 \(observed\) or 1"),
    ({"time": [0.5, 1, 2, 4], "dv": [2.0, 2.2, 2.7, 2.4], "CENS": [0, 2, 0, 0]},
     r"^row 2: CENS is 2.*must be 0 \(observed\) or 1"),
    ({"time": [0.5, 1, 2, 4], "dv": [2.0, 2.2, 2.7, 2.4], "cens": [0, 0, 1, 0],
      "lloq": [0.1, 0.1, "LOQ", 0.1]}, r"^row 3: lloq is 'LOQ'"),
])
def test_non_numeric_cells_of_a_long_table_name_column_and_row(oral, columns, pattern):
    with pytest.raises(DataError, match=pattern):
        fit(oral, pd.DataFrame(columns), regimen=Bolus(0, 100, "depot"), vary=VARY, fixed=FIXED)


# --------------------------------------------------------------------------- fit specifications
HEAD = 'model = "pk_1cmt_oral"\ndataset = "theoph"\n'
PK = "[parameters]\nka = 1.5\nCL = 2.8\nV = 32\n[fixed]\nFbio = 1\ntlag = 0\n"


@pytest.mark.parametrize("text, pattern", [
    (HEAD + "[options]\nmaxfev = 10\n",
     r"options\.maxfev: unknown option; did you mean 'max_nfev'\?; options are: .*max_nfev"),
    (HEAD + "[options]\nn_jobs = 2\n", r"options\.n_jobs: is an option of per-subject fits"),
    (HEAD + "[options]\nper_subject = true\nn_jobs = 0\n",
     r"options\.n_jobs: must be -1 \(all cores\) or a positive integer"),
    (HEAD + 'parameters = ["ka", "CL"]\n', r"parameters: must be a table.*got \[\"ka\", "
                                            r"\"CL\"\] \(a list\)"),
    ('model = 5\ndataset = "theoph"\n', r"model: must be a string; got 5 \(an integer\)"),
    (HEAD + "error = 5\n", r"error: must be one error model for every output \('additive', "),
    (HEAD + '[error]\nconc = "poisson"\n', r"error\.conc: must be one of 'additive'"),
    (HEAD + '[options]\nmax_nfev = "100"\n',
     r"options\.max_nfev: must be an integer; got \"100\" \(a string\)"),
    (HEAD + '[options]\nmethod = "foo"\n', r"options: method must be one of least_squares"),
    (HEAD + "[options]\ntol = -1\n", r"options: tol must be a number from"),
    (HEAD + '[options]\ncovariance = "yes"\n', r"options\.covariance: must be true or false"),
    (HEAD + '[options]\nper_subject = true\nprogress = "no"\n',
     r"options\.progress: must be true or false"),
    (HEAD + '[options]\noutputs = 5\n', r"options\.outputs: must be an output name or a list"),
    (HEAD + '[data]\noutput = { central = "conc" }\n',
     r"data\.output: unknown key; did you mean 'outputs'\?; keys are: outputs, covariates, "
     r"time_varying"),
    (HEAD + '[data]\ncovariates = "WT"\n', r"data\.covariates: must be a list of column names"),
    (HEAD + 'fixed = "Fbio"\n', r"fixed: must be a table \(parameter name -> value\); "
                                r"got \"Fbio\" \(a string\)"),
    (HEAD + '[fixed]\nFbio = "one"\n', r"fixed\.Fbio: must be a finite number; got \"one\""),
    ('model = "pk_1cmt_oral"\ndataset = "theop"\n',
     r"dataset: 'theop' is neither a dataset shipped with pkpd nor a file .*did you mean "
     r"'theoph'\?; shipped datasets \(pkpd.datasets\) are: .*theoph, warfarin"),
    ('model = "pk_1cmt_orl"\ndataset = "theoph"\n', r"model: no model named 'pk_1cmt_orl'"),
    ('model = "nofile.pkpd"\ndataset = "theoph"\n', r"model: model file .*nofile.pkpd does not "
                                                      r"exist"),
    (HEAD + '[censoring]\nconc = "m4"\n', r"censoring\.conc: must be one of 'm3', 'drop'; "
                                          r"got \"m4\""),
    (HEAD + "[parameters]\nka = { init = 1.5, lowr = 0.5 }\n",
     r"parameters\.ka\.lowr: unknown key; did you mean 'lower'\?; keys are: init, lower, upper, "
     r"log"),
    (HEAD + "[parameters]\nka = { init = 1.5, uper = 3 }\n",
     r"parameters\.ka\.uper: unknown key; did you mean 'upper'"),
    (HEAD + "[parameters]\nka = { init = 1.5, fixed = true }\n",
     r"parameters\.ka\.fixed: unknown key.*goes under \[fixed\]"),
    (HEAD + '[parameters]\nka = { init = "1.5" }\n', r"parameters\.ka\.init: must be a finite "
                                                       r"number"),
    (HEAD + '[parameters]\nka = "fast"\n', r"parameters\.ka: must be a number \(the initial "
                                           r"value\) or a table"),
    (HEAD + "[parameters]\nka = [1.5, 0.1, 10]\n",
     r"parameters\.ka: .*write ka = \{ init = 1.5, lower = 0.1, upper = 10 \}"),
    (HEAD + '[parameters]\nka = { init = 1.5, log = "no" }\n',
     r"parameters\.ka\.log: must be true or false \(a TOML boolean, without quotes\); "
     r"got \"no\" \(a string\)"),
    (HEAD + PK + '[options]\nper_subject = "false"\n',
     r"options\.per_subject: must be true or false .*got \"false\" \(a string\)"),
    (HEAD + 'name = "../elsewhere"\n', r"name: names the output files, so it must not be a path"),
    # checked by the fit itself, reported as a specification error naming the file
    (HEAD + "[parameters]\nCl = 2.8\n", r"free parameter 'Cl' .*did you mean 'CL'"),
    (HEAD + '[error]\ncp = "additive"\n', r"an error model is given for 'cp'"),
])
def test_malformed_specification_is_a_spec_error_naming_file_and_key(tmp_path, text, pattern):
    spec = tmp_path / "bad_spec.toml"
    spec.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError, match=r"bad_spec\.toml: " + pattern):
        run_fit(spec, write=False)


def test_pkpd_fit_exits_2_with_one_line_naming_file_and_key(tmp_path, capsys):
    spec = tmp_path / "typo.toml"
    spec.write_text(HEAD + "[options]\nmaxfev = 10\n", encoding="utf-8")
    code = main(["fit", str(spec), "-o", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pkpd: error: ")
    assert "typo.toml: options.maxfev" in lines[0] and "max_nfev" in lines[0]
    assert not list(tmp_path.glob("*.csv"))


def test_missing_doses_in_a_specification_dataset_name_the_file(tmp_path, theoph):
    csv = tmp_path / "obs_only.csv"
    theoph[(theoph.ID <= 2) & (theoph.EVID == 0)].to_csv(csv, index=False)
    spec = tmp_path / "nodose.toml"
    spec.write_text(f'model = "pk_1cmt_oral"\ndataset = "{csv.name}"\n' + PK, encoding="utf-8")
    with pytest.raises(DataError, match=r"nodose\.toml: IDs 1, 2 \(2 subjects\) have "
                                        r"observations \(20\) but no doses"):
        run_fit(spec, write=False)


def test_log_flags_are_read_as_booleans(tmp_path):
    spec = tmp_path / "log.toml"
    spec.write_text(HEAD + "[parameters]\nka = { init = 1.5, log = false }\n"
                    "CL = { init = 2.8, log = true }\nV = 32\n[fixed]\nFbio = 1\ntlag = 0\n"
                    "[options]\nper_subject = false\n", encoding="utf-8")
    res = run_fit(spec, write=False)
    assert res.success and res.n_subjects == 12
    assert "CL" in res.log_params and "ka" not in res.log_params and "V" not in res.log_params
