"""The ``pkpd`` command: run in-process through ``main(argv)`` and checked against closed forms
computed here from values read out of the model files; two subprocess runs check the
``python -m pkpd`` and installed entry points."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pkpd import list_models
from pkpd.cli import build_parser, main, parse_duration, parse_endpoint, parse_times
from pkpd.errors import ModelError, RegimenError
from pkpd.language import load_model

ROOT = Path(__file__).resolve().parents[2]
PK_1CMT_IV = ROOT / "models" / "pk_1cmt_iv.pkpd"
RTOL, ATOL = 1e-6, 1e-9  # the simulate defaults


def file_params(path: Path) -> dict[str, float]:
    """``NAME = NUMBER [unit]`` lines of a model file's [parameters] section, read with a regex."""
    text = path.read_text()
    section = text.split("[parameters]", 1)[1].split("\n[", 1)[0]
    return {m[1]: float(m[2]) for m in re.finditer(r"^\s*(\w+)\s*=\s*([-+0-9.eE]+)\s*\[",
                                                      section, re.M)}


def assert_close(y, y_true, rtol=RTOL, atol=ATOL):
    err = np.abs(np.asarray(y) - y_true) / (atol + rtol * np.abs(y_true))
    assert err.max() < 5, f"max scaled error {err.max():.3g}"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, expected_code=2):
    assert code == expected_code
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pkpd: error: "), err
    return lines[0]


# ------------------------------------------------------------------ models / show
def test_models_lists_the_library(capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:] if line.strip()
            and not line.startswith(tuple("0123456789"))}
    files = {p.stem for p in (ROOT / "models").glob("*.pkpd")}
    assert files <= set(rows), files - set(rows)
    assert {"ocrelizumab_bcell", "pk_1cmt_iv"} <= set(rows)
    assert rows["pk_1cmt_iv"] == "h" and rows["ocrelizumab_bcell"] == "day"
    assert f"{len(list_models())} models" in out


def test_show_prints_every_parameter_state_output_and_regimen(capsys):
    code, out, _ = run(capsys, "show", "pk_1cmt_iv")
    assert code == 0
    for name, value in file_params(PK_1CMT_IV).items():
        assert re.search(rf"^\s+{name}\s+= {value:g}\s+\[", out, re.M), name
    assert "d/dt(central)" in out and "conc" in out and "Gabrielsson" in out
    code, out, _ = run(capsys, "show", str(ROOT / "models" / "ocrelizumab_bcell.pkpd"))
    assert code == 0
    for regimen in ("default", "ppms_first_course", "rms_600", "extended_interval"):
        assert f"  {regimen}: " in out
    assert "every 168 day, 5 times" in out  # rms_600 in words: 24 w = 168 d


def test_show_text_round_trips(capsys, tmp_path):
    code, out, _ = run(capsys, "show", "pk_1cmt_iv", "--text")
    assert code == 0
    path = tmp_path / "copy.pkpd"
    path.write_text(out)
    assert load_model(path) == load_model("pk_1cmt_iv")


# ------------------------------------------------------------------ simulate
def one_cmt(t, doses, CL, V):
    """Concentration of the one-compartment IV bolus model: superposed dose/V*exp(-CL/V*(t - t_d))."""
    t = np.asarray(t, dtype=float)
    c = np.zeros_like(t)
    for td, amt in doses:
        c += np.where(t >= td, amt / V * np.exp(-CL / V * (t - td)), 0.0)
    return c


