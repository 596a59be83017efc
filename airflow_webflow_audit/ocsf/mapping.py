"""One Webflow audit event -> one OCSF 1.3.0 event: the mapping, as data and small pure functions.

The table the README shows (event type / subtype -> OCSF class and activity) is :data:`ACTIVITIES`;
everything else here fills in the class's objects from the event. Every OCSF event keeps the landed
line exactly (``raw_data``), so a reader can always prove the conversion and recover what OCSF has no
field for. An event type or subtype not in the table still converts, to API Activity with activity
Other, and the caller is told so (:attr:`OcsfEvent.mapped` is False): nothing is dropped. So does an
event that lacks what its class requires in OCSF 1.3.0 (a login without an actor, a membership change
without a target user): a row that fails the schema would be refused by whoever reads the lake.

Pure: no I/O, no Airflow. Field names and ids follow the OCSF 1.3.0 schema (https://schema.ocsf.io/1.3.0).
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple

from airflow_webflow_audit.api import parse_timestamp
from airflow_webflow_audit.landing.formats import line_key

OCSF_VERSION = "1.3.0"
PRODUCT = {"name": "Webflow", "vendor_name": "Webflow", "feature": {"name": "Workspace audit logs"}}
LOG_NAME = "workspace_audit_logs"

#: OCSF severity: Webflow gives none, and each of these events is a record of normal operation.
SEVERITY_INFORMATIONAL = (1, "Informational")
STATUS_SUCCESS = (1, "Success")
STATUS_UNKNOWN = (0, "Unknown")
ACTIVITY_OTHER = 99
#: The source endpoint's name when Webflow gives no address (OCSF requires one for API Activity).
UNKNOWN_ENDPOINT = "unknown"
#: The actor of an API Activity event that names none (OCSF requires an actor there).
UNKNOWN_USER = {"name": "unknown", "type_id": 0, "type": "Unknown"}


class OcsfClass(NamedTuple):
    uid: int
    name: str
    category_uid: int
    category_name: str


IAM = (3, "Identity & Access Management")
AUTHENTICATION = OcsfClass(3002, "Authentication", *IAM)
ENTITY_MANAGEMENT = OcsfClass(3004, "Entity Management", *IAM)
USER_ACCESS_MANAGEMENT = OcsfClass(3005, "User Access Management", *IAM)
GROUP_MANAGEMENT = OcsfClass(3006, "Group Management", *IAM)
API_ACTIVITY = OcsfClass(6003, "API Activity", 6, "Application Activity")
#: Every class a Webflow event can become, in the order the docs list them.
CLASSES = (AUTHENTICATION, ENTITY_MANAGEMENT, USER_ACCESS_MANAGEMENT, GROUP_MANAGEMENT, API_ACTIVITY)
CLASSES_BY_UID = {ocsf_class.uid: ocsf_class for ocsf_class in CLASSES}


class Activity(NamedTuple):
    ocsf_class: OcsfClass
    activity_id: int
    activity_name: str


#: (eventType, eventSubType) -> the OCSF class and activity it becomes. See the README's mapping table
#: for why each one is where it is.
ACTIVITIES: dict[tuple[str, str], Activity] = {
    ("user_access", "login"): Activity(AUTHENTICATION, 1, "Logon"),
    ("user_access", "logout"): Activity(AUTHENTICATION, 2, "Logoff"),
    ("custom_role", "role_created"): Activity(ENTITY_MANAGEMENT, 1, "Create"),
    ("custom_role", "role_updated"): Activity(ENTITY_MANAGEMENT, 3, "Update"),
    ("custom_role", "role_deleted"): Activity(ENTITY_MANAGEMENT, 4, "Delete"),
    ("workspace_membership", "user_added"): Activity(GROUP_MANAGEMENT, 3, "Add User"),
    ("workspace_membership", "user_removed"): Activity(GROUP_MANAGEMENT, 4, "Remove User"),
    ("workspace_membership", "user_role_updated"): Activity(USER_ACCESS_MANAGEMENT, 1, "Assign Privileges"),
    ("site_membership", "user_added"): Activity(GROUP_MANAGEMENT, 3, "Add User"),
    ("site_membership", "user_removed"): Activity(GROUP_MANAGEMENT, 4, "Remove User"),
    ("site_membership", "user_role_updated"): Activity(USER_ACCESS_MANAGEMENT, 1, "Assign Privileges"),
    ("site_membership", "user_granular_access_updated"): Activity(USER_ACCESS_MANAGEMENT, 1, "Assign Privileges"),
    ("workspace_invitation", "invite_sent"): Activity(ENTITY_MANAGEMENT, 1, "Create"),
    ("workspace_invitation", "invite_updated"): Activity(ENTITY_MANAGEMENT, 3, "Update"),
    ("workspace_invitation", "invite_canceled"): Activity(ENTITY_MANAGEMENT, 4, "Delete"),
    ("workspace_invitation", "invite_accepted"): Activity(ENTITY_MANAGEMENT, ACTIVITY_OTHER, "Accept"),
    ("workspace_invitation", "invite_declined"): Activity(ENTITY_MANAGEMENT, ACTIVITY_OTHER, "Decline"),
    ("workspace_invitation", "access_request_accepted"): Activity(
        ENTITY_MANAGEMENT, ACTIVITY_OTHER, "Accept Access Request"
    ),
    ("workspace_setting", "setting_updated"): Activity(ENTITY_MANAGEMENT, 3, "Update"),
}

#: Webflow's sign-in ``method`` -> OCSF ``auth_protocol_id`` (approximate: Webflow names the way in,
#: not the protocol). "Sign in with Google" is OpenID Connect; Webflow's Enterprise SSO is SAML.
AUTH_PROTOCOLS: dict[str, tuple[int, str]] = {
    "google": (4, "OpenID"),
    "sso": (5, "SAML"),
}
#: Webflow ``userType`` -> OCSF ``user.type_id``: members are plain users; the rest have no OCSF id.
USER_TYPES: dict[str, tuple[int, str]] = {
    "member": (1, "User"),
    "guest": (ACTIVITY_OTHER, "Guest"),
    "reviewer": (ACTIVITY_OTHER, "Reviewer"),
    "client": (ACTIVITY_OTHER, "Client"),
}
_COUNTRY = re.compile(r"^(?:(?P<city>.+)\s+)?(?P<country>[A-Z]{2})$")


@dataclass(frozen=True)
class OcsfEvent:
    """One converted event: its OCSF class, its time (ms, UTC) and the event as an OCSF JSON object."""

    ocsf_class: OcsfClass
    time_ms: int
    event: dict[str, Any]
    #: False when the event's type or subtype is not in :data:`ACTIVITIES` (it went to the fallback class).
    mapped: bool


def to_ocsf(line: bytes, event: dict[str, Any]) -> OcsfEvent:
    """The OCSF 1.3.0 event for one landed event: ``line`` is its landed JSON line, ``event`` that line parsed.

    ``metadata.uid`` is the event's identity in the archive (:func:`~airflow_webflow_audit.landing.formats.line_key`
    of its line) as a UUID: the same event always gets the same uid, and the row points back to its line.
    """
    event_type, event_subtype = _text(event.get("eventType")), _text(event.get("eventSubType"))
    payload = _object(event.get("payload"))
    activity = ACTIVITIES.get((event_type or "", event_subtype or ""))
    mapped = activity is not None
    if activity is None:
        activity = Activity(API_ACTIVITY, ACTIVITY_OTHER, event_subtype or "Unknown")
    ocsf_class = activity.ocsf_class
    moment = parse_timestamp(str(event["timestamp"]))
    time_ms = int(moment.timestamp() * 1000)  # OCSF timestamp_t: whole milliseconds since the epoch
    status = STATUS_SUCCESS if mapped else STATUS_UNKNOWN
    workspace = _object(event.get("workspace"))
    actor = _user(event.get("actor"))
    ocsf: dict[str, Any] = {
        "activity_id": activity.activity_id,
        "activity_name": activity.activity_name,
        "category_uid": ocsf_class.category_uid,
        "category_name": ocsf_class.category_name,
        "class_uid": ocsf_class.uid,
        "class_name": ocsf_class.name,
        "type_uid": ocsf_class.uid * 100 + activity.activity_id,
        "type_name": f"{ocsf_class.name}: {activity.activity_name}",
        "time": time_ms,
        "severity_id": SEVERITY_INFORMATIONAL[0],
        "severity": SEVERITY_INFORMATIONAL[1],
        "status_id": status[0],
        "status": status[1],
        "metadata": _compact(
            {
                "version": OCSF_VERSION,
                "uid": str(uuid.UUID(bytes=line_key(line))),
                "product": PRODUCT,
                "event_code": f"{event_type}.{event_subtype}",
                "log_name": LOG_NAME,
                "original_time": _text(event.get("timestamp")),
                "tenant_uid": _text(workspace.get("id")),
                # IAM classes other than Authentication and Entity Management have `actor` from the host profile.
                "profiles": ["host"] if ocsf_class in (USER_ACCESS_MANAGEMENT, GROUP_MANAGEMENT) else None,
            }
        ),
        "actor": {"user": actor} if actor else None,
        "raw_data": (line[:-1] if line.endswith(b"\n") else line).decode("utf-8"),
    }
    fill = _FILLERS.get(ocsf_class.uid)
    if fill is not None and mapped:
        fill(ocsf, event_type or "", event_subtype or "", payload, workspace, actor)
        lacking = _lacking(ocsf_class, ocsf)
        if lacking is None:
            return OcsfEvent(ocsf_class, time_ms, _compact(ocsf), mapped)
        # The class cannot hold this event: it goes to the fallback class like an unknown type.
        return _as_api_activity(ocsf, event_type, event_subtype, payload, time_ms, lacking)
    return _as_api_activity(ocsf, event_type, event_subtype, payload, time_ms, None)


def _lacking(ocsf_class: OcsfClass, ocsf: dict[str, Any]) -> str | None:
    """What an event filled for ``ocsf_class`` lacks of the attributes OCSF 1.3.0 requires of it; None if nothing."""
    if ocsf_class in (AUTHENTICATION, USER_ACCESS_MANAGEMENT) and not ocsf.get("user"):
        return f"a user, which OCSF's {ocsf_class.name} requires"
    if ocsf_class == GROUP_MANAGEMENT and not (ocsf.get("user") or ocsf.get("privileges")):
        return f"a user or privileges, one of which OCSF's {ocsf_class.name} requires"
    return None


def _as_api_activity(
    ocsf: dict[str, Any],
    event_type: str | None,
    event_subtype: str | None,
    payload: dict[str, Any],
    time_ms: int,
    lacking: str | None,
) -> OcsfEvent:
    """``ocsf`` rebuilt as API Activity, activity Other: the fallback that keeps every event."""
    base = {key: ocsf[key] for key in _BASE_FIELDS if ocsf.get(key) is not None}
    activity_name = event_subtype or "Unknown"
    base.update(
        activity_id=ACTIVITY_OTHER,
        activity_name=activity_name,
        category_uid=API_ACTIVITY.category_uid,
        category_name=API_ACTIVITY.category_name,
        class_uid=API_ACTIVITY.uid,
        class_name=API_ACTIVITY.name,
        type_uid=API_ACTIVITY.uid * 100 + ACTIVITY_OTHER,
        type_name=f"{API_ACTIVITY.name}: {activity_name}",
        status_id=STATUS_UNKNOWN[0],
        status=STATUS_UNKNOWN[1],
    )
    base["metadata"] = {key: value for key, value in base["metadata"].items() if key != "profiles"}
    # API Activity requires an actor; an event that names none says so rather than inventing one.
    base.setdefault("actor", {"user": UNKNOWN_USER})
    _fill_api_activity(base, event_type, event_subtype, payload, lacking)
    return OcsfEvent(API_ACTIVITY, time_ms, _compact(base), False)


def _fill_authentication(
    ocsf: dict[str, Any], _type: str, subtype: str, payload: dict[str, Any], workspace: dict[str, Any], actor: Any
) -> None:
    method = _text(payload.get("method"))
    protocol = AUTH_PROTOCOLS.get(method or "", (ACTIVITY_OTHER, method) if method else (0, "Unknown"))
    endpoint = _endpoint(payload)
    who = (actor or {}).get("email_addr") or (actor or {}).get("uid") or "an unknown user"
    where = f" from {payload.get('ipAddress')}" if payload.get("ipAddress") else ""
    where += f" ({payload.get('location')})" if payload.get("location") else ""
    ocsf.update(
        user=actor,
        service={"name": "Webflow", "uid": _text(workspace.get("id"))},
        src_endpoint=endpoint,
        auth_protocol_id=protocol[0],
        auth_protocol=protocol[1],
        message=f"{who} {'logged in' if subtype == 'login' else 'logged out'}"
        + (f" via {method}" if method else "")
        + where,
    )


def _fill_entity_management(
    ocsf: dict[str, Any], event_type: str, subtype: str, payload: dict[str, Any], workspace: dict[str, Any], _: Any
) -> None:
    org = _compact({"uid": _text(workspace.get("id")), "name": _text(workspace.get("slug"))})
    if event_type == "custom_role":
        name, previous = _text(payload.get("roleName")), _text(payload.get("previousRoleName"))
        ocsf["entity"] = _compact({"type": "Role", "name": previous or name, "org": org})
        if subtype == "role_updated":
            ocsf["entity_result"] = _compact({"type": "Role", "name": name, "org": org})
        ocsf["message"] = f"Custom role {name!r} " + {
            "role_created": "created",
            "role_updated": f"updated (was {previous!r})" if previous and previous != name else "updated",
            "role_deleted": "deleted",
        }.get(subtype, subtype)
    elif event_type == "workspace_setting":
        setting = _text(payload.get("setting"))
        before, after = _text(payload.get("previousValue")), _text(payload.get("value"))
        for side, value in (("entity", before), ("entity_result", after)):
            ocsf[side] = _compact({"type": "Setting", "name": setting, "org": org, "data": _compact({"value": value})})
        ocsf["message"] = f"Workspace setting {setting} changed from {before} to {after}"
    else:  # workspace_invitation
        targets = [target for target in map(_user, _targets(payload)) if target is not None]
        emails = [str(target.get("email_addr") or target.get("uid")) for target in targets]
        ocsf["entity"] = _compact(
            {
                "type": "Invitation",
                "name": ", ".join(emails) or None,
                # One invited user is the entity's user; a bulk invitation names them all in `name`.
                "user": targets[0] if len(targets) == 1 else None,
                "org": org,
                "data": _compact({"role": _text(payload.get("roleName")), "user_type": _text(payload.get("userType"))})
                or None,
            }
        )
        ocsf["message"] = f"Workspace invitation {subtype.replace('_', ' ')}" + (
            f" for {', '.join(emails)}" if emails else ""
        )


def _fill_user_access(
    ocsf: dict[str, Any], event_type: str, subtype: str, payload: dict[str, Any], workspace: dict[str, Any], _: Any
) -> None:
    if subtype == "user_granular_access_updated":
        access = _object(payload.get("granularAccess"))
        state = "restricted" if access.get("restricted") else "unrestricted"
        privilege = f"{_text(access.get('type')) or 'access'}:{_text(access.get('name')) or _text(access.get('id'))}"
        privileges = [f"{privilege} ({state})"]
    else:
        privileges = [_text(payload.get("roleName")) or "unknown role"]
    target = _user(payload.get("targetUser"), payload.get("userType"))
    ocsf.update(
        user=target,
        privileges=privileges,
        resource=_membership_scope(event_type, payload, workspace),
        message=f"{(target or {}).get('email_addr') or 'a user'} was given {privileges[0]}"
        + (f" (was {payload['previousRoleName']})" if payload.get("previousRoleName") else "")
        + f" in {_scope_label(event_type, payload, workspace)}",
    )


def _fill_group_management(
    ocsf: dict[str, Any], event_type: str, subtype: str, payload: dict[str, Any], workspace: dict[str, Any], _: Any
) -> None:
    target = _user(payload.get("targetUser"), payload.get("userType"))
    role = _text(payload.get("roleName"))
    ocsf.update(
        user=target,
        group=_membership_scope(event_type, payload, workspace),
        privileges=[role] if role else None,
        message=f"{(target or {}).get('email_addr') or 'a user'} "
        + ("added to" if subtype == "user_added" else "removed from")
        + f" {_scope_label(event_type, payload, workspace)}"
        + (f" as {role}" if role and subtype == "user_added" else ""),
    )


def _fill_api_activity(
    ocsf: dict[str, Any],
    event_type: str | None,
    event_subtype: str | None,
    payload: dict[str, Any],
    lacking: str | None = None,
) -> None:
    why = "no OCSF mapping for it yet" if lacking is None else f"it names no {lacking.removeprefix('a ')}"
    ocsf.update(
        api={"operation": f"{event_type}.{event_subtype}", "service": {"name": "Webflow"}},
        # OCSF requires a source endpoint with at least a name or address; Webflow gives an IP only for
        # logins, so an event without one says so rather than inventing one.
        src_endpoint=_endpoint(payload) or {"name": UNKNOWN_ENDPOINT},
        message=f"Webflow audit event {event_type}/{event_subtype} ({why}; see raw_data)",
    )


#: What every class's event has, kept when an event falls back to API Activity.
_BASE_FIELDS = ("time", "severity_id", "severity", "metadata", "actor", "raw_data")

_FILLERS = {
    AUTHENTICATION.uid: _fill_authentication,
    ENTITY_MANAGEMENT.uid: _fill_entity_management,
    USER_ACCESS_MANAGEMENT.uid: _fill_user_access,
    GROUP_MANAGEMENT.uid: _fill_group_management,
}


def _membership_scope(event_type: str, payload: dict[str, Any], workspace: dict[str, Any]) -> dict[str, Any] | None:
    """The workspace or site a membership event is about, as an OCSF group / resource."""
    if event_type == "site_membership":
        site = _object(payload.get("site"))
        return _compact({"uid": _text(site.get("id")), "name": _text(site.get("slug")), "type": "Site"})
    return _compact({"uid": _text(workspace.get("id")), "name": _text(workspace.get("slug")), "type": "Workspace"})


def _scope_label(event_type: str, payload: dict[str, Any], workspace: dict[str, Any]) -> str:
    scope = _membership_scope(event_type, payload, workspace) or {}
    return f"{str(scope.get('type', 'workspace')).lower()} {scope.get('name') or scope.get('uid') or '(unnamed)'}"


def _targets(payload: dict[str, Any]) -> list[Any]:
    many = payload.get("targetUsers")
    if isinstance(many, list) and many:
        return many
    return [payload.get("targetUser")] if payload.get("targetUser") is not None else []


def _user(value: Any, user_type: Any = None) -> dict[str, Any] | None:
    """A Webflow actor or target user as an OCSF user; None if it names nobody."""
    if not isinstance(value, dict):
        return None
    kind: tuple[int, str] | None
    if value.get("type") == "token":
        kind = (ACTIVITY_OTHER, "API token")
    elif isinstance(user_type, str):
        kind = USER_TYPES.get(user_type, (ACTIVITY_OTHER, user_type))
    elif value.get("type") == "person":
        kind = (1, "User")
    else:
        kind = None
    user = _compact(
        {
            "uid": _text(value.get("id")),
            "email_addr": _text(value.get("email")),
            "type_id": kind[0] if kind else None,
            "type": _text(kind[1]) if kind else None,
        }
    )
    return user if user and ("uid" in user or "email_addr" in user) else None


def _endpoint(payload: dict[str, Any]) -> dict[str, Any] | None:
    """Where a sign-in came from: its IP and the location Webflow derived from it; None without a valid IP.

    OCSF's endpoint needs an address or a name, and its ``ip_t`` must be an address: a missing or
    malformed ``ipAddress`` stays in ``raw_data`` only.
    """
    try:
        ip = ipaddress.ip_address(_text(payload.get("ipAddress")) or "")
    except ValueError:
        return None
    return _compact({"ip": str(ip), "location": _location(_text(payload.get("location")))})


def _location(text: str | None) -> dict[str, Any] | None:
    """Webflow's "City CC" (e.g. "Ashburn US") as an OCSF location; None if it has no country code to anchor it."""
    match = _COUNTRY.match(text.strip()) if text else None
    if match is None:
        return None
    return _compact({"city": match.group("city"), "country": match.group("country"), "desc": text})


def _text(value: Any) -> str | None:
    """A string value as Parquet can store it (a lone UTF-16 surrogate becomes U+FFFD); None stays None."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one: a payload may lack any field."""
    return value if isinstance(value, dict) else {}


def _compact(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` without its None members (OCSF leaves out what is unknown)."""
    return {key: item for key, item in value.items() if item is not None}
