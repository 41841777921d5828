"""The Tsitouras 5(4) pair of the non-stiff path, against theory and closed forms.

Ch. Tsitouras, "Runge-Kutta pairs of order 5(4) satisfying only the first column
simplifying assumption", Comput. Math. Appl. 62 (2011) 770-775. The coefficients in
pkpd.kernel are checked here against the order conditions written out from the
rooted trees (Butcher): 17 conditions for the 5th-order weights, 8 for the embedded
4th-order weights, 8 for the continuous extension at every theta. The integrator is
then checked against exact solutions, between steps (dense output) and at step ends
(observed order of convergence with fixed step sizes).
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from pkpd import Model, Output, Param, Regimen, State, simulate
from pkpd import kernel as K


def _tableau():
    A = np.zeros((7, 7))
    A[1, 0] = K._A21
    A[2, :2] = K._A31, K._A32
    A[3, :3] = K._A41, K._A42, K._A43
    A[4, :4] = K._A51, K._A52, K._A53, K._A54
    A[5, :5] = K._A61, K._A62, K._A63, K._A64, K._A65
    A[6, :6] = K._A71, K._A72, K._A73, K._A74, K._A75, K._A76
    c = np.array([0.0, K._C2, K._C3, K._C4, K._C5, 1.0, 1.0])
    b = A[6].copy()
    e = np.array([K._E1, K._E2, K._E3, K._E4, K._E5, K._E6, K._E7])
    # R[i, k-1]: coefficient of theta^k in b_i(theta)
    R = np.array([
        [K._R11, K._R12, K._R13, K._R14],
        [0.0, K._R22, K._R23, K._R24],
        [0.0, K._R32, K._R33, K._R34],
        [0.0, K._R42, K._R43, K._R44],
        [0.0, K._R52, K._R53, K._R54],
        [0.0, K._R62, K._R63, K._R64],
        [0.0, K._R72, K._R73, K._R74],
    ])
    return A, c, b, e, R


def _conditions(w, A, c, order):
    """Residuals sum_i w_i Phi_i(tree) - 1/gamma(tree) for all trees up to `order`."""
    Ac, c2, c3 = A @ c, c**2, c**3
    trees = [
        (np.ones(7), 1.0),  # order 1
        (c, 1 / 2),  # order 2
        (c2, 1 / 3), (Ac, 1 / 6),  # order 3
        (c3, 1 / 4), (c * Ac, 1 / 8), (A @ c2, 1 / 12), (A @ Ac, 1 / 24),  # order 4
        (c**4, 1 / 5), (c2 * Ac, 1 / 10), (c * (A @ c2), 1 / 15), (c * (A @ Ac), 1 / 30),
        (Ac * Ac, 1 / 20), (A @ c3, 1 / 20), (A @ (c * Ac), 1 / 40), (A @ (A @ c2), 1 / 60),
        (A @ (A @ Ac), 1 / 120),  # order 5
    ]
    n_by_order = {1: 1, 2: 2, 3: 4, 4: 8, 5: 17}
    return np.array([w @ phi - g for phi, g in trees[:n_by_order[order]]])


def test_tableau_satisfies_the_order_conditions():
    A, c, b, e, R = _tableau()
    # consistency: c_i = sum_j a_ij; FSAL: stage 7 is the solution, b_7 = 0
    np.testing.assert_allclose(A.sum(axis=1), c, rtol=0, atol=1e-14)
    assert b[6] == 0.0
    # the 5th-order solution: all 17 conditions up to order 5
    assert np.max(np.abs(_conditions(b, A, c, 5))) < 1e-14
    # the embedded 4th-order solution bhat = b - e: order 4 exactly, not 5
    bhat = b - e
    assert np.max(np.abs(_conditions(bhat, A, c, 4))) < 1e-14
    assert np.max(np.abs(_conditions(bhat, A, c, 5))) > 1e-5
    # the error estimate is a genuine difference (would be zero for a broken pair)
    assert np.abs(e).max() > 1e-3


@pytest.mark.parametrize("theta", [0.0, 0.1, 0.33, 0.5, 0.77, 0.9, 1.0])
def test_continuous_extension_has_order_4_and_matches_the_step(theta):
    A, c, b, e, R = _tableau()
    bt = R @ theta ** np.arange(1, 5)
    # b_i(theta) must satisfy the order-4 conditions of the step of size theta*h:
    # sum_i b_i(theta) Phi_i(tree) = theta^rho / gamma(tree)
    Ac = A @ c
    trees = [(np.ones(7), 1, 1.0), (c, 2, 1 / 2), (c**2, 3, 1 / 3), (Ac, 3, 1 / 6),
             (c**3, 4, 1 / 4), (c * Ac, 4, 1 / 8), (A @ c**2, 4, 1 / 12), (A @ Ac, 4, 1 / 24)]
    for phi, rho, g in trees:
        assert bt @ phi == pytest.approx(theta**rho * g, abs=1e-14)
    if theta == 1.0:
        # continuity: the dense output at theta = 1 is the step's solution
        np.testing.assert_allclose(bt, b, rtol=0, atol=1e-14)
    if theta == 0.0:
        assert np.all(bt == 0.0)


def test_stiffness_bound_sits_just_inside_the_stability_boundary():
    A, c, b, e, R = _tableau()

    def stab(z):
        return abs(1 + z * b @ np.linalg.solve(np.eye(7) - z * A, np.ones(7)))

    x = np.linspace(0.5, 6.0, 55001)
    inside = np.array([stab(-v) <= 1.0 for v in x])
    boundary = x[np.argmin(inside)]  # first x where |R(-x)| > 1
    assert 3.4 < boundary < 3.6
    # Hairer's DOPRI5 uses 3.25 for its boundary 3.3066: the same relative margin
    assert 0.97 * boundary < K._STIFF_BOUND < boundary


def _decay() -> Model:
    y, k = sp.symbols("y k")
    return Model(name="decay", params=[Param("k", 1.0)], states=[State("y", 1.0)],
                 odes={"y": -k * y}, outputs=[Output("yo", y)])


def _oscillator() -> Model:
    x, v, w = sp.symbols("x v w")
    return Model(name="osc", params=[Param("w", 2.0)], states=[State("x", 1.0), State("v", 0.0)],
                 odes={"x": v, "v": -w**2 * x}, outputs=[Output("xo", x)])


def _sin_growth() -> Model:
    # y' = y cos(t), y(0) = 1: y = exp(sin t); nonautonomous, so the nodes c_i matter
    y, a, t = sp.symbols("y a t")
    return Model(name="sing", params=[Param("a", 1.0)], states=[State("y", 1.0)],
                 odes={"y": a * y * sp.cos(t)}, outputs=[Output("yo", y)])


def _scaled(y, y_true, rtol, atol):
    return np.max(np.abs(y - y_true) / (atol + rtol * np.abs(y_true)))


@pytest.mark.parametrize("rtol", [1e-4, 1e-6, 1e-8])
def test_dense_output_between_steps_decay(rtol):
    atol = rtol * 1e-2
    t = np.linspace(0.0, 10.0, 2001)
    sim = simulate(_decay(), Regimen(), t, method="nonstiff", rtol=rtol, atol=atol)
    # most output times fall strictly inside steps
    assert sim.stats["naccept"] < 200
    assert _scaled(sim["y"], np.exp(-t), rtol, atol) < 10


@pytest.mark.parametrize("rtol", [1e-4, 1e-6, 1e-8])
def test_dense_output_between_steps_oscillator(rtol):
    atol = rtol * 1e-2
    w = 2.0
    t = np.linspace(0.0, 6.0, 3001)
    sim = simulate(_oscillator(), Regimen(), t, method="nonstiff", rtol=rtol, atol=atol)
    assert sim.stats["naccept"] < 400
    x_true, v_true = np.cos(w * t), -w * np.sin(w * t)
    # scale by the tolerance on the amplitude of each component
    assert np.max(np.abs(sim["x"] - x_true)) / (atol + rtol * 1.0) < 10
    assert np.max(np.abs(sim["v"] - v_true)) / (atol + rtol * w) < 10


def test_dense_output_is_needed_and_not_linear_interpolation():
    # the same run sampled only at step ends would be exact to tolerance, while
    # chords between steps are far off: the check above would catch a broken extension
    rtol = 1e-6
    t = np.linspace(0.0, 10.0, 2001)
    sim = simulate(_decay(), Regimen(), t, method="nonstiff", rtol=rtol, atol=1e-8)
    h = 10.0 / sim.stats["naccept"]
    assert h**2 / 8 * np.exp(-2.0) > 100 * (1e-8 + rtol * np.exp(-2.0))


def _riccati() -> Model:
    # y' = -a y^2, y(0) = 1: y = 1 / (1 + t)
    y, a = sp.symbols("y a")
    return Model(name="ric", params=[Param("a", 1.0)], states=[State("y", 1.0)],
                 odes={"y": -a * y**2}, outputs=[Output("yo", y)])


def _logistic_t() -> Model:
    # y' = y (1 - y)(1 + t), y(0) = 1/2: y = 1 / (1 + exp(-(t + t^2/2)))
    y, a, t = sp.symbols("y a t")
    return Model(name="lgt", params=[Param("a", 1.0)], states=[State("y", 0.5)],
                 odes={"y": a * y * (1 - y) * (1 + t)}, outputs=[Output("yo", y)])


@pytest.mark.parametrize("model,exact", [
    (_riccati, lambda t: 1 / (1 + t)),
    (_logistic_t, lambda t: 1 / (1 + np.exp(-(t + t**2 / 2)))),
])
def test_observed_order_is_five(model, exact):
    # fixed step sizes: hmax = T/N with a loose tolerance so the controller never
    # picks a smaller step. Tsit5's 5th-order error constants are small, so the h^6
    # term still shows at coarse steps: the observed order falls towards 5 from above
    # (measured 5.9/5.5/5.3 and 5.8/5.6/5.4); a 4th-order method would give about 4.
    T = 2.0
    m = model()
    errs, steps = [], []
    for N in (20, 40, 80, 160):
        sim = simulate(m, Regimen(), [0.0, T], method="nonstiff", rtol=1e-1, atol=1e-1,
                       hmax=T / N)
        steps.append(sim.stats["naccept"] + sim.stats["nreject"])
        errs.append(abs(sim.states[-1, 0] - exact(T)))
    assert steps == [20, 40, 80, 160]
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all((orders > 4.8) & (orders < 6.0)), (errs, orders)
    assert np.all(np.diff(orders) < 0), orders
    assert orders[-1] < 5.5, orders


def test_adaptive_error_falls_with_tolerance():
    # adaptive runs: steps ~ tol^(-1/5), so rtol 32x smaller -> about 2x the steps;
    # the error (here read through the dense output) falls several-fold (measured 8x)
    # and stays within 10x the tolerance
    t = np.linspace(0.0, 10.0, 11)
    out = []
    for rtol in (1e-6, 1e-6 / 32):
        sim = simulate(_sin_growth(), Regimen(), t, method="nonstiff", rtol=rtol, atol=rtol)
        out.append((np.max(np.abs(sim["y"] - np.exp(np.sin(t)))), sim.stats["naccept"]))
    (e1, n1), (e2, n2) = out
    assert 1.6 < n2 / n1 < 2.6
    assert e1 / e2 > 4
    assert e1 < 10 * 1e-6 * np.e and e2 < 10 * 1e-6 / 32 * np.e
