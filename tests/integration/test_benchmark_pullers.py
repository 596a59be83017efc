"""The benchmark's own pullers (``make bench`` is not part of the suite): ours and the floor agree."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path

import pytest

from airflow_webflow_audit.testing.simulator import WebflowSimulator
from benchmarks.run import Row, Simulator, pull, render
from tests.conftest import DAY0, TOKEN

pytestmark = pytest.mark.integration


def run_puller(name: str, sim: WebflowSimulator, dest: Path) -> dict:
    dest.mkdir()
    target = Simulator(url=sim.url, token=TOKEN, events=len(sim))
    return pull(name, target, DAY0, DAY0 + timedelta(hours=12), into=str(dest))


def test_ours_and_the_floor_land_the_same_lines(simulator, tmp_path):
    sim = simulator(days=1)
    ours = run_puller("ours", sim, tmp_path / "ours")
    floor = run_puller("floor", sim, tmp_path / "floor")
    truth = sim.events(DAY0, DAY0 + timedelta(hours=12))
    assert ours["events"] == len(truth) > 0
    # The floor asks the API for [from, to] as it is, so it may get edge events the window excludes.
    assert floor["events"] >= len(truth)
    landed = next((tmp_path / "ours").rglob("*.jsonl.gz"))
    lines = gzip.decompress(landed.read_bytes()).splitlines()
    assert [json.loads(line) for line in lines] == truth
    floor_lines = gzip.decompress((tmp_path / "floor" / "floor.jsonl.gz").read_bytes()).splitlines()
    assert set(lines) <= set(floor_lines)  # byte for byte the stdlib's lines
    for result in (ours, floor):
        assert result["seconds"] > 0
        assert result["peak_rss_mb"] >= 0


def test_the_table_is_markdown():
    row = Row("figure", "setting", "1", "2 (peer)", 0.5, ">= 1x", False)
    assert render([row]).splitlines() == [
        "| figure | setting | ours | peer | ratio (ours vs peer) | target | met |",
        "|---|---|---|---|---|---|---|",
        "| figure | setting | 1 | 2 (peer) | 0.50x | >= 1x | **no** |",
    ]
