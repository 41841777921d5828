"""Compile a symbolic model to fast callables.

:func:`compile_model` differentiates the model symbolically (Jacobian, parameter
derivatives, output derivatives, derivatives of initial values, bioavailability
and lag), eliminates common subexpressions, and generates one Python function
``model_fn(which, t, y, p, out)`` (see :mod:`pkpd.kernel` for the meaning of
``which``). With the ``"numba"`` backend this function is compiled by numba to
a C-callable function that the integration kernels call directly, so a whole
solve runs without entering Python. The ``"python"`` backend runs the same
generated source as plain Python (for debugging and as a fallback).

The parameter vector ``p`` holds the parameters in model order followed by the
covariates.

Compiled code is cached on disk, keyed by a hash of the model's equations (not
its parameter values, so models differing only in values share code). The
cache lives in ``$PKPD_CACHE_DIR`` or ``~/.cache/pkpd``. Each cache file
carries a checksum of its own text; a file that does not match is rebuilt,
never trusted, and a numba cache entry that fails to load is discarded and
rebuilt too.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from .errors import ModelError
from .model import Model, T

__all__ = ["CompiledModel", "compile_model", "cache_dir", "clear_cache"]

#: Bump when the generated code changes meaning, to invalidate old caches.
CODEGEN_VERSION = "3"

_LOCK = threading.Lock()
_MEMO: dict[Any, CompiledModel] = {}


def cache_dir() -> Path:
    """Directory of the on-disk compile cache."""
    base = os.environ.get("PKPD_CACHE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "pkpd"


def clear_cache() -> None:
    """Delete every compiled model in the on-disk cache and in memory."""
    _MEMO.clear()
    d = cache_dir()
    if d.exists():
        shutil.rmtree(d)


class _Printer(PythonCodePrinter):
    """Python code printer that names symbols by their vector slot."""

    def __init__(self, names: dict[sp.Symbol, str]):
        super().__init__({"fully_qualified_modules": True, "inline": True,
                          "allow_unknown_functions": False})
        self._names = names

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        try:
            return self._names[expr]
        except KeyError:
            return super()._print_Symbol(expr)

    def _print_Float(self, expr: sp.Float) -> str:
        return repr(float(expr))

    def _print_Rational(self, expr: sp.Rational) -> str:
        return f"({int(expr.p)}.0/{int(expr.q)}.0)"

    def _print_Integer(self, expr: sp.Integer) -> str:
        return f"{int(expr)}.0"

    def _print_Heaviside(self, expr: sp.Heaviside) -> str:
        x = self._print(expr.args[0])
        return f"(1.0 if ({x}) > 0 else (0.5 if ({x}) == 0 else 0.0))"

    def _print_DiracDelta(self, expr: sp.DiracDelta) -> str:
        return "0.0"  # second derivatives of min/max/abs: zero almost everywhere

    def _print_sign(self, expr: sp.sign) -> str:
        x = self._print(expr.args[0])
        return f"(0.0 if ({x}) == 0 else math.copysign(1.0, {x}))"


def _derivs(exprs: list[sp.Expr], wrt: list[sp.Symbol]) -> list[sp.Expr]:
    return [sp.diff(e, w) for e in exprs for w in wrt]


def _block(printer: _Printer, exprs: list[sp.Expr], indent: str) -> list[str]:
    """CSE + assignments of the non-zero entries of ``exprs`` to ``out[k]``."""
    idx = [k for k, e in enumerate(exprs) if e != 0]
    if not idx:
        return [indent + "pass"]
    reps, reduced = sp.cse([exprs[k] for k in idx], symbols=sp.numbered_symbols("_c"),
                           optimizations=None)
    lines = []
    for sym, e in reps:
        lines.append(f"{indent}{sym.name} = {printer.doprint(e)}")
    for k, e in zip(idx, reduced, strict=True):
        lines.append(f"{indent}out[{k}] = {printer.doprint(e)}")
    return lines


def _hoist(exprs: list[sp.Expr], pset: set[sp.Symbol]) -> tuple[list[sp.Expr],
                                                                  list[tuple[sp.Symbol, sp.Expr]]]:
    """Pull parameter-only subexpressions out of ``exprs``.

    Returns the rewritten expressions and the assignments ``(symbol, expr)`` of
    the hoisted parts, so that ``y/V`` becomes ``y*_h0`` with ``_h0 = 1/V``
    computed once (a multiplication is ~4 cycles, a division ~14 on the
    critical path of every stage), and constant groups such as ``kout*B0`` are
    computed once per step instead of once per stage.
    """
    memo: dict[sp.Expr, sp.Symbol] = {}
    assigns: list[tuple[sp.Symbol, sp.Expr]] = []

    def param_only(e: Any) -> bool:
        fs = e.free_symbols
        return bool(fs) and fs <= pset

    def name(e: sp.Expr) -> sp.Expr:
        if e.is_Symbol or e.is_Number:
            return e
        sym = memo.get(e)
        if sym is None:
            sym = sp.Symbol(f"_h{len(memo)}", real=True)
            memo[e] = sym
            assigns.append((sym, e))
        return sym

    def visit(e: Any) -> Any:
        if not isinstance(e, sp.Expr) or isinstance(e, sp.logic.boolalg.Boolean) or e.is_Atom:
            return e
        if param_only(e):
            return name(e)
        if isinstance(e, (sp.Add, sp.Mul)):
            inv = [a for a in e.args if param_only(a)]
            rest = [visit(a) for a in e.args if not param_only(a)]
            if inv:
                rest.append(name(e.func(*inv)))
            return e.func(*rest)
        if isinstance(e, sp.Piecewise):
            return e  # conditions and branches stay as written
        return e.func(*[visit(a) for a in e.args])

    return [visit(e) for e in exprs], assigns


def _tsit5_step_block(printer_names: dict[sp.Symbol, str], rhs: list[sp.Expr],
                      states: list[sp.Symbol], pset: set[sp.Symbol], tr: sp.Symbol,
                      indent: str) -> list[str]:
    """Generated code of one fused Tsitouras 5(4) step attempt (``which == 13``).

    The kernel's generic step calls the model once per stage; this block
    evaluates all six new stages, the 5th-order solution and the squared error
    norm in straight-line code on scalars, with the right-hand side inlined and
    its parameter-only parts hoisted (see :func:`_hoist`). Arguments: ``y`` is
    the kernel's Tsit5 work area (layout ``TSIT5_WORK`` in :mod:`pkpd.kernel`:
    ``h, rtol, atol, en2, z, k1..k7, znew, y6``), ``out`` the infusion rates. It
    writes ``k2..k7``, ``znew``, the stage-6 state ``y6`` (for the stiffness test) and ``en2`` (NaN when ``znew`` is not finite).
    """
    from . import kernel as K

    n = len(states)
    z0 = K.TSIT5_Z
    A = {2: [K._A21], 3: [K._A31, K._A32], 4: [K._A41, K._A42, K._A43],
         5: [K._A51, K._A52, K._A53, K._A54], 6: [K._A61, K._A62, K._A63, K._A64, K._A65],
         7: [K._A71, K._A72, K._A73, K._A74, K._A75, K._A76]}
    C = {2: K._C2, 3: K._C3, 4: K._C4, 5: K._C5, 6: 1.0, 7: 1.0}
    E = [K._E1, K._E2, K._E3, K._E4, K._E5, K._E6, K._E7]
    body, hoisted = _hoist(rhs, pset)
    reps, reduced = sp.cse(body, symbols=sp.numbered_symbols("_c"), optimizations=None)
    base = _Printer(printer_names)
    L = [f"{indent}h = y[0]", f"{indent}rtol = y[1]", f"{indent}atol = y[2]"]
    L += [f"{indent}{sym.name} = {base.doprint(e)}" for sym, e in hoisted]
    for s_, coefs in A.items():
        for j, a in enumerate(coefs, start=1):
            L.append(f"{indent}_a{s_}{j} = h * {a!r}")
    for j, e in enumerate(E, start=1):
        L.append(f"{indent}_e{j} = h * {e!r}")
    for i in range(n):
        L.append(f"{indent}_z_{i} = y[{z0 + i}]")
        L.append(f"{indent}_k1_{i} = y[{z0 + n + i}]")
    for s_ in range(2, 8):
        ystage = "_zn" if s_ == 7 else f"_y{s_}"
        for i in range(n):
            terms = " + ".join(f"_a{s_}{j} * _k{j}_{i}" for j in range(1, s_))
            L.append(f"{indent}{ystage}_{i} = _z_{i} + {terms}")
        names = dict(printer_names)
        names[tr] = f"_t{s_}"
        names.update({st: f"{ystage}_{i}" for i, st in enumerate(states)})
        names.update({sym: f"{sym.name}_{s_}" for sym, _ in reps})
        pr = _Printer(names)
        L.append(f"{indent}_t{s_} = t + {C[s_]!r} * h")
        L += [f"{indent}{sym.name}_{s_} = {pr.doprint(e)}" for sym, e in reps]
        for i, e in enumerate(reduced):
            L.append(f"{indent}_k{s_}_{i} = {pr.doprint(e)} + out[{i}]")
    L.append(f"{indent}_acc = 0.0")
    L.append(f"{indent}_nf = 0.0")
    for i in range(n):
        err = " + ".join(f"_e{j} * _k{j}_{i}" for j in range(1, 8))
        L.append(f"{indent}_r = ({err}) / (atol + rtol * max(abs(_z_{i}), abs(_zn_{i})))")
        L.append(f"{indent}_acc += _r * _r")
        L.append(f"{indent}_nf += _zn_{i} - _zn_{i}")
    for s_ in range(2, 8):
        for i in range(n):
            L.append(f"{indent}y[{z0 + s_ * n + i}] = _k{s_}_{i}")
    for i in range(n):
        L.append(f"{indent}y[{z0 + 8 * n + i}] = _zn_{i}")
        L.append(f"{indent}y[{z0 + 9 * n + i}] = _y6_{i}")
    L.append(f"{indent}y[3] = _acc / {float(n)!r} + _nf")
    return L


#: Models with more states or right-hand-side operations than these get no fused
#: Tsit5 step. Its straight-line code holds six copies of the right-hand side: on
#: the W3 chain it beats the generic (vectorised) step up to about 12 states and
#: loses beyond, and numba's compile time grows with it (W1: +0.4 s cold).
FUSED_MAX_STATES = 10
FUSED_MAX_OPS = 400


def _structure_key(model: Model) -> tuple:
    """Everything that determines the generated code, nothing else."""
    return (model.param_names, model.covariate_names, model.state_names,
            tuple(s.init for s in model.states), model.odes, model.assignments,
            tuple((o.name, o.expr) for o in model.outputs), model.bioavailability, model.lag)


def generate_source(model: Model) -> tuple[str, dict[str, Any]]:
    """Python source of ``model_fn`` for ``model`` and facts about it."""
    ex = model.expanded()
    # Differentiate with real symbols so that abs(), min() and max() have real derivatives.
    real = {s: sp.Symbol(s.name, real=True) for s in
            (*ex.states, *ex.params, *ex.covariates, T)}

    def r(exprs: Any) -> list[sp.Expr]:
        return [sp.sympify(e).xreplace(real) for e in exprs]

    states, params, covs = r(ex.states), r(ex.params), r(ex.covariates)
    tr = real[T]
    names: dict[sp.Symbol, str] = {tr: "t"}
    names.update({s: f"y[{i}]" for i, s in enumerate(states)})
    names.update({s: f"p[{i}]" for i, s in enumerate(params)})
    names.update({s: f"p[{len(params) + i}]" for i, s in enumerate(covs)})
    printer = _Printer(names)
    rhs, outs, inits = r(ex.rhs), r(ex.outputs), r(ex.inits)
    blocks = [
        rhs,
        _derivs(rhs, states),
        _derivs(rhs, params),
        outs,
        _derivs(outs, states),
        _derivs(outs, params),
        inits,
        _derivs(inits, params),
        r(ex.bioavailability) + r(ex.lag),
        _derivs(r(ex.bioavailability), params),
        _derivs(r(ex.lag), params),
    ]
    # Second derivatives for the exact Jacobian of the sensitivity system (stiff
    # method): d2f_i/dy_j dy_l and d2f_i/dy_j dp_k, only where J_ij is non-zero.
    n, npar = len(states), len(params)
    jac = blocks[1]
    h2 = [sp.Integer(0)] * (n * n * n)
    m2 = [sp.Integer(0)] * (n * n * npar)
    for ij, e in enumerate(jac):
        if e == 0:
            continue
        fs = e.free_symbols
        for l, y in enumerate(states):
            if y in fs:
                h2[ij * n + l] = sp.diff(e, y)
        for k, q in enumerate(params):
            if q in fs:
                m2[ij * npar + k] = sp.diff(e, q)
    blocks += [h2, m2]
    for b in blocks:
        for e in b:
            if e.has(sp.Derivative, sp.Subs):
                raise ModelError(f"model '{model.name}': cannot differentiate {e}; "
                                 "use differentiable functions")
    lines = ["def model_fn(which, t, y, p, out):"]
    for w, b in enumerate(blocks):
        lines.append(f"    {'if' if w == 0 else 'elif'} which == {w}:")
        lines.extend(_block(printer, b, "        "))
    fused = 0 < n <= FUSED_MAX_STATES and sum(sp.count_ops(e) for e in rhs) <= FUSED_MAX_OPS
    if fused:
        lines.append(f"    elif which == {len(blocks)}:")
        lines.extend(_tsit5_step_block(names, rhs, states, set(params) | set(covs), tr,
                                       "        "))
    lines.append("    return")
    body = "\n".join(lines) + "\n"
    info = {
        "nonautonomous": any(e.has(tr) for e in rhs),
        "linear_cov": False,
        "fused_tsit5": fused,
    }
    return body, info


_HEADER = """\
# Generated by pkpd {version} (codegen {codegen}) for model {name!r}. Do not edit.
# pkpd-cache-key: {key}
import math

