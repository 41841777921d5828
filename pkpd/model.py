"""The symbolic model: parameters, covariates, states, equations and outputs.

A :class:`Model` is a frozen value. It is validated once, at construction,
and never changes afterwards: :meth:`Model.with_params` returns a new model.
Models are built either in Python from sympy expressions or from model text
(:func:`pkpd.parse_model`); both give equal values.

Examples
--------
>>> import sympy as sp
>>> from pkpd import Model, Param, State, Output
>>> ka, CL, V, depot, central = sp.symbols("ka CL V depot central")
>>> m = Model(
...     name="oral_1cmt",
...     params=[Param("ka", 1.5, "1/h", 0, 50), Param("CL", 2.8, "L/h", 0), Param("V", 32, "L", 0)],
...     states=[State("depot", 0, "mg"), State("central", 0, "mg")],
...     odes={"depot": -ka * depot, "central": ka * depot - CL / V * central},
...     outputs=[Output("conc", central / V, "mg/L")],
...     dose_target="depot",
... )
>>> m.param_names
('ka', 'CL', 'V')
>>> m.with_params(CL=3.0).params[1].value
3.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from numbers import Real
from typing import Any

import sympy as sp

from .errors import ModelError, closest

__all__ = ["Model", "Param", "Covariate", "State", "Output", "T", "RESERVED_NAMES"]

#: The time symbol available in every model's equations.
T = sp.Symbol("t")

#: Names a user may not give to a parameter, covariate, state, assignment or output.
RESERVED_NAMES = frozenset(
    {
        "t", "time", "exp", "log", "log10", "sqrt", "abs", "min", "max", "if", "ifelse",
        "sin", "cos", "tan", "atan", "tanh", "pi", "inf", "nan", "and", "or", "not",
        "F", "lag", "d", "dt", "True", "False", "None", "lambda",
    }
)

# sympy function classes the compiler knows how to generate code for.
_ALLOWED_FUNCS = (
    sp.exp, sp.log, sp.Abs, sp.Min, sp.Max, sp.Piecewise, sp.sin, sp.cos, sp.tan,
    sp.atan, sp.tanh,
)


def _check_number(name: str, v: Any, what: str) -> None:
    """A value given for a parameter or covariate must be a real number (not text or a bool,
    which ``float()`` would quietly convert)."""
    if isinstance(v, bool) or not isinstance(v, Real):
        raise ModelError(f"{what} '{name}' must be a number, got {v!r} "
                         f"({type(v).__name__})")


def _finite(x: float) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


@dataclass(frozen=True, slots=True)
class Param:
    """A model parameter.

    Parameters
    ----------
    name : str
        Identifier used in the equations.
    value : float
        Typical value, in ``unit``.
    unit : str
        Unit, e.g. ``"L/day"``; free text, not checked.
    lower, upper : float
        Bounds (``-inf``/``inf`` for none). Fitting uses them as default bounds.
    description : str
        One line saying what it is and where its value comes from.
    """

    name: str
    value: float
    unit: str = ""
    lower: float = -math.inf
    upper: float = math.inf
    description: str = ""

    def __post_init__(self) -> None:
        for attr in ("value", "lower", "upper"):
            v = getattr(self, attr)
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ModelError(f"parameter '{self.name}': {attr} must be a number, got {v!r}")
            object.__setattr__(self, attr, float(v))


@dataclass(frozen=True, slots=True)
class Covariate:
    """A covariate (subject characteristic), with a default (reference) value."""

    name: str
    value: float
    unit: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            raise ModelError(f"covariate '{self.name}': value must be a number, got {self.value!r}")
        object.__setattr__(self, "value", float(self.value))


@dataclass(frozen=True, slots=True)
class State:
    """A state variable (an amount or a count) and its initial value.

    ``init`` is an expression of parameters and covariates (e.g. ``B0``).
    """

    name: str
    init: Any = 0
    unit: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "init", _to_expr(self.init, f"initial value of state '{self.name}'"))


@dataclass(frozen=True, slots=True)
class Output:
    """A named model output (what is observed), e.g. ``conc = central/V1``."""

    name: str
    expr: Any
    unit: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "expr", _to_expr(self.expr, f"output '{self.name}'"))


def _to_expr(value: Any, what: str) -> sp.Expr:
    if isinstance(value, str):
        raise ModelError(
            f"{what} is the string {value!r}; give a sympy expression or a number "
            "(text is never evaluated; use pkpd.parse_model for model text)"
        )
    if isinstance(value, bool):
        raise ModelError(f"{what} must be an expression or a number, got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ModelError(f"{what} is not finite: {value!r}")
        return sp.Integer(value) if isinstance(value, int) else sp.Float(value)
    if isinstance(value, sp.Basic):
        return _canonical_symbols(value)
    raise ModelError(f"{what} must be a sympy expression or a number, got {type(value).__name__}")


def _canonical_symbols(expr: sp.Basic) -> sp.Basic:
    """Replace symbols carrying assumptions by plain symbols of the same name."""
    subs = {s: sp.Symbol(s.name) for s in expr.free_symbols if s != sp.Symbol(s.name)}
    return expr.xreplace(subs) if subs else expr


def _pairs(value: Any, what: str) -> tuple[tuple[str, sp.Expr], ...]:
    items = value.items() if isinstance(value, Mapping) else value
    out = []
    for item in items:
        try:
            name, expr = item
        except (TypeError, ValueError):
            raise ModelError(f"{what}: expected (name, expression) pairs, got {item!r}") from None
        out.append((str(name), _to_expr(expr, f"{what} '{name}'")))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Model:
    """A compartmental ODE model, frozen and validated at construction.

    Parameters
    ----------
    name : str
        Short identifier, e.g. ``"ocrelizumab_bcell"``.
    params : sequence of Param
        Parameters, in order (the order of parameter vectors everywhere).
    states : sequence of State
        States, in order.
    odes : mapping state name -> expression
        ``d/dt(state)``; exactly one per state.
    assignments : mapping name -> expression
        Intermediate quantities (e.g. ``C = central/V1``); may use the time
        symbol ``t``, other assignments (no cycles), states, parameters and
        covariates.
    outputs : sequence of Output
        Named observable quantities.
    covariates : sequence of Covariate
        Subject characteristics with default values.
    bioavailability, lag : mapping state name -> expression
        ``F(state)`` (default 1) scales every dose into that state;
        ``lag(state)`` (default 0, in model time units) delays it.
    description : str
        What the model is.
    time_unit : str
        Unit of ``t``, e.g. ``"day"`` or ``"h"``.
    sources : sequence of str
        Literature the structure and values come from.
    dose_target : str or None
        Default state receiving doses.
    meta : mapping str -> str
        Further ``key: value`` header fields of the model file.
    """

    name: str
    params: tuple[Param, ...] = ()
    states: tuple[State, ...] = ()
    odes: tuple[tuple[str, sp.Expr], ...] = ()
    assignments: tuple[tuple[str, sp.Expr], ...] = ()
    outputs: tuple[Output, ...] = ()
    covariates: tuple[Covariate, ...] = ()
    bioavailability: tuple[tuple[str, sp.Expr], ...] = ()
    lag: tuple[tuple[str, sp.Expr], ...] = ()
    description: str = ""
    time_unit: str = ""
    sources: tuple[str, ...] = ()
    dose_target: str | None = None
    meta: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "params", tuple(self.params))
        set_(self, "states", tuple(self.states))
        set_(self, "outputs", tuple(self.outputs))
        set_(self, "covariates", tuple(self.covariates))
        set_(self, "odes", _pairs(self.odes, "ODE for state"))
        set_(self, "assignments", _pairs(self.assignments, "assignment"))
        set_(self, "bioavailability", _pairs(self.bioavailability, "F of state"))
        set_(self, "lag", _pairs(self.lag, "lag of state"))
        # Keep per-state equations in state order, so that equality (and the
        # text written by to_text) does not depend on the order of a mapping.
        rank = {getattr(s, "name", None): i for i, s in enumerate(self.states)}
        for attr in ("odes", "bioavailability", "lag"):
            pairs = getattr(self, attr)
            set_(self, attr, tuple(sorted(pairs, key=lambda p: rank.get(p[0], len(rank)))))
        set_(self, "sources", tuple(self.sources) if not isinstance(self.sources, str) else (self.sources,))
        meta = self.meta.items() if isinstance(self.meta, Mapping) else self.meta
        set_(self, "meta", tuple((str(k), str(v)) for k, v in meta))
        for kind, items in (("parameter", self.params), ("state", self.states),
                            ("output", self.outputs), ("covariate", self.covariates)):
            cls = {"parameter": Param, "state": State, "output": Output, "covariate": Covariate}[kind]
            for it in items:
                if not isinstance(it, cls):
                    raise ModelError(f"{kind}s must be {cls.__name__} values, got {it!r}")
        _validate(self)

    # ------------------------------------------------------------------ names
    @property
    def param_names(self) -> tuple[str, ...]:
        """Parameter names, in vector order."""
        return tuple(p.name for p in self.params)

    @property
    def state_names(self) -> tuple[str, ...]:
        """State names, in vector order."""
        return tuple(s.name for s in self.states)

    @property
    def output_names(self) -> tuple[str, ...]:
        """Output names, in order."""
        return tuple(o.name for o in self.outputs)

    @property
    def covariate_names(self) -> tuple[str, ...]:
        """Covariate names, in order."""
        return tuple(c.name for c in self.covariates)

    @property
    def param_values(self) -> dict[str, float]:
        """``{name: value}`` of the parameters."""
        return {p.name: p.value for p in self.params}

    @property
    def covariate_values(self) -> dict[str, float]:
        """``{name: default value}`` of the covariates."""
        return {c.name: c.value for c in self.covariates}

    def param(self, name: str) -> Param:
        """The parameter called ``name``."""
        for p in self.params:
            if p.name == name:
                return p
        raise ModelError(f"model '{self.name}' has no parameter '{name}'"
                         f"{closest(name, self.param_names)}; parameters are: "
                         + ", ".join(self.param_names))

    # ---------------------------------------------------------------- changes
    def with_params(self, values: Mapping[str, float] | None = None, /, **kw: float) -> Model:
        """Return a copy with new parameter values (validated against the bounds).

        Examples
        --------
        >>> from pkpd import load_model
        >>> m = load_model("pk_1cmt_oral").with_params(CL=3.0)
        >>> m.param("CL").value
        3.0
        """
        new = dict(values or {}, **kw)
        for name in new:
            self.param(name)
            _check_number(name, new[name], "parameter")
        params = tuple(Param(p.name, float(new[p.name]), p.unit, p.lower, p.upper, p.description)
                       if p.name in new else p for p in self.params)
        for p in params:
            if p.name in new:
                _check_param_value(p)
        return self._replace_values(params=params)

    def _replace_values(self, **changes: Any) -> Model:
        """Copy with new ``params`` or ``covariates`` whose only change is their values.

        The equations, names and structure were validated when this model was
        built and do not change, so the copy skips the full validation (which
        walks every expression and dominated the cost of a simulation with new
        parameter values); callers check the new values.
        """
        new = object.__new__(Model)
        for f in fields(Model):
            object.__setattr__(new, f.name, changes.get(f.name, getattr(self, f.name)))
        return new

    def with_covariates(self, values: Mapping[str, float] | None = None, /, **kw: float) -> Model:
        """Return a copy with new default covariate values."""
        new = dict(values or {}, **kw)
        for name in new:
            if name not in self.covariate_names:
                raise ModelError(f"model '{self.name}' has no covariate '{name}'"
                                 f"{closest(name, self.covariate_names)}")
        for name in new:
            if name in self.covariate_names:
                _check_number(name, new[name], "covariate")
        covs = tuple(replace(c, value=float(new[c.name])) if c.name in new else c for c in self.covariates)
        for c in covs:
            if not _finite(c.value):
                raise ModelError(f"covariate '{c.name}' has a non-finite value {c.value!r}")
        return self._replace_values(covariates=covs)

    # ------------------------------------------------------------ derived math
    def expanded(self) -> ExpandedModel:
        """Equations with every assignment substituted.

        Returns the right-hand sides, outputs, initial values, bioavailability
        and lag as expressions of the states, parameters, covariates and ``t``
        only. Used by the compiler and by the analytic solver.
        """
        return _expand(self)

    def to_text(self) -> str:
        """Model text that :func:`pkpd.parse_model` parses back to an equal model."""
        from .language import model_to_text

        return model_to_text(self)

    def content_hash(self) -> str:
        """SHA-256 of the canonical model text (keys the compile cache and reports)."""
        import hashlib

        return hashlib.sha256(self.to_text().encode()).hexdigest()

    def __repr__(self) -> str:
        return (f"<Model {self.name!r}: {len(self.states)} states, {len(self.params)} params, "
                f"{len(self.outputs)} outputs, time in {self.time_unit or '?'}>")


@dataclass(frozen=True, slots=True)
class ExpandedModel:
    """A model's equations in terms of states, parameters, covariates and ``t`` only."""

    states: tuple[sp.Symbol, ...]
    params: tuple[sp.Symbol, ...]
    covariates: tuple[sp.Symbol, ...]
    rhs: tuple[sp.Expr, ...]
    outputs: tuple[sp.Expr, ...]
    inits: tuple[sp.Expr, ...]
    bioavailability: tuple[sp.Expr, ...]
    lag: tuple[sp.Expr, ...]


