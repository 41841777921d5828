"""Convert the real datasets of ``../shared/data`` to pkpd's NONMEM convention.

Run from the repository root::

    python pkpd/data/_make_real.py [--src ../shared/data] [--out pkpd/data]

Every conversion is listed in ``pkpd/data/README.md``; measured values are
copied unchanged. The script is not part of the installed package: the
converted CSV files are, and pkpd never reads ``../shared`` at run time.
``tests/unit/test_data.py`` reruns it into a temporary folder and compares
the output with the shipped files byte for byte.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_SRC = Path(__file__).resolve().parents[3] / "shared" / "data"
DEFAULT_OUT = Path(__file__).resolve().parent

#: Indometacin IV bolus dose (mg) per subject; not part of R's Indometh data
#: (see the README for the source and the caveat).
INDOMETACIN_DOSE_MG = 25.0

#: Coding of warfarin's ``sex`` column.
SEX_CODES = {"female": 0, "male": 1}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"unexpected source data: {message}")


def theoph(src: Path) -> pd.DataFrame:
    """Theophylline: one oral dose row per subject, AMT = Dose (mg/kg) * Wt (kg)."""
    raw = pd.read_csv(src / "theoph.csv")
    _check(len(raw) == 132 and raw["Subject"].nunique() == 12, "theoph: 132 rows, 12 subjects")
    rows = []
    for sid, g in raw.groupby("Subject", sort=False):
        wt, dose = g["Wt"].iloc[0], g["Dose"].iloc[0]
        _check(g["Wt"].nunique() == 1 and g["Dose"].nunique() == 1, f"theoph {sid}: one Wt, Dose")
        # Dose has 2 decimals and Wt 1, so the product has at most 3: rounding is exact.
        rows.append(dict(ID=sid, TIME=0.0, AMT=round(dose * wt, 3), CMT="depot", EVID=1, MDV=1,
                         DV=np.nan, EXCL=0, WT=wt))
        for t, c in zip(g["Time"], g["conc"], strict=True):
            rows.append(dict(ID=sid, TIME=t, AMT=0.0, CMT="central", EVID=0, MDV=0, DV=c,
                             EXCL=int(t == 0), WT=wt))
    return pd.DataFrame(rows)


def warfarin(src: Path) -> pd.DataFrame:
    """Warfarin PK/PD: upper-case names, MDV added, SEX coded, dose-row placeholders blanked."""
    raw = pd.read_csv(src / "warfarin.csv")
    _check(len(raw) == 515 and raw["id"].nunique() == 32, "warfarin: 515 rows, 32 subjects")
    _check(set(raw["sex"]) == set(SEX_CODES), f"warfarin: sex is one of {sorted(SEX_CODES)}")
    dose = raw["evid"] == 1
    _check(bool((raw.loc[dose, "dv"] == 0).all()), "warfarin: dv is 0 on dose rows")
    return pd.DataFrame({
        "ID": raw["id"], "TIME": raw["time"], "AMT": raw["amt"], "EVID": raw["evid"],
        "MDV": dose.astype(int), "DV": raw["dv"].where(~dose),
        "DVID": raw["dvid"].where(~dose), "WT": raw["wt"], "AGE": raw["age"],
        "SEX": raw["sex"].map(SEX_CODES)})


def pheno(src: Path) -> pd.DataFrame:
    """Phenobarbital: EVID/MDV from AMT, CMT central, DV blank on doses, FA1/FA2 dropped."""
    raw = pd.read_csv(src / "pheno.csv")
    _check(len(raw) == 744 and raw["ID"].nunique() == 59, "pheno: 744 rows, 59 subjects")
    dose = raw["AMT"] > 0
    _check(bool((raw.loc[dose, "DV"] == 0).all()), "pheno: DV is 0 on dose rows")
    _check(bool((raw["FA1"] == dose.astype(int)).all() and (raw["FA2"] == raw["FA1"]).all()),
           "pheno: FA1 = FA2 = 1 exactly on dose rows")
    return pd.DataFrame({
        "ID": raw["ID"], "TIME": raw["TIME"], "AMT": raw["AMT"],
        "CMT": "central", "EVID": dose.astype(int),
        "MDV": dose.astype(int), "DV": raw["DV"].where(~dose), "WGT": raw["WGT"],
        "APGR": raw["APGR"]})


def indometh(src: Path) -> pd.DataFrame:
    """Indometacin: a 25 mg IV bolus row into central at time 0 added per subject."""
    raw = pd.read_csv(src / "indometh.csv")
    _check(len(raw) == 66 and raw["Subject"].nunique() == 6, "indometh: 66 rows, 6 subjects")
    rows = []
    for sid, g in raw.groupby("Subject", sort=False):
        rows.append(dict(ID=sid, TIME=0.0, AMT=INDOMETACIN_DOSE_MG, CMT="central", EVID=1,
                         MDV=1, DV=np.nan))
        for t, c in zip(g["time"], g["conc"], strict=True):
            rows.append(dict(ID=sid, TIME=t, AMT=0.0, CMT="central", EVID=0, MDV=0, DV=c))
    return pd.DataFrame(rows)


CONVERTERS = {"theoph": theoph, "warfarin": warfarin, "pheno": pheno, "indometh": indometh}


def make_all(src: Path = DEFAULT_SRC, out: Path = DEFAULT_OUT) -> list[Path]:
    """Write every converted dataset to ``out``; return the paths written."""
    src, out = Path(src), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, convert in CONVERTERS.items():
        path = out / f"{name}.csv"
        convert(src).to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC, help="folder of the originals")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write to")
    args = parser.parse_args(argv)
    for path in make_all(args.src, args.out):
        print(path)


if __name__ == "__main__":
    main()
