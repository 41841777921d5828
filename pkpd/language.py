"""The plain-text model language: model files <-> :class:`pkpd.Model`.

A model file looks like this (the full format is documented in
``models/README.md``)::

    name: pk_1cmt_iv
    time: h
    dose: central

    [parameters]
    CL = 2.8 [L/h] (0, inf)   # clearance
    V  = 32  [L]   (0, inf)   # volume of distribution

    [states]
    central = 0 [mg]

    [equations]
    d/dt(central) = -CL/V*central

    [outputs]
    conc = central/V [mg/L]

Parsing is safe: the text is never executed. A small tokenizer and a
recursive-descent parser accept a whitelisted grammar and build sympy objects
directly; ``eval``, ``exec``, ``sympify`` and ``parse_expr`` are never applied
to model text. Every error is a :class:`~pkpd.errors.ModelError` naming the
line, the column and the offending text.

Examples
--------
>>> from pkpd import parse_model
>>> m = parse_model('''
... name: decay
... [parameters]
... k = 0.1 [1/h] (0, inf)  # elimination rate constant
... [states]
... A = 100 [mg]
... [equations]
... d/dt(A) = -k*A
... ''')
>>> m.param("k").description
'elimination rate constant'
>>> parse_model(m.to_text()) == m
True
"""

from __future__ import annotations

import keyword
import math
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sympy as sp
from mpmath import libmp as mlib
from sympy.functions.elementary.piecewise import ExprCondPair
from sympy.logic.boolalg import BooleanFalse, BooleanTrue
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from .errors import ModelError, closest, closest_match
from .model import RESERVED_NAMES, Covariate, Model, Output, Param, State, T, constant_problem

__all__ = ["parse_model", "model_to_text", "load_model", "list_models", "SECTIONS", "FUNCTIONS"]

#: Section names, in the order :func:`model_to_text` writes them.
SECTIONS = ("parameters", "covariates", "states", "equations", "outputs")

#: Functions of the expression language (besides the conditional ``if``).
FUNCTIONS = (
    "exp", "log", "log10", "sqrt", "abs", "min", "max", "sin", "cos", "tan", "atan", "tanh",
)

_HEADER_KEYS = ("name", "description", "time", "source", "dose")
_MAX_DEPTH = 60  # nesting limit; keeps recursion (ours and sympy's) bounded
_MAX_POWER_BITS = 10_000  # refuse exact integer powers larger than this


def _log10(x: sp.Expr) -> sp.Expr:
    # sp.log(x, 10) simplifies integer arguments (log(100, 10) -> 2) while a
    # Python-built log(100)/log(10) stays as it is; building the quotient
    # keeps the printed form and the parsed form identical.
    return sp.log(x) / sp.log(10)


_UNARY: dict[str, Callable[[sp.Expr], sp.Expr]] = {
    "exp": sp.exp, "log": sp.log, "log10": _log10, "sqrt": sp.sqrt, "abs": sp.Abs,
    "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "atan": sp.atan, "tanh": sp.tanh,
}
_VARIADIC: dict[str, Callable[..., sp.Expr]] = {"min": sp.Min, "max": sp.Max}
_COMPARE: dict[str, Callable[[sp.Expr, sp.Expr], Any]] = {
    "<": sp.Lt, "<=": sp.Le, ">": sp.Gt, ">=": sp.Ge, "==": sp.Eq, "!=": sp.Ne,
}
_LOGIC = ("and", "or", "not")


# ---------------------------------------------------------------- source lines
@dataclass
class _Src:
    """One logical line: its code (comment removed) and where each character came from."""

    text: str
    pos: list[tuple[int, int]]  # (line, column) of each character, plus one past the end
    comment: str
    line: int

    def at(self, i: int) -> tuple[int, int]:
        return self.pos[min(i, len(self.pos) - 1)]


def _split_comment(raw: str) -> tuple[str, str | None]:
    """Split at the first ``#`` outside ``[unit]`` brackets."""
    in_unit = False
    for i, ch in enumerate(raw):
        if ch == "[":
            in_unit = True
        elif ch == "]":
            in_unit = False
        elif ch == "#" and not in_unit:
            return raw[:i], raw[i + 1:]
    return raw, None


def _open_parens(code: str, start_col: int, line: int,
                 stack: list[tuple[int, int]]) -> None:
    """Update the stack of unclosed ``(`` positions with one physical line."""
    in_unit = False
    for i, ch in enumerate(code):
        if ch == "[":
            in_unit = True
        elif ch == "]":
            in_unit = False
        elif in_unit:
            continue
        elif ch == "(":
            stack.append((line, start_col + i))
        elif ch == ")" and stack:
            stack.pop()


# -------------------------------------------------------------------- tokens
@dataclass(frozen=True)
class _Tok:
    kind: str  # "num", "name", "op", "unit" or "end"
    text: str
    start: int  # index into the logical line
    end: int


_NUMBER = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[^\W\d]\w*")
_RUN = re.compile(r"[\w.]*")
_OPS = ("**", "<=", ">=", "==", "!=", "+", "-", "*", "/", "^", "(", ")", ",", "<", ">", "=")
_SPACE = " \t\f\v"
_BAD_CHARS = {
    ".": "attribute access ('.') is not allowed in model text",
    "'": "strings are not allowed in model text",
    '"': "strings are not allowed in model text",
    "&": "use 'and' to combine conditions",
    "|": "use 'or' to combine conditions",
    "!": "use 'not' to negate a condition",
    ";": "write one definition per line",
    "]": "unmatched ']'",
    ":": "unexpected ':'; 'key: value' header lines go before the first [section]",
    "\\": "a line continuation '\\' must be the last character of the line",
}


def _error(src: _Src, index: int, message: str) -> ModelError:
    line, col = src.at(index)
    return ModelError(message, line=line, column=col)


