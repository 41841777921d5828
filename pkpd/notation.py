"""A compact text notation for dosing regimens (like mrgsolve's ``ev_rx``).

One line describes a whole regimen, e.g. the ocrelizumab label::

    300 mg iv over 2.5 h at 0, 14 d; 600 mg iv over 3.5 h every 24 w x 4 from 24 w

Grammar
-------
A regimen is one or more **dose entries** separated by ``;`` or ``+``::

    AMOUNT [UNIT] [ROUTE] [over DURATION TUNIT | at rate RATE UNIT/TUNIT] [into STATE]
           [at T1[, T2 ...] TUNIT] [every INTERVAL TUNIT] [x COUNT | COUNT times | until T TUNIT]
           [from T TUNIT] [ss]

The clauses after ``AMOUNT UNIT`` may come in any order; each at most once.
Words are case-insensitive, except state names.

``AMOUNT UNIT``
    A non-negative number and its unit, e.g. ``600 mg``, ``44 ug``, ``2e6 cells``,
    ``375 mg/m2``. The unit is kept in the dose's ``unit`` and **not converted**:
    the amount enters the target state as written, so it must be in the
    state's unit (a model with states in mg needs doses in mg).
    :func:`regimen_from_model` checks this against the target state's unit.
``ROUTE``
    ``iv``, ``sc``, ``im``, ``po`` (or ``oral``), kept in the dose's ``route``
    (upper case: ``"IV"``, ``"SC"``, ``"IM"``, ``"PO"``). The route chooses
    the target state through ``targets`` (e.g. ``{"sc": "depot"}``; a model
    file declares these as headers ``route.sc: depot``).
``over DURATION TUNIT``
    A zero-order infusion of that duration, e.g. ``over 3.5 h``.
``at rate RATE UNIT/TUNIT``
    A zero-order infusion at that rate, e.g. ``at rate 100 mg/h``; ``UNIT``
    must be the amount's unit. Without ``over`` or ``at rate`` a dose is a bolus.
``into STATE``
    The target state; overrides the route's target and ``default_target``.
``at T1, T2, ... TUNIT``
    One dose at each listed time, e.g. ``at 0, 7, 14 d``; each time may carry
    its own unit (``at 0 h, 12 h, 2 d``), and times without one take the unit
    of the last.
``every INTERVAL TUNIT`` with ``x COUNT`` (or ``COUNT times``, or ``until T TUNIT``)
    Repeated dosing: ``COUNT`` doses in all, ``INTERVAL`` apart (NONMEM
    ``II`` and ``ADDL = COUNT - 1``). ``until T`` gives every dose at a time
    before ``T`` (``T`` itself excluded, as in mrgsolve). ``x4`` is ``x 4``.
``from T TUNIT``
    Added to every time of the entry: the first dose of ``every ...`` is at
    ``from`` (default 0), and ``at 0, 14 d from 24 w`` means weeks 24 and 26.
``ss``
    Start at steady state for ``every INTERVAL`` (NONMEM ``SS=1``).

Time units (``TUNIT``) are ``min``, ``h`` (``hr``, ``hour(s)``), ``d``
(``day(s)``) and ``w`` (``wk``, ``week(s)``), and may be written against the
number (``24w``, ``3.5h``). Months and years are rejected because their length
varies: give weeks (``24 w``) or days. Times, durations and intervals are
converted to the model's time unit; rates to amount per model time unit.

The same units serve single durations and lists of times outside a regimen
(:func:`parse_duration`: ``"104 w"``; :func:`parse_times`: ``"0, 7, 14 d"``),
as on the command line and in report specifications. A model's regimen is
read with :func:`regimen_for_model`, which takes notation or the name of a
``regimen.NAME:`` header of the model file.

Every error is a :class:`~pkpd.errors.RegimenError` whose message starts
with the 1-based position in the text and the offending word (also in its
``position`` attribute); ``"20 mg sc every 6 months x 3"`` gives
``position 18 ('months'): months differ in length; give weeks (e.g. 24 w, not 6 months) or days``.

Examples
--------
>>> from pkpd.notation import parse_regimen
>>> r = parse_regimen("300 mg iv over 2.5 h at 0, 14 d; 600 mg iv over 3.5 h every 24 w x 4 from 24 w",
...                   time_unit="day", default_target="central")
>>> print(r.in_words("day"))
300 mg IV over 2.5 h into central at day 0;
300 mg IV over 2.5 h into central at day 14;
600 mg IV over 3.5 h into central every 168 day, 4 times from day 168
>>> r = parse_regimen("20 mg sc at 0, 7, 14 d; 20 mg sc every 4 w x 12 from 4 w",
...                   time_unit="day", targets={"sc": "depot"})
>>> [d.time for d in r]
[0.0, 7.0, 14.0, 28.0]
>>> format_regimen(r, time_unit="day")
'20 mg sc into depot at 0 d; 20 mg sc into depot at 7 d; 20 mg sc into depot at 14 d; 20 mg sc into depot every 28 d x 12 from 28 d'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from .dosing import Bolus, Infusion, Regimen, Reset
from .errors import RegimenError, closest, closest_match
from .model import Model

__all__ = ["parse_regimen", "format_regimen", "parse_duration", "parse_times",
           "regimen_for_model", "regimen_from_model", "model_regimens"]

# Minutes per unit: integers, so a conversion rounds once (3.5 h -> 3.5*60/1440 d == 3.5/24).
_MINUTES = {"min": 1, "h": 60, "d": 1440, "w": 10080}
_TIME_WORDS = {
    "min": "min", "mins": "min", "minute": "min", "minutes": "min",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "d": "d", "day": "d", "days": "d",
    "w": "w", "wk": "w", "wks": "w", "week": "w", "weeks": "w",
}
_REJECTED_TIME = {
    **dict.fromkeys(("mo", "mon", "mos", "month", "months"),
                    "months differ in length; give weeks (e.g. 24 w, not 6 months) or days"),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"),
                    "years differ in length; give weeks (e.g. 52 w) or days (e.g. 365 d)"),
    "m": "'m' could mean minutes or months; write 'min', or weeks/days instead of months",
}
_ROUTES = {"iv": "IV", "sc": "SC", "im": "IM", "po": "PO", "oral": "PO"}
_KEYWORDS = {"over", "at", "rate", "into", "every", "x", "times", "until", "from", "ss"}
_CLAUSES = "a route (iv, sc, im, po), over, at, into, every, x, until, from, ss"

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<word>[^\W\d]\w*|×\d*)
  | (?P<punct>[,;+/])
""", re.VERBOSE)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "number", "word", "punct" or "end"
    text: str
    pos: int  # 0-based offset into the text


