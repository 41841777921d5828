"""pkpd: pharmacodynamic ODE modelling of immunotherapy in multiple sclerosis.

Names are loaded on first use (PEP 562), so ``import pkpd`` is quick and a
script that only simulates never imports lmfit, SALib or matplotlib.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> submodule that defines it
_EXPORTS: dict[str, str] = {
    # models and the model language
    "Model": "model", "Param": "model", "State": "model", "Output": "model",
    "Covariate": "model",
    "parse_model": "language", "load_model": "language", "list_models": "language",
    "CompiledModel": "compile", "compile_model": "compile",
    # dosing and data
    "Bolus": "dosing", "Infusion": "dosing", "Regimen": "dosing", "Reset": "dosing",
    "parse_regimen": "notation", "format_regimen": "notation", "model_regimens": "notation",
    "regimen_from_model": "notation", "regimen_for_model": "notation",
    "parse_duration": "notation", "parse_times": "notation",
    "Dataset": "data", "Subject": "data", "read_nonmem": "data", "write_nonmem": "data",
    # errors
    "PkpdError": "errors", "ModelError": "errors", "RegimenError": "errors",
    "DataError": "errors", "SimulationError": "errors", "FitError": "errors",
    "SpecError": "errors",
    # simulation
    "Simulation": "simulate", "simulate": "simulate",
    # fitting
    "fit": "fit", "fit_each": "fit", "FitResult": "fit", "SubjectFits": "fit",
    "profile": "fit", "Profile": "fit", "bootstrap": "fit", "Bootstrap": "fit",
    "run_fit": "fit",
    # populations and sensitivity
    "Population": "population", "PopulationSimulation": "population",
    "ResidualError": "population", "simulate_population": "population",
    "local_sensitivity": "sensitivity", "LocalSensitivity": "sensitivity",
    "sobol": "sensitivity", "morris": "sensitivity", "fast": "sensitivity",
    "GlobalSensitivity": "sensitivity",
    # dose-response and reports
    "dose_response": "dose_response", "dose_grid": "dose_response",
    "DoseResponse": "dose_response", "fit_curve": "curves", "CurveFit": "curves",
    "Report": "report",
}
#: functions named like the submodule that defines them: ``pkpd.simulate`` is
#: the function, the module stays importable as ``pkpd.simulate`` via
#: ``from pkpd.simulate import ...`` (as with an eager ``from .simulate import simulate``)
_SHADOWED = frozenset(n for n, mod in _EXPORTS.items() if n == mod)
_SUBMODULES = ("datasets", "metrics")

__all__ = [
    "Bolus",
    "Bootstrap",
    "CompiledModel",
    "Covariate",
    "CurveFit",
    "DataError",
    "Dataset",
    "DoseResponse",
    "FitError",
    "FitResult",
    "GlobalSensitivity",
    "Infusion",
    "LocalSensitivity",
    "Model",
    "ModelError",
    "Output",
    "Param",
    "PkpdError",
    "Population",
    "PopulationSimulation",
    "Profile",
    "Regimen",
    "RegimenError",
    "Report",
    "Reset",
    "ResidualError",
    "Simulation",
    "SimulationError",
    "SpecError",
    "State",
    "Subject",
    "SubjectFits",
    "bootstrap",
    "compile_model",
    "datasets",
    "dose_grid",
    "dose_response",
    "fast",
    "fit",
    "fit_curve",
    "fit_each",
    "format_regimen",
    "list_models",
    "load_model",
    "local_sensitivity",
    "metrics",
    "model_regimens",
    "morris",
    "parse_duration",
    "parse_model",
    "parse_regimen",
    "parse_times",
    "profile",
    "read_nonmem",
    "regimen_for_model",
    "regimen_from_model",
    "run_fit",
    "simulate",
    "simulate_population",
    "sobol",
    "write_nonmem",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'pkpd' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


class _Package(types.ModuleType):
    """Keeps ``pkpd.simulate``/``pkpd.fit``/``pkpd.dose_response`` the functions.

    Importing a submodule binds it as an attribute of its package; without
    this, ``import pkpd.fit`` anywhere would turn ``pkpd.fit`` into the module.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from . import datasets, metrics
    from .compile import CompiledModel, compile_model
    from .data import Dataset, Subject, read_nonmem, write_nonmem
    from .dosing import Bolus, Infusion, Regimen, Reset
    from .errors import (
        DataError,
        FitError,
        ModelError,
        PkpdError,
        RegimenError,
        SimulationError,
        SpecError,
    )
    from .fit import (
        Bootstrap,
        FitResult,
        Profile,
        SubjectFits,
        bootstrap,
        fit,
        fit_each,
        profile,
        run_fit,
    )
    from .language import list_models, load_model, parse_model
    from .model import Covariate, Model, Output, Param, State
    from .notation import (
        format_regimen,
        model_regimens,
        parse_duration,
        parse_regimen,
        parse_times,
        regimen_for_model,
        regimen_from_model,
    )
    from .population import (
        Population,
        PopulationSimulation,
        ResidualError,
        simulate_population,
    )
    from .sensitivity import (
        GlobalSensitivity,
        LocalSensitivity,
        fast,
        local_sensitivity,
        morris,
        sobol,
    )
    from .simulate import Simulation, simulate
