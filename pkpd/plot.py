"""Figures. matplotlib is imported here and nowhere else in pkpd.

Every function returns the matplotlib ``Figure`` so callers can save or
adjust it; nothing is shown or written by this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["plot_simulation", "plot_gof", "plot_individual_fits", "plot_population",
           "plot_sensitivity_heatmap", "plot_tornado", "plot_global_sensitivity",
           "plot_dose_response", "plot_curve_fit"]


def _plt() -> Any:
    try:
        import matplotlib

        if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg") and not _interactive():
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - optional dependency
        raise ImportError("plotting needs matplotlib: pip install 'pkpd[plot]'") from exc
    return plt


def _interactive() -> bool:
    import sys

    return "ipykernel" in sys.modules or hasattr(sys, "ps1")


def _panels(n: int, ax: Any = None, *, height: float = 2.6, sharex: bool = False) -> tuple[Any, list]:
    """A figure of ``n`` panels stacked vertically, or ``n`` times the given ``ax``."""
    if ax is not None:
        return ax.figure, [ax] * n
    fig, axs = _plt().subplots(n, 1, figsize=(7, height * n), sharex=sharex, squeeze=False)
    return fig, list(axs[:, 0])


def plot_simulation(sim: Any, outputs: Sequence[str] | None = None, *, logy: bool = False,
                    ax: Any = None) -> Any:
    """Plot outputs (default: all) of a :class:`~pkpd.simulate.Simulation` against time.

    Parameters
    ----------
    sim : Simulation
    outputs : sequence of str, optional
        Output or state names; one panel each.
    logy : bool
        Logarithmic y axis.
    ax : matplotlib Axes, optional
        Draw a single output into this axes.

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = list(outputs or sim.model.output_names or sim.model.state_names)
    units = {o.name: o.unit for o in sim.model.outputs} | {s.name: s.unit for s in sim.model.states}
    fig, axes = _panels(len(names), ax, sharex=True)
    for a, name in zip(axes, names, strict=True):
        a.plot(sim.times, sim[name], lw=1.5)
        a.set_ylabel(f"{name}" + (f" [{units[name]}]" if units.get(name) else ""))
        if logy:
            a.set_yscale("log")
        a.grid(alpha=0.3)
    axes[-1].set_xlabel(f"time [{sim.model.time_unit}]" if sim.model.time_unit else "time")
    axes[0].set_title(sim.model.name)
    fig.tight_layout()
    return fig


