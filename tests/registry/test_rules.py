"""The registry's rules, on plain objects: no database, no broker."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from livskraft_contracts import (
    ClosureReason,
    ContactRole,
    EnrolmentConfirmed,
    EnrolmentSubmitted,
    EnrolmentWithdrawn,
    MunicipalityRef,
    NetworkClosed,
    NetworkCreated,
)
from pydantic import ValidationError

from services.registry import domain
from services.registry.domain import EnrolmentStatus, NetworkState, Refused

DEADLINE = date(2010, 2, 15)
BEFORE, AFTER = date(2010, 1, 20), date(2010, 2, 16)
STEINKJER = MunicipalityRef(kommunenummer="1702", valid_on=BEFORE)


def network(**changes) -> domain.Network:
    values = dict(
        id=uuid.uuid4(),
        name="Natur- og kulturbasert nyskaping",
        themes=["kulturarv", "areal"],
        county="17",
        region=None,
        period_start=date(2010, 1, 1),
        period_end=date(2010, 12, 31),
        enrolment_deadline=DEADLINE,
        published=True,
    )
    return domain.Network(**{**values, **changes})


def enrolment(status=EnrolmentStatus.SUBMITTED, **changes) -> domain.Enrolment:
    return domain.Enrolment(network_id=uuid.uuid4(), municipality=STEINKJER, status=status, **changes)


DECISION = domain.Decision(
    body="kommunestyre",
    meeting_date=date(2010, 1, 14),
    case_number="2010/4",
    decision_date=date(2010, 1, 14),
    final=True,
    summary="Deltar.",
)


def test_a_network_needs_two_distinct_themes_from_the_fixed_list():
    base = dict(
        network_id=uuid.uuid4(),
        name="N",
        period_start=date(2010, 1, 1),
        period_end=date(2010, 12, 31),
        enrolment_deadline=DEADLINE,
    )
    for themes in (["kulturarv"], ["kulturarv", "kulturarv"], ["kulturarv", "golf"]):
        with pytest.raises(ValidationError):
            NetworkCreated(**base, themes=themes)
    assert NetworkCreated(**base, themes=["kulturarv", "areal"]).themes == ["kulturarv", "areal"]


def test_the_state_follows_publication_the_deadline_and_closing():
    assert network(published=False).state(BEFORE) is NetworkState.DRAFT
    assert network().state(BEFORE) is NetworkState.OPEN
    assert network().state(DEADLINE) is NetworkState.OPEN
    assert network().state(AFTER) is NetworkState.ACTIVE
    assert network(closed=True).state(BEFORE) is NetworkState.CLOSED


def test_opening_a_draft_publishes_network_created_once():
    draft = network(published=False)
    [event] = domain.open_network(draft, BEFORE)
    assert isinstance(event, NetworkCreated) and event.network_id == draft.id
    with pytest.raises(Refused) as refused:
        domain.open_network(network(), BEFORE)
    assert refused.value.status == 409


def test_enrolment_closes_at_the_deadline_unless_staff_override_and_it_is_recorded():
    [on_the_day] = domain.enrol(network(), None, STEINKJER, DEADLINE)
    assert isinstance(on_the_day, EnrolmentSubmitted) and not on_the_day.late_override
    with pytest.raises(Refused) as refused:
        domain.enrol(network(), None, STEINKJER, AFTER)
    assert refused.value.field == "kommunenummer" and "2010-02-15" in refused.value.message
    [late] = domain.enrol(network(), None, STEINKJER, AFTER, override=True)
    assert late.late_override is True


def test_no_enrolment_in_a_draft_or_a_closed_network_or_twice():
    for closed_or_draft in (network(published=False), network(closed=True)):
        with pytest.raises(Refused):
            domain.enrol(closed_or_draft, None, STEINKJER, BEFORE)
    with pytest.raises(Refused):
        domain.enrol(network(), enrolment(), STEINKJER, BEFORE)
    [again] = domain.enrol(network(), enrolment(EnrolmentStatus.WITHDRAWN), STEINKJER, BEFORE)
    assert isinstance(again, EnrolmentSubmitted)


def test_a_decision_cannot_be_dated_in_the_future_or_before_its_meeting():
    with pytest.raises(Refused) as future:
        domain.record_decision(network(), enrolment(), DECISION, today=date(2010, 1, 13))
    assert future.value.field == "decision_date"
    late_meeting = domain.Decision(**{**DECISION.__dict__, "meeting_date": date(2010, 1, 15)})
    with pytest.raises(Refused) as meeting:
        domain.record_decision(network(), enrolment(), late_meeting, BEFORE)
    assert meeting.value.field == "meeting_date"


def test_a_decision_needs_an_enrolment():
    for missing in (None, enrolment(EnrolmentStatus.INVITED), enrolment(EnrolmentStatus.WITHDRAWN)):
        with pytest.raises(Refused):
            domain.record_decision(network(), missing, DECISION, BEFORE)


def test_confirmed_only_with_a_final_decision_and_a_main_contact():
    n, e = network(), enrolment()
    assert [type(x) for x in domain.record_decision(n, e, DECISION, BEFORE)] == [domain.DecisionRecorded]
    steering = domain.assign_contact(n, e, uuid.uuid4(), ContactRole.STEERING_GROUP, BEFORE)
    assert not any(isinstance(x, EnrolmentConfirmed) for x in steering)
    events = domain.assign_contact(n, e, uuid.uuid4(), ContactRole.MAIN_CONTACT, BEFORE)
    assert isinstance(events[-1], EnrolmentConfirmed) and e.status is EnrolmentStatus.CONFIRMED


def test_a_non_final_decision_does_not_confirm():
    n, e = network(), enrolment(roles={ContactRole.MAIN_CONTACT})
    proposal = domain.Decision(**{**DECISION.__dict__, "final": False})
    assert len(domain.record_decision(n, e, proposal, BEFORE)) == 1
    assert e.status is EnrolmentStatus.SUBMITTED
    assert isinstance(domain.record_decision(n, e, DECISION, BEFORE)[-1], EnrolmentConfirmed)


def test_contact_events_carry_an_opaque_person_id_and_the_role_only():
    person = uuid.uuid4()
    [assigned] = domain.assign_contact(network(), enrolment(), person, ContactRole.MAIN_CONTACT, BEFORE)
    assert set(assigned.model_dump()) == {"network_id", "municipality", "person_id", "role"}
    assert assigned.person_id == person


def test_withdrawal_and_closing():
    [withdrawn] = domain.withdraw(network(), enrolment(EnrolmentStatus.CONFIRMED))
    assert isinstance(withdrawn, EnrolmentWithdrawn)
    with pytest.raises(Refused):
        domain.withdraw(network(), enrolment(EnrolmentStatus.WITHDRAWN))
    [closed] = domain.close_network(network(), ClosureReason.TOO_FEW_MEMBERS)
    assert isinstance(closed, NetworkClosed)
    with pytest.raises(Refused):
        domain.close_network(network(closed=True), ClosureReason.COMPLETED)


def draft(**changes) -> domain.Network:
    values = dict(
        name="N",
        themes=["kulturarv", "areal"],
        county="17",
        region=None,
        period_start=date(2010, 1, 1),
        period_end=date(2010, 12, 31),
        enrolment_deadline=DEADLINE,
        target_size_min=5,
        target_size_max=7,
    )
    return domain.draft_network(uuid.uuid4(), **{**values, **changes})


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"themes": ["kulturarv", "kulturarv"]}, "themes"),
        ({"period_end": date(2009, 12, 31)}, "period_end"),
        ({"enrolment_deadline": date(2011, 1, 1)}, "enrolment_deadline"),
        ({"target_size_min": 8}, "target_size_max"),
    ],
)
def test_a_draft_is_held_to_the_contract_and_refused_naming_the_field(change, field):
    with pytest.raises(Refused) as refused:
        draft(**change)
    assert refused.value.field == field and refused.value.status == 422


def test_a_draft_may_have_its_deadline_on_the_last_day_and_one_period_day_and_equal_sizes():
    assert draft(enrolment_deadline=date(2010, 12, 31)).state(BEFORE) is NetworkState.DRAFT
    assert draft(period_end=date(2010, 1, 1), enrolment_deadline=date(2010, 1, 1))
    assert draft(target_size_min=6, target_size_max=6).target_size_max == 6


def standing(kommune: str, status: EnrolmentStatus, decision: bool = True, contact: bool = True):
    return domain.MemberStanding(kommune, BEFORE, status, False, int(decision), decision, contact)


def test_the_overview_counts_statuses_gaps_target_and_days_to_the_deadline():
    members = [
        standing("1702", EnrolmentStatus.CONFIRMED),
        standing("1719", EnrolmentStatus.SUBMITTED, decision=False),
        standing("1721", EnrolmentStatus.SUBMITTED, contact=False),
        standing("1724", EnrolmentStatus.WITHDRAWN, decision=False, contact=False),
        standing("1736", EnrolmentStatus.INVITED, decision=False, contact=False),
    ]
    seen = domain.overview(network(), members, BEFORE)
    assert seen.statuses == {"confirmed": 1, "submitted": 2, "withdrawn": 1, "invited": 1}
    assert seen.members_active == 3 and seen.below_target  # target 5-7
    assert seen.missing_decision == ["1719"] and seen.missing_main_contact == ["1721"]
    assert seen.days_to_deadline == 26 and seen.state is NetworkState.OPEN
    assert domain.overview(network(), members, DEADLINE).days_to_deadline == 0
    assert domain.overview(network(), members, AFTER).days_to_deadline == -1


def test_a_network_is_below_target_until_it_has_the_minimum():
    members = [standing(str(1700 + i), EnrolmentStatus.SUBMITTED) for i in range(5)]
    assert not domain.overview(network(), members, BEFORE).below_target
    assert domain.overview(network(), members[:4], BEFORE).below_target
    assert domain.overview(network(), [], BEFORE).statuses == {}
