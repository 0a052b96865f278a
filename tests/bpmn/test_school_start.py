"""Paperless school start: every guardian with custody confirms details and gives consents."""

from datetime import timedelta

import pytest

from tests.bpmn.harness import FormError, ProcessDriver

GUARDIANS = [
    {
        "guardian_id": "g1",
        "name": "Anna Lind",
        "personnummer": "19800101-2346",
        "address": "Storgatan 1",
        "email": "anna@example.se",
        "phone": "070-111 11 11",
    },
    {
        "guardian_id": "g2",
        "name": "Per Lind",
        "personnummer": "19790606-5672",
        "address": "Storgatan 1",
        "email": "per@example.se",
        "phone": "070-222 22 22",
    },
]
START = {
    "pupil_name": "Alva Lind",
    "pupil_personnummer": "20120304-1239",
    "school_unit": "Björkskolan",
    "guardians": GUARDIANS,
}
ANSWER = {
    "guardian_response": {
        "contact_details_confirmed": True,
        "photo_publication_consent": False,
        "excursion_consent": True,
        "special_diet": "none",
    }
}
BOTH = [("guardian", "confirm_details_and_consents"), ("guardian", "confirm_details_and_consents")]


def by(guardian_id: str):
    return lambda data: data["guardian_record"]["guardian_id"] == guardian_id


def test_both_guardians_answer() -> None:
    with ProcessDriver.from_folder("school_start", START) as drv:
        assert drv.ready() == BOTH
        drv.complete("confirm_details_and_consents", ANSWER, lane="guardian", where=by("g2"))
        assert drv.ready() == [("guardian", "confirm_details_and_consents")]
        drv.complete("confirm_details_and_consents", ANSWER, lane="guardian", where=by("g1"))
        assert drv.trail == BOTH
        assert drv.ended_at == ["end_all_answered"]
        assert drv.is_completed
        assert len(drv.data["guardian_responses"]) == 2


def test_single_guardian_answers_once() -> None:
    with ProcessDriver.from_folder("school_start", {**START, "guardians": GUARDIANS[:1]}) as drv:
        drv.complete("confirm_details_and_consents", ANSWER)
        assert drv.trail == [("guardian", "confirm_details_and_consents")]
        assert drv.ended_at == ["end_all_answered"]


def test_prefilled_registry_fields_are_not_asked_again() -> None:
    with ProcessDriver.from_folder("school_start", START) as drv:
        with pytest.raises(FormError):
            drv.complete("confirm_details_and_consents", {**ANSWER, "pupil_name": "Någon annan"})
        with pytest.raises(FormError):
            drv.complete(
                "confirm_details_and_consents",
                {"guardian_response": {**ANSWER["guardian_response"], "new_email": "inte-en-adress"}},
            )


def test_reminder_after_a_week_and_escalation_to_school_admin_after_two() -> None:
    with ProcessDriver.from_folder("school_start", START) as drv:
        drv.complete("confirm_details_and_consents", ANSWER, where=by("g1"))
        drv.advance(timedelta(days=7, hours=1))
        assert drv.ended_at == ["end_reminder_sent"]
        drv.advance(timedelta(days=7))
        assert drv.ready() == [
            ("guardian", "confirm_details_and_consents"),
            ("school_admin", "follow_up_unanswered"),
        ]
        drv.complete(
            "follow_up_unanswered",
            {"contacted_on": "2025-09-02", "contact_method": "phone"},
            lane="school_admin",
        )
        drv.complete("confirm_details_and_consents", ANSWER, where=by("g2"))
        assert drv.trail == BOTH + [("school_admin", "follow_up_unanswered")]
        assert sorted(drv.ended_at) == ["end_all_answered", "end_follow_up_done", "end_reminder_sent"]
        assert drv.is_completed


def test_each_guardian_task_gets_its_own_record_and_the_prefilled_pupil_fields() -> None:
    with ProcessDriver.from_folder("school_start", START) as drv:
        tasks = drv.ready_tasks()
        assert sorted(t.data["guardian_record"]["guardian_id"] for t in tasks) == ["g1", "g2"]
        for task in tasks:
            assert task.data["pupil_name"] == "Alva Lind"
            assert task.data["pupil_personnummer"] == "20120304-1239"
            assert task.data["school_unit"] == "Björkskolan"
            assert task.data["guardian_record"] in GUARDIANS
