"""Airflow finds the provider: entry point, provider-info schema, the Webflow connection form."""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from importlib.resources import files

import jsonschema
import pytest

import airflow_webflow_audit
from airflow_webflow_audit.hooks.webflow import WebflowHook


def test_the_entry_point_returns_the_provider_info():
    (entry,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_webflow_audit")]
    info = entry.load()()
    assert info["package-name"] == "airflow-webflow-audit"
    assert info == airflow_webflow_audit.get_provider_info()


def test_the_provider_info_matches_airflows_schema():
    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(airflow_webflow_audit.get_provider_info(), schema)


def test_every_listed_module_imports():
    import importlib

    info = airflow_webflow_audit.get_provider_info()
    for kind in ("hooks", "operators", "sensors", "triggers"):
        for entry in info.get(kind, []):
            for module in entry["python-modules"]:
                importlib.import_module(module)
    (conn,) = info["connection-types"]
    module, _, name = conn["hook-class-name"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is WebflowHook
    for notifier in info["notifications"]:
        module, _, name = notifier.rpartition(".")
        assert getattr(importlib.import_module(module), name).__name__ == name


def test_airflow_lists_the_findings_notifier(providers_manager):
    assert "airflow_webflow_audit.notifications.findings.WebflowFindingsLogNotifier" in providers_manager.notification


@pytest.fixture(scope="module")
def providers_manager():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    manager.initialize_providers_hooks()
    return manager


def test_airflow_registers_the_webflow_connection_type(providers_manager):
    assert "airflow-webflow-audit" in providers_manager.providers
    try:  # Airflow 3.2+ resolves hooks for tasks through the task SDK's runtime manager
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

        hook_info = ProvidersManagerTaskRuntime().hooks["webflow"]
    except ImportError:
        hook_info = providers_manager.hooks["webflow"]
    assert hook_info.hook_class_name == "airflow_webflow_audit.hooks.webflow.WebflowHook"
    assert hook_info.connection_id_attribute_name == "webflow_conn_id"
    assert hook_info.hook_name == "Webflow"


def test_the_connection_form_has_the_webflow_fields(providers_manager):
    behaviour = providers_manager.field_behaviours["webflow"]
    assert behaviour["relabeling"] == {"password": "API token", "host": "Base URL"}
    assert set(behaviour["hidden_fields"]) == {"schema", "login", "port"}
    widgets = providers_manager.connection_form_widgets
    workspace = widgets["extra__webflow__workspace"]
    assert workspace.field["schema"]["title"] == "Default workspace"
    for name in ("rate_limit_per_minute", "rate_limit_window_seconds", "timeout", "max_retries", "max_concurrency"):
        assert f"extra__webflow__{name}" in widgets


def test_a_connection_builds_the_hook(monkeypatch):
    from airflow.sdk import BaseHook

    monkeypatch.setenv("AIRFLOW_CONN_WEBFLOW_AUDIT", '{"conn_type": "webflow", "password": "tok-123456"}')
    hook = BaseHook.get_hook("webflow_audit")
    assert isinstance(hook, WebflowHook)
    assert hook.webflow_conn_id == "webflow_audit"
    assert "tok-123456" not in repr(hook)


def test_the_code_map_names_every_module():
    """docs/contributing.md's code map answers "where does X live" only while it names every module."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    page = (root / "docs" / "contributing.md").read_text()
    code_map = page.split("## Code map", 1)[1].split("## Development", 1)[0]
    package = root / "airflow_webflow_audit"
    missing = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if path.name in ("__init__.py", "__main__.py") and len(relative.parts) > 1:
            continue  # a package is named by its folder or its modules
        folders = [f"`{'/'.join(relative.parts[:depth])}/`" for depth in range(1, len(relative.parts))]
        named = f"`{relative.as_posix()}`" in code_map or any(folder in code_map for folder in folders)
        if not named:
            missing.append(relative.as_posix())
    assert missing == []
