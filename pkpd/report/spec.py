"""Report specifications: a TOML file turned into a :class:`~pkpd.report.Report`."""

from __future__ import annotations

import math
import re
import textwrap
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..endpoints_spec import endpoint_spec_from_table
from ..errors import FitError, PkpdError, SimulationError, SpecError, closest
from ..model import Model
from ..notation import parse_duration, regimen_for_model
from .document import Report

# =========================================================================== specifications
_COMMON_KEYS = ("kind", "title", "text")
_KIND_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind: (required keys, optional keys)
    "text": (("text",), ()),
    "model": (("model",), ()),
    "simulate": (("model", "regimen"),
                 ("until", "step", "times", "params", "covariates", "outputs", "logy", "method",
                  "rtol", "atol")),
    "population": (("model", "regimen", "iiv"),
                   ("until", "step", "times", "n", "params", "outputs", "logy", "seed",
                    "percentiles")),
    "fit": (("spec",), ("individual",)),
    "sensitivity": (("method", "model", "regimen"),
                    ("until", "step", "times", "params", "endpoint", "endpoints", "outputs", "n",
                     "seed", "iiv")),
    "dose_response": (("model", "regimens", "endpoints"),
                      ("until", "step", "times", "n", "iiv", "targets", "seed", "fit", "params",
                       "plots", "x", "outputs", "logy")),
}


@dataclass
class _Ctx:
    path: Path
    seed: int | None
    models: dict[str, Model] = field(default_factory=dict)

    def err(self, i: int, kind: str, key: str | None, message: str) -> SpecError:
        where = f"{self.path}: section {i}" + (f" (kind '{kind}')" if kind else "")
        return SpecError(f"{where}, key '{key}': {message}" if key else f"{where}: {message}")


def report_from_spec(path: str | Path) -> Report:
    """Build a :class:`Report` from a TOML report specification.

    Parameters
    ----------
    path : str or Path
        The specification (see ``reports/README.md`` for the format).

    Returns
    -------
    Report

    Raises
    ------
    SpecError
        If the file is not valid TOML, a key is unknown or missing, a value
        has the wrong type, or a section fails (e.g. an unknown model or an
        invalid regimen); the message names the section number, its kind,
        the key and what is allowed.
    """
    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"report specification {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: invalid TOML: {exc}") from None
    top = {"title", "seed", "author", "section"}
    for k in spec:
        if k not in top:
            raise SpecError(f"{path}: unknown top-level key '{k}'{closest(k, sorted(top))}; "
                            f"keys are: {', '.join(sorted(top))}")
    title = spec.get("title", path.stem)
    if not isinstance(title, str):
        raise SpecError(f"{path}: key 'title' must be a string, got {title!r}")
    seed = spec.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise SpecError(f"{path}: key 'seed' must be an integer, got {seed!r}")
    author = spec.get("author")
    if author is not None and not isinstance(author, str):
        raise SpecError(f"{path}: key 'author' must be a string, got {author!r}")
    sections = spec.get("section", [])
    if not isinstance(sections, list) or not sections:
        raise SpecError(f"{path}: a report needs at least one [[section]] table")
    report = Report(title, author=author, seed=seed)
    ctx = _Ctx(path, seed)
    for i, sec in enumerate(sections, start=1):
        if not isinstance(sec, dict):
            raise ctx.err(i, "", None, "each [[section]] must be a table")
        kind = sec.get("kind")
        if kind not in _KIND_KEYS:
            raise ctx.err(i, "", "kind", f"must be one of {', '.join(map(repr, _KIND_KEYS))}, "
                                         f"got {kind!r}{closest(str(kind), list(_KIND_KEYS))}")
        required, optional = _KIND_KEYS[kind]
        allowed = set(_COMMON_KEYS) | set(required) | set(optional)
        for k in sec:
            if k not in allowed:
                raise ctx.err(i, kind, k, f"unknown key{closest(k, sorted(allowed))}; a '{kind}' "
                                          f"section takes: {', '.join(sorted(allowed))}")
        for k in required:
            if k not in sec:
                raise ctx.err(i, kind, k, f"missing; a '{kind}' section needs: "
                                          f"{', '.join(required)}")
        intro = _typed(ctx, i, kind, sec, "text", str) if kind != "text" else None
        n_blocks = len(report._blocks)
        _HANDLERS[kind](report, ctx, i, sec)
        if intro:
            report._introduce(n_blocks, intro)
    return report


