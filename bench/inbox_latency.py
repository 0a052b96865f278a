"""The staff inbox at scale: p95 latency of one inbox page with 100,000 open and 1,000,000 closed tasks.

Run from the repository root: .venv/bin/python bench/inbox_latency.py [--db postgres|sqlite] [--quick]
SQLite: a throwaway file under var/. PostgreSQL: the database named in DATABASE_URL with "_inbox" appended
(default postgres://postgres@127.0.0.1:5432/skolflode_bench_inbox), created through the `postgres`
maintenance database and dropped at the end; an existing database of that name is refused, never reused.
The data is seeded with set-based SQL (INSERT … SELECT over a number series), not the ORM: 150 school
units, 600 staff with 900 roles, 30,000 pupils with a guardian each, one process version, one case per
open task, the open tasks spread over units and lanes (some claimed) and the completed ones over the
staff who did them. Then, per user and tab, the inbox page's work as tasks.views.inbox does it:
user_task_inbox(page 1) with the rows the template touches, and user_task_inbox_counts. Prints median
and p95 per scenario against the 50 ms target of docs/PERFORMANCE.md, and one end-to-end GET /tasks/.
A scenario stops after 200 calls or --budget seconds (at least 20 calls), so a slow selector cannot
make bench/run take long. --explain prints the slowest statement's plan; --suggested measures again with
the "mine" tab built as suggested_mine() below suggests; --try-indexes then adds the candidate indexes.
Not a test: no assertions.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import figures  # noqa: E402
import platform_ratio as pr  # noqa: E402  (the throwaway databases and p95, shared with that bench)

TARGET_P95_MS = 50.0  # issue "Staff work" and docs/PERFORMANCE.md: the inbox page, p95
ITERATIONS = 200
WARMUP = 20
UNITS = 150
PUPILS = 30_000
PROCESS_KEY = "support_fixture"
# Lanes of the open and completed tasks, per 20 tasks: 8 teacher, 4 principal, 3 student health,
# 3 school administrator, 2 guardian.
LANE_SQL = (
    "CASE WHEN g % 20 < 8 THEN 'teacher' WHEN g % 20 < 12 THEN 'principal' "
    "WHEN g % 20 < 15 THEN 'student_health' WHEN g % 20 < 18 THEN 'school_admin' ELSE 'guardian' END"
)
# Candidate indexes for --try-indexes (name, PostgreSQL/SQLite definition).
CANDIDATE_INDEXES = [
    (
        "usertask_open_queue",
        "CREATE INDEX usertask_open_queue ON tasks_usertask (unit_id, lane, due_at) WHERE status = 'open'",
    ),
    (
        "usertask_open_claimed",
        "CREATE INDEX usertask_open_claimed ON tasks_usertask (claimed_by_id, due_at) WHERE status = 'open'",
    ),
    (
        "usertask_done_by_recent",
        "CREATE INDEX usertask_done_by_recent ON tasks_usertask "
        "(completed_by_id, completed_at DESC, id DESC) WHERE status = 'completed'",
    ),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--open", type=int, default=100_000, help="open tasks (and cases)")
    parser.add_argument("--closed", type=int, default=1_000_000, help="completed tasks")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10,000 open, 100,000 completed")
    parser.add_argument("--iterations", type=int, default=ITERATIONS)
    parser.add_argument("--warmup", type=int, default=WARMUP)
    parser.add_argument(
        "--budget", type=float, default=5.0, help="s per scenario; stops early (≥ 20 calls) when spent"
    )
    parser.add_argument("--explain", action="store_true", help="print the plan of the slowest statement")
    parser.add_argument(
        "--suggested", action="store_true", help="measure again with the mine tab as suggested_mine builds it"
    )
    parser.add_argument(
        "--try-indexes",
        action="store_true",
        help="then again after creating the candidate indexes (implies --suggested)",
    )
    parser.add_argument("--profile", action="store_true", help="accepted for bench/run; same as --explain")
    parser.add_argument(
        "--skip-unreachable",
        action="store_true",
        help="print a note and exit 0 when the PostgreSQL server does not answer (used by bench/run)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.open, args.closed = 10_000, 100_000
    args.explain = args.explain or args.profile
    args.suggested = args.suggested or args.try_indexes
    return args


def inbox_postgres_url() -> str:
    """DATABASE_URL (or the bench default) with "_inbox" appended to its name: its own database, so it
    never collides with platform_ratio.py's."""
    parts = urlsplit(pr.postgres_url())
    name = parts.path.lstrip("/") + "_inbox"
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


# --- Seeding, set-based ------------------------------------------------------------------------------


