"""Process versions for service tests, built from the engine's small support fixture.

support.bpmn: the guardian applies (needs) → a script scores the needs → score >= 4 sends the case to
the principal's decision (5-day interrupting boundary timer), otherwise it waits for the correlated
message guardian_reply (case_id) → after a decision, a 3-week appeal window, then the appeal call.
"""

from __future__ import annotations

import json
from pathlib import Path

from processes.models import ProcessVersion
from processes.services.versions import BundleFiles, process_version_deploy, process_version_publish

FIXTURES = Path(__file__).parent / "engine" / "fixtures"


def support_bundle_files(key: str = "support_fixture", **replacements: str) -> BundleFiles:
    """The fixture bundle; `replacements` maps text in support.bpmn to what replaces it."""
    support = (FIXTURES / "support.bpmn").read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in support, old
        support = support.replace(old, new)
    forms = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in (FIXTURES / "forms").glob("*.json")}
    return BundleFiles(
        manifest={
            "key": key,
            "name": {"sv": "Stödtest", "en": "Support test"},
            "process_id": "special_support",
            "calls": ["appeal"],
            "default_task_due": "P5D",
        },
        files={
            "support.bpmn": support,
            "appeal.bpmn": (FIXTURES / "appeal.bpmn").read_text(encoding="utf-8"),
        },
        forms=forms,
    )


def published_support_version(**replacements: str) -> ProcessVersion:
    version, _created = process_version_deploy(support_bundle_files(**replacements))
    return process_version_publish(version)