def run_report(path: str | Path, out: str | Path | None = None) -> Path:
    """Build the report of a specification and write it as HTML.

    Parameters
    ----------
    path : str or Path
        The specification.
    out : str or Path, optional
        Output file, or a directory to write ``<spec stem>.html`` into
        (default: next to the specification).

    Returns
    -------
    Path
        The HTML file written.
    """
    path = Path(path)
    report = report_from_spec(path)
    if out is None:
        target = path.with_suffix(".html")
    else:
        target = Path(out)
        if target.is_dir():
            target = target / f"{path.stem}.html"
    return report.write(target)


# ------------------------------------------------------------------------ spec values
def _typed(ctx: _Ctx, i: int, kind: str, sec: Mapping, key: str, typ: Any,
           default: Any = None) -> Any:
    if key not in sec:
        return default
    v = sec[key]
    ok = isinstance(v, typ) and not (isinstance(v, bool) and bool not in _as_tuple(typ))
    if not ok:
        names = " or ".join(t.__name__ for t in _as_tuple(typ))
        raise ctx.err(i, kind, key, f"must be {names}, got {v!r}")
    return v


def _as_tuple(typ: Any) -> tuple:
    return typ if isinstance(typ, tuple) else (typ,)


def _model(ctx: _Ctx, i: int, kind: str, sec: Mapping) -> Model:
    from ..language import list_models, load_model

    ref = _typed(ctx, i, kind, sec, "model", str)
    if ref in ctx.models:
        return ctx.models[ref]
    is_path = ref.endswith(".pkpd") or "/" in ref or "\\" in ref
    try:
        model = load_model(ctx.path.parent / ref if is_path else ref)
    except (PkpdError, OSError) as exc:
        hint = "" if is_path else f"; library models are: {', '.join(list_models())}"
        raise ctx.err(i, kind, "model", f"{exc}{hint} (or give a path to a .pkpd file, "
                                        "relative to the specification)") from None
    ctx.models[ref] = model
    return model


