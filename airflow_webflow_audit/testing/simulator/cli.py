"""The simulator from a shell: ``python -m airflow_webflow_audit.testing.simulator --help``."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import threading
from datetime import datetime, timedelta, timezone

from airflow_webflow_audit.testing.simulator.generator import (
    DEFAULT_WORKSPACE_ID,
    DEFAULT_WORKSPACE_SLUG,
    generate_events,
)
from airflow_webflow_audit.testing.simulator.server import (
    DEFAULT_TOKEN,
    FAULT_RATE_FIELDS,
    RATE_WINDOW_KINDS,
    SimulatorConfig,
    WebflowSimulator,
)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_webflow_audit.testing.simulator",
        description="Serve a simulated Webflow workspace audit-log API on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="port (0 picks a free one; default 8081)")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the valid API token")
    parser.add_argument("--workspace", default=DEFAULT_WORKSPACE_SLUG, help="workspace slug")
    parser.add_argument("--workspace-id", default=DEFAULT_WORKSPACE_ID, help="workspace id")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic events")
    parser.add_argument("--start", default="2026-10-01", help="first day of events (UTC, YYYY-MM-DD)")
    parser.add_argument("--days", type=float, default=7, help="days of events")
    parser.add_argument("--events-per-day", type=int, default=2000)
    parser.add_argument("--unknown-types", action="store_true", help="mix in an event type the docs lack")
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per window per token")
    parser.add_argument("--rate-window", type=float, default=60.0, help="rate-limit window in seconds")
    parser.add_argument(
        "--rate-window-kind",
        choices=RATE_WINDOW_KINDS,
        default="fixed",
        help="fixed: the budget renews at boundaries the client cannot see; sliding: a request counts for one "
        "window after it arrived; first-request: a window opens at the first request after the last one ended",
    )
    parser.add_argument(
        "--rate-window-phase",
        type=float,
        default=None,
        help="seconds from start to the first fixed-window boundary (default: drawn from --fault-seed)",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each answer")
    for name in FAULT_RATE_FIELDS:
        flag = name.replace("_", "-").replace("-rate", "")
        parser.add_argument(f"--{flag}-rate", type=float, default=0.0, help=f"chance of a {flag} fault")
    parser.add_argument("--fault-seed", type=int, default=0)
    parser.add_argument("--from-exclusive", action="store_true", help="treat 'from' as exclusive")
    parser.add_argument("--to-inclusive", action="store_true", help="treat 'to' as inclusive")
    parser.add_argument("--default-sort", choices=("asc", "desc"), default="desc")
    parser.add_argument(
        "--retention-start", default=None, help="ISO 8601 instant: events before it are never served (retention)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    start = datetime.fromisoformat(args.start).replace(tzinfo=timezone.utc)
    events = generate_events(
        seed=args.seed,
        start=start,
        end=start + timedelta(days=args.days),
        events_per_day=args.events_per_day,
        workspace_id=args.workspace_id,
        workspace_slug=args.workspace,
        include_unknown_types=args.unknown_types,
    )
    config = SimulatorConfig(
        from_inclusive=not args.from_exclusive,
        to_inclusive=args.to_inclusive,
        default_sort=args.default_sort,
        retention_start=args.retention_start,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        rate_window_kind=args.rate_window_kind,
        rate_window_phase=args.rate_window_phase,
        latency=args.latency,
        fault_seed=args.fault_seed,
        **{name: getattr(args, name) for name in FAULT_RATE_FIELDS},
    )
    sim = WebflowSimulator(
        events,
        token=args.token,
        workspace_slug=args.workspace,
        workspace_id=args.workspace_id,
        config=config,
        host=args.host,
        port=args.port,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with sim:
        print(json.dumps({"url": sim.url, "events": len(sim), "token": sim.token}), flush=True)
        print(f"export AIRFLOW_CONN_WEBFLOW_DEFAULT='{sim.connection_json()}'", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
