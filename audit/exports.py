"""The event log of one process for process-mining tools: CSV, XES (IEEE 1849-2016) and OCEL 2.0 JSON.

One trace per case. Pseudonymised by default: case ids and people are replaced with stable keyed
hashes (HMAC-SHA-256 with SECRET_KEY), so the same case or person gets the same pseudonym in every
export while nobody without the key can link it back. Before/after values never leave in an export.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from django.conf import settings
from lxml import etree

from audit.models import AuditEvent, Verb
from processes.models import ProcessInstance

FORMATS = ("csv", "xes", "ocel")
CONTENT_TYPES = {"csv": "text/csv", "xes": "application/xml", "ocel": "application/json"}
# Access and housekeeping records, not steps of the process.
NOT_PROCESS_EVENTS = (Verb.RECORD_READ, Verb.EVENTS_EXPORTED, Verb.RETENTION_APPLIED)
# XES standard lifecycle model (lifecycle extension, "standard" model).
LIFECYCLE = {
    Verb.INSTANCE_STARTED: "start",
    Verb.INSTANCE_COMPLETED: "complete",
    Verb.INSTANCE_ERRORED: "pi_abort",
    Verb.INSTANCE_CANCELLED: "pi_abort",
    Verb.INSTANCE_RETRIED: "resume",
    Verb.TASK_READY: "schedule",
    Verb.TASK_CLAIMED: "assign",
    Verb.TASK_UNCLAIMED: "reassign",
    Verb.TASK_DELEGATED: "reassign",
    Verb.TASK_REASSIGNED: "reassign",
    Verb.TASK_COMPLETED: "complete",
    Verb.TASK_CANCELLED: "ate_abort",
    Verb.TIMER_FIRED: "complete",
    Verb.MESSAGE_RECEIVED: "complete",
}
XES_NS = "http://www.xes-standard.org/"
XES_EXTENSIONS = [
    ("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
    ("Time", "time", "http://www.xes-standard.org/time.xesext"),
    ("Lifecycle", "lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
    ("Organizational", "org", "http://www.xes-standard.org/org.xesext"),
]
CSV_COLUMNS = [
    "case_id",
    "process",
    "version",
    "unit",
    "event_id",
    "activity",
    "element_id",
    "verb",
    "lifecycle",
    "timestamp",
    "resource",
    "role",
]


def pseudonym(kind: str, value: Any) -> str:
    """A stable keyed hash: the same input gives the same pseudonym; without SECRET_KEY it cannot be
    reversed or recomputed by guessing inputs (unlike a plain hash of a personnummer)."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"{kind}:{value}".encode(), hashlib.sha256)
    return f"{kind}-{digest.hexdigest()[:20]}"


@dataclass(frozen=True)
class ExportRow:
    case_id: str
    process: str
    version: int
    unit: str
    event_id: str
    activity: str
    element_id: str
    verb: str
    lifecycle: str
    timestamp: datetime
    resource: str
    role: str
    user_task: str


def export_rows(process_key: str, *, identified: bool) -> Iterator[ExportRow]:
    """The process events of every case of the process, grouped by case in causal (chain) order."""
    cases = {
        row["pk"]: row
        for row in ProcessInstance.objects.filter(version__definition__key=process_key).values(
            "pk", "version__number", "unit__code"
        )
    }
    events = (
        AuditEvent.objects.filter(instance_id__in=list(cases))
        .exclude(verb__in=NOT_PROCESS_EVENTS)
        .order_by("instance_id", "id")
    )
    for event in events.iterator(chunk_size=2000):
        case = cases[event.instance_id]
        if identified:
            case_id, resource = str(event.instance_id), event.actor_label or "system"
        else:
            case_id = pseudonym("case", event.instance_id)
            resource = pseudonym("person", event.actor_id) if event.actor_id else "system"
        yield ExportRow(
            case_id=case_id,
            process=process_key,
            version=case["version__number"],
            unit=case["unit__code"],
            event_id=str(event.pk),
            activity=event.element_name or event.element_id or event.verb,
            element_id=event.element_id,
            verb=event.verb,
            lifecycle=LIFECYCLE.get(event.verb, "unknown"),
            timestamp=event.occurred_at,
            resource=resource,
            role=event.lane,
            user_task=f"task-{event.user_task_id}" if event.user_task_id else "",
        )


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def csv_write(rows: Iterator[ExportRow], out: IO[str]) -> int:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row in rows:
        writer.writerow(
            [_timestamp(row.timestamp) if c == "timestamp" else getattr(row, c) for c in CSV_COLUMNS]
        )
        count += 1
    return count


