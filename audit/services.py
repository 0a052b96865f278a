"""Writing the audit trail. Called inside the transaction of the change it records."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent, Verb

GENESIS_HASH = "0" * 64
# Serialises appends to the chain on PostgreSQL; SQLite serialises writers already.
_CHAIN_LOCK_KEY = 0x5C0F10DE


def _canonical(event: dict[str, Any]) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False).encode()


def audit_event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + _canonical(fields)).hexdigest()


def _hashed_fields(event: AuditEvent) -> dict[str, Any]:
    return {
        "occurred_at": event.occurred_at.isoformat(),
        "verb": event.verb,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "unit_id": event.unit_id,
        "instance_id": str(event.instance_id) if event.instance_id else None,
        "user_task_id": event.user_task_id,
        "version_id": event.version_id,
        "element_id": event.element_id,
        "element_name": event.element_name,
        "lane": event.lane,
        "before": event.before,
        "after": event.after,
    }


def audit_event_record(verb: Verb, **fields: Any) -> AuditEvent:
    """Append one event, chained to the previous one. Must run inside the caller's transaction.

    Fields: actor, actor_label, unit_id, instance_id, user_task_id, version_id, element_id,
    element_name, lane, before, after, occurred_at.
    """
    return audit_events_record([{"verb": verb, **fields}])[0]


def audit_events_record(events: list[dict[str, Any]]) -> list[AuditEvent]:
    """Append several events in order with one chain lock, one read of the chain's end and one insert.

    Must run inside the transaction of the change the events record.
    """
    if not events:
        return []
    if not connection.in_atomic_block:
        raise RuntimeError("audit events must be written in the transaction of the change they record")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
    previous = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first() or GENESIS_HASH
    now = timezone.now()
    rows = []
    for fields in events:
        actor = fields.get("actor")
        event = AuditEvent(
            occurred_at=fields.get("occurred_at") or now,
            verb=fields["verb"],
            actor=actor if getattr(actor, "pk", None) else None,
            actor_label=fields.get("actor_label")
            or (getattr(actor, "username", "") if actor is not None else "system"),
            unit_id=fields.get("unit_id"),
            instance_id=fields.get("instance_id"),
            user_task_id=fields.get("user_task_id"),
            version_id=fields.get("version_id"),
            element_id=fields.get("element_id") or "",
            element_name=fields.get("element_name") or "",
            lane=fields.get("lane") or "",
            before=fields.get("before"),
            after=fields.get("after"),
            prev_hash=previous,
        )
        event.hash = audit_event_hash(previous, _hashed_fields(event))
        previous = event.hash
        rows.append(event)
    return AuditEvent.objects.bulk_create(rows)


def audit_chain_verify() -> int | None:
    """The id of the first event whose hash does not match its content or predecessor, else None."""
    previous = GENESIS_HASH
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != previous or event.hash != audit_event_hash(previous, _hashed_fields(event)):
            return event.pk
        previous = event.hash
    return None


__all__ = ["audit_event_record", "audit_chain_verify"]
