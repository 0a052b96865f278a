"""Every process in bpmn/ deploys, starts and runs to an end event through the platform's services
(not the raw engine): user tasks are completed with form data valid for their pinned schema, and
timers are fired by the timer pass after moving the clock."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from organisation.models import STAFF_ROLES, Role
from organisation.tests.factories import (
    CustodyFactory,
    MembershipFactory,
    PupilFactory,
    SchoolUnitFactory,
    UserFactory,
)
from processes.models import ProcessInstance, ProcessVersion
from processes.services.bulk_starts import pupil_start_data
from processes.services.bundles import bundle_for_version
from processes.services.instances import process_instance_start, timers_fire_due
from processes.services.messages import message_deliver
from processes.services.versions import (
    bundle_files_from_folder,
    process_library_folders,
    process_version_deploy,
    process_version_publish,
)
from tasks.models import UserTask
from tasks.services.user_tasks import user_task_complete, user_task_form_schema
from tests.formdata import form_data_for

MONDAY = datetime(2025, 8, 18, 8, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
START_DATA = {
    "appeal": {"appeal_decision_by": "principal", "decision_notified_at": "2025-08-18"},
    "school_start": {
        "guardians": [{"guardian_id": "g1", "name": "Sara Ek"}, {"guardian_id": "g2", "name": "Johan Ek"}]
    },
    "quality_work": {
        "results_available_at": "2025-08-25T08:00:00+02:00",
        "unit_analysis_due_at": "2025-09-30T16:00:00+02:00",
        "report_due_at": "2025-10-31T16:00:00+02:00",
        "follow_up_at": "2026-06-15T08:00:00+02:00",
    },
}
LIBRARY = [folder.name for folder in process_library_folders()]


def walk(
    instance: ProcessInstance, users: dict[str, object], clock, choice: int, max_steps: int = 80
) -> list:
    """Complete tasks, deliver awaited messages or fire the next timer until the case ends.

    A step visited again answers with the next alternative, so loops (evaluate again, follow up
    again) are left on the second pass.
    """
    trail, visits = [], Counter()
    for step in range(max_steps):
        instance.refresh_from_db()
        if instance.status != ProcessInstance.Status.RUNNING:
            return trail
        task = instance.user_tasks.filter(status=UserTask.Status.OPEN).order_by("pk").first()
        if task is not None:
            schema = user_task_form_schema(task) or {}
            data = form_data_for(schema, choice + visits[task.element_id])
            visits[task.element_id] += 1
            user_task_complete(task_id=task.pk, user=users[task.lane], data=data)
            trail.append((task.lane, task.element_id))
            continue
        subscription = instance.subscriptions.first()
        timer = instance.timers.order_by("due_at").first()
        if subscription is not None and (choice == 0 or timer is None):
            outcome = message_deliver(
                message_id=f"{instance.pk}-{step}",
                name=subscription.message_name,
                correlation=json.loads(subscription.correlation_key),
                payload={},
            )
            assert outcome.outcome == "delivered"
            trail.append(("message", subscription.message_name))
            continue
        assert timer is not None, f"{instance} waits for neither a person, a message nor a timer"
        clock.move_to(timer.due_at + timedelta(minutes=1))
        due = list(instance.timers.filter(due_at__lte=timezone.now()).values_list("element_id", flat=True))
        assert timers_fire_due() >= 1
        trail += [("timer", element_id) for element_id in due]
    pytest.fail(f"{instance.version} did not end within {max_steps} steps: {trail[-6:]}")


def library_case_run(key: str, choice: int, *, registry: bool = False) -> tuple[ProcessInstance, list]:
    """Deploy and publish bpmn/<key> (once: the same content is the same version), start a case at a
    fresh unit (one member of staff holding every role, a pupil with a login and a guardian) and walk
    it to its end. With `registry` the start data holds what the registry knows about the pupil, as
    in a bulk start. Returns the case and the trail."""
    unit = SchoolUnitFactory()
    pupil = PupilFactory(unit=unit, user=UserFactory(username=f"pupil-{unit.code}"))
    guardian = CustodyFactory(pupil=pupil).guardian
    staff = UserFactory(username=f"staff-{unit.code}")
    for role in STAFF_ROLES:
        MembershipFactory(user=staff, unit=unit, role=role)
    users = {role.value: staff for role in STAFF_ROLES} | {
        Role.GUARDIAN.value: guardian.user,
        Role.PUPIL.value: pupil.user,
    }

    with time_machine.travel(MONDAY, tick=False) as clock:
        version, created = process_version_deploy(
            bundle_files_from_folder(next(f for f in process_library_folders() if f.name == key))
        )
        if version.status != ProcessVersion.Status.PUBLISHED:
            version = process_version_publish(version)
        data = {**(pupil_start_data(pupil) if registry else {}), **START_DATA.get(key, {})}
        instance = process_instance_start(version=version, unit=unit, pupil=pupil, data=data)
        trail = walk(instance, users, clock, choice)
    instance.refresh_from_db()
    return instance, trail


@pytest.mark.django_db
@pytest.mark.parametrize("choice", [0, 1], ids=["first-alternatives", "second-alternatives"])
@pytest.mark.parametrize("key", LIBRARY)
def test_the_model_runs_start_to_end_through_the_services(key, choice):
    instance, trail = library_case_run(key, choice)
    version = instance.version

    assert instance.status == ProcessInstance.Status.COMPLETED, instance.error_message
    assert instance.end_events, "an end event was reached"
    lanes = {task["lane"] for task in bundle_for_version(version).user_tasks()}
    assert {lane for lane, _ in trail} - {"message", "timer"} <= lanes
    assert (
        not instance.timers.exists() and not instance.user_tasks.filter(status=UserTask.Status.OPEN).exists()
    )
    assert instance.state["workflow"]["spec"] == {"ref": version.main_process_id}, "the spec is referenced"
