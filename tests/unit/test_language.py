"""The model language: every construct, round trips, error messages, safety."""

from __future__ import annotations

import ast
import math
import os
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import pkpd
from pkpd import Covariate, Model, ModelError, Output, Param, State
from pkpd.language import list_models, load_model, model_to_text, parse_model
from pkpd.model import T, constant_problem

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = ["pk_1cmt_iv", "pk_1cmt_oral", "pk_2cmt_iv"]
PWNED = Path("/tmp/pwned_pkpd")

OCRELIZUMAB = """\
# Two-compartment mAb PK with time-dependent clearance and B-cell depletion
name: ocrelizumab_bcell
time: day
source: Gibiansky E et al. Br J Clin Pharmacol 2021;87:2511-2520 (PK)
dose: central

[parameters]
CLinf = 0.17   [L/day]   (0, inf)   # linear clearance
CLT   = 0.0489 [L/day]              # time-dependent clearance at t = 0
kdes  = 0.0030 [1/day]
V1    = 2.78   [L]
Q     = 0.294  [L/day]
V2    = 2.68   [L]
B0    = 200    [cells/uL]
kout  = 0.05   [1/day]
kmax  = 2      [1/day]
EC50  = 0.5    [mg/L]

[covariates]
WT = 70 [kg]

[states]
central = 0   [mg]
periph  = 0   [mg]
B       = B0  [cells/uL]

[equations]
CL = CLinf*(WT/70)^0.75 + CLT*exp(-kdes*t)
C  = central/V1
d/dt(central) = -CL*C - Q*(C - periph/V2)
d/dt(periph)  =  Q*(C - periph/V2)
d/dt(B)       =  kout*(B0 - B) - kmax*C/(EC50 + C)*B

[outputs]
conc   = C  [mg/L]
bcells = B  [cells/uL]
"""

# The issue's example extended with every construct of the language.
RICH = """\
# Two-compartment mAb PK with time-dependent clearance and B-cell depletion
name: ocrelizumab_rich
description: ocrelizumab with every construct of the language
time: day
source: Gibiansky E et al. Br J Clin Pharmacol 2021;87:2511-2520 (PK)
source: a second source
dose: depot
reviewed-by: nobody # not a comment in a header value

[Parameters]
CLinf = 0.17    [L/day]   (0, inf)   # linear clearance
CLT   = 0.0489  [L/day]              # time-dependent clearance at t = 0
kdes  = 3.0e-3  [1/day]   (-inf, 1)
V1    = 2.78    [L]       (1e-3, 1E2)
Q     = 0.294   [L/day]
V2    = 2.68    [L]
B0    = 200     [cells/uL]
kout  = 0.05    [1/day]
kmax  = 2       [1/day]
EC50  = 0.5     [mg/L]
ka    = 0.3     [1/day]
Fsc   = 0.7     (0, 1)               # subcutaneous bioavailability
tlag  = 0.1     [day]
shift = -1.5e-2
Bmin  = 1

[covariates]
WT = 70 [kg]   # body weight

[states]
depot   = 0   [mg]
central = 0   [mg]
periph  = 0.0 [mg]
B       = B0*(WT/70)^0.1  [cells/uL]   # B cells

[equations]
CL = CLinf*(WT/70)^0.75 + CLT*exp(-kdes*t)
C  = central/V1
E  = if(C > EC50 and not (t < 0), kmax*C/(EC50 + C), C <= 0 or t < tlag, 0, \\
        kmax*C/(2*EC50))
d/dt(depot)   = -ka*depot
d/dt(central) = ka*depot - CL*C - Q*(C - periph/V2)
d/dt(periph)  =  Q*(C - periph/V2)
d/dt(B)       =  kout*(B0 - B) - E*max(B, Bmin) + 0*min(C, EC50, 1) + 0*abs(shift)
F(depot)      = Fsc
lag(depot)    = tlag

[OUTPUTS]
conc   = C  [mg/L]          # central concentration
bcells = B  [cells/uL]
logB   = log10(B) + sqrt(B)/B^2 - -B**-0.5 + (1/3)*pi*atan(tanh(B)) + sin(cos(tan(C)))
effect = (E +
          B)  [1/day]         # wrapped inside parentheses
"""


def model(body: str, name: str = "m") -> Model:
    return parse_model(f"name: {name}\n{body}")


def one_state(rhs: str, extra: str = "") -> Model:
    return model(f"[parameters]\nk = 1\n{extra}[states]\nA = 1\n[equations]\nd/dt(A) = {rhs}\n")


def rhs(text: str) -> sp.Expr:
    return dict(one_state(text).odes)["A"]


k, A = sp.symbols("k A")


