"""`make demo`: pull three daily windows from the bundled Webflow simulator into ./demo-output.

Starts the simulator on a free loopback port (with a few injected 500s and a 120/min rate limit, to
show retries and pacing at work), pulls each window through WebflowHook, writes gzip JSONL under the
layout the operator will use, and prints what landed next to the simulator's own count.
"""

from __future__ import annotations

import atexit
import gzip
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="webflow-audit-demo-airflow-")
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)

from airflow_webflow_audit.hooks.webflow import WebflowHook
from airflow_webflow_audit.testing.simulator import SimulatorConfig, WebflowSimulator, generate_events

OUTPUT = Path(__file__).resolve().parents[1] / "demo-output"
FIRST_DAY = datetime(2026, 10, 1, tzinfo=timezone.utc)
DAYS = 3


def basic_iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def land_window(hook: WebflowHook, workspace: str, start: datetime, end: datetime) -> tuple[Path, int]:
    """Write one window as gzip JSONL: temporary file first, renamed into place only when complete."""
    folder = OUTPUT / f"workspace={workspace}" / f"dt={start:%Y-%m-%d}"
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"audit_logs_{basic_iso(start)}_{basic_iso(end)}.jsonl.gz"
    partial = final.with_name(final.name + ".partial")
    records = 0
    with gzip.GzipFile(partial, "wb", mtime=0) as out:
        for event in hook.iter_audit_logs(workspace, start, end):
            out.write(json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
            records += 1
    partial.replace(final)
    return final, records


def main() -> int:
    events = generate_events(seed=1, start=FIRST_DAY, end=FIRST_DAY + timedelta(days=DAYS), events_per_day=2000)
    config = SimulatorConfig(rate_limit=120, error_rate=0.03, fault_seed=2)
    with WebflowSimulator(events, config=config) as sim:
        os.environ["AIRFLOW_CONN_WEBFLOW_DEFAULT"] = sim.connection_json()
        print(f"Webflow simulator on {sim.url} with {len(sim)} events; landing into {OUTPUT}\n", flush=True)
        hook = WebflowHook()
        rows = []
        started = time.monotonic()
        for day in range(DAYS):
            start = FIRST_DAY + timedelta(days=day)
            end = start + timedelta(days=1)
            path, records = land_window(hook, sim.workspace_slug, start, end)
            truth = len(sim.events(start, end))
            rows.append((f"{start:%Y-%m-%d %H:%M} -> {end:%Y-%m-%d %H:%M}", records, truth, path))
        elapsed = time.monotonic() - started
        faults = sum(1 for r in sim.requests if r.fault)
    print()
    header = ("window (UTC)", "records", "simulator", "object")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(3)]
    print(f"{header[0]:<{widths[0]}}  {header[1]:>{widths[1]}}  {header[2]:>{widths[2]}}  {header[3]}")
    for window, records, truth, path in rows:
        print(f"{window:<{widths[0]}}  {records:>{widths[1]}}  {truth:>{widths[2]}}  {path.relative_to(OUTPUT.parent)}")
    total = sum(row[1] for row in rows)
    print(
        f"\n{total} events in {DAYS} windows, {hook.requests_sent} requests ({faults} answered with an injected "
        f"500 and retried), {elapsed:.1f} s."
    )
    if any(records != truth for _, records, truth, _ in rows):
        print("MISMATCH: a window differs from the simulator's ground truth.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
