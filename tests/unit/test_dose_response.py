"""Dose-response over virtual populations (pkpd.dose_response) and curve fitting (pkpd.curves)."""

from __future__ import annotations

import hashlib
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pkpd import Bolus, Regimen, load_model, metrics
from pkpd.curves import emax, fit_curve, loglogistic4, michaelis_menten, sigmoid_emax
from pkpd.dose_response import DoseResponse, dose_grid, dose_response, trough
from pkpd.errors import ModelError, RegimenError
from pkpd.population import Population

matplotlib.use("Agg")

# pk_1cmt_iv: CL = 2.8 L/h, V = 32 L, doses into central (mg), conc = central/V (mg/L)
CL, V = 2.8, 32.0
K = CL / V


@pytest.fixture(scope="module")
def pk():
    return load_model("pk_1cmt_iv")


@pytest.fixture(scope="module")
def pk_pop(pk):
    return Population(pk, {"CL": 0.3, "V": 0.25})


# ----------------------------------------------------------------------------- dose_grid
def test_dose_grid_names_and_texts():
    g = dose_grid("{dose} mg iv over 3.5 h every {interval} w x 4", dose=[300, 600],
                  interval=[24, 36])
    expected = {}
    for d in (300, 600):
        for i in (24, 36):
            expected[f"dose={d}, interval={i}"] = f"{d} mg iv over 3.5 h every {i} w x 4"
    assert g == expected
    assert list(g) == list(expected)  # first placeholder varies slowest
    g = dose_grid("{dose} mg iv at 0 h", dose=np.array([2.5, 10.0]))
    assert g == {"dose=2.5": "2.5 mg iv at 0 h", "dose=10.0": "10.0 mg iv at 0 h"}
    assert dose_grid("{dose:g} mg at 0 h", dose=7) == {"dose=7": "7 mg at 0 h"}


@pytest.mark.parametrize("template, grid, match", [
    ("{dose} mg every {tau} h x 3", {"dose": [1]}, r"no values for placeholder \{tau\}"),
    ("{dose} mg at 0 h", {"dose": [1], "interval": [2]}, "'interval' is not a placeholder"),
    ("{} mg at 0 h", {}, "must be a plain name"),
    ("{dose[0]} mg at 0 h", {"dose": [1]}, "must be a plain name"),
    ("100 mg at 0 h", {}, "has no"),
    ("{dose} mg at 0 h", {"dose": ["300"]}, "must be numbers"),
    ("{dose} mg at 0 h", {"dose": [True]}, "must be numbers"),
    ("{dose} mg at 0 h", {"dose": [float("nan")]}, "must be finite"),
    ("{dose} mg at 0 h", {"dose": []}, "has no values"),
    ("{dose mg at 0 h", {"dose": [1]}, "not a valid format string"),
])
def test_dose_grid_errors(template, grid, match):
    with pytest.raises(ValueError, match=match):
        dose_grid(template, **grid)


# ----------------------------------------------------------------------------- closed forms
def test_no_iiv_endpoints_equal_closed_forms(pk):
    regs = dose_grid("{dose} mg iv every {interval} h x 3", dose=[100, 250, 400],
                     interval=[12, 24])
    pre = [tau * k - 1e-6 for tau in (12, 24) for k in (1, 2)]
    times = np.unique(np.r_[np.linspace(0, 72, 145), pre])
    dr = dose_response(pk, regs, times, endpoints={
        "Cmax1": metrics.cmax("conc", 0, 6), "Cmax": metrics.cmax("conc"),
        "trough3": trough("conc", 3)}, rtol=1e-8, atol=1e-10)
    assert dr.n_subjects == 1
    assert dr.regimens == tuple(regs)
    tab = dr.to_frame()
    assert len(tab) == 6 * 3
    for _, r in tab.iterrows():
        D, tau = r["dose"], r["interval"]
        assert (D, tau) in {(d, i) for d in (100, 250, 400) for i in (12, 24)}
        truth = {  # superposition of IV boluses D/V exp(-K t)
            "Cmax1": D / V,
            "Cmax": D / V * (1 + math.exp(-K * tau) + math.exp(-2 * K * tau)),
            "trough3": D / V * (math.exp(-K * (tau - 1e-6)) + math.exp(-K * (2 * tau - 1e-6))),
        }[r["endpoint"]]
        for col in ("median", "mean", "p5", "p95"):
            assert abs(r[col] - truth) / (1e-10 / V + 1e-8 * truth) < 50, (r["regimen"], col)
        assert r["n"] == 1 and r["n_missing"] == 0
    d = dr.design.set_index("regimen")
    assert d.loc["dose=250, interval=24", "dose"] == 250
    assert d.loc["dose=250, interval=24", "interval"] == 24
    assert set(d["dose_unit"]) == {"mg"}
    v = dr.endpoint_values
    assert list(v.columns) == ["regimen", "dose", "interval", "ID", "endpoint", "value"]
    assert len(v) == 6 * 3