"""


def value_vector(model: Model) -> np.ndarray:
    """The kernel's ``p`` vector of a model's own values: parameters, then covariates."""
    return np.array([p.value for p in model.params] + [c.value for c in model.covariates],
                    dtype=float)


@dataclass(frozen=True, eq=False)
class CompiledModel:
    """A model's compiled callables.

    Attributes
    ----------
    model : Model
        The model compiled (its parameter values are defaults only).
    backend : {"numba", "python"}
    fn : numba cfunc or None
        The C-callable ``model_fn`` used by the kernels (numba backend).
    py_fn : callable
        The same function as plain Python.
    key : str
        Cache key (hash of the equations).
    nonautonomous : bool
        Whether the right-hand side depends explicitly on time.
    fused_tsit5 : bool
        Whether ``model_fn`` has the fused Tsitouras 5(4) step (``which == 13``).
    """

    model: Model
    backend: str
    fn: Any
    py_fn: Any
    key: str
    source: str = field(repr=False)
    nonautonomous: bool = False
    fused_tsit5: bool = False

    @property
    def address(self) -> int:
        """Machine address of the compiled ``model_fn``, as the kernels take it."""
        if self.fn is None:
            raise ValueError(f"model '{self.model.name}' was compiled with backend="
                             f"{self.backend!r}; the integration kernels need backend='numba'")
        return int(self.fn.address)

    @property
    def n_states(self) -> int:
        return len(self.model.states)

    @property
    def n_params(self) -> int:
        return len(self.model.params)

    @property
    def n_outputs(self) -> int:
        return len(self.model.outputs)

    def param_vector(self, params: dict[str, float] | None = None,
                     covariates: dict[str, float] | None = None) -> np.ndarray:
        """The ``p`` vector (parameters then covariates) with overrides applied."""
        m = self.model
        vals = list(value_vector(m))
        index = {n: i for i, n in enumerate(m.param_names + m.covariate_names)}
        for src in (params or {}), (covariates or {}):
            for k, v in src.items():
                if k not in index:
                    from .errors import closest
                    raise ModelError(f"model '{m.name}' has no parameter or covariate '{k}'"
                                     f"{closest(k, list(index))}")
                vals[index[k]] = float(v)
        return np.asarray(vals, dtype=float)

    def _eval(self, which: int, size: int, t: float, y: Any, p: Any) -> np.ndarray:
        y = np.ascontiguousarray(y, dtype=float) if y is not None else np.zeros(self.n_states)
        p = np.ascontiguousarray(p, dtype=float)
        # the compiled code reads by index: a short vector would read past its end
        npc = self.n_params + len(self.model.covariates)
        if y.shape != (self.n_states,):
            raise ValueError(f"y must hold the {self.n_states} states of model "
                             f"'{self.model.name}'; got shape {y.shape}")
        if p.shape != (npc,):
            raise ValueError(f"p must hold the {self.n_params} parameters and "
                             f"{len(self.model.covariates)} covariates of model "
                             f"'{self.model.name}' ({npc} values, see param_vector()); got "
                             f"shape {p.shape}")
        out = np.zeros(max(size, 1))
        if self.fn is not None:
            dp = ctypes.POINTER(ctypes.c_double)
            self.fn.ctypes(which, float(t), y.ctypes.data_as(dp), p.ctypes.data_as(dp),
                           out.ctypes.data_as(dp))
        else:
            self.py_fn(which, float(t), y, p, out)
        return out[:size]

    # Python-callable views (allocate; for tests, debugging and analyses)
    def rhs(self, t: float, y: Any, p: Any) -> np.ndarray:
        """``dy/dt`` at ``(t, y)`` for parameter vector ``p``."""
        return self._eval(0, self.n_states, t, y, p)

    def jacobian(self, t: float, y: Any, p: Any) -> np.ndarray:
        """``df/dy`` as an (n, n) array."""
        n = self.n_states
        return self._eval(1, n * n, t, y, p).reshape(n, n)

    def dfdp(self, t: float, y: Any, p: Any) -> np.ndarray:
        """``df/dp`` as an (n, n_params) array."""
        return self._eval(2, self.n_states * self.n_params, t, y, p).reshape(
            self.n_states, self.n_params)

    def outputs(self, t: float, y: Any, p: Any) -> np.ndarray:
        """Output values at ``(t, y)``."""
        return self._eval(3, self.n_outputs, t, y, p)

    def sensitivity_rhs(self, t: float, y: Any, s: Any, p: Any) -> np.ndarray:
        """``dS/dt = J S + df/dp`` for a sensitivity matrix ``S`` (n, n_params)."""
        return self.jacobian(t, y, p) @ np.asarray(s, dtype=float) + self.dfdp(t, y, p)

    def initial_state(self, p: Any) -> np.ndarray:
        """Initial state for parameter vector ``p``."""
        return self._eval(6, self.n_states, 0.0, None, p)

    def bioavailability_lag(self, p: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(F, lag)`` per state."""
        v = self._eval(8, 2 * self.n_states, 0.0, None, p)
        return v[: self.n_states], v[self.n_states:]


