"""Celery jobs for deadlines: thin wrappers around idempotent services (beat: config/settings/base.py)."""

from __future__ import annotations

from celery import shared_task

from tasks.services.notifications import notification_emails_send, task_escalations_send, task_reminders_send


@shared_task(name="tasks.reminders_send", ignore_result=True, soft_time_limit=240, time_limit=280)
def reminders_send_job() -> int:
    return task_reminders_send()


@shared_task(name="tasks.escalations_send", ignore_result=True, soft_time_limit=240, time_limit=280)
def escalations_send_job() -> int:
    return task_escalations_send()


@shared_task(name="tasks.notification_emails_send", ignore_result=True, soft_time_limit=50, time_limit=60)
def notification_emails_send_job() -> int:
    return notification_emails_send()
