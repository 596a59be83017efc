"""The calendar's day statuses, from a report as plain JSON: the contract the HTML page and the UI keep."""

from __future__ import annotations

from airflow_webflow_audit.audit.calendar import day_cells, months
from airflow_webflow_audit.audit.html import render_html


def window(day: int, *, days: int = 1, status: str = "ok", **extra) -> dict:
    start, end = f"2026-10-{day:02d}T00:00:00+00:00", f"2026-10-{day + days:02d}T00:00:00+00:00"
    return {
        "start": start,
        "end": end,
        "key": f"workspace=ws/dt=2026-10-{day:02d}/w{day}",
        "records": 3,
        "parts": 1,
        "status": status,
        **extra,
    }


def report(windows: list[dict], problems: list[dict] | None = None, end_day: int = 8) -> dict:
    return {
        "verdict": "incomplete" if problems else "complete",
        "exit_code": 1 if problems else 0,
        "range": {"start": "2026-10-02T00:00:00+00:00", "end": f"2026-10-{end_day:02d}T00:00:00+00:00"},
        "workspace": "ws",
        "destination": "file:///archive",
        "windows": windows,
        "problems": problems or [],
        "warnings": [w for window in windows for w in window.get("warnings", [])],
        "signatures_checked": True,
        "keys": [],
    }


def statuses(data: dict) -> dict[str, str]:
    return {cell.day.isoformat()[8:]: cell.status for cell in day_cells(data) if cell.status != "outside"}


def test_each_day_of_the_range_gets_the_worst_status_of_what_meets_it():
    bad = window(3, status="bad_signature", detail="part 1: the signature does not verify")
    data = report(
        [
            window(2),
            bad,
            window(4, warnings=["w4: part 1 is unsigned (accepted: ...)"]),
            window(5, coverage="partly_before_earliest_available"),
            window(7, days=1),
        ],
        problems=[
            {"kind": "bad_signature", "start": bad["start"], "end": bad["end"], "key": bad["key"], "detail": "x"},
            {
                "kind": "gap",
                "start": "2026-10-06T00:00:00+00:00",
                "end": "2026-10-07T00:00:00+00:00",
                "key": None,
                "detail": "no whole window",
            },
            {"kind": "unexpected_object", "start": None, "end": None, "key": "workspace=ws/stray", "detail": "y"},
        ],
    )
    assert statuses(data) == {
        "02": "ok",
        "03": "problem",
        "04": "warning",
        "05": "retention",
        "06": "gap",
        "07": "ok",
    }
    problem = next(cell for cell in day_cells(data) if cell.status == "problem")
    assert "bad_signature" in problem.title


def test_a_window_of_several_days_colours_every_day_it_meets_and_the_calendar_has_whole_months():
    data = report([window(1, days=4), window(5, days=3)])
    assert set(statuses(data).values()) == {"ok"}
    (october,) = months(data)
    assert (october.label, october.leading_blanks, len(october.cells)) == ("October 2026", 3, 31)
    assert {cell.status for cell in october.cells if cell.day.day in (1, 8, 31)} == {"outside"}


def test_the_html_page_carries_the_contract_and_nothing_from_elsewhere():
    data = report(
        [window(2), window(3, status="corrupt")],
        problems=[
            {
                "kind": "corrupt",
                "start": "2026-10-03T00:00:00+00:00",
                "end": "2026-10-04T00:00:00+00:00",
                "key": "workspace=ws/dt=2026-10-03/w3",
                "detail": "part 1: sha256 a vs b <script>",
            }
        ],
        end_day=4,
    )
    html = render_html(data, command="python -m airflow_webflow_audit.audit file:///archive --html r.html")
    assert "data-day='2026-10-02' data-status='ok'" in html
    assert "data-day='2026-10-03' data-status='problem'" in html
    assert "data-day='2026-10-31' data-status='outside'" in html
    assert "<script" not in html.lower()  # the detail is escaped, and the page has no script of its own
    for outside in ("http://", "https://", "@import", "url(", "src="):
        assert outside not in html
    assert "data-exit-code='1'" in html
    assert "@page { size: A4" in html
