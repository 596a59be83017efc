"""Errors, retries, backoff and pacing, on httpx.MockTransport with a fake clock (nothing really sleeps)."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import httpx
import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_webflow_audit.exceptions import (
    WebflowAuthError,
    WebflowConfigurationError,
    WebflowNotFoundError,
    WebflowRequestRejectedError,
    WebflowResponseError,
    WebflowRetriesExhaustedError,
)
from airflow_webflow_audit.hooks.responses import redact
from tests.conftest import TOKEN, event, page_response

#: The workspace the events of tests.conftest.event() name.
WORKSPACE = "hitchhikers-workspace"
START = datetime(2026, 10, 1, tzinfo=timezone.utc)
END = START + timedelta(hours=1)
ONE_EVENT = [event("2026-10-01T00:10:00.000Z")]


def error(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    body = {"code": code, "message": message, "externalReference": None, "details": []}
    return httpx.Response(status, json=body, headers=headers)


def scripted(*responses):
    """A handler answering with the given responses (or raising given exceptions) in order."""
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if callable(answer):  # a factory, for answers whose body can be read only once
            answer = answer()
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler


def one_item_pages(items, headers=dict):
    """A handler serving ``items`` one per page, each answer with ``headers()``."""

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        return page_response(items[offset : offset + 1], total=len(items), offset=offset, headers=headers())

    return handler


@pytest.mark.parametrize(
    ("status", "code", "error_class", "hint"),
    [
        (400, "validation_error", WebflowRequestRejectedError, "check the filters"),
        (401, "not_authorized", WebflowAuthError, "Check the API token"),
        (403, "missing_scopes", WebflowAuthError, "workspace_activity:read"),
        (403, "not_enterprise_plan_workspace", WebflowAuthError, "Enterprise plan"),
        (404, "resource_not_found", WebflowNotFoundError, "Check the workspace id or slug"),
        (409, "conflict", WebflowRequestRejectedError, "retrying will not help"),
    ],
)
def test_client_errors_fail_at_once_with_code_message_and_hint(mock_hook, clock, status, code, error_class, hint):
    hook, seen = mock_hook(lambda request: error(status, code, "Webflow says no"))
    with pytest.raises(error_class) as info:
        list(hook.iter_audit_logs(None, START, END))
    assert len(seen) == 1
    assert clock.sleeps == []
    text = str(info.value)
    assert f"HTTP {status} {code}: Webflow says no" in text
    assert hint in text
    assert isinstance(info.value, AirflowFailException)  # Airflow must not retry the task either
    assert (info.value.http_status, info.value.code) == (status, code)
    assert TOKEN not in text
    assert TOKEN not in repr(info.value)


def test_an_error_message_that_echoes_the_token_is_redacted(mock_hook):
    hook, _ = mock_hook(lambda request: error(401, "not_authorized", f"token {TOKEN} is revoked"))
    with pytest.raises(WebflowAuthError) as info:
        hook.get_audit_logs_page()
    assert TOKEN not in str(info.value)
    assert "token *** is revoked" in str(info.value)


def test_an_error_code_that_echoes_the_token_is_redacted(mock_hook):
    hook, _ = mock_hook(lambda request: error(401, f"bad_token_{TOKEN}", "revoked"))
    with pytest.raises(WebflowAuthError) as info:
        hook.get_audit_logs_page()
    assert TOKEN not in str(info.value)
    assert TOKEN not in (info.value.code or "")
    assert info.value.code == "bad_token_***"


@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param(lambda secret: secret, id="plain"),
        pytest.param(lambda secret: repr(secret), id="repr"),
        pytest.param(lambda secret: json.dumps(secret), id="json"),
        pytest.param(lambda secret: quote(secret, safe=""), id="percent-encoded"),
    ],
)
def test_every_spelling_of_a_secret_is_redacted(spelling):
    secret = 'tok\x00en"with\\odd/chars\u200b+='
    redacted = redact(f"server said: {spelling(secret)} (end)", secret)
    assert redacted.replace("'", "").replace('"', "") == "server said: *** (end)"


@pytest.mark.parametrize(
    "failure",
    [
        error(500, "internal_error", "An Internal Error occurred"),
        error(503, "service_unavailable", "down"),
        httpx.Response(
            502, text="<html><body><h1>502 Bad Gateway</h1></body></html>", headers={"content-type": "text/html"}
        ),
        httpx.Response(504, text=""),
        httpx.Response(200, text='{"items": [{"timestamp": "2026-10-01T00:'),
        httpx.Response(200, text="<html>maintenance</html>"),
        httpx.Response(200, json={"items": "nope", "pagination": {"total": 1}}),
        httpx.Response(200, json={"items": [], "pagination": {"total": -1}}),
        httpx.Response(200, json={"items": [{"eventType": "user_access"}], "pagination": {"total": 1}}),
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadTimeout("timed out"),
        lambda: httpx.Response(200, headers={"Content-Encoding": "gzip"}, stream=httpx.ByteStream(b"not gzip")),
    ],
    ids=[
        "500",
        "503",
        "html-502",
        "504-empty",
        "truncated-json",
        "html-200",
        "items-not-list",
        "negative-total",
        "item-without-timestamp",
        "connect-error",
        "dropped-connection",
        "read-timeout",
        "corrupt-gzip",
    ],
)
def test_transient_failures_are_retried_with_backoff(mock_hook, clock, failure):
    hook, seen = mock_hook(scripted(failure, failure, page_response(ONE_EVENT)))
    assert list(hook.iter_audit_logs(None, START, END)) == ONE_EVENT
    assert len(seen) == 3
    # Attempt n waits between half and all of min(30, 2**(n-1)) seconds.
    assert len(clock.sleeps) == 2
    assert 0.5 <= clock.sleeps[0] <= 1.0
    assert 1.0 <= clock.sleeps[1] <= 2.0


def test_backoff_is_capped(mock_hook, clock):
    failure = error(500, "internal_error", "boom")
    hook, _ = mock_hook(scripted(*[failure] * 9, page_response(ONE_EVENT)), extra={"max_retries": 9})
    list(hook.iter_audit_logs(WORKSPACE, START, END))
    assert len(clock.sleeps) == 9
    assert max(clock.sleeps) <= 30.0
    assert clock.sleeps[-1] >= 15.0


def test_an_outage_longer_than_the_budget_names_the_last_error_and_the_attempts(mock_hook, clock):
    hook, seen = mock_hook(lambda request: error(503, "service_unavailable", "maintenance"), extra={"max_retries": 3})
    with pytest.raises(WebflowRetriesExhaustedError) as info:
        list(hook.iter_audit_logs(WORKSPACE, START, END))
    assert len(seen) == 4
    assert info.value.attempts == 4
    assert "after 4 attempts" in str(info.value)
    assert "HTTP 503 service_unavailable: maintenance" in str(info.value)
    assert not isinstance(info.value, AirflowFailException)  # a task retry later may succeed


def test_max_retries_zero_fails_on_the_first_transient_error(mock_hook):
    hook, seen = mock_hook(lambda request: error(500, "internal_error", "x"), extra={"max_retries": 0})
    with pytest.raises(WebflowRetriesExhaustedError):
        hook.get_audit_logs_page(WORKSPACE)
    assert len(seen) == 1


def test_429_waits_exactly_retry_after(mock_hook, clock):
    limited = error(429, "too_many_requests", "Too many requests", **{"Retry-After": "7"})
    hook, _seen = mock_hook(scripted(limited, page_response(ONE_EVENT)))
    assert list(hook.iter_audit_logs(None, START, END)) == ONE_EVENT
    assert clock.sleeps == [7.0]
    assert hook.pacer.waited_seconds == 7.0


def test_429_without_retry_after_waits_a_minute(mock_hook, clock):
    hook, _ = mock_hook(scripted(error(429, "too_many_requests", "slow down"), page_response(ONE_EVENT)))
    list(hook.iter_audit_logs(None, START, END))
    assert clock.sleeps == [60.0]


def test_absurd_retry_after_is_capped(mock_hook, clock):
    limited = error(429, "too_many_requests", "x", **{"Retry-After": "86400"})
    hook, _ = mock_hook(scripted(limited, page_response(ONE_EVENT)))
    list(hook.iter_audit_logs(None, START, END))
    assert clock.sleeps == [300.0]


def test_a_429_storm_beyond_the_budget_fails_clearly(mock_hook, clock):
    hook, seen = mock_hook(lambda request: error(429, "too_many_requests", "x", **{"Retry-After": "60"}))
    with pytest.raises(WebflowRetriesExhaustedError, match="rate-limit waits"):
        list(hook.iter_audit_logs(None, START, END))
    assert len(seen) == 21
    assert sum(clock.sleeps) == 20 * 60.0


def test_429s_do_not_use_up_the_retry_budget_for_errors(mock_hook, clock):
    limited = error(429, "too_many_requests", "x", **{"Retry-After": "1"})
    failure = error(500, "internal_error", "x")
    hook, _ = mock_hook(
        scripted(limited, limited, failure, limited, page_response(ONE_EVENT)), extra={"max_retries": 1}
    )
    assert list(hook.iter_audit_logs(WORKSPACE, START, END)) == ONE_EVENT


def test_pacing_spends_what_other_clients_of_the_token_leave(mock_hook, clock):
    items = [event(f"2026-10-01T00:{n // 60:02d}:{n % 60:02d}.000Z") for n in range(90)]
    began, answered, left_over = clock.now, [], []

    def headers() -> dict[str, str]:
        # 60 a minute (fixed minutes from the first request); another client spends one every 2 s.
        now = clock.now
        minute = int((now - began) // 60)
        answered.append(now)
        ours = sum(1 for t in answered if int((t - began) // 60) == minute)
        others = int(((now - began) % 60) / 2)
        left_over.append(60 - ours - others)
        return {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": str(max(0, 60 - ours - others))}

    hook, seen = mock_hook(one_item_pages(items, headers), extra={"workspace": WORKSPACE, "max_concurrency": 1})
    assert list(hook.iter_audit_logs(None, START, END)) == items
    assert len(seen) == 90
    # 60 go at once; the rest wait for the next minute, minus what the other client spent meanwhile.
    # Never sent into a spent budget, but for the one probe that learns when the minute renews.
    assert 60.0 <= clock.now - began <= 62.0
    assert sum(1 for left in left_over if left < 0) <= 1
    assert hook.pacer.waited_seconds == pytest.approx(sum(clock.sleeps))


def test_the_connections_rate_limit_is_a_hard_ceiling(mock_hook, clock):
    items = [event(f"2026-10-01T00:{minute:02d}:00.000Z") for minute in range(5)]

    hook, seen = mock_hook(one_item_pages(items), extra={"workspace": WORKSPACE, "rate_limit_per_minute": 30})
    list(hook.iter_audit_logs(None, START, END))
    assert len(seen) == 5
    assert clock.sleeps == [pytest.approx(2.0)] * 4


def test_the_token_appears_in_no_log_record(mock_hook, caplog, capsys):
    failure = error(500, "internal_error", "boom")
    hook, _ = mock_hook(scripted(failure, httpx.ConnectError("refused"), page_response(ONE_EVENT)))
    with caplog.at_level(logging.DEBUG):
        for name in ("httpx", "httpcore", "airflow"):
            logging.getLogger(name).setLevel(logging.DEBUG)
        list(hook.iter_audit_logs(None, START, END))
        with pytest.raises(WebflowAuthError):
            mock_hook(lambda request: error(401, "not_authorized", "no"))[0].get_audit_logs_page()
    printed = capsys.readouterr()
    assert "Transient failure" in printed.out + caplog.text, "expected the hook to log its retries"
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
    assert TOKEN not in printed.out + printed.err
    assert TOKEN not in repr(hook)
    assert TOKEN not in repr(hook.config)


def test_test_connection_reports_success_and_failure(mock_hook):
    hook, seen = mock_hook(lambda request: page_response(ONE_EVENT, total=1234))
    assert hook.test_connection() == (
        True,
        "Connected to Webflow workspace 'hitchhikers-workspace': 1234 audit events visible.",
    )
    assert seen[0].url.params["limit"] == "1"
    hook, _ = mock_hook(lambda request: error(403, "missing_scopes", "missing workspace_activity:read"))
    ok, message = hook.test_connection()
    assert not ok
    assert "workspace_activity:read" in message
    assert TOKEN not in message


def test_test_connection_without_a_default_workspace_says_what_to_set(mock_hook):
    hook, seen = mock_hook(lambda request: page_response([]), extra={})
    assert hook.test_connection() == (
        False,
        "Set 'Default workspace' (extra 'workspace') to the workspace id or slug so the connection can be tested.",
    )
    assert seen == []


def test_async_retries_follow_the_same_rules(mock_hook, clock):
    failure = error(502, "internal_error", "bad gateway")
    limited = error(429, "too_many_requests", "x", **{"Retry-After": "3"})
    hook, seen = mock_hook(scripted(failure, limited, page_response(ONE_EVENT)))

    async def pull():
        return [item async for item in hook.aiter_audit_logs(None, START, END)]

    assert asyncio.run(pull()) == ONE_EVENT
    assert len(seen) == 3
    assert clock.sleeps[1] == 3.0


def test_long_pulls_log_progress(mock_hook, clock, capsys):
    items = [event(f"2026-10-01T00:{minute:02d}:00.000Z") for minute in range(4)]

    # One request a minute: every page takes longer than the 30 s progress interval.
    extra = {"workspace": WORKSPACE, "rate_limit_per_minute": 1, "max_concurrency": 1}
    hook, _ = mock_hook(one_item_pages(items), extra=extra)
    list(hook.iter_audit_logs(None, START, END))
    out = capsys.readouterr().out
    assert out.count("Pulling: ") == 3
    assert (
        "Pulled 4 pages, 4 events in the window (API total 4), 180.0 s elapsed, 180.0 s waiting on the rate limit"
        in out
    )


def nested(depth: int) -> dict:
    """An object ``depth`` levels deep, the event itself counting as the first."""
    value: dict = {}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


@pytest.mark.parametrize("stdlib_path", [False, True], ids=["orjson", "stdlib (a 19-digit integer on the page)"])
def test_an_event_nested_past_254_levels_fails_at_once_with_a_named_error(mock_hook, clock, stdlib_path):
    deep = event("2026-10-01T00:10:00.000Z", payload=nested(300))
    extra = {"big": 10**20} if stdlib_path else {}
    items = [event("2026-10-01T00:05:00.000Z", **extra), deep]
    hook, seen = mock_hook(lambda request: page_response(items))
    with pytest.raises(WebflowResponseError, match="Event 1 of the page at offset 0 is nested more than 254") as info:
        list(hook.iter_audit_logs(None, START, END))
    assert isinstance(info.value, AirflowFailException)  # asking again would get the same event
    assert len(seen) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("stdlib_path", [False, True], ids=["orjson", "stdlib"])
def test_an_event_254_levels_deep_is_landed_unchanged(mock_hook, stdlib_path):
    # The event (depth 1) holds "payload" (2), which holds 252 more levels: 254 in all.
    deep = event("2026-10-01T00:10:00.000Z", payload=nested(253), **({"big": 10**20} if stdlib_path else {}))
    hook, _ = mock_hook(lambda request: page_response([deep]))
    assert list(hook.iter_audit_logs(None, START, END)) == [deep]


def test_a_page_nested_too_deep_to_parse_fails_at_once(mock_hook):
    body = b'{"items":[{"timestamp":"2026-10-01T00:10:00.000Z","p":' + b"[" * 5000 + b"]" * 5000 + b"}]}"
    hook, seen = mock_hook(lambda request: httpx.Response(200, content=body))
    with pytest.raises(WebflowResponseError, match="nested too deeply to read"):
        list(hook.iter_audit_logs(None, START, END))
    assert len(seen) == 1


def test_a_body_declared_past_the_size_cap_is_refused_before_it_is_read(mock_hook):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(2 * 2**20)}, stream=NeverRead())

    hook, seen = mock_hook(handler, extra={"workspace": "hitchhikers-workspace", "max_response_mib": 1})
    with pytest.raises(WebflowResponseError, match=r"declares 2,097,152 bytes, past the cap of 1,048,576") as info:
        hook.get_audit_logs_page()
    assert "max_response_mib" in str(info.value)
    assert len(seen) == 1


class NeverRead(httpx.SyncByteStream):
    """A body that fails the test if anyone reads it."""

    def __iter__(self):
        raise AssertionError("the body was read")
        yield b""  # pragma: no cover


def test_an_absurd_max_response_size_is_refused_with_its_range(mock_hook):
    hook, seen = mock_hook(page_response, extra={"workspace": "w", "max_response_mib": 1e9})
    with pytest.raises(WebflowConfigurationError, match="max_response_mib' must be a whole number from 1 to 1024"):
        hook.get_audit_logs_page()
    assert seen == []


def test_the_oldest_event_served_is_one_unfiltered_request(mock_hook):
    hook, seen = mock_hook(lambda request: page_response([event("2026-09-02T03:04:05.678Z")], total=9000))
    assert hook.get_earliest_available() == datetime(2026, 9, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    (request,) = seen
    assert dict(request.url.params) == {"limit": "1", "offset": "0", "sortOrder": "asc"}


def test_an_empty_log_has_no_oldest_event(mock_hook):
    hook, _ = mock_hook(lambda request: page_response([]))
    assert hook.get_earliest_available() is None


def test_a_base_url_copied_from_webflows_docs_requests_v2_once(mock_hook):
    hook, seen = mock_hook(lambda request: page_response([]), host="http://127.0.0.1:9/v2/")
    hook.get_audit_logs_page()
    (request,) = seen
    assert request.url.path == "/v2/workspaces/hitchhikers-workspace/audit_logs"


def test_the_hooks_clients_share_one_ssl_context(monkeypatch):
    """Loading the CA bundle costs ~50 ms of CPU: once per hook, not once per client."""
    from airflow_webflow_audit.hooks.webflow import WebflowHook
    from tests.conftest import set_connection

    set_connection(monkeypatch, host="https://api.webflow.com", extra={"workspace": WORKSPACE})
    loads = []
    original = httpx.create_ssl_context
    monkeypatch.setattr(httpx, "create_ssl_context", lambda *a, **k: loads.append(1) or original(*a, **k))
    hook = WebflowHook()
    with hook.get_conn() as first, hook.get_conn() as second:
        assert first._transport._pool._ssl_context is second._transport._pool._ssl_context
    assert len(loads) == 1
