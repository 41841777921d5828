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
distribution; SALib samples the unit cube and values are ``ppf(u)``. The
quantity of interest is an :class:`~pkpd.metrics.Endpoint` (or several), or
an output at chosen times (``qoi="conc", at=[1, 7, 28]``). Samples are run in
chunks through the compiled batch engine (:mod:`pkpd.batch`), over all cores
or on an executor, and each chunk is reduced to its quantities of interest
at once, so memory does not grow with the number of runs.

With ``population=`` the parameters not varied are drawn from a virtual
population: one virtual subject per Sobol base row (shared by the row's
``A``, ``B`` and ``AB_i`` evaluations), per Morris trajectory, or per FAST
sample. The indices are then shares of the total variance across the
population, and ``1 - sum(ST)`` bounds what the population's own variability
explains.

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
                            bool(normalized))


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


@dataclass(frozen=True)
class _Space:
    """Varied parameters: names and unit-cube -> value transforms."""

    names: tuple[str, ...]
    specs: tuple[Any, ...]

    def values(self, u: np.ndarray) -> np.ndarray:
        x = np.empty_like(u, dtype=float)
        uc = np.clip(u, 1e-12, 1 - 1e-12)
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


def _problem(space: _Space) -> dict:
    k = len(space.names)
    return {"num_vars": k, "names": list(space.names), "bounds": [[0.0, 1.0]] * k}


@dataclass
class _Runner:
    """Turns parameter samples into quantities of interest."""

    fn: Callable[[np.ndarray, np.ndarray], np.ndarray]
    qoi_names: tuple[str, ...]
    qoi_times: np.ndarray | None


_REDUCE_ROWS = 256  # rows per endpoint evaluation in a batch reduction (see reduce below)


def _ode_runner(model: Model, regimen: Any, times: Any, space: _Space, qoi: Any, at: Any,
                population: Population | None, rng: np.random.Generator, *, n_jobs: int,
                executor: Any, chunk_size: int | None, progress: bool | None, method: str,
                rtol: float, atol: float, max_steps: int) -> _Runner:
    from .compile import compile_model
    from .dosing import as_regimen
    from .metrics import Endpoint
    from .population import _build, _check_times, _Settings, run_batch
    from .simulate import _METHODS

    known = model.param_names + model.covariate_names
    for nm in space.names:
        if nm not in known:
            raise ModelError(f"model '{model.name}' has no parameter or covariate '{nm}'"
                             f"{closest(nm, known)}")
    eps: list[Endpoint] = []
    out_at: tuple[str, np.ndarray] | None = None
    if qoi is None:
        raise ValueError("qoi is required: an Endpoint, a list of them, or an output name with at=")
    if isinstance(qoi, str):
        if at is None:
            raise ValueError(f"qoi={qoi!r} (an output) needs at=, the times to analyse")
        out_at = (qoi, np.atleast_1d(np.asarray(at, dtype=float)))
        grid = np.unique(np.concatenate([out_at[1]] + ([np.asarray(times, float)] if times is not None else [])))
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

    def fn(x: np.ndarray, group: np.ndarray) -> np.ndarray:
        P = np.tile(base, (x.shape[0], 1))
        if population is not None:
            bg = population.sample(int(group.max()) + 1, rng)
            for c in bg.columns:
                if c != "ID" and c in index:
                    P[:, index[c]] = bg[c].to_numpy(dtype=float)[group]
        for j, nm in enumerate(space.names):
            P[:, index[nm]] = x[:, j]
        b = _build(cm, P, reg, [grid], [None], method, rtol, atol, n_jobs=n_jobs)
        parts = run_batch(cm, b, settings, n_jobs=n_jobs, executor=executor,
                          chunk_size=chunk_size or min(x.shape[0], 2048), progress=progress,
                          on_chunk=reduce)
        return np.concatenate(parts, axis=0)

    return _Runner(fn, qnames, qtimes)


def _function_runner(f: Callable, space: _Space) -> _Runner:
    def fn(x: np.ndarray, group: np.ndarray) -> np.ndarray:
        y = np.asarray(f(x), dtype=float)
        if y.shape[0] != x.shape[0] or y.ndim > 2:
            raise ValueError(f"the model function must return shape (N,) or (N, q) for N = "
                             f"{x.shape[0]} samples, got {y.shape}")
        return y.reshape(x.shape[0], -1)

    probe = fn(np.array([[0.5 * sum(s) if not hasattr(s, "ppf") else s.median()
                          for s in space.specs]]), np.zeros(1, dtype=np.int64))
    q = probe.shape[1]
    return _Runner(fn, ("y",) if q == 1 else tuple(f"y{i}" for i in range(q)), None)


