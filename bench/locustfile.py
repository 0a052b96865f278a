# bench/run: not a benchmark
"""Locust users for bench/load_test.py: staff working their inbox and guardians answering school start,
through the task API with token authentication, against a stack on loopback (bench/stack.py).

A StaffUser (one staff login each) takes a task it has claimed, or claims one from its team's inbox
(a colleague may be quicker: 409, expected), reads it with its form, and completes it with data derived
from the form's JSON Schema (bench/load_forms.py). A GuardianUser answers the open tasks of one
guardian, then logs in as the next guardian. Every LOAD_INVALID_EVERY-th submission of a user first
sends invalid data (422 `form_invalid` expected); every LOAD_DOUBLE_EVERY-th sends the valid data twice
at once (exactly one 200 and one 409 expected: `task_not_open`, or `instance_not_running` when the task
was the case's last). Expected refusals count as successes;
every other answer that is not 2xx is an error.

Environment: LOAD_CREDENTIALS (the JSON file of `manage.py load_test_seed`), LOAD_SUMMARY (where to write
the run's figures as JSON), LOAD_MAX_COMPLETIONS (stop after this many completions; 0: no limit),
LOAD_STAFF_USERS (staff users among -u; the rest are guardians), LOAD_WAIT ("min,max" seconds between
tasks), LOAD_INVALID_EVERY, LOAD_DOUBLE_EVERY. Refuses a host that is not loopback.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if not os.environ.get("LOAD_CREDENTIALS"):
    sys.exit("LOAD_CREDENTIALS is not set: run bench/load_test.py, which seeds a database and sets it")

import gevent  # noqa: E402
from locust import FastHttpUser, between, events, task  # noqa: E402
from locust.env import Environment  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_forms import form_data_invalid, form_data_valid  # noqa: E402

CREDENTIALS: dict[str, Any] = json.loads(Path(os.environ["LOAD_CREDENTIALS"]).read_text(encoding="utf-8"))
MAX_COMPLETIONS = int(os.environ.get("LOAD_MAX_COMPLETIONS", "0"))
STAFF_USERS = int(os.environ.get("LOAD_STAFF_USERS", "8"))
WAIT_MIN, WAIT_MAX = (float(part) for part in os.environ.get("LOAD_WAIT", "0.1,0.5").split(","))
INVALID_EVERY = int(os.environ.get("LOAD_INVALID_EVERY", "10"))
DOUBLE_EVERY = int(os.environ.get("LOAD_DOUBLE_EVERY", "10"))
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# A colleague claimed or completed the task between our inbox read and our claim.
CLAIM_CONFLICTS = {"task_already_claimed", "task_claimed_meanwhile", "task_not_open"}
# The second of a double submit: the task is done, or, when it was the case's last task, the case is.
DOUBLE_SUBMIT_REFUSALS = {"task_not_open", "instance_not_running"}

STAFF_LOGINS = itertools.cycle(CREDENTIALS["staff"])
# The bulk-started unit's guardians come last: their tasks appear while the run goes on.
GUARDIAN_LOGINS = itertools.cycle(CREDENTIALS["guardians"] + CREDENTIALS["bulk_guardians"])
USER_NUMBERS = itertools.count()


@dataclass
class Tally:
    """What the users saw, beyond Locust's request statistics (one Locust process: plain counters)."""

    completions: int = 0  # 200 answers to a complete: each must be one task.completed audit event
    invalid_refused: int = 0  # 422 form_invalid, as expected
    double_refused: int = 0  # double submits answered 200 + 409 task_not_open, as expected
    double_both_accepted: int = 0  # double submits answered 200 twice: a task completed twice
    claim_conflicts: int = 0  # 409 on a claim: a colleague was quicker
    guardian_logins: int = 0
    started: float = 0.0
    stopped: float = 0.0


TALLY = Tally()


def _code(response: Any) -> str:
    try:
        return str(json.loads(response.text or "{}").get("code", ""))
    except ValueError:
        return ""


