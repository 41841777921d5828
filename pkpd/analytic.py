"""Exact solutions of linear time-invariant compartment models.

A model is *linear time-invariant* (LTI) when every right-hand side is
``sum_j A[i, j] * state_j`` with ``A`` a matrix of parameters and covariates
only (no time, no states, no constant term). This covers NONMEM's ADVAN1-4,
11 and 12 and every other linear mammillary or catenary system, e.g. transit
absorption chains. :func:`linear_form` recognises such a model and
:func:`solve_linear` solves it exactly for any dosing history.

Method
------
Between breakpoints (dose times and infusion ends) the input ``r`` is
constant and the solution is

``y(t + h) = expm(A h) y(t) + (integral_0^h expm(A u) du) r``,

the top-right blocks of the exponential of the augmented matrix
``[[A, r], [0, 0]]``, which exists also for a singular ``A`` (a state
without elimination). When ``A`` is diagonalisable with a well-conditioned
eigenvector matrix ``V`` the solver works in eigen-coordinates
``z = V^-1 y``, where both blocks are diagonal: ``exp(lambda h)`` and
``expm1(lambda h) / lambda`` (``h`` for ``lambda = 0``), evaluated for all
output times at once. Otherwise (repeated eigenvalues of a defective
matrix, e.g. ``ka == k`` or a transit chain with one rate constant) it uses
:func:`scipy.linalg.expm` of ``[[A h, I h], [0, 0]]``, batched over the
distinct step lengths.

Events
------
:func:`solve_linear` takes its doses as a structured array of
:data:`EVENT_DTYPE`, already shifted by lag and scaled by bioavailability
(:func:`events_from_regimen` builds it from a :class:`~pkpd.Regimen`):

``time``
    When the event acts (model time units), lag included.
``kind``
    :data:`BOLUS`, :data:`INFUSION` or :data:`RESET`.
``state``
    Index of the target state (ignored for a reset).
``amount``
    Amount (state units), bioavailability included. An infusion adds
    ``amount / duration`` over ``[time, time + duration)``.
``duration``
    Infusion duration (time units, > 0); 0 for a bolus or a reset.
``interval``
    Steady-state interval (NONMEM ``II`` with ``SS=1``), or 0 for an ordinary
    dose. A steady-state dose restarts the system at its *record time*
    ``time - lag``: it discards the history before that time (states and
    infusions in progress) and sets the states to the periodic steady state
    of this dose given every ``interval`` forever, as it is at the record
    time; the dose itself then acts at ``time``. Steady-state doses with the
    same record time add their steady states (superposition, as NONMEM
    ``SS=2`` does for the second). An infusion at steady state needs
    ``duration <= interval``.
``lag``
    Time (time units) from the dose record to ``time`` for a steady-state
    dose, ``0 <= lag < interval`` (NONMEM semantics of ``ALAG`` with ``SS=1``:
    the steady state is the state at the record time, the lagged dose follows
    ``lag`` later, and an infusion of the steady-state history still running
    at the record time goes on); 0 for an ordinary dose or a reset, whose
    ``time`` already includes any lag.

The rules of :mod:`pkpd.dosing` hold: a bolus is a jump, an output at an
event time reports the post-event value, all events at one time are applied.
At one time, resets and steady-state restarts act first, then the doses.
Events after the last output time cannot change the outputs and are dropped
before solving, so a long repeat (``count=10**6``) costs only the doses up
to the last output time.
A reset sets every state to ``y0`` and stops infusions in progress (NONMEM
``EVID=3``).

Examples
--------
One-compartment IV bolus of 100 mg, k = 0.1 /h:

>>> import numpy as np
>>> from pkpd.analytic import solve_linear, make_events, BOLUS
>>> ev = make_events(time=[0.0], kind=[BOLUS], state=[0], amount=[100.0])
>>> y = solve_linear(np.array([[-0.1]]), np.zeros(1), np.array([0.0, 10.0]), ev)
>>> np.allclose(y[:, 0], 100 * np.exp(-0.1 * np.array([0.0, 10.0])))
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg
import sympy as sp
from numpy.typing import ArrayLike

from .dosing import Bolus, Infusion, Regimen, Reset
from .errors import RegimenError
from .model import T

if TYPE_CHECKING:  # pragma: no cover
    from .model import Model

__all__ = [
    "BOLUS",
    "EVENT_DTYPE",
    "INFUSION",
    "RESET",
    "LinearForm",
    "events_from_regimen",
    "linear_form",
    "make_events",
    "solve_linear",
    "steady_state_before_dose",
]

#: Event kinds of :data:`EVENT_DTYPE`.
BOLUS, INFUSION, RESET = 0, 1, 2

#: One record per event; see the module docstring for the meaning of each field.
EVENT_DTYPE = np.dtype(
    [
        ("time", "f8"),
        ("kind", "i1"),
        ("state", "i8"),
        ("amount", "f8"),
        ("duration", "f8"),
        ("interval", "f8"),
        ("lag", "f8"),
    ]
)

# Largest cond(V) (1-norm) for which the eigen-coordinates path is used: it
# adds an absolute error of about cond(V) * eps * (dose size), so below 1e-12 of
# the dose here (measured for ka -> k in the one-compartment oral model).
_MAX_EIG_COND = 1e3
# |1 - exp(lambda * interval)| below this: no periodic steady state exists.
_MIN_SS_DECAY = 1e-12


# --------------------------------------------------------------- recognition
@dataclass(frozen=True, slots=True)
class LinearForm:
    """A model written as ``dy/dt = A y``, ``outputs = C y``.

    Built by :func:`linear_form`. Entries are sympy expressions of the
    parameters and covariates; :meth:`numeric` evaluates them all in one call
    of a function lambdified once, at construction.

    Parameters
    ----------
    A : sympy.ImmutableMatrix, shape (n, n)
        System matrix (1/time).
    C : sympy.ImmutableMatrix, shape (n_out, n)
        Output matrix (output units per state unit).
    inits, bioavailability, lag : sympy.ImmutableMatrix, shape (n, 1)
        Initial states (state units), F (dimensionless) and lag (time units).
    params, covariates : tuple of sympy.Symbol
        Argument order of :meth:`numeric`.
    """

    A: sp.ImmutableMatrix
    C: sp.ImmutableMatrix
    inits: sp.ImmutableMatrix
    bioavailability: sp.ImmutableMatrix
    lag: sp.ImmutableMatrix
    params: tuple[sp.Symbol, ...]
    covariates: tuple[sp.Symbol, ...]
    _fn: Callable[..., list[np.ndarray]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fn = sp.lambdify(
            [list(self.params), list(self.covariates)],
            [self.A, self.C, self.inits, self.bioavailability, self.lag],
            modules="numpy",
            dummify=True,
            cse=True,
        )
        object.__setattr__(self, "_fn", fn)

    def numeric(
        self, param_values: ArrayLike, covariate_values: ArrayLike = ()
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Evaluate the matrices at given parameter and covariate values.

        Parameters
        ----------
        param_values : array_like, shape (n_params,)
            In the order of ``params`` (the model's parameter order).
        covariate_values : array_like, shape (n_covariates,)
            In the order of ``covariates``.

        Returns
        -------
        A : ndarray, shape (n, n)
        C : ndarray, shape (n_out, n)
        y0, F, lag : ndarray, shape (n,)
        """
        p = np.asarray(param_values, dtype=float)
        c = np.asarray(covariate_values, dtype=float)
        if p.shape != (len(self.params),) or c.shape != (len(self.covariates),):
            raise ValueError(
                f"expected {len(self.params)} parameter values and {len(self.covariates)} "
                f"covariate values, got arrays of shape {p.shape} and {c.shape}"
            )
        A, C, y0, F, lag = self._fn(p, c)
        n = self.A.shape[0]
        return (
            np.asarray(A, dtype=float).reshape(n, n),
            np.asarray(C, dtype=float).reshape(self.C.shape),
            np.asarray(y0, dtype=float).reshape(n),
            np.asarray(F, dtype=float).reshape(n),
            np.asarray(lag, dtype=float).reshape(n),
        )


