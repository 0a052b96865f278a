# bench/run: not a benchmark
"""A whole Skolflöde deployment on loopback, for load tests: gunicorn, Celery workers and one beat against
a PostgreSQL database of its own and a Redis database of its own.

    with local_stack(StackConfig(database_url="postgres://postgres@127.0.0.1:5432/skolflode_load_x",
                                 web_workers=4, celery_workers=2)) as stack:
        stack.manage("load_test_seed", "--out", "var/load/credentials.json")
        ...  # requests against stack.base_url
        stack.stop()  # optional: the processes stop, the database stays until the block ends

The processes run as platform/ deploys them (gunicorn with platform/gunicorn.conf.py, so
config.settings.production with DEBUG off; `celery -A config worker` without -Q, so each worker takes every
queue in CELERY_QUEUE_NAMES; `celery -A config beat`), with these differences, each for a reason:
- bound to 127.0.0.1 on a free port; ALLOWED_HOSTS is 127.0.0.1 and localhost;
- no HTTPS redirect: in production TLS ends at the proxy in front of gunicorn, and there is none here;
- a random secret key per run, and e-mail goes to Django's in-memory backend, not to anyone;
- CACHE_URL is the stack's Redis database, as platform/README.md asks for several web workers (the API
  throttle and the login lockout count across workers).

The database is created here and dropped at the end (an existing one is refused, never reused or
dropped: bench/platform_ratio.postgres_database); with own_database=False the caller owns it (a test's
database) and it is only migrated. The Redis database (default redis://127.0.0.1:6379/7, never db 0) is
the stack's own: it is flushed before the start, so no message of an earlier, interrupted run reaches
this database, and after the end. Each process writes its log to log_dir (default var/load/). Every
process is stopped on exit, also on an error: SIGTERM, then SIGKILL to its process group after
stop_timeout seconds.

Importable (bench/load_test.py, a test) and not a benchmark itself: run as a script it only says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import platform_ratio as pr  # noqa: E402  (the throwaway PostgreSQL database, shared with the benches)

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/7"
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class StackConfig:
    """What to start. `extra_env` overrides the environment of every process (e.g. TIMER_PASS_SECONDS)."""

    database_url: str
    broker_url: str = DEFAULT_BROKER_URL
    web_workers: int = 2
    web_threads: int = 2  # platform/gunicorn.conf.py's default (WEB_THREADS)
    celery_workers: int = 1
    celery_concurrency: int = 1
    beat: bool = True
    own_database: bool = True
    log_dir: Path = ROOT / "var" / "load"
    extra_env: Mapping[str, str] = field(default_factory=dict)
    start_timeout: float = 60.0
    stop_timeout: float = 20.0

    @property
    def label(self) -> str:
        web = f"gunicorn {self.web_workers}x{self.web_threads}"
        return f"{web}, celery {self.celery_workers}x{self.celery_concurrency}" + (" + beat" * self.beat)


@dataclass
class StackProcess:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]


@dataclass
class Stack:
    """A running stack: its URL, the environment its processes share, and its processes."""

    config: StackConfig
    base_url: str
    env: dict[str, str]
    processes: list[StackProcess] = field(default_factory=list)
    worker_names: list[str] = field(default_factory=list)

    def manage(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """`manage.py <args>` with the stack's environment (database, broker, settings); output captured."""
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def stop(self) -> None:
        """Stop every process: SIGTERM to all (gunicorn and Celery then finish what they are doing), then
        SIGKILL to whatever is left after stop_timeout. Idempotent."""
        for process in self.processes:
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.config.stop_timeout
        for process in self.processes:
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                # Each process leads its own process group (start_new_session): this reaches the
                # gunicorn and prefork children it started, and nothing else.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait()
            process.log.close()


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def redis_database_flush(broker_url: str) -> None:
    """Empty the stack's own Redis database. Refuses db 0, which local runs and tests share."""
    import redis

    if int(urlsplit(broker_url).path.lstrip("/") or 0) == 0:
        raise ValueError(f"{broker_url}: the stack needs a Redis database of its own, not db 0")
    client = redis.Redis.from_url(broker_url, socket_connect_timeout=3)
    try:
        client.flushdb()
    finally:
        client.close()


