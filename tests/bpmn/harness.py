"""Scenario driver for the process library in ``bpmn/``.

One ``ProcessDriver`` runs one instance of one ``bpmn/<key>/`` folder (plus the folders it ``calls``)
with the clock frozen by time-machine, validates every completed form against its JSON Schema and
records the trail of user tasks that became ready::

    with ProcessDriver.from_folder("special_support", {"pupil_name": "Alva"}) as drv:
        assert drv.ready() == [("teacher", "document_signal")]
        drv.complete("document_signal", {...}, lane="teacher")
        drv.advance(timedelta(days=15))            # fires every timer that is due by then
        assert drv.trail == [("teacher", "document_signal"), ...]
        assert drv.ended_at == ["end_closed"]

Two backends sit behind the same interface:

* ``engine`` - the platform's adapter ``processes.engine`` (``bundle_load``, ``workflow_start``, ...);
* ``raw``    - SpiffWorkflow driven directly, with ``working_days`` and a restricted expression check
               that mirror ``processes/engine/expressions.py`` as described in ``docs/conventions.md``.

``SKOLFLODE_HARNESS_BACKEND=engine|raw`` forces one; the default (``auto``) uses the engine when it is
importable and offers ``bundle_load``, and the raw driver otherwise.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import time_machine
from lxml import etree

REPO_ROOT = Path(__file__).resolve().parents[2]
BPMN_ROOT = REPO_ROOT / "bpmn"
STOCKHOLM = ZoneInfo("Europe/Stockholm")
DEFAULT_START = datetime(2025, 8, 18, 8, 0, tzinfo=STOCKHOLM)  # Monday, start of the autumn term

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
FORM_PROPERTY = "formJsonSchemaFilename"


# --------------------------------------------------------------------------------------------------
# Formats and the Swedish business calendar (shared by the raw backend and the catalogue test)
# --------------------------------------------------------------------------------------------------

PERSONNUMMER_RE = re.compile(r"^(\d{2})?(\d{2})(\d{2})(\d{2})[-+]?(\d{4})$")


def is_personnummer(value: object) -> bool:
    """Swedish personal identity number: (YY)YYMMDD[-+]NNNN with a valid Luhn check digit.

    Coordination numbers (day + 60) are accepted."""
    if not isinstance(value, str):
        return True  # formats only constrain strings
    match = PERSONNUMMER_RE.match(value.strip())
    if not match:
        return False
    _, yy, mm, dd, tail = match.groups()
    day = int(dd) - 60 if int(dd) > 60 else int(dd)
    if not (1 <= int(mm) <= 12 and 1 <= day <= 31):
        return False
    digits = [int(c) for c in yy + mm + dd + tail]
    total = 0
    for i, digit in enumerate(digits):
        product = digit * (2 if i % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return total % 10 == 0


PHONE_RE = re.compile(r"^\+?[0-9 ()-]{6,20}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _is_phone(value: object) -> bool:
    return not isinstance(value, str) or bool(PHONE_RE.match(value))


def _is_email(value: object) -> bool:
    return not isinstance(value, str) or bool(EMAIL_RE.match(value))


def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return "T" in value


def format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker(formats=())
    checker.checks("personnummer")(is_personnummer)
    checker.checks("email")(_is_email)
    checker.checks("phone")(_is_phone)
    checker.checks("date")(_is_date)
    checker.checks("date-time")(_is_datetime)
    return checker


def _easter(year: int) -> date:
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month = (h + l_ - 7 * m + 114) // 31
    day = ((h + l_ - 7 * m + 114) % 31) + 1
    return date(year, month, day)


@lru_cache(maxsize=64)
def swedish_non_working_days(year: int) -> frozenset[date]:
    """Public holidays plus the de-facto non-working eves (midsummer, Christmas and New Year's Eve)."""
    easter = _easter(year)
    midsummer_eve = next(date(year, 6, d) for d in range(19, 26) if date(year, 6, d).weekday() == 4)
    return frozenset(
        {
            date(year, 1, 1),
            date(year, 1, 6),
            easter - timedelta(days=2),
            easter + timedelta(days=1),
            date(year, 5, 1),
            easter + timedelta(days=39),
            date(year, 6, 6),
            midsummer_eve,
            date(year, 12, 24),
            date(year, 12, 25),
            date(year, 12, 26),
            date(year, 12, 31),
        }
    )


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in swedish_non_working_days(day.year)


def working_days(n: int, now: datetime | None = None) -> str:
    """ISO 8601 duration from now to the end of the n-th working day after today (Stockholm time)."""
    now = (now or datetime.now(tz=STOCKHOLM)).astimezone(STOCKHOLM)
    day, counted = now.date(), 0
    while counted < n:
        day += timedelta(days=1)
        if is_working_day(day):
            counted += 1
    end = datetime.combine(day, time(23, 59, 59), tzinfo=STOCKHOLM)  # as processes.engine.calendar
    return f"PT{int((end - now).total_seconds())}S"


# The restricted evaluator of docs/conventions.md: no attribute access, no imports, no lambdas or
# comprehensions; calls only to the listed helpers.
ALLOWED_CALLS = {"len", "working_days"}
ALLOWED_NODES = (
    ast.Expression,
    ast.Module,
    ast.Expr,
    ast.Assign,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Constant,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Mod,
    ast.List,
    ast.Tuple,
    ast.Set,
    ast.Dict,
    ast.Subscript,
    ast.Call,
    ast.IfExp,
)


def check_restricted(source: str, mode: str = "eval") -> None:
    """Raise ValueError if ``source`` uses anything the platform's restricted evaluator refuses."""
    tree = ast.parse(source.strip(), mode=mode)
    for node in ast.walk(tree):
        if not isinstance(node, ALLOWED_NODES):
            raise ValueError(f"{type(node).__name__} is not allowed in {source!r}")
        if isinstance(node, ast.Call) and not (
            isinstance(node.func, ast.Name) and node.func.id in ALLOWED_CALLS
        ):
            raise ValueError(f"call not allowed in {source!r}")


# --------------------------------------------------------------------------------------------------
# Folder loading
# --------------------------------------------------------------------------------------------------


@dataclass
class Folder:
    key: str
    path: Path
    manifest: dict[str, Any]
    xml: bytes
    lanes: dict[str, str]  # element id -> lane id
    forms: dict[str, dict[str, Any]]  # element id -> JSON Schema

    @property
    def process_id(self) -> str:
        return str(self.manifest["process_id"])


def load_folder(key: str) -> Folder:
    path = BPMN_ROOT / key
    manifest = json.loads((path / "process.json").read_text(encoding="utf-8"))
    xml = (path / "model.bpmn").read_bytes()
    root = etree.fromstring(xml)
    lanes: dict[str, str] = {}
    for lane in root.iterfind(".//bpmn:lane", NS):
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            lanes[(ref.text or "").strip()] = lane.get("id")
    forms: dict[str, dict[str, Any]] = {}
    for task in root.iterfind(".//bpmn:userTask", NS):
        prop = task.find(f".//spiffworkflow:property[@name='{FORM_PROPERTY}']", NS)
        if prop is not None:
            forms[task.get("id")] = json.loads(
                (path / "forms" / prop.get("value")).read_text(encoding="utf-8")
            )
    return Folder(key, path, manifest, xml, lanes, forms)


def load_bundle_folders(key: str) -> list[Folder]:
    """The folder itself first, then every folder it calls (transitively)."""
    seen: dict[str, Folder] = {}
    pending = [key]
    while pending:
        current = pending.pop(0)
        if current in seen:
            continue
        seen[current] = load_folder(current)
        pending.extend(seen[current].manifest.get("calls", []))
    return list(seen.values())


# --------------------------------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------------------------------


@dataclass
class ReadyTask:
    task_id: Any
    element_id: str
    lane: str
    form: dict[str, Any] | None
    data: dict[str, Any]


class _RawSpiffBackend:
    """SpiffWorkflow driven directly; used until ``processes.engine`` is importable."""

    def __init__(self, folders: list[Folder], data: dict[str, Any]) -> None:
        from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
        from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
        from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

        class _Restricted(TaskDataEnvironment):
            def evaluate(self, expression, context, external_context=None):  # type: ignore[no-untyped-def]
                check_restricted(expression, "eval")
                return super().evaluate(expression, context, external_context)

            def execute(self, script, context, external_context=None):  # type: ignore[no-untyped-def]
                check_restricted(script, "exec")
                return super().execute(script, context, external_context)

        parser = SpiffBpmnParser()
        self._lanes: dict[tuple[str, str], str] = {}
        self._forms: dict[tuple[str, str], dict[str, Any]] = {}
        for folder in folders:
            parser.add_bpmn_str(folder.xml, filename=f"{folder.key}/model.bpmn")
            for element, lane in folder.lanes.items():
                self._lanes[(folder.process_id, element)] = lane
            for element, form in folder.forms.items():
                self._forms[(folder.process_id, element)] = form
        main = folders[0].process_id
        spec = parser.get_spec(main)
        subprocess_specs = parser.get_subprocess_specs(main)
        engine = PythonScriptEngine(environment=_Restricted({"working_days": working_days}))
        self.workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=engine)
        self.workflow.data.update(copy.deepcopy(data))
        # The start event copies workflow data into the first task.
        self.workflow.get_tasks()[0].data.update(copy.deepcopy(data))
        self.workflow.do_engine_steps()

    def _key(self, task: Any) -> tuple[str, str]:
        return (task.workflow.spec.name, task.task_spec.bpmn_id)

    def ready_user_tasks(self) -> list[ReadyTask]:
        from SpiffWorkflow.util.task import TaskState

        result = []
        for task in self.workflow.get_tasks(state=TaskState.READY, manual=True):
            key = self._key(task)
            result.append(
                ReadyTask(task.id, key[1], self._lanes.get(key, ""), self._forms.get(key), task.data)
            )
        return result

    def complete_user_task(self, task_id: Any, data: dict[str, Any]) -> None:
        task = self.workflow.get_task_from_id(task_id)
        task.data.update(copy.deepcopy(data))
        task.run()
        self.workflow.do_engine_steps()

    def fire_due_timers(self) -> None:
        self.workflow.refresh_timers()
        self.workflow.do_engine_steps()

    def send_message(self, name: str, payload: Any, correlation: dict[str, Any] | None) -> None:
        from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
        from SpiffWorkflow.bpmn.util import BpmnEvent

        # Use the waiting event's own definition: a catch event behind an event-based gateway waits
        # inside a MultipleEventDefinition, and a freshly built definition may not compare equal.
        definition = MessageEventDefinition(name)
        for task in self.workflow.event_manager.tasks.values():
            waiting = task.task_spec.event_definition
            for candidate in getattr(waiting, "event_definitions", [waiting]):
                if isinstance(candidate, MessageEventDefinition) and candidate.name == name:
                    definition = candidate
        self.workflow.send_event(BpmnEvent(definition, payload, correlation or {}))
        self.workflow.do_engine_steps()

    @property
    def is_completed(self) -> bool:
        return bool(self.workflow.is_completed())

    def completed_end_events(self) -> list[str]:
        from SpiffWorkflow.util.task import TaskState

        ended = [
            task
            for task in self.workflow.get_tasks(state=TaskState.COMPLETED)
            if type(task.task_spec).__name__ == "EndEvent"
        ]
        return [task.task_spec.bpmn_id for task in sorted(ended, key=lambda t: t.last_state_change)]


