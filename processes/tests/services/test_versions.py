import json

import pytest

from audit.models import AuditEvent, Verb
from common.errors import ApplicationError, Conflict
from processes.models import ProcessVersion
from processes.services.instances import process_instance_start
from processes.services.versions import (
    bundle_files_from_folder,
    process_version_deploy,
    process_version_publish,
    process_version_retire,
)
from processes.tests.factories import support_bundle_files
from tasks.models import UserTask
from tasks.services.user_tasks import user_task_complete

pytestmark = pytest.mark.django_db


def test_deploying_the_same_content_twice_gives_the_same_version_back():
    first, created = process_version_deploy(support_bundle_files(), changelog="Första versionen")
    again, created_again = process_version_deploy(support_bundle_files())

    assert created and not created_again
    assert again.pk == first.pk and again.number == 1
    assert len(first.content_hash) == 64
    assert first.status == ProcessVersion.Status.DRAFT
    assert AuditEvent.objects.filter(verb=Verb.VERSION_DEPLOYED, version_id=first.pk).count() == 1


def test_changed_content_becomes_the_next_version_with_its_own_hash():
    first, _ = process_version_deploy(support_bundle_files())
    second, created = process_version_deploy(support_bundle_files(**{'"P5D"': '"P10D"'}))

    assert created and second.number == 2
    assert second.content_hash != first.content_hash
    assert first.spec and '"P10D"' not in first.files["support.bpmn"]


def test_a_version_goes_draft_published_retired_and_never_back():
    version, _ = process_version_deploy(support_bundle_files())

    published = process_version_publish(version)
    retired = process_version_retire(published)

    assert published.published_at is not None and retired.status == ProcessVersion.Status.RETIRED
    with pytest.raises(Conflict) as refused:
        process_version_publish(retired)
    assert refused.value.code == "version_transition_refused"
    verbs = list(AuditEvent.objects.filter(version_id=version.pk).values_list("verb", flat=True))
    assert verbs == [Verb.VERSION_DEPLOYED, Verb.VERSION_PUBLISHED, Verb.VERSION_RETIRED]


def _problems_of(**replacements: str) -> list[dict]:
    with pytest.raises(ApplicationError) as refused:
        process_version_deploy(support_bundle_files(**replacements))
    assert refused.value.code == "bundle_invalid"
    assert ProcessVersion.objects.count() == 0, "a refused deploy stores nothing"
    return refused.value.extra["problems"]


XXE = '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>\n'
)


@pytest.mark.parametrize(
    ("case", "replacements", "code", "element"),
    [
        ("xxe_external_entity", {'<?xml version="1.0" encoding="UTF-8"?>\n': XXE}, "xml_unsafe", None),
        ("entity_bomb", {'<?xml version="1.0" encoding="UTF-8"?>\n': BOMB}, "xml_unsafe", None),
        (
            "reserved_start_id",
            {
                'id="start"': 'id="Start"',
                'sourceRef="start"': 'sourceRef="Start"',
                "<bpmn:flowNodeRef>start<": "<bpmn:flowNodeRef>Start<",
            },
            "reserved_id",
            "Start",
        ),
        (
            "user_task_outside_lane",
            {"<bpmn:flowNodeRef>decide</bpmn:flowNodeRef>": ""},
            "task_outside_lane",
            "decide",
        ),
        (
            "missing_form",
            {'value="decide.schema.json"': 'value="nowhere.schema.json"'},
            "missing_form",
            "decide",
        ),
        ("invalid_timer", {'"P5D"': '"five days"'}, "invalid_timer", "decide_deadline"),
        ("gateway_without_default", {' default="f_no_need"': ""}, "gateway_no_default", "gw_need"),
        ("malformed_xml", {"</bpmn:process>": "</bpmn:proc>"}, "xml_malformed", None),
        (
            "unknown_element",
            {'<bpmn:endEvent id="end_rejected"': '<bpmn:madeUp id="x" /><bpmn:endEvent id="end_rejected"'},
            "unknown_element",
            None,
        ),
    ],
)
def test_hostile_or_broken_bpmn_is_refused_naming_each_problem(case, replacements, code, element):
    problems = _problems_of(**replacements)

    matching = [p for p in problems if p["code"] == code]
    assert matching, f"{case}: expected {code} in {problems}"
    if element is not None:
        assert any(p["element_id"] == element for p in matching), matching
    assert all(p["message"] for p in problems)


def test_an_unreachable_step_is_refused():
    problems = _problems_of(
        **{
            '<bpmn:endEvent id="end_rejected" name="Avslutat utan åtgärd" />': (
                '<bpmn:endEvent id="end_rejected" name="Avslutat utan åtgärd" />'
                '<bpmn:userTask id="orphan" name="Ingen når hit" />'
            ),
            "<bpmn:flowNodeRef>decide<": (
                "<bpmn:flowNodeRef>orphan</bpmn:flowNodeRef><bpmn:flowNodeRef>decide<"
            ),
        }
    )
    assert any(p["code"] == "unreachable" and p["element_id"] == "orphan" for p in problems), problems


def test_an_oversized_bundle_is_refused_before_parsing():
    huge = support_bundle_files(
        **{"</bpmn:definitions>": "<!--" + "x" * 2_100_000 + "--></bpmn:definitions>"}
    )
    with pytest.raises(ApplicationError) as refused:
        process_version_deploy(huge)
    assert refused.value.code == "bundle_too_large" and refused.value.status == 413


def test_form_fields_keep_their_declared_order_in_the_database():
    bundle = support_bundle_files()
    bundle.forms["order.schema.json"] = {"type": "object", "properties": {"zeta": {}, "alpha": {}, "mid": {}}}
    version, _ = process_version_deploy(bundle)

    version.refresh_from_db()  # jsonb would hand these back as alpha, mid, zeta
    assert list(version.forms["order.schema.json"]["properties"]) == ["zeta", "alpha", "mid"]