# ------------------------------------------------------------------ constructs
def test_issue_example_parses_to_the_expected_model():
    m = parse_model(OCRELIZUMAB)
    assert m.name == "ocrelizumab_bcell"
    assert m.description.startswith("Two-compartment mAb PK")
    assert m.time_unit == "day"
    assert m.sources == ("Gibiansky E et al. Br J Clin Pharmacol 2021;87:2511-2520 (PK)",)
    assert m.dose_target == "central"
    assert m.param_names[:3] == ("CLinf", "CLT", "kdes")
    cl = m.param("CLinf")
    assert (cl.value, cl.unit, cl.lower, cl.upper, cl.description) == (
        0.17, "L/day", 0.0, math.inf, "linear clearance")
    assert m.param("kdes").lower == -math.inf and m.param("kdes").description == ""
    assert m.covariates == (Covariate("WT", 70, "kg"),)
    assert m.states[2] == State("B", sp.Symbol("B0"), "cells/uL")
    CLinf, CLT, kdes, WT = sp.symbols("CLinf CLT kdes WT")
    assert dict(m.assignments)["CL"] == CLinf * (WT / 70) ** sp.Float(0.75) + CLT * sp.exp(-kdes * T)
    assert [n for n, _ in m.assignments] == ["CL", "C"]
    assert m.output_names == ("conc", "bcells")
    assert m.outputs[0].unit == "mg/L"


def test_rich_model_constructs():
    m = parse_model(RICH)
    assert m.sources == ("Gibiansky E et al. Br J Clin Pharmacol 2021;87:2511-2520 (PK)",
                         "a second source")
    assert m.description == "ocrelizumab with every construct of the language"
    assert m.meta == (("reviewed-by", "nobody # not a comment in a header value"),)
    assert m.param("V1").lower == 1e-3 and m.param("V1").upper == 100.0
    assert m.param("shift").value == -0.015
    assert m.param("Fsc").description == "subcutaneous bioavailability"
    assert m.covariates[0].description == "body weight"
    assert m.states[2].init == sp.Float(0.0)
    Fsc, tlag = sp.symbols("Fsc tlag")
    assert m.bioavailability == (("depot", Fsc),)
    assert m.lag == (("depot", tlag),)
    E = dict(m.assignments)["E"]
    assert isinstance(E, sp.Piecewise) and len(E.args) == 3 and E.args[-1].cond is sp.true
    out = {o.name: o for o in m.outputs}
    assert out["effect"].expr == sp.Symbol("E") + sp.Symbol("B")
    assert out["effect"].description == "wrapped inside parentheses"
    assert out["effect"].unit == "1/day"
    B = sp.Symbol("B")
    assert out["logB"].expr.has(sp.log(B) / sp.log(10), sp.atan(sp.tanh(B)), sp.pi)


def test_leading_comment_is_the_description_unless_a_header_gives_one():
    body = "[states]\nA = 1\n[equations]\nd/dt(A) = 0\n"
    assert parse_model(f"# what it is\n# more\nname: m\n{body}").description == "what it is"
    text = f"# what it is\nname: m\ndescription: the real one\n{body}"
    assert parse_model(text).description == "the real one"
    assert parse_model(f"name: m\n{body}").description == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2^3^2", sp.Integer(512)),
        ("2**3**2", sp.Integer(512)),
        ("-k^2", -(k**2)),
        ("(-k)^2", k**2),
        ("k^-2", k**-2),
        ("k^-1/2", 1 / (2 * k)),
        ("-2*k", -2 * k),
        ("+k - -k", 2 * k),
        ("k/2/A", k / (2 * A)),
        ("1.5e-3*k", sp.Float(1.5e-3) * k),
        (".5*k", sp.Float(0.5) * k),
        ("3/4*k", sp.Rational(3, 4) * k),
        ("exp(k) + log(A)", sp.exp(k) + sp.log(A)),
        ("log10(k)", sp.log(k, 10)),
        ("sqrt(k)", sp.sqrt(k)),
        ("abs(k)", sp.Abs(k)),
        ("min(k, A, 2)", sp.Min(k, A, 2)),
        ("max(k, A)", sp.Max(k, A)),
        ("sin(k)+cos(k)+tan(k)+atan(k)+tanh(k)", sp.sin(k) + sp.cos(k) + sp.tan(k)
         + sp.atan(k) + sp.tanh(k)),
        ("pi*k", sp.pi * k),
        ("k*t", k * T),
        ("if(t < 1, k, A)", sp.Piecewise((k, T < 1), (A, True))),
        ("if(t <= 1, k, t >= 5, A, 0)", sp.Piecewise((k, T <= 1), (A, T >= 5), (0, True))),
        ("if(k > 1 and A != 2 or not (t == 3), 1, 2)",
         sp.Piecewise((1, sp.Or(sp.And(k > 1, sp.Ne(A, 2)), sp.Not(sp.Eq(T, 3)))), (2, True))),
        ("if((k + 1) > 1, 1, 2)", sp.Piecewise((1, k + 1 > 1), (2, True))),
        ("if(((t < 1)), 1, 2)", sp.Piecewise((1, T < 1), (2, True))),
        ("if(t < 1, if(k < 2, 1, 2), 3)",
         sp.Piecewise((sp.Piecewise((1, k < 2), (2, True)), T < 1), (3, True))),
        ("if(t < 1, k)", sp.Piecewise((k, T < 1))),
    ],
)
def test_expression_grammar(text, expected):
    assert rhs(text) == expected


