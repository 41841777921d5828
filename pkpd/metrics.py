"""Endpoints: derived quantities of simulated or observed time courses.

An :class:`Endpoint` turns one output's time course into one number per
subject: AUC over a window, Cmax, tmax, Ctrough, the value at a time, nadir,
percent change from baseline, time below or above a threshold, time to
recovery, fraction of time in a range. Endpoints are values (frozen, named,
with units for tables) built by the functions of this module, and are
evaluated on a whole population at once with numpy.

Conventions (the same for every endpoint)
-----------------------------------------
- **Grid.** ``t`` is a strictly increasing 1-D time grid of at least two
  points; ``y`` has shape ``(..., len(t))``, one row per subject. The curve
  between grid points is the straight line through them (the ``"linlog"``
  AUC alone uses a log-linear piece where the curve decreases). Point values
  (:func:`conc_at`, :func:`pct_change_from_baseline`) are linear
  interpolations; crossing times and times below/above/in range are exact
  for this piecewise-linear curve.
- **Windows.** ``start=None``/``end=None`` mean the first/last grid time. A
  window is clipped out of the curve, interpolating it at ``start`` and
  ``end``. A window reaching outside the grid raises ``ValueError`` (the
  curve is unknown there); times within a relative ``1e-11`` of the grid's
  ends count as on the grid, to absorb round-off.
- **Dose times.** pkpd reports the *post-dose* value at a dose time, so the
  value at an exact dose time is the post-dose value, and :func:`ctrough`
  takes the value at the last grid time strictly before the dose. Put a grid
  point just before each dose whose trough you need.
- **Missing values.** A NaN among the samples an endpoint reads makes that
  subject's result NaN: nothing is dropped silently.
- **Units.** ``unit`` is the output's unit, ``time_unit`` the grid's; they
  only label results (``"mg/L"`` and ``"day"`` make an AUC in
  ``"mg/L*day"``). Empty strings leave a derived unit empty.

Examples
--------
>>> import numpy as np
>>> from pkpd.metrics import auc, cmax, time_to_recovery
>>> t = np.linspace(0.0, 10.0, 11)
>>> y = np.vstack([np.exp(-0.3 * t), 2 * np.exp(-0.3 * t)])  # two subjects
>>> e = auc("conc", 0, 10, unit="mg/L", time_unit="h")
>>> e
<Endpoint 'AUC(conc, 0-10)' [mg/L*h] of 'conc'>
>>> e((t, y)).round(4)
array([3.1911, 6.3822])
>>> float(cmax("conc")((t, y[1])))
2.0
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from numbers import Real
from typing import Any, Literal

import numpy as np
import pandas as pd

from .errors import DataError, closest, plain

__all__ = [
    "Endpoint",
    "auc",
    "cmax",
    "tmax",
    "cmin",
    "ctrough",
    "conc_at",
    "nadir",
    "time_of_nadir",
    "pct_change_from_baseline",
    "time_below",
    "time_above",
    "time_to_below",
    "time_to_recovery",
    "fraction_in_range",
    "percentile_summary",
    "probability",
]

Evaluate = Callable[[np.ndarray, np.ndarray], np.ndarray]

# Relative slack at the grid's ends: window edges computed as sums of floats
# (e.g. 24 * 7 * k) may miss a grid end by a few ulps.
_REL_TOL = 1e-11


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A scalar per subject derived from one output's time course.

    Build endpoints with the functions of :mod:`pkpd.metrics` (:func:`auc`,
    :func:`cmax`, ...) or directly, with any ``evaluate`` that follows the
    module's conventions.

    Parameters
    ----------
    name : str
        Label for tables, e.g. ``"AUC(conc, 0-168)"``.
    unit : str
        Unit of the result, e.g. ``"mg/L*day"``; ``""`` when unknown.
    output : str
        The output or state column the endpoint reads.
    evaluate : callable
        ``evaluate(t, y) -> values``: ``t`` of shape ``(nt,)``, ``y`` of
        shape ``(..., nt)``, result of shape ``(...)``. Pure; vectorised
        over the leading axes. The functions of this module check ``t`` and
        ``y`` themselves, so their ``evaluate`` may be called directly on
        arrays (the fastest path for batch runs).

    Examples
    --------
    >>> import numpy as np
    >>> from pkpd.metrics import Endpoint
    >>> last = Endpoint("last(B)", "cells/uL", "B", lambda t, y: y[..., -1])
    >>> float(last((np.array([0.0, 1.0]), np.array([80.0, 5.0]))))
    5.0
    >>> last.with_unit("10^6/L").unit
    '10^6/L'
    """

    name: str
    unit: str
    output: str
    evaluate: Evaluate

    def __repr__(self) -> str:
        unit = f" [{self.unit}]" if self.unit else ""
        return f"<Endpoint {self.name!r}{unit} of {self.output!r}>"

    def with_unit(self, unit: str) -> Endpoint:
        """Return the same endpoint with its result labelled ``unit``."""
        return replace(self, unit=unit)

    def __call__(self, data: Any) -> float | np.ndarray | pd.Series:
        """Evaluate on a tidy frame, a simulation result or a ``(t, y)`` pair.

        Parameters
        ----------
        data : DataFrame, object with ``to_frame()``, or tuple ``(t, y)``
            A frame needs a ``time`` (or ``TIME``) column and a column named
            :attr:`output`; with an ``ID`` (or ``id``) column every subject
            is evaluated on its own rows (sorted by time). Subjects sharing
            one time grid are evaluated in a single vectorised call.

        Returns
        -------
        float, ndarray or Series
            A frame with IDs gives a Series indexed by ID and named
            :attr:`name`; a frame without IDs or a 1-D ``y`` gives a float;
            ``y`` of shape ``(..., nt)`` gives an array of shape ``(...)``.
        """
        if isinstance(data, tuple):
            if len(data) != 2:
                raise ValueError(f"{self.name}: expected a pair (t, y), got a tuple of {len(data)}")
            out = np.asarray(self.evaluate(*_grid(data[0], data[1], self.name)))
            return float(out) if out.ndim == 0 else out
        if not isinstance(data, pd.DataFrame) and callable(getattr(data, "to_frame", None)):
            data = data.to_frame()
        if not isinstance(data, pd.DataFrame):
            raise TypeError(
                f"{self.name}: expected a DataFrame, a result with to_frame() or a tuple (t, y), "
                f"got {type(data).__name__}"
            )
        return self._from_frame(data)

    def _from_frame(self, df: pd.DataFrame) -> float | pd.Series:
        cols = [str(c) for c in df.columns]
        time_col = next((c for c in ("time", "TIME") if c in df.columns), None)
        if time_col is None:
            raise DataError(
                f"{self.name}: the frame has no 'time' column; columns are: {', '.join(cols)}"
            )
        if self.output not in df.columns:
            raise DataError(
                f"{self.name}: the frame has no column {self.output!r}{closest(self.output, cols)}; "
                f"columns are: {', '.join(cols)}"
            )
        t = df[time_col].to_numpy(dtype=float)
        y = df[self.output].to_numpy(dtype=float)
        id_col = next((c for c in ("ID", "id") if c in df.columns), None)
        if id_col is None:
            order = np.argsort(t, kind="stable")
            return float(self.evaluate(*_grid(t[order], y[order], self.name)))

        if df.empty:
            raise DataError(f"{self.name}: the frame has no rows")
        codes, ids = pd.factorize(df[id_col], sort=True)
        if (codes < 0).any():
            raise DataError(
                f"{self.name}: the row at position {int(np.argmax(codes < 0))} has no {id_col}"
            )
        step = np.diff(codes)
        if not ((step > 0) | ((step == 0) & (np.diff(t) >= 0))).all():
            # Sorting 10^7 rows costs more than every endpoint: only when needed.
            order = np.lexsort((t, codes))
            codes, t, y = codes[order], t[order], y[order]
        counts = np.bincount(codes, minlength=len(ids))
        index = pd.Index(ids, name="ID")
        n, m = len(ids), int(counts[0])
        if (counts == m).all():
            grid = t.reshape(n, m)
            if (grid == grid[0]).all():
                values = self.evaluate(*_grid(grid[0], y.reshape(n, m), self.name))
                return pd.Series(values, index=index, name=self.name)
        # Subjects on different grids (observed data): one call per subject.
        values = np.empty(n)
        bounds = np.concatenate(([0], np.cumsum(counts)))
        for k in range(n):
            rows = slice(bounds[k], bounds[k + 1])
            try:
                values[k] = self.evaluate(*_grid(t[rows], y[rows], self.name))
            except ValueError as err:
                raise ValueError(f"ID {plain(ids[k])!r}: {err}") from err
        return pd.Series(values, index=index, name=self.name)


