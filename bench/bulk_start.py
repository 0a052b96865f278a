"""Bulk start at scale: one paperless school start for 10,000 pupils, run by a real Celery worker.

Run from the repository root: .venv/bin/python bench/bulk_start.py [--db postgres] [--pupils 10000]
[--quick]. PostgreSQL only (--db sqlite prints a note and exits 0): the database named in DATABASE_URL
with "_bulk" appended (default postgres://postgres@127.0.0.1:5432/skolflode_bench_bulk), created through
the `postgres` maintenance database and dropped at the end; an existing one is refused. The broker is
BENCH_BROKER_URL (default redis://127.0.0.1:6379/5: a Redis database of its own, so no other worker
takes the jobs). Seeds one school unit with --pupils pupils, two guardians with custody each, and its
principal (set-based SQL); deploys and publishes bpmn/school_start through the services; starts
`celery worker --pool=solo` against the database; then times bulk_start_request until the bulk start
is completed, and checks that every pupil got exactly one case. --skip-unreachable: exit 0 with a note
when PostgreSQL or Redis does not answer. Not a test: the checks print, they do not assert.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(BENCH)]

import figures  # noqa: E402
import platform_ratio as pr  # noqa: E402  (the throwaway databases, shared with that bench)

TARGET_S = 30.0  # docs/PERFORMANCE.md: 10,000 paperless-school-start instances started in ≤ 30 s
TARGET_PUPILS = 10_000
DEFAULT_BROKER = "redis://127.0.0.1:6379/5"
WORKER_NAME = f"bench-bulk-{os.getpid()}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--pupils", type=int, default=TARGET_PUPILS)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,000 pupils")
    parser.add_argument(
        "--profile-in-process",
        action="store_true",
        help="run the job in this process instead (no worker, no broker): SQL statements per case by "
        "kind, and a cProfile of the run (use a small --pupils, say 500)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="s to wait for the bulk start")
    parser.add_argument(
        "--skip-unreachable",
        action="store_true",
        help="print a note and exit 0 when PostgreSQL or the broker does not answer (used by bench/run)",
    )
    args, _unknown = parser.parse_known_args(argv)  # bench/run passes --iterations, --profile …
    if args.quick:
        args.pupils = 1_000
    return args


def bulk_postgres_url() -> str:
    parts = urlsplit(pr.postgres_url())
    return urlunsplit((parts.scheme, parts.netloc, "/" + parts.path.lstrip("/") + "_bulk", parts.query, ""))


def broker_problem(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as exc:
        return str(exc)
    return None


def services_answer(label: str, database_url: str, broker_url: str, skip_unreachable: bool) -> bool:
    """True when PostgreSQL and the broker answer. Otherwise say which does not, and exit non-zero
    unless `skip_unreachable` (bench/run passes it: a missing service is a note there, not a failure)."""
    problems = [
        (what, problem)
        for what, problem in (
            (pr.maintenance_url(database_url), pr.postgres_reachable(database_url)),
            (broker_url, broker_problem(broker_url)),
        )
        if problem
    ]
    for what, problem in problems:
        message = f"{label} skipped: {what} does not answer: {problem}"
        if not skip_unreachable:
            sys.exit(message)
        print(message)
    return not problems


# --- Seeding, set-based ----------------------------------------------------------------------------------


def seed(pupils: int) -> tuple[Any, Any, Any]:
    """(unit, its principal, the published school_start version)."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from organisation.models import Membership, Municipality, Role, SchoolUnit
    from processes.services.versions import (
        bundle_files_from_folder,
        process_version_deploy,
        process_version_publish,
    )

    version, _created = process_version_deploy(bundle_files_from_folder(ROOT / "bpmn" / "school_start"))
    version = process_version_publish(version)
    municipality = Municipality.objects.create(code="0120", name="Skärviks kommun")
    unit = SchoolUnit.objects.create(
        municipality=municipality, code="92000001", name="Ekbackeskolan", kind="grundskola"
    )
    principal = get_user_model().objects.create_user(username="rektor", password=None)
    Membership.objects.create(user=principal, unit=unit, role=Role.PRINCIPAL)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO organisation_pupil (personnummer, first_name, last_name, unit_id, grade) "
            "SELECT '2019' || lpad(CAST(g AS TEXT), 8, '0'), 'Elev', 'Nummer ' || CAST(g AS TEXT), %s, 'F' "
            "FROM generate_series(0, %s) AS s(g)",
            [unit.pk, pupils - 1],
        )
        cursor.execute(
            "INSERT INTO organisation_guardian (personnummer, first_name, last_name, email, phone) "
            "SELECT '1985' || lpad(CAST(g AS TEXT), 8, '0'), 'Förälder', 'Nummer ' || CAST(g AS TEXT), "
            "'forald' || CAST(g AS TEXT) || '@example.se', '070' || lpad(CAST(g AS TEXT), 7, '0') "
            "FROM generate_series(0, %s) AS s(g)",
            [2 * pupils - 1],
        )
        # Pupil k (in id order) has guardians 2k and 2k + 1 (in id order), both with custody.
        cursor.execute(
            "INSERT INTO organisation_custody (pupil_id, guardian_id, has_custody) "
            "SELECT p.id, g.id, TRUE FROM "
            "(SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS k FROM organisation_pupil) p JOIN "
            "(SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS k FROM organisation_guardian) g "
            "ON g.k / 2 = p.k"
        )
        cursor.execute("ANALYZE")
    return unit, principal, version