def test_sections_are_case_insensitive_and_may_come_in_any_order():
    m = model("[EQUATIONS]\nd/dt(A) = -k*A\n[States]\nA = 1\n[parameters]\nk = 1\n")
    assert m.odes == (("A", -k * A),)


def test_continuation_lines_backslash_and_open_parenthesis():
    m = model("[parameters]\nk = 1  # a rate\n[states]\nA = 1 [mg]\n[equations]\n"
              "d/dt(A) = -k*(A +\n   1) \\\n  - 2  # first part\n\n[outputs]\n"
              "y = max(A,   # comment inside\n  k) [mg]  # the output\n")
    assert dict(m.odes)["A"] == -k * (A + 1) - 2
    assert m.outputs[0] == Output("y", sp.Max(A, k), "mg", "comment inside the output")


def test_crlf_line_endings_and_byte_order_mark():
    text = "\ufeffname: m\r\n[states]\r\nA = 1\r\n[equations]\r\nd/dt(A) = -A\r\n"
    assert parse_model(text).odes == (("A", -A),)


def test_parameter_line_accepts_bounds_before_unit_and_signed_infinity():
    m = model("[parameters]\nk = -2 (-inf, +inf) [1/h]\n[states]\nA = 1\n[equations]\n"
              "d/dt(A) = k\n")
    assert m.params == (Param("k", -2, "1/h"),)


def test_units_may_hold_any_text_except_a_closing_bracket():
    m = model("[parameters]\nk = 1 [cells/(uL*day) # per day]  # description\n[states]\n"
              "A = 1\n[equations]\nd/dt(A) = k\n")
    assert m.params[0].unit == "cells/(uL*day) # per day"
    assert m.params[0].description == "description"


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_round_trip(name):
    m = load_model(name)
    text = model_to_text(m)
    again = parse_model(text)
    assert again == m
    assert model_to_text(again) == text
    assert m.sources and "Gabrielsson" in m.sources[0]
    assert "not fitted" in dict(m.meta)["values"]


@pytest.mark.parametrize("text", [OCRELIZUMAB, RICH], ids=["issue", "rich"])
def test_text_model_text_model_is_equal(text):
    m = parse_model(text)
    written = m.to_text()
    assert parse_model(written) == m
    assert model_to_text(parse_model(written)) == written


def test_python_built_model_round_trips():
    a, b, c, x, y = sp.symbols("a b c x y")
    m = Model(
        name="python built",
        description="built in Python",
        time_unit="h",
        sources=["one", "two"],
        params=[Param("a", 1.25e-7, "1/h", 0), Param("b", -3, "", -10, 10, "neg"),
                Param("c", 0.1 + 0.2)],
        covariates=[Covariate("WT", 71.5, "kg", "weight")],
        states=[State("x", sp.Rational(3, 7) * a + 2, "mg"), State("y", 0)],
        odes={  # listed in the other order than the states on purpose
            "y": sp.Piecewise((a, T < 1), (b, sp.And(T >= 1, x > 2)), (-c, True)),
            "x": -sp.Min(a, x) + sp.Max(b, 1, x) * sp.log(x, 10) - sp.sqrt(x) + sp.Abs(b) * x**-2
            + x ** sp.Rational(3, 2) - 2.5 * a ** (-b) + sp.exp(-a * T) * (-2) ** c
            + sp.E ** (c * x) + sp.sin(x) / (1 + sp.cos(x)) + sp.pi,
        },
        assignments={"z": (x + y) / sp.symbols("WT") ** 0.75 + sp.log(100) / sp.log(10)},
        outputs=[Output("conc", sp.Symbol("z") / 3, "mg/L", "the concentration")],
        bioavailability={"x": 1 - c / 10},
        lag={"x": sp.Max(0, b)},
        dose_target="x",
        meta={"reviewer": "someone", "doi": "10.1000/x#y"},
    )
    assert parse_model(model_to_text(m)) == m
    assert parse_model(m.to_text()).content_hash() == m.content_hash()