def _tokenize(src: _Src) -> list[_Tok]:
    text = src.text
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _SPACE:
            i += 1
            continue
        m = _NUMBER.match(text, i)
        if m and (ch.isdigit() or ch == "."):
            run = _RUN.match(text, m.end())
            if run.end() > m.end():
                bad = text[i:run.end()]
                hint = (f" (write {m.group()}*{bad[len(m.group()):]} for a product)"
                        if text[m.end()].isalpha() and text[m.end()] not in "eE" else "")
                raise _error(src, i, f"invalid number '{bad}'{hint}")
            toks.append(_Tok("num", m.group(), i, m.end()))
            i = m.end()
            continue
        m = _NAME.match(text, i)
        if m:
            name = m.group()
            if name.startswith("_"):
                raise _error(src, i, f"name '{name}' is not allowed: names may not start "
                                     "with an underscore (model text is never executed)")
            toks.append(_Tok("name", name, i, m.end()))
            i = m.end()
            continue
        if ch == "[":
            prev = toks[-1] if toks else None
            if prev is not None and prev.end == i and (
                    prev.kind in ("name", "num") or prev.text == ")"):
                raise _error(src, i, f"subscripts are not allowed ('{prev.text}['); "
                                     "separate a [unit] from what precedes it with a space")
            close = text.find("]", i + 1)
            if close < 0:
                raise _error(src, i, "unit '[' is not closed with ']' on the same line")
            toks.append(_Tok("unit", text[i + 1:close].strip(), i, close + 1))
            i = close + 1
            continue
        op = next((o for o in _OPS if text.startswith(o, i)), None)
        if op is not None:
            toks.append(_Tok("op", op, i, i + len(op)))
            i += len(op)
            continue
        reason = _BAD_CHARS.get(ch, "this character is not part of the model language")
        raise _error(src, i, f"unexpected {ch!r}: {reason}")
    toks.append(_Tok("end", "", n, n))
    return toks


# -------------------------------------------------------------------- parser
@dataclass
class _Expr:
    """A parsed expression, the symbols it uses and where it was written."""

    value: sp.Expr
    uses: list[tuple[str, int]]  # (name, index into the logical line)
    start: int
    text: str