def test_dose_and_interval_read_off_regimens(pk):
    regs = {"load+maint": "300 mg iv at 0 h; 100 mg iv every 12 h x 4 from 12 h",
            "single": Regimen((Bolus(0, 50, "central"),)),
            "weekly": "70 mg every 1 w x 2"}
    dr = dose_response(pk, regs, np.linspace(0, 400, 401),
                       endpoints=[metrics.cmax("conc")])
    d = dr.design.set_index("regimen")
    assert d.loc["load+maint", "dose"] == 300  # the largest amount
    assert d.loc["load+maint", "interval"] == 12  # of the repeated entry
    assert d.loc["single", "dose"] == 50 and math.isnan(d.loc["single", "interval"])
    assert d.loc["weekly", "interval"] == 168  # 1 w in the model's hours
    assert dr.endpoints == ("Cmax(conc)",)
    # Cmax: 300/V at t = 0 dominates the maintenance doses here
    assert dr.to_frame().set_index("regimen").loc["load+maint", "median"] == pytest.approx(
        300 / V, rel=1e-6)


def test_list_of_notation_strings_and_default_target(pk):
    texts = ["100 mg iv at 0 h", "200 mg iv at 0 h"]
    dr = dose_response(pk, texts, np.linspace(0, 10, 11),
                       endpoints={"C0": metrics.conc_at("conc", 0)}, default_target="central")
    assert dr.regimens == tuple(texts)
    assert dr.to_frame()["median"].tolist() == pytest.approx([100 / V, 200 / V], rel=1e-9)


# ----------------------------------------------------------------------------- population
@pytest.fixture(scope="module")
def pop_result(pk_pop):
    regs = dose_grid("{dose} mg iv at 0 h", dose=[100, 200, 400])
    return dose_response(pk_pop, regs, np.linspace(0, 24, 49), n=120, rng=7,
                         endpoints={"Cmax": metrics.cmax("conc", unit="mg/L"),
                                    "C12": metrics.conc_at("conc", 12, unit="mg/L")},
                         targets={"Cmax": (">", 6.0), "C12": "<= 2"},
                         percentiles=(10, 50, 90))


def test_common_random_numbers_and_closed_form(pop_result):
    dr = pop_result
    subj = dr.subjects.set_index("ID")
    assert len(subj) == 120
    for reg, dose in (("dose=100", 100), ("dose=200", 200), ("dose=400", 400)):
        w = dr.values("Cmax")[reg]
        # the same subjects in every regimen: Cmax_i = dose / V_i exactly
        assert np.allclose(w.to_numpy(), dose / subj.loc[w.index, "V"].to_numpy(), rtol=1e-9)
        c12 = dr.values("C12")[reg]
        truth = dose / subj["V"] * np.exp(-subj["CL"] / subj["V"] * 12)
        assert np.all(np.abs(c12 - truth[c12.index]) / (1e-9 + 1e-6 * truth[c12.index]) < 20)


