"""Sensitivity analysis: local (forward sensitivity equations) and global (SALib).

Local
-----
:func:`local_sensitivity` integrates the forward sensitivity equations
``dS/dt = J S + df/dp`` alongside the model (see :mod:`pkpd.kernel`) and
reports, for every output and parameter, the raw sensitivity ``dy/dp`` and
the normalised one ``d log y / d log p = (p / y) dy/dp`` (NaN where ``y = 0``,
where it is undefined). Endpoint sensitivities (``dE/dp`` for an
:class:`~pkpd.metrics.Endpoint`) are the directional derivative of the
endpoint along the exact sensitivity of its curve, by a central difference
``(E(y + h s) - E(y - h s)) / 2h`` on the simulated grid: exact for
endpoints linear in the curve (AUC, value at a time), the derivative of the
piecewise-linear endpoint otherwise (nadir, time below a threshold, ...).

Global
------
:func:`sobol`, :func:`morris` and :func:`fast` draw samples and analyse them
with SALib (this is the only module that imports it). Each varied parameter
is given as a range ``(low, high)`` (uniform) or as a frozen ``scipy.stats``
distribution; SALib samples the unit cube and values are ``ppf(u)`` (for
the levels of Morris, see :func:`morris`). The quantity of interest is an
:class:`~pkpd.metrics.Endpoint` (or several), or an output at chosen times
(``qoi="conc", at=[1, 7, 28]``); it must be finite and vary across the
samples (a constant one has no variance to apportion). Samples are run in
chunks through the compiled batch engine (:mod:`pkpd.batch`), over all cores
or on an executor, and each chunk is reduced to its quantities of interest
at once, so memory does not grow with the number of runs.

Each varied parameter's range must lie within the model's bounds
(:class:`~pkpd.model.Param` ``lower``/``upper``), and a distribution's
sampled range, its quantiles ``1e-12`` to ``1 - 1e-12``, too: no value is
clipped, so a distribution with more than ``1e-12`` of its probability
outside the bounds (a normal law for a positive clearance, say) is refused;
use a log-normal or a truncated law instead.

Over a virtual population
-------------------------
With ``population=`` the parameters not varied are drawn from a virtual
population, whose variability is an uncontrolled input of the analysis. In
:func:`sobol` and :func:`fast` it enters the design as extra input factors,
sampled by the same Saltelli or FAST design as the varied parameters: one
uniform column per source of variability, mapped to a subject by quantiles
(a standard normal deviate per random effect, correlated through the
Cholesky factor of omega in the order of ``iiv``; the quantile of each
covariate distribution; a sorted pool of draws for a covariate given as a
callable; a row of a covariate table, ordered along the table's first
principal component). Rows ``A`` and ``B`` of a Saltelli design thus have
independent subjects and ``AB_i`` keeps the subject of ``A``, so the
indices of the varied parameters are shares of the total variance across
parameters and population together (e.g. for ``y = x (z - 1)`` with ``z``
from the population, ``S1_x = 0`` and ``ST_x = 0.25``). The population's
own share is reported as well: by :func:`sobol` as one group index, row
``"population"``, whatever the number of its sources; by :func:`fast`,
which estimates one factor at a time, per source, rows
``"population:<name>"`` (``<name>`` a parameter with IIV, a covariate, or
``covariates`` for a table). A varied parameter's own random effect is
overridden by the varied value. :func:`morris` keeps one subject per
trajectory, so that each elementary effect is a difference at a fixed
subject, and ``mu_star`` is the mean absolute effect over the population.

The "model" may also be a plain function ``f(X) -> Y`` of an ``(N, k)``
array of parameter samples (columns in the order of ``params``), returning
``(N,)`` or ``(N, q)``: useful for test functions such as Ishigami's.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import ModelError, closest
from .model import Model

if TYPE_CHECKING:  # pragma: no cover
    from .metrics import Endpoint
    from .population import Population

__all__ = [
    "local_sensitivity",
    "LocalSensitivity",
    "sobol",
    "morris",
    "fast",
    "GlobalSensitivity",
]


# =========================================================================== local
@dataclass(frozen=True, eq=False)
class LocalSensitivity:
    """The result of :func:`local_sensitivity`.

    Attributes
    ----------
    model : Model
    times : ndarray (nt,)
    names : tuple of str
        Quantities (outputs, then requested states).
    wrt : tuple of str
        Parameters differentiated against.
    param_values : ndarray (n_wrt,)
    values : ndarray (nt, n_names)
        The quantities.
    raw : ndarray (nt, n_names, n_wrt)
        ``dy/dp``.
    endpoint_names : tuple of str
    endpoint_values : ndarray (n_endpoints,)
    endpoint_raw : ndarray (n_endpoints, n_wrt)
        ``dE/dp``.
    normalized : bool
        Whether tables and plots use normalised sensitivities by default.
    """

    model: Model
    times: np.ndarray = field(repr=False)
    names: tuple[str, ...]
    wrt: tuple[str, ...]
    param_values: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)
    raw: np.ndarray = field(repr=False)
    endpoint_names: tuple[str, ...] = ()
    endpoint_units: tuple[str, ...] = ()
    endpoint_values: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    endpoint_raw: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)
    normalized: bool = True
    settings: dict = field(default_factory=dict, repr=False)

    def provenance(self) -> dict:
        """Run settings (solver, tolerances), for reports."""
        return dict(self.settings)

    def __repr__(self) -> str:
        return (f"<LocalSensitivity {self.model.name!r}: {len(self.names)} quantities x "
                f"{len(self.wrt)} parameters, {len(self.times)} times, "
                f"{len(self.endpoint_names)} endpoints>")

    @property
    def relative(self) -> np.ndarray:
        """``d log y / d log p`` (nt, n_names, n_wrt); NaN where ``y == 0``."""
        y = self.values[:, :, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(y != 0, self.raw * self.param_values / np.where(y != 0, y, 1), np.nan)

    @property
    def endpoint_relative(self) -> np.ndarray:
        """``d log E / d log p`` (n_endpoints, n_wrt); NaN where ``E == 0``."""
        e = self.endpoint_values[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(e != 0, self.endpoint_raw * self.param_values / np.where(e != 0, e, 1),
                            np.nan)

    def sensitivity(self, name: str, *, normalized: bool | None = None) -> pd.DataFrame:
        """Time course of the sensitivities of one quantity: index time, one column per parameter."""
        j = self._index(name)
        norm = self.normalized if normalized is None else normalized
        data = (self.relative if norm else self.raw)[:, j, :]
        return pd.DataFrame(data, index=pd.Index(self.times, name="time"), columns=list(self.wrt))

    def _index(self, name: str) -> int:
        if name not in self.names:
            raise KeyError(f"no quantity '{name}'{closest(name, self.names)}; "
                           f"available: {', '.join(self.names)}")
        return self.names.index(name)

    def to_frame(self) -> pd.DataFrame:
        """Long table: ``time``, ``output``, ``param``, ``value``, ``sensitivity``, ``normalized``."""
        nt, k, ns = self.raw.shape
        rel = self.relative
        return pd.DataFrame({
            "time": np.repeat(self.times, k * ns),
            "output": np.tile(np.repeat(np.array(self.names, dtype=object), ns), nt),
            "param": np.tile(np.array(self.wrt, dtype=object), nt * k),
            "value": np.repeat(self.values.reshape(-1), ns),
            "sensitivity": self.raw.reshape(-1),
            "normalized": rel.reshape(-1),
        })

    def endpoint_frame(self) -> pd.DataFrame:
        """Endpoint sensitivities: ``endpoint``, ``unit``, ``value``, ``param``, ``sensitivity``, ``normalized``."""
        ne, ns = self.endpoint_raw.shape
        return pd.DataFrame({
            "endpoint": np.repeat(np.array(self.endpoint_names, dtype=object), ns),
            "unit": np.repeat(np.array(self.endpoint_units, dtype=object), ns),
            "value": np.repeat(self.endpoint_values, ns),
            "param": np.tile(np.array(self.wrt, dtype=object), ne),
            "sensitivity": self.endpoint_raw.reshape(-1),
            "normalized": self.endpoint_relative.reshape(-1),
        })

    def ranking(self, by: str | None = None, *, normalized: bool | None = None) -> pd.DataFrame:
        """Parameters ranked by influence on an output or endpoint.

        For an output, the score is the largest absolute (normalised)
        sensitivity over time; for an endpoint, its absolute (normalised)
        sensitivity. ``by`` defaults to the first endpoint, else the first output.

        Returns
        -------
        DataFrame
            ``rank``, ``param``, ``score``, ``signed`` (the value with its
            sign at the maximum) and ``share`` (score / sum of scores).
        """
        norm = self.normalized if normalized is None else normalized
        if by is None:
            by = self.endpoint_names[0] if self.endpoint_names else self.names[0]
        if by in self.endpoint_names:
            v = (self.endpoint_relative if norm else self.endpoint_raw)[self.endpoint_names.index(by)]
            signed = v
            score = np.abs(v)
        else:
            data = (self.relative if norm else self.raw)[:, self._index(by), :]
            absd = np.where(np.isnan(data), -np.inf, np.abs(data))
            k = np.argmax(absd, axis=0)
            signed = data[k, np.arange(data.shape[1])]
            score = np.abs(signed)
        total = np.nansum(score)
        df = pd.DataFrame({"param": list(self.wrt), "score": score, "signed": signed,
                           "share": score / total if total > 0 else np.nan})
        df = df.sort_values("score", ascending=False, kind="stable", na_position="last")
        df.insert(0, "rank", np.arange(1, len(df) + 1))
        return df.reset_index(drop=True)

    def summary(self) -> str:
        """Ranking of the parameters for every endpoint and output."""
        lines = [repr(self)]
        for by in (*self.endpoint_names, *self.names):
            r = self.ranking(by)
            lines.append(f"  {by}: " + ", ".join(
                f"{p} {s:+.3g}" for p, s in zip(r["param"], r["signed"], strict=True)))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Plain-data form (schema version 1)."""
        return {"schema": 1, "model": self.model.name, "wrt": list(self.wrt),
                "params": dict(zip(self.wrt, self.param_values.tolist(), strict=True)),
                "data": self.to_frame().to_dict(orient="list"),
                "endpoints": self.endpoint_frame().to_dict(orient="list")}

    def plot(self, kind: str = "heatmap", by: str | None = None, **kw: Any) -> Any:
        """``kind="heatmap"`` (sensitivity over time) or ``"tornado"`` (see :mod:`pkpd.plot`)."""
        from . import plot

        if kind == "heatmap":
            return plot.plot_sensitivity_heatmap(self, by, **kw)
        if kind == "tornado":
            return plot.plot_tornado(self, by, **kw)
        raise ValueError(f"kind must be 'heatmap' or 'tornado', got {kind!r}")