class TaskApiUser(FastHttpUser):
    """A person working through the task API: read a task with its form, then complete it."""

    abstract = True
    wait_time = between(WAIT_MIN, WAIT_MAX)

    def log_in(self, credential: dict[str, str]) -> None:
        self.username = credential["username"]
        self.headers = {"Authorization": f"Token {credential['token']}", "Accept-Language": "en"}

    def on_start(self) -> None:
        self.submissions = 0
        self.rng = random.Random(next(USER_NUMBERS))  # noqa: S311 - picks tasks, not secrets

    def get_json(self, path: str, name: str) -> dict[str, Any] | None:
        with self.client.get(path, headers=self.headers, name=name, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} {_code(response)}")
                return None
            return dict(json.loads(response.text))

    def complete(self, task_id: int) -> None:
        detail = self.get_json(f"/api/tasks/{task_id}/", name="task detail")
        if detail is None:
            return
        schema = detail.get("form") or {}
        self.submissions += 1
        url = f"/api/tasks/{task_id}/complete/"
        invalid = form_data_invalid(schema) if self.submissions % INVALID_EVERY == 0 else None
        if invalid is not None:
            with self.client.post(
                url,
                json={"data": invalid},
                headers=self.headers,
                name="complete (invalid)",
                catch_response=True,
            ) as response:
                if response.status_code == 422 and _code(response) == "form_invalid":
                    TALLY.invalid_refused += 1
                    response.success()
                else:
                    response.failure(f"invalid data answered {response.status_code} {_code(response)}")
        valid = {"data": form_data_valid(schema)}
        if self.submissions % DOUBLE_EVERY == DOUBLE_EVERY // 2:
            self.double_submit(url, valid)
            return
        with self.client.post(
            url, json=valid, headers=self.headers, name="complete", catch_response=True
        ) as r:
            if r.status_code == 200:
                self.completed()
            else:
                r.failure(f"{r.status_code} {_code(r)}")

    def double_submit(self, url: str, payload: dict[str, Any]) -> None:
        """The same answer twice at once (a double click, a retry): the row lock lets one through."""
        answers: list[int] = []

        def submit() -> None:
            with self.client.post(
                url, json=payload, headers=self.headers, name="complete (double submit)", catch_response=True
            ) as response:
                answers.append(response.status_code)
                if response.status_code == 200 or (
                    response.status_code == 409 and _code(response) in DOUBLE_SUBMIT_REFUSALS
                ):
                    response.success()
                else:
                    response.failure(f"{response.status_code} {_code(response)}")

        gevent.joinall([gevent.spawn(submit), gevent.spawn(submit)])
        for _ in range(answers.count(200)):
            self.completed()
        if answers.count(200) == 2:
            TALLY.double_both_accepted += 1
        elif sorted(answers) == [200, 409]:
            TALLY.double_refused += 1

    def completed(self) -> None:
        TALLY.completions += 1
        if MAX_COMPLETIONS and TALLY.completions == MAX_COMPLETIONS and self.environment.runner:
            # From a greenlet of its own: quitting stops this user too, after its current task.
            gevent.spawn(self.environment.runner.quit)


class StaffUser(TaskApiUser):
    fixed_count = min(STAFF_USERS, len(CREDENTIALS["staff"]))

    def on_start(self) -> None:
        super().on_start()
        self.log_in(next(STAFF_LOGINS))

    @task
    def work_one_task(self) -> None:
        mine = self.get_json("/api/tasks/?tab=mine", name="inbox mine (staff)")
        if mine is None:
            return
        if mine["results"]:
            self.complete(mine["results"][0]["id"])
            return
        team = self.get_json("/api/tasks/?tab=team", name="inbox team (staff)")
        if team and team["results"]:
            # Not always the first: colleagues reading the same page would all reach for the same task.
            task_id = self.rng.choice(team["results"])["id"]
            if self.claim(task_id):
                self.complete(task_id)

    def claim(self, task_id: int) -> bool:
        with self.client.post(
            f"/api/tasks/{task_id}/claim/", headers=self.headers, name="claim", catch_response=True
        ) as response:
            if response.status_code == 200:
                return True
            if response.status_code == 409 and _code(response) in CLAIM_CONFLICTS:
                TALLY.claim_conflicts += 1
                response.success()
            else:
                response.failure(f"{response.status_code} {_code(response)}")
            return False


class GuardianUser(TaskApiUser):
    weight = 1

    def on_start(self) -> None:
        super().on_start()
        self.next_guardian()

    def next_guardian(self) -> None:
        TALLY.guardian_logins += 1
        self.log_in(next(GUARDIAN_LOGINS))

    @task
    def answer_one_task(self) -> None:
        mine = self.get_json("/api/tasks/?tab=mine", name="inbox mine (guardian)")
        if mine is None:
            return
        if mine["results"]:
            self.complete(mine["results"][0]["id"])
        else:
            self.next_guardian()


@events.test_start.add_listener
def _refuse_other_hosts(environment: Environment, **_kwargs: Any) -> None:
    host = urlsplit(environment.host or "").hostname
    if host not in LOOPBACK_HOSTS:
        print(f"refused: {environment.host!r} is not loopback; the load test runs on 127.0.0.1 only")
        environment.process_exit_code = 2
        if environment.runner:
            gevent.spawn(environment.runner.quit)
    TALLY.started = time.time()


@events.test_stop.add_listener
def _stopped(environment: Environment, **_kwargs: Any) -> None:
    TALLY.stopped = time.time()


@events.quitting.add_listener
def _write_summary(environment: Environment, **_kwargs: Any) -> None:
    path = os.environ.get("LOAD_SUMMARY")
    if not path:
        return
    stats = environment.stats
    total = stats.total
    entries = sorted(stats.entries.values(), key=lambda entry: entry.name)
    summary = {
        "tally": asdict(TALLY),
        "seconds": (TALLY.stopped or time.time()) - TALLY.started,
        "requests": total.num_requests,
        "failures": total.num_failures,
        "median_ms": total.median_response_time,
        "p95_ms": total.get_response_time_percentile(0.95),
        "by_name": [
            {
                "name": entry.name,
                "requests": entry.num_requests,
                "failures": entry.num_failures,
                "median_ms": entry.median_response_time,
                "p95_ms": entry.get_response_time_percentile(0.95),
            }
            for entry in entries
        ],
        "errors": [
            {"name": error.name, "error": str(error.error), "occurrences": error.occurrences}
            for error in stats.errors.values()
        ],
    }
    Path(path).write_text(json.dumps(summary, indent=1), encoding="utf-8")
