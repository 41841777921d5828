"""Event datasets in the NONMEM convention: reading, validation and writing.

A NONMEM-style dataset is one table with a row per event, sorted by subject
and time. :func:`read_nonmem` turns it into a :class:`Dataset`: per subject a
:class:`~pkpd.Regimen`, a long table of observations and the covariates;
:func:`write_nonmem` writes a dataset back.

Columns (matched case-insensitively)
------------------------------------
``ID``, ``TIME``
    Required. The rows of a subject form one contiguous block, in
    non-decreasing ``TIME`` (model time units).
``EVID``
    0 observation, 1 dose, 2 other (a row that only carries covariates),
    3 reset every state, 4 reset and dose. Without the column a row with
    ``AMT > 0`` is a dose, a row with ``MDV=1`` is "other" and any other row
    an observation.
``MDV``
    1 marks a row whose ``DV`` is not used (an ``EVID=0`` row with ``MDV=1``
    only carries covariates).
``AMT``, ``RATE``, ``CMT``
    Dose amount; infusion rate (amount per time unit; 0 is a bolus); receiving
    state as a 1-based number into ``model.state_names`` or as the state name
    (empty or 0: the model's ``dose:`` target). Infusions into one state may
    overlap, as in NONMEM: their rates add.
``II``, ``ADDL``, ``SS``
    Dosing interval; additional doses (``count = ADDL + 1``); ``SS=1`` starts
    at the steady state of dosing every ``II`` (an infusion at steady state
    must not last longer than ``II``).
``DV``, ``DVID``
    Observed value; the output it observes, by name or by number (see
    :func:`read_nonmem`).
``CENS`` (or ``BLQ``), ``LLOQ``
    ``CENS=1`` marks a value below the lower limit of quantification; ``DV``
    then holds the limit (as in Monolix and nlmixr). ``LLOQ`` gives the limit
    explicitly.
``EXCL``
    1 excludes an observation row from the dataset (kept in the file for the
    record; the row numbers are listed in :attr:`Dataset.excluded_rows`).
any other column
    A covariate candidate (see ``covariates=``).

An empty cell or ``"."`` in ``AMT``, ``RATE``, ``II``, ``ADDL``, ``SS``,
``CENS``/``BLQ`` or ``EXCL`` reads as 0 (NONMEM's rule for ``"."``); in
``EVID``, ``MDV``, ``DV`` (of an observation), ``TIME``, ``ID`` or a covariate
it is an error: pkpd does not impute.

Unlike NONMEM, time never restarts within a subject, not even after a reset.

Examples
--------
>>> import pandas as pd
>>> from pkpd import read_nonmem
>>> frame = pd.DataFrame({
...     "ID": [1, 1, 1], "TIME": [0.0, 1.0, 4.0], "AMT": [100, 0, 0],
...     "CMT": ["depot", None, None], "DV": [None, 2.1, 1.4], "DVID": [None, "conc", "conc"],
...     "WT": [70, 70, 70]})
>>> ds = read_nonmem(frame)
>>> ds
<Dataset: 1 subjects, 2 observations, 1 doses, outputs: conc; covariates: WT>
>>> print(ds.subject(1).regimen.in_words("h"))
100 into depot at hour 0
>>> ds.subject(1).covariates
{'WT': 70.0}
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .dosing import Bolus, Infusion, Regimen, Reset
from .errors import DataError, RegimenError, closest

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike

    from .model import Model

__all__ = ["Dataset", "Subject", "read_nonmem", "write_nonmem", "INTERPOLATIONS"]

#: Interpolation modes of time-varying covariates.
INTERPOLATIONS = ("locf", "nocb", "linear")

#: Columns of :attr:`Subject.observations`.
OBSERVATION_COLUMNS = ("time", "output", "dv", "cens", "lloq", "row")

_STANDARD = ("ID", "TIME", "AMT", "RATE", "CMT", "EVID", "MDV", "II", "ADDL", "SS", "DV",
             "DVID", "BLQ", "CENS", "LLOQ", "EXCL")
_NUMERIC = ("TIME", "AMT", "RATE", "EVID", "MDV", "II", "ADDL", "SS", "DV", "CENS", "LLOQ",
            "EXCL")
# A missing value in these reads as 0, NONMEM's rule for ".".
_ZERO_IF_MISSING = ("AMT", "RATE", "II", "ADDL", "SS", "CENS", "EXCL")
_EVID_TEXT = "0 (observation), 1 (dose), 2 (other), 3 (reset) or 4 (reset and dose)"


# --------------------------------------------------------------------------- values
@dataclass(frozen=True, slots=True)
class Subject:
    """One subject of a :class:`Dataset`.

    Parameters
    ----------
    id : int, float or str
        The subject's ``ID`` as in the data.
    regimen : Regimen
        Its doses (and resets), in model time units.
    observations : pandas.DataFrame
        One row per observation, in data order: ``time`` (model time units),
        ``output`` (output name), ``dv`` (observed value, in the output's
        unit), ``cens`` (1 below the limit of quantification, else 0),
        ``lloq`` (the limit, ``nan`` if not given) and ``row`` (1-based data
        row in the source file or frame).
    covariates : dict[str, float]
        Covariates constant within the subject.
    covariate_table : pandas.DataFrame or None
        Covariates that change within the subject: a ``time`` column and one
        column per such covariate, one row per distinct data time.
    interpolation : dict[str, str]
        For every covariate of the dataset, how it is interpolated between
        the times of ``covariate_table``: ``"locf"``, ``"nocb"`` or ``"linear"``
        (see :meth:`covariates_at`).
    """

    id: Any
    regimen: Regimen
    observations: pd.DataFrame = field(compare=False, repr=False)
    covariates: dict[str, float] = field(default_factory=dict)
    covariate_table: pd.DataFrame | None = field(default=None, compare=False, repr=False)
    interpolation: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.regimen, Regimen):
            raise DataError(f"ID {self.id}: regimen must be a Regimen, got "
                            f"{type(self.regimen).__name__}")
        if not isinstance(self.observations, pd.DataFrame):
            raise DataError(f"ID {self.id}: observations must be a pandas DataFrame, got "
                            f"{type(self.observations).__name__}")
        missing = [c for c in OBSERVATION_COLUMNS if c not in self.observations.columns]
        if missing:
            raise DataError(f"ID {self.id}: observations need the columns "
                            f"{', '.join(OBSERVATION_COLUMNS)}; missing: {', '.join(missing)}")
        for name, mode in self.interpolation.items():
            if mode not in INTERPOLATIONS:
                raise DataError(f"ID {self.id}: interpolation of covariate {name} is {mode!r}; "
                                f"allowed: {', '.join(INTERPOLATIONS)}")

    def covariates_at(self, times: ArrayLike) -> dict[str, np.ndarray]:
        """Every covariate of the subject at ``times``.

        ``"locf"`` takes the value of the last table time ``<= t`` (so at a
        change time the new value applies), ``"nocb"`` the value of the first
        table time ``>= t``, ``"linear"`` interpolates linearly. Outside the
        table's time range the nearest value is used.

        Parameters
        ----------
        times : array_like
            Times, in model time units.

        Returns
        -------
        dict[str, numpy.ndarray]
            ``{covariate: values at times}``.
        """
        t = np.atleast_1d(np.asarray(times, dtype=float))
        out = {name: np.full(t.shape, value) for name, value in self.covariates.items()}
        if self.covariate_table is None:
            return out
        tt = self.covariate_table["time"].to_numpy(dtype=float)
        for name in self.covariate_table.columns[1:]:
            v = self.covariate_table[name].to_numpy(dtype=float)
            mode = self.interpolation.get(name, "locf")
            if mode == "linear":
                out[name] = np.interp(t, tt, v)
            elif mode == "nocb":
                idx = np.searchsorted(tt, t, side="left")
                out[name] = v[np.minimum(idx, len(tt) - 1)]
            else:
                idx = np.searchsorted(tt, t, side="right") - 1
                out[name] = v[np.maximum(idx, 0)]
        return out


@dataclass(frozen=True, slots=True)
class Dataset:
    """Subjects read from (or to be written to) a NONMEM-style dataset.

    Parameters
    ----------
    subjects : tuple of Subject
        In data order; IDs are unique.
    outputs : tuple of str
        Names of the observed outputs, in order of first appearance.
    covariate_names : tuple of str
        Covariates, in column order.
    excluded_rows : tuple of int
        1-based data rows of observations excluded with ``EXCL=1``.
    """

    subjects: tuple[Subject, ...]
    outputs: tuple[str, ...] = ()
    covariate_names: tuple[str, ...] = ()
    excluded_rows: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "subjects", tuple(self.subjects))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "covariate_names", tuple(self.covariate_names))
        object.__setattr__(self, "excluded_rows", tuple(self.excluded_rows))
        seen: set[Any] = set()
        for s in self.subjects:
            if not isinstance(s, Subject):
                raise DataError(f"a Dataset holds Subject values, got {s!r}")
            if s.id in seen:
                raise DataError(f"ID {s.id} occurs twice; subject IDs must be unique")
            seen.add(s.id)

    def __len__(self) -> int:
        return len(self.subjects)

    def __iter__(self) -> Iterator[Subject]:
        return iter(self.subjects)

    @property
    def ids(self) -> tuple[Any, ...]:
        """Subject IDs, in data order."""
        return tuple(s.id for s in self.subjects)

    def subject(self, id: Any) -> Subject:
        """The subject with ``ID == id`` (an ``int`` also matches ``"1"`` and ``1.0``)."""
        for s in self.subjects:
            if s.id == id or str(s.id) == str(id):
                return s
        shown = ", ".join(map(str, self.ids[:20])) + (", ..." if len(self) > 20 else "")
        raise DataError(f"no subject with ID {id!r}; IDs are: {shown}")

    def observations(self) -> pd.DataFrame:
        """All observations as one long frame: ``ID`` and :data:`OBSERVATION_COLUMNS`."""
        frames = [s.observations.assign(ID=[s.id] * len(s.observations)) for s in self.subjects]
        cols = ["ID", *OBSERVATION_COLUMNS]
        if not frames:
            return pd.DataFrame(columns=cols)
        return pd.concat(frames, ignore_index=True)[cols]

    def to_frame(self) -> pd.DataFrame:
        """The dataset as a NONMEM-convention frame (see :func:`write_nonmem`)."""
        return write_nonmem(self)

    @property
    def n_observations(self) -> int:
        """Number of observations over all subjects."""
        return sum(len(s.observations) for s in self.subjects)

    @property
    def n_doses(self) -> int:
        """Number of dose records (``Bolus``/``Infusion`` entries, before ``ADDL`` expansion)."""
        return sum(1 for s in self.subjects for d in s.regimen if not isinstance(d, Reset))

    def __repr__(self) -> str:
        text = (f"<Dataset: {len(self)} subjects, {self.n_observations} observations, "
                f"{self.n_doses} doses, outputs: {', '.join(self.outputs) or 'none'}")
        if self.covariate_names:
            text += f"; covariates: {', '.join(self.covariate_names)}"
        if self.excluded_rows:
            text += f"; {len(self.excluded_rows)} rows excluded by EXCL"
        return text + ">"


# --------------------------------------------------------------------------- reading
class _Rows:
    """Row context for error messages: ``row 37 (ID 4): ...``."""

    def __init__(self, ids: np.ndarray):
        self.ids = ids

    def error(self, i: int, message: str) -> DataError:
        return DataError(f"row {i + 1} (ID {self.ids[i]}): {message}")

    def check(self, bad: np.ndarray, message: Any) -> None:
        """Raise for the first row where ``bad`` holds; ``message(i)`` builds the text."""
        hits = np.flatnonzero(bad)
        if hits.size:
            i = int(hits[0])
            raise self.error(i, message(i))


def _fmt(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return repr(float(v))
    if isinstance(v, np.integer):
        return str(int(v))
    return repr(v) if isinstance(v, str) else str(v)


def _is_missing(v: Any) -> bool:
    if v is None or v is pd.NA:
        return True
    if isinstance(v, float | np.floating):
        return bool(np.isnan(v))
    return isinstance(v, str) and v.strip() in ("", ".")


def _as_number(v: Any) -> float | None:
    """``v`` as a float, ``nan`` if missing, ``None`` if it is not a number."""
    if _is_missing(v):
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _load(path_or_frame: str | os.PathLike[str] | pd.DataFrame) -> pd.DataFrame:
    if isinstance(path_or_frame, pd.DataFrame):
        return path_or_frame.reset_index(drop=True)
    if isinstance(path_or_frame, str | os.PathLike):
        try:
            return pd.read_csv(path_or_frame, na_values=["."], skipinitialspace=True)
        except FileNotFoundError:
            raise DataError(f"no such data file: {os.fspath(path_or_frame)}") from None
        except OSError as exc:
            raise DataError(f"cannot read {os.fspath(path_or_frame)}: {exc}") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read {os.fspath(path_or_frame)} as CSV: {exc}") from None
    raise DataError(f"expected a CSV path or a pandas DataFrame, got {type(path_or_frame).__name__}")


def _match_columns(df: pd.DataFrame) -> tuple[dict[str, str], list[str]]:
    """Map standard names to the frame's columns; return the other columns too."""
    std: dict[str, str] = {}
    extra: list[str] = []
    for col in df.columns:
        key = str(col).strip().upper()
        if key in _STANDARD:
            if key in std:
                raise DataError(f"columns {std[key]!r} and {col!r} both mean {key} "
                                "(names are matched case-insensitively); keep one")
            std[key] = col
        else:
            extra.append(col)
    if "BLQ" in std:
        if "CENS" in std:
            raise DataError(f"columns {std['BLQ']!r} and {std['CENS']!r} both mark censored "
                            "values; keep one")
        std["CENS"] = std.pop("BLQ")
    missing = [c for c in ("ID", "TIME") if c not in std]
    if missing:
        raise DataError(f"missing required column{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(missing)}; columns present: "
                        + ", ".join(map(str, df.columns)))
    return std, extra


