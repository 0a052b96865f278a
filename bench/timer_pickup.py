"""Timer pickup at scale: one timer pass with 1,000 due timers among 100,000 waiting instances.

Run from the repository root: .venv/bin/python bench/timer_pickup.py [--db postgres] [--waiting 100000]
[--due 1000] [--quick]. PostgreSQL only (--db sqlite prints a note and exits 0): the database named in
DATABASE_URL with "_timers" appended (default postgres://postgres@127.0.0.1:5432/skolflode_bench_timers),
created through the `postgres` maintenance database and dropped at the end; an existing one is refused.
A few real cases of the support fixture (principal's deadline "PT1S") are started and brought to the
principal's decision through the services; their instance, user-task and timer rows are then cloned
with INSERT … SELECT, so every clone is a real waiting engine state. Timers of the not-due clones get a
far-future due_at; the due clones keep a past one and, after more than 1 s, are due for the engine too.
Each pass is timers_fire_due() in-process on a fresh set of due clones (median of 3), first with
--waiting instances waiting, then with 10x as many not-due ones. Checks that every due case fired
exactly once and no other case was touched. Not a test: the checks print, they do not assert.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import math
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import figures  # noqa: E402
import platform_ratio as pr  # noqa: E402  (the throwaway databases, shared with that bench)

TARGET_DELAY_S = 60.0  # docs/PERFORMANCE.md: a due timer fires within 60 s of its due time
BEAT_INTERVAL_S = 30.0  # config/settings/base.py: TIMER_PASS_SECONDS default
JOB_SOFT_LIMIT_S = 50.0  # processes.jobs.timers_fire_due_job soft_time_limit
TEMPLATES = 5
PASSES = 3
SCALE = 10


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--waiting", type=int, default=100_000, help="instances waiting on a timer")
    parser.add_argument("--due", type=int, default=1_000, help="of which due, per pass")
    parser.add_argument("--passes", type=int, default=PASSES, help="passes per scale (median reported)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10,000 waiting, 100 due")
    parser.add_argument("--profile", action="store_true", help="print the costliest statements of a pass")
    parser.add_argument(
        "--skip-unreachable",
        action="store_true",
        help="print a note and exit 0 when the PostgreSQL server does not answer (used by bench/run)",
    )
    args, _unknown = parser.parse_known_args(argv)  # bench/run passes --iterations, --profile …
    if args.quick:
        args.waiting, args.due = 10_000, 100
    return args


def timers_postgres_url() -> str:
    parts = urlsplit(pr.postgres_url())
    return urlunsplit((parts.scheme, parts.netloc, "/" + parts.path.lstrip("/") + "_timers", parts.query, ""))


# --- Seeding: real templates, cloned set-based -----------------------------------------------------------


def columns(cursor: Any, table: str, skip: set[str]) -> list[str]:
    cursor.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
        [table],
    )
    return [name for (name,) in cursor.fetchall() if name not in skip]


def templates_make() -> list[Any]:
    """Real cases at the principal's decision, their 1-second boundary timer waiting."""
    from organisation.models import Role
    from organisation.tests.factories import (
        CustodyFactory,
        MembershipFactory,
        PupilFactory,
        SchoolUnitFactory,
        UserFactory,
    )
    from processes.services.instances import process_instance_start
    from processes.tests.factories import published_support_version
    from tasks.services.user_tasks import user_task_complete

    unit = SchoolUnitFactory(name="Ekbackeskolan")
    pupil = PupilFactory(unit=unit, first_name="Alva")
    sara = CustodyFactory(pupil=pupil, guardian__user=UserFactory(username="sara")).guardian.user
    MembershipFactory(user=UserFactory(username="rut"), unit=unit, role=Role.PRINCIPAL)
    version = published_support_version(**{'"P5D"': '"PT1S"'})
    cases = []
    for _ in range(TEMPLATES):
        case = process_instance_start(version=version, unit=unit, pupil=pupil)
        task = case.user_tasks.get(element_id="apply")
        user_task_complete(task_id=task.pk, user=sara, data={"needs": ["a", "b"]})
        assert case.timers.count() == 1, "the template waits on the principal's deadline"
        cases.append(case.pk)
    return cases


