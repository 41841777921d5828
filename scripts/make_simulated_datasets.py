"""Simulate the example MS datasets shipped in ``pkpd/data/`` (SIMULATED, not real data).

Three datasets, each from a model of the library with the typical values of its file,
log-normal inter-individual variability (IIV), residual error and, where realistic, a lower
limit of quantification (LLOQ); every value below marked "assumption" is an assumption of this
script, not a published estimate. Provenance and design: ``pkpd/data/README.md``.

- ``ocrelizumab_bcell.csv``: blood B-cell counts of 60 patients on ocrelizumab
  (``models/ocrelizumab_bcell.pkpd``); half continue the labelled regimen for 2 years, half
  stop after the second full dose (week 24) and are followed for 2 years after it.
- ``ifn_neopterin.csv``: serum neopterin and MxA expression of 24 patients on IFN-beta-1a
  44 ug SC three times a week for 4 weeks (``models/interferon_beta_neopterin.pkpd``).
- ``fingolimod_lymphocytes.csv``: absolute lymphocyte counts of 40 patients on fingolimod
  0.5 mg daily for 6 months, then 6 months off (``models/fingolimod_lymphocytes.pkpd``).

Regenerate (from the repository root)::

    .venv/bin/python scripts/make_simulated_datasets.py --out pkpd/data

``tests/models/test_simulated_datasets.py`` regenerates every file and compares it with the
shipped one. Each dataset has its own seed, so changing one does not change the others.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

import pkpd
from pkpd.language import load_model
from pkpd.notation import parse_regimen, regimen_from_model
from pkpd.simulate import simulate

# --------------------------------------------------------------------------- common


def truth(model_name: str) -> dict[str, float]:
    """Typical (population) parameter values used in a simulation: those of the model file."""
    return {p.name: float(p.value) for p in load_model(model_name).params}


def _individual(rng: np.random.Generator, typical: Mapping[str, float],
                iiv_cv: Mapping[str, float]) -> dict[str, float]:
    """Log-normal individual values, omega^2 = log(1 + CV^2), drawn in the order of ``iiv_cv``."""
    return {k: typical[k] * float(np.exp(rng.normal(0.0, np.sqrt(np.log1p(cv**2)))))
            for k, cv in iiv_cv.items()}


def _dose_rows(regimen: pkpd.Regimen, sid: int, columns: Sequence[str],
               **extra: object) -> list[dict]:
    """Dose rows: one per dose entry with II and ADDL when ``columns`` has them, else one per
    administration."""
    rows = []
    for d in regimen.doses:
        rate = float(d.rate) if isinstance(d, pkpd.Infusion) else 0.0
        if "ADDL" in columns:
            events = [(d.time, float(d.interval) if d.count > 1 else 0.0, d.count - 1)]
        else:
            events = [(t, 0.0, 0) for t in d.times()]
        for t, ii, addl in events:
            rows.append(dict(ID=sid, TIME=float(t), AMT=float(d.amount), RATE=rate, II=ii,
                             ADDL=int(addl), CMT=d.target, EVID=1, MDV=1, DV=np.nan, DVID="",
                             CENS=0, **extra))
    return rows


def _observation_rows(sid: int, times: np.ndarray, dv: np.ndarray, *, cmt: str, dvid: str,
                      lloq: float | None, decimals: int, **extra: object) -> list[dict]:
    """Observation rows; a value below ``lloq`` is reported as CENS = 1 with DV = LLOQ."""
    rows = []
    for t, y in zip(times, dv, strict=True):
        cens = int(lloq is not None and y < lloq)
        rows.append(dict(ID=sid, TIME=float(t), AMT=0.0, RATE=0.0, II=0.0, ADDL=0, CMT=cmt,
                         EVID=0, MDV=0, DV=lloq if cens else round(float(y), decimals),
                         DVID=dvid, CENS=cens, **extra))
    return rows


def _frame(rows: list[dict], columns: Sequence[str]) -> pd.DataFrame:
    # NONMEM order: by subject and time, a dose row before an observation at the same time
    # (the dose is applied first; a bolus into a depot or an infusion does not move the
    # observed quantity at that instant, so a TIME 0 sample is the pre-dose value).
    frame = pd.DataFrame(rows)[list(columns)]
    return frame.sort_values(["ID", "TIME", "EVID"], ascending=[True, True, False],
                             kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------- ocrelizumab

SEED = 20261125
N_SUBJECTS = 60
N_STOP = 30  # subjects N_SUBJECTS - N_STOP + 1 .. N_SUBJECTS stop after the week-24 dose
LLOQ = 5.0  # cells/uL; assumption (typical flow-cytometry CD19+ LLOQ)
PROP_SD = 0.20  # proportional residual error (SD of the relative error); assumption
ADD_SD = 1.0  # additive residual error, cells/uL; assumption
WT_MEAN, WT_SD, WT_LOW, WT_HIGH = 75.0, 15.0, 45.0, 130.0  # kg; assumption
# Coefficient of variation of the log-normal IIV (omega^2 = log(1 + CV^2)); assumptions.
IIV_CV = {"CLinf": 0.30, "V1": 0.30, "B0": 0.30, "kout": 0.30, "kkill": 0.30, "EC50": 0.30}
# Sampling (days from the first infusion). Early visits after the first infusion inform the
# kill rate, follow-up after the last infusion of the stop arm informs repletion.
EARLY_DAYS = (0.0, 1.0, 3.0, 7.0, 14.0, 28.0)
COMMON_WEEKS = (8, 12, 24)
CONTINUE_WEEKS = (36, 48, 60, 72, 84, 96, 104)
STOP_WEEKS = (36, 48, 60, 72, 80, 88, 96, 104, 112, 120, 128)
STOP_REGIMEN = "300 mg iv over 2.5 h at 0, 14 d; 600 mg iv over 3.5 h at 24 w"
# Visits from week 8 on that are not on an infusion day are moved by a uniformly drawn whole
# number of days in [-3, 3] (visit window; assumption).
WINDOW_DAYS = 3
COLUMNS = ["ID", "TIME", "AMT", "RATE", "CMT", "EVID", "MDV", "DV", "DVID", "CENS", "WT", "ARM"]


def ocrelizumab_regimens(model: pkpd.Model | None = None) -> dict[str, pkpd.Regimen]:
    """The two arms: ``continue`` (the model's labelled regimen) and ``stop``."""
    model = model or load_model("ocrelizumab_bcell")
    return {"continue": regimen_from_model(model),
            "stop": parse_regimen(STOP_REGIMEN, time_unit=model.time_unit,
                                       default_target=model.dose_target)}


def ocrelizumab_visits(arm: str) -> np.ndarray:
    """Nominal sampling times (days) of an arm."""
    weeks = COMMON_WEEKS + (CONTINUE_WEEKS if arm == "continue" else STOP_WEEKS)
    return np.r_[EARLY_DAYS, 7.0 * np.array(weeks, dtype=float)]


def make_ocrelizumab_bcell(seed: int = SEED, n_subjects: int = N_SUBJECTS,
                           iiv_cv: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Simulate the ``ocrelizumab_bcell`` dataset (NONMEM convention, TIME in days).

    The random draws are made in a fixed order (per subject: weight, the IIV deviates in the
    order of ``iiv_cv`` (default ``IIV_CV``), visit jitter, then the two residual deviates per
    observation), so the output depends on ``seed`` only. ``iiv_cv={}`` simulates every
    subject with the typical values (used by the tests to check parameter recovery).
    """
    rng = np.random.default_rng(seed)
    model = load_model("ocrelizumab_bcell")
    regimens = ocrelizumab_regimens(model)
    typical = truth("ocrelizumab_bcell")
    rows: list[dict] = []
    for sid in range(1, n_subjects + 1):
        arm = "stop" if sid > n_subjects - N_STOP else "continue"
        regimen = regimens[arm]
        wt = rng.normal(WT_MEAN, WT_SD)
        while not WT_LOW <= wt <= WT_HIGH:  # truncation by redrawing
            wt = rng.normal(WT_MEAN, WT_SD)
        wt = round(float(wt), 1)
        params = _individual(rng, typical, IIV_CV if iiv_cv is None else iiv_cv)
        nominal = ocrelizumab_visits(arm)
        jitter = rng.integers(-WINDOW_DAYS, WINDOW_DAYS + 1, size=nominal.size).astype(float)
        infusion_days = np.concatenate([d.times() for d in regimen.doses])
        fixed = (nominal <= EARLY_DAYS[-1]) | np.isin(nominal, infusion_days)
        times = nominal + np.where(fixed, 0.0, jitter)
        sim = simulate(model, regimen, times, params=params, covariates={"WT": wt})
        ipred = np.asarray(sim["bcells"], dtype=float)
        eps = rng.normal(size=(times.size, 2))
        dv = ipred * (1.0 + PROP_SD * eps[:, 0]) + ADD_SD * eps[:, 1]
        rows += _dose_rows(regimen, sid, COLUMNS, WT=wt, ARM=arm)
        rows += _observation_rows(sid, times, dv, cmt="B", dvid="bcells", lloq=LLOQ,
                                  decimals=1, WT=wt, ARM=arm)
    return _frame(rows, COLUMNS)


# ------------------------------------------------------------------- interferon-beta

IFN_SEED = 20261126
IFN_N_SUBJECTS = 24
IFN_REGIMEN = ("44 ug sc every 1 w x 4; 44 ug sc every 1 w x 4 from 48 h; "
               "44 ug sc every 1 w x 4 from 96 h")
IFN_LAST_DOSE = 600.0  # h: the 12th injection (week 4, day 26)
# Sampling (h): pre-dose and dense after the first injection, pre-dose before the Monday
# injections of weeks 2 and 3, then pre-dose and dense after the last injection.
IFN_TIMES = (0.0, 4.0, 8.0, 12.0, 24.0, 36.0, 48.0, 168.0, 336.0, 504.0,
             600.0, 604.0, 608.0, 612.0, 624.0, 636.0, 648.0, 672.0, 720.0)
IFN_NEOPTERIN_LLOQ = 2.0  # nmol/L; assumption (order of commercial neopterin ELISA limits)
IFN_NEOPTERIN_PROP_SD = 0.15  # proportional residual error; assumption
IFN_MXA_PROP_SD = 0.25  # proportional residual error of the MxA fold change; assumption
IFN_IIV_CV = {"ka_sc": 0.30, "V": 0.30, "N0": 0.25, "Smax": 0.40, "SC50": 0.40,
              "SmaxM": 0.40, "koutM": 0.30}  # assumptions
IFN_COLUMNS = ["ID", "TIME", "AMT", "II", "ADDL", "CMT", "EVID", "MDV", "DV", "DVID", "CENS"]


def ifn_regimen(model: pkpd.Model | None = None) -> pkpd.Regimen:
    """IFN-beta-1a 44 ug SC on Monday, Wednesday and Friday for 4 weeks (12 injections)."""
    model = model or load_model("interferon_beta_neopterin")
    return parse_regimen(IFN_REGIMEN, time_unit=model.time_unit,
                              targets={"sc": "depot"})


def make_ifn_neopterin(seed: int = IFN_SEED, n_subjects: int = IFN_N_SUBJECTS) -> pd.DataFrame:
    """Simulate the ``ifn_neopterin`` dataset (NONMEM convention, TIME in hours).

    Per subject, in this order: the IIV deviates in the order of ``IFN_IIV_CV``, then one
    residual deviate per neopterin observation, then one per MxA observation.
    """
    rng = np.random.default_rng(seed)
    model = load_model("interferon_beta_neopterin")
    regimen = ifn_regimen(model)
    typical = truth("interferon_beta_neopterin")
    times = np.array(IFN_TIMES)
    rows: list[dict] = []
    for sid in range(1, n_subjects + 1):
        params = _individual(rng, typical, IFN_IIV_CV)
        sim = simulate(model, regimen, times, params=params)
        neo = np.asarray(sim["neopterin"]) * (1.0 + IFN_NEOPTERIN_PROP_SD
                                              * rng.normal(size=times.size))
        mxa = np.asarray(sim["mxa"]) * (1.0 + IFN_MXA_PROP_SD * rng.normal(size=times.size))
        rows += _dose_rows(regimen, sid, IFN_COLUMNS)
        rows += _observation_rows(sid, times, neo, cmt="N", dvid="neopterin",
                                  lloq=IFN_NEOPTERIN_LLOQ, decimals=2)
        rows += _observation_rows(sid, times, mxa, cmt="MxA", dvid="mxa", lloq=None,
                                  decimals=3)
    return _frame(rows, IFN_COLUMNS)


# ------------------------------------------------------------------------ fingolimod

FINGOLIMOD_SEED = 20261127
FINGOLIMOD_N_SUBJECTS = 40
FINGOLIMOD_DAYS_ON = 180  # 0.5 mg once daily on days 0..179
FINGOLIMOD_BASE = 1.7  # 10^9/L; derived: label nadir ~500 cells/uL = ~30% of baseline
FINGOLIMOD_PROP_SD = 0.10  # proportional residual error of a haematology count; assumption
FINGOLIMOD_IIV_CV = {"BASE": 0.30, "V": 0.25, "k": 0.25, "IC50": 0.50, "kout": 0.30}
# Sampling (days): baseline and 6 h after the first dose, days 1-14 dense, monthly on drug
# (day 179 = last dosing day, sampled before the dose), then washout visits.
FINGOLIMOD_TIMES = (0.0, 0.25, 1.0, 2.0, 3.0, 4.0, 7.0, 10.0, 14.0,
                    30.0, 60.0, 90.0, 120.0, 150.0, 179.0,
                    186.0, 193.0, 207.0, 221.0, 235.0, 270.0, 300.0, 360.0)
FINGOLIMOD_COLUMNS = ["ID", "TIME", "AMT", "II", "ADDL", "CMT", "EVID", "MDV", "DV", "DVID"]


def fingolimod_regimen(model: pkpd.Model | None = None) -> pkpd.Regimen:
    """Fingolimod 0.5 mg orally once daily for ``FINGOLIMOD_DAYS_ON`` days."""
    model = model or load_model("fingolimod_lymphocytes")
    return parse_regimen(f"0.5 mg po every 1 d x {FINGOLIMOD_DAYS_ON}",
                              time_unit=model.time_unit, targets={"po": "depot"})


def make_fingolimod_lymphocytes(seed: int = FINGOLIMOD_SEED,
                                n_subjects: int = FINGOLIMOD_N_SUBJECTS) -> pd.DataFrame:
    """Simulate the ``fingolimod_lymphocytes`` dataset (NONMEM convention, TIME in days).

    ``BASE`` is set to the typical baseline count ``FINGOLIMOD_BASE`` (10^9/L), so the
    model's ``lymphocytes`` output is a count in 10^9/L. Per subject, in this order: the IIV
    deviates in the order of ``FINGOLIMOD_IIV_CV``, then one residual deviate per observation.
    """
    rng = np.random.default_rng(seed)
    model = load_model("fingolimod_lymphocytes")
    regimen = fingolimod_regimen(model)
    typical = truth("fingolimod_lymphocytes") | {"BASE": FINGOLIMOD_BASE}
    times = np.array(FINGOLIMOD_TIMES)
    rows: list[dict] = []
    for sid in range(1, n_subjects + 1):
        params = _individual(rng, typical, FINGOLIMOD_IIV_CV)
        sim = simulate(model, regimen, times, params=params)
        dv = np.asarray(sim["lymphocytes"]) * (1.0 + FINGOLIMOD_PROP_SD
                                               * rng.normal(size=times.size))
        rows += _dose_rows(regimen, sid, FINGOLIMOD_COLUMNS)
        rows += _observation_rows(sid, times, dv, cmt="L", dvid="lymphocytes", lloq=None,
                                  decimals=2)
    return _frame(rows, FINGOLIMOD_COLUMNS)


# ----------------------------------------------------------------------------- files

MAKERS: dict[str, Callable[[], pd.DataFrame]] = {
    "ocrelizumab_bcell": make_ocrelizumab_bcell,
    "ifn_neopterin": make_ifn_neopterin,
    "fingolimod_lymphocytes": make_fingolimod_lymphocytes,
}


def write(out_dir: str | Path, names: Sequence[str] | None = None) -> list[Path]:
    """Write the simulated datasets ``names`` (default: all) into ``out_dir``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names or MAKERS:
        path = out / f"{name}.csv"
        MAKERS[name]().to_csv(path, index=False, float_format="%.10g")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "pkpd" / "data"))
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="datasets to write (default: all): " + ", ".join(MAKERS))
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(MAKERS))
    if unknown:
        parser.error(f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(MAKERS)}")
    for path in write(args.out, args.names or None):
        print(path)


if __name__ == "__main__":
    main()
