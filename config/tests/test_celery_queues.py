"""Every job lands on one of the queues by kind, so a worker started with -Q for that kind takes it."""

from __future__ import annotations

from django.conf import settings

from config.celery import app


def our_job_names() -> list[str]:
    app.loader.import_default_modules()
    return sorted(name for name in app.tasks if not name.startswith("celery."))


def test_every_job_is_routed_to_a_queue_by_kind():
    routed = {name: app.amqp.router.route({}, name)["queue"].name for name in our_job_names()}

    assert routed, "no jobs were discovered"
    unknown = {name: queue for name, queue in routed.items() if queue not in settings.CELERY_QUEUE_NAMES}
    assert unknown == {}


def test_timer_notification_and_export_work_does_not_share_the_engine_queue():
    def queue_of(name: str) -> str:
        return app.amqp.router.route({}, name)["queue"].name

    assert queue_of("processes.timers_fire_due") == "timers"
    assert queue_of("processes.instance_due_timers_fire") == "timers"
    assert queue_of("processes.bulk_start_run") == "engine"
    assert queue_of("tasks.notification_emails_send") == "notifications"
    assert queue_of("audit.retention_apply") == "exports"


def test_a_worker_without_queue_options_consumes_every_queue():
    assert [queue.name for queue in app.conf.task_queues] == list(settings.CELERY_QUEUE_NAMES)
