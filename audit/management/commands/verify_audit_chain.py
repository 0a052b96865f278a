from django.core.management.base import BaseCommand, CommandError

from audit.models import AuditEvent
from audit.services import audit_chain_verify


class Command(BaseCommand):
    help = "Check the audit trail's hash chain; report the first event that was altered or removed."

    def handle(self, *args, **options):
        broken = audit_chain_verify()
        if broken is not None:
            raise CommandError(
                f"The audit chain is broken at event {broken}: it or an earlier event was changed."
            )
        self.stdout.write(
            self.style.SUCCESS(f"The audit chain is intact ({AuditEvent.objects.count()} events).")
        )
