"""Figures. matplotlib is imported here and nowhere else in pkpd.

Every function returns the matplotlib ``Figure`` so callers can save or
adjust it; nothing is shown or written by this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["plot_simulation", "plot_gof", "plot_individual_fits"]


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
    plt = _plt()
    names = list(outputs or sim.model.output_names or sim.model.state_names)
    units = {o.name: o.unit for o in sim.model.outputs} | {s.name: s.unit for s in sim.model.states}
    if ax is not None:
        axes = [ax] * len(names)
        fig = ax.figure
    else:
        fig, axs = plt.subplots(len(names), 1, figsize=(7, 2.6 * len(names)), sharex=True,
                                squeeze=False)
        axes = list(axs[:, 0])
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
    plt = _plt()
    names = list(outputs or res.model.output_names)
    qs = res.percentiles
    lo, hi = f"p{qs[0]:g}", f"p{qs[-1]:g}"
    mid = "p50" if 50.0 in qs else None
    bands = res.bands(names)
    units = {o.name: o.unit for o in res.model.outputs} | {s.name: s.unit for s in res.model.states}
    if ax is not None:
        axes = [ax] * len(names)
        fig = ax.figure
    else:
        fig, axs = plt.subplots(len(names), 1, figsize=(7, 2.6 * len(names)), sharex=True,
                                squeeze=False)
        axes = list(axs[:, 0])
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