def test_summary_statistics_and_probability_of_target_by_hand(pop_result):
    dr = pop_result
    tab = dr.to_frame()
    assert list(tab.columns) == ["regimen", "dose", "interval", "endpoint", "unit", "n",
                                 "n_missing", "mean", "median", "p10", "p50", "p90", "target",
                                 "pta", "pta_lower", "pta_upper"]
    v = dr.endpoint_values
    z = stats.norm.ppf(0.975)
    for _, r in tab.iterrows():
        vals = v[(v["regimen"] == r["regimen"]) & (v["endpoint"] == r["endpoint"])]["value"]
        vals = vals.to_numpy()
        assert r["median"] == np.median(vals) and r["mean"] == pytest.approx(vals.mean())
        assert r["p10"] == pytest.approx(np.percentile(vals, 10))
        hits = sum(1 for x in vals if (x > 6.0 if r["endpoint"] == "Cmax" else x <= 2.0))
        assert r["pta"] == hits / len(vals)
        assert r["target"] == ("> 6" if r["endpoint"] == "Cmax" else "<= 2")
        # Wilson: the interval ends solve (p_hat - p)^2 = z^2 p (1 - p) / n
        p_hat, n = hits / len(vals), len(vals)
        for p in (r["pta_lower"], r["pta_upper"]):
            if 0 < p < 1:
                assert (p_hat - p) ** 2 == pytest.approx(z * z * p * (1 - p) / n, rel=1e-9)
        assert r["pta_lower"] <= p_hat <= r["pta_upper"]
    # 200 mg: median Cmax 200/32 = 6.25 mg/L, so some subjects reach > 6 and some do not
    p200 = tab.set_index(["regimen", "endpoint"]).loc[("dose=200", "Cmax"), "pta"]
    assert 0.2 < p200 < 0.8
    text = dr.summary()
    assert "P(Cmax > 6)" in text and "dose=400" in text
    assert repr(dr) == ("<DoseResponse 'pk_1cmt_iv': 3 regimens x 2 endpoints (Cmax, C12), "
                        "120 subjects>")


def test_time_courses_are_population_bands(pop_result):
    dr = pop_result
    b = dr.time_courses["dose=200"]
    assert list(b.columns) == ["output", "time", "p10", "p50", "p90"]
    c = b[b["output"] == "conc"].set_index("time")
    subj = dr.subjects
    for t in (0.0, 6.0, 24.0):
        conc = 200 / subj["V"] * np.exp(-subj["CL"] / subj["V"] * t)
        assert c.loc[t, "p50"] == pytest.approx(np.percentile(conc, 50), rel=1e-5)


def test_same_rng_same_result_different_rng_different(pk_pop):
    kw = dict(endpoints={"Cmax": metrics.cmax("conc")}, n=40)
    regs = {"a": "100 mg iv at 0 h", "b": "300 mg iv at 0 h"}
    t = np.linspace(0, 12, 25)
    a = dose_response(pk_pop, regs, t, rng=5, **kw)
    b = dose_response(pk_pop, regs, t, rng=5, **kw)
    c = dose_response(pk_pop, regs, t, rng=6, **kw)
    pd.testing.assert_frame_equal(a.endpoint_values, b.endpoint_values)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    assert not np.allclose(a.endpoint_values["value"], c.endpoint_values["value"])
    g = dose_response(pk_pop, regs, t, rng=np.random.default_rng(5), **kw)
    pd.testing.assert_frame_equal(a.endpoint_values, g.endpoint_values)
    assert a.provenance()["seed"] == 5 and g.provenance()["seed"] is None


def test_provenance_and_to_dict(pop_result, pk):
    p = pop_result.provenance()
    assert p["model"] == "pk_1cmt_iv"
    assert p["model_sha256"] == hashlib.sha256(pk.to_text().encode()).hexdigest()
    assert p["regimens"]["dose=100"] == "100 mg IV into central at hour 0"
    assert p["n"] == 120 and p["seed"] == 7
    assert (p["method"], p["rtol"], p["atol"]) == ("auto", 1e-6, 1e-9)
    assert p["percentiles"] == [10.0, 50.0, 90.0]
    assert p["population"]["iiv"] == {"CL": 0.3, "V": 0.25}
    d = pop_result.to_dict()
    assert d["schema"] == 1 and d["provenance"] == p
    assert len(d["endpoint_values"]["value"]) == 3 * 2 * 120


def test_nan_policy(pk_pop):
    # time for conc to fall below 5 mg/L after 300 mg (C0 = 300/V_i, about 9 mg/L): about 7 h
    # for a typical subject, NaN for subjects still above 5 mg/L at the end of the 10 h grid
    regs = {"300 mg": "300 mg iv at 0 h"}
    ep = {"t_below": metrics.time_to_below("conc", 5.0)}
    t = np.linspace(0, 10, 41)
    kw = dict(endpoints=ep, n=60, rng=3, targets={"t_below": ("<", 6)})
    dr = dose_response(pk_pop, regs, t, **kw)
    vals = dr.values("t_below")["300 mg"].to_numpy()
    nan = np.isnan(vals)
    assert 0 < nan.sum() < len(vals)  # the case this test is about
    row = dr.to_frame().iloc[0]
    assert row["n_missing"] == nan.sum() and math.isnan(row["median"]) and math.isnan(row["pta"])
    with pytest.raises(ValueError, match="missing"):
        dr.fit("t_below", model="emax")
    row = dose_response(pk_pop, regs, t, nan_policy="omit", **kw).to_frame().iloc[0]
    assert row["median"] == np.median(vals[~nan])
    assert row["pta"] == (vals[~nan] < 6).sum() / (~nan).sum()


