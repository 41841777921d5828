"""Dose-response: many regimens over one virtual population, summarised by endpoints.

:func:`dose_response` simulates each regimen (a grid of doses and intervals
from :func:`dose_grid`, or named regimens such as "600 mg every 24 weeks" vs
"every 36 weeks") on the **same** sampled subjects (common random numbers:
differences between regimens are not blurred by different subjects), and
evaluates endpoints (:mod:`pkpd.metrics`) for every subject. The
:class:`DoseResponse` result summarises each endpoint per regimen (median,
percentiles, mean, probability of target attainment with a Wilson interval),
fits an Emax, sigmoid Emax or log-logistic curve to endpoint vs dose
(:mod:`pkpd.curves`), plots, and records its provenance.

Dose and interval of a regimen
------------------------------
Each regimen gets a numeric ``dose`` and ``interval`` (columns of
:attr:`DoseResponse.design` and :attr:`DoseResponse.endpoint_values`), so that
endpoints can be plotted and fitted against them:

- ``dose``: the value of the ``dose`` placeholder when the regimen's name
  comes from :func:`dose_grid` (any name of the form ``"dose=300,
  interval=24"``), else the largest dose amount of the regimen, in the
  dose's unit (``dose_unit``);
- ``interval``: the interval of the repeated dose entry (``every ...``; the
  one with the largest amount if several), **in the model's time unit**
  (``every 24 w`` is 168 for a model in days, whatever a placeholder named
  ``interval`` said); ``nan`` without repeated dosing.

Other :func:`dose_grid` placeholders become further columns of ``design``,
with the numbers as written in the template.

Endpoints that depend on the regimen
------------------------------------
An endpoint may be an :class:`~pkpd.metrics.Endpoint` (the same for every
regimen) or a function ``regimen -> Endpoint``, e.g. :func:`trough`, the
value just before a given dose, whose time differs between intervals.

Examples
--------
>>> import numpy as np
>>> from pkpd import load_model, metrics
>>> from pkpd.dose_response import dose_grid, dose_response
>>> regs = dose_grid("{dose} mg iv at 0 h", dose=[100, 200, 400])
>>> list(regs)
['dose=100', 'dose=200', 'dose=400']
>>> dr = dose_response(load_model("pk_1cmt_iv"), regs, np.linspace(0, 24, 49),
...                    endpoints={"Cmax": metrics.cmax("conc")})
>>> dr.to_frame()["median"].round(3).tolist()  # dose / V, V = 32 L
[3.125, 6.25, 12.5]
"""

from __future__ import annotations

import itertools
import math
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from .dosing import Bolus, Infusion, Regimen, Reset, as_regimen
from .errors import ModelError, RegimenError, closest
from .metrics import Endpoint, percentile_summary
from .model import Model
from .notation import regimen_for_model

__all__ = ["dose_grid", "dose_response", "DoseResponse", "RegimenEndpoint", "trough"]

_OPS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
}


# --------------------------------------------------------------------------- dose grids
def _grid_number(value: Any, name: str) -> int | float:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"dose_grid: values of '{name}' must be numbers, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"dose_grid: values of '{name}' must be finite, got {value!r}")
    return value if isinstance(value, int) else float(value)