class _Parser:
    """Recursive descent over one logical line's tokens."""

    def __init__(self, src: _Src):
        self.src = src
        self.toks = _tokenize(src)
        self.i = 0
        self.depth = 0
        self.uses: list[tuple[str, int]] = []

    # -- helpers
    def peek(self, k: int = 0) -> _Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def take(self) -> _Tok:
        tok = self.peek()
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def is_op(self, *ops: str, k: int = 0) -> bool:
        tok = self.peek(k)
        return tok.kind == "op" and tok.text in ops

    def error(self, tok: _Tok, message: str) -> ModelError:
        return _error(self.src, tok.start, message)

    def found(self, tok: _Tok) -> str:
        if tok.kind == "end":
            return "the end of the line"
        if tok.kind == "unit":
            return f"unit '[{tok.text}]'"
        return f"'{tok.text}'"

    def expect(self, op: str, context: str) -> _Tok:
        tok = self.peek()
        if tok.kind == "op" and tok.text == op:
            return self.take()
        raise self.error(tok, f"expected '{op}' {context}, found {self.found(tok)}")

    def build(self, tok: _Tok, fn: Callable[..., Any], *args: Any) -> Any:
        """Apply a sympy constructor, turning its failures into ModelError."""
        try:
            return fn(*args)
        except ModelError:
            raise
        except Exception as exc:  # sympy raises many types for malformed input
            raise self.error(tok, f"cannot evaluate {self.found(tok)}: {exc}") from None

    def enter(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error(tok, f"expression is nested more than {_MAX_DEPTH} levels deep")

    # -- expressions
    def full_expression(self) -> _Expr:
        """An expression with the symbols it uses, checked to be finite and real."""
        first = self.peek()
        if first.kind in ("end", "unit"):
            raise self.error(first, "expected an expression, found " + self.found(first))
        mark = len(self.uses)
        value = self.expression()
        last = self.toks[self.i - 1]
        text = self.src.text[first.start:last.end]
        if value.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            raise self.error(first, f"expression '{text}' is not finite (division by zero "
                                    "or the log of zero?)")
        if value.has(sp.I):
            raise self.error(first, f"expression '{text}' is not real (square root or log "
                                    "of a negative number?)")
        problem = constant_problem(value)
        if problem:
            raise self.error(first, f"expression '{text}': {problem}")
        return _Expr(value, self.uses[mark:], first.start, text)

    def expression(self) -> sp.Expr:
        self.enter(self.peek())
        left = self.term()
        while self.is_op("+", "-"):
            tok = self.take()
            right = self.term()
            left = self.build(tok, (lambda a, b: a + b) if tok.text == "+" else
                              (lambda a, b: a - b), left, right)
        self.depth -= 1
        return left

    def term(self) -> sp.Expr:
        # A leading sign negates the whole product, as in mathematics:
        # -(a + b)*c is -((a + b)*c). sympy prints Mul(-1, a + b, c) this way.
        if self.is_op("-", "+"):
            tok = self.take()
            self.enter(tok)
            operand = self.term()
            self.depth -= 1
            return self.build(tok, lambda a: -a, operand) if tok.text == "-" else operand
        return self.product()

    def product(self) -> sp.Expr:
        # All factors go into one Mul: sympy distributes a number over a sum
        # only in a two-factor product, so 2*(a + b)*c built pairwise would
        # become (2*a + 2*b)*c while sympy keeps and prints Mul(2, a + b, c).
        first = self.peek()
        factors = [self.factor()]
        while self.is_op("*", "/"):
            tok = self.take()
            right = self.factor()
            factors.append(right if tok.text == "*" else
                           self.build(tok, lambda b: sp.Pow(b, -1), right))
        return factors[0] if len(factors) == 1 else self.build(first, sp.Mul, *factors)

    def factor(self) -> sp.Expr:
        if self.is_op("-", "+"):
            tok = self.take()
            self.enter(tok)
            operand = self.factor()
            self.depth -= 1
            return self.build(tok, lambda a: -a, operand) if tok.text == "-" else operand
        return self.power()

    def power(self) -> sp.Expr:
        base = self.primary()
        if self.is_op("^", "**"):
            tok = self.take()
            self.enter(tok)
            exponent = self.factor()  # right-associative; allows x^-2
            self.depth -= 1
            if base.is_Rational and exponent.is_Rational:
                bits = max(abs(base.p), abs(base.q)).bit_length()
                if bits > 1 and abs(exponent.p) * bits > _MAX_POWER_BITS:
                    raise self.error(tok, "power is too large to evaluate exactly; "
                                          "write the base as a float (e.g. 10.0)")
            return self.build(tok, lambda a, b: a**b, base, exponent)
        return base

    def primary(self) -> sp.Expr:
        tok = self.take()
        if tok.kind == "num":
            return self.number(tok)
        if tok.kind == "op" and tok.text == "(":
            self.enter(tok)
            value = self.expression()
            if self.peek().kind == "op" and self.peek().text in _COMPARE:
                raise self.error(self.peek(), "comparisons are only allowed in if() conditions")
            self.expect(")", "to close '('")
            self.depth -= 1
            return value
        if tok.kind == "name":
            if self.is_op("("):
                return self.call(tok)
            return self.name(tok)
        if tok.kind == "end":
            raise self.error(tok, "expression is incomplete: expected a number, a name or "
                                  "'(' at the end of the line")
        raise self.error(tok, f"expected a number, a name or '(', found {self.found(tok)}")

    def number(self, tok: _Tok) -> sp.Expr:
        text = tok.text
        if any(c in text for c in ".eE"):
            if not math.isfinite(float(text)):
                raise self.error(tok, f"number '{text}' is not finite")
            # Correctly rounded to 53 bits: equal to the double for numbers in
            # the double range, and exact for what _print_Float writes outside it.
            return sp.Float(text, precision=53)
        try:
            return sp.Integer(int(text))
        except ValueError:
            raise self.error(tok, f"integer '{text[:20]}...' has too many digits") from None

    def name(self, tok: _Tok) -> sp.Expr:
        name = tok.text
        if name == "pi":
            return sp.pi
        if name in _UNARY or name in _VARIADIC or name == "if":
            raise self.error(tok, f"'{name}' is a function; call it as {name}(...)")
        if name in _LOGIC:
            raise self.error(tok, f"'{name}' may only combine comparisons inside an "
                                  "if() condition")
        if name.lower() in ("inf", "infinity", "nan"):
            raise self.error(tok, f"'{name}' is not allowed in expressions (only in "
                                  "parameter bounds)")
        if name in ("True", "False", "None", "lambda") or keyword.iskeyword(name):
            raise self.error(tok, f"'{name}' is not part of the model language")
        self.uses.append((name, tok.start))
        return T if name == "t" else sp.Symbol(name)

    def call(self, tok: _Tok) -> sp.Expr:
        name = tok.text
        if name == "if":
            return self.conditional(tok)
        if name not in _UNARY and name not in _VARIADIC:
            raise self.error(tok, f"unknown function '{name}'{closest(name, FUNCTIONS)}; "
                                  "functions are: " + ", ".join(FUNCTIONS) + " and if()")
        self.take()  # "("
        self.enter(tok)
        args: list[sp.Expr] = []
        if not self.is_op(")"):
            args.append(self.expression())
            while self.is_op(","):
                self.take()
                args.append(self.expression())
        self.expect(")", f"to close the arguments of {name}()")
        self.depth -= 1
        if name in _UNARY and len(args) != 1:
            raise self.error(tok, f"{name}() takes exactly one argument, got {len(args)}")
        if not args:
            raise self.error(tok, f"{name}() needs at least one argument")
        fn = _UNARY.get(name) or _VARIADIC[name]
        return self.build(tok, fn, *args)

    # -- conditions
    def looks_like_condition(self, start: int, group: bool) -> bool:
        """Whether tokens from ``start`` (an argument, or a '(' group) hold a condition.

        Comparisons and and/or/not inside a function call's parentheses do not
        count: they belong to a nested if().
        """
        stack: list[bool] = []  # True for a call's parentheses
        j = start
        if group:
            j += 1
        while j < len(self.toks):
            tok = self.toks[j]
            if tok.kind == "end":
                return False
            if tok.kind == "op" and tok.text == "(":
                stack.append(j > 0 and self.toks[j - 1].kind == "name")
            elif tok.kind == "op" and tok.text == ")":
                if not stack:
                    return False
                stack.pop()
            elif tok.kind == "op" and tok.text == "," and not stack:
                return False
            elif not any(stack) and ((tok.kind == "op" and tok.text in _COMPARE)
                                     or (tok.kind == "name" and tok.text in _LOGIC)):
                return True
            j += 1
        return False

    def conditional(self, tok: _Tok) -> sp.Expr:
        self.take()  # "("
        self.enter(tok)
        pairs: list[tuple[sp.Expr, Any]] = []
        otherwise: sp.Expr | None = None
        while True:
            arg = self.peek()
            if self.looks_like_condition(self.i, group=False):
                cond = self.condition()
                self.expect(",", "after the condition: if(condition, value, otherwise)")
                pairs.append((self.expression(), cond))
            elif not pairs:
                raise self.error(arg, "the first argument of if() must be a condition, "
                                      "e.g. if(t < tlag, 0, kin)")
            else:
                otherwise = self.expression()
                if not self.is_op(")"):
                    raise self.error(self.peek(), "expected ')' after the otherwise value "
                                                  "(the last argument of if())")
            if not self.is_op(","):
                break
            self.take()
        self.expect(")", "to close if(")
        self.depth -= 1
        if any(cond.has(sp.Piecewise) for _, cond in pairs):
            # sympy would rewrite such a condition into a form (ITE) outside the
            # language, so the model could not be written back as text.
            raise self.error(tok, "an if() condition may not contain another if(); "
                                  "nest the if() in the values instead")
        if otherwise is not None:
            pairs.append((otherwise, sp.true))
        return self.build(tok, sp.Piecewise, *pairs)

    def condition(self) -> Any:
        self.enter(self.peek())
        left = self.conjunction()
        while self.peek().kind == "name" and self.peek().text == "or":
            tok = self.take()
            left = self.build(tok, sp.Or, left, self.conjunction())
        self.depth -= 1
        return left

    def conjunction(self) -> Any:
        left = self.negation()
        while self.peek().kind == "name" and self.peek().text == "and":
            tok = self.take()
            left = self.build(tok, sp.And, left, self.negation())
        return left

    def negation(self) -> Any:
        tok = self.peek()
        if tok.kind == "name" and tok.text == "not":
            self.take()
            self.enter(tok)
            operand = self.negation()
            self.depth -= 1
            return self.build(tok, sp.Not, operand)
        if self.is_op("(") and self.looks_like_condition(self.i, group=True):
            self.take()
            self.enter(tok)
            cond = self.condition()
            self.expect(")", "to close '('")
            self.depth -= 1
            return cond
        return self.comparison()

    def comparison(self) -> Any:
        lhs = self.expression()
        tok = self.peek()
        if not (tok.kind == "op" and tok.text in _COMPARE):
            raise self.error(tok, "expected a comparison (<, <=, >, >=, ==, !=) in the "
                                  f"if() condition, found {self.found(tok)}")
        self.take()
        rhs = self.expression()
        if self.peek().kind == "op" and self.peek().text in _COMPARE:
            raise self.error(self.peek(), "chained comparisons are not supported; "
                                          "join them with 'and', e.g. a < x and x < b")
        return self.build(tok, _COMPARE[tok.text], lhs, rhs)

    # -- pieces of definition lines
    def definition_name(self, what: str) -> _Tok:
        tok = self.peek()
        if tok.kind != "name":
            raise self.error(tok, f"expected {what}, found {self.found(tok)}")
        self.take()
        if not self.is_op("="):
            found = self.peek()
            hint = (" (comparisons are only allowed in if() conditions)"
                    if found.kind == "op" and found.text in _COMPARE else "")
            raise self.error(found, f"expected '=' after '{tok.text}', found "
                                    f"{self.found(found)}{hint}")
        self.take()
        return tok

    def signed_number(self, what: str, allow_inf: bool = False) -> float:
        sign = 1.0
        first = self.peek()
        if self.is_op("-", "+"):
            sign = -1.0 if self.take().text == "-" else 1.0
        tok = self.take()
        if tok.kind == "num":
            value = sign * float(tok.text)
            if not math.isfinite(value) and not allow_inf:
                raise self.error(tok, f"{what} '{tok.text}' is not finite")
            return value
        if allow_inf and tok.kind == "name" and tok.text.lower() in ("inf", "infinity"):
            return sign * math.inf
        kind = "a number or inf" if allow_inf else "a number"
        raise self.error(first, f"{what} must be {kind}, found {self.found(tok)}")

    def trailer(self, bounds: bool) -> tuple[str, tuple[float, float] | None]:
        """The optional ``[unit]`` (and ``(lower, upper)``) at the end of a line."""
        unit: str | None = None
        limits: tuple[float, float] | None = None
        while self.peek().kind != "end":
            tok = self.peek()
            if tok.kind == "unit" and unit is None:
                unit = self.take().text
            elif bounds and limits is None and self.is_op("("):
                self.take()
                lower = self.signed_number("lower bound", allow_inf=True)
                self.expect(",", "between the bounds: (lower, upper)")
                upper = self.signed_number("upper bound", allow_inf=True)
                self.expect(")", "after the bounds: (lower, upper)")
                limits = (lower, upper)
            elif tok.kind == "op" and tok.text in _COMPARE:
                raise self.error(tok, "comparisons are only allowed in if() conditions")
            elif tok.kind == "unit":
                raise self.error(tok, "the unit is given twice")
            else:
                expected = "a [unit], (lower, upper) bounds" if bounds else "a [unit]"
                raise self.error(tok, f"unexpected {self.found(tok)}; expected {expected} "
                                      "or the end of the line")
        return unit or "", limits


# ---------------------------------------------------------------- model text
@dataclass
class _Def:
    kind: str
    line: int
    col: int


@dataclass
class _Parsed:
    name: str | None = None
    description: str | None = None
    leading_comment: str | None = None
    time_unit: str = ""
    sources: list[str] = field(default_factory=list)
    dose: tuple[str, int, int] | None = None
    meta: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, int] = field(default_factory=dict)
    params: list[Param] = field(default_factory=list)
    covariates: list[Covariate] = field(default_factory=list)
    states: list[tuple[State, _Expr, _Src]] = field(default_factory=list)
    assignments: list[tuple[str, _Expr, _Src]] = field(default_factory=list)
    odes: list[tuple[str, _Expr, _Src, int]] = field(default_factory=list)
    bioavailability: list[tuple[str, _Expr, _Src, int]] = field(default_factory=list)
    lag: list[tuple[str, _Expr, _Src, int]] = field(default_factory=list)
    outputs: list[tuple[Output, _Expr, _Src]] = field(default_factory=list)
    defs: dict[str, _Def] = field(default_factory=dict)
    where: dict[str, tuple[int, int]] = field(default_factory=dict)