# ----------------------------------------------------------------------------- fitting vs dose
@pytest.fixture(scope="module")
def emax_result():
    # emax_direct: effect = E0 + Emax*C/(EC50 + C), C = D/V exp(-CL/V t) after an IV bolus, so
    # the effect at t = 2 h is an exact Emax function of the dose with
    # ED50 = EC50 * V * exp(CL/V * 2). E0 varies (normal IIV) and adds to every dose alike.
    m = load_model("emax_direct")
    pop = Population(m, {"E0": 0.2}, distribution={"E0": "normal"})
    regs = dose_grid("{dose} mg iv at 0 h", dose=[5, 10, 20, 40, 80, 160, 320])
    dr = dose_response(pop, regs, np.linspace(0, 4, 9), n=60, rng=2,
                       endpoints={"E2": metrics.conc_at("effect", 2)}, rtol=1e-9, atol=1e-12)
    p = m.param_values
    return dr, p["EC50"] * p["V"] * math.exp(p["CL"] / p["V"] * 2), p


def test_emax_fit_recovers_ed50(emax_result):
    dr, ed50, p = emax_result
    f = dr.fit("E2", model="emax")
    assert f.success and f.n == 7 * 60
    assert f.ed50 == pytest.approx(ed50, rel=1e-4)
    assert f.params["Emax"] == pytest.approx(p["Emax"], rel=1e-4)
    assert f.params["E0"] == pytest.approx(dr.subjects["E0"].mean(), rel=1e-4)
    lo, hi = f.ed50_ci
    assert lo < ed50 < hi and f.ci_method["ED50"] == "profile"
    med = dr.fit("E2", model="emax", on="median")
    assert med.n == 7 and med.ed50 == pytest.approx(ed50, rel=1e-4)
    hill = dr.fit("E2", model="sigmoid_emax")
    assert hill.params["h"] == pytest.approx(1.0, rel=1e-3)
    assert hill.ed50 == pytest.approx(ed50, rel=1e-3)


def test_fit_errors(emax_result):
    dr, _, _ = emax_result
    with pytest.raises(ValueError, match="no endpoint 'E3'; endpoints are: E2"):
        dr.fit("E3")
    with pytest.raises(ValueError, match="x must be a column"):
        dr.fit("E2", x="amount")
    with pytest.raises(ValueError, match="not known for regimens"):
        dr.fit("E2", x="interval")
    with pytest.raises(ValueError, match="on must be"):
        dr.fit("E2", on="mean")


def test_plots(emax_result, pop_result):
    import matplotlib.pyplot as plt

    dr, _, _ = emax_result
    f = dr.fit("E2", model="emax")
    fig = dr.plot(fit=f, logx=True)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    x, y = ax.lines[0].get_data()  # the medians against dose
    assert list(x) == [5, 10, 20, 40, 80, 160, 320]
    assert np.allclose(y, dr.to_frame()["median"])
    assert len(ax.lines) == 2  # medians, fitted curve
    fig2 = pop_result.plot("timecourse")
    assert [ln.get_label() for ln in fig2.axes[0].lines] == list(pop_result.regimens)
    fig3 = pop_result.plot("target")
    assert len(fig3.axes) == 2
    heights = [b.get_height() for b in fig3.axes[0].patches]
    assert heights == pytest.approx(
        pop_result.to_frame().query("endpoint == 'Cmax'")["pta"].tolist())
    fig4 = f.plot()
    assert len(fig4.axes) == 1
    # the methods are thin wrappers of pkpd.plot: the same figure from the function
    from pkpd.plot import plot_curve_fit, plot_dose_response

    same = plot_dose_response(dr, "endpoint", fit=f, logx=True).axes[0]
    for a, b in zip(same.lines, ax.lines, strict=True):
        np.testing.assert_array_equal(a.get_xydata(), b.get_xydata())
    direct = plot_curve_fit(f).axes[0]
    np.testing.assert_array_equal(direct.lines[0].get_xydata(),
                                  fig4.axes[0].lines[0].get_xydata())
    _, panel = plt.subplots()
    assert plot_dose_response(pop_result, "timecourse", ax=panel) is panel.figure
    with pytest.raises(ValueError, match="kind must be"):
        dr.plot("bars")
    with pytest.raises(ValueError, match="no endpoint has a target"):
        dr.plot("target")
    plt.close("all")