def _tokenize(text: str) -> list[_Tok]:
    toks = []
    i = 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if m is None:
            raise _error(_Tok("word", text[i], i), f"unexpected character '{text[i]}'")
        if m.lastgroup != "space":
            toks.append(_Tok(m.lastgroup or "", m.group(), i))
        i = m.end()
    toks.append(_Tok("end", "", len(text)))
    return toks


def _error(tok: _Tok, message: str) -> RegimenError:
    exc = RegimenError(f"position {tok.pos + 1} ({_found(tok)}): {message}")
    exc.position = tok.pos + 1  # type: ignore[attr-defined]
    return exc


# Prescription abbreviations (q24w, qd, bid, ...): the notation spells intervals out.
_FREQUENCY = re.compile(r"q\d*(min|h|hr|d|w|wk)?|qd|qod|bid|tid|qid|qw|qhs|qam|qpm")
_FREQUENCY_HINT = "write the interval out, e.g. 'every 24 w' for q24w or 'every 12 h' for bid"


def _time_unit(unit: str) -> str:
    """The model's time unit as a key of ``_MINUTES``."""
    key = _TIME_WORDS.get(str(unit).strip().lower())
    if key is None:
        raise RegimenError(f"time_unit must be a time unit such as 'h', 'day' or 'week' (the "
                           f"model's 'time:' header), got {unit!r}")
    return key


def _found(tok: _Tok) -> str:
    return "the end of the text" if tok.kind == "end" else f"'{tok.text}'"


