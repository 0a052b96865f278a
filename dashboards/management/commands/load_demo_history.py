from django.core.management.base import BaseCommand

from dashboards.services.demo import demo_history_load


class Command(BaseCommand):
    help = (
        "Seed about six months of synthetic, completed case history (projection rows only) for the "
        "dashboards, with a pilot version of special support. Idempotent. Run after load_demo_cases."
    )

    def handle(self, *args, **options):
        result = demo_history_load()
        self.stdout.write(
            f"Demo history: {result.cases} cases and {result.tasks} tasks written"
            + (f"; special support pilot is version {result.pilot_version}" if result.pilot_version else "")
        )