# ----------------------------------------------------------------------------- bad input
def test_bad_inputs(pk, pk_pop):
    t = np.linspace(0, 10, 11)
    ok = {"C": metrics.cmax("conc")}
    with pytest.raises(ModelError, match="reads 'cnc'.*did you mean 'conc'"):
        dose_response(pk, ["100 mg at 0 h"], t, endpoints={"C": metrics.cmax("cnc")})
    with pytest.raises(ValueError, match="comparison must be one of"):
        dose_response(pk, ["100 mg at 0 h"], t, endpoints=ok, targets={"C": ("=<", 1)})
    with pytest.raises(ValueError, match="not an endpoint"):
        dose_response(pk, ["100 mg at 0 h"], t, endpoints=ok, targets={"Cmax": ("<", 1)})
    with pytest.raises(ValueError, match="threshold must be a number"):
        dose_response(pk, ["100 mg at 0 h"], t, endpoints=ok, targets={"C": ("<", "low")})
    with pytest.raises(ValueError, match="regimens is empty"):
        dose_response(pk, {}, t, endpoints=ok)
    with pytest.raises(ValueError, match="endpoints is empty"):
        dose_response(pk, ["100 mg at 0 h"], t, endpoints={})
    with pytest.raises(RegimenError, match="regimen '100 mg every 6 months x 2'.*months"):
        dose_response(pk, ["100 mg every 6 months x 2"], t, endpoints=ok)
    with pytest.raises(RegimenError, match="'gut' is not a state"):
        dose_response(pk, ["100 mg into gut at 0 h"], t, endpoints=ok)
    with pytest.raises(RegimenError, match="differs from the unit 'mg'"):
        dose_response(pk, ["100 ug at 0 h"], t, endpoints=ok)
    with pytest.raises(RegimenError, match="no 'regimen.weekly:' header; add a line"):
        dose_response(pk, {"w": "weekly"}, t, endpoints=ok)
    with pytest.raises(ValueError, match="n must be a positive whole number"):
        dose_response(pk_pop, ["100 mg at 0 h"], t, endpoints=ok, n=0)
    with pytest.raises(ValueError, match="nan_policy"):
        dose_response(pk, ["100 mg at 0 h"], t, endpoints=ok, nan_policy="drop")
    with pytest.raises(TypeError, match="Population or a Model"):
        dose_response("pk_1cmt_iv", ["100 mg at 0 h"], t, endpoints=ok)
    with pytest.raises(ValueError, match="occurs twice"):
        dose_response(pk, ["100 mg at 0 h", "100 mg at 0 h"], t, endpoints=ok)
    with pytest.raises(ValueError, match="endpoint 'late' on regimen"):
        dose_response(pk, ["100 mg at 0 h"], t,
                      endpoints={"late": metrics.conc_at("conc", 50)})
    with pytest.raises(ValueError, match="dose must be a non-zero"):
        trough("conc", 0)
    with pytest.raises(RegimenError, match="trough before dose 3: the regimen has 2"):
        dose_response(pk, ["100 mg every 4 h x 2"], t, endpoints={"tr": trough("conc", 3)})


