"""The printable case history: who did what and when, personal data masked for readers who are not
entitled, reads of a sensitive case recorded, 404 for everybody else."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from audit.masking import MASK
from audit.models import AuditEvent, Verb
from audit.selectors import case_timeline
from audit.services import audit_chain_verify
from organisation.models import Role
from organisation.tests.factories import MembershipFactory, SchoolUnitFactory, UserFactory
from processes.services.instances import process_instance_start
from processes.services.versions import (
    bundle_files_from_folder,
    process_library_folders,
    process_version_deploy,
    process_version_publish,
)
from tasks.services.user_tasks import user_task_complete

pytestmark = pytest.mark.django_db
CONCERN = "Alva har svårt med läsningen; dyslexi misstänks, mamma berättar om sömnproblem."


@pytest.fixture
def tove(ekbacke):
    """Teacher at Ekbackeskolan."""
    return MembershipFactory(user=UserFactory(username="tove"), unit=ekbacke, role=Role.TEACHER).user


@pytest.fixture
def greta(ekbacke):
    """The governing body (huvudman), seated at the municipality's office, not at the school."""
    office = SchoolUnitFactory(municipality=ekbacke.municipality, name="Utbildningsförvaltningen")
    return MembershipFactory(user=UserFactory(username="greta"), unit=office, role=Role.GOVERNING_BODY).user


@pytest.fixture
def support_case(ekbacke, alva, tove, rut):
    folder = next(f for f in process_library_folders() if f.name == "special_support")
    version = process_version_publish(process_version_deploy(bundle_files_from_folder(folder))[0])
    case = process_instance_start(
        version=version,
        unit=ekbacke,
        pupil=alva,
        initiator=tove,
        data={"pupil_name": alva.full_name, "pupil_personnummer": alva.personnummer},
    )
    user_task_complete(
        task_id=case.user_tasks.get().pk,
        user=tove,
        data={"subjects": "Matematik", "concern_description": CONCERN, "signalled_on": "2026-11-02"},
    )
    return case


def _page(client, user, case):
    client.force_login(user)
    return client.get(reverse("audit:case_timeline", args=[case.pk]))


def test_staff_at_the_unit_see_everything_and_the_read_is_recorded(client, support_case, rut, tove, alva):
    response = _page(client, rut, support_case)

    page = response.content.decode()
    assert response.status_code == 200
    assert CONCERN in page and alva.full_name in page and alva.personnummer[8:] in page
    for verb in ("Ärende startat", "Uppgift redo", "Uppgift slutförd"):
        assert verb in page
    assert tove.get_full_name() in page
    read = AuditEvent.objects.filter(verb=Verb.RECORD_READ).get()
    assert read.actor == rut and read.instance_id == support_case.pk and read.after["unmasked"] is True
    assert audit_chain_verify() is None


def test_the_governing_body_is_entitled(client, support_case, greta, alva):
    page = _page(client, greta, support_case).content.decode()

    assert CONCERN in page and alva.personnummer[8:] in page
    assert AuditEvent.objects.filter(verb=Verb.RECORD_READ, actor=greta).exists()


def test_the_guardian_sees_the_history_of_their_child(client, support_case, sara):
    assert _page(client, sara, support_case).status_code == 200


def test_an_outsider_gets_404_and_nothing_is_recorded(client, support_case, olle):
    assert _page(client, olle, support_case).status_code == 404
    assert not AuditEvent.objects.filter(verb=Verb.RECORD_READ).exists()


def test_a_reader_who_is_not_entitled_sees_it_masked(client, support_case, rut, alva):
    # Alva moved to another school: the old school still sees its case, no longer her data.
    alva.unit = SchoolUnitFactory(municipality=alva.unit.municipality)
    alva.save()

    response = _page(client, rut, support_case)
    page = response.content.decode()

    assert response.status_code == 200
    assert CONCERN not in page and alva.full_name not in page and alva.personnummer[8:] not in page
    assert MASK in page and "Matematik" not in page, "free text of a sensitive case is masked"
    assert "2026-11-02" in page, "dates stay"
    read = AuditEvent.objects.filter(verb=Verb.RECORD_READ).get()
    assert read.after["unmasked"] is False


def test_the_selector_masks_personnummer_anywhere(support_case, olle, alva):
    timeline = case_timeline(olle, support_case)

    completed = next(e for e in timeline.entries if e.verb == Verb.TASK_COMPLETED)
    assert not timeline.entitled
    assert alva.personnummer not in str(completed.after) and alva.personnummer[8:] not in str(completed.after)
    assert completed.after["concern_description"] == MASK
    assert completed.after["signalled_on"] == "2026-11-02"


def test_opening_a_task_of_a_sensitive_case_is_recorded(client, support_case, rut):
    task = support_case.user_tasks.filter(status="open").first()
    MembershipFactory(user=rut, unit=task.unit, role=task.lane)
    client.force_login(rut)

    page = client.get(reverse("tasks:detail", args=[task.pk])).content.decode()

    read = AuditEvent.objects.filter(verb=Verb.RECORD_READ).get()
    assert read.actor == rut and read.user_task_id == task.pk and read.after["page"] == "task"
    assert reverse("audit:case_timeline", args=[support_case.pk]) in page


def test_opening_a_task_of_an_ordinary_case_is_not(client, support_version, ekbacke, alva, sara):
    case = process_instance_start(version=support_version, unit=ekbacke, pupil=alva)
    client.force_login(sara)

    assert client.get(reverse("tasks:detail", args=[case.user_tasks.get().pk])).status_code == 200
    assert not AuditEvent.objects.filter(verb=Verb.RECORD_READ).exists()


def test_the_page_prints(client, support_case, rut):
    page = _page(client, rut, support_case).content.decode()
    css = Path(finders.find("audit/audit.css")).read_text(encoding="utf-8")

    assert "audit/audit.css" in page and "<style" not in page, "no inline style (CSP)"
    assert "@media print" in css and ".site-header" in css


def test_an_entitled_reader_of_an_ordinary_case_is_recorded_too(client, support_version, ekbacke, alva, rut):
    case = process_instance_start(version=support_version, unit=ekbacke, pupil=alva)

    page = _page(client, rut, case).content.decode()

    assert "Ärendets historik" in page and alva.full_name in page
    read = AuditEvent.objects.filter(verb=Verb.RECORD_READ).get()
    assert read.actor == rut and read.after == {"page": "history", "unmasked": True}
