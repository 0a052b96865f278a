"""Demo cases on top of the demo municipality: the process library deployed and a few cases running.

Idempotent: cases are keyed by their subject, so loading again starts nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass

from organisation.models import Pupil
from processes.models import ProcessInstance, ProcessVersion
from processes.services.bulk_starts import pupil_start_data
from processes.services.instances import process_instance_start
from processes.services.pilots import process_version_for_unit
from processes.services.versions import (
    bundle_files_from_folder,
    process_library_folders,
    process_version_deploy,
    process_version_publish,
)


@dataclass(frozen=True)
class DemoCases:
    versions_deployed: int
    cases_started: int


def _start_once(key: str, pupil: Pupil, subject: str) -> bool:
    """Start a demo case of `key` for the pupil unless one with this subject exists already."""
    if ProcessInstance.objects.filter(subject=subject).exists():
        return False
    process_instance_start(
        version=process_version_for_unit(key, pupil.unit),
        unit=pupil.unit,
        pupil=pupil,
        subject=subject,
        data=pupil_start_data(pupil),
    )
    return True


def demo_cases_load() -> DemoCases:
    """Deploy and publish every bpmn/ folder, then start school start and special support cases."""
    deployed = 0
    for folder in process_library_folders():
        version, created = process_version_deploy(bundle_files_from_folder(folder), changelog="Demo")
        deployed += created
        if version.status == ProcessVersion.Status.DRAFT:
            process_version_publish(version)
    started = 0
    for pupil in Pupil.objects.select_related("unit").exclude(unit__kind="forskola").order_by("pk"):
        started += _start_once("school_start", pupil, f"DEMO-skolstart-{pupil.pk}")
    for pupil in Pupil.objects.select_related("unit").filter(unit__kind="grundskola").order_by("pk")[:2]:
        started += _start_once("special_support", pupil, f"DEMO-stod-{pupil.pk}")
    return DemoCases(versions_deployed=deployed, cases_started=started)
