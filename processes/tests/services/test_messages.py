"""A guardian's reply from outside reaches the one case waiting for it, once."""

import pytest

from audit.models import AuditEvent, Verb
from common.errors import ApplicationError
from processes.models import ProcessInstance, ReceivedMessage
from processes.services.instances import process_instance_start
from processes.services.messages import message_deliver
from tasks.services.user_tasks import user_task_complete

pytestmark = pytest.mark.django_db


def waiting_for_reply(version, unit, pupil, guardian, case_id):
    case = process_instance_start(version=version, unit=unit, pupil=pupil, data={"case_id": case_id})
    user_task_complete(task_id=case.user_tasks.get(element_id="apply").pk, user=guardian, data={"needs": []})
    return case


def test_the_reply_reaches_the_case_with_the_matching_correlation_key(support_version, ekbacke, alva, sara):
    first = waiting_for_reply(support_version, ekbacke, alva, sara, "C-1")
    second = waiting_for_reply(support_version, ekbacke, alva, sara, "C-2")
    assert first.subscriptions.get().message_name == "guardian_reply"

    outcome = message_deliver(
        message_id="m-1", name="guardian_reply", correlation={"case_id": "C-2"}, payload={"answer": "ja"}
    )

    assert (outcome.outcome, outcome.instance_id) == ("delivered", second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.status == ProcessInstance.Status.COMPLETED and second.end_events == ["end_rejected"]
    assert first.status == ProcessInstance.Status.RUNNING and first.subscriptions.exists()
    assert AuditEvent.objects.filter(verb=Verb.MESSAGE_RECEIVED, instance_id=second.pk).count() == 1


def test_a_redelivered_message_is_answered_as_a_duplicate_and_not_applied_again(
    support_version, ekbacke, alva, sara
):
    case = waiting_for_reply(support_version, ekbacke, alva, sara, "C-1")
    message_deliver(message_id="m-1", name="guardian_reply", correlation={"case_id": "C-1"})
    case.refresh_from_db()
    revision = case.revision

    again = message_deliver(message_id="m-1", name="guardian_reply", correlation={"case_id": "C-1"})

    case.refresh_from_db()
    assert again.outcome == "duplicate" and again.instance_id == case.pk
    assert case.revision == revision
    assert AuditEvent.objects.filter(verb=Verb.MESSAGE_RECEIVED).count() == 1


def test_an_unknown_message_gets_a_clear_answer_and_the_refusal_is_remembered(
    support_version, ekbacke, alva, sara
):
    waiting_for_reply(support_version, ekbacke, alva, sara, "C-1")

    for name, key in (("guardian_reply", "C-404"), ("no_such_message", "C-1")):
        with pytest.raises(ApplicationError) as refused:
            message_deliver(message_id=f"m-{name}-{key}", name=name, correlation={"case_id": key})
        assert refused.value.code == "message_unknown" and refused.value.status == 404

    assert ReceivedMessage.objects.filter(outcome="unknown").count() == 2
    repeat = message_deliver(
        message_id="m-guardian_reply-C-404", name="guardian_reply", correlation={"case_id": "C-404"}
    )
    assert repeat.outcome == "duplicate" and repeat.instance_id is None
