"""NONMEM-convention event datasets: reading, validation, writing, shipped examples."""

from __future__ import annotations

import filecmp
import runpy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sympy as sp

from pkpd import (
    Bolus,
    DataError,
    Dataset,
    Infusion,
    Model,
    Output,
    Param,
    Regimen,
    Reset,
    State,
    Subject,
    datasets,
    read_nonmem,
    write_nonmem,
)

REPO = Path(__file__).parents[2]
SHARED = REPO.parent / "shared" / "data"
SCRIPT = REPO / "pkpd" / "data" / "_make_real.py"


def _model(outputs: tuple[str, ...] = ("conc",)) -> Model:
    ka, CL, V, kin, kout, depot, central, resp = sp.symbols("ka CL V kin kout depot central resp")
    exprs = {"conc": central / V, "effect": resp}
    return Model(
        name="oral_turnover",
        params=[Param("ka", 1.0), Param("CL", 2.0), Param("V", 10.0), Param("kin", 1.0),
                Param("kout", 0.1)],
        states=[State("depot"), State("central"), State("resp", kin / kout)],
        odes={"depot": -ka * depot, "central": ka * depot - CL / V * central,
              "resp": kin - kout * resp},
        outputs=[Output(name, exprs[name]) for name in outputs],
        dose_target="depot",
    )


def _frame(**overrides: list) -> pd.DataFrame:
    """Two subjects: a dose then three observations each."""
    base = {
        "ID": [1, 1, 1, 1, 2, 2, 2, 2],
        "TIME": [0.0, 1.0, 2.0, 4.0, 0.0, 1.0, 2.0, 4.0],
        "AMT": [100.0, 0, 0, 0, 50.0, 0, 0, 0],
        "EVID": [1, 0, 0, 0, 1, 0, 0, 0],
        "DV": [np.nan, 5.0, 4.0, 3.0, np.nan, 2.5, 2.0, 1.5],
        "DVID": [np.nan, "conc", "conc", "conc", np.nan, "conc", "conc", "conc"],
        "CMT": ["depot", np.nan, np.nan, np.nan, "depot", np.nan, np.nan, np.nan],
    }
    base.update(overrides)
    return pd.DataFrame({k: v for k, v in base.items() if v is not None})


def _error(frame: pd.DataFrame, match: str, **kw) -> None:
    with pytest.raises(DataError, match=match):
        read_nonmem(frame, **kw)


# ----------------------------------------------------------------------------- reading
def test_basic_read():
    ds = read_nonmem(_frame())
    assert len(ds) == 2 and ds.ids == (1, 2)
    assert ds.outputs == ("conc",)
    assert ds.subject(1).regimen == Regimen((Bolus(0.0, 100.0, "depot"),))
    obs = ds.subject(2).observations
    assert list(obs.columns) == ["time", "output", "dv", "cens", "lloq", "row"]
    assert obs["time"].tolist() == [1.0, 2.0, 4.0]
    assert obs["dv"].tolist() == [2.5, 2.0, 1.5]
    assert obs["row"].tolist() == [6, 7, 8]
    assert obs["cens"].tolist() == [0, 0, 0] and obs["lloq"].isna().all()
    long = ds.observations()
    assert long.columns[0] == "ID" and len(long) == 6
    assert repr(ds) == "<Dataset: 2 subjects, 6 observations, 2 doses, outputs: conc>"
    assert [s.id for s in ds] == [1, 2]


