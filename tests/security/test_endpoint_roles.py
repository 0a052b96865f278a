"""Every API endpoint (discovered from the URL resolver) tried as every role, and the result checked
against the endpoint × role table in docs/api.md.

"May call" means the answer is neither 401, 403 nor 404 for at least one of the sample objects (a
refusal on the merits, such as 409 or 422, still means the role reached the operation). Every request
runs in a savepoint that is rolled back, so each role meets the same data. Regenerate the table with
`SKOLFLODE_WRITE_API_DOCS=1 .venv/bin/python -m pytest tests/security/test_endpoint_roles.py`."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from processes.tests.factories import support_bundle_files
from tests.security.conftest import PERSONAS
from tests.security.endpoints import Endpoint, api_endpoints

pytestmark = pytest.mark.django_db

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
START, END = "<!-- endpoint-roles:start -->", "<!-- endpoint-roles:end -->"
REFUSED = {401, 403, 404}
PUBLIC = {"api-schema", "api-docs"}


def _samples(cases: dict[str, Any], support_version: Any, alva: Any) -> dict[str, list[Any]]:
    guardian_task = cases["waiting_guardian"].user_tasks.get(element_id="apply")
    principal_task = cases["waiting_principal"].user_tasks.get(element_id="decide")
    return {
        "task_id": [guardian_task.pk, principal_task.pk],
        "case_id": [cases["waiting_guardian"].pk, cases["waiting_principal"].pk],
        "key": [support_version.definition.key],
        "number": [support_version.number],
        "pupil_id": [alva.pk],
    }


def _fallback(converter: str, samples: dict[str, list[Any]]) -> list[Any]:
    """A parameter nobody gave samples for yet: something of the right shape (the table then shows
    whether the new endpoint lets anybody in, and a sample can be added above)."""
    if converter == "UUIDConverter":
        return samples["case_id"]
    if converter == "SlugConverter":
        return samples["key"]
    return [1]


def _bodies(alva: Any) -> dict[str, Any]:
    bundle = support_bundle_files()
    return {
        "tasks-api:complete": {"data": {"needs": ["läsning", "matte"], "decision": "approved"}},
        "tasks-api:draft": {"data": {}},
        "processes-api:case-start": {"process": bundle.key, "pupil": alva.pk},
        "processes-api:version-deploy": {
            "manifest": bundle.manifest,
            "files": bundle.files,
            "forms": bundle.forms,
        },
        "accounts-api:pupil-rectify": {"grade": "3"},
    }


def _calls(endpoint: Endpoint, samples: dict[str, list[Any]]) -> list[str]:
    urls = ["/" + endpoint.route]
    for name, converter in endpoint.converters:
        values = samples.get(name) or _fallback(converter, samples)
        pattern = re.compile(r"<(?:\w+:)?" + name + ">")
        urls = [pattern.sub(str(value), url) for url in urls for value in values]
    return urls


def _status(api: Any, user: Any, method: str, url: str, body: Any) -> int:
    api.force_authenticate(user)
    with transaction.atomic():
        response = (
            getattr(api, method)(url, body, format="json") if body is not None else getattr(api, method)(url)
        )
        transaction.set_rollback(True)
    api.force_authenticate(None)
    return response.status_code


def endpoint_role_matrix(
    api: Any, personas: dict[str, Any], samples: dict, bodies: dict
) -> dict[str, list[str]]:
    matrix: dict[str, list[str]] = {}
    server_errors = []
    for endpoint in api_endpoints():
        allowed = []
        for role in PERSONAS:
            statuses = [
                _status(
                    api,
                    personas[role],
                    endpoint.method,
                    url,
                    bodies.get(endpoint.name, {}) if endpoint.method != "get" else None,
                )
                for url in _calls(endpoint, samples)
            ]
            server_errors += [(endpoint.label, role) for s in statuses if s >= 500]
            if any(s not in REFUSED for s in statuses):
                allowed.append(role)
        matrix[endpoint.label] = allowed
    assert not server_errors, server_errors
    return matrix


def render_table(matrix: dict[str, list[str]]) -> str:
    header = "| Endpoint | " + " | ".join(PERSONAS) + " |"
    rule = "|---|" + "---|" * len(PERSONAS)
    rows = [
        f"| `{label}` | " + " | ".join("✓" if role in roles else "" for role in PERSONAS) + " |"
        for label, roles in matrix.items()
    ]
    return "\n".join([header, rule, *rows])


@pytest.fixture
def matrix(api, personas, cases, support_version, alva, bo_case):
    return endpoint_role_matrix(api, personas, _samples(cases, support_version, alva), _bodies(alva))


def test_docs_api_md_lists_every_endpoint_with_the_roles_that_may_call_it(matrix):
    table = render_table(matrix)
    text = DOC.read_text(encoding="utf-8")
    if os.environ.get("SKOLFLODE_WRITE_API_DOCS") == "1":
        before, rest = text.split(START, 1)
        DOC.write_text(f"{before}{START}\n{table}\n{END}{rest.split(END, 1)[1]}", encoding="utf-8")
        text = DOC.read_text(encoding="utf-8")
    documented = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert documented == table, (
        "docs/api.md's endpoint × role table is out of date; regenerate it with SKOLFLODE_WRITE_API_DOCS=1 "
        "and review the difference:\n" + table
    )


def test_anonymous_callers_reach_only_the_schema_and_its_viewer(matrix):
    anonymous = {label for label, roles in matrix.items() if "anonymous" in roles}
    assert anonymous == {"GET /api/schema/", "GET /api/docs/"}


def test_an_outsider_principal_reaches_nothing_about_alva(matrix):
    personal = [label for label in matrix if re.search(r"task_id|case_id|pupil_id", label)]
    assert personal and not [label for label in personal if "outsider_principal" in matrix[label]]


def test_only_process_owners_change_process_versions(matrix):
    for label in (
        "POST /api/processes/<slug:key>/versions/",
        "POST /api/processes/<slug:key>/versions/<int:number>/publish/",
    ):
        assert matrix[label] == ["process_owner"]


def test_only_the_governing_body_handles_data_subject_requests(matrix):
    for label, roles in matrix.items():
        if label.startswith(("GET /api/pupils/", "PATCH /api/pupils/", "POST /api/pupils/")):
            assert roles == ["governing_body"], label


def test_another_childs_guardian_reaches_nothing_of_alvas_on_any_endpoint(
    api, bertil, cases, support_version, alva
):
    samples = _samples(cases, support_version, alva)
    bodies = _bodies(alva)
    reached = []
    for endpoint in api_endpoints():
        if not re.search(r"task_id|case_id|pupil_id", endpoint.label):
            continue
        body = bodies.get(endpoint.name, {}) if endpoint.method != "get" else None
        for url in _calls(endpoint, samples):
            if _status(api, bertil, endpoint.method, url, body) not in REFUSED:
                reached.append((endpoint.label, url))
    assert reached == []
