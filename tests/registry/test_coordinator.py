"""What a KS coordinator asks the registry, after the seed's scenario and a withdrawal."""

from __future__ import annotations

from services.devtools import demo


async def test_coordinator_sees_states_gaps_deadlines_and_history(start_service, token):
    registry = await start_service("registry", today=demo.SCENARIO_DAY)
    outcome = await demo.play(registry, lambda role, kommune: token(role, kommune), lambda _: None)
    network = outcome.network_id
    staff = {"Authorization": f"Bearer {token('staff')}"}
    levanger = {"Authorization": f"Bearer {token('municipality', kommune='1719')}"}

    withdrawn = await registry.post(f"/networks/{network}/enrolments/1719/withdraw", headers=levanger)
    assert withdrawn.status_code == 200
    assert [t.split(".")[-2] for t in withdrawn.json()["event_types"]] == ["EnrolmentWithdrawn"]

    [view] = [n for n in (await registry.get("/overview", headers=staff)).json() if n["id"] == network]
    assert view["statuses"] == {"confirmed": 3, "submitted": 1, "withdrawn": 1}
    assert view["members_active"] == 4 and view["below_target"] is True  # target is 5-7
    assert view["missing_decision"] == ["1736"] and view["days_to_deadline"] == 26

    below = (await registry.get("/networks?below_target=true", headers=staff)).json()
    assert network in [n["id"] for n in below]
    assert network not in [
        n["id"] for n in (await registry.get("/networks?below_target=false", headers=staff)).json()
    ]

    # Levanger's networks over time: the withdrawal is kept, not deleted.
    history = (await registry.get("/enrolments?kommunenummer=1719", headers=levanger)).json()
    assert [(h["network_id"], h["status"]) for h in history] == [(network, "withdrawn")]
    audit = (await registry.get(f"/networks/{network}/history", headers=staff)).json()
    levanger_actions = [a["action"] for a in audit if a["kommunenummer"] == "1719"]
    assert levanger_actions == [
        "MunicipalityInvited",
        "EnrolmentSubmitted",
        "ContactAssigned",
        "DecisionRecorded",
        "EnrolmentConfirmed",
        "EnrolmentWithdrawn",
    ]
    assert {a["actor_role"] for a in audit if a["action"] == "EnrolmentWithdrawn"} == {"municipality"}

    assert all(a["actor"] for a in audit)  # staff see who; others see roles only
    seen_by_levanger = (await registry.get(f"/networks/{network}/history", headers=levanger)).json()
    assert {a["actor"] for a in seen_by_levanger} == {None} and len(seen_by_levanger) == len(audit)

    # Levanger may enrol again: submitted anew, and it needs a new decision to be confirmed.
    again = await registry.post(
        f"/networks/{network}/enrolments", json={"kommunenummer": "1719"}, headers=levanger
    )
    assert again.status_code == 201
    history = (await registry.get("/enrolments?kommunenummer=1719", headers=levanger)).json()
    assert [h["status"] for h in history] == ["submitted"]
    contact = {"role": "project-group", "name": "Nils Prøve", "email": "nils@example.org"}
    named = await registry.post(
        f"/networks/{network}/enrolments/1719/contacts", json=contact, headers=levanger
    )
    assert [t.split(".")[-2] for t in named.json()["event_types"]] == ["ContactAssigned"]
    [view] = [n for n in (await registry.get("/overview", headers=staff)).json() if n["id"] == network]
    assert "1719" in view["missing_decision"]