def test_written_text_is_canonical_and_readable():
    text = load_model("pk_1cmt_oral").to_text()
    assert text.startswith("name: pk_1cmt_oral\ndescription: ")
    order = [text.index(f"[{s}]") for s in ("parameters", "states", "equations", "outputs")]
    assert order == sorted(order)
    assert "[covariates]" not in text
    assert "ka   = 1.5 [1/h] (0, inf)  # first-order absorption" in text
    assert "Fbio = 1         (0, 1)    # bioavailable" in text
    assert "F(depot)      = Fbio\nlag(depot)    = tlag" in text
    x = sp.Symbol("x")
    m = Model(name="p", states=[State("x", 1)],
              odes={"x": sp.log(x, 10) + sp.Piecewise((x**2, x > 1), (sp.Abs(x), True))
                    + sp.Min(x, 1) + sp.E})
    assert "d/dt(x) = if(x > 1, x^2, abs(x)) + log10(x) + min(1, x) + exp(1)\n" in m.to_text()


def test_model_to_text_rejects_what_text_cannot_hold():
    x = sp.Symbol("x")
    with pytest.raises(ModelError, match="line break"):
        model_to_text(Model(name="p", description="a\nb", states=[State("x")], odes={"x": 0}))
    # a non-real constant is refused when the model is built, before any text is written
    with pytest.raises(ModelError, match=r"d/dt\(x\): the constant I is not real"):
        Model(name="p", states=[State("x")], odes={"x": sp.I * x})
    with pytest.raises(ModelError, match="meta key"):
        model_to_text(Model(name="p", states=[State("x")], odes={"x": 0}, meta={"a b": "c"}))
    with pytest.raises(ModelError, match="needs a Model"):
        model_to_text("name: p")  # type: ignore[arg-type]