_HEADER = re.compile(r"^\s*([A-Za-z_][\w.-]*)\s*:(.*)$")
_SECTION = re.compile(r"^\s*\[([^\]]*)\]\s*$")


def _logical_lines(text: str) -> Iterator[tuple[str, Any]]:
    """Yield ("header", ...), ("section", ...), ("comment", ...) and ("code", _Src) items.

    A code line continues on the next physical line after a trailing ``\\`` or
    while a ``(`` is open.
    """
    lines = re.split(r"\r\n|\r|\n", text.removeprefix("\ufeff"))
    in_header = True
    k = 0
    while k < len(lines):
        raw, lineno = lines[k], k + 1
        k += 1
        stripped = raw.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            yield "comment", (lineno, stripped[1:].strip())
            continue
        header = _HEADER.match(raw)
        if in_header and header:
            yield "header", (lineno, header.group(1), header.group(2).strip(),
                             raw.index(header.group(1)) + 1, raw)
            continue
        code, comment = _split_comment(raw)
        section = _SECTION.match(code)
        if section:
            in_header = False
            col = raw.index("[") + 1
            yield "section", (lineno, col, section.group(1).strip())
            continue
        if header:
            raise ModelError(f"header line '{stripped}' must come before the first [section]",
                             line=lineno, column=raw.index(header.group(1)) + 1)
        if in_header:
            raise ModelError(f"expected a 'key: value' header line or a [section], found "
                             f"'{stripped}'", line=lineno, column=len(raw) - len(raw.lstrip()) + 1)
        parts: list[str] = []
        pos: list[tuple[int, int]] = []
        comments: list[str] = []
        opened: list[tuple[int, int]] = []
        last = (lineno, 1)
        while True:
            body = code.rstrip()
            backslash = body.endswith("\\")
            if backslash:
                body = body[:-1]
            if parts:
                parts.append(" ")
                pos.append(last)
            parts.append(body)
            pos.extend((lineno, c + 1) for c in range(len(body)))
            last = (lineno, len(body) + 1)
            if comment is not None and comment.strip():
                comments.append(comment.strip())
            _open_parens(body, 1, lineno, opened)
            if not backslash and not opened:
                break
            if k >= len(lines) or _SECTION.match(_split_comment(lines[k])[0]):
                if opened:
                    line, col = opened[-1]
                    raise ModelError("'(' is never closed", line=line, column=col)
                raise ModelError("line continuation '\\' at the end of the section",
                                 line=lineno, column=len(body) + 1)
            lineno = k + 1
            code, comment = _split_comment(lines[k])
            k += 1
        pos.append(last)
        yield "code", _Src("".join(parts), pos, " ".join(comments), pos[0][0])