def _ids(col: pd.Series) -> np.ndarray:
    ids = np.empty(len(col), dtype=object)
    for i, v in enumerate(col.tolist()):
        if _is_missing(v):
            raise DataError(f"row {i + 1}: ID is missing; every row needs an ID")
        if isinstance(v, str):
            v = v.strip()
        elif isinstance(v, float | np.floating) and float(v).is_integer():
            v = int(v)
        elif isinstance(v, np.integer):
            v = int(v)
        ids[i] = v
    return ids


def _numeric(col: pd.Series, name: str, rows: _Rows) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(col):
        return col.to_numpy(dtype=float, na_value=np.nan)
    values = col.tolist()
    out = np.empty(len(values))
    for i, v in enumerate(values):
        x = _as_number(v)
        if x is None:
            raise rows.error(i, f"{name} has the non-numeric value {v!r}; {name} must be a number")
        out[i] = x
    return out


def _check_codes(x: np.ndarray, name: str, allowed: Sequence[int], text: str,
                 rows: _Rows) -> None:
    rows.check(~np.isin(x, allowed), lambda i: f"{name} {_fmt(x[i])} is not allowed; {name} must be {text}")


def read_nonmem(
    path_or_frame: str | os.PathLike[str] | pd.DataFrame,
    model: Model | None = None,
    *,
    outputs: Mapping[int | str, str] | None = None,
    covariates: Sequence[str] | None = None,
    time_varying: Mapping[str, str] | None = None,
) -> Dataset:
    """Read and validate a NONMEM-convention event dataset.

    The columns and their meaning are described in the module docstring
    (:mod:`pkpd.data`). Each dose row becomes one :class:`~pkpd.Bolus`
    (``RATE`` 0) or :class:`~pkpd.Infusion` (``RATE > 0``, amount per time
    unit) with ``interval = II``, ``count = ADDL + 1`` and ``ss = (SS == 1)``;
    ``EVID=3`` becomes a :class:`~pkpd.Reset`, ``EVID=4`` a reset followed by
    the dose.

    Which output an observation row observes:

    - with a ``DVID`` column, its value: a name (mapped through ``outputs``
      when it is a key there), or a number mapped through ``outputs``, or,
      without ``outputs``, a 1-based index into ``model.output_names``;
    - without ``DVID``, the row's ``CMT`` mapped through ``outputs``;
    - otherwise the model's only output. Anything else is a :class:`DataError`.

    Parameters
    ----------
    path_or_frame : str, path or pandas.DataFrame
        A CSV file (``"."`` reads as missing) or a frame.
    model : Model, optional
        Maps ``CMT`` numbers to states, gives the default dose target and the
        outputs observations may refer to.
    outputs : mapping, optional
        ``{DVID or CMT value: output name}``.
    covariates : sequence of str, optional
        Covariate columns to keep. By default every numeric column that is
        not a standard one; non-numeric extra columns (e.g. ``SEX`` as text)
        are then ignored. A requested column must exist and be numeric.
    time_varying : mapping str -> str, optional
        Interpolation of covariates that change within a subject:
        ``"locf"`` (last observation carried forward, the default),
        ``"nocb"`` (next observation carried backward) or ``"linear"``.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        For any invalid row, with a message of the form ``row 37 (ID 4): TIME
        12.0 is earlier than the previous row's 24.0; sort by ID, TIME``. Row
        numbers are 1-based data rows: the first row under the CSV header (or
        the first row of the frame) is row 1.

    Examples
    --------
    >>> import pandas as pd
    >>> from pkpd import read_nonmem
    >>> frame = pd.DataFrame({"ID": [1, 1, 1], "TIME": [0, 0, 12], "AMT": [500, 0, 0],
    ...                       "RATE": [250, 0, 0], "CMT": ["central", None, None],
    ...                       "DV": [None, 0.0, 3.2], "DVID": [None, "conc", "conc"],
    ...                       "EVID": [1, 0, 0]})
    >>> read_nonmem(frame).subject(1).regimen.doses[0].duration
    2.0
    """
    df = _load(path_or_frame)
    std, extra = _match_columns(df)
    ids = _ids(df[std["ID"]])
    rows = _Rows(ids)
    n = len(df)

    num: dict[str, np.ndarray] = {}
    for name in _NUMERIC:
        if name in std:
            num[name] = _numeric(df[std[name]], name, rows)
    for name in _ZERO_IF_MISSING:
        if name in num:
            num[name] = np.where(np.isnan(num[name]), 0.0, num[name])
        else:
            num[name] = np.zeros(n)

    time = num["TIME"]
    rows.check(np.isnan(time), lambda i: "TIME is missing; every row needs a TIME")
    rows.check(~np.isfinite(time) | (time < 0),
               lambda i: f"TIME {_fmt(time[i])} is not allowed; TIME must be finite and >= 0")
    _check_order(ids, time, rows)

    # ---- event types
    amt, rate = num["AMT"], num["RATE"]
    if "MDV" in num:
        mdv = num["MDV"]
        rows.check(np.isnan(mdv), lambda i: "MDV is missing; give 0 or 1 on every row, "
                   "or leave the MDV column out")
        _check_codes(mdv, "MDV", (0, 1), "0 (DV is used) or 1 (DV is not used)", rows)
    else:
        mdv = np.zeros(n)
    if "EVID" in num:
        evid = num["EVID"]
        rows.check(np.isnan(evid), lambda i: "EVID is missing; give " + _EVID_TEXT
                   + " on every row, or leave the EVID column out")
        _check_codes(evid, "EVID", (0, 1, 2, 3, 4), _EVID_TEXT, rows)
    else:
        evid = np.where(amt > 0, 1.0, np.where(mdv == 1, 2.0, 0.0))
    evid = evid.astype(int)
    dose = (evid == 1) | (evid == 4)

    # ---- dose items
    rows.check(~np.isfinite(amt) | (amt < 0),
               lambda i: f"AMT {_fmt(amt[i])} is not allowed; AMT must be finite and >= 0")
    rows.check(~dose & (amt > 0), lambda i: f"AMT {_fmt(amt[i])} on an EVID={evid[i]} row; "
               "only dose rows (EVID 1 or 4) carry an amount")
    rows.check(dose & (amt == 0) & (rate > 0),
               lambda i: f"EVID={evid[i]} with AMT 0 and RATE {_fmt(rate[i])} (a constant "
               "infusion) is not supported; give the amount in AMT")
    rows.check(dose & (amt == 0) & (rate == 0),
               lambda i: f"EVID={evid[i]} with AMT 0 and no RATE: a dose needs AMT > 0")
    rows.check(rate == -2, lambda i: "RATE -2 (duration modelled) is not supported yet; "
               "give RATE > 0 (amount per time unit) or 0 (bolus)")
    rows.check(rate == -1, lambda i: "RATE -1 (rate modelled) is not supported yet; "
               "give RATE > 0 (amount per time unit) or 0 (bolus)")
    rows.check(~np.isfinite(rate) | (rate < 0),
               lambda i: f"RATE {_fmt(rate[i])} is not allowed; RATE must be 0 (bolus), > 0 "
               "(infusion, amount per time unit) or -2 (duration modelled, not supported yet)")
    rows.check(~dose & (rate != 0), lambda i: f"RATE {_fmt(rate[i])} on an EVID={evid[i]} row; "
               "RATE belongs on dose rows (EVID 1 or 4)")
    ii, addl, ss = num["II"], num["ADDL"], num["SS"]
    rows.check(~np.isfinite(ii) | (ii < 0),
               lambda i: f"II {_fmt(ii[i])} is not allowed; II must be finite and >= 0")
    rows.check(~np.isfinite(addl) | (addl < 0) | (addl != np.round(addl)),
               lambda i: f"ADDL {_fmt(addl[i])} is not allowed; ADDL must be a whole number >= 0")
    rows.check(ss == 2, lambda i: "SS=2 (steady state added to the current state) is not "
               "supported yet; use SS=1 or 0")
    _check_codes(ss, "SS", (0, 1), "0 or 1 (steady state)", rows)
    for name, x in (("II", ii), ("ADDL", addl), ("SS", ss)):
        rows.check(~dose & (x != 0), lambda i, name=name, x=x: f"{name} {_fmt(x[i])} on an "
                   f"EVID={evid[i]} row; {name} belongs on dose rows (EVID 1 or 4)")
    rows.check(dose & (ii > 0) & (addl == 0) & (ss == 0),
               lambda i: f"II {_fmt(ii[i])} without ADDL > 0 or SS=1; II is the interval of "
               "repeated (ADDL) or steady-state (SS=1) doses")
    rows.check(dose & (addl > 0) & (ii == 0),
               lambda i: f"ADDL {int(addl[i])} with II 0; additional doses need the interval II > 0")
    rows.check(dose & (ss == 1) & (ii == 0),
               lambda i: "SS=1 with II 0; steady-state dosing needs the interval II > 0")
    duration = np.divide(amt, rate, out=np.zeros(n), where=rate > 0)
    rows.check(dose & (ss == 1) & (rate > 0) & (duration > ii)
               & ~np.isclose(duration, ii, rtol=1e-9, atol=0.0),
               lambda i: f"SS=1 with AMT {_fmt(amt[i])} and RATE {_fmt(rate[i])} (an infusion "
               f"lasting AMT/RATE = {duration[i]:g}) longer than II {_fmt(ii[i])}: steady state "
               "with an infusion longer than the dosing interval is not supported; give "
               "RATE >= AMT/II, or the doses with ADDL and SS=0")

    # ---- observation items
    cens, excl = num["CENS"], num["EXCL"]
    cens_name = str(std.get("CENS", "CENS")).upper()
    _check_codes(cens, cens_name, (0, 1), "0 (quantified) or 1 (below the limit of "
                 "quantification; DV holds the limit); upper-limit censoring is not supported",
                 rows)
    _check_codes(excl, "EXCL", (0, 1), "0 (use the row) or 1 (exclude the observation)", rows)
    rows.check(dose & (excl == 1), lambda i: "EXCL=1 on a dose row; only observations can be "
               "excluded (delete the row to drop a dose)")
    lloq = num.get("LLOQ", np.full(n, np.nan))
    rows.check(lloq < 0, lambda i: f"LLOQ {_fmt(lloq[i])} is not allowed; LLOQ must be >= 0")
    candidate = (evid == 0) & (mdv == 0)
    obs = candidate & (excl == 0)
    rows.check(~candidate & (cens == 1), lambda i: f"{cens_name}=1 on a row that is not an "
               "observation (EVID 0 with MDV 0)")
    dv = num.get("DV")
    if dv is None:
        rows.check(obs, lambda i: "the row is an observation (EVID 0, MDV 0) but there is no "
                   "DV column; add DV, or MDV=1 for rows without a value")
        dv = np.full(n, np.nan)
    lloq = np.where((cens == 1) & np.isnan(lloq), dv, lloq)
    dv = np.where((cens == 1) & np.isnan(dv), lloq, dv)
    rows.check(obs & np.isnan(dv), lambda i: f"DV is missing on an observation row (EVID 0, "
               f"MDV 0){'; a ' + cens_name + '=1 row needs the limit in DV or LLOQ' if cens[i] else ''}"
               "; give DV, or set MDV=1 to keep the row without a value")
    rows.check(obs & ~np.isfinite(dv), lambda i: f"DV {_fmt(dv[i])} is not a finite number")

    # ---- compartments and outputs
    targets = _dose_targets(df, std, dose, model, rows)
    out_names = _output_names(df, std, obs, model, outputs, rows)

    # ---- covariates
    cov_names = _covariate_columns(df, extra, covariates)
    cov_values: dict[str, np.ndarray] = {}
    for name in cov_names:
        x = _numeric(df[name], str(name), rows)
        rows.check(np.isnan(x), lambda i, name=name: f"covariate {name} is missing; pkpd does "
                   "not impute covariates: fill it in (e.g. carry the last value forward)")
        cov_values[str(name)] = x
    cov_names = [str(c) for c in cov_names]
    modes = dict(time_varying or {})
    for name, mode in modes.items():
        if name not in cov_values:
            raise DataError(f"time_varying names {name!r}, which is not a covariate"
                            f"{closest(name, cov_names)}; covariates are: "
                            + (", ".join(cov_names) or "none"))
        if mode not in INTERPOLATIONS:
            raise DataError(f"time_varying[{name!r}] is {mode!r}; allowed: "
                            + ", ".join(INTERPOLATIONS))
    interpolation = {name: modes.get(name, "locf") for name in cov_names}

    # ---- subjects
    subjects = []
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if n else np.array([], dtype=int)
    bounds = np.r_[starts, n]
    for a, b in zip(bounds[:-1], bounds[1:], strict=False):
        idx = np.arange(a, b)
        doses = []
        for i in idx[evid[idx] >= 1]:
            if evid[i] in (3, 4):
                doses.append(Reset(float(time[i])))
            if evid[i] in (1, 4):
                kw = dict(target=targets[i], interval=float(ii[i]), count=int(addl[i]) + 1,
                          ss=bool(ss[i] == 1))
                try:
                    if rate[i] > 0:
                        doses.append(Infusion(float(time[i]), float(amt[i]), rate=float(rate[i]), **kw))
                    else:
                        doses.append(Bolus(float(time[i]), float(amt[i]), **kw))
                except RegimenError as exc:
                    raise rows.error(int(i), str(exc)) from None
        # NONMEM accepts overlapping infusions into one compartment: their rates add.
        regimen = Regimen(tuple(doses), allow_overlap=True)
        o = idx[obs[idx]]
        observations = pd.DataFrame({
            "time": time[o], "output": pd.Series([out_names[i] for i in o], dtype=object),
            "dv": dv[o], "cens": cens[o].astype(int), "lloq": lloq[o], "row": o + 1})
        const, table = _subject_covariates(idx, time, cov_values, rows)
        subjects.append(Subject(ids[a], regimen, observations, const, table, dict(interpolation)))

    seen_outputs = list(dict.fromkeys(out_names[i] for i in np.flatnonzero(obs)))
    excluded = tuple(int(i) + 1 for i in np.flatnonzero(candidate & (excl == 1)))
    return Dataset(tuple(subjects), tuple(seen_outputs), tuple(cov_names), excluded)