def _linear_rows(
    exprs: Sequence[sp.Expr], states: Sequence[sp.Symbol], forbidden: set[sp.Symbol]
) -> list[list[sp.Expr]] | None:
    """Coefficient rows of expressions linear and homogeneous in ``states``, or None."""
    zero = {x: sp.Integer(0) for x in states}
    rows = []
    for e in exprs:
        row = [sp.diff(e, x) for x in states]
        # State- and time-free first derivatives make e affine in the states.
        if any(r.free_symbols & forbidden for r in row):
            return None
        rest = e.xreplace(zero)
        if rest != 0 and sp.simplify(rest) != 0:
            return None
        rows.append(row)
    return rows


def linear_form(model: Model) -> LinearForm | None:
    """Recognise a linear time-invariant model.

    Parameters
    ----------
    model : Model
        Any model; its expanded equations (assignments substituted) are used.

    Returns
    -------
    LinearForm or None
        The matrices ``A`` and ``C`` when every right-hand side and every
        output is a linear combination of the states with coefficients that
        depend on parameters and covariates only (no time, no constant
        term); ``None`` otherwise (e.g. Michaelis-Menten elimination, an Emax
        effect on a state, clearance changing with time, a zero-order
        production term).

    Examples
    --------
    >>> import sympy as sp
    >>> from pkpd import Model, Param, State, Output
    >>> k, V, c = sp.symbols("k V central")
    >>> m = Model("iv1", params=[Param("k", 0.1), Param("V", 10.0)],
    ...           states=[State("central")], odes={"central": -k * c},
    ...           outputs=[Output("conc", c / V)])
    >>> linear_form(m).A
    Matrix([[-k]])
    """
    ex = model.expanded()
    states = ex.states
    forbidden = set(states) | {T}
    a_rows = _linear_rows(ex.rhs, states, forbidden)
    c_rows = _linear_rows(ex.outputs, states, forbidden)
    if a_rows is None or c_rows is None:
        return None
    if any(e.free_symbols & forbidden for e in (*ex.inits, *ex.bioavailability, *ex.lag)):
        return None
    n = len(states)
    return LinearForm(
        A=sp.ImmutableMatrix(n, n, [e for row in a_rows for e in row]),
        C=sp.ImmutableMatrix(len(c_rows), n, [e for row in c_rows for e in row]),
        inits=sp.ImmutableMatrix(n, 1, list(ex.inits)),
        bioavailability=sp.ImmutableMatrix(n, 1, list(ex.bioavailability)),
        lag=sp.ImmutableMatrix(n, 1, list(ex.lag)),
        params=tuple(ex.params),
        covariates=tuple(ex.covariates),
    )


