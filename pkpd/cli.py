"""The ``pkpd`` command: list, show, simulate, fit, analyse and report models from a shell.

Subcommands (``pkpd COMMAND --help`` shows each one's options and examples)::

    pkpd models                                     the model library
    pkpd show MODEL                                 equations, parameters, regimens
    pkpd simulate MODEL --regimen TEXT --until T    time courses to CSV or a table
    pkpd fit fits/NAME.toml                         run a fit specification
    pkpd sensitivity MODEL --method sobol ...       local, Sobol, Morris or FAST
    pkpd report SPEC -o report.html                 a self-contained HTML report

``MODEL`` is a library name (``pkpd models``) or a path to a ``.pkpd`` file.
Regimens use the compact notation of :mod:`pkpd.notation`
(``"600 mg iv over 3.5 h every 24 w x 4"``) or name a regimen the model file
declares (``--regimen rms_600``). Durations are a number and a time unit
(``104w``, ``730 d``, ``12 h``, ``30 min``), converted to the model's time
unit; a bare number is already in the model's time unit.

Exit status: 0 on success, 2 for bad input (an unknown model, invalid regimen
text, a missing file, an invalid option value), 1 when a run fails (the
integrator gives up, a fit does not succeed). Errors are one line on stderr,
``pkpd: error: ...``; ``--debug`` shows the traceback instead.

Examples
--------
>>> from pkpd.cli import main
>>> main(["show", "pk_1cmt_iv", "--text"])  # doctest: +ELLIPSIS
name: pk_1cmt_iv
...
0
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import textwrap
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, metrics
from .endpoints_spec import ENDPOINTS, parse_endpoint_spec
from .errors import FitError, ModelError, PkpdError, RegimenError, SimulationError, closest
from .language import list_models, load_model
from .model import Model
from .notation import parse_duration, parse_times, regimen_for_model, regimen_from_model

__all__ = ["main", "build_parser", "parse_duration", "parse_times", "parse_endpoint", "ENDPOINTS"]

_EXIT_USAGE = 2
_EXIT_FAILURE = 1


class _Usage(ValueError):
    """Bad command-line input found after argparse (exit status 2)."""


# ===================================================================== parsing helpers
def _regimen(model: Model, text: str | None) -> Any:
    """The regimen of ``--regimen``: notation text, a named regimen of the model, or the default."""
    if text is None:
        if "regimen" not in dict(model.meta):
            raise RegimenError(f"model '{model.name}' declares no default regimen (a "
                               "'regimen:' header): give one with --regimen, e.g. "
                               "--regimen '100 mg iv'")
        return regimen_from_model(model)
    return regimen_for_model(model, text, label=f"--regimen {text!r}")


def _assignments(items: Sequence[str] | None, what: str) -> dict[str, str]:
    """``["CL=3", "V=40"]`` -> ``{"CL": "3", "V": "40"}`` (values still text)."""
    out: dict[str, str] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not name or (sep and not value):
            raise _Usage(f"{what} {item!r}: expected NAME=VALUE, e.g. {what} CL=3.5")
        if name in out:
            raise _Usage(f"{what} {name} is given twice")
        out[name] = value if sep else ""
    return out


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _Usage(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise _Usage(f"{what}: {text!r} is not a finite number")
    return value


def _values(model: Model, items: Sequence[str] | None, *, covariates: bool = False) -> dict:
    """``--param NAME=VALUE`` (or ``--covariate``) as numbers, names checked against the model."""
    what = "--covariate" if covariates else "--param"
    known = model.covariate_names if covariates else model.param_names
    out = {}
    for name, value in _assignments(items, what).items():
        if name not in known:
            kind = "covariate" if covariates else "parameter"
            raise ModelError(f"{what} {name}: model '{model.name}' has no {kind} '{name}'"
                             f"{closest(name, known)}; {kind}s are: {', '.join(known) or '(none)'}")
        if not value:
            raise _Usage(f"{what} {name}: give a value, e.g. {what} {name}=1.5")
        out[name] = _number(value, f"{what} {name}")
    return out


def parse_endpoint(spec: str, model: Model, *, last_dose: float = math.nan) -> metrics.Endpoint:
    """An endpoint from ``METRIC:OUTPUT[:KEY=VALUE,...]``, e.g. ``"ctrough:bcells:time=24w"``.

    ``METRIC`` is a key of :data:`ENDPOINTS`, ``KEY`` a keyword of that
    function; read by :func:`pkpd.endpoints_spec.parse_endpoint_spec` (time
    keywords take a duration such as ``24w``, nothing is evaluated).
    ``unit`` and ``time_unit`` default to the model's. For
    ``time_to_recovery``, ``after`` defaults to ``last_dose``.

    Raises
    ------
    ValueError
        Naming the part of ``spec`` that is wrong (a
        :class:`~pkpd.errors.SpecError`, or a :class:`~pkpd.errors.ModelError`
        for an unknown output).

    Examples
    --------
    >>> from pkpd import load_model
    >>> parse_endpoint("auc:conc:start=0,end=1d", load_model("pk_1cmt_iv"))
    <Endpoint 'AUC(conc, 0-24)' [mg/L*h] of 'conc'>
    """
    return parse_endpoint_spec(spec, model, last_dose=last_dose,
                               where=f"--endpoint {spec!r}").endpoint


def _solver_options(args: argparse.Namespace, method: str) -> dict[str, Any]:
    """Integrator keywords: the method and the tolerances given on the command line."""
    kw: dict[str, Any] = {"method": method}
    kw |= {k: getattr(args, k) for k in ("rtol", "atol") if getattr(args, k) is not None}
    return kw


def _nice_step(span: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving at most 500 intervals over ``span``."""
    raw = span / 500.0
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-12))


