"""Detection rules over audit events: pure functions of the events and a per-actor baseline.

Nothing here reads or writes storage or talks to Airflow; :mod:`airflow_webflow_audit.monitoring.findings`
and the findings operator do. Events are taken one by one in timestamp order: each is checked against
the baseline as it was before it, then learned, so the second login from a new address is not news, and state such as an
actor's last login carries across window edges through the baseline.

The rules (each can be switched off by name in :class:`RuleSettings`):

``new_login_origin``
    A login from an IP address (severity low) or a location (medium) the actor never logged in from
    before. Catches stolen credentials used from elsewhere. False positives: travel, new ISPs, mobile
    networks; only actors with at least ``min_history`` earlier logins are judged, so the first days
    of a baseline and new members stay quiet.
``impossible_travel``
    Two logins by one actor from different locations less than ``travel_time`` apart (high). Catches a
    second party using the account at the same time. False positives: VPNs and egress proxies that
    change location, cities close to each other.
``login_burst``
    More than ``burst_logins`` logins by one actor within one window (medium). Catches credential
    stuffing and scripts. False positives: short windows with a flaky SSO, shared service accounts.
``api_login_by_person``
    A person logging in with ``method: "api"`` (medium): people use the dashboard or SSO; an API login
    on a person's account is unusual. False positives: people who script against their own account.
``token_off_hours``
    Any activity by a token actor at an hour (UTC) in which it was never active before (medium), once
    it has ``min_history`` earlier events. Catches a leaked token used by someone else. False
    positives: tokens of jobs whose schedule changed.
``privilege_change``
    A custom role created, updated (medium) or deleted (high); a member's role changed in the
    workspace or a site (medium; high if the new role is in ``elevated_roles``); an invitation or
    access request accepted with an elevated role (high). Every one is worth a second look; they are
    rare, so the rule does not try to guess which are fine.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from airflow_webflow_audit.api import parse_timestamp
from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.jsonlines import json_object

RULES = (
    "new_login_origin",
    "impossible_travel",
    "login_burst",
    "api_login_by_person",
    "token_off_hours",
    "privilege_change",
)
SEVERITIES = ("low", "medium", "high")
ACCEPTED_INVITATIONS = ("invite_accepted", "access_request_accepted")
#: Addresses and locations kept per actor; the least recently seen are forgotten first.
MAX_ORIGINS_PER_ACTOR = 200
BASELINE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class RuleSettings:
    """The rules' parameters; every field has a default that suits a mid-sized workspace."""

    rules: tuple[str, ...] = RULES
    #: Earlier logins (or token events) an actor needs before new origins or hours are judged.
    min_history: int = 3
    #: Two logins from different locations closer than this are impossible travel.
    travel_time: timedelta = timedelta(hours=2)
    #: More logins than this by one actor in one window is a burst.
    burst_logins: int = 20
    #: Role names that make a role change or an accepted invitation high severity.
    elevated_roles: tuple[str, ...] = ("Admin",)

    def __post_init__(self) -> None:
        unknown = set(self.rules) - set(RULES)
        if unknown:
            raise WebflowConfigurationError(
                f"Unknown monitoring rules {', '.join(sorted(unknown))}; choose from {', '.join(RULES)}."
            )
        for name in ("min_history", "burst_logins"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise WebflowConfigurationError(f"{name} must be a whole number >= 0, got {value!r}.")
        if not isinstance(self.travel_time, timedelta) or self.travel_time <= timedelta(0):
            raise WebflowConfigurationError(f"travel_time must be a positive timedelta, got {self.travel_time!r}.")

    @classmethod
    def from_mapping(cls, values: dict[str, Any] | None) -> RuleSettings:
        """Settings from a plain mapping (an operator argument); ``travel_time`` may be seconds."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise WebflowConfigurationError(
                f"Unknown rule settings {', '.join(sorted(unknown))}; choose from {', '.join(sorted(known))}."
            )
        if isinstance(values.get("travel_time"), (int, float)) and not isinstance(values["travel_time"], bool):
            values["travel_time"] = timedelta(seconds=values["travel_time"])
        for name in ("rules", "elevated_roles"):
            if isinstance(values.get(name), str):
                values[name] = (values[name],)
            elif name in values:
                values[name] = tuple(values[name])
        return cls(**values)


@dataclass
class ActorProfile:
    """What the baseline knows about one actor."""

    type: str | None = None
    email: str | None = None
    logins: int = 0
    events: int = 0
    #: Address or location -> when it was last seen (ISO 8601), for forgetting the oldest.
    ips: dict[str, str] = field(default_factory=dict)
    locations: dict[str, str] = field(default_factory=dict)
    #: Events per hour of the day (UTC), 24 counts.
    hours: list[int] = field(default_factory=lambda: [0] * 24)
    last_login: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ActorProfile:
        hours = data.get("hours") or [0] * 24
        return cls(
            type=data.get("type"),
            email=data.get("email"),
            logins=int(data.get("logins", 0)),
            events=int(data.get("events", 0)),
            ips=dict(data.get("ips") or {}),
            locations=dict(data.get("locations") or {}),
            hours=[int(n) for n in hours][:24] + [0] * (24 - len(hours)),
            last_login=data.get("last_login"),
        )


@dataclass
class Baseline:
    """Per-actor history, and how far through the landed windows it has read."""

    workspace: str
    #: End of the last window learned; windows are learned in order, without gaps.
    applied_through: datetime | None = None
    actors: dict[str, ActorProfile] = field(default_factory=dict)
    #: The object sha256 each recently learned window had, by ``"<start>/<end>"``: a window whose
    #: object changed since (re-landed with late events) is read again for the events not yet seen.
    learned: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": BASELINE_FORMAT_VERSION,
            "workspace": self.workspace,
            "applied_through": None if self.applied_through is None else self.applied_through.isoformat(),
            "actors": {actor_id: asdict(self.actors[actor_id]) for actor_id in sorted(self.actors)},
            "learned": dict(sorted(self.learned.items())),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Baseline:
        if data.get("format_version") != BASELINE_FORMAT_VERSION:
            raise ValueError(f"unknown baseline format {data.get('format_version')!r}")
        through = data.get("applied_through")
        return cls(
            workspace=str(data["workspace"]),
            applied_through=None if through is None else parse_timestamp(through),
            actors={actor_id: ActorProfile.from_json(p) for actor_id, p in (data.get("actors") or {}).items()},
            learned={str(key): str(sha) for key, sha in (data.get("learned") or {}).items()},
        )


@dataclass(frozen=True)
class Finding:
    """One thing worth a look, with the event that raised it."""

    rule: str
    severity: str
    timestamp: str
    actor: dict[str, Any]
    summary: str
    details: dict[str, Any]
    event: dict[str, Any]


def _who(actor: dict[str, Any]) -> str:
    return str(actor.get("email") or f"{actor.get('type') or 'actor'} {actor.get('id')}")


def _payload(event: dict[str, Any]) -> dict[str, Any]:
    return json_object(event.get("payload"))


def _remember(seen: dict[str, str], key: str, when: str) -> None:
    seen.pop(key, None)
    seen[key] = when  # insertion order is recency order
    while len(seen) > MAX_ORIGINS_PER_ACTOR:
        seen.pop(next(iter(seen)))


class WindowScan:
    """Runs the rules over one window's events, in order, learning each event into ``baseline``."""

    def __init__(self, baseline: Baseline, settings: RuleSettings) -> None:
        self.baseline = baseline
        self.settings = settings
        self.findings: list[Finding] = []
        self._logins_in_window: Counter[str] = Counter()
        self._last_login_event: dict[str, dict[str, Any]] = {}

    def _on(self, rule: str) -> bool:
        return rule in self.settings.rules

    def _find(self, rule: str, severity: str, event: dict[str, Any], summary: str, **details: Any) -> None:
        actor = event.get("actor")
        self.findings.append(
            Finding(
                rule=rule,
                severity=severity,
                timestamp=str(event.get("timestamp")),
                actor=dict(actor) if isinstance(actor, dict) else {},
                summary=summary,
                details=details,
                event=event,
            )
        )

    def add(self, event: dict[str, Any]) -> None:
        """Check one event against the baseline as it is, then learn it."""
        actor = event.get("actor")
        if not isinstance(actor, dict) or not isinstance(event.get("timestamp"), str):
            return
        actor_id = str(actor.get("id"))
        profile = self.baseline.actors.setdefault(actor_id, ActorProfile())
        when = parse_timestamp(event["timestamp"])
        is_login = event.get("eventType") == "user_access" and event.get("eventSubType") == "login"
        self._check_token_hours(event, actor, profile, when)
        if is_login:
            self._check_login(event, actor, actor_id, profile, when)
        if event.get("eventType") in ("custom_role", "workspace_membership", "site_membership", "workspace_invitation"):
            self._check_privilege(event, actor)
        self._learn(event, actor, profile, when, is_login)

    def finish(self) -> list[Finding]:
        """Window-level rules, then every finding of the window in event order."""
        if self._on("login_burst"):
            for actor_id, count in sorted(self._logins_in_window.items()):
                if count > self.settings.burst_logins:
                    last = self._last_login_event[actor_id]
                    self._find(
                        "login_burst",
                        "medium",
                        last,
                        f"{_who(last['actor'])} logged in {count} times in this window "
                        f"(more than {self.settings.burst_logins})",
                        logins=count,
                    )
        return self.findings

    def _check_login(
        self, event: dict[str, Any], actor: dict[str, Any], actor_id: str, profile: ActorProfile, when: datetime
    ) -> None:
        payload = _payload(event)
        ip, location, method = payload.get("ipAddress"), payload.get("location"), payload.get("method")
        self._logins_in_window[actor_id] += 1
        self._last_login_event[actor_id] = event
        judged = profile.logins >= self.settings.min_history
        if self._on("new_login_origin") and judged:
            if isinstance(location, str) and location not in profile.locations:
                self._find(
                    "new_login_origin",
                    "medium",
                    event,
                    f"{_who(actor)} logged in from {location} ({ip}), a location never seen for them",
                    ip=ip,
                    location=location,
                    known_locations=list(profile.locations)[-10:],
                )
            elif isinstance(ip, str) and ip not in profile.ips:
                self._find(
                    "new_login_origin",
                    "low",
                    event,
                    f"{_who(actor)} logged in from a new IP address {ip} ({location})",
                    ip=ip,
                    location=location,
                )
        last = profile.last_login
        if self._on("impossible_travel") and last and isinstance(location, str) and last.get("location"):
            gap = when - parse_timestamp(last["timestamp"])
            if last["location"] != location and timedelta(0) <= gap < self.settings.travel_time:
                minutes = int(gap.total_seconds() // 60)
                self._find(
                    "impossible_travel",
                    "high",
                    event,
                    f"{_who(actor)} logged in from {location} {minutes} min after logging in from {last['location']}",
                    previous=last,
                    minutes_apart=minutes,
                )
        if self._on("api_login_by_person") and method == "api" and actor.get("type") == "person":
            self._find("api_login_by_person", "medium", event, f"{_who(actor)} (a person) logged in through the API")

    def _check_token_hours(
        self, event: dict[str, Any], actor: dict[str, Any], profile: ActorProfile, when: datetime
    ) -> None:
        if not self._on("token_off_hours") or actor.get("type") != "token":
            return
        if profile.events >= self.settings.min_history and profile.hours[when.hour] == 0:
            usual = [hour for hour, count in enumerate(profile.hours) if count]
            self._find(
                "token_off_hours",
                "medium",
                event,
                f"API token {actor.get('id')} was used at {when.hour:02d}:00 UTC, an hour it was never active in "
                f"({event.get('eventType')}/{event.get('eventSubType')})",
                hour=when.hour,
                usual_hours=usual,
            )

    def _check_privilege(self, event: dict[str, Any], actor: dict[str, Any]) -> None:
        if not self._on("privilege_change"):
            return
        event_type, subtype, payload = event.get("eventType"), event.get("eventSubType"), _payload(event)
        role = payload.get("roleName")
        elevated = role in self.settings.elevated_roles
        target = json_object(payload.get("targetUser"))
        whom = target.get("email") or target.get("id") or "someone"
        where = ""
        if event_type == "site_membership" and isinstance(payload.get("site"), dict):
            where = f" on site {payload['site'].get('slug') or payload['site'].get('id')}"
        if event_type == "custom_role" and subtype in ("role_created", "role_updated", "role_deleted"):
            verb = subtype.removeprefix("role_")
            severity = "high" if subtype == "role_deleted" else "medium"
            self._find("privilege_change", severity, event, f"{_who(actor)} {verb} custom role {role!r}", role=role)
        elif event_type in ("workspace_membership", "site_membership") and subtype == "user_role_updated":
            previous = payload.get("previousRoleName")
            self._find(
                "privilege_change",
                "high" if elevated else "medium",
                event,
                f"{_who(actor)} changed {whom}'s role{where} from {previous!r} to {role!r}",
                role=role,
                previous_role=previous,
                target=target,
            )
        elif event_type == "workspace_invitation" and subtype in ACCEPTED_INVITATIONS and elevated:
            self._find(
                "privilege_change",
                "high",
                event,
                f"{whom} joined with the elevated role {role!r} ({subtype.replace('_', ' ')})",
                role=role,
                target=target,
            )

    def _learn(
        self, event: dict[str, Any], actor: dict[str, Any], profile: ActorProfile, when: datetime, is_login: bool
    ) -> None:
        profile.type = actor.get("type") if isinstance(actor.get("type"), str) else profile.type
        profile.email = actor.get("email") if isinstance(actor.get("email"), str) else profile.email
        profile.events += 1
        profile.hours[when.hour] += 1
        if not is_login:
            return
        payload = _payload(event)
        profile.logins += 1
        stamp = str(event["timestamp"])
        if isinstance(payload.get("ipAddress"), str):
            _remember(profile.ips, payload["ipAddress"], stamp)
        if isinstance(payload.get("location"), str):
            _remember(profile.locations, payload["location"], stamp)
            profile.last_login = {"timestamp": stamp, "location": payload["location"], "ip": payload.get("ipAddress")}
