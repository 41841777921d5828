"""Figures. matplotlib is imported here and nowhere else in pkpd.

Every function returns the matplotlib ``Figure`` so callers can save or
adjust it; nothing is shown or written by this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["plot_simulation"]


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