class _Parser:
    def __init__(self, text: str, model_unit: str):
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.model_unit = model_unit

    def peek(self, k: int = 0) -> _Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def take(self) -> _Tok:
        tok = self.peek()
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def error(self, tok: _Tok, message: str) -> RegimenError:
        return _error(tok, message)

    def word(self, tok: _Tok) -> str:
        return tok.text.lower() if tok.kind == "word" else ""

    def at_entry_end(self) -> bool:
        tok = self.peek()
        return tok.kind == "end" or (tok.kind == "punct" and tok.text in ";+")

    def number(self, what: str) -> tuple[float, _Tok]:
        tok = self.peek()
        if tok.kind != "number":
            raise self.error(tok, f"expected {what} (a number), found {_found(tok)}")
        self.take()
        value = float(tok.text)
        if not math.isfinite(value):
            raise self.error(tok, f"{what} must be finite")
        return value, tok

    def time_unit(self, what: str) -> str:
        tok = self.peek()
        w = self.word(tok)
        if w in _TIME_WORDS:
            self.take()
            return _TIME_WORDS[w]
        if w in _REJECTED_TIME:
            raise self.error(tok, _REJECTED_TIME[w])
        hint = closest(w, list(_TIME_WORDS)) if w else ""
        raise self.error(tok, f"expected the time unit of {what} (min, h, d or w), found "
                              f"{_found(tok)}{hint}")

    def optional_time_unit(self) -> str | None:
        """A time unit if one comes next (a list of times may give one per value)."""
        w = self.word(self.peek())
        if w in _TIME_WORDS:
            self.take()
            return _TIME_WORDS[w]
        return None

    def duration(self, what: str) -> tuple[float, _Tok]:
        """``NUMBER TUNIT`` converted to the model's time unit."""
        value, tok = self.number(what)
        unit = self.time_unit(what)
        return self.convert(value, unit), tok

    def convert(self, value: float, unit: str) -> float:
        if unit == self.model_unit:
            return value
        return value * _MINUTES[unit] / _MINUTES[self.model_unit]

    def amount_unit(self) -> str:
        tok = self.peek()
        w = self.word(tok)
        if tok.kind != "word" or w in _KEYWORDS or w in _ROUTES:
            return ""
        if w in _TIME_WORDS or w in _REJECTED_TIME:
            raise self.error(tok, f"'{tok.text}' is a time unit; a dose starts with its amount "
                                  "and amount unit, e.g. '600 mg'")
        if _FREQUENCY.fullmatch(w):
            raise self.error(tok, f"'{tok.text}' is a dosing-frequency abbreviation, not an "
                                  f"amount unit; {_FREQUENCY_HINT}")
        self.take()
        unit = tok.text
        if self.peek().kind == "punct" and self.peek().text == "/" and self.peek(1).kind == "word":
            self.take()
            unit += "/" + self.take().text
        return unit

    def entry(self) -> list[Bolus | Infusion]:
        first = self.peek()
        amount, _ = self.number("a dose amount")
        unit = self.amount_unit()
        seen: dict[str, _Tok] = {}
        route = target = ""
        duration = rate = None
        at_times: list[float] = []
        interval = 0.0
        count: int | None = None
        until: float | None = None
        start = 0.0

        def once(name: str, tok: _Tok) -> None:
            if name in seen:
                raise self.error(tok, f"'{name}' is given twice in this dose (first at position "
                                      f"{seen[name].pos + 1}); separate doses with ';'")
            seen[name] = tok

        while not self.at_entry_end():
            tok = self.take()
            w = self.word(tok)
            if w in _ROUTES:
                once("route", tok)
                route = _ROUTES[w]
            elif w == "over":
                once("over", tok)
                duration, dtok = self.duration("the infusion duration")
                if duration <= 0:
                    raise self.error(dtok, "an infusion duration must be positive")
            elif w == "at" and self.word(self.peek()) == "rate":
                once("at rate", tok)
                self.take()
                value, rtok = self.number("the infusion rate")
                if value <= 0:
                    raise self.error(rtok, "an infusion rate must be positive")
                utok = self.peek()
                runit = ""
                if utok.kind == "word" and self.word(utok) not in _KEYWORDS:
                    runit = self.take().text
                slash = self.peek()
                if slash.kind != "punct" or slash.text != "/":
                    raise self.error(slash, "expected '/' and a time unit after the rate's "
                                            f"amount unit (e.g. '{value:g} {unit or 'mg'}/h'), "
                                            f"found {_found(slash)}")
                if unit and runit != unit:
                    raise self.error(utok, f"the rate's amount unit '{runit or '(none)'}' differs "
                                           f"from the dose's '{unit}'; write e.g. 'at rate "
                                           f"{value:g} {unit}/h'")
                self.take()
                per = self.time_unit("the infusion rate")
                # amount per `per` -> amount per model time unit
                rate = value if per == self.model_unit else \
                    value * _MINUTES[self.model_unit] / _MINUTES[per]
            elif w == "at":
                once("at", tok)
                # "at 0, 12, 24 h" (one unit for all) or "at 0 h, 12 h, 2 d" (each its own)
                values = [(self.number("a dose time")[0], self.optional_time_unit())]
                while self.peek().kind == "punct" and self.peek().text == ",":
                    self.take()
                    values.append((self.number("a dose time after ','")[0],
                                   self.optional_time_unit()))
                tu = values[-1][1] or self.time_unit("the dose times")
                at_times = [self.convert(v, u or tu) for v, u in values]
            elif w == "into":
                once("into", tok)
                stok = self.peek()
                if stok.kind != "word" or stok.text in _KEYWORDS:
                    raise self.error(stok, f"expected a state name after 'into', found {_found(stok)}")
                target = self.take().text
            elif w == "every":
                once("every", tok)
                interval, itok = self.duration("the dosing interval")
                if interval <= 0:
                    raise self.error(itok, "the dosing interval must be positive")
            elif w in ("x", "×") or re.fullmatch(r"[x×]\d+", w):
                once("x", tok)
                if w in ("x", "×"):
                    value, ctok = self.number("the number of doses after 'x'")
                else:
                    value, ctok = float(w[1:]), tok
                count = self._count(value, ctok)
            elif tok.kind == "number" and self.word(self.peek()) == "times":
                once("x", tok)
                self.take()
                count = self._count(float(tok.text), tok)
            elif w == "until":
                once("until", tok)
                until, _ = self.duration("the end of dosing")
            elif w == "from":
                once("from", tok)
                start, _ = self.duration("the first dose time")
            elif w == "ss":
                once("ss", tok)
            else:
                hint = closest(w, sorted(_KEYWORDS | set(_ROUTES))) if w else ""
                if w and _FREQUENCY.fullmatch(w):
                    hint = f"; '{tok.text}' looks like a dosing frequency: {_FREQUENCY_HINT}"
                what = "a time unit belongs after a number" if w in _TIME_WORDS else \
                    f"expected {_CLAUSES}"
                raise self.error(tok, f"unexpected {_found(tok)} in a dose; {what}{hint}")

        end = self.peek()
        if "over" in seen and "at rate" in seen:
            raise self.error(seen["at rate"], "give either 'over DURATION' or 'at rate RATE', not both")
        if "every" in seen:
            if count is None and until is None:
                raise self.error(seen["every"], "repeated dosing needs the number of doses: add "
                                                "'x COUNT' (or 'COUNT times', or 'until T')")
            if count is not None and until is not None:
                raise self.error(seen["until"], "give either 'x COUNT' or 'until T', not both")
            if len(at_times) > 1:
                raise self.error(seen["at"], "several 'at' times cannot be combined with 'every'; "
                                             "write one entry per series, separated by ';'")
        else:
            for name in ("x", "until", "ss"):
                if name in seen:
                    raise self.error(seen[name], f"'{seen[name].text}' needs 'every INTERVAL'")
        times = [start + t for t in (at_times or [0.0])]
        if until is not None:
            count = max(0, math.ceil((until - times[0]) / interval - 1e-12))
            if count == 0:
                raise self.error(seen["until"], f"'until' is not after the first dose "
                                                f"(time {times[0]:g}): no dose would be given")
        count = count or 1
        state = target or None
        out: list[Bolus | Infusion] = []
        try:
            for t in times:
                common = dict(target=state, interval=interval, count=count, ss="ss" in seen,
                              unit=unit, route=route)
                if duration is not None:
                    out.append(Infusion(t, amount, duration=duration, **common))  # type: ignore[arg-type]
                elif rate is not None:
                    out.append(Infusion(t, amount, rate=rate, **common))  # type: ignore[arg-type]
                else:
                    out.append(Bolus(t, amount, **common))  # type: ignore[arg-type]
        except RegimenError as exc:
            raise self.error(first, str(exc)) from None
        if end.kind == "punct":
            self.take()
        return out

    def _count(self, value: float, tok: _Tok) -> int:
        if value != int(value) or value < 1:
            raise self.error(tok, f"the number of doses must be a whole number >= 1, got {value:g}")
        return int(value)


