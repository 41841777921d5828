"""pkpd: pharmacodynamic ODE modelling of immunotherapy in multiple sclerosis."""

from . import datasets, metrics
from .compile import CompiledModel, compile_model
from .data import Dataset, Subject, read_nonmem, write_nonmem
from .dosing import Bolus, Infusion, Regimen, Reset
from .errors import DataError, FitError, ModelError, PkpdError, RegimenError, SimulationError
from .model import Covariate, Model, Output, Param, State
from .simulate import Simulation, simulate

__version__ = "0.1.0"

__all__ = [
    "Bolus",
    "CompiledModel",
    "Covariate",
    "DataError",
    "Dataset",
    "FitError",
    "Infusion",
    "Model",
    "ModelError",
    "Output",
    "Param",
    "PkpdError",
    "Regimen",
    "RegimenError",
    "Reset",
    "Simulation",
    "SimulationError",
    "State",
    "Subject",
    "compile_model",
    "datasets",
    "metrics",
    "read_nonmem",
    "simulate",
    "write_nonmem",
]
