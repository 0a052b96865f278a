"""A small demo municipality: four school units, staff in every role, pupils and guardians.

Idempotent: every row is keyed on a natural key (unit code, username, personnummer), so loading twice
changes nothing. All people are fictional; personnummer are generated with valid check digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.contrib.auth import get_user_model
from django.db import transaction

from organisation import personnummer
from organisation.models import Custody, Guardian, Membership, Municipality, Pupil, Role, SchoolUnit

DEMO_PASSWORD = "skolflode-demo"  # noqa: S105 - local demo only; documented in the README

MUNICIPALITY = ("0120", "Skärviks kommun")
UNITS = [
    # (school unit code, short name used in usernames, name, kind)
    ("90000001", "tallbacken", "Tallbackens förskola", SchoolUnit.Kind.PRESCHOOL),
    ("90000002", "ekbacke", "Ekbackeskolan", SchoolUnit.Kind.COMPULSORY),
    ("90000003", "strand", "Strandskolan", SchoolUnit.Kind.COMPULSORY),
    ("90000004", "gymnasiet", "Skärviks gymnasium", SchoolUnit.Kind.UPPER_SECONDARY),
]
UNIT_STAFF = [
    # (role, username prefix, first name, last name)
    (Role.PRINCIPAL, "rektor", "Rut", "Rektorsson"),
    (Role.TEACHER, "larare", "Lars", "Lärare"),
    (Role.SCHOOL_ADMIN, "admin", "Ada", "Administratör"),
    (Role.STUDENT_HEALTH, "eht", "Elin", "Hälsa"),
]
CENTRAL_STAFF = [
    (Role.PLACEMENT_OFFICE, "placering", "Per", "Placering"),
    (Role.GOVERNING_BODY, "huvudman", "Hanna", "Huvudman"),
]
FIRST_NAMES = ["Alva", "Noah", "Elsa", "Hugo", "Maja", "Liam", "Saga", "Ali", "Wilma", "Omar", "Ebba", "Leo"]
LAST_NAMES = ["Andersson", "Berg", "Karlsson", "Lind", "Nilsson", "Ek", "Holm", "Strand", "Sjöberg", "Öberg"]
BIRTH_YEAR_BY_KIND = {
    SchoolUnit.Kind.PRESCHOOL: 2022,
    SchoolUnit.Kind.COMPULSORY: 2016,
    SchoolUnit.Kind.UPPER_SECONDARY: 2009,
}
PUPILS_PER_UNIT = 3


@dataclass(frozen=True)
class DemoSummary:
    units: int
    staff: int
    pupils: int
    guardians: int
    created: int


def demo_personnummer(birth: date, serial: int) -> str:
    nine = f"{birth:%y%m%d}{serial:03d}"
    return f"{birth:%Y%m%d}{serial:03d}{personnummer.luhn_check_digit(nine)}"


@transaction.atomic
def demo_data_load() -> DemoSummary:
    user_model = get_user_model()
    created = 0

    def user(username: str, first: str, last: str, *, staff: bool = False) -> object:
        nonlocal created
        obj, was_created = user_model.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "is_staff": staff,
                "email": f"{username}@example.invalid",
            },
        )
        if was_created:
            obj.set_password(DEMO_PASSWORD)
            obj.save(update_fields=["password"])
            created += 1
        return obj

    def membership(member: object, unit: SchoolUnit, role: Role) -> None:
        nonlocal created
        created += Membership.objects.get_or_create(user=member, unit=unit, role=role)[1]

    municipality, was_created = Municipality.objects.get_or_create(
        code=MUNICIPALITY[0], defaults={"name": MUNICIPALITY[1]}
    )
    created += was_created
    units = []
    for code, _short, name, kind in UNITS:
        unit, was_created = SchoolUnit.objects.get_or_create(
            code=code, defaults={"municipality": municipality, "name": name, "kind": kind}
        )
        created += was_created
        units.append(unit)

    superuser = user("admin", "Ada", "Processägare", staff=True)
    if not superuser.is_superuser:
        superuser.is_superuser = True
        superuser.save(update_fields=["is_superuser"])

    staff_count = 1
    for unit, (_code, short, _name, _kind) in zip(units, UNITS, strict=True):
        for role, prefix, first, last in UNIT_STAFF:
            membership(user(f"{prefix}.{short}", first, last), unit, role)
            staff_count += 1
    for role, username, first, last in CENTRAL_STAFF:
        member = user(username, first, last)
        staff_count += 1
        for unit in units:
            membership(member, unit, role)

    pupil_count = guardian_count = 0
    serial = 100
    for unit_index, unit in enumerate(units):
        for index in range(PUPILS_PER_UNIT):
            serial += 2
            person = unit_index * PUPILS_PER_UNIT + index
            birth = date(BIRTH_YEAR_BY_KIND[SchoolUnit.Kind(unit.kind)], 1 + person % 12, 1 + person)
            last_name = LAST_NAMES[person % len(LAST_NAMES)]
            pupil, was_created = Pupil.objects.get_or_create(
                personnummer=demo_personnummer(birth, serial),
                defaults={
                    "first_name": FIRST_NAMES[person % len(FIRST_NAMES)],
                    "last_name": last_name,
                    "unit": unit,
                    "grade": "" if unit.kind == SchoolUnit.Kind.PRESCHOOL else "1",
                },
            )
            created += was_created
            pupil_count += 1
            # Every other child has two guardians with custody: both must answer in school start.
            for parent in range(2 if index % 2 == 0 else 1):
                parent_birth = date(1980 + parent, 1 + person % 12, 1 + person)
                login = user(
                    f"vh.{pupil.first_name.lower()}{parent + 1}", ["Sara", "Johan"][parent], last_name
                )
                guardian, was_created = Guardian.objects.get_or_create(
                    personnummer=demo_personnummer(parent_birth, 800 + serial % 100 + parent),
                    defaults={
                        "first_name": ["Sara", "Johan"][parent],
                        "last_name": last_name,
                        "user": login,
                        "email": f"{login.username}@example.invalid",
                        "phone": "070-123 45 67",
                    },
                )
                created += was_created
                guardian_count += was_created
                created += Custody.objects.get_or_create(pupil=pupil, guardian=guardian)[1]
    return DemoSummary(
        units=len(units),
        staff=staff_count,
        pupils=pupil_count,
        guardians=Guardian.objects.count(),
        created=created,
    )
