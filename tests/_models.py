"""Small models built in Python, independent of the text parser."""

from __future__ import annotations

import sympy as sp

from pkpd import Infusion, Model, Output, Param, State


def onecmt_oral() -> Model:
    ka, CL, V, F, tlag, depot, central = sp.symbols("ka CL V Fbio tlag depot central")
    return Model(
        name="onecmt_oral",
        params=[Param("ka", 1.2, "1/h", 0, 100), Param("CL", 2.5, "L/h", 0),
                Param("V", 30.0, "L", 0), Param("Fbio", 1.0, "", 0, 1),
                Param("tlag", 0.0, "h", 0)],
        states=[State("depot", 0, "mg"), State("central", 0, "mg")],
        odes={"depot": -ka * depot, "central": ka * depot - CL / V * central},
        outputs=[Output("conc", central / V, "mg/L")],
        bioavailability={"depot": F},
        lag={"depot": tlag},
        dose_target="depot",
        time_unit="h",
    )


def onecmt_iv() -> Model:
    CL, V, central = sp.symbols("CL V central")
    return Model(
        name="onecmt_iv",
        params=[Param("CL", 2.5, "L/h", 0), Param("V", 30.0, "L", 0)],
        states=[State("central", 0, "mg")],
        odes={"central": -CL / V * central},
        outputs=[Output("conc", central / V, "mg/L")],
        dose_target="central",
        time_unit="h",
    )


def w1_model() -> Model:
    """Workload W1 of shared/bench/WORKLOADS.md."""
    A1, A2, B, CL, V1, Q, V2, B0, kout, kmax, EC50, C = sp.symbols(
        "A1 A2 B CL V1 Q V2 B0 kout kmax EC50 C")
    return Model(
        name="w1",
        params=[Param("CL", 0.17, "L/day", 0), Param("V1", 2.78, "L", 0),
                Param("Q", 0.3, "L/day", 0), Param("V2", 2.7, "L", 0),
                Param("B0", 200.0, "cells/uL", 0), Param("kout", 0.05, "1/day", 0),
                Param("kmax", 2.0, "1/day", 0), Param("EC50", 0.5, "mg/L", 0)],
        states=[State("A1", 0, "mg"), State("A2", 0, "mg"), State("B", B0, "cells/uL")],
        assignments={"C": A1 / V1},
        odes={"A1": -CL * C - Q * (C - A2 / V2), "A2": Q * (C - A2 / V2),
              "B": kout * B0 - kout * B - kmax * C / (EC50 + C) * B},
        outputs=[Output("conc", C, "mg/L"), Output("bcells", B, "cells/uL")],
        dose_target="A1",
        time_unit="day",
    )


def w1_regimen():
    return (Infusion(0, 300, "A1", duration=2.5 / 24) + Infusion(14, 300, "A1", duration=2.5 / 24)
            + Infusion(168, 600, "A1", duration=3.5 / 24, interval=168, count=4))
