# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Anti-CD20 regimens over a virtual population: a dose-response report
#
# Which dose and interval keep B cells depleted? Two library models:
#
# - **ocrelizumab** (`ocrelizumab_bcell`: Gibiansky 2021 PK, B-cell turnover
#   calibrated to the published 72-week median repletion): 600 mg IV every 24
#   weeks (label) vs every 36 or 48 weeks;
# - **ofatumumab** (`ofatumumab_bcell`: Yu 2022 QSS-TMDD PK and two-compartment
#   B-cell model): 20 mg SC monthly (label, after the days 0/7/14 loading)
#   vs lower monthly doses, with a sigmoid Emax fit of depletion vs dose.
#
# Inter-individual variability below is illustrative (stated, not published),
# so read the probabilities as a model exploration. Everything ends in one
# self-contained HTML report with provenance.

# %%
import os
from pathlib import Path

import numpy as np

import pkpd
from pkpd.dose_response import trough
from pkpd.metrics import time_below

out_dir = Path(os.environ.get("PKPD_NOTEBOOK_OUT", "out"))
out_dir.mkdir(parents=True, exist_ok=True)
SEED = 20261125

# %% [markdown]
# ## Ocrelizumab: extending the interval
# Every regimen starts with the two 300 mg infusions; the 600 mg infusions are
# repeated so that each regimen's last infusion falls at week 168. The trough
# is the B-cell count just before that last infusion.

# %%
ocr = pkpd.load_model("ocrelizumab_bcell")
ocr_pop = pkpd.Population(ocr, iiv={"CLinf": 0.3, "V1": 0.2, "B0": 0.4, "kout": 0.3,
                                    "EC50": 0.5})
start = "300 mg iv over 2.5 h at 0, 14 d; "
ocr_regimens = {
    "600 mg q24w": start + "600 mg iv over 3.5 h every 24 w x 7 from 24 w",
    "600 mg q36w": start + "600 mg iv over 3.5 h every 36 w x 5 from 24 w",
    "600 mg q48w": start + "600 mg iv over 3.5 h every 48 w x 4 from 24 w",
}
last = 168 * 7
times = np.unique(np.concatenate([np.arange(0.0, last + 8), [last - 1e-6]]))
ocr_dr = pkpd.dose_response(
    ocr_pop, ocr_regimens, times,
    endpoints={"trough B cells": trough("bcells", unit="cells/uL"),
               "days below 10 cells/uL": time_below("bcells", 10, start=24 * 7, end=last)},
    targets={"trough B cells": ("<", 10)}, n=100, rng=SEED)
print(ocr_dr.summary())
ocr_dr.to_frame()

# %% [markdown]
# Longer intervals let more patients' B cells return before the next
# infusion: the median trough rises and the probability of a trough below
# 10 cells/uL falls. The same virtual patients receive every regimen (common
# random numbers), so the comparison is paired.

# %%
tab = ocr_dr.to_frame().set_index(["regimen", "endpoint"])
med = [tab.loc[(r, "trough B cells"), "median"] for r in ocr_regimens]
p10 = [tab.loc[(r, "trough B cells"), "pta"] for r in ocr_regimens]
print("median trough:", np.round(med, 3), " P(trough < 10):", np.round(p10, 2))
assert med[0] <= med[1] <= med[2] and p10[0] >= p10[1] >= p10[2]
vals = ocr_dr.values("trough B cells")
assert (vals["600 mg q48w"] >= vals["600 mg q24w"] - 1e-9).all()  # paired, per patient
ocr_dr.plot(kind="target")

# %%
ocr_dr.plot(kind="timecourse", output="bcells", logy=True)

# %% [markdown]
# ## Ofatumumab: monthly dose
# Loading on days 0, 7 and 14, then monthly doses of 0.3 to 20 mg for a year.
# The endpoint is the B-cell count before the last monthly dose; a sigmoid
# Emax model of the depletion (percent below baseline) against the monthly
# dose gives the ED50 with a profile-likelihood interval.

# %%
ofa = pkpd.load_model("ofatumumab_bcell")
ofa_pop = pkpd.Population(ofa, iiv={"CL": 0.3, "Vc": 0.2, "B0": 0.4, "EC50": 0.5})
grid = pkpd.dose_grid("{dose} mg sc at 0, 7, 14 d; {dose} mg sc every 4 w x 12 from 4 w",
                      dose=[0.3, 1, 2, 3, 4, 6, 10, 20])
t_last = 4 * 7 * 12
ofa_times = np.unique(np.concatenate([np.arange(0.0, t_last + 1), [t_last - 1e-6]]))
ofa_dr = pkpd.dose_response(
    ofa_pop, grid, ofa_times,
    endpoints={"trough B cells": trough("bcells", unit="cells/uL")},
    targets={"trough B cells": ("<", 10)}, n=60, rng=SEED)
ofa_dr.to_frame()

# %%
# percent depletion of each virtual patient relative to their own baseline B0
frame = ofa_dr.endpoint_values.merge(ofa_dr.subjects[["ID", "B0"]], on="ID")
depletion = frame.assign(value=100 * (1 - frame["value"] / frame["B0"]))
fit = pkpd.fit_curve(depletion["dose"], depletion["value"], "sigmoid_emax")
print(fit.summary())
assert fit.success and 0.3 < fit.ed50 < 20
lo, hi = fit.ed50_ci
assert lo < fit.ed50 < hi
fit.plot()

# %% [markdown]
# The curve is steep (Hill coefficient well above 1): with target-mediated
# disposition the B cells themselves clear the antibody, so below a threshold
# dose the drug is consumed before depletion is complete, and above it
# depletion is near-total. In this model the label's 20 mg sits far above the
# ED50, on the plateau.

# %% [markdown]
# ## The report
# One HTML file with the models, both analyses and the provenance (model
# hashes, seeds, solver settings, versions).

# %%
report = pkpd.Report("Anti-CD20 regimens over a virtual population", seed=SEED)
report.add_text("Ocrelizumab extended intervals and ofatumumab monthly dose; "
                "inter-individual variability is illustrative.")
report.add_model(ocr)
report.add_dose_response(ocr_dr, title="Ocrelizumab: 600 mg every 24, 36 or 48 weeks")
report.add_dose_response(ofa_dr, title="Ofatumumab: monthly dose")
report.add(fit, caption="Sigmoid Emax fit of B-cell depletion vs monthly dose")
path = report.write(out_dir / "anti_cd20_regimens.html")
text = path.read_text(encoding="utf-8")
assert "Provenance" in text and text.count("<svg") >= 4
print(f"report written to {path} ({path.stat().st_size / 1e3:.0f} kB)")
