from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from processes.services.rendering import library_diagram_svg
from processes.services.versions import process_library_folders


class Command(BaseCommand):
    help = "Render every bpmn/ process as an SVG diagram (Graphviz, lanes as clusters) into docs/diagrams/."

    def add_arguments(self, parser):
        parser.add_argument("--output", default=str(Path(settings.BASE_DIR) / "docs" / "diagrams"))

    def handle(self, *args, **options):
        output = Path(options["output"])
        output.mkdir(parents=True, exist_ok=True)
        for folder in process_library_folders():
            key, svg = library_diagram_svg(folder)
            (output / f"{key}.svg").write_text(svg, encoding="utf-8")
            self.stdout.write(f"{output / f'{key}.svg'}")
