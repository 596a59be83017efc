"""The simulator's synthetic audit events: every type and subtype, and what breaks naive pagers."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_webflow_audit.api import KNOWN_EVENT_SUBTYPES, format_api_time

DEFAULT_WORKSPACE_SLUG = "hitchhikers-workspace"
DEFAULT_WORKSPACE_ID = "6621ccb459b561c69f29d57c"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

SUBTYPES = KNOWN_EVENT_SUBTYPES
#: Rough shares of a real workspace's log: mostly logins.
TYPE_WEIGHTS = {
    "user_access": 70,
    "custom_role": 3,
    "workspace_membership": 7,
    "site_membership": 10,
    "workspace_invitation": 8,
    "workspace_setting": 2,
}
LOCATIONS = (
    ("Ashburn US", "54.165.18."),
    ("Dublin IE", "34.240.11."),
    ("Sydney AU", "13.54.201."),
    ("Sao Paulo BR", "18.231.44."),
    ("Frankfurt DE", "3.120.77."),
)
ROLES = ("Admin", "Member", "Guest", "Edit - Cannot publish", "Reviewer", "Security Auditor")


def to_micros(value: datetime) -> int:
    delta = value.astimezone(timezone.utc) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _object_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(96):024x}"


@dataclass(frozen=True)
class _Actor:
    id: str
    email: str | None

    def as_json(self) -> dict[str, Any]:
        if self.email is None:
            return {"id": self.id, "type": "token"}
        return {"id": self.id, "email": self.email, "type": "person"}


def _payload(event_type: str, subtype: str, rng: random.Random, people: list[_Actor]) -> dict[str, Any]:
    def user() -> dict[str, Any]:
        person = rng.choice(people)
        return {"id": person.id, "email": person.email}

    user_type = rng.choice(("member", "guest", "reviewer", "client"))
    payload: dict[str, Any]
    if event_type == "user_access":
        location, prefix = rng.choice(LOCATIONS)
        return {
            "method": rng.choice(("dashboard", "sso", "api", "google")),
            "location": location,
            "ipAddress": f"{prefix}{rng.randint(1, 254)}",
        }
    if event_type == "custom_role":
        payload = {"roleName": rng.choice(ROLES)}
        if subtype == "role_updated":
            payload["previousRoleName"] = rng.choice(ROLES)
        return payload
    if event_type == "workspace_membership":
        payload = {
            "targetUser": user(),
            "method": rng.choice(("sso", "dashboard", "admin", "access_request")),
            "userType": user_type,
            "roleName": rng.choice(ROLES),
        }
        if subtype == "user_role_updated":
            payload["previousRoleName"] = rng.choice(ROLES)
        return payload
    if event_type == "site_membership":
        payload = {
            "site": {"id": _object_id(rng), "slug": rng.choice(("marketing-site", "docs", "store", "careers"))},
            "targetUser": user(),
            "method": rng.choice(("sso", "invite", "scim", "dashboard", "admin", "access_request")),
            "userType": user_type,
            "roleName": rng.choice(ROLES),
        }
        if subtype == "user_role_updated":
            payload["previousRoleName"] = rng.choice(ROLES)
        if subtype == "user_granular_access_updated":
            payload["granularAccess"] = {
                "id": _object_id(rng),
                "name": rng.choice(("Blog Posts", "Products", "Team Members")),
                "type": "cms",
                "restricted": rng.random() < 0.5,
            }
        return payload
    if event_type == "workspace_invitation":
        payload = {
            "targetUser": user(),
            "method": rng.choice(("sso", "dashboard", "admin")),
            "userType": user_type,
            "roleName": rng.choice(ROLES),
        }
        if subtype == "invite_updated":
            payload["previousRoleName"] = rng.choice(ROLES)
        if subtype == "invite_sent" and rng.random() < 0.2:
            payload["targetUsers"] = [user() for _ in range(rng.randint(2, 4))]
        return payload
    if event_type == "workspace_setting":
        previous = rng.choice(("true", "false"))
        return {
            "setting": "ai_toggle",
            "previousValue": previous,
            "value": "false" if previous == "true" else "true",
            "method": rng.choice(("dashboard", "admin")),
        }
    return {"detail": "an event type this client has never seen", "method": "dashboard"}


def generate_events(
    *,
    seed: int = 1,
    start: datetime,
    end: datetime,
    events_per_day: int = 2000,
    workspace_id: str = DEFAULT_WORKSPACE_ID,
    workspace_slug: str = DEFAULT_WORKSPACE_SLUG,
    include_unknown_types: bool = False,
    burst_share: float = 0.05,
    edge_events: bool = True,
) -> list[dict[str, Any]]:
    """Deterministic synthetic events in ``[start, end)``, ascending by timestamp.

    Besides uniformly spread events of every type and subtype (person and token actors), it adds
    what breaks naive pagers: bursts of events sharing one millisecond (some longer than a page),
    and events exactly on every hour edge and one millisecond either side of it.
    """
    rng = random.Random(seed)
    people = [_Actor(_object_id(rng), f"user{i}@example.com") for i in range(24)]
    tokens = [_Actor(_object_id(rng), None) for _ in range(3)]
    types = list(TYPE_WEIGHTS)
    if include_unknown_types:
        types.append("site_publishing")
    weights = [TYPE_WEIGHTS.get(t, 2) for t in types]
    start_us, end_us = to_micros(start), to_micros(end)
    start_ms, end_ms = -(-start_us // 1000), -(-end_us // 1000)
    if end_ms <= start_ms:
        return []
    days = (end_us - start_us) / 86_400_000_000
    count = max(0, round(events_per_day * days))
    workspace = {"id": workspace_id, "slug": workspace_slug}

    def event(ms: int, event_type: str | None = None) -> tuple[int, dict[str, Any]]:
        event_type = event_type or rng.choices(types, weights)[0]
        subtype = rng.choice(SUBTYPES.get(event_type, ("something_happened",)))
        actor = rng.choice(tokens) if event_type == "user_access" and rng.random() < 0.08 else rng.choice(people)
        stamp = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
        return ms, {
            "timestamp": format_api_time(stamp),
            "eventType": event_type,
            "eventSubType": subtype,
            "actor": actor.as_json(),
            "workspace": dict(workspace),
            "payload": _payload(event_type, subtype, rng, people),
        }

    out: list[tuple[int, dict[str, Any]]] = []
    made = 0
    while made < count:
        ms = rng.randrange(start_ms, end_ms)
        if rng.random() < burst_share:
            size = rng.choice((3, 8, 40, 120)) if rng.random() < 0.9 else 250
            size = min(size, count - made)
            out.extend(event(ms) for _ in range(size))
            made += size
        else:
            out.append(event(ms))
            made += 1
    if edge_events:
        hour_ms = 3_600_000
        edge = -(-start_ms // hour_ms) * hour_ms
        while edge < end_ms:
            for ms in (edge - 1, edge, edge, edge + 1):
                if start_ms <= ms < end_ms:
                    out.append(event(ms))
            edge += hour_ms
    out.sort(key=lambda pair: pair[0])
    return [item for _, item in out]


def late_arrival(rng: random.Random, ms: int, *, workspace_id: str, workspace_slug: str) -> dict[str, Any]:
    """A login at ``ms`` (milliseconds since the epoch) by someone new, as a late-arriving event."""
    person = _Actor(_object_id(rng), "late.arrival@example.com")
    location, prefix = rng.choice(LOCATIONS)
    return {
        "timestamp": format_api_time(EPOCH + timedelta(milliseconds=ms)),
        "eventType": "user_access",
        "eventSubType": "login",
        "actor": person.as_json(),
        "workspace": {"id": workspace_id, "slug": workspace_slug},
        "payload": {"method": "sso", "location": location, "ipAddress": f"{prefix}{rng.randint(1, 254)}"},
    }
