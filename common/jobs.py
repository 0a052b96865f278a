"""Celery jobs for platform plumbing."""

from __future__ import annotations

import socket
from typing import Any

from celery import shared_task

from common.health import database_status


@shared_task(name="common.broker_roundtrip")
def broker_roundtrip(token: str) -> dict[str, Any]:
    """Echo a token with the worker's host and database: proves a real worker ran it."""
    return {"token": token, "hostname": socket.gethostname(), "database": database_status()}
