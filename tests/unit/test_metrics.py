"""The provider's metrics, as Airflow's Stats receives them: what a pull, a landing and a refusal count."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import httpx

from airflow_webflow_audit import metrics
from tests.conftest import DAY0, event, page_response

STAMP = "2026-10-01T00:30:00.000Z"


def test_every_metric_is_named_under_the_prefix_once():
    names = [metric.full_name for metric in metrics.METRICS]
    assert len(set(names)) == len(names)
    assert all(name.startswith("webflow_audit.") for name in names)
    assert {metric.kind for metric in metrics.METRICS} == {metrics.COUNTER, metrics.TIMER}  # no gauges


def test_a_pull_counts_its_requests_pages_429s_and_retries(mock_hook, sent):
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "1"}, json={"code": "too_many_requests", "message": "slow"}),
            httpx.Response(500, json={"code": "internal_error", "message": "oops"}),
            page_response([event(STAMP)]),
        ]
    )
    hook, seen = mock_hook(lambda request: next(answers))
    events = list(hook.iter_audit_logs(None, DAY0, DAY0 + timedelta(hours=1)))
    assert len(events) == 1
    assert sent.counted(metrics.REQUESTS) == len(seen) == 3
    assert sent.tags(metrics.REQUESTS, "status") == Counter({"429": 1, "500": 1, "200": 1})
    assert (sent.counted(metrics.RATE_LIMITED), sent.counted(metrics.RETRIES), sent.counted(metrics.PAGES)) == (1, 1, 1)


def test_a_backend_that_fails_never_fails_the_caller(monkeypatch):
    class Broken:
        def incr(self, *args, **kwargs):
            raise OSError("statsd is down")

    monkeypatch.setattr(metrics, "stats", lambda: Broken())
    metrics.count(metrics.PAGES)  # no exception


def test_the_production_page_lists_every_metric_with_its_type():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "production.md").read_text()
    rows = {line.split("|")[1].strip(" `"): line for line in page.splitlines() if line.startswith("| `webflow_audit.")}
    assert set(rows) == {metric.full_name for metric in metrics.METRICS}
    for metric in metrics.METRICS:
        assert f"| {metric.kind} |" in rows[metric.full_name]
