from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from processes.engine import Bundle, BundleInvalid, Problem, bundle_check_xml, bundle_load, bundle_validate

from .conftest import FIXTURES, form_ext

Make = Callable[..., bytes]


def codes(problems: list[Problem]) -> set[str]:
    return {p.code for p in problems}


def load_problems(files: dict[str, bytes], main: str = "p", **kwargs: int) -> list[Problem]:
    with pytest.raises(BundleInvalid) as info:
        bundle_load(files, main, **kwargs)
    return info.value.problems


# -- hostile XML ---------------------------------------------------------------------------


def test_xxe_external_entity_is_refused() -> None:
    problems = load_problems({"x.bpmn": (FIXTURES / "hostile" / "xxe.bpmn").read_bytes()})
    assert codes(problems) == {"xml_unsafe"}
    assert "root:" not in repr(problems)  # /etc/passwd was never read


def test_billion_laughs_is_refused() -> None:
    problems = load_problems({"x.bpmn": (FIXTURES / "hostile" / "billion_laughs.bpmn").read_bytes()})
    assert codes(problems) == {"xml_unsafe"}


def test_any_doctype_is_refused_even_harmless_or_utf16(bpmn: Make) -> None:
    doc = bpmn('<bpmn:startEvent id="s" />').replace(b"?>\n", b"?>\n<!DOCTYPE definitions>\n", 1)
    assert codes(load_problems({"x.bpmn": doc})) == {"xml_unsafe"}
    utf16 = doc.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    assert codes(load_problems({"x.bpmn": utf16})) == {"xml_unsafe"}


def test_oversize_file_is_refused(bpmn: Make) -> None:
    problems = load_problems({"big.bpmn": bpmn('<bpmn:startEvent id="s" />')}, max_bytes=100)
    assert codes(problems) == {"too_large"} and problems[0].file == "big.bpmn"


def test_malformed_xml_names_the_line() -> None:
    problems = load_problems({"bad.bpmn": b'<?xml version="1.0"?>\n<a>\n<b>\n</a>'})
    assert codes(problems) == {"xml_malformed"}
    assert "line" in problems[0].message and problems[0].file == "bad.bpmn"


def test_reserved_ids_are_refused_before_spiff(bpmn: Make) -> None:
    doc = bpmn(
        '<bpmn:startEvent id="Start" /><bpmn:sequenceFlow id="f" sourceRef="Start" targetRef="End" />'
        '<bpmn:endEvent id="End" />'
    )
    problems = load_problems({"x.bpmn": doc})
    assert {(p.code, p.element_id) for p in problems} == {("reserved_id", "Start"), ("reserved_id", "End")}


@pytest.mark.parametrize(
    "element, fragment",
    [
        ('<bpmn:complexGateway id="cx" name="Komplex" />', "complex gateways"),
        (
            '<bpmn:intermediateThrowEvent id="lnk" name="Länk"><bpmn:linkEventDefinition id="l" name="x" />'
            "</bpmn:intermediateThrowEvent>",
            "link events",
        ),
        ('<bpmn:fancyTask id="fancy" name="Fancy" />', "bpmn:fancyTask"),
    ],
)
def test_unknown_or_silently_ignored_elements_are_reported(bpmn: Make, element: str, fragment: str) -> None:
    doc = bpmn(
        '<bpmn:startEvent id="s" /><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="e" />'
        '<bpmn:endEvent id="e" />' + element
    )
    problems = load_problems({"x.bpmn": doc})
    assert "unknown_element" in codes(problems)
    assert any(fragment in p.message for p in problems)


def test_all_problems_of_several_files_are_reported_together(bpmn: Make) -> None:
    reserved = bpmn('<bpmn:startEvent id="Start" />')
    problems = load_problems(
        {"a.bpmn": b"<oops", "b.bpmn": reserved, "c.bpmn": b"x" * (len(reserved) + 20)},
        max_bytes=len(reserved) + 10,
    )
    assert codes(problems) == {"xml_malformed", "reserved_id", "too_large"}


