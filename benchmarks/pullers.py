"""One window pulled into a gzip JSONL file, four ways; each run in its own process by ``benchmarks.run``.

* ``ours``: :class:`WebflowAuditLogsOperator` itself, every check included (snapshot consistency,
  window cut, manifest, temporary key then move), with the connection's defaults.
* ``floor``: the least any correct-looking pull must do: httpx GET, ``json.loads``, one
  ``json.dumps`` line per event into gzip; sequential, and on a 429 it sleeps ``Retry-After``.
* ``sdk``: what users write today with the official ``webflow`` SDK: its client in an offset loop,
  each item dumped from its pydantic model.
* ``http_operator``: the http provider's ``HttpOperator`` with a ``pagination_function``; it keeps every
  response until the last page, then the events are written.

Usage: ``python -m benchmarks.pullers NAME '<json job>'``; prints one JSON line: events, seconds (wall
time of the pull), cpu_seconds, peak_rss_mb (peak resident memory above the process's baseline after
imports), and what failed if anything did.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} is not in /proc/self/status")


def _api_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# -- ours -----------------------------------------------------------------------------------------


def prepare_ours(job: dict[str, Any]) -> Callable[[], int]:
    from airflow.sdk.execution_time.context import OutletEventAccessors

    from airflow_webflow_audit.operators.audit_logs import WebflowAuditLogsOperator

    os.environ["AIRFLOW_CONN_WEBFLOW_DEFAULT"] = json.dumps(
        {
            "conn_type": "webflow",
            "host": job["url"],
            "password": job["token"],
            "extra": {"workspace": job["workspace"], **job.get("extra", {})},
        }
    )
    operator = WebflowAuditLogsOperator(task_id="pull", workspace=job["workspace"], destination=f"file://{job['dest']}")
    start = datetime.fromisoformat(job["start"])

    def window(end: datetime) -> dict[str, Any]:
        return {"data_interval_start": start, "data_interval_end": end, "outlet_events": OutletEventAccessors()}

    # One-time costs of a task process (Airflow finding its filesystems and providers, ~2 s) are paid
    # by a warm-up pull of the window's first second, so the figure is the pull's own cost.
    operator.execute(window(start + timedelta(seconds=1)))
    return lambda: operator.execute(window(datetime.fromisoformat(job["end"])))["records"]


# -- floor ----------------------------------------------------------------------------------------


def prepare_floor(job: dict[str, Any]) -> Callable[[], int]:
    def pull() -> int:
        params = {"limit": 100, "offset": 0, "sortOrder": "asc", "from": job["start_api"], "to": job["end_api"]}
        headers = {"Authorization": f"Bearer {job['token']}"}
        events = 0
        with (
            httpx.Client(base_url=job["url"], headers=headers, timeout=60) as client,
            gzip.open(Path(job["dest"]) / "floor.jsonl.gz", "wb", compresslevel=6) as out,
        ):
            while True:
                response = client.get(f"/v2/workspaces/{job['workspace']}/audit_logs", params=params)
                if response.status_code == 429:
                    time.sleep(float(response.headers.get("retry-after", "1")))
                    continue
                response.raise_for_status()
                body = json.loads(response.content)
                items = body["items"]
                out.write(
                    "".join(
                        json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n" for item in items
                    ).encode()
                )
                events += len(items)
                params["offset"] += len(items)
                if not items or params["offset"] >= body["pagination"]["total"]:
                    return events

    return pull


# -- the official SDK -----------------------------------------------------------------------------


def prepare_sdk(job: dict[str, Any]) -> Callable[[], int]:
    from webflow import Webflow
    from webflow.environment import WebflowEnvironment

    base = f"{job['url']}/v2"
    client = Webflow(
        access_token=job["token"],
        environment=WebflowEnvironment(base=base, data_api=base, content_delivery_api=base),
    )
    start, end = datetime.fromisoformat(job["start"]), datetime.fromisoformat(job["end"])

    def pull() -> int:
        events, offset = 0, 0
        with gzip.open(Path(job["dest"]) / "sdk.jsonl.gz", "wb", compresslevel=6) as out:
            while True:
                page = client.workspaces.audit_logs.get_workspace_audit_logs(
                    job["workspace"], limit=100, offset=offset, sort_order="asc", from_=start, to=end
                )
                items = page.items or []
                out.write("".join(item.model_dump_json(by_alias=True) + "\n" for item in items).encode())
                events += len(items)
                offset += len(items)
                if not items or page.pagination is None or offset >= (page.pagination.total or 0):
                    return events

    return pull


# -- the http provider's HttpOperator ---------------------------------------------------------------


def prepare_http_operator(job: dict[str, Any]) -> Callable[[], int]:
    from urllib.parse import urlsplit

    from airflow.providers.http.operators.http import HttpOperator

    url = urlsplit(job["url"])
    os.environ["AIRFLOW_CONN_WEBFLOW_HTTP"] = json.dumps(
        {"conn_type": "http", "host": url.hostname, "port": url.port, "schema": url.scheme}
    )
    params = {"limit": 100, "offset": 0, "sortOrder": "asc", "from": job["start_api"], "to": job["end_api"]}

    def next_page(response: Any) -> dict[str, Any] | None:
        body = response.json()
        offset = body["pagination"]["offset"] + len(body["items"])
        if not body["items"] or offset >= body["pagination"]["total"]:
            return None
        return {"data": {"offset": offset}}

    operator = HttpOperator(
        task_id="pull",
        http_conn_id="webflow_http",
        method="GET",
        endpoint=f"/v2/workspaces/{job['workspace']}/audit_logs",
        data=params,
        headers={"Authorization": f"Bearer {job['token']}"},
        pagination_function=next_page,
        response_filter=lambda responses: [item for response in responses for item in response.json()["items"]],
    )

    def pull() -> int:
        items = operator.execute(context={})
        with gzip.open(Path(job["dest"]) / "http_operator.jsonl.gz", "wb", compresslevel=6) as out:
            for item in items:
                out.write((json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n").encode())
        return len(items)

    return pull


PULLERS: dict[str, Callable[[dict[str, Any]], Callable[[], int]]] = {
    "ours": prepare_ours,
    "floor": prepare_floor,
    "sdk": prepare_sdk,
    "http_operator": prepare_http_operator,
}


def main() -> None:
    name, job = sys.argv[1], json.loads(sys.argv[2])
    start, end = datetime.fromisoformat(job["start"]), datetime.fromisoformat(job["end"])
    job.update(start_api=_api_time(start), end_api=_api_time(end))
    pull = PULLERS[name](job)  # imports and set-up happen here, outside the measurement
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS starts again from here (Linux)
    baseline_kb = _status_kb("VmRSS")
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    result: dict[str, Any] = {"name": name}
    try:
        result["events"] = pull()
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    result["seconds"] = time.perf_counter() - began
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_seconds"] = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    result["peak_rss_mb"] = (_status_kb("VmHWM") - baseline_kb) / 1024
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