# ------------------------------------------------------------------ errors
ERRORS = [
    # (body after "name: m\n", expected line, column, message regex)
    ("[parameters]\nEC50 = 1\n[states]\nB = 1\n[equations]\nd/dt(B) = -EC5*B\n",
     7, 12, r"unknown symbol 'EC5' in d/dt\(B\); did you mean 'EC50'\?"),
    ("[states]\nB = 1\n[equations]\nd/dt(B) = -zzz*B\n",
     5, 12, r"unknown symbol 'zzz' in d/dt\(B\); known names are: B, t"),
    ("[parameters]\nk = 1\nk = 2\n[states]\nA = 1\n[equations]\nd/dt(A) = 0\n",
     4, 1, r"name 'k' is already defined at line 3 \(as parameter\)"),
    ("[parameters]\nCL = 1\n[states]\nA = 1\n[equations]\nCL = 2*CL\nd/dt(A) = 0\n",
     7, 1, r"already defined at line 3 \(as parameter\); give the assignment a new name"),
    ("[parameter]\nk = 1\n", 2, 1, r"unknown section '\[parameter\]'; did you mean "
                                   r"'\[parameters\]'\?"),
    ("k = 1\n", 2, 1, r"expected a 'key: value' header line or a \[section\], found 'k = 1'"),
    ("[states]\nA 1\n", 3, 3, r"expected '=' after 'A', found '1'"),
    ("[parameters]\nk = 2x\n", 3, 5, r"invalid number '2x' \(write 2\*x for a product\)"),
    ("[parameters]\nk = 1.2.3\n", 3, 5, r"invalid number '1.2.3'"),
    ("[parameters]\nk = abc\n", 3, 5, r"parameter value must be a number, found 'abc'"),
    ("[parameters]\nk = 1e999\n", 3, 5, r"parameter value '1e999' is not finite"),
    ("[parameters]\nk = 1 (0 5)\n", 3, 10, r"expected ',' between the bounds"),
    ("[parameters]\nk = 1 [a] [b]\n", 3, 11, r"the unit is given twice"),
    ("[covariates]\nWT = 70 (0, 1)\n", 3, 9, r"unexpected '\('; expected a \[unit\] or the end"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = -(A +\n    Bq) \\\n  + 1\n", 6, 5,
     r"unknown symbol 'Bq' in d/dt\(A\)"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = -(A\n\n[outputs]\n", 5, 12,
     r"'\(' is never closed"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = -A)\n", 5, 13,
     r"unexpected '\)' after the expression"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) =\n", 5, 10, r"expected an expression, found "
                                                          r"the end of the line"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = -A +\n", 5, 15, r"expression is incomplete"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = 2 A\n", 5, 13, r"unexpected 'A' after the "
                                                             r"expression"),
    ("[states]\nA = 1 [mg] extra\n", 3, 12, r"unexpected 'extra'; expected a \[unit\]"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = expp(A)\n", 5, 11,
     r"unknown function 'expp'; did you mean 'exp'\?"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = exp(A, 2)\n", 5, 11,
     r"exp\(\) takes exactly one argument, got 2"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = min()\n", 5, 11, r"min\(\) needs at least one"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = exp\n", 5, 11, r"'exp' is a function"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = A < 1\n", 5, 13,
     r"comparisons are only allowed in if\(\) conditions"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = if(A, 1, 2)\n", 5, 14,
     r"the first argument of if\(\) must be a condition"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = if(0 < A < 1, 1, 2)\n", 5, 20,
     r"chained comparisons are not supported"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = if(A < 1, 1, 2, 3)\n", 5, 25,
     r"expected '\)' after the otherwise value"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = if(if(A < 1, 1, 2) < 2, 1, 2)\n", 5, 11,
     r"an if\(\) condition may not contain another if\(\)"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = A and 1\n", 5, 13, r"unexpected 'and'"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = inf\n", 5, 11, r"'inf' is not allowed in "
                                                             r"expressions"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = 1/0\n", 5, 11, r"expression '1/0' is not finite"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = log(0)*A\n", 5, 11, r"is not finite"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = sqrt(-1)\n", 5, 11, r"'sqrt\(-1\)' is not real"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = 9^9^9\n", 5, 12, r"power is too large"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = " + "(" * 80 + "A" + ")" * 80 + "\n",
     5, None, r"nested more than"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = -A [mg]\n", 5, 14, r"an equation carries no unit"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = A.real\n", 5, 12, r"attribute access"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = -A\n[outputs]\ny = A[0]\n", 7, 6,
     r"subscripts are not allowed \('A\['\)"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = 'A'\n", 5, 11, r"strings are not allowed"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = __import__(A)\n", 5, 11,
     r"name '__import__' is not allowed"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = A & A\n", 5, 13, r"use 'and'"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = A\nd/dt(A) = 2*A\n", 6, 1,
     r"d/dt\(A\) is already defined at line 5"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = -A\nd/dt(Z) = 1\n", 6, 6,
     r"d/dt\(Z\) names an unknown state; states are: A"),
    ("[states]\nA = 1\nB = 1\n[equations]\nd/dt(A) = -A\n", 4, 1,
     r"state 'B' has no ODE; add d/dt\(B\) = \.\.\. under \[equations\]"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = -A\nF(Aa) = 1\n", 6, 3,
     r"F\(Aa\) names an unknown state; did you mean 'A'\?"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = -A\nlag(A) = A\n", 6, 10,
     r"lag\(A\) may not use state 'A'"),
    ("[states]\nA = 1\n[equations]\nX = A*2\nd/dt(A) = -A\nF(A) = X\n", 7, 1,
     r"F\(A\) depends on states or time"),
    ("[states]\nA = 1\n[equations]\nX = Y\nY = X + A\nd/dt(A) = -Y\n", 5, 1,
     r"cycle among assignments: X -> Y -> X"),
    ("[parameters]\nexp = 1\n", 3, 1, r"parameter name 'exp' is reserved"),
    ("[states]\nt = 1\n", 3, 1, r"state name 't' is reserved"),
    ("[states]\nlambda = 1\n", 3, 1, r"state name 'lambda' is reserved"),
    ("[parameters]\nk = -1 [1/h] (0, inf)\n[states]\nA = 1\n[equations]\nd/dt(A) = -k*A\n",
     3, 1, r"parameter 'k' = -1 is outside its bounds \(0, inf\)"),
    ("[parameters]\nk = 1 (2, 0)\n[states]\nA = 1\n[equations]\nd/dt(A) = -k*A\n",
     3, 1, r"bounds \(2.0, 0.0\) are not ordered"),
    ("[parameters]\nk = 1\n[states]\nA = k*t\n", 5, 7,
     r"initial value of state 'A' may not use time 't'"),
    ("[states]\nA = 1\nB = A\n", 4, 5, r"initial value of state 'B' may not use state 'A'"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = -y\n[outputs]\ny = A\n", 5, 12,
     r"uses output 'y'; outputs cannot be used in equations"),
    ("dose: centrl\n[states]\ncentral = 0\n[equations]\nd/dt(central) = 0\n", 2, 7,
     r"dose target 'centrl' is not a state; did you mean 'central'\?"),
    ("[states]\nA = 1\nname: other\n", 4, 1, r"header line 'name: other' must come before"),
    ("name: again\n", 2, 1, r"header 'name' is given twice \(first at line 1\)"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = -A \\", 5, 14,
     r"line continuation '\\' at the end of the section"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = A ; B = 2\n", 5, 13, r"one definition per line"),
    ("[states]\nA = 1\n[equations]\nfoo(A) = 1\n", 5, 1, r"expected 'NAME = expression', "
                                                         r"'d/dt\(STATE\) = expression'"),
    ("[states]\nA = 1\n[equations]\nd/dt(A) = A\n[outputs]\ny == A\n", 7, 3,
     r"expected '=' after 'y', found '=='"),
]