def parse_regimen(text: str, *, time_unit: str, default_target: str | None = None,
                  targets: Mapping[str, str] | None = None) -> Regimen:
    """Parse the compact regimen notation (see the module docstring) into a :class:`Regimen`.

    Parameters
    ----------
    text : str
        The regimen, e.g. ``"600 mg iv over 3.5 h every 24 w x 4"``.
    time_unit : str
        The model's time unit (``"h"``/``"hour"``, ``"day"``/``"d"``,
        ``"week"``/``"w"`` or ``"min"``); times, durations, intervals and
        rates are converted to it.
    default_target : str, optional
        Target state of doses with neither ``into STATE`` nor a route listed
        in ``targets``; ``None`` leaves the target to the model's ``dose:``.
    targets : mapping, optional
        Route (``"iv"``, ``"sc"``, ``"im"``, ``"po"``/``"oral"``;
        case-insensitive) -> target state.

    Returns
    -------
    Regimen

    Raises
    ------
    RegimenError
        With the 1-based position and the offending text.

    Examples
    --------
    >>> r = parse_regimen("0.5 mg po every 1 d x 90", time_unit="h", default_target="gut")
    >>> r.doses[0]
    Bolus(time=0.0, amount=0.5, target='gut', interval=24.0, count=90, ss=False, unit='mg', route='PO')
    """
    if not isinstance(text, str):
        raise RegimenError(f"a regimen in notation must be a str, got {type(text).__name__}")
    model_unit = _time_unit(time_unit)
    routes: dict[str, str] = {}
    for route, state in (targets or {}).items():
        key = _ROUTES.get(str(route).strip().lower())
        if key is None:
            raise RegimenError(f"targets: unknown route {route!r}; routes are: "
                               + ", ".join(sorted(_ROUTES)))
        routes[key] = state
    parser = _Parser(text, model_unit)
    if parser.peek().kind == "end":
        raise RegimenError("the regimen text is empty; write e.g. '600 mg iv over 3.5 h at 0 d'")
    doses: list[Bolus | Infusion] = []
    while parser.peek().kind != "end":
        doses.extend(parser.entry())
    resolved = []
    for d in doses:
        if d.target is None:
            state = routes.get(d.route, default_target)
            if state is not None:
                d = _with_target(d, state)
        resolved.append(d)
    return Regimen(tuple(resolved))


