"""Fixtures shared by every app's tests: a real Celery worker process when a broker is configured."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent

# Personas (a principal, a guardian, an outsider) and a published fixture version, for every app's tests.
pytest_plugins = ["processes.tests.fixtures"]


def services_required() -> bool:
    """CI sets this: an unreachable service is then a failure, not a skip."""
    return os.environ.get("SKOLFLODE_REQUIRE_SERVICES") == "1"


def require_broker() -> str:
    """The broker URL, or skip (fail in CI) when none is configured or it does not answer."""
    from django.conf import settings

    from config.celery import app

    broker = settings.CELERY_BROKER_URL
    if not broker:
        if services_required():
            pytest.fail("SKOLFLODE_REQUIRE_SERVICES=1 but CELERY_BROKER_URL is not set")
        pytest.skip("No CELERY_BROKER_URL: set it (e.g. redis://127.0.0.1:6379/0) to test a real worker")
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"The Celery broker {broker} is unreachable: {exc}")
    return broker


def database_url_of_this_run() -> str:
    """The URL of the test database this run created (PostgreSQL), for worker and helper processes."""
    from django.db import connection

    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def worker_waits_on_the_audit_chain_lock() -> bool:
    """True while some other session waits for the audit chain's advisory lock: a worker is then
    inside a case's transaction, blocked before its audit events (a deterministic point to kill it)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return cursor.fetchone()[0] > 0


def start_celery_worker(name: str) -> subprocess.Popen:
    """Start `celery worker` against the broker and the *test* database; return once it answers pings."""
    from django.db import connection

    from config.celery import app

    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings.test")
    db = connection.settings_dict
    if db["ENGINE"].endswith("postgresql"):
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    # Messages left in the queue by an earlier, interrupted run must not reach this test's database.
    app.control.purge()
    log = open(ROOT / "var" / f"test-celery-{name}.log", "w")  # noqa: SIM115 - owned by the process
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"{name}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=0.5) or []
        if any(node.startswith(f"{name}@") for reply in replies for node in reply):
            return worker
        if worker.poll() is not None:
            pytest.fail(f"The Celery worker exited early; see {log.name}")
    worker.kill()
    pytest.fail(f"The Celery worker did not answer within 30 s; see {log.name}")


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; fail the test naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def stop_celery_worker(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


@pytest.fixture
def celery_worker_process(django_db_setup: None, django_db_blocker: object) -> Iterator[subprocess.Popen]:
    """A real `celery worker` subprocess against CELERY_BROKER_URL and the test database, for one test:
    a worker left running would take the next test's jobs against that test's expectations."""
    require_broker()
    worker = start_celery_worker(f"test-{os.getpid()}")
    yield worker
    stop_celery_worker(worker)