# --- The worker ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def celery_worker(database_url: str, broker_url: str) -> Iterator[subprocess.Popen]:
    """`celery worker --pool=solo` against the bench database and broker, as conftest.start_celery_worker
    starts it; answered a ping before the block runs, stopped (and its log removed) after."""
    from config.celery import app

    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
    )
    handle, log_name = tempfile.mkstemp(prefix="bench-celery-", suffix=".log")
    log = os.fdopen(handle, "w")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"{WORKER_NAME}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    failed = True
    try:
        deadline = time.monotonic() + 30
        while True:
            replies = app.control.ping(timeout=0.5) or []
            if any(node.startswith(f"{WORKER_NAME}@") for reply in replies for node in reply):
                break
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Celery worker did not answer a ping within 30 s")
        yield worker
        failed = False
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()
        text = Path(log_name).read_text(encoding="utf-8", errors="replace")
        Path(log_name).unlink(missing_ok=True)
        if failed or "Traceback" in text:
            print("worker log (last 40 lines):\n" + "\n".join(text.splitlines()[-40:]))


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), 0.0 where that cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- The benchmark ---------------------------------------------------------------------------------------


def run(args: argparse.Namespace, database_url: str, broker_url: str) -> None:
    import django

    django.setup()
    import logging

    logging.getLogger("spiff").setLevel(logging.WARNING)
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count

    from config.celery import app
    from processes.models import BulkStart, ProcessInstance
    from processes.services.bulk_starts import bulk_start_request
    from tasks.models import UserTask

    # config.settings.test runs jobs eagerly; here the worker runs them (set before the app reads its conf).
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert not app.conf.task_always_eager and app.conf.broker_url == broker_url
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    unit, principal, version = seed(args.pupils)
    seconds = time.perf_counter() - started
    print(
        f"Skolflöde bulk start on {connection.vendor}: {args.pupils:,} pupils with 2 guardians each at one "
        f"unit, {version.definition.key} v{version.number} published, in {seconds:.1f} s"
    )
    if args.profile_in_process:
        profile_in_process(args.pupils, unit, principal, version)
        return
    app.control.purge()  # the bench's own broker database: nothing of another run is left to take
    with celery_worker(database_url, broker_url) as worker:
        cpu_before = process_cpu_seconds(worker.pid)
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        bulk = bulk_start_request(version=version, unit=unit, requested_by=principal)
        request_s = time.perf_counter() - started
        deadline = started + args.timeout
        while True:
            bulk.refresh_from_db()
            if bulk.status in (BulkStart.Status.COMPLETED, BulkStart.Status.FAILED):
                break
            if time.perf_counter() > deadline:
                print(f"timed out after {args.timeout:g} s: {bulk.started_count:,} of {bulk.total:,} started")
                break
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        worker_cpu = process_cpu_seconds(worker.pid) - cpu_before
        load_after = os.getloadavg()[0]
    cases = ProcessInstance.objects.filter(bulk_start=bulk)
    per_pupil = cases.values("pupil_id").annotate(n=Count("pk"))
    twice = per_pupil.filter(n__gt=1).count()
    covered = per_pupil.count()
    count = cases.count()
    tasks = UserTask.objects.filter(instance__bulk_start=bulk, status=UserTask.Status.OPEN).count()
    checks = {
        "completed": bulk.status == BulkStart.Status.COMPLETED,
        "one case per pupil": count == covered == args.pupils and twice == 0,
        "none failed": bulk.failed_count == 0,
        "started_count right": bulk.started_count == args.pupils,
    }
    failed = [name for name, ok in checks.items() if not ok]
    rate = count / seconds if seconds else 0.0
    projected = TARGET_PUPILS / rate if rate else float("inf")
    print(
        f"bulk start {bulk.status}: {count:,} cases for {covered:,} pupils ({twice} twice), "
        f"{bulk.failed_count} failed, {tasks:,} open tasks; the request returned in "
        f"{request_s * 1000:.0f} ms and the worker did the rest; checks "
        + ("all passed" if not failed else "FAILED: " + ", ".join(failed))
    )
    print(f"\n{'figure':<52}{'value':>12}  {'target':<22}verdict")
    rows = [
        (f"{args.pupils:,} cases, request → completed", f"{seconds:.1f} s", None),
        ("cases per second (one worker, --pool=solo)", f"{rate:.0f}/s", None),
        ("ms per case", f"{seconds / max(count, 1) * 1000:.1f} ms", None),
        # The machine is shared: the worker's own CPU time shows what the job costs whatever the load.
        ("worker CPU ms per case", f"{worker_cpu / max(count, 1) * 1000:.1f} ms", None),
        ("load average (1 min) before / after", f"{load_before:.1f} / {load_after:.1f}", None),
        (
            f"{TARGET_PUPILS:,} cases"
            + ("" if args.pupils == TARGET_PUPILS else f" (projected from {args.pupils:,})"),
            f"{projected:.1f} s",
            projected <= TARGET_S and not failed,
        ),
    ]
    for label, value, ok in rows:
        target, verdict = ("", "") if ok is None else (f"≤ {TARGET_S:g} s", "PASS" if ok else "MISS")
        print(f"{label:<52}{value:>12}  {target:<22}{verdict}")
    figures.record(
        f"bulk start of {TARGET_PUPILS:,} cases, one real worker",
        f"{projected:.1f} s",
        f"≤ {TARGET_S:g} s",
        projected <= TARGET_S and not failed,
        ratio=f"{seconds / max(count, 1) * 1000:.1f} ms a case",
        database="postgresql" + ("" if args.pupils == TARGET_PUPILS else f", projected from {args.pupils:,}"),
        note=f"worker CPU {worker_cpu / max(count, 1) * 1000:.1f} ms a case; "
        f"load {load_before:.1f} → {load_after:.1f}",
    )