def local_sensitivity(model: Model, regimen: Any, times: Any, *,
                      params: Mapping[str, float] | None = None,
                      covariates: Mapping[str, float] | None = None,
                      wrt: Sequence[str] | None = None, outputs: Sequence[str] | None = None,
                      endpoints: Endpoint | Sequence[Endpoint] = (), normalized: bool = True,
                      method: str = "auto", rtol: float = 1e-8, atol: float = 1e-10,
                      max_steps: int = 100_000) -> LocalSensitivity:
    """Time-resolved local sensitivities from the forward sensitivity equations.

    Parameters
    ----------
    model : Model
    regimen : Regimen, dose or list of doses
    times : array_like
        Sorted output times.
    params, covariates : mapping, optional
        Values overriding the model's (the point of linearisation).
    wrt : sequence of str, optional
        Parameters to differentiate against (default: all).
    outputs : sequence of str, optional
        Outputs or states (default: every output, or every state when the
        model has no outputs).
    endpoints : Endpoint or sequence of Endpoint
        Endpoints (from :mod:`pkpd.metrics`) whose sensitivities to report;
        their ``output`` is simulated even if not in ``outputs``.
    normalized : bool
        Default view of tables and plots: ``d log y / d log p`` (True) or ``dy/dp``.
    method, rtol, atol, max_steps
        Integrator settings (tolerances apply to the sensitivities too;
        tighter than :func:`~pkpd.simulate` by default).

    Returns
    -------
    LocalSensitivity

    Examples
    --------
    >>> import numpy as np
    >>> from pkpd import Bolus
    >>> from pkpd.language import load_model
    >>> from pkpd.sensitivity import local_sensitivity
    >>> m = load_model("pk_1cmt_iv")
    >>> ls = local_sensitivity(m, Bolus(0, 100, "central"), np.linspace(0, 24, 25))
    >>> ls.ranking("conc")["param"].tolist()
    ['CL', 'V']
    """
    from .metrics import Endpoint
    from .simulate import prepare

    if params:
        model = model.with_params(dict(params))
    if covariates:
        model = model.with_covariates(dict(covariates))
    wrt = list(model.param_names if wrt is None else wrt)
    for w in wrt:
        if w not in model.param_names:
            raise ModelError(f"cannot differentiate with respect to '{w}': model '{model.name}' "
                             f"has no such parameter{closest(w, model.param_names)}; "
                             f"parameters are: {', '.join(model.param_names)}")
    eps = [endpoints] if isinstance(endpoints, Endpoint) else list(endpoints)
    known = model.output_names + model.state_names
    names = list(outputs if outputs is not None else (model.output_names or model.state_names))
    for nm in names + [e.output for e in eps]:
        if nm not in known:
            raise ModelError(f"model '{model.name}' has no output or state '{nm}'"
                             f"{closest(nm, known)}")
    prep = prepare(model, regimen, times, method=method, rtol=rtol, atol=atol,
                   max_steps=max_steps)
    p = prep.base_vector()
    sidx = np.array([model.param_names.index(w) for w in wrt], dtype=np.int64)
    Y, O, S, OS, _ = prep.run(p, sens=sidx)

    def column(nm: str) -> tuple[np.ndarray, np.ndarray]:
        if nm in model.output_names:
            j = model.output_names.index(nm)
            return O[:, j], OS[:, j, :]
        j = model.state_names.index(nm)
        return Y[:, j], S[:, j, :]

    vals = np.column_stack([column(nm)[0] for nm in names]) if names else np.zeros((len(prep.times), 0))
    raw = (np.stack([column(nm)[1] for nm in names], axis=1) if names
           else np.zeros((len(prep.times), 0, len(wrt))))
    e_val = np.zeros(len(eps))
    e_raw = np.zeros((len(eps), len(wrt)))
    for i, e in enumerate(eps):
        y, s = column(e.output)
        e_val[i], e_raw[i] = _endpoint_derivative(e, prep.times, y, s)
    return LocalSensitivity(model, prep.times, tuple(names), tuple(wrt), p[sidx], vals, raw,
                            tuple(e.name for e in eps), tuple(e.unit for e in eps), e_val, e_raw,
                            bool(normalized), dict(solver=method, rtol=float(rtol),
                                                   atol=float(atol), max_steps=int(max_steps)))


