"""The built distributions carry what official providers ship: license, typing marker, classifiers."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    uv = Path(sys.executable).with_name("uv")
    subprocess.run([str(uv), "build", "--quiet", "--out-dir", str(out), str(ROOT)], check=True, timeout=300)
    return out


def test_the_wheel_holds_the_license_the_typing_marker_and_the_provider_entry_point(dist):
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "airflow_webflow_audit/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: Apache-2.0" in metadata
    for classifier in ("Framework :: Apache Airflow :: Provider", "Programming Language :: Python :: 3.11"):
        assert f"Classifier: {classifier}" in metadata
    assert "provider_info = airflow_webflow_audit:get_provider_info" in entry_points
    assert not any(n.startswith(("tests/", "dags/", "benchmarks/")) for n in names)


def test_the_sdist_holds_the_license_and_the_changelog(dist):
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"LICENSE", "CHANGELOG.md", "README.md", "airflow_webflow_audit/py.typed"} <= names


@pytest.mark.slow
def test_plain_pip_installs_the_wheel_with_amazon_and_airflow_finds_the_provider(wheel_install, tmp_path):
    assert wheel_install.returncode == 0, f"pip install '<wheel>[amazon]' failed:\n{wheel_install.log}"
    print(f"plain pip installed the wheel with [amazon] in {wheel_install.seconds:.0f} s")

    providers = wheel_install.run("airflow", "providers", "list", "--output", "json", home=tmp_path)
    assert providers.returncode == 0, providers.stderr[-3000:]
    assert "airflow-webflow-audit" in {entry["package_name"] for entry in json.loads(providers.stdout)}

    hooks = wheel_install.run("airflow", "providers", "hooks", "--output", "json", home=tmp_path)
    assert hooks.returncode == 0, hooks.stderr[-3000:]
    webflow = {entry["connection_type"]: entry for entry in json.loads(hooks.stdout)}["webflow"]
    assert webflow["class"] == "airflow_webflow_audit.hooks.webflow.WebflowHook"

    # What "No filesystem registered for scheme s3" broke: an s3:// destination resolves to s3fs.
    probe = (
        "from airflow.sdk import ObjectStoragePath\n"
        "from airflow_webflow_audit.landing.layout import resolve_destination\n"
        "print(type(resolve_destination('s3://aws_default@audit-bucket/webflow').fs).__name__)\n"
    )
    s3 = wheel_install.run("python", "-c", probe, home=tmp_path)
    assert s3.returncode == 0, s3.stderr[-3000:]
    assert s3.stdout.strip().splitlines()[-1] == "S3FileSystem"
