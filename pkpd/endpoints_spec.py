"""Endpoint specifications from text and TOML: the metric whitelist and keyword validation.

The command line (``--endpoint METRIC:OUTPUT[:KEY=VALUE,...]``) and report
specifications (``endpoint = { metric = "ctrough", output = "bcells", time = "24 w" }``)
name an endpoint function of :mod:`pkpd.metrics` and its keywords. Both are read
here, the same way:

- ``METRIC`` must be a key of :data:`ENDPOINTS` (a whitelist; nothing is looked
  up by name in a module, nothing is evaluated);
- ``OUTPUT`` must be an output or state of the model;
- every keyword must be a parameter of that function (checked against its
  signature); keywords without a default must be given;
- time keywords (:data:`TIME_KEYWORDS`) take a number in the model's time unit
  or a duration with a unit (``"24 w"``, ``"168 d"``; read by
  :func:`pkpd.notation.parse_duration`), text keywords (:data:`TEXT_KEYWORDS`)
  take text, every other keyword a number (text is read with ``float``);
- ``unit`` and ``time_unit`` default to the output's and the model's units.

Mistakes raise :class:`~pkpd.errors.SpecError` (a ``ValueError``) naming the
keyword and what is allowed; an unknown output raises
:class:`~pkpd.errors.ModelError`.

Examples
--------
>>> from pkpd import load_model
>>> m = load_model("pk_1cmt_iv")
>>> parse_endpoint_spec("auc:conc:start=0,end=1d", m).endpoint
<Endpoint 'AUC(conc, 0-24)' [mg/L*h] of 'conc'>
>>> endpoint_spec_from_table({"metric": "ctrough", "output": "conc", "time": "12 h"}, m)
<EndpointSpec ctrough:conc time=12 -> 'Ctrough(conc, 12)'>
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from . import metrics
from .errors import ModelError, RegimenError, SpecError, closest
from .model import Model
from .notation import parse_duration

__all__ = ["ENDPOINTS", "TIME_KEYWORDS", "TEXT_KEYWORDS", "EndpointSpec", "endpoint_spec",
           "parse_endpoint_spec", "endpoint_spec_from_table"]

#: Endpoint functions of :mod:`pkpd.metrics` a specification may name.
ENDPOINTS: dict[str, Callable[..., metrics.Endpoint]] = {
    "auc": metrics.auc,
    "cmax": metrics.cmax,
    "tmax": metrics.tmax,
    "cmin": metrics.cmin,
    "ctrough": metrics.ctrough,
    "conc_at": metrics.conc_at,
    "nadir": metrics.nadir,
    "time_of_nadir": metrics.time_of_nadir,
    "pct_change_from_baseline": metrics.pct_change_from_baseline,
    "time_below": metrics.time_below,
    "time_above": metrics.time_above,
    "time_to_below": metrics.time_to_below,
    "time_to_recovery": metrics.time_to_recovery,
    "fraction_in_range": metrics.fraction_in_range,
}

#: Keywords that are times: a number in the model's time unit or a duration such as "24 w".
TIME_KEYWORDS = frozenset({"start", "end", "time", "after", "baseline_time"})
#: Keywords that are text; ``unit`` and ``time_unit`` default to the model's units.
TEXT_KEYWORDS = frozenset({"method", "unit", "time_unit"})
# Keys of a TOML endpoint table that are not keywords of the function.
_TABLE_KEYS = ("metric", "output", "name")


@dataclass(frozen=True, slots=True, eq=False)
class EndpointSpec:
    """An endpoint read from a specification, with what it was built from.

    Attributes
    ----------
    endpoint : Endpoint or RegimenEndpoint
        The endpoint (a :class:`~pkpd.dose_response.RegimenEndpoint` for a
        metric given through ``extra``, such as ``trough``).
    metric : str
        The metric's name, a key of :data:`ENDPOINTS` (or of ``extra``).
    keywords : dict
        The keywords the function was called with, converted (times in the
        model's time unit) and with ``unit``/``time_unit`` filled in.
    """

    endpoint: Any
    metric: str
    keywords: dict[str, Any]

    def __repr__(self) -> str:
        kw = " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in self.keywords.items() if k not in ("unit", "time_unit"))
        return (f"<EndpointSpec {self.metric}:{self.endpoint.output}{' ' + kw if kw else ''} "
                f"-> {self.endpoint.name!r}>")


def _prefix(where: str, message: str) -> str:
    return f"{where}: {message}" if where else message


def _time_value(key: str, value: Any, model: Model) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise SpecError(f"{key} must be finite, got {value!r}")
        return float(value)
    if isinstance(value, str):
        try:
            return parse_duration(value, model.time_unit, what=key)
        except RegimenError as exc:
            raise SpecError(str(exc)) from None
    raise SpecError(f"{key} must be a number in the model's time unit ({model.time_unit}) or a "
                    f"duration such as '24 w', '14 d', '12 h' (units min, h, d, w), got {value!r}")


def _number_value(key: str, value: Any) -> int | float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = value  # a TOML integer stays an integer (e.g. trough's dose)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise SpecError(f"{key}: {value!r} is not a number") from None
    else:
        raise SpecError(f"{key} must be a number, got {value!r}")
    if not math.isfinite(number):
        raise SpecError(f"{key}: {value!r} is not a finite number")
    return number


def endpoint_spec(metric: str, output: str, keywords: Mapping[str, Any], model: Model, *,
                  extra: Mapping[str, Callable[..., Any]] | None = None,
                  last_dose: float = math.nan, where: str = "") -> EndpointSpec:
    """Check a metric, an output and keywords against ``model`` and build the endpoint.

    Parameters
    ----------
    metric : str
        A key of :data:`ENDPOINTS` or of ``extra`` (case-insensitive).
    output : str
        An output or state of ``model``.
    keywords : mapping
        Keywords of the metric's function (see the module docstring for how
        each kind of value is read).
    model : Model
        Gives the outputs, states, units and time unit.
    extra : mapping name -> function, optional
        Further metrics allowed here only, e.g. ``{"trough": pkpd.dose_response.trough}``.
    last_dose : float
        Default of a required ``after`` keyword (``time_to_recovery``), in
        the model's time unit; ``nan`` leaves it required.
    where : str
        Prefix of error messages, e.g. ``"--endpoint 'cmax:conc'"``.

    Returns
    -------
    EndpointSpec

    Raises
    ------
    SpecError
        Unknown metric or keyword, a missing keyword, a value of the wrong
        kind, or a value the metric's function rejects.
    ModelError
        ``output`` is not an output or state of the model.
    """
    allowed = dict(ENDPOINTS) | dict(extra or {})
    name = metric.strip().lower() if isinstance(metric, str) else metric
    fn = allowed.get(name) if isinstance(name, str) else None
    if fn is None:
        raise SpecError(_prefix(where, f"metric must be one of {', '.join(allowed)}, got "
                                       f"{metric!r}{closest(str(metric), list(allowed))}"))
    known = list(model.output_names) + list(model.state_names)
    if output not in known:
        raise ModelError(_prefix(where, f"model '{model.name}' has no output or state "
                                        f"{output!r}; outputs and states are: "
                                        f"{', '.join(known)}{closest(str(output), known)}"))
    sig = inspect.signature(fn).parameters
    params = [k for k in sig if k != "output"]
    kwargs: dict[str, Any] = {}
    for key, value in keywords.items():
        if key not in params:
            raise SpecError(_prefix(where, f"{name} has no keyword {key!r}; its keywords are: "
                                           f"{', '.join(params) or '(none)'}"
                                           f"{closest(str(key), params)}"))
        try:
            if key in TIME_KEYWORDS:
                kwargs[key] = _time_value(key, value, model)
            elif key in TEXT_KEYWORDS:
                if not isinstance(value, str):
                    raise SpecError(f"{key} must be text, got {value!r}")
                kwargs[key] = value
            else:
                kwargs[key] = _number_value(key, value)
        except SpecError as exc:
            raise SpecError(_prefix(where, str(exc))) from None
    if ("after" in sig and "after" not in kwargs and sig["after"].default is inspect.Parameter.empty
            and math.isfinite(last_dose)):
        kwargs["after"] = float(last_dose)
    missing = [k for k in params if sig[k].default is inspect.Parameter.empty and k not in kwargs]
    if missing:
        raise SpecError(_prefix(where, f"{name} needs {', '.join(missing)}, e.g. "
                                       + ", ".join(f"{k}=..." for k in missing)))
    units = {o.name: o.unit for o in model.outputs} | {s.name: s.unit for s in model.states}
    if "unit" in sig and "unit" not in kwargs:
        kwargs["unit"] = units[output]
    if "time_unit" in sig and "time_unit" not in kwargs:
        kwargs["time_unit"] = model.time_unit
    try:
        endpoint = fn(output, **kwargs)
    except (TypeError, ValueError) as exc:
        raise SpecError(_prefix(where, str(exc))) from None  # names the metric already
    return EndpointSpec(endpoint, name, kwargs)


def parse_endpoint_spec(text: str, model: Model, *, last_dose: float = math.nan,
                        where: str | None = None) -> EndpointSpec:
    """An endpoint from text ``METRIC:OUTPUT[:KEY=VALUE,...]``, e.g. ``"ctrough:bcells:time=24w"``.

    Parameters
    ----------
    text : str
        The metric, the output and optional comma-separated keywords; values
        are text, read as described in the module docstring.
    model : Model
    last_dose : float
        Default of ``time_to_recovery``'s ``after``, in the model's time unit.
    where : str, optional
        Prefix of error messages (default: ``"endpoint 'TEXT'"``).

    Returns
    -------
    EndpointSpec

    Raises
    ------
    SpecError, ModelError
        As :func:`endpoint_spec`, and for text not of that form or a keyword
        given twice.

    Examples
    --------
    >>> from pkpd import load_model
    >>> s = parse_endpoint_spec("time_to_recovery:bcells:threshold=40",
    ...                         load_model("ocrelizumab_bcell"), last_dose=672)
    >>> s.keywords["after"], s.keywords["threshold"]
    (672.0, 40.0)
    """
    where = f"endpoint {text!r}" if where is None else where
    if not isinstance(text, str):
        raise SpecError(_prefix(where, f"an endpoint in text must be a str, got "
                                       f"{type(text).__name__}"))
    parts = text.split(":", 2)
    if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
        raise SpecError(_prefix(where, "expected METRIC:OUTPUT[:KEY=VALUE,...], e.g. 'cmax:conc' "
                                       "or 'time_to_recovery:bcells:threshold=40'"))
    keywords: dict[str, str] = {}
    items = parts[2].split(",") if len(parts) == 3 and parts[2].strip() else []
    for item in items:
        key, sep, value = (s.strip() for s in item.partition("="))
        if not sep or not key or not value:
            raise SpecError(_prefix(where, f"expected KEY=VALUE after the output, got "
                                           f"{item.strip()!r}"))
        if key in keywords:
            raise SpecError(_prefix(where, f"{key!r} is given twice"))
        keywords[key] = value
    return endpoint_spec(parts[0], parts[1].strip(), keywords, model, last_dose=last_dose,
                         where=where)


def endpoint_spec_from_table(table: Mapping[str, Any], model: Model, *,
                             extra: Mapping[str, Callable[..., Any]] | None = None,
                             last_dose: float = math.nan) -> EndpointSpec:
    """An endpoint from a TOML table such as ``{ metric = "ctrough", output = "bcells", time = "24 w" }``.

    Parameters
    ----------
    table : mapping
        ``metric``, ``output``, an optional ``name`` (a label replacing the
        endpoint's own) and the metric's keywords, read as described in the
        module docstring (TOML numbers stay as written, e.g. an integer dose).
    model : Model
    extra : mapping name -> function, optional
        Further metrics allowed (e.g. ``trough`` in dose-response sections).
    last_dose : float
        Default of ``time_to_recovery``'s ``after``; ``nan`` leaves it required.

    Returns
    -------
    EndpointSpec

    Raises
    ------
    SpecError, ModelError
        As :func:`endpoint_spec`, and for a value that is not a table or a
        ``name`` that is not a non-empty string.
    """
    if not isinstance(table, Mapping):
        raise SpecError("an endpoint is a table such as { metric = \"ctrough\", output = "
                        f"\"bcells\", time = \"24 w\" }}, got {table!r}")
    label = table.get("name")
    if label is not None and (not isinstance(label, str) or not label):
        raise SpecError(f"name must be a non-empty string, got {label!r}")
    keywords = {k: v for k, v in table.items() if k not in _TABLE_KEYS}
    spec = endpoint_spec(table.get("metric"), table.get("output"), keywords, model,  # type: ignore[arg-type]
                         extra=extra, last_dose=last_dose)
    if label is None:
        return spec
    return replace(spec, endpoint=replace(spec.endpoint, name=label))
