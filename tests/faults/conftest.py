"""A PostgreSQL server of the test's own, to restart at will: the shared server on 5432 serves other
people and other runs, so a fault test never touches it. Needs the PostgreSQL server binaries
(/usr/lib/postgresql/<version>/bin); as root the server runs as the `postgres` user, as anyone else
as that user. Skipped without them (a failure under SKOLFLODE_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from conftest import service_missing

POSTGRES_INSTALLS = Path("/usr/lib/postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fault: injects a fault (a restart, a killed process) into running services; tests/faults/"
    )


def postgres_server_binaries() -> Path | None:
    """The bin/ folder of the newest PostgreSQL server installed the Debian way, if any."""
    candidates = [path.parent for path in POSTGRES_INSTALLS.glob("*/bin/pg_ctl") if path.parent.name == "bin"]
    if not candidates:
        return None
    return max(
        candidates, key=lambda bin_dir: int(bin_dir.parent.name) if bin_dir.parent.name.isdigit() else 0
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PrivatePostgres:
    """One server in a temporary folder, trust authentication, listening on 127.0.0.1:`port`."""

    bin_dir: Path
    folder: Path
    port: int
    run_as: str | None  # the server refuses to run as root

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {done.stderr or done.stdout}")

    def initialise(self) -> None:
        self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        # fsync off: nothing here must survive a power cut, and the test stays fast on a shared disk.
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.folder / "server.log")
        self._run("pg_ctl", "-D", str(self.data_dir), "-o", options, "-l", log, "-w", "-t", "30", "start")

    def stop(self) -> None:
        """A fast shutdown, as an operator's restart does: every session is ended, open transactions
        are rolled back."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop")

    def is_running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def database_create(self, name: str) -> str:
        with psycopg.connect(self.url("postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running private PostgreSQL server, stopped and deleted afterwards whatever happened."""
    bin_dir = postgres_server_binaries()
    if bin_dir is None:
        service_missing(f"no PostgreSQL server binaries under {POSTGRES_INSTALLS} for a private server")
    run_as = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            service_missing("running as root and there is no `postgres` user to run a private server")
        run_as = "postgres"
    folder = Path(tempfile.mkdtemp(prefix="skolflode-pg-"))
    if run_as:
        shutil.chown(folder, user=run_as)
    server = PrivatePostgres(bin_dir=bin_dir, folder=folder, port=free_port(), run_as=run_as)
    try:
        server.initialise()
        server.start()
        yield server
    finally:
        try:
            if server.is_running():
                server.stop()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
