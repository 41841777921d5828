"""pkpd: pharmacodynamic ODE modelling of immunotherapy in multiple sclerosis."""

from .dosing import Bolus, Infusion, Regimen, Reset
from .errors import DataError, FitError, ModelError, PkpdError, RegimenError, SimulationError
from .model import Covariate, Model, Output, Param, State

__version__ = "0.1.0"

__all__ = [
    "Bolus",
    "Covariate",
    "DataError",
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
    "SimulationError",
    "State",
]
