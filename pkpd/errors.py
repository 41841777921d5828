"""The exception tree of pkpd.

Every error pkpd raises on purpose derives from :class:`PkpdError`, so
``except pkpd.PkpdError`` catches them all::

    PkpdError
     +-- ModelError        a model (Python or text) is malformed
     +-- RegimenError      a dose or regimen is invalid
     +-- DataError         a dataset row or column is invalid
     +-- SimulationError   the integrator failed (carries time, state, parameters)
     +-- FitError          a fit cannot be set up or did not succeed
     +-- SpecError         a specification (report TOML, endpoint text) is invalid

ModelError, RegimenError, DataError and SpecError also derive from ``ValueError``,
SimulationError and FitError from ``RuntimeError``.

Messages say what must hold, what was received and, where possible, how to
fix it, e.g. ``line 12, column 18: unknown symbol 'EC5' in d/dt(B); did you
mean 'EC50'?``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "PkpdError",
    "ModelError",
    "RegimenError",
    "DataError",
    "SimulationError",
    "FitError",
    "SpecError",
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


class SpecError(PkpdError, ValueError):
    """A specification is invalid: a report specification (:func:`pkpd.report.report_from_spec`),
    a fit specification (:func:`pkpd.fit.run_fit`) or an endpoint given as text or a TOML table (:mod:`pkpd.endpoints_spec`); the message
    names where (file, section, key) and what is allowed."""


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value, for messages (``1``, not ``np.int64(1)``)."""
    item = getattr(value, "item", None)
    return item() if item is not None and getattr(value, "ndim", None) == 0 else value


def closest_match(name: str, candidates: Sequence[str]) -> str | None:
    """The candidate most like ``name``, ignoring case, or ``None`` if none is close.

    A candidate that differs from ``name`` in case only wins (``"Cl"`` -> ``"CL"``);
    otherwise the closest by :func:`difflib.get_close_matches` (ratio >= 0.6)
    of the lower-cased texts. The candidate is returned as spelled.

    Examples
    --------
    >>> closest_match("Cl", ["CL", "V"])
    'CL'
    >>> closest_match("centrl", ["depot", "central"])
    'central'
    >>> closest_match("xyz", ["CL", "V"]) is None
    True
    """
    import difflib

    by_lower: dict[str, str] = {}
    for c in candidates:
        by_lower.setdefault(str(c).lower(), str(c))
    key = str(name).lower()
    if key in by_lower:
        return by_lower[key]
    match = difflib.get_close_matches(key, list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def closest(name: str, candidates: Sequence[str]) -> str:
    """Return ``"; did you mean 'X'?"`` for the closest candidate (see :func:`closest_match`),
    or ``""``."""
    match = closest_match(name, candidates)
    return f"; did you mean '{match}'?" if match is not None else ""
