"""Virtual populations: sampling individuals and simulating them all at once.

A :class:`Population` is a model plus inter-individual variability (IIV) of
its parameters, covariate distributions (or a table of real covariates) and
residual error for simulated observations. :meth:`Population.sample` draws
individual parameters; :func:`simulate_population` runs every subject in one
call into compiled code (:mod:`pkpd.batch`), over all cores, or in chunks on a
``concurrent.futures`` executor or a ``dask.distributed`` cluster.

Variability
-----------
Each parameter with IIV gets a random effect ``eta``; the etas are jointly
normal with mean 0 and covariance ``Omega``. With typical value ``theta``:

``"lognormal"`` (default)
    ``theta_i = theta * exp(eta_i)``; the number given in ``iiv`` is the
    coefficient of variation of ``theta_i`` (0.3 = 30 %), i.e.
    ``omega^2 = log(1 + CV^2)``.
``"normal"``
    ``theta_i = theta + eta_i``; the number given is the CV, i.e.
    ``omega = CV * |theta|``.
``"logit"``
    ``logit(x_i) = logit(x) + eta_i`` with ``x`` the parameter rescaled to its
    bounds (``(lower, upper)`` of the parameter, ``(0, 1)`` when a bound is
    infinite); the number given is ``omega`` on the logit scale.

``Omega`` is ``D R D`` with ``D = diag(omega)`` and ``R`` the ``correlation``
(identity by default), or is given whole as ``omega``.

Bounds
------
Individual values must lie within the parameter's bounds (``lower``, ``upper``
of :class:`~pkpd.model.Param`), as in :func:`pkpd.simulate`:
:func:`simulate_population` raises :class:`~pkpd.errors.ModelError` naming the
subject, the parameter, its value and the bounds. A ``"normal"`` distribution
is unbounded: on a positive parameter (a clearance, a volume) it gives values
<= 0 in a fraction ``Phi(-1/CV)`` of subjects (0.1 % at CV 0.32, 11 % at
CV 0.8). ``"lognormal"`` keeps values positive and ``"logit"`` keeps them
inside the bounds; prefer those for bounded parameters.

Sampling happens once, up front, from one generator: the same ``rng`` gives
the same subjects however the simulation is later split into chunks or
spread over machines.

Examples
--------
>>> import numpy as np
>>> from pkpd import Bolus
>>> from pkpd.language import load_model
>>> from pkpd.population import Population, simulate_population
>>> pop = Population(load_model("pk_1cmt_iv"), {"CL": 0.3, "V": 0.2})
>>> params = pop.sample(100, rng=1)
>>> list(params.columns)
['ID', 'CL', 'V']
>>> res = simulate_population(pop, Bolus(0, 100, "central"), np.arange(0, 25.0), n=100, rng=1)
>>> res.bands().columns.tolist()
['output', 'time', 'p5', 'p50', 'p95']
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .compile import CompiledModel, compile_model
from .dosing import Regimen, as_regimen
from .errors import ModelError, SimulationError, closest, plain
from .model import Model

if TYPE_CHECKING:  # pragma: no cover
    from .metrics import Endpoint

__all__ = [
    "Population",
    "ResidualError",
    "PopulationSimulation",
    "simulate_population",
]

_DISTRIBUTIONS = ("lognormal", "normal", "logit")


# --------------------------------------------------------------------------- values
@dataclass(frozen=True, slots=True)
class ResidualError:
    """Residual error of simulated observations of one output.

    ``y_obs = y * (1 + proportional * e1) + additive * e2`` (NONMEM's combined
    error), or with ``log=True`` ``y_obs = y * exp(proportional * e1) +
    additive * e2``; ``e1``, ``e2`` independent standard normal.

    Parameters
    ----------
    additive : float
        Standard deviation of the additive part, in the output's unit.
    proportional : float
        Coefficient of variation of the proportional part (0.1 = 10 %).
    log : bool
        Log-normal instead of linear proportional error.
    """

    additive: float = 0.0
    proportional: float = 0.0
    log: bool = False

    def __post_init__(self) -> None:
        for name in ("additive", "proportional"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ValueError(f"ResidualError.{name} must be a finite number >= 0, got {v!r}")

    def apply(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Noisy observations of the values ``y``."""
        e = rng.standard_normal((2, *np.shape(y)))
        noisy = y * np.exp(self.proportional * e[0]) if self.log else y * (1 + self.proportional * e[0])
        return noisy + self.additive * e[1]


def _as_matrix(x: Any, names: Sequence[str], what: str) -> np.ndarray:
    k = len(names)
    if isinstance(x, Mapping):
        m = np.eye(k)
        for pair, v in x.items():
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise ValueError(f"{what}: keys must be pairs of parameter names, got {pair!r}")
            a, b = pair
            for nm in (a, b):
                if nm not in names:
                    raise ModelError(f"{what}: '{nm}' has no IIV{closest(nm, names)}; "
                                     f"parameters with IIV are: {', '.join(names)}")
            i, j = names.index(a), names.index(b)
            m[i, j] = m[j, i] = float(v)
        return m
    m = np.array(x, dtype=float)
    if m.shape != (k, k):
        raise ValueError(f"{what} must be {k}x{k} (parameters with IIV, in order: "
                         f"{', '.join(names)}), got shape {m.shape}")
    if not np.allclose(m, m.T):
        raise ValueError(f"{what} must be symmetric")
    return m


def _cholesky(cov: np.ndarray, what: str) -> np.ndarray:
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        w = np.linalg.eigvalsh(cov)
        raise ValueError(f"{what} must be positive definite; its smallest eigenvalue is "
                         f"{w.min():.3g}. Check the correlations for consistency") from None


