"""Celery jobs of the engine runtime: thin wrappers around idempotent services.

Every job here outlives a database restart or failover: a lost connection closes Django's broken
connection and retries the job with exponential backoff, and the service it calls is idempotent, so
the retry goes on where the interrupted run stopped.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.db import close_old_connections

from common.errors import DATABASE_CONNECTION_ERRORS
from processes.services.bulk_starts import BULK_START_SLICE_SECONDS, bulk_start_run
from processes.services.instances import instance_due_timers_fire, timers_fire_due
from processes.services.migration import migration_job_run


class DatabaseJob(Task):
    """Retried on a lost database connection: after 1, 2, 4, 8, 16, 30, 30 and 30 s (jittered, so that
    many workers do not come back at the same moment), about two minutes in all, then it fails."""

    autoretry_for = DATABASE_CONNECTION_ERRORS
    retry_backoff = 1
    retry_backoff_max = 30
    retry_jitter = True
    max_retries = 8

    def retry(self, *args: Any, **kwargs: Any) -> Any:
        # The connection that failed is broken for good; drop it now, so the retry connects afresh
        # instead of failing again on the dead socket.
        close_old_connections()
        return super().retry(*args, **kwargs)


@shared_task(
    base=DatabaseJob,
    name="processes.timers_fire_due",
    ignore_result=True,
    soft_time_limit=50,
    time_limit=60,
)
def timers_fire_due_job(limit: int = 2000) -> int:
    return timers_fire_due(limit=limit)


@shared_task(base=DatabaseJob, name="processes.instance_due_timers_fire", ignore_result=True, acks_late=True)
def instance_due_timers_fire_job(instance_id: str) -> list[str]:
    return instance_due_timers_fire(instance_id)


@shared_task(bind=True, base=DatabaseJob, name="processes.bulk_start_run", ignore_result=True, acks_late=True)
def bulk_start_run_job(self: DatabaseJob, bulk_start_id: int, batch_size: int = 100) -> str:
    # A retry follows a lost connection (autoretry_for), whose run's lease outlives it: the retry takes
    # the bulk start back at once instead of waiting for the lease to go stale (bulk_start_run).
    bulk = bulk_start_run(
        bulk_start_id,
        batch_size=batch_size,
        time_budget=BULK_START_SLICE_SECONDS,
        take_over=self.request.retries > 0,
    )
    return bulk.status


@shared_task(
    base=DatabaseJob, name="processes.migration_job_run", ignore_result=True, acks_late=True, time_limit=3600
)
def migration_job_run_job(job_id: int) -> str:
    return migration_job_run(job_id).status
