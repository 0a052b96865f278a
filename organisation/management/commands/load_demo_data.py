from django.core.management.base import BaseCommand

from organisation.services.demo import DEMO_PASSWORD, demo_data_load


class Command(BaseCommand):
    help = "Create (or leave as is) the demo municipality, staff, pupils and guardians."

    def handle(self, *args: object, **options: object) -> None:
        summary = demo_data_load()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data: {summary.units} units, {summary.staff} staff, {summary.pupils} pupils, "
                f"{summary.guardians} guardians ({summary.created} rows created)."
            )
        )
        self.stdout.write(f"Log in as e.g. rektor.ekbacke / {DEMO_PASSWORD}")
