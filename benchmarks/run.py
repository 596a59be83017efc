"""``make bench``: our operator against its peers on the simulator, each figure a ratio from one run.

Every pull runs in a fresh process (``benchmarks.pullers``) against a simulator in another process, so
the two share the machine's cores as a real client and server would not: the figures are ratios
between pulls run the same way, minutes apart, never absolute targets. The table is printed as
Markdown, ready for the README; ``--quick`` uses smaller windows (a smoke run, targets not judged).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

DAY0 = datetime(2026, 10, 1, tzinfo=timezone.utc)
WORKSPACE = "hitchhikers-workspace"


@dataclass
class Simulator:
    url: str
    token: str
    events: int

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_simulator/stats").json()

    def reset_stats(self) -> None:
        httpx.post(f"{self.url}/_simulator/stats/reset").raise_for_status()


@contextmanager
def simulator(*, days: float, events_per_day: int, **config: Any) -> Iterator[Simulator]:
    """The project's simulator in its own process, with ``config`` (SimulatorConfig fields) applied."""
    command = [
        sys.executable,
        "-m",
        "airflow_webflow_audit.testing.simulator",
        "--port",
        "0",
        "--start",
        DAY0.date().isoformat(),
        "--days",
        str(days),
        "--events-per-day",
        str(events_per_day),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())
        sim = Simulator(url=started["url"], token=started["token"], events=started["events"])
        if config:
            httpx.post(f"{sim.url}/_simulator/config", json=config).raise_for_status()
        yield sim
    finally:
        process.terminate()
        process.wait(timeout=30)


