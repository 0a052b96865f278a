"""The load test's seed: people who can log in with their token, and open work for each of them."""

import pytest
from rest_framework.test import APIClient

from common.errors import Conflict
from organisation.models import Guardian, Membership, Pupil, Role, SchoolUnit
from processes.models import ProcessInstance
from processes.services.load_test_data import (
    BULK_UNIT,
    STAFF_LANES,
    SUBJECT_PREFIX,
    LoadTestSize,
    load_test_data_seed,
)
from tasks.models import UserTask

pytestmark = pytest.mark.django_db

SMALL = LoadTestSize(staff_per_unit=2, pupils_per_unit=3, staff_cases_per_unit=2, bulk_pupils=4)
SCHOOLS = 3  # the demo's units less the preschool


@pytest.fixture
def seeded():
    return load_test_data_seed(SMALL)


def _api(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_staff_hold_every_lane_of_the_staff_process_at_their_unit(seeded):
    assert len(seeded.staff) == SCHOOLS * SMALL.staff_per_unit
    for credential in seeded.staff:
        roles = set(
            Membership.objects.filter(user__username=credential.username).values_list("unit__code", "role")
        )
        assert roles == {(credential.unit, role) for role in STAFF_LANES}


def test_every_guardian_has_exactly_one_open_school_start_task(seeded):
    # Pupils alternate between two guardians and one: 2 + 1 + 2 per unit.
    assert len(seeded.guardians) == SCHOOLS * 5
    open_tasks = UserTask.objects.filter(status=UserTask.Status.OPEN, lane=Role.GUARDIAN)
    for credential in seeded.guardians:
        guardian = Guardian.objects.get(user__username=credential.username)
        assert open_tasks.filter(guardian=guardian).count() == 1
    assert seeded.open_guardian_tasks == len(seeded.guardians)


def test_cases_and_staff_tasks_are_counted_as_started(seeded):
    cases = ProcessInstance.objects.filter(subject__startswith=SUBJECT_PREFIX)
    assert cases.count() == seeded.cases == SCHOOLS * (SMALL.pupils_per_unit + SMALL.staff_cases_per_unit)
    assert not cases.exclude(status=ProcessInstance.Status.RUNNING).exists()
    # The first step of offensive treatment is the staff member's report, one per case.
    assert seeded.open_staff_tasks == SCHOOLS * SMALL.staff_cases_per_unit


def test_the_bulk_unit_waits_for_its_bulk_start(seeded):
    unit = SchoolUnit.objects.get(code=BULK_UNIT[0])
    assert seeded.bulk_unit == unit.code
    assert Pupil.objects.filter(unit=unit).count() == SMALL.bulk_pupils
    assert not ProcessInstance.objects.filter(unit=unit).exists()
    assert Membership.objects.filter(
        user__username=seeded.bulk_principal, unit=unit, role=Role.PRINCIPAL
    ).exists()
    assert len(seeded.bulk_guardians) == 6


def test_the_credentials_log_in_to_the_task_api(seeded):
    guardian, staff = seeded.guardians[0], seeded.staff[0]
    mine = _api(guardian.token).get("/api/tasks/", {"tab": "mine"})
    assert mine.status_code == 200
    assert [task["process"] for task in mine.json()["results"]] == ["school_start"]
    team = _api(staff.token).get("/api/tasks/", {"tab": "team"})
    assert team.status_code == 200
    assert {task["element_id"] for task in team.json()["results"]} == {"report_to_principal"}
    assert _api("not-a-token").get("/api/tasks/").status_code == 401


def test_a_second_seed_is_refused(seeded):
    with pytest.raises(Conflict) as refused:
        load_test_data_seed(SMALL)
    assert refused.value.code == "load_test_data_exists"
