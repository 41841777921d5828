"""Maximum-likelihood fitting of models to data: :func:`fit` -> :class:`FitResult`.

This is the only module that imports lmfit.

The objective
-------------
Every fit minimises the exact Gaussian objective ``OFV = -2 log L``. For an
observation ``y`` with prediction ``f`` and standard deviation ``s``::

    -2 log L_i = log(2 pi) + 2 log s + ((y - f) / s)**2      observed value
    -2 log L_i = -2 log Phi((LLOQ - f) / s)                   below LLOQ (M3)

with ``s`` given by the output's residual error model:

=============== ================================ =============================
error model     standard deviation ``s``         parameters
=============== ================================ =============================
"additive"      ``a``                            ``sigma_add_<output>``
"proportional"  ``b * |f|``                      ``sigma_prop_<output>``
"combined"      ``sqrt(a**2 + b**2 * f**2)``     both of the above
"lognormal"     ``c`` on ``log y`` vs ``log f``  ``sigma_log_<output>``
=============== ================================ =============================

For the log-normal model the reported OFV includes ``2 * sum(log y)``, the
Jacobian of the log transform, so it is the density of the untransformed data
and OFV, AIC and BIC compare across error models.

How it is minimised
-------------------
The OFV is written exactly as a sum of squares so that lmfit's
``least_squares`` (scipy's trust-region reflective method, with bounds) can
minimise it with a Jacobian. Each observed value contributes two residuals
and each censored one a single residual::

    r_i = (y_i - f_i) / s_i
    q_i = sqrt(2 log s_i + c_i)          c_i = 4 - 2 log s_i(x_anchor)
    m_j = sqrt(-2 log Phi(z_j))          z_j = (LLOQ_j - f_j) / s_j  (>= 0 always)

so that ``sum r**2 + sum q**2 + sum m**2 = OFV - n log(2 pi) + sum c``, a
constant shift that does not move the minimum. ``q_i`` needs ``2 log s_i +
c_i > 0``: the constants are anchored at the starting point (where
``q_i**2 = 4``, which also gives the Gauss-Newton matrix most of the curvature
of ``2 log s``), a trial point that would shrink some ``s_i`` below
``exp(-2)`` of its anchor value returns non-finite residuals (the solver
rejects it and shortens its step), and the solver restarts with constants
re-anchored whenever the solution comes near that limit. The result is the
exact maximum-likelihood estimate.

The Jacobian of the residuals is exact: the derivatives of the predictions
come from the forward sensitivity equations of the compiled model
(``jacobian="sensitivity"``, the default) and are chained through the error
model, the log transforms and the censoring terms. ``jacobian="fd"`` uses
finite differences instead (relative step ``sqrt(rtol)``).

Uncertainty
-----------
``cov = 2 H^-1`` with ``H`` the Hessian of the OFV at the estimate, in the
fitting parametrisation (log scale where asked), from central differences of
the analytic gradient ``2 J^T r``; the delta method gives the covariance on
the natural scale. :func:`profile` gives likelihood-profile intervals,
:func:`bootstrap` case or parametric bootstrap intervals.

Examples
--------
>>> from pkpd import datasets
>>> from pkpd.fit import fit
>>> from pkpd.language import load_model
>>> theoph = datasets.load("theoph")
>>> res = fit(load_model("pk_1cmt_oral"), theoph[theoph.ID == 1],
...           vary=["ka", "CL", "V"], fixed={"Fbio": 1, "tlag": 0}, error="additive")
>>> res.success, round(res.params["CL"], 2)
(True, 1.59)
"""

from __future__ import annotations

import json
import math
import numbers
import os
import time as _time
import tomllib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import special, stats

from .curves import bounds_hit
from .data import OBSERVATION_COLUMNS, Dataset, Subject, read_nonmem
from .dosing import Reset, as_regimen
from .errors import DataError, FitError, PkpdError, SimulationError, SpecError, closest, plain
from .model import Model
from .simulate import Prepared, prepare

if TYPE_CHECKING:  # pragma: no cover
    from .compile import CompiledModel

__all__ = ["fit", "fit_each", "FitResult", "SubjectFits", "profile", "Profile", "bootstrap", "Bootstrap",
           "run_fit", "ERROR_MODELS"]

SCHEMA_VERSION = 1

#: Residual error models and the error parameters each estimates.
ERROR_MODELS: dict[str, tuple[str, ...]] = {
    "additive": ("add",),
    "proportional": ("prop",),
    "combined": ("add", "prop"),
    "lognormal": ("log",),
}
_KIND = {"additive": 0, "proportional": 1, "combined": 2, "lognormal": 3}
_CENSORING = ("m3", "drop")
#: The lmfit methods :func:`fit` offers: "least_squares" uses the Jacobian, the others
#: minimise the OFV from its values alone. Left out: methods that need the gradient or
#: Hessian of the OFV (newton, trust-ncg, trust-exact, trust-krylov, dogleg), finite bounds
#: on every parameter (differential_evolution, dual_annealing; error parameters have none)
#: or a grid (brute), and emcee (a sampler, not an optimiser).
_METHODS = ("least_squares", "leastsq", "nelder", "powell", "lbfgsb", "bfgs", "cg", "tnc",
           "slsqp", "cobyla", "trust-constr", "basinhopping", "ampgo", "shgo")
_EPS = float(np.finfo(float).eps)
_ANCHOR = 4.0        # q_i**2 at the anchor point
_REANCHOR_BELOW = 1.0  # restart when some q_i**2 falls below this at the solution
_MAX_RESTARTS = 12
_LOG2PI = math.log(2 * math.pi)


# --------------------------------------------------------------------------- the problem
@dataclass(eq=False)
class _Unit:
    """One subject: a prepared simulation and where its observations sit in it."""

    id: Any
    prep: Prepared
    p0: np.ndarray
    ti: np.ndarray        # index into prep.times per observation
    oi: np.ndarray        # index into model outputs per observation
    sl: slice             # this subject's slice of the problem's observation arrays


