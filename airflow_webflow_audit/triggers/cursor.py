"""The event trigger's cursor: which audit events it has handed out, so a restart resumes with no duplicate and no gap.

Sans-IO: :func:`advance` takes the events a poll read (ascending, as the hook hands them out) and
says which to hand out now and where the cursor moves. Audit events have no id and timestamps
repeat, so the cursor is a watermark (the latest timestamp a poll read) plus the digests of the
matching events handed out in the last ``lookback`` before it. A poll asks from
``watermark - lookback``: an event that reaches the log late, or at an instant already read, is
still handed out once if it falls in the lookback. Events the filter drops move the watermark (so
polls stay small) and are never stored. With ``max_events`` reached the batch is truncated: the
rest are not marked and come with the next poll.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from airflow_webflow_audit.api import parse_timestamp
from airflow_webflow_audit.jsonlines import dump_line


def event_digest(event: dict[str, Any]) -> str:
    """An event's identity: the digest of its JSON line (items carry no id; the whole item is it)."""
    return hashlib.blake2b(dump_line(event), digest_size=16).hexdigest()


@dataclass(frozen=True)
class EventCursor:
    """Read up to ``watermark``; ``handed_out`` holds (timestamp, digest) of the recent events handed out.

    ``since`` is where watching began: nothing before it is ever handed out.
    """

    since: datetime
    watermark: datetime
    handed_out: tuple[tuple[datetime, str], ...] = ()

    @classmethod
    def starting_at(cls, moment: datetime) -> EventCursor:
        return cls(moment, moment)

    def poll_from(self, lookback: timedelta) -> datetime:
        return max(self.since, self.watermark - lookback)

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "watermark": self.watermark.isoformat(),
            "handed_out": [[stamp.isoformat(), digest] for stamp, digest in self.handed_out],
        }

    @classmethod
    def from_json(cls, value: object) -> EventCursor:
        """A stored cursor; raises ValueError when it is not one (the caller starts afresh, loudly)."""
        broken = ValueError(f"not a stored cursor: {str(value)[:200]!r}")
        if not isinstance(value, dict):
            raise broken
        try:
            handed_out = tuple((parse_timestamp(stamp), digest) for stamp, digest in value.get("handed_out", []))
            cursor = cls(parse_timestamp(value["since"]), parse_timestamp(value["watermark"]), handed_out)
        except (KeyError, TypeError, ValueError):
            raise broken from None
        if not all(isinstance(digest, str) for _, digest in handed_out):
            raise broken
        return cursor


@dataclass(frozen=True)
class Advance:
    """One poll's outcome: the events to hand out (as the API sent them), the new cursor, whether more wait."""

    events: list[dict[str, Any]]
    cursor: EventCursor
    truncated: bool


def advance(
    cursor: EventCursor,
    events: Sequence[dict[str, Any]],
    *,
    matches: Callable[[dict[str, Any]], bool],
    max_events: int,
    lookback: timedelta,
) -> Advance:
    """Hand out the matching events not handed out before, at most ``max_events``; move the cursor.

    ``events`` are what a poll from ``cursor.poll_from(lookback)`` read, ascending by timestamp.
    """
    before = Counter(digest for _, digest in cursor.handed_out)
    handed_out = list(cursor.handed_out)
    watermark = cursor.watermark
    out: list[dict[str, Any]] = []
    pending: datetime | None = None
    for event in events:
        stamp = parse_timestamp(event["timestamp"])
        if stamp < cursor.since:
            continue  # from before watching began (an API that reads ``from`` loosely)
        if not matches(event):
            watermark = max(watermark, stamp)
            continue
        digest = event_digest(event)
        if before[digest] > 0:
            before[digest] -= 1  # handed out by an earlier poll
            continue
        if len(out) >= max_events:
            pending = stamp  # not marked: the next poll, from before it, hands it out
            break
        out.append(event)
        handed_out.append((stamp, digest))
        watermark = max(watermark, stamp)
    if pending is not None:
        # Never move the next poll's start past an event not yet handed out.
        watermark = cursor.watermark if pending < cursor.watermark else min(watermark, pending)
    horizon = watermark - lookback
    kept = tuple(sorted(entry for entry in handed_out if entry[0] >= horizon))
    return Advance(out, EventCursor(cursor.since, watermark, kept), truncated=pending is not None)