# Model is slotted and frozen, so the expansion is memoised here, keyed by the
# (hashable) model value.
_EXPAND_CACHE: dict[Model, ExpandedModel] = {}


def _expand(model: Model) -> ExpandedModel:
    hit = _EXPAND_CACHE.get(model)
    if hit is not None:
        return hit
    order = _assignment_order(model)
    amap = dict(model.assignments)
    resolved: dict[sp.Symbol, sp.Expr] = {}
    for name in order:
        resolved[sp.Symbol(name)] = amap[name].xreplace(resolved)

    def sub(e: sp.Expr) -> sp.Expr:
        # Repeated xreplace resolves chains in one pass because `resolved` is
        # already closed under substitution (built in topological order).
        return e.xreplace(resolved)

    odes = dict(model.odes)
    fmap = dict(model.bioavailability)
    lmap = dict(model.lag)
    res = ExpandedModel(
        states=tuple(sp.Symbol(n) for n in model.state_names),
        params=tuple(sp.Symbol(n) for n in model.param_names),
        covariates=tuple(sp.Symbol(n) for n in model.covariate_names),
        rhs=tuple(sub(odes[n]) for n in model.state_names),
        outputs=tuple(sub(o.expr) for o in model.outputs),
        inits=tuple(sub(s.init) for s in model.states),
        bioavailability=tuple(sub(fmap.get(n, sp.Integer(1))) for n in model.state_names),
        lag=tuple(sub(lmap.get(n, sp.Integer(0))) for n in model.state_names),
    )
    if len(_EXPAND_CACHE) > 256:
        _EXPAND_CACHE.clear()
    _EXPAND_CACHE[model] = res
    return res


