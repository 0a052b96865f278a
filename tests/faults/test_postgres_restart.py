"""PostgreSQL restarts while the platform is under load (issue #10): teachers complete their tasks through
the API on gunicorn, and a Celery worker starts school start for every pupil of the school. The restart
comes at a chosen moment: the worker in the middle of a chunk of cases, and both web workers in the
middle of a completion (all three wait on the audit chain's lock, which the test holds).

Afterwards every task is completed exactly once, the bulk start resumed by itself and made exactly one
case per pupil, no case is stopped on an error, the audit chain verifies, the consistency check passes,
and every answer a client got was a success, 409 on a retry (the first try committed but its answer was
lost), 503 problem+json `database_unavailable`, or a refused connection: never a 500.

The server is the test's own (tests/faults/conftest.py), never the shared one; the broker is a Redis
database of the test's own. The web tier and the worker run as they are deployed: gunicorn and
`celery worker` with config.settings.production.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from audit.services import CHAIN_LOCK_KEY
from conftest import service_missing, start_celery_worker, stop_celery_worker, stop_process, wait_until
from tests.faults.conftest import PrivatePostgres, free_port

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "var"
# A Redis database no other test or run uses (the suite's broker is db 0, the bulk-start bench db 5).
FAULT_BROKER_URL = "redis://127.0.0.1:6379/6"
TEACHERS, TASKS_PER_TEACHER, PUPILS = 3, 15, 200
OUTAGE_SECONDS = 2.0
# Each process's sessions carry its name (libpq's PGAPPNAME), so the test sees who waits on what.
WEB, WORKER = "skolflode-web", "skolflode-worker"
# Clients honour Retry-After up to this many seconds, so the test stays within its time budget.
LONGEST_CLIENT_WAIT = 0.5

pytestmark = [pytest.mark.fault, pytest.mark.broker]


@dataclass(frozen=True)
class Answer:
    """What one client got for one attempt at completing one task; `status` None: no HTTP answer."""

    task_id: int
    attempt: int
    status: int | None
    content_type: str = ""
    code: str = ""
    retry_after: str | None = None

    def kind(self) -> str:
        if self.status is None:
            return "connection error"
        if self.status == 503 and self.content_type == "application/problem+json":
            return f"503 {self.code}"
        if self.status == 409 and self.content_type == "application/problem+json":
            return f"409 {self.code}"
        return f"{self.status} {self.content_type}"


ANSWERS_WHILE_THE_DATABASE_RESTARTS = {"200 application/json", "503 database_unavailable", "connection error"}


def task_complete(base_url: str, token: str, task_id: int, form: dict, attempt: int) -> Answer:
    request = urllib.request.Request(  # noqa: S310 - our own server on loopback
        f"{base_url}/api/tasks/{task_id}/complete/",
        data=json.dumps({"data": form}).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 - our own server
            return Answer(task_id, attempt, response.status, response.headers.get_content_type())
    except urllib.error.HTTPError as error:
        content_type = error.headers.get_content_type()
        body = error.read()
        code = json.loads(body).get("code", "") if content_type == "application/problem+json" else ""
        return Answer(task_id, attempt, error.code, content_type, code, error.headers.get("Retry-After"))
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return Answer(task_id, attempt, None)


def teacher_works_through(
    base_url: str, token: str, task_ids: list[int], form: dict, answers: list[Answer], deadline: float
) -> None:
    """Complete each task, retrying while the database is away. A 409 `task_not_open` on a retry means
    the try before committed and only its answer was lost: the task is done."""
    for task_id in task_ids:
        attempt = 0
        while time.monotonic() < deadline:
            answer = task_complete(base_url, token, task_id, form, attempt)
            answers.append(answer)
            if answer.status == 200 or (answer.status == 409 and attempt > 0):
                break
            if answer.kind() not in ANSWERS_WHILE_THE_DATABASE_RESTARTS:
                return  # an answer no client should get: the assertions report it
            time.sleep(min(float(answer.retry_after or LONGEST_CLIENT_WAIT), LONGEST_CLIENT_WAIT))
            attempt += 1
        time.sleep(0.05)  # a person's pace, so that the work spans the restart


def fault_broker() -> str:
    try:
        redis.Redis.from_url(FAULT_BROKER_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        service_missing(f"Redis at {FAULT_BROKER_URL} does not answer ({exc}); the fault test needs a broker")
    return FAULT_BROKER_URL


def platform_env(database_url: str, broker_url: str) -> dict[str, str]:
    """The environment of every process of the platform: production settings on loopback, without the
    HTTPS redirect (TLS ends at the proxy in front of gunicorn, and there is none here)."""
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_RESULT_BACKEND": broker_url,
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "LOG_LEVEL": "WARNING",
    }


def run_in_platform(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def gunicorn(env: dict[str, str]) -> Iterator[str]:
    """Two sync gunicorn workers on a free loopback port; yields the base URL."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with open(LOGS / "test-fault-gunicorn.log", "w") as log:
        web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(lambda: health_answers(base_url) or web.poll() is not None, 30, "gunicorn to answer")
            assert web.poll() is None, f"gunicorn exited early; see {log.name}"
            yield base_url
            assert web.poll() is None, "gunicorn outlived the restart"
        finally:
            stop_process(web)