def test_read_csv_file_with_dots(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("id,time,amt,dv,cmt\n1,0,100,.,depot\n1,1,.,5.0,.\n")
    ds = read_nonmem(path, model=_model())
    assert ds.subject(1).regimen.doses[0].target == "depot"
    assert ds.subject(1).observations["dv"].tolist() == [5.0]
    path.write_text("ID,TIME,AMT,DV\n1,0,100,.\n1,2,0,5.0\n1,1,0,4.0\n")
    with pytest.raises(DataError, match=r"^row 3 \(ID 1\): TIME 1.0 is earlier"):
        read_nonmem(path)


def test_columns_case_insensitive_and_subject_lookup():
    f = _frame().rename(columns={"TIME": "Time", "AMT": "amt"})
    ds = read_nonmem(f)
    assert ds.subject("1") is ds.subject(1)
    with pytest.raises(DataError, match="no subject with ID 7; IDs are: 1, 2"):
        ds.subject(7)


def test_evid_codes():
    f = pd.DataFrame({
        "ID": [1] * 6, "TIME": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
        "AMT": [100.0, 0, 0, 0, 80.0, 0], "EVID": [1, 0, 2, 3, 4, 0],
        "DV": [np.nan, 5.0, 9.9, np.nan, np.nan, 3.0], "CMT": ["central"] * 6})
    ds = read_nonmem(f, _model())
    s = ds.subject(1)
    assert s.regimen.doses == (Bolus(0.0, 100.0, "central"), Reset(3.0), Reset(4.0),
                               Bolus(4.0, 80.0, "central"))
    assert s.observations["time"].tolist() == [1.0, 5.0]  # EVID 2 is not an observation


def test_evid_derived_from_amt_and_mdv():
    f = _frame(EVID=None, MDV=[1, 0, 1, 0, 1, 0, 0, 0])
    ds = read_nonmem(f)
    assert ds.subject(1).observations["time"].tolist() == [1.0, 4.0]
    assert ds.n_doses == 2


def test_mdv_one_on_evid_zero_row_is_not_an_observation():
    ds = read_nonmem(_frame(MDV=[1, 0, 1, 0, 1, 0, 0, 0]))
    assert ds.subject(1).observations["time"].tolist() == [1.0, 4.0]


def test_rate_infusion_vs_bolus():
    ds = read_nonmem(_frame(RATE=[50.0, 0, 0, 0, 0, 0, 0, 0]), _model())
    inf = ds.subject(1).regimen.doses[0]
    assert isinstance(inf, Infusion) and inf.rate == 50.0 and inf.duration == 2.0
    assert isinstance(ds.subject(2).regimen.doses[0], Bolus)


def test_ii_addl_expansion_and_ss():
    f = _frame(II=[12.0, 0, 0, 0, 24.0, 0, 0, 0], ADDL=[3, 0, 0, 0, 0, 0, 0, 0],
               SS=[0, 0, 0, 0, 1, 0, 0, 0])
    ds = read_nonmem(f)
    d1 = ds.subject(1).regimen.doses[0]
    assert (d1.interval, d1.count, d1.ss) == (12.0, 4, False)
    np.testing.assert_array_equal(d1.times(), [0.0, 12.0, 24.0, 36.0])
    d2 = ds.subject(2).regimen.doses[0]
    assert (d2.interval, d2.count, d2.ss) == (24.0, 1, True)


def test_cmt_by_number_and_name_and_default():
    m = _model()
    ds = read_nonmem(_frame(CMT=[2, np.nan, np.nan, np.nan, "depot", np.nan, np.nan, np.nan]), m)
    assert ds.subject(1).regimen.doses[0].target == "central"
    assert ds.subject(2).regimen.doses[0].target == "depot"
    ds = read_nonmem(_frame(CMT=None), m)
    assert ds.subject(1).regimen.doses[0].target == "depot"  # model's dose target
    ds = read_nonmem(_frame(CMT=None))
    assert ds.subject(1).regimen.doses[0].target is None  # no model: resolved later


def test_dvid_mapping():
    m = _model(("conc", "effect"))
    f = _frame(DVID=[np.nan, 1, 2, 1, np.nan, 2, 2, 1])
    ds = read_nonmem(f, m)
    assert ds.subject(1).observations["output"].tolist() == ["conc", "effect", "conc"]
    assert ds.outputs == ("conc", "effect")
    ds = read_nonmem(f, outputs={1: "cp", 2: "pca"})
    assert ds.subject(2).observations["output"].tolist() == ["pca", "pca", "cp"]
    f = _frame(DVID=[np.nan, "cp", "pca", "cp", np.nan, "cp", "cp", "cp"])
    ds = read_nonmem(f, outputs={"cp": "conc"})
    assert ds.outputs == ("conc", "pca")


def test_output_from_cmt_mapping_and_single_output_model():
    f = _frame(DVID=None, CMT=["depot", 2, 3, 2, "depot", 2, 2, 2])
    ds = read_nonmem(f, _model(("conc", "effect")), outputs={2: "conc", 3: "effect"})
    assert ds.subject(1).observations["output"].tolist() == ["conc", "effect", "conc"]
    ds = read_nonmem(_frame(DVID=None), _model())
    assert ds.outputs == ("conc",)


def test_censoring_column():
    f = _frame(CENS=[0, 0, 1, 1, 0, 0, 0, 0], DV=[np.nan, 5.0, 0.1, 0.1, np.nan, 2.5, 2.0, 1.5])
    obs = read_nonmem(f).subject(1).observations
    assert obs["cens"].tolist() == [0, 1, 1]
    assert np.isnan(obs["lloq"].iloc[0]) and obs["lloq"].tolist()[1:] == [0.1, 0.1]
    f = _frame(BLQ=[0, 0, 1, 0, 0, 0, 0, 0], LLOQ=[np.nan, 0.2, 0.2, 0.2, np.nan, 0.2, 0.2, 0.2],
               DV=[np.nan, 5.0, np.nan, 3.0, np.nan, 2.5, 2.0, 1.5])
    obs = read_nonmem(f).subject(1).observations
    assert obs["cens"].tolist() == [0, 1, 0] and obs["dv"].tolist() == [5.0, 0.2, 3.0]
    assert obs["lloq"].tolist() == [0.2, 0.2, 0.2]


def test_boolean_censoring_column():
    f = _frame(BLQ=[False, False, True, False, False, False, False, False])
    assert read_nonmem(f).subject(1).observations["cens"].tolist() == [0, 1, 0]


def test_excl_rows_are_listed_not_silently_dropped():
    ds = read_nonmem(_frame(EXCL=[0, 1, 0, 0, 0, 0, 0, 0]))
    assert ds.excluded_rows == (2,)
    assert ds.n_observations == 5
    assert "1 rows excluded by EXCL" in repr(ds)


def test_covariates_default_requested_and_text():
    f = _frame(WT=[70.0] * 4 + [80.0] * 4, SEX=["m"] * 4 + ["f"] * 4)
    ds = read_nonmem(f)
    assert ds.covariate_names == ("WT",)  # text column ignored unless requested
    assert ds.subject(2).covariates == {"WT": 80.0}
    assert ds.subject(2).covariate_table is None
    assert read_nonmem(f, covariates=["wt"]).covariate_names == ("WT",)
    _error(f, r"row 1 \(ID 1\): SEX has the non-numeric value 'm'", covariates=["SEX"])
    _error(f, "covariate column 'WTT' is not in the data; did you mean 'WT'", covariates=["WTT"])
    _error(f, "AMT is a standard NONMEM column", covariates=["AMT"])
    _error(_frame(WT=[70.0, 70.0, np.nan, 70.0] + [80.0] * 4),
           r"row 3 \(ID 1\): covariate WT is missing")


def test_time_varying_covariates_and_interpolation():
    f = _frame(WT=[70.0, 70.0, 72.0, 74.0] + [80.0] * 4, CRCL=[100.0] * 8)
    ds = read_nonmem(f, time_varying={"WT": "linear"})
    s1, s2 = ds.subject(1), ds.subject(2)
    assert s1.interpolation == {"WT": "linear", "CRCL": "locf"}
    assert s1.covariates == {"CRCL": 100.0}
    assert s1.covariate_table.columns.tolist() == ["time", "WT"]
    assert s1.covariate_table["WT"].tolist() == [70.0, 70.0, 72.0, 74.0]
    assert s2.covariates == {"WT": 80.0, "CRCL": 100.0}
    np.testing.assert_allclose(s1.covariates_at([1.5, 3.0, 9.0])["WT"], [71.0, 73.0, 74.0])
    locf = read_nonmem(f).subject(1)
    np.testing.assert_allclose(locf.covariates_at([1.5, 2.0, 3.0])["WT"], [70.0, 72.0, 72.0])
    nocb = read_nonmem(f, time_varying={"WT": "nocb"}).subject(1)
    np.testing.assert_allclose(nocb.covariates_at([1.5, 2.0, 3.0])["WT"], [72.0, 72.0, 74.0])
    with pytest.raises(DataError, match="time_varying names 'WTT'.*did you mean 'WT'"):
        read_nonmem(f, time_varying={"WTT": "locf"})
    with pytest.raises(DataError, match="allowed: locf, nocb, linear"):
        read_nonmem(f, time_varying={"WT": "spline"})
    _error(_frame(TIME=[0.0, 1.0, 1.0, 4.0, 0.0, 1.0, 2.0, 4.0], WT=[70.0, 70.0, 72.0, 72.0] + [80.0] * 4),
           r"row 3 \(ID 1\): covariate WT changes from 70.0 to 72.0 at the same TIME 1.0")


# ----------------------------------------------------------------------------- validation
def test_missing_required_columns():
    with pytest.raises(DataError, match="missing required column TIME; columns present: ID, AMT"):
        read_nonmem(pd.DataFrame({"ID": [1], "AMT": [1.0]}))
    with pytest.raises(DataError, match="missing required columns ID, TIME"):
        read_nonmem(pd.DataFrame({"AMT": [1.0]}))


def test_non_numeric_value():
    _error(_frame(AMT=[100.0, 0, "ten", 0, 50.0, 0, 0, 0]),
           r"row 3 \(ID 1\): AMT has the non-numeric value 'ten'; AMT must be a number")
    _error(_frame(TIME=[0.0, 1.0, 2.0, 4.0, 0.0, "1h", 2.0, 4.0]),
           r"row 6 \(ID 2\): TIME has the non-numeric value '1h'")


def test_missing_required_numbers():
    _error(_frame(TIME=[0.0, 1.0, np.nan, 4.0, 0.0, 1.0, 2.0, 4.0]),
           r"row 3 \(ID 1\): TIME is missing")
    _error(_frame(EVID=[1, 0, np.nan, 0, 1, 0, 0, 0]), r"row 3 \(ID 1\): EVID is missing")
    _error(_frame(ID=[1, 1, None, 1, 2, 2, 2, 2]), r"row 3: ID is missing")
    _error(_frame(MDV=[1, 0, 0, 0, 1, 0, np.nan, 0]), r"row 7 \(ID 2\): MDV is missing")


def test_negative_time_and_amount():
    _error(_frame(TIME=[-1.0, 1.0, 2.0, 4.0, 0.0, 1.0, 2.0, 4.0]),
           r"row 1 \(ID 1\): TIME -1.0 is not allowed; TIME must be finite and >= 0")
    _error(_frame(AMT=[100.0, 0, 0, 0, -50.0, 0, 0, 0]),
           r"row 5 \(ID 2\): AMT -50.0 is not allowed")


def test_unsorted_times():
    _error(_frame(TIME=[0.0, 1.0, 24.0, 12.0, 0.0, 1.0, 2.0, 4.0]),
           r"row 4 \(ID 1\): TIME 12.0 is earlier than the previous row's 24.0; sort by ID, TIME")


def test_id_blocks_not_contiguous():
    _error(_frame(ID=[1, 1, 2, 2, 1, 1, 3, 3]),
           r"row 5 \(ID 1\): ID 1 appears again after other IDs \(its rows ended at row 2\)")


def test_unknown_cmt():
    m = _model()
    _error(_frame(CMT=[4, np.nan, np.nan, np.nan, "depot", np.nan, np.nan, np.nan]),
           r"row 1 \(ID 1\): CMT 4 is out of range; model 'oral_turnover' has 3 states: "
           "1=depot, 2=central, 3=resp", model=m)
    _error(_frame(CMT=["depot", np.nan, np.nan, np.nan, "centrl", np.nan, np.nan, np.nan]),
           r"row 5 \(ID 2\): CMT 'centrl' is not a state.*did you mean 'central'", model=m)
    _error(_frame(CMT=[2, np.nan, np.nan, np.nan, 1, np.nan, np.nan, np.nan]),
           r"row 1 \(ID 1\): CMT 2 is a compartment number, but no model was given")
    _error(_frame(CMT=[1.5, np.nan, np.nan, np.nan, 1, np.nan, np.nan, np.nan]),
           r"row 1 \(ID 1\): CMT 1.5 is not allowed", model=m)


def test_evid_out_of_range():
    _error(_frame(EVID=[1, 0, 5, 0, 1, 0, 0, 0]),
           r"row 3 \(ID 1\): EVID 5.0 is not allowed; EVID must be 0 \(observation\), 1 \(dose\)")


def test_dose_without_amount():
    _error(_frame(AMT=[0.0, 0, 0, 0, 50.0, 0, 0, 0]),
           r"row 1 \(ID 1\): EVID=1 with AMT 0 and no RATE: a dose needs AMT > 0")
    _error(_frame(AMT=[0.0, 0, 0, 0, 50.0, 0, 0, 0], RATE=[10.0, 0, 0, 0, 0, 0, 0, 0]),
           r"row 1 \(ID 1\): EVID=1 with AMT 0 and RATE 10.0 \(a constant infusion\) is not supported")


def test_amount_on_observation_row():
    _error(_frame(AMT=[100.0, 0, 5.0, 0, 50.0, 0, 0, 0]),
           r"row 3 \(ID 1\): AMT 5.0 on an EVID=0 row; only dose rows \(EVID 1 or 4\)")


def test_ii_addl_ss_combinations():
    zeros = [0] * 8
    _error(_frame(II=[12.0] + zeros[1:]),
           r"row 1 \(ID 1\): II 12.0 without ADDL > 0 or SS=1")
    _error(_frame(ADDL=[0, 0, 0, 0, 3, 0, 0, 0]),
           r"row 5 \(ID 2\): ADDL 3 with II 0; additional doses need the interval II > 0")
    _error(_frame(SS=[1] + zeros[1:]), r"row 1 \(ID 1\): SS=1 with II 0")
    _error(_frame(SS=[2] + zeros[1:], II=[12.0] + zeros[1:]),
           r"row 1 \(ID 1\): SS=2 .* is not supported yet")
    _error(_frame(ADDL=[1.5] + zeros[1:], II=[12.0] + zeros[1:]),
           r"row 1 \(ID 1\): ADDL 1.5 is not allowed; ADDL must be a whole number")
    _error(_frame(II=[0, 12.0] + zeros[2:]), r"row 2 \(ID 1\): II 12.0 on an EVID=0 row")


def test_rate_codes():
    zeros = [0] * 8
    _error(_frame(RATE=[-2] + zeros[1:]),
           r"row 1 \(ID 1\): RATE -2 \(duration modelled\) is not supported yet")
    _error(_frame(RATE=[-1] + zeros[1:]), r"row 1 \(ID 1\): RATE -1 \(rate modelled\)")
    _error(_frame(RATE=[-3] + zeros[1:]),
           r"row 1 \(ID 1\): RATE -3.0 is not allowed; RATE must be 0 \(bolus\), > 0")
    _error(_frame(RATE=[0, 5.0] + zeros[2:]), r"row 2 \(ID 1\): RATE 5.0 on an EVID=0 row")


def test_observation_without_dv():
    _error(_frame(DV=[np.nan, 5.0, np.nan, 3.0, np.nan, 2.5, 2.0, 1.5]),
           r"row 3 \(ID 1\): DV is missing on an observation row \(EVID 0, MDV 0\)")
    read_nonmem(_frame(DV=[np.nan, 5.0, np.nan, 3.0, np.nan, 2.5, 2.0, 1.5],
                       MDV=[1, 0, 1, 0, 1, 0, 0, 0]))
    _error(_frame(DV=None), r"row 2 \(ID 1\): the row is an observation .* no DV column")


def test_outputs_the_model_lacks_and_unmapped_outputs():
    _error(_frame(DVID=[np.nan, "conc", "cnc", "conc", np.nan, "conc", "conc", "conc"]),
           r"row 3 \(ID 1\): observation of output 'cnc', which model 'oral_turnover' does not "
           r"have; did you mean 'conc'", model=_model())
    _error(_frame(DVID=None), r"row 2 \(ID 1\): cannot tell which output .* no model was given")
    _error(_frame(DVID=None), r"row 2 \(ID 1\): cannot tell .* has 2 outputs \(conc, effect\)",
           model=_model(("conc", "effect")))
    _error(_frame(DVID=[np.nan, 1, 3, 1, np.nan, 1, 1, 1]),
           r"row 3 \(ID 1\): DVID 3 is out of range", model=_model(("conc", "effect")))
    _error(_frame(DVID=[np.nan, 1, 2, 1, np.nan, 1, 1, 1]),
           r"row 2 \(ID 1\): DVID 1 is a number; pass outputs=")
    _error(_frame(DVID=None, CMT=["depot", 2, 5, 2, "depot", 2, 2, 2]),
           r"row 3 \(ID 1\): CMT 5 of an observation row is not a key of outputs=",
           outputs={2: "conc"})


def test_censoring_codes():
    _error(_frame(CENS=[0, 0, 2, 0, 0, 0, 0, 0]),
           r"row 3 \(ID 1\): CENS 2.0 is not allowed; CENS must be 0 \(quantified\) or 1")
    _error(_frame(BLQ=[0, 0, -1, 0, 0, 0, 0, 0]),
           r"row 3 \(ID 1\): BLQ -1.0 is not allowed.*upper-limit censoring is not supported")
    _error(_frame(CENS=[1, 0, 0, 0, 0, 0, 0, 0]), r"row 1 \(ID 1\): CENS=1 on a row that is not")


def test_overlapping_infusions_are_accepted():
    # NONMEM accepts overlapping infusions into one compartment (their rates add);
    # tests/unit/test_dose_edge_cases.py checks the simulated superposition.
    f = pd.DataFrame({"ID": [3, 3], "TIME": [0.0, 1.0], "AMT": [100.0, 100.0],
                      "RATE": [10.0, 10.0], "CMT": ["central", "central"]})
    regimen = read_nonmem(f).subject(3).regimen
    assert regimen.doses == (Infusion(0.0, 100.0, "central", rate=10.0),
                             Infusion(1.0, 100.0, "central", rate=10.0))
    assert regimen.allow_overlap


# ----------------------------------------------------------------------------- writing
def test_round_trip_write_read(tmp_path):
    f = pd.DataFrame({
        "ID": [1, 1, 1, 1, 1, 1, 2, 2, 2, 2],
        "TIME": [0.0, 0.0, 2.0, 3.0, 6.0, 6.0, 0.0, 1.0, 1.0, 8.0],
        "EVID": [1, 0, 0, 2, 4, 0, 1, 0, 0, 0],
        "AMT": [100.0, 0, 0, 0, 50, 0, 80, 0, 0, 0],
        "RATE": [0, 0, 0, 0, 25.0, 0, 0, 0, 0, 0],
        "II": [12.0, 0, 0, 0, 0, 0, 24.0, 0, 0, 0],
        "ADDL": [2, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        "SS": [0, 0, 0, 0, 0, 0, 1, 0, 0, 0],
        "CMT": ["depot", None, None, None, 2, None, "central", None, None, None],
        "DV": [np.nan, 0.0, 3.1, np.nan, np.nan, 0.1, np.nan, 4.0, 40.0, 0.05],
        "DVID": [None, "conc", "conc", None, None, "conc", None, "conc", "effect", "conc"],
        "CENS": [0, 0, 0, 0, 0, 1, 0, 0, 0, 1],
        "WT": [70.0, 70.0, 71.0, 72.0, 73.0, 73.0, 60.0, 60.0, 60.0, 60.0],
        "AGE": [40.0] * 6 + [30.0] * 4,
    })
    model = _model(("conc", "effect"))
    ds = read_nonmem(f, model, time_varying={"WT": "linear"})
    path = tmp_path / "out.csv"
    frame = write_nonmem(ds, path)
    assert frame["EVID"].tolist()[:6] == [1, 0, 0, 2, 3, 1]  # dose before obs; reset then dose
    back = read_nonmem(path, model, time_varying={"WT": "linear"})
    assert back == ds
    for a, b in zip(ds, back, strict=True):
        cols = ["time", "output", "dv", "cens", "lloq"]
        pd.testing.assert_frame_equal(a.observations[cols], b.observations[cols])
        if a.covariate_table is None:
            assert b.covariate_table is None
        else:
            pd.testing.assert_frame_equal(a.covariate_table, b.covariate_table)
    assert read_nonmem(ds.to_frame(), model, time_varying={"WT": "linear"}) == ds
    numbered = write_nonmem(ds, model=model, cmt="number")
    assert numbered.loc[numbered["EVID"] == 1, "CMT"].tolist() == [1, 2, 2]


def test_write_cmt_numbers_as_whole_numbers(tmp_path):
    model = _model()
    obs = pd.DataFrame({"time": [1.0, 4.0], "output": "conc", "dv": [2.1, 1.4]})
    regimen = Bolus(0, 100, "depot") + Bolus(2, 5, "central") + Bolus(12, 100)
    path = tmp_path / "numbered.csv"
    frame = write_nonmem({1: (regimen, obs)}, path, model=model, cmt="number")
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    assert header[:7] == ["ID", "TIME", "EVID", "MDV", "AMT", "RATE", "CMT"]
    cells = [line.split(",") for line in lines[1:]]
    # doses into depot (1), central (2), the default target depot (1); observations empty
    assert [(c[2], c[6]) for c in cells] == [("1", "1"), ("0", ""), ("1", "2"), ("0", ""),
                                             ("1", "1")]
    assert frame["CMT"].dropna().tolist() == [1, 2, 1]
    assert all(type(v) is int for v in frame["CMT"].dropna().tolist())
    back = read_nonmem(path, model)
    assert [(d.time, d.target) for d in back.subject(1).regimen] == [
        (0.0, "depot"), (2.0, "central"), (12.0, "depot")]


def test_round_trip_real_dataset():
    ds = read_nonmem(datasets.load("warfarin"))
    back = read_nonmem(write_nonmem(ds))
    assert back == ds
    pd.testing.assert_frame_equal(ds.observations().drop(columns="row"),
                                  back.observations().drop(columns="row"))


def test_write_from_mapping():
    obs = pd.DataFrame({"time": [1.0, 2.0], "output": ["conc", "conc"], "dv": [1.0, 0.5]})
    reg = Bolus(0.0, 10.0, "depot") + Reset(1.5)
    frame = write_nonmem({"A": (reg, obs)})
    assert frame["EVID"].tolist() == [1, 0, 3, 0]
    assert "CENS" not in frame.columns
    ds = read_nonmem(frame)
    assert ds.subject("A").regimen == reg
    with pytest.raises(DataError, match="needs the columns time, output, dv; missing: dv"):
        write_nonmem({1: (reg, obs.drop(columns="dv"))})
    with pytest.raises(DataError, match="cmt='number' needs model="):
        write_nonmem({1: (reg, obs)}, cmt="number")


def test_dataset_values():
    s = Subject(1, Regimen(()), pd.DataFrame(columns=["time", "output", "dv", "cens", "lloq", "row"]))
    with pytest.raises(DataError, match="ID 1 occurs twice"):
        Dataset((s, replace(s)))
    with pytest.raises(DataError, match="missing: row"):
        Subject(1, Regimen(()), pd.DataFrame(columns=["time", "output", "dv", "cens", "lloq"]))


# ----------------------------------------------------------------------------- shipped data
def test_datasets_listing_and_errors():
    assert {"indometh", "pheno", "theoph", "warfarin"} <= set(datasets.list_datasets())
    with pytest.raises(DataError, match="no dataset called 'theo'; did you mean 'theoph'"):
        datasets.load("theo")
    for name in ("indometh", "pheno", "theoph", "warfarin"):
        text = datasets.describe(name)
        assert text.startswith(f"## {name}:") and "Licence" in text and "Conversions" in text


def _needs_shared() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"original data not found at {SHARED}")


def test_theoph_matches_original():
    _needs_shared()
    raw = pd.read_csv(SHARED / "theoph.csv")
    frame = datasets.load("theoph")
    obs = frame[frame["EVID"] == 0]
    assert len(obs) == 132 and obs["ID"].nunique() == 12
    np.testing.assert_array_equal(obs["DV"], raw["conc"])
    np.testing.assert_array_equal(obs["TIME"], raw["Time"])
    np.testing.assert_array_equal(obs["WT"], raw["Wt"])
    assert (obs["EXCL"] == (obs["TIME"] == 0)).all()
    doses = frame[frame["EVID"] == 1].set_index("ID")
    first = raw.groupby("Subject").first()
    np.testing.assert_allclose(doses["AMT"], first["Dose"] * first["Wt"], rtol=0, atol=5e-4)
    assert (doses["CMT"] == "depot").all() and (doses["TIME"] == 0).all()
    ds = read_nonmem(frame, _model())
    assert len(ds) == 12 and ds.n_observations == 120 and len(ds.excluded_rows) == 12
    assert ds.covariate_names == ("WT",)
    ds_all = read_nonmem(frame.drop(columns="EXCL"), outputs={"central": "conc"})
    assert ds_all.n_observations == 132


def test_warfarin_matches_original():
    _needs_shared()
    raw = pd.read_csv(SHARED / "warfarin.csv")
    frame = datasets.load("warfarin")
    assert len(frame) == len(raw) == 515
    np.testing.assert_array_equal(frame["TIME"], raw["time"])
    np.testing.assert_array_equal(frame["AMT"], raw["amt"])
    obs = raw["evid"] == 0
    np.testing.assert_array_equal(frame.loc[obs, "DV"], raw.loc[obs, "dv"])
    assert (frame.loc[obs, "DVID"] == raw.loc[obs, "dvid"]).all()
    assert (frame["SEX"] == raw["sex"].map({"female": 0, "male": 1})).all()
    ds = read_nonmem(frame)
    counts = ds.observations()["output"].value_counts()
    assert len(ds) == 32 and counts["cp"] == 251 and counts["pca"] == 232
    s9 = ds.subject(9).observations
    assert s9["time"].duplicated().sum() >= 4  # duplicate-time samples kept


def test_pheno_matches_original():
    _needs_shared()
    raw = pd.read_csv(SHARED / "pheno.csv")
    frame = datasets.load("pheno")
    assert len(frame) == len(raw) == 744
    for col in ("ID", "TIME", "AMT", "WGT", "APGR"):
        np.testing.assert_array_equal(frame[col], raw[col])
    obs = raw["AMT"] == 0
    np.testing.assert_array_equal(frame.loc[obs, "DV"], raw.loc[obs, "DV"])
    ds = read_nonmem(frame, _model())
    assert len(ds) == 59 and ds.n_observations == 155 and ds.n_doses == 589
    assert all(d.target == "central" for s in ds for d in s.regimen)


def test_indometh_matches_original():
    _needs_shared()
    raw = pd.read_csv(SHARED / "indometh.csv")
    frame = datasets.load("indometh")
    obs = frame[frame["EVID"] == 0]
    np.testing.assert_array_equal(obs["DV"], raw["conc"])
    np.testing.assert_array_equal(obs["TIME"], raw["time"])
    doses = frame[frame["EVID"] == 1]
    assert len(doses) == 6 and (doses["AMT"] == 25.0).all() and (doses["CMT"] == "central").all()


def test_conversion_script_reproduces_shipped_files(tmp_path):
    _needs_shared()
    script = runpy.run_path(str(SCRIPT), run_name="make_real")
    written = script["make_all"](SHARED, tmp_path)
    for path in written:
        shipped = REPO / "pkpd" / "data" / path.name
        assert filecmp.cmp(path, shipped, shallow=False), f"{path.name} differs from the shipped file"
