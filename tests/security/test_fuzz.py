"""Property-based tests: whatever arrives, the BPMN import and form validation answer with an
ApplicationError or a list of problems, never an unhandled exception."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.http import QueryDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.errors import ApplicationError
from processes.services.forms import form_data_errors
from processes.services.versions import BundleFiles, process_version_deploy
from processes.tests.factories import support_bundle_files
from tasks.forms import form_data_from_post

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[2] / "processes" / "tests" / "engine" / "fixtures"
SUPPORT = (FIXTURES / "support.bpmn").read_text(encoding="utf-8")
FORMS = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in (FIXTURES / "forms").glob("*.json")}
FUZZ = settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

HOSTILE_PIECES = [
    '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    '<?xml-stylesheet href="http://127.0.0.1:9/x"?>',
    "<![CDATA[",
    "]]>",
    '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd"/>',
    "&e;",
    "<bpmn:scriptTask id='s'><bpmn:script>__import__('os')</bpmn:script></bpmn:scriptTask>",
    '<bpmn:sequenceFlow id="f" sourceRef="nowhere" targetRef="nothing"/>',
    "<" * 50,
    "\x00",
    "\u202e",
]


def _mutations() -> st.SearchStrategy[str]:
    insert = st.tuples(st.integers(0, len(SUPPORT)), st.sampled_from(HOSTILE_PIECES) | st.text(max_size=40))
    cut = st.tuples(st.integers(0, len(SUPPORT)), st.integers(0, 400))
    return st.one_of(
        insert.map(lambda p: SUPPORT[: p[0]] + p[1] + SUPPORT[p[0] :]),
        cut.map(lambda p: SUPPORT[: p[0]] + SUPPORT[p[0] + p[1] :]),
        st.lists(st.sampled_from(HOSTILE_PIECES), max_size=6).map(
            lambda ps: "<?xml version='1.0'?>" + "".join(ps)
        ),
        st.integers(1, 3000).map(lambda depth: "<a>" * depth + "</a>" * depth),
        st.text(max_size=300),
    )


@FUZZ
@given(model=_mutations())
def test_deploying_hostile_or_broken_bpmn_is_refused_or_deployed_never_crashes(model):
    base = support_bundle_files("fuzzed")
    bundle = BundleFiles(
        manifest=base.manifest, files={**base.files, "support.bpmn": model}, forms=base.forms
    )
    try:
        version, _created = process_version_deploy(bundle)
    except ApplicationError as exc:
        assert exc.code in {"bundle_invalid", "bundle_too_large"}
        assert exc.status in (413, 422)
    else:
        assert version.pk


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(form=st.sampled_from(sorted(FORMS)), data=JSON_VALUES)
def test_any_json_against_a_form_gives_problems_by_field_never_an_exception(form, data):
    errors = form_data_errors(FORMS[form], data)
    assert isinstance(errors, dict)
    assert all(isinstance(k, str) and all(isinstance(m, str) for m in v) for k, v in errors.items())


@FUZZ
@given(
    form=st.sampled_from(sorted(FORMS)),
    fields=st.lists(
        st.tuples(
            st.sampled_from(["needs", "decision", "reconsider", "x", "needs.0"]) | st.text(max_size=8),
            st.text(max_size=40),
        ),
        max_size=8,
    ),
)
def test_any_post_is_read_and_validated_without_an_exception(form, fields):
    post = QueryDict(mutable=True)
    for key, value in fields:
        post.appendlist(key, value)
    data, problems = form_data_from_post(FORMS[form], post)
    errors = form_data_errors(FORMS[form], data)
    assert isinstance(problems, dict) and isinstance(errors, dict)
