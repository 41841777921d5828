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
# # Fitting a B-cell depletion model to the ocrelizumab dataset
#
# The dataset `ocrelizumab_bcell` ships with pkpd. It is **simulated** (see
# `pkpd/data/README.md`: 60 patients, a `continue` arm on the label regimen and
# a `stop` arm followed after its last infusion, 30% inter-individual
# variability, a lower limit of quantification of 5 cells/uL) from the library
# model `ocrelizumab_bcell`, so the true typical values are known.
#
# We fit the B-cell turnover and kill parameters with the PK fixed at the
# published typical values, handle the values below the limit of quantification
# with the M3 likelihood, look at goodness-of-fit plots, and compute likelihood-
# profile intervals.

# %%
import numpy as np

import pkpd

data = pkpd.datasets.load("ocrelizumab_bcell")
obs = data[data.EVID == 0]
print(f"{data.ID.nunique()} patients, {len(obs)} B-cell counts, "
      f"{int(obs.CENS.sum())} below the limit of quantification")
data.head(8)

# %% [markdown]
# The fit specification `fits/ocrelizumab_bcell.toml` records the model, the
# dataset, the free parameters with bounds (fitted on the log scale), the
# error model and the censoring; `pkpd.run_fit` runs it (the `pkpd fit`
# command does the same from a shell). Starting values are half or twice the
# truth, so the estimates come from the data.

# %%
from pathlib import Path

spec = Path("fits/ocrelizumab_bcell.toml")
if not spec.exists():  # the notebook may run from notebooks/ or from a temporary directory
    spec = Path(pkpd.__file__).resolve().parents[1] / "fits" / "ocrelizumab_bcell.toml"
result = pkpd.run_fit(spec, write=False)
print(result.summary())

# %% [markdown]
# Compare with the truth used to simulate the data (`scripts/make_simulated_datasets.py`).
# A pooled fit treats all patients as one typical patient; with 30% variability
# in the PK and the B-cell parameters the spread of individual repletion times
# biases the turnover rate `kout` and the potency `EC50` (the fit specification
# explains why). B0 and kkill are recovered. A mixed-effects estimator would be
# needed for the others; this is the honest limit of a pooled fit.

# %%
truth = {"B0": 194.0, "kout": 0.0022, "kkill": 1.97, "EC50": 0.0057}
for p, v in truth.items():
    est, se = result.params[p], result.stderr[p]
    print(f"{p:6s} truth {v:<8g} estimate {est:<10.4g} SE {se:<10.3g} z {(est - v) / se:+.1f}")
assert result.success
assert abs(result.params["B0"] - truth["B0"]) < 3 * result.stderr["B0"]
assert abs(result.params["kkill"] - truth["kkill"]) < 3 * result.stderr["kkill"]

# %% [markdown]
# ## Goodness of fit
# Observed vs predicted, residuals vs time and vs prediction (censored values
# are shown at the limit), and individual fits for a few patients of each arm.

# %%
result.plot("gof")

# %%
result.plot("individual")

# %% [markdown]
# ## Likelihood-profile interval
# The profile of `kkill`: fix it at values away from the estimate, refit the
# others, and find where the objective rises by 3.84 (95%). It is compared with
# the Wald interval from the curvature.

# %%
prof = pkpd.profile(result, "kkill")
print(prof)
wald = (result.params["kkill"] - 1.96 * result.stderr["kkill"],
        result.params["kkill"] + 1.96 * result.stderr["kkill"])
print(f"Wald 95%: {wald[0]:.4g} - {wald[1]:.4g}")
assert prof.lower < result.params["kkill"] < prof.upper
assert np.isfinite(prof.lower) and np.isfinite(prof.upper)

# %%
import matplotlib.pyplot as plt

tab = prof.to_frame().sort_values("value")
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(tab["value"], tab["delta"], "o-")
ax.axhline(3.84, color="grey", ls="--", lw=0.8)
for x in (prof.lower, prof.upper):
    ax.axvline(x, color="C1", lw=0.8)
ax.set(xlabel="kkill (1/day)", ylabel="OFV above the minimum", title="profile of kkill")