# -------------------------------------------------------------------- events
def make_events(
    time: ArrayLike,
    kind: ArrayLike,
    state: ArrayLike,
    amount: ArrayLike,
    duration: ArrayLike = 0.0,
    interval: ArrayLike = 0.0,
    lag: ArrayLike = 0.0,
) -> np.ndarray:
    """Build an event array of :data:`EVENT_DTYPE` from columns (broadcast).

    Parameters
    ----------
    time : array_like
        Event times (time units), lag included.
    kind : array_like of int
        :data:`BOLUS`, :data:`INFUSION` or :data:`RESET`.
    state : array_like of int
        Target state indices.
    amount : array_like
        Amounts (state units), bioavailability included.
    duration : array_like
        Infusion durations (time units); 0 for boluses and resets.
    interval : array_like
        Steady-state interval (time units); 0 for ordinary doses.
    lag : array_like
        For a steady-state dose, the time (time units) from its record time
        to ``time``; 0 otherwise.

    Returns
    -------
    ndarray of EVENT_DTYPE, shape (n_events,)
    """
    cols = np.broadcast_arrays(*(np.atleast_1d(np.asarray(x))
                                 for x in (time, kind, state, amount, duration, interval, lag)))
    ev = np.empty(cols[0].shape[0], dtype=EVENT_DTYPE)
    for name, col in zip(EVENT_DTYPE.names, cols, strict=True):
        ev[name] = col
    return ev


