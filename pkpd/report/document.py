"""The :class:`Report`: results collected in reading order, written as one HTML file."""

from __future__ import annotations

import datetime as _dt
import hashlib
import platform
import sys
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..endpoints_spec import ENDPOINTS
from ..model import Model
from .html import (
    _CSS,
    _MAX_TABLE_ROWS,
    _close,
    _ddt,
    _esc,
    _figure_svg,
    _frame_hash,
    _kv_table,
    _markdown,
    _math,
    _mathml_printer,
    _mi,
    _plain,
    _table_html,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..fit import FitResult
    from ..population import PopulationSimulation
    from ..simulate import Simulation

#: Distributions whose versions the provenance section lists.
DEPENDENCIES = ("numpy", "scipy", "sympy", "pandas", "lmfit", "numba", "matplotlib", "SALib")

#: Endpoint functions a specification may name (``metric = "..."``):
#: :data:`pkpd.endpoints_spec.ENDPOINTS`.
ENDPOINT_METRICS = ENDPOINTS


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
        recorded = {k: v for k, v in _duck_settings(result) if k not in ("method", "n")}
        rows += list({**recorded, **(settings or {})}.items())
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
        from ..fit import FitResult, SubjectFits
        from ..population import PopulationSimulation
        from ..sensitivity import GlobalSensitivity, LocalSensitivity
        from ..simulate import Simulation

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
