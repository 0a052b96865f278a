"""The platform's task completion and case start vs the raw engine, measured in one run.

Run from the repository root: .venv/bin/python bench/platform_ratio.py [--db sqlite|postgres]
SQLite: a throwaway file under var/. PostgreSQL: the database named in DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/skolflode_bench), created through the `postgres` maintenance database
and dropped at the end; an existing database of that name is refused, never reused or dropped.
Prints medians and p95 of single calls and their ratio to raw SpiffWorkflow's load + complete + run +
save of the same step: the service call `user_task_complete`, and the same completion through the whole
HTTP stack (`POST /api/tasks/<id>/complete/` with a token: middleware, DRF authentication, throttling and
serializers, the permission-checked load, form validation, engine, save, projections and audit), which
is what docs/PERFORMANCE.md sets a target for. Not a test: no assertions. --profile adds each
completion's statements one by one and a cProfile of the completions.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import logging
import os
import pstats
import statistics
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(BENCH)]

import figures  # noqa: E402

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/skolflode_bench"
TARGET_RATIO = 5.0  # issue "Engine runtime": completion through the platform ≤ 5x raw, on SQLite
PG_MEDIAN_MS, PG_P95_MS = 10.0, 25.0  # docs/PERFORMANCE.md: a completion through the HTTP API on PostgreSQL
ITERATIONS = 200
WARMUP = 20
PROFILE_TOP = 25


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--iterations", type=int, default=ITERATIONS)
    parser.add_argument("--warmup", type=int, default=WARMUP)
    parser.add_argument("--profile", action="store_true", help="cProfile the completions, print top costs")
    parser.add_argument(
        "--skip-unreachable",
        action="store_true",
        help="print a note and exit 0 when the PostgreSQL server does not answer (used by bench/run)",
    )
    return parser.parse_args()


# --- The throwaway database -------------------------------------------------------------------------


@contextlib.contextmanager
def sqlite_database() -> Iterator[str]:
    (ROOT / "var").mkdir(exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="bench-", suffix=".sqlite3", dir=ROOT / "var")
    os.close(handle)
    try:
        yield f"sqlite:///{name}"
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(name + suffix).unlink(missing_ok=True)


def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else DEFAULT_PG_URL


def maintenance_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))


@contextlib.contextmanager
def postgres_database(url: str) -> Iterator[str]:
    import psycopg
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(maintenance_url(url), autocommit=True, connect_timeout=5) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            sys.exit(
                f"The database {name!r} exists already; the bench creates and drops its own. Drop it first."
            )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url
    finally:
        with psycopg.connect(maintenance_url(url), autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def postgres_reachable(url: str) -> str | None:
    import psycopg

    try:
        psycopg.connect(maintenance_url(url), connect_timeout=5).close()
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


# --- Timing -----------------------------------------------------------------------------------------


def interleaved(fns: list[Callable[[], Any]], rounds: int, warmup: int) -> list[list[float]]:
    """Call each function once per round, in turn; ms per call, the first `warmup` rounds dropped."""
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for fn, own in zip(fns, samples, strict=True):
            started = time.perf_counter()
            fn()
            own.append((time.perf_counter() - started) * 1000)
    return [own[warmup:] for own in samples]


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


# --- The benchmark ----------------------------------------------------------------------------------


def run(iterations: int, warmup: int, profile: bool) -> None:
    import django

    django.setup()
    logging.getLogger("spiff").setLevel(logging.WARNING)

    import engine_ratio as er
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    from organisation.models import Role
    from organisation.tests.factories import (
        CustodyFactory,
        MembershipFactory,
        PupilFactory,
        SchoolUnitFactory,
        UserFactory,
    )
    from processes.engine import workflow_load, workflow_start
    from processes.services.instances import process_instance_start
    from processes.tests.factories import published_support_version
    from tasks.models import UserTask
    from tasks.services.user_tasks import user_task_complete

    call_command("migrate", verbosity=0)
    unit = SchoolUnitFactory(name="Ekbackeskolan")
    pupil = PupilFactory(unit=unit, first_name="Alva")
    sara = CustodyFactory(pupil=pupil, guardian__user=UserFactory(username="sara")).guardian.user
    MembershipFactory(user=UserFactory(username="rut"), unit=unit, role=Role.PRINCIPAL)
    version = published_support_version()
    apply_data = er.FORM_DATA["apply"]

    # (a) The raw engine on the same fixture and step: the stock serializer (spec embedded), state at
    # the guardian's `apply` task, completed with the same form data the platform gets.
    def raw_started() -> BpmnWorkflow:
        wf = BpmnWorkflow(er.SPEC, er.SUBS)
        wf.get_next_task(state=TaskState.READY).set_data(case_id="C1")
        wf.do_engine_steps()
        return wf

    raw_apply_state = er.STOCK.serialize_json(raw_started())
    adapter_apply_state = json.dumps(workflow_start(er.BUNDLE, {"case_id": "C1"}).dump_state())

    def raw_apply_cycle() -> str:
        wf = er.STOCK.deserialize_json(raw_apply_state)
        er.raw_complete_next(wf)
        return str(er.STOCK.serialize_json(wf))

    def adapter_apply_cycle() -> str:
        wf = workflow_load(er.BUNDLE, json.loads(adapter_apply_state))
        er.adapter_complete_next(wf)
        return json.dumps(wf.dump_state())

    def raw_start_and_save() -> str:
        return str(er.STOCK.serialize_json(raw_started()))

    # (c) Start cases, then (b) complete `apply` on them: all started before any completion is timed.
    # Each platform call is interleaved with the raw calls it is compared to, so that both see the
    # same machine (other processes, CPU frequency) and the ratio stays steady where absolute ms drift.
    case_number = iter(range(1_000_000))

    def start() -> Any:
        return process_instance_start(
            version=version, unit=unit, pupil=pupil, data={"case_id": f"C-{next(case_number)}"}
        )

    def complete(task_id: int) -> Any:
        return user_task_complete(task_id=task_id, user=sara, data=apply_data)

    # The API as an integration calls it: a token, JSON, the host the settings allow; the test client
    # runs the request through the same handler, middleware and URL resolver as the WSGI server.
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=sara).key}", HTTP_HOST="localhost")
    body = json.dumps({"data": apply_data})

    def api_complete(task_id: int) -> Any:
        response = client.post(f"/api/tasks/{task_id}/complete/", body, content_type="application/json")
        if response.status_code != 200:
            raise RuntimeError(f"the API answered {response.status_code}: {response.content[:300]!r}")
        return response

    def apply_tasks(cases: list[Any]) -> Iterator[int]:
        pks = UserTask.objects.filter(instance__in=cases, element_id="apply").order_by("pk")
        return iter(pks.values_list("pk", flat=True))

    cases: list[Any] = []
    raw_start, starts = interleaved(
        [raw_start_and_save, lambda: cases.append(start())], iterations + warmup, warmup
    )
    with CaptureQueriesContext(connection) as start_queries:
        counted_case = start()
    tasks = apply_tasks(cases)
    api_tasks = apply_tasks([start() for _ in range(iterations + warmup)])
    raw, raw_decide, adapter, completions, api_completions = interleaved(
        [
            raw_apply_cycle,
            er.raw_cycle,
            adapter_apply_cycle,
            lambda: complete(next(tasks)),
            lambda: api_complete(next(api_tasks)),
        ],
        iterations + warmup,
        warmup,
    )
    counted_task = UserTask.objects.get(instance=counted_case, element_id="apply").pk
    with CaptureQueriesContext(connection) as complete_queries:
        complete(counted_task)
    counted_api_task = next(apply_tasks([start()]))
    with CaptureQueriesContext(connection) as api_queries:
        api_complete(counted_api_task)
    counted_case.refresh_from_db()
    # As the column stores it (common.fields.OrderedJSONField: compact separators, UTF-8).
    state_after_start, state_after_apply = (
        len(json.dumps(case.state, separators=(",", ":"), ensure_ascii=False).encode()) / 1024
        for case in (cases[-1], counted_case)
    )

    raw_median = statistics.median(raw)
    rows = [
        ("raw engine: load + complete apply + run + save (stock serializer)", raw),
        ("raw engine: the same for decide (engine_ratio.raw_cycle)", raw_decide),
        ("engine adapter: load + complete apply + run + save (in memory)", adapter),
        ("raw engine: start -> apply ready + save", raw_start),
        ("platform: user_task_complete(apply)", completions),
        ("platform: POST /api/tasks/<id>/complete/ (token, full stack)", api_completions),
        ("platform: process_instance_start -> apply ready", starts),
    ]
    vendor = connection.vendor
    print(f"Skolflöde platform vs raw SpiffWorkflow on {vendor}: {len(completions)} calls each, ms per call")
    print(f"{'operation':<68}{'median':>9}{'p95':>9}{'ratio':>9}  (median / first row's median)")
    for label, samples in rows:
        median = statistics.median(samples)
        print(f"{label:<68}{median:>9.3f}{p95(samples):>9.3f}{median / raw_median:>8.2f}x")
    ratio = statistics.median(completions) / raw_median
    verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
    where = "" if vendor == "sqlite" else " (the target is set for SQLite)"
    print(f"target: completion ≤ {TARGET_RATIO:g}x raw on SQLite: {ratio:.2f}x {verdict}{where}")
    service_median = statistics.median(completions)
    figures.record(
        "task completion, service call (median)",
        f"{service_median:.1f} ms",
        f"≤ {TARGET_RATIO:g}x raw (set for SQLite)" if vendor == "sqlite" else "none on PostgreSQL",
        ratio <= TARGET_RATIO if vendor == "sqlite" else None,
        ratio=f"{ratio:.2f}x raw",
        database=vendor,
    )
    median, tail = statistics.median(api_completions), p95(api_completions)
    verdict = "PASS" if median <= PG_MEDIAN_MS and tail <= PG_P95_MS else "MISS"
    where = "" if vendor == "postgresql" else " (the target is set for PostgreSQL)"
    figures.record(
        "task completion through the API, median / p95",
        f"{median:.1f} / {tail:.1f} ms",
        f"≤ {PG_MEDIAN_MS:g} / {PG_P95_MS:g} ms (set for PostgreSQL)",
        median <= PG_MEDIAN_MS and tail <= PG_P95_MS if vendor == "postgresql" else None,
        ratio=f"{median / raw_median:.2f}x raw",
        database=vendor,
    )
    print(
        f"target: docs/PERFORMANCE.md, task completion through the API ≤ {PG_MEDIAN_MS:g} ms median, "
        f"≤ {PG_P95_MS:g} ms p95: {median:.1f} / {tail:.1f} ms, {median / raw_median:.2f}x raw "
        f"{verdict}{where}"
    )
    print(
        f"queries: {len(complete_queries.captured_queries)} per completion "
        f"({len(api_queries.captured_queries)} through the API), "
        f"{len(start_queries.captured_queries)} per start"
    )
    kb = {
        "platform, as stored": (state_after_start, state_after_apply),
        "raw, spec embedded": (len(raw_apply_state) / 1024, len(er.RAW_STATE) / 1024),
    }
    print(
        "state per instance, kB at apply / at decide: "
        + "; ".join(f"{k} {a:.1f} / {d:.1f}" for k, (a, d) in kb.items())
    )

    if profile:
        profile_completions(
            "user_task_complete", list(apply_tasks([start() for _ in range(iterations + 1)])), complete
        )
        profile_completions(
            "the API", list(apply_tasks([start() for _ in range(iterations + 1)])), api_complete
        )


def profile_completions(label: str, tasks: list[int], complete: Callable[[int], Any]) -> None:
    from django.db import connection

    timings: list[tuple[float, str]] = []

    def timed_query(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append(((time.perf_counter() - started) * 1000, " ".join(sql.split())))

    started = time.perf_counter()
    with connection.execute_wrapper(timed_query):
        complete(tasks.pop())
    total = (time.perf_counter() - started) * 1000
    in_queries = sum(ms for ms, _sql in timings)
    print(
        f"\nOne completion through {label}: {total:.2f} ms, of which {in_queries:.2f} ms in "
        f"{len(timings)} statements"
    )
    for ms, sql in timings:
        print(f"  {ms:6.3f} ms  {sql[:120]}")
    profiler = cProfile.Profile()
    profiler.enable()
    for task_id in tasks:
        complete(task_id)
    profiler.disable()
    project = f"^{ROOT}/(?!\\.venv/)(?!bench/)"
    for title, order, restriction in (
        ("project functions by cumulative time", "cumulative", project),
        ("all functions by own time", "tottime", ""),
    ):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats(order)
        stats.print_stats(restriction, PROFILE_TOP)
        text = out.getvalue().replace(f"{ROOT}/", "").replace(sysconfig.get_path("stdlib") + "/", "")
        table = text[text.index("   ncalls") :].rstrip()
        print(f"\ncProfile of {len(tasks)} completions through {label}, {title} (s over all):\n{table}")


def settle_after_seeding() -> None:
    """Statistics for the planner, and on PostgreSQL a VACUUM too: freshly bulk-inserted rows otherwise
    wake autovacuum (insert threshold) in the middle of the measurements, on the same 2 cores."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)" if connection.vendor == "postgresql" else "ANALYZE")


def run_on_a_throwaway_database(
    label: str, db: str, postgres: str, skip_unreachable: bool, body: Callable[[], None]
) -> None:
    """Run `body` on the bench's own database — a temporary SQLite file, or the PostgreSQL database at
    `postgres`, created here and dropped afterwards — with Django's test settings pointing at it."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    if db == "postgres":
        problem = postgres_reachable(postgres)
        if problem:
            message = f"{label} on PostgreSQL: {maintenance_url(postgres)} does not answer ({problem})"
            if skip_unreachable:
                print(f"{message}; skipped")
                return
            sys.exit(message)
        database = postgres_database(postgres)
    else:
        database = sqlite_database()
    with database as url:
        os.environ["DATABASE_URL"] = url
        try:
            body()
        finally:
            from django.db import connections

            connections.close_all()


def main() -> None:
    args = parse_args()
    run_on_a_throwaway_database(
        "platform_ratio",
        args.db,
        postgres_url(),
        args.skip_unreachable,
        lambda: run(args.iterations, args.warmup, args.profile),
    )


if __name__ == "__main__":
    main()