class Sql:
    """The few expressions that differ between PostgreSQL and SQLite."""

    def __init__(self, vendor: str) -> None:
        self.pg = vendor == "postgresql"

    def series(self, n: int) -> tuple[str, str]:
        """(prefix, FROM item) yielding g = 0 … n-1."""
        if self.pg:
            return "", f"generate_series(0, {n - 1}) AS s(g)"
        return f"WITH RECURSIVE s(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM s WHERE g < {n - 1}) ", "s"  # noqa: S608

    def pad(self, expr: str, width: int) -> str:
        return f"lpad(CAST({expr} AS TEXT), {width}, '0')" if self.pg else f"printf('%0{width}d', {expr})"

    def minutes_ago(self, expr: str) -> str:
        if self.pg:
            return f"(statement_timestamp() - ({expr}) * interval '1 minute')"
        return f"datetime('now', CAST(-({expr}) AS TEXT) || ' minutes')"

    def uuid(self, expr: str) -> str:
        return f"CAST(lpad(to_hex({expr}), 32, '0') AS uuid)" if self.pg else f"printf('%032x', {expr})"

    def now(self) -> str:
        return "statement_timestamp()" if self.pg else "datetime('now')"


def seed(n_open: int, n_closed: int) -> dict[str, Any]:
    from django.db import connection, transaction

    from organisation.models import Municipality
    from processes.tests.factories import published_support_version

    sql = Sql(connection.vendor)
    version = published_support_version()  # deployed through the service once; its id is reused below
    municipality = Municipality.objects.create(code="0120", name="Skärviks kommun")
    pupils = min(PUPILS, n_open)
    pupils -= pupils % UNITS

    def insert(table: str, columns: str, select: str, n: int, source: str = "", tail: str = "") -> None:
        """INSERT … SELECT over g = 0 … n-1; `source` wraps the series as a derived table x."""
        prefix, series = sql.series(n)
        # Trusted, literal SQL built here from constants and integers: no outside input.
        source = f"(SELECT g, {source} FROM {series}) x" if source else series  # noqa: S608
        cursor.execute(f"{prefix}INSERT INTO {table} ({columns}) SELECT {select} FROM {source} {tail}")  # noqa: S608

    def first_id(table: str, expected: int) -> int:
        cursor.execute(f"SELECT MIN(id), MAX(id), COUNT(*) FROM {table}")  # noqa: S608
        low, high, count = cursor.fetchone()
        assert count == expected and high - low + 1 == count, (table, low, high, count)
        return int(low)

    user_cols = (
        "password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        insert(
            "organisation_schoolunit",
            "municipality_id, code, name, kind",
            f"{municipality.pk}, CAST(92000000 + g AS TEXT), 'Skola ' || {sql.pad('g', 3)}, 'grundskola'",
            UNITS,
        )
        unit0 = first_id("organisation_schoolunit", UNITS)
        # rektorN: principal at unit N. larareN: teacher at unit N % 150, and from N = 150 on also at
        # unit (N + 1) % 150. personalN: school administrator at N, student health at (N + 50) % 150.
        for prefix, n in (("rektor", UNITS), ("larare", 2 * UNITS), ("personal", UNITS)):
            insert(
                "auth_user",
                user_cols,
                f"'!', FALSE, '{prefix}' || CAST(g AS TEXT), 'Förnamn', "
                f"'{prefix.title()} ' || CAST(g AS TEXT), '', FALSE, TRUE, {sql.now()}",
                n,
            )
        for prefix, user_of_g, n, role, unit_of_g in (
            ("rektor", "g", UNITS, "principal", "g"),
            ("larare", "g", 2 * UNITS, "teacher", f"g % {UNITS}"),
            ("larare", f"g + {UNITS}", UNITS, "teacher", f"(g + 1) % {UNITS}"),
            ("personal", "g", UNITS, "school_admin", "g"),
            ("personal", "g", UNITS, "student_health", f"(g + 50) % {UNITS}"),
        ):
            insert(
                "organisation_membership",
                "user_id, unit_id, role",
                f"u.id, {unit0} + {unit_of_g}, '{role}'",
                n,
                tail=f"JOIN auth_user u ON u.username = '{prefix}' || CAST({user_of_g} AS TEXT)",
            )
        # Who completes or claims a task: slot k of the people holding the lane's role at the unit.
        cursor.execute(
            "CREATE TEMPORARY TABLE bench_staff AS SELECT unit_id, role AS lane, user_id, "
            "ROW_NUMBER() OVER (PARTITION BY unit_id, role ORDER BY user_id) - 1 AS slot, "
            "COUNT(*) OVER (PARTITION BY unit_id, role) AS n FROM organisation_membership"
        )
        cursor.execute("CREATE INDEX bench_staff_lane ON bench_staff (unit_id, lane, slot)")
        insert(
            "organisation_pupil",
            "personnummer, first_name, last_name, unit_id, grade",
            f"'2016' || {sql.pad('g', 8)}, 'Elev', 'Nummer ' || CAST(g AS TEXT), {unit0} + g % {UNITS}, '3'",
            pupils,
        )
        pupil0 = first_id("organisation_pupil", pupils)
        insert(
            "organisation_guardian",
            "personnummer, first_name, last_name, email, phone",
            f"'1985' || {sql.pad('g', 8)}, 'Förälder', 'Nummer ' || CAST(g AS TEXT), '', ''",
            pupils,
        )
        guardian0 = first_id("organisation_guardian", pupils)
        insert(
            "organisation_custody",
            "pupil_id, guardian_id, has_custody",
            f"{pupil0} + g, {guardian0} + g, TRUE",
            pupils,
        )
        # One case per open task: case g at unit g % 150, for pupil g % pupils (of the same unit).
        insert(
            "processes_processinstance",
            "id, version_id, unit_id, pupil_id, subject, status, state, state_version, revision, end_events, "
            "wait_signature, error_code, error_message, error_element_id, error_expression, error_context, "
            "started_at, updated_at",
            f"{sql.uuid('g')}, {version.pk}, {unit0} + g % {UNITS}, {pupil0} + g % {pupils}, "
            f"'Ärende ' || CAST(g AS TEXT), 'running', '{{}}', '', 1, '[]', '', '', '', '', '', '{{}}', "
            f"{sql.minutes_ago('(g * 37) % 86400 + 60')}, {sql.now()}",
            n_open,
        )
        task_cols = (
            "instance_id, engine_task_id, element_id, name, lane, unit_id, form_name, status, ready_at, "
            "due_at, claimed_by_id, claimed_at, completed_by_id, completed_at, data, prefill, draft"
        )
        # Open task g: case g; ready in the last 60 days, due 5 days later (so some are overdue); one in
        # four teacher or principal tasks claimed by a colleague at the unit.
        staff = "LEFT JOIN bench_staff s ON s.unit_id = x.unit_id AND s.lane = x.lane AND s.slot = x.g % s.n"
        ready = sql.minutes_ago("(x.g * 37) % 86400")
        due = sql.minutes_ago("(x.g * 37) % 86400 - 7200")
        insert(
            "tasks_usertask",
            task_cols,
            f"{sql.uuid('x.g')}, 'o' || CAST(x.g AS TEXT), x.lane, 'Steg för ' || x.lane, x.lane, x.unit_id, "
            f"x.lane || '.json', 'open', {ready}, {due}, "
            f"CASE WHEN x.g % 4 = 0 THEN s.user_id END, CASE WHEN x.g % 4 = 0 AND s.user_id IS NOT NULL "
            f"THEN {ready} END, NULL, NULL, '{{}}', '{{}}', '{{}}'",
            n_open,
            f"{LANE_SQL} AS lane, {unit0} + g % {UNITS} AS unit_id",
            staff,
        )
        # Completed task g: case g % open, completed in the last 3 years by the lane's staff at the unit
        # (nobody for guardian tasks), ready 2 days before.
        done = sql.minutes_ago("(x.g * 13) % 1576800")
        done_ready = sql.minutes_ago("(x.g * 13) % 1576800 + 2880")
        insert(
            "tasks_usertask",
            task_cols,
            f"{sql.uuid(f'x.g % {n_open}')}, 'c' || CAST(x.g AS TEXT), x.lane, 'Steg för ' || x.lane, "
            f"x.lane, x.unit_id, x.lane || '.json', 'completed', {done_ready}, {done_ready}, NULL, NULL, "
            f"s.user_id, {done}, '{{}}', '{{}}', '{{}}'",
            n_closed,
            f"{LANE_SQL} AS lane, {unit0} + (g % {n_open}) % {UNITS} AS unit_id",
            staff,
        )
        cursor.execute("DROP TABLE bench_staff")
    pr.settle_after_seeding()
    return {"version": version, "pupils": pupils}