# ---------------------------------------------------------------------------
# numerical kernels (module level so that endpoints pickle for process pools)


def _grid(t: Any, y: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    if t.ndim != 1 or t.size < 2:
        raise ValueError(
            f"{name}: the time grid must be 1-D with at least 2 points, got shape {t.shape}"
        )
    if y.ndim < 1 or y.shape[-1] != t.size:
        raise ValueError(
            f"{name}: values must have shape (..., {t.size}) to match the time grid, got {y.shape}"
        )
    if not np.isfinite(t).all():
        raise ValueError(
            f"{name}: the time grid contains NaN or inf at index {int(np.argmin(np.isfinite(t)))}"
        )
    step = np.diff(t)
    if not (step > 0).all():
        i = int(np.argmin(step > 0)) + 1
        raise ValueError(
            f"{name}: the time grid must be strictly increasing; t[{i}]={t[i]:g} follows "
            f"t[{i - 1}]={t[i - 1]:g}; sort it and drop repeated times"
        )
    return t, y


def _tol(t: np.ndarray) -> float:
    return _REL_TOL * max(abs(t[0]), abs(t[-1]), t[-1] - t[0])


def _span(t: np.ndarray) -> str:
    return f"[{t[0]:g}, {t[-1]:g}]"


def _bounds(
    t: np.ndarray, start: float | None, end: float | None, name: str
) -> tuple[float, float]:
    a = t[0] if start is None else start
    b = t[-1] if end is None else end
    tol = _tol(t)
    if a < t[0] - tol or b > t[-1] + tol:
        raise ValueError(
            f"{name}: window [{a:g}, {b:g}] reaches outside the time grid {_span(t)}; "
            "simulate over the whole window or narrow it"
        )
    a, b = max(a, t[0]), min(b, t[-1])
    if not a < b:
        raise ValueError(f"{name}: window [{a:g}, {b:g}] is empty on the time grid {_span(t)}")
    return float(a), float(b)


def _point(t: np.ndarray, time: float, name: str) -> float:
    tol = _tol(t)
    if not t[0] - tol <= time <= t[-1] + tol:
        raise ValueError(f"{name}: time {time:g} is outside the time grid {_span(t)}")
    return float(min(max(time, t[0]), t[-1]))


def _interp(t: np.ndarray, y: np.ndarray, x: float, linlog: bool = False) -> np.ndarray:
    """Curve at ``x`` in ``[t[0], t[-1]]``; an exact grid time reads only its own sample."""
    i = int(np.clip(np.searchsorted(t, x, side="right") - 1, 0, t.size - 2))
    w = (x - t[i]) / (t[i + 1] - t[i])
    if w <= 0:
        return y[..., i]
    if w >= 1:
        return y[..., i + 1]
    y0, y1 = y[..., i], y[..., i + 1]
    out = y0 + w * (y1 - y0)
    if linlog:
        down = (y1 < y0) & (y1 > 0)
        with np.errstate(all="ignore"):
            out = np.where(down, y0 * (y1 / y0) ** w, out)
    return out


def _window(
    t: np.ndarray, y: np.ndarray, a: float, b: float, linlog: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The curve restricted to ``[a, b]``, with interpolated end points."""
    lo = np.searchsorted(t, a, side="right")
    hi = np.searchsorted(t, b, side="left")
    tw = np.concatenate(([a], t[lo:hi], [b]))
    ends = (_interp(t, y, a, linlog)[..., None], _interp(t, y, b, linlog)[..., None])
    yw = np.concatenate((ends[0], y[..., lo:hi], ends[1]), axis=-1)
    return tw, yw


def _nan_if_missing(yw: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(yw).any(axis=-1), np.nan, values)


def _below(lo: np.ndarray, hi: np.ndarray, thr: float, strict: bool) -> np.ndarray:
    """Fraction of each linear segment where ``y < thr`` (``<=`` if not strict).

    ``lo`` and ``hi`` are the segment's smaller and larger end values; the
    fraction is ``(thr - lo) / (hi - lo)`` clipped to [0, 1] whichever way
    the segment runs, and ``strict`` only matters on a flat segment lying
    exactly at ``thr`` (0/0).
    """
    with np.errstate(all="ignore"):
        frac = np.subtract(thr, lo)
        frac /= hi - lo
    np.clip(frac, 0.0, 1.0, out=frac)
    np.copyto(frac, 0.0 if strict else 1.0, where=(lo == thr) & (hi == thr))
    return frac


def _segments(yw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y0, y1 = yw[..., :-1], yw[..., 1:]
    return np.minimum(y0, y1), np.maximum(y0, y1)


def _auc_kernel(t, y, *, name, start, end, linlog):
    t, y = _grid(t, y, name)
    tw, yw = _window(t, y, *_bounds(t, start, end, name), linlog=linlog)
    dt = np.diff(tw)
    if not linlog:
        # The trapezoid rule as one matrix-vector product: weight (dt[i-1] + dt[i]) / 2.
        weights = np.concatenate(([0.0], dt)) + np.concatenate((dt, [0.0]))
        return yw @ (0.5 * weights)
    y0, y1 = yw[..., :-1], yw[..., 1:]
    mean = y0 + y1
    mean *= 0.5
    with np.errstate(all="ignore"):
        ratio = y0 / y1
        down = (ratio > 1.0) & (y1 > 0.0)
        # Mean of an exponential between y0 and y1 over the segment.
        np.copyto(mean, (y0 - y1) / np.log(ratio), where=down)
    return mean @ dt


def _extreme_kernel(t, y, *, name, start, end, largest, want_time):
    t, y = _grid(t, y, name)
    tw, yw = _window(t, y, *_bounds(t, start, end, name))
    if want_time:
        k = np.argmax(yw, axis=-1) if largest else np.argmin(yw, axis=-1)
        return _nan_if_missing(yw, tw[k])
    return yw.max(axis=-1) if largest else yw.min(axis=-1)


def _trough_kernel(t, y, *, name, time):
    t, y = _grid(t, y, name)
    tol = _tol(t)
    if time > t[-1] + tol:
        raise ValueError(f"{name}: dose time {time:g} is after the end of the time grid {_span(t)}")
    i = int(np.searchsorted(t, time - tol, side="left")) - 1
    if i < 0:
        raise ValueError(f"{name}: no grid time before {time:g}; the time grid is {_span(t)}")
    return np.array(y[..., i])


def _at_kernel(t, y, *, name, time):
    t, y = _grid(t, y, name)
    return np.array(_interp(t, y, _point(t, time, name)))


def _pct_change_kernel(t, y, *, name, time, baseline_time):
    t, y = _grid(t, y, name)
    base = _interp(t, y, _point(t, baseline_time, name))
    value = _interp(t, y, _point(t, time, name))
    with np.errstate(all="ignore"):
        return np.where(base == 0, np.nan, 100.0 * (value - base) / base)


def _time_beyond_kernel(t, y, *, name, start, end, threshold, above):
    t, y = _grid(t, y, name)
    tw, yw = _window(t, y, *_bounds(t, start, end, name))
    dt = np.diff(tw)
    below = _below(*_segments(yw), threshold, strict=not above) @ dt
    return _nan_if_missing(yw, (tw[-1] - tw[0]) - below if above else below)


def _in_range_kernel(t, y, *, name, start, end, low, high):
    t, y = _grid(t, y, name)
    a, b = _bounds(t, start, end, name)
    tw, yw = _window(t, y, a, b)
    lo, hi = _segments(yw)
    dt = np.diff(tw)
    time_in = _below(lo, hi, high, strict=False) @ dt - _below(lo, hi, low, strict=True) @ dt
    inside = time_in / (b - a)
    return _nan_if_missing(yw, np.clip(inside, 0.0, 1.0))


def _first_crossing_kernel(t, y, *, name, threshold, after, downward):
    t, y = _grid(t, y, name)
    if not t[0] - _tol(t) <= after < t[-1]:
        raise ValueError(
            f"{name}: 'after' = {after:g} must lie in the time grid {_span(t)} before its end"
        )
    tw, yw = _window(t, y, *_bounds(t, after, None, name))
    y0, y1 = yw[..., :-1], yw[..., 1:]
    if downward:
        seg = (y0 >= threshold) & (y1 < threshold)
    else:
        seg = (y0 < threshold) & (y1 >= threshold)
    k = np.argmax(seg, axis=-1)
    c0 = np.take_along_axis(y0, k[..., None], axis=-1)[..., 0]
    c1 = np.take_along_axis(y1, k[..., None], axis=-1)[..., 0]
    with np.errstate(all="ignore"):
        cross = tw[k] + (threshold - c0) / (c1 - c0) * (tw[k + 1] - tw[k]) - after
    result = np.where(seg.any(axis=-1), cross, np.nan)
    if downward:
        result = np.where(yw[..., 0] < threshold, 0.0, result)
    return _nan_if_missing(yw, result)


# ---------------------------------------------------------------------------
# argument checks and labels


def _number(x: Any, what: str, where: str) -> float:
    if isinstance(x, bool) or not isinstance(x, Real):
        raise TypeError(f"{where}: {what} must be a number, got {x!r}")
    v = float(x)
    if not math.isfinite(v):
        raise ValueError(f"{where}: {what} must be finite, got {v!r}")
    return v


def _check_output(output: Any, where: str) -> str:
    if not isinstance(output, str) or not output:
        raise TypeError(f"{where}: output must be a non-empty column name, got {output!r}")
    return output


def _check_window(start: Any, end: Any, where: str) -> tuple[float | None, float | None]:
    a = None if start is None else _number(start, "start", where)
    b = None if end is None else _number(end, "end", where)
    if a is not None and b is not None and not a < b:
        raise ValueError(f"{where}: start must be before end, got start={a:g}, end={b:g}")
    return a, b


def _window_label(start: float | None, end: float | None) -> str:
    if start is None and end is None:
        return ""
    lo = "first" if start is None else f"{start:g}"
    hi = "last" if end is None else f"{end:g}"
    return f", {lo}-{hi}"


def _with_unit(value: float, unit: str) -> str:
    return f"{value:g} {unit}" if unit else f"{value:g}"


def _product(unit: str, time_unit: str) -> str:
    return f"{unit}*{time_unit}" if unit and time_unit else ""


def _windowed(
    kind: str, output: str, start: Any, end: Any, *, largest: bool, want_time: bool, unit: str
) -> Endpoint:
    output = _check_output(output, kind)
    start, end = _check_window(start, end, kind)
    name = f"{kind}({output}{_window_label(start, end)})"
    fn = partial(
        _extreme_kernel, name=name, start=start, end=end, largest=largest, want_time=want_time
    )
    return Endpoint(name, unit, output, fn)


# ---------------------------------------------------------------------------
# endpoints


def auc(
    output: str,
    start: float | None = None,
    end: float | None = None,
    *,
    method: Literal["linear", "linlog"] = "linear",
    unit: str = "",
    time_unit: str = "",
) -> Endpoint:
    """Area under the curve of ``output`` from ``start`` to ``end``.

    Parameters
    ----------
    output : str
        Output (or state) to integrate.
    start, end : float, optional
        Window, in the grid's time unit; default the whole grid. The curve
        is interpolated at the window's edges (log-linearly in ``"linlog"``
        mode where it decreases and stays positive).
    method : {"linear", "linlog"}
        ``"linear"``: trapezoids. ``"linlog"``: linear up / log down, as in
        non-compartmental analysis: a segment where the curve decreases
        between positive values is integrated as an exponential, which is
        exact for mono-exponential decline on any grid.
    unit, time_unit : str
        Units of the output and of time; the result is in ``unit*time_unit``.

    Returns
    -------
    Endpoint
        Area, in output unit x time unit. The trapezoid error is O(h^2) in
        the grid step h.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0, 48, 9)
    >>> y = 10 * np.exp(-0.1 * t)
    >>> exact = 10 * (1 - np.exp(-4.8)) / 0.1
    >>> print(f"{exact:.4f}")
    99.1770
    >>> print(f"{auc('conc', 0, 48, method='linlog')((t, y)):.4f}")
    99.1770
    >>> print(f"{auc('conc', 0, 48)((t, y)):.4f}")
    102.1346
    """
    where = "auc"
    output = _check_output(output, where)
    start, end = _check_window(start, end, where)
    if method not in ("linear", "linlog"):
        raise ValueError(f"auc: method must be 'linear' or 'linlog', got {method!r}")
    suffix = ", linlog" if method == "linlog" else ""
    name = f"AUC({output}{_window_label(start, end)}{suffix})"
    fn = partial(_auc_kernel, name=name, start=start, end=end, linlog=method == "linlog")
    return Endpoint(name, _product(unit, time_unit), output, fn)


def cmax(
    output: str, start: float | None = None, end: float | None = None, *, unit: str = ""
) -> Endpoint:
    """Largest value of ``output`` in the window (default the whole grid).

    Parameters
    ----------
    output : str
        Output (or state) to read.
    start, end : float, optional
        Window, in the grid's time unit; its edges are interpolated.
    unit : str
        Unit of the output, which is also the result's.

    Returns
    -------
    Endpoint
        The maximum, in the output's unit. On a grid it underestimates a
        smooth peak by O(h^2).

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([0.0, 1.0, 2.0, 4.0])
    >>> float(cmax("conc", unit="mg/L")((t, np.array([0.0, 3.0, 2.0, 1.0]))))
    3.0
    """
    return _windowed("Cmax", output, start, end, largest=True, want_time=False, unit=unit)


def tmax(
    output: str, start: float | None = None, end: float | None = None, *, time_unit: str = ""
) -> Endpoint:
    """Time of the largest value of ``output`` in the window.

    Parameters
    ----------
    output : str
        Output (or state) to read.
    start, end : float, optional
        Window, in the grid's time unit; its edges are interpolated.
    time_unit : str
        Unit of time, which is also the result's.

    Returns
    -------
    Endpoint
        The first time (a grid time or a window edge) at which the maximum
        is reached.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([0.0, 1.0, 2.0, 4.0])
    >>> float(tmax("conc", time_unit="h")((t, np.array([0.0, 3.0, 2.0, 1.0]))))
    1.0
    """
    return _windowed("tmax", output, start, end, largest=True, want_time=True, unit=time_unit)


def cmin(
    output: str, start: float | None = None, end: float | None = None, *, unit: str = ""
) -> Endpoint:
    """Smallest value of ``output`` in the window (default the whole grid).

    The same number as :func:`nadir`, labelled ``Cmin`` for concentrations.

    Parameters
    ----------
    output : str
        Output (or state) to read.
    start, end : float, optional
        Window, in the grid's time unit; its edges are interpolated.
    unit : str
        Unit of the output, which is also the result's.

    Returns
    -------
    Endpoint
        The minimum, in the output's unit.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([0.0, 1.0, 2.0, 4.0])
    >>> float(cmin("conc", 1, 4)((t, np.array([0.0, 3.0, 2.0, 1.0]))))
    1.0
    """
    return _windowed("Cmin", output, start, end, largest=False, want_time=False, unit=unit)


def nadir(
    output: str, start: float | None = None, end: float | None = None, *, unit: str = ""
) -> Endpoint:
    """Lowest value of ``output`` in the window, e.g. the B-cell nadir.

    Parameters
    ----------
    output : str
        Output (or state) to read.
    start, end : float, optional
        Window, in the grid's time unit; its edges are interpolated.
    unit : str
        Unit of the output, which is also the result's.

    Returns
    -------
    Endpoint
        The minimum, in the output's unit.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([0.0, 7.0, 14.0, 28.0])
    >>> float(nadir("B", unit="cells/uL")((t, np.array([120.0, 4.0, 2.5, 30.0]))))
    2.5
    """
    return _windowed("nadir", output, start, end, largest=False, want_time=False, unit=unit)


def time_of_nadir(
    output: str, start: float | None = None, end: float | None = None, *, time_unit: str = ""
) -> Endpoint:
    """Time of the lowest value of ``output`` in the window.

    Parameters
    ----------
    output : str
        Output (or state) to read.
    start, end : float, optional
        Window, in the grid's time unit; its edges are interpolated.
    time_unit : str
        Unit of time, which is also the result's.

    Returns
    -------
    Endpoint
        The first time (a grid time or a window edge) at which the minimum
        is reached.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([0.0, 7.0, 14.0, 28.0])
    >>> float(time_of_nadir("B", time_unit="day")((t, np.array([120.0, 4.0, 2.5, 30.0]))))
    14.0
    """
    return _windowed("t_nadir", output, start, end, largest=False, want_time=True, unit=time_unit)


def ctrough(output: str, time: float, *, unit: str = "") -> Endpoint:
    """Trough of ``output`` before a dose at ``time``: the last value before it.

    The result is the value at the largest grid time strictly before
    ``time`` (grid times within round-off of ``time`` count as ``time``),
    because the value pkpd reports at a dose time is the post-dose value.
    It is the exact pre-dose value only when the grid has a point just
    before the dose (e.g. ``time - 1e-6``, or the previous sample of an
    observed profile); otherwise it is the value at the previous grid time.

    Parameters
    ----------
    output : str
        Output (or state) to read.
    time : float
        Dose time, in the grid's time unit; ``t[0] < time <= t[-1]``.
    unit : str
        Unit of the output, which is also the result's.

    Returns
    -------
    Endpoint
        The pre-dose value, in the output's unit.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([0.0, 167.999, 168.0, 200.0])  # a point just before the dose at 168
    >>> y = np.array([10.0, 1.5, 11.5, 8.0])        # 11.5 is post-dose
    >>> float(ctrough("conc", 168)((t, y)))
    1.5
    """
    where = "ctrough"
    output = _check_output(output, where)
    time = _number(time, "time", where)
    name = f"Ctrough({output}, {time:g})"
    return Endpoint(name, unit, output, partial(_trough_kernel, name=name, time=time))


def conc_at(output: str, time: float, *, unit: str = "") -> Endpoint:
    """Value of ``output`` at ``time``, interpolated linearly.

    At a dose time this is the post-dose value (see :func:`ctrough`).

    Parameters
    ----------
    output : str
        Output (or state) to read.
    time : float
        Time in the grid's time unit, within the grid.
    unit : str
        Unit of the output, which is also the result's.

    Returns
    -------
    Endpoint
        The value, in the output's unit.

    Examples
    --------
    >>> import numpy as np
    >>> float(conc_at("conc", 1.5)((np.array([0.0, 1.0, 2.0]), np.array([0.0, 4.0, 2.0]))))
    3.0
    """
    where = "conc_at"
    output = _check_output(output, where)
    time = _number(time, "time", where)
    name = f"{output}(t={time:g})"
    return Endpoint(name, unit, output, partial(_at_kernel, name=name, time=time))


def pct_change_from_baseline(output: str, time: float, *, baseline_time: float = 0.0) -> Endpoint:
    """Percent change of ``output`` at ``time`` from its value at ``baseline_time``.

    ``100 * (y(time) - y(baseline_time)) / y(baseline_time)``, both values
    interpolated linearly. A zero baseline gives NaN (no relative change is
    defined).

    Parameters
    ----------
    output : str
        Output (or state) to read.
    time, baseline_time : float
        Times in the grid's time unit, within the grid. A baseline at a
        dose time is the post-dose value: use a pre-dose time.

    Returns
    -------
    Endpoint
        Percent change, in ``%`` (e.g. -95 for a 95 % depletion).

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([0.0, 14.0, 28.0])
    >>> float(pct_change_from_baseline("B", 14)((t, np.array([200.0, 10.0, 40.0]))))
    -95.0
    """
    where = "pct_change_from_baseline"
    output = _check_output(output, where)
    time = _number(time, "time", where)
    baseline_time = _number(baseline_time, "baseline_time", where)
    name = f"%change({output}, {time:g} vs {baseline_time:g})"
    fn = partial(_pct_change_kernel, name=name, time=time, baseline_time=baseline_time)
    return Endpoint(name, "%", output, fn)


def _time_beyond(
    output: str, threshold: float, start: Any, end: Any, *, above: bool, unit: str, time_unit: str
) -> Endpoint:
    where = "time_above" if above else "time_below"
    output = _check_output(output, where)
    threshold = _number(threshold, "threshold", where)
    start, end = _check_window(start, end, where)
    name = f"time({output} {'>' if above else '<'} {_with_unit(threshold, unit)}{_window_label(start, end)})"
    fn = partial(
        _time_beyond_kernel, name=name, start=start, end=end, threshold=threshold, above=above
    )
    return Endpoint(name, time_unit, output, fn)


def time_below(
    output: str,
    threshold: float,
    start: float | None = None,
    end: float | None = None,
    *,
    unit: str = "",
    time_unit: str = "",
) -> Endpoint:
    """Total time in the window during which ``output < threshold``.

    Crossings are interpolated linearly, so the result is exact for the
    piecewise-linear curve through the grid. Time spent exactly at the
    threshold (a flat segment) counts neither as below nor as above.

    Parameters
    ----------
    output : str
        Output (or state) to read.
    threshold : float
        Finite threshold, in the output's unit.
    start, end : float, optional
        Window, in the grid's time unit; default the whole grid.
    unit, time_unit : str
        Units of the output (for the name) and of time (the result's).

    Returns
    -------
    Endpoint
        Time below the threshold, in the time unit.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([0.0, 10.0, 20.0])
    >>> round(time_below("B", 10, unit="cells/uL")((t, np.array([30.0, 0.0, 30.0]))), 12)
    6.666666666667
    """
    return _time_beyond(output, threshold, start, end, above=False, unit=unit, time_unit=time_unit)


def time_above(
    output: str,
    threshold: float,
    start: float | None = None,
    end: float | None = None,
    *,
    unit: str = "",
    time_unit: str = "",
) -> Endpoint:
    """Total time in the window during which ``output > threshold``.

    The counterpart of :func:`time_below`, with the same interpolation.

    Parameters
    ----------
    output : str
        Output (or state) to read.
    threshold : float
        Finite threshold, in the output's unit.
    start, end : float, optional
        Window, in the grid's time unit; default the whole grid.
    unit, time_unit : str
        Units of the output (for the name) and of time (the result's).

    Returns
    -------
    Endpoint
        Time above the threshold, in the time unit.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([0.0, 10.0, 20.0])
    >>> float(time_above("conc", 1.0, 0, 15)((t, np.array([0.0, 2.0, 0.0]))))
    10.0
    """
    return _time_beyond(output, threshold, start, end, above=True, unit=unit, time_unit=time_unit)


def time_to_below(
    output: str, threshold: float, after: float = 0.0, *, unit: str = "", time_unit: str = ""
) -> Endpoint:
    """Time from ``after`` until ``output`` first drops below ``threshold``.

    The crossing is interpolated linearly. The result is measured from
    ``after`` (0 if the output is already below at ``after``), and is NaN
    if the output stays at or above the threshold until the end of the grid.

    Parameters
    ----------
    output : str
        Output (or state) to read.
    threshold : float
        Finite threshold, in the output's unit.
    after : float
        Start of the search, in the grid's time unit (e.g. the first dose).
    unit, time_unit : str
        Units of the output (for the name) and of time (the result's).

    Returns
    -------
    Endpoint
        Time to fall below the threshold, in the time unit.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([0.0, 2.0, 4.0])
    >>> float(time_to_below("B", 10, unit="cells/uL")((t, np.array([100.0, 0.0, 0.0]))))
    1.8
    """
    where = "time_to_below"
    output = _check_output(output, where)
    threshold = _number(threshold, "threshold", where)
    after = _number(after, "after", where)
    name = f"time to {output} < {_with_unit(threshold, unit)} after {after:g}"
    fn = partial(_first_crossing_kernel, name=name, threshold=threshold, after=after, downward=True)
    return Endpoint(name, time_unit, output, fn)


def time_to_recovery(
    output: str, threshold: float, after: float, *, unit: str = "", time_unit: str = ""
) -> Endpoint:
    """Time from ``after`` until ``output`` rises back to ``>= threshold``.

    For B-cell repletion, ``after`` is the last dose. The result is the
    first upward crossing of the threshold at or after ``after``,
    interpolated linearly and measured from ``after``: if the output is
    below the threshold at ``after`` it is the time until it first reaches
    the threshold; if it is at or above it (depletion still to come), it is
    the time until it returns after having been below. It is NaN when no
    such return happens within the grid, including when the output never
    falls below the threshold; use :func:`time_below` or
    :func:`time_to_below` to tell the two apart.

    Parameters
    ----------
    output : str
        Output (or state) to read.
    threshold : float
        Finite threshold, in the output's unit (e.g. a lower limit of normal).
    after : float
        Reference time in the grid's time unit, usually the last dose.
    unit, time_unit : str
        Units of the output (for the name) and of time (the result's).

    Returns
    -------
    Endpoint
        Time to recovery, in the time unit.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([0.0, 168.0, 336.0, 504.0])
    >>> y = np.array([150.0, 5.0, 40.0, 120.0])
    >>> float(time_to_recovery("B", 80, after=168, unit="cells/uL", time_unit="day")((t, y)))
    252.0
    """
    where = "time_to_recovery"
    output = _check_output(output, where)
    threshold = _number(threshold, "threshold", where)
    after = _number(after, "after", where)
    name = f"time to {output} >= {_with_unit(threshold, unit)} after {after:g}"
    fn = partial(
        _first_crossing_kernel, name=name, threshold=threshold, after=after, downward=False
    )
    return Endpoint(name, time_unit, output, fn)


def fraction_in_range(
    output: str,
    low: float,
    high: float,
    start: float | None = None,
    end: float | None = None,
    *,
    unit: str = "",
) -> Endpoint:
    """Fraction of the window's time during which ``low <= output <= high``.

    Crossings are interpolated linearly, as in :func:`time_below`.

    Parameters
    ----------
    output : str
        Output (or state) to read.
    low, high : float
        Finite bounds of the target range, ``low <= high``, in the output's unit.
    start, end : float, optional
        Window, in the grid's time unit; default the whole grid.
    unit : str
        Unit of the output (for the name).

    Returns
    -------
    Endpoint
        A fraction between 0 and 1 (unit ``"1"``).

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([0.0, 10.0])
    >>> round(fraction_in_range("conc", 2, 6, unit="mg/L")((t, np.array([0.0, 10.0]))), 12)
    0.4
    """
    where = "fraction_in_range"
    output = _check_output(output, where)
    low = _number(low, "low", where)
    high = _number(high, "high", where)
    if low > high:
        raise ValueError(f"{where}: low must not exceed high, got low={low:g}, high={high:g}")
    start, end = _check_window(start, end, where)
    name = (
        f"fraction({_with_unit(low, unit)} <= {output} <= {_with_unit(high, unit)}"
        f"{_window_label(start, end)})"
    )
    fn = partial(_in_range_kernel, name=name, start=start, end=end, low=low, high=high)
    return Endpoint(name, "1", output, fn)


# ---------------------------------------------------------------------------
# population summaries


def _values(values: Any, nan_policy: str, where: str) -> np.ndarray:
    if nan_policy not in ("propagate", "omit"):
        raise ValueError(f"{where}: nan_policy must be 'propagate' or 'omit', got {nan_policy!r}")
    v = np.asarray(values, dtype=float)
    if v.ndim < 1 or v.shape[0] == 0:
        raise ValueError(
            f"{where}: values must have shape (n_subjects, ...) with n_subjects >= 1, got {v.shape}"
        )
    return v


def percentile_summary(
    values: Any,
    percentiles: Sequence[float] = (5, 50, 95),
    *,
    nan_policy: Literal["propagate", "omit"] = "propagate",
) -> np.ndarray:
    """Percentiles of endpoint values over subjects (axis 0).

    Parameters
    ----------
    values : array_like, shape (n_subjects, ...)
        Endpoint values, e.g. a Series from :meth:`Endpoint.__call__`.
    percentiles : sequence of float
        Percentiles in [0, 100]; numpy's default (linear) interpolation.
    nan_policy : {"propagate", "omit"}
        ``"propagate"``: a NaN among the subjects makes that percentile NaN.
        ``"omit"``: ignore NaN subjects. NaN often means "never happened"
        (e.g. no recovery within the grid), so omitting them biases the
        summary; check :func:`probability` of the event as well.

    Returns
    -------
    ndarray, shape (len(percentiles), ...)
        The percentiles, in the values' unit.

    Examples
    --------
    >>> import numpy as np
    >>> percentile_summary(np.arange(101.0))
    array([ 5., 50., 95.])
    >>> percentile_summary([1.0, np.nan, 3.0], (50,), nan_policy="omit")
    array([2.])
    """
    where = "percentile_summary"
    v = _values(values, nan_policy, where)
    q = np.asarray(percentiles, dtype=float)
    if q.ndim != 1 or q.size == 0 or not ((q >= 0) & (q <= 100)).all():
        raise ValueError(
            f"{where}: percentiles must be a non-empty sequence in [0, 100], got {percentiles!r}"
        )
    if nan_policy == "propagate":
        return np.percentile(v, q, axis=0)
    # An all-NaN column gives NaN, which is the answer; numpy's warning adds nothing.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanpercentile(v, q, axis=0)


def probability(
    endpoint_values: Any,
    *,
    below: float | None = None,
    above: float | None = None,
    nan_policy: Literal["propagate", "omit"] = "propagate",
) -> float | np.ndarray:
    """Probability of target attainment: the fraction of subjects meeting a target.

    Parameters
    ----------
    endpoint_values : array_like, shape (n_subjects, ...)
        Endpoint values, subjects along axis 0.
    below, above : float, optional
        Target ``value < below``, ``value > above``, or both
        (``above < value < below``). At least one is required.
    nan_policy : {"propagate", "omit"}
        ``"propagate"``: a NaN among the subjects gives NaN. ``"omit"``: the
        fraction among subjects with a value.

    Returns
    -------
    float or ndarray
        A float for 1-D values, else an array of shape ``values.shape[1:]``.

    Examples
    --------
    >>> import numpy as np
    >>> trough_B = np.array([2.0, 8.0, 12.0, 9.5])  # cells/uL
    >>> probability(trough_B, below=10)
    0.75
    >>> probability(np.array([[1.0, 20.0], [5.0, 30.0]]), above=2, below=25)
    array([0.5, 0.5])
    """
    where = "probability"
    if below is None and above is None:
        raise ValueError(f"{where}: give a target: below=..., above=... or both")
    v = _values(endpoint_values, nan_policy, where)
    hit = np.ones(v.shape, dtype=bool)
    if below is not None:
        hit &= v < _number(below, "below", where)
    if above is not None:
        hit &= v > _number(above, "above", where)
    valid = ~np.isnan(v)
    if nan_policy == "propagate":
        result = np.where(valid.all(axis=0), hit.mean(axis=0), np.nan)
    else:
        with np.errstate(all="ignore"):
            result = (hit & valid).sum(axis=0) / valid.sum(axis=0)
    return float(result) if result.ndim == 0 else result
