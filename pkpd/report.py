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
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import html as _html
import io
import math
import platform
import re
import sys
import textwrap
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html.entities import html5
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .endpoints_spec import ENDPOINTS, endpoint_spec_from_table
from .errors import PkpdError, SpecError, closest
from .model import Model
from .notation import parse_duration, regimen_for_model

if TYPE_CHECKING:  # pragma: no cover
    from .fit import FitResult
    from .population import PopulationSimulation
    from .simulate import Simulation

__all__ = ["Report", "SpecError", "report_from_spec", "run_report", "ENDPOINT_METRICS",
           "DEPENDENCIES"]

#: Distributions whose versions the provenance section lists.
DEPENDENCIES = ("numpy", "scipy", "sympy", "pandas", "lmfit", "numba", "matplotlib", "SALib")

#: Endpoint functions a specification may name (``metric = "..."``):
#: :data:`pkpd.endpoints_spec.ENDPOINTS`.
ENDPOINT_METRICS = ENDPOINTS

_MAX_TABLE_ROWS = 40
_FLOAT = "{:.6g}".format


# =========================================================================== HTML helpers
def _esc(text: Any) -> str:
    return _html.escape(str(text), quote=True)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:62rem;
margin:2rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.45}
h1{border-bottom:2px solid #345;padding-bottom:.3rem}h2{border-bottom:1px solid #ccd;margin-top:2.2rem}
nav ol{columns:2}pre{background:#f5f6f8;padding:.6rem;overflow-x:auto;font-size:.82rem}
code{background:#f0f1f4;padding:0 .2rem}table{border-collapse:collapse;margin:.6rem 0;font-size:.85rem}
th,td{border:1px solid #ccd;padding:.2rem .5rem;text-align:right}th{background:#eef0f4}
td.l,th.l{text-align:left}caption{caption-side:top;font-weight:600;text-align:left;padding:.3rem 0}
figure{margin:1rem 0}figure svg{max-width:100%;height:auto}figcaption{font-size:.9rem;color:#444}
math[display=block]{margin:.4rem 0}.eq{overflow-x:auto}.meta,.note{color:#555;font-size:.9rem}
details{margin:.4rem 0}summary{cursor:pointer}.generated{color:#555}.kv td{white-space:pre-line}
""".strip()


def _inline(text: str) -> str:
    """Escape and apply inline markup: `code`, **bold**, *italic*."""
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for part in parts:
        if len(part) >= 2 and part.startswith("`") and part.endswith("`"):
            out.append(f"<code>{_esc(part[1:-1])}</code>")
            continue
        s = _esc(part)
        s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
        s = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", s)
        out.append(s)
    return "".join(out)


def _markdown(text: str, heading: Callable[[int, str], str]) -> str:
    """A small, safe subset of Markdown: headings, paragraphs, lists and code blocks.

    Everything is escaped; ``heading(level, text)`` renders a heading (level 1 = ``#``).
    """
    lines = textwrap.dedent(text).strip("\n").splitlines()
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []
    list_tag = ""
    code: list[str] | None = None

    def flush() -> None:
        nonlocal list_tag
        if para:
            out.append("<p>" + _inline(" ".join(para)) + "</p>")
            para.clear()
        if items:
            out.append(f"<{list_tag}>" + "".join(f"<li>{_inline(i)}</li>" for i in items)
                       + f"</{list_tag}>")
            items.clear()
            list_tag = ""

    for raw in lines:
        line = raw.rstrip()
        if code is not None:
            if line.strip().startswith("```"):
                out.append("<pre>" + _esc("\n".join(code)) + "</pre>")
                code = None
            else:
                code.append(raw)
            continue
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            code = []
            continue
        m = re.match(r"^(#{1,4})\s+(.*)$", stripped)
        if m:
            flush()
            out.append(heading(len(m.group(1)), m.group(2).strip()))
            continue
        m_ul = re.match(r"^[-*+]\s+(.*)$", stripped)
        m_ol = re.match(r"^\d+[.)]\s+(.*)$", stripped)
        if m_ul or m_ol:
            tag = "ul" if m_ul else "ol"
            if para or (items and list_tag != tag):
                flush()
            list_tag = tag
            items.append((m_ul or m_ol).group(1))
            continue
        if not stripped:
            flush()
            continue
        if items and raw[:1].isspace():
            items[-1] += " " + stripped  # continuation of a list item
            continue
        if items:
            flush()
        para.append(stripped)
    if code is not None:
        out.append("<pre>" + _esc("\n".join(code)) + "</pre>")
    flush()
    return "\n".join(out)


def _table_html(df: pd.DataFrame, caption: str | None, max_rows: int | None) -> tuple[str, str]:
    """HTML and plain text of a table, showing at most ``max_rows`` evenly spaced rows."""
    shown = df
    note = ""
    if max_rows is not None and len(df) > max_rows:
        idx = np.unique(np.linspace(0, len(df) - 1, max_rows).round().astype(int))
        shown = df.iloc[idx]
        note = f"{len(idx)} of {len(df)} rows shown (evenly spaced, first and last included)"
    index = not _default_index(df)
    body = shown.to_html(index=index, escape=True, border=0, float_format=_FLOAT, na_rep="NaN",
                         classes="data")
    cap = f"\n<caption>{_esc(caption)}</caption>" if caption else ""
    body = re.sub(r"^<table[^>]*>", lambda m: '<table class="dataframe data">' + cap, body)
    if note:
        body += f'\n<p class="note">{_esc(note)}</p>'
    text = shown.to_string(index=index, float_format=_FLOAT)
    text = ((caption + "\n") if caption else "") + text + (f"\n({note})" if note else "")
    return body, text


def _default_index(df: pd.DataFrame) -> bool:
    return isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1


def _frame_hash(df: pd.DataFrame) -> str:
    """SHA-256 of a canonical CSV serialisation (UTF-8, ``\\n`` line ends, round-trip floats)."""
    text = df.to_csv(index=not _default_index(df), lineterminator="\n", na_rep="NaN")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _kv_table(rows: Sequence[tuple[str, Any]], caption: str | None = None,
              head: tuple[str, str] = ("item", "value")) -> str:
    cap = f"<caption>{_esc(caption)}</caption>" if caption else ""
    body = "".join(f'<tr><th class="l">{_esc(k)}</th><td class="l">{_esc(_plain(v))}</td></tr>'
                   for k, v in rows)
    return (f'<table class="kv">{cap}<thead><tr><th class="l">{_esc(head[0])}</th>'
            f'<th class="l">{_esc(head[1])}</th></tr></thead><tbody>{body}</tbody></table>')


def _plain(v: Any) -> str:
    """A deterministic one-line text for provenance values."""
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return repr(float(v))
    if isinstance(v, str):
        return v
    if isinstance(v, Model):
        return f"model '{v.name}' (sha256 {v.content_hash()[:12]})"
    if isinstance(v, pd.DataFrame):
        return f"table {v.shape[0]}x{v.shape[1]} (sha256 {_frame_hash(v)[:12]})"
    if isinstance(v, np.ndarray):
        if v.size <= 12:
            return "[" + ", ".join(_plain(x) for x in v.ravel().tolist()) + "]"
        return f"array {v.shape} (sha256 {hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()[:12]})"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k}: {_plain(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_plain(x) for x in v) + "]"
    if isinstance(v, np.random.Generator):
        return "numpy Generator (state not recorded)"
    if v is None:
        return "None"
    text = str(v)
    # repr() of arbitrary objects may hold a memory address, which would make reports differ
    return re.sub(r" at 0x[0-9a-fA-F]+", "", text)


# ------------------------------------------------------------------------ equations (MathML)
def _mathml_printer() -> Any:
    import sympy as sp
    from sympy.printing.mathml import MathMLPresentationPrinter

    class _Printer(MathMLPresentationPrinter):
        """sympy's presentation MathML with readable piecewise expressions."""

        def _print_Piecewise(self, expr: sp.Piecewise) -> Any:
            rows = self.dom.createElement("mtable")
            for e, c in expr.args:
                tr = self.dom.createElement("mtr")
                for node in (self._print(e), self._otherwise() if c is sp.true else
                             self._if(c)):
                    td = self.dom.createElement("mtd")
                    td.appendChild(node)
                    tr.appendChild(td)
                rows.appendChild(tr)
            mrow = self.dom.createElement("mrow")
            brace = self.dom.createElement("mo")
            brace.appendChild(self.dom.createTextNode("{"))
            mrow.appendChild(brace)
            mrow.appendChild(rows)
            return mrow

        def _if(self, c: Any) -> Any:
            mrow = self.dom.createElement("mrow")
            word = self.dom.createElement("mtext")
            word.appendChild(self.dom.createTextNode("if\u00a0"))
            mrow.appendChild(word)
            mrow.appendChild(self._print(c))
            return mrow

        def _otherwise(self) -> Any:
            word = self.dom.createElement("mtext")
            word.appendChild(self.dom.createTextNode("otherwise"))
            return word

    return _Printer({"mul_symbol": "dot"})


_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")


def _numeric_entities(text: str) -> str:
    """Named character references -> numeric ones (valid in any HTML or XML parser)."""
    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name in ("amp", "lt", "gt", "quot"):
            return m.group(0)
        ch = html5.get(name + ";")
        return "".join(f"&#x{ord(c):X};" for c in ch) if ch else m.group(0)

    return _ENTITY.sub(sub, text)


def _math(printer: Any, lhs: str, expr: Any) -> str:
    body = _numeric_entities(printer.doprint(expr))
    return (f'<div class="eq"><math display="block"><mrow>{lhs}<mo>=</mo>{body}</mrow>'
            f"</math></div>")


def _mi(printer: Any, name: str) -> str:
    import sympy as sp

    return _numeric_entities(printer.doprint(sp.Symbol(name)))


def _ddt(printer: Any, name: str) -> str:
    return (f"<mfrac><mrow><mi>d</mi>{_mi(printer, name)}</mrow><mrow><mi>d</mi><mi>t</mi>"
            "</mrow></mfrac>")


# ------------------------------------------------------------------------ figures
def _figure_svg(fig: Any, number: int) -> str:
    """Inline SVG of a matplotlib figure, deterministic, with ids unique to this figure."""
    import matplotlib
    from matplotlib.collections import QuadMesh

    # A heatmap of thousands of cells is megabytes of vector paths: embed it as pixels.
    for ax in fig.axes:
        for c in ax.collections:
            if isinstance(c, QuadMesh) or len(c.get_paths()) > 2000:
                c.set_rasterized(True)
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"pkpd-report-{number}", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight", dpi=150)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    prefix = f"f{number}-"

    def sub(m: re.Match) -> str:
        return m.group(1) + (prefix + m.group(2) if m.group(2) in ids else m.group(2))

    svg = re.sub(r'(\bid="|href="#|url\(#)([^")]+)', sub, svg)
    return svg.strip()


def _close(fig: Any) -> None:
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        plt.close(fig)


# =========================================================================== the report
@dataclass
class _Block:
    html: str
    text: str = ""
    figures: list[Any] = field(default_factory=list)
    toc: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _ModelRecord:
    name: str
    text: str
    sha256: str
    params: dict[str, float]
    units: dict[str, str]
    covariates: dict[str, float]


class Report:
    """A report: content collected in order, written as one self-contained HTML file.

    Parameters
    ----------
    title : str
        Title of the report.
    author : str, optional
        Shown under the title.
    seed : int, optional
        The report's random seed (recorded in the provenance; specifications
        pass it to every stochastic section).

    Notes
    -----
    Every ``add_*`` method appends to the report and returns ``None``. Figures
    are embedded as inline SVG when added and closed in pyplot (the report
    keeps the figure object for :meth:`write_pdf`).
    """

    def __init__(self, title: str, *, author: str | None = None, seed: int | None = None) -> None:
        if not isinstance(title, str) or not title.strip():
            raise ValueError(f"a report needs a non-empty title, got {title!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
            raise TypeError(f"seed must be an int or None, got {seed!r}")
        self.title = title
        self.author = author
        self.seed = None if seed is None else int(seed)
        self._blocks: list[_Block] = []
        self._models: dict[str, _ModelRecord] = {}
        self._data: list[tuple[str, str, tuple[int, int]]] = []
        self._runs: list[tuple[str, list[tuple[str, Any]]]] = []
        self._seeds: list[tuple[str, Any]] = [("report", self.seed)]
        self._n_sections = 0
        self._n_figures = 0
        self._n_tables = 0

    def __repr__(self) -> str:
        return (f"<Report {self.title!r}: {len(self._blocks)} blocks, {self._n_figures} figures, "
                f"{len(self._models)} models>")

    # ------------------------------------------------------------------ building blocks
    def _heading(self, title: str, level: int = 2) -> tuple[str, list[tuple[str, str]]]:
        level = min(max(level, 2), 5)
        if level == 2:
            self._n_sections += 1
            sid = f"sec-{self._n_sections}"
            return f'<h2 id="{sid}">{_esc(title)}</h2>', [(sid, title)]
        return f"<h{level}>{_esc(title)}</h{level}>", []

    def _section(self, title: str, parts: list[str], text: list[str],
                 figures: Sequence[tuple[Any, str | None]] = ()) -> None:
        head, toc = self._heading(title)
        figs = [self._figure_html(fig, caption) for fig, caption in figures]
        self._blocks.append(_Block("<section>\n" + "\n".join([head, *parts, *figs])
                                   + "\n</section>", "\n\n".join([title.upper(), *text]),
                                   [fig for fig, _ in figures], toc))

    def _figure_html(self, fig: Any, caption: str | None) -> str:
        if not (hasattr(fig, "savefig") and hasattr(fig, "axes")):
            raise TypeError(f"add_figure needs a matplotlib Figure, got {type(fig).__name__}")
        self._n_figures += 1
        svg = _figure_svg(fig, self._n_figures)
        _close(fig)
        cap = f"Figure {self._n_figures}" + (f". {caption}" if caption else "")
        return f"<figure>\n{svg}\n<figcaption>{_esc(cap)}</figcaption>\n</figure>"

    def _record_model(self, model: Model) -> str:
        text = model.to_text()
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if sha not in self._models:
            self._models[sha] = _ModelRecord(model.name, text, sha, model.param_values,
                                             {p.name: p.unit for p in model.params},
                                             model.covariate_values)
        return sha

    def _record_data(self, label: str, df: pd.DataFrame) -> str:
        sha = _frame_hash(df)
        self._data.append((label, sha, (int(df.shape[0]), int(df.shape[1]))))
        return sha

    def _record_run(self, label: str, settings: Iterable[tuple[str, Any]]) -> None:
        rows = []
        for k, v in settings:
            if isinstance(v, Model):
                self._record_model(v)
            rows.append((k, v))
        self._runs.append((label, rows))

    def _record_seed(self, label: str, seed: Any) -> None:
        if seed is not None:
            self._seeds.append((label, seed))

    def _introduce(self, index: int, text: str) -> None:
        """Put Markdown ``text`` under the heading of the section at block ``index``."""
        block = self._blocks[index]
        toc: list[tuple[str, str]] = []

        def heading(level: int, title: str) -> str:
            h, t = self._heading(title, level + 2)  # sub-headings of the section
            toc.extend(t)
            return h

        body = f'<div class="text">\n{_markdown(text, heading)}\n</div>'
        head_end = block.html.index("</h2>") + len("</h2>")
        block.html = block.html[:head_end] + "\n" + body + block.html[head_end:]
        title, _, rest = block.text.partition("\n\n")
        block.text = "\n\n".join([title, textwrap.dedent(text).strip(), rest])

    # ------------------------------------------------------------------ public adders
    def add_text(self, text: str) -> None:
        """Add text: plain text or a small Markdown subset.

        Headings (``#`` becomes a section heading, ``##`` and ``###`` sub-headings),
        paragraphs separated by blank lines, ``-``/``1.`` lists, fenced code blocks,
        inline code in backticks, ``**bold**`` and ``*italic*``. Everything else is shown as
        text: HTML in ``text`` is escaped, never interpreted.
        """
        if not isinstance(text, str):
            raise TypeError(f"add_text needs a str, got {type(text).__name__}")
        toc: list[tuple[str, str]] = []

        def heading(level: int, title: str) -> str:
            h, t = self._heading(title, level + 1)
            toc.extend(t)
            return h

        body = _markdown(text, heading)
        self._blocks.append(_Block(f'<div class="text">\n{body}\n</div>',
                                   textwrap.dedent(text).strip(), [], toc))

    def add_table(self, df: pd.DataFrame, caption: str | None = None, *,
                  max_rows: int | None = _MAX_TABLE_ROWS) -> None:
        """Add a table (a DataFrame); its SHA-256 and shape go to the provenance.

        Parameters
        ----------
        df : DataFrame
        caption : str, optional
        max_rows : int or None
            Show at most this many rows, evenly spaced (first and last
            included); ``None`` shows all. The hash covers the whole table.
        """
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"add_table needs a pandas DataFrame, got {type(df).__name__}")
        self._n_tables += 1
        body, text = _table_html(df, caption, max_rows)
        self._record_data(f"table {self._n_tables}" + (f": {caption}" if caption else ""), df)
        self._blocks.append(_Block(body, text))

    def add_figure(self, fig: Any, caption: str | None = None) -> None:
        """Add a matplotlib Figure (embedded as inline SVG, then closed in pyplot)."""
        html = self._figure_html(fig, caption)
        self._blocks.append(_Block(html, "", [fig]))

    def add_model(self, model: Model, *, title: str | None = None) -> None:
        """Add a model: description, sources, tables of parameters (value, unit,
        bounds, source), covariates, states and outputs, and its equations as MathML."""
        if not isinstance(model, Model):
            raise TypeError(f"add_model needs a pkpd Model, got {type(model).__name__}")
        sha = self._record_model(model)
        printer = _mathml_printer()
        parts = []
        if model.description:
            parts.append(f"<p>{_esc(model.description)}</p>")
        meta = [("time unit", model.time_unit or "?"), ("dose target", model.dose_target or "-"),
                ("sha256 of the model text", sha)]
        parts.append(_kv_table(meta))
        if model.sources:
            parts.append("<h3>Sources</h3><ul>" + "".join(f"<li>{_esc(s)}</li>"
                                                          for s in model.sources) + "</ul>")
        tables = []
        params = pd.DataFrame({
            "name": [p.name for p in model.params], "value": [p.value for p in model.params],
            "unit": [p.unit for p in model.params],
            "bounds": [f"({p.lower:g}, {p.upper:g})" for p in model.params],
            "description / source": [p.description for p in model.params]})
        tables.append(("Parameters", params))
        if model.covariates:
            tables.append(("Covariates", pd.DataFrame({
                "name": [c.name for c in model.covariates],
                "reference value": [c.value for c in model.covariates],
                "unit": [c.unit for c in model.covariates],
                "description": [c.description for c in model.covariates]})))
        tables.append(("States", pd.DataFrame({
            "name": [s.name for s in model.states], "initial value": [str(s.init) for s in model.states],
            "unit": [s.unit for s in model.states],
            "description": [s.description for s in model.states]})))
        if model.outputs:
            tables.append(("Outputs", pd.DataFrame({
                "name": [o.name for o in model.outputs], "unit": [o.unit for o in model.outputs],
                "description": [o.description for o in model.outputs]})))
        text = [model.description, f"sha256 {sha}"]
        for cap, df in tables:
            body, t = _table_html(df, cap, None)
            parts.append(body.replace("<td>", '<td class="l">'))
            text.append(t)
        eqs = []
        for name, expr in model.assignments:
            eqs.append(_math(printer, _mi(printer, name), expr))
        for name, expr in model.odes:
            eqs.append(_math(printer, _ddt(printer, name), expr))
        for name, expr in model.bioavailability:
            eqs.append(_math(printer, f"<mi>F</mi><mo>(</mo>{_mi(printer, name)}<mo>)</mo>", expr))
        for name, expr in model.lag:
            eqs.append(_math(printer, f"<mi>lag</mi><mo>(</mo>{_mi(printer, name)}<mo>)</mo>",
                             expr))
        outs = [_math(printer, _mi(printer, o.name), o.expr) for o in model.outputs]
        parts.append("<h3>Equations</h3>\n" + "\n".join(eqs))
        if outs:
            parts.append("<h3>Outputs</h3>\n" + "\n".join(outs))
        text.append(model.to_text())
        self._section(title or f"Model: {model.name}", parts, text)

    def add_simulation(self, sim: Simulation, *, title: str | None = None,
                       outputs: Sequence[str] | None = None, logy: bool = False,
                       max_rows: int | None = 25) -> None:
        """Add a :class:`~pkpd.simulate.Simulation`: regimen, solver, a summary of
        each output, a table of the time course and a figure."""
        m = sim.model
        sha = self._record_model(m)
        label = title or f"Simulation: {m.name}"
        regimen = sim.regimen.in_words(m.time_unit).replace("\n", " ")
        rows = [("model", f"{m.name} (sha256 {sha[:12]})"), ("regimen", regimen),
                ("times", f"{len(sim.times)} points, {sim.times[0]:g} to {sim.times[-1]:g} "
                          f"{m.time_unit}"),
                ("method", sim.method), ("rtol", sim.rtol), ("atol", sim.atol)]
        if sim.covariates:
            rows.append(("covariates", dict(sim.covariates)))
        rows += [(k, v) for k, v in (sim.stats or {}).items()]
        self._record_run(label, rows)
        summary = _simulation_summary(sim)
        parts = [_kv_table(rows)]
        body, text = _table_html(summary, "Outputs over the simulated time", None)
        parts.append(body)
        frame = sim.to_frame()
        body2, text2 = _table_html(frame, "Time course", max_rows)
        parts.append(body2)
        self._section(label, parts, [f"regimen: {regimen}", text, text2],
                      [(sim.plot(outputs, logy=logy), f"{m.name}: {regimen}")])

    def add_fit(self, result: FitResult, *, title: str | None = None,
                individual: bool | None = None, data: pd.DataFrame | None = None,
                data_name: str = "dataset") -> None:
        """Add a :class:`~pkpd.fit.FitResult` (or ``SubjectFits``): summary,
        estimates table, goodness-of-fit figure and, for up to 12 subjects (or
        ``individual=True``), the individual fits.

        The provenance holds the hash of the records fitted (in NONMEM form,
        after exclusions) and, when given, of the raw ``data`` table.
        """
        fits = list(getattr(result, "fits", None) or [result])
        first = fits[0]
        m = first.model
        label = title or f"Fit: {m.name}"
        for f in fits:
            self._record_model(f.model)
        if data is not None:
            self._record_data(f"{label}: {data_name} (as given)", data)
        fitted = [getattr(f, "data", None) for f in fits]
        if all(d is not None for d in fitted):
            frames = [_dataset_frame(d) for d in fitted]
            frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
            self._record_data(f"{label}: records fitted", frame)
        rows = [("model", m.name), ("lmfit method", getattr(first, "method", "?")),
                ("jacobian", getattr(first, "jacobian", "?"))]
        opts = dict(getattr(first, "options", {}) or {})
        rows += [(k, opts[k]) for k in sorted(opts)]
        if len(fits) == 1:
            rows += [("error model", getattr(first, "error", {})),
                     ("estimates", getattr(first, "params", {})),
                     ("fixed", getattr(first, "fixed", {}))]
        self._record_run(label, rows)
        parts = [f"<pre>{_esc(result.summary())}</pre>"]
        body, text = _table_html(result.to_frame(), "Estimates", None)
        parts.append(body)
        figs = []
        if len(fits) == 1 and hasattr(result, "plot"):
            figs.append((result.plot("gof"), "Goodness of fit"))
            if individual or (individual is None and first.n_subjects <= 12):
                figs.append((result.plot("individual"), "Individual fits"))
        self._section(label, parts, [result.summary(), text], figs)

    def add_population(self, pop: PopulationSimulation, *, title: str | None = None,
                       outputs: Sequence[str] | None = None, logy: bool = False,
                       seed: Any = None, settings: Mapping[str, Any] | None = None) -> None:
        """Add a :class:`~pkpd.population.PopulationSimulation`: summary, the
        distribution of the sampled parameters, percentile bands and a figure.

        ``seed`` and ``settings`` (e.g. the solver and its tolerances, which
        the result does not carry) are recorded in the provenance.
        """
        m = pop.model
        label = title or f"Population: {m.name}"
        sha = self._record_model(m)
        self._record_data(f"{label}: individual parameters", pop.params)
        self._record_seed(label, seed)
        rows = [("model", f"{m.name} (sha256 {sha[:12]})"), ("subjects", pop.n_subjects),
                ("percentiles", list(pop.percentiles))]
        rows += [r for r in _duck_settings(pop) if r[0] != "n_subjects"]
        rows += list((settings or {}).items())
        self._record_run(label, rows)
        varied = [c for c in pop.params.columns if c != "ID" and pop.params[c].nunique() > 1]
        parts = [f"<pre>{_esc(pop.summary())}</pre>"]
        text = [pop.summary()]
        if varied:
            desc = pop.params[varied].describe(percentiles=[0.05, 0.5, 0.95]).T
            desc = desc.drop(columns=["count"])
            body, t = _table_html(desc, "Sampled individual parameters", None)
            parts.append(body)
            text.append(t)
        self._section(label, parts, text,
                      [(pop.plot(outputs, logy=logy), f"{m.name}: {pop.n_subjects} subjects")])

    def add_sensitivity(self, result: Any, *, title: str | None = None, seed: Any = None,
                        settings: Mapping[str, Any] | None = None) -> None:
        """Add a :class:`~pkpd.sensitivity.LocalSensitivity` (summary, endpoint
        table, tornado and heatmap) or :class:`~pkpd.sensitivity.GlobalSensitivity`
        (summary, indices, bar chart)."""
        model = getattr(result, "model", None)
        local = hasattr(result, "endpoint_frame")
        kind = "local" if local else getattr(result, "method", "global")
        label = title or (f"Sensitivity ({kind})" + (f": {model.name}" if model else ""))
        self._record_seed(label, seed)
        rows: list[tuple[str, Any]] = [("method", kind)]
        if isinstance(model, Model):
            rows.append(("model", f"{model.name} (sha256 {self._record_model(model)[:12]})"))
        if local:
            rows.append(("parameters (point of linearisation)",
                         dict(zip(result.wrt, result.param_values.tolist(), strict=True))))
        else:
            rows += [("varied parameters", list(result.params)), ("runs", result.n_runs),
                     ("confidence", result.confidence)]
            self._record_data(f"{label}: samples", pd.DataFrame(result.samples,
                                                                 columns=list(result.params)))
        rows += list((settings or {}).items())
        self._record_run(label, rows)
        parts = [f"<pre>{_esc(result.summary())}</pre>"]
        text = [result.summary()]
        figs = []
        if local:
            table = result.endpoint_frame() if result.endpoint_names else result.ranking()
            caption = "Endpoint sensitivities" if result.endpoint_names else "Ranking"
            body, t = _table_html(table, caption, None)
            parts.append(body)
            text.append(t)
            by = result.endpoint_names[0] if result.endpoint_names else result.names[0]
            figs.append((result.plot("tornado", by=by), f"Parameter influence on {by}"))
            figs.append((result.plot("heatmap"), f"Sensitivity of {result.names[0]} over time"))
        else:
            body, t = _table_html(result.to_frame(), "Indices", None)
            parts.append(body)
            text.append(t)
            figs.append((result.plot("bar"), f"{kind} indices of {result.qois[0]}"))
            if len(result.qois) > 1:
                figs.append((result.plot("time"), f"{kind} indices across quantities"))
        self._section(label, parts, text, figs)

    def add_dose_response(self, result: Any, *, title: str | None = None,
                          kinds: Sequence[str] = ("endpoint", "timecourse", "target"),
                          x: str = "dose", outputs: Sequence[str] | None = None,
                          logy: bool = False, fit: Any = None, fit_endpoint: str | None = None,
                          model: Model | None = None, seed: Any = None,
                          settings: Mapping[str, Any] | None = None) -> None:
        """Add a :class:`~pkpd.dose_response.DoseResponse`: summary, table, one
        figure per ``kinds`` (``plot(kind=...)``) and its ``provenance()``.

        Parameters
        ----------
        result : DoseResponse
            Or any object with ``summary()``, ``to_frame()`` and ``plot(kind=...)``.
        kinds : sequence of {"endpoint", "timecourse", "target"}
            Figures to draw. A kind the result cannot draw (``"target"``
            without targets) is replaced by a note giving the reason.
        x : str
            x axis of the ``"endpoint"`` figure (``"dose"``, ``"interval"``, ...).
        outputs : sequence of str, optional
            One ``"timecourse"`` figure per output (default: the first output).
        logy : bool
            Logarithmic y axis of the time courses.
        fit : CurveFit, optional
            A curve fitted with ``result.fit(fit_endpoint, x, ...)``: its
            summary and a figure of ``fit_endpoint`` with the curve are added.
        model : Model, optional
            Recorded in the provenance (default: ``result.model``).
        seed, settings
            Recorded in the provenance.
        """
        label = title or "Dose-response"
        model = model if model is not None else getattr(result, "model", None)
        self._record_seed(label, seed)
        rows: list[tuple[str, Any]] = []
        if isinstance(model, Model):
            rows.append(("model", f"{model.name} (sha256 {self._record_model(model)[:12]})"))
        rows += _duck_settings(result) + list((settings or {}).items())
        self._record_run(label, rows)
        subjects = getattr(result, "subjects", None)
        if isinstance(subjects, pd.DataFrame):
            self._record_data(f"{label}: sampled subjects", subjects)
        parts, text, figs = self._summary_table(result, label)
        calls: list[tuple[str, dict[str, Any]]] = []
        for kind in kinds:
            if kind == "endpoint":
                calls.append((kind, {"x": x}))
            elif kind == "timecourse":
                calls += [(kind, {"output": o, "logy": logy}) for o in (outputs or [None])]
            else:
                calls.append((kind, {}))
        for kind, kw in calls:
            try:
                fig = result.plot(kind=kind, **{k: v for k, v in kw.items() if v is not None})
            except (ValueError, KeyError) as exc:
                parts.append(f'<p class="note">No {_esc(kind)} figure: {_esc(exc)}</p>')
                continue
            what = f" of {kw['output']}" if kw.get("output") else ""
            figs.append((fig, f"{label}: {kind}{what}"))
        if fit is not None:
            summary = str(fit.summary())
            parts.append(f"<h3>Curve fitted to {_esc(fit_endpoint or 'the endpoint')}</h3>"
                         f"<pre>{_esc(summary)}</pre>")
            text.append(summary)
            if fit_endpoint is not None:
                figs.append((result.plot(kind="endpoint", endpoint=fit_endpoint, x=x, fit=fit),
                             f"{fit_endpoint} against {x} with the fitted curve"))
        self._section(label, parts, text, figs)

    def _summary_table(self, obj: Any, label: str) -> tuple[list[str], list[str], list]:
        parts, text = [], []
        if hasattr(obj, "summary"):
            s = str(obj.summary())
            parts.append(f"<pre>{_esc(s)}</pre>")
            text.append(s)
        if hasattr(obj, "to_frame"):
            df = obj.to_frame()
            if isinstance(df, pd.DataFrame):
                self._record_data(f"{label}: table", df)
                body, t = _table_html(df, "Table", _MAX_TABLE_ROWS)
                parts.append(body)
                text.append(t)
        return parts, text, []

    def add(self, obj: Any, caption: str | None = None, **kw: Any) -> None:
        """Add anything: dispatch on its type, else duck typing.

        DataFrame -> :meth:`add_table`, matplotlib Figure -> :meth:`add_figure`,
        str -> :meth:`add_text`, Model -> :meth:`add_model`, Simulation,
        FitResult/SubjectFits, PopulationSimulation, Local/GlobalSensitivity and
        DoseResponse -> their ``add_*`` method. Any other object with
        ``summary()``, ``to_frame()`` and/or ``plot()`` gets its summary
        (preformatted), its table and its figure; ``provenance()`` is recorded
        when present.
        """
        from .fit import FitResult, SubjectFits
        from .population import PopulationSimulation
        from .sensitivity import GlobalSensitivity, LocalSensitivity
        from .simulate import Simulation

        if isinstance(obj, pd.DataFrame):
            return self.add_table(obj, caption, **kw)
        if isinstance(obj, str):
            return self.add_text(obj)
        if hasattr(obj, "savefig") and hasattr(obj, "axes"):
            return self.add_figure(obj, caption)
        if caption is not None:
            kw.setdefault("title", caption)
        if isinstance(obj, Model):
            return self.add_model(obj, **kw)
        if isinstance(obj, Simulation):
            return self.add_simulation(obj, **kw)
        if isinstance(obj, FitResult | SubjectFits):
            return self.add_fit(obj, **kw)
        if isinstance(obj, PopulationSimulation):
            return self.add_population(obj, **kw)
        if isinstance(obj, LocalSensitivity | GlobalSensitivity):
            return self.add_sensitivity(obj, **kw)
        if type(obj).__name__ == "DoseResponse":
            return self.add_dose_response(obj, **kw)
        if not any(hasattr(obj, a) for a in ("summary", "to_frame", "plot")):
            raise TypeError(f"cannot add a {type(obj).__name__} to a report: it is none of "
                            "DataFrame, Figure, str, Model or a pkpd result, and has no "
                            "summary(), to_frame() or plot()")
        label = kw.pop("title", None) or type(obj).__name__
        if kw:
            raise TypeError(f"unexpected keyword arguments for a {type(obj).__name__}: "
                            + ", ".join(sorted(kw)))
        m = getattr(obj, "model", None)
        if isinstance(m, Model):
            self._record_model(m)
        self._record_run(label, _duck_settings(obj))
        parts, text, figs = self._summary_table(obj, label)
        if hasattr(obj, "plot"):
            figs.append((obj.plot(), label))
        self._section(label, parts, text, figs)

    # ------------------------------------------------------------------ provenance
    def _provenance(self, now: str) -> tuple[str, str]:
        import pkpd

        parts = ['<h2 id="provenance">Provenance</h2>']
        text = ["PROVENANCE"]
        parts.append("<h3>Models</h3>")
        if not self._models:
            parts.append('<p class="note">No model was used.</p>')
        for rec in self._models.values():
            vals = [(k, f"{_plain(v)} {rec.units.get(k, '')}".rstrip()) for k, v in rec.params.items()]
            vals += [(f"{k} (covariate)", _plain(v)) for k, v in rec.covariates.items()]
            parts.append(f"<h4>{_esc(rec.name)}</h4>\n<p>sha256 <code>{rec.sha256}</code></p>\n"
                         + _kv_table(vals, "Parameter values", ("parameter", "value"))
                         + f"\n<details><summary>model text</summary><pre>{_esc(rec.text)}</pre>"
                           "</details>")
            text.append(f"model {rec.name} sha256 {rec.sha256}\n" + "\n".join(
                f"  {k} = {v}" for k, v in vals) + "\n" + rec.text)
        parts.append("<h3>Data</h3>")
        if self._data:
            parts.append('<table class="kv"><thead><tr><th class="l">data</th><th>rows</th>'
                         '<th>columns</th><th class="l">sha256 (canonical CSV)</th></tr></thead>'
                         "<tbody>" + "".join(
                             f'<tr><td class="l">{_esc(lbl)}</td><td>{r}</td><td>{c}</td>'
                             f'<td class="l"><code>{sha}</code></td></tr>'
                             for lbl, sha, (r, c) in self._data) + "</tbody></table>")
            text += [f"data {lbl}: {r}x{c} sha256 {sha}" for lbl, sha, (r, c) in self._data]
        else:
            parts.append('<p class="note">No data.</p>')
        parts.append("<h3>Runs: settings, solvers and tolerances</h3>")
        for lbl, rows in self._runs:
            parts.append(_kv_table(rows, lbl, ("setting", "value")))
            text.append(lbl + "\n" + "\n".join(f"  {k}: {_plain(v)}" for k, v in rows))
        parts.append("<h3>Random seeds</h3>" + _kv_table(self._seeds, None, ("used by", "seed")))
        text.append("seeds\n" + "\n".join(f"  {k}: {_plain(v)}" for k, v in self._seeds))
        env = [("pkpd", getattr(pkpd, "__version__", "?"))]
        env += [(d, _version(d)) for d in DEPENDENCIES]
        env += [("python", sys.version.split()[0] + f" ({platform.python_implementation()})"),
                ("platform", platform.platform())]
        parts.append("<h3>Software</h3>" + _kv_table(env, None, ("package", "version")))
        text.append("software\n" + "\n".join(f"  {k}: {v}" for k, v in env))
        parts.append(f'<p class="generated">Generated: {_esc(now)}</p>')
        text.append(f"Generated: {now}")
        return "<section>\n" + "\n".join(parts) + "\n</section>", "\n\n".join(text)

    # ------------------------------------------------------------------ output
    def to_html(self) -> str:
        """The report as one self-contained HTML document."""
        now = _now()
        prov, _ = self._provenance(now)
        toc = [t for b in self._blocks for t in b.toc] + [("provenance", "Provenance")]
        nav = ('<nav><h2 class="toc">Contents</h2><ol>' + "".join(
            f'<li><a href="#{sid}">{_esc(t)}</a></li>' for sid, t in toc) + "</ol></nav>")
        meta = []
        if self.author:
            meta.append(f"by {_esc(self.author)}")
        if self.seed is not None:
            meta.append(f"seed {self.seed}")
        import pkpd

        meta.append(f"pkpd {_esc(getattr(pkpd, '__version__', '?'))}")
        out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
               '<meta name="viewport" content="width=device-width, initial-scale=1">',
               f"<title>{_esc(self.title)}</title>", f"<style>\n{_CSS}\n</style>", "</head>",
               "<body>", "<header>", f"<h1>{_esc(self.title)}</h1>",
               f'<p class="meta">{" · ".join(meta)}</p>', "</header>", nav, "<main>"]
        out += [b.html for b in self._blocks]
        out += [prov, "</main>", "</body>", "</html>", ""]
        return "\n".join(out)

    def write(self, path: str | Path) -> Path:
        """Write the HTML report to ``path`` (UTF-8) and return the path."""
        path = Path(path)
        path.write_text(self.to_html(), encoding="utf-8")
        return path

    def write_pdf(self, path: str | Path) -> Path:
        """Write a PDF version: a title page, text pages (summaries and tables in
        monospace), every figure, and the provenance. Equations are given as
        model text. Returns the path."""
        from matplotlib.backends.backend_pdf import PdfPages
        from matplotlib.figure import Figure

        path = Path(path)
        now = _now()
        _, prov_text = self._provenance(now)
        head = [self.title, "", *([f"author: {self.author}"] if self.author else []),
                f"seed: {self.seed}", f"generated: {now}", "", "Contents:"]
        head += [f"  {t}" for b in self._blocks for _, t in b.toc] + ["  Provenance"]

        def pages(text: str, pdf: Any) -> None:
            lines = []
            for line in text.splitlines() or [""]:
                lines += textwrap.wrap(line, 110, replace_whitespace=False,
                                       drop_whitespace=False) or [""]
            for k in range(0, len(lines), 80):
                fig = Figure(figsize=(8.27, 11.69))
                fig.text(0.06, 0.96, "\n".join(lines[k:k + 80]), family="monospace", fontsize=6.5,
                         va="top", ha="left", parse_math=False)
                pdf.savefig(fig)

        with PdfPages(path, metadata={"Title": self.title, "Author": self.author or "",
                                      "Creator": "pkpd.report"}) as pdf:
            pages("\n".join(head), pdf)
            buffer: list[str] = []
            for b in self._blocks:
                if b.text:
                    buffer.append(b.text)
                if b.figures:
                    if buffer:
                        pages("\n\n".join(buffer), pdf)
                        buffer = []
                    for fig in b.figures:
                        pdf.savefig(fig)
            if buffer:
                pages("\n\n".join(buffer), pdf)
            pages(prov_text, pdf)
        return path


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def _version(dist: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _duck_settings(obj: Any) -> list[tuple[str, Any]]:
    """Run settings of a result: its ``provenance()`` if it has one, else known attributes."""
    prov = getattr(obj, "provenance", None)
    if callable(prov):
        d = prov()
        if isinstance(d, Mapping):
            return list(d.items())
    rows = []
    for a in ("method", "rtol", "atol", "jacobian", "n_runs", "confidence", "n_subjects"):
        v = getattr(obj, a, None)
        if isinstance(v, str | int | float | np.number) and not isinstance(v, bool):
            rows.append((a, v))
    return rows


def _simulation_summary(sim: Any) -> pd.DataFrame:
    """Per output: value at the start and end, minimum and maximum with their times."""
    names = list(sim.model.output_names or sim.model.state_names)
    units = {o.name: o.unit for o in sim.model.outputs} | {s.name: s.unit for s in sim.model.states}
    rows = []
    for n in names:
        y = np.asarray(sim[n], dtype=float)
        i, j = int(np.nanargmin(y)), int(np.nanargmax(y))
        rows.append({"output": n, "unit": units.get(n, ""), "start": y[0], "end": y[-1],
                     "min": y[i], "time of min": sim.times[i], "max": y[j],
                     "time of max": sim.times[j]})
    return pd.DataFrame(rows)


def _dataset_frame(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    try:
        return data.to_frame()
    except Exception:  # a dataset that cannot be written in NONMEM form still has observations
        return data.observations()


# =========================================================================== specifications
_COMMON_KEYS = ("kind", "title", "text")
_KIND_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind: (required keys, optional keys)
    "text": (("text",), ()),
    "model": (("model",), ()),
    "simulate": (("model", "regimen"),
                 ("until", "step", "times", "params", "covariates", "outputs", "logy", "method",
                  "rtol", "atol")),
    "population": (("model", "regimen", "iiv"),
                   ("until", "step", "times", "n", "params", "outputs", "logy", "seed",
                    "percentiles")),
    "fit": (("spec",), ("individual",)),
    "sensitivity": (("method", "model", "regimen"),
                    ("until", "step", "times", "params", "endpoint", "endpoints", "outputs", "n",
                     "seed", "iiv")),
    "dose_response": (("model", "regimens", "endpoints"),
                      ("until", "step", "times", "n", "iiv", "targets", "seed", "fit", "params",
                       "plots", "x", "outputs", "logy")),
}


@dataclass
class _Ctx:
    path: Path
    seed: int | None
    models: dict[str, Model] = field(default_factory=dict)

    def err(self, i: int, kind: str, key: str | None, message: str) -> SpecError:
        where = f"{self.path}: section {i}" + (f" (kind '{kind}')" if kind else "")
        return SpecError(f"{where}, key '{key}': {message}" if key else f"{where}: {message}")


def report_from_spec(path: str | Path) -> Report:
    """Build a :class:`Report` from a TOML report specification.

    Parameters
    ----------
    path : str or Path
        The specification (see ``reports/README.md`` for the format).

    Returns
    -------
    Report

    Raises
    ------
    SpecError
        If the file is not valid TOML, a key is unknown or missing, a value
        has the wrong type, or a section fails (e.g. an unknown model or an
        invalid regimen); the message names the section number, its kind,
        the key and what is allowed.
    """
    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"report specification {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: invalid TOML: {exc}") from None
    top = {"title", "seed", "author", "section"}
    for k in spec:
        if k not in top:
            raise SpecError(f"{path}: unknown top-level key '{k}'{closest(k, sorted(top))}; "
                            f"keys are: {', '.join(sorted(top))}")
    title = spec.get("title", path.stem)
    if not isinstance(title, str):
        raise SpecError(f"{path}: key 'title' must be a string, got {title!r}")
    seed = spec.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise SpecError(f"{path}: key 'seed' must be an integer, got {seed!r}")
    author = spec.get("author")
    if author is not None and not isinstance(author, str):
        raise SpecError(f"{path}: key 'author' must be a string, got {author!r}")
    sections = spec.get("section", [])
    if not isinstance(sections, list) or not sections:
        raise SpecError(f"{path}: a report needs at least one [[section]] table")
    report = Report(title, author=author, seed=seed)
    ctx = _Ctx(path, seed)
    for i, sec in enumerate(sections, start=1):
        if not isinstance(sec, dict):
            raise ctx.err(i, "", None, "each [[section]] must be a table")
        kind = sec.get("kind")
        if kind not in _KIND_KEYS:
            raise ctx.err(i, "", "kind", f"must be one of {', '.join(map(repr, _KIND_KEYS))}, "
                                         f"got {kind!r}{closest(str(kind), list(_KIND_KEYS))}")
        required, optional = _KIND_KEYS[kind]
        allowed = set(_COMMON_KEYS) | set(required) | set(optional)
        for k in sec:
            if k not in allowed:
                raise ctx.err(i, kind, k, f"unknown key{closest(k, sorted(allowed))}; a '{kind}' "
                                          f"section takes: {', '.join(sorted(allowed))}")
        for k in required:
            if k not in sec:
                raise ctx.err(i, kind, k, f"missing; a '{kind}' section needs: "
                                          f"{', '.join(required)}")
        intro = _typed(ctx, i, kind, sec, "text", str) if kind != "text" else None
        n_blocks = len(report._blocks)
        _HANDLERS[kind](report, ctx, i, sec)
        if intro:
            report._introduce(n_blocks, intro)
    return report


def run_report(path: str | Path, out: str | Path | None = None) -> Path:
    """Build the report of a specification and write it as HTML.

    Parameters
    ----------
    path : str or Path
        The specification.
    out : str or Path, optional
        Output file, or a directory to write ``<spec stem>.html`` into
        (default: next to the specification).

    Returns
    -------
    Path
        The HTML file written.
    """
    path = Path(path)
    report = report_from_spec(path)
    if out is None:
        target = path.with_suffix(".html")
    else:
        target = Path(out)
        if target.is_dir():
            target = target / f"{path.stem}.html"
    return report.write(target)


# ------------------------------------------------------------------------ spec values
def _typed(ctx: _Ctx, i: int, kind: str, sec: Mapping, key: str, typ: Any,
           default: Any = None) -> Any:
    if key not in sec:
        return default
    v = sec[key]
    ok = isinstance(v, typ) and not (isinstance(v, bool) and bool not in _as_tuple(typ))
    if not ok:
        names = " or ".join(t.__name__ for t in _as_tuple(typ))
        raise ctx.err(i, kind, key, f"must be {names}, got {v!r}")
    return v


def _as_tuple(typ: Any) -> tuple:
    return typ if isinstance(typ, tuple) else (typ,)


def _model(ctx: _Ctx, i: int, kind: str, sec: Mapping) -> Model:
    from .language import list_models, load_model

    ref = _typed(ctx, i, kind, sec, "model", str)
    if ref in ctx.models:
        return ctx.models[ref]
    is_path = ref.endswith(".pkpd") or "/" in ref or "\\" in ref
    try:
        model = load_model(ctx.path.parent / ref if is_path else ref)
    except (PkpdError, OSError) as exc:
        hint = "" if is_path else f"; library models are: {', '.join(list_models())}"
        raise ctx.err(i, kind, "model", f"{exc}{hint} (or give a path to a .pkpd file, "
                                        "relative to the specification)") from None
    ctx.models[ref] = model
    return model


def _time_value(ctx: _Ctx, i: int, kind: str, key: str, value: Any, model: Model) -> float:
    """A time: a number in the model's time unit, or text such as ``"24 w"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ctx.err(i, kind, key, f"must be finite, got {value!r}")
        return float(value)
    if isinstance(value, str):
        try:
            return parse_duration(value, model.time_unit, what="the time")
        except PkpdError as exc:
            raise ctx.err(i, kind, key, str(exc)) from None
    raise ctx.err(i, kind, key, f"must be a number in the model's time unit "
                                f"({model.time_unit}) or text such as \"24 w\", \"14 d\", \"12 h\" "
                                f"(units min, h, d, w), got {value!r}")


def _grid(ctx: _Ctx, i: int, kind: str, sec: Mapping, model: Model) -> np.ndarray:
    """Output times: ``times`` (a list) or ``until`` with an optional ``step``."""
    if "times" in sec:
        if "until" in sec or "step" in sec:
            raise ctx.err(i, kind, "times", "give either 'times' or 'until' (with 'step'), not both")
        t = sec["times"]
        if not isinstance(t, list) or len(t) < 2:
            raise ctx.err(i, kind, "times", f"must be a list of at least two times, got {t!r}")
        vals = np.array([_time_value(ctx, i, kind, "times", v, model) for v in t])
        if np.any(np.diff(vals) <= 0):
            raise ctx.err(i, kind, "times", "must be strictly increasing")
        return vals
    if "until" not in sec:
        raise ctx.err(i, kind, "until", "missing; give 'until' (e.g. \"104 w\") or 'times'")
    end = _time_value(ctx, i, kind, "until", sec["until"], model)
    if end <= 0:
        raise ctx.err(i, kind, "until", f"must be after time 0, got {sec['until']!r}")
    if "step" in sec:
        step = _time_value(ctx, i, kind, "step", sec["step"], model)
        if not 0 < step <= end:
            raise ctx.err(i, kind, "step", f"must be positive and at most 'until', got {sec['step']!r}")
    else:
        step = 10.0 ** math.floor(math.log10(end / 500))
    k = int(math.floor(end / step + 1e-9))
    if k > 200_000:
        raise ctx.err(i, kind, "step", f"gives {k} output times; use a larger step")
    t = np.arange(k + 1) * step
    return np.append(t[t < end - 1e-9 * step], end)  # ends exactly at `until`


def _regimen(ctx: _Ctx, i: int, kind: str, key: str, text: Any, model: Model) -> Any:
    if not isinstance(text, str):
        raise ctx.err(i, kind, key, f"must be a regimen in the compact notation, e.g. "
                                    f"\"600 mg iv over 3.5 h every 24 w x 4\", or the name of a "
                                    f"regimen of the model file, got {text!r}")
    try:
        return regimen_for_model(model, text)
    except PkpdError as exc:
        raise ctx.err(i, kind, key, str(exc)) from None


def _number_table(ctx: _Ctx, i: int, kind: str, sec: Mapping, key: str,
                  names: Sequence[str], what: str) -> dict[str, float]:
    tab = _typed(ctx, i, kind, sec, key, dict, {})
    out = {}
    for k, v in tab.items():
        if k not in names:
            raise ctx.err(i, kind, key, f"'{k}' is not a {what}{closest(k, list(names))}; "
                                        f"{what}s are: {', '.join(names)}")
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ctx.err(i, kind, key, f"'{k}' must be a number, got {v!r}")
        out[k] = float(v)
    return out


def _names(ctx: _Ctx, i: int, kind: str, sec: Mapping, key: str, allowed: Sequence[str],
           what: str) -> list[str] | None:
    if key not in sec:
        return None
    v = sec[key]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ctx.err(i, kind, key, f"must be a list of {what} names, got {v!r}")
    for x in v:
        if x not in allowed:
            raise ctx.err(i, kind, key, f"'{x}' is not a {what}{closest(x, list(allowed))}; "
                                        f"{what}s are: {', '.join(allowed)}")
    return list(v)


def _endpoint(ctx: _Ctx, i: int, kind: str, key: str, spec: Any, model: Model,
              extra: Mapping[str, Callable[..., Any]] | None = None) -> Any:
    """An endpoint from a table such as ``{ metric = "ctrough", output = "bcells", time = 168 }``.

    ``extra`` adds metrics allowed in this section only (``trough`` of dose-response).
    """
    try:
        return endpoint_spec_from_table(spec, model, extra=extra).endpoint
    except PkpdError as exc:
        raise ctx.err(i, kind, key, str(exc)) from None


def _endpoints(ctx: _Ctx, i: int, kind: str, sec: Mapping, model: Model) -> list:
    eps = []
    if "endpoint" in sec:
        eps.append(_endpoint(ctx, i, kind, "endpoint", sec["endpoint"], model))
    if "endpoints" in sec:
        v = sec["endpoints"]
        if isinstance(v, dict):
            items = [(f"endpoints.{k}", dict(e, name=e.get("name", k)) if isinstance(e, dict) else e)
                     for k, e in v.items()]
        elif isinstance(v, list):
            items = [(f"endpoints[{j}]", e) for j, e in enumerate(v, start=1)]
        else:
            raise ctx.err(i, kind, "endpoints", "must be a list of endpoint tables or a table "
                                                f"name -> endpoint, got {v!r}")
        eps += [_endpoint(ctx, i, kind, k, e, model) for k, e in items]
    return eps


def _seed(ctx: _Ctx, i: int, kind: str, sec: Mapping) -> int | None:
    s = _typed(ctx, i, kind, sec, "seed", int)
    return ctx.seed if s is None else s


def _n(ctx: _Ctx, i: int, kind: str, sec: Mapping, default: int) -> int:
    n = _typed(ctx, i, kind, sec, "n", int, default)
    if n < 1:
        raise ctx.err(i, kind, "n", f"must be a positive integer, got {n}")
    return n


def _run(ctx: _Ctx, i: int, kind: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except (PkpdError, ValueError) as exc:
        raise ctx.err(i, kind, None, f"{type(exc).__name__}: {exc}") from None


# ------------------------------------------------------------------------ section handlers
def _sec_text(report: Report, ctx: _Ctx, i: int, sec: Mapping) -> None:
    title = _typed(ctx, i, "text", sec, "title", str)
    text = _typed(ctx, i, "text", sec, "text", str)
    report.add_text(f"# {title}\n\n{textwrap.dedent(text)}" if title else text)


def _sec_model(report: Report, ctx: _Ctx, i: int, sec: Mapping) -> None:
    report.add_model(_model(ctx, i, "model", sec), title=_typed(ctx, i, "model", sec, "title", str))


def _sec_simulate(report: Report, ctx: _Ctx, i: int, sec: Mapping) -> None:
    from .simulate import simulate

    k = "simulate"
    model = _model(ctx, i, k, sec)
    reg = _regimen(ctx, i, k, "regimen", sec["regimen"], model)
    times = _grid(ctx, i, k, sec, model)
    params = _number_table(ctx, i, k, sec, "params", model.param_names, "parameter")
    covs = _number_table(ctx, i, k, sec, "covariates", model.covariate_names, "covariate")
    outputs = _names(ctx, i, k, sec, "outputs", model.output_names + model.state_names, "output")
    opts = {}
    for key, typ in (("method", str), ("rtol", (int, float)), ("atol", (int, float))):
        if key in sec:
            opts[key] = _typed(ctx, i, k, sec, key, typ)
    sim = _run(ctx, i, k, lambda: simulate(model, reg, times, params=params or None,
                                           covariates=covs or None, **opts))
    report.add_simulation(sim, title=_typed(ctx, i, k, sec, "title", str), outputs=outputs,
                          logy=_typed(ctx, i, k, sec, "logy", bool, False))


def _population(ctx: _Ctx, i: int, kind: str, sec: Mapping, model: Model) -> Any:
    from .population import Population

    if "params" in sec and kind == "population":
        model = model.with_params(_number_table(ctx, i, kind, sec, "params", model.param_names,
                                                "parameter"))
    iiv = _number_table(ctx, i, kind, sec, "iiv", model.param_names, "parameter")
    try:
        return Population(model, iiv)
    except (PkpdError, ValueError) as exc:
        raise ctx.err(i, kind, "iiv", str(exc)) from None


def _sec_population(report: Report, ctx: _Ctx, i: int, sec: Mapping) -> None:
    from .population import simulate_population

    k = "population"
    model = _model(ctx, i, k, sec)
    pop = _population(ctx, i, k, sec, model)
    reg = _regimen(ctx, i, k, "regimen", sec["regimen"], model)
    times = _grid(ctx, i, k, sec, model)
    n = _n(ctx, i, k, sec, 100)
    seed = _seed(ctx, i, k, sec)
    pct = sec.get("percentiles", [5, 50, 95])
    if not (isinstance(pct, list) and pct and all(isinstance(q, int | float) and not isinstance(q, bool)
                                                  and 0 <= q <= 100 for q in pct)):
        raise ctx.err(i, k, "percentiles", f"must be a list of numbers in [0, 100], got {pct!r}")
    outputs = _names(ctx, i, k, sec, "outputs", model.output_names + model.state_names, "output")
    res = _run(ctx, i, k, lambda: simulate_population(pop, reg, times, n=n, rng=seed,
                                                      percentiles=pct))
    report.add_population(res, title=_typed(ctx, i, k, sec, "title", str), outputs=outputs,
                          logy=_typed(ctx, i, k, sec, "logy", bool, False), seed=seed,
                          settings={"regimen": reg.in_words(model.time_unit), "iiv (CV)": pop.iiv,
                                    "method": "auto", "rtol": 1e-6, "atol": 1e-9})


def _sec_fit(report: Report, ctx: _Ctx, i: int, sec: Mapping) -> None:
    from .fit import run_fit

    k = "fit"
    ref = _typed(ctx, i, k, sec, "spec", str)
    path = ctx.path.parent / ref
    if not path.is_file():
        raise ctx.err(i, k, "spec", f"fit specification {path} does not exist (paths are "
                                    "relative to the report specification)")
    res = _run(ctx, i, k, lambda: run_fit(path, write=False))
    data, name = _fit_data(path)
    report.add_fit(res, title=_typed(ctx, i, k, sec, "title", str),
                   individual=_typed(ctx, i, k, sec, "individual", bool), data=data,
                   data_name=name)


def _fit_data(path: Path) -> tuple[pd.DataFrame | None, str]:
    """The raw dataset a fit specification names, read as :func:`pkpd.fit.run_fit` reads it."""
    from . import datasets

    ref = tomllib.loads(path.read_text(encoding="utf-8")).get("dataset")
    if not isinstance(ref, str):
        return None, "dataset"
    if ref in datasets.list_datasets():
        return datasets.load(ref), f"dataset '{ref}'"
    p = Path(ref) if Path(ref).is_absolute() else path.parent / ref
    return pd.read_csv(p, na_values=["."]), f"dataset {ref}"


def _sec_sensitivity(report: Report, ctx: _Ctx, i: int, sec: Mapping) -> None:
    from . import sensitivity

    k = "sensitivity"
    method = sec["method"]
    if method not in ("local", "sobol", "morris"):
        raise ctx.err(i, k, "method", f"must be 'local', 'sobol' or 'morris', got {method!r}")
    model = _model(ctx, i, k, sec)
    reg = _regimen(ctx, i, k, "regimen", sec["regimen"], model)
    times = _grid(ctx, i, k, sec, model)
    eps = _endpoints(ctx, i, k, sec, model)
    title = _typed(ctx, i, k, sec, "title", str)
    settings: dict[str, Any] = {"regimen": reg.in_words(model.time_unit)}
    if method == "local":
        for key in ("n", "seed", "iiv"):
            if key in sec:
                raise ctx.err(i, k, key, "applies to 'sobol' and 'morris' only")
        wrt = _names(ctx, i, k, sec, "params", model.param_names, "parameter")
        outputs = _names(ctx, i, k, sec, "outputs", model.output_names + model.state_names,
                         "output")
        res = _run(ctx, i, k, lambda: sensitivity.local_sensitivity(
            model, reg, times, wrt=wrt, outputs=outputs, endpoints=eps))
        settings |= {"method": "auto", "rtol": 1e-8, "atol": 1e-10}
        report.add_sensitivity(res, title=title, settings=settings)
        return
    if not eps:
        raise ctx.err(i, k, "endpoint", f"method '{method}' needs an endpoint (or endpoints), e.g. "
                                        "{ metric = \"ctrough\", output = \"bcells\", time = \"24 w\" }")
    ranges = _typed(ctx, i, k, sec, "params", dict)
    if not ranges:
        raise ctx.err(i, k, "params", f"method '{method}' needs a table of parameter ranges, "
                                      "e.g. { EC50 = [0.002, 0.02] }")
    space = {}
    for name, r in ranges.items():
        if name not in model.param_names + model.covariate_names:
            raise ctx.err(i, k, "params", f"'{name}' is not a parameter or covariate"
                                          f"{closest(name, list(model.param_names))}")
        if not (isinstance(r, list) and len(r) == 2 and all(isinstance(x, int | float)
                                                            and not isinstance(x, bool) for x in r)):
            raise ctx.err(i, k, "params", f"'{name}' must be a range [low, high], got {r!r}")
        space[name] = (float(r[0]), float(r[1]))
    seed = _seed(ctx, i, k, sec)
    pop = _population(ctx, i, k, sec, model) if "iiv" in sec else None
    fn = sensitivity.sobol if method == "sobol" else sensitivity.morris
    n = _n(ctx, i, k, sec, 256 if method == "sobol" else 20)
    res = _run(ctx, i, k, lambda: fn(model, reg, times, params=space, qoi=eps, n=n,
                                     population=pop, rng=seed))
    settings |= {"model": model, "ranges": space, "n": n, "method (solver)": "auto",
                 "rtol": 1e-6, "atol": 1e-9}
    if pop is not None:
        settings["iiv (CV) of the other parameters"] = pop.iiv
    report.add_sensitivity(res, title=title or f"Sensitivity ({method}): {model.name}", seed=seed,
                           settings=settings)


def _sec_dose_response(report: Report, ctx: _Ctx, i: int, sec: Mapping) -> None:
    k = "dose_response"
    from .dose_response import dose_response, trough
    model = _model(ctx, i, k, sec)
    if "params" in sec:
        model = model.with_params(_number_table(ctx, i, k, sec, "params", model.param_names,
                                                "parameter"))
    regs = _typed(ctx, i, k, sec, "regimens", dict)
    if not regs:
        raise ctx.err(i, k, "regimens", "must be a table name -> regimen notation with at least "
                                        "one entry")
    for name, text in regs.items():  # checked here so that errors name the key
        _regimen(ctx, i, k, f"regimens.{name}", text, model)
    times = _grid(ctx, i, k, sec, model)
    tab = _typed(ctx, i, k, sec, "endpoints", dict)
    if not tab:
        raise ctx.err(i, k, "endpoints", "must be a table name -> endpoint, e.g. endpoints.trough "
                                         "= { metric = \"trough\", output = \"bcells\" }")
    extra = {"trough": trough}
    eps = {name: _endpoint(ctx, i, k, f"endpoints.{name}", e, model, extra)
           for name, e in tab.items()}
    pop = _population(ctx, i, k, sec, model)
    n = _n(ctx, i, k, sec, 100)
    seed = _seed(ctx, i, k, sec)
    targets = _targets(ctx, i, k, sec, list(eps))
    kinds = _names(ctx, i, k, sec, "plots", ("endpoint", "timecourse", "target"), "plot kind")
    x = _typed(ctx, i, k, sec, "x", str, "dose")
    outputs = _names(ctx, i, k, sec, "outputs", model.output_names + model.state_names, "output")
    res = _run(ctx, i, k, lambda: dose_response(pop, regs, times, endpoints=eps, n=n,
                                                   rng=seed, targets=targets or None))
    if x not in res.design.columns or x in ("regimen", "dose_unit"):
        cols = [c for c in res.design.columns if c not in ("regimen", "dose_unit")]
        raise ctx.err(i, k, "x", f"must be one of {', '.join(cols)}, got {x!r}")
    curve, fit_ep = None, None
    if "fit" in sec:
        opts = _typed(ctx, i, k, sec, "fit", dict)
        allowed = ("endpoint", "model", "on")
        for key in opts:
            if key not in allowed:
                raise ctx.err(i, k, f"fit.{key}", f"unknown{closest(key, list(allowed))}; 'fit' "
                                                  f"takes: {', '.join(allowed)} (x is the "
                                                  "section's 'x')")
        fit_ep = opts.get("endpoint", next(iter(eps)))
        if fit_ep not in eps:
            raise ctx.err(i, k, "fit.endpoint", f"names no endpoint{closest(str(fit_ep), list(eps))}; "
                                                f"endpoints are: {', '.join(eps)}")
        kw = {key: opts[key] for key in ("model", "on") if key in opts}
        curve = _run(ctx, i, k, lambda: res.fit(fit_ep, x, **kw))
    report.add_dose_response(res, title=_typed(ctx, i, k, sec, "title", str), model=model,
                             seed=seed, kinds=kinds or ("endpoint", "timecourse", "target"),
                             x=x, fit=curve, fit_endpoint=fit_ep, outputs=outputs,
                             logy=_typed(ctx, i, k, sec, "logy", bool, False),
                             settings={"grid": f"{len(times)} times, {times[0]:g} to "
                                               f"{times[-1]:g} {model.time_unit}"})


def _targets(ctx: _Ctx, i: int, kind: str, sec: Mapping,
             names: Sequence[str]) -> dict[str, Any]:
    """``targets = { trough = "< 10" }`` (or ``["<", 10]``, or ``{ below = 10 }``)."""
    tab = _typed(ctx, i, kind, sec, "targets", dict, {})
    out: dict[str, Any] = {}
    for label, t in tab.items():
        key = f"targets.{label}"
        if label not in names:
            raise ctx.err(i, kind, key, f"names no endpoint{closest(label, list(names))}; "
                                        f"endpoints are: {', '.join(names)}")
        if isinstance(t, dict) and len(t) == 1 and set(t) <= {"below", "above"}:
            (side, v), = t.items()
            t = ["<" if side == "below" else ">", v]
        if isinstance(t, str):
            m = re.fullmatch(r"\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*", t)
            if m is None:
                raise ctx.err(i, kind, key, f"must be a comparison such as \"< 10\" (<, <=, >, "
                                            f">=), got {t!r}")
            t = [m.group(1), float(m.group(2))]
        if not (isinstance(t, list) and len(t) == 2 and t[0] in ("<", "<=", ">", ">=")
                and isinstance(t[1], int | float) and not isinstance(t[1], bool)):
            raise ctx.err(i, kind, key, "must be a comparison such as \"< 10\", [\"<\", 10] or "
                                        f"{{ below = 10 }}, got {tab[label]!r}")
        out[label] = (t[0], float(t[1]))
    return out


_HANDLERS: dict[str, Callable[[Report, _Ctx, int, Mapping], None]] = {
    "text": _sec_text,
    "model": _sec_model,
    "simulate": _sec_simulate,
    "population": _sec_population,
    "fit": _sec_fit,
    "sensitivity": _sec_sensitivity,
    "dose_response": _sec_dose_response,
}