def _define(p: _Parsed, tok: _Tok, src: _Src, kind: str) -> str:
    name = tok.text
    line, col = src.at(tok.start)
    if name in RESERVED_NAMES or keyword.iskeyword(name):
        raise ModelError(f"{kind} name '{name}' is reserved; reserved names are: "
                         + ", ".join(sorted(RESERVED_NAMES)), line=line, column=col)
    if name in p.defs:
        first = p.defs[name]
        hint = (f"; give the {kind} a new name (e.g. {name}i)"
                if kind == "assignment" and first.kind == "parameter" else "")
        raise ModelError(f"name '{name}' is already defined at line {first.line} "
                         f"(as {first.kind}){hint}", line=line, column=col)
    p.defs[name] = _Def(kind, line, col)
    p.where[name] = (line, col)
    return name


def _target(parser: _Parser, kind: str) -> tuple[str, int]:
    """``STATE) =`` after ``d/dt(``, ``F(`` or ``lag(``; returns the name and its index."""
    tok = parser.peek()
    if tok.kind != "name":
        raise parser.error(tok, f"expected a state name in {kind}(...), found {parser.found(tok)}")
    parser.take()
    parser.expect(")", f"after the state name in {kind}({tok.text}")
    parser.expect("=", f"after {kind}({tok.text})")
    return tok.text, tok.start


def _parse_equation(p: _Parsed, src: _Src) -> None:
    parser = _Parser(src)
    first = parser.peek()
    if (first.kind == "name" and first.text == "d" and parser.is_op("/", k=1)
            and parser.peek(2).kind == "name" and parser.peek(2).text == "dt"
            and parser.is_op("(", k=3)):
        parser.i += 4
        name, at = _target(parser, "d/dt")
        kind_list, key = p.odes, f"d/dt({name})"
    elif first.kind == "name" and first.text in ("F", "lag") and parser.is_op("(", k=1):
        parser.i += 2
        name, at = _target(parser, first.text)
        kind_list = p.bioavailability if first.text == "F" else p.lag
        key = f"{first.text}({name})"
    elif first.kind == "name" and parser.is_op("=", k=1):
        tok = parser.definition_name("a name")
        name = _define(p, tok, src, "assignment")
        expr = parser.full_expression()
        _no_trailer(parser, "an equation")
        p.assignments.append((name, expr, src))
        return
    else:
        raise parser.error(first, "expected 'NAME = expression', 'd/dt(STATE) = expression', "
                                  "'F(STATE) = expression' or 'lag(STATE) = expression', "
                                  f"found {parser.found(first)}")
    line, col = src.at(first.start)
    if key in p.where:
        raise ModelError(f"{key} is already defined at line {p.where[key][0]}",
                         line=line, column=col)
    p.where[key] = (line, col)
    expr = parser.full_expression()
    _no_trailer(parser, "an equation")
    kind_list.append((name, expr, src, at))


def _no_trailer(parser: _Parser, what: str) -> None:
    tok = parser.peek()
    if tok.kind == "end":
        return
    if tok.kind == "unit":
        raise parser.error(tok, f"{what} carries no unit; write the unit in a comment")
    if tok.kind == "op" and tok.text in _COMPARE:
        raise parser.error(tok, "comparisons are only allowed in if() conditions")
    raise parser.error(tok, f"unexpected {parser.found(tok)} after the expression")


def _parse_line(p: _Parsed, section: str, src: _Src) -> None:
    if section == "equations":
        _parse_equation(p, src)
        return
    parser = _Parser(src)
    what = {"parameters": "a parameter name", "covariates": "a covariate name",
            "states": "a state name", "outputs": "an output name"}[section]
    kind = {"parameters": "parameter", "covariates": "covariate", "states": "state",
            "outputs": "output"}[section]
    tok = parser.definition_name(what)
    name = _define(p, tok, src, kind)
    desc = src.comment
    if section == "parameters":
        value = parser.signed_number("parameter value")
        unit, limits = parser.trailer(bounds=True)
        lower, upper = limits or (-math.inf, math.inf)
        p.params.append(Param(name, value, unit, lower, upper, desc))
    elif section == "covariates":
        value = parser.signed_number("covariate value")
        unit, _ = parser.trailer(bounds=False)
        p.covariates.append(Covariate(name, value, unit, desc))
    else:
        expr = parser.full_expression()
        unit, _ = parser.trailer(bounds=False)
        if section == "states":
            p.states.append((State(name, expr.value, unit, desc), expr, src))
        else:
            p.outputs.append((Output(name, expr.value, unit, desc), expr, src))


def _parse_header(p: _Parsed, lineno: int, key: str, value: str, col: int, raw: str) -> None:
    low = key.lower()
    if low not in _HEADER_KEYS:
        p.meta.append((key, value))
        return
    if low != "source" and low in p.headers:
        raise ModelError(f"header '{low}' is given twice (first at line {p.headers[low]})",
                         line=lineno, column=col)
    p.headers[low] = lineno
    rest = raw[raw.index(":") + 1:]
    value_col = raw.index(":") + 2 + len(rest) - len(rest.lstrip())
    if not value and low in ("name", "dose", "source"):
        raise ModelError(f"header '{low}:' needs a value", line=lineno, column=value_col)
    if low == "name":
        p.name = value
    elif low == "description":
        p.description = value
    elif low == "time":
        p.time_unit = value
    elif low == "source":
        p.sources.append(value)
    else:
        p.dose = (value, lineno, value_col)
    p.where[f"header:{low}"] = (lineno, value_col)