def events_from_regimen(
    regimen: Regimen,
    state_names: Sequence[str],
    bioavailability: ArrayLike,
    lag: ArrayLike,
    *,
    t_end: float | None = None,
) -> np.ndarray:
    """Expand a regimen into events: repeats unrolled, lag added, F applied.

    Parameters
    ----------
    regimen : Regimen
        Doses with resolved targets (see :meth:`Regimen.check`).
    state_names : sequence of str
        The model's states, in vector order.
    bioavailability, lag : array_like, shape (n,)
        F (dimensionless) and lag (time units) per state, e.g. from
        :meth:`LinearForm.numeric`.
    t_end : float, optional
        Last time of interest (time units): repeats that act after it are
        not expanded (they cannot change the states up to ``t_end``). By
        default every repeat is expanded.

    Returns
    -------
    ndarray of EVENT_DTYPE
        Sorted by time. Only the first dose of a steady-state entry carries
        the steady-state interval and its lag (the steady state is set at its
        record time, the dose acts ``lag`` later); its repeats are ordinary
        doses.

    Raises
    ------
    RegimenError
        If a steady-state dose has a lag not shorter than its interval.
    """
    F = np.asarray(bioavailability, dtype=float)
    L = np.asarray(lag, dtype=float)
    index = {s: i for i, s in enumerate(state_names)}
    cols: list[tuple[np.ndarray, ...]] = []
    for d in regimen:
        if isinstance(d, Reset):
            if t_end is None or d.time <= t_end:
                cols.append((np.array([d.time]), np.array([RESET]), np.array([0]),
                             *(np.zeros(1) for _ in range(4))))
            continue
        if not isinstance(d, Bolus | Infusion) or d.target not in index:
            raise ValueError(f"{d!r}: target must be one of the states {tuple(state_names)}; "
                             "resolve default targets with Regimen.check(model)")
        i = index[d.target]
        if d.ss and not L[i] < d.interval:
            raise RegimenError(
                f"{d!r}: the lag of state '{d.target}' ({L[i]:g}) must be shorter than the "
                f"steady-state interval ({d.interval:g})")
        times = _dose_times(d, None if t_end is None else t_end - L[i]) + L[i]
        m = times.shape[0]
        interval, ss_lag = np.zeros(m), np.zeros(m)
        if d.ss:
            interval[0], ss_lag[0] = d.interval, L[i]
        cols.append((times, np.full(m, INFUSION if isinstance(d, Infusion) else BOLUS),
                     np.full(m, i), np.full(m, F[i] * d.amount), np.full(m, d.duration),
                     interval, ss_lag))
    if not cols:
        return np.empty(0, dtype=EVENT_DTYPE)
    columns = [np.concatenate(c) for c in zip(*cols, strict=True)]
    time = columns[0]
    if (np.diff(time) < 0).any():
        order = np.argsort(time, kind="stable")
        columns = [c[order] for c in columns]
    return make_events(*columns)


def _dose_times(d: Bolus | Infusion, t_last: float | None) -> np.ndarray:
    """Record times of ``d``'s repeats up to ``t_last`` (all if None; a steady-state
    dose keeps its first, whose restart happens at its record time)."""
    if t_last is None or d.count == 1:
        return d.times()
    n = d.count
    if np.isfinite(t_last):
        # One more than the exact count, for rounding; the filter below is exact.
        n = int(min(n, max(0.0, np.floor((t_last - d.time) / d.interval) + 2)))
    times = d.time + d.interval * np.arange(n)
    keep = times <= t_last
    if d.ss and n:
        keep[0] = True
    return times[keep]