def _with_target(d: Bolus | Infusion, target: str) -> Bolus | Infusion:
    return replace(d, target=target)


# ------------------------------------------------------------------ writing
def _short(x: float, model_unit: str) -> str:
    """``x`` (model time units) as ``"NUMBER UNIT"`` that parses back to exactly ``x``.

    The model's unit when 6 significant digits are exact, else the unit with
    the shortest exact number (3.5 h rather than 0.145833333333 d).
    """
    if float(f"{x:.6g}") == x:
        return f"{x:.6g} {model_unit}"
    best = f"{x!r} {model_unit}"  # repr round-trips exactly
    for u in ("w", "d", "h", "min"):
        v = x * _MINUTES[model_unit] / _MINUTES[u]
        for digits in (6, 12):
            s = f"{v:.{digits}g}"
            if float(s) * _MINUTES[u] / _MINUTES[model_unit] == x and len(s) + len(u) + 1 < len(best):
                best = f"{s} {u}"
                break
    return best


def format_regimen(regimen: Regimen, *, time_unit: str) -> str:
    """Write ``regimen`` in the notation; :func:`parse_regimen` reads it back to an equal value.

    Times, durations and intervals are written in the model's time unit when
    six significant digits are exact, else in whichever of w, d, h, min gives
    the shortest exact number (``over 3.5 h`` for a day-based model).

    Raises
    ------
    RegimenError
        If the regimen holds something the notation cannot express (a
        :class:`Reset`, a route other than IV/SC/IM/PO, a unit with spaces).
    """
    mu = _time_unit(time_unit)
    parts = []
    for d in regimen:
        if isinstance(d, Reset):
            raise RegimenError(f"{d!r}: the regimen notation has no reset")
        route = d.route.lower()
        if route and route not in _ROUTES:
            raise RegimenError(f"{d!r}: route {d.route!r} cannot be written in the notation; "
                               "routes are: " + ", ".join(sorted(_ROUTES)))
        if d.unit and not re.fullmatch(r"[^\W\d]\w*(/\w+)?", d.unit):
            raise RegimenError(f"{d!r}: unit {d.unit!r} cannot be written in the notation")
        s = f"{d.amount:.17g}" if float(f"{d.amount:.12g}") != d.amount else f"{d.amount:.12g}"
        s += f" {d.unit}" if d.unit else ""
        s += f" {route}" if route else ""
        if isinstance(d, Infusion):
            s += f" over {_short(d.duration, mu)}"  # type: ignore[arg-type]
        if d.target is not None:
            s += f" into {d.target}"
        if d.count > 1 or d.ss:
            s += f" every {_short(d.interval, mu)}"
            s += f" x {d.count}" if d.count > 1 else ""
            s += f" from {_short(d.time, mu)}" if d.time else ""
            s += " ss" if d.ss else ""
        else:
            s += f" at {_short(d.time, mu)}"
        parts.append(s)
    return "; ".join(parts)


