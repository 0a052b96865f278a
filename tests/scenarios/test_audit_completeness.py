"""Every process in bpmn/, walked through the services, leaves a complete audit trail: one task.ready per
user task row, one task.completed per completed task (and task.cancelled per cancelled one), one
instance.started first, instance.completed last, one timer.fired per timer fired, in causal order,
each event chained to the one before it."""

from __future__ import annotations

from collections import Counter

import pytest

from audit.models import AuditEvent, Verb
from audit.services import audit_chain_verify
from tasks.models import UserTask
from tests.scenarios.test_library_through_services import LIBRARY, library_case_run

TASK_VERBS = {Verb.TASK_READY, Verb.TASK_COMPLETED, Verb.TASK_CANCELLED}


@pytest.mark.django_db
@pytest.mark.parametrize("choice", [0, 1], ids=["first-alternatives", "second-alternatives"])
@pytest.mark.parametrize("key", LIBRARY)
def test_the_trail_of_a_case_is_complete(key, choice):
    instance, trail = library_case_run(key, choice)
    events = list(AuditEvent.objects.filter(instance_id=instance.pk).order_by("id"))
    verbs = [event.verb for event in events]
    tasks = list(instance.user_tasks.all())

    assert verbs[0] == Verb.INSTANCE_STARTED and verbs.count(Verb.INSTANCE_STARTED) == 1
    assert verbs[-1] == Verb.INSTANCE_COMPLETED and verbs.count(Verb.INSTANCE_COMPLETED) == 1

    per_task = Counter((event.user_task_id, event.verb) for event in events if event.verb in TASK_VERBS)
    expected = Counter({(task.pk, Verb.TASK_READY): 1 for task in tasks})
    expected.update(
        (task.pk, Verb.TASK_COMPLETED) for task in tasks if task.status == UserTask.Status.COMPLETED
    )
    expected.update(
        (task.pk, Verb.TASK_CANCELLED) for task in tasks if task.status == UserTask.Status.CANCELLED
    )
    assert per_task == expected

    fired = [element_id for kind, element_id in trail if kind == "timer"]
    assert Counter(e.element_id for e in events if e.verb == Verb.TIMER_FIRED) == Counter(fired)
    assert verbs.count(Verb.MESSAGE_RECEIVED) == sum(1 for kind, _ in trail if kind == "message")

    # Who, when, where and what, on every event.
    by_task = {task.pk: task for task in tasks}
    for event in events:
        assert event.unit_id == instance.unit_id and event.occurred_at is not None
        if event.verb in TASK_VERBS:
            task = by_task[event.user_task_id]
            assert (event.element_id, event.element_name, event.lane) == (
                task.element_id,
                task.name,
                task.lane,
            )
        if event.verb == Verb.TASK_COMPLETED:
            assert event.actor_id == by_task[event.user_task_id].completed_by_id
            assert event.after == by_task[event.user_task_id].data
        if event.verb == Verb.TIMER_FIRED:
            assert event.element_id and event.element_name

    # Causal order: time never runs backwards, a task is ready before it ends, and each event is
    # chained to the event written just before it.
    assert [e.occurred_at for e in events] == sorted(e.occurred_at for e in events)
    first_seen: dict[int, str] = {}
    for event in events:
        if event.user_task_id:
            first_seen.setdefault(event.user_task_id, event.verb)
    assert set(first_seen.values()) <= {Verb.TASK_READY}
    everything = list(AuditEvent.objects.order_by("id"))
    assert all(
        later.prev_hash == earlier.hash for earlier, later in zip(everything, everything[1:], strict=False)
    )
    assert len({e.hash for e in everything}) == len(everything)
    assert audit_chain_verify() is None
