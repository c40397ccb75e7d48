"""One valid example of every event, from the seed scenario (slides 12-15).

KS creates "Natur- og kulturbasert nyskaping" in Nord-Trøndelag (county 17, codes 17xx as they were
in 2010), with the themes kulturarv and produksjon-forbruk and the enrolment deadline 15 February
2010. Useful as test fixtures and as documentation of what travels on each topic.
"""

from __future__ import annotations

from datetime import date
from uuid import NAMESPACE_URL, UUID, uuid5

from .common import DecisionBody, MunicipalityRef, Theme
from .envelope import Event
from .gatherings import (
    Attendance,
    CasePresented,
    GatheringCancelled,
    GatheringHeld,
    GatheringRescheduled,
    GatheringScheduled,
    ParticipantRegistered,
    RoleCategory,
)
from .indicators import IndicatorDefined, IndicatorDirection
from .notify import (
    FailureReason,
    NotificationChannel,
    NotificationDelivered,
    NotificationFailed,
)
from .plan import (
    GoalSet,
    MeasureEvaluated,
    MeasurePlanned,
    MeasureStatus,
    MeasureUpdated,
    MeasureVerdict,
    PlanDocument,
    PlanReported,
    StatusAssessed,
)
from .registry import (
    ClosureReason,
    ContactAssigned,
    ContactRole,
    DecisionRecorded,
    EnrolmentConfirmed,
    EnrolmentSubmitted,
    EnrolmentWithdrawn,
    MunicipalityChanged,
    MunicipalityInvited,
    MunicipalityRegistered,
    NetworkClosed,
    NetworkCreated,
)
from .reporting import IndicatorReported, IndicatorStatus, StatisticsPublished


def example_id(name: str) -> UUID:
    """A stable UUID for an example aggregate, e.g. example_id("network/naku")."""
    return uuid5(NAMESPACE_URL, f"https://livskraft.ks.no/examples/{name}")


NETWORK = example_id("network/naku")
PLAN = example_id("plan/naku/1702")
GOAL = example_id("goal/1702/1")
MEASURE = example_id("measure/1702/1")
GATHERING = example_id("gathering/naku-1")
ON = date(2010, 2, 1)
STEINKJER = MunicipalityRef(kommunenummer="1702", valid_on=ON)
VERDAL = MunicipalityRef(kommunenummer="1721", valid_on=ON)