# ------------------------------------------------------- durations and times
def parse_duration(text: str, time_unit: str, *, what: str = "the duration") -> float:
    """A duration such as ``"104w"``, ``"104 weeks"``, ``"730d"`` or ``"12 h"`` in ``time_unit``.

    Parameters
    ----------
    text : str
        A non-negative number and a time unit of the notation: ``min``
        (``minute(s)``), ``h`` (``hr``, ``hour(s)``), ``d`` (``day(s)``) or
        ``w`` (``wk``, ``week(s)``), with or without a space. A bare number
        is taken to be in ``time_unit`` already.
    time_unit : str
        The model's time unit (its ``time:`` header), e.g. ``"day"`` or ``"h"``.
    what : str
        Names the value in error messages, e.g. ``"--until"``.

    Returns
    -------
    float
        The duration in ``time_unit`` (converted exactly through whole
        minutes: ``"12 h"`` is 0.5 day).

    Raises
    ------
    RegimenError
        For text that is not one number and an optional time unit, a
        negative or non-finite number, months or years (whose length varies:
        give weeks or days), or a ``time_unit`` that is not a time unit. The
        message starts with ``what`` and the text.

    Examples
    --------
    >>> parse_duration("104w", "day")
    728.0
    >>> parse_duration("12 h", "day")
    0.5
    >>> parse_duration("36", "h")
    36.0
    """
    try:
        parser = _Parser(str(text), _time_unit(time_unit))
        value, _ = parser.number(what)
        if parser.peek().kind == "end":
            return value
        unit = parser.time_unit(what)
        end = parser.peek()
        if end.kind != "end":
            raise parser.error(end, f"unexpected '{end.text}' after {what}; write a number and "
                                    "a time unit, e.g. '104 w'")
    except RegimenError as exc:
        raise RegimenError(f"{what} {text!r}: {exc}") from None
    return parser.convert(value, unit)