# ----------------------------------------------------------------------------- library model
def test_ocrelizumab_longer_interval_gives_higher_trough_bcells():
    m = load_model("ocrelizumab_bcell")
    pop = Population(m, {"CLinf": 0.3, "B0": 0.3, "kout": 0.3, "EC50": 0.3})
    label = "300 mg iv over 2.5 h at 0, 14 d; 600 mg iv over 3.5 h every {} w x 4 from 24 w"
    regs = {"600 mg q24w": label.format(24), "600 mg q36w": label.format(36)}
    # the 4th infusion: week 48 (day 336) for q24w, week 60 (day 420) for q36w
    times = np.unique(np.r_[np.linspace(0, 430, 87), 336 - 1e-6, 420 - 1e-6])
    dr = dose_response(pop, regs, times, n=6, rng=11,
                       endpoints={"trough": trough("bcells", 4, unit="cells/uL")},
                       targets={"trough": ("<", 10)})
    assert isinstance(dr, DoseResponse)
    d = dr.design.set_index("regimen")
    assert d["dose"].tolist() == [600, 600] and d["interval"].tolist() == [168, 252]
    med = dr.to_frame().set_index("regimen")["median"]
    assert med["600 mg q36w"] > med["600 mg q24w"] * 1.01
    w = dr.values("trough")
    assert (w["600 mg q36w"] >= w["600 mg q24w"]).all()  # the same subjects: each one
    assert dr.to_frame()["unit"].tolist() == ["cells/uL", "cells/uL"]
    # regimens named by the model file's headers (regimen:, regimen.extended_interval:)
    typical = dose_response(m, ["default", "extended_interval"], times,
                            endpoints={"trough": trough("bcells", 4)})
    assert typical.regimen_values["default"] == dr.regimen_values["600 mg q24w"]
    assert typical.design["interval"].tolist() == [168, 252]


# ----------------------------------------------------------------------------- curves
def test_curve_functions_at_known_points():
    assert emax(20.0, 10, 50, 20) == 35.0
    assert sigmoid_emax(2.0, 1, 4, 2, 3) == 3.0
    assert sigmoid_emax(0.0, 1, 4, 2, 3) == 1.0
    assert sigmoid_emax(1e300, 1, 4, 2, 30) == 5.0  # no overflow
    assert loglogistic4(0.0, 2, 0.5, 8, 3) == 8.0
    assert loglogistic4(3.0, 2, 0.5, 8, 3) == 4.25
    assert loglogistic4(0.0, -2, 0.5, 8, 3) == 0.5
    assert michaelis_menten(0.5, 200, 0.5) == 100.0


def test_sigmoid_emax_parameter_recovery(rng):
    x = np.repeat([0, 0.5, 1, 2, 4, 8, 16, 32.0], 5)
    truth = {"E0": 5.0, "Emax": 20.0, "ED50": 3.0, "h": 2.0}
    y = sigmoid_emax(x, **truth) + rng.normal(0, 1.0, x.size)
    res = fit_curve(x, y, "sigmoid_emax")
    assert res.success
    for k, v in truth.items():
        assert abs(res.params[k] - v) < 3 * res.stderr[k], k
        lo, hi = res.ci[k]
        assert lo < res.params[k] < hi
    assert res.residual_sd == pytest.approx(1.0, rel=0.3)
    assert np.allclose(res.residuals, y - res.predict(x))
    frame = res.to_frame()
    assert frame["name"].tolist() == ["E0", "Emax", "ED50", "h"]
    assert "[[Confidence intervals]] (95%)" in res.summary()
    assert repr(res).startswith("<CurveFit 'sigmoid_emax' converged: E0=")


def test_increasing_4pl_keeps_c_below_d(rng):
    x = np.repeat([0, 0.5, 1, 2, 4, 8, 16.0], 4)
    y = loglogistic4(x, -1.5, 1, 10, 2) + rng.normal(0, 0.3, x.size)
    res = fit_curve(x, y, "ll4")
    assert res.model == "4pl" and res.params["c"] < res.params["d"] and res.params["b"] < 0
    assert abs(res.params["e"] - 2) < 3 * res.stderr["e"]


def test_weights_and_init_and_bounds():
    x = np.array([0.02, 0.06, 0.11, 0.22, 0.56, 1.1])
    y = michaelis_menten(x, 200, 0.06) * np.array([1.01, 0.98, 1.02, 0.99, 1.0, 1.01])
    w = 1 / y  # proportional error
    res = fit_curve(x, y, "mm", weights=w, init={"Km": 0.1})
    assert res.init["Km"] == 0.1
    r = w * (y - michaelis_menten(x, **res.params))
    assert res.rss == pytest.approx(float(r @ r))
    fixed = fit_curve(x, y, "mm", bounds={"Vmax": (0, 150)})
    assert fixed.params["Vmax"] == pytest.approx(150) and fixed.at_bound == {"Vmax": "upper"}


