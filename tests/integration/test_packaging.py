"""The built distributions carry what official providers ship: license, typing marker, classifiers."""

from __future__ import annotations

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
