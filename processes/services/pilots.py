"""Pilots: a published version run at chosen school units before it becomes everyone's version.

New cases at a unit with an active pilot start on the pilot's version (process_version_for_unit);
every other unit keeps the baseline, the newest published version.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import Verb
from audit.services import audit_event_record
from common.errors import ApplicationError, Conflict, PermissionDenied
from organisation.models import SchoolUnit
from organisation.policy import may_manage_processes
from processes.models import Pilot, ProcessDefinition, ProcessVersion
from processes.selectors import process_version_baseline
from processes.services.versions import process_version_current

PILOT_VERB = Verb.VERSION_PILOTED


def _require_owner(actor: Any) -> None:
    if not may_manage_processes(actor):
        raise PermissionDenied("not_process_owner", _("Only process owners may do this."))


def pilot_active_for_unit(key: str, unit: SchoolUnit | int, on: date | None = None) -> Pilot | None:
    """The pilot of process `key` running at `unit` on the day `on` (today), newest first."""
    on = on or timezone.localdate()
    unit_id = unit.pk if isinstance(unit, SchoolUnit) else unit
    return (
        Pilot.objects.filter(
            version__definition__key=key,
            version__status=ProcessVersion.Status.PUBLISHED,
            unit_id=unit_id,
            starts_on__lte=on,
        )
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=on))
        .select_related("version__definition")
        .order_by("-starts_on", "-pk")
        .first()
    )


def process_version_for_unit(key: str, unit: SchoolUnit | int, on: date | None = None) -> ProcessVersion:
    """The version a new case of `key` at `unit` starts on: an active pilot's there, else the baseline.

    Raises ApplicationError `no_published_version` (404) when the process has no published version.
    """
    pilot = pilot_active_for_unit(key, unit, on)
    if pilot is not None:
        return pilot.version
    baseline = process_version_baseline(key, on)
    return baseline if baseline is not None else process_version_current(key)


def pilot_create(
    *,
    version: ProcessVersion,
    unit: SchoolUnit,
    starts_on: date,
    ends_on: date | None = None,
    actor: Any,
) -> Pilot:
    """Run a published version at a unit from `starts_on` (to `ends_on`, inclusive, when given).

    A pilot of the same process at the same unit that overlaps is ended the day before. Raises
    PermissionDenied `not_process_owner`, Conflict `version_not_published`, ApplicationError
    `pilot_dates_invalid`.
    """
    _require_owner(actor)
    if version.status != ProcessVersion.Status.PUBLISHED:
        raise Conflict("version_not_published", _("Only a published version can be piloted."))
    if ends_on is not None and ends_on < starts_on:
        raise ApplicationError("pilot_dates_invalid", _("A pilot cannot end before it starts."))
    with transaction.atomic():
        ProcessDefinition.objects.select_for_update().get(pk=version.definition_id)
        overlapping = Pilot.objects.filter(version__definition_id=version.definition_id, unit=unit).filter(
            Q(ends_on__isnull=True) | Q(ends_on__gte=starts_on)
        )
        for other in overlapping.filter(starts_on__lt=starts_on):
            _pilot_close(other, date.fromordinal(starts_on.toordinal() - 1), actor)
        for other in overlapping.filter(starts_on__gte=starts_on):
            _pilot_close(other, None, actor)
        pilot = Pilot.objects.create(
            version=version,
            unit=unit,
            starts_on=starts_on,
            ends_on=ends_on,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        audit_event_record(
            PILOT_VERB,
            actor=actor,
            unit_id=unit.pk,
            version_id=version.pk,
            after={
                "pilot": pilot.pk,
                "process": version.definition.key,
                "version": version.number,
                "starts_on": starts_on.isoformat(),
                "ends_on": ends_on.isoformat() if ends_on else None,
            },
        )
    return pilot


def _pilot_close(pilot: Pilot, last_day: date | None, actor: Any) -> None:
    """End a pilot on `last_day`; None (or a day before it starts) removes it: it never ran."""
    before = {
        "starts_on": pilot.starts_on.isoformat(),
        "ends_on": pilot.ends_on.isoformat() if pilot.ends_on else None,
    }
    if last_day is None or last_day < pilot.starts_on:
        after: dict[str, Any] = {"pilot": pilot.pk, "removed": True}
        pilot.ends_on = date.fromordinal(pilot.starts_on.toordinal() - 1)
    else:
        pilot.ends_on = last_day
        after = {"pilot": pilot.pk, "ends_on": last_day.isoformat()}
    pilot.save(update_fields=["ends_on"])
    audit_event_record(
        PILOT_VERB,
        actor=actor,
        unit_id=pilot.unit_id,
        version_id=pilot.version_id,
        before=before,
        after=after,
    )


def pilot_end(pilot: Pilot, *, actor: Any, on: date | None = None) -> Pilot:
    """End a pilot now: from `on` (today) new cases at the unit start on the baseline again.

    Raises PermissionDenied `not_process_owner`, Conflict `pilot_ended`.
    """
    _require_owner(actor)
    on = on or timezone.localdate()
    with transaction.atomic():
        locked = Pilot.objects.select_for_update().get(pk=pilot.pk)
        if locked.ends_on is not None and locked.ends_on < on:
            raise Conflict("pilot_ended", _("The pilot has already ended."))
        _pilot_close(locked, date.fromordinal(on.toordinal() - 1), actor)
    return locked
