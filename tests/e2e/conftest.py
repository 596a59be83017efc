"""A real Airflow metadata database (SQLite, ``airflow db migrate``) for the CLI end-to-end tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from airflow_webflow_audit.testing import deployment

ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = ROOT / "dags"
POOL = "webflow_api"


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of an ``airflow`` command: this test's connections plus the e2e home."""
    return deployment.airflow_env(home, DAGS_FOLDER, **extra)


def run_airflow(home: Path, *args: str, timeout: float = 300, **extra_env: str) -> subprocess.CompletedProcess:
    return deployment.run_cli(airflow_env(home, **extra_env), *args, timeout=timeout)


@pytest.fixture(scope="session")
def migrated_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database with the examples' pool, migrated once and copied for each home."""
    template = tmp_path_factory.mktemp("airflow-template")
    return deployment.prepare_home(template, dags_folder=DAGS_FOLDER, pools={POOL: 2})


@pytest.fixture(scope="session")
def airflow_home(migrated_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The AIRFLOW_HOME of the ``airflow dags test`` runs."""
    return deployment.copy_home(migrated_home, tmp_path_factory.mktemp("airflow-home"))
