"""A real Airflow deployment on loopback, for end-to-end tests and benchmarks, in two shapes.

:func:`running`: one ``AIRFLOW_HOME`` with a migrated SQLite database; ``api-server``, ``scheduler`` and
``dag-processor`` (and a ``triggerer`` when asked) as child processes bound to 127.0.0.1, each in
its own process group so stopping it also stops the executor's task workers::

    home = prepare_home(tmp / "airflow", dags_folder=..., pools={"webflow_api": 2})
    with running(home, logs=tmp, env={...}) as deployment:
        deployment.wait_for("the DAG", lambda: deployment.dag_is_serialized("my_dag"), 180)
        deployment.cli("dags", "unpause", "my_dag")

:func:`running_production`: the shape people run: Postgres, the CeleryExecutor with Redis, the api-server
under a path prefix, and Celery workers that share nothing with the rest but the database and what the
environment names (a bucket): each has its own ``AIRFLOW_HOME``, ``HOME``, working folder, copy of the
DAGs and host name, as a worker on another machine would.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The long-running parts of a deployment, each started as ``airflow <args>``; the log server the
#: scheduler would start listens on every interface, so it is skipped.
COMPONENTS: dict[str, tuple[str, ...]] = {
    "scheduler": ("scheduler", "--skip-serve-logs"),
    "dag-processor": ("dag-processor",),
    "triggerer": ("triggerer", "--skip-serve-logs"),
}
CLI_TIMEOUT = 300


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def airflow_env(home: Path, dags_folder: Path, **extra: str) -> dict[str, str]:
    """The environment of an ``airflow`` command in ``home``: this process's, plus the deployment's."""
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        **extra,
    }


def run_cli(env: dict[str, str], *args: str, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess:
    """``airflow <args>``; raises with its output when it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        env=env,
        cwd=env["AIRFLOW_HOME"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def prepare_home(home: Path, *, dags_folder: Path, pools: dict[str, int] | None = None) -> Path:
    """An ``AIRFLOW_HOME`` with a migrated SQLite database and ``pools``."""
    home.mkdir(parents=True, exist_ok=True)
    env = airflow_env(home, dags_folder)
    run_cli(env, "db", "migrate")
    for name, slots in (pools or {}).items():
        run_cli(env, "pools", "set", name, str(slots), "Caps concurrent calls on one Webflow token")
    return home


def copy_home(template: Path, home: Path) -> Path:
    """A new ``AIRFLOW_HOME`` with a copy of ``template``'s database (migrating takes 15 s or more).

    ``airflow.cfg`` is copied too, its paths moved to the new home: components started together on
    a home without one would each write their own, with different JWT secrets, and their tasks
    would be refused ("Invalid auth token").
    """
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template / "airflow.db", home / "airflow.db")
    config = (template / "airflow.cfg").read_text()
    (home / "airflow.cfg").write_text(config.replace(str(template), str(home)))
    return home


def worker_hostname() -> str:
    """``[core] hostname_callable`` of a production-shaped deployment's workers: each names itself, as
    workers on separate machines would (two on one machine would otherwise report the same host)."""
    return os.environ.get("WEBFLOW_AUDIT_HOSTNAME") or socket.getfqdn()


@dataclass
class Component:
    """How one long-running part is started: ``airflow <args>``, with its own environment additions and working
    folder (a worker's), or the deployment's."""

    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None


@dataclass
class Deployment:
    """A running deployment: its environment (for ``airflow`` commands) and its processes."""

    home: Path
    env: dict[str, str]
    #: Each component this deployment can start.
    commands: dict[str, Component] = field(
        default_factory=lambda: {name: Component(args) for name, args in COMPONENTS.items()}
    )
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    #: The metadata database's SQLAlchemy URL when it is not ``home``'s SQLite file.
    database_url: str | None = None
    #: Where the UI and the API are served: ``http://127.0.0.1:<port>[/<prefix>]``.
    base_url: str = ""
    #: Where each component's output goes, as ``<name>.log``.
    logs: Path | None = None

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        """Poll ``check`` each second; fail if a component exits or ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        while not check():
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"airflow {name} exited early while waiting for {what}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(1)

    def query(self, sql: str, *params: object) -> list[tuple]:
        """Read the metadata database directly (the CLI would take seconds per question); ``?`` placeholders."""
        if self.database_url is None:
            with sqlite3.connect(self.home / "airflow.db", timeout=30) as db:
                return db.execute(sql, params).fetchall()
        import psycopg2

        with psycopg2.connect(_libpq_url(self.database_url)) as db, db.cursor() as cursor:
            cursor.execute(sql.replace("%", "%%").replace("?", "%s"), params)
            return cursor.fetchall()

    def dag_is_serialized(self, dag_id: str) -> bool:
        return bool(self.query("select 1 from serialized_dag where dag_id = ?", dag_id))

    def dags_parsed(self, dag_ids: Sequence[str]) -> bool:
        """Whether every DAG is serialized; raises with the DAG processor's import errors, if it has any."""
        errors = self.query("select filename, stacktrace from import_error")
        if errors:
            raise RuntimeError(
                "DAG files failed to import:\n" + "\n".join(f"{name}: {trace}" for name, trace in errors)
            )
        return all(self.dag_is_serialized(dag_id) for dag_id in dag_ids)

    def cli(self, *args: str, attempts: int = 4) -> subprocess.CompletedProcess:
        """``airflow <args>`` against this deployment, tried again while SQLite is locked.

        SQLite lets one writer in at a time; a CLI write that waits past its busy timeout fails with
        "database is locked" and rolls back, so trying again is safe. Real deployments use Postgres.
        """
        for attempt in range(attempts):
            try:
                return run_cli(self.env, *args)
            except RuntimeError as exc:
                if "database is locked" not in str(exc) or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def stop(self, name: str) -> None:
        """Stop one component (SIGTERM to its process group, SIGKILL after 30 s)."""
        process = self.processes.pop(name)
        _stop(process)

    def kill(self, name: str) -> None:
        """Kill one component at once (SIGKILL to its process group), as a machine that dies would stop."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def start(self, name: str, logs: Path | None = None) -> None:
        """Start (or start again) one component, its output appended to ``<logs>/<name>.log`` (default: the
        deployment's own log folder)."""
        component = self.commands[name]
        folder = logs or self.logs or self.home
        with open(folder / f"{name}.log", "a") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *component.args],
                env={**self.env, **component.env},
                cwd=component.cwd or self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # so stopping it also stops the executor's workers
            )


