"""``make bench``: our operator against its peers on the simulator, each figure a ratio from one run.

Every pull runs in a fresh process (``benchmarks.pullers``) against a simulator in another process, so
the two share the machine's cores as a real client and server would not: the figures are ratios
between pulls run the same way, minutes apart, never absolute targets. The table is printed as
Markdown, ready for the README; ``--quick`` uses smaller windows (a smoke run, targets not judged).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
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
                "throughput (events/s, wall)",
                setting if peer is not sdk else f"{setting}; SDK on a {sdk['events']:,}-event slice",
                f"{per_second(ours):,.0f}",
                f"{per_second(peer):,.0f} ({peer_name})",
                ratio,
                *_judged(ratio, target, quick),
            )
        )
    return rows


def cpu_per_event(quick: bool) -> list[Row]:
    """Events per CPU second of the client process (all threads), ours against the floor script.

    CPU time on a shared machine wanders by a third from run to run, so the two alternate, round after
    round, and each keeps its median.
    """
    per_day = 5_000 if quick else 30_000
    rounds = 2 if quick else 7
    rows = []
    for latency in (0.0, 0.02):
        with simulator(days=1, events_per_day=per_day, latency=latency) as sim:
            window = (DAY0, DAY0 + timedelta(days=1))
            samples: dict[str, list[float]] = {"ours": [], "floor": []}
            for _ in range(rounds):
                for name in samples:
                    result = pull(name, sim, *window)
                    samples[name].append(result["events"] / result["cpu_seconds"])
        ours, floor = statistics.median(samples["ours"]), statistics.median(samples["floor"])
        ratio = ours / floor
        setting = (
            f"{per_day:,}-event window, {latency * 1000:g} ms per request, no rate limit; median of {rounds} "
            "alternating rounds; ours at the default max_concurrency (5)"
        )
        rows.append(
            Row(
                "CPU per event (events per CPU second, all threads)",
                setting,
                f"{ours:,.0f}",
                f"{floor:,.0f} (floor script)",
                ratio,
                *_judged(ratio, 1.2, quick),
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


#: Webflow's Business plan: 120 requests per real 60-second window. The shared-token figure runs on a
#: clock ten times faster (6-second windows), so it spans several windows in a minute.
RATE_LIMIT = {"rate_limit": 120, "rate_window": 6.0}
BUSINESS_PLAN = {"rate_limit": 120, "rate_window": 60.0}
#: A fixed window's first boundary, seconds after the simulator starts: mid-window for the first pull.
FIXED_PHASE = 23.7


def _ceiling_share(stats: dict[str, Any], seconds: float) -> float:
    served = stats["statuses"].get("200", 0)
    return served / seconds / (RATE_LIMIT["rate_limit"] / RATE_LIMIT["rate_window"])


def _refused_share(stats: dict[str, Any]) -> float:
    return stats["statuses"].get("429", 0) / max(1, stats["requests"])


def ideal_seconds(stats: dict[str, Any], per_request: float) -> float:
    """How long the ideal client would take for the requests ``stats`` counts as answered 200.

    It sends each request as early as the server's window allows (it knows the window's shape and
    phase), and no sooner than ``per_request`` after the one before: the pace of the same pull with no
    rate limit. Simulator clock, from the pull's first request.
    """
    window = stats["rate_window"]
    limit, seconds, kind = window["limit"], window["seconds"], window["kind"]
    started = stats["first_request_at"]
    boundary = window["first_boundary_at"]
    while boundary <= started:
        boundary += seconds
    sends: list[float] = []
    used = 0
    for index in range(stats["statuses"].get("200", 0)):
        moment = max(started, sends[-1] + per_request) if sends else started
        if kind == "sliding":
            if index >= limit:
                moment = max(moment, sends[index - limit] + seconds)
        else:
            while moment >= boundary:
                boundary, used = boundary + seconds, 0
            if used >= limit:
                moment, boundary, used = boundary, boundary + seconds, 0
            used += 1
        sends.append(moment)
    return sends[-1] - started + per_request


def _pull_span(stats: dict[str, Any], per_request: float) -> float:
    return stats["last_request_at"] - stats["first_request_at"] + per_request


def rate_limit_efficiency(quick: bool) -> list[Row]:
    """One 401-page pull at 120 a minute against each window shape, judged against the ideal client."""
    limit = BUSINESS_PLAN["rate_limit"]
    window_seconds = RATE_LIMIT["rate_window"] if quick else BUSINESS_PLAN["rate_window"]
    per_day = 40_000  # 401 pages of 100, the measured pull
    window = (DAY0, DAY0 + timedelta(days=1))
    with simulator(days=1, events_per_day=per_day) as sim:
        pull("ours", sim, *window)
        unlimited = sim.stats()
    per_request = _pull_span(unlimited, 0.0) / max(1, unlimited["requests"] - 1)
    rows = []
    for kind in ("fixed", "sliding"):
        config = {"rate_limit": limit, "rate_window": window_seconds, "rate_window_kind": kind}
        if kind == "fixed":
            config["rate_window_phase"] = FIXED_PHASE * window_seconds / 60
        results = {}
        for name in ("ours", "floor"):
            with simulator(days=1, events_per_day=per_day, **config) as sim:
                sim.reset_stats()
                time.sleep(1.0)  # the pull starts some way into the first fixed window
                extra = {"rate_limit_window_seconds": window_seconds} if name == "ours" else {}
                pull(name, sim, *window, **extra)
                stats = sim.stats()
            ideal = ideal_seconds(stats, per_request)
            results[name] = (ideal / _pull_span(stats, per_request), _refused_share(stats), stats, ideal)
        (ours, ours_refused, ours_stats, ideal), (floor, floor_refused, _, _) = results["ours"], results["floor"]
        span = _pull_span(ours_stats, per_request)
        setting = (
            f"{kind} {window_seconds:g}-s windows, {limit} per window, phase unseen; "
            f"{ours_stats['statuses'].get('200', 0)} requests (ideal {ideal:.0f} s)"
        )
        rows.append(
            Row(
                f"one pull at the ceiling, {kind} window (efficiency: ideal / wall)",
                setting,
                f"{ours:.3f} ({span:.0f} s), {ours_refused:.1%} 429",
                f"{floor:.3f}, {floor_refused:.1%} 429 (floor script, sleeps Retry-After)",
                ours / floor,
                ">= 0.97, <= 1% 429",
                None if quick else (ours >= 0.97 and ours_refused <= 0.01),
            )
        )
    return rows


BACKFILL_DAG = "example_webflow_audit_logs_to_local"
DAGS_FOLDER = Path(__file__).resolve().parents[1] / "dags"


def _landed_windows_exact(landing: Any, sim: Any, windows: list[tuple[datetime, datetime]]) -> int:
    """How many of the windows landed exactly the simulator's events, each once and in order, in one part.

    ``landing``: the destination, a local folder or an ``ObjectStoragePath``."""
    from airflow.sdk import ObjectStoragePath

    root = ObjectStoragePath(f"file://{landing}") if isinstance(landing, Path) else landing
    exact = 0
    for start, end in windows:
        name = f"audit_logs_{start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}.jsonl.gz"
        path = root / "workspace=hitchhikers-workspace" / f"dt={start:%Y-%m-%d}" / name
        if path.exists() and not (path.parent / name.replace(".jsonl.gz", ".part-0002.jsonl.gz")).exists():
            lines = gzip.decompress(path.read_bytes()).splitlines()
            exact += [json.loads(line) for line in lines] == sim.events(start, end)
    return exact


def _backfill(
    sim: Any,
    scratch: Path,
    *,
    dag_id: str,
    runs: int,
    windows: list[tuple[datetime, datetime]],
    conn_extra: dict[str, Any],
    dags_folder: Path = DAGS_FOLDER,
    destination_variable: str = "WEBFLOW_AUDIT_LOCAL_DESTINATION",
    stop_scheduler_to_create: bool = False,
) -> dict[str, Any]:
    """``airflow backfill create`` of ``dag_id`` over ``windows`` (``runs`` runs) on a fresh one-machine
    deployment (SQLite, LocalExecutor)."""
    from airflow_webflow_audit.testing.deployment import prepare_home, running

    home = prepare_home(scratch / "airflow", dags_folder=dags_folder, pools={"webflow_api": 2})
    landing = scratch / "landing"
    env = {"AIRFLOW_CONN_WEBFLOW_DEFAULT": sim.connection_json(**conn_extra), destination_variable: f"file://{landing}"}
    with running(home, logs=scratch, dags_folder=dags_folder, env=env) as deployment:
        result = _run_backfill(
            deployment,
            sim,
            dag_id=dag_id,
            runs=runs,
            windows=windows,
            stop_scheduler_to_create=stop_scheduler_to_create,
        )
    result["exact"] = _landed_windows_exact(landing, sim, windows)
    return result


def _run_backfill(
    deployment: Any,
    sim: Any,
    *,
    dag_id: str,
    runs: int,
    windows: list[tuple[datetime, datetime]],
    stop_scheduler_to_create: bool = False,
) -> dict[str, Any]:
    """Create the backfill on a running deployment, wait for its runs, and say how it went."""
    deployment.wait_for("the DAG", lambda: deployment.dag_is_serialized(dag_id), 300)
    deployment.cli("dags", "unpause", dag_id)
    # SQLite lets one writer in at a time: a backfill of many runs, created while the scheduler
    # writes, times out ("database is locked") and rolls back runs the scheduler already saw. Then
    # the scheduler stops for the create and starts right after it, inside the measured time.
    if stop_scheduler_to_create:
        deployment.stop("scheduler")
    sim.reset_stats()
    began = time.monotonic()
    # --to-date names the last run's logical date (its interval's start), both ends included.
    last_run = windows[0][0] + (windows[-1][1] - windows[0][0]) * (runs - 1) / runs
    deployment.cli(
        "backfill",
        "create",
        "--dag-id",
        dag_id,
        "--from-date",
        windows[0][0].isoformat(),
        "--to-date",
        last_run.isoformat(),
    )
    if stop_scheduler_to_create:
        deployment.start("scheduler", deployment.logs)

    def states() -> list[str]:
        found = deployment.query("select state from dag_run where dag_id = ? and run_type = 'backfill'", dag_id)
        return [state for (state,) in found]

    deployment.wait_for("the backfill", lambda: len(states()) == runs and set(states()) <= {"success", "failed"}, 3600)
    wall = time.monotonic() - began
    tries = deployment.query(
        "select state, try_number, hostname from task_instance where dag_id = ? and run_id like 'backfill__%'", dag_id
    )
    stats = sim.stats()
    return {
        "wall": wall,
        "startup": stats["first_request_at"] - (began - sim.epoch),
        "failed": sum(1 for state, _, _ in tries if state != "success"),
        "retried": sum(max(0, (number or 1) - 1) for _, number, _ in tries),
        "hosts": len({host for _, _, host in tries}),
        "stats": stats,
    }


def _days(days: int) -> list[tuple[datetime, datetime]]:
    return [(DAY0 + timedelta(days=day), DAY0 + timedelta(days=day + 1)) for day in range(days)]


def backfill(quick: bool) -> list[Row]:
    """A real backfill (api-server, scheduler, dag-processor, LocalExecutor) at a binding rate limit.

    The example DAG's shape: a 2-slot pool, ``max_active_runs=4``. Efficiency is the token's ceiling
    (every request as early as the window allows, from the first) over the wall time from ``backfill
    create`` to the last run's end, so Airflow's scheduling and task start-up count against it; the
    same backfill with no rate limit measures them.
    """
    from airflow_webflow_audit.testing.simulator import SimulatorConfig, WebflowSimulator, generate_events

    days = 6
    window_seconds = RATE_LIMIT["rate_window"] if quick else BUSINESS_PLAN["rate_window"]
    events = generate_events(seed=1, start=DAY0, end=DAY0 + timedelta(days=days + 1), events_per_day=6_000)
    runs = {}
    for name, rate_limit in (("limited", BUSINESS_PLAN["rate_limit"]), ("unlimited", None)):
        config = SimulatorConfig(rate_limit=rate_limit, rate_window=window_seconds, rate_window_phase=FIXED_PHASE)
        sim = WebflowSimulator(events, config=config).start()
        try:
            with tempfile.TemporaryDirectory(prefix=f"bench-backfill-{name}-") as scratch:
                runs[name] = _backfill(
                    sim,
                    Path(scratch),
                    dag_id=BACKFILL_DAG,
                    runs=days,
                    windows=_days(days),
                    conn_extra={"rate_limit_window_seconds": window_seconds},
                )
        finally:
            sim.stop()
    limited, unlimited = runs["limited"], runs["unlimited"]
    stats = limited["stats"]
    ideal = ideal_seconds(stats, 0.0)
    efficiency = ideal / limited["wall"]
    served = stats["statuses"].get("200", 0)
    setting = (
        f"{days} daily windows, example DAG (2-slot pool, max_active_runs=4), LocalExecutor; "
        f"{served} requests at {BUSINESS_PLAN['rate_limit']} per {window_seconds:g}-s fixed window "
        f"(ceiling: {ideal:.0f} s)"
    )
    ours = (
        f"{efficiency:.2f} ({limited['wall']:.0f} s; first request {limited['startup']:.0f} s after create), "
        f"{limited['exact']}/{days} exact, {limited['failed']} failed, {limited['retried']} retried, "
        f"{_refused_share(stats):.1%} 429"
    )
    peer = (
        f"no rate limit: {unlimited['wall']:.0f} s ({unlimited['exact']}/{days} exact): Airflow's own share of "
        f"the wall time"
    )
    met = efficiency >= 0.9 and limited["failed"] == 0 and limited["exact"] == days
    return [
        Row(
            "backfill at the ceiling (efficiency: ceiling / wall)",
            setting,
            ours,
            peer,
            efficiency,
            ">= 0.9, 0 failed, all exact",
            None if quick else met,
        )
    ]


WINDOW_SIZE_DAGS = Path(__file__).resolve().parent / "dags"


def _sustained_ceiling(sim: Any, windows: list[tuple[datetime, datetime]], per_minute: int) -> tuple[int, float]:
    """The requests a client must make for ``windows`` (one per 100 events, one at the least, per window)
    and how long the token's sustained limit takes to serve them."""
    needed = sum(max(1, -(-len(sim.events(start, end)) // 100)) for start, end in windows)
    return needed, needed / per_minute * 60


def window_size(quick: bool) -> list[Row]:
    """The same hourly windows backfilled by an hourly DAG (a run each) and by a daily DAG with
    ``window_size=timedelta(hours=1)`` (24 per run), each with a real scheduler, against the token's
    sustained ceiling: the requests any client must make, at the limit per minute, over the wall time
    from ``backfill create`` to the last run's end."""
    from airflow_webflow_audit.testing.simulator import SimulatorConfig, WebflowSimulator, generate_events

    days = 1 if quick else 4
    limit = BUSINESS_PLAN["rate_limit"]
    window_seconds = BUSINESS_PLAN["rate_window"]
    hours = [(DAY0 + timedelta(hours=h), DAY0 + timedelta(hours=h + 1)) for h in range(24 * days)]
    events = generate_events(seed=3, start=DAY0, end=DAY0 + timedelta(days=days + 1), events_per_day=2_400)
    results = {}
    for name, dag_id, runs in (
        ("hourly", "webflow_bench_hourly", 24 * days),
        ("windowed", "webflow_bench_daily_hourly_windows", days),
    ):
        config = SimulatorConfig(rate_limit=limit, rate_window=window_seconds, rate_window_phase=FIXED_PHASE)
        sim = WebflowSimulator(events, config=config).start()
        try:
            with tempfile.TemporaryDirectory(prefix=f"bench-window-size-{name}-") as scratch:
                result = _backfill(
                    sim,
                    Path(scratch),
                    dag_id=dag_id,
                    runs=runs,
                    windows=hours,
                    conn_extra={"rate_limit_window_seconds": window_seconds},
                    dags_folder=WINDOW_SIZE_DAGS,
                    destination_variable="WEBFLOW_BENCH_DESTINATION",
                    stop_scheduler_to_create=True,
                )
            result["needed"], result["ceiling"] = _sustained_ceiling(sim, hours, limit)
            results[name] = result
        finally:
            sim.stop()

    def described(result: dict[str, Any], runs: int) -> str:
        stats = result["stats"]
        return (
            f"{result['ceiling'] / result['wall']:.2f} ({result['wall']:.0f} s, {runs} runs, "
            f"{stats['statuses'].get('200', 0)} requests; first request {result['startup']:.0f} s after create), "
            f"{result['exact']}/{len(hours)} exact, {result['failed']} failed, {result['retried']} retried, "
            f"{_refused_share(stats):.1%} 429"
        )

    windowed, hourly = results["windowed"], results["hourly"]
    ours, peer = windowed["ceiling"] / windowed["wall"], hourly["ceiling"] / hourly["wall"]
    setting = (
        f"{len(hours)} hourly windows, ~100 events each; 2-slot pool, max_active_runs=4, LocalExecutor; "
        f"{windowed['needed']} requests needed at {limit} per {window_seconds:g}-s fixed window "
        f"(sustained ceiling: {windowed['ceiling']:.0f} s)"
    )
    met = (
        ours >= 0.85
        and windowed["exact"] == len(hours)
        and windowed["failed"] == 0
        and _refused_share(windowed["stats"]) <= 0.05
    )
    return [
        Row(
            "backfill of hourly windows, daily DAG with window_size=1h (efficiency: sustained ceiling / wall)",
            setting,
            described(windowed, days),
            f"hourly DAG: {described(hourly, 24 * days)}",
            ours / peer,
            ">= 0.85, all exact, <= 5% 429",
            None if quick else met,
        )
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


def celery(quick: bool) -> list[Row]:
    """A month of hourly windows backfilled on the production shape (Postgres, the CeleryExecutor, two
    workers that share only the database and an S3 bucket, the scheduler running throughout) and on one
    machine (SQLite, the LocalExecutor), in the same run, against a 120-a-minute token: each as the share of
    the token's sustained ceiling (the requests any client must make, at 120 a minute, over the wall time
    from ``backfill create`` to the last run's end), with its 429 share."""
    from moto.server import ThreadedMotoServer

    from airflow_webflow_audit.testing import services
    from airflow_webflow_audit.testing.deployment import free_port, running_production
    from airflow_webflow_audit.testing.simulator import SimulatorConfig, WebflowSimulator, generate_events

    missing = services.missing()
    if missing is not None:
        raise RuntimeError(f"the celery figure needs Postgres and Redis: {missing}")
    days = 3 if quick else 30
    limit, window_seconds = BUSINESS_PLAN["rate_limit"], BUSINESS_PLAN["rate_window"]
    hours = [(DAY0 + timedelta(hours=h), DAY0 + timedelta(hours=h + 1)) for h in range(24 * days)]
    events = generate_events(seed=3, start=DAY0, end=DAY0 + timedelta(days=days + 1), events_per_day=2_400)
    extra = {"rate_limit_window_seconds": window_seconds}
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    moto.start()
    endpoint = "http://{}:{}".format(*moto.get_host_and_port())
    aws = json.dumps(
        {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        }
    )
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = aws  # this process reads the landed windows back
    results: dict[str, dict[str, Any]] = {}
    try:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        ).create_bucket(Bucket="webflow-bench")
        for name in ("celery", "local"):
            config = SimulatorConfig(rate_limit=limit, rate_window=window_seconds, rate_window_phase=FIXED_PHASE)
            sim = WebflowSimulator(events, config=config).start()
            try:
                with tempfile.TemporaryDirectory(prefix=f"bench-celery-{name}-") as scratch:
                    if name == "local":
                        result = _backfill(
                            sim,
                            Path(scratch),
                            dag_id="webflow_bench_daily_hourly_windows",
                            runs=days,
                            windows=hours,
                            conn_extra=extra,
                            dags_folder=WINDOW_SIZE_DAGS,
                            destination_variable="WEBFLOW_BENCH_DESTINATION",
                            stop_scheduler_to_create=True,
                        )
                    else:
                        root = Path(scratch)
                        destination = "s3://aws_default@webflow-bench/celery"
                        env = {
                            "AIRFLOW_CONN_WEBFLOW_DEFAULT": sim.connection_json(**extra),
                            "AIRFLOW_CONN_AWS_DEFAULT": aws,
                            "WEBFLOW_BENCH_DESTINATION": destination,
                        }
                        with (
                            services.postgres() as database,
                            services.redis(root / "redis") as broker,
                            running_production(
                                root,
                                dags_folder=WINDOW_SIZE_DAGS,
                                database_url=database,
                                broker_url=broker,
                                env=env,
                                workers=2,
                                concurrency=1,
                                pools={"webflow_api": 2},
                            ) as deployment,
                        ):
                            result = _run_backfill(
                                deployment, sim, dag_id="webflow_bench_daily_hourly_windows", runs=days, windows=hours
                            )
                        from airflow.sdk import ObjectStoragePath

                        result["exact"] = _landed_windows_exact(ObjectStoragePath(destination), sim, hours)
                result["needed"], result["ceiling"] = _sustained_ceiling(sim, hours, limit)
                results[name] = result
            finally:
                sim.stop()
    finally:
        moto.stop()

    def described(result: dict[str, Any]) -> str:
        stats = result["stats"]
        return (
            f"{result['ceiling'] / result['wall']:.2f} ({result['wall']:.0f} s, {stats['statuses'].get('200', 0)} "
            f"requests, first {result['startup']:.0f} s after create; {result['hosts']} worker(s)), "
            f"{result['exact']}/{len(hours)} exact, {result['failed']} failed, {_refused_share(stats):.1%} 429"
        )

    production, local = results["celery"], results["local"]
    ours, peer = production["ceiling"] / production["wall"], local["ceiling"] / local["wall"]
    setting = (
        f"{len(hours)} hourly windows ({days} daily runs, window_size=1h), ~100 events each; 2-slot pool, "
        f"max_active_runs=4; {production['needed']} requests needed at {limit} per {window_seconds:g}-s fixed "
        f"window (sustained ceiling: {production['ceiling']:.0f} s)"
    )
    met = (
        ours >= 0.85
        and production["exact"] == len(hours)
        and production["failed"] == 0
        and _refused_share(production["stats"]) <= 0.01
    )
    return [
        Row(
            "backfill on Postgres + CeleryExecutor, two workers on one token (sustained ceiling / wall)",
            setting,
            f"Postgres, 2 Celery workers, S3: {described(production)}",
            f"one machine, SQLite, LocalExecutor: {described(local)}",
            ours / peer,
            ">= 0.85, all exact, <= 1% 429",
            None if quick else met,
        )
    ]


FIGURES: dict[str, Callable[[bool], list[Row]]] = {
    "throughput": cpu_throughput,
    "cpu": cpu_per_event,
    "latency": latency_hiding,
    "rate_limit": rate_limit_efficiency,
    "shared_token": shared_token,
    "backfill": backfill,
    "window_size": window_size,
    "celery": celery,
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