def _draw_covariate(name: str, spec: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        return np.full(n, float(spec))
    if hasattr(spec, "rvs"):
        return np.asarray(spec.rvs(size=n, random_state=rng), dtype=float).reshape(n)
    if callable(spec):
        v = np.asarray(spec(rng, n), dtype=float)
        if v.shape != (n,):
            raise ValueError(f"covariate '{name}': the sampler returned shape {v.shape}, "
                             f"expected ({n},)")
        return v
    raise TypeError(f"covariate '{name}': expected a number, a scipy.stats distribution or "
                    f"a callable (rng, n) -> values, got {type(spec).__name__}")


@dataclass(frozen=True, slots=True)
class Population:
    """A model with inter-individual variability, covariates and residual error.

    Parameters
    ----------
    model : Model
        Typical parameter values are the model's.
    iiv : mapping parameter -> float
        Size of the variability per parameter: the CV for ``"lognormal"`` and
        ``"normal"``, omega (SD on the logit scale) for ``"logit"`` (see the
        module docstring). Parameters not listed do not vary.
    distribution : mapping parameter -> {"lognormal", "normal", "logit"}, optional
        Default ``"lognormal"``.
    correlation : matrix or mapping (name, name) -> float, optional
        Correlation of the etas, in the order of ``iiv``.
    omega : matrix, optional
        Full covariance of the etas, in the order of ``iiv``; replaces the
        sizes in ``iiv`` and ``correlation``.
    covariates : mapping covariate -> spec, or DataFrame, optional
        Per covariate a number, a frozen ``scipy.stats`` distribution or a
        callable ``(rng, n) -> values``; or a table with one row per real
        subject (columns named after the model's covariates, and optionally
        ``ID``, unique) that :meth:`sample` takes in order or resamples.
    residual : mapping output -> ResidualError, optional
        Residual error for simulated observations.

    Notes
    -----
    A ``"normal"`` IIV on a parameter with bounds, e.g. a clearance with
    bounds ``(0, inf)``, can draw values outside them (a CV of 0.8 gives
    ``CL <= 0`` in about 11 % of subjects); :func:`simulate_population` then
    raises :class:`~pkpd.errors.ModelError` naming those subjects. Use
    ``"lognormal"`` (always positive) or ``"logit"`` (always inside the bounds)
    for such parameters.
    """

    model: Model
    iiv: Mapping[str, float] = field(default_factory=dict)
    distribution: Mapping[str, str] = field(default_factory=dict)
    correlation: Any = field(default=None, compare=False)
    omega: Any = field(default=None, compare=False)
    covariates: Any = field(default=None, compare=False)
    residual: Mapping[str, ResidualError] = field(default_factory=dict)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        m = self.model
        if not isinstance(m, Model):
            raise TypeError(f"Population needs a Model, got {type(m).__name__}")
        iiv = dict(self.iiv)
        names = list(iiv)
        for nm in names:
            if nm not in m.param_names:
                raise ModelError(f"IIV on '{nm}': model '{m.name}' has no such parameter"
                                 f"{closest(nm, m.param_names)}; parameters are: "
                                 f"{', '.join(m.param_names)}")
            v = iiv[nm]
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ValueError(f"IIV on '{nm}' must be a finite number >= 0, got {v!r}")
        dist = {nm: "lognormal" for nm in names} | dict(self.distribution)
        for nm, d in dist.items():
            if nm not in iiv:
                raise ModelError(f"distribution given for '{nm}', which has no IIV; "
                                 f"add it to iiv")
            if d not in _DISTRIBUTIONS:
                raise ValueError(f"distribution of '{nm}' must be one of {_DISTRIBUTIONS}, got {d!r}")
            if d == "lognormal" and m.param(nm).value <= 0:
                raise ValueError(f"log-normal IIV on '{nm}' needs a positive typical value, "
                                 f"got {m.param(nm).value:g}; use distribution 'normal'")
            if d == "logit":
                lo, hi = _logit_bounds(m, nm)
                if not lo < m.param(nm).value < hi:
                    raise ValueError(f"logit IIV on '{nm}': the typical value "
                                     f"{m.param(nm).value:g} must lie strictly inside ({lo:g}, {hi:g})")
        set_(self, "iiv", iiv)
        set_(self, "distribution", dist)
        if self.omega is not None:
            cov = _as_matrix(self.omega, names, "omega")
        else:
            sd = np.array([_omega_sd(m, nm, dist[nm], iiv[nm]) for nm in names])
            corr = (np.eye(len(names)) if self.correlation is None
                    else _as_matrix(self.correlation, names, "correlation"))
            if np.any(np.abs(np.diag(corr) - 1) > 1e-12) or np.any(np.abs(corr) > 1):
                raise ValueError("a correlation matrix needs ones on the diagonal and entries in [-1, 1]")
            cov = corr * np.outer(sd, sd)
        if names:
            nz = np.diag(cov) > 0
            _cholesky(cov[np.ix_(nz, nz)], "the covariance of the random effects")
        set_(self, "omega", cov)
        cov_spec = self.covariates
        if cov_spec is None:
            cov_spec = {}
        if isinstance(cov_spec, pd.DataFrame):
            cols = [c for c in cov_spec.columns if c != "ID"]
            if "ID" in cov_spec.columns:
                tid = cov_spec["ID"]
                if tid.isna().any():
                    raise ValueError(f"covariate table: the ID of row "
                                     f"{int(np.argmax(tid.isna().to_numpy())) + 1} is missing")
                if tid.duplicated().any():
                    raise ValueError(f"covariate table: ID {plain(tid[tid.duplicated()].iloc[0])} "
                                     f"occurs twice; IDs must be unique")
        elif isinstance(cov_spec, Mapping):
            cov_spec = dict(cov_spec)
            cols = list(cov_spec)
        else:
            raise TypeError("covariates must be a mapping of distributions or a DataFrame")
        for c in cols:
            if c not in m.covariate_names:
                raise ModelError(f"model '{m.name}' has no covariate '{c}'"
                                 f"{closest(c, m.covariate_names)}; covariates are: "
                                 f"{', '.join(m.covariate_names) or 'none'}")
        set_(self, "covariates", cov_spec)
        res = dict(self.residual)
        for o, r in res.items():
            if o not in m.output_names:
                raise ModelError(f"residual error for '{o}': model '{m.name}' has no such output"
                                 f"{closest(o, m.output_names)}")
            if not isinstance(r, ResidualError):
                raise TypeError(f"residual error for '{o}' must be a ResidualError, got {r!r}")
        set_(self, "residual", res)

    @property
    def correlation_matrix(self) -> np.ndarray:
        """Correlation of the etas (order of :attr:`iiv`)."""
        sd = np.sqrt(np.diag(self.omega))
        with np.errstate(invalid="ignore", divide="ignore"):
            r = self.omega / np.outer(sd, sd)
        r[~np.isfinite(r)] = 0.0
        np.fill_diagonal(r, 1.0)
        return r

    def sample(self, n: int | None = None, rng: int | np.random.Generator | None = None) -> pd.DataFrame:
        """Draw ``n`` individuals.

        Parameters
        ----------
        n : int, optional
            Number of subjects; defaults to the number of rows of a covariate
            table (taken in order). With a table and ``n``, rows are drawn
            with replacement.
        rng : int, Generator or None

        Returns
        -------
        DataFrame
            ``ID``, every parameter of the model, then every covariate. IDs are
            those of a covariate table with an ``ID`` column taken in order,
            else 1..n (also when rows are drawn with replacement, which can
            repeat a row).
        """
        rng = np.random.default_rng(rng)
        table = self.covariates if isinstance(self.covariates, pd.DataFrame) else None
        resample = n is not None
        if n is None:
            if table is None:
                raise ValueError("sample() needs n (the number of subjects) unless the "
                                 "population has a covariate table")
            n = len(table)
        if not (isinstance(n, int | np.integer) and n >= 1):
            raise ValueError(f"n must be a positive integer, got {n!r}")
        n = int(n)
        m = self.model
        out: dict[str, np.ndarray] = {"ID": np.arange(1, n + 1)}
        for prm in m.params:
            out[prm.name] = np.full(n, prm.value)
        names = list(self.iiv)
        if names:
            eta = _correlated_normal(self.omega, n, rng)
            for j, nm in enumerate(names):
                out[nm] = _transform(m, nm, self.distribution[nm], eta[:, j])
        for c in m.covariates:
            out[c.name] = np.full(n, c.value)
        if table is not None:
            rows = rng.integers(0, len(table), n) if resample else np.arange(n)
            if not resample and "ID" in table.columns:
                out["ID"] = table["ID"].to_numpy()
            for c in table.columns:
                if c != "ID":
                    out[c] = table[c].to_numpy(dtype=float)[rows]
        else:
            for c, spec in self.covariates.items():
                out[c] = _draw_covariate(c, spec, n, rng)
        return pd.DataFrame(out)

    def __repr__(self) -> str:
        iiv = ", ".join(f"{k} {self.distribution[k]}" for k in self.iiv) or "none"
        return f"<Population of {self.model.name!r}: IIV on {iiv}>"


def _id_list(ids: Any, k: int = 10) -> str:
    """Up to ``k`` IDs, comma separated, ``...`` when there are more."""
    ids = list(ids)
    return ", ".join(str(plain(i)) for i in ids[:k]) + (", ..." if len(ids) > k else "")


def _logit_bounds(m: Model, name: str) -> tuple[float, float]:
    p = m.param(name)
    if math.isfinite(p.lower) and math.isfinite(p.upper):
        return p.lower, p.upper
    return 0.0, 1.0


def _omega_sd(m: Model, name: str, dist: str, size: float) -> float:
    if dist == "lognormal":
        return math.sqrt(math.log1p(size * size))
    if dist == "normal":
        return size * abs(m.param(name).value)
    return float(size)


def _transform(m: Model, name: str, dist: str, eta: np.ndarray) -> np.ndarray:
    theta = m.param(name).value
    if dist == "lognormal":
        return theta * np.exp(eta)
    if dist == "normal":
        return theta + eta
    lo, hi = _logit_bounds(m, name)
    x = (theta - lo) / (hi - lo)
    z = math.log(x / (1 - x)) + eta
    return lo + (hi - lo) / (1 + np.exp(-z))


def _correlated_normal(cov: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    k = cov.shape[0]
    z = rng.standard_normal((n, k))
    nz = np.diag(cov) > 0
    eta = np.zeros((n, k))
    if nz.any():
        L = np.linalg.cholesky(cov[np.ix_(nz, nz)])
        eta[:, nz] = z[:, nz] @ L.T
    return eta


# --------------------------------------------------------------------------- batch set-up
@dataclass(frozen=True, eq=False)
class _Batch:
    """Everything :func:`pkpd.batch.solve_batch` needs, for all subjects."""

    P: np.ndarray
    t0: np.ndarray
    times: np.ndarray
    t_lo: np.ndarray
    t_hi: np.ndarray
    d_off: np.ndarray
    d_time: np.ndarray
    d_type: np.ndarray
    d_cmt: np.ndarray
    d_amt: np.ndarray
    d_dur: np.ndarray
    r_off: np.ndarray
    reset_y: np.ndarray
    c_off: np.ndarray
    cov_t: np.ndarray
    cov_v: np.ndarray
    cov_kind: np.ndarray

    def chunk(self, lo: int, hi: int) -> _Batch:
        """Subjects ``lo:hi`` with offsets rebased (output rows are recomputed by the runner)."""
        d0, d1 = self.d_off[lo], self.d_off[hi]
        r0, r1 = self.r_off[lo], self.r_off[hi]
        c0, c1 = self.c_off[lo], self.c_off[hi]
        ta, tb = int(self.t_lo[lo:hi].min()), int(self.t_hi[lo:hi].max())
        return _Batch(self.P[lo:hi], self.t0[lo:hi], self.times[ta:tb],
                      self.t_lo[lo:hi] - ta, self.t_hi[lo:hi] - ta,
                      self.d_off[lo:hi + 1] - d0, self.d_time[d0:d1], self.d_type[d0:d1],
                      self.d_cmt[d0:d1], self.d_amt[d0:d1], self.d_dur[d0:d1],
                      self.r_off[lo:hi + 1] - r0, self.reset_y[r0:r1],
                      self.c_off[lo:hi + 1] - c0, self.cov_t[c0:c1], self.cov_v[c0:c1],
                      self.cov_kind[lo:hi])


@dataclass(frozen=True)
class _Settings:
    method: int
    rtol: float
    atol: float
    hmax: float
    max_steps: int


def _run_batch(cm: CompiledModel, b: _Batch, s: _Settings) -> tuple:
    from .batch import solve_batch

    counts = b.t_hi - b.t_lo
    o_off = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    return solve_batch(cm.address, cm.n_states, cm.n_params, cm.n_outputs, b.P, b.t0, b.times,
                       b.t_lo, b.t_hi, o_off, b.d_off, b.d_time, b.d_type, b.d_cmt, b.d_amt,
                       b.d_dur, b.r_off, b.reset_y, b.c_off, b.cov_t, b.cov_v, b.cov_kind,
                       s.method, s.rtol, s.atol, s.hmax, s.max_steps, cm.nonautonomous,
                       cm.fused_tsit5,
                       int(counts.sum()))


def _run_chunk_task(model: Model, b: _Batch, s: _Settings, threads: int) -> tuple:
    """Executor task: compile (memoised, disk-cached) and run one chunk."""
    import numba

    cm = compile_model(model)
    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        return _run_batch(cm, b, s)
    finally:
        numba.set_num_threads(old)


def _build(cm: CompiledModel, P: np.ndarray, regimens: list[Regimen], times: list[np.ndarray],
           cov_tables: list[Any], method: str, rtol: float, atol: float,
           labels: Sequence[Any] | None = None, n_jobs: int = -1) -> _Batch:
    """Kernel arrays for every subject; steady states of SS doses are solved here, in one
    parallel compiled call (``labels`` name subjects in errors)."""
    from .simulate import _covariate_arrays, _regimen_arrays, _with_ss_resets

    model = cm.model
    n = cm.n_states
    nsub = P.shape[0]
    ncov = len(model.covariates)
    shared_t = len(times) == 1
    if shared_t:
        all_t = times[0]
        t_lo = np.zeros(nsub, dtype=np.int64)
        t_hi = np.full(nsub, len(all_t), dtype=np.int64)
    else:
        counts = np.array([len(t) for t in times], dtype=np.int64)
        t_hi = np.cumsum(counts)
        t_lo = t_hi - counts
        all_t = np.concatenate(times) if times else np.zeros(0)
    if len(regimens) == 1 and len(cov_tables) == 1 and cov_tables[0] is None and shared_t:
        d_time, d_type, d_cmt, d_amt, d_dur, ss = _regimen_arrays(model, regimens[0], float(all_t[-1]))
        if not ss:
            return _shared_batch(P, all_t, t_lo, t_hi, d_time, d_type, d_cmt, d_amt, d_dur, n, ncov)
    memo: dict[tuple[int, float], tuple] = {}
    d_parts: list[tuple] = []
    r_rows: list[np.ndarray] = []
    r_off = np.zeros(nsub + 1, dtype=np.int64)
    c_parts: list[tuple] = []
    ss_of: list[tuple] = []
    t0 = np.empty(nsub)
    for i in range(nsub):
        reg = regimens[0] if len(regimens) == 1 else regimens[i]
        ti = times[0] if shared_t else times[i]
        key = (id(reg), float(ti[-1]))
        if key not in memo:
            memo[key] = _regimen_arrays(model, reg, float(ti[-1]))
        d_time, d_type, d_cmt, d_amt, d_dur, ss = memo[key]
        first = [float(d_time.min())] if d_time.size else []
        t0[i] = min([0.0, float(ti[0]), *first, *[s[0] for s in ss]])
        tab = cov_tables[0] if len(cov_tables) == 1 else cov_tables[i]
        if tab is None:
            ct, cv, ck = np.zeros(0), np.zeros((0, ncov)), np.zeros(ncov, dtype=np.int64)
        else:
            ct, cv, ck = _covariate_arrays(model, tab[0], tab[1])
        ss_of.append(ss)
        d_parts.append((d_time, d_type, d_cmt, d_amt, d_dur))
        c_parts.append((ct, cv, ck))
    ys = _steady_states(cm, P, ss_of, c_parts, rtol, atol, labels, n_jobs)
    for i, ss in enumerate(ss_of):
        if ss:
            *d_parts[i], reset_y = _with_ss_resets(d_parts[i], ss, n, ys[i])
            r_rows.append(reset_y)
            r_off[i + 1] = r_off[i] + len(reset_y)
        else:
            r_off[i + 1] = r_off[i]
    d_counts = np.array([len(p[0]) for p in d_parts], dtype=np.int64)
    d_off = np.concatenate(([0], np.cumsum(d_counts))).astype(np.int64)

    def cat(j: int, dt: Any) -> np.ndarray:
        return np.ascontiguousarray(np.concatenate([p[j] for p in d_parts]), dtype=dt)

    c_counts = np.array([len(c[0]) for c in c_parts], dtype=np.int64)
    c_off = np.concatenate(([0], np.cumsum(c_counts))).astype(np.int64)
    return _Batch(
        np.ascontiguousarray(P, dtype=float), t0, np.ascontiguousarray(all_t, dtype=float),
        t_lo, t_hi, d_off, cat(0, float), cat(1, np.int64), cat(2, np.int64), cat(3, float),
        cat(4, float), r_off,
        np.ascontiguousarray(np.concatenate(r_rows)) if r_rows else np.zeros((0, n)),
        c_off, np.concatenate([c[0] for c in c_parts]),
        np.ascontiguousarray(np.concatenate([c[1] for c in c_parts]).reshape(int(c_counts.sum()),
                                                                          ncov)),
        np.ascontiguousarray(np.stack([c[2] for c in c_parts]).reshape(nsub, ncov)))


def _steady_states(cm: CompiledModel, P: np.ndarray, ss_of: list[tuple], c_parts: list[tuple],
                   rtol: float, atol: float, labels: Sequence[Any] | None, n_jobs: int,
                   max_iter: int = 50) -> list[list[np.ndarray]]:
    """State before each SS dose of each subject (:func:`pkpd.kernel.steady_state_batch`),
    with each subject's covariates at the time of the dose."""
    import numba

    from .kernel import steady_state_batch
    from .simulate import covariates_at, steady_state_error

    pairs = [(i, d) for i, ss in enumerate(ss_of) for d in ss]
    out: list[list[np.ndarray]] = [[] for _ in ss_of]
    if not pairs:
        return out
    cmt, amt, dur, interval = (np.array([d[k] for _, d in pairs]) for k in (1, 2, 3, 4))
    P = np.ascontiguousarray([covariates_at(cm, P[i], d[0], *c_parts[i]) for i, d in pairs],
                             dtype=float)
    subject = np.arange(len(pairs), dtype=np.int64)
    owner = [i for i, _ in pairs]
    old = numba.get_num_threads()
    numba.set_num_threads(_n_threads(n_jobs))
    try:
        status, Y = steady_state_batch(
            cm.address, cm.n_states, cm.n_params, cm.n_outputs, P, subject,
            cmt.astype(np.int64), amt.astype(float), dur.astype(float), interval.astype(float),
            float(rtol), float(atol), 1_000_000, cm.nonautonomous, cm.fused_tsit5, 1e-10,
            max_iter)
    finally:
        numba.set_num_threads(old)
    bad = np.flatnonzero(status)
    if bad.size:
        k = int(bad[0])
        i = owner[k]
        who = f"ID {labels[i] if labels is not None else i}: "
        raise steady_state_error(cm, P[k], int(cmt[k]), float(dur[k]), float(interval[k]),
                                 int(status[k]), Y[k], max_iter, who)
    for k, (i, _d) in enumerate(pairs):
        out[i].append(Y[k])
    return out


def _shared_batch(P: np.ndarray, t: np.ndarray, t_lo: np.ndarray, t_hi: np.ndarray,
                  d_time: np.ndarray, d_type: np.ndarray, d_cmt: np.ndarray, d_amt: np.ndarray,
                  d_dur: np.ndarray, n: int, ncov: int) -> _Batch:
    """One regimen and one grid for all subjects: tile without a Python loop."""
    nsub = P.shape[0]
    nd = len(d_time)
    first = [float(d_time.min())] if nd else []
    t0 = np.full(nsub, min([0.0, float(t[0]), *first]))
    zeros = np.zeros(nsub + 1, dtype=np.int64)
    return _Batch(np.ascontiguousarray(P, dtype=float), t0, np.ascontiguousarray(t, dtype=float),
                  t_lo, t_hi, np.arange(nsub + 1, dtype=np.int64) * nd, np.tile(d_time, nsub),
                  np.tile(d_type, nsub), np.tile(d_cmt, nsub), np.tile(d_amt, nsub),
                  np.tile(d_dur, nsub), zeros, np.zeros((0, n)), zeros, np.zeros(0),
                  np.zeros((0, ncov)), np.zeros((nsub, ncov), dtype=np.int64))


# --------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class PopulationSimulation:
    """The result of :func:`simulate_population`.

    Attributes
    ----------
    model : Model
    params : DataFrame
        ``ID`` and the values of every parameter and covariate of every
        subject, as simulated: a Dataset's covariates replace sampled or
        tabled ones; a covariate that changes with time within a subject
        (a Dataset's ``covariate_table``) shows its first value, which the
        subject has up to its first covariate time (see
        :meth:`pkpd.data.Subject.covariates_at` for the values after).
    ids : ndarray (n_subjects,)
    offsets : ndarray (n_subjects + 1,)
        Rows of subject ``k`` are ``offsets[k]:offsets[k + 1]``.
    times : ndarray (n_rows,)
    outputs : ndarray (n_rows, n_outputs)
    states : ndarray (n_rows, n_states)
    observed : ndarray (n_rows, n_outputs) or None
        Outputs with residual error (NaN for outputs without one), when
        observations were requested.
    percentiles : tuple of float
        Percentiles of :meth:`bands` (median = 50).
    grid : ndarray or None
        The output grid when every subject shares it.
    settings : dict
        How it was run (see :meth:`provenance`).
    """

    model: Model
    params: pd.DataFrame = field(repr=False)
    ids: np.ndarray = field(repr=False)
    offsets: np.ndarray = field(repr=False)
    times: np.ndarray = field(repr=False)
    outputs: np.ndarray = field(repr=False)
    states: np.ndarray = field(repr=False)
    observed: np.ndarray | None = field(default=None, repr=False)
    percentiles: tuple[float, ...] = (5.0, 50.0, 95.0)
    grid: np.ndarray | None = field(default=None, repr=False)
    settings: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def n_subjects(self) -> int:
        return len(self.ids)

    def provenance(self) -> dict[str, Any]:
        """Run settings: ``method``, ``rtol``, ``atol``, ``hmax`` (None: no limit),
        ``max_steps``, ``n_subjects``, and ``seed`` when ``rng`` was an int."""
        return dict(self.settings)

    def __repr__(self) -> str:
        nt = f"{len(self.grid)} shared times" if self.grid is not None else "per-subject times"
        return (f"<PopulationSimulation {self.model.name!r}: {self.n_subjects} subjects, {nt}, "
                f"outputs {', '.join(self.model.output_names)}>")

    def __getitem__(self, name: str) -> np.ndarray:
        """``(n_subjects, n_times)`` values of an output or state (shared grid only)."""
        if self.grid is None:
            raise ValueError("subjects have different output times; use to_frame()")
        col = self._column(name)
        return col.reshape(self.n_subjects, len(self.grid))

    def _column(self, name: str) -> np.ndarray:
        m = self.model
        if name in m.output_names:
            return self.outputs[:, m.output_names.index(name)]
        if name in m.state_names:
            return self.states[:, m.state_names.index(name)]
        raise KeyError(f"no output or state '{name}'"
                       f"{closest(name, m.output_names + m.state_names)}")

    def to_frame(self, *, states: bool = False) -> pd.DataFrame:
        """Tidy frame: ``ID``, ``time``, every output (``<output>_obs`` with
        residual error when simulated), and every state with ``states=True``."""
        counts = np.diff(self.offsets)
        data: dict[str, Any] = {"ID": np.repeat(self.ids, counts), "time": self.times}
        for j, nm in enumerate(self.model.output_names):
            data[nm] = self.outputs[:, j]
        if self.observed is not None:
            for j, nm in enumerate(self.model.output_names):
                if not np.isnan(self.observed[:, j]).all():
                    data[f"{nm}_obs"] = self.observed[:, j]
        if states:
            for j, nm in enumerate(self.model.state_names):
                data[nm] = self.states[:, j]
        return pd.DataFrame(data)

    def bands(self, outputs: Sequence[str] | None = None,
              percentiles: Sequence[float] | None = None) -> pd.DataFrame:
        """Percentiles over subjects at every time (long format).

        Returns
        -------
        DataFrame
            ``output``, ``time`` and one column ``p<q>`` per percentile.
        """
        names = list(outputs or self.model.output_names)
        qs = list(self.percentiles if percentiles is None else _check_percentiles(percentiles))
        cols = [f"p{q:g}" for q in qs]
        frames = []
        for nm in names:
            col = self._column(nm)
            if self.grid is not None:
                vals = np.percentile(col.reshape(self.n_subjects, len(self.grid)), qs, axis=0).T
                t = self.grid
            else:
                g = pd.Series(col).groupby(self.times)
                vals = np.column_stack([g.quantile(q / 100).to_numpy() for q in qs])
                t = np.asarray(g.quantile(0.5).index, dtype=float)
            frames.append(pd.DataFrame({"output": nm, "time": t}
                                       | dict(zip(cols, vals.T, strict=True))))
        return pd.concat(frames, ignore_index=True)

    def evaluate(self, endpoint: Endpoint) -> pd.Series:
        """An endpoint (see :mod:`pkpd.metrics`) for every subject, indexed by ID."""
        if self.grid is not None:
            vals = endpoint.evaluate(self.grid, self[endpoint.output])
            return pd.Series(np.asarray(vals), index=pd.Index(self.ids, name="ID"),
                             name=endpoint.name)
        return endpoint(self.to_frame(states=endpoint.output in self.model.state_names))

    def summary(self) -> str:
        """Median and the range of :attr:`percentiles` of each output at a few times
        (the median is computed whether or not 50 is among the percentiles)."""
        qs = sorted({*self.percentiles, 50.0})
        b = self.bands(percentiles=qs)
        lo, hi = f"p{min(self.percentiles):g}", f"p{max(self.percentiles):g}"
        lines = [repr(self), f"median [{lo}, {hi}] by time:"]
        for nm, g in b.groupby("output", sort=False):
            unit = next((o.unit for o in self.model.outputs if o.name == nm), "")
            lines.append(f"  {nm}" + (f" [{unit}]" if unit else ""))
            idx = np.unique(np.linspace(0, len(g) - 1, min(len(g), 8)).round().astype(int))
            for _, r in g.iloc[idx].iterrows():
                lines.append(f"    t={r['time']:<10g} {r['p50']:<12.4g} "
                             f"[{r[lo]:.4g}, {r[hi]:.4g}]")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Plain-data form (schema version 1)."""
        return {"schema": 1, "model": self.model.name, "percentiles": list(self.percentiles),
                "settings": self.provenance(), "params": self.params.to_dict(orient="list"),
                "data": self.to_frame().to_dict(orient="list")}

    def plot(self, outputs: Sequence[str] | None = None, **kw: Any) -> Any:
        """Median and percentile bands (see :func:`pkpd.plot.plot_population`)."""
        from .plot import plot_population

        return plot_population(self, outputs, **kw)


# --------------------------------------------------------------------------- the verb
def _n_threads(n_jobs: int) -> int:
    import numba

    top = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None or n_jobs == -1:
        return top
    if n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be -1 (all cores) or a positive integer, got {n_jobs}")
    return min(int(n_jobs), top)


def _progress_bar(enabled: bool | None, total: int) -> Any:
    if enabled is False or (enabled is None and total < 20_000):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="subject", leave=False)


def _is_dask(executor: Any) -> bool:
    return type(executor).__module__.split(".")[0] == "distributed"


def run_batch(cm: CompiledModel, b: _Batch, s: _Settings, *, n_jobs: int = -1,
              executor: Any = None, chunk_size: int | None = None,
              progress: bool | None = None,
              on_chunk: Callable[[int, int, tuple], Any] | None = None,
              labels: Sequence[Any] | None = None) -> list:
    """Run a batch locally (all cores) or on an executor, in chunks.

    Returns the per-chunk results, in order: ``on_chunk(lo, hi, result)`` if
    given (used to reduce each chunk right away, e.g. to an endpoint), else
    the raw kernel result of each chunk. Raises :class:`SimulationError` naming
    the failed subjects by ``labels`` (default: run numbers from 1), also in
    ``err.failed_ids``.
    """
    import numba

    nsub = b.P.shape[0]
    bar = _progress_bar(progress, nsub)
    if chunk_size is None:
        if executor is not None:
            workers = _executor_workers(executor)
            chunk_size = max(1, math.ceil(nsub / (4 * workers)))
        elif bar is not None:
            chunk_size = max(1000, math.ceil(nsub / 100))
        else:
            chunk_size = nsub
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}")
    bounds = [(lo, min(lo + chunk_size, nsub)) for lo in range(0, nsub, chunk_size)]
    out: list = []
    failed: list[tuple[int, tuple]] = []

    def collect(lo: int, hi: int, res: tuple) -> None:
        status = res[0]
        bad = np.flatnonzero(status != 0)
        if bad.size:
            failed.extend((lo + int(k), (int(status[k]), float(res[1][k]), res[4][k])) for k in bad)
        elif not failed:
            out.append(on_chunk(lo, hi, res) if on_chunk else res)
        if bar is not None:
            bar.update(hi - lo)

    try:
        if executor is None:
            old = numba.get_num_threads()
            numba.set_num_threads(_n_threads(n_jobs))
            try:
                for lo, hi in bounds:
                    collect(lo, hi, _run_batch(cm, b.chunk(lo, hi) if len(bounds) > 1 else b, s))
            finally:
                numba.set_num_threads(old)
        else:
            threads = 1 if n_jobs in (None, -1) else int(n_jobs)
            futures = [executor.submit(_run_chunk_task, cm.model, b.chunk(lo, hi), s, threads,
                                       **({"pure": False} if _is_dask(executor) else {}))
                       for lo, hi in bounds]
            for (lo, hi), fut in zip(bounds, futures, strict=True):
                collect(lo, hi, fut.result())
    finally:
        if bar is not None:
            bar.close()
    if failed:
        raise _failure(cm, b, failed, labels)
    return out


def _executor_workers(executor: Any) -> int:
    if _is_dask(executor):
        try:
            return max(1, sum(executor.nthreads().values()))
        except Exception:  # a client without workers yet
            return 1
    return max(1, int(getattr(executor, "_max_workers", os.cpu_count() or 1)))


def _failure(cm: CompiledModel, b: _Batch, failed: list,
             labels: Sequence[Any] | None) -> SimulationError:
    from .simulate import _STATUS

    m = cm.model
    k, (status, t_fail, z) = failed[0]
    ids = [labels[i] if labels is not None else i + 1 for i, _ in failed]
    what = "IDs" if labels is not None else "runs"
    names = m.param_names + m.covariate_names
    err = SimulationError(
        f"{len(failed)} of {b.P.shape[0]} subjects failed ({what} "
        f"{', '.join(map(str, ids[:20]))}{', ...' if len(ids) > 20 else ''}); the first "
        f"({ids[0]}) stopped at t = {t_fail:.6g}: {_STATUS.get(status, status)}",
        time=t_fail, state=dict(zip(m.state_names, np.asarray(z).tolist(), strict=True)),
        params=dict(zip(names, b.P[k].tolist(), strict=True)))
    err.failed_ids = ids
    return err


def simulate_population(population: Population | pd.DataFrame,
                        regimen: Any, times: Any = None, *,
                        model: Model | None = None, n: int | None = None,
                        rng: int | np.random.Generator | None = None,
                        residual: Mapping[str, ResidualError] | None = None,
                        n_jobs: int = -1, executor: Any = None, chunk_size: int | None = None,
                        progress: bool | None = None, observations: bool = False,
                        percentiles: Sequence[float] = (5, 50, 95), method: str = "auto",
                        rtol: float = 1e-6, atol: float = 1e-9, hmax: float | None = None,
                        max_steps: int = 100_000) -> PopulationSimulation:
    """Simulate many subjects in one call into compiled code.

    Parameters
    ----------
    population : Population or DataFrame
        A population to sample (``n`` subjects with ``rng``), or a table of
        individual parameters and covariates, one row per subject, with an
        optional ``ID`` column (then ``model=`` is required).
    regimen : Regimen, dose, list of Regimen, mapping ID -> Regimen, or Dataset
        One regimen for all, one per subject (in row order, or by ID), or a
        NONMEM :class:`~pkpd.data.Dataset` (its doses, covariates and, when
        ``times`` is None, its observation times per subject; a Population
        is then sampled once per dataset subject, and the dataset's
        covariates replace sampled ones).
    times : array_like, optional
        Output times shared by all subjects (required unless a Dataset gives them).
    model : Model, optional
        The model, when ``population`` is a table.
    n : int, optional
        Number of subjects to sample (default: one per regimen, Dataset subject
        or covariate-table row). With a Dataset or a mapping ID -> regimen it
        must equal their number of subjects.
    rng : int, Generator or None
        Seeds sampling and residual error; both happen once, up front, in
        this process, so the result does not depend on ``n_jobs``,
        ``chunk_size`` or ``executor``.
    residual : mapping output -> ResidualError, optional
        Overrides the population's residual error model.
    n_jobs : int
        Threads for the local run (-1: all cores). With an executor, threads
        per chunk task (default 1).
    executor : concurrent.futures.Executor or dask.distributed.Client, optional
        Run chunks of subjects there; each chunk is one call into the batch kernel.
    chunk_size : int, optional
        Subjects per chunk (default: everything in one call locally; about
        four chunks per worker with an executor).
    progress : bool, optional
        Progress bar (tqdm); default on for 20,000 subjects or more.
    observations : bool
        Add simulated observations with residual error (``<output>_obs``).
    percentiles : sequence of float
        Percentiles of the summary bands, each in [0, 100].
    method, rtol, atol, hmax, max_steps
        As in :func:`pkpd.simulate`, except that ``"auto"`` never takes the
        exact linear path: every subject is integrated (Tsitouras 5(4),
        switching to Rodas4 if stiff).

    Returns
    -------
    PopulationSimulation
        Its ``params`` are the values simulated (after a Dataset's covariates
        replaced sampled ones); its :meth:`~PopulationSimulation.provenance`
        gives the solver settings, the number of subjects and an integer seed.

    Raises
    ------
    ModelError
        If a subject's parameter lies outside the parameter's bounds (as
        :func:`pkpd.simulate` demands); the message names the subject, the
        value and the bounds. A ``"normal"`` IIV can cause this (see
        :class:`Population`).
    ValueError
        Invalid options; IDs of a parameter table that do not match the
        Dataset's (the message lists them); ``n`` not matching a Dataset or
        a mapping of regimens.
    SimulationError
        If any subject fails; the message lists the failing IDs (also in
        ``err.failed_ids``) and carries the first one's time, state and parameters.
        Failures are never returned as NaN.
    """
    from .data import Dataset
    from .simulate import _METHODS

    if method not in _METHODS or method == "analytic":
        raise ValueError(f"method must be one of 'auto', 'nonstiff', 'stiff' for populations, "
                         f"got {method!r}")
    if not (rtol > 0 and atol > 0):
        raise ValueError(f"rtol and atol must be positive, got {rtol!r}, {atol!r}")
    qs = _check_percentiles(percentiles)
    gen = np.random.default_rng(rng)
    dataset = regimen if isinstance(regimen, Dataset) else None
    # -- subjects' regimens
    if dataset is not None:
        regs: list[Regimen] | None = [s.regimen for s in dataset.subjects]
    elif isinstance(regimen, Mapping):
        regs = None
    elif isinstance(regimen, Sequence) and regimen and all(isinstance(r, Regimen) for r in regimen):
        regs = list(regimen)
    else:
        regs = [as_regimen(regimen)]
    # -- parameters
    given: tuple[int, str] | None = None
    if dataset is not None:
        given = (len(dataset), "subjects of the dataset")
    elif isinstance(regimen, Mapping):
        given = (len(regimen), "regimens of the ID -> regimen mapping")
    if isinstance(population, Population):
        if model is not None and model != population.model:
            raise ValueError("model= differs from the population's model; give one of them")
        model = population.model
        if given is not None:
            if n is None:
                n = given[0]
            elif n != given[0]:
                raise ValueError(f"n = {n!r} does not match the {given[0]} {given[1]}; "
                                 f"leave n out to simulate one subject each")
        elif n is None:
            if regs is not None and len(regs) > 1:
                n = len(regs)
            elif not isinstance(population.covariates, pd.DataFrame):
                raise ValueError("give n, the number of subjects to sample")
        table = population.sample(n, gen)
        if given is not None:
            table["ID"] = list(dataset.ids if dataset is not None else regimen)
        res_model = dict(population.residual)
    elif isinstance(population, pd.DataFrame):
        if model is None:
            raise ValueError("a parameter table needs model=")
        table = population.reset_index(drop=True).copy()
        if "ID" not in table.columns:
            if dataset is not None and len(table) != len(dataset):
                raise ValueError(f"the parameter table has {len(table)} rows but the dataset has "
                                 f"{len(dataset)} subjects; give one row per subject (in "
                                 f"dataset order) or an ID column")
            table.insert(0, "ID", list(dataset.ids) if dataset is not None
                         else np.arange(1, len(table) + 1))
        res_model = {}
    else:
        raise TypeError(f"expected a Population or a DataFrame of parameters, got "
                        f"{type(population).__name__}")
    res_model |= dict(residual or {})
    ids = table["ID"].to_numpy()
    id_list = [plain(i) for i in ids]
    nsub = len(table)
    if nsub == 0:
        raise ValueError("no subjects to simulate")
    if pd.Index(ids).has_duplicates:
        dup = pd.Index(ids)[pd.Index(ids).duplicated()]
        raise ValueError(f"subject IDs must be unique; repeated: {_id_list(dup)}")
    if isinstance(regimen, Mapping) and not isinstance(regimen, Dataset):
        missing = [i for i in id_list if i not in regimen]
        if missing:
            raise ValueError(f"no regimen for IDs {_id_list(missing)}; the mapping has IDs "
                             f"{_id_list(regimen)}")
        regs = [as_regimen(regimen[i]) for i in id_list]
    elif dataset is None and regs is not None and len(regs) > 1 and len(regs) != nsub:
        raise ValueError(f"{len(regs)} regimens for {nsub} subjects")
    cm = compile_model(model)
    names = list(model.param_names + model.covariate_names)
    extra = [c for c in table.columns if c != "ID" and c not in names]
    if extra:
        raise ModelError(f"parameter table column '{extra[0]}' is not a parameter or covariate "
                         f"of model '{model.name}'{closest(extra[0], names)}")
    P = np.tile(cm.param_vector(), (nsub, 1))
    for c in table.columns:
        if c != "ID":
            P[:, names.index(c)] = table[c].to_numpy(dtype=float)
    # -- times and covariates from a dataset
    cov_tables: list[Any] = [None]
    if dataset is not None:
        order = _dataset_subjects(dataset, id_list)
        regs = [s.regimen for s in order]
        cov_tables = []
        for k, s in enumerate(order):
            for c, v in s.covariates.items():
                if c in model.covariate_names:
                    P[k, names.index(c)] = v
            tab = s.covariate_table
            if tab is not None:
                cols = ["time"] + [c for c in tab.columns[1:] if c in model.covariate_names]
                tab = tab[cols] if len(cols) > 1 else None
            if tab is not None:
                # the kernel takes these from the table; P (and params) show the first value
                for c in tab.columns[1:]:
                    P[k, names.index(c)] = float(tab[c].iloc[0])
            cov_tables.append(None if tab is None else
                              (tab, {c: s.interpolation.get(c, "locf") for c in tab.columns[1:]}))
        if times is None:
            tlist = [np.unique(s.observations["time"].to_numpy(dtype=float)) for s in order]
            for s, t in zip(order, tlist, strict=True):
                if t.size == 0:
                    raise ValueError(f"ID {s.id} has no observations; give times=")
        else:
            tlist = [_check_times(times)]
    else:
        if times is None:
            raise ValueError("times is required (unless a Dataset gives observation times)")
        tlist = [_check_times(times)]
    for k, c in enumerate(names):
        col = P[:, k]
        if not np.all(np.isfinite(col)):
            bad = int(np.argmax(~np.isfinite(col)))
            raise ValueError(f"ID {id_list[bad]}: {c} is not finite ({col[bad]})")
    _check_bounds(model, P, id_list)
    settings = _Settings(_METHODS[method], float(rtol), float(atol), float(hmax or 0.0),
                         int(max_steps))
    b = _build(cm, P, regs, tlist, cov_tables, method, rtol, atol, labels=id_list,
               n_jobs=n_jobs)
    parts = run_batch(cm, b, settings, n_jobs=n_jobs, executor=executor,
                      chunk_size=chunk_size, progress=progress, labels=id_list)
    Y = np.concatenate([p[2] for p in parts]) if len(parts) > 1 else parts[0][2]
    O = np.concatenate([p[3] for p in parts]) if len(parts) > 1 else parts[0][3]
    counts = b.t_hi - b.t_lo
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    t_rows = np.tile(tlist[0], nsub) if len(tlist) == 1 else b.times
    observed = None
    if observations:
        if not res_model:
            raise ValueError("observations=True needs a residual error model (Population("
                             "residual=...) or residual=)")
        observed = np.full_like(O, np.nan)
        for j, nm in enumerate(model.output_names):
            if nm in res_model:
                observed[:, j] = res_model[nm].apply(O[:, j], gen)
    used = pd.DataFrame({"ID": ids} | {nm: P[:, k] for k, nm in enumerate(names)})
    record: dict[str, Any] = {"method": method, "rtol": float(rtol), "atol": float(atol),
                              "hmax": None if hmax is None else float(hmax),
                              "max_steps": int(max_steps), "n_subjects": nsub}
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        record["seed"] = int(rng)
    return PopulationSimulation(model, used, ids, offsets, t_rows, O, Y, observed, qs,
                                tlist[0] if len(tlist) == 1 else None, record)


def _dataset_subjects(dataset: Any, ids: list[Any]) -> list[Any]:
    """The dataset's subject for each ID (matching as :meth:`Dataset.subject` does); every
    dataset subject must be simulated."""
    exact = {s.id: s for s in dataset.subjects}
    as_text = {str(s.id): s for s in dataset.subjects}
    order = [exact[i] if i in exact else as_text.get(str(i)) for i in ids]
    missing = [i for i, s in zip(ids, order, strict=True) if s is None]
    if missing:
        raise ValueError(f"IDs {_id_list(missing)} of the parameter table are not in the "
                         f"dataset; its IDs are {_id_list(dataset.ids)}")
    used = {id(s) for s in order}
    absent = [s.id for s in dataset.subjects if id(s) not in used]
    if absent:
        raise ValueError(f"dataset IDs {_id_list(absent)} have no row in the parameter table "
                         f"({len(ids)} rows for {len(dataset)} subjects); give every dataset "
                         f"subject a row, or leave those subjects out of the dataset")
    return order


def _check_bounds(model: Model, P: np.ndarray, ids: list[Any]) -> None:
    """Every subject's parameters within the model's bounds (as :func:`pkpd.simulate` demands)."""
    lower = np.array([p.lower for p in model.params])
    upper = np.array([p.upper for p in model.params])
    vals = P[:, :len(lower)]
    bad = (vals < lower) | (vals > upper)
    if not bad.any():
        return
    rows = np.flatnonzero(bad.any(axis=1))
    k = int(rows[0])
    j = int(np.argmax(bad[k]))
    prm = model.params[j]
    per = ", ".join(f"{model.params[i].name} {int(c)}" for i, c in enumerate(bad.sum(axis=0)) if c)
    raise ModelError(
        f"ID {ids[k]}: parameter '{prm.name}' = {vals[k, j]:g} is outside its bounds "
        f"({prm.lower:g}, {prm.upper:g}); {len(rows)} of {len(ids)} subjects are out of bounds "
        f"(IDs {_id_list(ids[i] for i in rows)}; subjects per parameter: {per}). A 'normal' IIV "
        f"is unbounded: use 'lognormal' or 'logit' for bounded parameters, or correct the "
        f"parameter table")


def _check_percentiles(percentiles: Any) -> tuple[float, ...]:
    try:
        q = np.atleast_1d(np.asarray(percentiles, dtype=float))
    except (TypeError, ValueError):
        raise ValueError(f"percentiles must be numbers in [0, 100], got {percentiles!r}") from None
    if q.ndim != 1 or q.size == 0:
        raise ValueError(f"percentiles must be a non-empty sequence of numbers in [0, 100], "
                         f"got {percentiles!r}")
    bad = ~(np.isfinite(q) & (q >= 0) & (q <= 100))
    if bad.any():
        raise ValueError(f"percentiles must be finite numbers in [0, 100], got "
                         f"{plain(q[bad][0])!r} in {percentiles!r}")
    return tuple(float(v) for v in q)


def _check_times(times: Any) -> np.ndarray:
    t = np.asarray(times, dtype=float)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)):
        raise ValueError("times must be a non-empty 1-D sequence of finite output times")
    if np.any(np.diff(t) < 0):
        raise ValueError("times must be sorted in increasing order")
    return np.ascontiguousarray(t)
