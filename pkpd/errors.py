"""The exception tree of pkpd.

Every error pkpd raises on purpose derives from :class:`PkpdError`, so
``except pkpd.PkpdError`` catches them all::

    PkpdError
     +-- ModelError        a model (Python or text) is malformed
     +-- RegimenError      a dose or regimen is invalid
     +-- DataError         a dataset row or column is invalid
     +-- SimulationError   the integrator failed (carries time, state, parameters)
     +-- FitError          a fit cannot be set up or did not succeed

Messages say what must hold, what was received and, where possible, how to
fix it, e.g. ``line 12, column 18: unknown symbol 'EC5' in d/dt(B); did you
mean 'EC50'?``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "PkpdError",
    "ModelError",
    "RegimenError",
    "DataError",
    "SimulationError",
    "FitError",
]


class PkpdError(Exception):
    """Base class of every error raised by pkpd."""


class ModelError(PkpdError, ValueError):
    """A model definition is invalid.

    Attributes
    ----------
    line, column : int or None
        Position in the model text (1-based) when the model came from text.
    """

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        self.line = line
        self.column = column
        if line is not None:
            where = f"line {line}" + (f", column {column}" if column is not None else "")
            message = f"{where}: {message}"
        super().__init__(message)


class RegimenError(PkpdError, ValueError):
    """A dose or a dosing regimen is invalid."""


class DataError(PkpdError, ValueError):
    """A dataset is invalid; the message names the row, ID and column."""


class SimulationError(PkpdError, RuntimeError):
    """The integration failed.

    Attributes
    ----------
    time : float
        Time at which the integrator gave up.
    state : dict[str, float]
        State values at that time.
    params : dict[str, float]
        Parameter values of the failed run.
    """

    def __init__(
        self,
        message: str,
        *,
        time: float = float("nan"),
        state: Mapping[str, float] | None = None,
        params: Mapping[str, float] | None = None,
    ):
        self.time = time
        self.state = dict(state or {})
        self.params = dict(params or {})
        detail = []
        if state:
            detail.append("state: " + ", ".join(f"{k}={v:.6g}" for k, v in self.state.items()))
        if params:
            detail.append("params: " + ", ".join(f"{k}={v:.6g}" for k, v in self.params.items()))
        super().__init__("; ".join([message, *detail]))


class FitError(PkpdError, RuntimeError):
    """A fit cannot be set up, or a failed fit was asked to raise."""


def closest(name: str, candidates: Sequence[str]) -> str:
    """Return ``"; did you mean 'X'?"`` for the closest candidate, or ``""``."""
    import difflib

    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""