def _assignment_order(model: Model) -> list[str]:
    """Topological order of the assignments; raises ModelError on a cycle."""
    names = [n for n, _ in model.assignments]
    deps = {n: {s.name for s in e.free_symbols} & set(names) for n, e in model.assignments}
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            cyc = path[path.index(n):] + [n]
            raise ModelError("cycle among assignments: " + " -> ".join(cyc))
        state[n] = 1
        for d in sorted(deps[n]):
            visit(d, [*path, n])
        state[n] = 2
        order.append(n)

    for n in names:
        visit(n, [])
    return order


_MAX_DOUBLE = 1.7976931348623157e308


def _short(node: sp.Basic) -> str:
    text = sp.sstr(node)
    return text if len(text) <= 40 else text[:37] + "..."


def constant_problem(expr: sp.Basic) -> str | None:
    """Why a constant part of ``expr`` cannot be computed in double precision, or None.

    The compiled code works in doubles: a constant beyond their range (``10.0^5000``,
    ``1e300*1e300``) would become inf, and a constant that is not real (``(-8)^(1/3)``,
    which sympy keeps as ``2*(-1)^(1/3)``) has no real value.
    """
    stack = [expr]
    while stack:
        node = stack.pop()
        if not isinstance(node, sp.Expr) or isinstance(node, sp.logic.boolalg.Boolean):
            stack.extend(a for a in node.args if isinstance(a, sp.Basic))
            continue
        if node.free_symbols or not node.is_number:
            stack.extend(node.args)
            continue
        try:
            v = complex(node.evalf(20))
        except (TypeError, ValueError, OverflowError):
            return f"the constant {_short(node)} cannot be evaluated as a number"
        if not (math.isfinite(v.real) and math.isfinite(v.imag)) or abs(v.real) > _MAX_DOUBLE:
            return (f"the constant {_short(node)} is beyond the range of double precision "
                    "(~1.8e308)")
        if v.imag != 0 and abs(v.imag) > 1e-15 * max(1.0, abs(v.real)):
            return f"the constant {_short(node)} is not real ({v.real:.6g} + {v.imag:.6g}i)"
    return None


