"""The fused Tsitouras 5(4) step (``model_fn`` with ``which == 13``).

The generated step evaluates all stages in straight-line code with the
right-hand side inlined and its parameter-only parts hoisted. It must equal a
step written out here from the tableau (whose order conditions
tests/reference/test_tsit5.py checks) with the model's own right-hand side, and
whole simulations must agree with the generic step.
"""

from __future__ import annotations

import ctypes
import dataclasses

import numpy as np
import pytest
import sympy as sp
from numba import njit

from pkpd import Bolus, Infusion, Model, Output, Param, State, compile_model, kernel
from pkpd.compile import FUSED_MAX_STATES
from pkpd.simulate import prepare
from tests._models import w1_model, w1_regimen
from tests.unit.test_compile import _rich_model

K = kernel
A = {2: [K._A21], 3: [K._A31, K._A32], 4: [K._A41, K._A42, K._A43],
     5: [K._A51, K._A52, K._A53, K._A54], 6: [K._A61, K._A62, K._A63, K._A64, K._A65],
     7: [K._A71, K._A72, K._A73, K._A74, K._A75, K._A76]}
C = {2: K._C2, 3: K._C3, 4: K._C4, 5: K._C5, 6: 1.0, 7: 1.0}
E = np.array([K._E1, K._E2, K._E3, K._E4, K._E5, K._E6, K._E7])


def _reference_step(cm, t, z, k1, h, p, rate, rtol, atol):
    ks = [k1]
    stage_y = {}
    for s, a in A.items():
        y = z + h * sum(aj * kj for aj, kj in zip(a, ks, strict=False))
        stage_y[s] = y
        ks.append(cm.rhs(t + C[s] * h, y, p) + rate)
    znew = stage_y[7]
    err = h * (E @ np.array(ks))
    sc = atol + rtol * np.maximum(np.abs(z), np.abs(znew))
    return np.array(ks[1:]), znew, stage_y[6], np.mean((err / sc) ** 2)


def _fused_step(cm, t, z, k1, h, p, rate, rtol, atol, python=False):
    n = len(z)
    w = np.zeros(K.TSIT5_Z + 10 * n)
    w[0], w[1], w[2] = h, rtol, atol
    w[K.TSIT5_Z:K.TSIT5_Z + n] = z
    w[K.TSIT5_Z + n:K.TSIT5_Z + 2 * n] = k1
    rate = np.ascontiguousarray(rate, dtype=float)
    if python:
        cm.py_fn(13, t, w, p, rate)
    else:
        dp = ctypes.POINTER(ctypes.c_double)
        cm.fn.ctypes(13, t, w.ctypes.data_as(dp), p.ctypes.data_as(dp), rate.ctypes.data_as(dp))
    z0 = K.TSIT5_Z
    ks = w[z0 + 2 * n:z0 + 8 * n].reshape(6, n)
    return ks, w[z0 + 8 * n:z0 + 9 * n], w[z0 + 9 * n:z0 + 10 * n], w[3]


@pytest.mark.parametrize("build", [w1_model, _rich_model])
@pytest.mark.parametrize("python", [False, True])
def test_fused_step_equals_the_tableau(build, python):
    cm = compile_model(build())
    assert cm.fused_tsit5
    rng = np.random.default_rng(3)
    p = cm.param_vector()
    n = cm.n_states
    for _ in range(5):
        t = rng.uniform(0, 20)
        z = rng.uniform(0.5, 5.0, n)
        k1 = cm.rhs(t, z, p)
        rate = rng.uniform(0, 3, n) * (rng.uniform(size=n) < 0.5)
        k1 = k1 + rate
        h = rng.uniform(0.01, 0.5)
        ref = _reference_step(cm, t, z, k1, h, p, rate, 1e-6, 1e-9)
        got = _fused_step(cm, t, z, k1, h, p, rate, 1e-6, 1e-9, python=python)
        for r, g in zip(ref[:3], got[:3], strict=True):
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)
        assert got[3] == pytest.approx(ref[3], rel=1e-9)


def test_fused_step_flags_a_non_finite_state():
    x, k = sp.symbols("x k")
    m = Model(name="blowup", params=[Param("k", 1.0)], states=[State("x", 1.0)],
              odes={"x": k * x ** 2}, outputs=[Output("xo", x)])
    cm = compile_model(m)
    p = cm.param_vector()
    z = np.array([1e200])
    _, znew, _, en2 = _fused_step(cm, 0.0, z, cm.rhs(0, z, p), 1.0, p, np.zeros(1), 1e-6, 1e-9)
    assert not np.all(np.isfinite(znew))
    assert not np.isfinite(en2)  # the kernel rejects the step


def _both(cm, regimen, times, method="tsit5"):
    out = []
    for fused in (True, False):
        pr = prepare(dataclasses.replace(cm, fused_tsit5=fused), regimen, times, method=method)
        Y, O, _, _, stats = pr.run(pr.base_vector())
        out.append((Y, O, stats))
    return out


@pytest.mark.parametrize("method", ["tsit5", "auto"])
def test_fused_and_generic_simulations_agree(method):
    cm = compile_model(w1_model())
    (Yf, Of, sf), (Yg, Og, sg) = _both(cm, w1_regimen(), np.arange(0, 731.0), method)
    # the two paths round differently (reciprocals are hoisted) but take the same steps
    assert not np.array_equal(Yf, Yg)
    np.testing.assert_allclose(Yf, Yg, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(Of, Og, rtol=1e-9, atol=1e-12)
    assert abs(int(sf[2]) - int(sg[2])) <= 2


def test_fused_step_with_covariates_time_and_piecewise():
    cm = compile_model(_rich_model())
    reg = Bolus(0, 5.0, "a") + Infusion(3, 10.0, "b", duration=2.0)
    (Yf, Of, _), (Yg, Og, _) = _both(cm, reg, np.linspace(0, 24, 49))
    assert not np.array_equal(Yf, Yg)
    np.testing.assert_allclose(Yf, Yg, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(Of, Og, rtol=1e-8, atol=1e-10)


def test_large_models_use_the_generic_step():
    n = FUSED_MAX_STATES + 1
    xs = sp.symbols(f"x0:{n}")
    k = sp.Symbol("k")
    odes = {xs[0].name: -k * xs[0]}
    odes.update({xs[i].name: k * (xs[i - 1] - xs[i]) for i in range(1, n)})
    m = Model(name="chain", params=[Param("k", 0.5)],
              states=[State(x.name, 1.0 if i == 0 else 0.0) for i, x in enumerate(xs)],
              odes=odes, outputs=[Output("last", xs[-1])])
    assert not compile_model(m).fused_tsit5
    assert compile_model(w1_model()).fused_tsit5


@njit
def _fast(x):
    out = np.empty((2, x.shape[0]))
    for i in range(x.shape[0]):
        out[0, i] = K._log2_fast(x[i])
        out[1, i] = K._exp2_fast(np.log2(x[i]))
    return out


def test_fast_log2_and_exp2_for_step_size_control():
    x = np.geomspace(1e-30, 1e30, 20001)
    lg, ex = _fast(x)
    # Mitchell's approximations: log2 at most 0.087 below, 2**y at most 6.2 % above
    assert np.all(lg <= np.log2(x) + 1e-12) and np.all(lg > np.log2(x) - 0.087)
    assert np.all(ex >= x * (1 - 1e-12)) and np.all(ex < 1.062 * x)
    assert _fast(np.array([0.0]))[0, 0] < -1000  # en == 0 (an exact step) stays finite
