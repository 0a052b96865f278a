"""A pupil's GDPR rights through the API, for the governing body: an audited export of everything held,
rectification with before/after, and erasure that waits for open cases and retention."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import DataSubjectRequest
from audit.models import AuditEvent
from audit.services import audit_chain_verify
from organisation.models import Pupil
from processes.models import ProcessInstance
from tasks.models import UserTask

pytestmark = pytest.mark.django_db


@pytest.fixture
def gunnel(personas):
    return personas["governing_body"]


def test_the_export_holds_registry_cases_tasks_with_form_data_and_events_and_is_audited(
    api, gunnel, alva, cases
):
    api.force_authenticate(gunnel)

    export = api.get(reverse("accounts-api:pupil-export", args=[alva.pk])).json()

    assert export["pupil"]["personnummer"] == alva.personnummer and export["guardians"]
    assert {c["id"] for c in export["cases"]} == {str(c.pk) for c in cases.values()}
    assert {"needs": ["läsning", "matte"]} in [t["data"] for t in export["tasks"]]
    assert "instance.started" in [e["verb"] for e in export["events"]]
    read = AuditEvent.objects.filter(verb="record.read", actor=gunnel).get()
    assert read.after["page"] == "data_subject_export" and read.after["pupil"] == alva.pk
    assert DataSubjectRequest.objects.get(kind="access").actor == gunnel


def test_rectification_changes_the_name_and_keeps_what_it_was(api, gunnel, alva):
    api.force_authenticate(gunnel)

    response = api.patch(
        reverse("accounts-api:pupil-rectify", args=[alva.pk]), {"last_name": "Ek"}, format="json"
    )

    alva.refresh_from_db()
    assert response.status_code == 200 and alva.last_name == "Ek"
    assert DataSubjectRequest.objects.get(kind="rectification").detail["after"] == {"last_name": "Ek"}


def test_erasure_waits_while_a_case_is_open(api, gunnel, alva, cases):
    api.force_authenticate(gunnel)
    response = api.post(reverse("accounts-api:pupil-erase", args=[alva.pk]))
    assert response.status_code == 409 and response.json()["code"] == "case_open"
    assert Pupil.objects.get(pk=alva.pk).first_name == "Alva"
    assert DataSubjectRequest.objects.get(kind="erasure").outcome == "refused"


def _close(case: ProcessInstance, days_ago: int) -> None:
    ProcessInstance.objects.filter(pk=case.pk).update(
        status=ProcessInstance.Status.COMPLETED, completed_at=timezone.now() - timedelta(days=days_ago)
    )


def test_erasure_waits_for_the_retention_period_then_pseudonymises_and_keeps_statistics(
    api, gunnel, alva, cases
):
    from audit.models import RetentionRule

    RetentionRule.objects.create(
        process_key=cases["waiting_guardian"].version.definition.key, keep_for_days=365
    )
    for case in cases.values():
        _close(case, days_ago=30)
    api.force_authenticate(gunnel)

    early = api.post(reverse("accounts-api:pupil-erase", args=[alva.pk]))
    for case in cases.values():
        _close(case, days_ago=400)
    erased = api.post(reverse("accounts-api:pupil-erase", args=[alva.pk]))

    assert early.status_code == 409 and early.json()["code"] == "retention_period"
    assert erased.status_code == 200
    alva.refresh_from_db()
    assert "Alva" not in alva.full_name and alva.personnummer.startswith("X") and not alva.custodies.exists()
    ids = [case.pk for case in cases.values()]
    assert ProcessInstance.objects.filter(pk__in=ids, pupil=None).count() == 2  # the statistics stay
    assert not UserTask.objects.filter(instance_id__in=ids).exclude(data={}).exists()


def test_erasure_also_removes_the_answers_from_the_audit_trail_and_the_engine_state(api, gunnel, alva, cases):
    answered = AuditEvent.objects.filter(
        instance_id__in=[c.pk for c in cases.values()], verb="task.completed"
    )
    assert any("läsning" in str(event.after) for event in answered), "the trail held the answer before"
    for case in cases.values():
        _close(case, days_ago=4000)
    api.force_authenticate(gunnel)

    assert api.post(reverse("accounts-api:pupil-erase", args=[alva.pk])).status_code == 200

    for case in cases.values():
        case.refresh_from_db()
        assert "läsning" not in str(case.state)
        events = AuditEvent.objects.filter(instance_id=case.pk)
        assert not any("läsning" in str(event.before) + str(event.after) for event in events)
        assert events.filter(verb="retention.applied").count() == 1
    assert audit_chain_verify() is None


def test_nobody_but_the_governing_body_reaches_a_pupils_data(api, personas, alva):
    for role, user in personas.items():
        if role == "governing_body":
            continue
        api.force_authenticate(user)
        assert api.get(reverse("accounts-api:pupil-export", args=[alva.pk])).status_code in (401, 404), role


def test_an_erased_pupil_can_still_be_rectified(api, gunnel, alva):
    api.force_authenticate(gunnel)
    assert api.post(reverse("accounts-api:pupil-erase", args=[alva.pk])).status_code == 200
    response = api.patch(reverse("accounts-api:pupil-rectify", args=[alva.pk]), {"grade": "4"}, format="json")
    assert response.status_code == 200 and response.json()["grade"] == "4"