def _time_grid(model: Model, args: argparse.Namespace) -> np.ndarray:
    """Output times from ``--times`` or ``--until``/``--step``, in the model's time unit."""
    tu = model.time_unit
    if args.times:
        if args.until or args.step:
            raise _Usage("give either --times or --until/--step, not both")
        times = parse_times(" ".join(args.times), tu, what="--times")
        if np.any(np.diff(times) <= 0):
            raise _Usage("--times must be increasing, e.g. --times 0 1 2 4 8 24 h")
        return times
    if not args.until:
        raise _Usage("give the end of the simulation with --until (e.g. --until 24h or "
                     "--until 104w), or the output times with --times")
    for opt, v in (("--until", args.until), ("--step", args.step)):
        if v and v.lstrip().startswith("-"):
            raise _Usage(f"{opt} {v!r} must be positive")
    until = parse_duration(args.until, tu, what="--until")
    if until <= 0:
        raise _Usage(f"--until {args.until!r} must be after time 0")
    step = parse_duration(args.step, tu, what="--step") if args.step else _nice_step(until)
    if step <= 0:
        raise _Usage(f"--step {args.step!r} must be positive")
    n = math.floor(until / step + 1e-9)
    if n > 10_000_000:
        raise _Usage(f"--step {args.step!r} gives {n} time points; use a larger step")
    # Round k*step to the step's precision, so that 0.05*3 is written as 0.15.
    grid = np.round(step * np.arange(n + 1), max(0, 9 - math.floor(math.log10(step))))
    if until - grid[-1] > 1e-9 * until:
        grid = np.append(grid, until)
    return grid


# ===================================================================== commands
def _width() -> int:
    return max(60, shutil.get_terminal_size((100, 24)).columns)


def _cmd_models(args: argparse.Namespace) -> int:
    names = list_models()
    if not names:
        print("the model library is empty (see PKPD_MODEL_PATH)")
        return 0
    rows = []
    for name in names:
        try:
            m = load_model(name)
            rows.append((name, m.time_unit or "?", m.description or "(no description)"))
        except PkpdError as exc:
            rows.append((name, "?", f"(invalid model file: {_one_line(exc)})"))
    wn = max(len("name"), *(len(r[0]) for r in rows))
    wt = max(len("time"), *(len(r[1]) for r in rows))
    room = _width() - wn - wt - 4
    print(f"{'name':<{wn}}  {'time':<{wt}}  description")
    for name, tu, desc in rows:
        if not args.full and len(desc) > room:
            desc = desc[: max(room - 3, 10)].rstrip() + "..."
        print(f"{name:<{wn}}  {tu:<{wt}}  {desc}")
    print(f"\n{len(rows)} models; 'pkpd show NAME' for details")
    return 0