def _examples() -> list[Event]:
    plan = dict(
        gathering_id=GATHERING,
        network_id=NETWORK,
        starts_on=date(2010, 4, 20),
        ends_on=date(2010, 4, 21),
        place="Steinkjer",
        host=STEINKJER,
    )
    owner = dict(plan_id=PLAN, network_id=NETWORK, municipality=STEINKJER)
    measure = dict(
        **owner,
        measure_id=MEASURE,
        goal_id=GOAL,
        title="Registrere kulturminner i Egge med frivillige",
        due_date=date(2010, 12, 1),
    )
    notice = dict(
        notification_id=example_id("notification/1"),
        channel=NotificationChannel.WEBHOOK,
        event_id=str(example_id("event/decision")),
    )
    return [
        MunicipalityRegistered(
            kommunenummer="1702", name="Steinkjer", county="17", valid_from=date(1971, 1, 1)
        ),
        MunicipalityChanged(
            kommunenummer="1736",
            name="Snåase - Snåsa",
            county="17",
            valid_from=date(2011, 1, 1),
            valid_to=date(2018, 1, 1),
            predecessors=[MunicipalityRef(kommunenummer="1736", valid_on=date(2010, 12, 31))],
        ),
        NetworkCreated(
            network_id=NETWORK,
            name="Natur- og kulturbasert nyskaping",
            themes=[Theme.KULTURARV, Theme.PRODUKSJON_FORBRUK],
            county="17",
            period_start=date(2010, 1, 1),
            period_end=date(2010, 12, 31),
            enrolment_deadline=date(2010, 2, 15),
        ),
        MunicipalityInvited(network_id=NETWORK, municipality=VERDAL),
        EnrolmentSubmitted(network_id=NETWORK, municipality=STEINKJER),
        EnrolmentConfirmed(network_id=NETWORK, municipality=STEINKJER),
        EnrolmentWithdrawn(network_id=NETWORK, municipality=VERDAL),
        DecisionRecorded(
            network_id=NETWORK,
            municipality=STEINKJER,
            decision_id=example_id("decision/1702"),
            body=DecisionBody.FORMANNSKAP,
            meeting_date=date(2010, 2, 9),
            case_number="2010/17",
            decision_date=date(2010, 2, 9),
            final=True,
            summary="Steinkjer deltar i Livskraftige kommuner, nettverk for natur- og "
            "kulturbasert nyskaping.",
        ),
        ContactAssigned(
            network_id=NETWORK,
            municipality=STEINKJER,
            person_id=example_id("person/1"),
            role=ContactRole.MAIN_CONTACT,
        ),
        NetworkClosed(network_id=NETWORK, reason=ClosureReason.COMPLETED),
        GatheringScheduled(**plan),
        GatheringRescheduled(**{**plan, "starts_on": date(2010, 4, 27), "ends_on": None}),
        GatheringCancelled(**plan),
        ParticipantRegistered(
            gathering_id=GATHERING,
            person_id=example_id("person/2"),
            municipality=VERDAL,
            role_category=RoleCategory.POLITICIAN,
        ),
        GatheringHeld(
            gathering_id=GATHERING,
            network_id=NETWORK,
            held_on=date(2010, 4, 20),
            attendance=[
                Attendance(municipality=STEINKJER, role_category=RoleCategory.POLITICIAN, count=2),
                Attendance(municipality=STEINKJER, role_category=RoleCategory.MANAGEMENT, count=1),
                Attendance(municipality=VERDAL, role_category=RoleCategory.DEPARTMENT, count=0),
            ],
            cases_presented=[CasePresented(municipality=STEINKJER, title="Kulturminner i Egge")],
        ),
        IndicatorReported(
            municipality=STEINKJER,
            indicator="kulturminner-registrert",
            year=2010,
            value=42.0,
            status=IndicatorStatus.PRELIMINARY,
            revision=1,
        ),
        StatisticsPublished(
            dataset_id="networks-per-theme",
            dataset_version=1,
            period_start=date(2006, 1, 1),
            period_end=date(2006, 12, 31),
            link="https://livskraft.ks.no/api/statistics/networks-per-theme?version=1",
        ),
        NotificationDelivered(**notice),
        NotificationFailed(
            **{**notice, "attempt": 2},
            reason=FailureReason.REJECTED,
            status_code=503,
            will_retry=True,
        ),
        IndicatorDefined(
            indicator="kulturminner-registrert",
            revision=1,
            theme=Theme.KULTURARV,
            label="Registrerte kulturminner",
            unit="antall",
            decimals=0,
            direction=IndicatorDirection.HIGHER_IS_BETTER,
            source="Riksantikvaren, Askeladden",
            minimum=0,
        ),
        StatusAssessed(**owner, assessment_id=example_id("assessment/1702/1"), assessed_on=date(2010, 3, 1)),
        GoalSet(
            **owner,
            goal_id=GOAL,
            revision=1,
            title="Flere registrerte kulturminner i Egge",
            theme=Theme.KULTURARV,
            indicator="kulturminner-registrert",
            target_value=60,
            target_year=2012,
            set_on=date(2010, 3, 15),
        ),
        MeasurePlanned(**measure, revision=1, status=MeasureStatus.PLANNED, planned_on=date(2010, 4, 1)),
        MeasureUpdated(**measure, revision=2, status=MeasureStatus.COMPLETED, changed_on=date(2010, 11, 30)),
        MeasureEvaluated(
            **owner,
            measure_id=MEASURE,
            evaluation_id=example_id("evaluation/1702/1"),
            evaluated_on=date(2010, 12, 10),
            verdict=MeasureVerdict.WORKING,
        ),
        PlanReported(
            **owner,
            report_id=example_id("plan-report/1702/2010"),
            document=PlanDocument.ANNUAL_REPORT,
            year=2010,
            reported_on=date(2011, 3, 31),
        ),
    ]


EXAMPLES: dict[type[Event], Event] = {type(e): e for e in _examples()}
"""One example per event class, in catalogue order."""
