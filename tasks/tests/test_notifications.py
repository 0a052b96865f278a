"""Reminders before the due date (counted in working days), escalation to the unit's principal after it,
and their e-mails: each created and sent once, however often beat runs, without personal data."""

import threading
from datetime import datetime
from smtplib import SMTPException
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection

from audit.models import AuditEvent, Verb
from config.celery import app
from organisation.models import Role
from organisation.tests.factories import CustodyFactory, MembershipFactory, UserFactory
from processes.engine import get_default_calendar
from processes.services.instances import process_instance_start
from processes.tests.factories import published_support_version
from tasks.jobs import escalations_send_job, notification_emails_send_job, reminders_send_job
from tasks.models import Notification, UserTask
from tasks.services.notifications import (
    notification_emails_send,
    task_escalations_send,
    task_reminders_send,
)
from tasks.services.user_tasks import user_task_complete

STOCKHOLM = ZoneInfo("Europe/Stockholm")
FRIDAY = datetime(2026, 8, 21, 9, 0, tzinfo=STOCKHOLM)


def at(year, month, day, hour=12):
    return datetime(year, month, day, hour, 0, tzinfo=STOCKHOLM)


def decide_task(version, unit, pupil, guardian_user, due_at=None):
    """The principal's open decision on a case (the guardian has applied)."""
    case = process_instance_start(version=version, unit=unit, pupil=pupil)
    apply = case.user_tasks.get(element_id="apply")
    user_task_complete(task_id=apply.pk, user=guardian_user, data={"needs": ["läsning", "matte"]})
    task = case.user_tasks.get(element_id="decide", status=UserTask.Status.OPEN)
    if due_at is not None:
        UserTask.objects.filter(pk=task.pk).update(due_at=due_at)
    return task


def with_email(user):
    user.email = f"{user.username}@skarvik.example"
    user.save(update_fields=["email"])
    return user


@pytest.fixture
def mia(ekbacke):
    """A second principal at Ekbackeskolan."""
    return MembershipFactory(user=UserFactory(username="mia"), unit=ekbacke, role=Role.PRINCIPAL).user


@pytest.fixture
def tove(ekbacke):
    """A teacher at Ekbackeskolan."""
    return MembershipFactory(user=UserFactory(username="tove"), unit=ekbacke, role=Role.TEACHER).user


class FailingEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise SMTPException("421 service not available")


@pytest.mark.django_db
def test_a_task_due_within_the_lead_time_reminds_everyone_in_its_lane_once(
    support_version, ekbacke, alva, sara, rut, mia, olle, tove
):
    task = decide_task(support_version, ekbacke, alva, sara, due_at=at(2026, 8, 24))

    with time_machine.travel(FRIDAY, tick=False):
        assert task_reminders_send() == 2
        assert task_reminders_send() == 0, "a second pass creates nothing"

    reminders = Notification.objects.filter(user_task=task)
    assert {(n.user.username, n.kind, n.dedup_key) for n in reminders} == {
        ("rut", "reminder", f"reminder:{task.pk}:{rut.pk}"),
        ("mia", "reminder", f"reminder:{task.pk}:{mia.pk}"),
    }
    event = AuditEvent.objects.get(verb=Verb.TASK_REMINDED)
    assert (event.user_task_id, event.actor_label, event.after["recipients"]) == (
        task.pk,
        "system",
        sorted([rut.pk, mia.pk]),
    )


@pytest.mark.parametrize(
    ("due_at", "lead", "reminded"),
    [
        (at(2026, 8, 24), 1, True),  # Friday → Monday: one working day
        (at(2026, 8, 25), 1, False),  # Tuesday: two working days, four calendar days
        (at(2026, 8, 25), 2, True),
        (at(2026, 8, 26), 2, False),  # Wednesday next week: three working days
    ],
)
@pytest.mark.django_db
def test_the_lead_time_counts_working_days_across_the_weekend(
    support_version, ekbacke, alva, sara, rut, settings, due_at, lead, reminded
):
    settings.REMINDER_LEAD_WORKING_DAYS = lead
    decide_task(support_version, ekbacke, alva, sara, due_at=due_at)

    assert get_default_calendar().working_days_between(FRIDAY, at(2026, 8, 24)) == 1
    assert (task_reminders_send(now=FRIDAY) == 1) is reminded