@contextmanager
def running(
    home: Path,
    *,
    logs: Path,
    dags_folder: Path,
    env: dict[str, str] | None = None,
    components: Sequence[str] = ("scheduler", "dag-processor"),
    stop_timeout: float = 30,
) -> Iterator[Deployment]:
    """An api-server plus ``components`` on loopback, stopped (process groups) on the way out.

    ``stop_timeout``: seconds each gets to exit after SIGTERM before SIGKILL.
    """
    port = free_port()
    deployment = Deployment(
        home,
        airflow_env(
            home,
            dags_folder,
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(port),
            # Task workers reach the execution API here; the default assumes port 8080.
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
            **(env or {}),
        ),
    )
    deployment.base_url = f"http://127.0.0.1:{port}"
    deployment.logs = logs
    deployment.commands["api-server"] = Component(
        ("api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1")
    )
    logs.mkdir(parents=True, exist_ok=True)
    with _stopped_on_exit(deployment, stop_timeout):
        for name in ("api-server", *components):
            deployment.start(name, logs)
        yield deployment


@contextmanager
def _stopped_on_exit(deployment: Deployment, stop_timeout: float) -> Iterator[None]:
    try:
        yield
    finally:
        for process in deployment.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in deployment.processes.values():
            _stop(process, stop_timeout)


#: The path the production-shaped deployment serves Airflow under, as deployments behind a proxy do.
BASE_PATH = "/airflow"


@contextmanager
def running_production(
    root: Path,
    *,
    dags_folder: Path,
    database_url: str,
    broker_url: str,
    env: dict[str, str] | None = None,
    workers: int = 2,
    concurrency: int = 2,
    pools: dict[str, int] | None = None,
    components: Sequence[str] = ("scheduler", "dag-processor", "triggerer"),
    stop_timeout: float = 10,
) -> Iterator[Deployment]:
    """Postgres (``database_url``, empty), the CeleryExecutor on ``broker_url``, the api-server under
    :data:`BASE_PATH`, ``components``, and ``workers`` Celery workers named ``worker-1``... .

    The control plane (api-server, scheduler, dag-processor, triggerer) shares ``root/control`` as its
    ``AIRFLOW_HOME``; each worker has ``root/worker-N`` as ``AIRFLOW_HOME``, ``HOME`` and working folder,
    with its own copy of ``dags_folder``. ``env`` reaches every process (connections, the bucket).
    Logs: ``root/<component>.log``.
    """
    control = root / "control"
    control.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}{BASE_PATH}"
    shared = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        # Celery's result backend in the same database; db+postgresql+psycopg2, or SQLAlchemy asks for psycopg 3.
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database_url,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base_url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
        # Every process signs and checks task tokens with one secret, as a real deployment's config gives them.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
        **(env or {}),
    }
    deployment = Deployment(control, airflow_env(control, dags_folder, **shared), database_url=database_url)
    deployment.base_url, deployment.logs = base_url, root
    run_cli(deployment.env, "db", "migrate")
    for name, slots in (pools or {}).items():
        run_cli(deployment.env, "pools", "set", name, str(slots), "Caps concurrent calls on one Webflow token")
    deployment.commands["api-server"] = Component(
        ("api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1")
    )
    worker_names = [f"worker-{number}" for number in range(1, workers + 1)]
    for name in worker_names:
        home = root / name
        home.mkdir(parents=True, exist_ok=True)
        shutil.copytree(dags_folder, home / "dags", dirs_exist_ok=True)
        deployment.commands[name] = Component(
            ("celery", "worker", "-H", f"{name}@127.0.0.1", "-c", str(concurrency), "--skip-serve-logs"),
            env={
                "AIRFLOW_HOME": str(home),
                "HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
                "WEBFLOW_AUDIT_HOSTNAME": name,
            },
            cwd=home,
        )
    with _stopped_on_exit(deployment, stop_timeout):
        for name in ("api-server", *components, *worker_names):
            deployment.start(name, root)
        yield deployment


def _fernet_key() -> str:
    import base64

    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _libpq_url(database_url: str) -> str:
    """A SQLAlchemy URL as libpq takes it (no ``+driver``)."""
    scheme, _, rest = database_url.partition("://")
    return f"{scheme.split('+', 1)[0]}://{rest}"


def postgres_query(database_url: str, sql: str, *params: Any) -> list[tuple]:
    """One query against a Postgres metadata database (``?`` placeholders), outside a :class:`Deployment`."""
    return Deployment(Path("."), {}, database_url=database_url).query(sql, *params)


def _stop(process: subprocess.Popen, timeout: float = 30) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
