"""Endpoints against closed-form truth: exponentials, the Bateman function,
and piecewise-linear curves on which linear interpolation is exact."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest

from pkpd.errors import DataError
from pkpd.metrics import (
    Endpoint,
    auc,
    cmax,
    cmin,
    conc_at,
    ctrough,
    fraction_in_range,
    nadir,
    pct_change_from_baseline,
    percentile_summary,
    probability,
    time_above,
    time_below,
    time_of_nadir,
    time_to_below,
    time_to_recovery,
    tmax,
)

# A sawtooth on which every crossing of 20 is 2 time units from a vertex:
# down 100 -> 0 on [0, 10] and [20, 30], up 0 -> 100 on [10, 20] and [30, 40].
SAW_T = np.array([0.0, 10.0, 20.0, 30.0, 40.0])
SAW_Y = np.array([100.0, 0.0, 100.0, 0.0, 100.0])


def saw(e: Endpoint) -> float:
    return e((SAW_T, SAW_Y))


# --- AUC ---------------------------------------------------------------------


def test_auc_trapezoid_on_exponential_within_the_trapezoid_error_bound():
    k, T, n = 0.3, 24.0, 2001
    t = np.linspace(0.0, T, n)
    h = t[1] - t[0]
    exact = (1 - math.exp(-k * T)) / k
    value = auc("c")((t, np.exp(-k * t)))
    # Composite trapezoid error = T h^2 / 12 * y''(xi), with 0 < y'' <= k^2:
    # the rule overestimates a convex curve, by at most T h^2 k^2 / 12.
    assert 0 < value - exact <= T * h**2 * k**2 / 12


def test_auc_linlog_is_exact_for_an_exponential_on_a_coarse_grid():
    k = 0.2
    t = np.array([0.0, 1.0, 5.0, 12.0, 30.0, 72.0])
    y = 7.0 * np.exp(-k * t)
    exact = 7.0 * (math.exp(-k * 0.5) - math.exp(-k * 50.0)) / k
    # The window edges 0.5 and 50 fall between grid points: they are
    # interpolated log-linearly, so the result stays exact.
    value = auc("c", 0.5, 50.0, method="linlog")((t, y))
    assert value == pytest.approx(exact, rel=1e-12)
    assert auc("c", 0.5, 50.0)((t, y)) > exact * 1.1  # linear trapezoids overestimate


def test_auc_linlog_is_linear_where_the_curve_rises_or_touches_zero():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    y = np.array([0.0, 4.0, 2.0, 0.0])
    # rise 0->4: linear 2; fall 4->2: exponential 2/ln 2; fall to 0: linear 1
    assert auc("c", method="linlog")((t, y)) == pytest.approx(2 + 2 / math.log(2) + 1, rel=1e-14)


def test_auc_window_on_piecewise_linear_curve_is_exact():
    # Window [5, 25] of the sawtooth: 5->10 (50->0): 125; 10->20: 500; 20->25 (100->50): 375
    assert saw(auc("c", 5, 25)) == pytest.approx(1000.0, rel=1e-14)
    assert saw(auc("c")) == pytest.approx(2000.0, rel=1e-14)
    assert saw(auc("c", end=5)) == pytest.approx(375.0, rel=1e-14)
    assert saw(auc("c", start=35)) == pytest.approx(375.0, rel=1e-14)


# --- Cmax, tmax, Cmin, nadir ----------------------------------------------------


def test_cmax_tmax_of_the_bateman_function():
    ka, k = 1.5, 0.1
    t = np.linspace(0.0, 48.0, 4801)
    h = t[1] - t[0]
    y = ka / (ka - k) * (np.exp(-k * t) - np.exp(-ka * t))
    t_true = math.log(ka / k) / (ka - k)
    c_true = ka / (ka - k) * (math.exp(-k * t_true) - math.exp(-ka * t_true))
    # The best grid point is within h/2 of the peak; there y lies below the
    # peak by at most max|y''| (h/2)^2 / 2.
    curvature = ka / (ka - k) * (k**2 + ka**2)
    assert abs(tmax("c")((t, y)) - t_true) <= h / 2 + 1e-12
    assert 0 <= c_true - cmax("c")((t, y)) <= curvature * (h / 2) ** 2 / 2


def test_window_edges_are_interpolated_for_extremes():
    # On [12, 18] the sawtooth rises 20 -> 80: max at the right edge, min at the left.
    assert saw(cmax("c", 12, 18)) == pytest.approx(80.0)
    assert saw(tmax("c", 12, 18)) == 18.0
    assert saw(cmin("c", 12, 18)) == pytest.approx(20.0)
    assert saw(time_of_nadir("c", 12, 18)) == 12.0


def test_nadir_and_time_of_nadir_of_a_depletion_curve():
    # B(t) = 100 (1 - 0.95 (t/tau) e^(1 - t/tau)) has its minimum 5 at t = tau.
    tau = 14.0
    t = np.linspace(0.0, 140.0, 1001)  # tau is a grid point
    y = 100 * (1 - 0.95 * (t / tau) * np.exp(1 - t / tau))
    assert nadir("B")((t, y)) == pytest.approx(5.0, rel=1e-12)
    assert cmin("B")((t, y)) == pytest.approx(5.0, rel=1e-12)
    assert time_of_nadir("B")((t, y)) == pytest.approx(tau, rel=1e-12)


def test_ties_give_the_first_time():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    assert tmax("c")((t, np.array([1.0, 5.0, 5.0, 0.0]))) == 1.0
    assert time_of_nadir("c")((t, np.array([1.0, 0.0, 3.0, 0.0]))) == 1.0


# --- point values ---------------------------------------------------------------


def test_ctrough_takes_the_last_value_before_the_dose():
    t = np.array([0.0, 100.0, 167.999, 168.0, 200.0])
    y = np.array([10.0, 3.0, 1.5, 11.5, 8.0])  # 11.5: post-dose value at 168
    assert ctrough("c", 168)((t, y)) == 1.5
    assert ctrough("c", 168)((np.delete(t, 2), np.delete(y, 2))) == 3.0  # no pre-dose point
    assert ctrough("c", 200)((t, y)) == 11.5  # the end of the grid is allowed


def test_ctrough_treats_round_off_below_the_dose_time_as_the_dose_time():
    t = np.array([0.0, 0.1, np.nextafter(0.3, 0.0), 0.5])
    y = np.array([5.0, 4.0, 9.0, 8.0])
    assert ctrough("c", 0.3)((t, y)) == 4.0


@pytest.mark.parametrize("time", [0.0, -1.0, 200.5])
def test_ctrough_outside_the_grid_raises(time):
    t = np.array([0.0, 100.0, 200.0])
    with pytest.raises(ValueError, match=r"Ctrough\(c, .*\[0, 200\]"):
        ctrough("c", time)((t, np.ones(3)))


def test_conc_at_interpolates_linearly_and_reads_grid_points_exactly():
    assert saw(conc_at("c", 12.5)) == pytest.approx(25.0)
    assert saw(conc_at("c", 10)) == 0.0
    assert saw(conc_at("c", 40)) == 100.0
    with pytest.raises(ValueError, match=r"c\(t=41\): time 41 is outside the time grid \[0, 40\]"):
        saw(conc_at("c", 41))


def test_pct_change_from_baseline():
    assert saw(pct_change_from_baseline("c", 5)) == pytest.approx(-50.0)
    assert saw(pct_change_from_baseline("c", 20, baseline_time=5)) == pytest.approx(100.0)
    # A zero baseline has no relative change: NaN, and no warning.
    assert math.isnan(saw(pct_change_from_baseline("c", 20, baseline_time=10)))


# --- time below / above / in range, crossings --------------------------------


def test_time_below_and_above_are_exact_on_a_sawtooth():
    assert saw(time_below("c", 20)) == pytest.approx(8.0, rel=1e-14)
    assert saw(time_above("c", 20)) == pytest.approx(32.0, rel=1e-14)
    assert saw(time_below("c", 20, 5, 25)) == pytest.approx(4.0, rel=1e-14)
    assert saw(time_above("c", 20, 5, 25)) == pytest.approx(16.0, rel=1e-14)
    assert saw(time_below("c", 150)) == 40.0
    assert saw(time_above("c", 150)) == 0.0


def test_time_exactly_at_the_threshold_counts_neither_below_nor_above():
    t = np.array([0.0, 1.0, 3.0])
    y = np.array([20.0, 20.0, 40.0])
    assert time_below("c", 20)((t, y)) == 0.0
    assert time_above("c", 20)((t, y)) == 2.0
    assert fraction_in_range("c", 20, 30)((t, y)) == pytest.approx(2.0 / 3.0)


def test_fraction_in_range_is_exact_on_a_sawtooth():
    # Every one of the four segments spends 4 of its 10 units in [20, 60].
    assert saw(fraction_in_range("c", 20, 60)) == pytest.approx(0.4, rel=1e-14)
    assert saw(fraction_in_range("c", 20, 60, 10, 20)) == pytest.approx(0.4, rel=1e-14)
    assert saw(fraction_in_range("c", -5, 200)) == 1.0
    assert saw(fraction_in_range("c", 50, 50)) == 0.0


def test_time_to_below_is_measured_from_after():
    assert saw(time_to_below("c", 20)) == pytest.approx(8.0)
    assert saw(time_to_below("c", 20, after=15)) == pytest.approx(13.0)  # crossing at 28
    assert saw(time_to_below("c", 20, after=10)) == 0.0  # already below
    assert math.isnan(saw(time_to_below("c", -1)))


def test_time_to_recovery_is_the_first_upward_crossing_after_after():
    assert saw(time_to_recovery("c", 20, after=10)) == pytest.approx(2.0)  # 0 at 10, 20 at 12
    # At 5 the curve is still above 20; it dips at 8 and recovers at 12.
    assert saw(time_to_recovery("c", 20, after=5)) == pytest.approx(7.0)
    assert saw(time_to_recovery("c", 20, after=25)) == pytest.approx(7.0)
    # Never below after 35, and never back above 150: no recovery.
    assert math.isnan(saw(time_to_recovery("c", 20, after=35)))
    assert math.isnan(saw(time_to_recovery("c", 150, after=0)))


def test_time_to_recovery_of_exponential_repletion():
    # B(t) = 100 - 95 e^(-r (t - 168)) after the last dose at 168 reaches 80 at 168 + ln(95/20)/r.
    r = 0.01
    t = np.linspace(168.0, 1000.0, 83201)
    y = 100 - 95 * np.exp(-r * (t - 168))
    exact = math.log(95 / 20) / r
    h = t[1] - t[0]
    # The chord lies below a concave curve, so the crossing comes late by at most
    # h^2 max|y''| / (8 y'(crossing)) = h^2 r / 8 (y'' = -r y', y' decreasing).
    value = time_to_recovery("B", 80, after=168)((t, y))
    assert 0 <= value - exact <= h**2 * r / 8 + 1e-9


@pytest.mark.parametrize("after", [-1.0, 40.0, 41.0])
def test_crossing_search_must_start_inside_the_grid(after):
    with pytest.raises(ValueError, match=r"'after' = .* must lie in the time grid \[0, 40\]"):
        saw(time_to_recovery("c", 20, after=after))


# --- vectorisation, NaN, frames ----------------------------------------------

ENDPOINTS = [
    auc("c", 1.5, 30.2),
    auc("c", 1.5, 30.2, method="linlog"),
    cmax("c", 2, 20),
    tmax("c"),
    cmin("c", 3.3),
    nadir("c"),
    time_of_nadir("c", end=25),
    ctrough("c", 24),
    conc_at("c", 7.25),
    pct_change_from_baseline("c", 12, baseline_time=1),
    time_below("c", 0.5, 1, 30),
    time_above("c", 0.5),
    time_to_below("c", 0.3, after=2),
    time_to_recovery("c", 0.6, after=5),
    fraction_in_range("c", 0.3, 0.7, 2, 35),
]


def random_curves(shape, rng):
    t = np.sort(rng.uniform(0.0, 40.0, 60))
    t[0], t[-1] = 0.0, 40.0
    return t, rng.uniform(0.05, 1.0, (*shape, t.size))


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_rows_are_independent_subjects(endpoint):
    rng = np.random.default_rng(0)
    t, y = random_curves((3, 4), rng)
    values = endpoint((t, y))
    assert values.shape == (3, 4)
    expected = np.array([[endpoint((t, y[i, j])) for j in range(4)] for i in range(3)])
    # Equal up to summation order (BLAS sums a matrix-vector product in blocks).
    np.testing.assert_allclose(values, expected, rtol=1e-13, atol=0)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_nan_in_a_read_sample_makes_only_that_subject_nan(endpoint):
    # NaN at 7.25 (conc_at), 12 (pct_change) and 23.9 (the last point before
    # ctrough's 24), all inside every window.
    t = np.union1d(np.linspace(0.0, 40.0, 41), [7.25, 23.9])
    y = np.random.default_rng(1).uniform(0.05, 1.0, (3, t.size))
    clean = endpoint((t, y))
    assert np.isfinite(clean).all()
    y[1, np.isin(t, [7.25, 12.0, 23.9])] = np.nan
    values = endpoint((t, y))
    assert math.isnan(values[1])
    np.testing.assert_array_equal(values[[0, 2]], clean[[0, 2]])


def test_nan_outside_the_samples_read_is_ignored():
    t, y = SAW_T, SAW_Y.copy()
    y[0] = np.nan
    assert saw(cmax("c", 10)) == cmax("c", 10)((t, y))
    assert conc_at("c", 25)((t, y)) == 50.0


@pytest.mark.parametrize("shuffle", [False, True])
def test_dataframe_with_ids_gives_a_series_by_id(shuffle):
    rng = np.random.default_rng(2)
    t, y = random_curves((3,), rng)
    frame = pd.DataFrame(
        {"ID": np.repeat([7, 3, 5], t.size), "time": np.tile(t, 3), "c": y.ravel(), "other": 0.0}
    )
    if shuffle:  # row order must not matter
        frame = frame.sample(frac=1.0, random_state=0)
    e = auc("c", 1, 30)
    values = e(frame)
    assert isinstance(values, pd.Series)
    assert values.name == e.name and values.index.name == "ID"
    assert list(values.index) == [3, 5, 7]
    np.testing.assert_allclose(values.to_numpy(), e((t, y[[1, 2, 0]])), rtol=1e-14)


def test_dataframe_subjects_on_different_grids():
    frame = pd.DataFrame(
        {
            "ID": ["a", "a", "a", "b", "b"],
            "TIME": [0.0, 10.0, 20.0, 0.0, 20.0],
            "c": [0.0, 10.0, 0.0, 4.0, 4.0],
        }
    )
    values = auc("c")(frame)
    np.testing.assert_allclose(values.to_numpy(), [100.0, 80.0])
    assert list(values.index) == ["a", "b"]
    with pytest.raises(ValueError, match=r"ID 'b': .*time grid must be strictly increasing"):
        auc("c")(pd.concat([frame, frame.iloc[[4]]]))


def test_dataframe_without_ids_and_results_with_to_frame():
    frame = pd.DataFrame({"time": SAW_T[::-1], "c": SAW_Y[::-1]})
    assert auc("c")(frame) == pytest.approx(2000.0)

    class Result:
        def to_frame(self):
            return frame

    assert isinstance(auc("c")(Result()), float)
    assert auc("c")(Result()) == pytest.approx(2000.0)


def test_dataframe_missing_columns_raise_data_errors():
    frame = pd.DataFrame({"time": SAW_T, "conc": SAW_Y})
    with pytest.raises(DataError, match=r"no column 'cnc'; did you mean 'conc'\?"):
        auc("cnc")(frame)
    with pytest.raises(DataError, match="no 'time' column"):
        auc("conc")(frame.rename(columns={"time": "t"}))
    with pytest.raises(DataError, match="has no rows"):
        auc("conc")(pd.DataFrame({"ID": [], "time": [], "conc": []}))
    with pytest.raises(DataError, match="the row at position 1 has no ID"):
        auc("conc")(pd.DataFrame({"ID": [1, None], "time": [0.0, 1.0], "conc": [1.0, 2.0]}))
    with pytest.raises(TypeError, match="expected a DataFrame"):
        auc("conc")([SAW_T, SAW_Y])


def test_population_scale_input():
    t = np.linspace(0.0, 730.0, 731)
    k = np.linspace(0.001, 0.1, 10_000)[:, None]
    values = auc("c", method="linlog")((t, np.exp(-k * t)))
    np.testing.assert_allclose(values, (1 - np.exp(-k[:, 0] * 730.0)) / k[:, 0], rtol=1e-12)


# --- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        (
            auc("c", -1, 10),
            r"AUC\(c, -1-10\): window \[-1, 10\] reaches outside the time grid \[0, 40\]",
        ),
        (cmax("c", 10, 45), r"Cmax\(c, 10-45\): window \[10, 45\] reaches outside"),
        (time_below("c", 1, start=40), r"window \[40, 40\] is empty"),
        (time_above("c", 1, end=0), r"window \[0, 0\] is empty"),
    ],
)
def test_windows_outside_the_grid_raise(endpoint, message):
    with pytest.raises(ValueError, match=message):
        saw(endpoint)


def test_round_off_at_the_grid_ends_is_tolerated():
    t = np.arange(0.0, 2.05, 0.1)  # last point is 2.0000000000000004
    y = np.ones_like(t)
    assert auc("c", 0.1 * 3, 2.0)((t, y)) == pytest.approx(1.7)
    assert auc("c", 0, 2.0000000000000013)((t, y)) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: auc("c", 10, 5), ValueError, "start must be before end"),
        (lambda: auc("c", method="log"), ValueError, "method must be 'linear' or 'linlog'"),
        (lambda: time_below("c", math.nan), ValueError, "threshold must be finite"),
        (lambda: time_to_recovery("c", math.inf, after=0), ValueError, "threshold must be finite"),
        (lambda: time_above("c", "10"), TypeError, "threshold must be a number"),
        (lambda: fraction_in_range("c", 5, 1), ValueError, "low must not exceed high"),
        (lambda: conc_at("c", None), TypeError, "time must be a number"),
        (lambda: cmax(""), TypeError, "output must be a non-empty column name"),
    ],
)
def test_bad_arguments_are_rejected_at_construction(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize(
    ("t", "y", "message"),
    [
        (np.array([0.0, 2.0, 1.0]), np.ones(3), r"strictly increasing; t\[2\]=1 follows t\[1\]=2"),
        (np.array([0.0, 1.0, 1.0]), np.ones(3), "strictly increasing"),
        (np.array([0.0, np.nan]), np.ones(2), "NaN or inf"),
        (np.array([0.0]), np.ones(1), "at least 2 points"),
        (np.array([0.0, 1.0]), np.ones(3), r"shape \(\.\.\., 2\)"),
    ],
)
def test_bad_grids_are_rejected(t, y, message):
    with pytest.raises(ValueError, match=message):
        auc("c")((t, y))
    with pytest.raises(ValueError, match=message):
        time_to_recovery("c", 1.0, after=0).evaluate(t, y)  # the direct path checks too


# --- values, names and units -------------------------------------------------


def test_names_units_and_repr():
    e = auc("conc", 0, 168, unit="mg/L", time_unit="day")
    assert (e.name, e.unit, e.output) == ("AUC(conc, 0-168)", "mg/L*day", "conc")
    assert repr(e) == "<Endpoint 'AUC(conc, 0-168)' [mg/L*day] of 'conc'>"
    assert auc("conc", unit="mg/L").unit == ""  # no time unit, no derived unit
    assert auc("conc", start=14).name == "AUC(conc, 14-last)"
    assert tmax("conc", time_unit="h").unit == "h"
    assert cmax("conc", unit="mg/L").unit == "mg/L"
    assert pct_change_from_baseline("B", 14).unit == "%"
    assert fraction_in_range("c", 1, 2).unit == "1"
    tb = time_below("B", 10, 0, 168, unit="cells/uL", time_unit="day")
    assert (tb.name, tb.unit) == ("time(B < 10 cells/uL, 0-168)", "day")
    rec = time_to_recovery("B", 80, after=168, unit="cells/uL", time_unit="day")
    assert rec.name == "time to B >= 80 cells/uL after 168"
    assert e.with_unit("ug/mL*d").unit == "ug/mL*d" and e.unit == "mg/L*day"


def test_endpoints_are_frozen_and_pickle():
    e = time_to_recovery("B", 80, after=168)
    with pytest.raises(AttributeError):
        e.unit = "h"  # type: ignore[misc]
    copy = pickle.loads(pickle.dumps(e))
    assert copy.name == e.name
    assert saw(time_to_recovery("c", 20, after=5)) == pickle.loads(
        pickle.dumps(time_to_recovery("c", 20, after=5))
    )((SAW_T, SAW_Y))


# --- summaries ---------------------------------------------------------------


def test_percentile_summary():
    values = np.column_stack([np.arange(101.0), 2 * np.arange(101.0)])
    np.testing.assert_allclose(percentile_summary(values), [[5, 10], [50, 100], [95, 190]])
    np.testing.assert_allclose(percentile_summary(pd.Series([3.0, 1.0, 2.0]), (0, 100)), [1, 3])
    with_nan = np.array([1.0, np.nan, 3.0])
    assert np.isnan(percentile_summary(with_nan)).all()
    np.testing.assert_allclose(percentile_summary(with_nan, (50,), nan_policy="omit"), [2.0])
    assert np.isnan(percentile_summary(np.full(3, np.nan), nan_policy="omit")).all()
    with pytest.raises(ValueError, match=r"percentiles must be .* in \[0, 100\]"):
        percentile_summary(values, (50, 101))
    with pytest.raises(ValueError, match="nan_policy"):
        percentile_summary(values, nan_policy="drop")


def test_probability_of_target_attainment():
    trough = np.array([2.0, 8.0, 12.0, 9.5, 10.0])
    assert probability(trough, below=10) == pytest.approx(0.6)  # strict: 10 is not below 10
    assert probability(trough, above=9) == pytest.approx(0.6)
    assert probability(trough, above=5, below=10) == pytest.approx(0.4)
    np.testing.assert_allclose(
        probability(np.array([[1.0, 20.0], [5.0, 30.0]]), below=10), [1.0, 0.0]
    )
    with_nan = np.array([1.0, np.nan, 30.0])
    assert math.isnan(probability(with_nan, below=10))
    assert probability(with_nan, below=10, nan_policy="omit") == 0.5
    with pytest.raises(ValueError, match="give a target"):
        probability(trough)
    with pytest.raises(ValueError, match="below must be finite"):
        probability(trough, below=math.nan)


def test_a_failing_subject_is_named_by_its_plain_id():
    # subjects on different grids go one by one; the error names the subject as "ID 2"
    df = pd.DataFrame({"ID": np.array([1, 1, 1, 2, 2], dtype=np.int64),
                       "time": [0.0, 1.0, 2.0, 0.0, 0.5], "conc": [1.0, 2.0, 3.0, 1.0, 2.0]})
    with pytest.raises(ValueError, match=r"^ID 2: "):
        conc_at("conc", 1.5)(df)
