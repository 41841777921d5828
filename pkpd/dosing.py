"""Doses and dosing regimens.

Semantics (the same in every solver of pkpd)
--------------------------------------------
- A **bolus** is a jump: ``y(t+) = y(t-) + F * amount`` in its target state.
  It is never approximated by a short infusion.
- An **infusion** adds ``F * amount / duration`` to the derivative of its
  target over the half-open window ``[t, t + duration)``: bioavailability
  scales the rate, the duration is kept.
- ``F(state)`` (bioavailability) and ``lag(state)`` (lag time) are model
  expressions of parameters and covariates (defaults 1 and 0): a dose given at
  ``t`` into ``state`` acts at ``t + lag(state)``.
- A dose at the same time as an observation is applied **before** the
  observation (NONMEM's convention): the output at a dose time is the
  post-dose value. Several doses at the same time are all applied.
- Repeated dosing: ``interval`` and ``count`` (``count`` doses in all, the
  first at ``time``; NONMEM's ``II`` and ``ADDL = count - 1``).
- Steady state (``ss=True``, NONMEM ``SS=1``): at the dose time ``t`` the
  system is set to the periodic steady state reached by giving this dose every
  ``interval`` forever; whatever happened before is discarded, including
  infusions still running. With a lag the
  steady state is still the state at ``t`` (the dose record time, as in
  NONMEM) and the dose itself acts at ``t + lag``; the lag must be shorter than
  the interval, and an infusion at steady state must not last longer than the
  interval (on the ODE path, lag + duration must not exceed it either: the
  previous infusion would still be running). The steady state is found by
  Newton's method on the map over one interval (in compiled code), which is
  exact for linear models and converges for nonlinear ones; time-varying
  covariates take their values at the dose time. A model with a state that is
  never eliminated (an AUC state) has no periodic steady state: an error.
- A :class:`Reset` (NONMEM ``EVID=3``) sets every state back to its initial value
  and ends every running infusion.
- Infusions into the same state may overlap only with ``allow_overlap=True``;
  an overlap is usually a data error (an interval shorter than the infusion).

Integration restarts at every breakpoint: each (lag-shifted) dose time and
each infusion end.

Examples
--------
>>> from pkpd import Bolus, Infusion
>>> r = Infusion(0, 300, "central", duration=2.5 / 24, unit="mg", route="IV") \\
...     + Infusion(14, 300, "central", duration=2.5 / 24, unit="mg", route="IV") \\
...     + Infusion(168, 600, "central", duration=3.5 / 24, interval=168, count=4, unit="mg", route="IV")
>>> print(r.in_words("day"))
300 mg IV over 2.5 h into central at day 0;
300 mg IV over 2.5 h into central at day 14;
600 mg IV over 3.5 h into central every 168 day, 4 times from day 168
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from .errors import RegimenError, closest

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .model import Model

__all__ = ["Bolus", "Infusion", "Reset", "Regimen", "Dose", "as_regimen"]


def _num(x: object, what: str, dose: object, *, positive: bool = False, allow_zero: bool = True) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float | np.integer | np.floating):
        raise RegimenError(f"{dose!r}: {what} must be a number, got {x!r}")
    v = float(x)
    if not math.isfinite(v):
        raise RegimenError(f"{dose!r}: {what} must be finite, got {v!r}")
    if v < 0 or (positive and v == 0 and not allow_zero):
        raise RegimenError(f"{dose!r}: {what} must be {'positive' if not allow_zero else 'non-negative'}, got {v:g}")
    return v


def _check_repeat(d: Bolus | Infusion) -> None:
    if isinstance(d.count, bool) or not isinstance(d.count, int | np.integer) or d.count < 1:
        raise RegimenError(f"{d!r}: count must be a whole number >= 1, got {d.count!r}")
    object.__setattr__(d, "count", int(d.count))
    _num(d.interval, "interval", d)
    if d.count > 1 and d.interval <= 0:
        raise RegimenError(f"{d!r}: repeated dosing (count={d.count}) needs interval > 0")
    if d.ss and d.interval <= 0:
        raise RegimenError(f"{d!r}: steady-state dosing needs interval > 0 (NONMEM II)")


def _fmt(x: float) -> str:
    return f"{x:.6g}"


# The time unit as the noun of "at day 14" / "from week 24"; other units follow the number.
_TIME_NOUNS = {
    "": "time",
    **dict.fromkeys(("min", "mins", "minute", "minutes"), "minute"),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), "hour"),
    **dict.fromkeys(("d", "day", "days"), "day"),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), "week"),
}


def _at(t: float, time_unit: str) -> str:
    """A time point in words: ``"day 14"``, ``"hour 0"``, or ``"3 s"`` for other units."""
    noun = _TIME_NOUNS.get(time_unit.strip().lower())
    return f"{noun} {_fmt(t)}" if noun else f"{_fmt(t)} {time_unit.strip()}"


_HOURS_PER = {"day": 24.0, "d": 24.0, "days": 24.0, "week": 168.0, "w": 168.0, "weeks": 168.0}


def _fmt_duration(d: float, time_unit: str) -> str:
    """A duration shorter than one day/week unit reads in hours (3.5 h, not 0.0208 w)."""
    per = _HOURS_PER.get(time_unit)
    if per is not None and d < 1:
        return f"{_fmt(round(d * per, 6))} h"
    return f"{_fmt(d)} {time_unit}".strip()


@dataclass(frozen=True, slots=True)
class Bolus:
    """An instantaneous dose: ``y(t+) = y(t-) + F * amount`` in ``target``.

    Parameters
    ----------
    time : float
        Dose time, in model time units.
    amount : float
        Amount, in the target state's unit (e.g. mg).
    target : str or None
        State receiving the dose; ``None`` uses the model's ``dose:`` target.
    interval : float
        Time between repeated doses (NONMEM ``II``).
    count : int
        Number of doses in all (NONMEM ``ADDL + 1``).
    ss : bool
        Start at steady state for ``interval`` (NONMEM ``SS=1``).
    unit, route : str
        Descriptive only (e.g. ``"mg"``, ``"SC"``), used by :meth:`Regimen.in_words`.
    """

    time: float
    amount: float
    target: str | None = None
    interval: float = 0.0
    count: int = 1
    ss: bool = False
    unit: str = ""
    route: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "time", _num(self.time, "time", self))
        object.__setattr__(self, "amount", _num(self.amount, "amount", self))
        object.__setattr__(self, "interval", _num(self.interval, "interval", self))
        _check_repeat(self)

    def __add__(self, other: object) -> Regimen:
        return Regimen((self,)) + other

    __radd__ = __add__

    @property
    def duration(self) -> float:
        """0 for a bolus."""
        return 0.0

    def times(self) -> np.ndarray:
        """The times of all ``count`` doses."""
        return self.time + self.interval * np.arange(self.count)


@dataclass(frozen=True, slots=True)
class Infusion:
    """A zero-order input of ``amount`` over ``[time, time + duration)``.

    Give exactly one of ``duration`` and ``rate`` (amount per time unit).
    Other parameters as for :class:`Bolus`. At steady state (``ss=True``) the
    duration must not exceed ``interval``; a duration within rounding of
    ``interval`` (relative 1e-9, e.g. ``amount / rate``) is taken as equal to it.
    """

    time: float
    amount: float
    target: str | None = None
    duration: float | None = None
    rate: float | None = None
    interval: float = 0.0
    count: int = 1
    ss: bool = False
    unit: str = ""
    route: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "time", _num(self.time, "time", self))
        object.__setattr__(self, "amount", _num(self.amount, "amount", self))
        object.__setattr__(self, "interval", _num(self.interval, "interval", self))
        if self.duration is None and self.rate is None:
            raise RegimenError(f"{self!r}: give exactly one of duration= and rate=")
        if self.duration is not None and self.rate is not None:
            # both set (e.g. by dataclasses.replace): accept only if consistent
            d = _num(self.duration, "duration", self, positive=True, allow_zero=False)
            r = _num(self.rate, "rate", self, positive=True, allow_zero=False)
            if not math.isclose(self.amount, d * r, rel_tol=1e-9, abs_tol=1e-300):
                raise RegimenError(f"{self!r}: give exactly one of duration= and rate=")
            object.__setattr__(self, "duration", d)
            object.__setattr__(self, "rate", self.amount / d)
        elif self.duration is not None:
            d = _num(self.duration, "duration", self, positive=True, allow_zero=False)
            object.__setattr__(self, "duration", d)
            object.__setattr__(self, "rate", self.amount / d)
        else:
            r = _num(self.rate, "rate", self, positive=True, allow_zero=False)
            object.__setattr__(self, "rate", r)
            object.__setattr__(self, "duration", self.amount / r)
            if self.amount == 0:
                raise RegimenError(f"{self!r}: an infusion given by rate needs amount > 0")
        _check_repeat(self)
        if self.ss and self.duration > self.interval:
            if not math.isclose(self.duration, self.interval, rel_tol=1e-9):
                raise RegimenError(
                    f"{self!r}: steady state with an infusion longer than the dosing interval "
                    f"is not supported (duration {self.duration:g} > interval "
                    f"{self.interval:g}); give a duration <= interval, or the doses "
                    "without ss=True")
            # amount / rate rounded just above the interval: a constant infusion
            object.__setattr__(self, "duration", self.interval)
            object.__setattr__(self, "rate", self.amount / self.interval)

    def __add__(self, other: object) -> Regimen:
        return Regimen((self,)) + other

    __radd__ = __add__

    def times(self) -> np.ndarray:
        """The start times of all ``count`` infusions."""
        return self.time + self.interval * np.arange(self.count)


@dataclass(frozen=True, slots=True)
class Reset:
    """Reset every state to its initial value at ``time`` (NONMEM ``EVID=3``).

    Infusions running at ``time`` end there.
    """

    time: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "time", _num(self.time, "time", self))

    def __add__(self, other: object) -> Regimen:
        return Regimen((self,)) + other

    __radd__ = __add__


Dose = Bolus | Infusion | Reset


@dataclass(frozen=True, slots=True)
class Regimen:
    """An ordered collection of doses; combine with ``+``.

    See the module docstring for the exact semantics of boluses, infusions,
    bioavailability, lag, steady state and simultaneous events.
    ``allow_overlap=True`` accepts overlapping infusions into one state (their
    rates add); it does not take part in ``==`` and ``hash``.
    """

    doses: tuple[Dose, ...] = ()
    # A validation switch, not part of the dosing: equal doses make equal regimens.
    allow_overlap: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        doses = tuple(self.doses)
        for d in doses:
            if not isinstance(d, Bolus | Infusion | Reset):
                raise RegimenError(f"a regimen holds Bolus, Infusion or Reset values, got {d!r}")
        object.__setattr__(self, "doses", tuple(sorted(doses, key=lambda d: d.time)))
        if not self.allow_overlap:
            self._check_overlap()

    def _check_overlap(self) -> None:
        by_target: dict[str | None, list[tuple[float, float, Infusion]]] = {}
        for d in self.doses:
            if isinstance(d, Infusion):
                for t0 in d.times():
                    by_target.setdefault(d.target, []).append((float(t0), float(t0) + d.duration, d))
        for target, wins in by_target.items():
            wins.sort(key=lambda w: w[0])
            for (_a0, a1, da), (b0, _, db) in zip(wins, wins[1:], strict=False):
                if b0 < a1 - 1e-12 * max(1.0, abs(a1)):
                    raise RegimenError(
                        f"infusions into '{target or 'the default target'}' overlap: {da!r} runs "
                        f"until {a1:g} but {db!r} starts at {b0:g}; use Regimen(..., "
                        "allow_overlap=True) if this is intended")

    def __add__(self, other: object) -> Regimen:
        if isinstance(other, Bolus | Infusion | Reset):
            other = Regimen((other,))
        if not isinstance(other, Regimen):
            return NotImplemented
        return Regimen(self.doses + other.doses,
                       allow_overlap=self.allow_overlap or other.allow_overlap)

    __radd__ = __add__

    def __iter__(self) -> Iterator[Dose]:
        return iter(self.doses)

    def __len__(self) -> int:
        return len(self.doses)

    def with_target(self, target: str) -> Regimen:
        """Copy with every dose lacking a target sent to ``target``."""
        return replace(self, doses=tuple(
            replace(d, target=target) if not isinstance(d, Reset) and d.target is None else d
            for d in self.doses))

    def check(self, model: Model) -> Regimen:
        """Resolve default targets against ``model`` and check they are states."""
        states = model.state_names
        out = []
        for d in self.doses:
            if isinstance(d, Reset):
                out.append(d)
                continue
            target = d.target if d.target is not None else model.dose_target
            if target is None:
                raise RegimenError(f"{d!r} has no target and model '{model.name}' declares no "
                                   "default 'dose:' state; give target=")
            if target not in states:
                raise RegimenError(f"{d!r}: target '{target}' is not a state of model "
                                   f"'{model.name}'{closest(target, states)}; states are: "
                                   + ", ".join(states))
            out.append(d if d.target == target else replace(d, target=target))
        if all(a is b for a, b in zip(out, self.doses, strict=True)):
            return self  # already resolved: no need to rebuild and re-validate
        return Regimen(tuple(out), allow_overlap=self.allow_overlap)

    @property
    def last_dose_time(self) -> float:
        """Time of the last dose (``nan`` for an empty regimen)."""
        ts = [float(d.times()[-1]) for d in self.doses if not isinstance(d, Reset)]
        return max(ts) if ts else math.nan

    def to_frame(self) -> pd.DataFrame:
        """One row per dose entry: time, amount, target, duration, rate, interval, count, ss."""
        import pandas as pd

        rows = []
        for d in self.doses:
            if isinstance(d, Reset):
                rows.append(dict(kind="reset", time=d.time))
                continue
            rows.append(dict(
                kind="infusion" if isinstance(d, Infusion) else "bolus", time=d.time,
                amount=d.amount, target=d.target, duration=d.duration,
                rate=d.rate if isinstance(d, Infusion) else math.nan,
                interval=d.interval, count=d.count, ss=d.ss, unit=d.unit, route=d.route))
        cols = ["kind", "time", "amount", "target", "duration", "rate", "interval", "count",
                "ss", "unit", "route"]
        return pd.DataFrame(rows, columns=cols)

    def in_words(self, time_unit: str = "") -> str:
        """The regimen as a sentence per dose entry.

        Time points read ``at day 14``, ``at hour 0``, ``from week 24`` (or
        ``at time 0`` without a unit); intervals and durations read
        ``every 168 day``, ``over 3.5 h``.

        Example: ``"600 mg IV over 3.5 h into central every 168 day, 4 times from day 168"``.

        Examples
        --------
        >>> print((Bolus(0, 100, "central", unit="mg") + Bolus(12, 50, "central")).in_words("h"))
        100 mg into central at hour 0;
        50 into central at hour 12
        """
        parts = []
        for d in self.doses:
            if isinstance(d, Reset):
                parts.append(f"reset all states at {_at(d.time, time_unit)}")
                continue
            s = f"{_fmt(d.amount)}{' ' + d.unit if d.unit else ''}{' ' + d.route if d.route else ''}"
            if isinstance(d, Infusion):
                s += f" over {_fmt_duration(d.duration, time_unit)}"
            s += f" into {d.target or 'the default target'}"
            if d.ss:
                s += f" at steady state every {_fmt(d.interval)} {time_unit}".rstrip()
                s += f" from {_at(d.time, time_unit)}" + (f", {d.count} times" if d.count > 1
                                                          else "")
            elif d.count > 1:
                s += f" every {_fmt(d.interval)} {time_unit}".rstrip()
                s += f", {d.count} times from {_at(d.time, time_unit)}"
            else:
                s += f" at {_at(d.time, time_unit)}"
            parts.append(s)
        return ";\n".join(parts) if parts else "no doses"

    def __str__(self) -> str:
        return self.in_words()


def as_regimen(x: Regimen | Dose | Iterable[Dose] | None) -> Regimen:
    """Coerce a dose, a sequence of doses or ``None`` to a :class:`Regimen`."""
    if x is None:
        return Regimen(())
    if isinstance(x, Regimen):
        return x
    if isinstance(x, Bolus | Infusion | Reset):
        return Regimen((x,))
    if isinstance(x, Sequence | Iterable) and not isinstance(x, str | bytes):
        return Regimen(tuple(x))
    raise RegimenError(f"expected a Regimen, a dose or a list of doses, got {type(x).__name__}")
