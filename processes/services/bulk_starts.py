"""Starting cases from the UI: one case for one pupil, or one case for every pupil of a unit (or of the
whole municipality) as a resumable background job with visible progress.

A bulk start's `updated_at` doubles as the lease of the worker running it: a worker claims the row with
a compare-and-set UPDATE that stamps a fresh `updated_at`, and every later write of that run is
conditional on its stamp. A run whose stamp was replaced (explicitly resumed, or taken over after it
went stale) finds that its next write changes no row and stops, so two workers never go on running
the same bulk start. The unique constraint (bulk_start, pupil) is the last line of defence: a pupil is
never started twice by one bulk start, whatever the timing.

Cases start in chunks: the engine runs for each pupil of a chunk, then the chunk's cases, tasks, timers
and audit events are inserted in one transaction with one append to the audit chain. A worker killed
mid-chunk leaves none of that chunk behind; a chunk the database refuses is started again case by case,
so one pupil's failure never costs the others their case.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from time import monotonic
from typing import Any

from django.db import DataError, IntegrityError, transaction
from django.db.models import Prefetch, Q, QuerySet, prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import Verb
from audit.services import audit_event_record
from common.errors import ApplicationError, Conflict, NotFound, PermissionDenied
from organisation.models import Custody, Pupil, SchoolUnit
from organisation.selectors import units_for_user
from processes.models import BulkStart, ProcessInstance, ProcessVersion
from processes.selectors import BULK_START_STALE_AFTER, bulk_start_may_request
from processes.services.instances import CaseStart, process_instance_start, process_instances_start
from processes.services.pilots import process_version_for_unit

# The job gives the worker back after this long and queues its own continuation, so a municipality
# of many thousand pupils never meets the worker's time limit (and a deploy never waits for long).
BULK_START_SLICE_SECONDS = 120.0
# Cases started in one transaction. One commit and one chain lock per chunk instead of per case is most
# of the saving; beyond about 50 the per-case cost hardly falls. Smaller than the batch that writes
# the progress, so a run stopped between two chunks leaves committed cases the progress does not count
# yet (a resumed run finds and skips them).
BULK_START_CHUNK_SIZE = 50


def pupil_start_data(pupil: Pupil) -> dict[str, Any]:
    """The start data of a case about a pupil: what the registry knows, so forms prefill it and never
    ask it again (read-only fields: pupil_name, pupil_personnummer, school_unit), and one record per
    guardian with custody (docs/conventions.md, "One task per guardian"). Uses prefetched `custodies`
    when present."""
    custodies: Iterable[Custody] = pupil.custodies.all()
    return {
        "pupil_name": pupil.full_name,
        "pupil_personnummer": f"{pupil.personnummer[:8]}-{pupil.personnummer[8:]}",
        "school_unit": pupil.unit.name,
        "guardians": [
            {
                "guardian_id": str(c.guardian_id),
                "name": c.guardian.full_name,
                "personnummer": f"{c.guardian.personnummer[:8]}-{c.guardian.personnummer[8:]}",
                "email": c.guardian.email,
                "phone": c.guardian.phone,
            }
            for c in custodies
            if c.has_custody
        ],
    }


def bulk_start_pupils(bulk: BulkStart) -> QuerySet[Pupil]:
    """The pupils a bulk start covers, in the order it starts them."""
    pupils = Pupil.objects.all() if bulk.unit_id is None else Pupil.objects.filter(unit_id=bulk.unit_id)
    return pupils.order_by("pk")


def _scope_count(unit: SchoolUnit | None) -> int:
    return (Pupil.objects.all() if unit is None else Pupil.objects.filter(unit=unit)).count()


def _audit_request(bulk: BulkStart, actor: Any, *, resumed: bool) -> None:
    audit_event_record(
        Verb.BULK_START_REQUESTED,
        actor=actor,
        unit_id=bulk.unit_id,
        version_id=bulk.version_id,
        after={
            "bulk_start": bulk.pk,
            "process": bulk.version.definition.key,
            "scope": "unit" if bulk.unit_id else "municipality",
            "total": bulk.total,
            "resumed": resumed,
        },
    )


def _enqueue(bulk_start_id: int, **options: Any) -> None:
    # Imported here: the job module imports this one.
    from processes.jobs import bulk_start_run_job

    bulk_start_run_job.delay(bulk_start_id, **options)


def bulk_start_request(*, version: ProcessVersion, unit: SchoolUnit | None, requested_by: Any) -> BulkStart:
    """Record a bulk start of `version` for every pupil of `unit` (None: the whole municipality) and
    queue the job that runs it once the transaction commits.

    Raises PermissionDenied `bulk_start_not_allowed` (see bulk_start_may_request), Conflict
    `version_not_published`, and Conflict `bulk_start_in_progress` when the same process is already
    being started for the same scope (a double submit).
    """
    if not bulk_start_may_request(requested_by, unit):
        raise PermissionDenied(
            "bulk_start_not_allowed",
            _(
                "Only a school administrator or principal of the school unit, or the governing body, may "
                "start cases for every pupil."
            ),
        )
    if version.status != ProcessVersion.Status.PUBLISHED:
        raise Conflict("version_not_published", _("Only a published version can start new cases."))
    with transaction.atomic():
        # The version's row lock serialises requests for it, so a double submit finds the first one.
        ProcessVersion.objects.select_for_update().get(pk=version.pk)
        busy = BulkStart.objects.filter(
            version=version, unit=unit, status__in=[BulkStart.Status.PENDING, BulkStart.Status.RUNNING]
        )
        if busy.exists():
            raise Conflict(
                "bulk_start_in_progress",
                _("These cases are already being started. Follow the progress on its page."),
            )
        bulk = BulkStart.objects.create(
            version=version,
            unit=unit,
            requested_by=requested_by if getattr(requested_by, "pk", None) else None,
            total=_scope_count(unit),
        )
        _audit_request(bulk, requested_by, resumed=False)
        transaction.on_commit(lambda: _enqueue(bulk.pk))
    return bulk


def bulk_start_resume(bulk_start_id: int, actor: Any) -> BulkStart:
    """Queue an interrupted bulk start again. It goes on where it stopped: pupils who already have
    their case are skipped. A worker still running it stops at its next batch (its lease is revoked).

    Raises NotFound `bulk_start_not_found`, PermissionDenied `bulk_start_not_allowed` and Conflict
    `bulk_start_completed`.
    """
    bulk = BulkStart.objects.select_related("version__definition").filter(pk=bulk_start_id).first()
    if bulk is None:
        raise NotFound("bulk_start_not_found", _("The bulk start does not exist."))
    if not bulk_start_may_request(actor, bulk.unit):
        raise PermissionDenied("bulk_start_not_allowed", _("You may not resume this bulk start."))
    with transaction.atomic():
        resumed = (
            BulkStart.objects.filter(pk=bulk.pk)
            .exclude(status=BulkStart.Status.COMPLETED)
            .update(status=BulkStart.Status.PENDING, updated_at=timezone.now(), finished_at=None)
        )
        if not resumed:
            raise Conflict(
                "bulk_start_completed", _("Every case of this bulk start has already been started.")
            )
        bulk.refresh_from_db()
        _audit_request(bulk, actor, resumed=True)
        transaction.on_commit(lambda: _enqueue(bulk.pk))
    return bulk


def _claim(bulk: BulkStart, now: datetime, *, take_over: bool = False) -> bool:
    """Take the lease: PENDING or stale RUNNING → RUNNING stamped `now` (any RUNNING with `take_over`).
    False if another worker holds it, or the bulk start has ended (a FAILED one runs again only through
    bulk_start_resume)."""
    running = Q(status=BulkStart.Status.RUNNING)
    if not take_over:
        running &= Q(updated_at__lt=now - BULK_START_STALE_AFTER)
    claimable = Q(status=BulkStart.Status.PENDING) | running
    return bool(
        BulkStart.objects.filter(claimable, pk=bulk.pk).update(
            status=BulkStart.Status.RUNNING,
            total=bulk_start_pupils(bulk).count(),
            failed_count=0,
            last_error="",
            finished_at=None,
            updated_at=now,
        )
    )


def _start_one(bulk: BulkStart, pupil: Pupil, subject: str) -> str | None:
    """Start the pupil's case; None when started (or found started by another worker), else the error."""
    try:
        process_instance_start(
            version=bulk.version,
            unit=pupil.unit,
            initiator=bulk.requested_by,
            pupil=pupil,
            subject=subject,
            data=pupil_start_data(pupil),
            bulk_start=bulk,
        )
    except IntegrityError:
        # The unique constraint (bulk_start, pupil): another worker started this pupil a moment ago.
        if ProcessInstance.objects.filter(bulk_start=bulk, pupil=pupil).exists():
            return None
        raise
    except ApplicationError as exc:
        return f"{pupil.pk}: {exc.message}"
    return None


