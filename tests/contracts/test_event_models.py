"""The event models refuse bad data: codes, themes, dates, counts, periods, extra fields."""

from __future__ import annotations

from typing import Any

import pytest
from livskraft_contracts import (
    ALL_EVENTS,
    ContactAssigned,
    DecisionRecorded,
    EnrolmentSubmitted,
    Event,
    GatheringHeld,
    GatheringScheduled,
    IndicatorReported,
    MunicipalityChanged,
    MunicipalityRegistered,
    NetworkCreated,
    StatisticsPublished,
)
from livskraft_contracts.examples import EXAMPLES
from pydantic import ValidationError


def data(model: type[Event], **changes: Any) -> dict[str, Any]:
    """The example of `model` as JSON-ready data, with some fields changed."""
    return {**EXAMPLES[model].model_dump(mode="json"), **changes}


def refused(model: type[Event], **changes: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data(model, **changes))
    return str(caught.value)


def ref(kommunenummer: Any = "1702", valid_on: Any = "2010-02-01") -> dict[str, Any]:
    return {"kommunenummer": kommunenummer, "valid_on": valid_on}


def test_every_catalogue_event_has_a_valid_example() -> None:
    assert list(EXAMPLES) == list(ALL_EVENTS)
    for model, example in EXAMPLES.items():
        assert model.model_validate(example.model_dump(mode="json")) == example


@pytest.mark.parametrize("code", ["170", "17021", "17a2", 1702, " 1702"])
def test_kommunenummer_is_four_digits_as_a_string(code: Any) -> None:
    refused(EnrolmentSubmitted, municipality=ref(kommunenummer=code))


def test_kommunenummer_keeps_its_leading_zero() -> None:
    event = EnrolmentSubmitted.model_validate(data(EnrolmentSubmitted, municipality=ref("0301")))
    assert event.municipality.kommunenummer == "0301"
    assert event.model_dump(mode="json")["municipality"]["kommunenummer"] == "0301"


def test_a_municipality_ref_needs_its_date() -> None:
    assert "valid_on" in refused(EnrolmentSubmitted, municipality={"kommunenummer": "1702"})


@pytest.mark.parametrize(
    "themes",
    [["kulturarv"], [], ["kulturarv", "kulturarv"], ["kulturarv", "skog"], ["Kulturarv", "areal"]],
    ids=["one", "none", "duplicate", "unknown", "wrong-case"],
)
def test_a_network_needs_two_distinct_known_themes(themes: list[str]) -> None:
    refused(NetworkCreated, themes=themes)


@pytest.mark.parametrize("value", ["15. februar 2010", "2010-02-30", "2010/02/15", "", None])
def test_dates_must_be_dates(value: Any) -> None:
    refused(NetworkCreated, enrolment_deadline=value)


def test_network_dates_are_in_order() -> None:
    assert "period_end" in refused(NetworkCreated, period_end="2009-12-31")
    assert "enrolment_deadline" in refused(NetworkCreated, enrolment_deadline="2011-01-01")


@pytest.mark.parametrize("model", ALL_EVENTS, ids=lambda m: m.__name__)
def test_every_event_refuses_an_extra_field(model: type[Event]) -> None:
    assert "extra" in refused(model, surprise=1).lower()


def test_nested_parts_refuse_extra_fields_too() -> None:
    refused(EnrolmentSubmitted, municipality={**ref(), "name": "Steinkjer"})
    row = {"municipality": ref(), "role_category": "politician", "count": 1, "names": ["A"]}
    refused(GatheringHeld, attendance=[row])


def test_municipality_validity_period() -> None:
    assert "valid_to" in refused(MunicipalityChanged, valid_to="2011-01-01")  # == valid_from
    assert "valid_to" in refused(MunicipalityChanged, valid_to="2010-06-01")
    refused(MunicipalityChanged, predecessors=[ref("1736", "2011-01-01")])  # not before


def test_municipality_is_in_its_county() -> None:
    assert "county" in refused(MunicipalityRegistered, county="50")


@pytest.mark.parametrize("number", ["12345678", "1234567890", "974760673 ", "974760674"])
def test_organisation_number_is_nine_digits_with_check_digit(number: str) -> None:
    refused(MunicipalityRegistered, organisation_number=number)


def test_a_valid_organisation_number_is_accepted() -> None:
    event = MunicipalityRegistered.model_validate(
        data(MunicipalityRegistered, organisation_number="974760673")
    )
    assert event.organisation_number == "974760673"


def test_decision_meeting_is_not_after_the_decision() -> None:
    assert "meeting_date" in refused(DecisionRecorded, meeting_date="2010-02-10")
    refused(DecisionRecorded, case_number="17/2010")
    refused(DecisionRecorded, body="bystyre")


def test_contact_role_is_one_of_three() -> None:
    refused(ContactAssigned, role="secretary")
    refused(ContactAssigned, person_id="Turid Haugen")


def test_gathering_dates_and_counts() -> None:
    assert "ends_on" in refused(GatheringScheduled, ends_on="2010-04-19")
    row = {"municipality": ref(), "role_category": "politician", "count": -1}
    refused(GatheringHeld, attendance=[row])
    refused(GatheringHeld, attendance=[{**row, "count": 1, "role_category": "mayor"}])
    assert "distinct" in refused(GatheringHeld, attendance=[{**row, "count": 1}] * 2)


def test_indicator_value_fits_its_status() -> None:
    refused(IndicatorReported, value=None, status="final")
    refused(IndicatorReported, value=3.0, status="missing")
    refused(IndicatorReported, value="NaN")
    refused(IndicatorReported, indicator="Kulturminner registrert")
    ok = IndicatorReported.model_validate(data(IndicatorReported, value=None, status="confidential"))
    assert ok.value is None


def test_statistics_link_and_period() -> None:
    refused(StatisticsPublished, link="not a url")
    refused(StatisticsPublished, period_end="2005-12-31")
    refused(StatisticsPublished, dataset_version=0)


def test_events_are_immutable() -> None:
    event = EXAMPLES[NetworkCreated]
    with pytest.raises(ValidationError):
        event.name = "other"  # type: ignore[misc]


def test_aggregate_ids_follow_the_key_fields() -> None:
    assert EXAMPLES[MunicipalityRegistered].aggregate_id == "1702"
    assert EXAMPLES[IndicatorReported].aggregate_id == "1702"
    assert EXAMPLES[StatisticsPublished].aggregate_id == "networks-per-theme"
    network = str(EXAMPLES[NetworkCreated].network_id)
    assert EXAMPLES[DecisionRecorded].aggregate_id == network
    assert EXAMPLES[GatheringHeld].aggregate_id == str(EXAMPLES[GatheringHeld].gathering_id)


def test_municipalities_are_named_by_code_and_date() -> None:
    """A bare kommunenummer appears only in MunicipalityRef and in the municipality's own events,
    which carry its validity period instead of a single date."""
    own = {"MunicipalityRef", "MunicipalityRegistered", "MunicipalityChanged"}
    for model in ALL_EVENTS:
        schema = model.model_json_schema()
        for part in [schema, *schema.get("$defs", {}).values()]:
            if "kommunenummer" in part.get("properties", {}):
                assert part["title"] in own, model.__name__
            if part["title"] in own - {"MunicipalityRef"}:
                assert {"valid_from", "valid_to"} <= part["properties"].keys()