def _endpoint_derivative(e: Endpoint, t: np.ndarray, y: np.ndarray,
                         s: np.ndarray) -> tuple[float, np.ndarray]:
    """Endpoint value and its derivative along each sensitivity column of ``s``."""
    value = float(np.asarray(e.evaluate(t, y)))
    ns = s.shape[1]
    scale_y = float(np.max(np.abs(y))) or 1.0
    curves = [y]
    steps = np.empty(ns)
    for q in range(ns):
        scale_s = float(np.max(np.abs(s[:, q])))
        steps[q] = 1e-6 * scale_y / scale_s if scale_s > 0 else 1.0
        curves += [y + steps[q] * s[:, q], y - steps[q] * s[:, q]]
    v = np.asarray(e.evaluate(t, np.vstack(curves)), dtype=float)
    return value, (v[1::2] - v[2::2]) / (2 * steps)


# =========================================================================== global
@dataclass(frozen=True, eq=False)
class GlobalSensitivity:
    """The result of :func:`sobol`, :func:`morris` or :func:`fast`.

    Attributes
    ----------
    method : {"sobol", "morris", "fast"}
    params : tuple of str
        Varied parameters.
    qois : tuple of str
        Quantities of interest.
    indices : DataFrame
        Long table, one row per (qoi, param): Sobol and FAST ``S1``,
        ``S1_conf``, ``ST``, ``ST_conf``; Morris ``mu``, ``mu_star``,
        ``sigma``, ``mu_star_conf``. ``*_conf`` are half-widths of the
        ``confidence`` interval (bootstrap; FAST's are indicative only).
        Over a population, Sobol adds a row ``"population"`` (the group
        index of the population's variability) and FAST a row
        ``"population:<name>"`` per source of variability (see the module
        docstring).
    second_order : DataFrame or None
        Sobol ``S2`` and ``S2_conf`` per (qoi, param_i, param_j), on request.
    samples : ndarray (n_runs, k)
        Parameter values run.
    values : ndarray (n_runs, n_qoi)
        Quantities of interest.
    qoi_times : ndarray or None
        The time of each quantity when it is an output at chosen times.
    confidence : float
    """

    method: str
    params: tuple[str, ...]
    qois: tuple[str, ...]
    indices: pd.DataFrame = field(repr=False)
    second_order: pd.DataFrame | None = field(repr=False)
    samples: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)
    qoi_times: np.ndarray | None = field(default=None, repr=False)
    confidence: float = 0.95
    settings: dict = field(default_factory=dict, repr=False)

    def provenance(self) -> dict:
        """Run settings (runs, seed, solver and tolerances), for reports."""
        return dict(self.settings)

    @property
    def n_runs(self) -> int:
        return self.samples.shape[0]

    def __repr__(self) -> str:
        return (f"<GlobalSensitivity {self.method}: {len(self.params)} parameters, "
                f"{len(self.qois)} quantities, {self.n_runs} runs>")

    def to_frame(self) -> pd.DataFrame:
        """The indices (see :attr:`indices`)."""
        return self.indices.copy()

    def summary(self) -> str:
        """Indices per quantity of interest, as a text table."""
        lines = [repr(self)]
        cols = [c for c in self.indices.columns if c not in ("qoi", "param")]
        for q, g in self.indices.groupby("qoi", sort=False):
            lines.append(f"  {q}")
            lines.append("    " + f"{'param':<12}" + "".join(f"{c:>14}" for c in cols))
            for _, r in g.iterrows():
                lines.append("    " + f"{r['param']:<12}" + "".join(f"{r[c]:>14.4g}" for c in cols))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Plain-data form (schema version 1)."""
        d = {"schema": 1, "method": self.method, "params": list(self.params),
             "qois": list(self.qois), "n_runs": self.n_runs, "confidence": self.confidence,
             "indices": self.indices.to_dict(orient="list")}
        if self.second_order is not None:
            d["second_order"] = self.second_order.to_dict(orient="list")
        return d

    def plot(self, kind: str = "bar", qoi: str | None = None, **kw: Any) -> Any:
        """Bar chart of one quantity's indices, or their time course (``kind="time"``)."""
        from .plot import plot_global_sensitivity

        return plot_global_sensitivity(self, kind, qoi, **kw)


_U_EPS = 1e-12  # unit-cube samples are clipped to [eps, 1 - eps] before a quantile function