@pytest.mark.parametrize(("body", "line", "column", "message"), ERRORS,
                         ids=[f"{i}" for i in range(len(ERRORS))])
def test_errors_name_line_column_and_text(body, line, column, message):
    with pytest.raises(ModelError, match=message) as info:
        parse_model("name: m\n" + body)
    assert info.value.line == line
    if column is not None:
        assert info.value.column == column
    assert str(info.value).startswith(f"line {line}")


def test_whole_model_errors():
    with pytest.raises(ModelError, match="no 'name:' header") as info:
        parse_model("[states]\nA = 1\n[equations]\nd/dt(A) = 0\n")
    assert info.value.line == 1
    with pytest.raises(ModelError, match="has no states") as info:
        parse_model("name: m\n[parameters]\nk = 1\n")
    assert info.value.line is not None
    with pytest.raises(ModelError, match="header 'name:' needs a value") as info:
        parse_model("name:\n")
    with pytest.raises(ModelError, match="must be a str"):
        parse_model(b"name: m")  # type: ignore[arg-type]


def test_unknown_header_keys_go_to_meta():
    m = model("version: 2\nx-ref: a: b\n[states]\nA = 1\n[equations]\nd/dt(A) = 0\n")
    assert m.meta == (("version", "2"), ("x-ref", "a: b"))


# ------------------------------------------------------------------ library
def test_list_and_load_library_models():
    names = list_models()
    assert set(TEMPLATES) <= set(names)
    assert names == sorted(names)
    m = load_model("pk_1cmt_iv")
    assert m.name == "pk_1cmt_iv" and m.dose_target == "central" and m.time_unit == "h"
    assert load_model(REPO / "models" / "pk_2cmt_iv.pkpd") == load_model("pk_2cmt_iv")
    assert load_model(str(REPO / "models" / "pk_2cmt_iv.pkpd")).name == "pk_2cmt_iv"


def test_templates_have_the_documented_structure():
    oral = load_model("pk_1cmt_oral")
    assert oral.param_names == ("ka", "CL", "V", "Fbio", "tlag")
    assert oral.param_values == {"ka": 1.5, "CL": 2.8, "V": 32.0, "Fbio": 1.0, "tlag": 0.0}
    assert oral.state_names == ("depot", "central") and oral.dose_target == "depot"
    assert oral.bioavailability == (("depot", sp.Symbol("Fbio")),)
    assert oral.lag == (("depot", sp.Symbol("tlag")),)
    iv2 = load_model("pk_2cmt_iv")
    assert iv2.param_names == ("CL", "V1", "Q", "V2")
    assert iv2.state_names == ("central", "periph")
    iv1 = load_model("pk_1cmt_iv")
    assert iv1.outputs[0] == Output("conc", sp.Symbol("central") / sp.Symbol("V"), "mg/L",
                                    "plasma concentration")


def test_unknown_library_name_suggests_the_closest(monkeypatch):
    monkeypatch.delenv("PKPD_MODEL_PATH", raising=False)
    with pytest.raises(ModelError, match=r"no model named 'pk_1cmt_orl' in the library \(did "
                                         r"you mean 'pk_1cmt_oral'\?\); available models: .*"
                                         r"pk_1cmt_iv"):
        load_model("pk_1cmt_orl")
    with pytest.raises(ModelError, match=r"'PK_1cmt_IV' in the library \(did you mean "
                                         r"'pk_1cmt_iv'\?\)"):
        load_model("PK_1cmt_IV")
    with pytest.raises(ModelError, match=r"no model named 'zzz' in the library; available"):
        load_model("zzz")
    with pytest.raises(ModelError, match="does not exist"):
        load_model("no/such/file.pkpd")
    with pytest.raises(ModelError, match="needs a path or a model name"):
        load_model(3)  # type: ignore[arg-type]


