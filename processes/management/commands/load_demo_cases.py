from django.core.management.base import BaseCommand

from processes.services.demo import demo_cases_load


class Command(BaseCommand):
    help = "Deploy and publish the process library and start a few demo cases (idempotent)."

    def handle(self, *args, **options):
        result = demo_cases_load()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo cases: {result.versions_deployed} version(s) deployed, "
                f"{result.cases_started} case(s) started."
            )
        )
