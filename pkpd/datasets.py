"""Example datasets shipped with pkpd, in the NONMEM convention.

Two are plain dose-response tables instead, for :func:`pkpd.curves.fit_curve`:
``ryegrass`` (root length vs concentration) and ``puromycin`` (reaction rate
vs substrate concentration).

The files live in ``pkpd/data/``; their provenance (source, licence and every
conversion made) is in ``pkpd/data/README.md`` and is returned by
:func:`describe`. Read a frame into subjects and regimens with
:func:`pkpd.read_nonmem`.

Examples
--------
>>> from pkpd import datasets, read_nonmem
>>> "theoph" in datasets.list_datasets()
True
>>> frame = datasets.load("warfarin")
>>> read_nonmem(frame)
<Dataset: 32 subjects, 483 observations, 32 doses, outputs: cp, pca; covariates: WT, AGE, SEX>
"""

from __future__ import annotations

import re
from importlib.resources import files
from importlib.resources.abc import Traversable

import pandas as pd

from .errors import DataError, closest

__all__ = ["load", "list_datasets", "describe"]


def _folder() -> Traversable:
    return files("pkpd") / "data"


def list_datasets() -> list[str]:
    """Names of the shipped datasets, sorted.

    Returns
    -------
    list of str
        Names accepted by :func:`load` and :func:`describe`.
    """
    return sorted(p.name[:-4] for p in _folder().iterdir() if p.name.endswith(".csv"))


def _check(name: str) -> str:
    names = list_datasets()
    if name not in names:
        raise DataError(f"no dataset called {name!r}{closest(name, names)}; datasets are: "
                        + ", ".join(names))
    return name


def load(name: str) -> pd.DataFrame:
    """A shipped dataset as a NONMEM-convention frame (a plain table for
    ``ryegrass`` and ``puromycin``).

    Parameters
    ----------
    name : str
        One of :func:`list_datasets`.

    Returns
    -------
    pandas.DataFrame
        One row per event (``ID``, ``TIME`` in hours, ``AMT`` in mg, ``DV``
        ...); units per dataset are given by :func:`describe`.

    Raises
    ------
    DataError
        If there is no such dataset.

    Examples
    --------
    >>> from pkpd import datasets
    >>> datasets.load("theoph").columns.tolist()
    ['ID', 'TIME', 'AMT', 'CMT', 'EVID', 'MDV', 'DV', 'EXCL', 'WT']
    """
    with (_folder() / f"{_check(name)}.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh)


def describe(name: str) -> str:
    """Provenance of a dataset: source, licence, columns, units and conversions.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets`.

    Returns
    -------
    str
        The dataset's section of ``pkpd/data/README.md``.

    Examples
    --------
    >>> from pkpd import datasets
    >>> print(datasets.describe("indometh").splitlines()[0])
    ## indometh: indometacin after an IV bolus (Kwan et al. 1976)
    """
    _check(name)
    text = (_folder() / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(name)}\b.*?(?=^## |\Z)", text, flags=re.M | re.S)
    if match is None:
        raise DataError(f"dataset {name!r} has no section in pkpd/data/README.md")
    return match.group(0).strip()
