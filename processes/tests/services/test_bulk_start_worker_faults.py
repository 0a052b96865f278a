"""A Celery worker is killed in the middle of a bulk start. Resumed on a new worker, the bulk start
starts the rest: every pupil ends with exactly one case and nothing half-started is left behind."""

import os
import signal
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
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
)
from organisation.models import Role
from organisation.tests.factories import CustodyFactory, MembershipFactory, PupilFactory, UserFactory
from processes.models import BulkStart, ProcessInstance
from processes.services.bulk_starts import bulk_start_request, bulk_start_resume
from processes.services.versions import (
    bundle_files_from_folder,
    process_version_deploy,
    process_version_publish,
)
from tasks.models import UserTask

PUPILS = 300

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]


def worker_waits_on_the_chain_lock() -> bool:
    """True while a session of this test database waits for the audit chain's advisory lock (other
    databases on the server, such as a load test's, have their own chain locks and do not count)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks JOIN pg_database ON pg_database.oid = pg_locks.database "
            "WHERE locktype = 'advisory' AND NOT granted AND datname = current_database() "
            "AND classid = 0 AND objid = %s",
            [CHAIN_LOCK_KEY],
        )
        return cursor.fetchone()[0] > 0


@contextmanager
def through_the_broker() -> Iterator[None]:
    """Jobs the services queue (`.delay` on commit) go to the real broker, and so to the worker,
    instead of running in this process as the test settings say."""
    # The app reads Django settings under the CELERY_ namespace; the namespaced key is the one it obeys.
    eager = app.conf.CELERY_TASK_ALWAYS_EAGER
    app.conf.CELERY_TASK_ALWAYS_EAGER = False
    try:
        yield
    finally:
        app.conf.CELERY_TASK_ALWAYS_EAGER = eager


def test_a_worker_killed_mid_bulk_start_is_resumed_and_every_pupil_gets_exactly_one_case(ekbacke):
    require_broker()
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database only on PostgreSQL")
    version, _ = process_version_deploy(
        bundle_files_from_folder(Path(settings.BASE_DIR) / "bpmn" / "school_start")
    )
    version = process_version_publish(version)
    maja = MembershipFactory(user=UserFactory(username="maja"), unit=ekbacke, role=Role.SCHOOL_ADMIN).user
    for pupil in PupilFactory.create_batch(PUPILS, unit=ekbacke):
        CustodyFactory(pupil=pupil, guardian__user=None)
    progress = lambda: BulkStart.objects.values_list("status", "started_count").get()  # noqa: E731
    cases = lambda: ProcessInstance.objects.count()  # noqa: E731

    first = start_celery_worker(f"bulk-a-{os.getpid()}")
    blocker = psycopg.connect(database_url_of_this_run(), autocommit=False)
    blocker.execute("SET statement_timeout = '120s'")
    blocker.commit()
    try:
        with through_the_broker():
            bulk = bulk_start_request(version=version, unit=ekbacke, requested_by=maja)
        # Hold the audit chain's lock: the worker blocks inside the transaction of a chunk of cases,
        # its rows inserted and its audit events not yet. Let it through one chunk at a time (the
        # lock passes to the waiting worker on release; taking it again waits for that chunk's
        # commit) until committed cases the progress does not count yet lie behind it: the resumed
        # run must find and skip them. Whatever the worker's speed, it is then stopped mid-chunk.
        blocker.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        while True:
            wait_until(worker_waits_on_the_chain_lock, 60, "the worker to be mid-chunk")
            if cases() > progress()[1] > 0:
                break
            blocker.rollback()
            blocker.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        os.kill(first.pid, signal.SIGKILL)  # ...and dies there, with no warm shutdown
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
        blocker.rollback()
        blocker.close()
    status, interrupted_at = progress()
    cases_at_kill = cases()
    print(f"\nkilled at started_count={interrupted_at}, {cases_at_kill} of {PUPILS} cases committed")  # noqa: T201
    assert status == BulkStart.Status.RUNNING, "the killed run never finished"
    assert 0 < interrupted_at < cases_at_kill < PUPILS, f"the kill should land mid-run ({cases_at_kill})"

    second = start_celery_worker(f"bulk-b-{os.getpid()}")
    try:
        with through_the_broker():
            bulk_start_resume(bulk.pk, maja)
        wait_until(
            lambda: progress()[0] == BulkStart.Status.COMPLETED, 180, "the resumed bulk start to finish"
        )
    finally:
        stop_celery_worker(second)

    bulk.refresh_from_db()
    assert (bulk.total, bulk.started_count, bulk.failed_count) == (PUPILS, PUPILS, 0)
    per_pupil = Counter(ProcessInstance.objects.filter(bulk_start=bulk).values_list("pupil_id", flat=True))
    assert len(per_pupil) == PUPILS and set(per_pupil.values()) == {1}, "exactly one case per pupil"
    assert set(ekbacke.pupils.values_list("pk", flat=True)) == set(per_pupil)
    started = AuditEvent.objects.filter(verb=Verb.INSTANCE_STARTED).values_list("instance_id", flat=True)
    assert len(started) == len(set(started)) == PUPILS, "nothing half-started survived the kill"
    tasks = UserTask.objects.filter(instance__bulk_start=bulk, lane="guardian")
    assert tasks.count() == PUPILS and not tasks.filter(guardian__isnull=True).exists()
