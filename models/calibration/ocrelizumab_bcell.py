"""Calibrate the B-cell turnover rate of models/ocrelizumab_bcell.pkpd.

Target: median time to B-cell repletion of 72 weeks after the last infusion
(review Table 2 of PMC8217029, citing the Ocrevus label), for the typical
subject under the model's labelled regimen (2 x 300 mg, then 600 mg every
24 weeks, 4 courses). Repletion is the first return of blood B cells to the
lower limit of normal, LLN = 40 cells/uL (see the model file for why).

The turnover rate ``kout`` is the only calibrated value: with the kill
saturated during treatment, repletion starts when the concentration falls
through EC50 (about a year after the last infusion) and its pace is set by
``kout``. The root of ``repletion(kout) - 72 weeks`` is found with Brent's
method. Run from the repository root::

    .venv/bin/python models/calibration/ocrelizumab_bcell.py

and copy the printed value into the model file.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from pkpd import simulate
from pkpd.language import load_model
from pkpd.metrics import time_to_recovery
from pkpd.notation import regimen_from_model

TARGET_WEEKS = 72.0
LLN = 40.0  # cells/uL
STEP = 0.1  # day; output grid for the crossing (linear interpolation between points)


def repletion_weeks(model, regimen, kout: float) -> float:
    """Weeks from the last infusion until B cells are back at >= LLN."""
    last = regimen.last_dose_time
    t = np.arange(0.0, last + 7 * 160, STEP)
    sim = simulate(model, regimen, t, params={"kout": kout}, rtol=1e-8, atol=1e-10)
    days = time_to_recovery("bcells", LLN, after=last)((t, sim["bcells"]))
    return float(days) / 7.0


def main() -> None:
    model = load_model("ocrelizumab_bcell")
    regimen = regimen_from_model(model)
    kout = brentq(lambda k: repletion_weeks(model, regimen, k) - TARGET_WEEKS,
                  5e-4, 2e-2, xtol=1e-9, rtol=1e-10)
    kout = float(f"{kout:.3g}")
    print(f"kout = {kout:.3g} 1/day (half-life {np.log(2) / kout:.0f} days)")
    print(f"repletion with kout rounded to 3 significant digits: {repletion_weeks(model, regimen, kout):.2f} "
          f"weeks after the last infusion (target {TARGET_WEEKS:g})")
    print(f"repletion with the model file's kout = {model.param('kout').value:g}: "
          f"{repletion_weeks(model, regimen, model.param('kout').value):.2f} weeks")


if __name__ == "__main__":
    main()
