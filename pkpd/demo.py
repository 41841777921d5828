"""The main example: ``python -m pkpd.demo`` (what ``make demo`` runs).

Simulates the ocrelizumab B-cell model from the model library on its labelled
regimen (300 mg IV on days 0 and 14, then 600 mg every 24 weeks), prints a table
of concentrations and B-cell counts, then builds the report
``reports/anti_cd20.toml`` (typical patient, virtual population, extended
dosing intervals, sensitivity, a fit to the shipped B-cell dataset) into
``out/anti_cd20.html``: one self-contained HTML file to open in a browser.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SPEC = Path(__file__).resolve().parents[1] / "reports" / "anti_cd20.toml"


def main(argv: list[str] | None = None) -> int:
    from . import load_model, simulate
    from .metrics import time_to_recovery
    from .notation import regimen_from_model

    out_dir = Path(argv[0]) if argv else Path("out")
    model = load_model("ocrelizumab_bcell")
    regimen = regimen_from_model(model)
    print(f"Model: {model.name} ({model.time_unit}); sources:")
    for s in model.sources:
        print(f"  - {s[:110]}{'...' if len(s) > 110 else ''}")
    print("\nRegimen:\n  " + regimen.in_words(model.time_unit).replace("\n", "\n  "))
    times = np.arange(0.0, 7 * 200 + 1, 1.0)
    sim = simulate(model, regimen, times)
    frame = sim.to_frame()
    weeks = [0, 1, 2, 4, 12, 24, 48, 72, 96, 120, 144, 168, 200]
    table = frame.set_index("time").loc[[7.0 * w for w in weeks], list(model.output_names)]
    table.index = [f"week {w}" for w in weeks]
    print(f"\nTypical-subject simulation ({sim.method}, rtol {sim.rtol:g}):")
    print(table.to_string(float_format=lambda x: f"{x:10.3f}"))
    last = regimen.last_dose_time
    rep = time_to_recovery("bcells", 40.0, after=last)((sim.times, sim["bcells"]))
    print(f"\nB cells back above 40 cells/uL {rep / 7:.1f} weeks after the last infusion "
          "(published median repletion: 72 weeks; the model's turnover is calibrated to it)")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "ocrelizumab_demo.csv"
    frame.to_csv(path, index=False)
    print(f"\nFull time course written to {path}")
    if not SPEC.is_file():  # an installed package without the repository's reports/
        print(f"(report specification {SPEC} not found; skipping the report)")
        return 0
    from .report import run_report

    print(f"\nBuilding the report {SPEC.name} (population, dose intervals, sensitivity, fit) ...")
    html = run_report(SPEC, out_dir)
    print(f"Report written to {html.resolve()}  (open it in a browser; it needs no network)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