def _check_expr(expr: sp.Basic, known: Iterable[str], where: str) -> None:
    known = list(known)
    kset = set(known)
    for s in sorted(expr.free_symbols, key=lambda s: s.name):
        if s.name not in kset:
            raise ModelError(f"unknown symbol '{s.name}' in {where}{closest(s.name, known)}")
    for f in expr.atoms(sp.Function):
        if not isinstance(f, _ALLOWED_FUNCS):
            raise ModelError(f"function '{f.func.__name__}' in {where} is not supported; "
                             "use exp, log, log10, sqrt, abs, min, max, sin, cos, tan, atan, tanh or if()")
    for a in expr.atoms(sp.Number):
        if a.has(sp.zoo, sp.nan, sp.oo, -sp.oo) or (a.is_number and not a.is_finite):
            raise ModelError(f"non-finite number in {where}")
    if expr.has(sp.zoo, sp.nan, sp.oo):
        raise ModelError(f"non-finite value in {where}")
    problem = constant_problem(expr)
    if problem:
        raise ModelError(f"{where}: {problem}")


def _check_param_value(p: Param) -> None:
    if not (_finite(p.value)):
        raise ModelError(f"parameter '{p.name}' has a non-finite value {p.value!r}")
    if math.isnan(p.lower) or math.isnan(p.upper) or p.lower > p.upper:
        raise ModelError(f"parameter '{p.name}': bounds ({p.lower}, {p.upper}) are not ordered")
    if not (p.lower <= p.value <= p.upper):
        raise ModelError(f"parameter '{p.name}' = {p.value:g} is outside its bounds "
                         f"({p.lower:g}, {p.upper:g})")


