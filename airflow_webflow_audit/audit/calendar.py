"""A range audit as a calendar: one cell per UTC day, with the status of every window that meets it.

Built from the audit's JSON report (:meth:`~airflow_webflow_audit.audit.report.AuditReport.to_json`),
the one source of truth of ``--json``, ``--html`` and the Airflow UI page. The day statuses are a
contract that tests and scripts read (the ``data-status`` of each ``data-day`` cell), worst first:

* ``problem`` -- a window meeting the day has a problem (missing, corrupt, misplaced, badly signed,
  overlapping, stale...), or something the layout does not own lies in the day's folder; under
  ``--strict``, also a day that would be ``retention`` or ``warning`` (strict counts warnings as problems);
* ``gap`` -- part of the day is covered by no whole window;
* ``retention`` -- a window meeting the day was landed when the API no longer served its start
  (coverage before the retention horizon): not proof that it is complete;
* ``warning`` -- every window meeting the day verified, with a warning (an unsigned part accepted
  before the cut-over, a filtered window beside the whole one, ...);
* ``ok`` -- every window meeting the day verified, without a warning;
* ``outside`` -- the day is not in the audited range (the calendar shows whole months).
"""

from __future__ import annotations

import calendar as stdlib_calendar
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

PROBLEM, GAP, RETENTION, WARNING, OK, OUTSIDE = "problem", "gap", "retention", "warning", "ok", "outside"
#: Every day status, worst first.
DAY_STATUSES = (PROBLEM, GAP, RETENTION, WARNING, OK, OUTSIDE)
#: The longest a cell's title gets: the detail is one click away, in the window list.
MAX_TITLE_CHARS = 600


@dataclass
class DayCell:
    """One UTC day of the calendar: its status, why, and the windows that meet it (their keys)."""

    day: date
    status: str
    reasons: list[str] = field(default_factory=list)
    windows: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        text = f"{self.day.isoformat()}: {self.status}" + (" -- " + "; ".join(self.reasons) if self.reasons else "")
        return text if len(text) <= MAX_TITLE_CHARS else text[: MAX_TITLE_CHARS - 3] + "..."


@dataclass
class Month:
    """The cells of one month, from its first day, and how many blank cells come before it (Monday first)."""

    first: date
    leading_blanks: int
    cells: list[DayCell]

    @property
    def label(self) -> str:
        return f"{stdlib_calendar.month_name[self.first.month]} {self.first.year}"


def months(report: Mapping[str, Any]) -> list[Month]:
    """The calendar of a report's range, whole months, each day with its status."""
    cells = day_cells(report)
    by_month: dict[tuple[int, int], list[DayCell]] = defaultdict(list)
    for cell in cells:
        by_month[(cell.day.year, cell.day.month)].append(cell)
    return [Month(days[0].day, days[0].day.weekday(), days) for _, days in sorted(by_month.items())]


def day_cells(report: Mapping[str, Any]) -> list[DayCell]:
    """One cell per day of the months the range touches (see the module's docstring for the statuses)."""
    start, end = _moment(report["range"]["start"]), _moment(report["range"]["end"])
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    windows: dict[date, list[Mapping[str, Any]]] = defaultdict(list)
    for window in report.get("windows", []):
        for day in _days(_moment(window["start"]), _moment(window["end"])):
            windows[day].append(window)
    problems: dict[date, list[Mapping[str, Any]]] = defaultdict(list)
    for problem in report.get("problems", []):
        if problem.get("start") and problem.get("end"):
            for day in _days(_moment(problem["start"]), _moment(problem["end"])):
                problems[day].append(problem)
    cells = []
    for day in _calendar_days(first, last):
        if day < first or day > last:
            cells.append(DayCell(day, OUTSIDE))
            continue
        cells.append(_cell(day, windows[day], problems[day], strict=bool(report.get("strict"))))
    return cells


def _cell(
    day: date, windows: list[Mapping[str, Any]], problems: list[Mapping[str, Any]], *, strict: bool = False
) -> DayCell:
    cell = DayCell(day, OK, windows=[str(window["key"]) for window in windows])
    found = [p for p in problems if p.get("kind") != "gap"]
    gaps = [p for p in problems if p.get("kind") == "gap"]
    retention = [w for w in windows if w.get("coverage") not in (None, "complete") and not w.get("event_types")]
    warned = [w for w in windows if w.get("warnings")]
    cell.reasons = [f"{p['kind']}: {p.get('key') or ''} {p.get('detail', '')}".replace("  ", " ") for p in found]
    cell.reasons += [f"gap [{p['start']}, {p['end']})" for p in gaps]
    cell.reasons += [f"{w['key']}: coverage {w['coverage']}" for w in retention]
    cell.reasons += [warning for w in warned for warning in w["warnings"]]
    if found or (strict and (retention or warned)):  # --strict counts warnings as problems
        cell.status = PROBLEM
    elif gaps:
        cell.status = GAP
    elif retention:
        cell.status = RETENTION
    elif warned:
        cell.status = WARNING
    return cell


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _days(start: datetime, end: datetime) -> Iterator[date]:
    """The UTC days ``[start, end)`` meets."""
    day = start.date()
    while datetime.combine(day, time(), timezone.utc) < end:
        yield day
        day += timedelta(days=1)


def _calendar_days(first: date, last: date) -> Iterator[date]:
    """Every day of the months from ``first``'s to ``last``'s."""
    day = first.replace(day=1)
    final = last.replace(day=stdlib_calendar.monthrange(last.year, last.month)[1])
    while day <= final:
        yield day
        day += timedelta(days=1)