def _check_events(events: ArrayLike | None, n: int, t0: float) -> np.ndarray:
    if events is None:
        return np.empty(0, dtype=EVENT_DTYPE)
    ev = np.asarray(events)
    if ev.dtype != EVENT_DTYPE:
        raise ValueError(f"events must be an array of pkpd.analytic.EVENT_DTYPE (see make_events), "
                         f"got dtype {ev.dtype}")
    ev = ev.ravel()
    if not ev.size:
        return ev
    time, kind, dur, interval, lag = (ev[k] for k in ("time", "kind", "duration", "interval",
                                                       "lag"))
    # One sum catches every nan and inf.
    if not np.isfinite(time + ev["amount"] + dur + interval + lag).all():
        raise ValueError("event times, amounts, durations, intervals and lags must be finite")
    inf = kind == INFUSION
    ss = interval > 0
    bad = (
        (time - lag < t0)
        | (kind < BOLUS) | (kind > RESET)
        | ((ev["state"] < 0) | (ev["state"] >= n)) & (kind != RESET)
        | np.where(inf, (dur <= 0) | ss & (dur > interval), dur != 0)
        | (interval < 0)
        | (kind == RESET) & (interval != 0)
        | np.where(ss, (lag < 0) | (lag >= interval), lag != 0)
    )
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"event {i} {ev[i]} is invalid: need time - lag >= t0 ({t0:g}), kind in (BOLUS, "
            f"INFUSION, RESET), 0 <= state < {n}, duration > 0 for an infusion and 0 "
            "otherwise, interval >= 0 (0 for a reset), duration <= interval for an "
            "infusion at steady state, and 0 <= lag < interval at steady state (lag 0 "
            "otherwise)"
        )
    return ev


