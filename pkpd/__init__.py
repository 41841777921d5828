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
from .population import Population, PopulationSimulation, ResidualError, simulate_population
from .sensitivity import GlobalSensitivity, LocalSensitivity, fast, local_sensitivity, morris, sobol
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
    "Reset",
    "ResidualError",
    "Simulation",
    "SimulationError",
    "State",
    "Subject",
    "SubjectFits",
    "bootstrap",
    "compile_model",
    "datasets",
    "fast",
    "fit",
    "format_regimen",
    "list_models",
    "load_model",
    "local_sensitivity",
    "metrics",
    "model_regimens",
    "morris",
    "parse_model",
    "parse_regimen",
    "profile",
    "read_nonmem",
    "regimen_from_model",
    "run_fit",
    "simulate",
    "simulate_population",
    "sobol",
    "write_nonmem",
]
