"""A database that is away (restarting, failing over) answers 503 with Retry-After, never a 500: problem+json
under /api/, a Swedish page elsewhere. The failures here are real: Django connects to a port nobody
listens on (for SQLite, a file it cannot open), or the server drops the session under it."""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.db import OperationalError, connection
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from common.errors import DATABASE_RETRY_AFTER_SECONDS, api_exception_handler, is_transaction_conflict
from conftest import database_url_of_this_run
from organisation.models import Role
from organisation.tests.factories import MembershipFactory, SchoolUnitFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def database_unreachable() -> Iterator[None]:
    """Django's next connect fails for real: PostgreSQL at a port that is bound but not listening
    (the kernel refuses the connection), SQLite at a file in a folder that does not exist."""
    original = dict(connection.settings_dict)
    connection.close()
    with socket.socket() as closed_port:
        closed_port.bind(("127.0.0.1", 0))
        if connection.vendor == "postgresql":
            connection.settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port.getsockname()[1]))
        else:
            connection.settings_dict["NAME"] = "/nonexistent-folder/skolflode.sqlite3"
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict.clear()
            connection.settings_dict.update(original)


@pytest.fixture
def teacher():
    return MembershipFactory(
        user=UserFactory(username="lars"), unit=SchoolUnitFactory(), role=Role.TEACHER
    ).user


def assert_database_unavailable_problem(response) -> None:
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    body = response.json()
    assert body["code"] == "database_unavailable"
    assert body["status"] == 503
    assert body["retry_after"] == DATABASE_RETRY_AFTER_SECONDS
    assert body["title"] == "Databasen är inte tillgänglig just nu. Försök igen om en stund."


def test_an_api_call_while_the_database_is_unreachable_answers_503_problem_json(teacher):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=teacher).key}")

    with database_unreachable():
        response = api.get("/api/tasks/")

    assert_database_unavailable_problem(response)
    assert api.get("/api/tasks/").status_code == 200, "the next call after the outage works again"


def test_a_page_while_the_database_is_unreachable_is_a_swedish_503_page(teacher):
    # The session lives in the database: the page fails at the first look at who is logged in.
    browser = Client(raise_request_exception=False)
    browser.force_login(teacher)

    with database_unreachable():
        response = browser.get("/tasks/")

    page = response.content.decode()
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    assert '<html lang="sv">' in page
    assert "Skolflöde är tillfälligt otillgängligt" in page
    assert "Vänta en stund och ladda om sidan." in page


def test_the_503_page_is_in_english_for_an_english_browser(teacher):
    browser = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="en")
    browser.force_login(teacher)

    with database_unreachable():
        response = browser.get("/tasks/")

    assert response.status_code == 503
    assert "Skolflöde is temporarily unavailable" in response.content.decode()


def test_an_api_call_whose_session_the_server_dropped_answers_503(teacher):
    """What a restart does to a web worker's open connection: the server ends the session under it."""
    if connection.vendor != "postgresql":
        pytest.skip("a server-side session end needs PostgreSQL")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=teacher).key}")
    assert api.get("/api/tasks/").status_code == 200  # the connection is open and kept (CONN_MAX_AGE)
    backend_pid = connection.connection.info.backend_pid
    with psycopg.connect(database_url_of_this_run(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [backend_pid]).fetchone():
            assert time.monotonic() < deadline, "the server did not end the session"
            time.sleep(0.02)

    try:
        response = api.get("/api/tasks/")
    finally:
        connection.close()  # what Django's end-of-request cleanup does with a connection that failed

    assert_database_unavailable_problem(response)


def a_real_deadlock() -> psycopg.Error:
    """Two sessions each hold an advisory lock and ask for the other's: PostgreSQL's deadlock detector
    aborts one of them (after deadlock_timeout, 1 s). Returns the error that session got."""
    url = database_url_of_this_run()
    errors: list[psycopg.Error] = []
    with psycopg.connect(url) as first, psycopg.connect(url) as second:
        first.execute("SELECT pg_advisory_xact_lock(4001)")
        second.execute("SELECT pg_advisory_xact_lock(4002)")

        def first_wants_the_seconds_lock() -> None:
            try:
                first.execute("SELECT pg_advisory_xact_lock(4002)")
            except psycopg.Error as exc:
                errors.append(exc)
                first.rollback()

        waiter = threading.Thread(target=first_wants_the_seconds_lock)
        waiter.start()
        time.sleep(0.2)
        try:
            second.execute("SELECT pg_advisory_xact_lock(4001)")
        except psycopg.Error as exc:
            errors.append(exc)
        second.rollback()
        waiter.join(timeout=10)
    assert len(errors) == 1, errors
    return errors[0]


def test_a_deadlock_is_a_transaction_conflict_to_retry_not_a_database_outage(rf):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers: it never deadlocks")
    deadlock = a_real_deadlock()
    with pytest.raises(OperationalError) as wrapped:
        with connection.wrap_database_errors:  # how Django hands it to a view
            raise deadlock

    response = api_exception_handler(wrapped.value, {"request": rf.post("/api/tasks/1/complete/")})

    assert response.status_code == 503 and response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    assert response.data["code"] == "transaction_conflict"
    assert is_transaction_conflict(wrapped.value)
