"""Shared fixtures: an isolated AIRFLOW_HOME, a fake clock, the simulator, and hooks wired to either."""

from __future__ import annotations

import atexit
import json
import os
import random
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

# Airflow reads its home at import time: point it at a throwaway folder before anything imports it.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="webflow-audit-airflow-home-")
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)

from airflow_webflow_audit import metrics
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.testing.simulator import (
    SimulatorConfig,
    WebflowSimulator,
    generate_events,
)

# S3 (moto) and GCS (emulator) fixtures, each server started only when a test asks for it; the slow
# installs (the wheel with plain pip, the Airflow version matrix) start in the background at collection.
pytest_plugins = ("tests.storage_servers", "tests.wheel_install", "tests.version_matrix")

TOKEN = "test-token-s3cr3t-abcdef123456"


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """The order that keeps ``make test`` short on two cores.

    The background installs (the wheel, the Airflow version matrix) start at collection and overlap
    the unit, integration and reliability tests, which mostly use one core. The end-to-end tests,
    whose Airflow processes use both, come next, with the test that waits for the wheel install;
    the version matrix's own tests, which wait for its runs, come last.
    """

    def rank(item: pytest.Item) -> tuple[bool, bool]:
        fixtures = getattr(item, "fixturenames", ())
        return "version_matrix" in fixtures, "/e2e/" in str(item.path) or "wheel_install" in fixtures

    items.sort(key=rank)


DAY0 = datetime(2026, 10, 1, tzinfo=timezone.utc)


class FakeClock:
    """A clock whose sleeps only move its own time forward, and are recorded."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()  # the hook's page threads sleep too

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str = "webflow_default", **fields: Any) -> None:
    conn = {"conn_type": "webflow", "password": TOKEN, "host": "http://127.0.0.1:9", **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.fixture
def mock_hook(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> Callable[..., tuple[WebflowHook, list[httpx.Request]]]:
    """A hook whose requests go to ``handler`` (an httpx MockTransport), with the fake clock."""

    def make(handler: Callable[[httpx.Request], httpx.Response], **conn: Any) -> tuple[WebflowHook, list]:
        conn.setdefault("extra", {"workspace": "hitchhikers-workspace"})
        set_connection(monkeypatch, **conn)
        seen: list[httpx.Request] = []

        def recording(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return handler(request)

        async def arecording(request: httpx.Request) -> httpx.Response:
            return recording(request)

        hook = WebflowHook(
            clock=clock,
            rng=random.Random(0),
            transport=httpx.MockTransport(recording),
            async_transport=httpx.MockTransport(arecording),
        )
        return hook, seen

    return make


@pytest.fixture
def simulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., WebflowSimulator]]:
    """Start simulators (stopped at teardown); the default connection points at the latest one."""
    started: list[WebflowSimulator] = []

    def start(
        events: list[dict[str, Any]] | None = None,
        *,
        config: SimulatorConfig | None = None,
        days: int = 3,
        seed: int = 1,
        events_per_day: int = 2000,
        conn_extra: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> WebflowSimulator:
        if events is None:
            events = generate_events(
                seed=seed, start=DAY0, end=DAY0 + timedelta(days=days), events_per_day=events_per_day
            )
        sim = WebflowSimulator(events, token=TOKEN, config=config, **kwargs).start()
        started.append(sim)
        monkeypatch.setenv("AIRFLOW_CONN_WEBFLOW_DEFAULT", sim.connection_json(**(conn_extra or {})))
        return sim

    yield start
    for sim in started:
        sim.stop()


def page_response(
    items: list[dict[str, Any]], *, total: int | None = None, offset: int = 0, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = {
        "items": items,
        "pagination": {"limit": 100, "offset": offset, "total": len(items) if total is None else total},
    }
    return httpx.Response(200, json=body, headers=headers)


def event(stamp: str, event_type: str = "user_access", **extra: Any) -> dict[str, Any]:
    return {
        "timestamp": stamp,
        "eventType": event_type,
        "eventSubType": "login",
        "actor": {"id": "a1", "email": "a@example.com"},
        "workspace": {"id": "w1", "slug": "hitchhikers-workspace"},
        "payload": {"method": "sso", "location": "Dublin IE", "ipAddress": "34.240.11.1"},
        **extra,
    }


def insert_on_request(sim, number: int, item: dict) -> None:
    """Make ``item`` arrive late: the simulator inserts it just before answering request ``number``."""
    calls = {"n": 0}

    def insert(path, params):
        calls["n"] += 1
        if calls["n"] == number:
            sim.insert_event(item)

    sim.on_request = insert


class RecordingStats:
    """Airflow's Stats as a list of what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, object, dict | None]] = []

    def incr(self, name, count=1, rate=1, *, tags=None):
        self.sent.append(("incr", name, count, tags))

    def timing(self, name, dt, *, tags=None):
        self.sent.append(("timing", name, dt, tags))

    def counted(self, metric: metrics.Metric) -> int:
        return sum(value for kind, name, value, _ in self.sent if kind == "incr" and name == metric.full_name)

    def tags(self, metric: metrics.Metric, key: str) -> Counter:
        return Counter(
            (tags or {}).get(key) for kind, name, _, tags in self.sent if kind == "incr" and name == metric.full_name
        )


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> RecordingStats:
    """What the provider sends to Airflow's Stats (its ``metrics`` module's backend, replaced)."""
    recording = RecordingStats()
    monkeypatch.setattr(metrics, "stats", lambda: recording)
    return recording
