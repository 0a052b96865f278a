"""A process owner finds the case that stopped on an error in the admin, sees the element and the
expression, and retries it once the cause is fixed."""

import pytest
from django.urls import reverse

from common.errors import ApplicationError
from organisation.tests.factories import UserFactory
from processes.models import ProcessInstance
from processes.services.instances import process_instance_start
from processes.tests.factories import published_support_version
from tasks.services.user_tasks import user_task_complete

pytestmark = pytest.mark.django_db


def test_the_process_owner_sees_the_error_and_retries_from_the_admin(client, ekbacke, alva, sara):
    version = published_support_version(**{"score &gt;= 4": "score &gt;= 4 and needs_count &lt; limit"})
    case = process_instance_start(version=version, unit=ekbacke, pupil=alva)
    with pytest.raises(ApplicationError):
        user_task_complete(task_id=case.user_tasks.get().pk, user=sara, data={"needs": ["a", "b"]})
    owner = UserFactory(username="agda", is_staff=True, is_superuser=True)
    client.force_login(owner)

    listing = client.get(reverse("admin:processes_processinstance_changelist") + "?status__exact=error")
    page = client.get(reverse("admin:processes_processinstance_change", args=[case.pk])).content.decode()
    retried = client.post(
        reverse("admin:processes_processinstance_changelist"),
        {"action": "retry", "_selected_action": [str(case.pk)]},
        follow=True,
    )

    assert str(case.pk) in listing.content.decode()
    assert "gw_need" in page and "limit" in page
    case.refresh_from_db()
    assert case.status == ProcessInstance.Status.ERROR, "the cause is not fixed: it stops again"
    assert "limit" in retried.content.decode()
