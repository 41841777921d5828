"""Execute every notebook in ``notebooks/`` top to bottom (jupytext text -> nbclient).

A notebook's own ``assert`` cells are its checks; an exception in any cell fails
the test with the cell's traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.py"))


def test_notebooks_are_present():
    stems = {p.stem for p in NOTEBOOKS}
    assert {"01_fit_ocrelizumab_bcells", "02_dose_response_anti_cd20",
            "03_sensitivity_bcell_repletion", "04_tour_interferon"} <= stems, stems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    nb = jupytext.read(path)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend shows figures
    monkeypatch.setenv("PKPD_NOTEBOOK_OUT", str(tmp_path))
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=dict(os.environ))
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    # every notebook shows at least one figure
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, f"{path.name} produced no figure"
