"""A pytest plugin: the provider on every Airflow 3 minor it declares, each in a fresh virtualenv.

For each :data:`MATRIX` entry, in the background from the moment the tests are collected (only when
a test asks for ``version_matrix``) and one version after another: build the wheel, install it with
``uv`` into a fresh virtualenv resolved as of that Airflow's release (``--exclude-newer``: its
constraints file is not reachable, and today's pydantic and SQLAlchemy break old Airflow), migrate a
SQLite metadata database, run ``tests/e2e/version_matrix/webflow_version_matrix.py`` through
``airflow dags test`` against the simulator, moto's S3 and the GCS emulator (all in this process,
shared with the rest of the suite), audit the local landing with the audit command line, and
import every example DAG. ``tests/e2e/test_airflow_versions.py`` checks what each version left.

The floor entry installs the package's own requirements as direct ones with
``--resolution lowest-direct``, so every direct dependency is at its declared floor.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import tomllib

from airflow_webflow_audit.api import parse_timestamp
from airflow_webflow_audit.testing.simulator import WebflowSimulator, generate_events
from tests.storage_servers import AWS_CONN_ID, aws_connection

ROOT = Path(__file__).resolve().parents[1]
MATRIX_DAGS = ROOT / "tests" / "e2e" / "version_matrix"
#: The matrix DAG's run: the window [2026-10-01, 2026-10-02).
LOGICAL_DATE = "2026-10-02T00:00:00+00:00"
WORKSPACE = "hitchhikers-workspace"
#: Extras every version is installed with: each destination, Parquet, and lineage.
EXTRAS = ("amazon", "google", "parquet", "openlineage")
STEP_TIMEOUT = 420
#: The first quiet day; the simulated events end before it.
QUIET_DAYS_FROM = datetime(2026, 10, 10, tzinfo=timezone.utc)


def late_role_change(stamp: str) -> dict[str, Any]:
    return {
        "timestamp": stamp,
        "eventType": "custom_role",
        "eventSubType": "role_updated",
        "actor": {"id": "a" * 24, "email": "ford@example.com", "type": "person"},
        "workspace": {"id": "6621ccb459b561c69f29d57c", "slug": WORKSPACE},
        "payload": {"roleName": "Admin"},
    }


@dataclass(frozen=True)
class AirflowTarget:
    """One Airflow version of the matrix, resolved as of ``exclude_newer`` (its upload day + 2 weeks)."""

    label: str
    airflow: str
    exclude_newer: str
    #: Install the package's own requirements at their declared floors (``--resolution lowest-direct``).
    lowest_direct: bool = False
    #: Airflow 3.0's ``dags test`` needs the DAG serialized first: 3.0.0 finds the DAG only in the
    #: database, and 3.0.x fails a task whose outlet asset no DAG processor has registered yet.
    reserialize_first: bool = False


#: The declared floor with every direct dependency at its floor, then the newest patch of each older
#: minor. The main virtualenv (the rest of the suite) covers the newest Airflow. Upload days of
#: ``apache-airflow`` on PyPI: 3.0.0 2025-04-22, 3.0.6 2025-08-29, 3.1.8 2026-03-12, 3.2.2 2026-05-29.
MATRIX = (
    AirflowTarget("3.0.0-floor", "3.0.0", "2025-05-06", lowest_direct=True, reserialize_first=True),
    AirflowTarget("3.0.6", "3.0.6", "2025-09-12", reserialize_first=True),
    AirflowTarget("3.1.8", "3.1.8", "2026-03-26"),
    AirflowTarget("3.2.2", "3.2.2", "2026-06-12"),
)

#: Distributions whose versions each run reports.
REPORTED = (
    "apache-airflow",
    "apache-airflow-task-sdk",
    "apache-airflow-providers-standard",
    "apache-airflow-providers-amazon",
    "apache-airflow-providers-google",
    "apache-airflow-providers-openlineage",
    "httpx",
    "orjson",
    "pendulum",
    "pydantic",
    "sqlalchemy",
    "fsspec",
    "s3fs",
    "gcsfs",
    "pyarrow",
)

_VERSIONS_SCRIPT = f"""
import importlib.metadata as m, json
found = {{}}
for name in {REPORTED!r}:
    try:
        found[name] = m.version(name)
    except m.PackageNotFoundError:
        found[name] = None
