"""Bad input, each rejected before any request with a message that names the fix.

Every case runs the operator's ``execute`` against a live simulator, with the bad value arriving the
way a rendered template or an edited connection would deliver it, and checks that the simulator saw
no request and that nothing was written. Each case is one row of the README's reliability table.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.exceptions import WebflowConfigurationError
from tests.conftest import DAY0
from tests.landing_helpers import make_operator, run_window, snapshot

pytestmark = pytest.mark.integration

WINDOW = (DAY0, DAY0 + timedelta(days=1))

# name -> (operator attributes as rendered, connection fields to change, expected message)
CASES: dict[str, tuple[dict, dict, str]] = {
    "naive start (ISO string without offset)": ({"start": "2026-10-01T00:00:00"}, {}, "no UTC offset; add one"),
    "naive start (datetime without tzinfo)": (
        {"start": datetime(2026, 10, 1)},
        {},
        "pass a timezone-aware one",
    ),
    "start equal to end": ({"start": "2026-10-01T06:00:00Z", "end": "2026-10-01T06:00:00Z"}, {}, "must be before end"),
    "start after end": ({"start": "2026-10-02T00:00:00Z", "end": "2026-10-01T00:00:00Z"}, {}, "must be before end"),
    "zero-width data interval (CronTriggerTimetable)": ({"_interval": (DAY0, DAY0)}, {}, "CronDataIntervalTimetable"),
    "no data interval (manual run without logical date)": ({"_interval": (None, None)}, {}, "pass start= and end="),
    "unknown event type (rejected, not passed through)": ({"event_types": ["logins"]}, {}, "Unknown event_type"),
    "workspace with ../": ({"workspace": "../other-workspace"}, {}, "not a path or an encoded string"),
    "workspace with /": ({"workspace": "team/audit"}, {}, "contains '/'"),
    "workspace with ?": ({"workspace": "team?limit=1"}, {}, "contains '?'"),
    "workspace with #": ({"workspace": "team#x"}, {}, "contains '#'"),
    "workspace with %2F": ({"workspace": "team%2Faudit"}, {}, "contains '%'"),
    "http base URL on a non-loopback host": ({}, {"host": "http://api.webflow.example"}, "https"),
    "missing token": ({}, {"password": None}, "has no API token"),
    "extra that is not JSON": ({}, {"extra": "{workspace: 1"}, "not valid JSON"),
    "extra with a wrong type": ({}, {"extra": {"timeout": "fast"}}, "'timeout' must be a number"),
    "extra with a negative number": (
        {},
        {"extra": {"max_retries": -1}},
        "'max_retries' must be a whole number from 0 to 100",
    ),
    "destination without a scheme": ({"destination": "my-bucket/audit"}, {}, "has no URL scheme"),
    "destination with an unsupported scheme": ({"destination": "ftp://files.example/audit"}, {}, "not supported"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_rejected_before_any_request(name, simulator, clock, tmp_path, monkeypatch):
    attributes, connection, message = CASES[name]
    sim = simulator()
    if connection:
        fields = {**json.loads(sim.connection_json()), **connection}
        if isinstance(fields.get("extra"), dict):
            fields["extra"] = json.dumps(fields["extra"])
        monkeypatch.setenv(
            "AIRFLOW_CONN_WEBFLOW_DEFAULT", json.dumps({k: v for k, v in fields.items() if v is not None})
        )
    destination = f"file://{tmp_path}/landing"
    operator = make_operator(clock, destination=destination)
    interval = attributes.get("_interval", WINDOW)
    for attribute, value in attributes.items():
        if attribute != "_interval":
            setattr(operator, attribute, value)  # as a rendered template would set it

    with pytest.raises(WebflowConfigurationError, match=message) as caught:
        run_window(operator, *interval)
    assert sim.request_count == 0
    assert snapshot(ObjectStoragePath(destination)) == {}
    assert len(str(caught.value)) > 40  # a sentence that says what to do, not a bare value
