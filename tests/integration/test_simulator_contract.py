"""The simulator answers as the OpenAPI excerpt says, so tests against it mean something."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from airflow_webflow_audit.testing.simulator import SimulatorConfig, WebflowSimulator, generate_events
from tests.conftest import DAY0, TOKEN, FakeClock

pytestmark = pytest.mark.integration

SPEC = yaml.safe_load((Path(__file__).parents[1] / "reference" / "webflow-audit-logs.openapi.yml").read_text())
OPERATION = SPEC["paths"]["/workspaces/{workspace_id_or_slug}/audit_logs"]["get"]


def response_schema(status: str) -> dict[str, Any]:
    return OPERATION["responses"][status]["content"]["application/json"]["schema"]


def error_body_schema(status: str) -> dict[str, Any]:
    schema = response_schema(status)
    # The spec lists `details.items` in the pre-2020 tuple form; keep only what the JSON Schema
    # draft OpenAPI 3.1 uses can read: code (enum) and message, details an array.
    properties = dict(schema["properties"])
    properties["details"] = {"type": "array"}
    # The schema says externalReference is a string, the spec's own examples send null: allow both.
    properties["externalReference"] = {"type": ["string", "null"]}
    return {"type": "object", "required": ["code", "message"], "properties": properties}


@pytest.fixture
def api(simulator):
    sim = simulator(
        generate_events(seed=3, start=DAY0, end=DAY0 + timedelta(days=2), events_per_day=1500),
        config=SimulatorConfig(rate_limit=1000),
    )
    with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield sim, client


def get(client: httpx.Client, workspace: str = "hitchhikers-workspace", **params: Any) -> httpx.Response:
    return client.get(f"/v2/workspaces/{workspace}/audit_logs", params=params)


def test_pages_match_the_documented_schema(api):
    sim, client = api
    schema = response_schema("200")
    seen_types = set()
    offset = 0
    while True:
        response = get(client, limit=100, offset=offset, sortOrder="asc")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        jsonschema.Draft202012Validator(schema).validate(body)
        seen_types.update(item["eventType"] for item in body["items"])
        offset += len(body["items"])
        if offset >= body["pagination"]["total"]:
            break
    assert offset == len(sim)
    documented = next(p for p in OPERATION["parameters"] if p["name"] == "eventType")["schema"]["enum"]
    assert seen_types == set(documented)  # every documented type appears


def test_answers_carry_the_rate_limit_headers(api):
    _, client = api
    first, second = get(client), get(client)
    assert first.headers["X-RateLimit-Limit"] == "1000"
    assert int(second.headers["X-RateLimit-Remaining"]) == int(first.headers["X-RateLimit-Remaining"]) - 1


def test_the_stats_count_the_fixed_windows_whose_whole_budget_was_answered(simulator):
    sim = simulator(days=1, config=SimulatorConfig(rate_limit=3, rate_window=3600.0, rate_window_kind="fixed"))
    with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        statuses = [get(client).status_code for _ in range(2)]
        assert sim.stats()["rate_window"]["spent"] == 0  # two of three: not spent
        statuses += [get(client).status_code for _ in range(2)]
    assert statuses == [200, 200, 200, 429]
    assert sim.stats()["rate_window"]["spent"] == 1


@pytest.mark.parametrize(
    ("status", "headers", "workspace", "params", "code"),
    [
        ("401", {"Authorization": "Bearer wrong"}, "hitchhikers-workspace", {}, "not_authorized"),
        ("401", {"Authorization": ""}, "hitchhikers-workspace", {}, "not_authorized"),
        ("403", {"Authorization": "Bearer sim-token-without-scope"}, "hitchhikers-workspace", {}, "missing_scopes"),
        ("403", {}, "starter-workspace", {}, "not_enterprise_plan_workspace"),
        ("404", {}, "no-such-workspace", {}, "resource_not_found"),
        ("400", {}, "hitchhikers-workspace", {"limit": 101}, "validation_error"),
        ("400", {}, "hitchhikers-workspace", {"sortOrder": "sideways"}, "validation_error"),
        ("400", {}, "hitchhikers-workspace", {"eventType": "logins"}, "validation_error"),
        ("400", {}, "hitchhikers-workspace", {"from": "yesterday"}, "validation_error"),
    ],
)
def test_errors_use_the_documented_bodies(api, status, headers, workspace, params, code):
    _, client = api
    response = client.get(f"/v2/workspaces/{workspace}/audit_logs", params=params, headers=headers)
    assert response.status_code == int(status)
    body = response.json()
    schema = error_body_schema(status if status in OPERATION["responses"] else "401")
    jsonschema.validate(body, schema)
    assert body["code"] == code


def test_429_has_retry_after_and_the_documented_body(simulator):
    sim = simulator(config=SimulatorConfig(rate_limit=2, rate_window=60))
    with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        assert [get(client).status_code for _ in range(2)] == [200, 200]
        limited = get(client)
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    jsonschema.validate(limited.json(), error_body_schema("429"))
    assert limited.json()["code"] == "too_many_requests"


def _rate_answers(sim, clock: FakeClock, at: list[float]) -> list[tuple[int, str, str | None]]:
    """(status, X-RateLimit-Remaining, Retry-After) of one request at each simulated moment."""
    answers = []
    with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for moment in at:
            clock.now = 1000.0 + moment
            response = get(client)
            answers.append(
                (response.status_code, response.headers["X-RateLimit-Remaining"], response.headers.get("Retry-After"))
            )
    return answers


def test_a_fixed_window_renews_the_whole_budget_at_its_boundaries(simulator):
    clock = FakeClock()
    config = SimulatorConfig(rate_limit=2, rate_window=60, rate_window_kind="fixed", rate_window_phase=10)
    sim = simulator(config=config, clock=clock.monotonic)
    assert _rate_answers(sim, clock, [0, 1, 2, 10, 11, 12, 69.5, 70]) == [
        (200, "1", None),
        (200, "0", None),
        (429, "0", "8"),  # the boundary 10 s after the start: no reset header, only Retry-After
        (200, "1", None),
        (200, "0", None),
        (429, "0", "58"),
        (429, "0", "1"),
        (200, "1", None),
    ]


def test_a_sliding_window_counts_each_request_for_a_window_after_it_arrived(simulator):
    clock = FakeClock()
    sim = simulator(
        config=SimulatorConfig(rate_limit=2, rate_window=60, rate_window_kind="sliding"), clock=clock.monotonic
    )
    assert _rate_answers(sim, clock, [0, 30, 31, 60, 61, 90]) == [
        (200, "1", None),
        (200, "0", None),
        (429, "0", "29"),
        (200, "0", None),  # the first request stopped counting; the second still counts
        (429, "0", "29"),
        (200, "0", None),
    ]


def test_a_first_request_window_opens_with_the_first_request_after_the_last_ended(simulator):
    clock = FakeClock()
    config = SimulatorConfig(rate_limit=2, rate_window=60, rate_window_kind="first-request")
    sim = simulator(config=config, clock=clock.monotonic)
    assert _rate_answers(sim, clock, [5, 6, 7, 70, 71]) == [
        (200, "1", None),
        (200, "0", None),
        (429, "0", "58"),
        (200, "1", None),
        (200, "0", None),
    ]


def test_an_unknown_rate_window_kind_is_refused():
    with pytest.raises(ValueError, match="rate_window_kind must be one of fixed, sliding, first-request"):
        WebflowSimulator([], config=SimulatorConfig(rate_window_kind="rolling"))


def test_the_workspace_id_works_like_the_slug(api):
    sim, client = api
    assert get(client, sim.workspace_id).json() == get(client).json()


def test_undocumented_defaults_are_switchable(api):
    sim, client = api
    body = get(client).json()  # no limit, no sortOrder
    assert len(body["items"]) == 10
    assert body["items"][0]["timestamp"] >= body["items"][-1]["timestamp"]  # desc by default here
    sim.configure(default_sort="asc", default_limit=25)
    body = get(client).json()
    assert len(body["items"]) == 25
    assert body["items"][0]["timestamp"] <= body["items"][-1]["timestamp"]


@pytest.mark.parametrize(
    ("from_inclusive", "to_inclusive"), [(True, True), (True, False), (False, True), (False, False)]
)
def test_from_and_to_edges_follow_the_switches(simulator, from_inclusive, to_inclusive):
    edge = "2026-10-01T01:00:00.000Z"
    sim = simulator(config=SimulatorConfig(from_inclusive=from_inclusive, to_inclusive=to_inclusive))
    with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        starting = get(client, **{"from": edge, "to": "2026-10-01T01:00:00.001Z", "sortOrder": "asc"}).json()
        ending = get(client, **{"from": "2026-10-01T00:59:59.999Z", "to": edge, "sortOrder": "asc"}).json()
    at_edge_from = [i for i in starting["items"] if i["timestamp"] == edge]
    at_edge_to = [i for i in ending["items"] if i["timestamp"] == edge]
    assert bool(at_edge_from) is from_inclusive  # generate_events puts two events on every hour edge
    assert bool(at_edge_to) is to_inclusive


def test_ground_truth_endpoint_and_control_endpoints(api):
    sim, client = api
    truth = client.get("/_simulator/events", params={"from": "2026-10-01T00:00:00Z", "to": "2026-10-01T06:00:00Z"})
    assert truth.json() == sim.events(DAY0, DAY0 + timedelta(hours=6))
    assert client.post("/_simulator/faults", json=["500", "ok"]).json() == {"queued": 2}
    assert get(client).status_code == 500
    assert get(client).status_code == 200
    assert client.post("/_simulator/config", json={"default_limit": 3}).status_code == 200
    assert len(get(client).json()["items"]) == 3
    stats = client.get("/_simulator/stats").json()
    assert stats["statuses"] == {"200": 2, "500": 1}
    assert stats["requests"] == 3
    assert stats["max_in_flight"] == 1
    assert client.post("/_simulator/stats/reset").json()["requests"] == 0


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("500", lambda r: r.status_code == 500 and r.json()["code"] == "internal_error"),
        ("503", lambda r: r.status_code == 503),
        ("html502", lambda r: r.status_code == 502 and r.headers["content-type"] == "text/html"),
        ("truncate", lambda r: r.status_code == 200 and not r.text.endswith("}")),
    ],
)
def test_queued_faults(api, fault, check):
    sim, client = api
    sim.queue_faults(fault)
    assert check(get(client))
    assert get(client).status_code == 200


def test_a_dropped_connection_is_a_protocol_error(api):
    sim, client = api
    sim.queue_faults("drop")
    with pytest.raises(httpx.RemoteProtocolError):
        get(client)


def test_the_simulator_refuses_non_loopback_addresses():
    from airflow_webflow_audit.testing.simulator import WebflowSimulator

    with pytest.raises(ValueError, match="loopback"):
        WebflowSimulator(host="0.0.0.0")


def test_generated_events_are_deterministic_and_cover_the_edges():
    one = generate_events(seed=9, start=DAY0, end=DAY0 + timedelta(hours=3), events_per_day=500)
    assert one == generate_events(seed=9, start=DAY0, end=DAY0 + timedelta(hours=3), events_per_day=500)
    stamps = [e["timestamp"] for e in one]
    assert stamps == sorted(stamps)
    assert "2026-10-01T01:00:00.000Z" in stamps
    assert "2026-10-01T00:59:59.999Z" in stamps
    assert any(e["actor"].get("type") == "token" and "email" not in e["actor"] for e in one)
