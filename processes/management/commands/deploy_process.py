from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from common.errors import ApplicationError
from processes.models import ProcessVersion
from processes.services.versions import (
    bundle_files_from_folder,
    process_library_folders,
    process_version_deploy,
    process_version_publish,
)


class Command(BaseCommand):
    help = "Deploy process folders from bpmn/ as versions (the same content gives the same version back)."

    def add_arguments(self, parser):
        parser.add_argument("folders", nargs="*", help="bpmn/<key> folders or keys; none means all of bpmn/")
        parser.add_argument("--publish", action="store_true", help="publish each deployed draft")
        parser.add_argument("--changelog", default="", help="changelog line for new versions")

    def handle(self, *args, **options):
        names = options["folders"]
        folders = [self._folder(n) for n in names] if names else process_library_folders()
        failed = 0
        for folder in folders:
            try:
                version, created = process_version_deploy(
                    bundle_files_from_folder(folder), changelog=options["changelog"]
                )
            except ApplicationError as exc:
                failed += 1
                self.stderr.write(self.style.ERROR(f"{folder.name}: {exc.message}"))
                for problem in exc.extra.get("problems", []):
                    self.stderr.write(
                        f"  - [{problem['code']}] {problem['element_id'] or '-'}: {problem['message']}"
                    )
                continue
            if options["publish"] and version.status == ProcessVersion.Status.DRAFT:
                version = process_version_publish(version)
            state = "new" if created else "unchanged"
            self.stdout.write(
                f"{folder.name}: v{version.number} {version.status} ({state}, {version.content_hash[:12]})"
            )
        if failed:
            raise CommandError(f"{failed} process(es) were not deployed")

    def _folder(self, name: str) -> Path:
        path = Path(name)
        if not path.is_dir():
            path = Path(settings.BASE_DIR) / "bpmn" / name
        if not (path / "process.json").is_file():
            raise CommandError(f"{name}: no process.json in {path}")
        return path