def _check_order(ids: np.ndarray, time: np.ndarray, rows: _Rows) -> None:
    last_row: dict[Any, int] = {}
    for i in range(len(ids)):
        if i and ids[i] == ids[i - 1]:
            if time[i] < time[i - 1]:
                raise rows.error(i, f"TIME {_fmt(time[i])} is earlier than the previous row's "
                                    f"{_fmt(time[i - 1])}; sort by ID, TIME")
        elif ids[i] in last_row:
            raise rows.error(i, f"ID {ids[i]} appears again after other IDs (its rows ended at "
                                f"row {last_row[ids[i]] + 1}); the rows of a subject must be "
                                "contiguous; sort by ID, TIME")
        last_row[ids[i]] = i


def _parse_cmt(v: Any) -> int | str | None:
    """A CMT cell as a 1-based number, a name, or None (missing or 0)."""
    if _is_missing(v):
        return None
    x = _as_number(v)
    if x is None:
        return str(v).strip()
    if not x.is_integer() or x < 0:
        raise ValueError(f"CMT {_fmt(v)} is not allowed; CMT must be a whole number >= 1 or a "
                         "state name")
    return int(x) or None


def _dose_targets(df: pd.DataFrame, std: dict[str, str], dose: np.ndarray,
                  model: Model | None, rows: _Rows) -> list[str | None]:
    default = model.dose_target if model is not None else None
    targets: list[str | None] = [None] * len(df)
    values = df[std["CMT"]].tolist() if "CMT" in std else [None] * len(df)
    for i in np.flatnonzero(dose):
        try:
            c = _parse_cmt(values[i])
        except ValueError as exc:
            raise rows.error(int(i), str(exc)) from None
        if c is None:
            if model is not None and default is None:
                raise rows.error(int(i), f"CMT is missing on a dose row and model '{model.name}' "
                                 "declares no default dose target; give CMT")
            targets[i] = default
        else:
            targets[i] = _state_name(c, model, rows, int(i))
    return targets


