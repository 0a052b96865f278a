from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from processes.engine import (
    Bundle,
    EngineError,
    ExpressionError,
    Workflow,
    bundle_load,
    workflow_load,
    workflow_start,
)
from processes.engine.serializer import STOCK
from processes.engine.workflow import SCRIPT_ENGINE

from .conftest import form_ext

T0 = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)


def task(wf: Workflow, element_id: str) -> str:
    ready = {t.element_id: t.task_id for t in wf.ready_user_tasks()}
    assert element_id in ready, f"{element_id} not ready; ready: {sorted(ready)}"
    return ready[element_id]


def to_decision(bundle: Bundle, case_id: str = "C1") -> Workflow:
    wf = workflow_start(bundle, {"case_id": case_id})
    wf.complete_user_task(task(wf, "apply"), {"needs": ["reading", "maths"]})
    return wf


def roundtrip(bundle: Bundle, wf: Workflow) -> Workflow:
    return workflow_load(bundle, json.loads(json.dumps(wf.dump_state())))


def test_ready_task_carries_lane_id_form_and_data(support_bundle: Bundle) -> None:
    wf = workflow_start(support_bundle, {"case_id": "C1"})
    [info] = wf.ready_user_tasks()
    assert (info.element_id, info.name, info.lane, info.form) == (
        "apply",
        "Fyll i ansökan",
        "guardian",
        "apply.schema.json",
    )
    assert info.data == {"case_id": "C1"} and info.due_at is None


def test_start_to_end_through_call_activity_in_another_file(support_bundle: Bundle) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        wf = to_decision(support_bundle)
        assert wf.data["score"] == 4  # the script task ran in the restricted evaluator
        wf.complete_user_task(task(wf, "decide"), {"decision": "approved"})
        traveller.shift(timedelta(weeks=3, seconds=1))
        assert wf.fire_due_timers() == ["appeal_window"]
        review = [t for t in wf.ready_user_tasks() if t.element_id == "review_appeal"][0]
        assert (review.lane, review.process_id) == ("governing_body", "appeal")
        wf.complete_user_task(review.task_id, {"reconsider": False})
    assert wf.is_completed
    assert wf.completed_end_events() == ["appeal_end", "end_decided"]
    assert wf.data["appeal_outcome"] == "forwarded"
    assert [(h["element_id"], h["lane"], h["data_keys"]) for h in wf.history()] == [
        ("apply", "guardian", ["needs"]),
        ("decide", "principal", ["decision"]),
        ("review_appeal", "governing_body", ["reconsider"]),
    ]


def test_gateway_default_flow_and_message_end(support_bundle: Bundle) -> None:
    wf = workflow_start(support_bundle, {"case_id": "C9"})
    wf.complete_user_task(task(wf, "apply"), {"needs": ["reading"]})  # score 2: default flow
    assert [m["element_id"] for m in wf.waiting_messages()] == ["wait_reply"]
    assert wf.send_message("guardian_reply", {"case_id": "C9", "answer": "ok"})
    assert wf.is_completed and wf.completed_end_events() == ["end_rejected"]
    assert wf.data["answer"] == "ok"


def test_boundary_timer_gives_due_date_and_escalates_when_the_clock_moves(support_bundle: Bundle) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        wf = to_decision(support_bundle)
        decide = [t for t in wf.ready_user_tasks() if t.element_id == "decide"][0]
        assert decide.due_at == T0 + timedelta(days=5)
        [timer] = wf.waiting_timers()
        assert (timer.element_id, timer.kind, timer.attached_to, timer.due_at) == (
            "decide_deadline",
            "boundary",
            "decide",
            T0 + timedelta(days=5),
        )
        traveller.shift(timedelta(days=4))
        assert wf.fire_due_timers() == []
        wf = roundtrip(support_bundle, wf)  # the due time survives a save in between
        traveller.shift(timedelta(days=1, seconds=1))
        assert wf.fire_due_timers() == ["decide_deadline"]
    assert wf.is_completed and wf.completed_end_events() == ["end_escalated"]
    assert wf.ready_user_tasks() == []


