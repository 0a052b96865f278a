"""Schemathesis against the project's own OpenAPI schema, on a live dev server (CI: .ci/run).

Builds a throwaway SQLite database with the demo municipality and demo cases, gives the demo principal
of Ekbackeskolan an API token (plus the governing-body role and the process-owner permission, so that
every endpoint is reachable), starts `manage.py runserver` on a free port on 127.0.0.1, runs a bounded
`schemathesis run --checks not_a_server_error` and stops the server. Exits with schemathesis's code.

    .venv/bin/python -m tests.security.api_fuzz [--max-examples 20] [--max-time 180]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SETUP = """
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from organisation.models import Membership, Role
user = get_user_model().objects.get(username="rektor.ekbacke")
Membership.objects.get_or_create(user=user, unit=user.memberships.first().unit, role=Role.GOVERNING_BODY)
user.user_permissions.add(Permission.objects.get(codename="manage_process"))
print(Token.objects.get_or_create(user=user)[0].key)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _manage(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-examples", default="20")
    parser.add_argument("--max-time", default="240")
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="skolflode-fuzz-"))
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_DEBUG="false",
        DATABASE_URL=f"sqlite:///{workdir / 'fuzz.sqlite3'}",
        CELERY_BROKER_URL="",
        API_THROTTLE_ANON="100000/min",
        API_THROTTLE_USER="100000/min",
    )
    _manage(env, "migrate", "--noinput")
    _manage(env, "load_demo_data")
    _manage(env, "load_demo_cases")
    token = _manage(env, "shell", stdin=SETUP).strip().splitlines()[-1]

    port = _free_port()
    log = open(workdir / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        schema = f"http://127.0.0.1:{port}/api/schema/?format=json"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(schema, timeout=5).close()  # noqa: S310 - our own server
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    sys.exit(f"The dev server did not start; see {log.name}")
                time.sleep(0.5)
        run = subprocess.run(
            [
                str(Path(PYTHON).parent / "schemathesis"),
                "run",
                schema,
                "--checks",
                "not_a_server_error",
                "--max-examples",
                options.max_examples,
                "--max-time",
                options.max_time,
                "--workers",
                "1",
                "--request-timeout",
                "30",
                "--header",
                f"Authorization: Token {token}",
            ],
            cwd=workdir,
            check=False,
        )
        if run.returncode != 0:
            print(f"Server log: {log.name}")
        return run.returncode
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


if __name__ == "__main__":
    sys.exit(main())