def dose_grid(template: str, **grid: Any) -> dict[str, str]:
    """Regimens in the notation for every combination of the grid values.

    Parameters
    ----------
    template : str
        Regimen notation (see :mod:`pkpd.notation`) with ``{name}``
        placeholders, e.g. ``"{dose} mg iv over 3.5 h every {interval} w x 4"``.
        Only numbers are substituted (``str.format``; a format spec such as
        ``{dose:g}`` is allowed).
    **grid : number or sequence of numbers
        Values of every placeholder; each must be finite.

    Returns
    -------
    dict[str, str]
        Name -> regimen text, in the order of the grid (the first
        placeholder varies slowest). Names list the values, e.g.
        ``"dose=300, interval=24"``; :func:`dose_response` reads them back.

    Raises
    ------
    ValueError
        A placeholder without values, values without a placeholder, a
        positional or indexed placeholder, an empty value list, or a value
        that is not a finite number.

    Examples
    --------
    >>> dose_grid("{dose} mg iv over 3.5 h every {interval} w x 4",
    ...           dose=[300, 600], interval=[24, 36])  # doctest: +NORMALIZE_WHITESPACE
    {'dose=300, interval=24': '300 mg iv over 3.5 h every 24 w x 4',
     'dose=300, interval=36': '300 mg iv over 3.5 h every 36 w x 4',
     'dose=600, interval=24': '600 mg iv over 3.5 h every 24 w x 4',
     'dose=600, interval=36': '600 mg iv over 3.5 h every 36 w x 4'}
    """
    if not isinstance(template, str):
        raise TypeError(f"dose_grid: template must be a str, got {type(template).__name__}")
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ValueError(f"dose_grid: template {template!r} is not a valid format string: "
                         f"{exc}") from None
    names = []
    for f in fields:
        if not f.isidentifier():
            raise ValueError(f"dose_grid: placeholder {{{f}}} in {template!r} must be a plain "
                             "name such as {dose}")
        if f not in names:
            names.append(f)
    if not names:
        raise ValueError(f"dose_grid: template {template!r} has no {{placeholder}}")
    for f in names:
        if f not in grid:
            raise ValueError(f"dose_grid: no values for placeholder {{{f}}}"
                             f"{closest(f, list(grid))}; give {f}=[...]")
    for k in grid:
        if k not in names:
            raise ValueError(f"dose_grid: '{k}' is not a placeholder of {template!r}"
                             f"{closest(k, names)}; placeholders are: "
                             + ", ".join("{" + n + "}" for n in names))
    values: dict[str, list] = {}
    for k, v in grid.items():
        seq = list(v) if isinstance(v, Sequence | np.ndarray) and not isinstance(v, str) else [v]
        if not seq:
            raise ValueError(f"dose_grid: '{k}' has no values")
        values[k] = [_grid_number(x, k) for x in seq]
    out: dict[str, str] = {}
    for combo in itertools.product(*values.values()):
        subs = dict(zip(values, combo, strict=True))
        name = ", ".join(f"{k}={v}" for k, v in subs.items())
        if name in out:
            raise ValueError(f"dose_grid: the combination {name} occurs twice")
        out[name] = template.format(**subs)
    return out


_GRID_NAME = re.compile(r"\s*([A-Za-z_]\w*)\s*=\s*([^,=]+?)\s*(?:,|$)")


def _grid_values(name: str) -> dict[str, float]:
    """``{"dose": 300.0, ...}`` from a :func:`dose_grid` name, or ``{}``."""
    out: dict[str, float] = {}
    pos = 0
    while pos < len(name):
        m = _GRID_NAME.match(name, pos)
        if m is None:
            return {}
        try:
            out[m.group(1)] = float(m.group(2))
        except ValueError:
            return {}
        pos = m.end()
    return out


# --------------------------------------------------------------------------- endpoints
@dataclass(frozen=True, slots=True)
class RegimenEndpoint:
    """An endpoint whose definition depends on the regimen (e.g. a trough).

    Parameters
    ----------
    name : str
        Label, e.g. ``"trough(bcells, dose 2)"``.
    output : str
        The output or state read.
    build : callable
        ``build(regimen) -> Endpoint``.
    """

    name: str
    output: str
    build: Callable[[Regimen], Endpoint]

    def __call__(self, regimen: Regimen) -> Endpoint:
        return self.build(regimen)

    def __repr__(self) -> str:
        return f"<RegimenEndpoint {self.name!r} of {self.output!r}>"


def _administration_times(regimen: Regimen) -> list[float]:
    return sorted({float(t) for d in regimen if not isinstance(d, Reset) for t in d.times()})