# --- Measuring ---------------------------------------------------------------------------------------


def inbox_page(user: Any, filters: Any) -> int:
    """What tasks.views.inbox asks of the selectors, with the row attributes the template reads."""
    from tasks.selectors import user_task_inbox, user_task_inbox_counts

    page = user_task_inbox(user, filters, page=1)
    rows = list(page.object_list)
    for task in rows:
        _ = (task.instance.version.definition.name_sv, task.instance.pupil, task.unit.name, task.claimed_by)
    counts = user_task_inbox_counts(user)
    return len(rows) + sum(counts.values())


def timed(fn: Callable[[], Any], iterations: int, warmup: int, budget: float = 0.0) -> list[float]:
    """ms per call after `warmup` calls; stops early, with at least 20 samples, once `budget` s are spent."""
    samples = []
    deadline = time.perf_counter() + budget if budget else None
    for i in range(iterations + warmup):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
        if deadline and i >= warmup + 20 and started > deadline:
            break
    return samples[warmup:]


def suggested_mine(user: Any) -> Any:
    """The "mine" tab as suggested for tasks.selectors: no joins, hence no DISTINCT; the guardian branch
    only for a user who is a guardian, through subqueries on the guardian's ids."""
    from django.db.models import Q

    from organisation.models import Custody, Guardian, Role
    from processes.models import ProcessInstance
    from tasks.models import UserTask

    mine = Q(claimed_by=user)
    guardians = list(Guardian.objects.filter(user=user).values_list("pk", flat=True))
    if guardians:
        pupils = Custody.objects.filter(guardian_id__in=guardians).values("pupil_id")
        cases = ProcessInstance.objects.filter(pupil_id__in=pupils).values("pk")
        mine |= Q(lane=Role.GUARDIAN) & (
            Q(guardian_id__in=guardians) | Q(guardian__isnull=True, instance_id__in=cases)
        )
    return (
        UserTask.objects.select_related(
            "instance__version__definition", "instance__pupil", "unit", "claimed_by"
        )
        .filter(mine, status=UserTask.Status.OPEN)
        .order_by("due_at", "pk")
    )