@pytest.mark.parametrize(
    ("due_at", "reminded"),
    [
        (at(2026, 4, 8), True),  # Wednesday after Easter: Good Friday and Easter Monday do not count
        (at(2026, 4, 9), False),  # Thursday: three working days
    ],
)
@pytest.mark.django_db
def test_public_holidays_do_not_count_as_working_days(
    support_version, ekbacke, alva, sara, rut, due_at, reminded
):
    maundy_thursday = at(2026, 4, 2, hour=9)
    decide_task(support_version, ekbacke, alva, sara, due_at=due_at)

    assert (task_reminders_send(now=maundy_thursday) == 1) is reminded


@pytest.mark.django_db
def test_no_reminder_for_a_task_far_from_its_due_date_or_already_completed(
    support_version, ekbacke, alva, sara, rut
):
    case = process_instance_start(version=support_version, unit=ekbacke, pupil=alva)
    apply = case.user_tasks.get(element_id="apply")
    UserTask.objects.filter(pk=apply.pk).update(due_at=at(2026, 8, 24))
    user_task_complete(task_id=apply.pk, user=sara, data={"needs": ["läsning", "matte"]})
    UserTask.objects.filter(instance=case, element_id="decide").update(due_at=at(2026, 9, 14))

    assert task_reminders_send(now=FRIDAY) == 0
    assert task_escalations_send(now=at(2026, 8, 25)) == 0, "a completed task is never overdue"
    assert not Notification.objects.exists()
    assert not AuditEvent.objects.filter(verb__in=[Verb.TASK_REMINDED, Verb.TASK_ESCALATED]).exists()


@pytest.mark.django_db
def test_a_claimed_task_reminds_only_the_person_working_on_it(support_version, ekbacke, alva, sara, rut, mia):
    task = decide_task(support_version, ekbacke, alva, sara, due_at=at(2026, 8, 24))
    UserTask.objects.filter(pk=task.pk).update(claimed_by=mia, claimed_at=FRIDAY)

    assert task_reminders_send(now=FRIDAY) == 1
    assert Notification.objects.get().user == mia


@pytest.mark.django_db
def test_a_guardian_task_reminds_the_guardians_or_the_one_it_is_bound_to(
    support_version, ekbacke, alva, sara, rut
):
    per = CustodyFactory(pupil=alva, guardian__user=UserFactory(username="per")).guardian
    first = process_instance_start(version=support_version, unit=ekbacke, pupil=alva)
    second = process_instance_start(version=support_version, unit=ekbacke, pupil=alva)
    UserTask.objects.filter(instance__in=[first, second]).update(due_at=at(2026, 8, 24))
    UserTask.objects.filter(instance=second).update(guardian=per)

    assert task_reminders_send(now=FRIDAY) == 3
    recipients = {(n.user_task.instance_id, n.user.username) for n in Notification.objects.all()}
    assert recipients == {(first.pk, "sara"), (first.pk, "per"), (second.pk, "per")}


@pytest.mark.django_db
def test_an_overdue_task_is_escalated_once_to_the_principal_of_its_unit_only(
    support_version, ekbacke, alva, sara, rut, olle, tove
):
    task = decide_task(support_version, ekbacke, alva, sara, due_at=at(2026, 8, 20))

    with time_machine.travel(FRIDAY, tick=False):
        assert task_reminders_send() == 0, "an overdue task is escalated, not reminded"
        assert task_escalations_send() == 1
        assert task_escalations_send() == 0

    escalation = Notification.objects.get()
    assert (escalation.user, escalation.kind, escalation.dedup_key) == (
        rut,
        "escalation",
        f"escalation:{task.pk}:{rut.pk}",
    )
    event = AuditEvent.objects.get(verb=Verb.TASK_ESCALATED)
    assert (event.user_task_id, event.unit_id, event.after["recipients"]) == (task.pk, ekbacke.pk, [rut.pk])


