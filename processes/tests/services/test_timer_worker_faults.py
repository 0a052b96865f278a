"""A Celery worker is killed in the middle of a timer pass. The next pass, on a new worker, fires the
rest: every due timer fires exactly once and every case ends consistent."""

import os
import signal
import time

import psycopg
import pytest
from django.db import connection

from audit.models import AuditEvent, Verb
from audit.services import CHAIN_LOCK_KEY
from config.celery import app
from conftest import (
    database_url_of_this_run,
    require_broker,
    start_celery_worker,
    stop_celery_worker,
    wait_until,
    worker_waits_on_the_audit_chain_lock,
)
from processes.models import ProcessInstance, WaitingTimer
from processes.services.consistency import consistency_check
from processes.services.instances import process_instance_start
from processes.tests.factories import published_support_version
from tasks.models import UserTask
from tasks.services.user_tasks import user_task_complete

CASES = 120
FIRST_PASS = 50


pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]


def test_a_worker_killed_mid_timer_pass_leaves_nothing_fired_twice_or_lost(ekbacke, alva, sara):
    require_broker()
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database only on PostgreSQL")
    # The principal's deadline is one second, so the timers are really due for the worker's clock.
    version = published_support_version(**{'"P5D"': '"PT1S"'})
    for _ in range(CASES):
        case = process_instance_start(version=version, unit=ekbacke, pupil=alva)
        user_task_complete(
            task_id=case.user_tasks.get(element_id="apply").pk, user=sara, data={"needs": ["a", "b"]}
        )
    time.sleep(1.2)  # real time: the worker process runs on the real clock
    fired = lambda: AuditEvent.objects.filter(verb=Verb.TIMER_FIRED).count()  # noqa: E731

    first = start_celery_worker(f"timers-a-{os.getpid()}")
    blocker = psycopg.connect(database_url_of_this_run(), autocommit=False)
    try:
        app.send_task("processes.timers_fire_due", kwargs={"limit": FIRST_PASS})
        wait_until(lambda: fired() == FIRST_PASS, 60, "the first, bounded pass")
        # Hold the audit chain's lock: the next pass blocks inside its first case's transaction...
        blocker.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        app.send_task("processes.timers_fire_due")
        wait_until(worker_waits_on_the_audit_chain_lock, 60, "the second pass to be mid-case")
        os.kill(first.pid, signal.SIGKILL)  # ...and dies there, with no warm shutdown
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
        blocker.rollback()
        blocker.close()
    assert fired() == FIRST_PASS, "the interrupted case's transaction was rolled back"
    assert WaitingTimer.objects.count() == CASES - FIRST_PASS

    second = start_celery_worker(f"timers-b-{os.getpid()}")
    try:
        app.send_task("processes.timers_fire_due")  # the next beat tick
        wait_until(lambda: not WaitingTimer.objects.exists(), 120, "every due timer to fire")
    finally:
        stop_celery_worker(second)

    per_case = AuditEvent.objects.filter(verb=Verb.TIMER_FIRED).values_list("instance_id", flat=True)
    assert len(per_case) == len(set(per_case)) == CASES, "each timer fired exactly once"
    assert ProcessInstance.objects.filter(status=ProcessInstance.Status.COMPLETED).count() == CASES
    assert not UserTask.objects.filter(status=UserTask.Status.OPEN).exists()
    assert UserTask.objects.filter(element_id="decide", status=UserTask.Status.CANCELLED).count() == CASES
    report = consistency_check()
    assert report.ok, report.as_dict()
