"""The staff pages for starting cases: one case for a pupil, a bulk start and its progress page."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from organisation.models import Role
from organisation.tests.factories import MembershipFactory, PupilFactory, SchoolUnitFactory, UserFactory
from processes.models import BulkStart, ProcessInstance
from processes.services.bulk_starts import bulk_start_request
from processes.services.versions import (
    bundle_files_from_folder,
    process_version_deploy,
    process_version_publish,
)
from tasks.models import UserTask

pytestmark = pytest.mark.django_db


def published(key: str):
    version, _ = process_version_deploy(bundle_files_from_folder(Path(settings.BASE_DIR) / "bpmn" / key))
    return process_version_publish(version)


@pytest.fixture
def school_start(db):
    return published("school_start")


@pytest.fixture
def maja(ekbacke):
    """School administrator at Ekbackeskolan."""
    return MembershipFactory(user=UserFactory(username="maja"), unit=ekbacke, role=Role.SCHOOL_ADMIN).user


@pytest.fixture
def tove(ekbacke):
    """Teacher at Ekbackeskolan."""
    return MembershipFactory(user=UserFactory(username="tove"), unit=ekbacke, role=Role.TEACHER).user


@pytest.fixture
def gunnar(db):
    """Member of the governing body."""
    return MembershipFactory(user=UserFactory(username="gunnar"), role=Role.GOVERNING_BODY).user


@pytest.fixture
def bulk(school_start, ekbacke, maja):
    """A bulk start for Ekbackeskolan's three pupils, queued but not run yet."""
    PupilFactory.create_batch(3, unit=ekbacke)
    return bulk_start_request(version=school_start, unit=ekbacke, requested_by=maja)