def _time_value(ctx: _Ctx, i: int, kind: str, key: str, value: Any, model: Model) -> float:
    """A time: a number in the model's time unit, or text such as ``"24 w"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ctx.err(i, kind, key, f"must be finite, got {value!r}")
        return float(value)
    if isinstance(value, str):
        try:
            return parse_duration(value, model.time_unit, what="the time")
        except PkpdError as exc:
            raise ctx.err(i, kind, key, str(exc)) from None
    raise ctx.err(i, kind, key, f"must be a number in the model's time unit "
                                f"({model.time_unit}) or text such as \"24 w\", \"14 d\", \"12 h\" "
                                f"(units min, h, d, w), got {value!r}")


def _grid(ctx: _Ctx, i: int, kind: str, sec: Mapping, model: Model) -> np.ndarray:
    """Output times: ``times`` (a list) or ``until`` with an optional ``step``."""
    if "times" in sec:
        if "until" in sec or "step" in sec:
            raise ctx.err(i, kind, "times", "give either 'times' or 'until' (with 'step'), not both")
        t = sec["times"]
        if not isinstance(t, list) or len(t) < 2:
            raise ctx.err(i, kind, "times", f"must be a list of at least two times, got {t!r}")
        vals = np.array([_time_value(ctx, i, kind, "times", v, model) for v in t])
        if np.any(np.diff(vals) <= 0):
            raise ctx.err(i, kind, "times", "must be strictly increasing")
        return vals
    if "until" not in sec:
        raise ctx.err(i, kind, "until", "missing; give 'until' (e.g. \"104 w\") or 'times'")
    end = _time_value(ctx, i, kind, "until", sec["until"], model)
    if end <= 0:
        raise ctx.err(i, kind, "until", f"must be after time 0, got {sec['until']!r}")
    if "step" in sec:
        step = _time_value(ctx, i, kind, "step", sec["step"], model)
        if not 0 < step <= end:
            raise ctx.err(i, kind, "step", f"must be positive and at most 'until', got {sec['step']!r}")
    else:
        step = 10.0 ** math.floor(math.log10(end / 500))
    k = int(math.floor(end / step + 1e-9))
    if k > 200_000:
        raise ctx.err(i, kind, "step", f"gives {k} output times; use a larger step")
    t = np.arange(k + 1) * step
    return np.append(t[t < end - 1e-9 * step], end)  # ends exactly at `until`


def _regimen(ctx: _Ctx, i: int, kind: str, key: str, text: Any, model: Model) -> Any:
    if not isinstance(text, str):
        raise ctx.err(i, kind, key, f"must be a regimen in the compact notation, e.g. "
                                    f"\"600 mg iv over 3.5 h every 24 w x 4\", or the name of a "
                                    f"regimen of the model file, got {text!r}")
    try:
        return regimen_for_model(model, text)
    except PkpdError as exc:
        raise ctx.err(i, kind, key, str(exc)) from None


def _number_table(ctx: _Ctx, i: int, kind: str, sec: Mapping, key: str,
                  names: Sequence[str], what: str) -> dict[str, float]:
    tab = _typed(ctx, i, kind, sec, key, dict, {})
    out = {}
    for k, v in tab.items():
        if k not in names:
            raise ctx.err(i, kind, key, f"'{k}' is not a {what}{closest(k, list(names))}; "
                                        f"{what}s are: {', '.join(names)}")
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ctx.err(i, kind, key, f"'{k}' must be a number, got {v!r}")
        out[k] = float(v)
    return out


def _with_params(ctx: _Ctx, i: int, kind: str, sec: Mapping, model: Model) -> Model:
    """``model`` with the section's ``params`` table (values checked against the bounds)."""
    values = _number_table(ctx, i, kind, sec, "params", model.param_names, "parameter")
    try:
        return model.with_params(values)
    except PkpdError as exc:
        raise ctx.err(i, kind, "params", str(exc)) from None


def _names(ctx: _Ctx, i: int, kind: str, sec: Mapping, key: str, allowed: Sequence[str],
           what: str) -> list[str] | None:
    if key not in sec:
        return None
    v = sec[key]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ctx.err(i, kind, key, f"must be a list of {what} names, got {v!r}")
    for x in v:
        if x not in allowed:
            raise ctx.err(i, kind, key, f"'{x}' is not a {what}{closest(x, list(allowed))}; "
                                        f"{what}s are: {', '.join(allowed)}")
    return list(v)


def _endpoint(ctx: _Ctx, i: int, kind: str, key: str, spec: Any, model: Model,
              extra: Mapping[str, Callable[..., Any]] | None = None) -> Any:
    """An endpoint from a table such as ``{ metric = "ctrough", output = "bcells", time = 168 }``.

    ``extra`` adds metrics allowed in this section only (``trough`` of dose-response).
    """
    try:
        return endpoint_spec_from_table(spec, model, extra=extra).endpoint
    except PkpdError as exc:
        raise ctx.err(i, kind, key, str(exc)) from None


