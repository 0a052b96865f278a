import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from common.errors import ApplicationError
from organisation.models import Pupil, SchoolUnit
from processes.services.instances import process_instance_start
from processes.services.pilots import process_version_for_unit


class Command(BaseCommand):
    help = "Start cases of a process's published version at a school unit."

    def add_arguments(self, parser):
        parser.add_argument("key", help="process key, e.g. special_support")
        parser.add_argument("--unit", required=True, help="school unit code")
        parser.add_argument("--pupil", help="the pupil's personnummer")
        parser.add_argument("--data", default="{}", help="start data as JSON")
        parser.add_argument("--count", type=int, default=1)
        parser.add_argument("--user", help="username of the initiator")

    def handle(self, *args, **options):
        try:
            unit = SchoolUnit.objects.get(code=options["unit"])
            pupil = Pupil.objects.get(personnummer=options["pupil"]) if options["pupil"] else None
            initiator = get_user_model().objects.get(username=options["user"]) if options["user"] else None
            data = json.loads(options["data"])
            version = process_version_for_unit(options["key"], unit)
            for _ in range(options["count"]):
                instance = process_instance_start(
                    version=version, unit=unit, pupil=pupil, initiator=initiator, data=data
                )
                self.stdout.write(f"{instance.pk} {instance.status}")
        except (SchoolUnit.DoesNotExist, Pupil.DoesNotExist) as exc:
            raise CommandError(str(exc)) from exc
        except json.JSONDecodeError as exc:
            raise CommandError(f"--data is not JSON: {exc}") from exc
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