@contextlib.contextmanager
def suggested_selector() -> Iterator[None]:
    """tasks.selectors with the "mine" tab as suggested_mine builds it, for this process only."""
    import tasks.selectors as selectors

    original = selectors.user_task_inbox_queryset

    def patched(user: Any, filters: Any) -> Any:
        if filters.tab != "mine" or not user.is_authenticated:
            return original(user, filters)
        tasks = suggested_mine(user)
        if filters.process:
            tasks = tasks.filter(instance__version__definition__key=filters.process)
        if filters.unit:
            tasks = tasks.filter(unit_id=filters.unit)
        return tasks

    selectors.user_task_inbox_queryset = patched
    try:
        yield
    finally:
        selectors.user_task_inbox_queryset = original


def statement_label(sql: str) -> str:
    """COUNT or rows, and the WHERE clause: enough to tell the statements of one page apart."""
    sql = " ".join(sql.replace('"tasks_usertask".', "").replace('"', "").split())
    kind = "COUNT" if sql.startswith("SELECT COUNT") else "rows "
    distinct = " DISTINCT" if "SELECT DISTINCT" in sql else ""
    where = sql[sql.find(" WHERE ") + 7 :] if " WHERE " in sql else sql
    return f"{kind}{distinct} {where}"


@contextlib.contextmanager
def statement_times(params_of: dict[str, Any]) -> Iterator[dict[str, list[float]]]:
    """ms per execution, by SQL text; the first parameters of each statement go to `params_of`."""
    from django.db import connection

    times: dict[str, list[float]] = defaultdict(list)

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            times[sql].append((time.perf_counter() - started) * 1000)
            params_of.setdefault(sql, params)

    with connection.execute_wrapper(wrapper):
        yield times


def measure(users: dict[str, Any], args: argparse.Namespace, title: str) -> tuple[list, dict]:
    from tasks.selectors import InboxFilters

    scenarios = []
    for who, user in users.items():
        for tab in ("mine", "team", "done"):
            scenarios.append((f"{who}, {tab}", user, InboxFilters(tab=tab)))
        process = InboxFilters(tab="team", process=PROCESS_KEY)
        scenarios.append((f"{who}, team, process={PROCESS_KEY}", user, process))
    rows = []
    statements: dict[str, list[float]] = defaultdict(list)
    params_of: dict[str, Any] = {}
    for label, user, filters in scenarios:
        with statement_times(params_of) as times:
            samples = timed(
                lambda u=user, f=filters: inbox_page(u, f), args.iterations, args.warmup, args.budget
            )
        for statement, ms in times.items():
            statements[statement].extend(ms[args.warmup :] if len(ms) > args.warmup else ms)
        rows.append((label, samples))
    print(f"\n{title}: inbox page (page 1 + its rows + the three tab counts), {args.iterations} calls, ms")
    print(f"{'scenario':<48}{'median':>9}{'p95':>9}{'calls':>7}  target p95 ≤ {TARGET_P95_MS:g} ms")
    for label, samples in rows:
        report(label, samples)
    worst_label, worst = max(rows, key=lambda row: pr.p95(row[1]))
    record_p95(
        f"inbox page p95, worst of {len(rows)} scenarios ({title})", worst, f"slowest: {worst_label}", args
    )
    slowest = sorted(statements.items(), key=lambda item: -statistics.median(item[1]))[:6]
    print("slowest statements (median ms over all scenarios that ran them):")
    for statement, ms in slowest:
        print(f"  {statistics.median(ms):8.2f}  {statement_label(statement)[:140]}")
    return rows, {sql: (ms, params_of[sql]) for sql, ms in statements.items()}


