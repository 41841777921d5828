"""Compiled callables against sympy's own evaluation and finite differences; disk cache."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sympy as sp

from pkpd import Model, Output, Param, State, compile_model
from pkpd.compile import cache_dir
from tests._models import w1_model


def _rich_model() -> Model:
    """Uses t, covariates, Piecewise, Min/Max, sqrt, log10, abs and powers."""
    a, b, c = sp.symbols("a b c")
    k1, k2, V, WT, E50, n = sp.symbols("k1 k2 V WT E50 n")
    t = sp.Symbol("t")
    CL = sp.Symbol("CL")
    return Model(
        name="rich",
        params=[Param("k1", 0.7), Param("k2", 0.3), Param("V", 5.0), Param("E50", 2.0),
                Param("n", 1.7)],
        covariates=[__import__("pkpd").Covariate("WT", 70.0, "kg")],
        states=[State("a", 10.0), State("b", 0), State("c", V / 5)],
        assignments={"CL": k1 * (WT / 70) ** sp.Rational(3, 4) + 0.1 * sp.exp(-0.05 * t)},
        odes={
            "a": -CL * a / V - sp.Min(k2, 0.5) * a,
            "b": sp.Min(k2, 0.5) * a - sp.sqrt(b + 1) * k2,
            "c": sp.Piecewise((a ** n / (E50 ** n + a ** n), a > 1), (0.1 * a, True))
            - sp.Max(c, 0.2) * k2 + sp.log(a + 2, 10) + sp.Abs(b - 1) * 0.01,
        },
        outputs=[Output("conc", a / V), Output("eff", c * b)],
    )


def _sympy_eval(exprs, subs):
    return np.array([float(sp.N(e.xreplace(subs))) for e in exprs])


@pytest.mark.parametrize("backend", ["numba", "python"])
def test_rhs_and_outputs_equal_sympy(backend, rng):
    m = _rich_model()
    cm = compile_model(m, backend=backend)
    ex = m.expanded()
    syms = list(ex.states) + list(ex.params) + list(ex.covariates) + [sp.Symbol("t")]
    for _ in range(5):
        y = rng.uniform(0.1, 5, 3)
        p = np.concatenate([rng.uniform(0.2, 3, 5), [rng.uniform(40, 100)]])
        t = rng.uniform(0, 50)
        subs = dict(zip(syms, [*y, *p, t], strict=True))
        np.testing.assert_allclose(cm.rhs(t, y, p), _sympy_eval(ex.rhs, subs), rtol=1e-12)
        np.testing.assert_allclose(cm.outputs(t, y, p), _sympy_eval(ex.outputs, subs), rtol=1e-12)
        real = {s: sp.Symbol(s.name, real=True) for s in syms}
        jac = sp.Matrix(ex.rhs).xreplace(real).jacobian([real[s] for s in ex.states])
        rsubs = {real[k]: v for k, v in subs.items()}
        np.testing.assert_allclose(cm.jacobian(t, y, p),
                                   np.array(jac.xreplace(rsubs).evalf(), dtype=float),
                                   rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(cm.initial_state(cm.param_vector()), [10, 0, 1])


def test_jacobian_and_sensitivity_rhs_match_central_differences(rng):
    cm = compile_model(_rich_model())
    for _ in range(5):
        y = rng.uniform(0.5, 5, 3)
        p = cm.param_vector()
        t = rng.uniform(0, 20)
        h = 1e-6
        fd_j = np.column_stack([(cm.rhs(t, y + h * e, p) - cm.rhs(t, y - h * e, p)) / (2 * h)
                                for e in np.eye(3)])
        np.testing.assert_allclose(cm.jacobian(t, y, p), fd_j, rtol=1e-6, atol=1e-8)
        npar = cm.n_params
        fd_p = np.column_stack([
            (cm.rhs(t, y, p + h * np.r_[e, 0]) - cm.rhs(t, y, p - h * np.r_[e, 0])) / (2 * h)
            for e in np.eye(npar)])
        np.testing.assert_allclose(cm.dfdp(t, y, p), fd_p, rtol=1e-6, atol=1e-8)
        # sensitivity right-hand side: d/dt S = J S + df/dp
        S = rng.normal(size=(3, npar))
        np.testing.assert_allclose(cm.sensitivity_rhs(t, y, S, p), fd_j @ S + fd_p,
                                   rtol=1e-6, atol=1e-7)


def test_numba_and_python_backends_agree(rng):
    m = w1_model()
    a, b = compile_model(m, backend="numba"), compile_model(m, backend="python")
    p = a.param_vector()
    for _ in range(3):
        y = rng.uniform(0, 300, 3)
        np.testing.assert_array_equal(a.rhs(1.0, y, p), b.rhs(1.0, y, p))
        np.testing.assert_array_equal(a.jacobian(1.0, y, p), b.jacobian(1.0, y, p))


def test_models_differing_only_in_values_share_code():
    m = w1_model()
    a = compile_model(m)
    b = compile_model(m.with_params(CL=0.3))
    assert a.key == b.key and b.model.param("CL").value == 0.3


_CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    import pkpd.compile as C
    from tests._models import w1_model
    if {forbid}:
        def boom(*a, **k):
            raise SystemExit("generate_source called: the disk cache was not used")
        C.generate_source = boom
    t0 = time.perf_counter()
    cm = C.compile_model(w1_model())
    print(cm.rhs(0.0, [1.0, 2.0, 3.0], cm.param_vector()).tolist())
""")


def _child(tmp_path, forbid: bool) -> subprocess.CompletedProcess:
    env = dict(os.environ, PKPD_CACHE_DIR=str(tmp_path))
    tests = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    code = _CHILD.format(tests=tests, forbid=forbid)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)


def test_second_process_uses_disk_cache_and_corrupt_entries_are_rebuilt(tmp_path):
    first = _child(tmp_path, forbid=False)
    assert first.returncode == 0, first.stderr
    files = list(tmp_path.glob("m_*.py"))
    assert len(files) == 1
    assert list((tmp_path / "__pycache__").glob("*.nbi")), "numba cache entry missing"
    second = _child(tmp_path, forbid=True)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    # corrupt the generated source: its checksum no longer matches, so it is rebuilt
    text = files[0].read_text()
    files[0].write_text(text.replace("out[0] =", "out[0] = 1e9 +", 1))
    rebuilt_forbidden = _child(tmp_path, forbid=True)
    assert rebuilt_forbidden.returncode != 0  # had to regenerate
    rebuilt = _child(tmp_path, forbid=False)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout == first.stdout
    # corrupt numba's own cache files: discarded and recompiled, same numbers
    for f in (tmp_path / "__pycache__").iterdir():
        f.write_bytes(b"garbage")
    again = _child(tmp_path, forbid=False)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout


def test_cache_dir_env(tmp_path, monkeypatch):
    monkeypatch.setenv("PKPD_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
