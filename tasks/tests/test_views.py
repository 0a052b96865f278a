"""A teacher at Ekbacke works her inbox; a teacher at Strand cannot see or touch Ekbacke's tasks,
by URL or by guessing ids."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent, Verb
from organisation.models import Role
from organisation.tests.factories import MembershipFactory, PupilFactory, SchoolUnitFactory, UserFactory
from processes.services.instances import process_instance_start
from processes.services.versions import (
    bundle_files_from_folder,
    process_library_folders,
    process_version_deploy,
    process_version_publish,
)
from tasks.models import UserTask

pytestmark = pytest.mark.django_db


@pytest.fixture
def special_support(db):
    folder = next(f for f in process_library_folders() if f.name == "special_support")
    return process_version_publish(process_version_deploy(bundle_files_from_folder(folder))[0])


@pytest.fixture
def lisa(ekbacke):
    """Teacher at Ekbackeskolan."""
    return MembershipFactory(
        user=UserFactory(username="lisa", first_name="Lisa"), unit=ekbacke, role=Role.TEACHER
    ).user


@pytest.fixture
def stina(db):
    """Teacher at Strandskolan: the outsider."""
    return MembershipFactory(
        user=UserFactory(username="stina"), unit=SchoolUnitFactory(name="Strandskolan"), role=Role.TEACHER
    ).user


@pytest.fixture
def signal_task(special_support, ekbacke, alva):
    case = process_instance_start(
        version=special_support,
        unit=ekbacke,
        pupil=alva,
        data={"pupil_name": alva.full_name, "pupil_personnummer": alva.personnummer},
    )
    return case.user_tasks.get()


VALID_SIGNAL = {
    "subjects": "Matematik",
    "concern_description": "Når inte kunskapskraven i taluppfattning",
    "signalled_on": "2026-09-01",
}


def test_the_team_tab_lists_the_unclaimed_task_with_pupil_and_due_date(client, lisa, signal_task):
    client.force_login(lisa)

    page = client.get(reverse("tasks:inbox") + "?tab=team").content.decode()

    assert signal_task.name in page and "Alva Ek" in page
    assert reverse("tasks:detail", args=[signal_task.pk]) in page
    assert (
        f'datetime="{signal_task.due_at.isoformat()}' in page
        or signal_task.due_at.strftime("%Y-%m-%d") in page
    )


def test_overdue_tasks_are_marked_and_can_be_filtered(client, lisa, signal_task):
    UserTask.objects.filter(pk=signal_task.pk).update(due_at=timezone.now() - timedelta(days=1))
    client.force_login(lisa)

    page = client.get(reverse("tasks:inbox") + "?tab=team&overdue=1").content.decode()

    assert 'class="overdue"' in page and signal_task.name in page


def test_claiming_moves_the_task_to_mine_and_is_audited(client, lisa, signal_task):
    client.force_login(lisa)

    client.post(reverse("tasks:claim", args=[signal_task.pk]))

    signal_task.refresh_from_db()
    assert signal_task.claimed_by == lisa
    assert signal_task.name in client.get(reverse("tasks:inbox") + "?tab=mine").content.decode()
    assert signal_task.name not in client.get(reverse("tasks:inbox") + "?tab=team").content.decode()
    assert AuditEvent.objects.filter(verb=Verb.TASK_CLAIMED, user_task_id=signal_task.pk, actor=lisa).exists()


def test_the_task_page_renders_the_form_with_swedish_labels_and_prefilled_read_only_fields(
    client, lisa, signal_task, alva
):
    client.force_login(lisa)

    page = client.get(reverse("tasks:detail", args=[signal_task.pk])).content.decode()

    assert "Ämnen eller kunskapskrav som berörs" in page  # Swedish label from the schema
    assert (
        'name="subjects"' in page and 'name="pupil_personnummer"' not in page
    )  # read-only: shown, not input
    assert alva.personnummer[:8] in page


def test_errors_are_shown_next_to_the_fields_and_nothing_is_completed(client, lisa, signal_task):
    client.force_login(lisa)

    response = client.post(
        reverse("tasks:detail", args=[signal_task.pk]),
        {"action": "complete", "subjects": "", "concern_description": "<script>alert(1)</script>"},
    )

    page = response.content.decode()
    assert response.status_code == 422
    assert 'id="f-subjects-errors"' in page and 'aria-invalid="true"' in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    signal_task.refresh_from_db()
    assert signal_task.status == UserTask.Status.OPEN


def test_oversized_text_is_refused_with_a_message(client, lisa, signal_task):
    client.force_login(lisa)
    response = client.post(
        reverse("tasks:detail", args=[signal_task.pk]),
        {**VALID_SIGNAL, "action": "complete", "concern_description": "x" * 20_000},
    )
    assert response.status_code == 422 and "för lång" in response.content.decode()


def test_a_draft_is_kept_while_the_teacher_is_interrupted(client, lisa, signal_task):
    client.force_login(lisa)

    client.post(reverse("tasks:detail", args=[signal_task.pk]), {"action": "draft", "subjects": "Svenska"})

    signal_task.refresh_from_db()
    assert signal_task.draft == {"subjects": "Svenska"} and signal_task.status == UserTask.Status.OPEN
    assert 'value="Svenska"' in client.get(reverse("tasks:detail", args=[signal_task.pk])).content.decode()


def test_completing_from_the_task_page_moves_the_case_on_and_a_resubmit_changes_nothing(
    client, lisa, signal_task
):
    client.force_login(lisa)
    url = reverse("tasks:detail", args=[signal_task.pk])

    first = client.post(url, {**VALID_SIGNAL, "action": "complete"})
    second = client.post(url, {**VALID_SIGNAL, "action": "complete"})

    assert first.status_code == 302
    signal_task.refresh_from_db()
    assert signal_task.status == UserTask.Status.COMPLETED and signal_task.completed_by == lisa
    assert second.status_code in (200, 422)  # the page explains the task is done; nothing re-applied
    assert UserTask.objects.filter(instance=signal_task.instance).count() == 2
    assert "Lisa" in client.get(reverse("tasks:detail", args=[signal_task.pk])).content.decode()


def test_a_teacher_at_another_unit_cannot_see_claim_or_complete_the_task(client, stina, signal_task):
    client.force_login(stina)
    detail = reverse("tasks:detail", args=[signal_task.pk])

    assert client.get(detail).status_code == 404
    assert client.post(detail, {**VALID_SIGNAL, "action": "complete"}).status_code == 404
    assert client.post(reverse("tasks:claim", args=[signal_task.pk])).status_code == 404
    assert signal_task.name not in client.get(reverse("tasks:inbox") + "?tab=team").content.decode()
    assert client.get(reverse("tasks:detail", args=[signal_task.pk + 999])).status_code == 404
    signal_task.refresh_from_db()
    assert signal_task.claimed_by is None and signal_task.status == UserTask.Status.OPEN


def test_the_principal_reassigns_within_the_unit_and_it_is_audited(client, lisa, rut, signal_task, ekbacke):
    colleague = MembershipFactory(user=UserFactory(username="karl"), unit=ekbacke, role=Role.TEACHER).user
    client.force_login(lisa)
    client.post(reverse("tasks:claim", args=[signal_task.pk]))
    client.force_login(rut)

    client.post(reverse("tasks:reassign", args=[signal_task.pk]), {"to_user": colleague.pk})

    signal_task.refresh_from_db()
    assert signal_task.claimed_by == colleague
    event = AuditEvent.objects.get(verb=Verb.TASK_REASSIGNED)
    assert (event.actor, event.before, event.after) == (
        rut,
        {"claimed_by": lisa.pk},
        {"claimed_by": colleague.pk},
    )


def test_a_teacher_cannot_reassign_and_cannot_delegate_outside_the_lane(client, lisa, stina, signal_task):
    client.force_login(lisa)
    client.post(reverse("tasks:reassign", args=[signal_task.pk]), {"to_user": lisa.pk})
    client.post(reverse("tasks:delegate", args=[signal_task.pk]), {"to_user": stina.pk})

    signal_task.refresh_from_db()
    assert signal_task.claimed_by is None
    assert not AuditEvent.objects.filter(verb__in=[Verb.TASK_REASSIGNED, Verb.TASK_DELEGATED]).exists()


def test_the_inbox_pages_through_many_tasks(client, lisa, special_support, ekbacke):
    for _ in range(30):
        process_instance_start(version=special_support, unit=ekbacke, pupil=PupilFactory(unit=ekbacke))
    client.force_login(lisa)

    first = client.get(reverse("tasks:inbox") + "?tab=team").content.decode()
    second = client.get(reverse("tasks:inbox") + "?tab=team&page=2").content.decode()

    task_links = re.compile(r'href="/tasks/\d+/"')
    assert len(task_links.findall(first)) == 25 and len(task_links.findall(second)) == 5
    assert 'rel="next"' in first and 'rel="prev"' in second


def test_the_inbox_needs_a_login(client):
    assert client.get(reverse("tasks:inbox")).status_code == 302


def test_only_the_principal_is_offered_reassignment_and_only_the_lane_may_take_the_task(
    client, lisa, rut, signal_task, ekbacke
):
    MembershipFactory(user=UserFactory(username="karl"), unit=ekbacke, role=Role.TEACHER)
    url = reverse("tasks:detail", args=[signal_task.pk])

    client.force_login(lisa)
    as_teacher = client.get(url).content.decode()
    client.force_login(rut)
    as_principal = client.get(url).content.decode()

    assert "Ta uppgiften" in as_teacher and "Fördela om (rektor)" not in as_teacher
    assert "Fördela om (rektor)" in as_principal and "Ta uppgiften" not in as_principal