def _key(model: Model) -> str:
    import numba

    ex = model.expanded()
    h = hashlib.sha256()
    for part in (CODEGEN_VERSION, numba.__version__, sys.version.split()[0],
                 sp.srepr((ex.states, ex.params, ex.covariates, ex.rhs, ex.outputs, ex.inits,
                           ex.bioavailability, ex.lag))):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp_", suffix=".py")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _load_module(path: Path, modname: str) -> Any:
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    # Our own generated file (checksum-verified), printed from sympy expressions
    # whose symbols are validated identifiers: no user text is ever executed.
    spec.loader.exec_module(mod)
    return mod


def _purge_numba_cache(path: Path) -> None:
    pyc = path.parent / "__pycache__"
    if pyc.exists():
        for f in pyc.glob(path.stem + ".*"):
            f.unlink(missing_ok=True)


def _cfunc(py_fn: Any) -> Any:
    import numba
    from numba import types

    sig = types.void(types.int64, types.float64, types.CPointer(types.float64),
                     types.CPointer(types.float64), types.CPointer(types.float64))
    return numba.cfunc(sig, cache=True, error_model="numpy")(py_fn)


def compile_model(model: Model, *, backend: Literal["numba", "python"] = "numba") -> CompiledModel:
    """Compile ``model`` (or fetch it from the in-memory or on-disk cache).

    Parameters
    ----------
    model : Model
    backend : {"numba", "python"}
        ``"numba"`` compiles to machine code (default); ``"python"`` runs the
        generated source as plain Python, for debugging.

    Returns
    -------
    CompiledModel
    """
    if backend not in ("numba", "python"):
        raise ValueError(f"backend must be 'numba' or 'python', got {backend!r}")
    skey = (_structure_key(model), backend)
    hit = _MEMO.get(skey)
    if hit is not None:
        return hit if hit.model == model else CompiledModel(
            model, hit.backend, hit.fn, hit.py_fn, hit.key, hit.source, hit.nonautonomous,
            hit.fused_tsit5)
    with _LOCK:
        key = _key(model)
        path = cache_dir() / f"m_{key}.py"
        source = info = None
        if path.exists():
            text = path.read_text()
            first, _, rest = text.partition("\n")
            if first == f"# checksum: {_checksum(rest)}":
                source = rest
        if source is None:
            body, info = generate_source(model)
            from . import __version__

            rest = _HEADER.format(version=__version__, codegen=CODEGEN_VERSION,
                                  name=model.name, key=key) + body
            rest += f"NONAUTONOMOUS = {info['nonautonomous']!r}\n"
            rest += f"FUSED_TSIT5 = {info['fused_tsit5']!r}\n"
            _purge_numba_cache(path)
            _write_atomic(path, f"# checksum: {_checksum(rest)}\n{rest}")
            source = rest
        modname = f"pkpd_model_{key}"
        mod = sys.modules.get(modname) or _load_module(path, modname)
        sys.modules[modname] = mod
        fn = None
        if backend == "numba":
            try:
                fn = _cfunc(mod.model_fn)
            except Exception:  # a corrupt numba cache entry: discard and rebuild
                _purge_numba_cache(path)
                fn = _cfunc(mod.model_fn)
        cm = CompiledModel(model, backend, fn, mod.model_fn, key, source,
                           bool(mod.NONAUTONOMOUS), bool(mod.FUSED_TSIT5))
        _MEMO[skey] = cm
        return cm
