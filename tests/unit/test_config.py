"""Connection settings and input checks: each bad value is refused before any request, naming the fix."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from airflow_webflow_audit.api import DEFAULT_BASE_URL, format_api_time, normalise_for_fromisoformat, parse_timestamp
from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.hooks.connection import config_from_connection
from airflow_webflow_audit.validation import validate_window, validate_workspace
from tests.conftest import TOKEN, page_response

UTC = timezone.utc
START = datetime(2026, 10, 1, tzinfo=UTC)
END = START + timedelta(days=1)


def config(host: str | None = None, port: int | None = None, password: str | None = TOKEN, extra=None):
    return config_from_connection("webflow_default", host=host, port=port, password=password, extra=extra)


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        (None, None, DEFAULT_BASE_URL),
        ("", None, DEFAULT_BASE_URL),
        ("api.webflow.com", None, "https://api.webflow.com"),
        ("https://api.webflow.com/", None, "https://api.webflow.com"),
        ("https://proxy.example.com/webflow/", None, "https://proxy.example.com/webflow"),
        ("http://localhost:8081", None, "http://localhost:8081"),
        ("http://127.0.0.5", 8081, "http://127.0.0.5:8081"),
        ("http://[::1]:8081", None, "http://[::1]:8081"),
        # As Webflow's docs write it: the hook adds /v2 to every path itself.
        ("https://api.webflow.com/v2", None, "https://api.webflow.com"),
        ("https://api.webflow.com/v2/", None, "https://api.webflow.com"),
        ("api.webflow.com/v2", None, "https://api.webflow.com"),
        ("https://proxy.example.com/webflow/v2", None, "https://proxy.example.com/webflow"),
        ("https://proxy.example.com/v2beta", None, "https://proxy.example.com/v2beta"),
    ],
)
def test_base_url_forms(host, port, expected):
    assert config(host, port).base_url == expected


@pytest.mark.parametrize(
    "host",
    ["http://api.webflow.com", "http://10.0.0.5:8080", "http://127.0.0.1.example.com", "http://0.0.0.0:8081"],
)
def test_plain_http_is_refused_for_non_loopback_hosts(host):
    with pytest.raises(WebflowConfigurationError, match="only allowed for loopback"):
        config(host)


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("ftp://api.webflow.com", "scheme 'ftp' is not supported"),
        ("https://user:pw@api.webflow.com", "must not carry credentials"),
        ("https://api.webflow.com/?x=1", "must not carry credentials, a query"),
        ("https://api.webflow.com:notaport", "invalid port"),
    ],
)
def test_bad_base_urls(host, message):
    with pytest.raises(WebflowConfigurationError, match=message):
        config(host)


@pytest.mark.parametrize("password", [None, "", "   "])
def test_missing_token_names_the_password_field(password):
    with pytest.raises(WebflowConfigurationError, match="password field"):
        config(password=password)


def test_token_with_whitespace_is_refused_without_echoing_it():
    with pytest.raises(WebflowConfigurationError) as info:
        config(password="abc def-secret")
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    ("hidden", "kind"),
    [
        ("\u200b", "U+200B ZERO WIDTH SPACE"),
        ("\ufeff", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("\x00", "U+0000"),
        ("\x7f", "U+007F"),
        ("\u2060", "U+2060 WORD JOINER"),
        ("\u00e9", "outside printable ASCII"),
    ],
)
def test_token_with_an_invisible_or_control_character_is_refused_without_showing_it(hidden, kind):
    token = "left-half-SECRET" + hidden + "TAIL-right-half"
    with pytest.raises(WebflowConfigurationError) as info:
        config(password=token)
    text = str(info.value)
    assert kind in text
    assert "position 17 of 32" in text
    for fragment in ("left", "SECRET", "TAIL", "right", hidden):
        assert fragment not in text, fragment


def test_a_bom_pasted_before_the_token_is_refused():
    with pytest.raises(WebflowConfigurationError, match=r"U\+FEFF .* at position 1 of"):
        config(password="\ufeff" + TOKEN)


def test_token_is_not_in_the_repr():
    assert TOKEN not in repr(config())


def test_extras_are_read_and_numbers_from_strings_accepted():
    cfg = config(
        extra='{"workspace": "ws-1", "rate_limit_per_minute": "60", "timeout": 5, "max_retries": 0, '
        '"max_concurrency": "8", "rate_limit_window_seconds": 1}'
    )
    assert (cfg.workspace, cfg.rate_limit_per_minute, cfg.timeout, cfg.max_retries, cfg.max_concurrency) == (
        "ws-1",
        60.0,
        5.0,
        0,
        8,
    )
    assert cfg.rate_limit_window_seconds == 1.0
    assert config().rate_limit_window_seconds == 60.0


@pytest.mark.parametrize(("value", "expected"), [(True, True), ("true", True), ("False", False), ("", False)])
def test_require_signing_is_a_flag_the_ui_may_store_as_text(value, expected):
    assert config(extra={"require_signing": value}).require_signing is expected
    assert config().require_signing is False


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ({"timeout": "soon"}, "'timeout' must be a number"),
        ({"timeout": True}, "'timeout' must be a number"),
        ({"timeout": -1}, "'timeout' must be a number from 0.1 to 3600"),
        ({"timeout": 0}, "'timeout' must be a number from 0.1 to 3600"),
        ({"timeout": 1e10}, "'timeout' must be a number from 0.1 to 3600, got 10000000000.0"),
        ({"timeout": "inf"}, "'timeout' must be a number from 0.1 to 3600"),
        ({"rate_limit_per_minute": -60}, "'rate_limit_per_minute' must be a number from 1 to 100000"),
        ({"rate_limit_per_minute": 1e-9}, "'rate_limit_per_minute' must be a number from 1 to 100000"),
        ({"rate_limit_window_seconds": 0}, "'rate_limit_window_seconds' must be a number from 1 to 86400"),
        ({"max_retries": -1}, "'max_retries' must be a whole number from 0 to 100"),
        ({"max_retries": 1.5}, "whole number"),
        ({"max_retries": "1e400"}, "'max_retries' must be a whole number from 0 to 100"),
        ({"max_concurrency": 0}, "'max_concurrency' must be a whole number from 1 to 32"),
        ({"max_concurrency": 1e9}, "'max_concurrency' must be a whole number from 1 to 32"),
        ({"workspace": 12}, "'workspace' must be a string"),
        ({"workspace": "../other"}, "workspace id or slug"),
        ({"require_signing": "yes"}, "'require_signing' must be true or false"),
        ({"require_signing": 1}, "'require_signing' must be true or false"),
    ],
)
def test_malformed_extras(extra, message):
    with pytest.raises(WebflowConfigurationError, match=message):
        config(extra=extra)


def test_unknown_extra_keys_are_warned_about(caplog):
    with caplog.at_level(logging.WARNING):
        config(extra={"workspace": "ws", "max_retry": 3})
    assert "max_retry" in caplog.text


@pytest.mark.parametrize(
    "workspace",
    ["", "a/b", "a?b", "a#b", "a%2Fb", ".", "..", "../admin", "a b", "ws\n", "a\\b", "a" * 257, None, 42],
)
def test_bad_workspaces(workspace):
    with pytest.raises(WebflowConfigurationError):
        validate_workspace(workspace)


def test_a_dot_workspace_never_reaches_the_api(mock_hook):
    hook, seen = mock_hook(lambda request: page_response([]))
    with pytest.raises(WebflowConfigurationError, match="names another endpoint"):
        hook.get_audit_logs_page(".")
    assert seen == []


@pytest.mark.parametrize("workspace", ["hitchhikers-workspace", "6621ccb459b561c69f29d57c", "a.b_c-d"])
def test_good_workspaces(workspace):
    assert validate_workspace(workspace) == workspace


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (datetime(2026, 10, 1), END, "naive datetime"),
        (START, datetime(2026, 10, 2), "naive datetime"),
        (END, START, "must be before end"),
        (START, START, "must be before end"),
        ("2026-10-01T00:00:00", END, "no UTC offset"),
        ("yesterday", END, "not an ISO 8601"),
        (20261001, END, "must be a datetime"),
    ],
)
def test_bad_windows(start, end, message):
    with pytest.raises(WebflowConfigurationError, match=message):
        validate_window(start, end)


def test_windows_are_normalised_to_utc():
    plus_two = timezone(timedelta(hours=2))
    start, end = validate_window(datetime(2026, 10, 1, 2, tzinfo=plus_two), "2026-10-02T00:00:00Z")
    assert (start, end) == (START, END)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-01T00:00:00Z", START),
        ("2026-10-01T00:00:00.000Z", START),
        ("2026-10-01T02:00:00+02:00", START),
        ("2026-10-01T00:00:00.5Z", START + timedelta(microseconds=500_000)),
        ("2026-10-01T00:00:00.123456789Z", START + timedelta(microseconds=123_456)),
        ("2026-10-01T00:00:00.999999999Z", START + timedelta(microseconds=999_999)),
        ("2026-10-01T00:00:00", START),
    ],
)
def test_parse_timestamp(text, expected):
    assert parse_timestamp(text) == expected
    # The fallback for Pythons whose fromisoformat rejects these forms (3.10) reads them the same.
    normalised = datetime.fromisoformat(normalise_for_fromisoformat(text))
    assert (normalised if normalised.tzinfo else normalised.replace(tzinfo=UTC)) == expected


def test_format_api_time():
    assert format_api_time(START + timedelta(milliseconds=1234)) == "2026-10-01T00:00:01.234Z"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "limit must be"),
        ({"limit": 101}, "limit must be"),
        ({"limit": True}, "limit must be"),
        ({"offset": -1}, "offset must be"),
        ({"sort_order": "ASC"}, "sort_order must be"),
        ({"event_type": "logins"}, "Unknown event_type"),
        ({"start": datetime(2026, 10, 1), "end": END}, "naive"),
    ],
)
def test_page_arguments_are_checked_before_any_request(mock_hook, kwargs, message):
    hook, seen = mock_hook(lambda request: page_response([]))
    with pytest.raises(WebflowConfigurationError, match=message):
        hook.get_audit_logs_page("hitchhikers-workspace", **kwargs)
    assert seen == []


@pytest.mark.parametrize(
    ("workspace", "start", "end", "event_type"),
    [
        ("../admin", START, END, None),
        ("a%2Fb", START, END, None),
        ("hitchhikers-workspace", datetime(2026, 10, 1), END, None),
        ("hitchhikers-workspace", END, START, None),
        ("hitchhikers-workspace", START, END, "login"),
    ],
)
def test_window_arguments_are_checked_when_the_pull_is_created(mock_hook, workspace, start, end, event_type):
    hook, seen = mock_hook(lambda request: page_response([]))
    with pytest.raises(WebflowConfigurationError):
        hook.iter_audit_logs(workspace, start, end, event_type)  # no iteration needed to hear about it
    with pytest.raises(WebflowConfigurationError):
        hook.aiter_audit_logs(workspace, start, end, event_type)
    assert seen == []


def test_missing_workspace_names_both_ways_to_give_one(mock_hook):
    hook, seen = mock_hook(lambda request: page_response([]), extra={})
    with pytest.raises(WebflowConfigurationError, match="Default workspace"):
        hook.iter_audit_logs(None, START, END)
    assert seen == []


def test_non_loopback_http_is_refused_before_any_request(mock_hook):
    hook, seen = mock_hook(lambda request: page_response([]), host="http://api.example.com")
    with pytest.raises(WebflowConfigurationError, match="loopback"):
        hook.iter_audit_logs("ws", START, END)
    assert seen == []


def test_requests_carry_the_documented_parameters(mock_hook):
    hook, seen = mock_hook(lambda request: page_response([]), host="https://api.webflow.com")
    list(hook.iter_audit_logs("hitchhikers-workspace", START, END, "custom_role"))
    (request,) = seen
    assert request.url.path == "/v2/workspaces/hitchhikers-workspace/audit_logs"
    assert request.url.scheme == "https"
    assert dict(request.url.params) == {
        "limit": "100",
        "offset": "0",
        "sortOrder": "asc",
        "eventType": "custom_role",
        "from": "2026-09-30T23:59:59.000Z",
        "to": "2026-10-02T00:00:01.000Z",
    }
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["user-agent"].startswith("airflow-webflow-audit/")


def test_get_audit_logs_page_passes_from_and_to_unpadded(mock_hook):
    hook, seen = mock_hook(lambda request: page_response([]))
    page = hook.get_audit_logs_page(limit=5, offset=10, sort_order="desc", start=START, end=END)
    assert page == {"items": [], "pagination": {"limit": 100, "offset": 0, "total": 0}}
    assert dict(seen[0].url.params) == {
        "limit": "5",
        "offset": "10",
        "sortOrder": "desc",
        "from": "2026-10-01T00:00:00.000Z",
        "to": "2026-10-02T00:00:00.000Z",
    }


def test_the_connection_timeout_reaches_the_client(mock_hook):
    hook, _ = mock_hook(lambda request: page_response([]), extra={"timeout": 7, "workspace": "ws"})
    with hook.get_conn() as client:
        assert client.timeout == httpx.Timeout(7.0, connect=7.0)


def test_a_base_url_with_a_path_prefix_keeps_it(mock_hook):
    hook, seen = mock_hook(lambda request: page_response([]), host="https://proxy.example.com/webflow/")
    list(hook.iter_audit_logs("ws", START, END))
    assert str(seen[0].url).startswith("https://proxy.example.com/webflow/v2/workspaces/ws/audit_logs?")


def test_hook_params_override_the_connections_extras_for_one_hook(mock_hook):
    hook, _ = mock_hook(
        page_response,
        extra={"workspace": "ws", "timeout": 30, "max_concurrency": 5, "max_retries": 5},
    )
    hook.hook_params = {"timeout": 7, "max_concurrency": 1, "rate_limit_per_minute": 60}
    config = hook.config
    assert (config.timeout, config.max_concurrency, config.max_retries, config.rate_limit_per_minute) == (7, 1, 5, 60)
    assert hook.pacer.ceiling_per_minute == 60


@pytest.mark.parametrize(
    ("hook_params", "message"),
    [
        ({"workspace": "other"}, "Unknown hook_params 'workspace'; a task may set max_retries, timeout"),
        ({"timeout": 1e10}, r"hook_params\['timeout'\] must be a number from 0.1 to 3600"),
        ({"max_concurrency": 0}, r"hook_params\['max_concurrency'\] must be a whole number from 1 to 32"),
        (["timeout"], "hook_params must be a dict"),
    ],
)
def test_bad_hook_params_are_refused_when_the_hook_is_made(hook_params, message):
    from airflow_webflow_audit.hooks.webflow import WebflowHook

    with pytest.raises(WebflowConfigurationError, match=message):
        WebflowHook(hook_params=hook_params)