def test_now_argument_is_honoured(support_bundle: Bundle) -> None:
    wf = workflow_start(support_bundle, {"case_id": "C1"}, now=T0)
    wf.complete_user_task(task(wf, "apply"), {"needs": ["a", "b"]}, now=T0)
    assert wf.waiting_timers()[0].due_at == T0 + timedelta(days=5)
    assert wf.fire_due_timers(now=T0 + timedelta(days=5, seconds=1)) == ["decide_deadline"]


def test_intermediate_timer_waits(support_bundle: Bundle) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        wf = to_decision(support_bundle)
        wf.complete_user_task(task(wf, "decide"), {"decision": "approved"})
        [timer] = wf.waiting_timers()
        assert (timer.kind, timer.due_at, timer.attached_to) == (
            "intermediate",
            T0 + timedelta(weeks=3),
            None,
        )
        traveller.shift(timedelta(weeks=2))
        assert wf.fire_due_timers() == [] and wf.ready_user_tasks() == []


def test_message_correlation_picks_the_right_instance(support_bundle: Bundle) -> None:
    first, second = (workflow_start(support_bundle, {"case_id": c}) for c in ("C1", "C2"))
    for wf in (first, second):
        wf.complete_user_task(task(wf, "apply"), {"needs": []})
    assert not first.send_message("no_such_message", {"case_id": "C1"})
    assert not second.send_message("guardian_reply", {"case_id": "C1"})  # other instance's case
    assert not second.send_message("guardian_reply", {"case_id": "C2"}, correlation={"case_id": "C1"})
    assert first.send_message("guardian_reply", {"case_id": "C1", "answer": "yes"})
    assert first.is_completed and not second.is_completed
    assert not first.send_message("guardian_reply", {"case_id": "C1", "answer": "again"})  # not twice
    assert first.data["answer"] == "yes"
    restored = roundtrip(support_bundle, second)
    assert restored.send_message("guardian_reply", {"answer": "no"}, correlation={"case_id": "C2"})
    assert restored.is_completed


def test_dump_load_round_trip_mid_flow(support_bundle: Bundle) -> None:
    wf = to_decision(support_bundle)
    state = json.loads(json.dumps(wf.dump_state()))
    restored = workflow_load(Bundle.from_spec_json(support_bundle.spec_json()), state)
    assert restored.state_version == wf.state_version
    assert [(t.task_id, t.element_id, t.lane) for t in restored.ready_user_tasks()] == [
        (t.task_id, t.element_id, t.lane) for t in wf.ready_user_tasks()
    ]
    assert restored.history() == wf.history()
    restored.complete_user_task(task(restored, "decide"), {"decision": "approved"})
    assert restored.waiting_timers()[0].element_id == "appeal_window"
    # Loading never mutates the stored state.
    assert state == json.loads(json.dumps(wf.dump_state()))


def test_dumped_state_does_not_contain_the_spec(support_bundle: Bundle) -> None:
    wf = to_decision(support_bundle)
    text = json.dumps(wf.dump_state(), ensure_ascii=False)
    for spec_only in (
        "Fyll i ansökan",
        "Överklagandetid",
        "task_specs",
        "bpmn_name",
        "subprocess_specs",
        "score >= 4",
        "formJsonSchemaFilename",
    ):
        assert spec_only not in text
    stock = json.dumps(STOCK.to_dict(wf._wf), ensure_ascii=False)
    assert "Fyll i ansökan" in stock and "task_specs" in stock  # the stock serializer embeds it
    assert len(text) * 2 < len(stock)


def test_unknown_or_already_completed_task_is_not_ready(support_bundle: Bundle) -> None:
    wf = workflow_start(support_bundle, {"case_id": "C1"})
    apply_id = task(wf, "apply")
    for bad in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(EngineError) as info:
            wf.complete_user_task(bad, {})
        assert info.value.code == "task_not_ready"
    wf.complete_user_task(apply_id, {"needs": ["a"]})
    with pytest.raises(EngineError) as info:
        wf.complete_user_task(apply_id, {"needs": ["a"]})  # double submit
    assert info.value.code == "task_not_ready"


