"""Retention (gallring): closed cases past their period lose their personal data and nothing else.
Counts, timestamps, steps, lanes and durations stay for the dashboards; the audit chain still verifies,
and still catches an edit that retention did not make."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.db import connection

from audit.masking import MASK, enum_values
from audit.models import AuditEvent, RetentionRule, Verb
from audit.services import RetentionPolicy, audit_chain_verify, retention_apply, retention_policies
from processes.services.versions import process_version_deploy, process_version_publish
from processes.tests.factories import support_bundle_files
from tests.scenarios.test_library_through_services import library_case_run

pytestmark = pytest.mark.django_db
LATER = datetime(2027, 6, 1, tzinfo=UTC)


def _statistics(case):
    events = (
        AuditEvent.objects.filter(instance_id=case.pk).exclude(verb=Verb.RETENTION_APPLIED).order_by("id")
    )
    tasks = case.user_tasks.order_by("pk")
    return {
        "events": [
            (e.verb, e.element_id, e.element_name, e.lane, e.occurred_at, e.user_task_id, e.actor_id)
            for e in events
        ],
        "tasks": [
            (t.element_id, t.lane, t.status, t.ready_at, t.completed_at, t.due_at, t.completed_by_id)
            for t in tasks
        ],
        "case": (
            case.status,
            case.started_at,
            case.completed_at,
            case.unit_id,
            case.version_id,
            case.end_events,
        ),
        "durations": [(t.completed_at - t.ready_at) for t in tasks if t.completed_at],
    }


def _everything_personal(case):
    events = AuditEvent.objects.filter(instance_id=case.pk)
    return json.dumps(
        [case.state, case.subject, [(t.data, t.prefill, t.draft) for t in case.user_tasks.all()]]
        + [(e.before, e.after) for e in events],
        ensure_ascii=False,
        default=str,
    )


def _strings(value):
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


@pytest.fixture
def closed_cases():
    support, _ = library_case_run("special_support", 0, registry=True)
    absence, _ = library_case_run("problematic_absence", 0, registry=True)
    enrolment, _ = library_case_run("enrolment", 0, registry=True)
    RetentionRule.objects.create(process_key="special_support", keep_for_days=365)
    RetentionRule.objects.create(process_key="problematic_absence", keep_for_days=365, action="purge")
    return support, absence, enrolment


def test_retention_removes_personal_data_and_keeps_the_statistics(closed_cases):
    support, absence, enrolment = closed_cases
    pupil = support.pupil
    before = {case.pk: _statistics(case) for case in closed_cases}
    answered = [sorted(t.data) for t in support.user_tasks.order_by("pk")]
    untouched = _everything_personal(enrolment)
    dashed = f"{pupil.personnummer[:8]}-{pupil.personnummer[8:]}"
    assert dashed in _everything_personal(support) and pupil.full_name in _everything_personal(support)

    assert retention_apply(LATER) == 2

    for case in closed_cases:
        case.refresh_from_db()
        assert _statistics(case) == before[case.pk], f"{case.version} statistics survive"
    assert support.pupil is None and absence.pupil is None and enrolment.pupil is not None
    personal = _everything_personal(support)
    assert dashed not in personal and pupil.personnummer not in personal and pupil.full_name not in personal
    assert dashed not in _everything_personal(absence)
    assert [sorted(t.data) for t in support.user_tasks.order_by("pk")] == answered, "the form's shape stays"
    keep = enum_values(support.version)
    for task in support.user_tasks.all():
        assert all(s in keep or s == MASK for s in _strings(task.data)), task.data
    assert any(s in keep for t in support.user_tasks.all() for s in _strings(t.data)), "coded answers stay"
    assert all(not t.data and not t.prefill for t in absence.user_tasks.all()), "purge empties form data"
    assert _everything_personal(enrolment) == untouched, "no rule, no retention"

    applied = AuditEvent.objects.filter(verb=Verb.RETENTION_APPLIED)
    assert sorted(applied.values_list("instance_id", flat=True)) == sorted([support.pk, absence.pk])
    assert audit_chain_verify() is None
    assert retention_apply(LATER) == 0, "idempotent"


def test_a_case_still_within_its_period_keeps_its_data(closed_cases):
    support, *_ = closed_cases
    assert retention_apply(support.completed_at) == 0
    support.refresh_from_db()
    assert support.pupil is not None


def test_the_chain_still_catches_edits_after_retention(closed_cases):
    support, absence, enrolment = closed_cases
    retention_apply(LATER)
    redacted = AuditEvent.objects.filter(instance_id=support.pk, redacted_by__isnull=False).first()
    intact = AuditEvent.objects.filter(instance_id=enrolment.pk, verb=Verb.TASK_COMPLETED).first()

    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET after = %s WHERE id = %s", ['{"forged": 1}', intact.pk])
    assert audit_chain_verify() == intact.pk
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET after = %s WHERE id = %s", [json.dumps(intact.after), intact.pk]
        )
        cursor.execute("UPDATE audit_auditevent SET redacted_by = NULL WHERE id = %s", [redacted.pk])
    assert audit_chain_verify() == redacted.pk, "a redaction that no retention event names is caught"


def test_the_manifest_gives_the_default_period_and_a_rule_overrides_it():
    bundle = support_bundle_files()
    bundle.manifest["retention_days"] = 10
    process_version_publish(process_version_deploy(bundle)[0])

    assert retention_policies() == [RetentionPolicy(bundle.key, 10, RetentionRule.Action.PSEUDONYMISE)]
    RetentionRule.objects.create(process_key=bundle.key, keep_for_days=99, action=RetentionRule.Action.PURGE)
    assert retention_policies() == [RetentionPolicy(bundle.key, 99, RetentionRule.Action.PURGE)]
