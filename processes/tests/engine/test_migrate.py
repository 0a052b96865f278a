"""Moving instances between bundles with SpiffWorkflow's diff: safe only when the current steps are
unchanged in the target; ready tasks keep their ids and waiting timers their due times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from processes.engine import (
    Bundle,
    EngineError,
    bundle_load,
    workflow_load,
    workflow_migrate,
    workflow_migration_check,
)

from .test_workflow import task, to_decision

T0 = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)


def variant(files: dict[str, bytes], old: str, new: str, name: str = "support.bpmn") -> Bundle:
    changed = dict(files)
    assert old.encode() in changed[name]
    changed[name] = changed[name].replace(old.encode(), new.encode())
    return Bundle.from_spec_json(bundle_load(changed, "special_support").spec_json())


def test_a_ready_task_moves_and_keeps_its_id(support_bundle, support_files):
    target = variant(support_files, 'name="Överklagandetid"', 'name="Tid för överklagande"')
    wf = to_decision(support_bundle)
    before = task(wf, "decide")
    report = workflow_migration_check(support_bundle, target, wf.dump_state())
    assert report.safe and report.current == ["decide", "decide_deadline"]
    state, _report = workflow_migrate(support_bundle, target, wf.dump_state())
    moved = workflow_load(target, state)
    [ready] = moved.ready_user_tasks()
    assert (ready.task_id, ready.name) == (before, "Fatta beslut")
    moved.complete_user_task(ready.task_id, {"decision": "approved"})
    [timer] = moved.waiting_timers()
    assert (timer.element_id, timer.element_name) == ("appeal_window", "Tid för överklagande")


def test_a_changed_current_step_blocks_and_the_state_is_untouched(support_bundle, support_files):
    target = variant(support_files, '"P5D"', '"P10D"')  # the decision's deadline timer changes
    wf = to_decision(support_bundle)
    state = wf.dump_state()
    report = workflow_migration_check(support_bundle, target, state)
    assert not report.safe and report.blocking == {"decide_deadline": "changed"}
    with pytest.raises(EngineError) as refused:
        workflow_migrate(support_bundle, target, state)
    assert refused.value.code == "migration_unsafe" and refused.value.element_id == "decide_deadline"
    assert workflow_load(support_bundle, state).ready_user_tasks()[0].element_id == "decide"


def test_a_waiting_timer_keeps_its_due_time_and_a_called_process_moves_too(support_bundle, support_files):
    target = variant(support_files, "Fyll i ansökan", "Ansök")  # a step the case has passed
    with time_machine.travel(T0, tick=False) as traveller:
        wf = to_decision(support_bundle)
        wf.complete_user_task(task(wf, "decide"), {"decision": "approved"})
        [timer] = wf.waiting_timers()
        state, report = workflow_migrate(support_bundle, target, wf.dump_state())
        moved = workflow_load(target, state)
        assert report.current == ["appeal_window"]
        assert [(t.element_id, t.due_at) for t in moved.waiting_timers()] == [("appeal_window", timer.due_at)]
        traveller.shift(timedelta(weeks=3, seconds=1))
        assert moved.fire_due_timers() == ["appeal_window"]
        review = [t for t in moved.ready_user_tasks() if t.element_id == "review_appeal"][0]
        # Inside the called process now: it moves when the appeal model is unchanged ...
        in_appeal = moved.dump_state()
        again = variant(support_files, "Ansök", "Ansök nu")
        assert workflow_migration_check(target, again, in_appeal).safe
        # ... and not when its current step changed in the target.
        changed_appeal = variant(
            {
                **support_files,
                "support.bpmn": support_files["support.bpmn"].replace(
                    b"Fyll i ans\xc3\xb6kan", b"Ans\xc3\xb6k"
                ),
            },
            f'id="{review.element_id}" name="',
            f'id="{review.element_id}" name="Ny ',
            name="appeal.bpmn",
        )
        blocked = workflow_migration_check(target, changed_appeal, in_appeal)
        assert not blocked.safe and blocked.blocking == {review.element_id: "changed"}