print(json.dumps(found))
"""

#: Imports every example DAG file as Airflow's DAG processor would; prints ``{file: error or null}``.
_EXAMPLES_SCRIPT = """
import json, runpy, sys, pathlib
errors = {}
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.py")):
    try:
        runpy.run_path(str(path), run_name="__dag_file__")
        errors[path.name] = None
    except Exception as exc:
        errors[path.name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(errors))
"""


@dataclass
class Step:
    """One command of a version's run."""

    name: str
    returncode: int
    seconds: float
    stdout: str
    stderr: str


@dataclass
class VersionRun:
    """What one Airflow version's run did and left behind."""

    target: AirflowTarget
    workdir: Path
    steps: dict[str, Step] = field(default_factory=dict)
    destinations: dict[str, str] = field(default_factory=dict)
    #: The day (``YYYY-MM-DD``) the deferrable sensor watches: empty until the sensor has looked once.
    quiet_day: str = ""

    @property
    def venv(self) -> Path:
        return self.workdir / "venv"

    @property
    def home(self) -> Path:
        return self.workdir / "airflow-home"

    @property
    def lineage_file(self) -> Path:
        return self.workdir / "openlineage.jsonl"

    @property
    def failed(self) -> Step | None:
        return next((step for step in self.steps.values() if step.returncode != 0), None)

    def versions(self) -> dict[str, str | None]:
        step = self.steps.get("versions")
        return json.loads(step.stdout.strip().splitlines()[-1]) if step and step.returncode == 0 else {}

    def task_states(self) -> dict[str, str | None]:
        import sqlite3

        with sqlite3.connect(self.home / "airflow.db") as db:
            rows = db.execute(
                "select task_id, state from task_instance where dag_id = 'webflow_version_matrix'"
            ).fetchall()
        return dict(rows)

    def xcom(self, task_id: str) -> Any:
        """A task's return value as the metadata database holds it (JSON in every Airflow 3)."""
        import sqlite3

        with sqlite3.connect(self.home / "airflow.db") as db:
            (value,) = db.execute(
                "select value from xcom where task_id = ? and key = 'return_value'", (task_id,)
            ).fetchone()
        decoded = json.loads(value)
        return json.loads(decoded) if isinstance(decoded, str) else decoded

    def output(self) -> str:
        """Every step's output, for the token check."""
        return "\n".join(step.stdout + step.stderr for step in self.steps.values())


@dataclass
class Matrix:
    """The shared servers, and each version's run as it finishes."""

    simulator: WebflowSimulator
    moto_endpoint: str
    gcs_endpoint: str
    s3_bucket: str
    gcs_bucket: str
    workdir: Path
    runs: dict[str, VersionRun] = field(default_factory=dict)
    done: dict[str, threading.Event] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    finished_after: dict[str, float] = field(default_factory=dict)
    #: Requests seen for each quiet day (see :meth:`late_event_for_the_deferrable_sensor`).
    quiet_requests: dict[str, int] = field(default_factory=dict)

    def quiet_day(self, target: AirflowTarget) -> str:
        """A day of its own per version, after the simulated days, for the deferrable sensor."""
        return (QUIET_DAYS_FROM + timedelta(days=MATRIX.index(target))).date().isoformat()

    def late_event_for_the_deferrable_sensor(self, path: str, params: dict[str, str]) -> None:
        """The simulator's request hook: the second request for a quiet day gets a ``custom_role`` event.

        The first is the sensor's own look before it defers (it finds nothing); the event is there
        for the trigger's polls.
        """
        if params.get("eventType") != "custom_role" or "from" not in params or "to" not in params:
            return
        start, end = parse_timestamp(params["from"]), parse_timestamp(params["to"])
        day = (start + (end - start) / 2).date().isoformat()  # requests ask a second more on each side
        if day not in self.quiet_requests:
            return
        self.quiet_requests[day] += 1
        if self.quiet_requests[day] == 2:
            self.simulator.insert_event(late_role_change(f"{day}T12:00:00.000Z"))

    def wait(self, label: str, timeout: float = 1500) -> VersionRun:
        if not self.done[label].wait(timeout):
            raise TimeoutError(f"the Airflow {label} run did not finish within {timeout:.0f} s")
        return self.runs[label]