class _EngineBackend:
    """The platform adapter, ``processes.engine`` (see docs/conventions.md)."""

    def __init__(self, folders: list[Folder], data: dict[str, Any]) -> None:
        from processes import engine

        files = {f"{folder.key}/model.bpmn": folder.xml for folder in folders}
        self._forms = {
            (folder.process_id, element): form for folder in folders for element, form in folder.forms.items()
        }
        self.workflow = engine.workflow_start(engine.bundle_load(files, folders[0].process_id), data)

    def ready_user_tasks(self) -> list[ReadyTask]:
        return [
            ReadyTask(
                t.task_id, t.element_id, t.lane or "", self._forms.get((t.process_id, t.element_id)), t.data
            )
            for t in self.workflow.ready_user_tasks()
        ]

    def complete_user_task(self, task_id: Any, data: dict[str, Any]) -> None:
        self.workflow.complete_user_task(task_id, data)

    def fire_due_timers(self) -> None:
        self.workflow.fire_due_timers()

    def send_message(self, name: str, payload: Any, correlation: dict[str, Any] | None) -> None:
        self.workflow.send_message(name, payload or {}, correlation)

    @property
    def is_completed(self) -> bool:
        return bool(self.workflow.is_completed)

    def completed_end_events(self) -> list[str]:
        return list(self.workflow.completed_end_events())