def test_model_path_env_var_comes_first(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    body = "[states]\nA = 1\n[equations]\nd/dt(A) = {}\n"
    (first / "pk_1cmt_iv.pkpd").write_text("name: shadow\n" + body.format("-A"))
    (second / "mine.pkpd").write_text(body.format("0"))  # no name: named after the file
    (second / "broken.pkpd").write_text("name: broken\n[states]\nA = ?\n")
    monkeypatch.setenv("PKPD_MODEL_PATH", os.pathsep.join([str(first), "", str(second)]))
    assert load_model("pk_1cmt_iv").name == "shadow"
    assert load_model("mine").name == "mine"
    assert {"mine", "broken", "pk_1cmt_oral"} <= set(list_models())
    with pytest.raises(ModelError, match="line 3, column 5") as info:
        load_model("broken")
    assert any("broken.pkpd" in note for note in info.value.__notes__)


def test_public_api_is_exported():
    for name in ("parse_model", "load_model", "list_models"):
        assert name in pkpd.__all__
        assert getattr(pkpd, name) is globals()[name]
    assert pkpd.__all__ == sorted(pkpd.__all__)


# ------------------------------------------------------------------ safety
def test_language_module_never_evaluates_text():
    source = Path(pkpd.language.__file__).read_text()
    forbidden = {"eval", "exec", "compile", "sympify", "parse_expr", "__import__", "S",
                 "literal_eval"}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            fn = node.func
            name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(
                fn, ast.Attribute) else None
            if name in forbidden:
                # re.compile builds a regular expression, it runs no model text
                assert isinstance(fn, ast.Attribute) and ast.unparse(fn) == "re.compile", (
                    ast.unparse(node))


PAYLOADS = [
    "__import__('os').system('touch /tmp/pwned_pkpd')",
    "__import__(\"os\").system(\"touch /tmp/pwned_pkpd\")",
    "().__class__.__bases__[0].__subclasses__()",
    "os.system('touch /tmp/pwned_pkpd')",
    "A.__class__",
    "exp(A).func",
    "eval(\"__import__('os').system('touch /tmp/pwned_pkpd')\")",
    "exec('import os')",
    "lambda: os.system('touch /tmp/pwned_pkpd')",
    "getattr(A, 'func')",
    "sympify('x')",
    "Symbol('x')",
    "open('/tmp/pwned_pkpd', 'w')",
    "A[0]",
    "[x for x in ()]",
    "{}",
    "A if A else A",
    "A; import os",
    "`ls`",
    "$(touch /tmp/pwned_pkpd)",
]
POSITIONS = [
    "[states]\nA = 1\n[equations]\nd/dt(A) = {}\n",
    "[states]\nA = 1\n[equations]\nX = 1 + {}\nd/dt(A) = X\n",
    "[parameters]\nk = 1\n[states]\nA = 1\n[equations]\nd/dt(A) = k*({})\n",
    "[states]\nA = 1\n[equations]\nd/dt(A) = -A\nF(A) = {}\n",
    "[states]\nA = 1\n[equations]\nd/dt(A) = if({} > 0, 1, 2)\n",
    "[parameters]\nk = {}\n",
]


@settings(max_examples=120, deadline=None)
@given(payload=st.sampled_from(PAYLOADS), position=st.sampled_from(POSITIONS),
       prefix=st.sampled_from(["", "1 + ", "-", "exp("]))
def test_code_in_an_expression_is_rejected_and_never_runs(payload, position, prefix):
    text = "name: m\n" + position.format(prefix + payload)
    with pytest.raises(ModelError) as info:
        parse_model(text)
    assert info.value.line is not None and info.value.column is not None
    assert not PWNED.exists()


GRAMMAR_ALPHABET = [
    "A", "k", "t", "pi", "1", "0", "2.5", "1e-3", "1e999", "+", "-", "*", "/", "^", "**",
    "(", ")", ",", "<", "<=", ">", ">=", "==", "!=", "and", "or", "not", "if", "exp", "log",
    "log10", "sqrt", "abs", "min", "max", "sin", "atan", "[mg]", " ", "=", "d/dt", "F", "lag",
    "#", "\\\n", "\n", ".", "_", "'", "inf", "9", "[", "]", ":", "CL", "nan",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(soup=st.lists(st.sampled_from(GRAMMAR_ALPHABET), max_size=25).map("".join))
def test_token_soup_only_raises_model_error(soup):
    text = f"name: m\n[parameters]\nk = 1\n[states]\nA = 1\n[equations]\nd/dt(A) = {soup}\n"
    try:
        parse_model(text)
    except ModelError as exc:
        assert exc.line is not None and exc.column is not None
    try:
        parse_model("name: m\n[states]\nA = 1\n[equations]\n" + soup)
    except ModelError as exc:
        assert exc.line is not None


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_random_text_only_raises_model_error(text):
    for candidate in (text, "name: m\n[states]\n" + text):
        try:
            parse_model(candidate)
        except ModelError as exc:
            assert exc.line is not None
    assert not PWNED.exists()


SYMBOLS = sp.symbols("a b c")


_ALLOWED = (sp.exp, sp.log, sp.Abs, sp.Min, sp.Max, sp.Piecewise, sp.sin, sp.cos, sp.tan,
            sp.atan, sp.tanh)


def _safe(fn):
    """Build an expression; None when sympy refuses or it leaves the model language."""
    def build(args):
        try:
            e = fn(*args)
        except (TypeError, ValueError, ZeroDivisionError):
            return None
        if any(max(abs(r.p), r.q).bit_length() > 64 for r in e.atoms(sp.Rational)):
            return None  # keeps numbers (and hypothesis' reprs) small
        if not all(isinstance(f, _ALLOWED) for f in e.atoms(sp.Function)):
            return None  # e.g. cos(I*pi) -> cosh(pi)
        return e
    return build


_COMPARISONS = [sp.Lt, sp.Le, sp.Gt, sp.Ge, sp.Eq, sp.Ne]
_leaves = st.one_of(
    st.sampled_from([*SYMBOLS, T, sp.pi, sp.E]),
    st.integers(-20, 20).map(sp.Integer),
    st.tuples(st.integers(-9, 9), st.integers(1, 9)).map(lambda pq: sp.Rational(*pq)),
    st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False).map(sp.Float),
)


def _extend(children):
    two = st.tuples(children, children)
    return st.one_of(
        two.map(_safe(lambda x, y: x + y)),
        two.map(_safe(lambda x, y: x - y)),
        two.map(_safe(lambda x, y: x * y)),
        two.map(_safe(lambda x, y: x / y)),
        st.tuples(children, st.sampled_from([2, 3, -1, -2, sp.Rational(1, 2), sp.Rational(-3, 2),
                                             sp.Rational(1, 3), 0.5, -1.5, SYMBOLS[0]]))
        .map(_safe(lambda x, e: x**e)),
        st.tuples(st.sampled_from([sp.exp, sp.log, sp.sqrt, sp.Abs, sp.sin, sp.cos, sp.tan,
                                   sp.atan, sp.tanh, lambda x: sp.log(x, 10)]), children)
        .map(_safe(lambda f, x: f(x))),
        st.tuples(st.sampled_from([sp.Min, sp.Max]), st.lists(children, min_size=2, max_size=3))
        .map(_safe(lambda f, xs: f(*xs))),
        st.tuples(children, children, children, children, st.sampled_from(_COMPARISONS),
                  st.sampled_from([None, sp.And, sp.Or, sp.Not]), st.sampled_from(_COMPARISONS))
        .map(_safe(lambda v, w, x, y, cmp, logic, cmp2: sp.Piecewise(
            (v, cmp(x, y) if logic is None else
             logic(cmp(x, y)) if logic is sp.Not else logic(cmp(x, y), cmp2(y, T)))
            , (w, True)))),
    ).filter(lambda e: e is not None)


expressions = st.recursive(_leaves, _extend, max_leaves=10)


def _evaluated(e):
    """Rebuild ``e`` bottom-up so that every node is evaluated by sympy."""
    if not e.args or isinstance(e, sp.Symbol):
        return e
    return e.func(*(_evaluated(a) for a in e.args))


# The repr of a deeply recursive strategy is large; hypothesis only warns about it.
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(expr=expressions)
def test_random_expression_trees_round_trip(expr):
    # hypothesis can leave a subtree unevaluated (e.g. Max(b, Min(0, pi))); the
    # language, like sympy, always evaluates, so compare on sympy's evaluated form.
    expr = _evaluated(expr)
    assume(not expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo, sp.I, sp.ITE))
    assume(all(math.isfinite(float(f)) for f in expr.atoms(sp.Float)))
    # constants without a real double value (e.g. (-1)**(1/3)) are refused by Model
    assume(constant_problem(expr) is None)
    m = Model(name="prop", params=[Param(s.name, 1.0) for s in SYMBOLS],
              states=[State("A", 0)], odes={"A": expr},
              outputs=[Output("y", expr)])
    text = model_to_text(m)
    assert parse_model(text) == m, text


def test_closest_ignores_case_but_returns_the_real_name():
    from pkpd.errors import closest, closest_match

    # difflib alone: ratio('Cl', 'CL') = 0.5 < 0.6, so a case-sensitive match finds nothing
    assert closest("Cl", ["CL", "V", "ka"]) == "; did you mean 'CL'?"
    assert closest_match("cl", ["V", "CL"]) == "CL"
    assert closest_match("ec5", ["EC50", "Emax"]) == "EC50"
    assert closest_match("Centrl", ["depot", "central"]) == "central"
    assert closest_match("xyz", ["CL", "V"]) is None
    assert closest("xyz", ["CL", "V"]) == ""
    # a difference in case only wins over a closer-looking spelling
    assert closest_match("vmax", ["Vmax", "vma"]) == "Vmax"