# -- loading and the stored spec -----------------------------------------------------------


def test_call_activity_across_files_and_lane_ids(support_files: dict[str, bytes]) -> None:
    bundle = bundle_load(support_files, "special_support")
    assert bundle.process_ids == ["special_support", "appeal"]
    assert bundle.lane_of("apply") == "guardian"
    assert bundle.lane_of("decide") == "principal"
    assert bundle.lane_of("review_appeal") == "governing_body"
    tasks = {t["element_id"]: t for t in bundle.user_tasks()}
    assert tasks["decide"]["form"] == "decide.schema.json"
    assert [t["element_id"] for t in tasks["decide"]["boundary_timers"]] == ["decide_deadline"]
    timers = {t["element_id"]: t for t in bundle.timers()}
    assert (
        timers["appeal_window"]["kind"] == "intermediate" and timers["appeal_window"]["expression"] == '"P3W"'
    )
    assert (
        timers["decide_deadline"]["kind"] == "boundary"
        and timers["decide_deadline"]["attached_to"] == "decide"
    )


def test_spec_json_round_trip_needs_no_xml(support_files: dict[str, bytes]) -> None:
    stored = bundle_load(support_files, "special_support").spec_json()
    restored = Bundle.from_spec_json(stored)
    assert restored.spec_json() == stored
    assert restored.lane_of("decide") == "principal"
    assert "<bpmn:" not in stored
    json.loads(stored)


def test_missing_called_process_is_reported(support_files: dict[str, bytes]) -> None:
    problems = load_problems({"support.bpmn": support_files["support.bpmn"]}, "special_support")
    assert ("missing_called_process", "call_appeal") in {(p.code, p.element_id) for p in problems}


# -- lint rules ----------------------------------------------------------------------------


def test_clean_fixture_has_no_problems(support_files: dict[str, bytes], forms: dict[str, dict]) -> None:
    assert bundle_validate(bundle_load(support_files, "special_support"), forms) == []
    assert bundle_check_xml(support_files, "special_support", forms) == []


def _find(problems: list[Problem], code: str) -> Problem:
    matches = [p for p in problems if p.code == code]
    assert matches, f"expected {code} in {problems}"
    return matches[0]


def test_user_task_outside_lane(bpmn: Make) -> None:
    doc = bpmn(
        '<bpmn:startEvent id="s" /><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t" />'
        f'<bpmn:userTask id="t" name="Ensam">{form_ext("t.json")}</bpmn:userTask>'
        '<bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e" /><bpmn:endEvent id="e" />',
        lanes={"teacher": ["s", "e"]},
    )
    problem = _find(bundle_validate(bundle_load({"x.bpmn": doc}, "p"), {"t.json": {}}), "task_outside_lane")
    assert (problem.element_id, problem.element_name) == ("t", "Ensam")


def test_unreachable_node(bpmn: Make) -> None:
    doc = bpmn(
        '<bpmn:startEvent id="s" /><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="e" />'
        '<bpmn:endEvent id="e" /><bpmn:scriptTask id="orphan" name="Glömd"><bpmn:script>a = 1</bpmn:script>'
        "</bpmn:scriptTask>"
    )
    problems = bundle_check_xml({"x.bpmn": doc}, "p")
    problem = _find(problems, "unreachable")
    assert (problem.element_id, problem.element_name) == ("orphan", "Glömd")


