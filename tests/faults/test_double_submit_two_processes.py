"""The same task is submitted at the same moment from two separate processes (two web workers, say):
one completes it, the other gets the conflict, and nothing is applied twice."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from audit.models import AuditEvent, Verb
from conftest import database_url_of_this_run
from processes.services.consistency import consistency_check
from processes.services.instances import process_instance_start
from processes.tests.factories import published_support_version
from tasks.models import UserTask

ROOT = Path(__file__).resolve().parents[2]
SUBMIT = """
import json, os, sys, time
import django
django.setup()
from common.errors import Conflict
from django.contrib.auth import get_user_model
from tasks.services.user_tasks import user_task_complete
task_id, username, start_at = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
user = get_user_model().objects.get(username=username)
while time.time() < start_at:
    time.sleep(0.001)
try:
    user_task_complete(task_id=task_id, user=user, data={"needs": ["a", "b"]})
    print(json.dumps("completed"))
except Conflict as exc:
    print(json.dumps(exc.code))
"""

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_processes_submitting_the_same_task_at_once_complete_it_once(ekbacke, alva, sara):
    if connection.vendor != "postgresql":
        pytest.skip("separate processes share the test database only on PostgreSQL")
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings.test",
        PYTHONPATH=str(ROOT),
        DATABASE_URL=database_url_of_this_run(),
    )
    version = published_support_version()
    case = process_instance_start(version=version, unit=ekbacke, pupil=alva)
    task = case.user_tasks.get(element_id="apply")
    start_at = str(time.time() + 3)  # both processes are loaded and waiting by then

    runs = [
        subprocess.Popen(
            [sys.executable, "-c", SUBMIT, str(task.pk), sara.username, start_at],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=60) for run in runs]

    outcomes = sorted(json.loads(out.strip().splitlines()[-1]) for out, _err in outputs)
    assert outcomes == ["completed", "task_not_open"], outputs
    assert AuditEvent.objects.filter(verb=Verb.TASK_COMPLETED, user_task_id=task.pk).count() == 1
    assert UserTask.objects.filter(instance=case, element_id="decide").count() == 1
    case.refresh_from_db()
    assert case.revision == 2
    report = consistency_check()
    assert report.ok, report.as_dict()
