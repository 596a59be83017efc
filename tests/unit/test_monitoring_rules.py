"""Each monitoring rule on crafted events: what it catches, and the near-misses it must leave alone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_webflow_audit.exceptions import WebflowConfigurationError
from airflow_webflow_audit.monitoring.rules import Baseline, RuleSettings, WindowScan

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=timezone.utc)
ALICE = {"id": "a1", "email": "alice@example.com", "type": "person"}
BOB = {"id": "b2", "email": "bob@example.com", "type": "person"}
TOKEN_ACTOR = {"id": "t3", "type": "token"}
DUBLIN = ("Dublin IE", "34.240.11.7")
SYDNEY = ("Sydney AU", "13.54.201.9")


def stamp(minutes: float) -> str:
    moment = T0 + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def login(minutes: float, actor=ALICE, origin=DUBLIN, method="sso") -> dict:
    return {
        "timestamp": stamp(minutes),
        "eventType": "user_access",
        "eventSubType": "login",
        "actor": actor,
        "workspace": {"id": "w", "slug": "ws"},
        "payload": {"method": method, "location": origin[0], "ipAddress": origin[1]},
    }


def event(minutes: float, event_type: str, subtype: str, actor=BOB, **payload) -> dict:
    return {
        "timestamp": stamp(minutes),
        "eventType": event_type,
        "eventSubType": subtype,
        "actor": actor,
        "workspace": {"id": "w", "slug": "ws"},
        "payload": payload,
    }


def scan(events, baseline=None, **settings):
    baseline = baseline or Baseline(workspace="ws")
    window = WindowScan(baseline, RuleSettings(**settings))
    for item in events:
        window.add(item)
    return window.finish(), baseline


def rules_of(findings) -> list[tuple[str, str]]:
    return [(finding.rule, finding.severity) for finding in findings]


def history(actor=ALICE, origin=DUBLIN, count=3) -> Baseline:
    """A baseline that has seen ``count`` logins of ``actor`` from ``origin``, days ago."""
    _, baseline = scan([login(-3000 - n, actor, origin) for n in range(count, 0, -1)])
    return baseline


# -- new_login_origin --------------------------------------------------------------------------------


def test_a_login_from_a_new_location_is_medium_and_a_new_ip_low():
    findings, _ = scan([login(0, origin=SYDNEY), login(10, origin=("Dublin IE", "34.240.11.99"))], history())
    new_origins = [f for f in findings if f.rule == "new_login_origin"]
    assert rules_of(new_origins) == [("new_login_origin", "medium"), ("new_login_origin", "low")]
    assert "Sydney AU" in new_origins[0].summary
    assert new_origins[1].details["ip"] == "34.240.11.99"


def test_known_origins_and_actors_without_enough_history_are_quiet():
    findings, _ = scan([login(0)], history())
    assert findings == []
    findings, _ = scan([login(0, origin=SYDNEY)], history(count=2))  # min_history is 3
    assert findings == []


def test_the_second_login_from_a_new_origin_is_not_news():
    findings, _ = scan([login(0, origin=SYDNEY), login(200, origin=SYDNEY)], history(), rules=("new_login_origin",))
    assert len(findings) == 1


# -- impossible_travel -------------------------------------------------------------------------------


def test_two_locations_closer_than_the_travel_time_are_impossible_travel():
    findings, _ = scan([login(0), login(30, origin=SYDNEY)], rules=("impossible_travel",))
    assert rules_of(findings) == [("impossible_travel", "high")]
    assert findings[0].details["minutes_apart"] == 30
    assert "Sydney AU 30 min after logging in from Dublin IE" in findings[0].summary


def test_travel_near_misses():
    far_apart, _ = scan([login(0), login(121, origin=SYDNEY)], rules=("impossible_travel",))
    same_place, _ = scan([login(0), login(5)], rules=("impossible_travel",))
    other_people, _ = scan([login(0), login(5, actor=BOB, origin=SYDNEY)], rules=("impossible_travel",))
    assert far_apart == same_place == other_people == []
    longer, _ = scan(
        [login(0), login(121, origin=SYDNEY)], rules=("impossible_travel",), travel_time=timedelta(hours=3)
    )
    assert len(longer) == 1


def test_travel_is_seen_across_a_window_edge_through_the_baseline():
    _, baseline = scan([login(50)], rules=("impossible_travel",))
    findings, _ = scan([login(70, origin=SYDNEY)], baseline, rules=("impossible_travel",))
    assert rules_of(findings) == [("impossible_travel", "high")]


# -- login_burst -------------------------------------------------------------------------------------


def test_more_logins_than_the_threshold_in_one_window_is_a_burst():
    findings, _ = scan([login(n) for n in range(21)], rules=("login_burst",))
    assert rules_of(findings) == [("login_burst", "medium")]
    assert findings[0].details["logins"] == 21
    at_threshold, _ = scan([login(n) for n in range(20)], rules=("login_burst",))
    assert at_threshold == []
    lower, _ = scan([login(n) for n in range(6)], rules=("login_burst",), burst_logins=5)
    assert len(lower) == 1


# -- api_login_by_person, token_off_hours --------------------------------------------------------------


def test_api_logins_by_people_but_not_by_tokens_or_sso():
    findings, _ = scan(
        [login(0, method="api"), login(1, actor=TOKEN_ACTOR, method="api"), login(2, method="sso")],
        rules=("api_login_by_person",),
    )
    assert rules_of(findings) == [("api_login_by_person", "medium")]
    assert findings[0].actor == ALICE


def test_a_token_active_in_a_new_hour_is_flagged_once_it_has_history():
    usual = [login(60 * day * 24 + 30, actor=TOKEN_ACTOR) for day in range(-5, 0)]  # 09:30 on five days
    _, baseline = scan(usual, rules=("token_off_hours",))
    findings, _ = scan(
        [
            login(35, actor=TOKEN_ACTOR),  # 09:35: usual
            event(-6 * 60, "site_membership", "user_added", actor=TOKEN_ACTOR),  # 03:00: never before
        ],
        baseline,
        rules=("token_off_hours",),
    )
    assert rules_of(findings) == [("token_off_hours", "medium")]
    assert findings[0].details == {"hour": 3, "usual_hours": [9]}
    young, _ = scan([*usual[:2], event(-6 * 60, "site_membership", "user_added", actor=TOKEN_ACTOR)])
    assert [f for f in young if f.rule == "token_off_hours"] == []  # too little history to judge
    people, _ = scan([login(-6 * 60)], history(), rules=("token_off_hours",))
    assert people == []


# -- privilege_change --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "severity"),
    [
        (event(0, "custom_role", "role_created", roleName="Auditor"), "medium"),
        (event(0, "custom_role", "role_updated", roleName="Auditor", previousRoleName="Viewer"), "medium"),
        (event(0, "custom_role", "role_deleted", roleName="Auditor"), "high"),
        (event(0, "workspace_membership", "user_role_updated", roleName="Member", previousRoleName="Guest"), "medium"),
        (event(0, "site_membership", "user_role_updated", roleName="Admin", previousRoleName="Member"), "high"),
        (
            event(0, "workspace_invitation", "invite_accepted", roleName="Admin", targetUser={"email": "c@x.com"}),
            "high",
        ),
        (event(0, "workspace_invitation", "access_request_accepted", roleName="Admin"), "high"),
    ],
)
def test_privilege_changes(change, severity):
    findings, _ = scan([change], rules=("privilege_change",))
    assert rules_of(findings) == [("privilege_change", severity)]


@pytest.mark.parametrize(
    "quiet",
    [
        event(0, "workspace_invitation", "invite_accepted", roleName="Member"),
        event(0, "workspace_invitation", "invite_sent", roleName="Admin"),
        event(0, "workspace_membership", "user_added", roleName="Admin"),
        event(0, "workspace_setting", "setting_updated", setting="ai_toggle"),
    ],
)
def test_privilege_near_misses(quiet):
    findings, _ = scan([quiet], rules=("privilege_change",))
    assert findings == []


def test_elevated_roles_are_configurable():
    change = event(0, "workspace_invitation", "invite_accepted", roleName="Security Auditor")
    findings, _ = scan([change], rules=("privilege_change",), elevated_roles=("Admin", "Security Auditor"))
    assert rules_of(findings) == [("privilege_change", "high")]


# -- settings and the baseline -------------------------------------------------------------------------


def test_rules_can_be_switched_off_and_unknown_settings_are_refused():
    findings, _ = scan([login(0, method="api")], rules=())
    assert findings == []
    with pytest.raises(WebflowConfigurationError, match="Unknown monitoring rules"):
        RuleSettings(rules=("impossible_travel", "telepathy"))
    with pytest.raises(WebflowConfigurationError, match="Unknown rule settings"):
        RuleSettings.from_mapping({"travel": 5})
    assert RuleSettings.from_mapping({"travel_time": 600}).travel_time == timedelta(minutes=10)
    with pytest.raises(WebflowConfigurationError, match="travel_time"):
        RuleSettings.from_mapping({"travel_time": -1})


def test_the_baseline_round_trips_through_json():
    _, baseline = scan([login(0), login(1, actor=TOKEN_ACTOR, origin=SYDNEY)])
    baseline.applied_through = T0
    assert Baseline.from_json(baseline.to_json()).to_json() == baseline.to_json()
    assert baseline.actors["a1"].ips == {"34.240.11.7": stamp(0)}
    assert baseline.actors["t3"].hours[9] == 1


def test_findings_come_out_in_event_order_with_the_event():
    findings, _ = scan([login(0), login(30, origin=SYDNEY, method="api")], history())
    assert [f.rule for f in findings] == ["new_login_origin", "impossible_travel", "api_login_by_person"]
    assert all(f.event["timestamp"] == stamp(30) for f in findings)
