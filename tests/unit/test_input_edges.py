"""Every parser of a time or a duration answers with the project's own error, at both ends of the calendar.

The audit's options (exit 2, never a traceback, never 1 or 3), ``--public-key FILE@TIME`` and keyrings,
``window_size``, partition keys and the coverage page's query (HTTP 400 with a message). Hypothesis walks
datetimes from year 1 to 9999 with offsets up to a day, and durations up to overflow.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_webflow_audit.audit.cli import EXIT_INCOMPLETE, EXIT_USAGE, main
from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.partitions import partition_window
from airflow_webflow_audit.plugins.coverage import PageError, _range
from airflow_webflow_audit.signing import generate_private_key_pem, public_key_pem
from airflow_webflow_audit.signing.keyring import key_argument, load_keyring
from airflow_webflow_audit.signing.signers import ManifestSigner
from airflow_webflow_audit.validation import (
    EARLIEST_TIME,
    LATEST_TIME,
    validate_datetime,
    validate_duration,
    validate_window_size,
)

OFFSETS = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
#: Any instant Python can write down, with any offset: the edges of the calendar included.
MOMENTS = st.builds(
    lambda moment, zone: moment.replace(tzinfo=zone),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)),
    OFFSETS,
)
EDGES = [
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59.999999Z",
    "1969-12-31T23:59:59Z",
]


def attempt(call, *args, **kwargs):
    """``(result, None)``, or ``(None, error)`` when ``call`` refuses with the project's own error."""
    try:
        return call(*args, **kwargs), None
    except (WebflowConfigurationError, PageError) as error:
        return None, error


def inside(moment: datetime) -> bool:
    try:
        return EARLIEST_TIME <= moment <= LATEST_TIME
    except OverflowError:
        return False


@given(MOMENTS)
def test_a_time_is_read_or_refused_by_name(moment):
    for value in (moment, moment.isoformat()):
        if inside(moment):
            assert validate_datetime(value, "start") == moment
        else:
            with pytest.raises(WebflowConfigurationError, match="outside the times this provider handles"):
                validate_datetime(value, "start")


@given(st.text(max_size=40))
def test_any_text_is_a_time_or_a_configuration_error(text):
    moment, error = attempt(validate_datetime, text, "start")
    assert ("start" in str(error)) if error else inside(moment)


DURATION_TEXT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.integers(min_value=0, max_value=10**15).map(lambda n: f"P{n}D"),
    st.integers(min_value=0, max_value=10**15).map(lambda n: f"PT{n}S"),
    st.integers(min_value=-(10**12), max_value=10**12).map(lambda n: f"{n} days, 0:00:00"),
    st.text(max_size=20),
    st.sampled_from(["inf", "-inf", "nan", "1e20", "P99999999999D", "1e308", "99999999999:00:00"]),
)


@given(st.one_of(DURATION_TEXT, st.floats(), st.integers(min_value=-(10**30), max_value=10**30)))
def test_a_window_size_is_read_or_refused_by_name(value):
    size, error = attempt(validate_window_size, value)
    if error:
        assert "window_size must be" in str(error)
    else:
        assert size is None or timedelta(seconds=1) <= size <= timedelta(days=366)


@given(st.one_of(DURATION_TEXT, st.floats(), st.integers(min_value=-(10**30), max_value=10**30)))
def test_a_settle_is_read_or_refused_by_name(value):
    settle, error = attempt(validate_duration, value, "settle", maximum=timedelta(days=7))
    assert ("settle must be" in str(error)) if error else timedelta(0) <= settle <= timedelta(days=7)


@pytest.fixture(scope="module")
def public_key_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    path = folder / "pub.pem"
    signer = ManifestSigner.from_pem(generate_private_key_pem(), source="test")
    path.write_text(public_key_pem(signer.private_key.public_key()))
    return path


def test_an_empty_or_unreadable_retirement_time_is_an_error_that_names_it(public_key_file):
    with pytest.raises(WebflowConfigurationError, match="nothing after the @"):
        key_argument(f"{public_key_file}@")
    with pytest.raises(WebflowConfigurationError, match=r"retirement time after @ .* is not an ISO 8601"):
        key_argument(f"{public_key_file}@garbage")
    retired = key_argument(f"{public_key_file}@2026-12-01T00:00:00Z")
    assert retired.not_after == datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert key_argument(str(public_key_file)).not_after is None


def test_a_file_whose_name_holds_an_at_is_read_whole(public_key_file, tmp_path):
    odd = tmp_path / "ops@example.com.pem"
    odd.write_bytes(public_key_file.read_bytes())
    assert key_argument(str(odd)).not_after is None


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(MOMENTS)
def test_a_retirement_time_at_the_calendars_edges_is_read_or_refused(public_key_file, moment):
    text = f"{public_key_file}@{moment.isoformat()}"
    if inside(moment):
        assert key_argument(text).not_after == moment
    else:
        with pytest.raises(WebflowConfigurationError, match="outside the times"):
            key_argument(text)


