"""Reports: collect results in order and write one self-contained HTML file.

A :class:`Report` is filled in reading order (text, tables, figures, models,
simulations, fits, populations, sensitivity and dose-response results) and
written as a single HTML file that needs no network to view: figures are
inline SVG, the style sheet is inline, equations are MathML (rendered by the
browser without scripts) and there is no JavaScript. Every report ends with
a provenance section: each model's text and SHA-256, each dataset's SHA-256
and shape, the parameter values used, solver settings and tolerances, random
seeds, the versions of pkpd, Python and its scientific dependencies, the
platform and the date.

Two reports built the same way are byte-identical apart from the line
holding the date (``<p class="generated">``): figures are written with a
fixed SVG hash salt and no date, element ids are numbered in order, and
nothing depends on object ids or memory addresses.

Report specifications
---------------------
:func:`report_from_spec` builds a report from a TOML file (see
``reports/README.md``): a ``title``, a ``seed`` and an ordered list of
``[[section]]`` tables whose ``kind`` is ``"text"``, ``"model"``,
``"simulate"``, ``"population"``, ``"fit"``, ``"sensitivity"`` or
``"dose_response"``. Specifications are data: nothing in them is evaluated;
endpoints name a function of :mod:`pkpd.metrics` from a whitelist
(:data:`ENDPOINT_METRICS`, the same as the command line's; see
:mod:`pkpd.endpoints_spec`) and their keyword arguments are checked against
its signature. Times are numbers in the model's time unit or durations such
as ``"24 w"`` (:func:`pkpd.notation.parse_duration`); a regimen is notation
or the name of a regimen of the model file
(:func:`pkpd.notation.regimen_for_model`). Every mistake raises
:class:`SpecError` (a :class:`~pkpd.errors.PkpdError` and a ``ValueError``)
naming the section, the key and what is allowed.

Examples
--------
>>> import pandas as pd
>>> from pkpd.report import Report
>>> r = Report("Demo", seed=1)
>>> r.add_text("# Results\\nOne *short* table.")
>>> r.add_table(pd.DataFrame({"dose": [300, 600], "trough": [12.5, 3.1]}), caption="Troughs")
>>> html = r.to_html()
>>> html.startswith("<!DOCTYPE html>") and "<h2 id=\\"sec-1\\">Results</h2>" in html
True

The package has three modules: :mod:`pkpd.report.document` (the
:class:`Report` and its provenance), :mod:`pkpd.report.html` (HTML, MathML and
SVG pieces) and :mod:`pkpd.report.spec` (TOML specifications).
"""

from __future__ import annotations

from ..errors import SpecError
from .document import DEPENDENCIES, ENDPOINT_METRICS, Report
from .spec import report_from_spec, run_report

__all__ = ["Report", "SpecError", "report_from_spec", "run_report", "ENDPOINT_METRICS",
           "DEPENDENCIES"]
