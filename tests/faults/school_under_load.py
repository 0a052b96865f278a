"""A school to put under load in a fault test, set up in a database of its own by a separate process
(the test's Django is bound to the test database at start-up):

    python -m tests.faults.school_under_load seed --teachers 3 --cases 45 --pupils 200
    python -m tests.faults.school_under_load bulk-start

`seed` makes one school unit with `--pupils` pupils (one guardian with custody each), `--teachers`
teachers with API tokens, a school administrator, the published special support and school start
processes, and `--cases` special support cases, each waiting on its teacher's first task ("document the
signal"). It prints what the load needs as JSON. `bulk-start` asks for school start for every pupil of
the unit as the school administrator; the job goes to the broker (CELERY_BROKER_URL), not in-process.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import django

ROOT = Path(__file__).resolve().parents[2]
SCHOOL_ADMIN = "maja.admin"
SIGNAL_FORM = {
    "subjects": "Matematik",
    "concern_description": "Når inte kunskapskraven i taluppfattning",
    "signalled_on": "2026-01-15",
}


def school_seed(*, teachers: int, cases: int, pupils: int) -> dict[str, Any]:
    from rest_framework.authtoken.models import Token

    from organisation.models import Role
    from organisation.tests.factories import (
        CustodyFactory,
        MembershipFactory,
        PupilFactory,
        SchoolUnitFactory,
        UserFactory,
    )
    from processes.services.bulk_starts import pupil_start_data
    from processes.services.instances import process_instance_start
    from processes.services.versions import (
        bundle_files_from_folder,
        process_version_deploy,
        process_version_publish,
    )

    published = {}
    for key in ("special_support", "school_start"):
        version, _created = process_version_deploy(bundle_files_from_folder(ROOT / "bpmn" / key))
        published[key] = process_version_publish(version)
    unit = SchoolUnitFactory(name="Ekbackeskolan")
    MembershipFactory(user=UserFactory(username=SCHOOL_ADMIN), unit=unit, role=Role.SCHOOL_ADMIN)
    tokens = [
        Token.objects.create(
            user=MembershipFactory(
                user=UserFactory(username=f"larare{number}"), unit=unit, role=Role.TEACHER
            ).user
        ).key
        for number in range(1, teachers + 1)
    ]
    school = PupilFactory.create_batch(pupils, unit=unit)
    for pupil in school:
        CustodyFactory(pupil=pupil, guardian__user=None)
    tasks = []
    for pupil in school[:cases]:
        case = process_instance_start(
            version=published["special_support"], unit=unit, pupil=pupil, data=pupil_start_data(pupil)
        )
        tasks.append(case.user_tasks.get(element_id="document_signal", status="open").pk)
    return {"tokens": tokens, "tasks": tasks, "signal_form": SIGNAL_FORM, "pupils": pupils}


def school_bulk_start() -> int:
    from django.contrib.auth import get_user_model

    from organisation.models import SchoolUnit
    from processes.models import ProcessVersion
    from processes.services.bulk_starts import bulk_start_request

    version = ProcessVersion.objects.get(
        definition__key="school_start", status=ProcessVersion.Status.PUBLISHED
    )
    bulk = bulk_start_request(
        version=version,
        unit=SchoolUnit.objects.get(name="Ekbackeskolan"),
        requested_by=get_user_model().objects.get(username=SCHOOL_ADMIN),
    )
    return bulk.pk


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    seed = commands.add_parser("seed")
    seed.add_argument("--teachers", type=int, required=True)
    seed.add_argument("--cases", type=int, required=True)
    seed.add_argument("--pupils", type=int, required=True)
    commands.add_parser("bulk-start")
    args = parser.parse_args(argv)
    django.setup()
    if args.command == "seed":
        print(json.dumps(school_seed(teachers=args.teachers, cases=args.cases, pupils=args.pupils)))  # noqa: T201
    else:
        print(json.dumps({"bulk_start": school_bulk_start()}))  # noqa: T201


if __name__ == "__main__":
    main(sys.argv[1:])
