"""Scenarios for bpmn/preschool_placement: a preschool place within four months (8 kap. 14 § skollagen).

The guardian applies, the placement office offers a place (after four months without an offer the
case escalates to the governing body, non-interrupting), the guardian answers within 14 days (local
policy; otherwise the offer lapses) and the preschool administrator registers the child.
"""

from __future__ import annotations

from datetime import timedelta

from .harness import ProcessDriver

MINUTE = timedelta(minutes=1)

APPLY = ("guardian", "apply_for_preschool")
OFFER = ("placement_office", "offer_place")
ESCALATE = ("governing_body", "escalate_offer")
RESPOND = ("guardian", "respond_to_offer")
REGISTER = ("school_admin", "register_child")


def guardian_applies(drv: ProcessDriver) -> None:
    drv.complete(
        "apply_for_preschool",
        {
            "child_personnummer": "20240506-4565",
            "desired_start_date": "2026-01-07",
            "preschool_choice_1": "Förskolan Lärkan",
            "care_basis": "work_or_study",
            "hours_per_week": 40,
            "guardian_email": "omar.said@example.se",
        },
        lane="guardian",
    )


def office_offers(drv: ProcessDriver) -> None:
    drv.complete(
        "offer_place",
        {
            "offered_preschool": "Förskolan Lärkan",
            "offered_start_date": "2026-01-07",
            "offer_matches_wish": True,
        },
        lane="placement_office",
    )


def guardian_answers(drv: ProcessDriver, response: str) -> None:
    drv.complete("respond_to_offer", {"response": response}, lane="guardian")


def start() -> ProcessDriver:
    return ProcessDriver.from_folder("preschool_placement")


def test_guardian_applies_office_offers_in_time_guardian_accepts_admin_registers() -> None:
    with start() as drv:
        guardian_applies(drv)
        drv.advance(timedelta(days=60))
        office_offers(drv)
        guardian_answers(drv, "accept")
        drv.complete(
            "register_child", {"first_day": "2026-01-07", "group_name": "Blåklockan"}, lane="school_admin"
        )
        assert drv.trail == [APPLY, OFFER, RESPOND, REGISTER]
        assert drv.ended_at == ["end_registered"]
        assert drv.is_completed


def test_no_offer_within_four_months_escalates_to_governing_body_then_guardian_declines() -> None:
    with start() as drv:
        guardian_applies(drv)
        drv.advance(timedelta(days=120))  # four calendar months from 18 August end on 18 December
        assert drv.ready() == [OFFER], "not yet four months"
        drv.advance(timedelta(days=3))
        assert drv.ready() == [OFFER, ESCALATE], "the offer task stays open; the escalation runs alongside"
        drv.complete(
            "escalate_offer",
            {
                "escalation_action": "other_unit_offered",
                "escalation_notes": "Plats ordnas vid Förskolan Svalan.",
                "reported_to_committee": True,
            },
            lane="governing_body",
        )
        office_offers(drv)
        guardian_answers(drv, "decline")
        assert drv.trail == [APPLY, OFFER, ESCALATE, RESPOND]
        assert sorted(drv.ended_at) == ["end_declined", "end_escalation_handled"]
        assert drv.is_completed


def test_guardian_does_not_answer_within_fourteen_days_and_the_offer_lapses() -> None:
    with start() as drv:
        guardian_applies(drv)
        office_offers(drv)
        drv.advance(timedelta(days=14) - MINUTE)
        assert drv.ready() == [RESPOND]
        drv.advance(2 * MINUTE)
        assert drv.ready() == []
        assert drv.trail == [APPLY, OFFER, RESPOND]
        assert drv.ended_at == ["end_offer_lapsed"]
        assert drv.is_completed