def _endpoints(ctx: _Ctx, i: int, kind: str, sec: Mapping, model: Model) -> list:
    eps = []
    if "endpoint" in sec:
        eps.append(_endpoint(ctx, i, kind, "endpoint", sec["endpoint"], model))
    if "endpoints" in sec:
        v = sec["endpoints"]
        if isinstance(v, dict):
            items = [(f"endpoints.{k}", dict(e, name=e.get("name", k)) if isinstance(e, dict) else e)
                     for k, e in v.items()]
        elif isinstance(v, list):
            items = [(f"endpoints[{j}]", e) for j, e in enumerate(v, start=1)]
        else:
            raise ctx.err(i, kind, "endpoints", "must be a list of endpoint tables or a table "
                                                f"name -> endpoint, got {v!r}")
        eps += [_endpoint(ctx, i, kind, k, e, model) for k, e in items]
    return eps


def _seed(ctx: _Ctx, i: int, kind: str, sec: Mapping) -> int | None:
    s = _typed(ctx, i, kind, sec, "seed", int)
    return ctx.seed if s is None else s


def _n(ctx: _Ctx, i: int, kind: str, sec: Mapping, default: int) -> int:
    n = _typed(ctx, i, kind, sec, "n", int, default)
    if n < 1:
        raise ctx.err(i, kind, "n", f"must be a positive integer, got {n}")
    return n


def _run(ctx: _Ctx, i: int, kind: str, fn: Callable[[], Any]) -> Any:
    """Run a section's computation: a failed run stays a run failure (SimulationError,
    FitError: ``pkpd report`` exits 1), anything else is a mistake in the spec."""
    try:
        return fn()
    except (SimulationError, FitError) as exc:
        where = f"{ctx.path}: section {i} (kind '{kind}')"
        if isinstance(exc, SimulationError):
            raise SimulationError(f"{where}: {exc}", time=exc.time) from None
        raise FitError(f"{where}: {exc}") from None
    except (PkpdError, ValueError) as exc:
        raise ctx.err(i, kind, None, f"{type(exc).__name__}: {exc}") from None


# ------------------------------------------------------------------------ section handlers
def _sec_text(report: Report, ctx: _Ctx, i: int, sec: Mapping) -> None:
    title = _typed(ctx, i, "text", sec, "title", str)
    text = _typed(ctx, i, "text", sec, "text", str)
    report.add_text(f"# {title}\n\n{textwrap.dedent(text)}" if title else text)


def _sec_model(report: Report, ctx: _Ctx, i: int, sec: Mapping) -> None:
    report.add_model(_model(ctx, i, "model", sec), title=_typed(ctx, i, "model", sec, "title", str))


def _sec_simulate(report: Report, ctx: _Ctx, i: int, sec: Mapping) -> None:
    from ..simulate import simulate

    k = "simulate"
    model = _model(ctx, i, k, sec)
    reg = _regimen(ctx, i, k, "regimen", sec["regimen"], model)
    times = _grid(ctx, i, k, sec, model)
    params = _number_table(ctx, i, k, sec, "params", model.param_names, "parameter")
    covs = _number_table(ctx, i, k, sec, "covariates", model.covariate_names, "covariate")
    outputs = _names(ctx, i, k, sec, "outputs", model.output_names + model.state_names, "output")
    opts = {}
    for key, typ in (("method", str), ("rtol", (int, float)), ("atol", (int, float))):
        if key in sec:
            opts[key] = _typed(ctx, i, k, sec, key, typ)
    sim = _run(ctx, i, k, lambda: simulate(model, reg, times, params=params or None,
                                           covariates=covs or None, **opts))
    report.add_simulation(sim, title=_typed(ctx, i, k, sec, "title", str), outputs=outputs,
                          logy=_typed(ctx, i, k, sec, "logy", bool, False))


def _population(ctx: _Ctx, i: int, kind: str, sec: Mapping, model: Model) -> Any:
    from ..population import Population

    if "params" in sec and kind == "population":
        model = _with_params(ctx, i, kind, sec, model)
    iiv = _number_table(ctx, i, kind, sec, "iiv", model.param_names, "parameter")
    try:
        return Population(model, iiv)
    except (PkpdError, ValueError) as exc:
        raise ctx.err(i, kind, "iiv", str(exc)) from None