@dataclass(frozen=True)
class _Space:
    """Varied parameters: names and unit-cube -> value transforms."""

    names: tuple[str, ...]
    specs: tuple[Any, ...]

    @property
    def is_distribution(self) -> np.ndarray:
        return np.array([hasattr(s, "ppf") for s in self.specs], dtype=bool)

    def values(self, u: np.ndarray) -> np.ndarray:
        x = np.empty_like(u, dtype=float)
        uc = np.clip(u, _U_EPS, 1 - _U_EPS)
        for j, spec in enumerate(self.specs):
            if hasattr(spec, "ppf"):
                x[:, j] = spec.ppf(uc[:, j])
            else:
                lo, hi = spec
                x[:, j] = lo + (hi - lo) * u[:, j]
        return x


def _space(params: Mapping[str, Any]) -> _Space:
    if not isinstance(params, Mapping) or not params:
        raise ValueError("params must map each varied parameter to a range (low, high) or a "
                         "scipy.stats distribution")
    specs = []
    for nm, spec in params.items():
        if hasattr(spec, "ppf"):
            specs.append(spec)
            continue
        try:
            lo, hi = (float(v) for v in spec)
        except (TypeError, ValueError):
            raise ValueError(f"parameter '{nm}': expected a range (low, high) or a frozen "
                             f"scipy.stats distribution, got {spec!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"parameter '{nm}': the range must be finite with low < high, "
                             f"got ({lo}, {hi})")
        specs.append((lo, hi))
    return _Space(tuple(params), tuple(specs))


def _describe(dist: Any) -> str:
    """``norm(1, 0.5)`` for a frozen scipy.stats distribution."""
    name = getattr(getattr(dist, "dist", None), "name", None)
    if name is None:
        return repr(dist)
    args = [f"{a:g}" if isinstance(a, int | float) else repr(a) for a in getattr(dist, "args", ())]
    args += [f"{k}={v:g}" if isinstance(v, int | float) else f"{k}={v!r}"
             for k, v in getattr(dist, "kwds", {}).items()]
    return f"{name}({', '.join(args)})"


def _check_bounds(model: Model, space: _Space) -> None:
    """Refuse ranges, and distributions, that reach outside a parameter's bounds.

    A distribution is checked on what can be sampled, its quantiles ``_U_EPS``
    to ``1 - _U_EPS``: values are never clipped. Covariates have no bounds.
    """
    for nm, spec in zip(space.names, space.specs, strict=True):
        if nm not in model.param_names:
            continue
        prm = model.param(nm)
        bounds = f"({prm.lower:g}, {prm.upper:g})"
        if hasattr(spec, "ppf"):
            lo, hi = (float(v) for v in np.asarray(spec.ppf([_U_EPS, 1 - _U_EPS]), dtype=float))
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ValueError(f"parameter '{nm}': the distribution {_describe(spec)} has "
                                 f"non-finite quantiles ({lo}, {hi}); check its parameters")
            if lo < prm.lower or hi > prm.upper:
                outside = float(spec.cdf(prm.lower)) + float(spec.sf(prm.upper))
                raise ModelError(
                    f"parameter '{nm}' of model '{model.name}' has bounds {bounds}, but the "
                    f"distribution {_describe(spec)} puts {outside:.3g} of its probability "
                    f"outside them (it would be sampled from {lo:.4g} to {hi:.4g}; values are "
                    "not clipped). Use a distribution within the bounds, e.g. a log-normal "
                    "or a truncated one (scipy.stats.truncnorm)")
        else:
            lo, hi = spec
            if lo < prm.lower or hi > prm.upper:
                raise ModelError(f"parameter '{nm}' of model '{model.name}': the range "
                                 f"({lo:g}, {hi:g}) reaches outside its bounds {bounds}; "
                                 "choose a range within the bounds")


def _problem(space: _Space, extra: Sequence[str] = (), groups: Sequence[str] | None = None) -> dict:
    names = list(space.names) + list(extra)
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    if groups is not None:
        problem["groups"] = list(groups)
    return problem


# --------------------------------------------------------------------------- population
_POPULATION = "population"  # the label of the population's group in Sobol indices
_POOL = 10_000  # draws of a covariate given as a callable, sorted into a quantile function


@dataclass(frozen=True, eq=False)
class _PopulationFactors:
    """A virtual population as input factors of a design (see the module docstring).

    :meth:`rows` maps an ``(N, len(names))`` array of uniforms to the
    ``(N, len(columns))`` parameters and covariates of ``N`` subjects (the
    model's order: parameters, then covariates); :meth:`draw` samples
    subjects directly.
    """

    population: Population
    names: tuple[str, ...]
    columns: tuple[str, ...]
    base: np.ndarray
    iiv: tuple[str, ...]
    chol: np.ndarray
    marginals: tuple[tuple[str, Callable[[np.ndarray], np.ndarray]], ...]
    table: tuple[tuple[str, ...], np.ndarray] | None

    def rows(self, u: np.ndarray) -> np.ndarray:
        from scipy.stats import norm

        from .population import _transform

        m = self.population.model
        out = np.tile(self.base, (u.shape[0], 1))
        col = {c: i for i, c in enumerate(self.columns)}
        uc = np.clip(u, _U_EPS, 1 - _U_EPS)
        j = len(self.iiv)
        if j:
            eta = norm.ppf(uc[:, :j]) @ self.chol.T
            for i, nm in enumerate(self.iiv):
                out[:, col[nm]] = _transform(m, nm, self.population.distribution[nm], eta[:, i])
        for nm, quantile in self.marginals:
            out[:, col[nm]] = quantile(uc[:, j])
            j += 1
        if self.table is not None:
            cols, vals = self.table
            r = np.minimum((u[:, j] * len(vals)).astype(np.int64), len(vals) - 1)
            for c, v in zip(cols, vals[r].T, strict=True):
                out[:, col[c]] = v
        return out

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.population.sample(n, rng)[list(self.columns)].to_numpy(dtype=float)