def pull(
    name: str, sim: Simulator, start: datetime, end: datetime, *, into: str | None = None, **extra: Any
) -> dict[str, Any]:
    """One pull by ``name`` in a fresh process (landing in ``into``, or a folder removed after); its measurements."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as scratch:
        dest = into or scratch
        job = {
            "url": sim.url,
            "token": sim.token,
            "workspace": WORKSPACE,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "dest": dest,
            "extra": extra,
        }
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.pullers", name, json.dumps(job)],
            capture_output=True,
            text=True,
            check=False,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"name"')]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{name} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1])
    if "error" in result:
        raise RuntimeError(f"{name} failed: {result['error']}")
    return result


def best_of(runs: int, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return min((measure() for _ in range(runs)), key=lambda result: result["seconds"])


@dataclass
class Row:
    figure: str
    setting: str
    ours: str
    peer: str
    ratio: float
    target: str
    met: bool | None

    def cells(self) -> list[str]:
        verdict = "—" if self.met is None else ("yes" if self.met else "**no**")
        return [self.figure, self.setting, self.ours, self.peer, f"{self.ratio:.2f}x", self.target, verdict]


def _judged(ratio: float, target: float | None, quick: bool, what: str = "") -> tuple[str, bool | None]:
    """The target column and the verdict of a ratio row (none in a quick run, or without a target)."""
    if target is None:
        return "", None
    return f">= {target:g}x {what}".rstrip(), None if quick else ratio >= target


def per_second(result: dict[str, Any]) -> float:
    return result["events"] / result["seconds"]


# -- the figures ------------------------------------------------------------------------------------


def cpu_throughput(quick: bool) -> list[Row]:
    per_day = 5_000 if quick else 30_000
    with simulator(days=1, events_per_day=per_day) as sim:
        window = (DAY0, DAY0 + timedelta(days=1))
        runs = 1 if quick else 3
        ours = best_of(runs, lambda: pull("ours", sim, *window))
        floor = best_of(runs, lambda: pull("floor", sim, *window))
        http_operator = best_of(runs, lambda: pull("http_operator", sim, *window))
        # The SDK parses ~150 events/s: a two-hour slice of the same day is enough to measure it.
        sdk = pull("sdk", sim, DAY0, DAY0 + timedelta(hours=2))
    setting = f"{ours['events']:,}-event window, no latency, no rate limit"
    rows = []
    for peer_name, peer, target in (
        ("floor script", floor, 1.0),
        ("official SDK loop", sdk, 50.0),
        ("HttpOperator + pagination_function", http_operator, None),
    ):
        ratio = per_second(ours) / per_second(peer)
        rows.append(
            Row(
                "CPU throughput (events/s)",
                setting if peer is not sdk else f"{setting}; SDK on a {sdk['events']:,}-event slice",
                f"{per_second(ours):,.0f}",
                f"{per_second(peer):,.0f} ({peer_name})",
                ratio,
                *_judged(ratio, target, quick),
            )
        )
    return rows


def latency_hiding(quick: bool) -> list[Row]:
    per_day = 5_000 if quick else 20_000
    with simulator(days=1, events_per_day=per_day, latency=0.1) as sim:
        window = (DAY0, DAY0 + timedelta(days=1))
        ours = pull("ours", sim, *window)
        floor = pull("floor", sim, *window)
        http_operator = pull("http_operator", sim, *window)
    pages = -(-ours["events"] // 100)
    rows = []
    for peer_name, peer, target in (("sequential floor script", floor, 4.0), ("HttpOperator", http_operator, None)):
        ratio = peer["seconds"] / ours["seconds"]
        rows.append(
            Row(
                "latency hiding (wall s)",
                f"100 ms per request, {pages} pages, no rate limit; ours at the default max_concurrency",
                f"{ours['seconds']:.1f}",
                f"{peer['seconds']:.1f} ({peer_name})",
                ratio,
                *_judged(ratio, target, quick, "faster"),
            )
        )
    return rows


#: Webflow's Business plan (120 a minute) on a clock ten times faster, so a figure spans several windows.
RATE_LIMIT = {"rate_limit": 120, "rate_window": 6.0}


def _ceiling_share(stats: dict[str, Any], seconds: float) -> float:
    served = stats["statuses"].get("200", 0)
    return served / seconds / (RATE_LIMIT["rate_limit"] / RATE_LIMIT["rate_window"])


def _refused_share(stats: dict[str, Any]) -> float:
    return stats["statuses"].get("429", 0) / max(1, stats["requests"])


def rate_limit_efficiency(quick: bool) -> list[Row]:
    per_day = 8_000 if quick else 48_000
    extra = {"rate_limit_window_seconds": RATE_LIMIT["rate_window"]}
    with simulator(days=1, events_per_day=per_day, **RATE_LIMIT) as sim:
        window = (DAY0, DAY0 + timedelta(days=1))
        ours = pull("ours", sim, *window, **extra)
        ours_stats = sim.stats()
        time.sleep(RATE_LIMIT["rate_window"])  # a fresh budget for the peer
        sim.reset_stats()
        floor = pull("floor", sim, *window)
        floor_stats = sim.stats()
    setting = (
        f"{RATE_LIMIT['rate_limit']} requests per {RATE_LIMIT['rate_window']:g} s, {ours_stats['requests']} requests"
    )
    ours_share = _ceiling_share(ours_stats, ours["seconds"])
    floor_share = _ceiling_share(floor_stats, floor["seconds"])
    ours_refused, floor_refused = _refused_share(ours_stats), _refused_share(floor_stats)
    return [
        Row(
            "rate-limit efficiency (share of ceiling)",
            setting,
            f"{ours_share:.1%}",
            f"{floor_share:.1%} (floor script, sleeps Retry-After)",
            ours_share / floor_share,
            ">= 90% of ceiling",
            None if quick else ours_share >= 0.9,
        ),
        Row(
            "rate-limit efficiency (429 share)",
            setting,
            f"{ours_refused:.1%}",
            f"{floor_refused:.1%} (floor script)",
            (ours_refused / floor_refused) if floor_refused else 0.0,
            "<= 2% answered 429",
            None if quick else ours_refused <= 0.02,
        ),
    ]


def shared_token(quick: bool) -> list[Row]:
    per_day = 8_000 if quick else 48_000
    extra = {"rate_limit_window_seconds": RATE_LIMIT["rate_window"]}
    quarters = [(DAY0 + timedelta(hours=6 * n), DAY0 + timedelta(hours=6 * (n + 1))) for n in range(4)]

    def together(name: str, sim: Simulator) -> tuple[int, dict[str, Any]]:
        sim.reset_stats()
        with ThreadPoolExecutor(4) as pool:
            outcomes = list(pool.map(lambda window: _attempt(lambda: pull(name, sim, *window, **extra)), quarters))
        return sum(1 for outcome in outcomes if outcome is None), sim.stats()

    with simulator(days=1, events_per_day=per_day, **RATE_LIMIT) as sim:
        ours_failed, ours_stats = together("ours", sim)
        time.sleep(RATE_LIMIT["rate_window"])
        floor_failed, floor_stats = together("floor", sim)
    ours_refused, floor_refused = _refused_share(ours_stats), _refused_share(floor_stats)
    setting = f"4 pulls at once, one token, {RATE_LIMIT['rate_limit']} requests per {RATE_LIMIT['rate_window']:g} s"
    return [
        Row(
            "shared token (429 share)",
            setting,
            f"{ours_refused:.1%}, {ours_failed} failed",
            f"{floor_refused:.1%}, {floor_failed} failed (4 floor scripts)",
            (ours_refused / floor_refused) if floor_refused else 0.0,
            "no failures, <= 5% answered 429",
            None if quick else (ours_failed == 0 and ours_refused <= 0.05),
        )
    ]


def _attempt(run: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    try:
        return run()
    except RuntimeError as exc:
        print(f"  a pull failed: {exc}", file=sys.stderr)
        return None


def memory(quick: bool) -> list[Row]:
    days, per_day = (1, 100_000) if quick else (10, 100_000)
    with simulator(days=days, events_per_day=per_day) as sim:
        window = (DAY0, DAY0 + timedelta(days=days))
        ours = pull("ours", sim, *window)
        floor = pull("floor", sim, *window)
    return [
        Row(
            "memory (peak RSS above baseline, MB)",
            f"one {ours['events']:,}-event window into gzip JSONL",
            f"{ours['peak_rss_mb']:.0f} ({per_second(ours):,.0f} events/s)",
            f"{floor['peak_rss_mb']:.0f} (floor script, {per_second(floor):,.0f} events/s)",
            ours["peak_rss_mb"] / max(floor["peak_rss_mb"], 1.0),
            "<= 150 MB",
            None if quick else ours["peak_rss_mb"] <= 150,
        )
    ]


_LAND_DAYS = """
import json, sys
from datetime import datetime, timedelta
from airflow.sdk.execution_time.context import OutletEventAccessors
from airflow_webflow_audit.operators.audit_logs import WebflowAuditLogsOperator
dest, first, days = sys.argv[1], datetime.fromisoformat(sys.argv[2]), int(sys.argv[3])
operator = WebflowAuditLogsOperator(task_id="land", workspace="hitchhikers-workspace", destination=dest, settle=0)
for n in range(days):
    start = first + timedelta(days=n)
    operator.execute({"data_interval_start": start, "data_interval_end": start + timedelta(days=1),
                      "outlet_events": OutletEventAccessors()})
