"""Faults during a pull, landed through the operator: the object equals the ground truth, or the task
fails with a clear error and leaves nothing at the final key.

Every scenario is one row of the README's reliability table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.exceptions import WebflowPagingError, WebflowResponseError, WebflowRetriesExhaustedError
from airflow_webflow_audit.testing.simulator import SimulatorConfig
from tests.conftest import DAY0
from tests.landing_helpers import make_operator, read_events, read_manifest, run_window, sha256_of, snapshot

pytestmark = pytest.mark.integration

WINDOW = (DAY0, DAY0 + timedelta(days=1))


@dataclass(frozen=True)
class Scenario:
    faults: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    conn_extra: dict[str, Any] = field(default_factory=dict)
    fails_with: type[Exception] | None = None
    message: str = ""


SCENARIOS = {
    "5xx burst (4 x 500, then 4 x 503, within the retry budget)": Scenario(
        faults=("ok",) * 3 + ("500",) * 4 + ("ok",) + ("503",) * 4
    ),
    "HTML 502 pages from a proxy": Scenario(faults=("ok", "html502", "html502", "ok", "html502")),
    "dropped connections": Scenario(faults=("drop", "ok", "drop", "drop")),
    "read timeouts (server stalls past the client timeout)": Scenario(
        faults=("ok", "stall", "ok", "stall"), config={"stall_seconds": 1.0}, conn_extra={"timeout": 0.3}
    ),
    "truncated JSON on a 200": Scenario(faults=("truncate", "ok", "truncate", "truncate")),
    "429 storm with Retry-After 60 (15 in a row)": Scenario(
        faults=("ok",) + ("429",) * 15, config={"retry_after_seconds": 60}
    ),
    "late events inserted during the pull": Scenario(faults=("ok", "ok", "late_insert", "ok", "late_insert")),
    "a total that lies (250 more than exist)": Scenario(config={"total_inflation": 250}),
    "a total that undercounts (150 fewer than exist)": Scenario(config={"total_inflation": -150}),
    "pages served newest first although sortOrder=asc was sent": Scenario(
        config={"reverse_pages": True}, fails_with=WebflowPagingError, message="not in timestamp order"
    ),
    "one page that repeats the previous page": Scenario(faults=("ok", "ok", "repeat")),
    "every page repeats (the API ignores offset)": Scenario(
        config={"ignore_offset": True}, fails_with=WebflowPagingError, message="ignore 'offset'"
    ),
    "a 200 body far past the size cap (64 MiB, chunked, against a 1 MiB cap)": Scenario(
        faults=("ok", "huge"),
        conn_extra={"max_response_mib": 1},
        fails_with=WebflowResponseError,
        message="past the cap of 1,048,576 bytes",
    ),
    "an outage longer than the retry budget": Scenario(
        faults=("ok",) * 2 + ("503",) * 40,
        fails_with=WebflowRetriesExhaustedError,
        message="after 6 attempts",
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_fault_during_a_pull(name, simulator, clock, tmp_path):
    scenario = SCENARIOS[name]
    sim = simulator(config=SimulatorConfig(**scenario.config), conn_extra=scenario.conn_extra)
    sim.queue_faults(*scenario.faults)
    destination = f"file://{tmp_path}/landing"
    operator = make_operator(clock, destination=destination)

    if scenario.fails_with is not None:
        with pytest.raises(scenario.fails_with, match=scenario.message):
            run_window(operator, *WINDOW)
        assert snapshot(ObjectStoragePath(destination)) == {}
        return

    xcom, _ = run_window(operator, *WINDOW)
    truth = sim.events(*WINDOW)  # after the pull: late inserts included
    assert read_events(xcom["uri"]) == truth
    manifest = read_manifest(xcom["manifest_uri"])
    assert manifest["records"] == len(truth)
    assert manifest["object"]["sha256"] == sha256_of(xcom["uri"])
    assert sorted(snapshot(ObjectStoragePath(destination))) == sorted(
        [xcom["uri"].removeprefix(destination + "/"), xcom["manifest_uri"].removeprefix(destination + "/")]
    )


def test_a_429_storm_waits_as_asked_without_sleeping_for_real(simulator, clock, tmp_path):
    sim = simulator(config=SimulatorConfig(retry_after_seconds=60))
    sim.queue_faults(*(["429"] * 15))
    run_window(make_operator(clock, destination=f"file://{tmp_path}/l"), *WINDOW)
    assert clock.sleeps.count(60) == 15


def test_after_an_outage_the_next_try_lands_what_a_clean_run_lands(simulator, clock, tmp_path):
    sim = simulator()
    sim.queue_faults(*(["ok"] * 2 + ["503"] * 40))
    destination = f"file://{tmp_path}/landing"
    with pytest.raises(WebflowRetriesExhaustedError) as caught:
        run_window(make_operator(clock, destination=destination), *WINDOW)
    message = str(caught.value)
    assert "503" in message
    assert "6 attempts" in message
    assert caught.value.attempts == 6

    sim.clear_faults()  # the API is back
    retried, _ = run_window(make_operator(clock, destination=destination), *WINDOW)
    clean, _ = run_window(make_operator(clock, destination=f"file://{tmp_path}/clean"), *WINDOW)
    assert ObjectStoragePath(retried["uri"]).read_bytes() == ObjectStoragePath(clean["uri"]).read_bytes()


def test_an_undercounted_total_is_recorded_in_the_manifest(simulator, clock, tmp_path):
    sim = simulator(config=SimulatorConfig(total_inflation=-150))
    xcom, _ = run_window(make_operator(clock, destination=f"file://{tmp_path}/landing"), *WINDOW)
    truth = sim.events(*WINDOW)
    manifest = read_manifest(xcom["manifest_uri"])
    (pull,) = manifest["pulls"]
    assert manifest["records"] == pull["records"] == len(truth)
    assert pull["served"] == pull["api_total"] + 150  # the padded window's events, all of them served
    assert manifest["api_total"] == pull["api_total"] < manifest["records"]


def test_a_body_dripped_a_byte_at_a_time_is_cut_at_the_timeout_and_asked_again(simulator, clock, tmp_path, capsys):
    # Each byte comes well within the read timeout, so only a deadline on the whole request ends it.
    sim = simulator(config=SimulatorConfig(drip_interval=0.05, drip_seconds=30), conn_extra={"timeout": 1})
    sim.queue_faults("ok", "drip")
    xcom, _ = run_window(make_operator(clock, destination=f"file://{tmp_path}/landing"), *WINDOW)
    assert read_events(xcom["uri"]) == sim.events(*WINDOW)
    assert "did not arrive within the 1 s timeout" in capsys.readouterr().out  # Airflow's task log