def _sec_population(report: Report, ctx: _Ctx, i: int, sec: Mapping) -> None:
    from ..population import simulate_population

    k = "population"
    model = _model(ctx, i, k, sec)
    pop = _population(ctx, i, k, sec, model)
    reg = _regimen(ctx, i, k, "regimen", sec["regimen"], model)
    times = _grid(ctx, i, k, sec, model)
    n = _n(ctx, i, k, sec, 100)
    seed = _seed(ctx, i, k, sec)
    pct = sec.get("percentiles", [5, 50, 95])
    if not (isinstance(pct, list) and pct and all(isinstance(q, int | float) and not isinstance(q, bool)
                                                  and 0 <= q <= 100 for q in pct)):
        raise ctx.err(i, k, "percentiles", f"must be a list of numbers in [0, 100], got {pct!r}")
    outputs = _names(ctx, i, k, sec, "outputs", model.output_names + model.state_names, "output")
    res = _run(ctx, i, k, lambda: simulate_population(pop, reg, times, n=n, rng=seed,
                                                      percentiles=pct))
    report.add_population(res, title=_typed(ctx, i, k, sec, "title", str), outputs=outputs,
                          logy=_typed(ctx, i, k, sec, "logy", bool, False), seed=seed,
                          settings={"regimen": reg.in_words(model.time_unit), "iiv (CV)": pop.iiv,
                                    "method": "auto", "rtol": 1e-6, "atol": 1e-9})


def _sec_fit(report: Report, ctx: _Ctx, i: int, sec: Mapping) -> None:
    from ..fit import run_fit

    k = "fit"
    ref = _typed(ctx, i, k, sec, "spec", str)
    path = ctx.path.parent / ref
    if not path.is_file():
        raise ctx.err(i, k, "spec", f"fit specification {path} does not exist (paths are "
                                    "relative to the report specification)")
    res = _run(ctx, i, k, lambda: run_fit(path, write=False))
    data, name = _fit_data(path)
    report.add_fit(res, title=_typed(ctx, i, k, sec, "title", str),
                   individual=_typed(ctx, i, k, sec, "individual", bool), data=data,
                   data_name=name)


def _fit_data(path: Path) -> tuple[pd.DataFrame | None, str]:
    """The raw dataset a fit specification names, read as :func:`pkpd.fit.run_fit` reads it."""
    from .. import datasets

    ref = tomllib.loads(path.read_text(encoding="utf-8")).get("dataset")
    if not isinstance(ref, str):
        return None, "dataset"
    if ref in datasets.list_datasets():
        return datasets.load(ref), f"dataset '{ref}'"
    p = Path(ref) if Path(ref).is_absolute() else path.parent / ref
    return pd.read_csv(p, na_values=["."]), f"dataset {ref}"