def parse_times(text: str, time_unit: str, *, what: str = "the times") -> np.ndarray:
    """A list of times such as ``"0, 7, 14 d"``, ``"0 1 2 4 8 24 h"`` or ``"0 12h 2d"``.

    As in the notation's ``at 0, 7, 14 d``, a time unit applies to the
    numbers before it back to the previous unit; numbers after the last unit
    are in ``time_unit`` already. Commas are optional.

    Parameters
    ----------
    text : str
        Non-negative numbers and time units (see :func:`parse_duration`).
    time_unit : str
        The model's time unit.
    what : str
        Names the value in error messages, e.g. ``"--times"``.

    Returns
    -------
    ndarray
        The times in ``time_unit``, in the order given (not sorted).

    Raises
    ------
    RegimenError
        For anything but numbers, commas and time units, months or years,
        or no number at all.

    Examples
    --------
    >>> parse_times("0 1 2 w 21 d 30", "day")
    array([ 0.,  7., 14., 21., 30.])
    """
    try:
        parser = _Parser(str(text), _time_unit(time_unit))
        out: list[float] = []
        pending: list[float] = []
        while parser.peek().kind != "end":
            tok = parser.peek()
            if tok.kind == "number":
                pending.append(parser.number("a time")[0])
            elif tok.kind == "punct" and tok.text == ",":
                parser.take()
            elif tok.kind == "word" and pending:
                unit = parser.time_unit(what)
                out += [parser.convert(v, unit) for v in pending]
                pending = []
            else:
                raise parser.error(tok, f"expected a time (a number, then optionally a time "
                                        f"unit), found '{tok.text}'")
        out += pending
    except RegimenError as exc:
        raise RegimenError(f"{what} {text!r}: {exc}") from None
    if not out:
        raise RegimenError(f"{what}: no times given; write e.g. '0, 7, 14 d'")
    return np.array(out, dtype=float)


# ------------------------------------------------------------------- models
def _meta(model: Model) -> dict[str, str]:
    return dict(model.meta)


def _route_targets(model: Model) -> dict[str, str]:
    return {k.split(".", 1)[1]: v for k, v in model.meta if k.lower().startswith("route.")}


def _norm_unit(u: str) -> str:
    u = u.strip().lower().replace("µ", "u").replace("μ", "u")
    return "ug" + u[3:] if u.startswith("mcg") else u


_HEADER_NAME = re.compile(r"[^\W\d]\w*(\.\w+)?")


def regimen_for_model(model: Model, text_or_name: str, *, default_target: str | None = None,
                      label: str | None = None) -> Regimen:
    """A regimen for ``model``: notation text, or the name of a regimen the model file declares.

    Parameters
    ----------
    model : Model
        Its ``time:`` header gives the time unit, its ``dose:`` header the
        default target and its ``route.ROUTE: STATE`` headers (e.g.
        ``route.sc: depot``) the target of each route.
    text_or_name : str
        Regimen notation (``"600 mg iv over 3.5 h every 24 w x 4"``; see the
        module docstring), or a name: ``"default"`` (or ``"regimen"``) for the
        ``regimen:`` header, ``"NAME"`` or ``"regimen.NAME"`` for a
        ``regimen.NAME:`` header (read by :func:`regimen_from_model`).
        Notation always starts with a number, so the two cannot be confused.
    default_target : str, optional
        Target of notation doses with neither ``into STATE`` nor a route
        target (default: the model's ``dose:`` state). Not applied to a
        named regimen, which is read as the model file says.
    label : str, optional
        Prefix of error messages, e.g. ``"--regimen '...'"``. Default:
        ``"regimen 'TEXT'"`` for notation, none for a name (the messages of
        :func:`regimen_from_model` name the model and the header).

    Returns
    -------
    Regimen
        Checked against the model: every target is a state, and every dose
        with a unit has its target state's unit (pkpd does not convert
        amounts; ``ug`` and ``mcg`` are the same unit).

    Raises
    ------
    RegimenError
        A name the model file does not declare (with the closest one), notation
        that does not parse (the error's ``position`` attribute is kept), a
        model without a ``time:`` header, an unknown target state or a dose
        unit that differs from its state's.

    Examples
    --------
    >>> from pkpd import load_model
    >>> m = load_model("pk_1cmt_iv")
    >>> regimen_for_model(m, "100 mg iv every 12 h x 2").doses[0].target
    'central'
    >>> regimen_for_model(m, "100 ug iv")
    Traceback (most recent call last):
    ...
    pkpd.errors.RegimenError: regimen '100 ug iv': the dose unit 'ug' differs from the unit 'mg' of state 'central'; pkpd does not convert amounts, so write the dose in mg
    """
    if not isinstance(text_or_name, str):
        raise RegimenError(f"a regimen in notation or a regimen name must be a str, got "
                           f"{type(text_or_name).__name__}")
    name = text_or_name.strip()
    if not _HEADER_NAME.fullmatch(name):
        return _checked(model, text_or_name, default_target, label or f"regimen {text_or_name!r}")
    try:
        return regimen_from_model(model, "regimen" if name == "default" else name)
    except RegimenError as exc:
        if label is None:
            raise
        err = RegimenError(f"{label}: {exc}")
        err.position = getattr(exc, "position", None)  # type: ignore[attr-defined]
        raise err from None


