"""The OCSF mapping: every event validates as OCSF 1.3.0, each type lands in its class, nothing is lost."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import timedelta

import pyarrow as pa
import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.jsonlines import dump_line
from airflow_webflow_audit.landing.formats import line_key
from airflow_webflow_audit.ocsf.lake import (
    DEFAULT_CUSTOM_SOURCES,
    MAX_SOURCE_NAME,
    day_folder,
    resolve_custom_sources,
    validate_account_id,
    validate_region,
)
from airflow_webflow_audit.ocsf.mapping import ACTIVITIES, CLASSES, to_ocsf
from airflow_webflow_audit.ocsf.schema import class_schema, from_row, to_row
from airflow_webflow_audit.testing.simulator import generate_events
from tests.conftest import DAY0
from tests.ocsf_checks import ocsf_problems

EVENTS = generate_events(seed=3, start=DAY0, end=DAY0 + timedelta(days=2), include_unknown_types=True)
WORKSPACE = {"id": "6621ccb459b561c69f29d57c", "slug": "hitchhikers-workspace"}
PERSON = {"id": "60492e55bbddce079561cd7a", "email": "someone@webflow.com", "type": "person"}


def convert(event: dict):
    return to_ocsf(dump_line(event), event)


def webflow(event_type: str, subtype: str, payload: dict, actor: dict = PERSON) -> dict:
    return {
        "timestamp": "2026-10-01T12:00:00.250Z",
        "eventType": event_type,
        "eventSubType": subtype,
        "actor": actor,
        "workspace": WORKSPACE,
        "payload": payload,
    }


def test_every_simulator_event_is_valid_ocsf_of_its_class():
    by_class: Counter[int] = Counter()
    for event in EVENTS:
        converted = convert(event)
        assert ocsf_problems(converted.ocsf_class.uid, converted.event) == [], event
        assert converted.event["type_uid"] == converted.event["class_uid"] * 100 + converted.event["activity_id"]
        assert converted.event["metadata"]["version"] == "1.3.0"
        by_class[converted.ocsf_class.uid] += 1
    assert set(by_class) == {ocsf_class.uid for ocsf_class in CLASSES}  # the data reaches every class


def test_every_type_and_subtype_of_the_openapi_excerpt_has_a_class():
    from airflow_webflow_audit.api import KNOWN_EVENT_SUBTYPES

    documented = {(t, s) for t, subtypes in KNOWN_EVENT_SUBTYPES.items() for s in subtypes}
    assert documented == set(ACTIVITIES)


def test_raw_data_is_the_landed_line_and_the_uid_is_its_archive_identity():
    event = EVENTS[10]
    line = dump_line(event)
    converted = to_ocsf(line, event)
    assert converted.event["raw_data"].encode() + b"\n" == line
    assert converted.event["metadata"]["uid"] == str(uuid.UUID(bytes=line_key(line)))
    assert convert(event).event == converted.event  # deterministic
    assert converted.time_ms == converted.event["time"]


def test_login_is_authentication_logon_with_where_and_how():
    payload = {"ipAddress": "54.165.18.93", "location": "Ashburn US", "method": "sso"}
    converted = convert(webflow("user_access", "login", payload))
    ocsf = converted.event
    assert (ocsf["class_uid"], ocsf["activity_id"], ocsf["type_uid"]) == (3002, 1, 300201)
    assert ocsf["time"] == 1790856000250  # ms, UTC
    assert ocsf["user"] == {"uid": PERSON["id"], "email_addr": PERSON["email"], "type_id": 1, "type": "User"}
    assert ocsf["src_endpoint"] == {
        "ip": "54.165.18.93",
        "location": {"city": "Ashburn", "country": "US", "desc": "Ashburn US"},
    }
    assert (ocsf["auth_protocol_id"], ocsf["auth_protocol"]) == (5, "SAML")
    assert ocsf["service"]["name"] == "Webflow"
    assert ocsf["status_id"] == 1
    assert convert(webflow("user_access", "logout", {"method": "google"})).event["activity_id"] == 2
    dashboard = convert(webflow("user_access", "login", {"method": "dashboard", "ipAddress": "not an ip"})).event
    assert (dashboard["auth_protocol_id"], dashboard["auth_protocol"]) == (99, "dashboard")
    assert "src_endpoint" not in dashboard  # a malformed IP is only in raw_data


def test_token_actor_is_an_api_token_user():
    token = {"id": "6ddf1e9fe2a43cb0c2c2dd1f", "type": "token"}
    ocsf = convert(webflow("user_access", "login", {"method": "api"}, actor=token)).event
    assert ocsf["user"] == {"uid": token["id"], "type_id": 99, "type": "API token"}


def test_role_update_has_the_role_before_and_after():
    ocsf = convert(webflow("custom_role", "role_updated", {"roleName": "Auditor", "previousRoleName": "Viewer"})).event
    assert (ocsf["class_uid"], ocsf["activity_id"]) == (3004, 3)
    assert (ocsf["entity"]["name"], ocsf["entity_result"]["name"]) == ("Viewer", "Auditor")
    assert ocsf["entity"]["type"] == "Role"
    assert ocsf["actor"]["user"]["email_addr"] == PERSON["email"]


def test_memberships_are_group_management_and_role_changes_user_access_management():
    target = {"id": "580e63e98c9a982ac9b8b741", "email": "zaphod@heartofgold.ship"}
    site = {"id": "580e63fc8c9a982ac9b8b745", "slug": "heart-of-gold"}
    added = convert(
        webflow("site_membership", "user_added", {"site": site, "targetUser": target, "roleName": "Editor"})
    )
    assert (added.event["class_uid"], added.event["activity_id"]) == (3006, 3)
    assert added.event["group"] == {"uid": site["id"], "name": site["slug"], "type": "Site"}
    assert added.event["user"]["email_addr"] == target["email"]
    assert added.event["privileges"] == ["Editor"]
    removed = convert(webflow("workspace_membership", "user_removed", {"targetUser": target, "userType": "guest"}))
    assert (removed.event["activity_id"], removed.event["group"]["type"]) == (4, "Workspace")
    assert (removed.event["user"]["type_id"], removed.event["user"]["type"]) == (99, "Guest")
    role = convert(
        webflow("workspace_membership", "user_role_updated", {"targetUser": target, "roleName": "Admin"})
    ).event
    assert (role["class_uid"], role["activity_id"], role["privileges"]) == (3005, 1, ["Admin"])
    granular = convert(
        webflow(
            "site_membership",
            "user_granular_access_updated",
            {"site": site, "targetUser": target, "granularAccess": {"name": "Blog", "type": "cms", "restricted": True}},
        )
    ).event
    assert granular["privileges"] == ["cms:Blog (restricted)"]
    assert granular["resource"]["type"] == "Site"


def test_invitations_and_settings_are_entity_management():
    many = [{"id": "a1", "email": "a@x.io"}, {"id": "b2", "email": "b@x.io"}]
    sent = convert(webflow("workspace_invitation", "invite_sent", {"targetUsers": many, "roleName": "Member"})).event
    assert (sent["class_uid"], sent["activity_id"]) == (3004, 1)
    assert (sent["entity"]["name"], sent["entity"]["data"]) == ("a@x.io, b@x.io", {"role": "Member"})
    accepted = convert(webflow("workspace_invitation", "invite_accepted", {"targetUser": many[0]})).event
    assert (accepted["activity_id"], accepted["activity_name"], accepted["type_uid"]) == (99, "Accept", 300499)
    assert accepted["entity"]["user"]["uid"] == "a1"
    setting = convert(
        webflow(
            "workspace_setting", "setting_updated", {"setting": "ai_toggle", "previousValue": "false", "value": "true"}
        )
    ).event
    assert (setting["entity"]["data"], setting["entity_result"]["data"]) == ({"value": "false"}, {"value": "true"})


@pytest.mark.parametrize(("event_type", "subtype"), [("site_publishing", "published"), ("user_access", "mfa_reset")])
def test_unknown_types_and_subtypes_convert_to_api_activity_other(event_type, subtype):
    converted = convert(webflow(event_type, subtype, {"anything": [1, 2]}))
    assert not converted.mapped
    ocsf = converted.event
    assert (ocsf["class_uid"], ocsf["activity_id"], ocsf["type_uid"]) == (6003, 99, 600399)
    assert ocsf["api"]["operation"] == f"{event_type}.{subtype}"
    assert ocsf["status_id"] == 0
    assert json.loads(ocsf["raw_data"])["payload"] == {"anything": [1, 2]}
    assert ocsf_problems(6003, ocsf) == []


def test_a_lone_surrogate_converts_and_encodes_and_stays_exact_in_raw_data():
    event = webflow("custom_role", "role_created", {"roleName": "bad \ud800 name"})
    converted = convert(event)
    assert converted.event["entity"]["name"] == "bad \ufffd name"
    assert json.loads(converted.event["raw_data"]) == event
    pa.Table.from_pylist([to_row(3004, converted.event)], schema=class_schema(3004))


def test_parquet_rows_read_back_as_the_exact_ocsf_events():
    by_class: dict[int, list[dict]] = {}
    for event in EVENTS:
        converted = convert(event)
        by_class.setdefault(converted.ocsf_class.uid, []).append(converted.event)
    for class_uid, converted_events in by_class.items():
        table = pa.Table.from_pylist([to_row(class_uid, e) for e in converted_events], schema=class_schema(class_uid))
        # from_pylist drops keys the schema lacks: a field added to the mapping but not the schema fails here.
        assert [from_row(class_uid, row) for row in table.to_pylist()] == converted_events


def test_custom_sources_default_override_and_refuse():
    assert resolve_custom_sources(None) == DEFAULT_CUSTOM_SOURCES
    assert all(len(name) <= MAX_SOURCE_NAME for name in DEFAULT_CUSTOM_SOURCES.values())
    assert resolve_custom_sources({"Authentication": "logins", "3004": "entities"})[3002] == "logins"
    with pytest.raises(WebflowConfigurationError, match="none of the classes"):
        resolve_custom_sources({"Network Activity": "x"})
    with pytest.raises(WebflowConfigurationError, match="one class per custom source"):
        resolve_custom_sources({3002: "webflow-entity-mgmt"})
    with pytest.raises(WebflowConfigurationError, match="1-20 characters"):
        resolve_custom_sources({3002: "a" * 21})


def test_region_account_and_partition_path():
    assert validate_region("eu-central-1") == "eu-central-1"
    assert validate_account_id(123456789012) == "123456789012"
    for bad in ("us_east_1", "", None):
        with pytest.raises(WebflowConfigurationError, match="Region"):
            validate_region(bad)
    with pytest.raises(WebflowConfigurationError, match="12-digit"):
        validate_account_id("1234")
    folder = day_folder(ObjectStoragePath("file:///lake"), "webflow-auth", "us-east-1", "123456789012", DAY0.date())
    assert str(folder).endswith("/lake/ext/webflow-auth/region=us-east-1/accountId=123456789012/eventDay=20261001")


@pytest.mark.parametrize(
    ("event_type", "subtype", "payload", "actor"),
    [
        ("user_access", "login", {"method": "sso", "ipAddress": "34.240.11.1"}, None),
        ("workspace_membership", "user_role_updated", {"roleName": "admin"}, PERSON),
        ("site_membership", "user_role_updated", {"roleName": "editor", "site": {"id": "s1"}}, PERSON),
        ("site_membership", "user_removed", {"site": {"id": "s1"}}, PERSON),
        ("workspace_membership", "user_removed", {}, PERSON),
    ],
    ids=[
        "login-without-actor",
        "workspace-role-without-target",
        "site-role-without-target",
        "site-removal-bare",
        "workspace-removal-bare",
    ],
)
def test_an_event_without_the_user_its_class_requires_falls_back_to_valid_api_activity(
    event_type, subtype, payload, actor
):
    event = webflow(event_type, subtype, payload, actor)
    if actor is None:
        del event["actor"]
    converted = convert(event)
    assert not converted.mapped
    ocsf = converted.event
    assert (ocsf["class_uid"], ocsf["activity_id"]) == (6003, 99)
    assert "names no user" in ocsf["message"]
    assert ocsf_problems(6003, ocsf) == []
    assert json.loads(ocsf["raw_data"]) == event
    pa.Table.from_pylist([to_row(6003, ocsf)], schema=class_schema(6003))


def test_a_membership_removal_with_a_role_but_no_target_stays_group_management():
    converted = convert(webflow("workspace_membership", "user_removed", {"roleName": "member"}))
    assert (converted.mapped, converted.ocsf_class.uid) == (True, 3006)
    assert ocsf_problems(3006, converted.event) == []
