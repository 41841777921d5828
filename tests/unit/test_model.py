"""Model construction and validation: the messages people act on."""

from __future__ import annotations

import math

import pytest
import sympy as sp

from pkpd import Covariate, Model, ModelError, Output, Param, State
from pkpd.model import T

ka, CL, V, depot, central = sp.symbols("ka CL V depot central")


def oral(**changes) -> Model:
    spec = dict(
        name="oral_1cmt",
        params=[Param("ka", 1.5, "1/h", 0, 50), Param("CL", 2.8, "L/h", 0), Param("V", 32, "L", 0)],
        states=[State("depot", 0, "mg"), State("central", 0, "mg")],
        odes={"depot": -ka * depot, "central": ka * depot - CL / V * central},
        outputs=[Output("conc", central / V, "mg/L")],
        dose_target="depot",
    )
    spec.update(changes)
    return Model(**spec)


def test_a_valid_model_is_frozen_and_normalised():
    m = oral()
    assert m.param_names == ("ka", "CL", "V")
    assert m.state_names == ("depot", "central")
    assert isinstance(m.params, tuple) and isinstance(m.odes, tuple)
    assert m.params[2].value == 32.0 and isinstance(m.params[2].value, float)
    with pytest.raises(AttributeError):
        m.name = "other"  # type: ignore[misc]
    assert hash(m) == hash(oral())


def test_ode_order_does_not_matter():
    swapped = oral(odes={"central": ka * depot - CL / V * central, "depot": -ka * depot})
    assert swapped == oral()
    assert [n for n, _ in swapped.odes] == ["depot", "central"]


def test_state_without_ode():
    with pytest.raises(ModelError, match=r"state 'central' has no ODE; add d/dt\(central\)"):
        oral(odes={"depot": -ka * depot})


def test_ode_for_unknown_state_suggests_the_closest():
    with pytest.raises(ModelError, match=r"ODE for unknown state 'centrl'; did you mean "
                                         r"'central'\?; declare it under \[states\]"):
        oral(odes={"depot": -ka * depot, "central": 0 * central, "centrl": 0})


def test_misspelt_symbol_gets_a_suggestion():
    Vv = sp.Symbol("Vv")
    with pytest.raises(ModelError, match=r"unknown symbol 'Vv' in output 'conc'; did you "
                                         r"mean 'V'\?"):
        oral(outputs=[Output("conc", central / Vv)])
    EC5 = sp.Symbol("EC5")
    with pytest.raises(ModelError, match=r"unknown symbol 'EC5' in d/dt\(depot\)"):
        oral(odes={"depot": -EC5 * depot, "central": 0})


def test_name_used_twice():
    with pytest.raises(ModelError, match=r"name 'V' is used twice \(as parameter and as "
                                         r"covariate\)"):
        oral(covariates=[Covariate("V", 70)])
    with pytest.raises(ModelError, match=r"name 'CL' is used twice \(as parameter and as "
                                         r"assignment\)"):
        oral(assignments={"CL": 2 * CL})


def test_assignment_cycle():
    a, b = sp.symbols("a b")
    with pytest.raises(ModelError, match=r"cycle among assignments: a -> b -> a"):
        oral(assignments=[("a", b + 1), ("b", 2 * a)])


@pytest.mark.parametrize("name", ["t", "exp", "F", "lag", "d", "pi"])
def test_reserved_names(name):
    with pytest.raises(ModelError, match=rf"parameter name '{name}' is reserved; reserved "
                                         r"names are: .*\bmax\b"):
        oral(params=[Param(name, 1.0)], odes={"depot": 0, "central": 0}, outputs=[])


def test_invalid_and_underscore_names():
    with pytest.raises(ModelError, match=r"state name '2x' is not a valid identifier"):
        Model(name="m", states=[State("2x")], odes={"2x": 0})
    with pytest.raises(ModelError, match=r"may not start with an underscore"):
        Model(name="m", states=[State("_x")], odes={"_x": 0})
    with pytest.raises(ModelError, match="non-empty name"):
        Model(name="", states=[State("x")], odes={"x": 0})
    with pytest.raises(ModelError, match="has no states"):
        Model(name="m")


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_values(value):
    with pytest.raises(ModelError, match=r"parameter 'CL' has a non-finite value"):
        oral(params=[Param("ka", 1.5), Param("CL", value), Param("V", 32)])
    with pytest.raises(ModelError, match=r"covariate 'WT' has a non-finite value"):
        oral(covariates=[Covariate("WT", value)])
    with pytest.raises(ModelError, match=r"initial value of state 'depot' is not finite"):
        State("depot", value)
    with pytest.raises(ModelError, match=r"non-finite"):
        oral(odes={"depot": sp.oo * depot, "central": 0})