def _state_name(c: int | str, model: Model | None, rows: _Rows, i: int) -> str:
    if model is None:
        if isinstance(c, int):
            raise rows.error(i, f"CMT {c} is a compartment number, but no model was given to map "
                                "numbers to states; pass model= or write the state name")
        return c
    states = model.state_names
    listing = ", ".join(f"{k}={s}" for k, s in enumerate(states, 1))
    if isinstance(c, int):
        if c > len(states):
            raise rows.error(i, f"CMT {c} is out of range; model '{model.name}' has "
                                f"{len(states)} states: {listing}")
        return states[c - 1]
    if c not in states:
        raise rows.error(i, f"CMT {c!r} is not a state of model '{model.name}'"
                            f"{closest(c, states)}; states are: {listing}")
    return c


def _lookup(mapping: Mapping[Any, str], key: int | str) -> str | None:
    if key in mapping:
        return mapping[key]
    alt: Any = str(key) if isinstance(key, int) else None
    if isinstance(key, str):
        x = _as_number(key)
        alt = int(x) if x is not None and not math.isnan(x) and x.is_integer() else None
    if alt is not None and alt in mapping:
        return mapping[alt]
    return None


def _output_names(df: pd.DataFrame, std: dict[str, str], obs: np.ndarray,
                  model: Model | None, outputs: Mapping[int | str, str] | None,
                  rows: _Rows) -> dict[int, str]:
    names: dict[int, str] = {}
    keys = ", ".join(map(repr, outputs)) if outputs else ""
    model_outputs = model.output_names if model is not None else ()
    if "DVID" in std:
        values = df[std["DVID"]].tolist()
        for i in np.flatnonzero(obs):
            v = values[i]
            if _is_missing(v):
                raise rows.error(int(i), "DVID is missing on an observation row; give the "
                                         "output's name or number")
            x = _as_number(v)
            if x is None:
                key: int | str = str(v).strip()
                name = _lookup(outputs, key) if outputs else None
                names[i] = name if name is not None else key
                continue
            if not x.is_integer():
                raise rows.error(int(i), f"DVID {_fmt(v)} is not allowed; DVID is an output "
                                         "name or a whole number")
            k = int(x)
            if outputs:
                name = _lookup(outputs, k)
                if name is None:
                    raise rows.error(int(i), f"DVID {k} is not a key of outputs= (keys: {keys})")
                names[i] = name
            elif model is not None:
                if not 1 <= k <= len(model_outputs):
                    raise rows.error(int(i), f"DVID {k} is out of range; model '{model.name}' "
                                     f"has {len(model_outputs)} outputs: "
                                     + ", ".join(f"{j}={o}" for j, o in enumerate(model_outputs, 1)))
                names[i] = model_outputs[k - 1]
            else:
                raise rows.error(int(i), f"DVID {k} is a number; pass outputs={{{k}: 'name', ...}} "
                                         "or model= to name the outputs")
    elif outputs:
        if "CMT" not in std:
            hits = np.flatnonzero(obs)
            if hits.size:
                raise rows.error(int(hits[0]), "there is no DVID column and no CMT column for "
                                 "outputs= to map; add DVID (the output name) or CMT")
        else:
            values = df[std["CMT"]].tolist()
            for i in np.flatnonzero(obs):
                v = values[i]
                name = None if _is_missing(v) else _lookup(outputs, _parse_cmt_key(v))
                if name is None:
                    raise rows.error(int(i), f"CMT {_fmt(v)} of an observation row is not a key "
                                             f"of outputs= (keys: {keys})")
                names[i] = name
    elif model is not None and len(model_outputs) == 1:
        names = dict.fromkeys(np.flatnonzero(obs).tolist(), model_outputs[0])
    else:
        hits = np.flatnonzero(obs)
        if hits.size:
            if model is not None:
                why = (f"model '{model.name}' has {len(model_outputs)} outputs "
                       f"({', '.join(model_outputs) or 'none'})")
            else:
                why = "no model was given"
            raise rows.error(int(hits[0]), f"cannot tell which output this observation is: there "
                             f"is no DVID column and {why}; add a DVID column (output names), "
                             "pass outputs={CMT: output name}, or a model with one output")
    if model is not None:
        for i, name in names.items():
            if name not in model_outputs:
                raise rows.error(int(i), f"observation of output {name!r}, which model "
                                 f"'{model.name}' does not have{closest(name, model_outputs)}; "
                                 "outputs are: " + (", ".join(model_outputs) or "none"))
    return names


