"""The compact regimen notation: every construct against hand-built Regimens,
unit conversion, writing and reading back, model headers, and errors with
their position."""

from __future__ import annotations

import pytest

from pkpd import Bolus, Infusion, Regimen, RegimenError, Reset, parse_model
from pkpd.notation import (
    format_regimen,
    model_regimens,
    parse_duration,
    parse_regimen,
    parse_times,
    regimen_for_model,
    regimen_from_model,
)


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


# --------------------------------------------------------------- durations and times
@pytest.mark.parametrize(("text", "unit", "expected"), [
    # (number of the text) * (minutes per text unit) / (minutes per model unit), by hand
    ("104w", "day", 104 * 7), ("104 w", "day", 104 * 7), ("104 weeks", "day", 104 * 7),
    ("2 wk", "h", 2 * 7 * 24), ("1 week", "min", 7 * 24 * 60),
    ("730d", "h", 730 * 24), ("3 days", "w", 3 / 7), ("1 day", "day", 1.0),
    ("12 h", "day", 0.5), ("36 hours", "day", 1.5), ("2 hr", "min", 120.0), ("1 hour", "h", 1.0),
    ("90 min", "h", 1.5), ("30 minutes", "day", 30 / 1440), ("45 mins", "h", 0.75),
    ("3.5h", "day", 3.5 / 24), ("1e2 min", "h", 100 / 60),
    # a bare number is in the model's unit already
    ("36", "h", 36.0), ("2.5", "day", 2.5), ("0", "w", 0.0),
])
def test_parse_duration_converts_units(text, unit, expected):
    assert parse_duration(text, unit) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(("text", "pattern"), [
    ("6 months", r"the duration '6 months': position 3 \('months'\): months differ in length; "
                 r"give weeks"),
    ("2 mo", "months differ in length"),
    ("1 y", "years differ in length; give weeks"),
    ("2 years", "years differ in length"),
    ("3 m", "'m' could mean minutes or months"),
    ("w", r"expected the duration \(a number\)"),
    ("", "found the end of the text"),
    ("1 w 2", "unexpected '2' after the duration"),
    ("-1 d", "unexpected character '-'"),
    ("2 dys", "expected the time unit of the duration.*did you mean 'days'"),
    ("1e999 d", "must be finite"),
])
def test_parse_duration_errors(text, pattern):
    with pytest.raises(RegimenError, match=pattern) as info:
        parse_duration(text, "day")
    assert isinstance(info.value, ValueError)


def test_parse_duration_names_the_value_and_checks_the_model_unit():
    with pytest.raises(RegimenError, match=r"^--until '2 months': position 3"):
        parse_duration("2 months", "h", what="--until")
    with pytest.raises(RegimenError, match="time_unit must be a time unit"):
        parse_duration("1 d", "month")


def test_parse_times_units_apply_backwards():
    t = parse_times("0 1 2 w 21 d 30", "day")
    assert t.tolist() == [0, 7, 14, 21, 30]
    assert parse_times("0, 7, 14 d", "h").tolist() == [0, 7 * 24, 14 * 24]
    assert parse_times("0 12h 2d", "h").tolist() == [0, 12, 48]
    assert parse_times("90 min, 3 hours", "h").tolist() == [1.5, 3.0]
    assert parse_times("5 3 1", "day").tolist() == [5, 3, 1]  # kept in the given order
    for bad, pattern in (("", "no times given"), ("0 7 months", "months differ"),
                         ("d 1", "expected a time"), ("0; 1", "unexpected|expected a time"),
                         ("1 2 years", "years differ")):
        with pytest.raises(RegimenError, match=pattern):
            parse_times(bad, "day", what="--times")


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
    with pytest.raises(RegimenError, match=r"no 'regimen.weakly:' header \(did you mean "
                                           r"'regimen.weekly'\?\); regimens are: regimen, "):
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


def test_regimen_for_model_reads_notation_and_header_names():
    m = parse_model(MODEL)
    weekly = regimen_from_model(m, "weekly")
    for name in ("weekly", "regimen.weekly", " weekly "):
        assert regimen_for_model(m, name) == weekly
    assert regimen_for_model(m, "default") == regimen_for_model(m, "regimen") == \
        regimen_from_model(m)
    # notation: times in the model's unit (day), route and dose: targets, checked
    assert regimen_for_model(m, "20 mg sc at 12 h; 5 mg at 1 w") == Regimen((
        Bolus(0.5, 20, "depot", unit="mg", route="SC"), Bolus(7, 5, "central", unit="mg")))
    assert regimen_for_model(m, "5 mg at 0 d", default_target="depot").doses[0].target == "depot"
    # a named regimen is read as the model file says, whatever default_target
    assert regimen_for_model(m, "weekly", default_target="central") == weekly


