"""Algebraic dose- and exposure-response curves, fitted by least squares.

Four classic curves of a response ``y`` against a dose or concentration
``x``:

================== =========================================== ====================== =========
model              formula                                     parameters             "ED50"
================== =========================================== ====================== =========
``"emax"``         ``E0 + Emax*x/(ED50 + x)``                  E0, Emax, ED50         ED50
``"sigmoid_emax"`` ``E0 + Emax*x^h/(ED50^h + x^h)`` (Hill)     E0, Emax, ED50, h      ED50
``"4pl"``          ``c + (d - c)/(1 + exp(b*(log x - log e)))`` b, c, d, e             e
``"mm"``           ``Vmax*x/(Km + x)`` (Michaelis-Menten)      Vmax, Km               Km
================== =========================================== ====================== =========

``"4pl"`` is the four-parameter log-logistic curve of R's drc (``LL.4``):
the response goes from ``d`` at ``x = 0`` to ``c`` as ``x -> inf``. The same
curve is also ``(-b, d, c, e)``; :func:`fit_curve` returns drc's choice,
``c`` the lower and ``d`` the upper limit, so ``b > 0`` means a decreasing
and ``b < 0`` an increasing curve. Aliases: ``"hill"`` = ``"sigmoid_emax"``,
``"loglogistic4"``/``"ll4"`` = ``"4pl"``, ``"michaelis_menten"`` = ``"mm"``.

Fitting
-------
:func:`fit_curve` minimises ``sum((w_i * (y_i - f(x_i)))**2)`` with lmfit's
``least_squares`` (scipy's trust-region reflective method, with bounds).
Starting values come from a grid over the nonlinear parameters (ED50 and h;
e and b; Km) with the conditionally linear ones (E0 and Emax; c and d; Vmax)
solved exactly by linear least squares at every grid point, so no starting
values are needed for well-posed data. Standard errors are
``sqrt(diag(s^2 (J^T J)^-1))`` with ``s^2 = RSS/(n - p)``, as in R's ``nls``
and drc. Confidence intervals are profile-likelihood intervals (lmfit's
``conf_interval``, an F-test with ``(1, n - p)`` degrees of freedom, i.e. the
profile-t interval of R's ``confint``); where the profile cannot be closed
(it reaches a bound or flattens out) the interval of that parameter is the
Wald interval ``estimate +/- t(n - p) * SE``, clipped to the parameter's
bounds, and :attr:`CurveFit.ci_method` says so. ``AIC`` and ``BIC`` are R's: ``-2 log L + k (p + 1)`` with the
Gaussian log-likelihood at the least-squares estimate (``k`` = 2 or
``log n``; the residual variance counts as a parameter).

lmfit is imported inside :func:`fit_curve` only, so ``import pkpd`` stays fast.

Examples
--------
>>> import numpy as np
>>> from pkpd.curves import fit_curve, emax
>>> dose = np.array([0.0, 5, 10, 20, 40, 80, 160])
>>> y = emax(dose, E0=10, Emax=50, ED50=20) + np.array([0.3, -0.2, 0.1, -0.4, 0.2, 0.1, -0.1])
>>> res = fit_curve(dose, y, "emax")
>>> round(res.ed50, 1)
20.5
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "emax",
    "sigmoid_emax",
    "loglogistic4",
    "michaelis_menten",
    "fit_curve",
    "CurveFit",
    "CURVE_MODELS",
]


# --------------------------------------------------------------------------- the curves
def _out(v: np.ndarray) -> float | np.ndarray:
    return float(v) if np.ndim(v) == 0 else v


def _log_ratio(x: np.ndarray, scale: float) -> np.ndarray:
    """``log(x) - log(scale)``; ``-inf`` at ``x = 0``, without a warning."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(x) - math.log(scale) if scale > 0 else np.full_like(x, np.nan)


