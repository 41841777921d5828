"""The compact regimen notation: every construct against hand-built Regimens,
unit conversion, writing and reading back, model headers, and errors with
their position."""

from __future__ import annotations

import pytest

from pkpd import Bolus, Infusion, Regimen, RegimenError, Reset, parse_model
from pkpd.notation import format_regimen, model_regimens, parse_regimen, regimen_from_model


def day(text: str, **kw) -> Regimen:
    return parse_regimen(text, time_unit="day", **kw)


# ------------------------------------------------------------------ constructs
def test_label_examples_equal_hand_built_regimens():
    r = day("300 mg iv over 2.5 h at 0, 14 d; 600 mg iv over 3.5 h every 24 w x 4 from 24 w",
            default_target="central")
    expected = Regimen((
        Infusion(0, 300, "central", duration=2.5 / 24, unit="mg", route="IV"),
        Infusion(14, 300, "central", duration=2.5 / 24, unit="mg", route="IV"),
        Infusion(168, 600, "central", duration=3.5 / 24, interval=168, count=4, unit="mg",
                 route="IV"),
    ))
    assert r == expected

    r = day("20 mg sc at 0, 7, 14 d; 20 mg sc every 4 w x 12 from 4 w", targets={"sc": "depot"})
    assert r == Regimen((
        Bolus(0, 20, "depot", unit="mg", route="SC"),
        Bolus(7, 20, "depot", unit="mg", route="SC"),
        Bolus(14, 20, "depot", unit="mg", route="SC"),
        Bolus(28, 20, "depot", interval=28, count=12, unit="mg", route="SC"),
    ))

    assert parse_regimen("0.5 mg po every 1 d x 90", time_unit="h") == Regimen((
        Bolus(0, 0.5, None, interval=24, count=90, unit="mg", route="PO"),))
    assert day("600 mg iv over 3.5 h every 24 weeks x 4") == Regimen((
        Infusion(0, 600, duration=3.5 / 24, interval=168, count=4, unit="mg", route="IV"),))


def test_single_dose_without_at_is_at_time_zero_and_unit_route_optional():
    assert day("100") == Regimen((Bolus(0, 100),))
    assert day("100 mg") == Regimen((Bolus(0, 100, unit="mg"),))
    assert day("100 iv") == Regimen((Bolus(0, 100, route="IV"),))
    assert day("2e6 cells into B") == Regimen((Bolus(0, 2e6, "B", unit="cells"),))
    assert day("375 mg/m2 iv at 0 d").doses[0].unit == "mg/m2"


def test_rate_infusion_is_converted_to_amount_per_model_time_unit():
    r = day("100 mg at rate 50 mg/h into central at 2 h")
    assert r == Regimen((Infusion(2 / 24, 100, "central", rate=50 * 24, unit="mg"),))
    assert r.doses[0].duration == pytest.approx(2 / 24, rel=1e-15)


def test_counts_until_from_and_ss():
    expected = Regimen((Bolus(1, 5, interval=0.5, count=4, unit="mg"),))
    assert day("5 mg every 12 h x 4 from 1 d") == expected
    assert day("5 mg every 12 h x4 from 1 d") == expected
    assert day("5 mg every 12 h 4 times from 1 d") == expected
    assert day("5 mg every 12 h × 4 from 1 d") == expected
    # until is exclusive: doses at 1, 1.5, 2, 2.5 d, not at 3 d
    assert day("5 mg every 12 h until 3 d from 1 d") == expected
    assert day("5 mg every 12 h until 3.01 d from 1 d").doses[0].count == 5
    # clause order is free
    assert day("5 mg from 1 d x 4 every 12 h") == expected
    ss = day("5 mg iv every 12 h x 2 ss")
    assert ss == Regimen((Bolus(0, 5, interval=0.5, count=2, ss=True, unit="mg", route="IV"),))


def test_from_offsets_at_times():
    r = day("300 mg iv over 2.5 h at 0, 14 d from 24 w")
    assert [d.time for d in r] == [168.0, 182.0]


def test_separators_case_and_compact_units():
    a = day("20 mg SC at 0 d + 20 mg sc at 7 d;")
    b = day("20 mg sc at 0d; 20 MG Sc at 1W")
    assert [d.time for d in a] == [d.time for d in b] == [0.0, 7.0]
    assert b.doses[1].unit == "MG"  # units are kept as written


@pytest.mark.parametrize(("words", "days"), [
    ("90 min", 90 / 1440), ("1.5 h", 1.5 / 24), ("3 hr", 3 / 24), ("2 hours", 2 / 24),
    ("1 hour", 1 / 24), ("2 d", 2.0), ("1 day", 1.0), ("3 days", 3.0), ("2 w", 14.0),
    ("2 wk", 14.0), ("1 week", 7.0), ("24 weeks", 168.0), ("30 minutes", 30 / 1440),
])
def test_time_units_convert_exactly(words, days):
    assert day(f"1 mg at {words}").doses[0].time == days