def _check(p: _Parsed) -> None:
    """Check names and symbols with exact positions before Model validation runs."""
    kinds = {n: d.kind for n, d in p.defs.items()}
    pc = [n for n, k in kinds.items() if k in ("parameter", "covariate")]
    states = [n for n, k in kinds.items() if k == "state"]
    anames = [n for n, k in kinds.items() if k == "assignment"]
    outputs = [n for n, k in kinds.items() if k == "output"]
    everything = pc + states + anames + ["t"]

    for kind, items in (("d/dt", p.odes), ("F", p.bioavailability), ("lag", p.lag)):
        for name, _, src, at in items:
            if name not in states:
                line, col = src.at(at)
                raise ModelError(f"{kind}({name}) names an unknown state"
                                 f"{closest(name, states)}; states are: "
                                 + (", ".join(states) or "(none)"), line=line, column=col)

    def check(expr: _Expr, src: _Src, allowed: list[str], where: str, rule: str = "") -> None:
        for name, at in expr.uses:
            if name in allowed:
                continue
            line, col = src.at(at)
            if name in everything:
                raise ModelError(f"{where} may not use {kinds.get(name, 'time')} '{name}'; "
                                 f"{rule}", line=line, column=col)
            if name in outputs:
                raise ModelError(f"{where} uses output '{name}'; outputs cannot be used in "
                                 f"equations (define '{name}' in [equations] instead)",
                                 line=line, column=col)
            hint = closest(name, allowed)
            if not hint:
                hint = "; known names are: " + ", ".join(allowed)
            raise ModelError(f"unknown symbol '{name}' in {where}{hint}", line=line, column=col)

    for state, expr, src in p.states:
        check(expr, src, pc, f"the initial value of state '{state.name}'",
              "initial values may use parameters and covariates only")
    for name, expr, src in p.assignments:
        check(expr, src, everything, f"assignment '{name}'")
    for name, expr, src, _ in p.odes:
        check(expr, src, everything, f"d/dt({name})")
    for kind, items in (("F", p.bioavailability), ("lag", p.lag)):
        for name, expr, src, _ in items:
            check(expr, src, pc + anames, f"{kind}({name})",
                  "F() and lag() may use parameters, covariates and assignments of those")
    for output, expr, src in p.outputs:
        check(expr, src, everything, f"output '{output.name}'")

    have_ode = {name for name, *_ in p.odes}
    for state, _, _ in p.states:
        if state.name not in have_ode:
            line, col = p.where[state.name]
            raise ModelError(f"state '{state.name}' has no ODE; add d/dt({state.name}) = ... "
                             "under [equations]", line=line, column=col)
    if p.dose is not None and p.dose[0] not in states:
        value, line, col = p.dose
        raise ModelError(f"dose target '{value}' is not a state{closest(value, states)}; "
                         "states are: " + (", ".join(states) or "(none)"), line=line, column=col)


_NAMED = (
    re.compile(r"(d/dt\(\w+\))"),
    re.compile(r"\b((?:F|lag)\(\w+\))"),
    re.compile(r"cycle among assignments: (\w+)"),
    re.compile(r"'([^']+)'"),
)


def _locate(message: str, where: dict[str, tuple[int, int]]) -> tuple[int, int]:
    """The definition a Model validation message is about, or line 1."""
    for pattern in _NAMED:
        for match in pattern.finditer(message):
            key = match.group(1)
            if key in where:
                return where[key]
    if "dose target" in message and "header:dose" in where:
        return where["header:dose"]
    return where.get("header:name", (1, 1))


def _parse(text: str, default_name: str | None) -> Model:
    if not isinstance(text, str):
        raise ModelError(f"model text must be a str, got {type(text).__name__}")
    p = _Parsed()
    section: str | None = None
    seen_code = False
    for kind, item in _logical_lines(text):
        if kind == "comment":
            if not seen_code and p.leading_comment is None and item[1]:
                p.leading_comment = item[1]
            continue
        seen_code = True
        if kind == "header":
            _parse_header(p, *item)
        elif kind == "section":
            lineno, col, title = item
            section = title.lower()
            if section not in SECTIONS:
                raise ModelError(f"unknown section '[{title}]'"
                                 f"{closest(f'[{section}]', [f'[{s}]' for s in SECTIONS])}; "
                                 "sections are: " + ", ".join(f"[{s}]" for s in SECTIONS),
                                 line=lineno, column=col)
        elif section is not None:  # _logical_lines rejects code before the first section
            _parse_line(p, section, item)
    name = p.name or default_name
    if not name:
        raise ModelError("model text has no 'name:' header; start it with e.g. "
                         "'name: my_model'", line=1, column=1)
    if not p.states:
        line = 1 + text.count("\n") if text else 1
        raise ModelError("the model has no states; declare at least one under [states]",
                         line=line, column=1)
    _check(p)
    description = p.description if p.description is not None else (p.leading_comment or "")
    try:
        return Model(
            name=name,
            params=p.params,
            states=[s for s, _, _ in p.states],
            odes=[(n, e.value) for n, e, _, _ in p.odes],
            assignments=[(n, e.value) for n, e, _ in p.assignments],
            outputs=[o for o, _, _ in p.outputs],
            covariates=p.covariates,
            bioavailability=[(n, e.value) for n, e, _, _ in p.bioavailability],
            lag=[(n, e.value) for n, e, _, _ in p.lag],
            description=description,
            time_unit=p.time_unit,
            sources=tuple(p.sources),
            dose_target=p.dose[0] if p.dose else None,
            meta=tuple(p.meta),
        )
    except ModelError as exc:
        line, col = _locate(str(exc), p.where)
        raise ModelError(str(exc), line=line, column=col) from None


def parse_model(text: str, *, source_name: str = "<text>") -> Model:
    """Parse model text into a :class:`~pkpd.Model`.

    Parameters
    ----------
    text : str
        The model, in the format documented in ``models/README.md``.
    source_name : str
        Where the text came from (a file name); added as a note to errors.

    Returns
    -------
    Model
        The validated model.

    Raises
    ------
    ModelError
        For any problem, with ``line`` and ``column`` set (1-based) and the
        offending text named in the message.

    Notes
    -----
    The text is never executed: it is tokenized and parsed by a whitelisted
    grammar that builds sympy objects directly.

    Examples
    --------
    >>> m = parse_model('''
    ... name: growth
    ... [parameters]
    ... r = 0.5 [1/day]
    ... [states]
    ... N = 1
    ... [equations]
    ... d/dt(N) = r*N
    ... ''')
    >>> m.state_names
    ('N',)
    """
    return _parse_with_note(text, source_name, None)


