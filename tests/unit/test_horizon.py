"""The retention horizon's one look per task: reused while the horizon cannot have reached the window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow_webflow_audit.landing.horizon import HORIZON_SLACK, RetentionHorizon

EARLIEST = datetime(2026, 10, 1, tzinfo=timezone.utc)


class Looks:
    """A hook's ``get_earliest_available``, counting its requests."""

    def __init__(self, earliest: datetime | None) -> None:
        self.earliest = earliest
        self.calls = 0

    def get_earliest_available(self, workspace: str) -> datetime | None:
        self.calls += 1
        return self.earliest


def horizon(looks: Looks, now: list[float]) -> RetentionHorizon:
    return RetentionHorizon(looks, "ws", monotonic=lambda: now[0])  # type: ignore[arg-type]


def test_windows_well_after_the_horizon_share_one_look():
    looks, now = Looks(EARLIEST), [0.0]
    shared = horizon(looks, now)
    for hour in range(1, 25):
        now[0] += 5
        assert shared.after_pull(EARLIEST + timedelta(hours=hour), pulled=10) == EARLIEST
    assert looks.calls == shared.looks == 1


def test_a_window_the_horizon_may_have_reached_since_the_look_looks_again():
    looks, now = Looks(EARLIEST), [0.0]
    shared = horizon(looks, now)
    shared.after_pull(EARLIEST + timedelta(days=1), pulled=1)
    now[0] = 600.0  # ten minutes on: the cut may have moved ten minutes past EARLIEST
    near = EARLIEST + timedelta(minutes=10) + HORIZON_SLACK - timedelta(seconds=1)
    shared.after_pull(near, pulled=1)
    assert looks.calls == 2
    shared.after_pull(EARLIEST + timedelta(hours=1), pulled=1)  # the new look, just taken, holds
    assert looks.calls == 2


def test_a_look_that_saw_no_events_holds_only_for_windows_without_any():
    looks, now = Looks(None), [0.0]
    shared = horizon(looks, now)
    assert shared.after_pull(EARLIEST, pulled=0) is None
    assert shared.after_pull(EARLIEST + timedelta(hours=1), pulled=0) is None
    assert looks.calls == 1
    shared.after_pull(EARLIEST + timedelta(hours=2), pulled=3)
    assert looks.calls == 2
