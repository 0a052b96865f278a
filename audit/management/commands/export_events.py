from django.core.management.base import BaseCommand, CommandError

from audit.exports import FORMATS
from audit.selectors import user_by_username
from audit.services import event_log_export
from common.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Export one process's event log for process mining (one trace per case), pseudonymised "
        "unless --identified is given with --user of a superuser. The export is audited."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=FORMATS, required=True)
        parser.add_argument("--process", required=True, help="process key, e.g. special_support")
        parser.add_argument("--out", required=True, help="file to write")
        parser.add_argument("--identified", action="store_true", help="real case ids and user names")
        parser.add_argument("--user", default="", help="who exports (recorded; a superuser for --identified)")

    def handle(self, *args, **options):
        actor = user_by_username(options["user"]) if options["user"] else None
        if options["user"] and actor is None:
            raise CommandError(f"No user named {options['user']!r}.")
        binary = options["format"] == "xes"
        try:
            with open(
                options["out"], "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})
            ) as out:
                count = event_log_export(
                    fmt=options["format"],
                    process_key=options["process"],
                    out=out,
                    actor=actor,
                    identified=options["identified"],
                )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"Wrote {count} events to {options['out']}."))
