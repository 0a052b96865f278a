"""Data for a load test (bench/load_test.py): people with API tokens and running cases with open tasks.

In the demo municipality (organisation.services.demo: its code, name and school units, without its people,
whose passwords are slow to hash), at each of its schools (not the preschool):
staff who hold the teacher, principal and governing-body lanes of offensive treatment there, pupils with
one or two guardians with custody, one paperless school start per pupil (a task for each guardian) and a
number of offensive-treatment cases (a task for the staff, then one step after another). A further unit,
Lastskolan, has pupils and guardians but no case yet: the load test bulk-starts school start there while
the others work, so the Celery workers have work too. Cases start through process_instance_start, as in
production; people and tokens are created in bulk, since the registry has no service for them.

For a throwaway database only: refuses to run twice (Conflict `load_test_data_exists`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from itertools import count
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from common.errors import Conflict
from organisation.models import Custody, Guardian, Membership, Municipality, Pupil, Role, SchoolUnit
from organisation.services.demo import MUNICIPALITY, UNITS, demo_personnummer
from processes.models import ProcessVersion
from processes.services.bulk_starts import pupil_start_data
from processes.services.instances import process_instance_start
from processes.services.pilots import process_version_for_unit
from processes.services.versions import (
    bundle_files_from_folder,
    process_library_folders,
    process_version_deploy,
    process_version_publish,
)
from tasks.models import UserTask

USERNAME_PREFIX = "last."  # "last" as in belastning: every person the load test logs in as
SUBJECT_PREFIX = "LOAD-"
BULK_UNIT = ("90000099", "Lastskolan")
STAFF_LANES = (Role.TEACHER, Role.PRINCIPAL, Role.GOVERNING_BODY)
GUARDIAN_PROCESS, STAFF_PROCESS = "school_start", "offensive_treatment"
# Born in years the demo does not use (2016, 2022, 2009; 1980–81), so no personnummer is taken twice.
PUPIL_BIRTH, GUARDIAN_BIRTH = date(2017, 1, 1), date(1975, 1, 1)


@dataclass(frozen=True)
class LoadTestSize:
    staff_per_unit: int = 4
    pupils_per_unit: int = 300
    staff_cases_per_unit: int = 150
    bulk_pupils: int = 200


@dataclass(frozen=True)
class Credential:
    username: str
    token: str
    unit: str  # school unit code


@dataclass(frozen=True)
class LoadTestData:
    """Who the load tool logs in as, and what was started for them."""

    staff: list[Credential]
    guardians: list[Credential]
    bulk_guardians: list[Credential]
    bulk_unit: str
    bulk_principal: str
    cases: int
    open_staff_tasks: int
    open_guardian_tasks: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _personnummer_sequence(birth: date) -> Iterator[str]:
    """Valid, distinct personnummer: one serial per day of a year, then the next serial."""
    for index in count():
        yield demo_personnummer(birth + timedelta(days=index % 365), 200 + index // 365)


def _publish(key: str) -> None:
    (folder,) = [folder for folder in process_library_folders() if folder.name == key]
    version, _created = process_version_deploy(bundle_files_from_folder(folder))
    if version.status == ProcessVersion.Status.DRAFT:
        process_version_publish(version)


class _Registry:
    """Creates people in bulk: users with tokens, pupils, guardians with custody."""

    def __init__(self) -> None:
        self.pupil_numbers = _personnummer_sequence(PUPIL_BIRTH)
        self.guardian_numbers = _personnummer_sequence(GUARDIAN_BIRTH)
        self.unusable_password = make_password(None)

    def users(self, usernames: list[str]) -> list[Any]:
        users = get_user_model().objects.bulk_create(
            [
                get_user_model()(
                    username=name, password=self.unusable_password, email=f"{name}@example.invalid"
                )
                for name in usernames
            ]
        )
        Token.objects.bulk_create([Token(key=Token.generate_key(), user=user) for user in users])
        return users

    def pupils_with_guardians(
        self, unit: SchoolUnit, pupils: int, short: str
    ) -> tuple[list[Pupil], list[Guardian]]:
        """`pupils` pupils at `unit`; every other one has two guardians with custody (both answer in
        school start), the rest one. Returns the pupils and their guardians, each guardian with a login."""
        created = Pupil.objects.bulk_create(
            [
                Pupil(
                    personnummer=next(self.pupil_numbers),
                    first_name="Elev",
                    last_name=f"{short.capitalize()} {n}",
                    unit=unit,
                    grade="1",
                )
                for n in range(pupils)
            ]
        )
        parents = [(pupil, parent) for index, pupil in enumerate(created) for parent in range(2 - index % 2)]
        users = self.users([f"{USERNAME_PREFIX}vh.{short}.{n}" for n in range(len(parents))])
        guardians = Guardian.objects.bulk_create(
            [
                Guardian(
                    personnummer=next(self.guardian_numbers),
                    first_name=["Sara", "Johan"][parent],
                    last_name=pupil.last_name,
                    user=user,
                    email=user.email,
                    phone="070-123 45 67",
                )
                for (pupil, parent), user in zip(parents, users, strict=True)
            ]
        )
        Custody.objects.bulk_create(
            [
                Custody(pupil=pupil, guardian=guardian)
                for (pupil, _parent), guardian in zip(parents, guardians, strict=True)
            ]
        )
        return created, guardians


def _credentials(users: list[Any], unit: SchoolUnit) -> list[Credential]:
    tokens = dict(Token.objects.filter(user__in=users).values_list("user_id", "key"))
    return [Credential(user.username, tokens[user.pk], unit.code) for user in users]


@transaction.atomic
def load_test_data_seed(size: LoadTestSize) -> LoadTestData:
    """Create the load test's people and cases (see the module docstring); return their credentials.

    Raises Conflict `load_test_data_exists` when this database has been seeded already.
    """
    if get_user_model().objects.filter(username__startswith=USERNAME_PREFIX).exists():
        raise Conflict("load_test_data_exists", _("This database already holds load test data."))
    municipality, _created = Municipality.objects.get_or_create(
        code=MUNICIPALITY[0], defaults={"name": MUNICIPALITY[1]}
    )
    schools = [
        (
            SchoolUnit.objects.get_or_create(
                code=code, defaults={"municipality": municipality, "name": name, "kind": kind}
            )[0],
            short,
        )
        for code, short, name, kind in UNITS
        if kind != SchoolUnit.Kind.PRESCHOOL
    ]
    _publish(GUARDIAN_PROCESS)
    _publish(STAFF_PROCESS)
    registry = _Registry()
    staff: list[Credential] = []
    guardians: list[Credential] = []
    cases = 0
    for unit, short in schools:
        members = registry.users([f"{USERNAME_PREFIX}{short}.{n}" for n in range(size.staff_per_unit)])
        Membership.objects.bulk_create(
            [Membership(user=member, unit=unit, role=role) for member in members for role in STAFF_LANES]
        )
        staff += _credentials(members, unit)
        created, unit_guardians = registry.pupils_with_guardians(unit, size.pupils_per_unit, short)
        guardians += _credentials([guardian.user for guardian in unit_guardians], unit)
        school_start = process_version_for_unit(GUARDIAN_PROCESS, unit)
        offensive_treatment = process_version_for_unit(STAFF_PROCESS, unit)
        pupils = list(
            Pupil.objects.filter(pk__in=[pupil.pk for pupil in created])
            .order_by("pk")
            .select_related("unit")
            .prefetch_related("custodies__guardian")
        )
        for pupil in pupils:
            process_instance_start(
                version=school_start,
                unit=unit,
                pupil=pupil,
                subject=f"{SUBJECT_PREFIX}skolstart-{pupil.pk}",
                data=pupil_start_data(pupil),
            )
        for n in range(size.staff_cases_per_unit if pupils else 0):
            pupil = pupils[n % len(pupils)]
            process_instance_start(
                version=offensive_treatment,
                unit=unit,
                pupil=pupil,
                initiator=members[n % len(members)] if members else None,
                subject=f"{SUBJECT_PREFIX}krankning-{unit.code}-{n}",
                data=pupil_start_data(pupil),
            )
        cases += len(pupils) + (size.staff_cases_per_unit if pupils else 0)

    bulk_unit = SchoolUnit.objects.create(
        municipality=municipality, code=BULK_UNIT[0], name=BULK_UNIT[1], kind=SchoolUnit.Kind.COMPULSORY
    )
    (principal,) = registry.users([f"{USERNAME_PREFIX}bulk.rektor"])
    Membership.objects.create(user=principal, unit=bulk_unit, role=Role.PRINCIPAL)
    _pupils, bulk_guardians = registry.pupils_with_guardians(bulk_unit, size.bulk_pupils, "bulk")

    open_tasks = UserTask.objects.filter(
        status=UserTask.Status.OPEN, instance__subject__startswith=SUBJECT_PREFIX
    )
    return LoadTestData(
        staff=staff,
        guardians=guardians,
        bulk_guardians=_credentials([guardian.user for guardian in bulk_guardians], bulk_unit),
        bulk_unit=bulk_unit.code,
        bulk_principal=principal.username,
        cases=cases,
        open_staff_tasks=open_tasks.exclude(lane=Role.GUARDIAN).count(),
        open_guardian_tasks=open_tasks.filter(lane=Role.GUARDIAN).count(),
    )
