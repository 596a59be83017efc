"""A pytest plugin: install the built wheel with its ``amazon`` extra into a fresh virtualenv, with plain pip.

The install takes a minute or two, mostly pip unpacking Airflow. It starts in the background as soon
as the tests are collected (only when a test asks for ``wheel_install``), so it overlaps the rest of
the suite instead of adding to it; the test that asks for it waits for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: A resolver that backtracks (pip walking boto3's releases) shows as a timeout here, not a hang.
INSTALL_TIMEOUT = 600


@dataclass
class WheelInstall:
    """The fresh virtualenv the wheel was installed into, and how the install went."""

    venv: Path
    returncode: int
    seconds: float
    log: str

    def run(self, *args: str, home: Path) -> subprocess.CompletedProcess:
        """Run a command from the virtualenv's ``bin`` with its own AIRFLOW_HOME."""
        env = {
            key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "VIRTUAL_ENV", "AWS_"))
        }
        env.update({"AIRFLOW_HOME": str(home), "PATH": f"{self.venv / 'bin'}:{env.get('PATH', '')}"})
        return subprocess.run(
            [str(self.venv / "bin" / args[0]), *args[1:]], env=env, capture_output=True, text=True, timeout=300
        )


class _Job:
    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="webflow-wheel-install-"))
        self.venv = self.workdir / "venv"
        self.log_path = self.workdir / "install.log"
        uv = Path(sys.executable).with_name("uv")
        script = f"""
set -e
"{uv}" build --quiet --wheel --out-dir "{self.workdir}/dist" "{ROOT}"
"{getattr(sys, "_base_executable", sys.executable)}" -m venv "{self.venv}"
wheel=$(ls "{self.workdir}"/dist/*.whl)
"{self.venv}/bin/pip" install --quiet --disable-pip-version-check "$wheel[amazon]"
"""
        self.started = time.monotonic()
        self.log = self.log_path.open("w")
        env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
        self.process = subprocess.Popen(
            ["bash", "-c", script], stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )

    def wait(self) -> WheelInstall:
        try:
            returncode = self.process.wait(timeout=max(1.0, INSTALL_TIMEOUT - (time.monotonic() - self.started)))
        except subprocess.TimeoutExpired:
            self.stop()
            returncode = -1
        seconds = time.monotonic() - self.started
        self.log.close()
        lines = [line for line in self.log_path.read_text().splitlines() if "WARNING: Location" not in line]
        return WheelInstall(self.venv, returncode, seconds, "\n".join(lines[-60:]))

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 9)
            self.process.wait()


_job: _Job | None = None


def pytest_collection_finish(session: pytest.Session) -> None:
    global _job
    wanted = any("wheel_install" in getattr(item, "fixturenames", ()) for item in session.items)
    if wanted and not session.config.option.collectonly:
        _job = _Job()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _job is not None:
        _job.stop()


@pytest.fixture(scope="session")
def wheel_install() -> WheelInstall:
    """The wheel installed with ``[amazon]`` into a fresh virtualenv by plain pip (started at collection)."""
    if _job is None:
        pytest.fail("the wheel install was not started: is tests.wheel_install in pytest_plugins?")
    return _job.wait()