def _expit(z: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(z)


def emax(x: Any, E0: float, Emax: float, ED50: float) -> float | np.ndarray:
    """Hyperbolic Emax curve ``E0 + Emax*x/(ED50 + x)``.

    Parameters
    ----------
    x : array_like
        Dose or concentration (any unit; ``ED50`` in the same unit).
    E0, Emax : float
        Response at ``x = 0`` and the maximal change from it (response unit).
    ED50 : float
        ``x`` giving half the maximal change.

    Returns
    -------
    float or ndarray
        The response, in the unit of ``E0``.

    Examples
    --------
    >>> emax(20.0, E0=10, Emax=50, ED50=20)
    35.0
    """
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _out(E0 + Emax * x / (ED50 + x))


def sigmoid_emax(x: Any, E0: float, Emax: float, ED50: float, h: float) -> float | np.ndarray:
    """Sigmoid Emax (Hill) curve ``E0 + Emax*x^h/(ED50^h + x^h)``.

    Evaluated as ``E0 + Emax*expit(h*(log x - log ED50))``, which does not
    overflow for steep curves; ``x`` must be >= 0 and ``ED50`` > 0.

    Parameters
    ----------
    x : array_like
        Dose or concentration, >= 0.
    E0, Emax : float
        Response at ``x = 0`` and the maximal change from it.
    ED50 : float
        ``x`` giving half the maximal change, > 0.
    h : float
        Hill coefficient (steepness), > 0.

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> sigmoid_emax([0.0, 2.0], E0=1, Emax=4, ED50=2, h=3)
    array([1., 3.])
    """
    x = np.asarray(x, dtype=float)
    with np.errstate(invalid="ignore"):
        return _out(E0 + Emax * _expit(h * _log_ratio(x, ED50)))


def loglogistic4(x: Any, b: float, c: float, d: float, e: float) -> float | np.ndarray:
    """Four-parameter log-logistic curve ``c + (d - c)/(1 + exp(b*(log x - log e)))``.

    R drc's ``LL.4``: ``d`` at ``x = 0``, ``c`` as ``x -> inf`` (for ``b > 0``),
    ``e`` the ``x`` halfway between them, ``b`` the slope on the log scale.

    Parameters
    ----------
    x : array_like
        Dose or concentration, >= 0.
    b, c, d, e : float
        Slope, lower and upper limits (response unit), and ED50 (``x``
        unit, > 0).

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> loglogistic4([0.0, 3.0], b=2, c=0.5, d=8, e=3)
    array([8.  , 4.25])
    """
    x = np.asarray(x, dtype=float)
    with np.errstate(invalid="ignore"):
        return _out(c + (d - c) * _expit(-b * _log_ratio(x, e)))


def michaelis_menten(x: Any, Vmax: float, Km: float) -> float | np.ndarray:
    """Michaelis-Menten curve ``Vmax*x/(Km + x)``.

    Parameters
    ----------
    x : array_like
        Substrate concentration.
    Vmax : float
        Maximal rate (response unit).
    Km : float
        Concentration at half the maximal rate (``x`` unit).

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> michaelis_menten(0.5, Vmax=200, Km=0.5)
    100.0
    """
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _out(Vmax * x / (Km + x))


# --------------------------------------------------------------------------- model table
def bounds_hit(params: Mapping[str, float],
               bounds: Mapping[str, tuple[float, float]]) -> dict[str, str]:
    """Parameters within 1e-6 (relative) of a finite bound: name -> "lower" or "upper".

    Shared by :class:`CurveFit` and :class:`pkpd.fit.FitResult`.
    """
    out = {}
    for k, v in params.items():
        lo, hi = bounds[k]
        tol = 1e-6 * max(abs(v), 1e-12)
        if math.isfinite(lo) and v - lo <= tol:
            out[k] = "lower"
        elif math.isfinite(hi) and hi - v <= tol:
            out[k] = "upper"
    return out


@dataclass(frozen=True, slots=True)
class _Curve:
    name: str
    params: tuple[str, ...]
    function: Callable[..., Any]
    formula: str
    ed50: str
    bounds: Mapping[str, tuple[float, float]]
    log_x: bool  # needs x >= 0 (evaluated on log x)


_INF = math.inf
CURVE_MODELS: dict[str, _Curve] = {
    "emax": _Curve("emax", ("E0", "Emax", "ED50"), emax, "E0 + Emax*x/(ED50 + x)", "ED50",
                   {"ED50": (0.0, _INF)}, False),
    "sigmoid_emax": _Curve("sigmoid_emax", ("E0", "Emax", "ED50", "h"), sigmoid_emax,
                           "E0 + Emax*x^h/(ED50^h + x^h)", "ED50",
                           {"ED50": (0.0, _INF), "h": (0.0, _INF)}, True),
    "4pl": _Curve("4pl", ("b", "c", "d", "e"), loglogistic4,
                  "c + (d - c)/(1 + exp(b*(log(x) - log(e))))", "e", {"e": (0.0, _INF)}, True),
    "mm": _Curve("mm", ("Vmax", "Km"), michaelis_menten, "Vmax*x/(Km + x)", "Km",
                 {"Km": (0.0, _INF)}, False),
}
"""The curve models :func:`fit_curve` knows, by name."""

_ALIASES = {"hill": "sigmoid_emax", "loglogistic4": "4pl", "ll4": "4pl", "ll.4": "4pl",
            "michaelis_menten": "mm", "michaelis-menten": "mm"}


def _curve(model: str) -> _Curve:
    if not isinstance(model, str):
        raise TypeError(f"model must be a str, got {type(model).__name__}")
    key = _ALIASES.get(model.lower(), model.lower())
    if key not in CURVE_MODELS:
        from .errors import closest

        names = list(CURVE_MODELS) + list(_ALIASES)
        raise ValueError(f"unknown curve model {model!r}{closest(model, names)}; models are: "
                         + ", ".join(CURVE_MODELS))
    return CURVE_MODELS[key]


# --------------------------------------------------------------------------- starting values
def _linear(g: np.ndarray, y: np.ndarray, w: np.ndarray, intercept: bool) -> tuple:
    """Weighted least squares of ``y`` on ``[1, g]`` (or ``g``): coefficients and RSS."""
    A = np.column_stack([np.ones_like(g), g]) if intercept else g[:, None]
    if not np.all(np.isfinite(A)):
        return None, math.inf
    coef, *_ = np.linalg.lstsq(A * w[:, None], y * w, rcond=None)
    r = w * (y - A @ coef)
    return coef, float(r @ r)


def _start(curve: _Curve, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict[str, float]:
    """Grid over the nonlinear parameters, linear ones solved exactly; the best point."""
    pos = x[x > 0]
    lo, hi = (pos.min(), pos.max()) if pos.size else (1.0, 1.0)
    scales = np.geomspace(lo / 10, hi * 10, 61)
    best: tuple[float, dict[str, float]] = (math.inf, {})
    if curve.name in ("emax", "sigmoid_emax"):
        slopes = (1.0,) if curve.name == "emax" else (0.5, 1.0, 1.5, 2.0, 3.0, 5.0)
        for s in scales:
            for h in slopes:
                g = np.asarray(sigmoid_emax(x, 0.0, 1.0, s, h))
                coef, rss = _linear(g, y, w, True)
                if rss < best[0]:
                    best = (rss, {"E0": coef[0], "Emax": coef[1], "ED50": s, "h": h})
    elif curve.name == "4pl":
        for s in scales:
            for b in (-5.0, -3.0, -2.0, -1.0, -0.5, 0.5, 1.0, 2.0, 3.0, 5.0):
                g = np.asarray(loglogistic4(x, b, 0.0, 1.0, s))
                coef, rss = _linear(g, y, w, True)
                if rss < best[0]:
                    # y = c + (d - c)*g; the same curve is (-b, d, c, e): keep c <= d as drc
                    c, d = coef[0], coef[0] + coef[1]
                    best = (rss, {"b": b, "c": c, "d": d, "e": s} if c <= d else
                            {"b": -b, "c": d, "d": c, "e": s})
    else:
        for s in scales:
            g = np.asarray(michaelis_menten(x, 1.0, s))
            coef, rss = _linear(g, y, w, False)
            if rss < best[0]:
                best = (rss, {"Vmax": coef[0], "Km": s})
    start = {k: float(v) for k, v in best[1].items() if k in curve.params}
    if len(start) != len(curve.params):  # every grid point failed: neutral values
        start = {p: 1.0 for p in curve.params}
    return start


# --------------------------------------------------------------------------- input checks
def _vector(v: Any, what: str) -> np.ndarray:
    try:
        a = np.asarray(v, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be numbers, got {type(v).__name__}") from None
    if a.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {a.shape}")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise ValueError(f"{what} must be finite; position {int(bad[0])} is {a[bad[0]]} "
                         f"({bad.size} non-finite value{'s' if bad.size > 1 else ''}); "
                         "drop or impute them first")
    return a


def _check_data(curve: _Curve, x: Any, y: Any, weights: Any) -> tuple:
    x = _vector(x, "x")
    y = _vector(y, "y")
    if x.size != y.size:
        raise ValueError(f"x and y must have the same length, got {x.size} and {y.size}")
    p = len(curve.params)
    if x.size < p:
        raise ValueError(f"model {curve.name!r} has {p} parameters ({', '.join(curve.params)}) "
                         f"but only {x.size} points were given; it needs at least {p}")
    if curve.log_x and (x < 0).any():
        i = int(np.argmax(x < 0))
        raise ValueError(f"model {curve.name!r} works on log(x): x must be >= 0, but position "
                         f"{i} is {x[i]:g}")
    nx = np.unique(x).size
    if nx < p:
        raise ValueError(f"model {curve.name!r} has {p} parameters but x has only {nx} distinct "
                         f"value{'s' if nx > 1 else ''}; it needs at least {p} (or use a model "
                         "with fewer parameters)")
    if weights is None:
        w = np.ones_like(x)
    else:
        w = _vector(weights, "weights")
        if w.size != x.size:
            raise ValueError(f"weights must have the length of x ({x.size}), got {w.size}")
        if (w <= 0).any():
            i = int(np.argmax(w <= 0))
            raise ValueError(f"weights must be > 0; position {i} is {w[i]:g}")
    return x, y, w


def _check_names(curve: _Curve, given: Mapping | None, what: str) -> dict:
    out = dict(given or {})
    for k in out:
        if k not in curve.params:
            from .errors import closest

            raise ValueError(f"{what}: model {curve.name!r} has no parameter {k!r}"
                             f"{closest(k, curve.params)}; parameters are: "
                             + ", ".join(curve.params))
    return out


# --------------------------------------------------------------------------- the result
@dataclass(frozen=True, eq=False)
class CurveFit:
    """The result of :func:`fit_curve`.

    Attributes
    ----------
    model : str
        ``"emax"``, ``"sigmoid_emax"``, ``"4pl"`` or ``"mm"``.
    params : dict[str, float]
        Estimates.
    stderr : dict[str, float]
        Standard errors (``nan`` when they cannot be computed, e.g. with as
        many points as parameters).
    ci : dict[str, tuple[float, float]]
        Confidence intervals at level :attr:`confidence`.
    ci_method : dict[str, str]
        ``"profile"`` or ``"wald"`` per parameter (Wald where the profile
        could not be closed); ``"none"`` (intervals NaN) for an exact fit
        with as many points as parameters.
    confidence : float
    init : dict[str, float]
        Starting values.
    bounds : dict[str, tuple[float, float]]
    covariance : ndarray
        ``s^2 (J^T J)^-1`` in the order of :attr:`params`.
    rss : float
        Weighted residual sum of squares.
    residual_sd : float
        ``sqrt(rss / (n - p))``, the residual standard error of R's ``nls``.
    aic, bic : float
        As R's ``AIC``/``BIC`` of an ``nls`` fit.
    success : bool
    message : str
    nfev : int
    x, y, weights : ndarray
        The data.
    """

    model: str
    params: dict[str, float]
    stderr: dict[str, float]
    ci: dict[str, tuple[float, float]]
    ci_method: dict[str, str]
    confidence: float
    init: dict[str, float]
    bounds: dict[str, tuple[float, float]]
    covariance: np.ndarray = field(repr=False)
    rss: float
    residual_sd: float
    aic: float
    bic: float
    success: bool
    message: str
    nfev: int
    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)

    # ------------------------------------------------------------------ derived values
    @property
    def n(self) -> int:
        """Number of data points."""
        return int(self.x.size)

    @property
    def n_params(self) -> int:
        return len(self.params)

    @property
    def dof(self) -> int:
        """Residual degrees of freedom ``n - p``."""
        return self.n - self.n_params

    @property
    def formula(self) -> str:
        return _curve(self.model).formula

    @property
    def ed50(self) -> float:
        """The dose (or concentration) giving half the maximal effect: ED50, e or Km."""
        return self.params[_curve(self.model).ed50]

    ec50 = ed50

    @property
    def ed50_ci(self) -> tuple[float, float]:
        """Confidence interval of :attr:`ed50` at level :attr:`confidence`."""
        return self.ci[_curve(self.model).ed50]

    @property
    def wald(self) -> bool:
        """True if any interval fell back to Wald."""
        return any(m == "wald" for m in self.ci_method.values())

    @property
    def correlation(self) -> np.ndarray:
        sd = np.sqrt(np.diag(self.covariance))
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.covariance / np.outer(sd, sd)

    @property
    def at_bound(self) -> dict[str, str]:
        """Parameters within 1e-6 (relative) of a bound: name -> "lower" or "upper"."""
        return bounds_hit(self.params, self.bounds)

    @property
    def residuals(self) -> np.ndarray:
        """``y - f(x)`` (unweighted)."""
        return self.y - np.asarray(self.predict(self.x))

    def predict(self, x: Any) -> float | np.ndarray:
        """The fitted curve at ``x``."""
        return _curve(self.model).function(np.asarray(x, dtype=float), **self.params)

    # ------------------------------------------------------------------ presentation
    def __repr__(self) -> str:
        est = ", ".join(f"{k}={v:.4g}" for k, v in self.params.items())
        state = "converged" if self.success else "FAILED"
        return (f"<CurveFit {self.model!r} {state}: {est}; n={self.n}, "
                f"residual SD={self.residual_sd:.4g}>")

    def to_frame(self) -> pd.DataFrame:
        """One row per parameter: estimate, standard error, RSE %, interval and flags."""
        ab = self.at_bound
        rows = []
        for k, v in self.params.items():
            se = self.stderr[k]
            lo, hi = self.ci[k]
            blo, bhi = self.bounds[k]
            rows.append({"name": k, "value": v, "stderr": se,
                         "rse_percent": 100 * se / abs(v) if v != 0 else math.nan,
                         "lower": lo, "upper": hi, "ci_method": self.ci_method[k],
                         "init": self.init[k], "bound_lower": blo, "bound_upper": bhi,
                         "at_bound": ab.get(k, "")})
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """A report laid out like lmfit's ``fit_report``, with the intervals."""
        level = f"{100 * self.confidence:g}%"
        lines = ["[[Fit Statistics]]",
                 f"    model              = {self.model}: y = {self.formula}",
                 f"    # data points      = {self.n}",
                 f"    # variables        = {self.n_params}",
                 f"    # function evals   = {self.nfev}",
                 f"    RSS                = {self.rss:.6g}",
                 f"    residual SD        = {self.residual_sd:.6g} on {self.dof} degrees of freedom",
                 f"    AIC                = {self.aic:.6g}",
                 f"    BIC                = {self.bic:.6g}",
                 f"    success            = {self.success}",
                 f"    message            = {self.message}",
                 "[[Variables]]"]
        width = max(len(k) for k in self.params) + 1
        ab = self.at_bound
        for k, v in self.params.items():
            se = self.stderr[k]
            text = f"    {k + ':':<{width}} {v:.6g}"
            if math.isfinite(se):
                text += f" +/- {se:.6g}" + (f" ({100 * se / abs(v):.2f}%)" if v else "")
            else:
                text += " +/- nan"
            text += f" (init = {self.init[k]:.6g})"
            if k in ab:
                text += f" at {ab[k]} boundary"
            lines.append(text)
        lines.append(f"[[Confidence intervals]] ({level})")
        for k in self.params:
            lo, hi = self.ci[k]
            lines.append(f"    {k + ':':<{width}} [{lo:.6g}, {hi:.6g}] ({self.ci_method[k]})")
        if self.wald:
            lines.append("    (wald: the profile likelihood could not be closed; the interval "
                         "is estimate +/- t * SE, clipped to the parameter's bounds)")
        names = list(self.params)
        corr = self.correlation
        pairs = sorted(((abs(corr[i, j]), names[i], names[j], corr[i, j])
                        for i in range(len(names)) for j in range(i + 1, len(names))
                        if math.isfinite(corr[i, j]) and abs(corr[i, j]) > 0.1), reverse=True)
        if pairs:
            lines.append("[[Correlations]] (unreported correlations are < 0.100)")
            w = max(len(f"C({a}, {b})") for _, a, b, _ in pairs)
            lines += [f"    {f'C({a}, {b})':<{w}} = {c:+.4f}" for _, a, b, c in pairs]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Plain-data form (schema version 1)."""
        return {"schema": 1, "model": self.model, "formula": self.formula,
                "params": dict(self.params), "stderr": dict(self.stderr),
                "ci": {k: list(v) for k, v in self.ci.items()}, "ci_method": dict(self.ci_method),
                "confidence": self.confidence, "init": dict(self.init),
                "bounds": {k: list(v) for k, v in self.bounds.items()},
                "covariance": self.covariance.tolist(), "n": self.n, "rss": self.rss,
                "residual_sd": self.residual_sd, "aic": self.aic, "bic": self.bic,
                "success": self.success, "message": self.message,
                "x": self.x.tolist(), "y": self.y.tolist(), "weights": self.weights.tolist()}

    def plot(self, *, logx: bool | None = None, ax: Any = None, xlabel: str = "x",
             ylabel: str = "response") -> Any:
        """Data and fitted curve; returns the matplotlib ``Figure``.

        Parameters
        ----------
        logx : bool, optional
            Logarithmic x axis (default: for ``"4pl"``). Points at ``x = 0``
            are then drawn one decade below the smallest positive ``x``.
        ax : matplotlib Axes, optional
        xlabel, ylabel : str

        See Also
        --------
        pkpd.plot.plot_curve_fit
        """
        from .plot import plot_curve_fit

        return plot_curve_fit(self, logx=logx, ax=ax, xlabel=xlabel, ylabel=ylabel)


# --------------------------------------------------------------------------- the verb
def fit_curve(x: Any, y: Any, model: str = "sigmoid_emax", *,
              init: Mapping[str, float] | None = None,
              bounds: Mapping[str, tuple[float, float]] | None = None,
              weights: Any = None, confidence: float = 0.95) -> CurveFit:
    """Fit a dose- or exposure-response curve by (weighted) least squares.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Dose (or concentration) and response; finite. ``"sigmoid_emax"``
        and ``"4pl"`` need ``x >= 0``.
    model : {"sigmoid_emax", "emax", "4pl", "mm"}
        See the module docstring (aliases accepted).
    init : mapping, optional
        Starting values of some or all parameters; the others come from the
        automatic grid start.
    bounds : mapping name -> (lower, upper), optional
        Default: ED50, h, e and Km in ``(0, inf)``, the others free.
    weights : array_like, optional
        Residual weights ``w_i > 0``: the fit minimises
        ``sum((w_i*(y_i - f(x_i)))**2)``, so ``w_i = 1/sigma_i`` (R's ``nls``
        weights are ``w_i**2``).
    confidence : float
        Level of the confidence intervals, in (0, 1).

    Returns
    -------
    CurveFit
        Check :attr:`CurveFit.success`; a fit that did not converge is
        returned, not raised.

    Raises
    ------
    ValueError
        NaN or infinite data, ``x < 0`` for a log model, mismatched lengths,
        fewer points (or distinct ``x``) than parameters, unknown model or
        parameter names, or bad bounds.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([0.02, 0.06, 0.11, 0.22, 0.56, 1.1])
    >>> res = fit_curve(x, michaelis_menten(x, 200, 0.06), "mm")
    >>> round(res.params["Vmax"], 3), round(res.params["Km"], 5)
    (200.0, 0.06)
    """
    import lmfit
    from scipy import stats

    curve = _curve(model)
    if not (isinstance(confidence, int | float) and 0 < confidence < 1):
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    x, y, w = _check_data(curve, x, y, weights)
    init = _check_names(curve, init, "init")
    bnds = {p: tuple(curve.bounds.get(p, (-_INF, _INF))) for p in curve.params}
    for k, b in _check_names(curve, bounds, "bounds").items():
        if not (isinstance(b, tuple | list) and len(b) == 2):
            raise ValueError(f"bounds of {k!r} must be a pair (lower, upper), got {b!r}")
        lo, hi = (float(v) for v in b)
        if not lo < hi:
            raise ValueError(f"bounds of {k!r}: lower {lo:g} must be below upper {hi:g}")
        bnds[k] = (lo, hi)
    start = _start(curve, x, y, w) | {k: float(v) for k, v in init.items()}
    for k, v in start.items():
        lo, hi = bnds[k]
        if k in init and not lo <= v <= hi:
            raise ValueError(f"init of {k!r} = {v:g} is outside its bounds [{lo:g}, {hi:g}]")
        start[k] = min(max(v, lo), hi)
        if math.isfinite(lo) and start[k] == lo:  # start strictly inside for trf
            start[k] = lo + (1e-3 * (hi - lo) if math.isfinite(hi) else max(abs(lo) * 1e-3, 1e-6))

    def residual(p: Any) -> np.ndarray:
        return w * (y - curve.function(x, **p.valuesdict()))

    params = lmfit.Parameters()
    for k in curve.params:
        params.add(k, value=start[k], min=bnds[k][0], max=bnds[k][1])
    mini = lmfit.Minimizer(residual, params, nan_policy="propagate")
    # lmfit divides by n - p (0 for an exact fit) and by zero variances; our own
    # diagnostics below handle those cases, so its numpy warnings carry nothing.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = mini.minimize(method="least_squares", ftol=1e-12, xtol=1e-12, gtol=1e-12)
    est = {k: float(res.params[k].value) for k in curve.params}
    r = residual(res.params)
    n, p = x.size, len(curve.params)
    rss = float(r @ r)
    ok = bool(res.success) and math.isfinite(rss)
    message = str(res.message)
    dof = n - p
    cov = np.full((p, p), np.nan)
    if dof > 0 and res.covar is not None and np.all(np.isfinite(res.covar)):
        cov = np.asarray(res.covar, dtype=float)
    se = {k: float(math.sqrt(cov[i, i])) if cov[i, i] >= 0 else math.nan
          for i, k in enumerate(curve.params)}
    ci, how = _intervals(lmfit, mini, res, curve, est, se, confidence, dof, stats)
    sd = math.sqrt(rss / dof) if dof > 0 else math.nan
    # R's logLik.nls: the weights there are w**2
    loglik = (-n / 2 * (math.log(2 * math.pi) + 1 - math.log(n) + math.log(max(rss, 1e-300)))
              + float(np.sum(np.log(w))))
    return CurveFit(curve.name, est, se, ci, how, float(confidence), start,
                    {k: bnds[k] for k in curve.params}, cov, rss, sd,
                    -2 * loglik + 2 * (p + 1), -2 * loglik + math.log(n) * (p + 1),
                    ok, message, int(res.nfev), x, y, w)


def _intervals(lmfit: Any, mini: Any, res: Any, curve: _Curve, est: dict, se: dict,
               confidence: float, dof: int, stats: Any) -> tuple[dict, dict]:
    """Profile intervals where they close, Wald intervals elsewhere."""
    ci: dict[str, tuple[float, float]] = {}
    how: dict[str, str] = {}
    if dof > 0:
        tq = float(stats.t.ppf(0.5 + confidence / 2, dof))
        for k in curve.params:
            # clipped to the parameter's bounds: a Wald interval does not know them
            lo_b, hi_b = float(res.params[k].min), float(res.params[k].max)
            ci[k] = (max(est[k] - tq * se[k], lo_b), min(est[k] + tq * se[k], hi_b))
            how[k] = "wald"
    else:
        ci = {k: (math.nan, math.nan) for k in curve.params}
        how = dict.fromkeys(curve.params, "none")
        return ci, how
    if not all(math.isfinite(v) and v > 0 for v in se.values()) or not res.success:
        return ci, how
    failed: set[str] = set()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            prof = lmfit.conf_interval(mini, res, sigmas=[confidence], maxiter=200)
        except (lmfit.minimizer.MinimizerException, ValueError, RuntimeError,
                ArithmeticError, np.linalg.LinAlgError):
            return ci, how
    for wmsg in caught:
        m = re.search(r"prob\((\w+)=", str(wmsg.message))
        if m:
            failed.add(m.group(1))
        else:  # a warning we cannot attribute: trust no profile
            failed.update(curve.params)
    for k in curve.params:
        rows = prof.get(k)
        if k in failed or rows is None or len(rows) != 3:
            continue
        lo, hi = float(rows[0][1]), float(rows[2][1])
        if math.isfinite(lo) and math.isfinite(hi) and lo < est[k] < hi:
            ci[k] = (lo, hi)
            how[k] = "profile"
    return ci, how
