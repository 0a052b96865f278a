"""Writing the audit trail. Called inside the transaction of the change it records."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.exports import FORMATS, csv_write, export_rows, ocel_write, xes_write
from audit.masking import MASK, enum_values, payload_redact, version_is_sensitive
from audit.models import AuditEvent, RetentionRule, Verb
from common.errors import ApplicationError, NotFound, PermissionDenied

GENESIS_HASH = "0" * 64
# Serialises appends to the chain on PostgreSQL; SQLite serialises writers already.
CHAIN_LOCK_KEY = 0x5C0F10DE


def _canonical(event: dict[str, Any]) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False).encode()


def audit_event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + _canonical(fields)).hexdigest()


def audit_payload_digest(salt: str, before: Any, after: Any) -> str:
    """Commits the chain to before/after. The random salt (erased on redaction) keeps a removed
    low-entropy value, such as a personnummer, from being recovered by guessing against the digest."""
    return hashlib.sha256(salt.encode() + _canonical({"before": before, "after": after})).hexdigest()


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
        "payload": event.payload_digest,
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
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
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
            payload_salt=secrets.token_hex(16),
            prev_hash=previous,
        )
        event.payload_digest = audit_payload_digest(event.payload_salt, event.before, event.after)
        event.hash = audit_event_hash(previous, _hashed_fields(event))
        previous = event.hash
        rows.append(event)
    return AuditEvent.objects.bulk_create(rows)


def audit_chain_verify() -> int | None:
    """The id of the first event that does not match the chain, else None.

    An event fails when its hash does not match its hashed fields and predecessor (altered or
    removed rows), or when its before/after no longer match their digest, unless a later
    `retention.applied` event, itself in the chain, names it as redacted (docs/audit.md).
    """
    previous = GENESIS_HASH
    redacted_pending: dict[int, int] = {}
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=2000):
        if event.prev_hash != previous or event.hash != audit_event_hash(previous, _hashed_fields(event)):
            return event.pk
        if event.redacted_by is None:
            if event.payload_digest != audit_payload_digest(event.payload_salt, event.before, event.after):
                return event.pk
        elif event.redacted_by <= event.pk:
            return event.pk
        else:
            redacted_pending[event.pk] = event.redacted_by
        if event.verb == Verb.RETENTION_APPLIED:
            for redacted_id in (event.after or {}).get("redacted_events", []):
                if redacted_pending.pop(redacted_id, None) != event.pk:
                    return event.pk
        previous = event.hash
    return min(redacted_pending) if redacted_pending else None


def case_read_record(
    user: Any, instance: Any, *, unmasked: bool = False, user_task_id: int | None = None
) -> AuditEvent | None:
    """Record that `user` opened a sensitive case (a task page or its history), or saw a case's
    history with personal data unmasked. Returns the event, or None when nothing needs recording."""
    if not (unmasked or version_is_sensitive(instance.version)):
        return None
    with transaction.atomic():
        return audit_event_record(
            Verb.RECORD_READ,
            actor=user,
            unit_id=instance.unit_id,
            instance_id=instance.pk,
            user_task_id=user_task_id,
            after={"page": "task" if user_task_id else "history", "unmasked": unmasked},
        )


def event_log_export(
    *, fmt: str, process_key: str, out: IO[Any], actor: Any = None, identified: bool = False
) -> int:
    """Write the process's event log in `fmt` (csv, xes, ocel) to `out`, pseudonymised unless
    `identified`, and audit the export. Returns the number of events written.

    Raises ApplicationError `export_format_unknown`, NotFound `process_not_found`, and
    PermissionDenied `export_identified_refused` when `identified` is asked by anyone but a superuser
    (the register keeper).
    """
    if fmt not in FORMATS:
        raise ApplicationError("export_format_unknown", _("Choose one of the formats CSV, XES or OCEL."))
    if identified and not getattr(actor, "is_superuser", False):
        raise PermissionDenied(
            "export_identified_refused", _("Only the register keeper may export identified events.")
        )
    from processes.models import ProcessDefinition

    if not ProcessDefinition.objects.filter(key=process_key).exists():
        raise NotFound("process_not_found", _("There is no process with that key."))
    rows = export_rows(process_key, identified=identified)
    if fmt == "csv":
        count = csv_write(rows, out)
    elif fmt == "xes":
        count = xes_write(rows, out, process_key=process_key)
    else:
        count = ocel_write(rows, out)
    with transaction.atomic():
        audit_event_record(
            Verb.EVENTS_EXPORTED,
            actor=actor,
            after={"format": fmt, "process": process_key, "identified": identified, "events": count},
        )
    return count


@dataclass(frozen=True)
class RetentionPolicy:
    process_key: str
    keep_for_days: int
    action: str


def retention_policies() -> list[RetentionPolicy]:
    """A RetentionRule per process, else the newest version manifest's `retention_days`
    (pseudonymise); processes with neither keep their data."""
    from processes.models import ProcessVersion

    policies: dict[str, RetentionPolicy] = {}
    for key, manifest in ProcessVersion.objects.order_by("definition__key", "number").values_list(
        "definition__key", "manifest"
    ):
        days = (manifest or {}).get("retention_days")
        if isinstance(days, int) and days >= 0:
            policies[key] = RetentionPolicy(key, days, RetentionRule.Action.PSEUDONYMISE)
    for rule in RetentionRule.objects.all():
        policies[rule.process_key] = RetentionPolicy(rule.process_key, rule.keep_for_days, rule.action)
    return sorted(policies.values(), key=lambda p: p.process_key)


def retention_policy_for(process_key: str) -> RetentionPolicy | None:
    """The retention period of one process, or None when its personal data is kept."""
    return next((p for p in retention_policies() if p.process_key == process_key), None)


def _state_redact(value: Any, keep: frozenset[str]) -> Any:
    """Engine state: only the task data and data deltas hold case data; ids and specs stay."""
    if isinstance(value, dict):
        return {
            key: payload_redact(item, keep) if key in ("data", "updates") else _state_redact(item, keep)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_state_redact(item, keep) for item in value]
    return value


def case_retention_apply(instance_id: Any, policy: RetentionPolicy, *, now: datetime) -> AuditEvent | None:
    """Remove one closed case's personal data, keeping everything statistics need (timestamps,
    element ids, lanes, people who acted, counts). Idempotent: a case already handled is skipped.

    The case's audit events keep their chain: their hashes cover a digest of before/after, and the
    `retention.applied` event written here (itself chained) names every event it redacted.
    """
    from processes.models import ProcessInstance, ReceivedMessage
    from tasks.models import UserTask

    purge = policy.action == RetentionRule.Action.PURGE
    with transaction.atomic():
        instance = (
            # The case's row only: locking its version's row too would hold up every case of it.
            ProcessInstance.objects.select_for_update(of=("self",))
            .select_related("version")
            .filter(
                pk=instance_id,
                status__in=[ProcessInstance.Status.COMPLETED, ProcessInstance.Status.CANCELLED],
            )
            .first()
        )
        if (
            instance is None
            or AuditEvent.objects.filter(instance_id=instance_id, verb=Verb.RETENTION_APPLIED).exists()
        ):
            return None
        # Purge keeps no answers at all, not even coded ones; both keep the platform's own values
        # (due dates, fire times) that deadline statistics read from the trail.
        keep = frozenset() if purge else enum_values(instance.version)

        events = list(AuditEvent.objects.filter(instance_id=instance_id).order_by("id"))
        applied = audit_event_record(
            Verb.RETENTION_APPLIED,
            unit_id=instance.unit_id,
            instance_id=instance.pk,
            version_id=instance.version_id,
            occurred_at=now,
            after={
                "action": policy.action,
                "keep_for_days": policy.keep_for_days,
                "redacted_events": [event.pk for event in events],
            },
        )
        for event in events:
            event.before, event.after = payload_redact(event.before, keep), payload_redact(event.after, keep)
            event.payload_salt, event.redacted_by = "", applied.pk
        AuditEvent.objects.bulk_update(
            events, ["before", "after", "payload_salt", "redacted_by"], batch_size=500
        )
        ProcessInstance.objects.filter(pk=instance.pk).update(
            pupil=None,
            subject=MASK if instance.subject else "",
            state=_state_redact(instance.state, keep),
            error_context={},
        )
        tasks = list(UserTask.objects.filter(instance_id=instance.pk))
        for task in tasks:
            task.data = {} if purge else payload_redact(task.data, keep)
            task.draft = {} if purge else payload_redact(task.draft, keep)
            task.prefill = {} if purge else payload_redact(task.prefill, keep)
            task.guardian = None
        UserTask.objects.bulk_update(tasks, ["data", "draft", "prefill", "guardian"], batch_size=500)
        for message in ReceivedMessage.objects.filter(instance_id=instance.pk):
            ReceivedMessage.objects.filter(pk=message.pk).update(
                payload={} if purge else payload_redact(message.payload, keep),
                correlation_key=MASK if message.correlation_key else "",
            )
    return applied


def retention_apply(now: datetime | None = None) -> int:
    """Apply every process's retention period to its closed cases (gallring). Returns the number of
    cases whose personal data was removed; running it again finds nothing new."""
    from processes.models import ProcessInstance

    now = now or timezone.now()
    done = AuditEvent.objects.filter(verb=Verb.RETENTION_APPLIED, instance_id__isnull=False).values(
        "instance_id"
    )
    count = 0
    for policy in retention_policies():
        cutoff = now - timedelta(days=policy.keep_for_days)
        closed = Q(status=ProcessInstance.Status.COMPLETED, completed_at__lt=cutoff) | Q(
            status=ProcessInstance.Status.CANCELLED, updated_at__lt=cutoff
        )
        due = (
            ProcessInstance.objects.filter(closed, version__definition__key=policy.process_key)
            .exclude(pk__in=done)
            .values_list("pk", flat=True)
        )
        for instance_id in list(due):
            count += case_retention_apply(instance_id, policy, now=now) is not None
    return count


__all__ = [
    "audit_event_record",
    "audit_events_record",
    "audit_chain_verify",
    "audit_payload_digest",
    "case_read_record",
    "event_log_export",
    "retention_apply",
    "retention_policy_for",
]