class _Problem:
    """Everything a fit needs, built once: data arrays, parameters, transforms."""

    def __init__(self, model: Model, dataset: Dataset, *, vary: Any, fixed: Any, error: Any,
                 log_params: Any, outputs: Any, censoring: Any, rtol: float, atol: float,
                 method: str = "auto"):
        from .compile import compile_model

        self.rtol, self.atol = float(rtol), float(atol)
        self._fixed_errors = _fixed_errors(fixed)
        fixed = _fixed_values(model, fixed)
        self.model = model.with_params(fixed) if fixed else model
        self.fixed = fixed
        self.cm: CompiledModel = compile_model(self.model)
        obs, self.outputs = _select_observations(self.model, dataset, outputs)
        self.error = _error_models(self.outputs, error)
        self.censoring = _censoring(self.outputs, censoring, obs)
        if self.censoring and any(v == "drop" for v in self.censoring.values()):
            drop = obs["cens"].to_numpy() == 1
            drop &= obs["output"].map(lambda o: self.censoring.get(o) == "drop").to_numpy(bool)
            obs = obs[~drop]
        if obs.empty:
            raise DataError("no observations to fit" + (
                f" of outputs {', '.join(self.outputs)}" if self.outputs else ""))
        self.dataset = dataset
        self._arrays(obs)
        self._parameters(vary, log_params)
        self._units(dataset, obs, method)

    # ---------------------------------------------------------------- data
    def _arrays(self, obs: pd.DataFrame) -> None:
        obs = obs.reset_index(drop=True)
        self.obs = obs
        kinds = np.array([_KIND[self.error[o]] for o in obs["output"]], dtype=np.int64)
        y = obs["dv"].to_numpy(float)
        cens = obs["cens"].to_numpy(int) == 1
        lloq = obs["lloq"].to_numpy(float)
        lloq = np.where(cens & ~np.isfinite(lloq), y, lloq)  # Monolix/nlmixr: DV holds the limit
        lognormal = kinds == 3
        for i in np.flatnonzero(lognormal & ~cens & (y <= 0)):
            raise DataError(f"{_where(obs, i)}: {obs['output'][i]} = {y[i]:g} is not positive, "
                            f"which a lognormal error model cannot use; exclude the row (EXCL=1), "
                            f"mark it censored (CENS=1) or use an additive or combined error model")
        for i in np.flatnonzero(cens & ~(np.isfinite(lloq) & ((lloq > 0) | ~lognormal))):
            raise DataError(f"{_where(obs, i)}: censored {obs['output'][i]} needs a "
                            f"{'positive ' if lognormal[i] else ''}finite limit (LLOQ or DV); "
                            f"got {lloq[i]:g}")
        for i in np.flatnonzero(~np.isfinite(y) & ~cens):
            raise DataError(f"{_where(obs, i)}: DV of {obs['output'][i]} is not a finite number")
        self.kind = kinds
        self.cens = cens
        self.out_names = obs["output"].to_numpy()
        self._out_rows = {o: np.flatnonzero(self.out_names == o) for o in dict.fromkeys(self.out_names)}
        self.y_raw = y
        self.y = np.where(lognormal & ~cens, np.log(np.where(y > 0, y, 1.0)), y)
        self.lloq = np.where(lognormal & cens, np.log(np.where(lloq > 0, lloq, 1.0)), lloq)
        self.n = len(y)
        self.n_unc = int((~cens).sum())
        self.log_jacobian = 2.0 * float(np.sum(self.y[lognormal & ~cens]))

    def _units(self, dataset: Dataset, obs: pd.DataFrame, method: str) -> None:
        ids = obs["ID"].to_numpy()
        out_index = {n: i for i, n in enumerate(self.model.output_names)}
        units = []
        order = []
        for s in dataset:
            mask = np.asarray([x == s.id for x in ids])
            rows = np.flatnonzero(mask)
            if rows.size == 0:
                continue
            t = obs["time"].to_numpy(float)[rows]
            times = np.unique(t)
            start = len(order)
            order.extend(rows.tolist())
            cov_const, cov_table, interp = _subject_covariates(self.model, s)
            try:
                prep = prepare(self.cm, s.regimen, times, covariates=cov_table,
                               interpolation=interp, method=method, rtol=self.rtol,
                               atol=self.atol)
            except (PkpdError, ValueError) as exc:
                raise DataError(f"ID {s.id}: {exc}") from exc
            p0 = prep.base_vector(covariates=cov_const)
            units.append(_Unit(s.id, prep, p0, np.searchsorted(times, t),
                               np.array([out_index[o] for o in obs["output"].to_numpy()[rows]]),
                               slice(start, len(order))))
        perm = np.asarray(order)
        # observation arrays in unit order, so a subject's predictions are contiguous
        self.obs = self.obs.iloc[perm].reset_index(drop=True)
        for name in ("kind", "cens", "y_raw", "y", "lloq"):
            setattr(self, name, getattr(self, name)[perm])
        self.units = units
        self._check_doses()

    def _check_doses(self) -> None:
        """Refuse observations the model predicts as 0 whatever the parameters.

        A subject without doses is refused when every state starts at 0 and the
        model predicts 0 at all its observations (at the initial values): with
        nothing put into the system the predictions stay 0 (a fit would "converge"
        at the initial values). A model with a non-zero initial state (a baseline)
        or an input that is not a dose (a zero-order production) predicts
        something without doses and is fitted as usual. Observations before the
        first dose that the model predicts as 0 are refused row by row.
        """
        theta = self.natural(self.x_init)
        f = self.predict_obs(theta)
        zero = self.negligible(f)
        undosed = []
        for u in self.units:
            first = [d.time for d in u.prep.regimen if not isinstance(d, Reset)]
            if not first:
                p = u.p0.copy()
                p[self.struct_idx] = theta[~self.is_err]
                if not np.any(self.cm.initial_state(p)) and zero[u.sl].all():
                    undosed.append(u)
                continue
            t = u.prep.times[u.ti]
            bad = (t < min(first)) & zero[u.sl] & ~self.cens[u.sl]
            for i in np.flatnonzero(bad):
                k = u.sl.start + i
                raise DataError(
                    f"{_where(self.obs, k)}: {self.obs['output'][k]} observed at time "
                    f"{t[i]:g}, before the first dose at {min(first):g}, where the model "
                    f"predicts 0 whatever the parameters; drop the row or set EXCL=1")
        if undosed:
            ids = [str(u.id) for u in undosed]
            n = sum(u.sl.stop - u.sl.start for u in undosed)
            who = (f"ID {ids[0]} has" if len(ids) == 1 else
                   f"IDs {', '.join(ids[:10])}{', ...' if len(ids) > 10 else ''} "
                   f"({len(ids)} subjects) have")
            raise DataError(
                f"{who} observations ({n}) but no doses; model '{self.model.name}' starts "
                f"every state at 0 and, with nothing dosed, predicts "
                f"{' and '.join(self.outputs)} = 0 at all of them (a fit would not move from "
                f"the initial values); give the doses (regimen= with a long table of "
                f"observations, the dose rows (AMT) of a NONMEM dataset) or leave "
                f"{'this subject' if len(ids) == 1 else 'these subjects'} out")

    # ---------------------------------------------------------------- parameters
    def _parameters(self, vary: Any, log_params: Any) -> None:
        m = self.model
        err_names: list[str] = []
        self.err_kind: dict[str, str] = {}
        for o in self.outputs:
            for k in ERROR_MODELS[self.error[o]]:
                n = f"sigma_{k}_{o}"
                err_names.append(n)
                self.err_kind[n] = k
        err_fixed = {n: float(v) for n, v in self._fixed_errors.items()}
        for n in err_fixed:
            if n not in err_names:
                raise FitError(f"fixed error parameter '{n}' is not used by the error models "
                               f"({_error_text(self.error)}){_closest(n, err_names)}")
        spec = _vary_spec(vary, m, err_names, exclude=set(self.fixed) | set(err_fixed))
        log_params = _log_names(log_params, spec)
        names, init, lower, upper, is_log, is_err = [], [], [], [], [], []
        for name, (v0, lo, hi) in spec.items():
            err = name in err_names
            if v0 is None:
                v0 = m.param(name).value if not err else math.nan
            if lo is None:
                lo = m.param(name).lower if not err else 0.0
            if hi is None:
                hi = m.param(name).upper if not err else math.inf
            lg = err or name in log_params
            if lg and lo < 0:
                raise FitError(f"parameter '{name}' is fitted on the log scale but its lower "
                               f"bound is {lo:g}; give a lower bound >= 0")
            if not math.isnan(v0) and not (lo <= v0 <= hi):
                raise FitError(f"initial value of '{name}' ({v0:g}) is outside its bounds "
                               f"[{lo:g}, {hi:g}]")
            if lg and not math.isnan(v0) and v0 <= 0:
                raise FitError(f"parameter '{name}' is fitted on the log scale, so its initial "
                               f"value must be positive; got {v0:g}")
            names.append(name)
            init.append(v0)
            lower.append(lo)
            upper.append(hi)
            is_log.append(lg)
            is_err.append(err)
        self.names = names
        self.is_log = np.array(is_log, dtype=bool)
        self.is_err = np.array(is_err, dtype=bool)
        self.lower = np.array(lower, float)
        self.upper = np.array(upper, float)
        self.struct_names = [n for n, e in zip(names, is_err, strict=True) if not e]
        self.struct_idx = np.array([m.param_names.index(n) for n in self.struct_names],
                                   dtype=np.int64)
        self.err_fixed = err_fixed
        self.err_names = err_names
        self._init = np.array(init, float)
        if not names:
            raise FitError("no free parameters: every parameter is fixed")

    def finish_init(self) -> None:
        """Fill unset error-parameter initial values from the residuals at the start."""
        missing = np.isnan(self._init)
        if not missing.any():
            return
        theta = self._init.copy()
        theta[missing] = 1.0
        f = self.predict_obs(theta)
        ftr = np.where(self.kind == 3, np.log(np.abs(f) + 1e-300), f)
        res = (self.y - ftr)[~self.cens]
        out = self.obs["output"].to_numpy()[~self.cens]
        fo = f[~self.cens]
        for j in np.flatnonzero(missing):
            name = self.names[j]
            k = self.err_kind[name]
            o = name[len(f"sigma_{k}_"):]
            sel = out == o
            rr = res[sel]
            if k == "prop":
                rr = rr / np.maximum(np.abs(fo[sel]), 1e-12)
            v = float(np.sqrt(np.mean(rr ** 2))) if rr.size else 1.0
            if self.error[o] == "combined":
                v *= 0.7
            if not (math.isfinite(v) and v > 0):
                v = 1.0 if k != "add" else float(np.mean(np.abs(self.y[~self.cens])) or 1.0)
            self._init[j] = min(max(v, self.lower[j] if self.lower[j] > 0 else v), self.upper[j])

    @property
    def x_init(self) -> np.ndarray:
        theta = np.where(np.isnan(self._init), 1.0, self._init)
        return self.internal(theta)

    def internal(self, theta: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.where(self.is_log, np.log(np.where(self.is_log, theta, 1.0)), theta)

    def natural(self, x: np.ndarray) -> np.ndarray:
        return np.where(self.is_log, np.exp(np.where(self.is_log, x, 0.0)), x)

    def bounds_internal(self) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(divide="ignore"):
            lo = np.where(self.is_log, np.log(np.maximum(self.lower, 0.0)), self.lower)
            hi = np.where(self.is_log, np.log(self.upper), self.upper)
        return lo, hi

    def error_values(self, theta: np.ndarray) -> dict[str, float]:
        vals = dict(self.err_fixed)
        for j in np.flatnonzero(self.is_err):
            vals[self.names[j]] = float(theta[j])
        return vals

    # ---------------------------------------------------------------- evaluation
    def predict_obs(self, theta: np.ndarray, sens: bool = False) -> Any:
        """Predictions at the observations (and their sensitivities, (n, n_struct))."""
        ns = len(self.struct_idx)
        f = np.empty(self.n)
        df = np.zeros((self.n, ns)) if sens else None
        ts = theta[~self.is_err]
        for u in self.units:
            p = u.p0.copy()
            p[self.struct_idx] = ts
            _, O, _, OS, _ = u.prep.run(p, sens=self.struct_idx if sens else None)
            f[u.sl] = O[u.ti, u.oi]
            if sens:
                df[u.sl] = OS[u.ti, u.oi, :]
        return (f, df) if sens else f

    def sd(self, theta: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        """Standard deviations, the transformed predictions and d s / d log(sigma)."""
        err = self.error_values(theta)
        a, b, c = np.zeros(self.n), np.zeros(self.n), np.zeros(self.n)
        for o, rows in self._out_rows.items():
            a[rows] = err.get(f"sigma_add_{o}", 0.0)
            b[rows] = err.get(f"sigma_prop_{o}", 0.0)
            c[rows] = err.get(f"sigma_log_{o}", 0.0)
        k = self.kind
        with np.errstate(divide="ignore", invalid="ignore"):
            # kinds: 0 additive, 1 proportional, 2 combined, 3 lognormal
            s = np.where(k == 0, a, np.where(k == 1, b * np.abs(f), np.where(
                k == 2, np.sqrt(a * a + b * b * f * f), np.where(k == 3, c, 0.0))))
            ftr = np.where(k == 3, np.log(np.where(f > 0, f, np.nan)), f)
        return s, ftr, {"a": a, "b": b, "c": c}

    def residuals(self, x: np.ndarray, jac: bool = False) -> Any:
        """The residual vector (and its Jacobian w.r.t. the internal parameters)."""
        theta = self.natural(x)
        if jac:
            f, df = self.predict_obs(theta, sens=True)
        else:
            f = self.predict_obs(theta)
        s, ftr, ev = self.sd(theta, f)
        u, c = ~self.cens, self.cens
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (self.y[u] - ftr[u]) / s[u]
            q2 = 2.0 * np.log(s[u]) + self.anchor
            q = np.sqrt(np.where(q2 > 0, q2, np.nan))
            z = (self.lloq[c] - ftr[c]) / s[c]
            lphi = special.log_ndtr(z)
            m = np.sqrt(np.maximum(-2.0 * lphi, 0.0))
        rho = np.concatenate([r, q, m])
        if not jac:
            return rho
        J = self._jacobian(theta, f, df, s, ftr, ev, r, q, z, lphi, m)
        return rho, J

    def _jacobian(self, theta, f, df, s, ftr, ev, r, q, z, lphi, m) -> np.ndarray:
        k = self.kind
        npar = len(self.names)
        # d f_transformed / d x and d s / d x, per observation
        dft = np.zeros((self.n, npar))
        ds = np.zeros((self.n, npar))
        scol = np.flatnonzero(~self.is_err)
        chain = np.where(self.is_log[scol], theta[scol], 1.0)
        dfx = df * chain
        with np.errstate(divide="ignore", invalid="ignore"):
            dft[:, scol] = np.where((k == 3)[:, None], dfx / f[:, None], dfx)
            a, b = ev["a"], ev["b"]
            dsdf = np.select([k == 1, k == 2], [b * np.sign(f), b * b * f / s], 0.0)
        ds[:, scol] = dsdf[:, None] * dfx
        out = self.out_names
        for j in np.flatnonzero(self.is_err):
            name = self.names[j]
            kk = self.err_kind[name]
            o = name[len(f"sigma_{kk}_"):]
            sel = out == o
            if kk == "add":
                d = np.where(k == 2, a * a / s, a)
            elif kk == "prop":
                d = np.where(k == 2, b * b * f * f / s, b * np.abs(f))
            else:
                d = ev["c"]
            ds[sel, j] = d[sel]
        u, c = ~self.cens, self.cens
        su = s[u][:, None]
        Jr = (-dft[u] - r[:, None] * ds[u]) / su
        Jq = ds[u] / su / q[:, None]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            dz = (-dft[c] - z[:, None] * ds[c]) / s[c][:, None]
            # d m / d z = -phi(z) / (Phi(z) m), evaluated in logs; 0 where m underflows
            lpdf = -0.5 * z * z - 0.5 * _LOG2PI
            dm = np.where(m > 0, -np.exp(lpdf - lphi - np.log(np.where(m > 0, m, 1.0))), 0.0)
        Jm = dm[:, None] * dz
        return np.vstack([Jr, Jq, Jm])

    def negligible(self, f: np.ndarray) -> np.ndarray:
        """Predictions that are zero up to rounding (below 1e-10 of the output's largest)."""
        out = self.out_names
        scale = np.zeros(self.n)
        for o in self.outputs:
            sel = out == o
            scale[sel] = np.max(np.abs(f[sel]), initial=0.0)
        return np.abs(f) <= 1e-10 * scale

    def anchor_at(self, x: np.ndarray) -> None:
        theta = self.natural(x)
        f = self.predict_obs(theta)
        s, _, _ = self.sd(theta, f)
        relative = (self.kind == 1) | (self.kind == 3)
        s = np.where(relative & self.negligible(f), 0.0, s)
        su = s[~self.cens]
        bad = ~(np.isfinite(su) & (su > 0))
        if bad.any():
            i = np.flatnonzero(~self.cens)[np.flatnonzero(bad)[0]]
            raise DataError(
                f"{_where(self.obs, i)}: the model predicts {self.obs['output'][i]} = "
                f"{0.0 if self.negligible(f)[i] else f[i]:g} "
                f"at time {self.obs['time'][i]:g}, where the {self.error[self.obs['output'][i]]} "
                f"error model gives a standard deviation of {su[np.flatnonzero(bad)[0]]:g}; "
                "exclude the row (EXCL=1) or use an additive or combined error model")
        self.anchor = _ANCHOR - 2.0 * np.log(su)

    def ofv(self, rho: np.ndarray) -> float:
        return float(rho @ rho + self.n_unc * _LOG2PI - np.sum(self.anchor) + self.log_jacobian)

    def q2_min(self, x: np.ndarray) -> float:
        rho = self.residuals(x)
        q = rho[self.n_unc:2 * self.n_unc]
        return float(np.min(q * q)) if q.size else math.inf


def _closest(name: str, candidates: Sequence[str]) -> str:
    """``closest`` that also catches a difference in case only ('cl' -> 'CL')."""
    same = [c for c in candidates if c.lower() == name.lower()]
    return f"; did you mean '{same[0]}'?" if same else closest(name, candidates)


def _where(obs: pd.DataFrame, i: int) -> str:
    row = obs["row"].iloc[i] if "row" in obs.columns else None
    rid = obs["ID"].iloc[i]
    if row is not None and not (isinstance(row, float) and math.isnan(row)):
        return f"row {int(row)} (ID {rid})"
    return f"observation {i + 1} (ID {rid})"


def _error_text(error: Mapping[str, str]) -> str:
    return ", ".join(f"{o}: {k}" for o, k in error.items())


def _fixed_items(fixed: Any) -> dict[str, Any]:
    """``fixed`` as name -> value (``None``: the model's value)."""
    if fixed is None:
        return {}
    if isinstance(fixed, Mapping):
        items = dict(fixed)
    elif isinstance(fixed, str):
        items = {fixed: None}
    elif isinstance(fixed, Sequence | set | frozenset):
        items = dict.fromkeys(fixed)
    else:
        raise FitError(f"fixed must be a parameter name, a sequence of names or a mapping "
                       f"name -> value; got {_got(fixed)}")
    for n, v in items.items():
        if not isinstance(n, str):
            raise FitError(f"fixed names a parameter by {_got(n)}; names are strings")
        if v is not None:
            _number(v, f"fixed value of '{n}'")
    return items


def _fixed_values(model: Model, fixed: Any) -> dict[str, float]:
    out = {}
    for n, v in _fixed_items(fixed).items():
        if n.startswith("sigma_"):
            continue
        if n not in model.param_names:
            raise FitError(f"fixed parameter '{n}' is not a parameter of model '{model.name}'"
                           f"{_closest(n, model.param_names)}; parameters are: "
                           + ", ".join(model.param_names))
        out[n] = float(model.param(n).value if v is None else v)
    return out


def _fixed_errors(fixed: Any) -> dict[str, float]:
    out = {}
    for n, v in _fixed_items(fixed).items():
        if n.startswith("sigma_"):
            if v is None:
                raise FitError(f"fixed error parameter '{n}' needs a value (error parameters "
                               "have no default); give fixed={name: value}")
            out[n] = float(v)
    return out


def _number(v: Any, what: str, *, finite: bool = True) -> float:
    """``v`` as a float, or a :class:`FitError` saying that ``what`` must be a number."""
    if not _is_real(v) or (finite and not math.isfinite(v)) or math.isnan(v):
        kind = "a finite number" if finite else "a number"
        raise FitError(f"{what} must be {kind}; got {_got(v)}")
    return float(v)


def _vary_spec(vary: Any, model: Model, err_names: list[str], exclude: set[str]) -> dict:
    known = list(model.param_names) + err_names
    if vary is None:
        spec: dict[str, Any] = {n: None for n in model.param_names if n not in exclude}
        spec.update({n: None for n in err_names if n not in exclude})
    elif isinstance(vary, str):
        spec = {vary: None}
    elif isinstance(vary, Mapping):
        spec = dict(vary)
    elif isinstance(vary, Sequence | set | frozenset):
        spec = dict.fromkeys(vary)
    else:
        raise FitError(f"vary must be a parameter name, a sequence of names or a mapping "
                       f"name -> initial value, (initial, lower, upper) or a dict; "
                       f"got {_got(vary)}")
    for n in err_names:  # error parameters not named are estimated unless fixed
        if n not in spec and n not in exclude:
            spec[n] = None
    out = {}
    for n, v in spec.items():
        if n not in known:
            raise FitError(f"free parameter '{n}' is not a parameter of model '{model.name}' "
                           f"nor an error parameter{_closest(n, known)}; parameters are: "
                           + ", ".join(known))
        if n in exclude:
            raise FitError(f"parameter '{n}' is both free and fixed")
        if v is None:
            out[n] = (None, None, None)
        elif isinstance(v, Mapping):
            for k in v:
                if k not in _VARY_KEYS:
                    raise FitError(f"vary['{n}'] has an unknown key {k!r}"
                                   f"{_closest(str(k), _VARY_KEYS)}; keys are: "
                                   + ", ".join(_VARY_KEYS))
            out[n] = (_opt(v.get("init", v.get("value")), f"initial value of '{n}'"),
                      _opt(v.get("lower", v.get("min")), f"lower bound of '{n}'", finite=False),
                      _opt(v.get("upper", v.get("max")), f"upper bound of '{n}'", finite=False))
        elif isinstance(v, Sequence) and not isinstance(v, str):
            if len(v) != 3:
                raise FitError(f"vary['{n}'] must be an initial value or (initial, lower, "
                               f"upper); got {v!r}")
            out[n] = (_opt(v[0], f"initial value of '{n}'"),
                      _opt(v[1], f"lower bound of '{n}'", finite=False),
                      _opt(v[2], f"upper bound of '{n}'", finite=False))
        else:
            out[n] = (_number(v, f"initial value of '{n}'"), None, None)
    return out


_VARY_KEYS = ("init", "lower", "upper", "value", "min", "max")


def _opt(v: Any, what: str, *, finite: bool = True) -> float | None:
    return None if v is None else _number(v, what, finite=finite)


def _log_names(log_params: Any, spec: Mapping[str, Any]) -> set[str]:
    if log_params is None:
        return set()
    if isinstance(log_params, str):
        return set(spec) if log_params == "all" else {log_params}
    if not isinstance(log_params, Sequence | set | frozenset) or not all(
            isinstance(n, str) for n in log_params):
        raise FitError(f"log_params must be 'all' or a sequence of parameter names; "
                       f"got {_got(log_params)}")
    names = set(log_params)
    for n in names:
        if n not in spec:
            raise FitError(f"log_params names '{n}', which is not a free parameter"
                           f"{_closest(n, list(spec))}; free parameters are: " + ", ".join(spec))
    return names


def _select_observations(model: Model, dataset: Dataset, outputs: Any) -> tuple:
    if outputs is not None and not (isinstance(outputs, str) or (
            isinstance(outputs, Sequence | set | frozenset)
            and all(isinstance(o, str) for o in outputs))):
        raise FitError(f"outputs must be an output name or a sequence of names; "
                       f"got {_got(outputs)}")
    obs = dataset.observations()
    if obs.empty:
        raise DataError("the dataset has no observations to fit")
    have = list(dict.fromkeys(obs["output"].tolist()))
    for o in have:
        if o not in model.output_names and (outputs is None or o in outputs):
            raise DataError(f"the data observe output '{o}', which model '{model.name}' does not "
                            f"have{_closest(str(o), model.output_names)}; outputs are: "
                            + ", ".join(model.output_names))
    if outputs is None:
        outs = have
    else:
        outs = [outputs] if isinstance(outputs, str) else list(outputs)
        for o in outs:
            if o not in model.output_names:
                raise DataError(f"model '{model.name}' has no output '{o}'"
                                f"{_closest(o, model.output_names)}; outputs are: "
                                + ", ".join(model.output_names))
            if o not in have:
                raise DataError(f"the data have no observations of output '{o}'; observed: "
                                + ", ".join(map(str, have)))
    obs = obs[obs["output"].isin(outs)]
    if obs.empty:
        raise DataError("no observations to fit")
    return obs, [o for o in have if o in outs]


def _error_models(outputs: list[str], error: Any) -> dict[str, str]:
    if error is None:
        error = "additive"
    if isinstance(error, str):
        error = dict.fromkeys(outputs, error)
    if not isinstance(error, Mapping):
        raise FitError(f"error must be an error model ({', '.join(ERROR_MODELS)}) or a mapping "
                       f"output -> error model; got {_got(error)}")
    out = {}
    for o in outputs:
        k = error.get(o, "additive")
        if not isinstance(k, str) or k not in ERROR_MODELS:
            hint = _closest(k, list(ERROR_MODELS)) if isinstance(k, str) else ""
            raise FitError(f"error model for '{o}' must be one of {', '.join(ERROR_MODELS)}; "
                           f"got {k!r}{hint}")
        out[o] = k
    for o in error:
        if o not in outputs:
            raise FitError(f"an error model is given for '{o}', which is not a fitted output"
                           f"{_closest(o, outputs)}; fitted outputs: " + ", ".join(outputs))
    return out


def _censoring(outputs: list[str], censoring: Any, obs: pd.DataFrame) -> dict[str, str]:
    if censoring is None:
        censoring = "m3"
    if isinstance(censoring, str):
        censoring = dict.fromkeys(outputs, censoring)
    if not isinstance(censoring, Mapping):
        raise FitError(f"censoring must be 'm3', 'drop' or a mapping output -> 'm3' or 'drop'; "
                       f"got {_got(censoring)}")
    out = {}
    for o, v in censoring.items():
        if o not in outputs:
            raise FitError(f"censoring is given for '{o}', which is not a fitted output"
                           f"{_closest(o, outputs)}")
        if v not in _CENSORING:
            raise FitError(f"censoring for '{o}' must be 'm3' (likelihood of being below the "
                           f"limit) or 'drop' (ignore censored rows); got {v!r}")
        out[o] = v
    names = obs["output"].to_numpy()
    cens = obs["cens"].to_numpy() == 1
    return {o: out.get(o, "m3") for o in outputs if bool(np.any(cens & (names == o)))}


def _subject_covariates(model: Model, s: Subject) -> tuple:
    names = set(model.covariate_names)
    const = {k: v for k, v in s.covariates.items() if k in names}
    table = None
    interp = None
    if s.covariate_table is not None:
        cols = [c for c in s.covariate_table.columns[1:] if c in names]
        if cols:
            table = s.covariate_table[["time", *cols]]
            interp = {c: s.interpolation.get(c, "locf") for c in cols}
    return const, table, interp


# --------------------------------------------------------------------------- data input
def _as_dataset(model: Model, data: Any, regimen: Any) -> Dataset:
    if isinstance(data, Dataset):
        if regimen is not None:
            raise FitError("regimen= is only for a long table of observations; a Dataset "
                           "carries its doses")
        return data
    if isinstance(data, (str, os.PathLike)):
        return read_nonmem(data, model)
    if isinstance(data, pd.DataFrame):
        if regimen is None and not ("time" in data.columns and "TIME" not in data.columns):
            return read_nonmem(data, model)
        return _long_dataset(model, data, regimen)
    raise FitError(f"data must be a Dataset, a NONMEM-convention DataFrame or CSV path, or a "
                   f"long DataFrame with regimen=; got {type(data).__name__}")


def _long_dataset(model: Model, frame: pd.DataFrame, regimen: Any) -> Dataset:
    cols = {c.lower(): c for c in frame.columns}
    for need in ("time", "dv"):
        if need not in cols:
            raise DataError(f"a long observation table needs columns time and dv (and output, "
                            f"cens, lloq, id as needed); missing: {need}; columns are: "
                            + ", ".join(map(str, frame.columns)))
    n = len(frame)
    if "output" in cols:
        out = frame[cols["output"]].astype(str).to_numpy()
    elif len(model.output_names) == 1:
        out = np.array([model.output_names[0]] * n)
    else:
        raise DataError(f"model '{model.name}' has several outputs "
                        f"({', '.join(model.output_names)}); add an 'output' column")
    ids = frame[cols["id"]].to_numpy() if "id" in cols else np.ones(n, dtype=int)
    time = _numeric_column(frame, cols["time"], "a time")
    for i in np.flatnonzero(~np.isfinite(time)):
        raise DataError(f"row {i + 1}: {cols['time']} is {_cell(frame, cols['time'], i)}; "
                        "every observation needs a finite time")
    cens = np.zeros(n, int)
    if "cens" in cols:
        c = _numeric_column(frame, cols["cens"], "0 (observed) or 1 (censored)")
        c = np.where(np.isnan(c), 0.0, c)  # missing reads as 0, as in read_nonmem
        for i in np.flatnonzero((c != 0) & (c != 1)):
            raise DataError(f"row {i + 1}: {cols['cens']} is {_cell(frame, cols['cens'], i)}; "
                            "it must be 0 (observed) or 1 (below the limit of quantification)")
        cens = c.astype(int)
    obs = pd.DataFrame({
        "time": time, "output": out,
        "dv": _numeric_column(frame, cols["dv"], "an observed value (or the limit if censored)"),
        "cens": cens,
        "lloq": (_numeric_column(frame, cols["lloq"], "a limit of quantification")
                 if "lloq" in cols else np.full(n, np.nan)),
        "row": np.arange(1, n + 1)})
    subjects = []
    for sid in dict.fromkeys(ids.tolist()):
        sub = obs[ids == sid].sort_values("time", kind="mergesort").reset_index(drop=True)
        if isinstance(regimen, Mapping):
            if sid not in regimen:
                raise DataError(f"no regimen given for ID {sid}; regimen= has IDs "
                                + ", ".join(map(str, regimen)))
            reg = regimen[sid]
        else:
            reg = regimen
        subjects.append(Subject(sid, as_regimen(reg), sub[list(OBSERVATION_COLUMNS)]))
    return Dataset(tuple(subjects), tuple(dict.fromkeys(out.tolist())))


def _numeric_column(frame: pd.DataFrame, col: Any, what: str) -> np.ndarray:
    """Column ``col`` as floats (missing: nan); a DataError names the first row that is not
    a number."""
    values = frame[col]
    num = pd.to_numeric(values, errors="coerce").to_numpy(float)
    for i in np.flatnonzero(np.isnan(num) & values.notna().to_numpy()):
        raise DataError(f"row {i + 1}: {col} is {_cell(frame, col, i)}, which is not a number; "
                        f"{col} must be {what}")
    return num


def _cell(frame: pd.DataFrame, col: Any, i: int) -> str:
    v = frame[col].iloc[i]
    return "missing" if pd.isna(v) else repr(plain(v))


# --------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class FitResult:
    """The result of :func:`fit`.

    Attributes
    ----------
    model : Model
        The model with the estimates (and fixed values) applied.
    params : dict[str, float]
        Estimates of the free parameters, error parameters included.
    stderr : dict[str, float]
        Standard errors (``nan`` when the covariance could not be computed).
    init : dict[str, float]
        Initial values.
    bounds : dict[str, tuple[float, float]]
    log_params : tuple of str
        Parameters fitted on the log scale (error parameters always are).
    fixed : dict[str, float]
        Fixed parameters, error parameters included.
    error : dict[str, str]
        Error model per fitted output.
    censoring : dict[str, str]
        How censored observations of each output are handled ("m3" or "drop").
    covariance, correlation : ndarray
        In the order of ``params``, on the natural scale.
    ofv : float
        Objective function value, ``-2 log L``.
    aic, bic : float
    n_obs, n_params, n_subjects : int
    nfev, njev : int
        Model evaluations of the whole dataset without and with sensitivities
        (including those of the covariance step).
    success : bool
    message : str
    jacobian : str
        ``"sensitivity"`` or ``"fd"``.
    method : str
        The lmfit method.
    elapsed : float
        Wall time of the fit (s).
    """

    model: Model
    params: dict[str, float]
    stderr: dict[str, float]
    init: dict[str, float]
    bounds: dict[str, tuple[float, float]]
    log_params: tuple[str, ...]
    fixed: dict[str, float]
    error: dict[str, str]
    censoring: dict[str, str]
    covariance: np.ndarray
    correlation: np.ndarray
    ofv: float
    aic: float
    bic: float
    n_obs: int
    n_params: int
    n_subjects: int
    nfev: int
    njev: int
    success: bool
    message: str
    jacobian: str
    method: str
    elapsed: float
    data: Dataset = field(repr=False)
    predictions: pd.DataFrame = field(repr=False)
    options: dict = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        est = ", ".join(f"{k}={v:.4g}" for k, v in self.params.items())
        state = "converged" if self.success else "FAILED"
        return (f"<FitResult {self.model.name!r} {state}: OFV={self.ofv:.6g}, {est}; "
                f"{self.n_obs} obs, {self.n_subjects} subjects, nfev={self.nfev}>")

    @property
    def at_bound(self) -> dict[str, str]:
        """Parameters at (within 1e-6 relative of) a bound: name -> "lower" or "upper"."""
        return bounds_hit(self.params, self.bounds)

    def raise_for_status(self) -> FitResult:
        """Raise :class:`~pkpd.errors.FitError` unless the fit succeeded; return self."""
        if not self.success:
            raise FitError(f"fit of model '{self.model.name}' did not succeed: {self.message}")
        return self

    def summary(self) -> str:
        """A report laid out like lmfit's ``fit_report``."""
        lines = ["[[Fit Statistics]]",
                 f"    model              = {self.model.name}",
                 f"    method             = {self.method} " + (
                     f"(jacobian: {self.jacobian})" if self.method == "least_squares" else
                     f"(no jacobian in the search; covariance from the {self.jacobian} "
                     "jacobian)"),
                 f"    error model        = {_error_text(self.error)}"]
        if self.censoring:
            lines.append("    censoring          = " + ", ".join(
                f"{o}: {v.upper() if v == 'm3' else v}" for o, v in self.censoring.items()))
        lines += [f"    # subjects         = {self.n_subjects}",
                  f"    # data points      = {self.n_obs}",
                  f"    # variables        = {self.n_params}",
                  f"    # function evals   = {self.nfev}",
                  f"    # jacobian evals   = {self.njev}",
                  f"    -2LL (OFV)         = {self.ofv:.6g}",
                  f"    AIC                = {self.aic:.6g}",
                  f"    BIC                = {self.bic:.6g}",
                  f"    success            = {self.success}",
                  f"    message            = {self.message}"]
        lines.append("[[Variables]]")
        width = max([len(n) for n in [*self.params, *self.fixed]] + [4])
        ab = self.at_bound
        for n, v in self.params.items():
            se = self.stderr[n]
            lo, hi = self.bounds[n]
            text = f"    {n + ':':<{width + 1}} {v:.6g}"
            if math.isfinite(se):
                rel = f" ({100 * se / abs(v):.2f}%)" if v != 0 else ""
                text += f" +/- {se:.6g}{rel}"
            else:
                text += " +/- nan"
            text += f" (init = {self.init[n]:.6g}, bounds = [{lo:g}, {hi:g}]"
            text += ", log)" if n in self.log_params else ")"
            if n in ab:
                text += f" at {ab[n]} boundary"
            lines.append(text)
        for n, v in self.fixed.items():
            lines.append(f"    {n + ':':<{width + 1}} {v:.6g} (fixed)")
        names = list(self.params)
        pairs = []
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                c = self.correlation[i, j]
                if math.isfinite(c) and abs(c) > 0.1:
                    pairs.append((abs(c), names[i], names[j], c))
        if pairs:
            lines.append("[[Correlations]] (unreported correlations are < 0.100)")
            w = max(len(f"C({a}, {b})") for _, a, b, _ in pairs)
            for _, a, b, c in sorted(pairs, reverse=True):
                lines.append(f"    {f'C({a}, {b})':<{w}} = {c:+.4f}")
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """One row per parameter: estimate, standard error, RSE %, init, bounds, flags."""
        rows = []
        ab = self.at_bound
        for n, v in self.params.items():
            se = self.stderr[n]
            lo, hi = self.bounds[n]
            rows.append({"name": n, "value": v, "stderr": se,
                         "rse_percent": 100 * se / abs(v) if v != 0 else math.nan,
                         "init": self.init[n], "lower": lo, "upper": hi, "fixed": False,
                         "log": n in self.log_params, "at_bound": ab.get(n, "")})
        for n, v in self.fixed.items():
            rows.append({"name": n, "value": v, "stderr": math.nan, "rse_percent": math.nan,
                         "init": v, "lower": math.nan, "upper": math.nan, "fixed": True,
                         "log": False, "at_bound": ""})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        """Plain-data form (schema version 1)."""
        return {"schema": SCHEMA_VERSION, "kind": "FitResult", "model": self.model.name,
                "params": self.params, "stderr": {k: _num(v) for k, v in self.stderr.items()},
                "init": self.init, "bounds": {k: [_num(a), _num(b)] for k, (a, b) in
                                              self.bounds.items()},
                "log_params": list(self.log_params), "fixed": self.fixed, "error": self.error,
                "censoring": self.censoring,
                "covariance": [[_num(x) for x in row] for row in self.covariance.tolist()],
                "correlation": [[_num(x) for x in row] for row in self.correlation.tolist()],
                "ofv": self.ofv, "aic": self.aic, "bic": self.bic, "n_obs": self.n_obs,
                "n_params": self.n_params, "n_subjects": self.n_subjects, "nfev": self.nfev,
                "njev": self.njev, "success": self.success, "message": self.message,
                "jacobian": self.jacobian, "method": self.method, "at_bound": self.at_bound}

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """JSON text of :meth:`to_dict` (written to ``path`` when given)."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    def predict(self, times: Any = None, data: Any = None) -> pd.DataFrame:
        """Predictions of the fitted model.

        Parameters
        ----------
        times : array_like, optional
            Output times for every subject; the frame then has ``ID``, ``time``
            and one column per model output.
        data : Dataset or DataFrame, optional
            Another dataset (default: the fitted one). Without ``times``: one
            row per observation with ``pred``.

        Returns
        -------
        pandas.DataFrame
            Without ``times`` and ``data``: the fitted observations with
            ``pred``, ``res`` (``dv - pred``), ``sd`` and ``iwres`` (weighted
            residual, on the log scale for log-normal error).
        """
        if times is None and data is None:
            return self.predictions.copy()
        ds = self.data if data is None else _as_dataset(self.model, data, None)
        frames = []
        for s in ds:
            cov_const, table, interp = _subject_covariates(self.model, s)
            if times is not None:
                t = np.sort(np.asarray(times, dtype=float))
            else:
                t = np.unique(s.observations["time"].to_numpy(float))
            prep = prepare(self.model, s.regimen, t, covariates=table, interpolation=interp,
                           rtol=self.options.get("rtol", 1e-8), atol=self.options.get("atol", 1e-10))
            _, O, _, _, _ = prep.run(prep.base_vector(covariates=cov_const))
            if times is not None:
                fr = pd.DataFrame(O, columns=list(self.model.output_names))
                fr.insert(0, "time", t)
                fr.insert(0, "ID", s.id)
            else:
                obs = s.observations
                oi = [self.model.output_names.index(o) for o in obs["output"]]
                fr = obs.assign(ID=s.id, pred=O[np.searchsorted(t, obs["time"]), oi])
                fr = fr[["ID", "time", "output", "dv", "cens", "pred"]]
            frames.append(fr)
        return pd.concat(frames, ignore_index=True)

    def plot(self, kind: str = "gof", **kw: Any) -> Any:
        """Goodness-of-fit figure (``"gof"``) or individual fits (``"individual"``)."""
        from .plot import plot_gof, plot_individual_fits

        if kind == "gof":
            return plot_gof(self, **kw)
        if kind == "individual":
            return plot_individual_fits(self, **kw)
        raise ValueError(f"kind must be 'gof' or 'individual', got {kind!r}")


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


@dataclass(frozen=True, eq=False)
class SubjectFits:
    """One :class:`FitResult` per subject, from :func:`fit_each`."""

    fits: tuple[FitResult, ...]
    ids: tuple[Any, ...]

    def __len__(self) -> int:
        return len(self.fits)

    def __iter__(self) -> Any:
        return iter(self.fits)

    def __getitem__(self, id: Any) -> FitResult:
        for i, r in zip(self.ids, self.fits, strict=True):
            if i == id or str(i) == str(id):
                return r
        raise KeyError(f"no subject with ID {id!r}; IDs are: {', '.join(map(str, self.ids))}")

    @property
    def success(self) -> bool:
        """Whether every subject's fit succeeded."""
        return all(r.success for r in self.fits)

    def raise_for_status(self) -> SubjectFits:
        """Raise :class:`~pkpd.errors.FitError` naming the subjects whose fit failed."""
        bad = [f"ID {i}: {r.message}" for i, r in zip(self.ids, self.fits, strict=True)
               if not r.success]
        if bad:
            raise FitError("per-subject fits failed: " + "; ".join(bad))
        return self

    def to_frame(self) -> pd.DataFrame:
        """One row per subject: estimates, standard errors, OFV, success, nfev."""
        rows = []
        for i, r in zip(self.ids, self.fits, strict=True):
            row: dict[str, Any] = {"ID": i}
            for n, v in r.params.items():
                row[n] = v
                row[f"se_{n}"] = r.stderr[n]
            row.update({"ofv": r.ofv, "n_obs": r.n_obs, "nfev": r.nfev, "success": r.success,
                        "at_bound": ",".join(r.at_bound)})
            rows.append(row)
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """The table of estimates as text, then each failed fit's message."""
        text = self.to_frame().to_string(index=False, float_format=lambda v: f"{v:.5g}")
        failed = [f"ID {i}: {r.message}" for i, r in zip(self.ids, self.fits, strict=True)
                  if not r.success]
        return text + ("\nfailed:\n" + "\n".join(failed) if failed else "")

    def to_dict(self) -> dict:
        """Plain-data form (schema version 1)."""
        return {"schema": SCHEMA_VERSION, "kind": "SubjectFits",
                "fits": {str(i): r.to_dict() for i, r in zip(self.ids, self.fits, strict=True)}}

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """JSON text of :meth:`to_dict` (written to ``path`` when given)."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    def __repr__(self) -> str:
        ok = sum(r.success for r in self.fits)
        return f"<SubjectFits: {len(self)} subjects, {ok} converged>"


# --------------------------------------------------------------------------- fitting
def fit(model: Model, data: Any, *, vary: Any = None, fixed: Any = None, error: Any = None,
        log_params: Any = (), outputs: Any = None, censoring: Any = None,
        regimen: Any = None,
        jacobian: str = "sensitivity", method: str = "least_squares",
        max_nfev: int | None = None, rtol: float = 1e-8, atol: float = 1e-10,
        tol: float = 1e-9, solver: str = "auto", covariance: bool = True) -> Any:
    """Fit model parameters to data by maximum likelihood.

    Parameters
    ----------
    model : Model
    data : Dataset, DataFrame or path
        A :class:`~pkpd.data.Dataset`, a NONMEM-convention frame or CSV file
        (read with :func:`~pkpd.data.read_nonmem`), or a long frame of
        observations (``time``, ``dv``, optional ``output``, ``cens``,
        ``lloq``, ``id``) together with ``regimen=``. All subjects share the
        parameters (a pooled fit); :func:`fit_each` fits each subject alone.
    vary : sequence of str or mapping, optional
        Free parameters: names, or ``{name: init}``, ``{name: (init, lower,
        upper)}`` or ``{name: {"init": .., "lower": .., "upper": ..}}``
        (``None`` in a tuple keeps the default). Defaults: the model's value
        and bounds. Default: every parameter that is not fixed. Error
        parameters (``sigma_add_<output>``, ``sigma_prop_<output>``,
        ``sigma_log_<output>``) are always free unless fixed; their default
        initial value is the root mean square of the residuals at the start.
    fixed : sequence of str or mapping, optional
        Parameters held at the model's value or at the given value (error
        parameters too).
    error : str or mapping, optional
        Error model for all outputs, or per output: "additive" (default),
        "proportional", "combined" or "lognormal" (see the module docstring).
    log_params : sequence of str or "all"
        Parameters fitted on the log scale (bounds must be >= 0).
    outputs : sequence of str, optional
        Outputs to fit (default: every observed output).
    censoring : str or mapping, optional
        Per output: "m3" (default where there are censored rows) or "drop".
    regimen : Regimen, optional
        Doses for a long table of observations (or a mapping ID -> Regimen).
    jacobian : {"sensitivity", "fd"}
        Forward sensitivities of the compiled model, or finite differences.
    method : str
        lmfit method: "least_squares" (trust-region reflective with bounds)
        uses the Jacobian; "leastsq", "nelder", "powell", "lbfgsb", "bfgs",
        "cg", "tnc", "slsqp", "cobyla", "trust-constr", "basinhopping",
        "ampgo" and "shgo" minimise the OFV without it. Any other name is a
        :class:`~pkpd.errors.FitError`.
    max_nfev : int, optional
        Budget of residual evaluations, a positive integer (default
        ``200 * (n_params + 1)``).
    rtol, atol : float
        Integrator tolerances, positive.
    tol : float
        ``ftol``, ``xtol`` and ``gtol`` of "least_squares", from machine epsilon
        (2.2e-16) to below 1 (default 1e-9: estimates agree with an independent
        least-squares fit to better than 4 significant digits,
        ``tests/reference/test_fit_reference.py``).
    solver : str
        Integration method of :func:`~pkpd.simulate.prepare` ("auto",
        "nonstiff", "stiff", ...).
    covariance : bool
        Compute the covariance matrix (2 n_params extra sensitivity runs).

    Returns
    -------
    FitResult
        A failed fit is returned with ``success=False`` and a message; call
        :meth:`FitResult.raise_for_status` to turn that into an error.

    Raises
    ------
    DataError
        Observations of outputs the model lacks, no observations, an
        observation before the first dose where the model predicts 0, a
        subject with observations but no doses of a model whose states all
        start at 0 (it predicts 0 at every observation), non-positive values
        with a log-normal error model, non-numeric values in a long table.
    FitError
        Unknown or doubly given parameters, bad bounds or options (an unknown
        ``method``, a ``tol``, ``rtol``, ``atol`` or ``max_nfev`` out of range).
    """
    opts = _options(vary=vary, fixed=fixed, error=error, log_params=log_params, outputs=outputs,
                    censoring=censoring, jacobian=jacobian, method=method, max_nfev=max_nfev,
                    rtol=rtol, atol=atol, tol=tol, solver=solver, covariance=covariance)
    dataset = _as_dataset(model, data, regimen)
    return _fit_dataset(model, dataset, opts)


def _options(**opts: Any) -> dict[str, Any]:
    """Check the options of :func:`fit` that do not depend on the model or the data."""
    from .simulate import _METHODS as _SOLVERS

    if opts["jacobian"] not in ("sensitivity", "fd"):
        raise FitError(f"jacobian must be 'sensitivity' or 'fd'; got {_got(opts['jacobian'])}")
    method = opts["method"]
    if method not in _METHODS:
        hint = _closest(method, _METHODS) if isinstance(method, str) else ""
        raise FitError(f"method must be one of {', '.join(_METHODS)}; got {_got(method)}{hint}")
    solver = opts["solver"]
    if not isinstance(solver, str) or solver not in _SOLVERS:
        hint = _closest(solver, list(_SOLVERS)) if isinstance(solver, str) else ""
        raise FitError(f"solver must be one of {', '.join(_SOLVERS)}; got {_got(solver)}{hint}")
    n = opts["max_nfev"]
    if n is not None and not (_is_int(n) and n >= 1):
        raise FitError(f"max_nfev must be a positive integer (model evaluations) or None; "
                       f"got {_got(n)}")
    for key in ("rtol", "atol"):
        if not (_is_real(opts[key]) and 0 < opts[key] < math.inf):
            raise FitError(f"{key} must be a positive number (integrator tolerance); "
                           f"got {_got(opts[key])}")
    if not (_is_real(opts["tol"]) and _EPS <= opts["tol"] < 1):
        raise FitError(f"tol must be a number from {_EPS:.3g} (machine epsilon) to below 1 "
                       f"(ftol, xtol and gtol of the optimiser); got {_got(opts['tol'])}")
    if not isinstance(opts["covariance"], bool | np.bool_):
        raise FitError(f"covariance must be True or False; got {_got(opts['covariance'])}")
    return opts


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool | np.bool_)


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_)


def _got(v: Any) -> str:
    """``'100' (str)``: a received value and its type, for error messages."""
    return f"{v!r} ({type(v).__name__})"


def fit_each(model: Model, data: Any, *, n_jobs: int = 1, progress: bool | None = None,
             regimen: Any = None, **kwargs: Any) -> SubjectFits:
    """Fit each subject of a dataset separately (one :func:`fit` per subject).

    Parameters
    ----------
    model : Model
    data : Dataset, DataFrame or path
        As for :func:`fit`; subjects without observations are skipped.
    n_jobs : int
        Worker processes (1: in this process, -1: one per core). Results do
        not depend on it.
    progress : bool, optional
        Progress bar (tqdm); default on for 50 subjects or more.
    regimen : Regimen, optional
        As for :func:`fit`.
    **kwargs
        Every other option of :func:`fit` (``vary``, ``fixed``, ``error``,
        ``log_params``, ...), applied to each subject.

    Returns
    -------
    SubjectFits
        One :class:`FitResult` per subject, in dataset order; a subject whose
        fit failed has ``success=False`` (see :meth:`SubjectFits.raise_for_status`).

    Examples
    --------
    >>> from pkpd import datasets, load_model
    >>> fits = fit_each(load_model("pk_1cmt_oral"), datasets.load("theoph"),
    ...                 vary=["ka", "CL", "V"], fixed={"Fbio": 1, "tlag": 0})
    >>> fits.to_frame()[["ID", "CL"]].head(2)  # doctest: +SKIP
    """
    import inspect

    allowed = set(inspect.signature(fit).parameters) - {"model", "data", "regimen"}
    for k in kwargs:
        if k not in allowed:
            raise FitError(f"fit_each got an unknown option '{k}'{_closest(k, sorted(allowed))}")
    defaults = {k: p.default for k, p in inspect.signature(fit).parameters.items()
                if k in allowed}
    opts = _options(**(defaults | kwargs))
    if not (_is_int(n_jobs) and (n_jobs == -1 or n_jobs >= 1)):
        raise ValueError(f"n_jobs must be -1 (all cores) or a positive integer; got {_got(n_jobs)}")
    if progress is not None and not isinstance(progress, bool | np.bool_):
        raise ValueError(f"progress must be True, False or None; got {_got(progress)}")
    dataset = _as_dataset(model, data, regimen)
    subjects = [Dataset((s,), dataset.outputs, dataset.covariate_names)
                for s in dataset if not s.observations.empty]
    if not subjects:
        raise DataError("no subject has observations to fit")
    from .population import _progress_bar

    bar = _progress_bar(progress if progress is not None else len(subjects) >= 50, len(subjects))
    workers = (os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs)
    fits = _run_jobs(_fit_dataset, [(model, one, opts) for one in subjects], workers, bar)
    return SubjectFits(tuple(fits), tuple(r.data.subjects[0].id for r in fits))


def _run_jobs(fn: Any, jobs: list[tuple], workers: int, bar: Any) -> list:
    """``[fn(*args) for args in jobs]``, in order, in this process (``workers == 1``) or in
    up to ``workers`` spawned processes (fork is unsafe once numba has started threads);
    advances and finally closes the progress bar ``bar`` (or None)."""
    try:
        if workers == 1 or len(jobs) == 1:
            out = []
            for args in jobs:
                out.append(fn(*args))
                if bar is not None:
                    bar.update(1)
            return out
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx) as pool:
            futures = [pool.submit(fn, *args) for args in jobs]
            out = []
            for fu in futures:
                out.append(fu.result())
                if bar is not None:
                    bar.update(1)
            return out
    finally:
        if bar is not None:
            bar.close()


def _build(model: Model, dataset: Dataset, opts: Mapping[str, Any]) -> _Problem:
    return _Problem(model, dataset, vary=opts["vary"], fixed=opts["fixed"], error=opts["error"],
                    log_params=opts["log_params"], outputs=opts["outputs"],
                    censoring=opts["censoring"], rtol=opts["rtol"], atol=opts["atol"],
                    method=opts["solver"])


class _Counter:
    def __init__(self) -> None:
        self.nfev = 0
        self.njev = 0
        self.sim_error: str | None = None


def _fit_dataset(model: Model, dataset: Dataset, opts: Mapping[str, Any],
                 x_start: np.ndarray | None = None) -> FitResult:
    import lmfit

    t_start = _time.perf_counter()
    try:
        prob = _build(model, dataset, opts)
    except SimulationError as exc:
        raise FitError(f"the model cannot be simulated at the initial values: {exc}") from exc
    cnt = _Counter()
    try:
        prob.finish_init()
        x = prob.x_init if x_start is None else np.asarray(x_start, float)
        prob.anchor_at(x)
    except SimulationError as exc:
        return _failed(prob, dataset, opts, cnt, t_start,
                       f"the model cannot be simulated at the initial values: {exc}")
    lo, hi = prob.bounds_internal()
    x = np.clip(x, lo, hi)
    x_init = x.copy()
    npar = len(prob.names)
    max_nfev = opts["max_nfev"] or 200 * (npar + 1)
    pnames = [f"p{i}" for i in range(npar)]

    def values(params: Any) -> np.ndarray:
        return np.array([params[n].value for n in pnames])

    def resid(params: Any) -> np.ndarray:
        cnt.nfev += 1
        try:
            return prob.residuals(values(params))
        except SimulationError as exc:
            cnt.sim_error = str(exc)
            return np.full(prob.n + prob.n_unc, np.inf)

    def jac(params: Any) -> np.ndarray:
        cnt.njev += 1
        try:
            return prob.residuals(values(params), jac=True)[1]
        except SimulationError as exc:  # pragma: no cover - accepted points simulate
            cnt.sim_error = str(exc)
            return np.zeros((prob.n + prob.n_unc, npar))

    message, success = "", False
    tol = float(opts["tol"])
    use_jac = opts["method"] == "least_squares"
    for _restart in range(_MAX_RESTARTS):
        params = lmfit.Parameters()
        for i, n in enumerate(pnames):
            params.add(n, value=float(x[i]), min=float(lo[i]), max=float(hi[i]))
        mini = lmfit.Minimizer(resid, params, nan_policy="propagate", calc_covar=False)
        budget = max(max_nfev - cnt.nfev, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                if use_jac:
                    kws: dict[str, Any] = {"ftol": tol, "xtol": tol, "gtol": tol,
                                           "x_scale": "jac"}
                    if opts["jacobian"] == "sensitivity":
                        kws["jac"] = jac
                    else:
                        kws["diff_step"] = math.sqrt(max(prob.rtol, 1e-14))
                    out = mini.least_squares(params, max_nfev=budget, **kws)
                else:
                    out = mini.minimize(method=opts["method"], params=params, max_nfev=budget)
            except ValueError as exc:
                message = f"the optimiser stopped: {exc}"
                break
        x = values(out.params)
        success = bool(out.success) and not out.aborted
        message = str(getattr(out, "message", "") or "")
        if out.aborted or not success:
            if cnt.nfev >= max_nfev:
                message = (f"stopped after {cnt.nfev} model evaluations (max_nfev={max_nfev}) "
                           "without converging")
            break
        try:
            if prob.q2_min(x) >= _REANCHOR_BELOW:
                break
            prob.anchor_at(x)
        except (SimulationError, DataError) as exc:
            success, message = False, f"the fit reached parameters the model cannot use: {exc}"
            break
    else:
        success = False
        message = f"the error parameters kept shrinking after {_MAX_RESTARTS} restarts"
    if cnt.sim_error and not success:
        message += f" (last integration failure: {cnt.sim_error})"
    try:
        rho = prob.residuals(x)
        ofv = prob.ofv(rho)
    except (SimulationError, DataError) as exc:
        return _failed(prob, dataset, opts, cnt, t_start, f"{message}; {exc}")
    if not math.isfinite(ofv):
        success = False
        message = message or "the objective is not finite at the solution"
    cov = np.full((npar, npar), np.nan)
    if opts["covariance"] and success:
        cov, note = _covariance(prob, x, cnt)
        if note:
            message = f"{message}; {note}" if message else note
    return _result(prob, dataset, opts, x, x_init, cov, ofv, success, message, cnt, t_start)


def _gradient(prob: _Problem, x: np.ndarray) -> np.ndarray:
    rho, J = prob.residuals(x, jac=True)
    return 2.0 * J.T @ rho


def _covariance(prob: _Problem, x: np.ndarray, cnt: _Counter) -> tuple[np.ndarray, str]:
    """``2 H^-1`` on the natural scale, ``H`` from central differences of the gradient."""
    npar = len(x)
    H = np.empty((npar, npar))
    try:
        for j in range(npar):
            h = 1e-4 * max(1.0, abs(x[j]))
            xp, xm = x.copy(), x.copy()
            xp[j] += h
            xm[j] -= h
            H[:, j] = (_gradient(prob, xp) - _gradient(prob, xm)) / (2 * h)
            cnt.njev += 2
    except (SimulationError, FloatingPointError) as exc:
        return np.full((npar, npar), np.nan), f"covariance step failed: {exc}"
    H = 0.5 * (H + H.T)
    if not np.all(np.isfinite(H)):
        return np.full((npar, npar), np.nan), "covariance step failed: non-finite Hessian"
    try:
        L = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return (np.full((npar, npar), np.nan),
                "covariance step failed: the Hessian is not positive definite "
                "(a parameter may be unidentifiable or at a bound)")
    Linv = np.linalg.inv(L)
    cov_x = 2.0 * Linv.T @ Linv
    d = np.where(prob.is_log, prob.natural(x), 1.0)
    return cov_x * np.outer(d, d), ""


def _failed(prob: _Problem, dataset: Dataset, opts: Mapping[str, Any], cnt: _Counter,
            t_start: float, message: str) -> FitResult:
    npar = len(prob.names)
    x = prob.x_init
    return _result(prob, dataset, opts, x, x, np.full((npar, npar), np.nan), math.nan, False,
                   message, cnt, t_start, predict=False)


def _result(prob: _Problem, dataset: Dataset, opts: Mapping[str, Any], x: np.ndarray,
            x_init: np.ndarray, cov: np.ndarray, ofv: float, success: bool, message: str,
            cnt: _Counter, t_start: float, predict: bool = True) -> FitResult:
    theta = prob.natural(x)
    init = prob.natural(x_init)
    names = prob.names
    se = np.sqrt(np.where(np.diag(cov) >= 0, np.diag(cov), np.nan))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(se, se)
    struct = {n: float(v) for n, v in zip(names, theta, strict=True) if n in prob.struct_names}
    est_model = prob.model.with_params(struct) if struct else prob.model
    fixed = dict(prob.fixed) | prob.err_fixed
    k = len(names)
    preds = _prediction_frame(prob, theta) if predict else prob.obs.copy()
    return FitResult(
        model=est_model, params={n: float(v) for n, v in zip(names, theta, strict=True)},
        stderr={n: float(v) for n, v in zip(names, se, strict=True)},
        init={n: float(v) for n, v in zip(names, init, strict=True)},
        bounds={n: (float(a), float(b)) for n, a, b in
                zip(names, prob.lower, prob.upper, strict=True)},
        log_params=tuple(n for n, lg in zip(names, prob.is_log, strict=True) if lg),
        fixed=fixed, error=dict(prob.error), censoring=dict(prob.censoring),
        covariance=cov, correlation=corr, ofv=ofv, aic=ofv + 2 * k,
        bic=ofv + k * math.log(prob.n), n_obs=prob.n, n_params=k,
        n_subjects=len(prob.units), nfev=cnt.nfev, njev=cnt.njev, success=success,
        message=message or ("converged" if success else "failed"), jacobian=opts["jacobian"],
        method=opts["method"], elapsed=_time.perf_counter() - t_start, data=dataset,
        predictions=preds, options=dict(opts))


def _prediction_frame(prob: _Problem, theta: np.ndarray) -> pd.DataFrame:
    f = prob.predict_obs(theta)
    s, ftr, _ = prob.sd(theta, f)
    obs = prob.obs
    with np.errstate(invalid="ignore", divide="ignore"):
        iwres = np.where(prob.cens, np.nan, (prob.y - ftr) / s)
    return pd.DataFrame({"ID": obs["ID"].to_numpy(), "time": obs["time"].to_numpy(float),
                         "output": obs["output"].to_numpy(), "dv": prob.y_raw,
                         "cens": prob.cens.astype(int), "lloq": obs["lloq"].to_numpy(float),
                         "pred": f, "res": prob.y_raw - f, "sd": s, "iwres": iwres})


# --------------------------------------------------------------------------- profile
@dataclass(frozen=True, eq=False)
class Profile:
    """A likelihood profile of one parameter (:func:`profile`).

    Attributes
    ----------
    name : str
    estimate, lower, upper : float
        The estimate and the confidence limits (``nan`` where the profile
        did not rise far enough within the bounds).
    level : float
    table : pandas.DataFrame
        ``value``, ``ofv``, ``delta`` (OFV above the minimum) of every refit.
    """

    name: str
    estimate: float
    lower: float
    upper: float
    level: float
    table: pd.DataFrame = field(repr=False)

    def __repr__(self) -> str:
        return (f"<Profile {self.name}: {self.estimate:.6g}, {100 * self.level:g}% CI "
                f"[{self.lower:.6g}, {self.upper:.6g}], {len(self.table)} refits>")

    def to_frame(self) -> pd.DataFrame:
        """The profile table."""
        return self.table.copy()


def profile(result: FitResult, name: str, *, level: float = 0.95, max_steps: int = 30,
            xtol: float = 1e-3) -> Profile:
    """Likelihood-profile confidence interval of one parameter.

    The parameter is fixed at values stepping away from the estimate and the
    other parameters are refitted; the limits are where the OFV rises by the
    ``level`` quantile of chi-square with 1 degree of freedom (3.84 for 95%).

    Parameters
    ----------
    result : FitResult
        A successful pooled fit.
    name : str
        A free parameter of the fit.
    level : float
        Confidence level.
    max_steps : int
        Largest number of steps on each side before giving up (limit ``nan``).
    xtol : float
        Relative precision of the limits (on the fitting scale).

    Returns
    -------
    Profile
    """
    from scipy.optimize import brentq

    if name not in result.params:
        raise FitError(f"'{name}' is not a free parameter of the fit"
                       f"{_closest(name, list(result.params))}")
    result.raise_for_status()
    crit = float(stats.chi2.ppf(level, 1))
    is_log = name in result.log_params
    est = result.params[name]
    lo_b, hi_b = result.bounds[name]
    se = result.stderr[name]
    tr = (lambda v: math.log(v)) if is_log else (lambda v: v)
    inv = (lambda u: math.exp(u)) if is_log else (lambda u: u)
    u0 = tr(est)
    if math.isfinite(se) and se > 0:
        step = se / est if is_log else se
    else:
        step = 0.1 if is_log else 0.1 * max(abs(est), 1e-8)
    step *= 0.75
    rows = [(est, result.ofv)]
    others = {n: v for n, v in result.params.items() if n != name}
    base = dict(result.options)

    def refit(v: float) -> float:
        fixed = dict(result.fixed) | {name: v}
        vary = {n: (others[n], *result.bounds[n]) for n in others}
        opts = base | {"fixed": fixed, "vary": vary,
                       "log_params": [n for n in result.log_params if n in vary
                                      and not n.startswith("sigma_")],
                       "covariance": False}
        if not vary:
            opts["vary"] = None
        r = _fit_dataset(result.model, result.data, opts)
        val = r.ofv if r.success or math.isfinite(r.ofv) else math.nan
        rows.append((v, val))
        return val - result.ofv - crit

    limits = []
    for sign in (-1, 1):
        bound = lo_b if sign < 0 else hi_b
        u_prev, g_prev, limit = u0, -crit, math.nan
        for _ in range(max_steps):
            u = u_prev + sign * step
            v = inv(u)
            if (sign < 0 and v <= bound) or (sign > 0 and v >= bound):
                break
            g = refit(v)
            if not math.isfinite(g):
                break
            if g >= 0:
                try:
                    uu = brentq(lambda w: refit(inv(w)), u_prev, u, xtol=xtol * max(abs(u0), 1e-8)
                                if not is_log else xtol, maxiter=30) if g_prev < 0 else u
                except ValueError:
                    uu = u
                limit = inv(uu)
                break
            u_prev, g_prev = u, g
            step *= 1.5
        limits.append(limit)
    table = pd.DataFrame(sorted(rows), columns=["value", "ofv"])
    table["delta"] = table["ofv"] - result.ofv
    return Profile(name, est, limits[0], limits[1], level, table)


# --------------------------------------------------------------------------- bootstrap
@dataclass(frozen=True, eq=False)
class Bootstrap:
    """Bootstrap replicates of a fit (:func:`bootstrap`).

    Attributes
    ----------
    kind : str
        "case" or "parametric".
    table : pandas.DataFrame
        One row per replicate: the estimates, ``ofv`` and ``success``.
    ci : pandas.DataFrame
        Per parameter: ``estimate``, ``median``, ``lower``, ``upper`` (percentile
        interval over the successful replicates), ``se`` (their standard deviation).
    level : float
    n_failed : int
    """

    kind: str
    table: pd.DataFrame = field(repr=False)
    ci: pd.DataFrame = field(repr=False)
    level: float = 0.95
    n_failed: int = 0

    def __repr__(self) -> str:
        return (f"<Bootstrap {self.kind}: {len(self.table)} replicates, {self.n_failed} failed, "
                f"{100 * self.level:g}% percentile intervals>")

    def to_frame(self) -> pd.DataFrame:
        """The confidence-interval table."""
        return self.ci.copy()


def _bootstrap_one(model: Model, data: Dataset, opts: dict, start: dict) -> tuple:
    """One replicate, run in a worker process (module-level so it pickles)."""
    o = dict(opts) | {"covariance": False}
    vary = o.get("vary")
    if isinstance(vary, Mapping):
        vary = {n: _with_init(v, start[n]) for n, v in vary.items()}
    else:
        vary = {n: start[n] for n in start if not n.startswith("sigma_")} | {
            n: start[n] for n in start if n.startswith("sigma_")}
    o["vary"] = vary
    try:
        r = _fit_dataset(model, data, o)
    except PkpdError as exc:
        return {}, math.nan, False, str(exc)
    return r.params, r.ofv, r.success, r.message


def _with_init(v: Any, init: float) -> Any:
    if isinstance(v, Mapping):
        return dict(v) | {"init": init}
    if isinstance(v, Sequence) and not isinstance(v, str):
        return (init, v[1], v[2])
    return init


def bootstrap(result: FitResult, n: int = 200, *, kind: str = "case",
              rng: int | np.random.Generator | None = None, n_jobs: int | None = 1,
              level: float = 0.95, progress: bool | None = None) -> Bootstrap:
    """Bootstrap a pooled fit: refit to resampled or simulated data.

    Parameters
    ----------
    result : FitResult
    n : int
        Number of replicates.
    kind : {"case", "parametric"}
        ``"case"`` resamples subjects with replacement (the observations of
        a single-subject fit); ``"parametric"`` simulates new observations
        from the fitted model and error model at the observed design (values
        below a censored output's limit become censored).
    rng : int, Generator or None
    n_jobs : int or None
        Worker processes (``None``: every core; 1: in this process).
    level : float
        Level of the percentile intervals.
    progress : bool, optional
        Show a tqdm progress bar (default: when tqdm is installed and stderr
        is a terminal).

    Returns
    -------
    Bootstrap
    """
    import sys

    if kind not in ("case", "parametric"):
        raise FitError(f"kind must be 'case' or 'parametric'; got {kind!r}")
    if n < 1:
        raise FitError(f"n must be at least 1; got {n}")
    gen = np.random.default_rng(rng)
    data = [(_case_sample(result, gen) if kind == "case" else _parametric_sample(result, gen))
            for _ in range(n)]
    opts = dict(result.options)
    opts["vary"] = opts.get("vary")
    base_model = _unestimated(result)
    jobs = (os.cpu_count() or 1) if n_jobs is None or n_jobs == -1 else max(int(n_jobs), 1)
    if progress is None:
        progress = sys.stderr.isatty()
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc=f"{kind} bootstrap")
        except ImportError:  # pragma: no cover - optional dependency
            bar = None
    results = _run_jobs(_bootstrap_one, [(base_model, d, opts, result.params) for d in data],
                        jobs, bar)
    names = list(result.params)
    table = pd.DataFrame([{**{k: p.get(k, math.nan) for k in names}, "ofv": ofv,
                           "success": ok} for p, ofv, ok, _ in results])
    good = table[table["success"]]
    a = (1 - level) / 2
    ci = pd.DataFrame({
        "name": names, "estimate": [result.params[k] for k in names],
        "median": [float(good[k].median()) if len(good) else math.nan for k in names],
        "lower": [float(good[k].quantile(a)) if len(good) else math.nan for k in names],
        "upper": [float(good[k].quantile(1 - a)) if len(good) else math.nan for k in names],
        "se": [float(good[k].std()) if len(good) > 1 else math.nan for k in names]})
    return Bootstrap(kind, table, ci, level, int((~table["success"]).sum()))


def _unestimated(result: FitResult) -> Model:
    """The model the fit started from (estimates of free parameters are initial values)."""
    return result.model.with_params({n: result.init[n] for n in result.params
                                     if n in result.model.param_names})


def _case_sample(result: FitResult, gen: np.random.Generator) -> Dataset:
    ds = result.data
    subjects = [s for s in ds if not s.observations.empty]
    if len(subjects) > 1:
        pick = gen.integers(0, len(subjects), len(subjects))
        new = [Subject(k + 1, subjects[i].regimen, subjects[i].observations,
                       subjects[i].covariates, subjects[i].covariate_table,
                       subjects[i].interpolation) for k, i in enumerate(pick)]
    else:
        s = subjects[0]
        obs = s.observations
        idx = np.sort(gen.integers(0, len(obs), len(obs)))
        new = [Subject(s.id, s.regimen, obs.iloc[idx].reset_index(drop=True), s.covariates,
                       s.covariate_table, s.interpolation)]
    return Dataset(tuple(new), ds.outputs, ds.covariate_names)


def _parametric_sample(result: FitResult, gen: np.random.Generator) -> Dataset:
    pr = result.predictions
    subjects = []
    for s in result.data:
        sel = pr[pr["ID"].astype(str) == str(s.id)]
        if sel.empty:
            continue
        f = sel["pred"].to_numpy(float)
        out = sel["output"].to_numpy()
        eps = gen.standard_normal(len(f))
        y = np.empty(len(f))
        for o in np.unique(out):
            m = out == o
            kind = result.error[o]
            a = result.params.get(f"sigma_add_{o}", result.fixed.get(f"sigma_add_{o}", 0.0))
            b = result.params.get(f"sigma_prop_{o}", result.fixed.get(f"sigma_prop_{o}", 0.0))
            c = result.params.get(f"sigma_log_{o}", result.fixed.get(f"sigma_log_{o}", 0.0))
            if kind == "lognormal":
                y[m] = f[m] * np.exp(c * eps[m])
            else:
                y[m] = f[m] + np.sqrt(a * a + b * b * f[m] ** 2) * eps[m]
        lloq = sel["lloq"].to_numpy(float)
        cens = np.zeros(len(f), dtype=int)
        for o in result.censoring:
            if result.censoring[o] != "m3":
                continue
            m = (out == o) & np.isfinite(lloq) & (y < lloq)
            cens[m] = 1
            y[m] = lloq[m]
        obs = pd.DataFrame({"time": sel["time"].to_numpy(float), "output": out, "dv": y,
                            "cens": cens, "lloq": lloq, "row": np.arange(1, len(f) + 1)})
        subjects.append(Subject(s.id, s.regimen, obs, s.covariates, s.covariate_table,
                                s.interpolation))
    return Dataset(tuple(subjects), result.data.outputs, result.data.covariate_names)


# --------------------------------------------------------------------------- fit specs
_SPEC_KEYS = ("name", "description", "source", "model", "dataset", "data", "parameters", "fixed",
              "error", "censoring", "options")
_SPEC_PARAM_KEYS = ("init", "lower", "upper", "log")
_SPEC_DATA_KEYS = ("outputs", "covariates", "time_varying")
_SPEC_OPTIONS = ("outputs", "jacobian", "method", "max_nfev", "rtol", "atol", "tol", "solver",
                 "covariance", "per_subject")
_SPEC_EACH_OPTIONS = ("n_jobs", "progress")  # options of fit_each only


def run_fit(path: str | os.PathLike[str], output_dir: str | os.PathLike[str] | None = None,
            *, write: bool = True) -> Any:
    """Run a fit specification (a TOML file, see ``fits/README.md``).

    Parameters
    ----------
    path : str or path
        The ``.toml`` specification.
    output_dir : str or path, optional
        Where to write ``NAME.estimates.csv`` and ``NAME.summary.txt``
        (default: next to the specification).
    write : bool
        Write the two files.

    Returns
    -------
    FitResult or SubjectFits
        :class:`SubjectFits` when the options say ``per_subject = true``
        (then :func:`fit_each` runs).

    Raises
    ------
    SpecError
        The file is not valid TOML, or a key is unknown, has a value of the
        wrong type (``"false"`` where a boolean is needed, ``"100"`` where a
        number is) or a value the fit does not accept; the message names the
        file and the key.
    DataError
        The dataset cannot be read or used (the message names the file).
    """
    from . import datasets
    from .language import load_model

    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SpecError(f"fit specification {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: invalid TOML: {exc}") from exc
    _check_spec(path, spec)
    name = spec.get("name", path.stem)
    opts = dict(spec.get("options", {}))
    per_subject = opts.pop("per_subject", False)
    model_ref = spec["model"]
    if model_ref.endswith(".pkpd") or "/" in model_ref:
        model_path = path.parent / model_ref
        if not model_path.is_file():
            raise _spec_error(path, "model", f"model file {model_path} does not exist (a path "
                                             "is relative to the specification)")
        model = load_model(model_path)
    else:
        try:
            model = load_model(model_ref)
        except PkpdError as exc:
            raise _spec_error(path, "model", str(exc)) from exc
    ds_ref = spec["dataset"]
    if ds_ref in datasets.list_datasets():
        frame = datasets.load(ds_ref)
    else:
        file = Path(ds_ref) if Path(ds_ref).is_absolute() else path.parent / ds_ref
        if not file.is_file():
            names = datasets.list_datasets()
            raise _spec_error(path, "dataset", f"{ds_ref!r} is neither a dataset shipped with "
                                               f"pkpd nor a file ({file} does not exist)"
                                               f"{_closest(ds_ref, names)}; shipped datasets "
                                               f"(pkpd.datasets) are: {', '.join(names)}")
        try:
            frame = pd.read_csv(file, na_values=["."])
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: dataset {ds_ref!r}: cannot read {file} as CSV: "
                            f"{exc}") from exc
    try:
        dataset = read_nonmem(frame, model, **spec.get("data", {}))
    except DataError as exc:
        raise DataError(f"{path}: dataset {ds_ref!r}: {exc}") from exc
    vary: dict[str, Any] = {}
    log_params = []
    for n, v in spec.get("parameters", {}).items():
        if isinstance(v, Mapping):
            vary[n] = {"init": v.get("init"), "lower": v.get("lower"), "upper": v.get("upper")}
            if v.get("log", False) and not n.startswith("sigma_"):
                log_params.append(n)
        else:
            vary[n] = v
    fixed = dict(spec.get("fixed", {}))
    runner = fit_each if per_subject else fit
    try:
        result = runner(model, dataset, vary=vary or None, fixed=fixed or None,
                        error=spec.get("error"), log_params=log_params,
                        censoring=spec.get("censoring"), **opts)
    except FitError as exc:  # raised while setting up: a parameter, bound or option
        raise SpecError(f"{path}: {exc}") from exc
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from exc
    if write:
        out = Path(output_dir) if output_dir is not None else path.parent
        out.mkdir(parents=True, exist_ok=True)
        result.to_frame().to_csv(out / f"{name}.estimates.csv", index=False)
        header = f"# {name}: {spec.get('description', '')}".rstrip(": ") + "\n"
        header += f"# model {model.name}, dataset {ds_ref}\n\n"
        (out / f"{name}.summary.txt").write_text(header + result.summary() + "\n",
                                                  encoding="utf-8")
    return result


def _check_spec(path: Path, spec: Mapping[str, Any]) -> None:
    """Check the keys and the types of every value of a fit specification (SpecError)."""
    for k in spec:
        if k not in _SPEC_KEYS:
            raise SpecError(f"{path}: unknown key '{k}'{_closest(k, sorted(_SPEC_KEYS))}; keys "
                            "are: " + ", ".join(sorted(_SPEC_KEYS)))
    for need in ("model", "dataset"):
        if need not in spec:
            raise SpecError(f"{path}: the specification needs '{need}'")
    for k in ("name", "description", "source", "model", "dataset"):
        if k in spec and not isinstance(spec[k], str):
            raise _spec_error(path, k, f"must be a string; got {_toml(spec[k])}")
    for k in ("model", "dataset", "name"):
        if k in spec and not spec[k].strip():
            raise _spec_error(path, k, "must not be empty")
    if "name" in spec and (any(c in spec["name"] for c in "/\\") or spec["name"] in (".", "..")):
        raise _spec_error(path, "name", f"names the output files, so it must not be a path; "
                                        f"got {_toml(spec['name'])}")
    _check_spec_data(path, spec.get("data", {}))
    params = _spec_table(path, "parameters", spec.get("parameters", {}),
                         "parameter name -> initial value or { init, lower, upper, log }")
    for n, v in params.items():
        key = f"parameters.{n}"
        if isinstance(v, dict):
            for k, x in v.items():
                if k not in _SPEC_PARAM_KEYS:
                    raise _spec_error(path, f"{key}.{k}", "unknown key"
                                      f"{_closest(k, _SPEC_PARAM_KEYS)}; keys are: "
                                      + ", ".join(_SPEC_PARAM_KEYS)
                                      + " (a parameter held fixed goes under [fixed])")
                if k == "log":
                    _spec_bool(path, f"{key}.log", x)
                else:
                    _spec_number(path, f"{key}.{k}", x, finite=k == "init")
        elif isinstance(v, list) and len(v) == 3 and all(_is_real(x) for x in v):
            raise _spec_error(path, key, f"must be a number (the initial value) or a table; got "
                                         f"{_toml(v)}; write {n} = {{ init = {v[0]}, lower = "
                                         f"{v[1]}, upper = {v[2]} }}")
        elif not _is_real(v):
            raise _spec_error(path, key, "must be a number (the initial value) or a table "
                                         f"{{ init, lower, upper, log }}; got {_toml(v)}")
        else:
            _spec_number(path, key, v)
    fixed = _spec_table(path, "fixed", spec.get("fixed", {}), "parameter name -> value")
    for n, v in fixed.items():
        _spec_number(path, f"fixed.{n}", v)
    _check_spec_choice(path, "error", spec.get("error"), ERROR_MODELS, "error model")
    _check_spec_choice(path, "censoring", spec.get("censoring"), _CENSORING, "censoring")
    _check_spec_options(path, _spec_table(path, "options", spec.get("options", {}),
                                          "option name -> value"))


def _check_spec_data(path: Path, data: Any) -> None:
    data = _spec_table(path, "data", data, "keyword arguments of pkpd.read_nonmem")
    for k, v in data.items():
        key = f"data.{k}"
        if k not in _SPEC_DATA_KEYS:
            raise _spec_error(path, key, f"unknown key{_closest(k, _SPEC_DATA_KEYS)}; keys are: "
                              + ", ".join(_SPEC_DATA_KEYS) + " (options of pkpd.read_nonmem)")
        if k == "covariates":
            if not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
                raise _spec_error(path, key, f"must be a list of column names; got {_toml(v)}")
            continue
        what = ("DVID or CMT value -> output name" if k == "outputs"
                else "covariate -> 'locf', 'nocb' or 'linear'")
        for o, x in _spec_table(path, key, v, what).items():
            if not isinstance(x, str):
                raise _spec_error(path, f"{key}.{o}", f"must be a string; got {_toml(x)}")


def _check_spec_choice(path: Path, key: str, value: Any, allowed: Sequence[str],
                       what: str) -> None:
    """``error`` and ``censoring``: one allowed string, or a table output -> allowed string."""
    if value is None:
        return
    if not isinstance(value, str | dict):
        raise _spec_error(path, key, f"must be one {what} for every output "
                                     f"({', '.join(map(repr, allowed))}) or a table output -> "
                                     f"{what}; got {_toml(value)}")
    items = {None: value} if isinstance(value, str) else value
    for o, v in items.items():
        k = key if o is None else f"{key}.{o}"
        if not isinstance(v, str) or v not in allowed:
            hint = _closest(v, list(allowed)) if isinstance(v, str) else ""
            raise _spec_error(path, k, f"must be one of {', '.join(map(repr, allowed))}; "
                                       f"got {_toml(v)}{hint}")


def _check_spec_options(path: Path, opts: Mapping[str, Any]) -> None:
    per_subject = opts.get("per_subject", False)
    _spec_bool(path, "options.per_subject", per_subject)
    allowed = _SPEC_OPTIONS + (_SPEC_EACH_OPTIONS if per_subject else ())
    for k, v in opts.items():
        key = f"options.{k}"
        if k in _SPEC_EACH_OPTIONS and not per_subject:
            raise _spec_error(path, key, "is an option of per-subject fits (per_subject = true, "
                                         "pkpd.fit_each); this is a pooled fit, which runs in "
                                         "one process")
        if k not in allowed:
            raise _spec_error(path, key, f"unknown option{_closest(k, allowed)}; options are: "
                              + ", ".join(allowed))
        if k in ("covariance", "progress"):
            _spec_bool(path, key, v)
        elif k in ("max_nfev", "n_jobs") and not _is_int(v):
            raise _spec_error(path, key, f"must be an integer; got {_toml(v)}")
        elif k in ("rtol", "atol", "tol"):
            _spec_number(path, key, v)
        elif k in ("jacobian", "method", "solver") and not isinstance(v, str):
            raise _spec_error(path, key, f"must be a string; got {_toml(v)}")
        elif k == "outputs" and not (isinstance(v, str) or (
                isinstance(v, list) and all(isinstance(x, str) for x in v))):
            raise _spec_error(path, key, f"must be an output name or a list of names; "
                                         f"got {_toml(v)}")
    if "n_jobs" in opts and not (opts["n_jobs"] == -1 or opts["n_jobs"] >= 1):
        raise _spec_error(path, "options.n_jobs", f"must be -1 (all cores) or a positive "
                                                  f"integer; got {opts['n_jobs']}")
    defaults = {"jacobian": "sensitivity", "method": "least_squares", "max_nfev": None,
                "rtol": 1e-8, "atol": 1e-10, "tol": 1e-9, "solver": "auto", "covariance": True}
    try:
        _options(**(defaults | {k: v for k, v in opts.items() if k in defaults}))
    except FitError as exc:
        raise SpecError(f"{path}: options: {exc}") from exc


def _spec_error(path: Path, key: str, message: str) -> SpecError:
    return SpecError(f"{path}: {key}: {message}")


def _spec_table(path: Path, key: str, value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise _spec_error(path, key, f"must be a table ({what}); got {_toml(value)}")
    return value


def _spec_bool(path: Path, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _spec_error(path, key, f"must be true or false (a TOML boolean, without quotes); "
                                     f"got {_toml(value)}")
    return value


def _spec_number(path: Path, key: str, value: Any, *, finite: bool = True) -> float:
    if not _is_real(value) or math.isnan(value) or (finite and math.isinf(value)):
        raise _spec_error(path, key, f"must be a {'finite ' if finite else ''}number; "
                                     f"got {_toml(value)}")
    return float(value)


def _toml(v: Any) -> str:
    """A TOML value as written in the file, and its TOML type, for error messages."""
    if isinstance(v, bool):
        return f"{str(v).lower()} (a boolean)"
    if isinstance(v, int):
        return f"{v} (an integer)"
    if isinstance(v, float):
        return f"{v!r} (a float)"
    if isinstance(v, str):
        return f"{json.dumps(v)} (a string)"
    if isinstance(v, list):
        text = json.dumps(v, default=str)
        return f"{text if len(text) <= 60 else text[:57] + '...'} (a list)"
    if isinstance(v, dict):
        return "a table"
    return f"{v} (a {type(v).__name__})"
