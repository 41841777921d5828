"""pkpd: pharmacodynamic ODE modelling of immunotherapy in multiple sclerosis."""

from . import datasets, metrics
from .compile import CompiledModel, compile_model
from .data import Dataset, Subject, read_nonmem, write_nonmem
from .dosing import Bolus, Infusion, Regimen, Reset
from .errors import DataError, FitError, ModelError, PkpdError, RegimenError, SimulationError
from .fit import Bootstrap, FitResult, Profile, SubjectFits, bootstrap, fit, profile, run_fit
from .language import list_models, load_model, parse_model
from .model import Covariate, Model, Output, Param, State
from .notation import format_regimen, model_regimens, parse_regimen, regimen_from_model
from .simulate import Simulation, simulate

__version__ = "0.1.0"

__all__ = [
    "Bolus",
    "Bootstrap",
    "CompiledModel",
    "Covariate",
    "DataError",
    "Dataset",
    "FitError",
    "FitResult",
    "Infusion",
    "Model",
    "ModelError",
    "Output",
    "Param",
    "PkpdError",
    "Profile",
    "Regimen",
    "RegimenError",
    "Reset",
    "Simulation",
    "SimulationError",
    "State",
    "Subject",
    "SubjectFits",
    "bootstrap",
    "compile_model",
    "datasets",
    "fit",
    "format_regimen",
    "list_models",
    "load_model",
    "metrics",
    "model_regimens",
    "parse_model",
    "parse_regimen",
    "profile",
    "read_nonmem",
    "regimen_from_model",
    "run_fit",
    "simulate",
    "write_nonmem",
]