def test_simulate_bolus_matches_closed_form(capsys, tmp_path):
    p = file_params(PK_1CMT_IV)
    out = tmp_path / "f.csv"
    code, _, _ = run(capsys, "simulate", "pk_1cmt_iv", "--regimen", "100 mg iv", "--until", "24h",
                     "-o", str(out))
    assert code == 0
    df = pd.read_csv(out)
    assert list(df.columns) == ["time", "central", "conc"]
    assert df["time"].iloc[0] == 0 and df["time"].iloc[-1] == 24 and len(df) > 20
    assert_close(df["conc"], one_cmt(df["time"], [(0, 100)], p["CL"], p["V"]))

    code, _, _ = run(capsys, "simulate", "pk_1cmt_iv", "--regimen", "100 mg iv", "--until", "1d",
                     "--step", "30min", "--param", "CL=5.5", "-p", "V=20", "-o", str(out))
    assert code == 0
    df = pd.read_csv(out)
    np.testing.assert_allclose(df["time"], np.arange(49) * 0.5)
    assert_close(df["conc"], one_cmt(df["time"], [(0, 100)], 5.5, 20.0))
    assert not np.allclose(df["conc"], one_cmt(df["time"], [(0, 100)], p["CL"], p["V"]))


def test_simulate_converts_units_and_uses_named_regimens(capsys, tmp_path):
    """A model in days: hours and weeks on the command line are converted; a named regimen
    of the file is used by name, and the file's default regimen without --regimen."""
    model = tmp_path / "one_cmt_day.pkpd"
    model.write_text("name: one_cmt_day\ntime: day\ndose: central\n"
                     "regimen: 50 mg iv at 0, 2 d\nregimen.weekly: 100 mg iv every 1 w x 3\n"
                     "[parameters]\nCL = 60 [L/day] (0, inf)\nV = 30 [L] (0, inf)\n"
                     "[states]\ncentral = 0 [mg]\n[equations]\nd/dt(central) = -CL/V*central\n"
                     "[outputs]\nconc = central/V [mg/L]\n")
    CL, V = 60.0, 30.0
    k = CL / V
    out = tmp_path / "inf.csv"
    # 100 mg over 12 h = 0.5 d: C = R/CL*(1 - exp(-k t)) while it runs, then decays.
    code, _, _ = run(capsys, "simulate", str(model), "--regimen", "100 mg iv over 12 h",
                     "--until", "2d", "--step", "6h", "-o", str(out))
    assert code == 0
    df = pd.read_csv(out)
    t = df["time"].to_numpy()
    np.testing.assert_allclose(t, np.arange(9) * 0.25)
    T, R = 0.5, 100 / 0.5
    c_end = R / CL * (1 - math.exp(-k * T))
    truth = np.where(t <= T, R / CL * (1 - np.exp(-k * t)), c_end * np.exp(-k * (t - T)))
    assert_close(df["conc"], truth)

    code, _, _ = run(capsys, "simulate", str(model), "--regimen", "weekly", "--times",
                     "0, 3.5, 7, 10, 14 d, 3 w", "-o", str(out))
    assert code == 0
    df = pd.read_csv(out)
    np.testing.assert_allclose(df["time"], [0, 3.5, 7, 10, 14, 21])
    assert_close(df["conc"], one_cmt(df["time"], [(0, 100), (7, 100), (14, 100)], CL, V))

    code, _, _ = run(capsys, "simulate", str(model), "--until", "4d", "--step", "1d", "-o", str(out))
    assert code == 0
    df = pd.read_csv(out)
    assert_close(df["conc"], one_cmt(df["time"], [(0, 50), (2, 50)], CL, V))


def test_simulate_table_and_csv_on_stdout(capsys):
    code, out, _ = run(capsys, "simulate", "pk_1cmt_iv", "-r", "100 mg iv", "--times", "0", "1",
                       "2", "h")
    assert code == 0
    assert "100 mg IV into central" in out and "conc" in out
    code, out, _ = run(capsys, "simulate", "pk_1cmt_iv", "-r", "100 mg iv", "--times", "0,1,2",
                       "-o", "-")
    assert code == 0
    p = file_params(PK_1CMT_IV)
    df = pd.read_csv(pd.io.common.StringIO(out))
    assert_close(df["conc"], one_cmt([0, 1, 2], [(0, 100)], p["CL"], p["V"]))