def stack_environment(config: StackConfig, database_url: str, port: int) -> dict[str, str]:
    """The environment every process of the stack gets (see the module docstring for why)."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS=f"{LOOPBACK},localhost",
        DJANGO_SECURE_SSL_REDIRECT="false",
        DJANGO_EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=config.broker_url,
        CELERY_RESULT_BACKEND=config.broker_url,
        CACHE_URL=config.broker_url,
        SKOLFLODE_BIND=f"{LOOPBACK}:{port}",
        WEB_CONCURRENCY=str(config.web_workers),
        WEB_THREADS=str(config.web_threads),
        PYTHONUNBUFFERED="1",
    )
    env.update(config.extra_env)
    return env


def _start(stack: Stack, name: str, args: list[str]) -> None:
    stack.config.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = stack.config.log_dir / f"{name}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed by Stack.stop
    popen = subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=stack.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack.processes.append(StackProcess(name, popen, log_path, log))


def _health(url: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback, our own URL
            return dict(json.loads(response.read()))
    except (OSError, ValueError, urllib.error.URLError):
        return None


def _workers_answering(broker_url: str, names: list[str]) -> set[str]:
    from celery import Celery

    # A bare app on the same broker: pings need no Django settings in this process. Not the current app:
    # jobs queued later in this process (shared_task) must keep the project's app and its queue routes.
    app = Celery(broker=broker_url, set_as_current=False)
    try:
        replies = app.control.ping(timeout=0.5) or []
    finally:
        app.close()
    nodes = {node for reply in replies for node in reply}
    return {name for name in names if any(node.startswith(f"{name}@") for node in nodes)}


def _wait_until_ready(stack: Stack) -> None:
    deadline = time.monotonic() + stack.config.start_timeout
    health_url = f"{stack.base_url}/health/"
    healthy = False
    answering: set[str] = set()
    while time.monotonic() < deadline:
        dead = [p.name for p in stack.processes if p.popen.poll() is not None]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited during start-up; see {stack.config.log_dir}")
        if not healthy:
            report = _health(health_url)
            healthy = bool(report and report.get("ok"))
        if len(answering) < len(stack.worker_names):
            answering |= _workers_answering(stack.config.broker_url, stack.worker_names)
        if healthy and len(answering) == len(stack.worker_names):
            return
        time.sleep(0.3)
    missing = sorted(set(stack.worker_names) - answering)
    raise RuntimeError(
        f"the stack was not ready within {stack.config.start_timeout:g} s (health ok: {healthy}; "
        f"workers not answering: {missing or 'none'}); see {stack.config.log_dir}"
    )


def _log_tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def local_stack(config: StackConfig) -> Iterator[Stack]:
    """Create and migrate the database, start web, workers and beat, yield once /health/ answers ok and
    every worker answers a ping; stop everything and drop the database on the way out, also on error.
    Raises RuntimeError when a process dies during start-up or the stack is not ready in time (with the
    last lines of each log printed to stderr)."""
    database = pr.postgres_database(config.database_url) if config.own_database else None
    with database or contextlib.nullcontext(config.database_url) as database_url:
        port = free_loopback_port()
        stack = Stack(config, f"http://{LOOPBACK}:{port}", stack_environment(config, database_url, port))
        redis_database_flush(config.broker_url)
        try:
            stack.manage("migrate", "--verbosity", "0")
            _start(
                stack,
                "web",
                ["gunicorn", "config.wsgi:application", "-c", str(ROOT / "platform" / "gunicorn.conf.py")],
            )
            for number in range(1, config.celery_workers + 1):
                name = f"load-worker-{number}-{os.getpid()}"
                stack.worker_names.append(name)
                _start(
                    stack,
                    f"worker-{number}",
                    [
                        "celery",
                        "-A",
                        "config",
                        "worker",
                        "--loglevel=INFO",
                        f"--concurrency={config.celery_concurrency}",
                        "-n",
                        f"{name}@%h",
                    ],
                )
            if config.beat:
                schedule = config.log_dir / "celerybeat-schedule"
                _start(
                    stack,
                    "beat",
                    ["celery", "-A", "config", "beat", "--loglevel=INFO", f"--schedule={schedule}"],
                )
            try:
                _wait_until_ready(stack)
            except RuntimeError:
                for process in stack.processes:
                    print(
                        f"--- {process.log_path} (last lines)\n{_log_tail(process.log_path)}", file=sys.stderr
                    )
                raise
            yield stack
        finally:
            stack.stop()
            redis_database_flush(config.broker_url)
