"""Celery jobs of the engine runtime: thin wrappers around idempotent services."""

from __future__ import annotations

from celery import shared_task

from processes.services.bulk_starts import BULK_START_SLICE_SECONDS, bulk_start_run
from processes.services.instances import instance_due_timers_fire, timers_fire_due
from processes.services.migration import migration_job_run


@shared_task(name="processes.timers_fire_due", ignore_result=True, soft_time_limit=50, time_limit=60)
def timers_fire_due_job(limit: int = 2000) -> int:
    return timers_fire_due(limit=limit)


@shared_task(name="processes.instance_due_timers_fire", ignore_result=True, acks_late=True)
def instance_due_timers_fire_job(instance_id: str) -> list[str]:
    return instance_due_timers_fire(instance_id)


@shared_task(name="processes.bulk_start_run", ignore_result=True, acks_late=True)
def bulk_start_run_job(bulk_start_id: int, batch_size: int = 100) -> str:
    bulk = bulk_start_run(bulk_start_id, batch_size=batch_size, time_budget=BULK_START_SLICE_SECONDS)
    return bulk.status


@shared_task(name="processes.migration_job_run", ignore_result=True, acks_late=True, time_limit=3600)
def migration_job_run_job(job_id: int) -> str:
    return migration_job_run(job_id).status