# ------------------------------------------------------------------ errors
def test_bad_regimen_is_one_line_with_position(capsys):
    code, _, err = run(capsys, "simulate", "pk_1cmt_iv", "--regimen", "100 mg iv every 6 months x 3",
                       "--until", "24h")
    line = assert_one_line_error(code, err)
    assert "position 19 ('months')" in line and "weeks" in line


@pytest.mark.parametrize("argv, needle", [
    (["simulate", "pk_1cmt_iv", "-r", "100 mg iv", "--until", "2 months"], "--until '2 months'"),
    (["simulate", "pk_1cmt_iv", "-r", "100 ug iv", "--until", "2h"], "does not convert amounts"),
    (["simulate", "pk_1cmt_iv", "--until", "2h"], "give one with --regimen"),
    (["simulate", "pk_1cmt_iv", "-r", "100 mg iv"], "--until"),
    (["simulate", "pk_1cmt_iv", "-r", "100 mg iv", "--until", "2h", "-p", "Vd=3"],
     "no parameter 'Vd'; did you mean 'V'?"),
    (["simulate", "pk_1cmt_iv", "-r", "100 mg iv", "--until", "2h", "-p", "V=abc"],
     "'abc' is not a number"),
    (["simulate", "ocrelizumab_bcell", "-r", "rms_601", "--until", "2h"], "did you mean 'regimen.rms_600'"),
    (["simulate", "pk_1cmt_iv", "-r", "100 mg iv", "--times", "0", "2", "1"], "increasing"),
    (["fit", "fits/no_such_fit.toml"], "does not exist"),
    (["show", "models/no_such_model.pkpd"], "does not exist"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, needle):
    code, _, err = run(capsys, *argv)
    assert needle in assert_one_line_error(code, err)


def test_unknown_model_suggests_the_closest_name(capsys):
    code, _, err = run(capsys, "show", "pk_1cmt_IV")
    line = assert_one_line_error(code, err)
    assert "did you mean 'pk_1cmt_iv'" in line
    code, _, err = run(capsys, "simulate", "ocrelizumab", "--until", "1d")
    assert "did you mean 'ocrelizumab_bcell'" in assert_one_line_error(code, err)


def test_debug_raises_the_original_error():
    argv = ["simulate", "pk_1cmt_iv", "--regimen", "100 mg iv every 6 months x 3", "--until", "2h"]
    with pytest.raises(RegimenError, match="months"):
        main([*argv, "--debug"])
    with pytest.raises(ModelError, match="did you mean"):
        main(["--debug", "show", "pk_1cmt_IV"])


def test_usage_errors_help_and_version(capsys):
    assert main(["simulate"]) == 2  # argparse: MODEL missing
    assert "required" in capsys.readouterr().err
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == "pkpd 0.1.0"
    commands = ["models", "show", "simulate", "fit", "sensitivity", "report"]
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(commands)
    for command in commands:
        assert main([command, "--help"]) == 0
        out = capsys.readouterr().out
        assert "examples:" in out and f"pkpd {command}" in out


# ------------------------------------------------------------------ fit
def test_fit_writes_estimates(capsys, tmp_path):
    spec = ROOT / "fits" / "theoph_pooled.toml"
    code, out, _ = run(capsys, "fit", str(spec), "-o", str(tmp_path))
    assert code == 0
    name = tomllib.loads(spec.read_text())["name"]
    est = tmp_path / f"{name}.estimates.csv"
    assert est.is_file() and (tmp_path / f"{name}.summary.txt").is_file()
    assert str(est) in out and "[[Variables]]" in out
    df = pd.read_csv(est).set_index("name")
    free = tomllib.loads(spec.read_text())["parameters"]
    for p, opts in free.items():
        v = df.loc[p, "value"]
        assert np.isfinite(v) and opts.get("lower", 0) < v < opts.get("upper", np.inf)
    assert f"CL:              {df.loc['CL', 'value']:.6g}" in out


def test_fit_reports_invalid_toml(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nmodel = [\n')
    code, _, err = run(capsys, "fit", str(bad))
    assert "invalid TOML" in assert_one_line_error(code, err)
    # a well-formed file with an unknown key is bad input too: exit status 2
    typo = tmp_path / "typo.toml"
    typo.write_text('model = "pk_1cmt_oral"\ndataset = "theoph"\nparamters = {}\n')
    code, _, err = run(capsys, "fit", str(typo))
    assert "unknown key 'paramters'" in assert_one_line_error(code, err, expected_code=2)


# ------------------------------------------------------------------ sensitivity
def test_local_sensitivity_matches_closed_form(capsys, tmp_path):
    """Cmax = dose/V and C(t) = dose/V*exp(-CL/V*t): d log Cmax/d log V = -1, d log Cmax/d log CL
    = 0, d log C(t)/d log CL = -CL/V*t, d log C(t)/d log V = CL/V*t - 1."""
    p = file_params(PK_1CMT_IV)
    out = tmp_path / "local.csv"
    code, text, _ = run(capsys, "sensitivity", "pk_1cmt_iv", "--method", "local", "--regimen",
                        "100 mg iv", "--until", "24h", "--endpoint", "cmax:conc",
                        "--endpoint", "ctrough:conc:time=12h", "-o", str(out))
    assert code == 0 and "Cmax(conc)" in text
    df = pd.read_csv(out).set_index(["endpoint", "param"])
    assert df.loc[("Cmax(conc)", "V"), "normalized"] == pytest.approx(-1, abs=1e-6)
    assert df.loc[("Cmax(conc)", "CL"), "normalized"] == pytest.approx(0, abs=1e-9)
    assert df.loc[("Cmax(conc)", "V"), "value"] == pytest.approx(100 / p["V"], rel=1e-9)
    k12 = p["CL"] / p["V"] * 12
    # the trough is read just before 12 h (1e-6 of the grid span earlier)
    assert df.loc[("Ctrough(conc, 12)", "CL"), "normalized"] == pytest.approx(-k12, rel=1e-5)
    assert df.loc[("Ctrough(conc, 12)", "V"), "normalized"] == pytest.approx(k12 - 1, rel=1e-4)

    # --param NAME=VALUE moves the point of linearisation and selects the parameter
    code, _, _ = run(capsys, "sensitivity", "pk_1cmt_iv", "-r", "100 mg iv", "--until", "24h",
                     "-e", "conc_at:conc:time=6", "-p", "CL=4", "-o", str(out))
    assert code == 0
    df = pd.read_csv(out)
    assert df["param"].tolist() == ["CL"]
    assert df["normalized"].iloc[0] == pytest.approx(-4 / p["V"] * 6, rel=1e-6)


def test_sobol_writes_indices(capsys, tmp_path):
    """Cmax = dose/V depends on V alone: S1(V) = ST(V) = 1 and ST(CL) = 0 exactly."""
    out = tmp_path / "sobol.csv"
    code, text, _ = run(capsys, "sensitivity", "pk_1cmt_iv", "--method", "sobol", "-r", "100 mg iv",
                        "--until", "24h", "--param", "CL=2:4", "--param", "V=20:40",
                        "--endpoint", "cmax:conc", "-n", "256", "--seed", "3", "-q", "-o", str(out))
    assert code == 0 and "seed 3" in text
    df = pd.read_csv(out).set_index("param")
    assert set(df["qoi"]) == {"Cmax(conc)"}
    assert df.loc["CL", "ST"] == pytest.approx(0, abs=1e-12)
    assert df.loc["V", "S1"] == pytest.approx(1, abs=0.1)
    assert df.loc["V", "ST"] == pytest.approx(1, abs=0.1)


@pytest.mark.parametrize("extra, needle", [
    (["-e", "cmx:conc"], "did you mean 'cmax'"),
    (["-e", "cmax:cnc"], "no output or state 'cnc'"),
    (["-e", "ctrough:conc"], "ctrough needs time"),
    (["-e", "cmax:conc:strat=0"], "did you mean 'start'"),
    (["-e", "time_below:conc:threshold=__import__('os')"], "is not a number"),
    (["-e", "cmax:conc:start=__import__('os')"], "unexpected character '('"),
    (["-e", "cmax"], "METRIC:OUTPUT"),
    (["--method", "sobol", "-e", "cmax:conc", "-p", "V"], "needs a range"),
    (["--method", "sobol", "-p", "V=1:2"], "needs at least one --endpoint"),
    (["--method", "local", "-e", "cmax:conc", "-p", "V=1:2"], "not a range"),
])
def test_sensitivity_bad_input(capsys, extra, needle):
    code, _, err = run(capsys, "sensitivity", "pk_1cmt_iv", "-r", "100 mg iv", "--until", "24h",
                       *extra)
    assert needle in assert_one_line_error(code, err)


def test_endpoint_and_duration_parsing():
    m = load_model("ocrelizumab_bcell")
    e = parse_endpoint("time_to_recovery:bcells:threshold=40", m, last_dose=672.0)
    t = np.array([600.0, 672.0, 700.0, 800.0])
    # threshold 40 crossed upwards halfway between 700 and 800: 50 days after the last dose
    assert float(e((t, np.array([1.0, 1.0, 30.0, 50.0])))) == pytest.approx(78.0)
    assert e.unit == "day"
    e = parse_endpoint("auc:conc:start=0,end=1w,method=linlog", m)
    assert e.name.startswith("AUC(conc, 0-7") and e.unit == "mg/L*day"
    assert parse_duration("104w", "day") == 728
    assert parse_duration("104 weeks", "day") == 728
    assert parse_duration("730d", "h") == 730 * 24
    assert parse_duration("12 h", "day") == 0.5
    assert parse_duration("90 min", "h") == 1.5
    assert parse_duration("36", "h") == 36
    for bad in ("2 months", "1 y", "3 m", "w", "1 w 2", "-1 d"):
        with pytest.raises(RegimenError):
            parse_duration(bad, "day")
    np.testing.assert_array_equal(parse_times("0 1 2 w 21 d 30", "day"), [0, 7, 14, 21, 30])


def test_cli_uses_the_public_notation_and_the_one_endpoint_whitelist():
    import pkpd.endpoints_spec as es
    import pkpd.notation as notation
    import pkpd.report as report
    from pkpd.cli import ENDPOINTS

    assert parse_duration is notation.parse_duration and parse_times is notation.parse_times
    assert ENDPOINTS is es.ENDPOINTS and report.ENDPOINT_METRICS is es.ENDPOINTS


def test_parse_endpoint_spec_converts_values_and_fills_units():
    from pkpd.endpoints_spec import parse_endpoint_spec

    m = load_model("ocrelizumab_bcell")  # time unit: day; bcells in cells/uL
    s = parse_endpoint_spec("ctrough:bcells:time=24w", m)
    assert s.metric == "ctrough" and s.keywords == {"time": 168.0, "unit": "cells/uL"}
    t = np.array([0.0, 167.0, 168.0, 200.0])
    assert float(s.endpoint((t, np.array([1.0, 2.0, 3.0, 4.0])))) == 2.0  # value before day 168
    s = parse_endpoint_spec("time_below:bcells:threshold=10,start=36 h,end=3 w,unit=10^6/L", m)
    assert s.keywords == {"threshold": 10.0, "start": 1.5, "end": 21.0, "unit": "10^6/L",
                          "time_unit": "day"}
    s = parse_endpoint_spec("CMAX:bcells", m)  # metric names are case-insensitive
    assert s.metric == "cmax" and s.endpoint.name == "Cmax(bcells)"
    # a given 'after' wins over last_dose
    s = parse_endpoint_spec("time_to_recovery:bcells:threshold=40,after=1w", m, last_dose=672)
    assert s.keywords["after"] == 7.0


@pytest.mark.parametrize(("text", "error", "needle"), [
    ("cmx:conc", "SpecError", "metric must be one of auc, cmax"),
    ("cmax:cnc", "ModelError", "no output or state 'cnc'; outputs and states are: conc, central; "
                               "did you mean 'conc'?"),
    ("cmax:conc:strat=0", "SpecError", "cmax has no keyword 'strat'; its keywords are: start, "
                                       "end, unit; did you mean 'start'?"),
    ("time_to_recovery:conc:threshold=1", "SpecError", "time_to_recovery needs after"),
    ("cmax:conc:start=0,start=1", "SpecError", "'start' is given twice"),
    ("cmax:conc:start", "SpecError", "expected KEY=VALUE after the output"),
    ("cmax:conc:start=3 months", "SpecError", "months differ in length"),
    ("time_below:conc:threshold=inf", "SpecError", "is not a finite number"),
    ("auc:conc:start=2,end=1", "SpecError", "start must be before end"),
])
def test_parse_endpoint_spec_errors(text, error, needle):
    import pkpd.errors
    from pkpd.endpoints_spec import parse_endpoint_spec

    with pytest.raises(getattr(pkpd.errors, error)) as info:
        parse_endpoint_spec(text, load_model("pk_1cmt_iv"))
    msg = str(info.value)
    assert msg.startswith(f"endpoint {text!r}: ") and needle in msg, msg
    assert isinstance(info.value, ValueError)


# ------------------------------------------------------------------ report
def test_report_passes_spec_and_output(capsys, tmp_path, monkeypatch):
    import pkpd.report as report
    calls = []

    def fake(path, out=None):
        calls.append((path, out))
        return Path(out)

    monkeypatch.setattr(report, "run_report", fake)
    code, text, _ = run(capsys, "report", "spec.toml", "-o", str(tmp_path / "r.html"))
    assert code == 0 and calls == [("spec.toml", str(tmp_path / "r.html"))]
    assert str(tmp_path / "r.html") in text


# ------------------------------------------------------------------ entry points
def test_python_m_pkpd_help():
    res = subprocess.run([sys.executable, "-m", "pkpd", "--help"], capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    for command in ("models", "show", "simulate", "fit", "sensitivity", "report"):
        assert command in res.stdout


def test_installed_entry_point_lists_models():
    exe = Path(sys.executable).with_name("pkpd")
    if not exe.exists():
        pytest.skip(f"no installed 'pkpd' script next to {sys.executable}")
    res = subprocess.run([str(exe), "models"], capture_output=True, text=True, timeout=120,
                         check=False)
    assert res.returncode == 0, res.stderr
    assert "ocrelizumab_bcell" in res.stdout and "pk_1cmt_iv" in res.stdout
    res = subprocess.run([str(exe), "show", "no_such_model"], capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.returncode == 2 and res.stderr.startswith("pkpd: error: ")
    assert "Traceback" not in res.stderr


def test_sensitivity_trough_after_until_is_a_usage_error(capsys):
    code = main(["sensitivity", "pk_1cmt_iv", "-r", "100 mg iv every 12 h x 3", "--until", "48h",
                 "-e", "ctrough:conc:time=60h"])
    err = capsys.readouterr().err
    assert code == 2 and "after the end of the simulated times (48, --until)" in err


def test_sensitivity_n_must_be_positive(capsys):
    code = main(["sensitivity", "pk_1cmt_iv", "-r", "100 mg iv", "--until", "24h",
                 "--method", "sobol", "-p", "CL=1:5", "-e", "cmax:conc", "-n", "0"])
    assert code == 2 and "-n must be a positive number of samples, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--until", "24h", "--step", "-1h"], ["--until", "-5h"]])
def test_negative_durations_are_named(argv, capsys):
    code = main(["simulate", "pk_1cmt_iv", "-r", "100 mg iv", *argv])
    err = capsys.readouterr().err
    assert code == 2 and "must be positive" in err and "expected one argument" not in err
