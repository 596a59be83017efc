"""The API token appears in no log record, exception, repr, XCom, manifest, landed object or trigger event.

Logging runs at DEBUG for everything, httpx and httpcore included, on success and failure paths.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import random
import traceback
from datetime import timedelta

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.exceptions import WebflowError
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.sensors.audit_logs import WebflowAuditLogsSensor
from airflow_webflow_audit.triggers.audit_logs import WebflowAuditLogsTrigger
from tests.conftest import DAY0, TOKEN
from tests.landing_helpers import make_operator, run_window, snapshot

pytestmark = pytest.mark.integration

WINDOW = (DAY0, DAY0 + timedelta(days=1))
SECRET = TOKEN.encode()


@pytest.fixture
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "airflow", "airflow.task", "airflow_webflow_audit"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def everything_said(caplog, capsys) -> str:
    records = [f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records]
    captured = capsys.readouterr()
    return "\n".join(records) + captured.out + captured.err


def exception_texts(exc: BaseException) -> str:
    return str(exc) + repr(exc) + "".join(traceback.format_exception(exc)) + repr(vars(exc))


def test_success_paths(simulator, clock, tmp_path, debug_logs, capsys):
    simulator()
    destination = f"file://{tmp_path}/landing"
    operator = make_operator(clock, destination=destination)
    xcom, outlet_events = run_window(operator, *WINDOW)
    sensor = WebflowAuditLogsSensor(task_id="s", workspace="hitchhikers-workspace", min_events=10**6)
    sensor.hook = WebflowHook(clock=clock, rng=random.Random(0))
    sensor.poke({"data_interval_start": WINDOW[0], "data_interval_end": WINDOW[1]})
    trigger = WebflowAuditLogsTrigger(
        workspace="hitchhikers-workspace", start=WINDOW[0].isoformat(), end=WINDOW[1].isoformat()
    )

    async def first_event():
        async for event in trigger.run():
            return event

    trigger_event = asyncio.run(first_event())
    hook = operator.hook

    assert debug_logs.records, "DEBUG logging captured nothing; the test would prove nothing"
    assert any(r.name.startswith("httpcore") for r in debug_logs.records)
    surfaces = {
        "logs": everything_said(debug_logs, capsys).encode(),
        "xcom": repr(xcom).encode(),
        "asset event": repr(outlet_events[next(iter(outlet_events))].extra).encode(),
        "trigger event": repr(trigger_event.payload).encode() + repr(trigger.serialize()).encode(),
        "reprs": (repr(hook) + repr(hook.config) + repr(operator) + repr(sensor) + repr(trigger)).encode(),
        "landed objects": b"".join(snapshot(ObjectStoragePath(destination)).values()),
        "landed events": gzip.decompress(ObjectStoragePath(xcom["uri"]).read_bytes()),
    }
    assert all(surfaces.values())
    leaks = [name for name, blob in surfaces.items() if SECRET in blob]
    assert leaks == []


@pytest.mark.parametrize(
    ("case", "workspace", "faults"),
    [
        ("401 wrong token", "hitchhikers-workspace", ()),
        ("403 not enterprise", "starter-workspace", ()),
        ("404 unknown workspace", "no-such-workspace", ()),
        ("outage past the retry budget", "hitchhikers-workspace", ("503",) * 40),
        ("malformed bodies past the retry budget", "hitchhikers-workspace", ("truncate",) * 40),
    ],
)
def test_failure_paths(case, workspace, faults, simulator, clock, tmp_path, debug_logs, capsys, monkeypatch):
    sim = simulator()
    if case.startswith("401"):
        # A token the API refuses (401).
        monkeypatch.setenv("AIRFLOW_CONN_WEBFLOW_DEFAULT", sim.connection_json().replace(sim.token, TOKEN + "-revoked"))
    sim.queue_faults(*faults)
    destination = f"file://{tmp_path}/landing"
    with pytest.raises(WebflowError) as caught:
        run_window(make_operator(clock, destination=destination, workspace=workspace), *WINDOW)
    said = everything_said(debug_logs, capsys)
    assert said
    assert TOKEN not in said
    assert TOKEN not in exception_texts(caught.value)
    assert snapshot(ObjectStoragePath(destination)) == {}
