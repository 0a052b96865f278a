"""The load test: staff and guardians working through the API of a whole deployment, at two or more worker
counts, and afterwards a check that nothing was lost or applied twice (issue "Reliability and performance
at municipal scale").

Run from the repository root: .venv/bin/python bench/load_test.py [--db postgres] [--quick]
[--configs 2x1,4x2] [--seconds 60] [--users 24]. PostgreSQL and Redis only (--db sqlite prints a note
and exits 0: gunicorn workers and Celery workers need a database server). For each configuration
("WxC": W gunicorn workers, C Celery worker processes; beat always runs):
1. bench/stack.py starts the deployment on loopback against a database of its own, the DATABASE_URL name
   with "_load" appended (default skolflode_bench_load; created, migrated and dropped at the end, an
   existing one refused), and Redis database 7 (BENCH_LOAD_BROKER_URL), flushed before and after;
2. `manage.py load_test_seed` creates staff and guardians with API tokens and running cases
   (processes/services/load_test_data.py), and a principal bulk-starts school start at one more unit, so
   the Celery workers start cases while the web workers serve (beat's timer pass every 10 s, not 30);
3. Locust (bench/locustfile.py) runs headless on loopback for --seconds (15 with --quick), at most
   --max-completions completed tasks;
4. the stack stops, then `manage.py check_consistency --json` (every case, task and audit event agrees,
   the audit chain verifies) and this script's own counts: every completion Locust saw is one new
   completed task and one new task.completed event, no double submit went through twice, every case
   seeded or bulk-started exists once, none stopped on an error.
Prints one row per configuration: requests, req/s, completed tasks/s, median and p95 ms, error rate, and
whether the checks passed; then the checks and the latency per request kind. Logs: var/load/<WxC>/.
The machine's load average is printed with each row: other jobs on the machine change the figures.
--skip-unreachable: exit 0 with a note when PostgreSQL or Redis does not answer (bench/run).
Not a test: the checks print, they do not assert; the exit code is 1 when a check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(BENCH)]

import figures  # noqa: E402
import platform_ratio as pr  # noqa: E402  (the throwaway databases, shared with that bench)
import stack as st  # noqa: E402
from bulk_start import services_answer  # noqa: E402

DEFAULT_BROKER = st.DEFAULT_BROKER_URL
DEFAULT_CONFIGS = "2x1,4x2"  # the issue asks for two Celery workers plus beat in one of them
# Beat's timer pass, shorter than production's 30 s so that a run of a minute sees several passes.
TIMER_INTERVAL_S = 10


@dataclass(frozen=True)
class Size:
    seconds: float
    users: int
    staff_users: int
    max_completions: int
    pupils_per_unit: int
    staff_cases_per_unit: int
    bulk_pupils: int


FULL = Size(
    seconds=60,
    users=24,
    staff_users=8,
    max_completions=20_000,
    pupils_per_unit=300,
    staff_cases_per_unit=150,
    bulk_pupils=1000,
)
QUICK = Size(
    seconds=15,
    users=16,
    staff_users=6,
    max_completions=3_000,
    pupils_per_unit=60,
    staff_cases_per_unit=40,
    bulk_pupils=200,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--quick", action="store_true", help="15 s per configuration and less data")
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="WxC,…: gunicorn workers x Celery workers")
    parser.add_argument("--seconds", type=float, help="Locust run time per configuration")
    parser.add_argument("--users", type=int, help="simulated people at once (Locust -u)")
    parser.add_argument("--staff-users", type=int, help="how many of them are staff; the rest are guardians")
    parser.add_argument("--spawn-rate", type=float, default=8.0, help="users started per second (Locust -r)")
    parser.add_argument("--wait", default="0.1,0.5", help="min,max seconds a user waits between tasks")
    parser.add_argument("--max-completions", type=int, help="stop after this many completed tasks")
    parser.add_argument(
        "--skip-unreachable", action="store_true", help="exit 0 when a server does not answer"
    )
    args, _unknown = parser.parse_known_args(argv)  # bench/run passes --iterations, --profile …
    size = QUICK if args.quick else FULL
    args.size = Size(
        seconds=args.seconds or size.seconds,
        users=args.users or size.users,
        staff_users=args.staff_users if args.staff_users is not None else size.staff_users,
        max_completions=args.max_completions or size.max_completions,
        pupils_per_unit=size.pupils_per_unit,
        staff_cases_per_unit=size.staff_cases_per_unit,
        bulk_pupils=size.bulk_pupils,
    )
    args.configurations = [tuple(int(n) for n in part.split("x")) for part in args.configs.split(",")]
    return args


def load_postgres_url() -> str:
    parts = urlsplit(pr.postgres_url())
    return urlunsplit((parts.scheme, parts.netloc, "/" + parts.path.lstrip("/") + "_load", parts.query, ""))


# --- Counting, in this process, on the stack's database -----------------------------------------------


def django_ready(env: dict[str, str]) -> None:
    """Set Django up once, on the stack's settings; every configuration's database has the same name."""
    import django
    from django.conf import settings

    if not settings.configured:
        os.environ.update(
            {k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL")}
        )
        os.environ.update({k: env[k] for k in ("DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "CACHE_URL")})
        django.setup()


def counts() -> dict[str, int]:
    from audit.models import AuditEvent, Verb
    from processes.models import ProcessInstance
    from tasks.models import UserTask

    return {
        "cases": ProcessInstance.objects.count(),
        "cases_in_error": ProcessInstance.objects.filter(status=ProcessInstance.Status.ERROR).count(),
        "completed_tasks": UserTask.objects.filter(status=UserTask.Status.COMPLETED).count(),
        "completed_events": AuditEvent.objects.filter(verb=Verb.TASK_COMPLETED).count(),
    }


def bulk_start_begin(unit_code: str, principal: str) -> int:
    """The principal of the bulk unit starts school start for all its pupils: a job for the workers."""
    from django.contrib.auth import get_user_model

    from organisation.models import SchoolUnit
    from processes.services.bulk_starts import bulk_start_request
    from processes.services.pilots import process_version_for_unit

    unit = SchoolUnit.objects.get(code=unit_code)
    user = get_user_model().objects.get(username=principal)
    bulk = bulk_start_request(
        version=process_version_for_unit("school_start", unit), unit=unit, requested_by=user
    )
    return int(bulk.pk)


def bulk_start_wait(bulk_id: int, timeout: float) -> Any:
    from processes.models import BulkStart

    deadline = time.monotonic() + timeout
    while True:
        bulk = BulkStart.objects.get(pk=bulk_id)
        finished = bulk.status in (BulkStart.Status.COMPLETED, BulkStart.Status.FAILED)
        if finished or time.monotonic() > deadline:
            return bulk
        time.sleep(0.5)


def bulk_cases_twice(bulk_id: int) -> int:
    from django.db.models import Count

    from processes.models import ProcessInstance

    per_pupil = (
        ProcessInstance.objects.filter(bulk_start_id=bulk_id).values("pupil_id").annotate(n=Count("pk"))
    )
    return per_pupil.filter(n__gt=1).count()


# --- One configuration ----------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    summary: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, tuple[bool, str]] = field(default_factory=dict)
    load_average: tuple[float, float, float] = (0.0, 0.0, 0.0)
    seeded: str = ""
    start_s: float = 0.0
    seed_s: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(ok for ok, _detail in self.checks.values())


def locust_run(stack: st.Stack, args: argparse.Namespace, credentials: Path, summary: Path) -> None:
    size = args.size
    env = dict(
        os.environ,
        LOAD_CREDENTIALS=str(credentials),
        LOAD_SUMMARY=str(summary),
        LOAD_MAX_COMPLETIONS=str(size.max_completions),
        LOAD_STAFF_USERS=str(size.staff_users),
        LOAD_WAIT=args.wait,
    )
    with open(stack.config.log_dir / "locust.log", "wb") as log:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(BENCH / "locustfile.py"),
                "--headless",
                "--host",
                stack.base_url,
                "--users",
                str(size.users),
                "--spawn-rate",
                str(args.spawn_rate),
                "--run-time",
                f"{size.seconds:g}s",
                # A user stopped mid-task finishes it: a completion the server made is one Locust saw.
                "--stop-timeout",
                "30",
                "--only-summary",
                "--exit-code-on-error",
                "0",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=size.seconds + 120,
        )


def run_configuration(
    web: int, celery: int, args: argparse.Namespace, database_url: str, broker: str
) -> Result:
    label = f"{web}x{celery}"
    config = st.StackConfig(
        database_url=database_url,
        broker_url=broker,
        web_workers=web,
        celery_workers=celery,
        log_dir=ROOT / "var" / "load" / label,
        extra_env={"TIMER_PASS_SECONDS": str(TIMER_INTERVAL_S)},
    )
    result = Result(label=f"gunicorn {web} + celery {celery} + beat")
    credentials, summary_path = config.log_dir / "credentials.json", config.log_dir / "locust-summary.json"
    summary_path.unlink(missing_ok=True)
    size = args.size
    started = time.monotonic()
    with st.local_stack(config) as stack:
        result.start_s = time.monotonic() - started
        seeded = stack.manage(
            "load_test_seed",
            "--out",
            str(credentials),
            "--pupils-per-unit",
            str(size.pupils_per_unit),
            "--staff-cases-per-unit",
            str(size.staff_cases_per_unit),
            "--bulk-pupils",
            str(size.bulk_pupils),
        )
        result.seed_s = time.monotonic() - started - result.start_s
        result.seeded = seeded.stdout.strip()
        seed = json.loads(credentials.read_text(encoding="utf-8"))
        django_ready(stack.env)
        from django.db import connections

        try:
            before = counts()
            bulk_id = bulk_start_begin(seed["bulk_unit"], seed["bulk_principal"])
            locust_run(stack, args, credentials, summary_path)
            result.load_average = os.getloadavg()
            bulk = bulk_start_wait(bulk_id, timeout=120)
            stack.stop()  # nothing changes from here on: the counts and the check see the final state
            after = counts()
            twice = bulk_cases_twice(bulk_id)
            consistency = stack.manage("check_consistency", "--json", check=False, timeout=900)
        finally:
            connections.close_all()
    result.summary = json.loads(summary_path.read_text(encoding="utf-8"))
    tally = result.summary["tally"]
    seen = tally["completions"]
    new_events = after["completed_events"] - before["completed_events"]
    new_completed = after["completed_tasks"] - before["completed_tasks"]
    expected_cases = seed["cases"] + bulk.started_count
    try:
        report = json.loads(consistency.stdout)
    except ValueError:
        report = {"ok": False, "problem_counts": {"check_consistency did not answer": consistency.returncode}}
    problem_counts = report.get("problem_counts", {})
    problems = ", ".join(f"{rule}: {n}" for rule, n in problem_counts.items())
    result.checks = {
        "check_consistency: cases, tasks and audit events agree": (
            consistency.returncode == 0 and report.get("ok", False),
            f"{report.get('instances', '?')} cases, {report.get('user_tasks', '?')} tasks, "
            f"{report.get('audit_events', '?')} audit events" + (f"; {problems}" if problems else ""),
        ),
        "the audit chain verifies (part of check_consistency)": (
            "audit_events" in report and "audit_chain_broken" not in problem_counts,
            f"{problem_counts.get('audit_chain_broken', 0)} breaks",
        ),
        "completions Locust saw = new task.completed events": (
            seen == new_events,
            f"{seen} = {new_events}",
        ),
        "completions Locust saw = newly completed tasks": (
            seen == new_completed,
            f"{seen} = {new_completed}",
        ),
        "no double submit completed a task twice": (
            tally["double_both_accepted"] == 0,
            f"{tally['double_refused']} refused (409), {tally['double_both_accepted']} accepted twice",
        ),
        "cases: seeded + bulk-started, none twice": (
            after["cases"] == expected_cases and twice == 0,
            f"{after['cases']} = {seed['cases']} seeded + {bulk.started_count} bulk-started; "
            f"{twice} pupils with two",
        ),
        "bulk start completed while the load ran": (
            bulk.status == "completed" and bulk.started_count == bulk.total and bulk.failed_count == 0,
            f"{bulk.status}, {bulk.started_count} of {bulk.total} started, {bulk.failed_count} failed",
        ),
        "no case stopped on an error": (after["cases_in_error"] == 0, f"{after['cases_in_error']} in error"),
    }
    return result


# --- Output ---------------------------------------------------------------------------------------------


def print_row_header() -> None:
    print(
        f"\n{'configuration':<34}{'requests':>9}{'req/s':>8}{'tasks/s':>9}{'median':>8}{'p95':>7}"
        f"{'errors':>9}  {'checks':<7}load avg (1/5/15 min)"
    )


def print_row(result: Result) -> None:
    s = result.summary
    seconds = max(s["seconds"], 1e-9)
    error_rate = 100 * s["failures"] / max(s["requests"], 1)
    print(
        f"{result.label:<34}{s['requests']:>9}{s['requests'] / seconds:>8.1f}"
        f"{s['tally']['completions'] / seconds:>9.1f}{s['median_ms']:>6.0f}ms{s['p95_ms']:>5.0f}ms"
        f"{error_rate:>8.2f}%  {'PASS' if result.passed else 'FAIL':<7}"
        + " / ".join(f"{load:.2f}" for load in result.load_average)
    )


def record_figures(result: Result) -> None:
    s = result.summary
    seconds = max(s["seconds"], 1e-9)
    error_rate = 100 * s["failures"] / max(s["requests"], 1)
    failed = [name for name, (ok, _detail) in result.checks.items() if not ok]
    figures.record(
        f"load test {result.label}: throughput, p95",
        f"{s['requests'] / seconds:.0f} req/s, {s['tally']['completions'] / seconds:.1f} tasks/s, "
        f"p95 {s['p95_ms']:.0f} ms",
        "nothing lost or doubled; chain verifies",
        result.passed,
        ratio=f"errors {error_rate:.2f} %",
        database="postgresql + redis",
        note="checks failed: " + ", ".join(failed) if failed else "",
    )


def print_details(result: Result) -> None:
    s = result.summary
    tally = s["tally"]
    print(
        f"\n{result.label}: started and migrated in {result.start_s:.0f} s, seeded in {result.seed_s:.0f} s, "
        f"then {s['seconds']:.0f} s of load. {result.seeded}"
    )
    print(
        f"  {tally['completions']} tasks completed, {tally['invalid_refused']} invalid submissions refused "
        f"(422), {tally['double_refused']} double submits refused (409), {tally['claim_conflicts']} claims "
        f"lost to a colleague (409), {tally['guardian_logins']} guardian logins"
    )
    for name, (ok, detail) in result.checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}: {detail}")
    print(f"  {'request':<30}{'count':>8}{'errors':>8}{'median':>9}{'p95':>8}")
    for entry in s["by_name"]:
        print(
            f"  {entry['name']:<30}{entry['requests']:>8}{entry['failures']:>8}"
            f"{entry['median_ms']:>7.0f}ms{entry['p95_ms']:>6.0f}ms"
        )
    for error in s["errors"][:10]:
        print(f"  error: {error['occurrences']}x {error['name']}: {error['error']}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.db != "postgres":
        print(
            "load_test runs on PostgreSQL only (gunicorn and Celery workers need a database server); skipped"
        )
        return
    url = load_postgres_url()
    broker = os.environ.get("BENCH_LOAD_BROKER_URL", DEFAULT_BROKER)
    if not services_answer("load_test", url, broker, args.skip_unreachable):
        return
    size = args.size
    print(
        f"Skolflöde load test on loopback, {os.cpu_count()} cores: {size.users} users "
        f"({size.staff_users} staff), {size.seconds:g} s or {size.max_completions} completions per "
        f"configuration; database {urlsplit(url).path.lstrip('/')}, broker {broker}"
    )
    results = []
    for web, celery in args.configurations:
        result = run_configuration(web, celery, args, url, broker)
        results.append(result)
        print_row_header()
        print_row(result)
        print_details(result)
    print("\nSummary (latency over every request; tasks/s counts completed tasks)")
    print_row_header()
    for result in results:
        print_row(result)
        record_figures(result)
    if not all(result.passed for result in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
