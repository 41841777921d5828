"""The top-level namespace: lazy loading, exports, names shared with submodules."""

from __future__ import annotations

import subprocess
import sys

import pkpd


def test_all_lists_every_export_and_each_resolves():
    assert set(pkpd.__all__) == set(pkpd._EXPORTS) | set(pkpd._SUBMODULES)
    for name in pkpd.__all__:
        assert getattr(pkpd, name) is not None, name


def test_import_is_lazy():
    code = ("import sys, pkpd; heavy = [m for m in ('sympy', 'lmfit', 'numba', 'pandas', "
            "'matplotlib', 'SALib') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_functions_named_like_their_module_stay_functions():
    code = ("import pkpd, pkpd.fit, pkpd.simulate, pkpd.dose_response; "
            "from pkpd.simulate import prepare; "
            "print(callable(pkpd.fit) and not isinstance(pkpd.fit, type(pkpd)), "
            "pkpd.simulate.__name__, pkpd.dose_response.__name__, pkpd.fit.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "simulate", "dose_response", "fit"]


def test_unknown_attribute():
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'simulat'"):
        pkpd.simulat  # noqa: B018