"""


def recount_cost(quick: bool) -> list[Row]:
    """Requests ``audit --recount`` spends per window when nothing changed, against re-pulling each window."""
    days = 3 if quick else 14
    with simulator(days=days, events_per_day=2_000) as sim, tempfile.TemporaryDirectory(prefix="bench-audit-") as d:
        conn = {"conn_type": "webflow", "host": sim.url, "password": sim.token}
        env = {**os.environ, "AIRFLOW_CONN_WEBFLOW_DEFAULT": json.dumps(conn)}
        first = DAY0.isoformat()
        subprocess.run(
            [sys.executable, "-c", _LAND_DAYS, f"file://{d}", first, str(days)],
            env=env,
            check=True,
            capture_output=True,
        )
        landing_requests = sim.stats()["requests"]
        sim.reset_stats()
        end = (DAY0 + timedelta(days=days)).isoformat()
        audit = [
            sys.executable,
            "-m",
            "airflow_webflow_audit.audit",
            f"file://{d}",
            "--workspace",
            WORKSPACE,
            "--start",
            first,
            "--end",
            end,
            "--recount",
        ]
        done = subprocess.run(audit, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"the audit failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}")
        recount_requests = sim.stats()["requests"]
    per_window = recount_requests / days
    # Landing spends one request per page plus one look at the retention horizon: re-pulling costs the pages.
    repull_per_window = (landing_requests - days) / days
    return [
        Row(
            "recount requests per window (nothing changed)",
            f"audit --recount over {days} daily windows, 2,000 events/day",
            f"{per_window:.2f} requests/window",
            f"{repull_per_window:.1f} requests/window (re-pulling each window)",
            repull_per_window / per_window,
            "1 request/window",
            None if quick else per_window <= 1,
        )
    ]


FIGURES: dict[str, Callable[[bool], list[Row]]] = {
    "throughput": cpu_throughput,
    "latency": latency_hiding,
    "rate_limit": rate_limit_efficiency,
    "shared_token": shared_token,
    "memory": memory,
    "recount": recount_cost,
}


def render(rows: list[Row]) -> str:
    header = ["figure", "setting", "ours", "peer", "ratio (ours vs peer)", "target", "met"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("figures", nargs="*", help=f"which figures: {', '.join(FIGURES)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="small windows; a smoke run, targets not judged")
    args = parser.parse_args(argv)
    unknown = set(args.figures) - set(FIGURES)
    if unknown:
        parser.error(f"unknown figures {', '.join(sorted(unknown))}; choose from {', '.join(FIGURES)}")
    rows: list[Row] = []
    for name in args.figures or list(FIGURES):
        began = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.extend(FIGURES[name](args.quick))
        print(f"  {name} took {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    print(render(rows))
    missed = [row for row in rows if row.met is False]
    for row in missed:
        print(f"target missed: {row.figure}: {row.ours} vs {row.target}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