def _start_chunk(bulk: BulkStart, pupils: list[Pupil], subject: str) -> list[str]:
    """Start the pupils' cases in one transaction; returns the errors of those that could not start.

    When the database refuses the chunk's rows (another worker started one of its pupils a moment ago),
    it rolls back whole and the pupils are started one by one instead, each as _start_one does. A lost
    connection is not caught: the job's retry resumes the run.
    """
    try:
        results = process_instances_start(
            version=bulk.version,
            starts=[
                CaseStart(unit=pupil.unit, pupil=pupil, subject=subject, data=pupil_start_data(pupil))
                for pupil in pupils
            ],
            initiator=bulk.requested_by,
            bulk_start=bulk,
        )
    except (IntegrityError, DataError):
        one_by_one = (_start_one(bulk, pupil, subject) for pupil in pupils)
        return [error for error in one_by_one if error is not None]
    return [
        f"{pupil.pk}: {result.message}"
        for pupil, result in zip(pupils, results, strict=True)
        if isinstance(result, ApplicationError)
    ]


def bulk_start_run(
    bulk_start_id: int,
    *,
    batch_size: int = 100,
    chunk_size: int = BULK_START_CHUNK_SIZE,
    time_budget: float | None = None,
    take_over: bool = False,
) -> BulkStart:
    """Start the case of every pupil in scope who does not have one from this bulk start yet.

    Idempotent and resumable: a COMPLETED bulk start, or one another worker is running, is returned
    unchanged. Cases start `chunk_size` to a transaction (see the module docstring). Progress
    (`started_count`, `failed_count`, `last_error`) is written after each batch of `batch_size`. A
    pupil whose case cannot start is counted and skipped; the bulk start ends COMPLETED, or FAILED
    when no case at all could start. With `time_budget` (seconds) the run stops between batches once
    it is spent, hands the bulk start back as PENDING and queues the job for the rest.

    `take_over`: this run repeats one that lost its database connection (the job's retry). The lost
    run's lease outlives it and would hold every run off for BULK_START_STALE_AFTER; the retry takes the
    bulk start back at once. As after bulk_start_resume, a run still holding it stops at its next batch.

    Raises NotFound `bulk_start_not_found`.
    """
    bulk = (
        BulkStart.objects.select_related("version__definition", "requested_by", "unit")
        .filter(pk=bulk_start_id)
        .first()
    )
    if bulk is None:
        raise NotFound("bulk_start_not_found", _("The bulk start does not exist."))
    lease = timezone.now()
    if not _claim(bulk, lease, take_over=take_over):
        return bulk
    began = monotonic()
    subject = f"bulk-{bulk.pk}"
    failed, last_error, after_pk = 0, "", 0
    pupils = bulk_start_pupils(bulk).select_related("unit")
    custodies = Prefetch("custodies", queryset=Custody.objects.select_related("guardian").order_by("pk"))
    while True:
        batch = list(pupils.filter(pk__gt=after_pk)[:batch_size])
        if not batch:
            break
        after_pk = batch[-1].pk
        already = set(
            ProcessInstance.objects.filter(bulk_start=bulk, pupil__in=batch).values_list(
                "pupil_id", flat=True
            )
        )
        missing = [pupil for pupil in batch if pupil.pk not in already]
        prefetch_related_objects(missing, custodies)
        for offset in range(0, len(missing), chunk_size):
            for error in _start_chunk(bulk, missing[offset : offset + chunk_size], subject):
                failed, last_error = failed + 1, error
        lease, held = _progress_save(bulk, lease, failed=failed, last_error=last_error)
        if not held:
            return BulkStart.objects.get(pk=bulk.pk)  # resumed elsewhere: that run goes on
        if time_budget is not None and monotonic() - began >= time_budget:
            handed_back = BulkStart.objects.filter(pk=bulk.pk, updated_at=lease).update(
                status=BulkStart.Status.PENDING, updated_at=timezone.now()
            )
            if handed_back:
                _enqueue(bulk.pk, batch_size=batch_size)
            return BulkStart.objects.get(pk=bulk.pk)
    started = ProcessInstance.objects.filter(bulk_start=bulk).count()
    nothing_started = started == 0 and failed > 0
    BulkStart.objects.filter(pk=bulk.pk, updated_at=lease).update(
        status=BulkStart.Status.FAILED if nothing_started else BulkStart.Status.COMPLETED,
        started_count=started,
        failed_count=failed,
        last_error=last_error,
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    return BulkStart.objects.get(pk=bulk.pk)


def _progress_save(
    bulk: BulkStart, lease: datetime, *, failed: int, last_error: str
) -> tuple[datetime, bool]:
    """Write the progress if this run still holds the lease; returns the renewed lease and whether
    it was held. `started_count` is counted, not added up, so overlapping or resumed runs never
    count a case twice."""
    renewed = max(timezone.now(), lease + timedelta(microseconds=1))
    held = BulkStart.objects.filter(pk=bulk.pk, status=BulkStart.Status.RUNNING, updated_at=lease).update(
        started_count=ProcessInstance.objects.filter(bulk_start=bulk).count(),
        failed_count=failed,
        last_error=last_error,
        updated_at=renewed,
    )
    return renewed, bool(held)


def case_start_for_pupil(*, user: Any, key: str, pupil: Pupil) -> ProcessInstance:
    """Start one case of process `key` for a pupil, by a member of staff holding any role at the pupil's
    school unit, on the version the unit runs (an active pilot's, else the current published one).

    Raises PermissionDenied `case_start_not_allowed`, ApplicationError `no_published_version` (404),
    and whatever process_instance_start raises (`engine_error`).
    """
    if not units_for_user(user).filter(pk=pupil.unit_id).exists():
        raise PermissionDenied(
            "case_start_not_allowed", _("You may only start cases for pupils at your own school units.")
        )
    version = process_version_for_unit(key, pupil.unit)
    return process_instance_start(
        version=version, unit=pupil.unit, initiator=user, pupil=pupil, data=pupil_start_data(pupil)
    )