def test_gateway_without_default_or_conditions(bpmn: Make) -> None:
    doc = bpmn(
        '<bpmn:startEvent id="s" /><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="gw" />'
        '<bpmn:exclusiveGateway id="gw" name="Val" />'
        '<bpmn:sequenceFlow id="fa" sourceRef="gw" targetRef="e1"><bpmn:conditionExpression>x == 1'
        "</bpmn:conditionExpression></bpmn:sequenceFlow>"
        '<bpmn:sequenceFlow id="fb" sourceRef="gw" targetRef="e2" />'
        '<bpmn:endEvent id="e1" /><bpmn:endEvent id="e2" />'
    )
    problem = _find(bundle_check_xml({"x.bpmn": doc}, "p"), "gateway_no_default")
    assert (problem.element_id, problem.element_name) == ("gw", "Val") and "fb" in problem.message
    # bundle_load refuses it too, with the lint explanation instead of SpiffWorkflow's.
    assert "gateway_no_default" in codes(load_problems({"x.bpmn": doc}))


def test_missing_and_invalid_forms(bpmn: Make) -> None:
    doc = bpmn(
        '<bpmn:startEvent id="s" /><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="a" />'
        f'<bpmn:userTask id="a" name="A">{form_ext("a.json")}</bpmn:userTask>'
        '<bpmn:sequenceFlow id="f2" sourceRef="a" targetRef="b" />'
        f'<bpmn:userTask id="b" name="B">{form_ext("b.json")}</bpmn:userTask>'
        '<bpmn:sequenceFlow id="f3" sourceRef="b" targetRef="c" />'
        '<bpmn:userTask id="c" name="C" /><bpmn:sequenceFlow id="f4" sourceRef="c" targetRef="e" />'
        '<bpmn:endEvent id="e" />',
        lanes={"teacher": ["s", "a", "b", "c", "e"]},
    )
    problems = bundle_validate(bundle_load({"x.bpmn": doc}, "p"), {"b.json": {"type": "no-such-type"}})
    found = {(p.code, p.element_id) for p in problems}
    assert found == {("missing_form", "a"), ("invalid_form", "b"), ("missing_form", "c")}


@pytest.mark.parametrize(
    "timer, valid",
    [
        ('<bpmn:timeDuration>"P3W"</bpmn:timeDuration>', True),
        ("<bpmn:timeDuration>working_days(10)</bpmn:timeDuration>", True),
        ('<bpmn:timeDate>"2027-06-01T12:00:00+02:00"</bpmn:timeDate>', True),
        ('<bpmn:timeCycle>"R3/PT1H"</bpmn:timeCycle>', True),
        ("<bpmn:timeDuration>deadline_from_data</bpmn:timeDuration>", True),  # depends on instance data
        ('<bpmn:timeDuration>"3 weeks"</bpmn:timeDuration>', False),
        ("<bpmn:timeDuration>P3W</bpmn:timeDuration>", False),  # unquoted: not an expression producing text
        ('<bpmn:timeDate>"next tuesday"</bpmn:timeDate>', False),
        ("<bpmn:timeDuration>__import__('os')</bpmn:timeDuration>", False),
    ],
)
def test_timer_expressions(bpmn: Make, timer: str, valid: bool) -> None:
    doc = bpmn(
        '<bpmn:startEvent id="s" /><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="w" />'
        f'<bpmn:intermediateCatchEvent id="w" name="Vänta"><bpmn:timerEventDefinition id="td">{timer}'
        "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
        '<bpmn:sequenceFlow id="f2" sourceRef="w" targetRef="e" /><bpmn:endEvent id="e" />'
    )
    problems = [p for p in bundle_check_xml({"x.bpmn": doc}, "p") if p.code == "invalid_timer"]
    assert (problems == []) is valid
    if not valid:
        assert (problems[0].element_id, problems[0].element_name) == ("w", "Vänta")


def test_condition_on_a_task_flow_is_reported_as_ignored(bpmn: Make) -> None:
    doc = bpmn(
        '<bpmn:startEvent id="s" /><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="e">'
        "<bpmn:conditionExpression>x == 1</bpmn:conditionExpression></bpmn:sequenceFlow>"
        '<bpmn:endEvent id="e" />'
    )
    assert _find(bundle_check_xml({"x.bpmn": doc}, "p"), "ignored_condition").element_id == "s"