def test_wald_fallback_and_exact_fit(rng):
    # linear data: Emax and ED50 run off together, their profiles never close
    x = np.repeat([0, 1, 2, 3, 4, 5.0], 3)
    y = 2 + 0.5 * x + rng.normal(0, 0.3, x.size)
    res = fit_curve(x, y, "emax")
    assert res.wald and res.ci_method["ED50"] == "wald"
    assert "wald" in res.summary()
    exact = fit_curve([0, 1, 4.0], [1, 2, 2.5], "emax")
    assert exact.dof == 0 and math.isnan(exact.stderr["ED50"])
    assert exact.ci_method["ED50"] == "none"
    assert np.allclose(exact.predict([0, 1, 4.0]), [1, 2, 2.5], atol=1e-6)


@pytest.mark.parametrize("x, y, model, kw, match", [
    ([0, 1, np.nan, 3], [1, 2, 3, 4], "emax", {}, "x must be finite; position 2"),
    ([0, 1, 2, 3], [1, 2, np.inf, 4], "emax", {}, "y must be finite"),
    ([-1, 1, 2, 3, 4], [1, 2, 3, 4, 5], "4pl", {}, "x must be >= 0"),
    ([-1, 1, 2, 3, 4], [1, 2, 3, 4, 5], "sigmoid_emax", {}, "x must be >= 0"),
    ([1, 2, 3], [1, 2, 3], "4pl", {}, "only 3 points"),
    ([1, 2, 3, 4], [1, 2, 3], "emax", {}, "same length"),
    ([1, 1, 2, 2], [1, 2, 3, 4], "emax", {}, "only 2 distinct"),
    ([1, 2, 3, 4], [1, 2, 3, 4], "logistic", {}, "unknown curve model"),
    ([1, 2, 3, 4], [1, 2, 3, 4], "emax", {"init": {"EC50": 1}}, "no parameter 'EC50'"),
    ([1, 2, 3, 4], [1, 2, 3, 4], "emax", {"weights": [1, 1, 0, 1]}, "weights must be > 0"),
    ([1, 2, 3, 4], [1, 2, 3, 4], "emax", {"weights": [1, 1]}, "length of x"),
    ([1, 2, 3, 4], [1, 2, 3, 4], "emax", {"bounds": {"ED50": (5, 1)}}, "must be below"),
    ([1, 2, 3, 4], [1, 2, 3, 4], "emax", {"init": {"ED50": -1}}, "outside its bounds"),
    ([1, 2, 3, 4], [1, 2, 3, 4], "emax", {"confidence": 95}, "confidence"),
    ([[1, 2], [3, 4]], [1, 2, 3, 4], "emax", {}, "1-D"),
])
def test_fit_curve_bad_input(x, y, model, kw, match):
    with pytest.raises(ValueError, match=match):
        fit_curve(x, y, model, **kw)


def test_wilson_bounds_are_exact_at_zero_and_full_attainment():
    from pkpd.dose_response import _wilson

    z = stats.norm.ppf(0.975)
    for n in range(1, 201):
        lo, hi = _wilson(n, n, 0.95)
        assert hi == 1.0 and lo == pytest.approx(n / (n + z * z), rel=1e-12)
        lo, hi = _wilson(0, n, 0.95)
        assert lo == 0.0 and hi == pytest.approx(z * z / (n + z * z), rel=1e-12)


def test_target_plot_with_full_attainment():
    m = load_model("pk_1cmt_iv")
    dr = dose_response(Population(m, {"CL": 0.3}), {"q12": "100 mg iv every 12 h x 4"},
                       np.arange(0, 48.01, 0.5), n=10, rng=1,
                       endpoints={"tr": trough("conc")}, targets={"tr": "> 0"})
    row = dr.to_frame().iloc[0]
    assert row["pta"] == 1.0 and row["pta_upper"] == 1.0
    fig = dr.plot("target")
    matplotlib.pyplot.close(fig)


def test_wald_intervals_stay_within_the_bounds():
    # a decreasing sigmoid fitted with Michaelis-Menten drives Km to its lower bound 0
    rng = np.random.default_rng(0)
    x = np.repeat([0, 1, 3, 10, 30, 100, 300.0], 3)
    y = sigmoid_emax(x, 100, -90, 20, 1.5) + rng.normal(0, 4, x.size)
    r = fit_curve(x, y, "mm")
    lo, hi = r.ci["Km"]
    assert r.ci_method["Km"] == "wald" and lo == 0.0 and hi > 0
    assert "clipped to the parameter's bounds" in r.summary()