def _sections(text: str) -> list[tuple[str, list[str]]]:
    """The ``[section]`` blocks of model text, in order."""
    out: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            out.append((stripped[1:-1], []))
        elif out and stripped:
            out[-1][1].append(line)
    return out


def _cmd_show(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    text = model.to_text()
    if args.text:
        print(text, end="")
        return 0
    width = _width()

    def wrap(label: str, value: str) -> None:
        print(textwrap.fill(value, width, initial_indent=f"{label:<13}",
                            subsequent_indent=" " * 13))

    print(model.name)
    if model.description:
        wrap("description", model.description)
    wrap("time unit", model.time_unit or "(none)")
    if model.dose_target:
        wrap("doses into", model.dose_target)
    for source in model.sources:
        wrap("source", source)
    for key, value in model.meta:
        if not key.startswith("regimen"):
            wrap(key, value)
    titles = {"parameters": "Parameters  (name = value [unit] (bounds)  # meaning; source)",
              "covariates": "Covariates  (name = reference value [unit])",
              "states": "States  (name = initial value [unit])",
              "equations": "Equations",
              "outputs": "Outputs  (name = expression [unit])"}
    for section, lines in _sections(text):
        print(f"\n{titles.get(section, section)}")
        for line in lines:
            print("  " + line)
    keys = [k for k, _ in model.meta if k == "regimen" or k.startswith("regimen.")]
    if keys:
        print("\nRegimens  (pkpd simulate MODEL --regimen NAME)")
        meta = dict(model.meta)
        for key in keys:
            name = "default" if key == "regimen" else key.split(".", 1)[1]
            print(f"  {name}: {meta[key]}")
            try:
                words = regimen_from_model(model, key).in_words(model.time_unit)
            except PkpdError as exc:
                words = f"INVALID: {_one_line(exc)}"
            print(textwrap.indent(words, "      "))
    return 0


def _write_frame(frame: Any, out: str | None, what: str) -> None:
    if out == "-":
        frame.to_csv(sys.stdout, index=False)
        return
    path = Path(out)  # type: ignore[arg-type]
    if path.parent != Path() and not path.parent.is_dir():
        raise FileNotFoundError(f"-o {out}: directory '{path.parent}' does not exist")
    frame.to_csv(path, index=False)
    print(f"wrote {what} ({len(frame)} rows) to {path}")


def _cmd_simulate(args: argparse.Namespace) -> int:
    from .simulate import simulate

    model = load_model(args.model)
    params = _values(model, args.param)
    covs = _values(model, args.covariate, covariates=True)
    if params:
        model = model.with_params(params)
    regimen = _regimen(model, args.regimen)
    times = _time_grid(model, args)
    kw = _solver_options(args, args.method)
    sim = simulate(model, regimen, times, covariates=covs or None, **kw)
    frame = sim.to_frame()
    if args.output:
        _write_frame(frame, args.output, "the simulation")
        return 0
    print(repr(sim))
    print("regimen: " + regimen.in_words(model.time_unit).replace("\n", "\n         "))
    if params or covs:
        print("values:  " + ", ".join(f"{k}={v:g}" for k, v in {**params, **covs}.items()))
    print(frame.to_string(index=False, max_rows=args.rows, min_rows=min(args.rows, 20),
                          float_format=lambda v: f"{v:.6g}"))
    return 0


def _spec_name(path: Path) -> str:
    """The ``name`` of a fit specification (``run_fit`` names its files after it)."""
    spec = tomllib.loads(path.read_text(encoding="utf-8"))
    return str(spec.get("name", path.stem))


def _cmd_fit(args: argparse.Namespace) -> int:
    from .fit import run_fit

    failed = []
    for spec in args.spec:
        path = Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"fit specification '{spec}' does not exist")
        try:
            name = _spec_name(path)
        except tomllib.TOMLDecodeError as exc:
            raise _Usage(f"{spec}: invalid TOML: {exc}") from None
        out = Path(args.output) if args.output else path.parent
        result = run_fit(path, out)
        if len(args.spec) > 1:
            print(f"==> {spec} <==")
        print(result.summary())
        print(f"\nestimates: {out / f'{name}.estimates.csv'}")
        print(f"summary:   {out / f'{name}.summary.txt'}")
        if not result.success:
            failed.append(spec)
    if failed:
        raise FitError("the fit did not succeed for " + ", ".join(failed)
                       + " (see the summary above)")
    return 0


