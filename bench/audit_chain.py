"""How many steps a second the audit chain lets through, with 1, 2 and 4 concurrent writers.

Run from the repository root: .venv/bin/python bench/audit_chain.py [--db postgres] [--seconds 5]
Every step of every case appends its events to one hash chain under one advisory lock
(audit.services.audit_events_record), so the chain is the platform's one global serialisation
point. This measures the ceiling it sets: W threads, each with its own connection, append a
completion's three events per transaction for a few seconds. The same is then done without the chain
(plain inserts, what per-unit chains would allow) to show what the lock costs. PostgreSQL only (SQLite
serialises every writer anyway). A throwaway database, created and dropped here. Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import figures  # noqa: E402
import platform_ratio as pr  # noqa: E402  (the throwaway databases, shared with that bench)

WRITERS = (1, 2, 4)
EVENTS_PER_STEP = 3  # a completion: task.completed, task.ready of the next step, and one more
SECONDS = 5.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="per writer count and variant")
    parser.add_argument("--quick", action="store_true", help="1 s per writer count and variant")
    parser.add_argument("--skip-unreachable", action="store_true")
    args, _unknown = parser.parse_known_args(argv)  # bench/run passes --iterations, --profile …
    if args.quick:
        args.seconds = 1.0
    return args


def audit_chain_url() -> str:
    return pr.postgres_url().rsplit("/", 1)[0] + "/skolflode_bench_audit_chain"


def events(writer: int) -> list[dict[str, Any]]:
    from audit.models import Verb

    return [
        {"verb": Verb.TASK_READY, "element_id": f"step_{n}", "lane": "teacher", "after": {"writer": writer}}
        for n in range(EVENTS_PER_STEP)
    ]


def chained_step(writer: int) -> None:
    from django.db import transaction

    from audit.services import audit_events_record

    with transaction.atomic():
        audit_events_record(events(writer))


def unchained_step(writer: int) -> None:
    """The same rows without the chain's lock and predecessor read: the cost floor of the insert."""
    from django.db import transaction

    from audit.models import AuditEvent

    with transaction.atomic():
        AuditEvent.objects.bulk_create(
            AuditEvent(
                verb=e["verb"],
                element_id=e["element_id"],
                lane=e["lane"],
                after=e["after"],
                occurred_at=_now(),
                prev_hash="-",
                hash=f"u{writer}-{time.perf_counter_ns()}-{n}",
            )
            for n, e in enumerate(events(writer))
        )


def _now() -> Any:
    from django.utils import timezone

    return timezone.now()


def hammer(step: Callable[[int], None], writers: int, seconds: float) -> tuple[int, list[float]]:
    """Run `step` in `writers` threads for `seconds`; return steps done and per-step latencies (ms)."""
    from django.db import connection

    latencies: list[list[float]] = [[] for _ in range(writers)]
    start = threading.Barrier(writers + 1)
    stop_at: list[float] = []

    def writer(index: int) -> None:
        try:
            step(index)  # connect and warm up before the clock starts
            start.wait()
            while time.perf_counter() < stop_at[0]:
                began = time.perf_counter()
                step(index)
                latencies[index].append((time.perf_counter() - began) * 1000)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    stop_at.append(time.perf_counter() + seconds + 0.05)
    start.wait()
    for thread in threads:
        thread.join()
    flat = [ms for per_writer in latencies for ms in per_writer]
    return len(flat), flat


def run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    from audit.services import audit_chain_verify

    call_command("migrate", verbosity=0)
    print(
        f"\nAudit chain appends on PostgreSQL: {EVENTS_PER_STEP} events per step (one transaction), "
        f"{args.seconds:g} s per row"
    )
    print(f"{'variant':<12}{'writers':>8}{'steps/s':>10}{'events/s':>10}{'median ms':>11}{'p95 ms':>8}")
    rates: dict[tuple[str, int], float] = {}
    for variant, step in (("chained", chained_step), ("unchained", unchained_step)):
        for writers in WRITERS:
            steps, latencies = hammer(step, writers, args.seconds)
            rate = steps / args.seconds
            rates[(variant, writers)] = rate
            print(
                f"{variant:<12}{writers:>8}{rate:>10.0f}{rate * EVENTS_PER_STEP:>10.0f}"
                f"{statistics.median(latencies):>11.2f}{pr.p95(latencies):>8.2f}"
            )
    from audit.models import AuditEvent

    AuditEvent.objects.filter(prev_hash="-").delete()  # the unchained rows are not part of the chain
    broken = audit_chain_verify()
    print(f"audit chain afterwards: {'verifies' if broken is None else f'BROKEN at {broken}'}")
    most = max(WRITERS)
    ceiling = max(rates[("chained", w)] for w in WRITERS)
    figures.record(
        "audit chain: steps/s through the one chain lock",
        f"{ceiling:.0f} steps/s",
        "no target (the ceiling of completions a second)",
        None,
        ratio=f"{rates[('chained', most)] / rates[('unchained', most)]:.2f}x unchained, {most} writers",
        database="postgresql",
        note=f"{EVENTS_PER_STEP} events a step; chain {'verifies' if broken is None else 'BROKEN'}",
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.db != "postgres":
        print("audit_chain runs on PostgreSQL only (SQLite serialises all writers); skipped on SQLite")
        return
    pr.run_on_a_throwaway_database(
        "audit_chain", "postgres", audit_chain_url(), args.skip_unreachable, lambda: run(args)
    )


if __name__ == "__main__":
    main()