def _validate(m: Model) -> None:
    import keyword

    if not isinstance(m.name, str) or not m.name:
        raise ModelError("a model needs a non-empty name")
    seen: dict[str, str] = {}
    groups = [
        ("parameter", [p.name for p in m.params]),
        ("covariate", [c.name for c in m.covariates]),
        ("state", [s.name for s in m.states]),
        ("assignment", [n for n, _ in m.assignments]),
        ("output", [o.name for o in m.outputs]),
    ]
    for kind, names in groups:
        for n in names:
            if not isinstance(n, str) or not n.isidentifier() or keyword.iskeyword(n):
                raise ModelError(f"{kind} name {n!r} is not a valid identifier")
            if n in RESERVED_NAMES:
                raise ModelError(f"{kind} name '{n}' is reserved; reserved names are: "
                                 + ", ".join(sorted(RESERVED_NAMES)))
            if n.startswith("_"):
                raise ModelError(f"{kind} name '{n}' may not start with an underscore")
            if n in seen:
                raise ModelError(f"name '{n}' is used twice (as {seen[n]} and as {kind})")
            seen[n] = kind
    if not m.states:
        raise ModelError(f"model '{m.name}' has no states")

    for p in m.params:
        _check_param_value(p)
    for c in m.covariates:
        if not _finite(c.value):
            raise ModelError(f"covariate '{c.name}' has a non-finite value {c.value!r}")

    state_names = [s.name for s in m.states]
    ode_names = [n for n, _ in m.odes]
    for n in ode_names:
        if n not in state_names:
            raise ModelError(f"ODE for unknown state '{n}'{closest(n, state_names)}; "
                             "declare it under [states]")
    dup = {n for n in ode_names if ode_names.count(n) > 1}
    if dup:
        raise ModelError(f"state '{sorted(dup)[0]}' has more than one ODE")
    for n in state_names:
        if n not in ode_names:
            raise ModelError(f"state '{n}' has no ODE; add d/dt({n}) = ...")

    pc = [p.name for p in m.params] + [c.name for c in m.covariates]
    anames = [n for n, _ in m.assignments]
    everything = pc + state_names + anames + ["t"]
    _assignment_order(m)
    for n, e in m.assignments:
        _check_expr(e, everything, f"assignment '{n}'")
    for n, e in m.odes:
        _check_expr(e, everything, f"d/dt({n})")
    for o in m.outputs:
        _check_expr(o.expr, everything, f"output '{o.name}'")
    for s in m.states:
        _check_expr(s.init, pc, f"initial value of state '{s.name}' "
                    "(initial values may use parameters and covariates)")
    for kind, pairs in (("F", m.bioavailability), ("lag", m.lag)):
        seen_t: set[str] = set()
        for n, e in pairs:
            if n not in state_names:
                raise ModelError(f"{kind}({n}) names an unknown state{closest(n, state_names)}")
            if n in seen_t:
                raise ModelError(f"{kind}({n}) is defined twice")
            seen_t.add(n)
            _check_expr(e, pc + anames, f"{kind}({n})")
    if m.dose_target is not None and m.dose_target not in state_names:
        raise ModelError(f"dose target '{m.dose_target}' is not a state"
                         f"{closest(m.dose_target, state_names)}")
    # F and lag may use assignments only if those do not depend on states or t.
    if m.bioavailability or m.lag:
        ex = _expand(m)
        bad = {sp.Symbol(n) for n in state_names} | {T}
        for kind, exprs in (("F", ex.bioavailability), ("lag", ex.lag)):
            for n, e in zip(state_names, exprs, strict=True):
                if e.free_symbols & bad:
                    raise ModelError(f"{kind}({n}) depends on states or time; it may use "
                                     "parameters and covariates only")
