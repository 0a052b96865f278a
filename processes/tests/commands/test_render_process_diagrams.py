from django.core.management import call_command

from processes.services.versions import process_library_folders


def test_render_process_diagrams_writes_one_svg_per_library_process(tmp_path):
    call_command("render_process_diagrams", output=str(tmp_path))
    written = sorted(p.stem for p in tmp_path.glob("*.svg"))
    assert written == sorted(f.name for f in process_library_folders())
    special = (tmp_path / "special_support.svg").read_text(encoding="utf-8")
    assert "<svg" in special and "Rektor" in special