# --------------------------------------------------------------- propagators
class _Eigen:
    """Flow of dy/dt = A y + r in eigen-coordinates: every block is diagonal."""

    def __init__(self, lam: np.ndarray, V: np.ndarray, Vinv: np.ndarray):
        self.lam = lam
        self.V = V
        self.Vinv_T = Vinv.T
        self.zero = lam == 0
        self.any_zero = bool(self.zero.any())
        self.lam_safe = np.where(self.zero, 1.0, lam)
        self.n = lam.shape[0]

    def to(self, y: np.ndarray) -> np.ndarray:
        return y @ self.Vinv_T

    def back(self, z: np.ndarray) -> np.ndarray:
        y = z @ self.V.T
        return y.real if np.iscomplexobj(y) else y

    def flow(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.multiply.outer(h, self.lam)
        if self.any_zero:
            return np.exp(x), np.where(self.zero, h[..., None], np.expm1(x) / self.lam_safe)
        return np.exp(x), np.expm1(x) / self.lam

    @staticmethod
    def mul(E: np.ndarray, z: np.ndarray) -> np.ndarray:
        return E * z

    def apply(self, E: np.ndarray, S: np.ndarray, z: np.ndarray, r: np.ndarray) -> np.ndarray:
        return E * z + S * r

    def periodic(self, resp: np.ndarray, interval: float) -> np.ndarray | None:
        decay = -np.expm1(self.lam * interval)
        live = resp != 0
        if (np.abs(decay[live]) < _MIN_SS_DECAY).any():
            return None
        return np.where(live, resp / np.where(live, decay, 1.0), 0.0)


class _Expm:
    """Flow of dy/dt = A y + r from expm([[A h, I h], [0, 0]]) (any A)."""

    def __init__(self, A: np.ndarray):
        self.A = A
        self.n = A.shape[0]

    @staticmethod
    def to(y: np.ndarray) -> np.ndarray:
        return y

    back = to

    def flow(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = self.n
        hu, inv = np.unique(h, return_inverse=True)
        M = np.zeros((hu.shape[0], 2 * n, 2 * n))
        M[:, :n, :n] = self.A * hu[:, None, None]
        M[:, :n, n:] = np.eye(n) * hu[:, None, None]
        X = scipy.linalg.expm(M).reshape(hu.shape[0], 2 * n, 2 * n)[inv.reshape(h.shape)]
        return X[..., :n, :n], X[..., :n, n:]

    @staticmethod
    def mul(E: np.ndarray, z: np.ndarray) -> np.ndarray:
        return np.einsum("...ij,...j->...i", E, z)

    def apply(self, E: np.ndarray, S: np.ndarray, z: np.ndarray, r: np.ndarray) -> np.ndarray:
        return self.mul(E, z) + self.mul(S, r)

    def periodic(self, resp: np.ndarray, interval: float) -> np.ndarray | None:
        E, _ = self.flow(np.array([interval]))
        B = np.eye(self.n) - E[0]
        if np.linalg.cond(B) * _MIN_SS_DECAY > 1:
            return None
        return np.linalg.solve(B, resp)


def _propagator(A: np.ndarray) -> _Eigen | _Expm:
    if np.isfinite(A).all():
        lam, V = np.linalg.eig(A)
        try:
            Vinv = np.linalg.inv(V)
        except np.linalg.LinAlgError:
            return _Expm(A)
        if np.abs(V).sum(0).max() * np.abs(Vinv).sum(0).max() <= _MAX_EIG_COND:
            return _Eigen(lam, V, Vinv)
    return _Expm(A)


def _steady_state(
    prop: _Eigen | _Expm, state: int, amount: float, duration: float, interval: float
) -> np.ndarray:
    """Periodic pre-dose state, in the propagator's coordinates."""
    b = np.zeros(prop.n)
    b[state] = amount
    if duration == 0:
        E, _ = prop.flow(np.array([interval]))
        resp = prop.mul(E[0], prop.to(b))
    else:
        E, S = prop.flow(np.array([interval - duration, duration]))
        resp = prop.mul(E[0], prop.mul(S[1], prop.to(b / duration)))
    z = prop.periodic(resp, interval)
    if z is None:
        raise ValueError(
            f"no periodic steady state for a dose into state {state} every {interval:g}: "
            "the system matrix has an eigenvalue with exp(lambda * interval) = 1, i.e. a "
            "state without elimination (e.g. an accumulating amount) reached by the dose"
        )
    return z


def _steady_state_at_record(
    prop: _Eigen | _Expm, state: int, amount: float, duration: float, interval: float,
    lag: float,
) -> np.ndarray:
    """Periodic state at the record time of a dose acting ``lag`` later (coordinates of ``prop``).

    With ``z`` the state just before a dose, the state ``phi = interval - lag``
    after a dose is ``expm(A phi) z + r(phi)``, ``r`` the response to that one
    dose from the zero state (for ``duration <= interval`` the doses before it
    have ended their infusions by then).
    """
    z = _steady_state(prop, state, amount, duration, interval)
    if lag == 0:
        return z
    phi = interval - lag
    b = np.zeros(prop.n)
    b[state] = amount
    bz = prop.to(b)
    if duration == 0:
        E, _ = prop.flow(np.array([phi]))
        return prop.mul(E[0], z + bz)
    on = min(duration, phi)  # time the last dose has been infusing at the record time
    E, S = prop.flow(np.array([phi, phi - on, on]))
    return prop.mul(E[0], z) + prop.mul(E[1], prop.mul(S[2], bz / duration))


def steady_state_before_dose(
    A: ArrayLike, dose: ArrayLike, interval: float, *, duration: float = 0.0
) -> np.ndarray:
    """Periodic steady state just before a dose repeated every ``interval``.

    For ``dy/dt = A y`` with the dose given every ``interval`` forever,
    ``y_ss = (I - expm(A tau))^-1 y_1`` where ``y_1`` is the response at the end
    of one interval, from the zero state, to one dose.

    Parameters
    ----------
    A : array_like, shape (n, n)
        System matrix (1/time).
    dose : array_like, shape (n,)
        Amount per state (state units), bioavailability included; one
        nonzero entry for an ordinary dose, but any vector works.
    interval : float
        Dosing interval ``tau`` (time units, > 0).
    duration : float
        0 for a bolus; otherwise the dose is infused over ``duration``
        (``0 < duration <= interval``) at rate ``dose / duration``.

    Returns
    -------
    ndarray, shape (n,)
        The state just before a dose, at steady state.

    Raises
    ------
    ValueError
        If no steady state exists (a dosed state without elimination).

    Examples
    --------
    >>> import numpy as np
    >>> y = steady_state_before_dose(np.array([[-0.1]]), np.array([100.0]), 24.0)
    >>> bool(np.isclose(y[0], 100 * np.exp(-2.4) / (1 - np.exp(-2.4))))
    True
    """
    A = _check_matrix(A)
    b = np.asarray(dose, dtype=float)
    if b.shape != (A.shape[0],) or not np.isfinite(b).all():
        raise ValueError(f"dose must be a finite vector of length {A.shape[0]}, got {dose!r}")
    if not (np.isfinite(interval) and interval > 0):
        raise ValueError(f"interval must be positive and finite, got {interval!r}")
    if not (duration == 0 or 0 < duration <= interval):
        raise ValueError(f"duration must be 0 (bolus) or in (0, interval={interval:g}], "
                         f"got {duration!r}")
    prop = _propagator(A)
    z = np.zeros(A.shape[0], dtype=complex if isinstance(prop, _Eigen)
                 and np.iscomplexobj(prop.lam) else float)
    for i in np.flatnonzero(b):
        z = z + _steady_state(prop, int(i), float(b[i]), float(duration), float(interval))
    return prop.back(z)


def _check_matrix(A: ArrayLike) -> np.ndarray:
    A = np.asarray(A, dtype=float)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
        raise ValueError(f"A must be a square, non-empty matrix, got shape {A.shape}")
    if not np.isfinite(A).all():
        raise ValueError("A has non-finite entries")
    return A


# -------------------------------------------------------------------- solver
def _with_running_infusions(ev: np.ndarray) -> np.ndarray:
    """Add, for each lagged steady-state infusion, the rest of the infusion of its
    steady-state history still running at its record time (``lag + duration > interval``)."""
    ss_inf = (ev["kind"] == INFUSION) & (ev["interval"] > 0) & (ev["lag"] > 0)
    e = ev[ss_inf]
    left = e["duration"] - (e["interval"] - e["lag"])  # still to run at the record time
    e = e[left > 0]
    if not e.size:
        return ev
    left = left[left > 0]
    return np.concatenate([ev, make_events(e["time"] - e["lag"], INFUSION, e["state"],
                                           e["amount"] * left / e["duration"], left)])


def solve_linear(
    A: ArrayLike,
    y0: ArrayLike,
    t_out: ArrayLike,
    events: ArrayLike | None = None,
    *,
    t0: float = 0.0,
) -> np.ndarray:
    """Exact solution of ``dy/dt = A y + inputs`` for a dosing history.

    Parameters
    ----------
    A : array_like, shape (n, n)
        System matrix (1/time), e.g. from :meth:`LinearForm.numeric`.
    y0 : array_like, shape (n,)
        State at ``t0`` (state units), before any event at ``t0``.
    t_out : array_like, shape (m,)
        Output times (time units), sorted, none before ``t0``.
    events : ndarray of EVENT_DTYPE, optional
        Doses and resets, lag and bioavailability already applied (see the
        module docstring). Need not be sorted; none before ``t0``.
    t0 : float
        Start time (time units).

    Returns
    -------
    ndarray, shape (m, n)
        States at ``t_out``; at an event time, the value after the event.

    Raises
    ------
    ValueError
        On malformed input, output times before ``t0`` or unsorted, or a
        steady-state dose for which no steady state exists.
    """
    A = _check_matrix(A)
    n = A.shape[0]
    y0 = np.asarray(y0, dtype=float)
    if y0.shape != (n,) or not np.isfinite(y0).all():
        raise ValueError(f"y0 must be a finite vector of length {n}, got shape {y0.shape}")
    t_out = np.asarray(t_out, dtype=float)
    if t_out.ndim != 1 or not np.isfinite(t_out).all():
        raise ValueError("t_out must be a 1-D array of finite times")
    if t_out.size and t_out[0] < t0:
        raise ValueError(f"output time {t_out[0]:g} is before the start time t0 = {t0:g}")
    if (np.diff(t_out) < 0).any():
        raise ValueError("t_out must be sorted in increasing order")
    ev = _check_events(events, n, t0)
    # Events after the last output time cannot change the outputs.
    t_last = t_out[-1] if t_out.size else -np.inf
    ev = ev[ev["time"] - ev["lag"] <= t_last]
    ev = _with_running_infusions(ev)

    kind, interval = ev["kind"], ev["interval"]
    restart = (kind == RESET) | (interval > 0)
    any_restart = bool(restart.any())
    times, state, amount = ev["time"], ev["state"], ev["amount"]
    # A steady-state dose restarts the system at its record time, lag before it acts.
    restart_time = times - ev["lag"]
    inf = kind == INFUSION
    starts = times[inf]
    ends = starts + ev["duration"][inf]
    if any_restart:
        # A restart stops the infusions in progress.
        restart_times = np.unique(restart_time[restart])
        nxt = np.append(restart_times, np.inf)[np.searchsorted(restart_times, starts, "right")]
        ends = np.minimum(ends, nxt)
    bp = np.unique(np.concatenate(([t0], times, restart_time, ends)))
    nb = bp.shape[0]

    # rates[k] = sum of the infusion rates active over [bp[k], bp[k+1]), as exact sums.
    k = np.arange(nb)
    active = (np.searchsorted(bp, starts)[:, None] <= k) & (k < np.searchsorted(bp, ends)[:, None])
    per_state = np.zeros((starts.shape[0], n))
    per_state[np.arange(starts.shape[0]), state[inf]] = amount[inf] / ev["duration"][inf]
    rates = active.T.astype(float) @ per_state
    jumps = np.zeros((nb, n))
    bol = kind == BOLUS
    np.add.at(jumps, (np.searchsorted(bp, times[bol]), state[bol]), amount[bol])

    prop = _propagator(A)
    rz = prop.to(rates)
    jz = prop.to(jumps)
    z_init = prop.to(y0)
    restart_at: dict[int, np.ndarray] = {}
    if any_restart:
        # In order of restart time; at one time a steady state overrides a reset.
        ss_at: set[int] = set()
        rows = np.flatnonzero(restart)
        for e in ev[rows[np.argsort(restart_time[rows], kind="stable")]]:
            k = int(np.searchsorted(bp, e["time"] - e["lag"]))
            if e["kind"] == RESET:
                if k not in ss_at:
                    restart_at[k] = z_init
                continue
            zss = _steady_state_at_record(prop, int(e["state"]), float(e["amount"]),
                                          float(e["duration"]), float(e["interval"]),
                                          float(e["lag"]))
            restart_at[k] = restart_at[k] + zss if k in ss_at else zss
            ss_at.add(k)

    # z_k = E_k z_(k-1) + c_k: the flow over interval k-1, then the jumps at bp[k].
    E, S = prop.flow(np.diff(bp))
    c = prop.mul(S, rz[:-1]) + jz[1:]
    Z = np.empty((nb, n), dtype=np.result_type(z_init, rz))
    z = Z[0] = restart_at.get(0, z_init) + jz[0]
    for k in range(1, nb):
        if k in restart_at:
            z = restart_at[k] + jz[k]
        else:
            z = prop.mul(E[k - 1], z) + c[k - 1]
        Z[k] = z

    idx = np.searchsorted(bp, t_out, side="right") - 1
    E, S = prop.flow(t_out - bp[idx])
    return prop.back(prop.apply(E, S, Z[idx], rz[idx]))