def _principal_order(vals: np.ndarray) -> np.ndarray:
    """Rows ordered along the first principal component of the standardised columns."""
    sd = vals.std(axis=0)
    z = (vals - vals.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    return np.argsort(z @ vt[0], kind="stable")


def _empirical_quantile(pool: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    srt = np.sort(pool)
    return lambda u: srt[np.minimum((u * len(srt)).astype(np.int64), len(srt) - 1)]


def _population_factors(population: Population, rng: np.random.Generator) -> _PopulationFactors:
    from .population import _draw_covariate

    m = population.model
    columns = tuple(m.param_names + m.covariate_names)
    base = np.array([p.value for p in m.params] + [c.value for c in m.covariates], dtype=float)
    names = list(population.iiv)
    iiv: tuple[str, ...] = ()
    chol = np.zeros((0, 0))
    if names:
        cov = np.asarray(population.omega, dtype=float)
        nz = np.diag(cov) > 0
        iiv = tuple(nm for nm, keep in zip(names, nz, strict=True) if keep)
        if iiv:
            chol = np.linalg.cholesky(cov[np.ix_(nz, nz)])
    marginals: list[tuple[str, Callable[[np.ndarray], np.ndarray]]] = []
    table = None
    spec = population.covariates
    if isinstance(spec, pd.DataFrame):
        cols = tuple(c for c in spec.columns if c != "ID")
        vals = spec[list(cols)].to_numpy(dtype=float)
        if cols and len(vals) == 1:
            base[[columns.index(c) for c in cols]] = vals[0]
        elif cols:
            table = (cols, vals[_principal_order(vals)])
    else:
        for nm, sp in spec.items():
            if isinstance(sp, int | float) and not isinstance(sp, bool):
                base[columns.index(nm)] = float(sp)
            elif hasattr(sp, "ppf"):
                marginals.append((nm, sp.ppf))
            else:
                marginals.append((nm, _empirical_quantile(_draw_covariate(nm, sp, _POOL, rng))))
    factor_names = ([f"population:{nm}" for nm in iiv] + [f"population:{nm}" for nm, _ in marginals]
                    + (["population:covariates"] if table is not None else []))
    return _PopulationFactors(population, tuple(factor_names), columns, base, iiv, chol,
                              tuple(marginals), table)


# --------------------------------------------------------------------------- runners
@dataclass
class _Runner:
    """Turns parameter samples (and population rows) into quantities of interest."""

    fn: Callable[[np.ndarray, np.ndarray | None], np.ndarray]
    qoi_names: tuple[str, ...]
    qoi_times: np.ndarray | None
    resolution: float = 1e-12  # relative spread below which a quantity is constant


_REDUCE_ROWS = 256  # rows per endpoint evaluation in a batch reduction (see reduce below)


def _output_times(name: str, at: Any, times: Any, regimen: Any) -> tuple[np.ndarray, np.ndarray]:
    """The times ``at`` at which output ``name`` is analysed, checked, and the simulation grid.

    Like :func:`pkpd.population.simulate_population`'s ``times``: finite and
    non-empty; and inside the simulated times (``times``, when given), or not
    before the start of the simulation (time 0, or the first dose if earlier).
    """
    from .dosing import Reset, as_regimen
    from .population import _check_times

    try:
        t = np.atleast_1d(np.asarray(at, dtype=float))
    except (TypeError, ValueError):
        raise ValueError(f"at= must be a sequence of times (numbers) at which to analyse "
                         f"'{name}', got {at!r}") from None
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"at= must be a non-empty 1-D sequence of times at which to analyse "
                         f"'{name}', got shape {t.shape}")
    bad = ~np.isfinite(t)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"at= must hold finite times; got {t[i]} at position {i}")
    if times is not None:
        grid = _check_times(times)
        out = (t < grid[0]) | (t > grid[-1])
        if out.any():
            raise ValueError(f"at={t[out][0]:g} is outside the simulated times [{grid[0]:g}, "
                             f"{grid[-1]:g}]; choose times in that range or extend times=")
        return t, np.unique(np.concatenate([grid, t]))
    starts = [float(d.times()[0]) for d in as_regimen(regimen) if not isinstance(d, Reset)]
    start = min([0.0, *starts])
    early = t < start
    if early.any():
        raise ValueError(f"at={t[early][0]:g} is before the start of the simulation, t = "
                         f"{start:g} (the initial state, or the first dose if earlier)")
    return t, np.unique(t)


