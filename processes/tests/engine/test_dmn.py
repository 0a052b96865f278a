"""DMN decision tables in a bundle: hardened intake, structural checks, restricted evaluation, round trip.

fixtures/dmn/routing.bpmn runs three business rule tasks: ``classify`` (need_level.dmn, DMN 1.3, UNIQUE,
number + string inputs), ``prioritise`` (priority.dmn, DMN 1.2 with the dmn: prefix, FIRST) and ``plan``
(checklist.dmn, COLLECT), then routes on ``level``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from processes.engine import (
    Bundle,
    BundleInvalid,
    EngineError,
    ExpressionError,
    Problem,
    bundle_check_xml,
    bundle_load,
    bundle_validate,
    workflow_load,
    workflow_start,
)

from .conftest import FIXTURES, form_ext, make_bpmn

DMN = FIXTURES / "dmn"


def dmn_files(**replacements: str) -> dict[str, bytes]:
    """The routing bundle; ``replacements`` maps ``file:old`` to what replaces ``old`` in that file."""
    texts = {p.name: p.read_text(encoding="utf-8") for p in sorted(DMN.iterdir())}
    for key, new in replacements.items():
        name, old = key.split(":", 1)
        assert old in texts[name], (name, old)
        texts[name] = texts[name].replace(old, new)
    return {name: text.encode() for name, text in texts.items()}


def load_problems(files: dict[str, bytes], main: str = "routing") -> list[Problem]:
    with pytest.raises(BundleInvalid) as info:
        bundle_load(files, main)
    return info.value.problems


@pytest.fixture(scope="module")
def routing() -> Bundle:
    # As the platform does: every instance runs from the stored spec, never from the XML.
    return Bundle.from_spec_json(bundle_load(dmn_files(), "routing").spec_json())


def decide(bundle: Bundle, **data: Any) -> dict[str, Any]:
    workflow = workflow_start(bundle, {"needs": [], "category": "", **data})
    assert workflow.is_completed
    return {**workflow.data, "end": workflow.completed_end_events()}


# -- a clean bundle -------------------------------------------------------------------------------


def test_the_routing_bundle_is_clean_and_dmn_never_reaches_the_bpmn_checks(routing: Bundle) -> None:
    assert bundle_check_xml(dmn_files(), "routing", {}) == []
    assert bundle_validate(routing, {}) == []
    assert routing.model["decisions"]["need_level"] == {
        "id": "need_level",
        "name": "Behovsnivå",
        "file": "need_level.dmn",
        "hit_policy": "UNIQUE",
    }
    assert routing.node("classify")["called_decision"] == "need_level"


@pytest.mark.parametrize(
    ("score", "category", "level", "end"),
    [
        (5, "urgent", "high", ["end_high"]),  # `>= 4` and `"urgent"`
        (4, "other", "medium", ["end_other"]),  # `>= 4` and `not in ["urgent"]` (input `category`)
        (9.5, "urgent", "high", ["end_high"]),
        (2, "urgent", "low", ["end_other"]),  # `1 <= ? <= 3` and ` - ` (padded: still "any")
        (0, "urgent", "none", ["end_other"]),  # `0` and an empty cell
    ],
)
def test_a_unique_table_decides_on_number_and_string_inputs(
    routing: Bundle, score: float, category: str, level: str, end: list[str]
) -> None:
    result = decide(routing, score=score, category=category)
    assert (result["level"], result["end"]) == (level, end)


@pytest.mark.parametrize(
    ("needs", "priority"),
    [(["a", "b", "c", "d"], "A"), (["a", "b", "c"], "A"), (["a"], "B"), ([], "C")],
)
def test_a_first_table_takes_the_first_matching_rule_and_dash_matches_anything(
    routing: Bundle, needs: list[str], priority: str
) -> None:
    # Four needs match `>= 3` and `in [1, 2, 3, 4]`: FIRST takes the earlier rule.
    assert decide(routing, score=0, needs=needs)["priority"] == priority


def test_a_collect_table_lists_every_matching_output(routing: Bundle) -> None:
    assert decide(routing, score=0, category="urgent")["steps"] == ["call_guardian", "log"]
    assert decide(routing, score=0, category="other")["steps"] == ["log"]


def test_instance_data_is_compared_as_data_never_spliced_into_the_expression(routing: Bundle) -> None:
    result = decide(routing, score=5, category='"urgent" or True')
    assert result["level"] == "medium"


def test_the_stored_spec_carries_the_tables_and_an_instance_survives_dump_and_load(routing: Bundle) -> None:
    doc = json.loads(routing.spec_json())
    table = doc["spec"]["task_specs"]["classify"]["decision_table"]
    assert table["hit_policy"] == "UNIQUE" and [r["id"] for r in table["rules"]][0] == "r_high"

    # A decision taken after a user task, in a workflow restored from its dumped state.
    bpmn = make_bpmn(
        '<bpmn:startEvent id="s" /><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="ask" />'
        f'<bpmn:userTask id="ask">{form_ext("f.json")}</bpmn:userTask>'
        '<bpmn:sequenceFlow id="b" sourceRef="ask" targetRef="classify" />'
        '<bpmn:businessRuleTask id="classify"><bpmn:extensionElements><spiffworkflow:calledDecisionId>'
        "need_level</spiffworkflow:calledDecisionId></bpmn:extensionElements></bpmn:businessRuleTask>"
        '<bpmn:sequenceFlow id="c" sourceRef="classify" targetRef="e" /><bpmn:endEvent id="e" />',
        lanes={"principal": ["ask"]},
    )
    files = {"p.bpmn": bpmn, "need_level.dmn": dmn_files()["need_level.dmn"]}
    bundle = Bundle.from_spec_json(bundle_load(files, "p").spec_json())
    started = workflow_start(bundle, {"category": "urgent"})
    restored = workflow_load(bundle, json.loads(json.dumps(started.dump_state())))
    restored.complete_user_task(restored.ready_user_tasks()[0].task_id, {"score": 7})
    assert restored.is_completed and restored.data["level"] == "high"


# -- hostile or unusable tables are refused at deploy time ---------------------------------------------

HOSTILE = [
    "__import__('os').system('id')",
    "().__class__.__base__.__subclasses__()",
    "? == ().__class__",
    "in ().__class__.__mro__",
]


@pytest.mark.parametrize("entry", HOSTILE)
def test_a_hostile_input_entry_is_refused_at_load(entry: str) -> None:
    problems = load_problems(dmn_files(**{'need_level.dmn:<text>"urgent"</text>': f"<text>{entry}</text>"}))
    refused = [p for p in problems if p.code == "invalid_dmn_expression"]
    assert refused and refused[0].element_id == "r_high" and refused[0].file == "need_level.dmn"


def test_hostile_input_and_output_expressions_are_refused_at_load() -> None:
    problems = load_problems(
        dmn_files(
            **{
                "need_level.dmn:<text>score</text>": "<text>score.__class__</text>",
                'need_level.dmn:<text>"none"</text>': "<text>__import__('os').getcwd()</text>",
            }
        )
    )
    found = {(p.code, p.element_id) for p in problems}
    assert ("invalid_dmn_expression", "in_score") in found
    assert ("invalid_dmn_expression", "r_none") in found


@pytest.mark.parametrize(
    ("entry", "hint"),
    [
        ("[1..5]", "FEEL ranges"),
        ('"urgent","other"', "list of values"),
        ('not("urgent")', "boolean"),
        (">= ", "FEEL ranges"),
    ],
)
def test_feel_only_entries_are_refused_with_a_hint(entry: str, hint: str) -> None:
    problems = load_problems(dmn_files(**{'need_level.dmn:<text>"urgent"</text>': f"<text>{entry}</text>"}))
    assert [p.code for p in problems] == ["invalid_dmn_expression"]
    assert hint in problems[0].message


def test_an_operator_test_that_would_bind_inside_the_input_expression_is_refused() -> None:
    loose = dmn_files(**{"priority.dmn:len(needs)</dmn:text>": "len(needs) or 0</dmn:text>"})
    assert "parentheses" in load_problems(loose)[0].message
    wrapped = dmn_files(**{"priority.dmn:len(needs)</dmn:text>": "(len(needs) or 0)</dmn:text>"})
    assert bundle_check_xml(wrapped, "routing") == []


def test_a_table_tampered_after_deploy_is_still_refused_at_run_time_naming_the_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never(*args: Any) -> None:
        raise AssertionError("os.system was reached")

    monkeypatch.setattr(os, "system", never)
    clean = json.loads(bundle_load(dmn_files(), "routing").spec_json())
    for field, value in [
        ("lhs", ["__import__('os').system('id')"]),
        ("lhs", ["().__class__.__base__.__subclasses__()"]),
        ("lhs", ["? == ().__class__.__base__"]),
        ("lhs", ["[1..5]"]),
        ("lhs", ["== open('/etc/passwd').read()"]),  # no such function: refused when evaluated
        ("text", "__import__('os').system('id')"),
    ]:
        doc = json.loads(json.dumps(clean))
        rule = doc["spec"]["task_specs"]["classify"]["decision_table"]["rules"][0]
        if field == "lhs":
            rule["input_entries"][1]["lhs"] = value
        else:
            rule["output_entries"][0]["text"] = value
        bundle = Bundle.from_spec_json(json.dumps(doc))
        with pytest.raises(ExpressionError) as refused:
            workflow_start(bundle, {"score": 5, "category": "urgent", "needs": []})
        assert refused.value.element_id == "classify", value
        assert refused.value.element_name == "Bestäm behovsnivå"
        assert isinstance(refused.value, EngineError)


# -- structure ----------------------------------------------------------------------------------


def test_a_missing_decision_is_refused_naming_the_business_rule_task() -> None:
    files = dmn_files()
    del files["priority.dmn"]
    for problems in (load_problems(files), bundle_check_xml(files, "routing")):
        assert [(p.code, p.element_id) for p in problems] == [("missing_decision", "prioritise")]
        assert "'priority'" in problems[0].message and problems[0].file == "routing.bpmn"


def test_a_business_rule_task_without_a_decision_is_refused() -> None:
    files = dmn_files(
        **{"routing.bpmn:<spiffworkflow:calledDecisionId>checklist</spiffworkflow:calledDecisionId>": ""}
    )
    assert [(p.code, p.element_id) for p in load_problems(files)] == [("missing_decision", "plan")]


@pytest.mark.parametrize(
    "policy",
    [
        'hitPolicy="ANY"',
        'hitPolicy="PRIORITY"',
        'hitPolicy="RULE ORDER"',
        'hitPolicy="COLLECT" aggregation="SUM"',
    ],
)
def test_unsupported_hit_policies_are_refused(policy: str) -> None:
    problems = load_problems(dmn_files(**{'need_level.dmn:hitPolicy="UNIQUE"': policy}))
    assert [(p.code, p.element_id) for p in problems] == [("unsupported_hit_policy", "need_level")]


@pytest.mark.parametrize(
    ("replacements", "code", "element"),
    [
        ({'need_level.dmn:id="need_level" ': ""}, "invalid_dmn", None),
        (
            {
                "need_level.dmn:</decision>": (
                    '</decision><decision id="second"><decisionTable id="t2" /></decision>'
                )
            },
            "invalid_dmn",
            "second",
        ),
        (
            {'checklist.dmn:<decision id="checklist"': '<decision id="need_level"'},
            "invalid_dmn",
            "need_level",
        ),
        (
            {
                "checklist.dmn:<decisionTable": (
                    '<literalExpression id="lit"><text>1</text></literalExpression><decisionTable'
                )
            },
            "unsupported_dmn",
            "checklist",
        ),
        (
            {'checklist.dmn:<input id="in_cat"': '<annotation name="note" /><input id="in_cat"'},
            "unsupported_dmn",
            None,
        ),
        (
            {'checklist.dmn:<inputEntry id="r_log_cat"><text>-</text></inputEntry>': ""},
            "invalid_dmn",
            "r_log",
        ),
        ({'checklist.dmn:label="Steg" name="steps"': ""}, "invalid_dmn", "out_step"),
        ({"checklist.dmn:<text>category</text>": "<text></text>"}, "invalid_dmn", "in_cat"),
    ],
)
def test_dmn_structure_problems_are_named(
    replacements: dict[str, str], code: str, element: str | None
) -> None:
    problems = load_problems(dmn_files(**replacements))
    assert code in {p.code for p in problems}, problems
    if element is not None:
        assert any(p.code == code and p.element_id == element for p in problems), problems


# -- hardened intake ------------------------------------------------------------------------------


def test_dmn_files_go_through_the_hardened_parser() -> None:
    xxe = '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    files = dmn_files(**{'need_level.dmn:<?xml version="1.0" encoding="UTF-8"?>\n': xxe})
    problems = load_problems(files)
    assert [(p.code, p.file) for p in problems] == [("xml_unsafe", "need_level.dmn")]

    files = dmn_files()
    files["big.dmn"] = files["need_level.dmn"]
    with pytest.raises(BundleInvalid) as info:
        bundle_load(files, "routing", max_bytes=1000)
    assert "too_large" in {p.code for p in info.value.problems}


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ((DMN / "routing.bpmn").read_bytes(), "parse_error"),  # BPMN under a .dmn name
        (b'<definitions xmlns="http://www.omg.org/spec/DMN/20151101/dmn.xsd" />', "parse_error"),  # DMN 1.1
        (b"<definitions", "xml_malformed"),
        (
            b'<x:definitions xmlns:x="https://www.omg.org/spec/DMN/20191111/MODEL/"><x:decision id="d" />'
            b"</x:definitions>",
            "invalid_dmn",
        ),
    ],
)
def test_a_dmn_file_must_be_a_dmn_document(content: bytes, code: str) -> None:
    files = dmn_files()
    files["other.dmn"] = content
    assert code in {p.code for p in load_problems(files)}


def test_a_dmn_document_under_a_bpmn_name_is_not_bpmn(tmp_path: Path) -> None:
    files = dmn_files()
    files["need_level.bpmn"] = files.pop("need_level.dmn")
    assert "parse_error" in {p.code for p in load_problems(files)}
