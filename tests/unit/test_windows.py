"""Which window a task works on, and the errors for runs that have none."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pendulum
import pytest

from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.validation import validate_datetime
from airflow_webflow_audit.windows import resolve_window

UTC = timezone.utc
START = pendulum.datetime(2026, 10, 1, tz="UTC")
END = START.add(days=1)
INTERVAL = {"data_interval_start": START, "data_interval_end": END}


def test_the_data_interval_is_the_window():
    assert resolve_window(INTERVAL) == (START, END)


def test_explicit_bounds_win_and_are_converted_to_utc():
    start, end = resolve_window(INTERVAL, "2026-10-01T02:00:00+02:00", datetime(2026, 10, 1, 6, tzinfo=UTC))
    assert (start, end) == (datetime(2026, 10, 1, 0, tzinfo=UTC), datetime(2026, 10, 1, 6, tzinfo=UTC))
    assert start.tzinfo is UTC


def test_one_explicit_bound_keeps_the_other_from_the_interval():
    assert resolve_window(INTERVAL, start=START - timedelta(hours=1)) == (START - timedelta(hours=1), END)


@pytest.mark.parametrize("unset", [None, "", "None", "  "])
def test_a_template_that_rendered_nothing_means_not_given(unset):
    assert resolve_window(INTERVAL, unset, unset) == (START, END)


@pytest.mark.parametrize(
    "context",
    [{}, {"data_interval_start": None, "data_interval_end": None}, {"data_interval_start": START}],
    ids=["keys-absent", "keys-none", "end-absent"],
)
def test_a_run_without_a_data_interval_says_how_to_get_one(context):
    with pytest.raises(WebflowConfigurationError, match="no data interval") as caught:
        resolve_window(context)
    assert "start= and end=" in str(caught.value)
    assert "logical date" in str(caught.value)


def test_a_run_without_a_data_interval_is_fine_with_explicit_bounds():
    assert resolve_window({}, "2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z") == (START, END)


def test_a_zero_width_interval_names_the_timetable_to_use():
    with pytest.raises(WebflowConfigurationError, match="CronDataIntervalTimetable") as caught:
        resolve_window({"data_interval_start": START, "data_interval_end": START})
    assert "CronTriggerTimetable" in str(caught.value)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-10-01T00:00:00", None, "no UTC offset"),
        (datetime(2026, 10, 1), None, "naive"),
        (None, "2026-09-30T00:00:00Z", "must be before"),
        (START, START, "must be before"),
        ("yesterday", None, "not an ISO 8601"),
    ],
)
def test_bad_bounds_are_refused(start, end, message):
    with pytest.raises(WebflowConfigurationError, match=message):
        resolve_window(INTERVAL, start, end)


def test_a_pendulum_instant_comes_back_as_a_plain_utc_datetime_that_stays_aware_in_arithmetic():
    checked = validate_datetime(pendulum.datetime(2026, 10, 1, 2, 30, 0, 5, tz="Europe/Dublin"), "end")
    assert type(checked) is datetime
    assert checked == datetime(2026, 10, 1, 1, 30, 0, 5, tzinfo=timezone.utc)
    assert (checked + timedelta(minutes=5)).tzinfo is timezone.utc  # pendulum's own DateTime drops it here
