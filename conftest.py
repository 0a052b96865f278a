"""Fixtures shared by every app's tests: a real Celery worker process when a broker is configured."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import NoReturn

import pytest
from celery import Celery

ROOT = Path(__file__).resolve().parent

# Personas (a principal, a guardian, an outsider) and a published fixture version, for every app's tests.
pytest_plugins = ["processes.tests.fixtures"]


def services_required() -> bool:
    """CI sets this: an unreachable service is then a failure, not a skip."""
    return os.environ.get("SKOLFLODE_REQUIRE_SERVICES") == "1"


def service_missing(reason: str) -> NoReturn:
    """Skip the test for want of a service or tool, or fail it when CI says everything must be there."""
    if services_required():
        pytest.fail(f"SKOLFLODE_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def require_broker() -> str:
    """The broker URL, or skip (fail in CI) when none is configured or it does not answer."""
    from django.conf import settings

    from config.celery import app

    broker = settings.CELERY_BROKER_URL
    if not broker:
        service_missing(
            "CELERY_BROKER_URL is not set: set it (e.g. redis://127.0.0.1:6379/0) to test a real worker"
        )
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


def broker_control(broker_url: str | None = None) -> Celery:
    """The project's Celery app, or for another broker an app with the same queues (to purge them and
    ping workers there): the project's app keeps its own broker's connection pools whatever it is told."""
    from django.conf import settings

    from config.celery import app

    if broker_url is None:
        return app
    control = Celery("skolflode-control", set_as_current=False)
    # Read and write URLs: Celery prefers a CELERY_BROKER_URL in the environment to `broker_url`.
    control.conf.update(
        broker_read_url=broker_url, broker_write_url=broker_url, task_queues=settings.CELERY_TASK_QUEUES
    )
    return control


def start_celery_worker(
    name: str, *, broker_url: str | None = None, env: Mapping[str, str] | None = None
) -> subprocess.Popen:
    """Start `celery worker` and return once it answers pings. By default it works on the *test*
    database through the configured broker; `broker_url` gives it another broker (purged first, as
    the default one is) and `env` overrides its environment (another DATABASE_URL, settings module)."""
    from django.db import connection

    worker_env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings.test")
    if connection.vendor == "postgresql":
        worker_env["DATABASE_URL"] = database_url_of_this_run()
    if broker_url is not None:
        worker_env.update(CELERY_BROKER_URL=broker_url, CELERY_RESULT_BACKEND=broker_url)
    worker_env.update(env or {})
    control = broker_control(broker_url)
    # Messages left in the queue by an earlier, interrupted run must not reach this test's database.
    control.control.purge()
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
        env=worker_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        replies = control.control.ping(timeout=0.5) or []
        if any(node.startswith(f"{name}@") for reply in replies for node in reply):
            return worker
        if worker.poll() is not None:
            pytest.fail(f"The Celery worker exited early; see {log.name}")
    worker.kill()
    pytest.fail(f"The Celery worker did not answer within 30 s; see {log.name}")


def wait_until(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.05) -> None:
    """Poll `condition` every `poll` seconds until it holds; fail the test naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll)
    pytest.fail(f"timed out waiting for {what}")


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM, a warm shutdown of up to 15 s, then SIGKILL."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


stop_celery_worker = stop_process


@pytest.fixture
def celery_worker_process(django_db_setup: None, django_db_blocker: object) -> Iterator[subprocess.Popen]:
    """A real `celery worker` subprocess against CELERY_BROKER_URL and the test database, for one test:
    a worker left running would take the next test's jobs against that test's expectations."""
    require_broker()
    worker = start_celery_worker(f"test-{os.getpid()}")
    yield worker
    stop_celery_worker(worker)


@pytest.fixture(autouse=True)
def every_test_starts_in_the_default_language() -> Iterator[None]:
    """A request in English (LocaleMiddleware) leaves its thread in English; the next test, say a
    command rendering Swedish lane names, must not inherit that."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()
