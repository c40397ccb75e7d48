"""Events for reporting's tests: every type for one network, sent as the outbox relay sends them,
and `caught_up`, which waits until a consumer group has committed every record of its topics."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import date

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from livskraft_contracts import (
    CloudEvent,
    ContactAssigned,
    DecisionRecorded,
    EnrolmentConfirmed,
    EnrolmentSubmitted,
    EnrolmentWithdrawn,
    GatheringCancelled,
    GatheringHeld,
    GatheringRescheduled,
    GatheringScheduled,
    MunicipalityInvited,
    NetworkClosed,
    NetworkCreated,
    ParticipantRegistered,
    to_kafka,
)


def ref(kommunenummer: str, valid_on: str = "2011-03-01") -> dict[str, str]:
    return {"kommunenummer": kommunenummer, "valid_on": valid_on}


def network_story(
    name: str,
    year: int = 2011,
    *,
    kommuner: tuple[str, str, str] = ("5001", "5006", "5035"),
    closed: str | None = None,
) -> list[CloudEvent]:
    """A network's events of every registry type, and two gatherings' of every gatherings type,
    each numbered in its aggregate's sequence. The third municipality withdraws; the first
    gathering is held (attendance from the first two), the second cancelled."""
    first, second, third = kommuner
    network = uuid.uuid4()
    on = f"{year}-03-01"
    n: list = [
        NetworkCreated(
            network_id=network,
            name=name,
            themes=["klima-energi", "areal"],
            county="50",
            region="Trøndelag",
            period_start=date(year, 1, 1),
            period_end=date(year + 1, 12, 31),
            enrolment_deadline=date(year, 6, 1),
        )
    ]
    for kommune in kommuner:
        n += [
            MunicipalityInvited(network_id=network, municipality=ref(kommune, on)),
            EnrolmentSubmitted(
                network_id=network, municipality=ref(kommune, on), late_override=kommune == third
            ),
            DecisionRecorded(
                network_id=network,
                municipality=ref(kommune, on),
                decision_id=uuid.uuid4(),
                body="kommunestyre" if kommune != third else "formannskap",
                meeting_date=date(year, 2, 1),
                case_number=f"{year}/{kommune[2:]}",
                decision_date=date(year, 2, 2),
                final=kommune != third,
                summary="Deltar.",
            ),
            ContactAssigned(
                network_id=network, municipality=ref(kommune, on), person_id=uuid.uuid4(), role="main-contact"
            ),
            EnrolmentConfirmed(network_id=network, municipality=ref(kommune, on)),
        ]
    n.append(EnrolmentWithdrawn(network_id=network, municipality=ref(third, on)))
    if closed:
        n.append(NetworkClosed(network_id=network, reason=closed))
    events = [CloudEvent.wrap(e, sequence=i) for i, e in enumerate(n, start=1)]
    for g, (day, place) in enumerate(((date(year, 4, 10), "Steinkjer"), (date(year, 9, 20), "Levanger"))):
        gathering = uuid.uuid4()
        plan = {"gathering_id": gathering, "network_id": network, "starts_on": day, "place": place}
        steps: list = [
            GatheringScheduled(**plan, host=ref(second, on)),
            GatheringRescheduled(**{**plan, "starts_on": day.replace(day=day.day + 1)}),
            ParticipantRegistered(
                gathering_id=gathering,
                person_id=uuid.uuid4(),
                municipality=ref(first, on),
                role_category="politician",
            ),
        ]
        if g == 0:
            steps.append(
                GatheringHeld(
                    gathering_id=gathering,
                    network_id=network,
                    held_on=day.replace(day=day.day + 1),
                    attendance=[
                        {"municipality": ref(first, on), "role_category": "politician", "count": 2},
                        {"municipality": ref(second, on), "role_category": "management", "count": 1},
                        {"municipality": ref(second, on), "role_category": "resource", "count": 3},
                    ],
                    cases_presented=[{"municipality": ref(second, on), "title": "Grønn industri"}],
                )
            )
        else:
            steps.append(GatheringCancelled(**plan))
        events += [CloudEvent.wrap(e, sequence=i) for i, e in enumerate(steps, start=1)]
    return events


async def produce(bootstrap: str, events: Sequence[CloudEvent], *, twice: bool = False) -> None:
    """Send events as the outbox relay does (key, value, ce_ headers); `twice`: each one twice,
    as a relay that crashed before marking them published would."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = []
        for event in events:
            key, value, headers = to_kafka(event)
            for _ in range(2 if twice else 1):
                futures.append(await producer.send(event.topic, value, key=key, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def send_raw(
    bootstrap: str, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def caught_up(bootstrap: str, group_id: str, topics: Sequence[str], timeout: float = 60) -> None:
    """Wait until `group_id` has committed the end of every partition of `topics`: everything
    on them has been applied."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        tps = [TopicPartition(t, p) for t in topics for p in sorted(cluster.partitions_for_topic(t) or ())]
        assert tps, f"no partitions found for {topics}"
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout
        while True:
            behind = {
                tp: end for tp, end in ends.items() if end and ((await consumer.committed(tp)) or 0) < end
            }
            if not behind:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{group_id} did not catch up within {timeout} s: {behind}")
            await asyncio.sleep(0.1)
    finally:
        await consumer.stop()
