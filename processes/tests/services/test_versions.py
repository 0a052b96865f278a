import pytest

from audit.models import AuditEvent, Verb
from common.errors import ApplicationError, Conflict
from processes.models import ProcessVersion
from processes.services.versions import (
    process_version_deploy,
    process_version_publish,
    process_version_retire,
)
from processes.tests.factories import support_bundle_files

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