def _parse_cmt_key(v: Any) -> int | str:
    x = _as_number(v)
    if x is not None and not math.isnan(x) and x.is_integer():
        return int(x)
    return str(v).strip()


def _covariate_columns(df: pd.DataFrame, extra: list[Any],
                       requested: Sequence[str] | None) -> list[Any]:
    if requested is None:
        return [c for c in extra if pd.api.types.is_numeric_dtype(df[c])]
    if isinstance(requested, str):
        requested = [requested]
    by_upper = {str(c).upper(): c for c in extra}
    chosen = []
    for name in requested:
        if name in extra:
            chosen.append(name)
        elif str(name).upper() in by_upper:
            chosen.append(by_upper[str(name).upper()])
        elif str(name).upper() in _STANDARD:
            raise DataError(f"{name} is a standard NONMEM column, not a covariate")
        else:
            others = [str(c) for c in extra]
            raise DataError(f"covariate column {name!r} is not in the data"
                            f"{closest(str(name), others)}; other columns are: "
                            + (", ".join(others) or "none"))
    return list(dict.fromkeys(chosen))


def _subject_covariates(idx: np.ndarray, time: np.ndarray, values: dict[str, np.ndarray],
                        rows: _Rows) -> tuple[dict[str, float], pd.DataFrame | None]:
    const: dict[str, float] = {}
    varying: dict[str, np.ndarray] = {}
    t = time[idx]
    for name, x in values.items():
        v = x[idx]
        if np.all(v == v[0]):
            const[name] = float(v[0])
            continue
        same_time = (t[1:] == t[:-1]) & (v[1:] != v[:-1])
        if same_time.any():
            j = int(np.flatnonzero(same_time)[0]) + 1
            raise rows.error(int(idx[j]), f"covariate {name} changes from {_fmt(v[j - 1])} to "
                                          f"{_fmt(v[j])} at the same TIME {_fmt(t[j])}; give "
                                          "one value per time")
        varying[name] = v
    if not varying:
        return const, None
    first = np.r_[True, t[1:] != t[:-1]]
    table = pd.DataFrame({"time": t[first], **{k: v[first] for k, v in varying.items()}})
    return const, table