def plot_gof(result: Any) -> Any:
    """Goodness-of-fit panels of a :class:`~pkpd.fit.FitResult`, one row per output.

    Columns: observed against predicted (with the identity line), weighted
    residuals (``iwres``) against time, and against the prediction. Censored
    observations are drawn as open triangles at their limit.

    Parameters
    ----------
    result : FitResult

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    pr = result.predict()
    outs = list(dict.fromkeys(pr["output"]))
    fig, axs = plt.subplots(len(outs), 3, figsize=(11, 3.3 * len(outs)), squeeze=False)
    tu = result.model.time_unit
    for row, o in zip(axs, outs, strict=True):
        d = pr[pr["output"] == o]
        obs, cen = d[d["cens"] == 0], d[d["cens"] == 1]
        a = row[0]
        a.scatter(obs["pred"], obs["dv"], s=14, alpha=0.7)
        if len(cen):
            a.scatter(cen["pred"], cen["dv"], s=18, marker="v", facecolors="none",
                      edgecolors="C3", label="censored (limit)")
            a.legend(fontsize=8)
        lim = [min(d["pred"].min(), d["dv"].min()), max(d["pred"].max(), d["dv"].max())]
        a.plot(lim, lim, "k--", lw=1)
        a.set_xlabel(f"predicted {o}")
        a.set_ylabel(f"observed {o}")
        for a, x, label in ((row[1], obs["time"], f"time [{tu}]" if tu else "time"),
                            (row[2], obs["pred"], f"predicted {o}")):
            a.scatter(x, obs["iwres"], s=14, alpha=0.7)
            a.axhline(0, color="k", lw=1)
            for h in (-2, 2):
                a.axhline(h, color="k", lw=0.6, ls=":")
            a.set_xlabel(label)
            a.set_ylabel("weighted residual")
        for a in row:
            a.grid(alpha=0.3)
    fig.suptitle(f"{result.model.name}: goodness of fit ({', '.join(f'{k}: {v}' for k, v in result.error.items())} error)")
    fig.tight_layout()
    return fig


def plot_individual_fits(result: Any, *, n_points: int = 200, logy: bool = False,
                         max_subjects: int = 36) -> Any:
    """Observations and the fitted curve for each subject and output.

    Parameters
    ----------
    result : FitResult
    n_points : int
        Points of each fitted curve.
    logy : bool
        Logarithmic y axes.
    max_subjects : int
        Draw at most this many subjects (the first ones).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import math

    import numpy as np

    plt = _plt()
    pr = result.predict()
    ids = list(dict.fromkeys(pr["ID"]))[:max_subjects]
    outs = list(dict.fromkeys(pr["output"]))
    ncol = min(4, len(ids))
    nrow = math.ceil(len(ids) / ncol)
    fig, axs = plt.subplots(nrow * len(outs), ncol, figsize=(3.2 * ncol, 2.6 * nrow * len(outs)),
                            squeeze=False, sharex=True)
    t_end = float(pr["time"].max())
    grid = np.linspace(0.0, t_end, n_points)
    curves = result.predict(times=grid)
    for k, sid in enumerate(ids):
        for j, o in enumerate(outs):
            a = axs[(k // ncol) * len(outs) + j, k % ncol]
            d = pr[(pr["ID"] == sid) & (pr["output"] == o)]
            c = curves[curves["ID"] == sid]
            a.plot(c["time"], c[o], lw=1.4)
            ob, ce = d[d["cens"] == 0], d[d["cens"] == 1]
            a.plot(ob["time"], ob["dv"], "o", ms=3.5, color="C1")
            if len(ce):
                a.plot(ce["time"], ce["dv"], "v", ms=4, mfc="none", color="C3")
            a.set_title(f"ID {sid}: {o}", fontsize=9)
            if logy:
                a.set_yscale("log")
            a.grid(alpha=0.3)
    for a in axs.flat[len(ids) * len(outs):]:
        a.set_visible(False)
    fig.tight_layout()
    return fig


def plot_population(res: Any, outputs: Sequence[str] | None = None, *, logy: bool = False,
                    individuals: int = 0, ax: Any = None) -> Any:
    """Median and percentile band of a :class:`~pkpd.population.PopulationSimulation`.

    Parameters
    ----------
    res : PopulationSimulation
    outputs : sequence of str, optional
        Outputs or states; one panel each (default: every output).
    logy : bool
        Logarithmic y axis.
    individuals : int
        Also draw this many individual curves (thin lines, first subjects).
    ax : matplotlib Axes, optional
        Draw a single output into this axes.

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = list(outputs or res.model.output_names)
    qs = res.percentiles
    lo, hi = f"p{qs[0]:g}", f"p{qs[-1]:g}"
    mid = "p50" if 50.0 in qs else None
    bands = res.bands(names)
    units = {o.name: o.unit for o in res.model.outputs} | {s.name: s.unit for s in res.model.states}
    fig, axes = _panels(len(names), ax, sharex=True)
    counts = res.offsets
    for a, name in zip(axes, names, strict=True):
        b = bands[bands["output"] == name]
        col = res._column(name)
        for k in range(min(individuals, res.n_subjects)):
            rows = slice(counts[k], counts[k + 1])
            a.plot(res.times[rows], col[rows], color="0.6", lw=0.5, alpha=0.6)
        a.fill_between(b["time"], b[lo], b[hi], alpha=0.3, color="C0",
                       label=f"{qs[0]:g}-{qs[-1]:g}th percentile")
        if mid:
            a.plot(b["time"], b[mid], color="C0", lw=1.5, label="median")
        a.set_ylabel(f"{name}" + (f" [{units[name]}]" if units.get(name) else ""))
        if logy:
            a.set_yscale("log")
        a.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize="small")
    axes[-1].set_xlabel(f"time [{res.model.time_unit}]" if res.model.time_unit else "time")
    axes[0].set_title(f"{res.model.name}: {res.n_subjects} subjects")
    fig.tight_layout()
    return fig


def plot_sensitivity_heatmap(ls: Any, output: str | None = None, *,
                             normalized: bool | None = None, ax: Any = None) -> Any:
    """Heatmap of a :class:`~pkpd.sensitivity.LocalSensitivity` over time.

    Rows are parameters, columns times; colour is the (normalised) sensitivity
    of ``output`` (default: the first quantity), on a symmetric scale.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import numpy as np

    plt = _plt()
    output = output or ls.names[0]
    norm = ls.normalized if normalized is None else normalized
    data = ls.sensitivity(output, normalized=norm).to_numpy().T
    fig, ax = (plt.subplots(figsize=(8, 0.4 * len(ls.wrt) + 1.5)) if ax is None
               else (ax.figure, ax))
    lim = float(np.nanmax(np.abs(data))) if np.isfinite(data).any() else 1.0
    t = ls.times
    mesh = ax.pcolormesh(np.concatenate(([t[0]], 0.5 * (t[1:] + t[:-1]), [t[-1]])),
                         np.arange(len(ls.wrt) + 1), np.ma.masked_invalid(data), cmap="RdBu_r",
                         vmin=-lim, vmax=lim, shading="flat")
    ax.set_yticks(np.arange(len(ls.wrt)) + 0.5, list(ls.wrt))
    ax.set_xlabel(f"time [{ls.model.time_unit}]" if ls.model.time_unit else "time")
    label = f"d log {output} / d log p" if norm else f"d {output} / d p"
    fig.colorbar(mesh, ax=ax, label=label)
    ax.set_title(f"{ls.model.name}: sensitivity of {output}")
    fig.tight_layout()
    return fig


def plot_tornado(ls: Any, by: str | None = None, *, normalized: bool | None = None,
                 ax: Any = None) -> Any:
    """Tornado chart of parameter influence on an endpoint or output.

    Bars are the signed (normalised) sensitivities from
    :meth:`~pkpd.sensitivity.LocalSensitivity.ranking`, largest on top.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    r = ls.ranking(by, normalized=normalized).iloc[::-1]
    fig, ax = (plt.subplots(figsize=(6, 0.35 * len(r) + 1.5)) if ax is None else (ax.figure, ax))
    colors = ["C3" if v < 0 else "C0" for v in r["signed"]]
    ax.barh(r["param"], r["signed"], color=colors)
    ax.axvline(0, color="k", lw=0.8)
    norm = ls.normalized if normalized is None else normalized
    name = by or (ls.endpoint_names[0] if ls.endpoint_names else ls.names[0])
    ax.set_xlabel(("normalised sensitivity (d log y / d log p)" if norm else "sensitivity dy/dp")
                  + ("" if name in ls.endpoint_names else ", largest over time"))
    ax.set_title(name)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_global_sensitivity(res: Any, kind: str = "bar", qoi: str | None = None, *,
                            ax: Any = None) -> Any:
    """Indices of a :class:`~pkpd.sensitivity.GlobalSensitivity`.

    ``kind="bar"``: first-order and total indices (Morris: ``mu_star`` and
    ``sigma``) of one quantity with confidence intervals. ``kind="time"``:
    total (Morris: ``mu_star``) indices of every parameter across the
    quantities, against time when the quantities are an output at times.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import numpy as np

    plt = _plt()
    df = res.indices
    first, second = ("mu_star", "sigma") if res.method == "morris" else ("S1", "ST")
    fig, ax = plt.subplots(figsize=(7, 4)) if ax is None else (ax.figure, ax)
    if kind == "bar":
        q = qoi or res.qois[0]
        g = df[df["qoi"] == q]
        x = np.arange(len(g))
        err1 = g.get(f"{first}_conf")
        err2 = g.get(f"{second}_conf")
        ax.bar(x - 0.2, g[first], 0.4, yerr=None if err1 is None else err1, label=first, capsize=3)
        ax.bar(x + 0.2, g[second], 0.4, yerr=None if err2 is None else err2, label=second,
               capsize=3)
        ax.set_xticks(x, list(g["param"]))
        ax.set_title(f"{res.method}: {q}")
    elif kind == "time":
        xs = res.qoi_times if res.qoi_times is not None else np.arange(len(res.qois))
        for p in res.params:
            g = df[df["param"] == p]
            ax.plot(xs, g[second if res.method != "morris" else first], marker=".", label=p)
        if res.qoi_times is None:
            ax.set_xticks(xs, list(res.qois), rotation=30, ha="right")
        else:
            ax.set_xlabel("time")
        ax.set_ylabel(second if res.method != "morris" else first)
        ax.set_title(f"{res.method} indices over quantities")
    else:
        raise ValueError(f"kind must be 'bar' or 'time', got {kind!r}")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_dose_response(result: Any, kind: str = "endpoint", endpoint: str | None = None, *,
                       x: str = "dose", output: str | None = None, fit: Any = None,
                       logx: bool = False, logy: bool = False, ax: Any = None) -> Any:
    """Plot a :class:`~pkpd.dose_response.DoseResponse` (its :meth:`plot` calls this).

    Parameters
    ----------
    result : DoseResponse
    kind : {"endpoint", "timecourse", "target"}
        ``"endpoint"``: median and percentile band of each endpoint (or
        ``endpoint``) against ``x`` (regimen names when ``x`` is not
        known), with the curve of ``fit`` (a :class:`~pkpd.curves.CurveFit`)
        if given. ``"timecourse"``: median and band of ``output`` (default:
        the first output) against time, one colour per regimen. ``"target"``:
        probability of target attainment per regimen with its interval, one
        panel per endpoint with a target (or ``endpoint``).
    endpoint : str, optional
        One endpoint instead of all.
    x : str
        A column of ``result.design`` (``"dose"``, ``"interval"`` or a
        :func:`~pkpd.dose_response.dose_grid` placeholder).
    output : str, optional
        Output or state of ``"timecourse"``.
    fit : CurveFit, optional
        Curve drawn over ``"endpoint"`` panels.
    logx, logy : bool
        Logarithmic axes (``logx`` for ``"endpoint"`` only).
    ax : matplotlib Axes, optional
        Draw a single panel into this axes.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        An unknown ``kind``, endpoint or output, or ``"target"`` without targets.
    """
    if kind == "endpoint":
        return _dose_response_endpoint(result, endpoint, x, fit, logx, logy, ax)
    if kind == "timecourse":
        return _dose_response_timecourse(result, output, logy, ax)
    if kind == "target":
        return _dose_response_target(result, endpoint, ax)
    raise ValueError(f"kind must be 'endpoint', 'timecourse' or 'target', got {kind!r}")


def _dose_response_endpoint(dr: Any, endpoint: str | None, x: str, fit: Any, logx: bool,
                            logy: bool, ax: Any) -> Any:
    import numpy as np

    names = [endpoint] if endpoint is not None else list(dr.endpoints)
    for e in names:
        dr._check_endpoint(e)
    tab = dr.to_frame()
    lo, hi = f"p{dr.percentiles[0]:g}", f"p{dr.percentiles[-1]:g}"
    fig, axes = _panels(len(names), ax, height=3.2)
    numeric = x in dr.design.columns and np.isfinite(
        dr.design[x].to_numpy(dtype=float, na_value=np.nan)).all()
    for a, e in zip(axes, names, strict=True):
        g = tab[tab["endpoint"] == e]
        if numeric:
            xs = g["regimen"].map(dr.design.set_index("regimen")[x]).to_numpy(dtype=float)
            order = np.argsort(xs, kind="stable")
            g, xs = g.iloc[order], xs[order]
            a.fill_between(xs, g[lo], g[hi], alpha=0.25, label=f"{lo}-{hi}")
            a.plot(xs, g["median"], "o-", lw=1.5, label="median")
            if fit is not None:
                grid = (np.geomspace(max(xs[xs > 0].min(), 1e-12), xs.max(), 200) if logx
                        else np.linspace(xs.min(), xs.max(), 200))
                a.plot(grid, fit.predict(grid), "k--", lw=1.2,
                       label=f"{fit.model}: ED50 {fit.ed50:.4g}")
            unit = dr.design["dose_unit"].iloc[0] if x == "dose" else (
                dr.model.time_unit if x == "interval" else "")
            a.set_xlabel(f"{x}" + (f" [{unit}]" if unit else ""))
            if logx:
                a.set_xscale("log")
        else:
            pos = np.arange(len(g))
            a.errorbar(pos, g["median"], yerr=[g["median"] - g[lo], g[hi] - g["median"]],
                       fmt="o", capsize=4, label=f"median, {lo}-{hi}")
            a.set_xticks(pos, g["regimen"], rotation=20, ha="right", fontsize=8)
        if e in dr.targets:
            a.axhline(dr.targets[e][1], color="C3", ls=":", lw=1,
                      label=f"target {dr.targets[e][0]} {dr.targets[e][1]:g}")
        unit = dr.endpoint_units[e]
        a.set_ylabel(e + (f" [{unit}]" if unit else ""))
        if logy:
            a.set_yscale("log")
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    axes[0].set_title(f"{dr.model.name}: {dr.n_subjects} subjects")
    fig.tight_layout()
    return fig


def _dose_response_timecourse(dr: Any, output: str | None, logy: bool, ax: Any) -> Any:
    from .errors import closest

    m = dr.model
    output = output or (m.output_names[0] if m.output_names else m.state_names[0])
    first = next(iter(dr.time_courses.values()))
    if output not in set(first["output"]):
        known = list(dict.fromkeys(first["output"]))
        raise ValueError(f"no output {output!r}{closest(output, known)}; outputs are: "
                         + ", ".join(known))
    fig, (a,) = _panels(1, ax, height=3.2)
    lo, hi = f"p{dr.percentiles[0]:g}", f"p{dr.percentiles[-1]:g}"
    mid = "p50" if "p50" in first.columns else None
    for k, (name, b) in enumerate(dr.time_courses.items()):
        b = b[b["output"] == output]
        colour = f"C{k % 10}"
        a.fill_between(b["time"], b[lo], b[hi], color=colour, alpha=0.2)
        a.plot(b["time"], b[mid] if mid else (b[lo] + b[hi]) / 2, color=colour, lw=1.5,
               label=name)
    units = {o.name: o.unit for o in m.outputs} | {s.name: s.unit for s in m.states}
    a.set_ylabel(output + (f" [{units[output]}]" if units.get(output) else ""))
    a.set_xlabel(f"time [{m.time_unit}]" if m.time_unit else "time")
    if logy:
        a.set_yscale("log")
    a.set_title(f"{m.name}: median and {lo}-{hi} of {dr.n_subjects} subjects")
    a.grid(alpha=0.3)
    a.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _dose_response_target(dr: Any, endpoint: str | None, ax: Any) -> Any:
    import numpy as np

    names = [endpoint] if endpoint is not None else [e for e in dr.endpoints if e in dr.targets]
    if not names:
        raise ValueError("no endpoint has a target; give targets= to dose_response")
    for e in names:
        dr._check_endpoint(e)
        if e not in dr.targets:
            raise ValueError(f"endpoint '{e}' has no target")
    tab = dr.to_frame()
    fig, axes = _panels(len(names), ax, height=3.2)
    for a, e in zip(axes, names, strict=True):
        g = tab[tab["endpoint"] == e]
        pos = np.arange(len(g))
        p = g["pta"].to_numpy(dtype=float)
        a.bar(pos, p, color="C0", alpha=0.7)
        a.errorbar(pos, p, yerr=[np.clip(p - g["pta_lower"].to_numpy(dtype=float), 0, None),
                                 np.clip(g["pta_upper"].to_numpy(dtype=float) - p, 0, None)],
                   fmt="none", ecolor="k", capsize=4)
        a.set_xticks(pos, g["regimen"], rotation=20, ha="right", fontsize=8)
        a.set_ylim(0, 1.05)
        op, thr = dr.targets[e]
        a.set_ylabel(f"P({e} {op} {thr:g})")
        a.grid(alpha=0.3, axis="y")
    axes[0].set_title(f"{dr.model.name}: probability of target attainment "
                      f"({100 * dr.confidence:g}% Wilson intervals)")
    fig.tight_layout()
    return fig


def plot_curve_fit(fit: Any, *, logx: bool | None = None, ax: Any = None, xlabel: str = "x",
                   ylabel: str = "response") -> Any:
    """Data and fitted curve of a :class:`~pkpd.curves.CurveFit` (its :meth:`plot` calls this).

    Parameters
    ----------
    fit : CurveFit
    logx : bool, optional
        Logarithmic x axis (default: for ``"4pl"``). Points at ``x = 0``
        are then drawn one decade below the smallest positive ``x``.
    ax : matplotlib Axes, optional
        Draw into this axes.
    xlabel, ylabel : str
        Axis labels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import numpy as np

    if ax is None:
        fig, ax = _plt().subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    logx = fit.model == "4pl" if logx is None else logx
    x = fit.x.copy()
    pos = x[x > 0]
    if logx and pos.size:
        zero_at = pos.min() / 10
        x[x <= 0] = zero_at
        grid = np.geomspace(x.min(), x.max(), 200)
        ax.set_xscale("log")
    else:
        grid = np.linspace(x.min(), x.max(), 200)
    ax.scatter(x, fit.y, s=16, alpha=0.7, label="data")
    lo, hi = fit.ed50_ci
    ax.plot(grid, fit.predict(grid), lw=1.8,
            label=f"{fit.model}: ED50 {fit.ed50:.4g} [{lo:.4g}, {hi:.4g}]")
    ax.axvline(fit.ed50, color="k", lw=0.8, ls=":")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