def audit_args(folder, *extra: str) -> list[str]:
    return [f"file://{folder}", "--workspace", "ws", *extra]


@pytest.mark.parametrize("edge", EDGES)
@pytest.mark.parametrize("option", ["--start", "--end", "--unsigned-before"])
def test_the_audit_refuses_a_time_at_the_calendars_edge_as_bad_usage(tmp_path, capsys, option, edge):
    times = {"--start": "2026-10-01T00:00:00Z", "--end": "2026-10-02T00:00:00Z", option: edge}
    args = [item for pair in times.items() for item in pair]
    code = main(audit_args(tmp_path, *args))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert code == EXIT_USAGE, err
    assert "outside the times this provider handles" in err


@settings(max_examples=25, deadline=None)
@given(MOMENTS, MOMENTS)
def test_the_audit_never_crashes_on_any_range(start, end):
    import io
    import tempfile
    from contextlib import redirect_stderr, redirect_stdout

    with tempfile.TemporaryDirectory() as folder, redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        code = main(audit_args(folder, "--start", start.isoformat(), "--end", end.isoformat(), "--json"))
    expected = EXIT_INCOMPLETE if inside(start) and inside(end) and start < end else EXIT_USAGE
    assert code == expected


@pytest.mark.parametrize("not_after", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "", "soon"])
def test_a_keyring_time_at_the_edge_is_bad_usage_not_could_not_audit(tmp_path, capsys, public_key_file, not_after):
    keyring = tmp_path / "keyring.json"
    entry = {"public_key_file": str(public_key_file), "not_after": not_after}
    keyring.write_text(json.dumps({"keys": [entry]}))
    args = ["--start", "2026-10-01T00:00:00Z", "--end", "2026-10-02T00:00:00Z", "--keyring", str(keyring)]
    code = main(audit_args(tmp_path, *args))
    assert code == EXIT_USAGE, capsys.readouterr().err
    with pytest.raises(WebflowConfigurationError, match="not_after"):
        load_keyring(keyring)


def timetable(expression: str, key_format: str, zone: str = "UTC") -> SimpleNamespace:
    return SimpleNamespace(timetable=SimpleNamespace(expression=expression, key_format=key_format, timezone=zone))


def test_a_partition_key_must_name_a_tick_exactly():
    daily = timetable("0 0 * * *", "%Y-%m-%dT%H:%M:%S")
    assert partition_window("2026-10-01T00:00:00", daily, None) == (
        datetime(2026, 10, 1, tzinfo=timezone.utc),
        datetime(2026, 10, 2, tzinfo=timezone.utc),
    )
    with pytest.raises(WebflowConfigurationError, match="not a tick"):
        partition_window("2026-10-01T00:00:30", daily, None)  # croniter's match allows the whole minute
    with pytest.raises(WebflowConfigurationError, match="not a tick"):
        partition_window("2026-10-01T00:01:00", daily, None)


def test_a_key_format_that_cannot_name_the_crons_ticks_is_refused():
    hourly = timetable("0 * * * *", "%Y-%m-%d")
    with pytest.raises(WebflowConfigurationError, match="cannot name the ticks of its cron"):
        partition_window("2026-10-01", hourly, None)
    assert partition_window("2026-10-01T05:00:00", timetable("0 * * * *", "%Y-%m-%dT%H:%M:%S"), None)[1] == (
        datetime(2026, 10, 1, 6, tzinfo=timezone.utc)
    )


def test_a_partition_in_another_timezone_lands_its_local_day():
    start, end = partition_window("2026-10-01", timetable("0 0 * * *", "%Y-%m-%d", "Europe/Dublin"), None)
    assert start == datetime(2026, 9, 30, 23, tzinfo=timezone.utc)
    assert end == datetime(2026, 10, 1, 23, tzinfo=timezone.utc)


@given(st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))
def test_a_partition_key_at_any_date_lands_or_is_refused_by_name(day):
    window, error = attempt(partition_window, day.isoformat(), timetable("0 0 * * *", "%Y-%m-%d"), None)
    if error:
        assert not EARLIEST_TIME.date() <= day < LATEST_TIME.date()
    else:
        assert window[1] - window[0] == timedelta(days=1)


PAGE_DAYS = st.one_of(st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(str), st.text(max_size=12))


@given(PAGE_DAYS, PAGE_DAYS)
def test_the_pages_range_is_read_or_answered_with_a_400(start, end):
    days, error = attempt(_range, start, end)
    if error:
        assert (error.status, bool(error.message)) == (400, True)
    else:
        assert EARLIEST_TIME.date() <= days[0] < days[1] <= LATEST_TIME.date()
