"""Celery jobs of the audit trail: thin wrappers around idempotent services (beat: config/settings)."""

from __future__ import annotations

from celery import shared_task

from audit.services import retention_apply


@shared_task(name="audit.retention_apply", ignore_result=True, soft_time_limit=3000, time_limit=3300)
def retention_apply_job() -> int:
    return retention_apply()