def _parse_with_note(text: str, source_name: str, default_name: str | None) -> Model:
    try:
        return _parse(text, default_name)
    except ModelError as exc:
        if source_name != "<text>":
            exc.add_note(f"in model file {source_name}")
        raise


# ------------------------------------------------------------------- writing
class _Log10(sp.Function):
    """Stand-in used only while printing ``log(x)/log(10)`` as ``log10(x)``."""


_PRINTABLE = (
    sp.Symbol, sp.Rational, sp.Float, sp.Add, sp.Mul, sp.Pow, sp.exp, sp.log, sp.Abs,
    sp.Min, sp.Max, sp.Piecewise, ExprCondPair, sp.sin, sp.cos, sp.tan, sp.atan, sp.tanh,
    sp.Eq, sp.Ne, sp.Lt, sp.Le, sp.Gt, sp.Ge, sp.And, sp.Or, sp.Not, BooleanTrue, BooleanFalse,
)


class _Printer(StrPrinter):
    """Prints sympy expressions in the model language (``^``, if(), min, abs, log10)."""

    def _print_Float(self, expr: sp.Float) -> str:
        value = float(expr)
        if abs(value) >= sys.float_info.min and sp.Float(value) == expr:
            return repr(value)  # the shortest text that reads back as this double
        if value == 0 and expr.is_zero:
            return "0.0"
        # Outside the normal double range: 17 significant digits identify a
        # 53-bit mantissa exactly.
        return mlib.to_str(expr._mpf_, 17)

    def _print_Exp1(self, expr: Any) -> str:
        return "exp(1)"

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        prec = PRECEDENCE["Pow"]
        if expr.exp is sp.S.Half:
            return f"sqrt({self._print(expr.base)})"
        if -expr.exp is sp.S.Half:
            return f"1/sqrt({self._print(expr.base)})"
        if expr.exp is sp.S.NegativeOne:
            return "1/" + self.parenthesize(expr.base, prec, strict=False)
        base = self.parenthesize(expr.base, prec, strict=False)
        return f"{base}^{self.parenthesize(expr.exp, prec, strict=False)}"

    def _print_Mul(self, expr: sp.Mul) -> str:
        inv10 = sp.Pow(sp.log(10), -1)
        args = list(expr.args)
        if inv10 in args:
            logs = [a for a in args if isinstance(a, sp.log)]
            if logs:
                args.remove(inv10)
                args.remove(logs[0])
                expr = sp.Mul(*args, _Log10(logs[0].args[0]))
                if not isinstance(expr, sp.Mul):
                    return self._print(expr)
        coeff, rest = expr.as_coeff_Mul()
        if coeff.is_Rational and not coeff.is_Integer:
            # Write the denominator last, as in x/(a + b)/2: "x/(2*(a + b))"
            # would read back with the 2 distributed over the sum.
            sign = "-" if coeff < 0 else ""
            return f"{sign}{self._print(sp.Mul(abs(coeff.p), rest))}/{coeff.q}"
        return super()._print_Mul(expr)

    def _print__Log10(self, expr: Any) -> str:
        return f"log10({self._print(expr.args[0])})"

    def _print_Abs(self, expr: sp.Abs) -> str:
        return f"abs({self._print(expr.args[0])})"

    def _print_Min(self, expr: sp.Min) -> str:
        return "min(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_Max(self, expr: sp.Max) -> str:
        return "max(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        parts: list[str] = []
        for value, cond in expr.args:
            if cond is sp.true:
                parts.append(self._print(value))
            else:
                parts += [self._print_condition(cond), self._print(value)]
        return "if(" + ", ".join(parts) + ")"

    def _print_condition(self, cond: Any, nested: bool = False) -> str:
        if isinstance(cond, sp.core.relational.Relational):
            return f"{self._print(cond.lhs)} {cond.rel_op} {self._print(cond.rhs)}"
        if isinstance(cond, sp.Not):
            return "not (" + self._print_condition(cond.args[0]) + ")"
        if isinstance(cond, sp.And | sp.Or):
            word = " and " if isinstance(cond, sp.And) else " or "
            text = word.join(self._print_condition(a, nested=True) for a in cond.args)
            return f"({text})" if nested else text
        raise ModelError(f"condition {cond} cannot be written as model text")

    def _print_Relational(self, expr: Any) -> str:
        return self._print_condition(expr)

    _print_And = _print_Or = _print_Not = _print_Relational


_PRINTER = _Printer()


def _expr_text(expr: sp.Basic, where: str) -> str:
    for node in sp.preorder_traversal(expr):
        if node is sp.pi or node is sp.E:
            continue
        if not isinstance(node, _PRINTABLE):
            raise ModelError(f"{where}: {type(node).__name__} ({node}) cannot be written as "
                             "model text")
        if isinstance(node, sp.Float) and not math.isfinite(float(node)):
            raise ModelError(f"{where}: non-finite number {node}")
    return _PRINTER.doprint(expr)


