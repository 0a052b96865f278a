"""Scenario driver for the process library in ``bpmn/``.

One ``ProcessDriver`` runs one instance of one ``bpmn/<key>/`` folder (plus the folders it ``calls``) on
the platform's engine (``processes.engine``), with the clock frozen by time-machine. Every completed form
is checked by the platform's own form checker, and the trail of user tasks that became ready is kept::

    with ProcessDriver.from_folder("special_support", {"pupil_name": "Alva"}) as drv:
        assert drv.ready() == [("teacher", "document_signal")]
        drv.complete("document_signal", {...}, lane="teacher")
        drv.advance(timedelta(days=15))            # fires every timer that is due by then
        assert drv.trail == [("teacher", "document_signal"), ...]
        assert drv.ended_at == ["end_closed"]

The folder is read as a deploy reads it (``bundle_files_from_folder``); nothing here touches the database.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import time_machine

from processes import engine
from processes.services.forms import form_data_errors
from processes.services.versions import bundle_files_from_folder

REPO_ROOT = Path(__file__).resolve().parents[2]
BPMN_ROOT = REPO_ROOT / "bpmn"
STOCKHOLM = ZoneInfo("Europe/Stockholm")
DEFAULT_START = datetime(2025, 8, 18, 8, 0, tzinfo=STOCKHOLM)  # Monday, start of the autumn term


class FormError(AssertionError):
    """The data given to ``complete`` does not satisfy the task's form."""


def form_check(
    schema: dict[str, Any], prefill: dict[str, Any], data: dict[str, Any], element_id: str = "?"
) -> None:
    """The submitted data, on top of the fields the form prefills, must pass the platform's form checker.

    A prefilled ``readOnly`` field may be resubmitted unchanged but never changed."""
    errors = form_data_errors(schema, _merged(schema, prefill, data, element_id))
    if errors:
        raise FormError(f"{element_id}: {errors}")


def _merged(
    schema: dict[str, Any], prefill: dict[str, Any], data: dict[str, Any], where: str, *, nested: bool = False
) -> dict[str, Any]:
    properties = schema.get("properties", {})
    merged = {name: copy.deepcopy(prefill[name]) for name in properties if name in prefill}
    for name, value in data.items():
        prop = properties.get(name)
        if prop is None:
            # form_data_errors refuses unknown top-level fields itself but lets nested ones through.
            if nested and schema.get("additionalProperties") is False:
                raise FormError(f"{where}: the form does not ask for {name}")
            merged[name] = value
        elif prop.get("readOnly") and name in prefill and value != prefill[name]:
            raise FormError(f"{where}.{name} is read-only (prefilled)")
        elif isinstance(value, dict) and prop.get("type") == "object":
            before = merged.get(name) if isinstance(merged.get(name), dict) else {}
            merged[name] = _merged(prop, before, value, f"{where}.{name}", nested=True)
        else:
            merged[name] = value
    return merged


@dataclass
class ProcessDriver:
    key: str
    forms: dict[str, Any]  # form file name -> JSON Schema, as the deployed version pins them
    workflow: engine.Workflow
    traveller: Any
    coordinates: Any
    trail: list[tuple[str, str]] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    @classmethod
    def from_folder(
        cls, key: str, data: dict[str, Any] | None = None, *, start_at: datetime = DEFAULT_START
    ) -> ProcessDriver:
        """Load ``bpmn/<key>`` and its called folders, freeze the clock at ``start_at`` and start."""
        files = bundle_files_from_folder(BPMN_ROOT / key)
        raw = {name: text.encode() for name, text in files.files.items()}
        bundle = engine.bundle_load(raw, files.manifest["process_id"])
        traveller = time_machine.travel(start_at, tick=False)
        coordinates = traveller.start()
        try:
            driver = cls(key, files.forms, engine.workflow_start(bundle, data or {}), traveller, coordinates)
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
        for task in self.workflow.ready_user_tasks():
            if task.task_id not in self._seen:
                self._seen.add(task.task_id)
                self.trail.append((task.lane or "", task.element_id))

    def ready(self) -> list[tuple[str, str]]:
        return [(t.lane or "", t.element_id) for t in self.workflow.ready_user_tasks()]

    def ready_tasks(self) -> list[engine.UserTaskInfo]:
        return self.workflow.ready_user_tasks()

    @property
    def ended_at(self) -> list[str]:
        """End events of this folder's own process reached, in order (called processes' ends excluded)."""
        main = self.workflow.bundle.main_process_id
        return [
            end
            for end in self.workflow.completed_end_events()
            if (self.workflow.bundle.node(end, main) or {}).get("process") == main
        ]

    @property
    def ended_all(self) -> list[str]:
        """Every end event reached, including those of called processes."""
        return self.workflow.completed_end_events()

    @property
    def is_completed(self) -> bool:
        return self.workflow.is_completed

    @property
    def data(self) -> dict[str, Any]:
        """Instance data as of the last step (the workflow's once completed)."""
        return self.workflow.data

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
        """Check ``data`` with the task's form, then complete the task.

        ``where`` picks one instance when several are ready (multi-instance), e.g.
        ``where=lambda d: d["guardian"]["guardian_id"] == "g2"``."""
        candidates = [t for t in self.workflow.ready_user_tasks() if t.element_id == element_id]
        if where is not None:
            candidates = [t for t in candidates if where(t.data)]
        if not candidates:
            raise AssertionError(f"{element_id} is not ready; ready: {self.ready()}")
        task = candidates[0]
        if lane is not None and task.lane != lane:
            raise AssertionError(f"{element_id} is in lane {task.lane!r}, not {lane!r}")
        if task.form is None or task.form not in self.forms:
            raise FormError(f"{element_id} has no form")
        form_check(self.forms[task.form], task.data, data, element_id)
        self.workflow.complete_user_task(task.task_id, data)
        self._record()

    def advance(self, delta: timedelta) -> None:
        """Move the frozen clock forward and fire every timer that is due (strictly before now)."""
        self.coordinates.shift(delta)
        self.workflow.fire_due_timers()
        self._record()

    def send_message(self, name: str, payload: Any = None, correlation: dict[str, Any] | None = None) -> None:
        delivered = self.workflow.send_message(name, payload or {}, correlation)
        assert delivered, f"no waiting event took the message {name!r}"
        self._record()