def test_non_json_data_is_refused(support_bundle: Bundle) -> None:
    wf = workflow_start(support_bundle, {"case_id": "C1"})
    with pytest.raises(EngineError) as info:
        wf.complete_user_task(task(wf, "apply"), {"needs": object()})
    assert info.value.code == "invalid_data"


def _gateway_model(bpmn: Callable[..., bytes], condition: str) -> Bundle:
    doc = bpmn(
        '<bpmn:startEvent id="s" /><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t" />'
        f'<bpmn:userTask id="t" name="Svara">{form_ext("t.json")}</bpmn:userTask>'
        '<bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="gw" />'
        '<bpmn:exclusiveGateway id="gw" name="Beviljas?" default="fno" />'
        f'<bpmn:sequenceFlow id="fyes" sourceRef="gw" targetRef="calc"><bpmn:conditionExpression>{condition}'
        "</bpmn:conditionExpression></bpmn:sequenceFlow>"
        '<bpmn:sequenceFlow id="fno" sourceRef="gw" targetRef="e" />'
        '<bpmn:scriptTask id="calc" name="Räkna"><bpmn:script>a = 1\nb = a / 0</bpmn:script>'
        "</bpmn:scriptTask>"
        '<bpmn:sequenceFlow id="f3" sourceRef="calc" targetRef="e" /><bpmn:endEvent id="e" />',
        lanes={"principal": ["s", "t", "gw", "calc", "e"]},
    )
    return bundle_load({"x.bpmn": doc}, "p")


def test_gateway_condition_error_names_element_lane_and_expression(bpmn: Callable[..., bytes]) -> None:
    wf = workflow_start(_gateway_model(bpmn, "scroe &gt;= 4"))
    with pytest.raises(EngineError) as info:
        wf.complete_user_task(task(wf, "t"), {"score": 5})
    err = info.value
    assert isinstance(err, ExpressionError)
    assert (err.element_id, err.element_name, err.lane, err.expression) == (
        "gw",
        "Beviljas?",
        "principal",
        "scroe >= 4",
    )
    assert "scroe" in err.message


def test_script_error_names_element_and_line(bpmn: Callable[..., bytes]) -> None:
    wf = workflow_start(_gateway_model(bpmn, "score &gt;= 4"))
    with pytest.raises(ExpressionError) as info:
        wf.complete_user_task(task(wf, "t"), {"score": 5})
    assert (info.value.element_id, info.value.lane, info.value.expression) == (
        "calc",
        "principal",
        "b = a / 0",
    )
    assert "line 2" in info.value.message and "ZeroDivisionError" in info.value.message


def test_hostile_script_in_a_model_never_runs(bpmn: Callable[..., bytes]) -> None:
    doc = bpmn(
        '<bpmn:startEvent id="s" /><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="x" />'
        '<bpmn:scriptTask id="x" name="Elak"><bpmn:script>r = ().__class__.__base__.__subclasses__()'
        '</bpmn:script></bpmn:scriptTask><bpmn:sequenceFlow id="f2" sourceRef="x" targetRef="e" />'
        '<bpmn:endEvent id="e" />'
    )
    with pytest.raises(ExpressionError) as info:
        workflow_start(bundle_load({"x.bpmn": doc}, "p"))
    assert info.value.element_id == "x" and info.value.code == "expression_refused"


def test_stock_engine_is_never_used(support_bundle: Bundle) -> None:
    wf = workflow_start(support_bundle)
    assert wf._wf.script_engine is SCRIPT_ENGINE
    # By class name: outside processes/engine nothing imports SpiffWorkflow (see test_layering.py).
    assert "BpmnWorkflow" in {cls.__name__ for cls in type(wf._wf).__mro__}
    assert roundtrip(support_bundle, wf)._wf.script_engine is SCRIPT_ENGINE