def _sens_params(model: Model, items: Sequence[str] | None, method: str) -> dict[str, Any]:
    """``--param`` of the sensitivity command: ranges (global) or names and values (local)."""
    known = model.param_names + (model.covariate_names if method != "local" else ())
    out: dict[str, Any] = {}
    for name, value in _assignments(items, "--param").items():
        if name not in known:
            raise ModelError(f"--param {name}: model '{model.name}' has no parameter '{name}'"
                             f"{closest(name, known)}; parameters are: {', '.join(known)}")
        lo, colon, hi = value.partition(":")
        if method == "local":
            if colon:
                raise _Usage(f"--param {name}={value}: local sensitivity takes NAME (which "
                             "parameters to differentiate against) or NAME=VALUE (the point of "
                             "linearisation), not a range")
            out[name] = _number(value, f"--param {name}") if value else None
        else:
            if not colon:
                raise _Usage(f"--param {name}{'=' + value if value else ''}: {method} needs a "
                             f"range, e.g. --param {name}=LOW:HIGH")
            out[name] = (_number(lo, f"--param {name} low"), _number(hi, f"--param {name} high"))
    if method != "local" and not out:
        raise _Usage(f"{method} needs the parameters to vary: --param NAME=LOW:HIGH (repeat it)")
    return out


def _cmd_sensitivity(args: argparse.Namespace) -> int:
    from .sensitivity import fast, local_sensitivity, morris, sobol

    model = load_model(args.model)
    regimen = _regimen(model, args.regimen)
    params = _sens_params(model, args.param, args.method)
    parsed = [parse_endpoint_spec(e, model, last_dose=regimen.last_dose_time,
                                  where=f"--endpoint {e!r}") for e in args.endpoint or ()]
    endpoints = [e.endpoint for e in parsed]
    times = _time_grid(model, args)
    # A trough is read at the last grid time before its dose: put one just before it.
    pre = [e.keywords["time"] for e in parsed if e.metric == "ctrough"]
    for text, e in zip(args.endpoint or (), parsed, strict=True):
        if e.metric == "ctrough" and e.keywords["time"] > times[-1]:
            raise _Usage(f"--endpoint {text!r}: the dose time {e.keywords['time']:g} is after "
                         f"the end of the simulated times ({times[-1]:g}, --until); simulate "
                         "past it")
    if pre:
        eps = 1e-6 * (times[-1] - times[0])
        times = np.unique(np.concatenate([times, [t - eps for t in pre if t - eps > times[0]]]))
    kw = _solver_options(args, args.solver)
    if args.method == "local":
        values = {k: v for k, v in params.items() if v is not None}
        result = local_sensitivity(model, regimen, times, params=values or None,
                                   wrt=list(params) or None, endpoints=endpoints, **kw)
        print(result.summary())
        if endpoints:
            print()
            print(result.endpoint_frame().to_string(index=False,
                                                    float_format=lambda v: f"{v:.6g}"))
        frame = result.endpoint_frame() if endpoints else result.to_frame()
    else:
        if not endpoints:
            raise _Usage(f"{args.method} needs at least one --endpoint, e.g. "
                         f"--endpoint cmax:{(model.output_names or model.state_names)[0]}")
        seed = args.seed if args.seed is not None else int(np.random.default_rng().integers(2**31))
        run = {"sobol": sobol, "morris": morris, "fast": fast}[args.method]
        if args.n is not None:
            if args.n < 1:
                raise _Usage(f"-n must be a positive number of samples, got {args.n}")
            kw["n"] = args.n
        result = run(model, regimen, times, params=params, qoi=endpoints, rng=seed,
                     progress=not args.quiet, **kw)
        print(result.summary())
        print(f"seed {seed} (rerun with --seed {seed} to reproduce)")
        frame = result.to_frame()
    if args.output:
        _write_frame(frame, args.output, "the sensitivities")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    try:
        from .report import run_report
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.report":
            raise
        raise PkpdError("this installation of pkpd has no report module (pkpd.report)") from None
    path = run_report(args.spec, out=args.output)
    print(f"wrote the report to {path}")
    return 0