@pytest.mark.parametrize(("model_unit", "expected"), [
    ("h", 36.0), ("hour", 36.0), ("hours", 36.0), ("d", 1.5), ("day", 1.5), ("days", 1.5),
    ("week", 1.5 / 7), ("w", 1.5 / 7), ("min", 2160.0),
])
def test_model_time_units(model_unit, expected):
    assert parse_regimen("1 mg at 36 h", time_unit=model_unit).doses[0].time == \
        pytest.approx(expected, rel=1e-15)


def test_targets_route_mapping_into_override_and_default():
    targets = {"sc": "depot", "IV": "central", "oral": "gut"}
    r = day("1 mg sc at 0 d; 2 mg iv at 1 d; 3 mg po at 2 d; 4 mg im at 3 d; 5 mg sc into X at 4 d",
            targets=targets, default_target="other")
    assert [d.target for d in r] == ["depot", "central", "gut", "other", "X"]
    assert [d.route for d in r] == ["SC", "IV", "PO", "IM", "SC"]
    assert [d.target for d in day("1 mg sc at 0 d")] == [None]


# -------------------------------------------------------------- writing back
@pytest.mark.parametrize("text", [
    "300 mg iv over 2.5 h at 0, 14 d; 600 mg iv over 3.5 h every 24 w x 4 from 24 w",
    "20 mg sc at 0, 7, 14 d; 20 mg sc every 4 w x 12 from 4 w",
    "0.5 mg po every 1 d x 90",
    "100 mg at rate 50 mg/h into central at 2 h; 7 ug im every 12 h x 3 from 0.1 d ss",
    "0.123456789 mg iv over 17 min at 1.23456789 d",
])
def test_format_regimen_reads_back_to_an_equal_regimen(text):
    for unit in ("h", "day", "week"):
        r = parse_regimen(text, time_unit=unit, default_target="central")
        again = parse_regimen(format_regimen(r, time_unit=unit), time_unit=unit)
        assert again == r


def test_format_regimen_prefers_model_unit_and_readable_durations():
    r = day("300 mg iv over 2.5 h at 0, 14 d; 600 mg iv over 3.5 h every 24 w x 4 from 24 w",
            default_target="central")
    assert format_regimen(r, time_unit="day") == (
        "300 mg iv over 2.5 h into central at 0 d; 300 mg iv over 2.5 h into central at 14 d; "
        "600 mg iv over 3.5 h into central every 168 d x 4 from 168 d")


def test_format_regimen_rejects_what_the_notation_cannot_say():
    with pytest.raises(RegimenError, match="no reset"):
        format_regimen(Regimen((Reset(1.0),)), time_unit="h")
    with pytest.raises(RegimenError, match="route 'intrathecal'"):
        format_regimen(Regimen((Bolus(0, 1, route="intrathecal"),)), time_unit="h")


# --------------------------------------------------------------------- errors
@pytest.mark.parametrize(("text", "position", "pattern"), [
    ("20 mg sc every 6 months x 3", 18, r"'months'\): months differ in length; give weeks"),
    ("20 mg sc every 1 year x 3", 18, r"years differ in length"),
    ("20 mg sc every 2 m x 3", 18, r"minutes or months"),
    ("20 mg sc every 4 w", 10, r"'every'\): repeated dosing needs the number of doses"),
    ("20 mg sc x 4", 10, r"'x' needs 'every INTERVAL'"),
    ("20 mg sc ss", 10, r"'ss' needs 'every INTERVAL'"),
    ("20 mg sc at 0, 7 d every 1 w x 2", 10, r"several 'at' times cannot be combined"),
    ("5 mg iv over 1 h at rate 3 mg/h", 18, r"either 'over DURATION' or 'at rate RATE'"),
    ("5 mg iv at rate 3 ug/h", 19, r"rate's amount unit 'ug' differs from the dose's 'mg'"),
    ("5 mg iv at rate 3 mg", 21, r"expected '/' and a time unit"),
    ("5 mg iv over 2 fortnights", 16, r"expected the time unit of the infusion duration"),
    ("5 mg iv over 0 h", 14, r"infusion duration must be positive"),
    ("5 mg iv every 0 h x 2", 15, r"dosing interval must be positive"),
    ("5 mg iv every 1 d x 2.5", 21, r"whole number >= 1, got 2.5"),
    ("5 mg iv every 1 d x 0", 21, r"whole number >= 1, got 0"),
    ("5 mg iv every 1 d x 2 until 3 d", 23, r"either 'x COUNT' or 'until T'"),
    ("5 mg iv every 1 d until 0 d from 1 d", 19, r"no dose would be given"),
    ("5 mg iv iv", 9, r"'route' is given twice in this dose \(first at position 6\)"),
    ("5 mg iv at 1 d at 2 d", 16, r"'at' is given twice"),
    ("5 mg fooo", 6, r"unexpected 'fooo' in a dose; expected a route"),
    ("5 mg ovr 1 h", 6, r"did you mean 'over'\?"),
    ("5 mg iv at 1 d;; 3 mg", 16, r"expected a dose amount \(a number\), found ';'"),
    ("mg 5", 1, r"expected a dose amount"),
    ("5 h", 3, r"'h' is a time unit; a dose starts with its amount"),
    ("5 mg iv at 1, d", 15, r"expected a dose time after ','"),
    ("5 mg into", 10, r"the end of the text\): expected a state name after 'into'"),
    ("5 mg into every", 11, r"expected a state name after 'into'"),
    ("5 mg @ 1 d", 6, r"unexpected character '@'"),
    ("5 mg iv at 1", 13, r"the end of the text\): expected the time unit of the dose times"),
    ("5 mg iv at 1 d 3", 16, r"unexpected '3'"),
])
def test_errors_name_position_and_offending_text(text, position, pattern):
    with pytest.raises(RegimenError, match=rf"^position {position} \(") as info:
        day(text)
    assert info.value.position == position
    assert info.match(pattern)


