import socket
import uuid

import pytest

from common.jobs import broker_roundtrip
from config.celery import app


@pytest.mark.broker
@pytest.mark.django_db
def test_a_job_round_trips_through_a_real_worker(celery_worker_process):
    token = uuid.uuid4().hex
    # send_task always goes through the broker, whatever the eager setting of this test process.
    result = app.send_task("common.broker_roundtrip", args=[token]).get(timeout=30)

    assert result["token"] == token
    assert result["database"]["ok"] is True
    assert celery_worker_process.poll() is None, "the worker is still alive after the round trip"


@pytest.mark.django_db
def test_an_eager_job_runs_in_this_process_and_returns_its_result():
    token = uuid.uuid4().hex

    result = broker_roundtrip.delay(token).get(timeout=5)

    assert result == {"token": token, "hostname": socket.gethostname(), "database": result["database"]}
    assert result["database"]["ok"] is True