def _engine_available() -> bool:
    try:
        from processes import engine
    except Exception:  # noqa: BLE001 - any import failure means "not ready yet"
        return False
    return hasattr(engine, "bundle_load") and hasattr(engine, "workflow_start")


def backend_name() -> str:
    choice = os.environ.get("SKOLFLODE_HARNESS_BACKEND", "auto")
    if choice == "auto":
        return "engine" if _engine_available() else "raw"
    return choice


# --------------------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------------------


class FormError(AssertionError):
    """The data given to ``complete`` does not satisfy the task's form."""


@dataclass
class ProcessDriver:
    key: str
    folders: list[Folder]
    backend: Any
    traveller: Any
    coordinates: Any
    trail: list[tuple[str, str]] = field(default_factory=list)
    _seen: set[Any] = field(default_factory=set)

    @classmethod
    def from_folder(
        cls,
        key: str,
        data: dict[str, Any] | None = None,
        *,
        start_at: datetime = DEFAULT_START,
        backend: str | None = None,
    ) -> ProcessDriver:
        """Load ``bpmn/<key>`` and its called folders, freeze the clock at ``start_at`` and start."""
        folders = load_bundle_folders(key)
        traveller = time_machine.travel(start_at, tick=False)
        coordinates = traveller.start()
        try:
            chosen = backend or backend_name()
            backend_cls = _EngineBackend if chosen == "engine" else _RawSpiffBackend
            driver = cls(key, folders, backend_cls(folders, dict(data or {})), traveller, coordinates)
            driver._record()
        except BaseException:
            traveller.stop()
            raise
        return driver

    # context manager: the frozen clock ends with the block
    def __enter__(self) -> ProcessDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.traveller is not None:
            self.traveller.stop()
            self.traveller = None

    # ---- inspection --------------------------------------------------------------------------
    def _record(self) -> None:
        for task in self.backend.ready_user_tasks():
            if task.task_id not in self._seen:
                self._seen.add(task.task_id)
                self.trail.append((task.lane, task.element_id))

    def ready(self) -> list[tuple[str, str]]:
        return [(t.lane, t.element_id) for t in self.backend.ready_user_tasks()]

    def ready_tasks(self) -> list[ReadyTask]:
        return self.backend.ready_user_tasks()

    @property
    def ended_at(self) -> list[str]:
        """End events of this folder's own process reached, in order (called processes' ends excluded)."""
        own = {el.get("id") for el in etree.fromstring(self.folders[0].xml).iterfind(".//bpmn:endEvent", NS)}
        return [end for end in self.backend.completed_end_events() if end in own]

    @property
    def ended_all(self) -> list[str]:
        """Every end event reached, including those of called processes."""
        return self.backend.completed_end_events()

    @property
    def is_completed(self) -> bool:
        return self.backend.is_completed

    @property
    def data(self) -> dict[str, Any]:
        """Instance data as last seen on a ready task or, when nothing is ready, the workflow's."""
        wf = getattr(self.backend, "workflow", None)
        return getattr(wf, "data", {}) if wf is not None else {}

    def now(self) -> datetime:
        return datetime.now(tz=STOCKHOLM)

    # ---- actions -----------------------------------------------------------------------------
    def complete(
        self,
        element_id: str,
        data: dict[str, Any],
        *,
        lane: str | None = None,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """Validate ``data`` against the task's form, then complete the task.

        ``where`` picks one instance when several are ready (multi-instance), e.g.
        ``where=lambda d: d["guardian"]["guardian_id"] == "g2"``."""
        candidates = [t for t in self.backend.ready_user_tasks() if t.element_id == element_id]
        if where is not None:
            candidates = [t for t in candidates if where(t.data)]
        if not candidates:
            raise AssertionError(f"{element_id} is not ready; ready: {self.ready()}")
        task = candidates[0]
        if lane is not None and task.lane != lane:
            raise AssertionError(f"{element_id} is in lane {task.lane!r}, not {lane!r}")
        if task.form is None:
            raise FormError(f"{element_id} has no form")
        self.validate_form(task.form, task.data, data, element_id)
        self.backend.complete_user_task(task.task_id, data)
        self._record()

    @staticmethod
    def validate_form(
        schema: dict[str, Any], prefill: dict[str, Any], data: dict[str, Any], element_id: str = "?"
    ) -> None:
        """The submitted data, on top of the fields the form prefills, must satisfy the schema.

        A prefilled ``readOnly`` field may be resubmitted unchanged but never changed."""
        properties = schema.get("properties", {})
        merged: dict[str, Any] = {}
        for name, prop in properties.items():
            if name in prefill:
                merged[name] = copy.deepcopy(prefill[name])
            if name in data:
                if prop.get("readOnly") and name in prefill and data[name] != prefill[name]:
                    raise FormError(f"{element_id}: {name} is read-only (prefilled)")
                if isinstance(merged.get(name), dict) and isinstance(data[name], dict):
                    _check_nested_readonly(prop, merged[name], data[name], f"{element_id}: {name}")
                    merged[name].update(data[name])
                else:
                    merged[name] = data[name]
        for name in data:
            if name not in properties:
                merged[name] = data[name]  # let additionalProperties report it
        try:
            jsonschema.Draft202012Validator(schema, format_checker=format_checker()).validate(merged)
        except jsonschema.ValidationError as err:
            raise FormError(f"{element_id}: {err.message} at {list(err.absolute_path)}") from err

    def advance(self, delta: timedelta) -> None:
        """Move the frozen clock forward and fire every timer that is due (strictly before now)."""
        self.coordinates.shift(delta)
        self.backend.fire_due_timers()
        self._record()

    def send_message(self, name: str, payload: Any = None, correlation: dict[str, Any] | None = None) -> None:
        self.backend.send_message(name, payload, correlation)
        self._record()


def _check_nested_readonly(
    schema: dict[str, Any], prefill: dict[str, Any], data: dict[str, Any], where: str
) -> None:
    for name, prop in schema.get("properties", {}).items():
        if prop.get("readOnly") and name in prefill and name in data and data[name] != prefill[name]:
            raise FormError(f"{where}.{name} is read-only (prefilled)")
