"""Amazon Security Lake's custom-source layout: which source each OCSF class goes to, and where its files live.

::

    <destination>/ext/<custom source>/region=<region>/accountId=<account id>/eventDay=<YYYYMMDD>/
        webflow_<workspace>_<range start>_<range end>_<parts digest>.parquet

One OCSF class per custom source and per file, as Security Lake asks. A file's name is fixed by the
workspace, the range a run converts and the landed parts it holds (their digest), so a rerun that
finds nothing new writes nothing, and one that finds a late part writes a new file holding only it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.landing.layout import format_key_time
from airflow_webflow_audit.ocsf.mapping import (
    API_ACTIVITY,
    AUTHENTICATION,
    CLASSES,
    ENTITY_MANAGEMENT,
    GROUP_MANAGEMENT,
    USER_ACCESS_MANAGEMENT,
)

#: Security Lake's custom source per OCSF class, by default. At most 20 characters: Security Lake
#: names the source's IAM role ``AmazonSecurityLake-Provider-<source>-<region>``, which has a 64-character cap.
DEFAULT_CUSTOM_SOURCES: dict[int, str] = {
    AUTHENTICATION.uid: "webflow-auth",
    ENTITY_MANAGEMENT.uid: "webflow-entity-mgmt",
    USER_ACCESS_MANAGEMENT.uid: "webflow-user-access",
    GROUP_MANAGEMENT.uid: "webflow-group-mgmt",
    API_ACTIVITY.uid: "webflow-api-activity",
}
MAX_SOURCE_NAME = 20
_SOURCE_NAME = re.compile(r"^[\w\-:.]+$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
FILE_SUFFIX = ".parquet"
#: Hex digits of the parts digest in a file name.
DIGEST_CHARS = 16


def validate_region(region: object) -> str:
    if not isinstance(region, str) or not _REGION.match(region):
        raise WebflowConfigurationError(
            f"region must be an AWS Region code such as 'us-east-1' (the Security Lake Region), got {region!r}."
        )
    return region


def validate_account_id(account_id: object) -> str:
    text = str(account_id) if isinstance(account_id, int) else account_id
    if not isinstance(text, str) or not _ACCOUNT_ID.match(text):
        raise WebflowConfigurationError(
            f"account_id must be the 12-digit AWS account id the data belongs to, got {account_id!r}."
        )
    return text


def resolve_custom_sources(overrides: Mapping[Any, Any] | None) -> dict[int, str]:
    """The custom source of each class: the defaults with ``overrides`` applied.

    ``overrides`` is keyed by class uid (3002 or "3002") or class name ("Authentication"); two classes
    may not share a source, since a Security Lake source holds one class.
    """
    sources = dict(DEFAULT_CUSTOM_SOURCES)
    by_name = {ocsf_class.name.lower(): ocsf_class.uid for ocsf_class in CLASSES}
    for key, name in (overrides or {}).items():
        uid = _class_uid(key, by_name)
        if not isinstance(name, str) or not _SOURCE_NAME.match(name) or len(name) > MAX_SOURCE_NAME:
            raise WebflowConfigurationError(
                f"The custom source name for class {uid} must be 1-{MAX_SOURCE_NAME} characters of letters, "
                f"digits, '-', '_', ':' or '.', as Security Lake takes it; got {name!r}."
            )
        sources[uid] = name
    shared = {name for name in sources.values() if list(sources.values()).count(name) > 1}
    if shared:
        raise WebflowConfigurationError(
            f"custom_sources gives several OCSF classes the source {sorted(shared)}: Security Lake wants one class "
            "per custom source. Give each class its own."
        )
    return sources


def _class_uid(key: object, by_name: Mapping[str, int]) -> int:
    text = str(key).strip()
    if text.isdigit() and int(text) in DEFAULT_CUSTOM_SOURCES:
        return int(text)
    if text.lower() in by_name:
        return by_name[text.lower()]
    known = ", ".join(f"{ocsf_class.uid} ({ocsf_class.name})" for ocsf_class in CLASSES)
    raise WebflowConfigurationError(f"custom_sources has the key {key!r}, which is none of the classes {known}.")


def day_folder(
    destination: ObjectStoragePath, source: str, region: str, account_id: str, day: date
) -> ObjectStoragePath:
    """The partition folder of one custom source's files for one day (UTC)."""
    return destination / "ext" / source / f"region={region}" / f"accountId={account_id}" / f"eventDay={day:%Y%m%d}"


def file_prefix(workspace: str) -> str:
    """What every file name of ``workspace`` starts with: how a run finds the files it wrote before."""
    return f"webflow_{workspace}_"


def file_name(workspace: str, start: datetime, end: datetime, digest: str) -> str:
    """The name of the file a run over ``[start, end)`` writes for the landed parts whose digest is ``digest``."""
    return (
        f"{file_prefix(workspace)}{format_key_time(start)}_{format_key_time(end)}_{digest[:DIGEST_CHARS]}{FILE_SUFFIX}"
    )
