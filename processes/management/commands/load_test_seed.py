"""Seed a throwaway database for the load test and write who the load tool logs in as (bench/load_test.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.errors import ApplicationError
from processes.services.load_test_data import LoadTestSize, load_test_data_seed


class Command(BaseCommand):
    help = (
        "Create load test staff, guardians (with API tokens) and running cases on a throwaway database; "
        "write the credentials as JSON to --out."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = LoadTestSize()
        parser.add_argument("--out", required=True, type=Path, help="JSON file for the credentials")
        parser.add_argument("--staff-per-unit", type=int, default=defaults.staff_per_unit)
        parser.add_argument("--pupils-per-unit", type=int, default=defaults.pupils_per_unit)
        parser.add_argument("--staff-cases-per-unit", type=int, default=defaults.staff_cases_per_unit)
        parser.add_argument("--bulk-pupils", type=int, default=defaults.bulk_pupils)

    def handle(self, *args: Any, out: Path, **options: Any) -> None:
        size = LoadTestSize(
            staff_per_unit=options["staff_per_unit"],
            pupils_per_unit=options["pupils_per_unit"],
            staff_cases_per_unit=options["staff_cases_per_unit"],
            bulk_pupils=options["bulk_pupils"],
        )
        try:
            data = load_test_data_seed(size)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(data.as_json(), indent=1), encoding="utf-8")
        self.stdout.write(
            f"Load test data: {len(data.staff)} staff, {len(data.guardians)} guardians, {data.cases} cases "
            f"({data.open_staff_tasks} staff and {data.open_guardian_tasks} guardian tasks open), "
            f"{len(data.bulk_guardians)} guardians at {data.bulk_unit} waiting for a bulk start; "
            f"credentials in {out}"
        )