def profile_in_process(pupils: int, unit: Any, principal: Any, version: Any) -> None:
    """The job's own cost, without the broker: bulk_start_run called here twice over the same pupils
    (two bulk starts). The first run counts every statement by its kind (first words) and times it;
    the second runs under cProfile, which slows it down, so only its proportions count."""
    import cProfile
    import io
    import pstats
    import sysconfig
    from collections import Counter, defaultdict

    from django.db import connection

    from processes.models import BulkStart, ProcessInstance
    from processes.services.bulk_starts import bulk_start_run

    counts: Counter[str] = Counter()
    spent: defaultdict[str, float] = defaultdict(float)

    def counted(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        words = sql.split()
        kind = " ".join(words[:3] if words[0] in ("INSERT", "UPDATE", "DELETE") else words[:1])
        if words[0] == "SELECT" and "FROM" in words:
            kind = "SELECT FROM " + words[words.index("FROM") + 1]
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            counts[kind] += 1
            spent[kind] += time.perf_counter() - began

    def one_run() -> tuple[float, float, int]:
        bulk = BulkStart.objects.create(version=version, unit=unit, requested_by=principal, total=pupils)
        began, cpu = time.perf_counter(), time.process_time()
        bulk_start_run(bulk.pk)
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
        return seconds, cpu, ProcessInstance.objects.filter(bulk_start=bulk).count()

    with connection.execute_wrapper(counted):
        seconds, cpu, cases = one_run()
    statements, in_sql, per_case = sum(counts.values()), sum(spent.values()), 1000 / max(cases, 1)
    print(
        f"in-process bulk_start_run: {cases:,} cases in {seconds:.2f} s ({seconds * per_case:.2f} ms a case, "
        f"{cpu * per_case:.2f} ms of this process's CPU), {statements:,} statements "
        f"({statements / max(cases, 1):.2f} a case), {in_sql:.2f} s in cursor.execute (building the "
        "statement and its parameters, and the round trip)"
    )
    print(f"{'statement kind':<58}{'count':>8}{'per case':>10}{'ms total':>10}")
    for kind, count in counts.most_common():
        print(f"{kind[:58]:<58}{count:>8}{count / max(cases, 1):>10.2f}{spent[kind] * 1000:>10.0f}")

    profiler = cProfile.Profile()
    profiler.enable()
    seconds, _cpu, cases = one_run()
    profiler.disable()
    print(f"\nthe same under cProfile: {seconds:.2f} s")
    for title, order, restriction in (
        ("project functions by cumulative time", "cumulative", f"^{ROOT}/(?!\\.venv/)(?!bench/)"),
        ("all functions by own time", "tottime", ""),
    ):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(restriction, 30)
        text = out.getvalue().replace(f"{ROOT}/", "").replace(sysconfig.get_path("stdlib") + "/", "")
        print(f"\ncProfile, {title}:\n" + text[text.index("   ncalls") :].rstrip())


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.db != "postgres":
        print("bulk_start runs on PostgreSQL only (the target is set for it); skipped on SQLite")
        return
    url = bulk_postgres_url()
    broker_url = os.environ.get("BENCH_BROKER_URL", DEFAULT_BROKER)
    if not services_answer("bulk_start", url, broker_url, args.skip_unreachable):
        return
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.test", CELERY_BROKER_URL=broker_url, CELERY_RESULT_BACKEND=""
    )
    with broker_tidied(broker_url), pr.postgres_database(url) as url:
        os.environ["DATABASE_URL"] = url
        try:
            run(args, url, broker_url)
        finally:
            from django.db import connections

            connections.close_all()


@contextlib.contextmanager
def broker_tidied(url: str) -> Iterator[None]:
    """Remove the keys the run added to the broker's Redis database (queue bindings, pidbox replies)."""
    import redis

    client = redis.Redis.from_url(url)
    before = set(client.keys("*"))
    try:
        yield
    finally:
        added = set(client.keys("*")) - before
        if added:
            client.delete(*added)
        client.close()


if __name__ == "__main__":
    main()
