"""Bundles: the BPMN and DMN files of one process version, parsed once and stored as a spec document."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from .documents import extract_decisions, extract_model, is_dmn, parse_file
from .errors import BundleInvalid, Problem
from .lint import effective_lane, lint_model
from .serializer import BY_REFERENCE

SPEC_FORMAT = "skolflode-spec/1"
DEFAULT_MAX_BYTES = 2_000_000
TIMER_KINDS = {"boundaryEvent": "boundary", "intermediateCatchEvent": "intermediate", "startEvent": "start"}


class Bundle:
    """A parsed, immutable process version: main spec, called specs and the structural model.

    Build it with :func:`bundle_load` (from XML, once per version) or :meth:`from_spec_json`
    (from the stored spec, for every instance operation).
    """

    def __init__(
        self, main_process_id: str, spec: Any, subprocess_specs: dict[str, Any], model: dict[str, Any]
    ) -> None:
        self.main_process_id = main_process_id
        self.spec = spec
        self.subprocess_specs = subprocess_specs
        self.model = model
        self._by_key = {(n["process"], n["id"]): n for n in model["nodes"]}
        self._by_id: dict[str, dict[str, Any]] = {}
        # Called processes often reuse generated ids (StartEvent_1); the main process wins look-ups by id.
        for node in sorted(model["nodes"], key=lambda n: n["process"] == main_process_id):
            self._by_id[node["id"]] = node
        self._spec_json: str | None = None

    @property
    def process_ids(self) -> list[str]:
        """The main process id first, then the processes it calls."""
        return [self.main_process_id, *sorted(k for k in self.subprocess_specs if k != self.main_process_id)]

    def node(self, element_id: str, process_id: str | None = None) -> dict[str, Any] | None:
        """Structural facts about one element (type, name, lane, form, timer...)."""
        if process_id is not None:
            found = self._by_key.get((process_id, element_id))
            if found is not None:
                return found
        return self._by_id.get(element_id)

    def lane_of(self, element_id: str, process_id: str | None = None) -> str | None:
        """Lane **id** (the role code) of an element, from the XML ``laneSet``; None outside lanes."""
        node = self.node(element_id, process_id)
        return effective_lane(node, self._by_key) if node else None

    def _timer_info(self, node: Mapping[str, Any]) -> dict[str, Any]:
        timer = node.get("timer") or {}
        return {
            "element_id": node["id"],
            "name": node.get("name"),
            "process_id": node["process"],
            "kind": TIMER_KINDS.get(node["type"], node["type"]),
            "attached_to": node.get("attached_to"),
            "interrupting": node.get("cancel_activity", True) if node["type"] == "boundaryEvent" else None,
            "timer_type": timer.get("type"),
            "expression": timer.get("expression"),
            "lane": self.lane_of(node["id"], node["process"]),
        }

    def timers(self) -> list[dict[str, Any]]:
        """Every timer event: element_id, name, process_id, kind, attached_to, interrupting, timer_type,
        expression."""
        return [self._timer_info(n) for n in self.model["nodes"] if n.get("timer") is not None]

    def user_tasks(self) -> list[dict[str, Any]]:
        """User and manual tasks: element_id, name, type, process_id, lane, form, boundary_timers."""
        timers = self.timers()
        return [
            {
                "element_id": n["id"],
                "name": n.get("name"),
                "type": n["type"],
                "process_id": n["process"],
                "lane": self.lane_of(n["id"], n["process"]),
                "form": n.get("form"),
                "boundary_timers": [
                    t for t in timers if t["attached_to"] == n["id"] and t["process_id"] == n["process"]
                ],
            }
            for n in self.model["nodes"]
            if n["type"] in ("userTask", "manualTask")
        ]

    def spec_json(self) -> str:
        """The parsed spec as JSON, to store once per version; see :meth:`from_spec_json`."""
        if self._spec_json is None:
            registry = BY_REFERENCE.registry
            self._spec_json = json.dumps(
                {
                    "format": SPEC_FORMAT,
                    "main_process_id": self.main_process_id,
                    "spec": registry.convert(self.spec),
                    "subprocess_specs": {k: registry.convert(v) for k, v in self.subprocess_specs.items()},
                    "model": self.model,
                },
                separators=(",", ":"),
                sort_keys=True,
            )
        return self._spec_json

    @classmethod
    def from_spec_json(cls, s: str) -> Bundle:
        """Rebuild a bundle from :meth:`spec_json` output without touching any XML."""
        doc = json.loads(s)
        if doc.get("format") != SPEC_FORMAT:
            raise BundleInvalid([Problem("spec_format", f"unsupported spec format {doc.get('format')!r}")])
        registry = BY_REFERENCE.registry
        bundle = cls(
            doc["main_process_id"],
            registry.restore(doc["spec"]),
            {k: registry.restore(v) for k, v in doc["subprocess_specs"].items()},
            doc["model"],
        )
        bundle._spec_json = s
        return bundle


def _parse_all(files: Mapping[str, bytes], max_bytes: int) -> tuple[dict[str, Any], list[Problem]]:
    trees, problems = {}, []
    if not any(not is_dmn(name) for name in files):
        problems.append(Problem("parse_error", "the bundle contains no BPMN files"))
    for filename, content in files.items():
        tree, file_problems = parse_file(filename, content, max_bytes)
        problems += file_problems
        if tree is not None:
            trees[filename] = tree
    return trees, problems


def _spiff_problem(exc: Exception) -> Problem:
    if isinstance(exc, ValidationException):
        line = f" (line {exc.line_number})" if getattr(exc, "line_number", "") else ""
        return Problem("parse_error", f"{exc}{line}", exc.id or None, exc.name or None, exc.file_name or None)
    return Problem("parse_error", str(exc))


def _spiff_parse(trees: Mapping[str, Any], main_process_id: str) -> tuple[Any, dict[str, Any]]:
    parser = SpiffBpmnParser()
    for filename, tree in trees.items():
        if is_dmn(filename):
            # Decision tables reach SpiffWorkflow already parsed by the hardened parser, like BPMN.
            parser.add_dmn_xml(tree.getroot(), filename=filename)
        else:
            parser.add_bpmn_xml(tree, filename=filename)
    return parser.get_spec(main_process_id), parser.get_subprocess_specs(main_process_id)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str | None, str]] = set()
    unique = []
    for p in problems:
        key = (p.code, p.element_id, p.message)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _prepare(
    files: Mapping[str, bytes], main_process_id: str, max_bytes: int
) -> tuple[dict[str, Any], dict[str, Any] | None, list[Problem]]:
    trees, problems = _parse_all(files, max_bytes)
    if not trees:
        return trees, None, problems
    model, structural = extract_model({k: v for k, v in trees.items() if not is_dmn(k)})
    problems += structural
    model["decisions"], dmn_problems = extract_decisions({k: v for k, v in trees.items() if is_dmn(k)})
    problems += dmn_problems
    if main_process_id not in model["processes"]:
        problems.append(
            Problem("missing_process", f"process {main_process_id!r} is not in the bundle", main_process_id)
        )
    return trees, model, problems


def bundle_check_xml(
    files: Mapping[str, bytes],
    main_process_id: str,
    forms: Mapping[str, Any] | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[Problem]:
    """Every problem of an upload at once: XML safety, structure, lint rules and SpiffWorkflow's parse.

    Usable before parsing succeeds; returns ``[]`` for a bundle that :func:`bundle_load` accepts and
    :func:`bundle_validate` finds clean.
    """
    trees, model, problems = _prepare(files, main_process_id, max_bytes)
    if model is not None:
        problems += lint_model(model, forms)
    if not problems:
        try:
            _spiff_parse(trees, main_process_id)
        except (SpiffWorkflowException, ValueError, KeyError, AttributeError) as exc:
            problems.append(_spiff_problem(exc))
    return _dedupe(problems)


def bundle_load(
    files: Mapping[str, bytes], main_process_id: str, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Bundle:
    """Parse a bundle's BPMN and DMN files (file name -> bytes; ``*.dmn`` is DMN) safely and build its specs.

    Raises BundleInvalid listing all problems that stop the bundle from running. Lint findings that
    do not stop it (forms, lanes...) come from :func:`bundle_validate`.
    """
    trees, model, problems = _prepare(files, main_process_id, max_bytes)
    if problems or model is None:
        raise BundleInvalid(_dedupe(problems))
    try:
        spec, subprocess_specs = _spiff_parse(trees, main_process_id)
    except (SpiffWorkflowException, ValueError, KeyError, AttributeError) as exc:
        # SpiffWorkflow stops at the first error; the lint rules usually explain it better, and all at once.
        blocking = [
            p
            for p in lint_model(model, None)
            if p.code
            in (
                "gateway_no_default",
                "missing_called_process",
                "missing_decision",
                "no_start_event",
                "invalid_timer",
            )
        ]
        parse_problem = _spiff_problem(exc)
        if not any(p.element_id == parse_problem.element_id for p in blocking):
            blocking.append(parse_problem)
        raise BundleInvalid(_dedupe(blocking)) from None
    return Bundle(main_process_id, spec, subprocess_specs, model)


def bundle_validate(bundle: Bundle, forms: Mapping[str, Any]) -> list[Problem]:
    """Lint a loaded bundle against its forms (file name -> parsed JSON Schema). Empty list = clean."""
    return lint_model(bundle.model, forms)


def bundle_model(
    files: Mapping[str, bytes], main_process_id: str, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> dict[str, Any] | None:
    """The structural model (processes, nodes, flows, decisions) of files that parse as XML, even when
    they have other problems (a draft being edited); None when no BPMN file parses at all."""
    return _prepare(files, main_process_id, max_bytes)[1]
