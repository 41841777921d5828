"""Simulate a model on a dosing regimen: :func:`simulate` -> :class:`Simulation`.

The dosing semantics are those of :mod:`pkpd.dosing` (bolus = jump, infusion =
rate over ``[t, t + duration)``, F and lag per state, a dose at an output time
is applied before the output). Integration restarts at every breakpoint and the
whole solve, restarts included, runs in compiled code (:mod:`pkpd.kernel`).

Methods
-------
``"auto"`` (default)
    The exact solution when the model is linear time-invariant (1-, 2-,
    3-compartment PK and other linear systems, see :mod:`pkpd.analytic`) and
    no covariate varies in time; otherwise Tsitouras 5(4), switching to
    Rodas4 for the rest of the run if the problem turns out stiff.
``"nonstiff"`` (alias ``"tsit5"``; ``"dopri5"`` is kept as an old alias)
    Tsitouras 5(4) (Tsit5, 2011) with its 4th-order dense output.
``"stiff"`` (alias ``"rodas4"``)
    Rodas4, a stiffly accurate Rosenbrock method with the analytic Jacobian.
``"analytic"``
    The exact linear solution; :class:`~pkpd.errors.SimulationError` if the
    model is not linear.

Time-varying covariates are given as a DataFrame with a ``time`` column and
one column per covariate; ``interpolation`` chooses per covariate between
``"locf"`` (last observation carried forward, the default: the value holds
from its time until the next one), ``"nocb"`` (next observation carried
backward: the value holds from the previous time up to and including its own)
and ``"linear"`` (linear between times, constant outside). Covariate change
times are integration breakpoints.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .compile import CompiledModel, compile_model, value_vector
from .dosing import Bolus, Infusion, Regimen, Reset, as_regimen
from .errors import RegimenError, SimulationError
from .model import Model

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["simulate", "Simulation", "prepare", "Prepared"]

_METHODS = {"auto": 2, "nonstiff": 0, "tsit5": 0, "dopri5": 0, "stiff": 1, "rodas4": 1, "analytic": -1}
_INTERP = {"locf": 1, "nocb": 2, "linear": 3}
_STATUS = {1: "too many steps (raise max_steps, or the problem may be stiff: method='stiff')",
           2: "step size became too small (a singularity or a discontinuity the model does not declare)",
           3: "the solution became non-finite (overflow, division by zero or log of a negative number)",
           4: "singular iteration matrix",
           5: "a dose has a negative or non-finite bioavailability (F) or lag"}


@dataclass(frozen=True, eq=False)
class Prepared:
    """A model, regimen and output grid turned into kernel arrays, ready to run.

    Build with :func:`prepare`; call :meth:`run` with a parameter vector. Used
    by fitting and populations to avoid per-call set-up cost.
    """

    compiled: CompiledModel
    regimen: Regimen
    times: np.ndarray
    t0: float
    d_time: np.ndarray
    d_type: np.ndarray
    d_cmt: np.ndarray
    d_amt: np.ndarray
    d_dur: np.ndarray
    cov_t: np.ndarray
    cov_v: np.ndarray
    cov_kind: np.ndarray
    ss_doses: tuple = ()
    method: str = "auto"
    rtol: float = 1e-6
    atol: float = 1e-9
    hmax: float = 0.0
    max_steps: int = 100_000
    linear: Any = field(default=None, repr=False)

    def base_vector(self, params: Mapping[str, float] | None = None,
                    covariates: Mapping[str, float] | None = None) -> np.ndarray:
        """Parameter vector of the model's values with overrides."""
        return self.compiled.param_vector(dict(params or {}), dict(covariates or {}))

    def run(self, p: np.ndarray, sens: Sequence[int] | np.ndarray | None = None) -> tuple:
        """Integrate with parameter vector ``p``.

        Returns ``(Y, O, S, OS, stats)``: states (nt, n), outputs (nt, nout) and,
        when ``sens`` lists parameter indices, their sensitivities
        (nt, n, ns) and (nt, nout, ns).
        """
        from . import kernel

        cm = self.compiled
        npc = cm.n_params + len(cm.model.covariates)
        if np.ndim(p) != 1 or len(p) != npc:
            raise ValueError(f"p must hold the {cm.n_params} parameters and "
                             f"{len(cm.model.covariates)} covariates of model '{cm.model.name}' "
                             f"({npc} values, see Prepared.base_vector); got shape {np.shape(p)}")
        sidx = np.asarray(sens if sens is not None else [], dtype=np.int64)
        if self.linear is not None and sidx.size == 0:
            return self._run_linear(p)
        p = np.ascontiguousarray(p, dtype=float)
        d_time, d_type, d_cmt, d_amt, d_dur = (self.d_time, self.d_type, self.d_cmt,
                                               self.d_amt, self.d_dur)
        reset_y = np.zeros((0, cm.n_states))
        reset_s = np.zeros((0, cm.n_states, sidx.size))
        if self.ss_doses:
            d_time, d_type, d_cmt, d_amt, d_dur, reset_y, reset_s = _apply_steady_state(
                self, p, sidx)
        status, t_fail, Y, O, S, OS, zfail, stats = kernel.solve(
            cm.address, cm.n_states, cm.n_params, cm.n_outputs, p, self.t0, self.times,
            d_time, d_type, d_cmt, d_amt, d_dur, reset_y, reset_s,
            self.cov_t, self.cov_v, self.cov_kind, _METHODS[self.method] if self.method != "analytic" else 2,
            self.rtol, self.atol, self.hmax, self.max_steps, sidx, cm.nonautonomous, cm.fused_tsit5)
        if status == kernel.BAD_DOSE:
            raise _bad_dose_error(cm, p, t_fail)
        if status != 0:
            m = cm.model
            raise SimulationError(
                f"integration of model '{m.name}' failed at t = {t_fail:.6g}: {_STATUS.get(status, status)}",
                time=float(t_fail), state=dict(zip(m.state_names, zfail.tolist(), strict=True)),
                params=dict(zip(m.param_names + m.covariate_names, p.tolist(), strict=True)))
        return Y, O, S, OS, stats

    def _run_linear(self, p: np.ndarray) -> tuple:
        from .analytic import events_from_regimen, solve_linear

        cm = self.compiled
        m = cm.model
        npar = cm.n_params
        with np.errstate(all="ignore"):  # e.g. V = 0: reported below as a non-finite solution
            A, C, y0, F, lag = self.linear.numeric(p[:npar], p[npar:])
        if not (np.all(np.isfinite(A)) and np.all(np.isfinite(C)) and np.all(np.isfinite(y0))):
            raise SimulationError(f"the exact linear solution of model '{m.name}' is not finite "
                                  "at these parameter values",
                                  params=dict(zip(m.param_names, p.tolist(), strict=False)))
        if not np.all(np.isfinite(F) & np.isfinite(lag) & (F >= 0) & (lag >= 0)):
            raise _bad_dose_error(cm, p, None)
        try:
            events = events_from_regimen(self.regimen, m.state_names, F, lag,
                                         t_end=float(self.times[-1]))
            Y = solve_linear(A, y0, self.times, events, t0=self.t0)
        except RegimenError:
            raise
        except ValueError as exc:
            raise SimulationError(f"exact linear solution of model '{m.name}' failed: {exc}",
                                  params=dict(zip(m.param_names, p.tolist(), strict=False))) from None
        O = Y @ C.T if C.size else np.zeros((len(self.times), 0))
        if not np.all(np.isfinite(Y)):
            raise SimulationError(f"the exact linear solution of model '{m.name}' is not finite",
                                  params=dict(zip(m.param_names, p.tolist(), strict=False)))
        nt = len(self.times)
        return (Y, O, np.zeros((nt, cm.n_states, 0)), np.zeros((nt, cm.n_outputs, 0)),
                np.zeros(5, np.int64))