def scalar(database_url: str, sql: str, *params: object) -> Any:
    """One value, on a connection of its own: the server restarts under the test's feet."""
    with psycopg.connect(database_url, autocommit=True) as probe:
        return probe.execute(sql, params).fetchone()[0]


def health_answers(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/health/", timeout=2) as response:  # noqa: S310
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def test_a_postgres_restart_under_load_loses_nothing_and_applies_nothing_twice(
    private_postgres: PrivatePostgres,
):
    began = time.monotonic()
    database_url = private_postgres.database_create("skolflode")
    env = platform_env(database_url, fault_broker())
    migrated = run_in_platform(env, "manage.py", "migrate", "--verbosity", "0")
    assert migrated.returncode == 0, migrated.stderr
    seeded = run_in_platform(
        env,
        "-m",
        "tests.faults.school_under_load",
        "seed",
        f"--teachers={TEACHERS}",
        f"--cases={TEACHERS * TASKS_PER_TEACHER}",
        f"--pupils={PUPILS}",
    )
    assert seeded.returncode == 0, seeded.stderr
    school = json.loads(seeded.stdout.strip().splitlines()[-1])
    tasks: list[int] = school["tasks"]

    def bulk_cases() -> int:
        return scalar(
            database_url, "SELECT count(*) FROM processes_processinstance WHERE bulk_start_id IS NOT NULL"
        )

    def completed_tasks() -> int:
        return scalar(
            database_url,
            "SELECT count(*) FROM tasks_usertask WHERE id = ANY(%s) AND status = 'completed'",
            tasks,
        )

    def waiting_on_a_lock(process: str) -> int:
        """Sessions of `process` inside a transaction, waiting: for the audit chain's lock, or for a
        row a waiting session holds (completions of cases of one process version queue on its row)."""
        return scalar(
            database_url,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
            process,
        )

    worker = start_celery_worker(
        "fault-restart", broker_url=env["CELERY_BROKER_URL"], env={**env, "PGAPPNAME": WORKER}
    )
    answers: list[Answer] = []
    try:
        with gunicorn({**env, "PGAPPNAME": WEB}) as base_url:
            requested = run_in_platform(env, "-m", "tests.faults.school_under_load", "bulk-start")
            assert requested.returncode == 0, requested.stderr
            bulk_start = json.loads(requested.stdout.strip().splitlines()[-1])["bulk_start"]
            deadline = time.monotonic() + 60
            teachers = [
                threading.Thread(
                    target=teacher_works_through,
                    args=(base_url, token, tasks[n::TEACHERS], school["signal_form"], answers, deadline),
                    daemon=True,  # a failed test does not wait for them
                )
                for n, token in enumerate(school["tokens"])
            ]
            for teacher in teachers:
                teacher.start()
            # Its first chunk of cases committed, the worker runs the engine for the next one (tenths of
            # a second): time enough to take the audit chain's lock before it needs it.
            wait_until(lambda: bulk_cases() > 0, 30, "the bulk start's first cases", poll=0.01)
            chain_holder = psycopg.connect(database_url)
            chain_holder.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
            wait_until(
                lambda: waiting_on_a_lock(WORKER) == 1 and waiting_on_a_lock(WEB) == 2,
                30,
                "the worker and both web workers to wait, each inside a transaction that the restart ends",
            )
            cases_at_restart, completed_at_restart = bulk_cases(), completed_tasks()
            private_postgres.stop()
            chain_holder.close()
            time.sleep(OUTAGE_SECONDS)
            private_postgres.start()
            print(  # noqa: T201
                f"\nrestarted with {cases_at_restart} of {PUPILS} bulk cases and {completed_at_restart} of "
                f"{len(tasks)} tasks done"
            )
            assert 0 < cases_at_restart < PUPILS, "the restart should land in the middle of the bulk start"
            assert completed_at_restart < len(tasks), "the restart should land in the middle of the work"

            for teacher in teachers:
                teacher.join(timeout=max(1.0, deadline - time.monotonic()))
            assert not any(teacher.is_alive() for teacher in teachers), "the teachers did not finish"
            wait_until(
                lambda: (
                    scalar(database_url, "SELECT status FROM processes_bulkstart WHERE id = %s", bulk_start)
                    == "completed"
                ),
                45,
                "the interrupted bulk start to resume and finish",
            )
        assert worker.poll() is None, "the worker outlived the restart"
    finally:
        stop_celery_worker(worker)

    answer_kinds = {answer.kind() for answer in answers}
    assert answer_kinds <= ANSWERS_WHILE_THE_DATABASE_RESTARTS | {"409 task_not_open"}, answer_kinds
    assert not [a for a in answers if a.status == 409 and a.attempt == 0], (
        "409 only when a retry finds it done"
    )
    assert "503 database_unavailable" in answer_kinds, "the clients should have met the restart"
    assert all(a.retry_after for a in answers if a.status == 503), "every 503 says when to retry"

    with psycopg.connect(database_url, autocommit=True) as observer:
        completions = dict(
            observer.execute(
                "SELECT t.id, count(e.id) FROM tasks_usertask t LEFT JOIN audit_auditevent e "
                "ON e.user_task_id = t.id AND e.verb = 'task.completed' WHERE t.id = ANY(%s) "
                "AND t.status = 'completed' GROUP BY t.id",
                [tasks],
            ).fetchall()
        )
        bulk = observer.execute(
            "SELECT status, started_count, failed_count FROM processes_bulkstart WHERE id = %s", [bulk_start]
        ).fetchone()
        cases_and_pupils = observer.execute(
            "SELECT count(*), count(DISTINCT pupil_id) FROM processes_processinstance "
            "WHERE bulk_start_id = %s",
            [bulk_start],
        ).fetchone()
        in_error = observer.execute(
            "SELECT count(*) FROM processes_processinstance WHERE status = 'error'"
        ).fetchone()[0]
    assert sorted(completions) == sorted(tasks), "every task is completed"
    assert set(completions.values()) == {1}, "and completed exactly once"
    assert bulk == ("completed", PUPILS, 0)
    assert cases_and_pupils == (PUPILS, PUPILS), "exactly one case per pupil"
    assert in_error == 0, "no case stopped on an error"

    chain = run_in_platform(env, "manage.py", "verify_audit_chain")
    assert chain.returncode == 0, chain.stdout + chain.stderr
    consistency = run_in_platform(env, "manage.py", "check_consistency", "--json")
    assert consistency.returncode == 0, consistency.stdout + consistency.stderr
    print(f"wall time {time.monotonic() - began:.1f} s, answers: {sorted(answer_kinds)}")  # noqa: T201