def trough(output: str, dose: int = -1, *, unit: str = "") -> RegimenEndpoint:
    """Trough of ``output`` just before a given dose of each regimen.

    Parameters
    ----------
    output : str
        Output (or state) to read.
    dose : int
        Which administration: 1 = the first, 2 = the second, ...; -1 = the
        last, -2 = the one before. Simultaneous doses count once.
    unit : str
        Unit of the output.

    Returns
    -------
    RegimenEndpoint
        Per regimen a :func:`pkpd.metrics.ctrough` at that dose's time: the
        value at the last grid time strictly before it, so put a grid point
        just before the doses (e.g. ``t_dose - 1e-6``) for the exact trough.

    Examples
    --------
    >>> from pkpd import Bolus
    >>> trough("conc", 2)(Bolus(0, 100, "central", interval=24, count=3) + Bolus(0, 5, "central"))
    <Endpoint 'Ctrough(conc, 24)' of 'conc'>
    """
    from .metrics import ctrough

    if not isinstance(output, str) or not output:
        raise ValueError(f"trough: output must be a non-empty str, got {output!r}")
    if isinstance(dose, bool) or not isinstance(dose, int | np.integer) or dose == 0:
        raise ValueError(f"trough: dose must be a non-zero whole number (1 = first, -1 = last), "
                         f"got {dose!r}")
    k = int(dose)

    def build(regimen: Regimen) -> Endpoint:
        times = _administration_times(regimen)
        if not -len(times) <= (k - 1 if k > 0 else k) < len(times):
            raise RegimenError(f"trough before dose {k}: the regimen has {len(times)} "
                               f"administration{'s' if len(times) != 1 else ''} "
                               f"({regimen.in_words()})")
        return ctrough(output, times[k - 1 if k > 0 else k], unit=unit)

    label = f"trough({output}, {'last dose' if k == -1 else f'dose {k}'})"
    return RegimenEndpoint(label, output, build)


# --------------------------------------------------------------------------- inputs
def _regimens(regimens: Any, model: Model, default_target: str | None) -> dict[str, Regimen]:
    if isinstance(regimens, str | Regimen | Bolus | Infusion):
        regimens = [regimens]
    if isinstance(regimens, Mapping):
        items = list(regimens.items())
    elif isinstance(regimens, Sequence):
        items = []
        for r in regimens:
            if isinstance(r, str):
                items.append((r, r))
            elif isinstance(r, Regimen | Bolus | Infusion):
                items.append((as_regimen(r).in_words(model.time_unit).replace("\n", " "), r))
            else:
                raise TypeError(f"regimens: a list holds notation strings or Regimen values, "
                                f"got {type(r).__name__}")
    else:
        raise TypeError("regimens must be a mapping name -> Regimen or notation string, or a "
                        f"list of notation strings, got {type(regimens).__name__}")
    if not items:
        raise ValueError("regimens is empty; give at least one regimen")
    out: dict[str, Regimen] = {}
    for name, r in items:
        name = str(name)
        if name in out:
            raise ValueError(f"regimens: the name {name!r} occurs twice")
        if isinstance(r, str):
            out[name] = regimen_for_model(model, r, default_target=default_target,
                                          label=f"regimen '{name}' ({r!r})")
        else:
            try:
                reg = as_regimen(r)
                if default_target is not None:
                    reg = reg.with_target(default_target)
                out[name] = reg.check(model)
            except RegimenError as exc:
                raise RegimenError(f"regimen '{name}': {exc}") from None
        if not any(not isinstance(d, Reset) for d in out[name]):
            raise RegimenError(f"regimen '{name}' has no doses")
    return out


def _endpoints(endpoints: Any, model: Model) -> dict[str, Any]:
    if isinstance(endpoints, Endpoint | RegimenEndpoint):
        endpoints = [endpoints]
    if isinstance(endpoints, Mapping):
        items = [(str(k), v) for k, v in endpoints.items()]
    elif isinstance(endpoints, Sequence) and not isinstance(endpoints, str):
        items = []
        for e in endpoints:
            if not isinstance(e, Endpoint | RegimenEndpoint):
                raise TypeError(f"endpoints: a list holds Endpoint values, got {e!r}; use a "
                                "mapping name -> endpoint for other kinds")
            items.append((e.name, e))
    else:
        raise TypeError("endpoints must be a mapping name -> Endpoint (e.g. {'Cmax': "
                        f"pkpd.metrics.cmax('conc')}}), got {type(endpoints).__name__}")
    if not items:
        raise ValueError("endpoints is empty; give at least one, e.g. {'Cmax': "
                         "pkpd.metrics.cmax('conc')}")
    out: dict[str, Any] = {}
    for name, e in items:
        if name in out:
            raise ValueError(f"endpoints: the name {name!r} occurs twice")
        if not (isinstance(e, Endpoint | RegimenEndpoint) or callable(e)):
            raise TypeError(f"endpoint '{name}' must be an Endpoint or a function regimen -> "
                            f"Endpoint, got {type(e).__name__}")
        if isinstance(e, Endpoint | RegimenEndpoint):
            _check_output(e.output, name, model)
        out[name] = e
    return out