def _attribute(parent: etree._Element, kind: str, key: str, value: str) -> None:
    etree.SubElement(parent, kind, key=key, value=value)


def xes_write(rows: Iterator[ExportRow], out: IO[bytes], *, process_key: str) -> int:
    log = etree.Element("log", nsmap={None: XES_NS})
    log.set("xes.version", "1849-2016")
    log.set("xes.features", "nested-attributes")
    for name, prefix, uri in XES_EXTENSIONS:
        etree.SubElement(log, "extension", name=name, prefix=prefix, uri=uri)
    trace_globals = etree.SubElement(log, "global", scope="trace")
    _attribute(trace_globals, "string", "concept:name", "__INVALID__")
    event_globals = etree.SubElement(log, "global", scope="event")
    _attribute(event_globals, "string", "concept:name", "__INVALID__")
    _attribute(event_globals, "date", "time:timestamp", "1970-01-01T00:00:00.000+00:00")
    _attribute(event_globals, "string", "lifecycle:transition", "complete")
    etree.SubElement(log, "classifier", name="Activity", keys="concept:name")
    etree.SubElement(
        log, "classifier", name="Activity and transition", keys="concept:name lifecycle:transition"
    )
    _attribute(log, "string", "concept:name", f"skolflode:{process_key}")
    count, trace, current = 0, None, None
    for row in rows:
        if row.case_id != current:
            trace, current = etree.SubElement(log, "trace"), row.case_id
            _attribute(trace, "string", "concept:name", row.case_id)
            _attribute(trace, "int", "process:version", str(row.version))
            _attribute(trace, "string", "org:group", row.unit)
        event = etree.SubElement(trace, "event")
        _attribute(event, "string", "concept:name", row.activity)
        _attribute(event, "string", "concept:instance", row.user_task or row.element_id or row.verb)
        _attribute(event, "date", "time:timestamp", _timestamp(row.timestamp))
        _attribute(event, "string", "lifecycle:transition", row.lifecycle)
        _attribute(event, "string", "org:resource", row.resource)
        _attribute(event, "string", "org:role", row.role)
        _attribute(event, "string", "skolflode:verb", row.verb)
        _attribute(event, "string", "skolflode:element", row.element_id)
        count += 1
    out.write(etree.tostring(log, xml_declaration=True, encoding="UTF-8", pretty_print=True))
    return count


def ocel_write(rows: Iterator[ExportRow], out: IO[str]) -> int:
    """OCEL 2.0 JSON: objects are cases and user tasks; each event relates to its case (and task)."""
    objects: dict[str, dict[str, Any]] = {}
    events, event_types = [], set()
    for row in rows:
        objects.setdefault(
            row.case_id,
            {
                "id": row.case_id,
                "type": "case",
                "attributes": [
                    {"name": "process", "time": "1970-01-01T00:00:00Z", "value": row.process},
                    {"name": "version", "time": "1970-01-01T00:00:00Z", "value": row.version},
                    {"name": "unit", "time": "1970-01-01T00:00:00Z", "value": row.unit},
                ],
                "relationships": [],
            },
        )
        relationships = [{"objectId": row.case_id, "qualifier": "case"}]
        if row.user_task:
            task_id = f"{row.case_id}/{row.user_task}"
            if task_id not in objects:
                objects[task_id] = {
                    "id": task_id,
                    "type": "user_task",
                    "attributes": [{"name": "role", "time": "1970-01-01T00:00:00Z", "value": row.role}],
                    "relationships": [{"objectId": row.case_id, "qualifier": "part of"}],
                }
            relationships.append({"objectId": task_id, "qualifier": "task"})
        event_types.add(row.activity)
        events.append(
            {
                "id": f"event-{row.event_id}",
                "type": row.activity,
                "time": _timestamp(row.timestamp),
                "attributes": [
                    {"name": "lifecycle", "value": row.lifecycle},
                    {"name": "resource", "value": row.resource},
                    {"name": "role", "value": row.role},
                    {"name": "verb", "value": row.verb},
                ],
                "relationships": relationships,
            }
        )
    attributes = [{"name": name, "type": "string"} for name in ("lifecycle", "resource", "role", "verb")]
    document = {
        "objectTypes": [
            {
                "name": "case",
                "attributes": [
                    {"name": "process", "type": "string"},
                    {"name": "version", "type": "integer"},
                    {"name": "unit", "type": "string"},
                ],
            },
            {"name": "user_task", "attributes": [{"name": "role", "type": "string"}]},
        ],
        "eventTypes": [{"name": name, "attributes": attributes} for name in sorted(event_types)],
        "objects": list(objects.values()),
        "events": events,
    }
    json.dump(document, out, ensure_ascii=False, indent=1)
    return len(events)