def _apply_steady_state(prep: Prepared, p: np.ndarray, sidx: np.ndarray) -> tuple:
    """Dose arrays with a reset-to-steady-state event before each SS dose."""
    n = prep.compiled.n_states
    ys, ss_list = [], []
    for (time, c, amt, dur, interval) in prep.ss_doses:
        p_at = covariates_at(prep.compiled, p, time, prep.cov_t, prep.cov_v, prep.cov_kind)
        y_ss, s_ss = steady_state(prep.compiled, p_at, c, amt, dur, interval, sidx, prep)
        ys.append(y_ss)
        ss_list.append(s_ss)
    return (*_with_ss_resets((prep.d_time, prep.d_type, prep.d_cmt, prep.d_amt, prep.d_dur),
                             prep.ss_doses, n, ys),
            np.asarray(ss_list).reshape(len(ys), n, sidx.size))


def covariates_at(cm: CompiledModel, p: np.ndarray, t: float, cov_t: np.ndarray,
                  cov_v: np.ndarray, cov_kind: np.ndarray) -> np.ndarray:
    """``p`` with time-varying covariates set to their values at ``t`` (a steady state uses
    the covariates of its dose record, as NONMEM does)."""
    if cov_t.size == 0:
        return p
    from . import kernel

    q = np.array(p, dtype=float)
    kernel._set_covariates(float(t), q, cm.n_params, cov_t, cov_v, cov_kind)
    return q