def clone(cursor: Any, templates: list[Any], n: int, due_sql: str, tag: str) -> None:
    """n clones of the templates (instance, its user tasks, its timers), subject `tag-g`, timers at
    `due_sql`."""
    instance_cols = columns(cursor, "processes_processinstance", {"id", "subject"})
    task_cols = columns(cursor, "tasks_usertask", {"id", "instance_id"})
    timer_cols = columns(cursor, "processes_waitingtimer", {"id", "instance_id", "due_at"})
    cursor.execute(
        "CREATE TEMPORARY TABLE bench_clone AS SELECT gen_random_uuid() AS new_id, t.id AS template_id, "
        "s.g FROM generate_series(0, %s) AS s(g) JOIN (SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS k "
        "FROM processes_processinstance WHERE id = ANY(%s)) t ON t.k = s.g %% %s",
        [n - 1, templates, len(templates)],
    )
    # Trusted, literal SQL built from the schema's own column names and constants: no outside input.
    plain = ", ".join(instance_cols)
    cursor.execute(
        f"INSERT INTO processes_processinstance (id, subject, {plain}) "  # noqa: S608
        f"SELECT c.new_id, '{tag}-' || c.g, {', '.join('p.' + c for c in instance_cols)} "
        "FROM bench_clone c JOIN processes_processinstance p ON p.id = c.template_id"
    )
    cursor.execute(
        f"INSERT INTO tasks_usertask (instance_id, {', '.join(task_cols)}) "  # noqa: S608
        f"SELECT c.new_id, {', '.join('u.' + c for c in task_cols)} "
        "FROM bench_clone c JOIN tasks_usertask u ON u.instance_id = c.template_id"
    )
    cursor.execute(
        f"INSERT INTO processes_waitingtimer (instance_id, due_at, {', '.join(timer_cols)}) "  # noqa: S608
        f"SELECT c.new_id, {due_sql}, {', '.join('w.' + c for c in timer_cols)} "
        "FROM bench_clone c JOIN processes_waitingtimer w ON w.instance_id = c.template_id"
    )
    cursor.execute("DROP TABLE bench_clone")


FAR = "statement_timestamp() + interval '365 days'"
PAST = "statement_timestamp() - interval '5 seconds'"


def seed_waiting(templates: list[Any], n: int, first: int) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        clone(cursor, templates, n, FAR, f"wait{first}")
    pr.settle_after_seeding()


# --- Measuring ---------------------------------------------------------------------------------------------