def _setup(model: Any, regimen: Any, times: Any, params: Mapping[str, Any], qoi: Any, at: Any,
           population: Any, rng: np.random.Generator, **kw: Any) -> tuple[_Space, _Runner]:
    space = _space(params)
    if isinstance(model, Model):
        if population is not None and population.model.param_names != model.param_names:
            raise ValueError("the population's model must have the model's parameters")
        return space, _ode_runner(model, regimen, times, space, qoi, at, population, rng, **kw)
    if callable(model):
        if population is not None:
            raise ValueError("population= needs a Model, not a plain function")
        return space, _function_runner(model, space)
    raise TypeError(f"model must be a Model or a function f(X) -> Y, got {type(model).__name__}")


def _checked(runner: _Runner, names: Sequence[str], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Refuse non-finite quantities of interest (SALib would turn them into silent zeros)."""
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
    return y


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
        Varied parameters (or covariates).
    qoi : Endpoint, sequence of Endpoint, or output name
        Quantity of interest (models only).
    at : array_like, optional
        Times at which the output ``qoi`` is analysed.
    population : Population, optional
        Draw the parameters not varied from this virtual population.
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
    for ``k`` varied parameters; ``n`` should be a power of 2.

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
    space, runner = _setup(model, regimen, times, params, qoi, at, population, gen,
                           n_jobs=n_jobs, executor=executor, chunk_size=chunk_size,
                           progress=progress, method=method, rtol=rtol, atol=atol,
                           max_steps=max_steps)
    problem = _problem(space)
    k = len(space.names)
    u = sa_sample.sample(problem, n, calc_second_order=second_order, seed=_seed(gen))
    block = 2 * k + 2 if second_order else k + 2
    x = space.values(u)
    y = _checked(runner, space.names, x, runner.fn(x, np.arange(x.shape[0]) // block))
    keys = ("S1", "S1_conf", "ST", "ST_conf")
    per, s2_rows = [], []
    for j, q in enumerate(runner.qoi_names):
        res = sa_analyze.analyze(problem, y[:, j], calc_second_order=second_order,
                                 num_resamples=num_resamples, conf_level=confidence,
                                 seed=_seed(gen))
        per.append(res)
        if second_order:
            for a in range(k):
                for b in range(a + 1, k):
                    s2_rows.append({"qoi": q, "param_i": space.names[a], "param_j": space.names[b],
                                    "S2": float(res["S2"][a, b]), "S2_conf": float(res["S2_conf"][a, b])})
    return GlobalSensitivity("sobol", space.names, runner.qoi_names,
                             _frame(runner.qoi_names, space.names, per, keys),
                             pd.DataFrame(s2_rows) if second_order else None, x, y,
                             runner.qoi_times, confidence)


@_doc
def morris(model: Model | Callable, regimen: Any = None, times: Any = None, *,
           params: Mapping[str, Any], qoi: Any = None, at: Any = None, n: int = 100,
           num_levels: int = 4, population: Population | None = None,
           rng: int | np.random.Generator | None = None, confidence: float = 0.95,
           num_resamples: int = 1000, n_jobs: int = -1, executor: Any = None,
           chunk_size: int | None = None, progress: bool | None = None, method: str = "auto",
           rtol: float = 1e-6, atol: float = 1e-9, max_steps: int = 100_000) -> GlobalSensitivity:
    """Morris elementary effects (screening): ``mu``, ``mu_star``, ``sigma``.

    ``n`` trajectories of ``k + 1`` runs each. Elementary effects are per unit
    of the normalised scale: the whole range for a uniform parameter, the
    quantile scale for a distribution.

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
    space, runner = _setup(model, regimen, times, params, qoi, at, population, gen,
                           n_jobs=n_jobs, executor=executor, chunk_size=chunk_size,
                           progress=progress, method=method, rtol=rtol, atol=atol,
                           max_steps=max_steps)
    problem = _problem(space)
    k = len(space.names)
    u = sa_sample.sample(problem, n, num_levels=num_levels, seed=_seed(gen))
    x = space.values(u)
    y = _checked(runner, space.names, x, runner.fn(x, np.arange(x.shape[0]) // (k + 1)))
    keys = ("mu", "mu_star", "sigma", "mu_star_conf")
    per = [sa_analyze.analyze(problem, u, y[:, j], num_resamples=num_resamples,
                              conf_level=confidence, num_levels=num_levels, seed=_seed(gen))
           for j in range(y.shape[1])]
    return GlobalSensitivity("morris", space.names, runner.qoi_names,
                             _frame(runner.qoi_names, space.names, per, keys), None, x, y,
                             runner.qoi_times, confidence)


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
    space, runner = _setup(model, regimen, times, params, qoi, at, population, gen,
                           n_jobs=n_jobs, executor=executor, chunk_size=chunk_size,
                           progress=progress, method=method, rtol=rtol, atol=atol,
                           max_steps=max_steps)
    problem = _problem(space)
    u = sa_sample.sample(problem, n, M=M, seed=_seed(gen))
    x = space.values(u)
    y = _checked(runner, space.names, x, runner.fn(x, np.arange(x.shape[0])))
    keys = ("S1", "S1_conf", "ST", "ST_conf")
    per = []
    for j in range(y.shape[1]):
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
                             _frame(runner.qoi_names, space.names, per, keys), None, x, y,
                             runner.qoi_times, confidence)
