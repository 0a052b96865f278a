"""Reading the audit trail: a case's history for one reader, with personal data masked unless the
reader is entitled (organisation.policy decides who is)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from audit.masking import MASK, field_labels, payload_mask, personal_keys, version_is_sensitive
from audit.models import AuditEvent, Verb
from common.errors import NotFound
from organisation.models import Membership, Role
from organisation.policy import (
    can_view_personal_data,
    may_handle_data_subject_requests,
    name_for_viewer,
    personnummer_for_viewer,
)
from processes.models import ProcessInstance


def case_history_visible_to(user: Any, instance: ProcessInstance) -> bool:
    """Staff at the case's unit, the governing body (huvudman) of its municipality, the pupil's
    guardians and superusers."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    memberships = Membership.objects.filter(user=user)
    if memberships.filter(unit_id=instance.unit_id).exists():
        return True
    if memberships.filter(
        role=Role.GOVERNING_BODY, unit__municipality_id=instance.unit.municipality_id
    ).exists():
        return True
    pupil = instance.pupil
    return pupil is not None and pupil.custodies.filter(guardian__user=user).exists()


def case_get_for_history(user: Any, instance_id: Any) -> ProcessInstance:
    """The case if the user may read its history; NotFound otherwise (existence is not revealed)."""
    instance = (
        ProcessInstance.objects.select_related("version__definition", "unit", "pupil")
        .filter(pk=instance_id)
        .first()
    )
    if instance is None or not case_history_visible_to(user, instance):
        raise NotFound("case_not_found", _("The case does not exist or you may not see it."))
    return instance


def case_personal_data_entitled(user: Any, instance: ProcessInstance) -> bool:
    """May see the case's personal data unmasked, by organisation.policy: staff at the pupil's unit
    and the pupil's guardians, and the governing body, which answers access requests and appeals. A
    case without a pupil: staff at the case's unit."""
    if instance.pupil is not None:
        return can_view_personal_data(user, instance.pupil) or may_handle_data_subject_requests(
            user, instance.pupil
        )
    return Membership.objects.filter(user=user, unit_id=instance.unit_id).exists()


@dataclass(frozen=True)
class TimelineEntry:
    pk: int
    occurred_at: datetime
    verb: str
    what: str
    who: str
    element_id: str
    element_name: str
    lane: str
    before: Any
    after: Any
    redacted: bool
    labels: dict[str, str]

    @property
    def details(self) -> list[tuple[str, str]]:
        """What changed, as `field: before → after` lines for people to read."""
        before = self.before if isinstance(self.before, dict) else {}
        after = self.after if isinstance(self.after, dict) else {}
        lines = []
        for key in [*after, *(k for k in before if k not in after)]:
            new = _text(after.get(key))
            label = self.labels.get(key, key)
            lines.append((label, f"{_text(before[key])} → {new}" if key in before else new))
        return lines


def _text(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class CaseTimeline:
    instance: ProcessInstance
    entries: list[TimelineEntry]
    entitled: bool
    sensitive: bool
    pupil_name: str


def case_timeline(user: Any, instance: ProcessInstance) -> CaseTimeline:
    """Every event of the case in chain order, masked for this reader. Pure read: the view records
    the read with audit.services.case_read_record."""
    entitled = case_personal_data_entitled(user, instance)
    sensitive = version_is_sensitive(instance.version)
    keys = personal_keys(instance.version, sensitive=sensitive)
    labels = field_labels(instance.version)
    events = list(AuditEvent.objects.filter(instance_id=instance.pk).select_related("actor").order_by("id"))
    staff = set(
        Membership.objects.filter(user_id__in={e.actor_id for e in events if e.actor_id}).values_list(
            "user_id", flat=True
        )
    )
    lanes = dict(Role.choices)
    entries = []
    for event in events:
        actor = event.actor
        if actor is None:
            who = _("Skolflöde (automatic)") if event.actor_label in ("", "system") else event.actor_label
        elif entitled or actor.pk in staff:
            # Staff act in an official capacity: who did what is the point of the trail.
            who = actor.get_full_name() or actor.username
        else:
            who = MASK
        shown = (lambda v: v) if entitled else (lambda v: payload_mask(v, keys))
        entries.append(
            TimelineEntry(
                pk=event.pk,
                occurred_at=event.occurred_at,
                verb=event.verb,
                what=Verb(event.verb).label if event.verb in Verb.values else event.verb,
                who=who,
                element_id=event.element_id,
                element_name=event.element_name,
                lane=str(lanes.get(event.lane, event.lane)),
                before=shown(event.before),
                after=shown(event.after),
                redacted=event.redacted_by is not None,
                labels=labels,
            )
        )
    pupil = instance.pupil
    if pupil is None:
        pupil_name = ""
    elif entitled:
        pupil_name = f"{pupil.full_name}, {pupil.personnummer[:8]}-{pupil.personnummer[8:]}"
    else:
        pupil_name = f"{name_for_viewer(user, pupil)}, {personnummer_for_viewer(user, pupil)}"
    return CaseTimeline(instance, entries, entitled, sensitive, pupil_name)


def user_is_export_entitled(user: Any) -> bool:
    """Exports of the event log: the governing body (any unit) and superusers."""
    if not getattr(user, "is_authenticated", False):
        return False
    return user.is_superuser or Membership.objects.filter(user=user, role=Role.GOVERNING_BODY).exists()


def user_by_username(username: str) -> Any:
    return get_user_model().objects.filter(username=username).first()