def test_values_must_be_numbers_and_expressions_not_strings():
    with pytest.raises(ModelError, match=r"parameter 'CL': value must be a number, got '2'"):
        Param("CL", "2")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match=r"is the string 'CL/V'.*never evaluated"):
        Output("conc", "CL/V")


def test_value_outside_bounds():
    with pytest.raises(ModelError, match=r"parameter 'ka' = 60 is outside its bounds \(0, 50\)"):
        oral(params=[Param("ka", 60, "1/h", 0, 50), Param("CL", 2.8), Param("V", 32)])
    with pytest.raises(ModelError, match=r"bounds \(5.0, 1.0\) are not ordered"):
        oral(params=[Param("ka", 1.5, "1/h", 5, 1), Param("CL", 2.8), Param("V", 32)])


def test_bioavailability_lag_and_dose_target_checks():
    with pytest.raises(ModelError, match=r"unknown symbol 'central' in F\(depot\)"):
        oral(bioavailability={"depot": central / 100})
    with pytest.raises(ModelError, match=r"lag\(centrl\) names an unknown state; did you mean"):
        oral(lag={"centrl": ka})
    with pytest.raises(ModelError, match=r"dose target 'dept' is not a state; did you mean "
                                         r"'depot'\?"):
        oral(dose_target="dept")
    g = sp.Symbol("g")
    with pytest.raises(ModelError, match=r"F\(depot\) depends on states or time"):
        oral(assignments={"g": T * ka}, bioavailability={"depot": g})


def test_unsupported_function():
    with pytest.raises(ModelError, match=r"function 'cosh' in d/dt\(depot\) is not supported"):
        oral(odes={"depot": sp.cosh(ka) * depot, "central": 0})


def test_with_params_returns_a_new_equal_but_changed_model():
    m = oral()
    m2 = m.with_params(CL=3.0)
    assert m2 is not m and m2 != m
    assert m.param("CL").value == 2.8 and m2.param("CL").value == 3.0
    assert m2.with_params({"CL": 2.8}) == m
    assert m2.param("CL").unit == "L/h" and m2.param("CL").lower == 0
    assert m2.odes == m.odes and m2.states == m.states
    with pytest.raises(ModelError, match=r"has no parameter 'CLL'; did you mean 'CL'\?; "
                                         r"parameters are: ka, CL, V"):
        m.with_params(CLL=3.0)
    with pytest.raises(ModelError, match=r"outside its bounds"):
        m.with_params(ka=100.0)


def test_with_covariates():
    m = oral(covariates=[Covariate("WT", 70, "kg")])
    assert m.with_covariates(WT=80).covariate_values == {"WT": 80.0}
    with pytest.raises(ModelError, match=r"no covariate 'wt'"):
        m.with_covariates(wt=80)


def test_expanded_substitutes_assignment_chains():
    WT, kdes = sp.symbols("WT kdes")
    CLi, C, k = sp.symbols("CLi C k")
    m = Model(
        name="chain",
        params=[Param("CL", 2.8), Param("V", 32), Param("kdes", 0.1), Param("ka", 1.0)],
        covariates=[Covariate("WT", 70, "kg")],
        states=[State("depot", sp.Symbol("V")), State("central", 0)],
        # k is listed before the assignments it uses; the order is resolved.
        assignments=[("k", CLi / V), ("CLi", CL * (WT / 70) ** 0.75 * sp.exp(-kdes * T)),
                     ("C", central / V)],
        odes={"depot": -ka * depot, "central": ka * depot - k * central},
        outputs=[Output("conc", C)],
        bioavailability={"depot": 1 - kdes},
    )
    ex = m.expanded()
    cl = CL * (WT / 70) ** 0.75 * sp.exp(-kdes * T)
    assert ex.rhs == (-ka * depot, ka * depot - cl / V * central)
    assert ex.outputs == (central / V,)
    assert ex.inits == (V, sp.Integer(0))
    assert ex.bioavailability == (1 - kdes, sp.Integer(1))
    assert ex.lag == (sp.Integer(0), sp.Integer(0))
    assert ex.states == (depot, central)
    assert ex.covariates == (WT,)
    for e in ex.rhs + ex.outputs:
        assert not e.free_symbols & {CLi, C, k}
    assert m.expanded() is ex  # memoised on the (hashable) value


def test_with_params_and_covariates_take_numbers_only():
    import numpy as np

    from pkpd import load_model

    m = load_model("ocrelizumab_bcell")
    assert m.with_params(CLinf=np.float64(0.2)).param("CLinf").value == 0.2
    for bad in ("0.2", True, None):
        with pytest.raises(ModelError, match="must be a number"):
            m.with_params(CLinf=bad)
        with pytest.raises(ModelError, match="must be a number"):
            m.with_covariates(WT=bad)