def _checked(model: Model, text: str, default_target: str | None, label: str) -> Regimen:
    """Notation ``text`` parsed for ``model`` and checked; errors start with ``label``."""
    if not model.time_unit:
        raise RegimenError(f"{label}: model '{model.name}' has no 'time:' header, so the "
                           "regimen's times cannot be converted")
    try:
        regimen = parse_regimen(text, time_unit=model.time_unit,
                                default_target=default_target or model.dose_target,
                                targets=_route_targets(model))
        regimen = regimen.check(model)
    except RegimenError as exc:
        err = RegimenError(f"{label}: {exc}")
        err.position = getattr(exc, "position", None)  # type: ignore[attr-defined]
        raise err from None
    units = {s.name: s.unit for s in model.states}
    for d in regimen:
        if isinstance(d, Reset) or not d.unit or not units.get(d.target or ""):
            continue
        state_unit = units[d.target or ""]
        if _norm_unit(d.unit) != _norm_unit(state_unit):
            raise RegimenError(f"{label}: the dose unit '{d.unit}' differs from the unit "
                               f"'{state_unit}' of state '{d.target}'; pkpd does not convert "
                               f"amounts, so write the dose in {state_unit}")
    return regimen


def regimen_from_model(model: Model, key: str = "regimen") -> Regimen:
    """The regimen a model file declares in a header line, e.g. ``regimen: 20 mg sc ...``.

    Parameters
    ----------
    model : Model
        A model whose ``meta`` holds the header (see :func:`model_regimens`).
        Its ``time:`` header gives the time unit, its ``dose:`` header the
        default target and its ``route.ROUTE: STATE`` headers (e.g.
        ``route.sc: depot``) the target of each route.
    key : str
        The header: ``"regimen"``, ``"regimen.NAME"``, or just ``"NAME"``.

    Returns
    -------
    Regimen
        Checked against the model as by :func:`regimen_for_model` (every
        target is a state; a dose unit must be its target state's unit,
        since pkpd does not convert amounts).

    Raises
    ------
    RegimenError
        If the header is missing, the text is invalid (the message names
        the header and the position), or a target or unit does not fit.
    """
    meta = _meta(model)
    full = key if key in meta or key.startswith("regimen") else f"regimen.{key}"
    if full not in meta:
        names = sorted(k for k in meta if k == "regimen" or k.startswith("regimen."))
        if not names:
            raise RegimenError(f"model '{model.name}' has no '{full}:' header; add a line such "
                               "as 'regimen: 600 mg iv at 0 d' before the first [section]")
        match = closest_match(full, names)
        raise RegimenError(f"model '{model.name}' has no '{full}:' header"
                           + (f" (did you mean '{match}'?)" if match else "")
                           + "; regimens are: " + ", ".join(names))
    if not model.time_unit:
        raise RegimenError(f"model '{model.name}' has no 'time:' header; the regimen's times "
                           "cannot be converted")
    return _checked(model, meta[full], None, f"model '{model.name}', header '{full}'")


def model_regimens(model: Model) -> dict[str, Regimen]:
    """Every regimen a model file declares, by name.

    ``regimen: ...`` is named ``"default"``; ``regimen.NAME: ...`` is
    named ``NAME``. See :func:`regimen_from_model` for how each is read.

    Examples
    --------
    >>> from pkpd import parse_model
    >>> m = parse_model('''
    ... name: demo
    ... time: day
    ... dose: A
    ... regimen: 100 mg at 0 d
    ... regimen.weekly: 100 mg every 1 w x 4
    ... [states]
    ... A = 0 [mg]
    ... [equations]
    ... d/dt(A) = -0.1*A
    ... ''')
    >>> {k: len(r) for k, r in model_regimens(m).items()}
    {'default': 1, 'weekly': 1}
    """
    out = {}
    for k, _ in model.meta:
        if k == "regimen":
            out["default"] = regimen_from_model(model, k)
        elif k.startswith("regimen."):
            out[k.split(".", 1)[1]] = regimen_from_model(model, k)
    return out
