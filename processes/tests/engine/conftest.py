from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from processes.engine import Bundle, bundle_load

FIXTURES = Path(__file__).parent / "fixtures"

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="defs" targetNamespace="t">\n'
)


def make_bpmn(body: str, process_id: str = "p", lanes: dict[str, list[str]] | None = None) -> bytes:
    """A one-process BPMN document; ``lanes`` maps lane id -> flow node ids."""
    lane_xml = ""
    if lanes:
        lane_xml = (
            '<bpmn:laneSet id="ls">'
            + "".join(
                f'<bpmn:lane id="{lane}" name="{lane.title()}">'
                + "".join(f"<bpmn:flowNodeRef>{ref}</bpmn:flowNodeRef>" for ref in refs)
                + "</bpmn:lane>"
                for lane, refs in lanes.items()
            )
            + "</bpmn:laneSet>"
        )
    return (
        HEAD + f'<bpmn:process id="{process_id}" isExecutable="true">{lane_xml}{body}</bpmn:process>'
        "</bpmn:definitions>"
    ).encode()


def form_ext(filename: str) -> str:
    return (
        "<bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property "
        f'name="formJsonSchemaFilename" value="{filename}" /></spiffworkflow:properties>'
        "</bpmn:extensionElements>"
    )


@pytest.fixture(scope="session")
def support_files() -> dict[str, bytes]:
    return {name: (FIXTURES / name).read_bytes() for name in ("support.bpmn", "appeal.bpmn")}


@pytest.fixture(scope="session")
def forms() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in (FIXTURES / "forms").glob("*.json")}


@pytest.fixture(scope="session")
def support_bundle(support_files: dict[str, bytes]) -> Bundle:
    # Every instance test goes through the stored spec, as the platform does.
    return Bundle.from_spec_json(bundle_load(support_files, "special_support").spec_json())


@pytest.fixture
def bpmn() -> Callable[..., bytes]:
    return make_bpmn