def _number_text(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _one_line(text: str, what: str, forbidden: str = "") -> str:
    if "\n" in text or "\r" in text or any(c in text for c in forbidden):
        shown = "a line break" if ("\n" in text or "\r" in text) else repr(forbidden)
        raise ModelError(f"{what} {text!r} contains {shown} and cannot be written as model text")
    return text


def _table(rows: list[tuple[list[str], str]]) -> list[str]:
    """Align cells in columns and descriptions as trailing comments."""
    if not rows:
        return []
    ncol = max(len(cells) for cells, _ in rows)
    widths = [max((len(c[j]) for c, _ in rows if j < len(c)), default=0) for j in range(ncol)]
    code = []
    for cells, _ in rows:
        parts = [cells[j].ljust(widths[j]) for j in range(len(cells)) if widths[j]]
        code.append(" ".join(parts).rstrip())
    width = max(len(c) for c in code)
    return [f"{c.ljust(width)}  # {d}" if d else c for c, (_, d) in zip(code, rows, strict=True)]


def model_to_text(model: Model) -> str:
    """Write a model as canonical model text.

    Parameters
    ----------
    model : Model
        Any valid model, built from text or in Python.

    Returns
    -------
    str
        Text that :func:`parse_model` turns back into an equal model:
        ``parse_model(model_to_text(m)) == m``.

    Raises
    ------
    ModelError
        If a field cannot be represented as text: a line break in a
        description, a ``]`` in a unit, or a sympy construct outside the
        model language.

    Examples
    --------
    >>> import sympy as sp
    >>> from pkpd import Model, Param, State
    >>> k, A = sp.symbols("k A")
    >>> m = Model(name="decay", params=[Param("k", 0.1, "1/h", 0)],
    ...           states=[State("A", 100, "mg")], odes={"A": -k * A})
    >>> print(model_to_text(m))
    name: decay
    <BLANKLINE>
    [parameters]
    k = 0.1 [1/h] (0, inf)
    <BLANKLINE>
    [states]
    A = 100 [mg]
    <BLANKLINE>
    [equations]
    d/dt(A) = -A*k
    <BLANKLINE>
    """
    if not isinstance(model, Model):
        raise ModelError(f"model_to_text needs a Model, got {type(model).__name__}")
    out = [f"name: {_one_line(model.name, 'the model name')}"]
    if model.description:
        out.append(f"description: {_one_line(model.description, 'the description')}")
    if model.time_unit:
        out.append(f"time: {_one_line(model.time_unit, 'the time unit')}")
    for source in model.sources:
        out.append(f"source: {_one_line(source, 'the source')}")
    if model.dose_target is not None:
        out.append(f"dose: {model.dose_target}")
    for key, value in model.meta:
        if not re.fullmatch(r"[A-Za-z_][\w.-]*", key) or key.lower() in _HEADER_KEYS:
            raise ModelError(f"meta key {key!r} cannot be written as a header line; "
                             "use letters, digits, '_', '-' and '.', and none of "
                             + ", ".join(_HEADER_KEYS))
        out.append(f"{key}: {_one_line(value, f'meta value of {key!r}')}")

    def unit(u: str, what: str) -> str:
        return f"[{_one_line(u, what, ']')}]" if u else ""

    def desc(d: str, what: str) -> str:
        return _one_line(d, what).strip()

    sections: list[tuple[str, list[str]]] = []
    rows = []
    for p in model.params:
        bounds = ("" if (p.lower, p.upper) == (-math.inf, math.inf) else
                  f"({_number_text(p.lower)}, {_number_text(p.upper)})")
        rows.append(([p.name, "=", _number_text(p.value), unit(p.unit, f"unit of {p.name}"),
                      bounds], desc(p.description, f"description of {p.name}")))
    sections.append(("parameters", _table(rows)))
    rows = [([c.name, "=", _number_text(c.value), unit(c.unit, f"unit of {c.name}")],
             desc(c.description, f"description of {c.name}")) for c in model.covariates]
    sections.append(("covariates", _table(rows)))
    rows = [([s.name, "=", _expr_text(s.init, f"initial value of {s.name}"),
              unit(s.unit, f"unit of {s.name}")], desc(s.description, f"description of {s.name}"))
            for s in model.states]
    sections.append(("states", _table(rows)))
    rows = [([n, "=", _expr_text(e, f"assignment {n}")], "") for n, e in model.assignments]
    rows += [([f"d/dt({n})", "=", _expr_text(e, f"d/dt({n})")], "") for n, e in model.odes]
    rows += [([f"F({n})", "=", _expr_text(e, f"F({n})")], "") for n, e in model.bioavailability]
    rows += [([f"lag({n})", "=", _expr_text(e, f"lag({n})")], "") for n, e in model.lag]
    sections.append(("equations", _table(rows)))
    rows = [([o.name, "=", _expr_text(o.expr, f"output {o.name}"),
              unit(o.unit, f"unit of {o.name}")], desc(o.description, f"description of {o.name}"))
            for o in model.outputs]
    sections.append(("outputs", _table(rows)))
    for title, lines in sections:
        if lines:
            out += ["", f"[{title}]", *lines]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------- library
def _library_dirs() -> list[Path]:
    dirs = [Path(d).expanduser() for d in os.environ.get("PKPD_MODEL_PATH", "").split(os.pathsep)
            if d]
    here = Path(__file__).resolve().parent
    dirs.append(here.parent / "models")
    # An installed wheel ships the library inside the package.
    dirs.append(here / "models")
    return dirs


def _library() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in _library_dirs():
        if d.is_dir():
            for f in sorted(d.glob("*.pkpd")):
                found.setdefault(f.stem, f)
    return found


def list_models() -> list[str]:
    """Names of the models in the library, sorted.

    The library is every ``*.pkpd`` file in the directories of the
    environment variable ``PKPD_MODEL_PATH`` (separated by ``os.pathsep``),
    then in the repository's ``models/`` directory. A name found in an
    earlier directory hides the same name in later ones.

    Returns
    -------
    list of str
        Model names (file names without ``.pkpd``).

    Examples
    --------
    >>> "pk_1cmt_iv" in list_models()
    True
    """
    return sorted(_library())


def load_model(path_or_name: str | os.PathLike[str]) -> Model:
    """Load a model from a file, or from the library by name.

    Parameters
    ----------
    path_or_name : str or os.PathLike
        A path to a model file, or the bare name of a library model (see
        :func:`list_models`), e.g. ``"pk_1cmt_oral"``. A string with a path
        separator or ending in ``.pkpd``, or any ``os.PathLike``, is a path.

    Returns
    -------
    Model
        The parsed model. A file without a ``name:`` header is named after
        the file.

    Raises
    ------
    ModelError
        If the file does not exist, the name is not in the library (the
        message lists the available names and the closest match) or the
        text is invalid (with line and column; a note names the file).

    Examples
    --------
    >>> m = load_model("pk_1cmt_oral")
    >>> m.dose_target
    'depot'
    """
    if isinstance(path_or_name, os.PathLike):
        path = Path(path_or_name)
    elif isinstance(path_or_name, str):
        spec = path_or_name
        if spec.endswith(".pkpd") or "/" in spec or os.sep in spec:
            path = Path(spec).expanduser()
        else:
            library = _library()
            if spec not in library:
                names = sorted(library)
                match = closest_match(spec, names)
                raise ModelError(f"no model named '{spec}' in the library"
                                 + (f" (did you mean '{match}'?)" if match else "")
                                 + "; available models: " + (", ".join(names) or "(none)")
                                 + "; give a file path to load any other model file")
            path = library[spec]
    else:
        raise ModelError(f"load_model needs a path or a model name, got "
                         f"{type(path_or_name).__name__}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(f"model file '{path}' does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read model file '{path}': {exc}") from None
    return _parse_with_note(text, str(path), path.stem)