def untouched_snapshot() -> tuple[int, int, int]:
    """(running cases, their summed revisions, their timers) of every case not in a due set."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*), COALESCE(SUM(revision), 0), "
            "(SELECT COUNT(*) FROM processes_waitingtimer w JOIN processes_processinstance p "
            "ON p.id = w.instance_id WHERE p.subject NOT LIKE 'due%%') "
            "FROM processes_processinstance WHERE subject NOT LIKE 'due%%' AND status = 'running'"
        )
        return tuple(cursor.fetchone())


@contextlib.contextmanager
def statement_costs(totals: dict[str, list[float]]) -> Iterator[None]:
    """Total ms and count per statement text (numbers and quoted values folded) while the block runs."""
    from django.db import connection

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            entry = totals.setdefault(re.sub(r"'[^']*'|\b\d+\b", "?", " ".join(sql.split())), [0.0, 0])
            entry[0] += (time.perf_counter() - started) * 1000
            entry[1] += 1

    with connection.execute_wrapper(wrapper):
        yield


def one_pass(templates: list[Any], due: int, label: str, profile: bool = False) -> dict[str, Any]:
    """Clone `due` cases with a past due_at, then time one timers_fire_due over them; check the result."""
    from django.db import connection, transaction
    from django.utils import timezone

    from audit.models import AuditEvent, Verb
    from processes.models import ProcessInstance, WaitingTimer
    from processes.services.instances import timers_fire_due

    with transaction.atomic(), connection.cursor() as cursor:
        clone(cursor, templates, due, PAST, label)
    before = untouched_snapshot()
    now = timezone.now()
    started = time.perf_counter()
    selected = list(
        WaitingTimer.objects.filter(due_at__lte=now, instance__status=ProcessInstance.Status.RUNNING)
        .order_by("due_at")
        .values_list("instance_id", flat=True)[:due]
    )
    select_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    costs: dict[str, list[float]] = {}
    with statement_costs(costs) if profile else contextlib.nullcontext():
        fired = timers_fire_due(now=now, limit=due)
    seconds = time.perf_counter() - started
    cases = ProcessInstance.objects.filter(subject__startswith=f"{label}-")
    events = AuditEvent.objects.filter(verb=Verb.TIMER_FIRED, instance_id__in=cases.values("pk"))
    per_case = list(events.values_list("instance_id", flat=True))
    checks = {
        "fired": fired == due and len(selected) == due,
        "each due case once": len(per_case) == len(set(per_case)) == due,
        "due cases completed": cases.filter(status=ProcessInstance.Status.COMPLETED).count() == due,
        "their timers gone": not WaitingTimer.objects.filter(instance__in=cases).exists(),
        "nothing else touched": untouched_snapshot() == before,
    }
    if profile:
        in_sql = sum(ms for ms, _n in costs.values())
        print(f"\n{label}: {seconds * 1000:.0f} ms, of which {in_sql:.0f} ms in SQL; costliest statements:")
        for sql, (ms, n) in sorted(costs.items(), key=lambda item: -item[1][0])[:8]:
            print(f"  {ms:8.1f} ms {n:>6}x  {sql[:130]}")
    return {"seconds": seconds, "select_ms": select_ms, "fired": fired, "checks": checks}


def measure(templates: list[Any], args: argparse.Namespace, first: int) -> list[dict[str, Any]]:
    return [
        one_pass(templates, args.due, f"due{first + i}", args.profile and i == args.passes - 1)
        for i in range(args.passes)
    ]


def run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    import logging

    logging.getLogger("spiff").setLevel(logging.WARNING)
    from django.core.management import call_command
    from django.db import connection

    from processes.models import ProcessInstance, WaitingTimer

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    templates = templates_make()
    WaitingTimer.objects.filter(instance_id__in=templates).update(
        due_at=WaitingTimer.objects.first().due_at.replace(year=2100)
    )  # the templates wait too, but are never due for the pass
    seed_waiting(templates, args.waiting - len(templates), 0)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        size = cursor.fetchone()[0]
    print(
        f"Skolflöde timer pickup on {connection.vendor}: {args.waiting:,} cases waiting on a timer seeded in "
        f"{seconds:.1f} s ({TEMPLATES} real cases cloned, {size})"
    )
    time.sleep(1.2)  # the clones' engine deadline ("PT1S" after the templates' start) has passed
    scales = [(args.waiting, measure(templates, args, 0))]
    started = time.perf_counter()
    seed_waiting(templates, args.waiting * (SCALE - 1), 1)
    seconds = time.perf_counter() - started
    running = ProcessInstance.objects.filter(status=ProcessInstance.Status.RUNNING).count()
    print(f"then {args.waiting * (SCALE - 1):,} more not-due cases in {seconds:.1f} s: {running:,} waiting")
    scales.append((running, measure(templates, args, args.passes)))
    report(args, scales)


def report(args: argparse.Namespace, scales: list[tuple[int, list[dict[str, Any]]]]) -> None:
    title = f"timers_fire_due(limit={args.due}) in-process, {args.due:,} due per pass"
    print(f"\n{title}, median of {args.passes}")
    print(f"{'waiting cases':>14}{'s / pass':>10}{'ms / timer':>12}{'select ms':>11}  checks")
    medians = []
    for waiting, passes in scales:
        median = statistics.median(p["seconds"] for p in passes)
        select = statistics.median(p["select_ms"] for p in passes)
        medians.append(median)
        failed = [name for p in passes for name, ok in p["checks"].items() if not ok]
        checks = "all passed" if not failed else "FAILED: " + ", ".join(sorted(set(failed)))
        print(f"{waiting:>14,}{median:>10.2f}{median / args.due * 1000:>12.2f}{select:>11.2f}  {checks}")
    pass_s = medians[0]
    growth = medians[1] / medians[0]
    job_limit = _job_limit()
    per_job_pass = pass_s * min(job_limit, args.due) / args.due
    job_passes = math.ceil(args.due / job_limit)
    worst = BEAT_INTERVAL_S + pass_s
    backlog = job_passes * BEAT_INTERVAL_S + per_job_pass
    rows = [
        (f"pass cost, {SCALE}x waiting vs 1x", f"{growth:.2f}x", "≈ 1x (due, not waiting)", growth <= 1.5),
        (
            f"worst delay, beat {BEAT_INTERVAL_S:g} s + pass of {args.due:,}",
            f"{worst:.1f} s",
            f"≤ {TARGET_DELAY_S:g} s",
            worst <= TARGET_DELAY_S,
        ),
        (
            f"the same through the job (limit {job_limit}: {job_passes} pass(es))",
            f"{backlog:.1f} s",
            f"≤ {TARGET_DELAY_S:g} s",
            backlog <= TARGET_DELAY_S,
        ),
        (
            f"one job pass of {min(job_limit, args.due)} vs its soft time limit",
            f"{per_job_pass:.1f} s",
            f"≤ {JOB_SOFT_LIMIT_S:g} s",
            per_job_pass <= JOB_SOFT_LIMIT_S,
        ),
    ]
    print(f"\n{'figure':<58}{'value':>10}  {'target':<26}verdict")
    for label, value, target, ok in rows:
        print(f"{label:<58}{value:>10}  {target:<26}{'PASS' if ok else 'MISS'}")
        figures.record(
            f"timers: {label}", value, target, ok, database=f"postgresql, {scales[0][0]:,} waiting"
        )


def _job_limit() -> int:
    """The beat job's default limit per pass, read from the job (Django is set up by then)."""
    from processes.jobs import timers_fire_due_job

    return inspect.signature(timers_fire_due_job).parameters["limit"].default


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.db != "postgres":
        print("timer_pickup runs on PostgreSQL only (the target is set for it); skipped on SQLite")
        return
    pr.run_on_a_throwaway_database(
        "timer_pickup", "postgres", timers_postgres_url(), args.skip_unreachable, lambda: run(args)
    )


if __name__ == "__main__":
    main()
