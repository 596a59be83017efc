"""A task killed while it writes leaves nothing at the final key; the rerun lands the clean object."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.audit.bucket import audit_bucket
from airflow_webflow_audit.testing.simulator import SimulatorConfig
from tests.conftest import DAY0
from tests.landing_helpers import all_keys, make_operator, run_window
from tests.storage_servers import AWS_CONN_ID

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAY1 = DAY0 + timedelta(days=1)

ROOT = Path(__file__).resolve().parents[2]
# Runs the operator the way Airflow 3's task runner does: its SIGTERM handler calls on_kill().
LAND_IN_CHILD = """
import signal, sys
from datetime import timedelta
from tests.conftest import DAY0

DAY1 = DAY0 + timedelta(days=1)
from tests.landing_helpers import make_operator, run_window
operator = make_operator(destination=sys.argv[1])
signal.signal(signal.SIGTERM, lambda signum, frame: operator.on_kill())
print("ready", flush=True)
run_window(operator, DAY0, DAY0 + timedelta(days=1))
"""


def land_in_child_and_kill(destination: str, sim, sig: signal.Signals) -> subprocess.CompletedProcess:
    child = subprocess.Popen(
        [sys.executable, "-c", LAND_IN_CHILD, destination],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    # Kill it mid-pull: some pages are written to the temporary object, the rest are not yet asked for.
    while sim.request_count < 5:
        assert child.poll() is None, child.communicate()[0]
        assert time.monotonic() < deadline, "the child never started pulling"
        time.sleep(0.05)
    child.send_signal(sig)
    output = child.communicate(timeout=120)[0]
    return subprocess.CompletedProcess(child.args, child.returncode, output)


@pytest.mark.parametrize(
    ("store", "sig"),
    [("local", signal.SIGTERM), ("local", signal.SIGKILL), ("s3", signal.SIGTERM)],
    ids=["local-sigterm", "local-sigkill", "s3-sigterm"],
)
def test_a_run_killed_mid_write_leaves_no_object_at_the_final_key(simulator, clock, tmp_path, request, store, sig):
    sim = simulator(config=SimulatorConfig(latency=0.1))
    if store == "s3":
        destination = f"s3://{AWS_CONN_ID}@{request.getfixturevalue('s3_bucket')}/landing"
    else:
        destination = f"file://{tmp_path}/landing"
    result = land_in_child_and_kill(destination, sim, sig)

    assert result.returncode != 0
    assert sim.request_count < 23, "the child finished before it was killed; the test proves nothing"
    root = ObjectStoragePath(destination)
    keys = all_keys(root) if root.exists() else []
    assert not [key for key in keys if not key.rsplit("/", 1)[-1].startswith(".")], keys
    if sig is signal.SIGTERM:
        # A graceful stop also removes the temporary object.
        assert "Received SIGTERM while landing the window" in result.stdout
        assert keys == []
    else:
        # SIGKILL gives no chance to clean up: at most a hidden temporary object remains beside the key.
        assert all(key.endswith(".partial") for key in keys)

    # The rerun lands exactly what a clean run lands.
    sim.configure(latency=0.0)
    rerun, _ = run_window(make_operator(clock, destination=destination), DAY0, DAY1)
    clean, _ = run_window(make_operator(clock, destination=f"file://{tmp_path}/clean"), DAY0, DAY1)
    assert ObjectStoragePath(rerun["uri"]).read_bytes() == ObjectStoragePath(clean["uri"]).read_bytes()


LAND_WINDOWS_IN_CHILD = """
import signal, sys
from datetime import timedelta
from tests.conftest import DAY0
from tests.landing_helpers import make_operator, run_window

operator = make_operator(destination=sys.argv[1], window_size=timedelta(hours=1))
signal.signal(signal.SIGTERM, lambda signum, frame: operator.on_kill())
print("ready", flush=True)
run_window(operator, DAY0, DAY0 + timedelta(hours=12))
"""


def test_a_task_killed_while_its_windows_land_stops_them_all_and_keeps_only_whole_parts(simulator, clock, tmp_path):
    sim = simulator(config=SimulatorConfig(latency=0.1), conn_extra={"max_concurrency": 3})
    destination = f"file://{tmp_path}/landing"
    child = subprocess.Popen(
        [sys.executable, "-c", LAND_WINDOWS_IN_CHILD, destination],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    while sim.request_count < 6:
        assert child.poll() is None, child.communicate()[0]
        assert time.monotonic() < deadline, "the child never started pulling"
        time.sleep(0.05)
    child.send_signal(signal.SIGTERM)
    output = child.communicate(timeout=60)[0]
    requests_at_stop = sim.request_count

    assert child.returncode != 0
    assert "Stopping: " in output
    assert requests_at_stop < 24, "the child finished before it was killed; the test proves nothing"
    keys = all_keys(ObjectStoragePath(destination)) if (tmp_path / "landing").exists() else []
    # No temporary object left, and every data object a whole part with its manifest.
    assert not [key for key in keys if key.rsplit("/", 1)[-1].startswith(".")], keys
    data = [key for key in keys if not key.endswith(".manifest.json")]
    assert sorted(keys) == sorted(data + [key + ".manifest.json" for key in data])

    # The rerun lands the rest, and the day's first half is complete.
    sim.configure(latency=0.0)
    xcom, _ = run_window(
        make_operator(clock, destination=destination, window_size=timedelta(hours=1)), DAY0, DAY0 + timedelta(hours=12)
    )
    assert sum(1 for window in xcom["windows"] if window["new_records"]) == 12 - len(data)
    assert audit_bucket(
        ObjectStoragePath(destination), "hitchhikers-workspace", DAY0, DAY0 + timedelta(hours=12)
    ).complete