@pytest.mark.django_db
def test_notifications_are_emailed_once_however_often_the_jobs_run(
    support_version, ekbacke, alva, sara, rut, mia, django_capture_on_commit_callbacks, mailoutbox
):
    with_email(rut), with_email(mia)
    task = decide_task(support_version, ekbacke, alva, sara, due_at=at(2026, 8, 24))

    for _restart in range(2):
        task_reminders_send(now=FRIDAY)
        with django_capture_on_commit_callbacks(execute=True):
            notification_emails_send()

    assert sorted(m.to[0] for m in mailoutbox) == ["mia@skarvik.example", "rut@skarvik.example"]
    message = mailoutbox[0]
    assert message.subject.startswith("Skolflöde: ")
    assert f"http://localhost:8000/tasks/{task.pk}/" in message.body
    assert "-- English --" in message.body
    assert not Notification.objects.filter(emailed_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_at_once_send_each_email_once(ekbacke, alva, sara, rut, mia, mailoutbox):
    with_email(rut), with_email(mia)
    version = published_support_version()
    for _case in range(3):
        decide_task(version, ekbacke, alva, sara, due_at=at(2026, 8, 24))
    assert task_reminders_send(now=FRIDAY) == 6
    barrier, claimed, errors = threading.Barrier(2), [], []

    def worker():
        try:
            barrier.wait()
            claimed.append(notification_emails_send())
        except Exception as exc:  # noqa: BLE001 - any failure must show in the assertion below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(claimed) == 6
    assert len(mailoutbox) == 6
    assert len({(m.to[0], m.body) for m in mailoutbox}) == 6


@pytest.mark.django_db
def test_a_failed_send_leaves_the_notification_for_the_next_pass(
    support_version, ekbacke, alva, sara, rut, settings, django_capture_on_commit_callbacks, mailoutbox
):
    with_email(rut)
    decide_task(support_version, ekbacke, alva, sara, due_at=at(2026, 8, 24))
    task_reminders_send(now=FRIDAY)

    settings.EMAIL_BACKEND = "tasks.tests.test_notifications.FailingEmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        notification_emails_send()
    assert Notification.objects.get().emailed_at is None
    assert mailoutbox == []

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        assert notification_emails_send() == 1
    assert Notification.objects.get().emailed_at is not None
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_person_without_an_email_address_gets_the_in_app_notification_only(
    support_version, ekbacke, alva, sara, rut, django_capture_on_commit_callbacks, mailoutbox
):
    decide_task(support_version, ekbacke, alva, sara, due_at=at(2026, 8, 24))
    task_reminders_send(now=FRIDAY)

    with django_capture_on_commit_callbacks(execute=True):
        assert notification_emails_send() == 0
    assert mailoutbox == [] and Notification.objects.get().emailed_at is None


@pytest.mark.django_db
def test_no_personnummer_or_pupil_name_in_notifications_or_emails(
    support_version, ekbacke, alva, sara, rut, django_capture_on_commit_callbacks, mailoutbox
):
    with_email(rut), with_email(sara)
    decide_task(support_version, ekbacke, alva, sara, due_at=at(2026, 8, 20))
    guardian_case = process_instance_start(version=support_version, unit=ekbacke, pupil=alva)
    UserTask.objects.filter(instance=guardian_case).update(due_at=at(2026, 8, 24))
    task_reminders_send(now=FRIDAY)
    task_escalations_send(now=FRIDAY)
    with django_capture_on_commit_callbacks(execute=True):
        notification_emails_send()

    pnr = alva.personnummer
    forbidden = [pnr, f"{pnr[:8]}-{pnr[8:]}", f"{pnr[2:8]}-{pnr[8:]}", pnr[2:], alva.full_name]
    texts = [f"{n.title} {n.body}" for n in Notification.objects.all()]
    texts += [f"{m.subject}\n{m.body}" for m in mailoutbox]
    assert len(mailoutbox) == 2 and len(texts) == 4
    assert not [(text, bad) for text in texts for bad in forbidden if bad in text]
    assert all("A. E." in n.body for n in Notification.objects.all()), "the masked name only"


@pytest.mark.django_db
def test_beat_runs_the_three_passes_as_jobs(
    support_version, ekbacke, alva, sara, rut, settings, django_capture_on_commit_callbacks, mailoutbox
):
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"tasks.reminders_send", "tasks.escalations_send", "tasks.notification_emails_send"} <= scheduled
    app.loader.import_default_modules()  # the worker's autodiscovery of every app's jobs.py
    assert scheduled <= set(app.tasks)

    with_email(rut)
    decide_task(support_version, ekbacke, alva, sara, due_at=at(2026, 8, 24))
    with time_machine.travel(FRIDAY, tick=False):
        reminders_send_job.delay()
        escalations_send_job.delay()
        with django_capture_on_commit_callbacks(execute=True):
            notification_emails_send_job.delay()
    assert [m.to for m in mailoutbox] == [["rut@skarvik.example"]]