# ===================================================================== the parser
_FORMATTER = argparse.RawDescriptionHelpFormatter


def _epilog(*examples: str, note: str = "") -> str:
    text = "examples:\n" + "\n".join(f"  {e}" for e in examples)
    return text + (f"\n\n{note}" if note else "")


def _add_times(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("time grid (durations like 104w, 730 d, 12 h; bare numbers are in "
                             "the model's time unit)")
    g.add_argument("--until", metavar="T", help="end of the simulation, e.g. 104w or 24h")
    g.add_argument("--step", metavar="DT",
                   help="spacing of the output times (default: a round step giving <= 500)")
    g.add_argument("--times", nargs="+", metavar="T",
                   help="explicit output times instead, e.g. --times 0 1 2 4 8 24 h (a unit "
                        "applies to the numbers before it, as in 'at 0, 7, 14 d')")


def _add_solver(p: argparse.ArgumentParser, flag: str) -> None:
    g = p.add_argument_group("integrator")
    choices = ["auto", "nonstiff", "stiff"] + (["analytic"] if flag == "--method" else [])
    g.add_argument(flag, dest="solver" if flag == "--solver" else "method", default="auto",
                   choices=choices,
                   help="integration method (default: auto)")
    g.add_argument("--rtol", type=float, help="relative tolerance")
    g.add_argument("--atol", type=float, help="absolute tolerance")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``pkpd`` command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an error")
    parser = argparse.ArgumentParser(
        prog="pkpd", formatter_class=_FORMATTER,
        description="Pharmacodynamic ODE models of immunotherapy in multiple sclerosis: list, "
                    "show, simulate, fit and analyse them.",
        epilog=_epilog("pkpd models", "pkpd show ocrelizumab_bcell",
                       'pkpd simulate ocrelizumab_bcell --regimen "600 mg iv over 3.5 h every '
                       '24 w x 4" --until 104w -o out.csv',
                       "pkpd fit fits/theoph_pooled.toml",
                       "pkpd sensitivity pk_1cmt_iv --method local --regimen '100 mg iv' --until 24h "
                       "--endpoint cmax:conc",
                       "pkpd report reports/anti_cd20.toml -o report.html",
                       note="'pkpd COMMAND --help' describes each command. Exit status: 0 ok, "
                            "1 a run failed, 2 bad input."))
    parser.add_argument("--version", action="version", version=f"pkpd {__version__}")
    parser.add_argument("--debug", action="store_true", default=False,
                        help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help: str, epilog: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".",
                              epilog=epilog, formatter_class=_FORMATTER, parents=[common])

    p = command("models", "list the model library",
                _epilog("pkpd models", "pkpd models --full",
                        note="The library is models/*.pkpd plus the directories in the "
                             "PKPD_MODEL_PATH environment variable."))
    p.add_argument("--full", action="store_true", help="do not shorten the descriptions")
    p.set_defaults(run=_cmd_models)

    p = command("show", "show a model: description, sources, parameters, equations, regimens",
                _epilog("pkpd show pk_1cmt_iv", "pkpd show models/ocrelizumab_bcell.pkpd",
                        "pkpd show pk_2cmt_oral --text > my_model.pkpd"))
    p.add_argument("model", metavar="MODEL", help="library name or path to a .pkpd file")
    p.add_argument("--text", action="store_true", help="print the canonical model text only")
    p.set_defaults(run=_cmd_show)

    p = command("simulate", "simulate a model under a regimen; write time, states and outputs",
                _epilog('pkpd simulate pk_1cmt_iv --regimen "100 mg iv" --until 24h',
                        'pkpd simulate pk_1cmt_iv --regimen "100 mg iv over 1 h every 12 h x 6" '
                        "--until 3d --step 0.5h --param CL=3.5 -o conc.csv",
                        'pkpd simulate ocrelizumab_bcell --regimen "600 mg iv over 3.5 h every '
                        '24 w x 4" --until 104w -o out.csv',
                        "pkpd simulate ocrelizumab_bcell --regimen extended_interval "
                        "--until 120w --covariate WT=90",
                        "pkpd simulate ofatumumab_bcell --times 0 1 2 4 8 12 24 52 w",
                        note="REGIMEN is the compact notation of the README, e.g. '300 mg iv "
                             "over 2.5 h at 0, 14 d; 600 mg iv over 3.5 h every 24 w x 4 from 24 "
                             "w', or the name of a regimen the model file declares (see pkpd "
                             "show MODEL). Without --regimen the model's 'regimen:' header is "
                             "used."))
    p.add_argument("model", metavar="MODEL", help="library name or path to a .pkpd file")
    p.add_argument("--regimen", "-r", metavar="REGIMEN",
                   help="dosing in the regimen notation, or a regimen name of the model file")
    _add_times(p)
    p.add_argument("--param", "-p", action="append", metavar="NAME=VALUE",
                   help="parameter value (repeat for several)")
    p.add_argument("--covariate", "-c", action="append", metavar="NAME=VALUE",
                   help="covariate value (repeat for several)")
    _add_solver(p, "--method")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write CSV (time, states, outputs) to FILE ('-' for stdout) instead of "
                        "printing a table")
    p.add_argument("--rows", type=int, default=40, metavar="N",
                   help="rows of the printed table before it is shortened (default: 40)")
    p.set_defaults(run=_cmd_simulate)

    p = command("fit", "run fit specifications (fits/NAME.toml) and write the estimates",
                _epilog("pkpd fit fits/theoph_pooled.toml",
                        "pkpd fit fits/warfarin_pkpd.toml -o results/",
                        "pkpd fit fits/*.toml -o results/",
                        note="Writes NAME.estimates.csv and NAME.summary.txt next to the "
                             "specification, or into DIR with -o. The format of a "
                             "specification: fits/README.md (and pkpd.run_fit)."))
    p.add_argument("spec", nargs="+", metavar="SPEC", help="fit specification (.toml)")
    p.add_argument("-o", "--output", metavar="DIR", help="directory for the result files")
    p.set_defaults(run=_cmd_fit)

    p = command("sensitivity", "local or global sensitivity of endpoints to parameters",
                _epilog("pkpd sensitivity pk_1cmt_iv --method local --regimen '100 mg iv' "
                        "--until 24h --endpoint cmax:conc --endpoint auc:conc",
                        "pkpd sensitivity ocrelizumab_bcell --method sobol --until 200w "
                        "--param kout=0.001:0.004 --param EC50=0.002:0.02 --param kkill=1:3 "
                        "--endpoint time_to_recovery:bcells:threshold=40 -n 256 --seed 1 "
                        "-o sobol.csv",
                        "pkpd sensitivity ocrelizumab_bcell --method morris --until 104w "
                        "--param kout=0.001:0.004 --param hill=1:4 "
                        "--endpoint ctrough:bcells:time=24w --endpoint nadir:bcells",
                        note="ENDPOINT is METRIC:OUTPUT[:KEY=VALUE,...]. Metrics: "
                             + ", ".join(ENDPOINTS) + ". Keys are the keywords of the "
                             "function of the same name in pkpd.metrics (e.g. start, end, time, "
                             "threshold, after); times take units (24w, 168 d). "
                             "time_to_recovery's 'after' defaults to the last dose; a trough "
                             "is read just before its dose time.\n"
                             "--param is NAME=LOW:HIGH (uniform range) for sobol, morris and "
                             "fast; NAME (differentiate against it) or NAME=VALUE (and set "
                             "its value) for local, where the default is every parameter."))
    p.add_argument("model", metavar="MODEL", help="library name or path to a .pkpd file")
    p.add_argument("--method", "-m", default="local", choices=["local", "sobol", "morris", "fast"],
                   help="analysis (default: local)")
    p.add_argument("--param", "-p", action="append", metavar="NAME[=LOW:HIGH]",
                   help="parameter to study (repeat for several)")
    p.add_argument("--endpoint", "-e", action="append", metavar="ENDPOINT",
                   help="endpoint, e.g. cmax:conc or ctrough:bcells:time=24w (repeatable)")
    p.add_argument("--regimen", "-r", metavar="REGIMEN",
                   help="dosing in the regimen notation, or a regimen name of the model file")
    _add_times(p)
    p.add_argument("-n", type=int, metavar="N",
                   help="sobol: base sample size (power of 2); morris: trajectories; fast: "
                        "runs per parameter")
    p.add_argument("--seed", type=int, metavar="S", help="random seed (default: a fresh one, "
                                                         "printed)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    _add_solver(p, "--solver")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the indices (global) or sensitivities (local) as CSV")
    p.set_defaults(run=_cmd_sensitivity)

    p = command("report", "write a self-contained HTML report from a report specification",
                _epilog("pkpd report reports/anti_cd20.toml -o report.html"))
    p.add_argument("spec", metavar="SPEC", help="report specification")
    p.add_argument("-o", "--output", metavar="FILE", help="the HTML file to write")
    p.set_defaults(run=_cmd_report)
    return parser


