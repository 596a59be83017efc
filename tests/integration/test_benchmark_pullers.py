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


def _stats(kind: str, requests: int, *, started: float = 0.0, first_boundary: float = 0.0) -> dict:
    window = {"kind": kind, "limit": 3, "seconds": 60.0, "first_boundary_at": first_boundary}
    return {"statuses": {"200": requests}, "first_request_at": started, "rate_window": window}


@pytest.mark.parametrize(
    ("stats", "expected"),
    [
        # Three at once, three more at the boundary 10 s in, the last at the next boundary (70 s), + 1 s.
        (_stats("fixed", 7, first_boundary=10.0), 71.0),
        # A boundary at the very start: the first window is whole.
        (_stats("fixed", 3, started=60.0), 1.0 + 2 * 1.0),
        # Each request a window after the one three before it: 0, 1, 2, then 60, 61, 62, then 120.
        (_stats("sliding", 7), 121.0),
    ],
)
def test_the_ideal_client_sends_each_request_as_early_as_the_window_allows(stats, expected):
    from benchmarks.run import ideal_seconds

    assert ideal_seconds(stats, per_request=1.0) == pytest.approx(expected)


def test_the_sustained_ceiling_counts_one_request_per_window_at_least_and_one_per_100_events():
    from benchmarks.run import _sustained_ceiling

    class Events:
        counts = {0: 0, 1: 100, 2: 101, 3: 250}

        def events(self, start, end):
            return [{}] * self.counts[(start - DAY0) // timedelta(hours=1)]

    hours = [(DAY0 + timedelta(hours=h), DAY0 + timedelta(hours=h + 1)) for h in range(4)]
    assert _sustained_ceiling(Events(), hours, per_minute=120) == (1 + 1 + 2 + 3, 7 / 120 * 60)


def test_the_window_size_benchmark_dags_land_the_same_windows_two_ways():
    import runpy

    from benchmarks.run import WINDOW_SIZE_DAGS

    dags = runpy.run_path(str(WINDOW_SIZE_DAGS / "webflow_bench_window_size.py"))
    hourly, daily = dags["webflow_bench_hourly"], dags["webflow_bench_daily_hourly_windows"]
    (hourly_task,), (daily_task,) = hourly.tasks, daily.tasks
    assert (hourly_task.destination, hourly_task.window_size) == (daily_task.destination, None)
    assert daily_task.window_size == timedelta(hours=1)