def _check_output(output: str, name: str, model: Model) -> None:
    known = list(model.output_names) + list(model.state_names)
    if output not in known:
        raise ModelError(f"endpoint '{name}' reads '{output}', which is not an output or state "
                         f"of model '{model.name}'{closest(output, known)}; outputs are: "
                         + ", ".join(model.output_names)
                         + "; states are: " + ", ".join(model.state_names))


def _targets(targets: Any, endpoints: Mapping[str, Any]) -> dict[str, tuple[str, float]]:
    out: dict[str, tuple[str, float]] = {}
    for name, spec in dict(targets or {}).items():
        if name not in endpoints:
            raise ValueError(f"target for '{name}', which is not an endpoint"
                             f"{closest(str(name), list(endpoints))}; endpoints are: "
                             + ", ".join(endpoints))
        if isinstance(spec, str):
            m = re.fullmatch(r"\s*(<=|>=|<|>)\s*(\S+)\s*", spec)
            if m is None:
                raise ValueError(f"target for '{name}': expected e.g. '< 10' or ('<', 10), "
                                 f"got {spec!r}")
            spec = (m.group(1), m.group(2))
        if not (isinstance(spec, tuple | list) and len(spec) == 2):
            raise ValueError(f"target for '{name}' must be a pair (op, threshold) such as "
                             f"('<', 10), got {spec!r}")
        op, thr = spec
        if op not in _OPS:
            raise ValueError(f"target for '{name}': the comparison must be one of "
                             f"{', '.join(_OPS)}, got {op!r}")
        try:
            thr = float(thr)
        except (TypeError, ValueError):
            raise ValueError(f"target for '{name}': the threshold must be a number, "
                             f"got {thr!r}") from None
        if not math.isfinite(thr):
            raise ValueError(f"target for '{name}': the threshold must be finite, got {thr!r}")
        out[str(name)] = (str(op), thr)
    return out


def _read_off(regimen: Regimen) -> tuple[float, str, float]:
    """Largest dose amount (and its unit) and the interval of the repeated entry."""
    doses = [d for d in regimen if not isinstance(d, Reset)]
    if not doses:
        return math.nan, "", math.nan
    big = max(doses, key=lambda d: d.amount)
    repeated = [d for d in doses if d.count > 1 or d.ss]
    interval = max(repeated, key=lambda d: d.amount).interval if repeated else math.nan
    return float(big.amount), big.unit, float(interval)