# --------------------------------------------------------------------------- writing
def write_nonmem(
    data: Dataset | Mapping[Any, tuple[Regimen, pd.DataFrame]],
    path: str | os.PathLike[str] | None = None,
    model: Model | None = None,
    *,
    cmt: str = "name",
) -> pd.DataFrame:
    """Write a dataset in the NONMEM convention; :func:`read_nonmem` reads it back.

    Dose rows carry ``AMT``, ``RATE`` (0 for a bolus), ``CMT``, ``II``,
    ``ADDL``, ``SS``, ``EVID=1`` and ``MDV=1``; resets ``EVID=3``;
    observation rows ``DV``, ``DVID`` (the output name), ``EVID=0``,
    ``MDV=0`` and, when any value is censored or has a limit, ``CENS`` and
    ``LLOQ``. Covariates appear on every row; times at which a time-varying
    covariate is tabulated but no event happens get an ``EVID=2`` row.
    Subjects keep their order; within a subject rows are sorted by ``TIME``,
    resets before doses before other rows before observations at equal times.
    Rows excluded with ``EXCL`` are not written.

    Parameters
    ----------
    data : Dataset or mapping
        A :class:`Dataset`, or ``{ID: (regimen, observations)}`` where the
        observations frame has columns ``time``, ``output``, ``dv`` and
        optionally ``cens`` and ``lloq``.
    path : str or path, optional
        Also write the frame there as CSV.
    model : Model, optional
        Resolves doses without a target to ``model.dose_target`` and, with
        ``cmt="number"``, state names to 1-based numbers.
    cmt : {"name", "number"}
        How to write ``CMT``: the state name, or its 1-based number as a
        whole number (empty on rows without a compartment).

    Returns
    -------
    pandas.DataFrame
        The NONMEM-convention frame.

    Examples
    --------
    >>> from pkpd import Bolus, write_nonmem
    >>> import pandas as pd
    >>> obs = pd.DataFrame({"time": [1.0, 4.0], "output": "conc", "dv": [2.1, 1.4]})
    >>> regimen = Bolus(0, 100, "depot") + Bolus(12, 100, "depot")
    >>> write_nonmem({1: (regimen, obs)})[["ID", "TIME", "EVID", "AMT", "CMT", "DV", "DVID"]]
       ID  TIME  EVID    AMT    CMT   DV  DVID
    0   1   0.0     1  100.0  depot  NaN   NaN
    1   1   1.0     0    0.0    NaN  2.1  conc
    2   1   4.0     0    0.0    NaN  1.4  conc
    3   1  12.0     1  100.0  depot  NaN   NaN
    """
    if cmt not in ("name", "number"):
        raise DataError(f"cmt must be 'name' or 'number', got {cmt!r}")
    if cmt == "number" and model is None:
        raise DataError("cmt='number' needs model= to number the states")
    subjects = _as_subjects(data)
    cov_names = list(data.covariate_names) if isinstance(data, Dataset) else []
    records: list[dict[str, Any]] = []
    for s in subjects:
        subject_rows: list[tuple[float, int, int, dict[str, Any]]] = []
        for d in s.regimen:
            if isinstance(d, Reset):
                subject_rows.append((d.time, 0, len(subject_rows), dict(EVID=3, MDV=1)))
                continue
            subject_rows.append((d.time, 1, len(subject_rows), dict(
                EVID=1, MDV=1, AMT=d.amount, RATE=d.rate if isinstance(d, Infusion) else 0.0,
                CMT=_cmt_value(d.target, model, cmt, s.id), II=d.interval, ADDL=d.count - 1,
                SS=int(d.ss))))
        ob = s.observations
        cens = ob["cens"].to_numpy(dtype=int) if "cens" in ob else np.zeros(len(ob), dtype=int)
        lloq = ob["lloq"].to_numpy(dtype=float) if "lloq" in ob else np.full(len(ob), np.nan)
        for t, out, v, c, q in zip(ob["time"].to_numpy(dtype=float), ob["output"].tolist(),
                                   ob["dv"].to_numpy(dtype=float), cens, lloq, strict=True):
            subject_rows.append((float(t), 3, len(subject_rows),
                                 dict(EVID=0, MDV=0, DV=v, DVID=out, CENS=int(c), LLOQ=q)))
        if s.covariate_table is not None:
            have = {r[0] for r in subject_rows}
            for t in s.covariate_table["time"].to_numpy(dtype=float):
                if float(t) not in have:
                    subject_rows.append((float(t), 2, len(subject_rows), dict(EVID=2, MDV=1)))
        subject_rows.sort(key=lambda r: (r[0], r[1], r[2]))
        times = np.array([r[0] for r in subject_rows])
        covs = s.covariates_at(times) if len(times) else {}
        for name in cov_names:
            if name not in covs:
                raise DataError(f"ID {s.id}: no value for covariate {name}")
        for k, (t, _, _, rec) in enumerate(subject_rows):
            records.append({"ID": s.id, "TIME": t, **rec,
                            **{name: float(covs[name][k]) for name in covs}})
        cov_names += [c for c in covs if c not in cov_names]

    cols = ["ID", "TIME", "EVID", "MDV", "AMT", "RATE", "CMT", "II", "ADDL", "SS", "DV", "DVID",
            "CENS", "LLOQ", *cov_names]
    frame = pd.DataFrame.from_records(records, columns=cols)
    fill = {"AMT": 0.0, "RATE": 0.0, "II": 0.0, "ADDL": 0, "SS": 0, "CENS": 0}
    frame = frame.fillna(fill)
    for c in ("EVID", "MDV", "ADDL", "SS", "CENS"):
        frame[c] = frame[c].astype(int)
    for c in ("TIME", "AMT", "RATE", "II", "DV", "LLOQ"):
        frame[c] = frame[c].astype(float)
    if cmt == "number":
        # whole numbers (1, 2), empty where a row has no compartment
        frame["CMT"] = frame["CMT"].astype("Int64")
    if not (frame["CENS"].any() or frame["LLOQ"].notna().any()):
        frame = frame.drop(columns=["CENS", "LLOQ"])
    if path is not None:
        frame.to_csv(path, index=False, lineterminator="\n")
    return frame


