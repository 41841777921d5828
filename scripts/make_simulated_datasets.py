"""Simulate the example MS datasets shipped in ``pkpd/data/`` (SIMULATED, not real data).

``ocrelizumab_bcell.csv``: blood B-cell counts of 60 simulated patients on the labelled
ocrelizumab regimen (300 mg IV on days 1 and 15, then 600 mg IV every 24 weeks; 2 years),
from ``models/ocrelizumab_bcell.pkpd`` with the typical values of that file, log-normal
inter-individual variability, a body-weight covariate, combined residual error and a lower
limit of quantification. Every value below marked "assumption" is an assumption of this
script, not a published estimate. Provenance: ``pkpd/data/README.md``.

Regenerate (from the repository root)::

    .venv/bin/python scripts/make_simulated_datasets.py --out pkpd/data

``tests/models/test_simulated_datasets.py`` regenerates the file and compares it with the
shipped one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

import pkpd

SEED = 20261125
N_SUBJECTS = 60
LLOQ = 5.0  # cells/uL; assumption (typical flow-cytometry CD19+ LLOQ)
PROP_SD = 0.20  # proportional residual error (SD of the relative error); assumption
ADD_SD = 1.0  # additive residual error, cells/uL; assumption
WT_MEAN, WT_SD, WT_LOW, WT_HIGH = 75.0, 15.0, 45.0, 130.0  # kg; assumption
# Coefficient of variation of the log-normal IIV (omega^2 = log(1 + CV^2)); assumptions.
IIV_CV = {"CLinf": 0.30, "V1": 0.30, "B0": 0.30, "kout": 0.30, "kkill": 0.30, "EC50": 0.30}
# Nominal B-cell sampling visits (weeks); every visit after baseline is moved by a
# uniformly drawn whole number of days in [-3, 3] (visit window; assumption).
VISIT_WEEKS = (0, 2, 4, 8, 12, 24, 36, 48, 60, 72, 84, 96, 104)
WINDOW_DAYS = 3
COLUMNS = ["ID", "TIME", "AMT", "RATE", "CMT", "EVID", "MDV", "DV", "DVID", "CENS", "WT"]


def truth(model: pkpd.Model | None = None) -> dict[str, float]:
    """Typical (population) parameter values used in the simulation: those of the model file."""
    model = model or pkpd.load_model("ocrelizumab_bcell")
    return {p.name: float(p.value) for p in model.params}


def _dose_rows(regimen: pkpd.Regimen, sid: int, wt: float) -> list[dict]:
    rows = []
    for d in regimen.doses:
        for t in d.times():
            rows.append(dict(ID=sid, TIME=float(t), AMT=float(d.amount), RATE=float(d.rate),
                             CMT=d.target, EVID=1, MDV=1, DV=np.nan, DVID="", CENS=0, WT=wt))
    return rows


def make_ocrelizumab_bcell(seed: int = SEED, n_subjects: int = N_SUBJECTS) -> pd.DataFrame:
    """Simulate the ``ocrelizumab_bcell`` dataset (NONMEM convention, TIME in days).

    The random draws are made in a fixed order (per subject: weight, the IIV deviates in the
    order of ``IIV_CV``, visit jitter, then the two residual deviates per observation), so the
    output depends on ``seed`` only.
    """
    rng = np.random.default_rng(seed)
    model = pkpd.load_model("ocrelizumab_bcell")
    regimen = pkpd.regimen_from_model(model)
    typical = truth(model)
    omega = {k: np.sqrt(np.log1p(cv**2)) for k, cv in IIV_CV.items()}
    nominal = np.array(VISIT_WEEKS, dtype=float) * 7.0
    rows: list[dict] = []
    for sid in range(1, n_subjects + 1):
        wt = rng.normal(WT_MEAN, WT_SD)
        while not WT_LOW <= wt <= WT_HIGH:  # truncation by redrawing
            wt = rng.normal(WT_MEAN, WT_SD)
        wt = round(float(wt), 1)
        params = {k: typical[k] * float(np.exp(rng.normal(0.0, w))) for k, w in omega.items()}
        jitter = rng.integers(-WINDOW_DAYS, WINDOW_DAYS + 1, size=nominal.size).astype(float)
        jitter[0] = 0.0  # baseline at the first infusion
        times = nominal + jitter
        sim = pkpd.simulate(model, regimen, times, params=params, covariates={"WT": wt})
        ipred = np.asarray(sim["bcells"], dtype=float)
        eps = rng.normal(size=(times.size, 2))
        dv = ipred * (1.0 + PROP_SD * eps[:, 0]) + ADD_SD * eps[:, 1]
        rows += _dose_rows(regimen, sid, wt)
        for t, y in zip(times, dv, strict=True):
            cens = int(y < LLOQ)
            rows.append(dict(ID=sid, TIME=float(t), AMT=0.0, RATE=0.0, CMT="B", EVID=0, MDV=0,
                             DV=LLOQ if cens else round(float(y), 1), DVID="bcells", CENS=cens,
                             WT=wt))
    frame = pd.DataFrame(rows, columns=COLUMNS)
    # NONMEM order: by subject and time, the dose row first at equal times (the dose is applied
    # before an observation at its time; an infusion does not move B at that instant, so the
    # TIME 0 sample is the pre-dose baseline).
    frame = frame.sort_values(["ID", "TIME", "EVID"], ascending=[True, True, False],
                              kind="stable").reset_index(drop=True)
    return frame


def write(out_dir: str | Path) -> list[Path]:
    """Write every simulated dataset into ``out_dir``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "ocrelizumab_bcell.csv"
    make_ocrelizumab_bcell().to_csv(path, index=False, float_format="%.10g")
    return [path]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "pkpd" / "data"))
    for path in write(parser.parse_args(argv).out):
        print(path)


if __name__ == "__main__":
    main()
