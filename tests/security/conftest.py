"""Personas for the security tests: one member of staff per role at Ekbackeskolan, Alva's guardian
Sara, Bo's guardian Bertil (another child at the same school), an outsider principal at another unit,
and a process owner. `cases` holds two of Alva's cases: one waiting for the guardian, one for the
principal."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from rest_framework.test import APIClient

from organisation.models import Role
from organisation.tests.factories import CustodyFactory, MembershipFactory, PupilFactory, UserFactory
from processes.services.instances import process_instance_start
from tasks.services.user_tasks import user_task_complete

STAFF_PERSONAS = {
    "teacher": Role.TEACHER,
    "school_admin": Role.SCHOOL_ADMIN,
    "principal": Role.PRINCIPAL,
    "student_health": Role.STUDENT_HEALTH,
    "placement_office": Role.PLACEMENT_OFFICE,
    "governing_body": Role.GOVERNING_BODY,
}
PERSONAS = [*STAFF_PERSONAS, "guardian", "outsider_principal", "process_owner", "anonymous"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def bo(ekbacke):
    return PupilFactory(unit=ekbacke, first_name="Bo")


@pytest.fixture
def bertil(bo):
    """Bo's guardian: another child's parent at the same school."""
    return CustodyFactory(pupil=bo, guardian__user=UserFactory(username="bertil")).guardian.user


@pytest.fixture
def personas(ekbacke, sara, olle):
    people = {
        name: MembershipFactory(user=UserFactory(username=f"{name}_ek"), unit=ekbacke, role=role).user
        for name, role in STAFF_PERSONAS.items()
    }
    owner = UserFactory(username="ingrid_owner")
    owner.user_permissions.add(Permission.objects.get(codename="manage_process"))
    return {**people, "guardian": sara, "outsider_principal": olle, "process_owner": owner, "anonymous": None}


@pytest.fixture
def cases(support_version, ekbacke, alva, sara):
    """Alva's two cases: `waiting_guardian` (the guardian's application is open) and
    `waiting_principal` (applied, the principal's decision is open)."""
    first = process_instance_start(version=support_version, unit=ekbacke, pupil=alva)
    second = process_instance_start(version=support_version, unit=ekbacke, pupil=alva)
    apply = second.user_tasks.get(element_id="apply")
    user_task_complete(task_id=apply.pk, user=sara, data={"needs": ["läsning", "matte"]})
    return {"waiting_guardian": first, "waiting_principal": second}


@pytest.fixture
def bo_case(support_version, ekbacke, bo, bertil):
    return process_instance_start(version=support_version, unit=ekbacke, pupil=bo)
