"""Inputs the compiled code cannot take: short vectors and constants outside doubles.

The compiled code reads parameters and states by index (a short vector would be
read past its end) and computes in double precision (a constant beyond its
range, or not real, has no value there).
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from pkpd import Bolus, Model, Output, Param, State, compile_model, load_model, parse_model
from pkpd.errors import ModelError
from pkpd.simulate import prepare

BASE = """name: t
[parameters]
k = 1
[states]
A = 1
[equations]
d/dt(A) = EXPR
"""


@pytest.mark.parametrize(("expr", "message"), [
    ("-k*A*10.0^5000", "beyond the range of double precision"),
    ("-k*A*1e300*1e300", "beyond the range of double precision"),
    ("-k*A*10^400", "beyond the range of double precision"),
    ("-k*A*exp(800)", "beyond the range of double precision"),
    ("-k*A*(-8)^(1/3)", "is not real"),
])
def test_constants_outside_doubles_are_refused_with_line_and_column(expr, message):
    with pytest.raises(ModelError, match=rf"line 7, column 11: .*{message}"):
        parse_model(BASE.replace("EXPR", expr))


@pytest.mark.parametrize("expr", ["-k*A*2^0.5", "-k*A*(-8)^2", "-k*A*1e-300", "-k*A*exp(700)"])
def test_large_but_representable_constants_are_fine(expr):
    m = parse_model(BASE.replace("EXPR", expr))
    cm = compile_model(m)
    assert np.isfinite(cm.rhs(0.0, [1.0], cm.param_vector())).all()


def test_python_models_are_checked_too():
    A, k = sp.symbols("A k")
    with pytest.raises(ModelError, match="beyond the range of double precision"):
        Model(name="big", params=[Param("k", 1.0)], states=[State("A", 1.0)],
              odes={"A": -k * A * sp.Float("1e5000")}, outputs=[Output("a", A)])
    with pytest.raises(ModelError, match="is not real"):
        Model(name="cplx", params=[Param("k", 1.0)], states=[State("A", 1.0)],
              odes={"A": -k * A * sp.Integer(-8) ** sp.Rational(1, 3)}, outputs=[Output("a", A)])


def test_vectors_of_the_wrong_length_are_refused():
    m = load_model("ocrelizumab_bcell")  # parameters and a covariate (WT)
    prep = prepare(m, Bolus(0, 300, "central"), np.linspace(0, 50, 6))
    p = prep.base_vector()
    assert len(p) == len(m.params) + len(m.covariates)
    with pytest.raises(ValueError, match=r"p must hold the \d+ parameters and 1 covariates"):
        prep.run(p[:-1])
    cm = compile_model(m)
    with pytest.raises(ValueError, match=r"y must hold the \d+ states"):
        cm.rhs(0.0, [1.0], p)
    with pytest.raises(ValueError, match=r"p must hold"):
        cm.jacobian(0.0, np.ones(cm.n_states), p[:-1])