def test_regimen_for_model_errors():
    m = parse_model(MODEL)
    with pytest.raises(RegimenError, match=r"^regimen '20 ug sc': the dose unit 'ug' differs "
                                           r"from the unit 'mg' of state 'depot'"):
        regimen_for_model(m, "20 ug sc")
    # ug and mcg are the same unit; the model's states are in mg
    with pytest.raises(RegimenError, match="dose unit 'mcg' differs"):
        regimen_for_model(m, "20 mcg")
    with pytest.raises(RegimenError, match=r"'nowhere' is not a state of model 'demo'"):
        regimen_for_model(m, "20 mg into nowhere")
    with pytest.raises(RegimenError, match=r"^--regimen 'x': model 'demo' has no "
                                           r"'regimen.x:' header") as info:
        regimen_for_model(m, "x", label="--regimen 'x'")
    with pytest.raises(RegimenError, match=r"^--regimen '1 mg every 6 months x 2': position 14 "
                                           r"\('months'\)") as info:
        regimen_for_model(m, "1 mg every 6 months x 2", label="--regimen '1 mg every 6 months x 2'")
    assert info.value.position == 14
    with pytest.raises(RegimenError, match=r"has no 'regimen.weakly:' header \(did you mean "
                                           r"'regimen.weekly'\?\)"):
        regimen_for_model(m, "weakly")
    with pytest.raises(RegimenError, match="must be a str"):
        regimen_for_model(m, 20)
    bare = parse_model(MODEL.replace("time: day\n", ""))
    with pytest.raises(RegimenError, match="has no 'time:' header"):
        regimen_for_model(bare, "20 mg at 0 d")


@pytest.mark.parametrize(("unit", "words"), [
    ("day", "20 mg SC into depot at day 0;\n20 mg SC into depot at day 7;\n"
            "300 mg IV over 2.5 h into central at day 14"),
    ("d", "20 mg SC into depot at day 0;\n20 mg SC into depot at day 7;\n"
          "300 mg IV over 2.5 h into central at day 14"),
    ("h", "20 mg SC into depot at hour 0;\n20 mg SC into depot at hour 168;\n"
          "300 mg IV over 2.5 h into central at hour 336"),
    ("w", "20 mg SC into depot at week 0;\n20 mg SC into depot at week 1;\n"
          "300 mg IV over 2.5 h into central at week 2"),
])
def test_in_words_puts_the_time_unit_before_the_number(unit, words):
    r = parse_regimen("20 mg sc at 0, 7 d; 300 mg iv over 2.5 h at 14 d", time_unit=unit,
                      targets={"sc": "depot"}, default_target="central")
    assert r.in_words(unit) == words


def test_in_words_repeats_steady_state_resets_and_other_units():
    r = parse_regimen("20 mg sc every 1 w x 4 from 2 w; 5 mg every 12 h x 2 ss", time_unit="h",
                      targets={"sc": "depot"}, default_target="central")
    assert r.in_words("h").splitlines() == [
        "5 mg into central at steady state every 12 h from hour 0, 2 times;",
        "20 mg SC into depot every 168 h, 4 times from hour 336"]
    assert (Bolus(3, 1, "A") + Reset(5)).in_words("s") == \
        "1 into A at 3 s;\nreset all states at 5 s"
    assert Regimen((Bolus(3, 1, "A"),)).in_words() == "1 into A at time 3"


@pytest.mark.parametrize("text", ["600 q24w", "600 mg q24w x 4", "600 mg bid", "5 qd",
                                  "600 mg iv qd"])
def test_dosing_frequency_abbreviations_are_explained(text):
    with pytest.raises(RegimenError, match=r"dosing.frequency.*write the interval out"):
        parse_regimen(text, time_unit="day")


@pytest.mark.parametrize(("text", "times"), [
    ("100 mg at 0 h, 12 h", [0.0, 12.0]),
    ("100 mg at 0, 12 h", [0.0, 12.0]),
    ("100 mg at 0 h, 1, 2 d", [0.0, 24.0, 48.0]),
])
def test_at_times_may_carry_their_own_units(text, times):
    assert [d.time for d in parse_regimen(text, time_unit="h")] == times


def test_at_times_need_a_unit_at_the_end():
    with pytest.raises(RegimenError, match="expected the time unit of the dose times"):
        parse_regimen("100 mg at 0 h, 12", time_unit="h")