class _Job:
    def __init__(self, matrix: Matrix, targets: list[AirflowTarget]) -> None:
        self.matrix = matrix
        self.targets = targets
        self.stopping = threading.Event()
        self.current: subprocess.Popen | None = None
        for target in targets:
            matrix.done[target.label] = threading.Event()
        self.thread = threading.Thread(target=self._run_all, name="version-matrix", daemon=True)
        self.thread.start()

    def _run_all(self) -> None:
        wheel: Path | None = None
        try:
            wheel = self._build_wheel()
        finally:
            for target in self.targets:
                run = VersionRun(target, self.matrix.workdir / target.label)
                self.matrix.runs[target.label] = run
                try:
                    if wheel is None:
                        run.steps["build"] = Step("build", 1, 0, "", "the wheel did not build")
                    elif not self.stopping.is_set():
                        self._run_version(run, wheel)
                finally:
                    self.matrix.finished_after[target.label] = time.monotonic() - self.matrix.started
                    self.matrix.done[target.label].set()

    def _build_wheel(self) -> Path:
        out = self.matrix.workdir / "dist"
        subprocess.run([str(_uv()), "build", "--quiet", "--wheel", "--out-dir", str(out), str(ROOT)], check=True)
        return next(out.glob("*.whl"))

    def _step(self, run: VersionRun, name: str, *args: str, env: dict[str, str] | None = None) -> Step:
        if run.failed is not None or self.stopping.is_set():
            return Step(name, 1, 0, "", "not run: an earlier step failed or the session ended")
        started = time.monotonic()
        self.current = subprocess.Popen(
            args,
            env=env or _clean_env(),
            cwd=run.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = self.current.communicate(timeout=STEP_TIMEOUT)
            returncode = self.current.returncode
        except subprocess.TimeoutExpired:
            os.killpg(self.current.pid, 9)
            stdout, stderr = self.current.communicate()
            returncode, stderr = -1, stderr + f"\ntimed out after {STEP_TIMEOUT} s"
        step = Step(name, returncode, time.monotonic() - started, stdout, stderr)
        run.steps[name] = step
        (run.workdir / f"{name.replace(' ', '-')}.log").write_text(stdout + stderr)
        return step

    def _run_version(self, run: VersionRun, wheel: Path) -> None:
        target = run.target
        run.quiet_day = self.matrix.quiet_day(target)
        run.workdir.mkdir(parents=True)
        python = str(run.venv / "bin" / "python")
        self._step(run, "venv", str(_uv()), "venv", "--quiet", "--python", _base_python(), str(run.venv))
        self._step(run, "install", *_install_command(target, wheel, python))
        self._step(run, "versions", python, "-c", _VERSIONS_SCRIPT)
        local = f"file://{run.workdir}/landing"
        run.destinations = {
            "local": local,
            "s3": f"s3://{AWS_CONN_ID}@{self.matrix.s3_bucket}/{target.label}",
            "gcs": f"gs://{self.matrix.gcs_bucket}/{target.label}",
        }
        env = _clean_env(
            AIRFLOW_HOME=str(run.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(MATRIX_DAGS),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__UNIT_TEST_MODE="False",
            AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps(
                {"type": "file", "log_file_path": str(run.lineage_file), "append": True}
            ),
            AIRFLOW__OPENLINEAGE__NAMESPACE="webflow-matrix",
            AIRFLOW_CONN_WEBFLOW_DEFAULT=self.matrix.simulator.connection_json(),
            **{f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}": aws_connection(self.matrix.moto_endpoint)},
            STORAGE_EMULATOR_HOST=self.matrix.gcs_endpoint,
            GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT="false",
            WEBFLOW_MATRIX_LOCAL=local,
            WEBFLOW_MATRIX_S3=run.destinations["s3"],
            WEBFLOW_MATRIX_GCS=run.destinations["gcs"],
            WEBFLOW_MATRIX_QUIET_DAY=run.quiet_day,
            PATH=f"{run.venv / 'bin'}:{os.environ.get('PATH', '')}",
        )
        airflow = str(run.venv / "bin" / "airflow")
        self._step(run, "db migrate", airflow, "db", "migrate", env=env)
        if target.reserialize_first:
            self._step(run, "reserialize", airflow, "dags", "reserialize", env=env)
        self._step(run, "dags test", airflow, "dags", "test", "webflow_version_matrix", LOGICAL_DATE, env=env)
        self._step(
            run,
            "audit",
            python,
            "-m",
            "airflow_webflow_audit.audit",
            local,
            "--workspace",
            WORKSPACE,
            "--start",
            "2026-10-01T00:00:00+00:00",
            "--end",
            LOGICAL_DATE,
            "--recount",
            "--json",
            env=env,
        )
        self._step(run, "examples", python, "-c", _EXAMPLES_SCRIPT, str(ROOT / "dags"), env=env)

    def stop(self) -> None:
        self.stopping.set()
        if self.current is not None and self.current.poll() is None:
            os.killpg(self.current.pid, 9)


def _uv() -> Path:
    return Path(sys.executable).with_name("uv")


def _base_python() -> str:
    return getattr(sys, "_base_executable", sys.executable)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VIRTUAL_ENV", "AWS_", "PYTEST"))}
    return {**env, **extra}


def package_requirements(extras: tuple[str, ...] = EXTRAS) -> list[str]:
    """The package's own requirements and those of ``extras``, as ``pyproject.toml`` declares them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional = project["optional-dependencies"]
    return [*project["dependencies"], *(requirement for extra in extras for requirement in optional[extra])]


def _install_command(target: AirflowTarget, wheel: Path, python: str) -> list[str]:
    command = [str(_uv()), "pip", "install", "--quiet", "--python", python, "--exclude-newer", target.exclude_newer]
    wheel_spec = f"{wheel}[{','.join(EXTRAS)}]"
    if target.lowest_direct:
        return [*command, "--resolution", "lowest-direct", wheel_spec, *package_requirements()]
    return [*command, wheel_spec, f"apache-airflow=={target.airflow}"]


_job: _Job | None = None
_matrix: Matrix | None = None


def _uses_the_matrix(item: pytest.Item) -> bool:
    return "version_matrix" in getattr(item, "fixturenames", ())


def pytest_collection_finish(session: pytest.Session) -> None:
    global _job, _matrix
    # Only the versions the selected tests ask for: `pytest -k 3.1.8` builds one virtualenv.
    wanted = [
        item.callspec.params.get("target")
        for item in session.items
        if _uses_the_matrix(item) and hasattr(item, "callspec")
    ]
    targets = [target for target in MATRIX if target in wanted]
    if not targets or session.config.option.collectonly:
        return
    from tests.conftest import DAY0, TOKEN
    from tests.storage_servers import create_gcs_bucket, s3_client, shared_gcs_endpoint, shared_moto_endpoint

    events = generate_events(seed=7, start=DAY0, end=DAY0 + timedelta(days=2), events_per_day=1500)
    simulator = WebflowSimulator(events, token=TOKEN).start()
    moto, gcs = shared_moto_endpoint(), shared_gcs_endpoint()
    s3_bucket, gcs_bucket = f"webflow-matrix-{uuid.uuid4().hex[:8]}", f"webflow-matrix-{uuid.uuid4().hex[:8]}"
    s3_client(moto).create_bucket(Bucket=s3_bucket)
    create_gcs_bucket(gcs, gcs_bucket)
    workdir = Path(tempfile.mkdtemp(prefix="webflow-version-matrix-"))
    _matrix = Matrix(simulator, moto, gcs, s3_bucket, gcs_bucket, workdir)
    _matrix.quiet_requests = {_matrix.quiet_day(target): 0 for target in targets}
    simulator.on_request = _matrix.late_event_for_the_deferrable_sensor
    _job = _Job(_matrix, targets)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _job is not None:
        _job.stop()
        _job.thread.join(timeout=30)
    if _matrix is not None:
        _matrix.simulator.stop()
        if os.environ.get("WEBFLOW_MATRIX_KEEP"):  # to read each step's log: <workdir>/<label>/<step>.log
            print(f"\nThe version matrix's runs are kept in {_matrix.workdir}")
        else:
            shutil.rmtree(_matrix.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def version_matrix() -> Matrix:
    """The matrix's servers and runs (started at collection); ``wait(label)`` for one version's run."""
    if _matrix is None:
        pytest.fail("the version matrix was not started: is tests.version_matrix in pytest_plugins?")
    return _matrix


def run_record(run: VersionRun) -> dict[str, Any]:
    """A short record of a run for the test's output: versions and how long each step took."""
    return {
        "versions": run.versions(),
        "seconds": {name: round(step.seconds, 1) for name, step in run.steps.items()},
    }