def _as_subjects(data: Any) -> list[Subject]:
    if isinstance(data, Dataset):
        return list(data.subjects)
    if not isinstance(data, Mapping):
        raise DataError("write_nonmem expects a Dataset or a mapping {ID: (regimen, "
                        f"observations)}}, got {type(data).__name__}")
    subjects = []
    for sid, value in data.items():
        try:
            regimen, obs = value
        except (TypeError, ValueError):
            raise DataError(f"ID {sid}: expected a pair (regimen, observations frame)") from None
        if not isinstance(regimen, Regimen):
            raise DataError(f"ID {sid}: expected a Regimen, got {type(regimen).__name__}")
        obs = pd.DataFrame(obs).reset_index(drop=True)
        missing = [c for c in ("time", "output", "dv") if c not in obs.columns]
        if missing:
            raise DataError(f"ID {sid}: the observations frame needs the columns time, output, "
                            f"dv; missing: {', '.join(missing)}")
        obs = obs.assign(
            cens=obs["cens"].astype(int) if "cens" in obs else 0,
            lloq=obs["lloq"].astype(float) if "lloq" in obs else np.nan,
            row=np.arange(1, len(obs) + 1))
        subjects.append(Subject(sid, regimen, obs))
    return subjects


def _cmt_value(target: str | None, model: Model | None, cmt: str, sid: Any) -> Any:
    if target is None and model is not None:
        target = model.dose_target
    if cmt == "name" or target is None or model is None:
        return target
    if target not in model.state_names:
        raise DataError(f"ID {sid}: dose target '{target}' is not a state of model "
                        f"'{model.name}'{closest(target, model.state_names)}")
    return model.state_names.index(target) + 1
