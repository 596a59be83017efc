"""Only ``compat.py`` knows which Airflow 3 minor it runs on (the matrix in test_airflow_versions.py proves
the rest works on each): no other module imports a name that only some versions have, or reads the version."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from airflow_webflow_audit import compat

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "airflow_webflow_audit").rglob("*.py"), *(ROOT / "dags").glob("*.py")])

#: Names whose home moved between Airflow 3.0 and 3.3, by the module they are imported from.
VERSION_DEPENDENT = {
    "airflow.sdk": {"conf", "BaseHook", "BaseNotifier", "CronDataIntervalTimetable"},
    "airflow.sdk.exceptions": {"*"},
    "airflow.sdk.lineage": {"*"},
    "airflow.exceptions": {"*"},
    "airflow.configuration": {"*"},
    "airflow.hooks.base": {"*"},
    "airflow.lineage.hook": {"*"},
    "airflow.timetables.interval": {"*"},
    "airflow": {"__version__"},
}


def version_dependent_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module in VERSION_DEPENDENT:
            names = VERSION_DEPENDENT[node.module]
            found += [f"{node.module}.{a.name}" for a in node.names if "*" in names or a.name in names]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name in VERSION_DEPENDENT and a.name != "airflow"]
    return found


def test_no_module_but_compat_imports_a_name_that_moved_between_airflow_versions():
    offenders = {
        str(path.relative_to(ROOT)): imports
        for path in SOURCES
        if path.name != "compat.py" and (imports := version_dependent_imports(path))
    }
    assert offenders == {}


def test_the_check_sees_such_an_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from airflow.sdk import DAG, conf\nfrom airflow.sdk.exceptions import AirflowException\n")
    assert version_dependent_imports(sample) == ["airflow.sdk.conf", "airflow.sdk.exceptions.AirflowException"]


@pytest.mark.parametrize(
    ("version", "has_store"),
    [("3.0.0", False), ("3.2.2", False), ("3.3.1", False), ("3.3.2", True), ("3.3.2rc1", True), ("3.4.0", True)],
)
def test_the_trigger_state_store_arrives_in_3_3_2(version, has_store):
    assert compat.has_trigger_state_store(version) is has_store


def test_the_names_are_the_ones_this_airflow_uses():
    from airflow.sdk import BaseHook, BaseNotifier, CronDataIntervalTimetable, conf
    from airflow.sdk.exceptions import AirflowFailException

    assert (compat.BaseHook, compat.BaseNotifier, compat.conf) == (BaseHook, BaseNotifier, conf)
    assert compat.CronDataIntervalTimetable is CronDataIntervalTimetable
    assert compat.AirflowFailException is AirflowFailException