def _sec_sensitivity(report: Report, ctx: _Ctx, i: int, sec: Mapping) -> None:
    from .. import sensitivity

    k = "sensitivity"
    method = sec["method"]
    if method not in ("local", "sobol", "morris"):
        raise ctx.err(i, k, "method", f"must be 'local', 'sobol' or 'morris', got {method!r}")
    model = _model(ctx, i, k, sec)
    reg = _regimen(ctx, i, k, "regimen", sec["regimen"], model)
    times = _grid(ctx, i, k, sec, model)
    eps = _endpoints(ctx, i, k, sec, model)
    title = _typed(ctx, i, k, sec, "title", str)
    settings: dict[str, Any] = {"regimen": reg.in_words(model.time_unit)}
    if method == "local":
        for key in ("n", "seed", "iiv"):
            if key in sec:
                raise ctx.err(i, k, key, "applies to 'sobol' and 'morris' only")
        wrt = _names(ctx, i, k, sec, "params", model.param_names, "parameter")
        outputs = _names(ctx, i, k, sec, "outputs", model.output_names + model.state_names,
                         "output")
        res = _run(ctx, i, k, lambda: sensitivity.local_sensitivity(
            model, reg, times, wrt=wrt, outputs=outputs, endpoints=eps))
        settings |= {"method": "auto", "rtol": 1e-8, "atol": 1e-10}
        report.add_sensitivity(res, title=title, settings=settings)
        return
    if not eps:
        raise ctx.err(i, k, "endpoint", f"method '{method}' needs an endpoint (or endpoints), e.g. "
                                        "{ metric = \"ctrough\", output = \"bcells\", time = \"24 w\" }")
    ranges = _typed(ctx, i, k, sec, "params", dict)
    if not ranges:
        raise ctx.err(i, k, "params", f"method '{method}' needs a table of parameter ranges, "
                                      "e.g. { EC50 = [0.002, 0.02] }")
    space = {}
    for name, r in ranges.items():
        if name not in model.param_names + model.covariate_names:
            raise ctx.err(i, k, "params", f"'{name}' is not a parameter or covariate"
                                          f"{closest(name, list(model.param_names))}")
        if not (isinstance(r, list) and len(r) == 2 and all(isinstance(x, int | float)
                                                            and not isinstance(x, bool) for x in r)):
            raise ctx.err(i, k, "params", f"'{name}' must be a range [low, high], got {r!r}")
        space[name] = (float(r[0]), float(r[1]))
    seed = _seed(ctx, i, k, sec)
    pop = _population(ctx, i, k, sec, model) if "iiv" in sec else None
    fn = sensitivity.sobol if method == "sobol" else sensitivity.morris
    n = _n(ctx, i, k, sec, 256 if method == "sobol" else 20)
    res = _run(ctx, i, k, lambda: fn(model, reg, times, params=space, qoi=eps, n=n,
                                     population=pop, rng=seed))
    settings |= {"model": model, "ranges": space, "n": n, "method (solver)": "auto",
                 "rtol": 1e-6, "atol": 1e-9}
    if pop is not None:
        settings["iiv (CV) of the other parameters"] = pop.iiv
    report.add_sensitivity(res, title=title or f"Sensitivity ({method}): {model.name}", seed=seed,
                           settings=settings)