def test_every_page_needs_a_login(client, bulk):
    for url in (
        reverse("processes:case_start"),
        reverse("processes:bulk_start_new"),
        reverse("processes:bulk_start_detail", args=[bulk.pk]),
        reverse("processes:bulk_start_progress", args=[bulk.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    assert client.post(reverse("processes:bulk_start_resume", args=[bulk.pk])).status_code == 302


# --- one case ----------------------------------------------------------------------------------------


def test_the_start_form_lists_the_processes_and_the_pupils_of_my_units(client, school_start, tove, alva):
    elsewhere = PupilFactory(unit=SchoolUnitFactory(), first_name="Zelda")
    client.force_login(tove)

    page = client.get(reverse("processes:case_start")).content.decode()

    assert '<label for="start-process">' in page and '<label for="start-pupil">' in page
    assert 'value="school_start"' in page and school_start.definition.name_sv in page
    assert f'value="{alva.pk}"' in page and f'value="{elsewhere.pk}"' not in page


def test_starting_a_case_whose_first_step_is_mine_opens_that_task(client, tove, alva):
    published("special_support")
    client.force_login(tove)

    response = client.post(reverse("processes:case_start"), {"process": "special_support", "pupil": alva.pk})

    case = ProcessInstance.objects.get(pupil=alva)
    task = case.user_tasks.get(status=UserTask.Status.OPEN)
    assert (task.lane, case.initiator) == ("teacher", tove)
    assert response.status_code == 302 and response["Location"] == reverse("tasks:detail", args=[task.pk])


def test_starting_a_case_whose_first_step_is_someone_elses_comes_back_with_a_message(
    client, school_start, tove, alva, sara
):
    client.force_login(tove)

    response = client.post(
        reverse("processes:case_start"), {"process": "school_start", "pupil": alva.pk}, follow=True
    )

    assert response.redirect_chain == [(reverse("processes:case_start"), 302)]
    assert ProcessInstance.objects.get(pupil=alva).user_tasks.get().guardian.user == sara
    assert [m.level_tag for m in response.context["messages"]] == ["success"]


def test_a_pupil_of_another_unit_cannot_be_chosen(client, school_start, tove):
    stranger = PupilFactory(unit=SchoolUnitFactory())
    client.force_login(tove)

    response = client.post(reverse("processes:case_start"), {"process": "school_start", "pupil": stranger.pk})

    assert response.status_code == 422
    assert not ProcessInstance.objects.exists()


def test_someone_without_a_staff_role_may_not_open_the_start_page(client, school_start, sara):
    client.force_login(sara)
    assert client.get(reverse("processes:case_start")).status_code == 403


# --- bulk start --------------------------------------------------------------------------------------


def test_the_bulk_start_form_offers_my_units_and_the_municipality_only_to_the_governing_body(
    client, school_start, ekbacke, maja, gunnar
):
    client.force_login(maja)
    page = client.get(reverse("processes:bulk_start_new")).content.decode()
    assert f'<option value="{ekbacke.pk}"' in page and 'value="all"' not in page
    assert '<option value="school_start" selected>' in page, "the paperless school start by default"

    client.force_login(gunnar)
    page = client.get(reverse("processes:bulk_start_new")).content.decode()
    assert 'value="all"' in page and f'<option value="{ekbacke.pk}"' in page
    response = client.post(reverse("processes:bulk_start_new"), {"process": "school_start", "scope": "all"})
    assert response.status_code == 302 and BulkStart.objects.get().unit is None


def test_a_school_admin_bulk_starts_for_her_unit_and_lands_on_the_progress_page(
    client, school_start, ekbacke, maja, django_capture_on_commit_callbacks
):
    PupilFactory.create_batch(3, unit=ekbacke)
    client.force_login(maja)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("processes:bulk_start_new"), {"process": "school_start", "scope": ekbacke.pk}
        )

    bulk = BulkStart.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("processes:bulk_start_detail", args=[bulk.pk])
    assert (bulk.unit, bulk.requested_by, bulk.status, bulk.started_count) == (ekbacke, maja, "completed", 3)


def test_another_units_school_is_refused_and_a_teacher_may_not_open_the_form(
    client, school_start, maja, tove
):
    client.force_login(maja)
    response = client.post(
        reverse("processes:bulk_start_new"), {"process": "school_start", "scope": SchoolUnitFactory().pk}
    )
    assert response.status_code == 422
    response = client.post(reverse("processes:bulk_start_new"), {"process": "school_start", "scope": "all"})
    assert response.status_code == 403
    assert not BulkStart.objects.exists()

    client.force_login(tove)
    assert client.get(reverse("processes:bulk_start_new")).status_code == 403


def test_the_progress_page_shows_a_progress_element_and_refreshes_while_running(client, bulk, maja):
    BulkStart.objects.filter(pk=bulk.pk).update(status=BulkStart.Status.RUNNING, started_count=1)
    client.force_login(maja)

    response = client.get(reverse("processes:bulk_start_detail", args=[bulk.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert '<progress id="bulk-progress" max="3" value="1" aria-valuetext="1 av 3 ärenden startade">' in page
    assert '<label for="bulk-progress">' in page and 'role="status"' in page
    assert response["Refresh"] == "2", "reloads itself every two seconds, without any script"
    assert "<script" not in page

    paused = client.get(reverse("processes:bulk_start_detail", args=[bulk.pk]), {"refresh": "off"})
    assert "Refresh" not in paused


def test_a_finished_bulk_start_stops_refreshing(client, bulk, maja):
    from processes.services.bulk_starts import bulk_start_run

    bulk_start_run(bulk.pk)
    client.force_login(maja)

    response = client.get(reverse("processes:bulk_start_detail", args=[bulk.pk]))

    assert "Refresh" not in response
    assert 'value="3" aria-valuetext="3 av 3 ärenden startade"' in response.content.decode()


def test_the_progress_json(client, bulk, maja):
    client.force_login(maja)

    response = client.get(reverse("processes:bulk_start_progress", args=[bulk.pk]))

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    assert {k: body[k] for k in ("status", "total", "started", "failed", "percent")} == {
        "status": "pending",
        "total": 3,
        "started": 0,
        "failed": 0,
        "percent": 0,
    }


def test_another_units_principal_and_a_teacher_cannot_see_the_bulk_start(client, bulk, olle, tove):
    for outsider in (olle, tove):
        client.force_login(outsider)
        assert client.get(reverse("processes:bulk_start_detail", args=[bulk.pk])).status_code == 404
        assert client.get(reverse("processes:bulk_start_progress", args=[bulk.pk])).status_code == 404
        assert client.post(reverse("processes:bulk_start_resume", args=[bulk.pk])).status_code == 404


def test_the_governing_body_follows_any_bulk_start(client, bulk, gunnar):
    client.force_login(gunnar)
    assert client.get(reverse("processes:bulk_start_detail", args=[bulk.pk])).status_code == 200


def test_a_stalled_bulk_start_offers_resume_and_resuming_finishes_it(
    client, bulk, maja, django_capture_on_commit_callbacks
):
    BulkStart.objects.filter(pk=bulk.pk).update(
        status=BulkStart.Status.RUNNING, updated_at=timezone.now() - timedelta(minutes=30)
    )
    client.force_login(maja)
    page = client.get(reverse("processes:bulk_start_detail", args=[bulk.pk])).content.decode()
    assert reverse("processes:bulk_start_resume", args=[bulk.pk]) in page
    assert client.get(reverse("processes:bulk_start_resume", args=[bulk.pk])).status_code == 405

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("processes:bulk_start_resume", args=[bulk.pk]))

    assert response.status_code == 302
    bulk.refresh_from_db()
    assert (bulk.status, bulk.started_count) == ("completed", 3)