def test_errors_outside_the_text():
    with pytest.raises(RegimenError, match="empty"):
        day("   ")
    with pytest.raises(RegimenError, match="must be a str"):
        day(5)  # type: ignore[arg-type]
    with pytest.raises(RegimenError, match="time_unit must be a time unit.*'month'"):
        parse_regimen("1 mg", time_unit="month")
    with pytest.raises(RegimenError, match="targets: unknown route 'nasal'"):
        day("1 mg", targets={"nasal": "depot"})


# --------------------------------------------------------------- model headers
MODEL = """
name: demo
time: day
dose: central
route.sc: depot
regimen: 20 mg sc at 0, 7 d; 300 mg iv over 2.5 h at 14 d
regimen.weekly: 20 mg sc every 1 w x 4
regimen.bad_unit: 20 ug sc at 0 d
regimen.bad_state: 20 mg into nowhere at 0 d
regimen.bad_text: 20 mg sc every 6 months x 2

[parameters]
ka = 0.2 [1/day]
k = 0.1 [1/day]

[states]
depot = 0 [mg]
central = 0 [mg]

[equations]
d/dt(depot) = -ka*depot
d/dt(central) = ka*depot - k*central
"""


def test_regimen_from_model_uses_time_unit_routes_and_dose_target():
    m = parse_model(MODEL)
    assert regimen_from_model(m) == Regimen((
        Bolus(0, 20, "depot", unit="mg", route="SC"),
        Bolus(7, 20, "depot", unit="mg", route="SC"),
        Infusion(14, 300, "central", duration=2.5 / 24, unit="mg", route="IV"),
    ))
    weekly = Regimen((Bolus(0, 20, "depot", interval=7, count=4, unit="mg", route="SC"),))
    assert regimen_from_model(m, "regimen.weekly") == weekly
    assert regimen_from_model(m, "weekly") == weekly


def test_regimen_from_model_errors():
    m = parse_model(MODEL)
    with pytest.raises(RegimenError, match=r"dose unit 'ug' differs from the unit 'mg' of state "
                                           r"'depot'; pkpd does not convert amounts"):
        regimen_from_model(m, "bad_unit")
    with pytest.raises(RegimenError, match=r"header 'regimen.bad_state'.*'nowhere' is not a state"):
        regimen_from_model(m, "bad_state")
    with pytest.raises(RegimenError, match=r"model 'demo', header 'regimen.bad_text': position 18"):
        regimen_from_model(m, "bad_text")
    with pytest.raises(RegimenError, match=r"no 'regimen.weakly:' header; did you mean "
                                           r"'regimen.weekly'\?; regimens are: regimen, "):
        regimen_from_model(m, "weakly")
    bare = parse_model(MODEL.replace("time: day\n", ""))
    with pytest.raises(RegimenError, match="no 'time:' header"):
        regimen_from_model(bare)
    none = parse_model("name: x\ntime: h\n[states]\nA = 0\n[equations]\nd/dt(A) = -A\n")
    with pytest.raises(RegimenError, match="add a line such as 'regimen: "):
        regimen_from_model(none)
    assert model_regimens(none) == {}


def test_model_regimens_names_every_regimen_header():
    m = parse_model(MODEL.replace("regimen.bad_unit: 20 ug sc at 0 d\n", "")
                    .replace("regimen.bad_state: 20 mg into nowhere at 0 d\n", "")
                    .replace("regimen.bad_text: 20 mg sc every 6 months x 2\n", ""))
    regimens = model_regimens(m)
    assert list(regimens) == ["default", "weekly"]
    assert regimens["default"] == regimen_from_model(m)
