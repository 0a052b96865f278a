"""Somebody edits an audit row directly in the database: the chain check finds the first broken link."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import audit_chain_verify
from organisation.tests.factories import UserFactory
from processes.services.instances import process_instance_start
from tasks.services.user_tasks import user_task_complete

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(support_version, ekbacke, alva, sara):
    case = process_instance_start(version=support_version, unit=ekbacke, pupil=alva)
    user_task_complete(task_id=case.user_tasks.get().pk, user=sara, data={"needs": ["a", "b"]})
    return list(AuditEvent.objects.order_by("id"))


def test_an_untouched_trail_verifies(trail):
    assert len(trail) >= 5 and audit_chain_verify() is None
    call_command("verify_audit_chain")


def test_a_row_altered_in_the_database_is_found(trail):
    victim = trail[3]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET actor_label = %s WHERE id = %s", ["someone-else", victim.pk]
        )

    assert audit_chain_verify() == victim.pk
    with pytest.raises(CommandError, match=f"broken at event {victim.pk}"):
        call_command("verify_audit_chain")


def test_a_deleted_row_breaks_the_next_link(trail):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [trail[2].pk])

    assert audit_chain_verify() == trail[3].pk


def test_the_admin_page_reports_the_break(client, trail):
    client.force_login(UserFactory(username="agda", is_staff=True, is_superuser=True))
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET after = %s WHERE id = %s", ['{"forged": true}', trail[1].pk]
        )

    page = client.get(reverse("admin:audit_auditevent_verify"), follow=True).content.decode()

    assert f"{trail[1].pk}" in page and ("bruten" in page or "broken" in page)
