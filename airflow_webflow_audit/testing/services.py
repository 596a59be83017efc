"""The servers a production-shaped Airflow deployment stands on, started on loopback: Postgres and Redis.

Debian's ``postgresql`` and ``redis-server`` packages, each in a folder of its own, stopped on the way out::

    with postgres() as database_url, redis(tmp / "redis") as broker_url:
        ...

Postgres refuses to run as root: as root, its folder is given to the ``postgres`` user and its commands
run as that user (``runuser``). :func:`missing` says what is not installed, for a test to skip with.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from airflow_webflow_audit.testing.deployment import free_port

#: The database the deployment's metadata lives in.
DATABASE = "airflow"
START_TIMEOUT = 60


def postgres_bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: ``pg_config --bindir``, else Debian's versioned folder."""
    candidates = []
    if shutil.which("pg_config"):
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(found.stdout.strip())
    candidates.extend(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True))
    for folder in candidates:
        if folder and (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def missing() -> str | None:
    """Why the services cannot start here (what to install), or None."""
    needs = []
    if postgres_bindir() is None:
        needs.append("postgresql (initdb, pg_ctl)")
    if shutil.which("redis-server") is None:
        needs.append("redis-server")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        needs.append("runuser (util-linux), to run Postgres as its own user")
    if not needs:
        return None
    return f"not installed: {', '.join(needs)}; on Debian: apt-get install postgresql redis-server"


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def postgres() -> Iterator[str]:
    """A fresh Postgres cluster on 127.0.0.1 with an empty ``airflow`` database; yields its SQLAlchemy URL.

    Its folder is a new one under the system's temporary folder (removed on the way out): the ``postgres``
    user must be able to reach it, which a test's own temporary folder (mode 0700, root's) does not allow.
    """
    bindir = postgres_bindir()
    if bindir is None:
        raise RuntimeError(missing() or "postgres is not installed")
    folder = Path(tempfile.mkdtemp(prefix="webflow-audit-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, port, log = folder / "data", free_port(), folder / "log"
    psql = str(bindir / "psql") if (bindir / "psql").exists() else "psql"
    try:
        _run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"]))
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
        _run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-w", "-o", options, "-l", str(log), "start"]))
        try:
            _run([psql, "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c", f"create database {DATABASE}"])
            yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/{DATABASE}"
        finally:
            subprocess.run(
                _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                capture_output=True,
                check=False,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def redis(folder: Path) -> Iterator[str]:
    """A Redis server on 127.0.0.1 that keeps nothing on disk; yields its URL (database 0)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with open(folder / "redis.log", "ab") as log:
        process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start; see {folder / 'redis.log'}")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _answers(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
