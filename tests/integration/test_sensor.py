"""WebflowAuditLogsSensor and WebflowAuditLogsTrigger against the simulator over HTTP."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import timedelta

import pytest
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import (
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from airflow_webflow_audit.exceptions import (
    WebflowAuthError,
    WebflowConfigurationError,
    WebflowError,
    WebflowRequestRejectedError,
)
from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.sensors.audit_logs import WebflowAuditLogsSensor
from airflow_webflow_audit.triggers import audit_logs as trigger_module
from airflow_webflow_audit.triggers.audit_logs import WebflowAuditLogsTrigger
from tests.conftest import DAY0, TOKEN

pytestmark = pytest.mark.integration

DAY1 = DAY0 + timedelta(days=1)
WINDOW = {"data_interval_start": DAY0, "data_interval_end": DAY1}
ACCESS_TYPES = ["custom_role", "site_membership", "workspace_membership"]


def make_sensor(clock, **kwargs) -> WebflowAuditLogsSensor:
    kwargs.setdefault("task_id", "wait_for_events")
    kwargs.setdefault("workspace", "hitchhikers-workspace")
    sensor = WebflowAuditLogsSensor(**kwargs)
    sensor.hook = WebflowHook(clock=clock, rng=random.Random(0))
    return sensor


def expected_summary(events: list[dict]) -> dict:
    by_sub: dict[str, Counter] = {}
    for e in events:
        by_sub.setdefault(e["eventType"], Counter())[e["eventSubType"]] += 1
    return {
        "count": len(events),
        "first_timestamp": min(events, key=lambda e: e["timestamp"])["timestamp"],
        "last_timestamp": max(events, key=lambda e: e["timestamp"])["timestamp"],
        "by_event_type": dict(sorted(Counter(e["eventType"] for e in events).items())),
        "by_event_sub_type": {t: dict(sorted(c.items())) for t, c in sorted(by_sub.items())},
    }


def matching(sim, types, subtypes=None) -> list[dict]:
    events = [e for t in types for e in sim.events(DAY0, DAY1, t)]
    return [e for e in events if subtypes is None or e["eventSubType"] in subtypes]


def late_event(event_type: str, subtype: str, stamp: str) -> dict:
    return {
        "timestamp": stamp,
        "eventType": event_type,
        "eventSubType": subtype,
        "actor": {"id": "late", "email": "late@example.com", "type": "person"},
        "workspace": {"id": "6621ccb459b561c69f29d57c", "slug": "hitchhikers-workspace"},
        "payload": {"roleName": "Admin"},
    }


def test_a_poke_stops_at_the_first_page_once_the_answer_is_known(simulator, clock):
    sim = simulator()
    result = make_sensor(clock, event_types=["user_access"]).poke(WINDOW)
    assert result.is_done
    assert sim.request_count == 1
    summary = result.xcom_value
    assert summary["complete"] is False
    assert summary["count"] == 1
    assert summary["by_event_type"] == {"user_access": 1}


def test_the_summary_of_a_whole_window_equals_the_ground_truth(simulator, clock):
    sim = simulator()
    subtypes = ["user_added", "user_role_updated"]
    truth = matching(sim, ACCESS_TYPES, subtypes)
    assert len(truth) > 5
    sensor = make_sensor(clock, event_types=ACCESS_TYPES, event_subtypes=subtypes, min_events=len(truth) + 1)
    assert not sensor.poke(WINDOW).is_done

    sensor.min_events = len(truth)
    summary = sensor.poke(WINDOW).xcom_value
    assert {k: summary[k] for k in expected_summary(truth)} == expected_summary(truth)
    assert summary["min_events"] == len(truth)
    assert TOKEN not in repr(summary)


def test_a_poke_that_cannot_be_satisfied_reads_the_whole_window(simulator, clock):
    sim = simulator()
    truth = matching(sim, ["custom_role"])
    sensor = make_sensor(clock, event_types="custom_role", min_events=len(truth) + 1)
    assert not sensor.poke(WINDOW).is_done
    assert {r.params.get("eventType") for r in sim.requests} == {"custom_role"}


def test_refusals_fail_at_once_without_retries(simulator, clock):
    sim = simulator()
    sensor = make_sensor(clock, workspace="starter-workspace")
    with pytest.raises(WebflowAuthError) as caught:
        sensor.poke(WINDOW)
    assert isinstance(caught.value, AirflowFailException)
    assert sim.request_count == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"event_subtypes": ["role_renamed"]}, "Unknown event_subtype"),
        ({"event_types": ["user_access"], "event_subtypes": ["role_created"]}, "of event types user_access"),
        ({"event_types": ["logins"]}, "Unknown event_type"),
        ({"min_events": 0}, "min_events"),
        ({"workspace": "a/b"}, "workspace"),
    ],
)
def test_bad_arguments_break_the_dag_at_parse_time(kwargs, message):
    with pytest.raises(WebflowConfigurationError, match=message):
        WebflowAuditLogsSensor(task_id="s", **{"workspace": "ws", **kwargs})


def test_a_run_without_a_window_fails_before_any_request(simulator, clock):
    sim = simulator()
    with pytest.raises(WebflowConfigurationError, match="CronDataIntervalTimetable"):
        make_sensor(clock).poke({"data_interval_start": DAY0, "data_interval_end": DAY0})
    assert sim.request_count == 0


def test_poke_mode_returns_the_summary_as_its_xcom(simulator, clock):
    sim = simulator()
    truth = matching(sim, ["custom_role"])
    summary = make_sensor(clock, event_types=["custom_role"], min_events=len(truth)).execute(WINDOW)
    assert summary["count"] == len(truth)


class FirstTry:
    """The one thing reschedule mode asks of the task instance: when it was first rescheduled."""

    def get_first_reschedule_date(self, context) -> None:
        return None


def test_reschedule_mode_frees_the_slot_until_the_events_arrive(simulator, clock):
    sim = simulator([])
    sensor = make_sensor(clock, event_types=["custom_role"], mode="reschedule", poke_interval=300)
    context = {**WINDOW, "ti": FirstTry()}
    with pytest.raises(AirflowRescheduleException) as caught:
        sensor.execute(context)
    assert caught.value.reschedule_date > DAY0
    sim.insert_event(late_event("custom_role", "role_updated", "2026-10-01T12:00:00.000Z"))
    summary = sensor.execute(context)
    assert summary["count"] == 1
    assert summary["by_event_sub_type"] == {"custom_role": {"role_updated": 1}}


def test_deferrable_mode_pokes_once_then_defers_with_primitives(simulator, clock):
    sim = simulator([])
    sensor = make_sensor(clock, event_types=ACCESS_TYPES, deferrable=True, poke_interval=120, timeout=3600)
    with pytest.raises(TaskDeferred) as caught:
        sensor.execute(WINDOW)
    assert sim.request_count == len(ACCESS_TYPES)  # the one poke before deferring
    trigger = caught.value.trigger
    assert isinstance(trigger, WebflowAuditLogsTrigger)
    assert caught.value.method_name == "execute_complete"
    assert caught.value.timeout == timedelta(hours=1)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_webflow_audit.triggers.audit_logs.WebflowAuditLogsTrigger"
    assert kwargs == {
        "workspace": "hitchhikers-workspace",
        "start": "2026-10-01T00:00:00+00:00",
        "end": "2026-10-02T00:00:00+00:00",
        "min_events": 1,
        "event_types": ACCESS_TYPES,
        "event_subtypes": None,
        "webflow_conn_id": "webflow_default",
        "poll_interval": 120.0,
        "hook_params": {},
    }
    assert all(isinstance(v, (str, int, float, list, dict, type(None))) for v in kwargs.values())
    assert WebflowAuditLogsTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_deferrable_mode_does_not_defer_when_the_first_poke_succeeds(simulator, clock):
    simulator()
    summary = make_sensor(clock, deferrable=True).execute(WINDOW)
    assert summary["count"] == 1


def run_trigger(trigger: WebflowAuditLogsTrigger) -> list:
    async def collect() -> list:
        return [event async for event in trigger.run()]

    return asyncio.run(collect())


@pytest.fixture
def trigger_on(monkeypatch, clock):
    """Triggers whose hook uses the fake clock, and a loop that refuses sync connection lookups."""

    def no_sync_lookup(*args, **kwargs):
        raise AssertionError("a sync connection lookup inside the event loop")

    monkeypatch.setattr(BaseHook, "get_connection", no_sync_lookup)
    monkeypatch.setattr(
        WebflowAuditLogsTrigger,
        "_hook",
        lambda self: WebflowHook(self.webflow_conn_id, clock=clock, rng=random.Random(0)),
    )

    def make(**kwargs) -> WebflowAuditLogsTrigger:
        kwargs.setdefault("workspace", "hitchhikers-workspace")
        kwargs.setdefault("start", DAY0.isoformat())
        kwargs.setdefault("end", DAY1.isoformat())
        return WebflowAuditLogsTrigger(**kwargs)

    return make


def test_the_trigger_yields_one_success_event_with_the_summary(simulator, trigger_on):
    sim = simulator()
    truth = matching(sim, ["workspace_membership"])
    events = run_trigger(trigger_on(event_types=["workspace_membership"], min_events=len(truth)))
    assert len(events) == 1
    payload = events[0].payload
    assert payload["status"] == "success"
    assert payload["polls"] == 1
    assert {k: payload[k] for k in expected_summary(truth)} == expected_summary(truth)


def test_the_trigger_polls_until_the_events_arrive(simulator, trigger_on, monkeypatch):
    sim = simulator([])
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:  # they land while the trigger waits a second time
            sim.insert_event(late_event("custom_role", "role_created", "2026-10-01T08:00:00.000Z"))

    monkeypatch.setattr(trigger_module.asyncio, "sleep", fake_sleep)
    events = run_trigger(trigger_on(event_types=["custom_role"], poll_interval=90))
    assert waits == [90.0, 90.0]
    assert [e.payload["status"] for e in events] == ["success"]
    assert events[0].payload["polls"] == 3
    assert events[0].payload["first_timestamp"] == "2026-10-01T08:00:00.000Z"


def test_the_trigger_reports_refusals_as_not_retryable(simulator, trigger_on):
    simulator()
    (event,) = run_trigger(trigger_on(workspace="no-such-workspace"))
    assert event.payload["status"] == "error"
    assert event.payload["retryable"] is False
    assert "WebflowNotFoundError" in event.payload["message"]
    assert TOKEN not in event.payload["message"]


def test_the_trigger_reports_an_outage_as_retryable(simulator, trigger_on):
    sim = simulator()
    sim.queue_faults(*(["503"] * 50))
    (event,) = run_trigger(trigger_on())
    assert event.payload == {"status": "error", "message": event.payload["message"], "retryable": True}
    assert "WebflowRetriesExhaustedError" in event.payload["message"]


def test_execute_complete_returns_the_summary_or_raises(clock):
    sensor = make_sensor(clock)
    summary = {"count": 2, "complete": False}
    assert sensor.execute_complete({}, {"status": "success", "polls": 4, **summary}) == summary
    with pytest.raises(WebflowError, match="503") as retryable:
        sensor.execute_complete({}, {"status": "error", "message": "503 forever", "retryable": True})
    assert not isinstance(retryable.value, AirflowFailException)
    with pytest.raises(AirflowFailException, match="404"):
        sensor.execute_complete({}, {"status": "error", "message": "404 no workspace", "retryable": False})


@pytest.mark.parametrize("skip_on_timeout", [True, False])
def test_a_quiet_window_skips_only_with_skip_on_timeout(simulator, clock, skip_on_timeout):
    simulator([])
    sensor = make_sensor(clock, timeout=0, poke_interval=1, skip_on_timeout=skip_on_timeout)
    expected = AirflowSkipException if skip_on_timeout else AirflowSensorTimeout
    with pytest.raises(expected):
        sensor.execute(WINDOW)


def test_skip_on_timeout_still_fails_on_a_refusal(simulator, clock):
    simulator()
    sensor = make_sensor(clock, workspace="starter-workspace", timeout=0, skip_on_timeout=True)
    with pytest.raises(WebflowAuthError):
        sensor.execute(WINDOW)
    with pytest.raises(WebflowRequestRejectedError):
        sensor.execute_complete({}, {"status": "error", "message": "401 token revoked", "retryable": False})


def test_a_deferral_that_times_out_skips_with_skip_on_timeout(clock):
    sensor = make_sensor(clock, deferrable=True, skip_on_timeout=True)
    with pytest.raises(AirflowSkipException, match="quiet window"):
        sensor.resume_execution("__fail__", {"error": "Trigger timeout"}, {})