# -- DMN decision tables --------------------------------------------------------------------------

NEED_SCORE_DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="defs_need_score" name="Behovspoäng"
             namespace="http://skolflode.example/dmn">
  <decision id="need_score" name="Behovspoäng">
    <decisionTable id="table_need_score" hitPolicy="FIRST">
      <input id="in_needs" label="Antal behov">
        <inputExpression id="in_needs_expr" typeRef="number"><text>len(needs)</text></inputExpression>
      </input>
      <output id="out_score" label="Poäng" name="score" typeRef="number" />
      <rule id="r_many">
        <inputEntry id="r_many_needs"><text>&gt;= 2</text></inputEntry>
        <outputEntry id="r_many_score"><text>4</text></outputEntry>
      </rule>
      <rule id="r_few">
        <inputEntry id="r_few_needs"><text>-</text></inputEntry>
        <outputEntry id="r_few_score"><text>0</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""
# support.bpmn's scoring script becomes a business rule task outside every lane (a service step).
RULE_TASK = {
    """<bpmn:scriptTask id="assess" name="Bedöm behov">
      <bpmn:script>needs_count = len(needs)
score = needs_count * 2</bpmn:script>
    </bpmn:scriptTask>""": (
        '<bpmn:businessRuleTask id="assess" name="Bedöm behov"><bpmn:extensionElements>'
        "<spiffworkflow:calledDecisionId>need_score</spiffworkflow:calledDecisionId>"
        "</bpmn:extensionElements></bpmn:businessRuleTask>"
    ),
    "<bpmn:flowNodeRef>assess</bpmn:flowNodeRef>": "",
}


def _decision_bundle(dmn: str | None = NEED_SCORE_DMN):
    bundle = support_bundle_files("support_dmn", **RULE_TASK)
    if dmn is not None:
        bundle.files["need_score.dmn"] = dmn
    return bundle


def _case_after_apply(version, unit, pupil, guardian, needs):
    data = {"case_id": f"C-{len(needs)}"}
    case = process_instance_start(version=version, unit=unit, pupil=pupil, data=data)
    apply = case.user_tasks.get(element_id="apply")
    user_task_complete(task_id=apply.pk, user=guardian, data={"needs": needs})
    case.refresh_from_db()
    return case


def test_a_decision_table_is_deployed_with_the_bpmn_and_routes_the_case(ekbacke, alva, sara):
    version, created = process_version_deploy(_decision_bundle())
    assert created and version.files["need_score.dmn"] == NEED_SCORE_DMN
    assert '"decision_table"' in version.spec
    version = process_version_publish(version)

    many = _case_after_apply(version, ekbacke, alva, sara, ["reading", "maths"])
    few = _case_after_apply(version, ekbacke, alva, sara, ["reading"])

    decide = many.user_tasks.get(element_id="decide")
    assert decide.status == UserTask.Status.OPEN and decide.lane == "principal"
    assert not few.user_tasks.filter(element_id="decide").exists()
    assert few.subscriptions.get().message_name == "guardian_reply"


def test_the_content_hash_covers_the_decision_tables():
    first, _ = process_version_deploy(_decision_bundle())
    second, created = process_version_deploy(_decision_bundle(NEED_SCORE_DMN.replace("&gt;= 2", "&gt;= 3")))
    assert created and second.number == 2 and second.content_hash != first.content_hash


@pytest.mark.parametrize(
    "dmn", [None, NEED_SCORE_DMN.replace('decision id="need_score"', 'decision id="other_score"')]
)
def test_a_business_rule_task_whose_decision_is_missing_is_refused(dmn):
    with pytest.raises(ApplicationError) as refused:
        process_version_deploy(_decision_bundle(dmn))
    assert refused.value.code == "bundle_invalid" and ProcessVersion.objects.count() == 0
    problems = refused.value.extra["problems"]
    assert [(p["code"], p["element_id"]) for p in problems] == [("missing_decision", "assess")]
    assert "need_score" in problems[0]["message"]


def test_a_hostile_decision_table_is_refused_at_deploy():
    hostile = NEED_SCORE_DMN.replace("<text>4</text>", "<text>().__class__.__base__.__subclasses__()</text>")
    with pytest.raises(ApplicationError) as refused:
        process_version_deploy(_decision_bundle(hostile))
    problems = refused.value.extra["problems"]
    assert [(p["code"], p["element_id"], p["file"]) for p in problems] == [
        ("invalid_dmn_expression", "r_many", "need_score.dmn")
    ]


def test_a_folder_bundle_includes_its_decision_tables_and_those_of_the_folders_it_calls(tmp_path):
    main, called = tmp_path / "main", tmp_path / "called"
    for folder, key in ((main, "main"), (called, "called")):
        (folder / "forms").mkdir(parents=True)
        (folder / "model.bpmn").write_text(f"<{key}/>", encoding="utf-8")
    manifest = {"key": "main", "process_id": "main", "calls": ["called"]}
    (main / "process.json").write_text(json.dumps(manifest), encoding="utf-8")
    (main / "score.dmn").write_text("<main-score/>", encoding="utf-8")
    (called / "score.dmn").write_text("<called-score/>", encoding="utf-8")
    (called / "level.dmn").write_text("<level/>", encoding="utf-8")
    (main / "notes.txt").write_text("not a model", encoding="utf-8")

    files = bundle_files_from_folder(main).files

    assert files == {
        "main.bpmn": "<main/>",
        "score.dmn": "<main-score/>",
        "called.bpmn": "<called/>",
        "level.dmn": "<level/>",
        "called.score.dmn": "<called-score/>",
    }
