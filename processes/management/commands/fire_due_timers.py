from django.core.management.base import BaseCommand

from processes.services.instances import timers_fire_due


class Command(BaseCommand):
    help = "Fire every timer that is due now (what the beat job does every 30 seconds)."

    def handle(self, *args, **options):
        self.stdout.write(f"{timers_fire_due()} timer(s) fired")
