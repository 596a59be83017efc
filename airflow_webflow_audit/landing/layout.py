"""Where things go: destination URLs, checked offline, and the deterministic keys of a landed window.

A window lands as a chain of parts, each a data object and then a manifest beside it. The first
part holds every event the first landing found; a later landing that finds events the earlier parts
do not hold (late arrivals) adds the next part with only those, and nothing is ever replaced::

    {destination}/workspace={workspace}/dt={YYYY-MM-DD}/audit_logs_{start}_{end}.jsonl.gz
    {destination}/workspace={workspace}/dt={YYYY-MM-DD}/audit_logs_{start}_{end}.jsonl.gz.manifest.json
    {destination}/workspace={workspace}/dt={YYYY-MM-DD}/audit_logs_{start}_{end}.part-0002.jsonl.gz
    {destination}/workspace={workspace}/dt={YYYY-MM-DD}/audit_logs_{start}_{end}.part-0002.jsonl.gz.manifest.json

A reader that globs ``*.jsonl.gz`` sees every event of the window once. A window landed with an
event-type filter says so in its name, so it never mixes with the whole window:
``audit_logs_{start}_{end}.event_types=custom_role,site_membership.jsonl.gz``.

The names this provider owns under ``workspace={workspace}/`` (:func:`classify_name` tells them
apart; anything else there is a problem the audit names, since readers that glob the folder would
count it):

* ``dt={YYYY-MM-DD}/`` folders holding, for windows that start that day (UTC), the parts' data objects
  and manifests above, the findings operator's ``audit_logs_{start}_{end}.findings.jsonl``, and
  hidden temporary objects ``.{name}.{12 hex}.partial`` of landings in progress (or killed);
* ``_monitoring/``: the findings operator's baseline and what it has seen.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, NamedTuple

from airflow.sdk import Asset, ObjectStoragePath

from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.landing.formats import FILE_FORMATS, holds_event_lines
from airflow_webflow_audit.landing.storage import (
    BACKENDS,
    DESTINATIONS,
    OBJECT_LOCK_S3_ONLY,
    SUPPORTED_SCHEMES,
    protocol_of,
)
from airflow_webflow_audit.validation import validate_workspace

MANIFEST_SUFFIX = ".manifest.json"
DESTINATION_EXAMPLES = DESTINATIONS
_KEY_TIME = r"\d{8}T\d{6}(?:\.\d{6})?Z"
#: The name of a landed window's data object: start, end, the event-type filter if any, the format.
LANDED_NAME = re.compile(
    rf"^audit_logs_(?P<start>{_KEY_TIME})_(?P<end>{_KEY_TIME})"
    r"(?:\.event_types=(?P<event_types>[a-z_]+(?:,[a-z_]+)*))?"
    r"(?:\.part-(?P<part>\d{4,}))?\.(?P<file_format>" + "|".join(re.escape(f) for f in FILE_FORMATS) + r")\Z"
)
#: The first part of a window has no part number in its name; later ones have ``.part-NNNN``.
FIRST_PART = 1
#: The findings operator's file beside a window: its first part's name with this instead of ``.jsonl.gz``.
FINDINGS_SUFFIX = ".findings.jsonl"
#: The folder under a workspace's where the findings operator keeps its baseline.
MONITORING_FOLDER = "_monitoring"
DAY_FOLDER = re.compile(r"dt=(?P<day>\d{4}-\d{2}-\d{2})")
TEMPORARY_SUFFIX = ".partial"
TEMPORARY_NAME = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{12}\.partial")

#: What a name in a day folder is (:func:`classify_name`).
PART_OBJECT, PART_MANIFEST, FINDINGS_FILE, TEMPORARY, UNKNOWN = "object", "manifest", "findings", "temporary", "unknown"


def check_destination_url(destination: str) -> tuple[str, str]:
    """``(scheme, location)`` of a destination URL, checked without touching storage or connections.

    ``location`` is the part after ``scheme://`` without any ``conn_id@``, e.g. ``bucket/prefix``.
    """
    text = destination.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise WebflowConfigurationError(
            f"destination={destination!r} has no URL scheme; write it as {DESTINATION_EXAMPLES}."
        )
    scheme = scheme.lower()
    if scheme not in SUPPORTED_SCHEMES:
        raise WebflowConfigurationError(
            f"destination scheme {scheme!r} is not supported; use one of "
            f"{', '.join(s + '://' for s in SUPPORTED_SCHEMES)} (e.g. {DESTINATION_EXAMPLES})."
        )
    return scheme, BACKENDS[scheme].location_of(destination, rest)


def check_object_lock_destination(destination: object) -> None:
    """Refuse S3 Object Lock for a destination whose store cannot lock objects, offline."""
    if not BACKENDS[check_destination(destination)[0]].object_lock:
        raise WebflowConfigurationError(f"{OBJECT_LOCK_S3_ONLY} Got destination={destination!r}.")


def check_destination(destination: object) -> tuple[str, str]:
    """``(scheme, location)`` of a destination URL string or ObjectStoragePath, checked offline."""
    if isinstance(destination, ObjectStoragePath):
        protocol = protocol_of(destination)
        if protocol not in SUPPORTED_SCHEMES:
            raise WebflowConfigurationError(
                f"destination protocol {protocol!r} is not supported; use one of {', '.join(SUPPORTED_SCHEMES)}."
            )
        return protocol, destination.path
    if isinstance(destination, str) and destination.strip():
        return check_destination_url(destination)
    raise WebflowConfigurationError(
        f"destination must be an ObjectStoragePath or a URL string such as {DESTINATION_EXAMPLES}, got {destination!r}."
    )


def resolve_destination(destination: object) -> ObjectStoragePath:
    """The destination as an ObjectStoragePath (which attaches its filesystem: call it at run time)."""
    check_destination(destination)
    if isinstance(destination, ObjectStoragePath):
        return destination
    return ObjectStoragePath(str(destination).strip())


def asset_uri(destination: object, workspace: str, event_types: Sequence[str] | None = None) -> str:
    """A stable asset URI for one workspace's landed logs: the destination without its connection id.

    Windows landed with an event-type filter are another asset (``.../workspace=ws/event_types=a,b``),
    so a DAG scheduled on the whole log is not started by a partial one.
    """
    scheme, location = check_destination(destination)
    root = BACKENDS[scheme].plain_uri(scheme, location)
    return f"{root}/workspace={workspace}" + (f"/{filter_label(event_types)}" if event_types else "")


#: The key under which asset definitions of earlier versions said whose landing they were.
ASSET_EXTRA_KEY = "webflow_audit"


@dataclass(frozen=True)
class LandingOwner:
    """Whose landing an asset or an asset event is: the destination (with its connection id), the
    workspace, and the event-type filter (None: the whole log)."""

    destination: str
    workspace: str
    event_types: tuple[str, ...] | None = None


def landing_extra(destination: object, workspace: str, event_types: Sequence[str] | None = None) -> dict[str, Any]:
    """The one shape that says whose landing it is, in a landing asset's definition and in each of its events
    (beside an event's window: ``uri``, ``records``, ``start``, ...)::

        {"destination": "s3://aws_default@bucket/prefix", "workspace": "ws", "event_types": None}

    ``event_types`` is the filter as its label spells it (``"custom_role,user_access"``). Flat, and every
    value a string or None: Airflow 3.0 hashes an alias event's extra as the set of its items.
    """
    text = str(destination).strip() if isinstance(destination, str) else str(destination)
    label = ",".join(sorted(set(event_types))) if event_types else None
    return {"destination": text, "workspace": workspace, "event_types": label}


def landing_owner(extra: object) -> LandingOwner | None:
    """Whose landing an asset's or an event's extra says it is (:func:`landing_extra`); None for any other.

    Also reads what earlier versions wrote: definitions with the owner under ``"webflow_audit"``, and events
    whose ``event_types`` was a list.
    """
    if not isinstance(extra, Mapping):
        return None
    nested = extra.get(ASSET_EXTRA_KEY)
    owner = nested if isinstance(nested, Mapping) else extra
    destination, workspace, types = owner.get("destination"), owner.get("workspace"), owner.get("event_types")
    if not destination or not workspace:
        return None
    if isinstance(types, str):
        types = [part for part in types.split(",") if part]
    return LandingOwner(str(destination), str(workspace), tuple(str(t) for t in types) if types else None)


def landing_asset(destination: object, workspace: str) -> Asset:
    """The asset a landing task of the whole log updates, as a DAG scheduled on it should name it.

    The same uri as the operator's outlet, and the same extra: Airflow keeps one definition per asset, so
    a consumer naming it without the extra could leave the coverage page without its destination.
    """
    return Asset(uri=asset_uri(destination, workspace), extra=landing_extra(destination, workspace))


def landing_target(destination: object, workspace: str, event_types: Sequence[str] | None = None) -> Asset:
    """The asset a landing of ``workspace`` updates: :func:`landing_asset`, or its own asset when filtered."""
    if event_types:
        return Asset(
            uri=asset_uri(destination, workspace, event_types), extra=landing_extra(destination, workspace, event_types)
        )
    return landing_asset(destination, workspace)


#: The name of a window alias is this prefix and the uri of the asset its events land on.
WINDOWS_ALIAS_PREFIX = "webflow-audit-windows:"


def windows_alias_name(asset: Asset) -> str:
    """The alias a task landing several windows emits their events through, one per window, onto ``asset``.

    Airflow keeps one event per asset per task; through an alias, a task adds as many as it lands.
    """
    return f"{WINDOWS_ALIAS_PREFIX}{asset.uri}"


def windows_alias_target(alias_name: str) -> str | None:
    """The uri of the asset a window alias named by :func:`windows_alias_name` lands on; None for other aliases."""
    if not alias_name.startswith(WINDOWS_ALIAS_PREFIX):
        return None
    return alias_name[len(WINDOWS_ALIAS_PREFIX) :] or None


def filter_label(event_types: Sequence[str]) -> str:
    """``event_types=a,b``: the filter as object names and asset URIs spell it (sorted, de-duplicated)."""
    return "event_types=" + ",".join(sorted(set(event_types)))


def format_key_time(moment: datetime) -> str:
    """UTC basic ISO 8601 for object keys: ``20261001T000000Z`` (microseconds only when present)."""
    utc = moment.astimezone(timezone.utc)
    fraction = f".{utc.microsecond:06d}" if utc.microsecond else ""
    return utc.strftime("%Y%m%dT%H%M%S") + fraction + "Z"


def parse_key_time(text: str) -> datetime:
    """The inverse of :func:`format_key_time`."""
    layout = "%Y%m%dT%H%M%S.%fZ" if "." in text else "%Y%m%dT%H%M%SZ"
    return datetime.strptime(text, layout).replace(tzinfo=timezone.utc)


def workspace_folder_name(workspace: str) -> str:
    """``workspace=<workspace>``: the folder under a destination where a workspace's windows land."""
    return f"workspace={validate_workspace(workspace)}"


def workspace_root(destination: ObjectStoragePath, workspace: str) -> ObjectStoragePath:
    """Where every window of ``workspace`` lands."""
    return destination / workspace_folder_name(workspace)


def window_folder(workspace: str, start: datetime) -> str:
    """``workspace=<ws>/dt=<start day>``: the folder of a window starting at ``start``, under the destination."""
    return f"{workspace_folder_name(workspace)}/{day_folder_name(start.astimezone(timezone.utc).date())}"


def monitoring_folder(destination: ObjectStoragePath, workspace: str) -> ObjectStoragePath:
    """``workspace=<ws>/_monitoring``: the findings operator's baseline and what it has seen."""
    return workspace_root(destination, workspace) / MONITORING_FOLDER


def findings_name(first_part_name: str) -> str:
    """The findings file beside a whole window: its first part's name with ``.findings.jsonl``."""
    return first_part_name.removesuffix(".jsonl.gz") + FINDINGS_SUFFIX


def temporary_name(name: str, token: str) -> str:
    """``.<name>.<12 hex>.partial``: a hidden temporary object beside ``name`` (``token``: 12 hex digits).
    Hidden and suffixed, so globbing readers (Hive, Spark, Athena, DuckDB) skip it."""
    return f".{name}.{token}{TEMPORARY_SUFFIX}"


def window_object_path(
    destination: ObjectStoragePath,
    *,
    workspace: str,
    start: datetime,
    end: datetime,
    file_format: str,
    event_types: Sequence[str] | None = None,
    part: int = FIRST_PART,
) -> ObjectStoragePath:
    """The deterministic key of one part of a window; a filtered window's name carries its filter."""
    return destination / window_folder(workspace, start) / object_name(start, end, file_format, event_types, part)


def object_name(
    start: datetime, end: datetime, file_format: str, event_types: Sequence[str] | None, part: int = FIRST_PART
) -> str:
    """The name of one part's data object (see the module's docstring)."""
    label = f".{filter_label(event_types)}" if event_types else ""
    number = "" if part == FIRST_PART else f".part-{part:04d}"
    return f"audit_logs_{format_key_time(start)}_{format_key_time(end)}{label}{number}.{file_format}"


def part_sibling(path: ObjectStoragePath, name: ObjectName, part: int) -> ObjectStoragePath:
    """The key of part ``part`` of the window whose part ``path`` (named ``name``) is."""
    return path.parent / object_name(name.start, name.end, name.file_format, name.event_types, part)


class ObjectName(NamedTuple):
    """What a data object's name says: its window, its event-type filter (None: every event), its format,
    and which part of the window it is."""

    start: datetime
    end: datetime
    event_types: tuple[str, ...] | None
    file_format: str
    part: int = FIRST_PART

    @property
    def window(self) -> tuple[datetime, datetime, tuple[str, ...] | None, str]:
        """What the parts of one window share."""
        return self.start, self.end, self.event_types, self.file_format

    def spelled(self) -> str:
        """The one name the layout gives this part's data object."""
        return object_name(self.start, self.end, self.file_format, self.event_types, self.part)


@dataclass(frozen=True)
class Place:
    """Where a window's parts lie, and what the reader asked about: the workspace of the folder they are
    in, and the window (with its event-type filter and format) their names say."""

    workspace: str
    #: The window as the first part's name says it (``part`` is 1).
    name: ObjectName

    @property
    def folder(self) -> str:
        """The window's folder, relative to the destination: ``workspace=<ws>/dt=<start day>``."""
        return window_folder(self.workspace, self.name.start)

    def part_name(self, number: int) -> str:
        name = self.name
        return object_name(name.start, name.end, name.file_format, name.event_types, number)

    def key(self, number: int) -> str:
        """Part ``number``'s data object, relative to the destination."""
        return f"{self.folder}/{self.part_name(number)}"


def parse_object_name(name: str) -> ObjectName | None:
    """The inverse of :func:`object_name`: what ``name`` says, only if it is spelled exactly as the layout
    spells it (see :func:`is_canonical`); None for any other name, manifests included."""
    parsed = read_object_name(name)
    if (
        parsed is None
        or object_name(parsed.start, parsed.end, parsed.file_format, parsed.event_types, parsed.part) != name
    ):
        return None
    return parsed


def read_object_name(name: str) -> ObjectName | None:
    """What ``name`` would say as a part's name, however it is spelled (``20261002T000000.000000Z``,
    ``part-00002``, ``event_types=b,a``): for naming what a look-alike imitates. Only
    :func:`parse_object_name`'s answer makes a name the layout's own."""
    match = LANDED_NAME.match(name)
    if match is None:
        return None
    part = int(match["part"]) if match["part"] else FIRST_PART
    if match["part"] and part <= FIRST_PART:
        return None  # the first part is never numbered
    types = match["event_types"]
    try:
        start, end = parse_key_time(match["start"]), parse_key_time(match["end"])
    except ValueError:  # digits that are no date, such as month 13
        return None
    return ObjectName(start, end, tuple(types.split(",")) if types else None, match["file_format"], part)


def is_canonical(name: str) -> bool:
    """Whether ``name`` (a part's object or manifest name) is the layout's own: formatting what it parses
    gives it back character for character. Readers that glob a folder count every look-alike, so anything
    else in a window's folder is an object the audit names."""
    return parse_object_name(name.removesuffix(MANIFEST_SUFFIX)) is not None


def manifest_path_for(object_path: ObjectStoragePath) -> ObjectStoragePath:
    return object_path.parent / (object_path.name + MANIFEST_SUFFIX)


def day_folder_name(day: date) -> str:
    return f"dt={day.isoformat()}"


def parse_day_folder(name: str) -> date | None:
    """The day of a ``dt=YYYY-MM-DD`` folder's name, spelled as :func:`day_folder_name` spells it; None for
    any other name."""
    match = DAY_FOLDER.fullmatch(name)
    if match is None:
        return None
    try:
        day = date.fromisoformat(match["day"])
    except ValueError:
        return None
    return day if day_folder_name(day) == name else None


def classify_name(name: str, day: date) -> tuple[str, ObjectName | None]:
    """What the name ``name`` in the folder of ``day`` is, and the window part it names, if any.

    A part's object or manifest belongs in the folder of its window's start day; anywhere else it is
    :data:`UNKNOWN`, as is every name this provider does not write.
    """
    temporary = TEMPORARY_NAME.fullmatch(name)
    if temporary is not None:
        kind, inner = TEMPORARY, _owner_of(temporary["name"])
    elif name.endswith(FINDINGS_SUFFIX):
        kind, inner = FINDINGS_FILE, name.removesuffix(FINDINGS_SUFFIX) + ".jsonl.gz"
    elif name.endswith(MANIFEST_SUFFIX):
        kind, inner = (
            PART_MANIFEST,
            name.removesuffix(MANIFEST_SUFFIX),
        )  # once: X.manifest.json.manifest.json is no part's
    else:
        kind, inner = PART_OBJECT, name
    parsed = parse_object_name(inner)
    if parsed is None or parsed.start.astimezone(timezone.utc).date() != day:
        return UNKNOWN, None
    if kind == FINDINGS_FILE and (
        parsed.part != FIRST_PART or parsed.event_types or not holds_event_lines(parsed.file_format)
    ):
        return UNKNOWN, None
    return kind, parsed


def _owner_of(temporary: str) -> str:
    """The data object name a temporary object of ``temporary``'s name is written for."""
    if temporary.endswith(FINDINGS_SUFFIX):
        return temporary.removesuffix(FINDINGS_SUFFIX) + ".jsonl.gz"
    return temporary.removesuffix(MANIFEST_SUFFIX)