def record_p95(figure: str, samples: list[float], note: str, args: argparse.Namespace) -> None:
    from django.db import connection

    size = f"{connection.vendor}, {args.open:,} open / {args.closed:,} closed"
    tail = pr.p95(samples)
    figures.record(
        figure,
        f"{tail:.1f} ms",
        f"p95 ≤ {TARGET_P95_MS:g} ms",
        tail <= TARGET_P95_MS,
        database=size,
        note=note,
    )


def report(label: str, samples: list[float], note: str = "") -> None:
    tail = pr.p95(samples)
    verdict = "PASS" if tail <= TARGET_P95_MS else "MISS"
    print(f"{label:<48}{statistics.median(samples):>9.2f}{tail:>9.2f}{len(samples):>7}  {verdict}{note}")


def http_inbox(user: Any, args: argparse.Namespace) -> list[float]:
    from django.test import Client

    client = Client(HTTP_HOST="localhost")
    client.force_login(user)

    def get() -> None:
        response = client.get("/tasks/", {"tab": "team"})
        assert response.status_code == 200, response.status_code

    return timed(get, args.iterations, args.warmup, args.budget)


def explain(statements: dict[str, tuple[list[float], Any]]) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the statement with the highest median (EXPLAIN QUERY PLAN on SQLite)."""
    from django.db import connection

    statement, (_ms, params) = max(statements.items(), key=lambda item: statistics.median(item[1][0]))
    pg = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute(("EXPLAIN (ANALYZE, BUFFERS) " if pg else "EXPLAIN QUERY PLAN ") + statement, params)
        plan = cursor.fetchall()
        shown = connection.ops.compose_sql(statement, params) if pg else f"{statement} {params}"
    print(f"\nplan of the slowest statement:\n  {' '.join(shown.split())}")
    for row in plan:
        print("  " + " | ".join(str(col) for col in row))


def run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    seed(args.open, args.closed)
    seconds = time.perf_counter() - started
    print(
        f"Skolflöde inbox on {connection.vendor}: seeded {args.open:,} open and {args.closed:,} completed "
        f"tasks, {args.open:,} cases, {UNITS} units in {seconds:.1f} s (set-based SQL, then VACUUM ANALYZE)"
    )
    user_model = get_user_model()
    users = {
        "teacher at 1 unit": user_model.objects.get(username="larare7"),
        "teacher at 2 units": user_model.objects.get(username="larare157"),
        "principal": user_model.objects.get(username="rektor7"),
    }
    _rows, statements = measure(users, args, "as migrated")
    web = http_inbox(users["teacher at 2 units"], args)
    report("GET /tasks/?tab=team, teacher at 2 units", web, " (test client, end to end)")
    record_p95("inbox GET /tasks/?tab=team p95 (test client)", web, "teacher at 2 units, end to end", args)
    if args.explain:
        explain(statements)
    if not args.suggested:
        return
    with suggested_selector():
        _rows, statements = measure(users, args, "with the mine tab as suggested (suggested_mine)")
        web = http_inbox(users["teacher at 2 units"], args)
        report("GET /tasks/?tab=team, teacher at 2 units", web, " (test client, end to end)")
        if args.explain:
            explain(statements)
    if args.try_indexes:
        with connection.cursor() as cursor:
            for _name, ddl in CANDIDATE_INDEXES:
                cursor.execute(ddl)
            cursor.execute("ANALYZE tasks_usertask")
        with suggested_selector():
            title = "the same, with " + ", ".join(n for n, _ in CANDIDATE_INDEXES)
            _rows, statements = measure(users, args, title)
            if args.explain:
                explain(statements)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    pr.run_on_a_throwaway_database(
        "inbox_latency", args.db, inbox_postgres_url(), args.skip_unreachable, lambda: run(args)
    )


if __name__ == "__main__":
    main()