def _with_ss_resets(doses: tuple, ss_doses: Sequence[tuple], n: int,
                    ys: Sequence[np.ndarray]) -> tuple:
    """Dose arrays plus a reset to ``ys[k]`` at the time of SS dose ``k``, and the resets."""
    cols = [list(c) for c in doses]
    for k, (time, *_rest) in enumerate(ss_doses):
        for col, v in zip(cols, (time, 3, k, 0.0, 0.0), strict=True):
            col.append(v)
    # the kernel orders events at equal times by kind: resets precede doses
    order = np.argsort(np.asarray(cols[0], dtype=float), kind="mergesort")
    d_time, d_type, d_cmt, d_amt, d_dur = (np.asarray(c)[order] for c in cols)
    return (np.ascontiguousarray(d_time, dtype=float), d_type.astype(np.int64),
            d_cmt.astype(np.int64), np.ascontiguousarray(d_amt, dtype=float),
            np.ascontiguousarray(d_dur, dtype=float),
            np.asarray(ys, dtype=float).reshape(len(ys), n))


def _bad_dose_error(cm: CompiledModel, p: np.ndarray, t: float | None) -> RegimenError:
    F, lag = cm.bioavailability_lag(p)
    bad = [f"{nm}: F = {f:g}, lag = {g:g}" for nm, f, g in zip(cm.model.state_names, F, lag,
                                                                strict=True)
           if not (f >= 0 and g >= 0 and np.isfinite(f) and np.isfinite(g))]
    where = "doses" if t is None else f"dose at t = {t:g}"
    return RegimenError(f"{where}: bioavailability (F) and lag must be finite and "
                        f">= 0 ({'; '.join(bad) or 'at the covariate values of that time'})")


def steady_state_error(cm: CompiledModel, p: np.ndarray, cmt: int, dur: float, interval: float,
                       status: int, y: np.ndarray, max_iter: int, who: str = "") -> Exception:
    """The error for a failed :func:`pkpd.kernel.steady_state` (``who`` prefixes it)."""
    from . import kernel

    if status == kernel.SS_LAG:
        _F, lag = cm.bioavailability_lag(p)
        if dur > 0 and lag[cmt] < interval:
            return RegimenError(
                f"{who}steady-state infusion into state {cm.model.state_names[cmt]}: lag "
                f"({lag[cmt]:g}) + duration ({dur:g}) exceeds the interval ({interval:g}), so "
                "the previous infusion is still running at the dose time; the ODE path does not "
                "support this (the exact linear path does, for linear models)")
        return RegimenError(f"{who}steady-state dose into state {cm.model.state_names[cmt]}: lag "
                            f"({lag[cmt]:g}) and infusion duration ({dur:g}) must be shorter "
                            f"than the interval ({interval:g})")
    state = dict(zip(cm.model.state_names, y.tolist(), strict=True))
    if status == kernel.SS_NO_PERIODIC:
        return SimulationError(
            f"{who}no periodic steady state for a dose into state {cm.model.state_names[cmt]} "
            f"every {interval:g}: a state is never eliminated (e.g. an accumulating AUC or "
            "cumulative-effect state), so it grows without bound from dose to dose")
    if status == kernel.BAD_DOSE:
        return _bad_dose_error(cm, p, None)
    if status == kernel.SS_NOT_CONVERGED:
        return SimulationError(f"{who}steady state for model '{cm.model.name}' did not converge "
                               f"in {max_iter} Newton iterations", state=state)
    return SimulationError(f"{who}steady-state search failed: {_STATUS.get(status, status)}",
                           state=state)