def _ode_runner(model: Model, regimen: Any, times: Any, space: _Space, qoi: Any, at: Any, *,
                n_jobs: int, executor: Any, chunk_size: int | None, progress: bool | None,
                method: str, rtol: float, atol: float, max_steps: int) -> _Runner:
    from .compile import compile_model
    from .dosing import as_regimen
    from .metrics import Endpoint
    from .population import _build, _check_times, _Settings, run_batch
    from .population import _check_bounds as _check_subject_bounds
    from .simulate import _METHODS

    known = model.param_names + model.covariate_names
    for nm in space.names:
        if nm not in known:
            raise ModelError(f"model '{model.name}' has no parameter or covariate '{nm}'"
                             f"{closest(nm, known)}")
    _check_bounds(model, space)
    eps: list[Endpoint] = []
    out_at: tuple[str, np.ndarray] | None = None
    if qoi is None:
        raise ValueError("qoi is required: an Endpoint, a list of them, or an output name with at=")
    if isinstance(qoi, str):
        if at is None:
            raise ValueError(f"qoi={qoi!r} (an output) needs at=, the times to analyse")
        t_at, grid = _output_times(qoi, at, times, regimen)
        out_at = (qoi, t_at)
    else:
        eps = [qoi] if isinstance(qoi, Endpoint) else list(qoi)
        if not eps or not all(isinstance(e, Endpoint) for e in eps):
            raise TypeError("qoi must be an Endpoint, a sequence of Endpoints or an output name")
        if times is None:
            raise ValueError("endpoints need times=, the simulation grid")
        grid = _check_times(times)
    names_needed = [out_at[0]] if out_at else [e.output for e in eps]
    for nm in names_needed:
        if nm not in model.output_names + model.state_names:
            raise ModelError(f"model '{model.name}' has no output or state '{nm}'"
                             f"{closest(nm, model.output_names + model.state_names)}")
    if out_at is not None:
        qnames = tuple(f"{out_at[0]}@{t:g}" for t in out_at[1])
        cols = np.searchsorted(grid, out_at[1])
        qtimes = out_at[1]
    else:
        qnames = tuple(e.name for e in eps)
        qtimes = None
    cm = compile_model(model)
    base = cm.param_vector()
    index = {nm: i for i, nm in enumerate(known)}
    settings = _Settings(_METHODS[method], float(rtol), float(atol), 0.0, int(max_steps))
    reg = [as_regimen(regimen)]

    def column(res: tuple, nm: str, nsub: int) -> np.ndarray:
        Y, O = res[2], res[3]
        if nm in model.output_names:
            return O[:, model.output_names.index(nm)].reshape(nsub, len(grid))
        return Y[:, model.state_names.index(nm)].reshape(nsub, len(grid))

    def reduce(lo: int, hi: int, res: tuple) -> np.ndarray:
        nsub = hi - lo
        if out_at is not None:
            return column(res, out_at[0], nsub)[:, cols]
        out = np.empty((nsub, len(eps)))
        for j, e in enumerate(eps):
            y = column(res, e.output, nsub)
            # Row blocks that fit in cache: an endpoint makes several passes over
            # its input, and on a whole chunk (2048 x 731) those passes run at
            # memory speed (time_below: 19 us per run on the whole chunk, 2.8 us
            # in blocks of 256 rows).
            for a in range(0, nsub, _REDUCE_ROWS):
                blk = y[a:a + _REDUCE_ROWS]
                v = np.asarray(e.evaluate(grid, blk), dtype=float)
                if v.shape != blk.shape[:1]:
                    raise ValueError(f"endpoint {e.name!r} returned shape {v.shape} for "
                                     f"{blk.shape[0]} curves; expected ({blk.shape[0]},)")
                out[a:a + blk.shape[0], j] = v
        return out

    def fn(x: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        # rows: each run's subject, in the model's order (parameters, then covariates)
        P = np.tile(base, (x.shape[0], 1)) if rows is None else np.array(rows, dtype=float)
        for j, nm in enumerate(space.names):
            P[:, index[nm]] = x[:, j]
        if rows is not None:  # sampled subjects (the varied parameters are checked by _space)
            _check_subject_bounds(cm.model, P, list(range(1, P.shape[0] + 1)))
        b = _build(cm, P, reg, [grid], [None], method, rtol, atol, n_jobs=n_jobs)
        parts = run_batch(cm, b, settings, n_jobs=n_jobs, executor=executor,
                          chunk_size=chunk_size or min(x.shape[0], 2048), progress=progress,
                          on_chunk=reduce)
        return np.concatenate(parts, axis=0)

    # a spread within the integrator's relative tolerance is solver noise, not an effect
    return _Runner(fn, qnames, qtimes, max(1e-12, float(rtol)))


def _function_runner(f: Callable, space: _Space) -> _Runner:
    def fn(x: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        y = np.asarray(f(x), dtype=float)
        if y.shape[0] != x.shape[0] or y.ndim > 2:
            raise ValueError(f"the model function must return shape (N,) or (N, q) for N = "
                             f"{x.shape[0]} samples, got {y.shape}")
        return y.reshape(x.shape[0], -1)

    probe = fn(np.array([[0.5 * sum(s) if not hasattr(s, "ppf") else s.median()
                          for s in space.specs]]), None)
    q = probe.shape[1]
    return _Runner(fn, ("y",) if q == 1 else tuple(f"y{i}" for i in range(q)), None)


def _setup(model: Any, regimen: Any, times: Any, params: Mapping[str, Any], qoi: Any, at: Any,
           population: Any, rng: np.random.Generator,
           **kw: Any) -> tuple[_Space, _Runner, _PopulationFactors | None]:
    from .population import Population

    space = _space(params)
    if isinstance(model, Model):
        pop = None
        if population is not None:
            if not isinstance(population, Population):
                raise TypeError(f"population must be a Population, got "
                                f"{type(population).__name__}")
            pm = population.model
            if (pm.param_names, pm.covariate_names) != (model.param_names, model.covariate_names):
                raise ValueError("the population's model must have the model's parameters and "
                                 "covariates, in the same order")
            pop = _population_factors(population, rng)
        return space, _ode_runner(model, regimen, times, space, qoi, at, **kw), pop
    if callable(model):
        if population is not None:
            raise ValueError("population= needs a Model, not a plain function")
        return space, _function_runner(model, space), None
    raise TypeError(f"model must be a Model or a function f(X) -> Y, got {type(model).__name__}")


def _checked(runner: _Runner, names: Sequence[str], x: np.ndarray,
             y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Refuse non-finite quantities of interest; mark constant ones.

    SALib divides by a quantity's variance and turns a constant one into silent
    zeros. A constant quantity among others (e.g. the output at t = 0, before any
    dose, in a time course) gets NaN indices; when every quantity is constant
    there is nothing to analyse: ValueError.
    """
    y = np.asarray(y, dtype=float).reshape(x.shape[0], -1)
    bad = ~np.isfinite(y)
    if bad.any():
        j = int(np.argmax(bad.any(axis=0)))
        i = int(np.argmax(bad[:, j]))
        at = ", ".join(f"{nm}={v:.4g}" for nm, v in zip(names, x[i], strict=False))
        raise ValueError(
            f"the quantity of interest '{runner.qoi_names[j]}' is not finite for "
            f"{int(bad[:, j].sum())} of {len(y)} samples (first at {at}); e.g. a time to "
            "recovery that does not happen within the simulated times. Extend the times, "
            "narrow the parameter ranges or choose an endpoint defined for every sample")
    # constant: the spread is within round-off (functions) or the integrator's relative
    # tolerance (models) of the largest magnitude
    const = np.ptp(y, axis=0) <= runner.resolution * np.max(np.abs(y), axis=0)
    if const.all():
        j = int(np.argmax(const))
        raise ValueError(
            f"the quantity of interest '{runner.qoi_names[j]}' is the same ({y[0, j] + 0.0:.6g}, "
            f"to a relative {runner.resolution:.0e}) for all {len(y)} samples: it has no variance to "
            "apportion to the parameters. E.g. an "
            "output read before the first dose or long after the drug is gone, or parameters "
            "that do not affect it. Drop it from the quantities (qoi, at=) or vary parameters "
            "it depends on")
    return y, const


def _gsa_settings(model: Any, rng: Any, n: int, population: Any, method: str, rtol: float,
                  atol: float, max_steps: int, **extra: Any) -> dict:
    """What a global analysis ran with (solver settings only for a model)."""
    out: dict[str, Any] = {"n": int(n), **extra}
    if isinstance(rng, int | np.integer):
        out["seed"] = int(rng)
    if population is not None:
        out["population"] = repr(population)
    if isinstance(model, Model):
        out.update(solver=method, rtol=float(rtol), atol=float(atol), max_steps=int(max_steps))
    return out


def _nan_result(keys: Sequence[str], k: int) -> dict:
    """Indices of a constant quantity of interest: undefined (no variance to apportion)."""
    return {key: np.full(k, np.nan) for key in keys}


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _frame(qois: Sequence[str], names: Sequence[str], per_qoi: list[dict], keys: Sequence[str]) -> pd.DataFrame:
    rows = []
    for q, res in zip(qois, per_qoi, strict=True):
        for j, nm in enumerate(names):
            rows.append({"qoi": q, "param": nm} | {k: float(np.asarray(res[k])[j]) for k in keys})
    return pd.DataFrame(rows)


_COMMON = """
    model : Model or callable
        The model, or a function ``f(X) -> Y`` of an ``(N, k)`` array of samples.
    regimen : Regimen, dose or list of doses, optional
        Dosing (models only).
    times : array_like, optional
        Simulation grid (models only; required for endpoints).
    params : mapping name -> (low, high) or scipy.stats distribution
        Varied parameters (or covariates). A parameter's range, or every
        value its distribution can give (quantiles 1e-12 to 1 - 1e-12), must
        lie within its bounds in the model (else ``ModelError``).
    qoi : Endpoint, sequence of Endpoint, or output name
        Quantity of interest (models only).
    at : array_like, optional
        Times at which the output ``qoi`` is analysed: finite, within
        ``times`` when given, and not before the start of the simulation
        (time 0, or the first dose if earlier).
    population : Population, optional
        Draw the parameters not varied from this virtual population, whose
        variability is then an input of the analysis (see the module
        docstring).
    rng : int, Generator or None
        Seeds sampling, the population and the bootstrap.
    confidence : float
        Level of the confidence intervals.
    n_jobs, executor, chunk_size, progress
        As in :func:`pkpd.population.simulate_population` (chunks default to
        2048 runs, each reduced to its quantities at once).
    method, rtol, atol, max_steps
        Integrator settings.
"""


def _doc(f: Callable) -> Callable:
    f.__doc__ = f.__doc__.replace("    {common}\n", _COMMON.strip("\n") + "\n")
    return f


@_doc
def sobol(model: Model | Callable, regimen: Any = None, times: Any = None, *,
          params: Mapping[str, Any], qoi: Any = None, at: Any = None, n: int = 1024,
          second_order: bool = False, population: Population | None = None,
          rng: int | np.random.Generator | None = None, confidence: float = 0.95,
          num_resamples: int = 100, n_jobs: int = -1, executor: Any = None,
          chunk_size: int | None = None, progress: bool | None = None, method: str = "auto",
          rtol: float = 1e-6, atol: float = 1e-9, max_steps: int = 100_000) -> GlobalSensitivity:
    """Sobol indices (Saltelli sampling, SALib's estimators and bootstrap intervals).

    Runs ``n * (k + 2)`` evaluations (``n * (2k + 2)`` with ``second_order``)
    for ``k`` varied parameters; ``n`` should be a power of 2. Over a
    population, the population's variability is one more group of inputs
    (``k + 1`` in these counts, row ``"population"`` of the indices): rows
    ``A`` and ``B`` of the Saltelli design have independent subjects, ``AB_i``
    keeps the subject of ``A`` for a varied parameter ``i`` and takes that of
    ``B`` for the population, so that every index is a share of the variance
    across parameters and population together.

    Every quantity of interest must be finite and vary across the samples
    (else ``ValueError``).

    Parameters
    ----------
    {common}
    n : int
        Base sample size.
    second_order : bool
        Also estimate second-order indices ``S2``.
    num_resamples : int
        Bootstrap resamples for the confidence intervals.

    Returns
    -------
    GlobalSensitivity

    Examples
    --------
    >>> import numpy as np
    >>> from pkpd.sensitivity import sobol
    >>> res = sobol(lambda X: X[:, 0] + 0.1 * X[:, 1], params={"a": (0, 1), "b": (0, 1)},
    ...             n=1024, rng=0)
    >>> res.to_frame()["S1"].round(2).tolist()
    [0.99, 0.01]
    """
    from SALib.analyze import sobol as sa_analyze
    from SALib.sample import sobol as sa_sample

    gen = np.random.default_rng(rng)
    space, runner, pop = _setup(model, regimen, times, params, qoi, at, population, gen,
                           n_jobs=n_jobs, executor=executor, chunk_size=chunk_size,
                           progress=progress, method=method, rtol=rtol, atol=atol,
                           max_steps=max_steps)
    k = len(space.names)
    extra = pop.names if pop is not None else ()
    if extra and _POPULATION in space.names:
        raise ValueError(f"a varied parameter is named '{_POPULATION}', the name of the "
                         "population's group of inputs: rename it in the model")
    problem = _problem(space, extra, [*space.names, *[_POPULATION] * len(extra)] if extra else None)
    factors = [*space.names, *([_POPULATION] if extra else [])]
    u = sa_sample.sample(problem, n, calc_second_order=second_order, seed=_seed(gen))
    x = space.values(u[:, :k])
    rows = pop.rows(u[:, k:]) if pop is not None else None
    y, const = _checked(runner, space.names, x, runner.fn(x, rows))
    keys = ("S1", "S1_conf", "ST", "ST_conf")
    per, s2_rows = [], []
    for j, q in enumerate(runner.qoi_names):
        seed = _seed(gen)
        if const[j]:
            res = _nan_result((*keys, "S2", "S2_conf"), len(factors))
            res["S2"] = res["S2_conf"] = np.full((len(factors), len(factors)), np.nan)
        else:
            res = sa_analyze.analyze(problem, y[:, j], calc_second_order=second_order,
                                     num_resamples=num_resamples, conf_level=confidence,
                                     seed=seed)
        per.append(res)
        if second_order:
            for a in range(len(factors)):
                for b in range(a + 1, len(factors)):
                    s2_rows.append({"qoi": q, "param_i": factors[a], "param_j": factors[b],
                                    "S2": float(res["S2"][a, b]), "S2_conf": float(res["S2_conf"][a, b])})
    return GlobalSensitivity("sobol", space.names, runner.qoi_names,
                             _frame(runner.qoi_names, factors, per, keys),
                             pd.DataFrame(s2_rows) if second_order else None, x, y,
                             runner.qoi_times, confidence,
                             _gsa_settings(model, rng, n, population, method, rtol, atol,
                                           max_steps, num_resamples=num_resamples))


@_doc
def morris(model: Model | Callable, regimen: Any = None, times: Any = None, *,
           params: Mapping[str, Any], qoi: Any = None, at: Any = None, n: int = 100,
           num_levels: int = 4, population: Population | None = None,
           rng: int | np.random.Generator | None = None, confidence: float = 0.95,
           num_resamples: int = 1000, n_jobs: int = -1, executor: Any = None,
           chunk_size: int | None = None, progress: bool | None = None, method: str = "auto",
           rtol: float = 1e-6, atol: float = 1e-9, max_steps: int = 100_000) -> GlobalSensitivity:
    """Morris elementary effects (screening): ``mu``, ``mu_star``, ``sigma``.

    ``n`` trajectories of ``k + 1`` runs each, on a grid of ``num_levels``
    levels per parameter. A range ``(low, high)`` puts level ``j`` at
    ``low + (high - low) j / (num_levels - 1)``, its ends included. A
    distribution puts level ``j`` at the quantile ``(j + 1/2) / num_levels``,
    the midpoint of ``num_levels`` bins of equal probability (the ends of a
    range would be the quantiles 0 and 1, infinite or extreme tails): a
    standard normal with 4 levels is sampled at -1.15, -0.32, 0.32, 1.15.
    Elementary effects are per unit of the normalised scale: the whole
    range for a range, the probability (quantile) scale for a distribution.

    Over a population, each trajectory has one subject (drawn with ``rng``),
    so that each elementary effect is a difference at a fixed subject: for
    ``y = x (z - 1)``, ``mu_star`` of ``x`` is ``E|z - 1|`` over the
    population.

    Every quantity of interest must be finite and vary across the samples
    (else ``ValueError``).

    Parameters
    ----------
    {common}
    n : int
        Number of trajectories.
    num_levels : int
        Grid levels of the Morris design.
    num_resamples : int
        Bootstrap resamples for ``mu_star_conf``.

    Returns
    -------
    GlobalSensitivity
    """
    from SALib.analyze import morris as sa_analyze
    from SALib.sample import morris as sa_sample

    gen = np.random.default_rng(rng)
    space, runner, pop = _setup(model, regimen, times, params, qoi, at, population, gen,
                           n_jobs=n_jobs, executor=executor, chunk_size=chunk_size,
                           progress=progress, method=method, rtol=rtol, atol=atol,
                           max_steps=max_steps)
    problem = _problem(space)
    k = len(space.names)
    u = sa_sample.sample(problem, n, num_levels=num_levels, seed=_seed(gen))
    dist = space.is_distribution
    level = np.rint(u[:, dist] * (num_levels - 1))
    probs = u.copy()
    probs[:, dist] = (level + 0.5) / num_levels
    x = space.values(probs)
    rows = None
    if pop is not None:
        rows = pop.draw(u.shape[0] // (k + 1), gen)[np.arange(u.shape[0]) // (k + 1)]
    y, const = _checked(runner, space.names, x, runner.fn(x, rows))
    keys = ("mu", "mu_star", "sigma", "mu_star_conf")
    # SALib divides by the grid step of u, (num_levels - 1) / num_levels of the step in
    # probability of a distribution: rescale those to effects per unit of probability.
    scale = np.where(dist, num_levels / (num_levels - 1), 1.0)
    per = []
    for j in range(y.shape[1]):
        seed = _seed(gen)
        res = (_nan_result(keys, k) if const[j] else
               sa_analyze.analyze(problem, u, y[:, j], num_resamples=num_resamples,
                                  conf_level=confidence, num_levels=num_levels, seed=seed))
        per.append({key: np.asarray(res[key], dtype=float) * scale for key in keys})
    return GlobalSensitivity("morris", space.names, runner.qoi_names,
                             _frame(runner.qoi_names, space.names, per, keys), None, x, y,
                             runner.qoi_times, confidence,
                             _gsa_settings(model, rng, n, population, method, rtol, atol,
                                           max_steps, num_levels=num_levels))


@_doc
def fast(model: Model | Callable, regimen: Any = None, times: Any = None, *,
         params: Mapping[str, Any], qoi: Any = None, at: Any = None, n: int = 1000,
         M: int = 4, population: Population | None = None,
         rng: int | np.random.Generator | None = None, confidence: float = 0.95,
         num_resamples: int = 100, n_jobs: int = -1, executor: Any = None,
         chunk_size: int | None = None, progress: bool | None = None, method: str = "auto",
         rtol: float = 1e-6, atol: float = 1e-9, max_steps: int = 100_000) -> GlobalSensitivity:
    """Extended FAST: first-order and total indices from ``n * k`` runs.

    The confidence intervals come from SALib's bootstrap of the search curve,
    which is known to be unreliable for FAST (SALib issue 649): indicative only.

    Over a population, each of its ``d`` sources of variability (a random
    effect, a covariate distribution, a covariate table) is one more factor
    of the design, mapped to subjects by quantiles, ``n * (k + d)`` runs in
    all; the indices get a row ``"population:<name>"`` per source (see the
    module docstring). A covariate table is one factor along the table's
    first principal component, rough for FAST if the rows scatter: prefer
    :func:`sobol` there.

    Every quantity of interest must be finite and vary across the samples
    (else ``ValueError``).

    Parameters
    ----------
    {common}
    n : int
        Runs per parameter (must exceed ``4 * M**2``).
    M : int
        Interference parameter (harmonics).
    num_resamples : int
        Bootstrap resamples.

    Returns
    -------
    GlobalSensitivity
    """
    from SALib.analyze import fast as sa_analyze
    from SALib.sample import fast_sampler as sa_sample

    if n <= 4 * M * M:
        raise ValueError(f"fast() needs n > 4 * M**2 = {4 * M * M}, got n = {n}")
    gen = np.random.default_rng(rng)
    space, runner, pop = _setup(model, regimen, times, params, qoi, at, population, gen,
                           n_jobs=n_jobs, executor=executor, chunk_size=chunk_size,
                           progress=progress, method=method, rtol=rtol, atol=atol,
                           max_steps=max_steps)
    k = len(space.names)
    extra = pop.names if pop is not None else ()
    problem = _problem(space, extra)
    u = sa_sample.sample(problem, n, M=M, seed=_seed(gen))
    x = space.values(u[:, :k])
    rows = pop.rows(u[:, k:]) if pop is not None else None
    y, const = _checked(runner, space.names, x, runner.fn(x, rows))
    keys = ("S1", "S1_conf", "ST", "ST_conf")
    per = []
    for j in range(y.shape[1]):
        if const[j]:
            _seed(gen)
            per.append(_nan_result(keys, len(problem["names"])))
            continue
        # SALib's FAST analysis reseeds numpy's global generator and warns that its
        # intervals are indicative (documented above): keep the caller's global state.
        state = np.random.get_state()  # noqa: NPY002 - restoring, not drawing
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="FAST confidence intervals",
                                        category=UserWarning)
                per.append(sa_analyze.analyze(problem, y[:, j], M=M, num_resamples=num_resamples,
                                              conf_level=confidence, seed=_seed(gen)))
        finally:
            np.random.set_state(state)  # noqa: NPY002
    return GlobalSensitivity("fast", space.names, runner.qoi_names,
                             _frame(runner.qoi_names, problem["names"], per, keys), None, x, y,
                             runner.qoi_times, confidence,
                             _gsa_settings(model, rng, n, population, method, rtol, atol,
                                           max_steps, M=M))
