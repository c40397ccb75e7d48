"""The indicators service's rules as plain functions: codes in their years, revisions of values,
the CSV file's shape, the plan cycle's dates. No database, no broker."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from livskraft_contracts import IndicatorDefined, IndicatorStatus, MeasureStatus, PlanDocument

from services.indicators import csvfile, domain
from services.indicators.domain import CodeVersion, Indicator, Refused, Report, Revision
from services.indicators.handlers import load_catalogue_file
from services.indicators.plan import domain as plan
from services.reference import population

TODAY = date(2010, 6, 15)
PERCENT = Indicator("nye-boliger-i-sentrum", 1, False, 0, 100, False)
PER_INHABITANT = Indicator("klimagassutslipp-per-innbygger", 2, True, 0, None, False)
STEINKJER = [CodeVersion("1702", date(1971, 1, 1), date(2018, 1, 1))]
SNASA = [
    CodeVersion("1736", date(1971, 1, 1), date(2011, 1, 1)),
    CodeVersion("1736", date(2011, 1, 1), date(2018, 1, 1)),
]


def refusal(call, *args, **kwargs) -> Refused:
    with pytest.raises(Refused) as caught:
        call(*args, **kwargs)
    return caught.value


def preliminary(value: float | None = 41.5, **changes) -> Report:
    return Report(
        **{
            "indicator": PERCENT.id,
            "year": 2009,
            "status": IndicatorStatus.PRELIMINARY,
            "value": value,
            **changes,
        }
    )


# -- Codes in their years --------------------------------------------------------------------------


def test_a_code_is_reported_for_the_years_it_was_in_use_first_and_last_included() -> None:
    assert domain.code_in_year(STEINKJER, "1702", 1971).valid_on == date(1971, 1, 1)
    assert domain.code_in_year(STEINKJER, "1702", 2017).valid_on == date(2017, 1, 1)  # its last year
    assert refusal(domain.code_in_year, STEINKJER, "1702", 2018).field == "year"  # 5004 from 2018
    assert refusal(domain.code_in_year, STEINKJER, "1702", 1970).field == "year"


def test_a_code_that_came_into_use_in_the_year_is_dated_from_that_day() -> None:
    mid_year = [CodeVersion("5099", date(2019, 7, 1), None)]
    assert domain.code_in_year(mid_year, "5099", 2019).valid_on == date(2019, 7, 1)
    assert domain.code_in_year(mid_year, "5099", 2024).valid_on == date(2024, 1, 1)
    assert domain.code_in_year(SNASA, "1736", 2011).valid_on == date(2011, 1, 1)  # renamed that day


def test_an_unknown_code_is_refused_naming_it() -> None:
    assert refusal(domain.code_in_year, [], "1799", 2009).field == "kommunenummer"


# -- Revisions of a value --------------------------------------------------------------------------


def test_the_first_report_is_revision_1() -> None:
    new = domain.report(preliminary(), PERCENT, None, None, TODAY)
    assert new is not None and (new.revision, new.value, new.correction) == (1, 41.5, False)


def test_a_preliminary_value_is_corrected_freely_as_a_new_revision() -> None:
    latest = Revision(1, 41.5, IndicatorStatus.PRELIMINARY, None)
    new = domain.report(preliminary(43.0), PERCENT, latest, None, TODAY)
    assert new is not None and (new.revision, new.value, new.correction) == (2, 43.0, False)
    final = domain.report(preliminary(43.0, status=IndicatorStatus.FINAL), PERCENT, latest, None, TODAY)
    assert final is not None and final.status is IndicatorStatus.FINAL and not final.correction


def test_the_value_of_record_again_adds_nothing() -> None:
    latest = Revision(3, 41.5, IndicatorStatus.FINAL, "revidert")
    again = preliminary(41.5, status=IndicatorStatus.FINAL, comment="revidert")
    assert domain.report(again, PERCENT, latest, None, TODAY) is None


def test_a_final_value_is_not_overwritten_silently() -> None:
    latest = Revision(2, 41.5, IndicatorStatus.FINAL, None)
    for report in (
        preliminary(40.0, status=IndicatorStatus.FINAL),
        preliminary(41.5),  # back to preliminary is a change too
        preliminary(41.5, status=IndicatorStatus.FINAL, comment="a new comment"),
    ):
        refused = refusal(domain.report, report, PERCENT, latest, None, TODAY)
        assert (refused.field, refused.status) == ("supersedes_revision", 409)
        assert "final (revision 2)" in refused.message


def test_a_final_value_is_corrected_by_naming_its_revision_and_saying_why() -> None:
    latest = Revision(2, 41.5, IndicatorStatus.FINAL, None)
    without_reason = preliminary(40.0, status=IndicatorStatus.FINAL, supersedes_revision=2)
    assert refusal(domain.report, without_reason, PERCENT, latest, None, TODAY).field == "comment"
    stale = preliminary(40.0, status=IndicatorStatus.FINAL, supersedes_revision=1, comment="feil i kilden")
    assert (refusal(domain.report, stale, PERCENT, latest, None, TODAY).status) == 409
    good = preliminary(40.0, status=IndicatorStatus.FINAL, supersedes_revision=2, comment="feil i kilden")
    new = domain.report(good, PERCENT, latest, None, TODAY)
    assert new is not None and (new.revision, new.value, new.correction) == (3, 40.0, True)


def test_nothing_to_supersede() -> None:
    assert refusal(domain.report, preliminary(supersedes_revision=1), PERCENT, None, None, TODAY).field == (
        "supersedes_revision"
    )


def test_years_up_to_this_one() -> None:
    assert domain.report(preliminary(year=2010), PERCENT, None, None, TODAY) is not None  # this year
    assert refusal(domain.report, preliminary(year=2011), PERCENT, None, None, TODAY).field == "year"


def test_bounds_and_decimals_with_their_boundaries() -> None:
    for value in (0, 100, 99.9, 0.1):
        assert domain.report(preliminary(value), PERCENT, None, None, TODAY) is not None
    for value, field in ((-0.1, "value"), (100.1, "value"), (41.55, "value")):
        assert refusal(domain.report, preliminary(value), PERCENT, None, None, TODAY).field == field


def test_missing_and_confidential_are_not_reported() -> None:
    for status in (IndicatorStatus.MISSING, IndicatorStatus.CONFIDENTIAL):
        assert (
            refusal(domain.report, preliminary(status=status), PERCENT, None, None, TODAY).field == "status"
        )


def test_a_retired_indicator_takes_no_values() -> None:
    retired = Indicator(PERCENT.id, 1, False, 0, 100, True)
    assert refusal(domain.report, preliminary(), retired, None, None, TODAY).status == 409


def test_a_total_is_divided_by_the_population_of_1_january() -> None:
    people = population.population("1702", 2009)
    assert people == 20868
    report = Report(PER_INHABITANT.id, 2009, IndicatorStatus.FINAL, total=131_000.0)
    new = domain.report(report, PER_INHABITANT, None, people, TODAY)
    assert new is not None and new.value == round(131_000 / 20868, 2) == 6.28
    assert (new.total, new.population) == (131_000.0, 20868)


def test_a_total_needs_a_population_and_an_indicator_per_inhabitant() -> None:
    report = Report(PER_INHABITANT.id, 2009, IndicatorStatus.FINAL, total=1000.0)
    assert "no population" in refusal(domain.report, report, PER_INHABITANT, None, None, TODAY).message
    assert (
        refusal(
            domain.report,
            Report(PERCENT.id, 2009, IndicatorStatus.FINAL, total=4.0),
            PERCENT,
            None,
            100,
            TODAY,
        ).field
        == "total"
    )
    both = Report(PER_INHABITANT.id, 2009, IndicatorStatus.FINAL, value=6.0, total=1000.0)
    assert refusal(domain.report, both, PER_INHABITANT, None, 100, TODAY).field == "total"
    neither = Report(PER_INHABITANT.id, 2009, IndicatorStatus.FINAL)
    assert refusal(domain.report, neither, PER_INHABITANT, None, 100, TODAY).field == "value"


# -- The catalogue ---------------------------------------------------------------------------------


def test_the_bundled_catalogue_covers_the_six_themes_with_the_proposed_indicators() -> None:
    entries = {e.indicator: e for e in load_catalogue_file()}
    assert {str(e.theme) for e in entries.values()} == {
        "klima-energi",
        "areal",
        "folkehelse-friluftsliv",
        "produksjon-forbruk",
        "internasjonalt",
        "kulturarv",
    }
    assert entries["klimagassutslipp-per-innbygger"].per_inhabitant
    assert str(entries["klimagassutslipp-per-innbygger"].direction) == "lower-is-better"
    assert entries["nye-boliger-i-sentrum"].maximum == 100
    assert str(entries["naerturterreng-innen-500-m"].theme) == "folkehelse-friluftsliv"
    assert str(entries["energibruk-kommunale-bygg"].theme) == "klima-energi"
    for entry in entries.values():
        domain.check_bounds(entry)


def test_a_revision_of_the_catalogue_counts_up_and_an_unchanged_one_adds_nothing() -> None:
    entry = load_catalogue_file()[0]
    first = domain.define(entry, None)
    assert first is not None and first.revision == 1
    assert domain.define(entry, first) is None
    second = domain.define(entry.model_copy(update={"label": "Nytt navn"}), first)
    assert second is not None and second.revision == 2


def test_bounds_fit_the_decimals() -> None:
    entry = IndicatorDefined.model_validate(
        {**load_catalogue_file()[0].model_dump(), "decimals": 0, "minimum": 0.5}
    )
    assert refusal(domain.check_bounds, entry).field == "minimum"


# -- The CSV file ----------------------------------------------------------------------------------


def test_a_comma_file_is_read() -> None:
    rows, problems = csvfile.parse(
        b"indicator,year,value,status,comment\nnye-boliger-i-sentrum,2009,41.5,final,\n"
        b"klimagassutslipp-per-innbygger,2009,6.42,preliminary,Fra Miljodirektoratet\n\n"
    )
    assert problems == []
    assert [(r.line, r.report.indicator, r.report.value, r.report.comment) for r in rows] == [
        (2, "nye-boliger-i-sentrum", 41.5, None),
        (3, "klimagassutslipp-per-innbygger", 6.42, "Fra Miljodirektoratet"),
    ]


def test_a_norwegian_spreadsheet_file_is_read() -> None:
    text = "\ufeffIndikator;År;Verdi;Status\n".replace("Indikator", "indicator").replace("År", "year")
    text = (
        text.replace("Verdi", "value").replace("Status", "status")
        + "nye-boliger-i-sentrum;2009;41,5;endelig\n"
    )
    rows, problems = csvfile.parse(text.encode())
    assert problems == []
    assert (rows[0].report.value, rows[0].report.status) == (41.5, IndicatorStatus.FINAL)


def test_every_bad_row_is_named_by_its_line_and_column() -> None:
    _rows, problems = csvfile.parse(
        b"indicator,year,value,status\n"
        b"nye-boliger-i-sentrum,2009,41.5,final\n"
        b"nye-boliger-i-sentrum,20x9,41.5,final\n"
        b"nye-boliger-i-sentrum,2008,mye,kanskje\n"
        b",2008,1,final\n"
        b"nye-boliger-i-sentrum,2009,42,final\n"
        b"nye-boliger-i-sentrum,2007,1\n"
        b"nye-boliger-i-sentrum,2006,nan,final\n"
        b"nye-boliger-i-sentrum,2005,1e16,final\n"
    )
    assert [(p.field, p.message) for p in problems] == [
        ("rows[3].year", "'20x9' is not a year"),
        ("rows[4].status", "'kanskje' is not preliminary or final"),
        ("rows[4].value", "'mye' is not a number"),
        ("rows[5].indicator", "is empty"),
        ("rows[6].indicator", "nye-boliger-i-sentrum for 2009 is on line 2 too"),
        ("rows[7].file", "has 3 cells; the header has 4"),
        ("rows[8].value", "'nan' is not a number"),
        ("rows[9].value", "'1e16' is not a number"),
    ]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"", "file"),
        (b"indicator,year,value,status\n", "file"),  # no values
        (b"\xff\xfeindicator", "file"),  # not UTF-8
        (b"indicator,year,status\n", "rows[1].value"),
        (b"indicator,value,status\n", "rows[1].year"),
        (b"indicator,year,value,status,owner\n", "rows[1].owner"),
        (b"indicator,year,value,status,value\n", "rows[1].value"),
        (b'indicator,year,value,status\n"unclosed,2009,1,final\n', "rows[2].file"),
        (b"indicator,year,value,status\n" + b"x,2009,1,final\n" * 10_001, "file"),
    ],
)
def test_a_file_of_the_wrong_shape_is_refused_naming_where(data: bytes, field: str) -> None:
    _rows, problems = csvfile.parse(data)
    assert field in [p.field for p in problems], problems


# -- The plan cycle --------------------------------------------------------------------------------


def goal(**changes) -> plan.Goal:
    return plan.Goal(
        **{
            "title": "Mål",
            "description": None,
            "theme": None,
            "indicator": None,
            "target_value": None,
            "target_year": None,
            "set_on": TODAY,
            **changes,
        }
    )


def measure(**changes) -> plan.Measure:
    fields = {
        "goal_id": None,
        "title": "Tiltak",
        "description": None,
        "responsible": "Teknisk etat",
        "due_date": date(2010, 12, 1),
        "status": MeasureStatus.PLANNED,
        "dated_on": date(2010, 3, 1),
    }
    return plan.Measure(**{**fields, **changes})


def test_a_step_is_dated_today_at_the_latest() -> None:
    plan.on_or_before_today(TODAY, "assessed_on", TODAY)
    assert refusal(plan.on_or_before_today, date(2010, 6, 16), "assessed_on", TODAY).field == "assessed_on"


def test_a_goals_target_needs_its_indicator_year_and_bounds() -> None:
    assert (
        refusal(plan.set_goal, goal(target_value=50, target_year=2012), None, None, TODAY).field
        == "indicator"
    )
    assert refusal(
        plan.set_goal, goal(indicator=PERCENT.id, target_value=50), None, PERCENT, TODAY
    ).field == ("target_year")
    too_high = goal(indicator=PERCENT.id, target_value=100.5, target_year=2012)
    assert refusal(plan.set_goal, too_high, None, PERCENT, TODAY).field == "target_value"
    last_year = goal(indicator=PERCENT.id, target_value=50, target_year=2009)
    assert refusal(plan.set_goal, last_year, None, PERCENT, TODAY).field == "target_year"
    this_year = plan.set_goal(
        goal(indicator=PERCENT.id, target_value=100, target_year=2010), None, PERCENT, TODAY
    )
    assert this_year is not None and this_year.revision == 1


def test_a_goals_revisions_read_in_date_order() -> None:
    first = plan.set_goal(goal(set_on=date(2010, 3, 1)), None, None, TODAY)
    assert first is not None
    assert plan.set_goal(goal(set_on=date(2010, 4, 1)), first, None, TODAY) is None  # unchanged
    withdrawn = plan.set_goal(goal(set_on=date(2010, 3, 1), withdrawn=True), first, None, TODAY)
    assert withdrawn is not None and withdrawn.revision == 2  # the same day as the last: allowed
    assert refusal(
        plan.set_goal, goal(set_on=date(2010, 2, 28), withdrawn=True), first, None, TODAY
    ).field == ("set_on")


def test_a_measure_is_due_on_or_after_the_day_it_is_planned() -> None:
    same_day = plan.plan_measure(measure(due_date=date(2010, 3, 1)), None, TODAY)
    assert (same_day.revision, same_day.planned_on) == (1, date(2010, 3, 1))
    assert refusal(plan.plan_measure, measure(due_date=date(2010, 2, 28)), None, TODAY).field == "due_date"
    assert refusal(plan.plan_measure, measure(goal_id=uuid.uuid4()), None, TODAY).field == "goal_id"
    withdrawn = goal(withdrawn=True)
    assert refusal(plan.plan_measure, measure(goal_id=uuid.uuid4()), withdrawn, TODAY).status == 409


def test_a_measure_changes_in_date_order_and_not_once_cancelled() -> None:
    planned = plan.plan_measure(measure(), None, TODAY)
    started = plan.change_measure(
        measure(status=MeasureStatus.IN_PROGRESS, dated_on=date(2010, 3, 1)), planned, None, TODAY
    )
    assert started is not None and (started.revision, started.planned_on) == (2, date(2010, 3, 1))
    assert (
        plan.change_measure(
            measure(status=MeasureStatus.IN_PROGRESS, dated_on=date(2010, 5, 1)), started, None, TODAY
        )
        is None
    )
    early = measure(status=MeasureStatus.COMPLETED, dated_on=date(2010, 2, 1))
    assert refusal(plan.change_measure, early, started, None, TODAY).field == "changed_on"
    cancelled = plan.change_measure(
        measure(status=MeasureStatus.CANCELLED, dated_on=date(2010, 4, 1)), started, None, TODAY
    )
    assert cancelled is not None
    again = measure(status=MeasureStatus.IN_PROGRESS, dated_on=date(2010, 5, 1))
    assert (refusal(plan.change_measure, again, cancelled, None, TODAY).status) == 409


def test_an_evaluation_is_not_before_the_measure_was_planned() -> None:
    planned = plan.plan_measure(measure(), None, TODAY)
    plan.evaluate(date(2010, 3, 1), planned, TODAY)  # the same day
    assert refusal(plan.evaluate, date(2010, 2, 28), planned, TODAY).field == "evaluated_on"


def test_annual_reports_look_back_and_plans_look_ahead() -> None:
    plan.report(PlanDocument.ANNUAL_REPORT, 2010, date(2010, 6, 1), TODAY)
    plan.report(PlanDocument.ANNUAL_REPORT, 2009, date(2010, 3, 31), TODAY)
    assert refusal(plan.report, PlanDocument.ANNUAL_REPORT, 2011, date(2010, 6, 1), TODAY).field == "year"
    plan.report(PlanDocument.ECONOMY_PLAN, 2010, date(2010, 6, 1), TODAY)
    plan.report(PlanDocument.MASTER_PLAN, 2011, date(2010, 6, 1), TODAY)
    assert refusal(plan.report, PlanDocument.ECONOMY_PLAN, 2009, date(2010, 6, 1), TODAY).field == "year"


def test_only_active_members_of_open_networks_have_plans() -> None:
    from livskraft_contracts import MunicipalityRef

    ref = MunicipalityRef(kommunenummer="1702", valid_on=date(2010, 1, 20))
    assert plan.owner(plan.Membership(True, False, "confirmed", ref), "1702") == ref
    assert plan.owner(plan.Membership(True, False, "submitted", ref), "1702") == ref
    for status in ("invited", "withdrawn", None):
        assert refusal(plan.owner, plan.Membership(True, False, status, ref), "1702").field == "kommunenummer"
    assert refusal(plan.owner, plan.Membership(True, True, "confirmed", ref), "1702").field == "network_id"
    assert plan.plan_id(uuid.UUID(int=1), "1702") == plan.plan_id(uuid.UUID(int=1), "1702")