def _wilson(k: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``k/n``."""
    from scipy.stats import norm

    if n == 0:
        return math.nan, math.nan
    z = float(norm.ppf(0.5 + confidence / 2))
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z / den * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # exactly 0 at k = 0 and 1 at k = n (centre -+ half misses them by rounding)
    lower = 0.0 if k == 0 else max(0.0, centre - half)
    upper = 1.0 if k == n else min(1.0, centre + half)
    return lower, upper


# --------------------------------------------------------------------------- the result
@dataclass(frozen=True, eq=False)
class DoseResponse:
    """The result of :func:`dose_response`.

    Attributes
    ----------
    model : Model
    regimens : tuple of str
        Regimen names, in order.
    regimen_values : dict[str, Regimen]
    design : DataFrame
        One row per regimen: ``regimen``, ``dose``, ``dose_unit``, ``interval``
        (model time unit), then any further :func:`dose_grid` placeholders.
    endpoint_values : DataFrame
        Long format: ``regimen``, ``dose``, ``interval``, ``ID``, ``endpoint``,
        ``value`` (one row per regimen, subject and endpoint).
    endpoint_units : dict[str, str]
    targets : dict[str, tuple[str, float]]
        Endpoint -> (comparison, threshold).
    time_courses : dict[str, DataFrame]
        Per regimen the population bands (:meth:`PopulationSimulation.bands`:
        ``output``, ``time``, ``p<q>``).
    subjects : DataFrame
        The sampled subjects (``ID``, parameters, covariates), the same for
        every regimen.
    percentiles : tuple of float
    confidence : float
        Level of the probability-of-target intervals.
    nan_policy : str
    seed : int or None
    settings : dict
        Solver ``method``, ``rtol``, ``atol``.
    population : dict or None
        IIV sizes and distributions (None for a model without variability).
    """

    model: Model
    regimens: tuple[str, ...]
    regimen_values: dict[str, Regimen] = field(repr=False)
    design: pd.DataFrame = field(repr=False)
    endpoint_values: pd.DataFrame = field(repr=False)
    endpoint_units: dict[str, str] = field(repr=False)
    targets: dict[str, tuple[str, float]] = field(repr=False)
    time_courses: dict[str, pd.DataFrame] = field(repr=False)
    subjects: pd.DataFrame = field(repr=False)
    percentiles: tuple[float, ...] = (5.0, 50.0, 95.0)
    confidence: float = 0.95
    nan_policy: str = "propagate"
    seed: int | None = None
    settings: dict = field(default_factory=dict, repr=False)
    population: dict | None = field(default=None, repr=False)

    @property
    def endpoints(self) -> tuple[str, ...]:
        """Endpoint names, in order."""
        return tuple(self.endpoint_units)

    @property
    def n_subjects(self) -> int:
        return len(self.subjects)

    def __repr__(self) -> str:
        return (f"<DoseResponse {self.model.name!r}: {len(self.regimens)} regimens x "
                f"{len(self.endpoints)} endpoints ({', '.join(self.endpoints)}), "
                f"{self.n_subjects} subjects>")

    # ------------------------------------------------------------------ tables
    def values(self, endpoint: str) -> pd.DataFrame:
        """Per-subject values of one endpoint: one row per ID, one column per regimen."""
        self._check_endpoint(endpoint)
        v = self.endpoint_values
        wide = v[v["endpoint"] == endpoint].pivot(index="ID", columns="regimen", values="value")
        return wide[list(self.regimens)]

    def _check_endpoint(self, endpoint: str) -> None:
        if endpoint not in self.endpoint_units:
            raise ValueError(f"no endpoint {endpoint!r}{closest(str(endpoint), self.endpoints)}; "
                             "endpoints are: " + ", ".join(self.endpoints))

    def to_frame(self) -> pd.DataFrame:
        """Summary per regimen and endpoint.

        Columns: ``regimen``, ``dose``, ``interval``, ``endpoint``, ``unit``,
        ``n`` (subjects), ``n_missing`` (NaN values), ``mean``, ``median``,
        one ``p<q>`` per percentile, and where the endpoint has a target:
        ``target`` (e.g. ``"< 10"``), ``pta`` (probability of target
        attainment) and its Wilson interval ``pta_lower``, ``pta_upper``.
        With ``nan_policy="propagate"`` a NaN among the subjects makes the
        statistics NaN; with ``"omit"`` they use the subjects with a value.
        """
        qs = list(self.percentiles)
        omit = self.nan_policy == "omit"
        rows = []
        v = self.endpoint_values
        for reg in self.regimens:
            d = self.design.loc[self.design["regimen"] == reg].iloc[0]
            for ep in self.endpoints:
                vals = v.loc[(v["regimen"] == reg) & (v["endpoint"] == ep), "value"].to_numpy()
                valid = ~np.isnan(vals)
                nmiss = int((~valid).sum())
                use = vals[valid] if omit else vals
                if use.size:
                    pct = percentile_summary(use, qs)
                    mean, median = float(np.mean(use)), float(np.median(use))
                else:
                    pct, mean, median = np.full(len(qs), np.nan), math.nan, math.nan
                row = {"regimen": reg, "dose": d["dose"], "interval": d["interval"],
                       "endpoint": ep, "unit": self.endpoint_units[ep], "n": int(vals.size),
                       "n_missing": nmiss, "mean": mean, "median": median}
                row |= {f"p{q:g}": float(x) for q, x in zip(qs, pct, strict=True)}
                if ep in self.targets:
                    op, thr = self.targets[ep]
                    row["target"] = f"{op} {thr:g}"
                    if nmiss and not omit:
                        row |= {"pta": math.nan, "pta_lower": math.nan, "pta_upper": math.nan}
                    else:
                        k = int(_OPS[op](vals[valid], thr).sum())
                        nv = int(valid.sum())
                        lo, hi = _wilson(k, nv, self.confidence)
                        row |= {"pta": k / nv if nv else math.nan, "pta_lower": lo,
                                "pta_upper": hi}
                rows.append(row)
        return pd.DataFrame(rows)

    def summary(self) -> str:
        """Median [lowest, highest percentile] and probability of target, per endpoint."""
        tab = self.to_frame()
        lo, hi = f"p{self.percentiles[0]:g}", f"p{self.percentiles[-1]:g}"
        tu = self.model.time_unit
        lines = [repr(self),
                 f"subjects: {self.n_subjects} (the same for every regimen), seed: {self.seed}"]
        width = max(len(r) for r in self.regimens)
        for ep, g in tab.groupby("endpoint", sort=False):
            unit = self.endpoint_units[ep]
            head = f"{ep}" + (f" [{unit}]" if unit else "") + f": median [{lo}, {hi}]"
            if ep in self.targets:
                op, thr = self.targets[ep]
                head += (f"; P({ep} {op} {thr:g}) with {100 * self.confidence:g}% "
                         "Wilson interval")
            lines.append(head)
            for _, r in g.iterrows():
                text = (f"  {r['regimen']:<{width}}  dose {r['dose']:<8.4g} interval "
                        f"{r['interval']:<8.4g}{' ' + tu if tu else ''}  {r['median']:<10.4g} "
                        f"[{r[lo]:.4g}, {r[hi]:.4g}]")
                if r["n_missing"]:
                    text += f"  ({r['n_missing']} missing)"
                if ep in self.targets:
                    text += f"  P = {r['pta']:.3f} [{r['pta_lower']:.3f}, {r['pta_upper']:.3f}]"
                lines.append(text)
        return "\n".join(lines)

    def provenance(self) -> dict:
        """What produced this result: model and its hash, regimens, subjects, seed, solver."""
        from . import __version__

        return {
            "model": self.model.name,
            "model_sha256": self.model.content_hash(),
            "regimens": {k: r.in_words(self.model.time_unit)
                         for k, r in self.regimen_values.items()},
            "n": self.n_subjects,
            "seed": self.seed,
            "population": self.population,
            "method": self.settings.get("method"),
            "rtol": self.settings.get("rtol"),
            "atol": self.settings.get("atol"),
            "percentiles": list(self.percentiles),
            "confidence": self.confidence,
            "targets": {k: list(v) for k, v in self.targets.items()},
            "pkpd_version": __version__,
        }

    def to_dict(self) -> dict:
        """Plain-data form (schema version 1)."""
        return {"schema": 1, "provenance": self.provenance(),
                "design": self.design.to_dict(orient="list"),
                "summary": self.to_frame().to_dict(orient="records"),
                "endpoint_values": self.endpoint_values.to_dict(orient="list"),
                "endpoint_units": dict(self.endpoint_units),
                "time_courses": {k: v.to_dict(orient="list") for k, v in self.time_courses.items()},
                "subjects": self.subjects.to_dict(orient="list")}

    # ------------------------------------------------------------------ analysis
    def fit(self, endpoint: str, x: str = "dose", model: str = "sigmoid_emax", *,
            on: str = "subjects", **kwargs: Any) -> Any:
        """Fit a dose-response curve to an endpoint (see :func:`pkpd.curves.fit_curve`).

        Parameters
        ----------
        endpoint : str
        x : str
            A column of :attr:`design`: ``"dose"`` (default), ``"interval"`` or a
            :func:`dose_grid` placeholder.
        model : str
            ``"sigmoid_emax"``, ``"emax"``, ``"4pl"`` or ``"mm"``.
        on : {"subjects", "median"}
            Fit every subject's value (default) or the median per regimen.
        **kwargs
            ``init``, ``bounds``, ``weights``, ``confidence`` of :func:`fit_curve`.

        Returns
        -------
        CurveFit
            ``.ed50`` and ``.ed50_ci`` give the ED50 (in the unit of ``x``) and
            its interval.

        Raises
        ------
        ValueError
            Unknown endpoint or ``x``, ``x`` or endpoint values missing (NaN).
        """
        from .curves import fit_curve

        self._check_endpoint(endpoint)
        if x not in self.design.columns or x in ("regimen", "dose_unit"):
            cols = [c for c in self.design.columns if c not in ("regimen", "dose_unit")]
            raise ValueError(f"x must be a column of the design{closest(str(x), cols)}; "
                             "columns are: " + ", ".join(cols))
        xs = self.design.set_index("regimen")[x].astype(float)
        missing = [r for r in self.regimens if not math.isfinite(xs[r])]
        if missing:
            raise ValueError(f"x = {x!r} is not known for regimens {missing}; give a dose_grid "
                             "placeholder or regimens with repeated doses")
        if on == "subjects":
            v = self.endpoint_values
            v = v[v["endpoint"] == endpoint]
            xv = v["regimen"].map(xs).to_numpy(dtype=float)
            yv = v["value"].to_numpy(dtype=float)
        elif on == "median":
            t = self.to_frame()
            t = t[t["endpoint"] == endpoint]
            xv = t["regimen"].map(xs).to_numpy(dtype=float)
            yv = t["median"].to_numpy(dtype=float)
        else:
            raise ValueError(f"on must be 'subjects' or 'median', got {on!r}")
        bad = np.isnan(yv)
        if bad.any():
            raise ValueError(f"endpoint '{endpoint}' has {int(bad.sum())} missing (NaN) "
                             f"value{'s' if bad.sum() > 1 else ''}; a curve cannot be fitted "
                             "to them (choose an endpoint defined for every subject, or "
                             "nan_policy='omit' with on='median')")
        return fit_curve(xv, yv, model, **kwargs)

    # ------------------------------------------------------------------ plots
    def plot(self, kind: str = "endpoint", endpoint: str | None = None, *, x: str = "dose",
             output: str | None = None, fit: Any = None, logx: bool = False,
             logy: bool = False, ax: Any = None) -> Any:
        """Plot the result; returns the matplotlib ``Figure``.

        Parameters
        ----------
        kind : {"endpoint", "timecourse", "target"}
            ``"endpoint"``: median and percentile band of each endpoint (or
            ``endpoint``) against ``x`` (regimen names when ``x`` is not
            known), with the curve of ``fit`` (a :class:`CurveFit`) if given.
            ``"timecourse"``: median and band of ``output`` (default: the
            first output) against time, one colour per regimen.
            ``"target"``: probability of target attainment per regimen with
            its interval, one panel per endpoint with a target.
        endpoint, x, output, fit, logx, logy, ax
            See above; ``ax`` draws a single panel into existing axes.

        See Also
        --------
        pkpd.plot.plot_dose_response
        """
        from .plot import plot_dose_response

        return plot_dose_response(self, kind, endpoint, x=x, output=output, fit=fit, logx=logx,
                                  logy=logy, ax=ax)


# --------------------------------------------------------------------------- the verb
def dose_response(population: Any, regimens: Any, times: Any, *,
                  endpoints: Any, n: int = 200,
                  rng: int | np.random.Generator | None = None,
                  targets: Mapping[str, Any] | None = None,
                  percentiles: Sequence[float] = (5, 50, 95),
                  default_target: str | None = None, n_jobs: int = -1,
                  progress: bool | None = None, method: str = "auto",
                  rtol: float = 1e-6, atol: float = 1e-9, confidence: float = 0.95,
                  nan_policy: str = "propagate") -> DoseResponse:
    """Simulate several regimens over one virtual population and summarise endpoints.

    Parameters
    ----------
    population : Population or Model
        A :class:`~pkpd.population.Population` (``n`` subjects are sampled
        once, with ``rng``, and every regimen is simulated on them), or a
        :class:`~pkpd.model.Model` (one typical subject).
    regimens : mapping name -> Regimen or notation str, or list of notation str
        E.g. the output of :func:`dose_grid`, or ``{"q24w": "600 mg iv over
        3.5 h every 24 w x 4", ...}``; a list uses each text as its name
        (and a Regimen's words). Notation is parsed with the model's time
        unit, its ``route.X:`` targets and ``default_target`` (default: the
        model's ``dose:``). A bare name such as ``"extended_interval"`` or
        ``"default"`` is the model file's ``regimen.NAME:`` (``regimen:``) header.
    times : array_like
        Output times (model time unit), shared by every regimen; sorted.
        Endpoints are computed on this grid (see :mod:`pkpd.metrics`).
    endpoints : mapping name -> Endpoint or function regimen -> Endpoint
        E.g. ``{"Cmax": metrics.cmax("conc"), "trough": trough("bcells", 2)}``.
    n : int
        Subjects to sample from a Population.
    rng : int, Generator or None
        Seeds the sampling of subjects.
    targets : mapping endpoint -> (op, threshold), optional
        ``op`` one of ``"<"``, ``"<="``, ``">"``, ``">="`` (or a string such as
        ``"< 10"``): probability of target attainment per regimen.
    percentiles : sequence of float
        Percentiles of the summaries and of the time-course bands.
    default_target : str, optional
        State receiving doses without a target (default: the model's ``dose:``).
    n_jobs, progress, method, rtol, atol
        As in :func:`~pkpd.population.simulate_population`.
    confidence : float
        Level of the Wilson intervals of the probabilities of target attainment.
    nan_policy : {"propagate", "omit"}
        How summaries treat subjects whose endpoint is NaN (e.g. a recovery
        that does not happen within ``times``); see :meth:`DoseResponse.to_frame`.

    Returns
    -------
    DoseResponse

    Raises
    ------
    ValueError
        Empty regimens or endpoints, an endpoint reading an unknown output
        (:class:`~pkpd.errors.ModelError`), a bad target, invalid options.
    RegimenError
        A regimen text that does not parse, or a target state the model lacks.
    SimulationError
        If any subject fails.
    """
    from .population import Population, simulate_population

    if isinstance(population, Population):
        model = population.model
        pop_info = {"iiv": dict(population.iiv), "distribution": dict(population.distribution)}
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"n must be a positive whole number, got {n!r}")
    elif isinstance(population, Model):
        model, pop_info = population, None
    else:
        raise TypeError(f"population must be a Population or a Model, got "
                        f"{type(population).__name__}")
    if nan_policy not in ("propagate", "omit"):
        raise ValueError(f"nan_policy must be 'propagate' or 'omit', got {nan_policy!r}")
    if not (isinstance(confidence, Real) and 0 < confidence < 1):
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    qs = tuple(float(q) for q in np.atleast_1d(np.asarray(percentiles, dtype=float)))
    if not qs or not all(0 <= q <= 100 for q in qs):
        raise ValueError(f"percentiles must be a non-empty sequence in [0, 100], got "
                         f"{percentiles!r}")
    regs = _regimens(regimens, model, default_target)
    eps = _endpoints(endpoints, model)
    tgt = _targets(targets, eps)
    seed = int(rng) if isinstance(rng, int | np.integer) and not isinstance(rng, bool) else None
    gen = np.random.default_rng(rng)
    if pop_info is None:
        table = pd.DataFrame({"ID": [1]})
    else:
        table = population.sample(int(n), gen)
    ids = table["ID"].to_numpy()

    design_rows = []
    for name, reg in regs.items():
        dose, unit, interval = _read_off(reg)
        grid = _grid_values(name)
        row = {"regimen": name, "dose": grid.get("dose", dose), "dose_unit": unit,
               "interval": interval}
        row |= {k: v for k, v in grid.items() if k not in row}
        design_rows.append(row)
    design = pd.DataFrame(design_rows)

    units: dict[str, str] = {}
    frames = []
    bands: dict[str, pd.DataFrame] = {}
    for (name, reg), drow in zip(regs.items(), design_rows, strict=True):
        sim = simulate_population(table, reg, times, model=model, n_jobs=n_jobs,
                                  progress=progress, percentiles=qs, method=method,
                                  rtol=rtol, atol=atol)
        bands[name] = sim.bands()
        for ep_name, spec in eps.items():
            ep = spec if isinstance(spec, Endpoint) else spec(reg)
            if not isinstance(ep, Endpoint):
                raise TypeError(f"endpoint '{ep_name}': the function returned "
                                f"{type(ep).__name__}, not an Endpoint")
            _check_output(ep.output, ep_name, model)
            try:
                vals = sim.evaluate(ep)
            except ValueError as exc:
                raise ValueError(f"endpoint '{ep_name}' on regimen '{name}': {exc}") from exc
            units.setdefault(ep_name, ep.unit)
            frames.append(pd.DataFrame({
                "regimen": name, "dose": drow["dose"], "interval": drow["interval"],
                "ID": ids, "endpoint": ep_name,
                "value": vals.reindex(ids).to_numpy(dtype=float)}))
    values = pd.concat(frames, ignore_index=True)
    return DoseResponse(model, tuple(regs), regs, design, values, units, tgt, bands, table,
                        qs, float(confidence), nan_policy, seed,
                        {"method": method, "rtol": float(rtol), "atol": float(atol)}, pop_info)