# ===================================================================== entry point
def _one_line(exc: BaseException) -> str:
    lines = [str(exc), *getattr(exc, "__notes__", ())]
    return "; ".join(s.strip() for line in lines for s in str(line).splitlines() if s.strip())


def _exit_code(exc: BaseException) -> int | None:
    """Exit status for an error reported in one line, or ``None`` for a bug (traceback)."""
    if isinstance(exc, SimulationError | FitError):
        return _EXIT_FAILURE
    if isinstance(exc, ValueError | FileNotFoundError):
        return _EXIT_USAGE  # includes ModelError, RegimenError, DataError, TOMLDecodeError
    if isinstance(exc, PkpdError | OSError):
        return _EXIT_FAILURE
    return None


def _attach_negative_values(argv: list[str]) -> list[str]:
    """``--step -1h`` -> ``--step=-1h``: argparse takes a value starting with '-' for an
    option ("expected one argument"); attached, it reaches our parser, which says what
    is wrong with it."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else ""
        if a in ("--step", "--until") and len(nxt) > 1 and nxt[0] == "-" and (
                nxt[1].isdigit() or nxt[1] == "."):
            out.append(f"{a}={nxt}")
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pkpd`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments after the program name, e.g. ``["show", "pk_1cmt_iv"]``.

    Returns
    -------
    int
        0 on success, 1 when a run fails, 2 for bad input (argparse's usage
        errors included).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(_attach_negative_values(
            list(sys.argv[1:] if argv is None else argv)))
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if getattr(args, "run", None) is None:
        parser.print_help(sys.stderr)
        return _EXIT_USAGE
    try:
        return int(args.run(args))
    except BrokenPipeError:  # e.g. `pkpd simulate ... | head`: stop quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Python's documented recipe
        return 0
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("pkpd: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        code = _exit_code(exc)
        if args.debug or code is None:
            raise
        print(f"pkpd: error: {_one_line(exc)}", file=sys.stderr)
        return code