def _sec_dose_response(report: Report, ctx: _Ctx, i: int, sec: Mapping) -> None:
    k = "dose_response"
    from ..dose_response import dose_response, trough
    model = _model(ctx, i, k, sec)
    if "params" in sec:
        model = _with_params(ctx, i, k, sec, model)
    regs = _typed(ctx, i, k, sec, "regimens", dict)
    if not regs:
        raise ctx.err(i, k, "regimens", "must be a table name -> regimen notation with at least "
                                        "one entry")
    for name, text in regs.items():  # checked here so that errors name the key
        _regimen(ctx, i, k, f"regimens.{name}", text, model)
    times = _grid(ctx, i, k, sec, model)
    tab = _typed(ctx, i, k, sec, "endpoints", dict)
    if not tab:
        raise ctx.err(i, k, "endpoints", "must be a table name -> endpoint, e.g. endpoints.trough "
                                         "= { metric = \"trough\", output = \"bcells\" }")
    extra = {"trough": trough}
    eps = {name: _endpoint(ctx, i, k, f"endpoints.{name}", e, model, extra)
           for name, e in tab.items()}
    pop = _population(ctx, i, k, sec, model)
    n = _n(ctx, i, k, sec, 100)
    seed = _seed(ctx, i, k, sec)
    targets = _targets(ctx, i, k, sec, list(eps))
    kinds = _names(ctx, i, k, sec, "plots", ("endpoint", "timecourse", "target"), "plot kind")
    x = _typed(ctx, i, k, sec, "x", str, "dose")
    outputs = _names(ctx, i, k, sec, "outputs", model.output_names + model.state_names, "output")
    res = _run(ctx, i, k, lambda: dose_response(pop, regs, times, endpoints=eps, n=n,
                                                   rng=seed, targets=targets or None))
    if x not in res.design.columns or x in ("regimen", "dose_unit"):
        cols = [c for c in res.design.columns if c not in ("regimen", "dose_unit")]
        raise ctx.err(i, k, "x", f"must be one of {', '.join(cols)}, got {x!r}")
    curve, fit_ep = None, None
    if "fit" in sec:
        opts = _typed(ctx, i, k, sec, "fit", dict)
        allowed = ("endpoint", "model", "on")
        for key in opts:
            if key not in allowed:
                raise ctx.err(i, k, f"fit.{key}", f"unknown{closest(key, list(allowed))}; 'fit' "
                                                  f"takes: {', '.join(allowed)} (x is the "
                                                  "section's 'x')")
        fit_ep = opts.get("endpoint", next(iter(eps)))
        if fit_ep not in eps:
            raise ctx.err(i, k, "fit.endpoint", f"names no endpoint{closest(str(fit_ep), list(eps))}; "
                                                f"endpoints are: {', '.join(eps)}")
        kw = {key: opts[key] for key in ("model", "on") if key in opts}
        curve = _run(ctx, i, k, lambda: res.fit(fit_ep, x, **kw))
    report.add_dose_response(res, title=_typed(ctx, i, k, sec, "title", str), model=model,
                             seed=seed, kinds=kinds or ("endpoint", "timecourse", "target"),
                             x=x, fit=curve, fit_endpoint=fit_ep, outputs=outputs,
                             logy=_typed(ctx, i, k, sec, "logy", bool, False),
                             settings={"grid": f"{len(times)} times, {times[0]:g} to "
                                               f"{times[-1]:g} {model.time_unit}"})


def _targets(ctx: _Ctx, i: int, kind: str, sec: Mapping,
             names: Sequence[str]) -> dict[str, Any]:
    """``targets = { trough = "< 10" }`` (or ``["<", 10]``, or ``{ below = 10 }``)."""
    tab = _typed(ctx, i, kind, sec, "targets", dict, {})
    out: dict[str, Any] = {}
    for label, t in tab.items():
        key = f"targets.{label}"
        if label not in names:
            raise ctx.err(i, kind, key, f"names no endpoint{closest(label, list(names))}; "
                                        f"endpoints are: {', '.join(names)}")
        if isinstance(t, dict) and len(t) == 1 and set(t) <= {"below", "above"}:
            (side, v), = t.items()
            t = ["<" if side == "below" else ">", v]
        if isinstance(t, str):
            m = re.fullmatch(r"\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*", t)
            try:
                t = [m.group(1), float(m.group(2))] if m else None
            except ValueError:
                t = None
            if t is None:
                raise ctx.err(i, kind, key, f"must be a comparison with a number such as \"< 10\" "
                                            f"(<, <=, >, >=), got {tab[label]!r}")
        if not (isinstance(t, list) and len(t) == 2 and t[0] in ("<", "<=", ">", ">=")
                and isinstance(t[1], int | float) and not isinstance(t[1], bool)):
            raise ctx.err(i, kind, key, "must be a comparison such as \"< 10\", [\"<\", 10] or "
                                        f"{{ below = 10 }}, got {tab[label]!r}")
        out[label] = (t[0], float(t[1]))
    return out


_HANDLERS: dict[str, Callable[[Report, _Ctx, int, Mapping], None]] = {
    "text": _sec_text,
    "model": _sec_model,
    "simulate": _sec_simulate,
    "population": _sec_population,
    "fit": _sec_fit,
    "sensitivity": _sec_sensitivity,
    "dose_response": _sec_dose_response,
}