def steady_state(cm: CompiledModel, p: np.ndarray, cmt: int, amt: float, dur: float,
                 interval: float, sidx: np.ndarray, prep: Prepared | None = None,
                 *, tol: float = 1e-10, max_iter: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Periodic steady state just before a dose repeated every ``interval``.

    Newton's method on ``G(y) = Phi(y) - y`` in compiled code
    (:func:`pkpd.kernel.steady_state`), where ``Phi`` maps the state before a
    dose to the state before the next one; ``Phi`` is affine for a linear
    model, so one Newton step is exact there (up to the integration tolerance).
    Sensitivities follow from the implicit function theorem:
    ``dy/dp = (I - Phi_y)^-1 Phi_p`` with ``Phi_y`` by finite differences at
    the steady state.
    """
    from . import kernel

    n = cm.n_states
    rtol = prep.rtol if prep else 1e-8
    atol = prep.atol if prep else 1e-12
    p = np.ascontiguousarray(p, dtype=float)
    status, y = kernel.steady_state(cm.address, n, cm.n_params, cm.n_outputs, p, int(cmt),
                                    float(amt), float(dur), float(interval), rtol, atol,
                                    1_000_000, cm.nonautonomous, cm.fused_tsit5, tol, max_iter)
    if status != 0:
        raise steady_state_error(cm, p, cmt, dur, interval, status, y, max_iter)
    if sidx.size == 0:
        return y, np.zeros((n, 0))
    typ = 0 if dur == 0 else 1
    tout = np.array([interval])
    empty = np.zeros(0)
    empty_i = np.zeros(0, dtype=np.int64)

    def phi(y0: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray]:
        st, tf, Y, O, S, OS, zf, stt = kernel.solve(
            cm.address, n, cm.n_params, cm.n_outputs, p, 0.0, tout,
            np.array([0.0, 0.0]), np.array([3, typ], dtype=np.int64),
            np.array([0, cmt], dtype=np.int64), np.array([0.0, amt]), np.array([0.0, dur]),
            y0.reshape(1, n), np.zeros((1, n, s)), empty, np.zeros((0, 0)), empty_i,
            2, rtol * 1e-2, atol * 1e-2, 0.0, 1_000_000, sidx if s else empty_i,
            cm.nonautonomous, cm.fused_tsit5)
        if st != 0:
            raise SimulationError(f"steady-state search failed: {_STATUS.get(st, st)}",
                                  time=float(tf))
        return Y[0], (S[0] if s else np.zeros((n, 0)))

    fy = phi(y, 0)[0]
    J = np.empty((n, n))
    for j in range(n):
        h = 1e-6 * max(abs(y[j]), 1.0)
        yj = y.copy()
        yj[j] += h
        J[:, j] = (phi(yj, 0)[0] - fy) / h
    _, phi_p = phi(y, sidx.size)
    return y, np.linalg.solve(np.eye(n) - J, phi_p)


def _regimen_arrays(model: Model, regimen: Regimen, t_end: float) -> tuple:
    names = {n: i for i, n in enumerate(model.state_names)}
    rows = []
    ss_doses = []
    for d in regimen.check(model):
        if isinstance(d, Reset):
            rows.append((d.time, 2, 0, 0.0, 0.0))
            continue
        c = names[d.target]
        dur = d.duration if isinstance(d, Infusion) else 0.0
        typ = 1 if isinstance(d, Infusion) else 0
        if typ == 1 and dur == 0:
            continue  # an infusion of nothing
        if d.ss:
            ss_doses.append((d.time, c, d.amount, dur, d.interval))
        for tk in d.times():
            if tk > t_end:
                break
            rows.append((float(tk), typ, c, d.amount, dur))
    rows.sort(key=lambda r: r[0])
    arr = np.array(rows, dtype=float).reshape(-1, 5)
    return (np.ascontiguousarray(arr[:, 0]), arr[:, 1].astype(np.int64), arr[:, 2].astype(np.int64),
            np.ascontiguousarray(arr[:, 3]), np.ascontiguousarray(arr[:, 4]), tuple(ss_doses))


def prepare(model: Model | CompiledModel, regimen: Any, times: Any, *,
            covariates: Mapping[str, float] | pd.DataFrame | None = None,
            interpolation: Mapping[str, str] | None = None, method: str = "auto",
            rtol: float = 1e-6, atol: float = 1e-9, hmax: float | None = None,
            max_steps: int = 100_000) -> Prepared:
    """Validate inputs and build the arrays the kernel needs (see :func:`simulate`)."""
    cm = model if isinstance(model, CompiledModel) else compile_model(model)
    model = cm.model
    if method not in _METHODS:
        raise ValueError(f"method must be one of {sorted(_METHODS)}, got {method!r}")
    if not (rtol > 0 and atol > 0 and math.isfinite(rtol) and math.isfinite(atol)):
        raise ValueError(f"rtol and atol must be positive and finite, got {rtol!r}, {atol!r}")
    t = np.asarray(times, dtype=float)
    if t.ndim != 1 or t.size == 0:
        raise ValueError("times must be a non-empty 1-D sequence of output times")
    if not np.all(np.isfinite(t)):
        raise ValueError("times must be finite")
    if np.any(np.diff(t) < 0):
        raise ValueError("times must be sorted in increasing order")
    reg = as_regimen(regimen).check(model)
    d_time, d_type, d_cmt, d_amt, d_dur, ss = _regimen_arrays(model, reg, float(t[-1]))
    t0 = min(0.0, float(t[0]), float(d_time.min(initial=0.0)), *(ts for ts, *_ in ss))
    cov_t, cov_v, cov_kind = _covariate_arrays(model, covariates, interpolation)
    linear = None
    if method in ("auto", "analytic") and cov_t.size == 0:
        linear = _linear_memo(model)
        if linear is None and method == "analytic":
            raise SimulationError(f"method='analytic' needs a linear time-invariant model; "
                                  f"model '{model.name}' is not")
    elif method == "analytic":
        raise SimulationError("method='analytic' does not support time-varying covariates")
    return Prepared(cm, reg, np.ascontiguousarray(t), t0, d_time, d_type, d_cmt, d_amt, d_dur,
                    cov_t, cov_v, cov_kind, ss, method, float(rtol), float(atol),
                    float(hmax or 0.0), int(max_steps), linear)


_LINEAR_MEMO: dict[Any, Any] = {}


def _linear_memo(model: Model) -> Any:
    from .analytic import linear_form
    from .compile import _structure_key

    key = _structure_key(model)
    if key not in _LINEAR_MEMO:
        _LINEAR_MEMO[key] = linear_form(model)
    return _LINEAR_MEMO[key]


def _covariate_arrays(model: Model, covariates: Any, interpolation: Mapping[str, str] | None) -> tuple:
    ncov = len(model.covariates)
    empty = (np.zeros(0), np.zeros((0, ncov)), np.zeros(ncov, dtype=np.int64))
    if covariates is None or isinstance(covariates, Mapping):
        if interpolation:
            raise ValueError("interpolation applies to time-varying covariates given as a DataFrame")
        return empty
    import pandas as pd

    if not isinstance(covariates, pd.DataFrame):
        raise TypeError("covariates must be a mapping of constant values or a DataFrame "
                        "with a 'time' column")
    if "time" not in covariates.columns:
        raise ValueError("a time-varying covariate table needs a 'time' column")
    tv = [c for c in covariates.columns if c != "time"]
    for c in tv:
        if c not in model.covariate_names:
            from .errors import ModelError, closest

            raise ModelError(f"model '{model.name}' has no covariate '{c}'"
                             f"{closest(c, model.covariate_names)}")
    interpolation = dict(interpolation or {})
    for k, v in interpolation.items():
        if k not in tv:
            raise ValueError(f"interpolation given for '{k}', which is not a column of the covariate table")
        if v not in _INTERP:
            raise ValueError(f"interpolation for '{k}' must be one of {sorted(_INTERP)}, got {v!r}")
    ct = covariates["time"].to_numpy(dtype=float)
    if np.any(np.diff(ct) <= 0) or not np.all(np.isfinite(ct)):
        raise ValueError("covariate times must be finite and strictly increasing")
    vals = np.tile(np.array([c.value for c in model.covariates], dtype=float), (len(ct), 1))
    kind = np.zeros(ncov, dtype=np.int64)
    for c in tv:
        j = model.covariate_names.index(c)
        col = covariates[c].to_numpy(dtype=float)
        if not np.all(np.isfinite(col)):
            raise ValueError(f"covariate '{c}' has non-finite values")
        vals[:, j] = col
        kind[j] = _INTERP[interpolation.get(c, "locf")]
    return np.ascontiguousarray(ct), np.ascontiguousarray(vals), kind


@dataclass(frozen=True, eq=False)
class Simulation:
    """The result of :func:`simulate`.

    Attributes
    ----------
    model : Model
        The model with the parameter values used.
    regimen : Regimen
    times : ndarray (nt,)
    states : ndarray (nt, n_states)
    outputs : ndarray (nt, n_outputs)
    method : str
        The method used ("analytic", "nonstiff", "stiff" or "auto").
    stats : dict
        Right-hand-side evaluations, Jacobians, accepted and rejected steps, and
        ``solver``: what ran ("analytic", "tsit5", "rodas4" or "tsit5, then
        rodas4" when "auto" switched).
    """

    model: Model
    regimen: Regimen
    times: np.ndarray
    states: np.ndarray
    outputs: np.ndarray
    method: str
    rtol: float
    atol: float
    stats: dict = field(default_factory=dict)
    covariates: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        """The time course of a state or output by name."""
        if name in self.model.output_names:
            return self.outputs[:, self.model.output_names.index(name)]
        if name in self.model.state_names:
            return self.states[:, self.model.state_names.index(name)]
        if name == "time":
            return self.times
        from .errors import closest

        raise KeyError(f"no state or output '{name}'"
                       f"{closest(name, self.model.state_names + self.model.output_names)}")

    def to_frame(self) -> pd.DataFrame:
        """Tidy DataFrame: ``time``, every state, every output."""
        import pandas as pd

        data = {"time": self.times}
        for i, n in enumerate(self.model.state_names):
            data[n] = self.states[:, i]
        for i, n in enumerate(self.model.output_names):
            data[n] = self.outputs[:, i]
        return pd.DataFrame(data)

    def to_dict(self) -> dict:
        """Plain-data form (schema version 1)."""
        return {"schema": 1, "model": self.model.name, "method": self.method,
                "rtol": self.rtol, "atol": self.atol,
                "params": self.model.param_values, "covariates": self.covariates,
                "regimen": self.regimen.in_words(self.model.time_unit),
                "data": self.to_frame().to_dict(orient="list")}

    def plot(self, outputs: Sequence[str] | None = None, **kw: Any) -> Any:
        """Plot outputs against time (see :func:`pkpd.plot.plot_simulation`)."""
        from .plot import plot_simulation

        return plot_simulation(self, outputs, **kw)

    def __repr__(self) -> str:
        return (f"<Simulation {self.model.name!r}: {len(self.times)} times "
                f"{self.times[0]:g}..{self.times[-1]:g} {self.model.time_unit}, "
                f"{len(self.regimen)} dose entries, method={self.method}>")


def _solver_used(method: str, switched: bool) -> str:
    if method == "analytic":
        return "analytic"
    code = _METHODS[method]
    if code == 1:
        return "rodas4"
    return "tsit5, then rodas4" if switched else "tsit5"


def simulate(model: Model, regimen: Regimen | Bolus | Infusion | Sequence | None, times: Any, *,
             params: Mapping[str, float] | None = None,
             covariates: Mapping[str, float] | pd.DataFrame | None = None,
             interpolation: Mapping[str, str] | None = None, method: str = "auto",
             rtol: float = 1e-6, atol: float = 1e-9, hmax: float | None = None,
             max_steps: int = 100_000) -> Simulation:
    """Simulate ``model`` under ``regimen`` and report states and outputs at ``times``.

    Parameters
    ----------
    model : Model
    regimen : Regimen, dose, list of doses or None
        Doses (see :mod:`pkpd.dosing` for the exact semantics).
    times : array_like
        Sorted output times, in the model's time unit. Integration starts at
        ``min(0, times[0], first dose)`` from the model's initial state.
    params : mapping, optional
        Parameter values overriding the model's.
    covariates : mapping or DataFrame, optional
        Constant covariate values, or a table with a ``time`` column for
        time-varying covariates.
    interpolation : mapping, optional
        Per time-varying covariate: ``"locf"`` (default), ``"nocb"`` or ``"linear"``.
    method : {"auto", "nonstiff", "stiff", "analytic"}
        See the module docstring.
    rtol, atol : float
        Relative and absolute tolerances of the integrator.
    hmax : float, optional
        Largest step size.
    max_steps : int
        Step budget per subject before a :class:`SimulationError`.

    Returns
    -------
    Simulation

    Raises
    ------
    SimulationError
        If integration fails; it carries the time, state and parameters.
    RegimenError
        If a dose targets a state the model does not have.

    Examples
    --------
    >>> import numpy as np
    >>> from pkpd import load_model, simulate, Bolus
    >>> m = load_model("pk_1cmt_iv")
    >>> sim = simulate(m, Bolus(0, 100, "central"), np.arange(0, 25, 6.0))
    >>> sim.to_frame().shape[0]
    5
    """
    if params:
        model = model.with_params(dict(params))
    cov_const = dict(covariates) if isinstance(covariates, Mapping) else {}
    if cov_const:
        model = model.with_covariates(cov_const)
    prep = key = t = None
    if covariates is None or isinstance(covariates, Mapping):
        # Repeated calls (fits, scans, W4) reuse the validated kernel arrays of
        # the same structure, regimen, grid and options; only values change.
        t = np.asarray(times, dtype=float)
        key = _prepared_key(model, regimen, t, interpolation, method, rtol, atol, hmax,
                            max_steps)
        hit = _PREPARED.get(key) if key is not None else None
        prep = hit[0] if hit is not None else None
    if prep is None:
        prep = prepare(model, regimen, times, covariates=None if cov_const else covariates,
                       interpolation=interpolation, method=method, rtol=rtol, atol=atol,
                       hmax=hmax, max_steps=max_steps)
        t = prep.times
        if key is not None:
            if len(_PREPARED) >= _PREPARED_MAX:
                _PREPARED.clear()
            # a private copy of the grid: the caller may change their array later
            _PREPARED[key] = (replace(prep, times=prep.times.copy()), _structure_parts(model))
    p = value_vector(model)  # this model's values; the cached prep may hold another's
    Y, O, _, _, stats = prep.run(p)
    used = "analytic" if prep.linear is not None else method
    st = {"nfev": int(stats[0]), "njev": int(stats[1]), "naccept": int(stats[2]),
          "nreject": int(stats[3]), "switched_to_stiff": bool(stats[4]),
          "solver": _solver_used(used, bool(stats[4]))}
    return Simulation(model, prep.regimen, t, Y, O, used, rtol, atol, st,
                      model.covariate_values)


_PREPARED: dict[tuple, tuple[Prepared, tuple]] = {}
_PREPARED_MAX = 64


def _prepared_key(model: Model, regimen: Any, t: np.ndarray, interpolation: Any, method: str,
                  rtol: float, atol: float, hmax: Any, max_steps: int) -> tuple | None:
    """Cache key of :func:`prepare`'s work for :func:`simulate`, or None if not cacheable.

    Everything ``prepare`` reads except parameter and covariate values: the
    model's structure, the regimen (frozen, compared by value), the exact
    output grid and the options. The structure enters by the identity of the
    model's (immutable) equation tuples, which ``with_params`` and
    ``with_covariates`` share with the original: comparing sympy expressions
    would cost more than the work saved. The cached entry holds those tuples,
    so their ids cannot be reused while it exists. Unhashable input is simply
    not cached.
    """
    if interpolation or t.ndim != 1:
        return None
    try:
        reg = regimen if isinstance(regimen, Regimen) else as_regimen(regimen)
        key = (*(id(x) for x in _structure_parts(model)), model.param_names,
               model.covariate_names, model.dose_target, reg, t.tobytes(), method,
               rtol, atol, hmax, max_steps)
        hash(key)
    except (TypeError, RegimenError):
        return None  # prepare() reports bad input
    return key


def _structure_parts(model: Model) -> tuple:
    return (model.states, model.odes, model.assignments, model.outputs,
            model.bioavailability, model.lag)

