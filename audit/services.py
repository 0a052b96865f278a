"""Writing the audit trail. Called inside the transaction of the change it records."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
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


def audit_event_record(
    verb: Verb,
    *,
    actor: Any = None,
    actor_label: str = "",
    unit_id: int | None = None,
    instance_id: Any = None,
    user_task_id: int | None = None,
    version_id: int | None = None,
    element_id: str = "",
    element_name: str = "",
    lane: str = "",
    before: Any = None,
    after: Any = None,
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """Append one event, chained to the previous one. Must run inside the caller's transaction."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_event_record must run in the transaction of the change it records")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
    previous = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first() or GENESIS_HASH
    event = AuditEvent(
        occurred_at=occurred_at or timezone.now(),
        verb=verb,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=actor_label or (getattr(actor, "username", "") if actor is not None else "system"),
        unit_id=unit_id,
        instance_id=instance_id,
        user_task_id=user_task_id,
        version_id=version_id,
        element_id=element_id or "",
        element_name=element_name or "",
        lane=lane or "",
        before=before,
        after=after,
        prev_hash=previous,
    )
    event.hash = audit_event_hash(previous, _hashed_fields(event))
    event.save(force_insert=True)
    return event


def audit_chain_verify() -> int | None:
    """The id of the first event whose hash does not match its content or predecessor, else None."""
    previous = GENESIS_HASH
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != previous or event.hash != audit_event_hash(previous, _hashed_fields(event)):
            return event.pk
        previous = event.hash
    return None


__all__ = ["audit_event_record", "audit_chain_verify"]
