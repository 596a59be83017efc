"""One real deployment on loopback (api-server, scheduler, dag-processor, triggerer) for three tests.

* A real backfill: ``airflow backfill create`` over ``example_webflow_audit_logs_to_local``, one
  whole window per day.
* A backfill by partition date of ``example_webflow_audit_partitioned`` (Airflow 3.3): each daily
  partition lands once, as 24 hourly windows, its asset events carrying its partition key.
* The coverage page the provider's plugin adds to the api-server, in Debian's chromium: behind
  Airflow's auth, and the day whose object was changed after the backfill is not ``ok``.
* Event-driven runs: ``example_webflow_audit_alerts`` watches privilege changes with
  ``WebflowAuditEventTrigger``. The triggerer is stopped between two batches and started again:
  every matching event must reach an asset event exactly once (the asset events in the metadata
  database are the delivery record), no filtered event may, and each run's task must judge what it
  was handed.

* Concurrent first landings through the window alias (``asset_race/e2e_webflow_asset_race.py``): tasks
  landing into a destination nothing has landed in yet, their success reports held until all are ready,
  must all end ``success`` (Airflow creates the landing asset and its alias link lazily, and a conflict
  there fails a task whose windows all landed, unless the DAG declares the asset and the provider's
  scheduler listener links the alias when the run starts).

They share the deployment (starting one takes most of a minute) and the simulator: the backfill
reads October's generated log, the watcher only the events after its ``start_from``, minutes ago.
"""

from __future__ import annotations

import gzip
import itertools
import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.landing.layout import MANIFEST_SUFFIX
from airflow_webflow_audit.plugins.coverage import Landing
from airflow_webflow_audit.signing import generate_private_key_pem
from airflow_webflow_audit.testing.deployment import Deployment, copy_home, running
from airflow_webflow_audit.testing.simulator import WebflowSimulator, generate_events
from airflow_webflow_audit.triggers.audit_events import CURSOR_KEY, SAVE_AFTER_YIELD_SECONDS
from tests.browser import chromium, day_statuses, require_browser
from tests.conftest import DAY0, TOKEN
from tests.e2e.conftest import DAGS_FOLDER
from tests.landing_helpers import read_events, read_manifest, sha256_of

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.deployment]

STARTUP_TIMEOUT = 180
BACKFILL_DAG_ID = "example_webflow_audit_logs_to_local"
PARTITIONED_DAG_ID = "example_webflow_audit_partitioned"
DAYS = 3
BACKFILL_TIMEOUT = 240
ALERTS_DAG_ID = "example_webflow_audit_alerts"
ASSET = "webflow_audit_privilege_changes"
POLL_SECONDS = 5
DELIVERY_TIMEOUT = 120
RACE_DAG = Path(__file__).parent / "asset_race" / "e2e_webflow_asset_race.py"
RACE_ROUNDS = 2
RACE_TASKS = 3
RACE_TIMEOUT = 180


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def change(moment: datetime, event_type: str, subtype: str, n: int, **payload: object) -> dict:
    return {
        "timestamp": stamp(moment),
        "eventType": event_type,
        "eventSubType": subtype,
        "actor": {"id": "admin-1", "email": "admin@example.com", "type": "person"},
        "workspace": {"id": "w1", "slug": "hitchhikers-workspace"},
        "payload": {"n": n, **payload},
    }


def login(moment: datetime, n: int) -> dict:
    return change(moment, "user_access", "login", n, method="sso", location="Dublin IE", ipAddress="34.240.11.1")


# Every event lies before the test starts (the trigger polls up to the wall clock) and after the
# watcher's start_from; the second batch repeats the first batch's last instant.
BASE = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=3)
FIRST = [
    change(BASE + timedelta(seconds=10), "custom_role", "role_deleted", 1, roleName="Auditor"),
    login(BASE + timedelta(seconds=15), 2),
    change(BASE + timedelta(seconds=20), "workspace_membership", "user_role_updated", 3, roleName="Admin"),
    change(BASE + timedelta(seconds=20), "site_membership", "user_added", 4, roleName="Editor"),
    login(BASE + timedelta(seconds=25), 5),
]
SECOND = [
    change(BASE + timedelta(seconds=20), "custom_role", "role_created", 6, roleName="Reviewer"),
    login(BASE + timedelta(seconds=35), 7),
    change(BASE + timedelta(seconds=40), "workspace_membership", "user_removed", 8),
]


def matching(events: list[dict]) -> list[dict]:
    return [item for item in events if item["eventType"] != "user_access"]


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("deployment")


@pytest.fixture(scope="module")
def sim() -> Iterator[WebflowSimulator]:
    """October's generated log for the backfill, plus the first batch of privilege changes."""
    events = generate_events(seed=1, start=DAY0, end=DAY0 + timedelta(days=DAYS + 1), events_per_day=2000)
    simulator = WebflowSimulator(events + FIRST, token=TOKEN).start()
    yield simulator
    simulator.stop()


@pytest.fixture(scope="module")
def deployment(sim: WebflowSimulator, module_tmp: Path, migrated_home: Path) -> Iterator[Deployment]:
    """api-server, scheduler, dag-processor and triggerer in their own AIRFLOW_HOME, on 127.0.0.1.

    The alert DAG is unpaused at once: its watcher starts when the dag-processor next parses the
    file (every 30 s), and its first batch is delivered while the backfill runs.
    """
    home = copy_home(migrated_home, module_tmp / "airflow")
    dags_folder = module_tmp / "dags"
    dags_folder.mkdir()
    for dag_file in (*DAGS_FOLDER.glob("*.py"), RACE_DAG):
        shutil.copy(dag_file, dags_folder)
    env = {
        "AIRFLOW_CONN_WEBFLOW_DEFAULT": sim.connection_json(),
        # Signed, as in production: the coverage page verifies with the same connection's key.
        "AIRFLOW_CONN_WEBFLOW_AUDIT_SIGNING": json.dumps(
            {"conn_type": "generic", "password": generate_private_key_pem()}
        ),
        "WEBFLOW_E2E_RACE_DESTINATION": f"file://{module_tmp}/landing-race",
        "WEBFLOW_E2E_RACE_BARRIER": str(module_tmp / "race-barrier"),
        "WEBFLOW_E2E_RACE_ROUNDS": str(RACE_ROUNDS),
        "WEBFLOW_E2E_RACE_TASKS": str(RACE_TASKS),
        "WEBFLOW_AUDIT_LOCAL_DESTINATION": f"file://{module_tmp}/landing",
        "WEBFLOW_AUDIT_PARTITIONED_DESTINATION": f"file://{module_tmp}/landing-hourly",
        "WEBFLOW_AUDIT_ALERTS_POLL_SECONDS": str(POLL_SECONDS),
        "WEBFLOW_AUDIT_ALERTS_START_FROM": BASE.isoformat(),
    }
    components = ("scheduler", "dag-processor", "triggerer")
    # Torn down with SIGKILL after 5 s: a graceful stop is tested (the triggerer's), not needed here.
    with running(
        home, logs=module_tmp, dags_folder=dags_folder, env=env, components=components, stop_timeout=5
    ) as started:
        started.wait_for(
            "the DAGs to be serialized",
            lambda: all(
                started.dag_is_serialized(dag_id)
                for dag_id in (BACKFILL_DAG_ID, ALERTS_DAG_ID, PARTITIONED_DAG_ID, *race_dag_ids())
            ),
            STARTUP_TIMEOUT,
        )
        started.cli("dags", "unpause", ALERTS_DAG_ID)
        yield started


def race_dag_ids() -> list[str]:
    return [f"e2e_webflow_asset_race_{number}" for number in range(RACE_ROUNDS)]


@pytest.mark.timeout(RACE_ROUNDS * RACE_TIMEOUT + STARTUP_TIMEOUT)
def test_concurrent_first_landings_through_the_window_alias_never_fail_a_task(deployment, module_tmp):
    """Before the DAG declared the landing asset and the scheduler linked the alias, 4 of 4 rounds of 4 tasks
    failed 1 to 3 of them ("UNIQUE constraint failed": asset, then asset_alias_asset)."""
    outcomes = {}
    for dag_id in race_dag_ids():
        deployment.cli("dags", "unpause", dag_id)
        deployment.cli("dags", "trigger", dag_id)

        def states(dag_id: str = dag_id) -> list[str]:
            return [state for (state,) in deployment.query("select state from task_instance where dag_id = ?", dag_id)]

        deployment.wait_for(
            f"{dag_id}'s tasks to finish",
            lambda states=states: len(states()) == RACE_TASKS and all(s in ("success", "failed") for s in states()),
            RACE_TIMEOUT,
        )
        outcomes[dag_id] = sorted(states())
    api_log = (module_tmp / "api-server.log").read_text(errors="replace")
    assert outcomes == {dag_id: ["success"] * RACE_TASKS for dag_id in race_dag_ids()}, api_log[-6000:]
    # One asset event per window (two per task), each through the alias, onto the round's landing asset.
    rows = deployment.query(
        "select e.source_dag_id, a.uri, count(*), count(distinct x.alias_id) from asset_event e "
        "join asset a on a.id = e.asset_id join asset_alias_asset_event x on x.event_id = e.id "
        "where e.source_dag_id like 'e2e_webflow_asset_race_%' group by e.source_dag_id, a.uri order by 1"
    )
    assert rows == [
        (dag_id, f"file://{module_tmp}/landing-race/round-{n}/workspace=hitchhikers-workspace", 2 * RACE_TASKS, 1)
        for n, dag_id in enumerate(race_dag_ids())
    ]


def backfill(deployment: Deployment, dag_id: str, from_date: str, to_date: str) -> None:
    """Unpause ``dag_id`` and create its backfill from ``from_date`` to ``to_date``, both included."""
    deployment.cli("dags", "unpause", dag_id)
    deployment.cli("backfill", "create", "--dag-id", dag_id, "--from-date", from_date, "--to-date", to_date)


@pytest.mark.timeout(STARTUP_TIMEOUT + BACKFILL_TIMEOUT + 120)
def test_backfill_lands_one_whole_window_per_day(sim, deployment, module_tmp):
    destination = deployment.env["WEBFLOW_AUDIT_LOCAL_DESTINATION"]

    backfill(deployment, BACKFILL_DAG_ID, DAY0.isoformat(), (DAY0 + timedelta(days=DAYS - 1)).isoformat())

    def backfill_states() -> list[str]:
        rows = deployment.query("select state from dag_run where dag_id = ? and run_type = 'backfill'", BACKFILL_DAG_ID)
        return [state for (state,) in rows]

    deployment.wait_for(
        f"{DAYS} backfill runs to finish",
        lambda: len(backfill_states()) == DAYS and all(s in ("success", "failed") for s in backfill_states()),
        BACKFILL_TIMEOUT,
    )
    assert backfill_states() == ["success"] * DAYS, (module_tmp / "scheduler.log").read_text()[-5000:]

    root = ObjectStoragePath(destination) / "workspace=hitchhikers-workspace"
    landed_events = []
    for day in range(DAYS):
        start, end = DAY0 + timedelta(days=day), DAY0 + timedelta(days=day + 1)
        folder = root / f"dt={start:%Y-%m-%d}"
        name = f"audit_logs_{start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}.jsonl.gz"
        assert sorted(p.name for p in folder.iterdir()) == [name, name + MANIFEST_SUFFIX]
        events = read_events(str(folder / name))
        manifest = read_manifest(str(folder / (name + MANIFEST_SUFFIX)))
        assert events == sim.events(start, end)
        assert manifest["records"] == len(events) > 0
        assert manifest["object"]["sha256"] == sha256_of(str(folder / name))
        assert manifest["airflow"]["run_id"].startswith("backfill__")
        landed_events.extend(events)
    # Together the windows hold every event of the range once: none lost, none in two windows.
    assert landed_events == sim.events(DAY0, DAY0 + timedelta(days=DAYS))

    # Each run emitted an asset event naming its window's object and count, for downstream DAGs.
    rows = deployment.query(
        "select a.uri, e.extra from asset_event e join asset a on a.id = e.asset_id "
        "where e.source_dag_id = ? and e.source_run_id like 'backfill__%'",
        BACKFILL_DAG_ID,
    )
    extras = sorted((json.loads(extra) for _, extra in rows), key=lambda extra: extra["start"])
    assert {uri for uri, _ in rows} == {f"{destination}/workspace=hitchhikers-workspace"}
    assert [extra["records"] for extra in extras] == [
        len(sim.events(DAY0 + timedelta(days=d), DAY0 + timedelta(days=d + 1))) for d in range(DAYS)
    ]
    assert all(extra["uri"].endswith(".jsonl.gz") for extra in extras)


@pytest.mark.timeout(BACKFILL_TIMEOUT + 120)
def test_a_backfill_by_partition_date_lands_each_partition_once_as_hourly_windows(sim, deployment, module_tmp):
    destination = deployment.env["WEBFLOW_AUDIT_PARTITIONED_DESTINATION"]
    # On a partitioned DAG, Airflow 3.3 reads the dates as partition dates, both included.
    backfill(deployment, PARTITIONED_DAG_ID, f"{DAY0:%Y-%m-%d}", f"{DAY0 + timedelta(days=DAYS - 1):%Y-%m-%d}")

    def runs() -> list[tuple[str, str, str]]:
        return deployment.query(
            "select partition_key, state, run_id from dag_run where dag_id = ? and run_type = 'backfill' "
            "order by partition_key",
            PARTITIONED_DAG_ID,
        )

    deployment.wait_for(
        f"{DAYS} partition runs to finish",
        lambda: len(runs()) == DAYS and all(state in ("success", "failed") for _, state, _ in runs()),
        BACKFILL_TIMEOUT,
    )
    days = [DAY0 + timedelta(days=day) for day in range(DAYS)]
    keys = [f"{day:%Y-%m-%d}" for day in days]
    assert [(key, state) for key, state, _ in runs()] == [(key, "success") for key in keys], (
        module_tmp / "scheduler.log"
    ).read_text()[-5000:]
    tries = deployment.query(
        "select try_number from task_instance where dag_id = ? and run_id like 'backfill__%'", PARTITIONED_DAG_ID
    )
    assert sorted(number for (number,) in tries) == [1] * DAYS  # each partition landed by one try

    root = ObjectStoragePath(destination) / "workspace=hitchhikers-workspace"
    hour = timedelta(hours=1)
    for day in days:
        folder = root / f"dt={day:%Y-%m-%d}"
        names = [
            f"audit_logs_{day + h * hour:%Y%m%dT%H%M%SZ}_{day + (h + 1) * hour:%Y%m%dT%H%M%SZ}.jsonl.gz"
            for h in range(24)
        ]
        # Each window once: one part, no second landing.
        assert sorted(p.name for p in folder.iterdir()) == sorted(names + [n + MANIFEST_SUFFIX for n in names])
        for h, name in enumerate(names):
            assert read_events(str(folder / name)) == sim.events(day + h * hour, day + (h + 1) * hour)
            assert read_manifest(str(folder / (name + MANIFEST_SUFFIX)))["airflow"]["run_id"].startswith("backfill__")

    # One asset event per window, in window order within its run, each carrying the run's partition key.
    rows = deployment.query(
        "select e.partition_key, e.extra from asset_event e join asset a on a.id = e.asset_id "
        "where e.source_dag_id = ? and e.source_run_id like 'backfill__%' order by e.id",
        PARTITIONED_DAG_ID,
    )
    # A task's events are stored together: the runs' events are not interleaved.
    assert sorted(key for key, _ in itertools.groupby(key for key, _ in rows)) == keys
    for key, day in zip(keys, days, strict=True):
        starts = [json.loads(extra)["start"] for partition, extra in rows if partition == key]
        assert starts == [(day + h * hour).isoformat() for h in range(24)]


def delivered(deployment: Deployment) -> list[dict]:
    """Every audit event in the watched asset's events, in the order Airflow stored them."""
    rows = deployment.query(
        "select e.extra from asset_event e join asset a on a.id = e.asset_id where a.name = ? order by e.id", ASSET
    )
    return [item for (extra,) in rows for item in json.loads(extra)["payload"]["events"]]


def run_states(deployment: Deployment) -> list[str]:
    rows = deployment.query("select state from dag_run where dag_id = ? order by id", ALERTS_DAG_ID)
    return [state for (state,) in rows]


def saved_watermark(deployment: Deployment) -> str | None:
    rows = deployment.query(
        "select s.value from asset_state_store s join asset a on a.id = s.asset_id where a.name = ? and s.key = ?",
        ASSET,
        CURSOR_KEY,
    )
    return json.loads(rows[0][0])["watermark"] if rows else None


def wait_for_runs_to_finish(deployment: Deployment) -> None:
    deployment.wait_for(
        "the alert runs to finish",
        lambda: run_states(deployment) and all(state in ("success", "failed") for state in run_states(deployment)),
        DELIVERY_TIMEOUT,
    )


@pytest.mark.timeout(STARTUP_TIMEOUT + 4 * DELIVERY_TIMEOUT + 120)
def test_each_privilege_change_is_delivered_once_across_a_triggerer_restart(sim, deployment, module_tmp):

    deployment.wait_for("the first batch", lambda: len(delivered(deployment)) >= 3, DELIVERY_TIMEOUT)
    wait_for_runs_to_finish(deployment)
    # Stop only once the cursor past the batch is saved, SAVE_AFTER_YIELD_SECONDS after it was handed out;
    # the filtered login after it moved the watermark too.
    deployment.wait_for(
        "the cursor to be saved",
        lambda: saved_watermark(deployment) == (BASE + timedelta(seconds=25)).isoformat(),
        SAVE_AFTER_YIELD_SECONDS + 4 * POLL_SECONDS,
    )
    assert delivered(deployment) == matching(FIRST)

    deployment.stop("triggerer")
    for item in SECOND:
        sim.insert_event(item)
    deployment.start("triggerer", module_tmp)

    expected = matching(FIRST) + matching(SECOND)
    deployment.wait_for("the second batch", lambda: len(delivered(deployment)) >= len(expected), DELIVERY_TIMEOUT)
    wait_for_runs_to_finish(deployment)
    # A few more polls: a duplicate would come now.
    deployment.wait_for(
        "the cursor past the second batch",
        lambda: saved_watermark(deployment) == (BASE + timedelta(seconds=40)).isoformat(),
        SAVE_AFTER_YIELD_SECONDS + 4 * POLL_SECONDS,
    )
    assert delivered(deployment) == expected  # once each, in order; no login

    assert set(run_states(deployment)) == {"success"}, (module_tmp / "scheduler.log").read_text()[-4000:]
    rows = deployment.query("select key, value from xcom where dag_id = ? and task_id = 'alert'", ALERTS_DAG_ID)
    assert {key for key, _ in rows} == {"return_value"}
    summaries = [json.loads(value) for _, value in rows]
    assert sum(summary["events"] for summary in summaries) == len(expected)
    # role_deleted (high), user_role_updated to Admin (high), role_created (medium); additions and
    # removals are not role changes.
    by_rule = [summary["by_rule"].get("privilege_change", 0) for summary in summaries]
    assert sum(by_rule) == 3

    trigger_kwargs = deployment.query("select kwargs from trigger")
    logs = "".join(path.read_text(errors="replace") for path in module_tmp.glob("*.log"))
    assert TOKEN not in json.dumps(trigger_kwargs) + json.dumps(delivered(deployment)) + logs


def login_token(deployment: Deployment) -> str:
    """A JWT for the simple auth manager's admin, as its login form gets one (POST /auth/token)."""
    passwords = json.loads((deployment.home / "simple_auth_manager_passwords.json.generated").read_text())
    answer = httpx.post(
        f"{api_url(deployment)}/auth/token",
        json={"username": "admin", "password": passwords["admin"]},
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def api_url(deployment: Deployment) -> str:
    return f"http://127.0.0.1:{deployment.env['AIRFLOW__API__PORT']}"


@pytest.mark.timeout(STARTUP_TIMEOUT + BACKFILL_TIMEOUT + 180)
def test_the_coverage_page_shows_the_tampered_day_behind_airflows_auth(sim, deployment, module_tmp):
    """Runs after the backfill landed three days: one day's object is then changed, and the page must say so."""
    require_browser()
    destination = deployment.env["WEBFLOW_AUDIT_LOCAL_DESTINATION"]
    root = ObjectStoragePath(destination) / "workspace=hitchhikers-workspace"
    day2 = DAY0 + timedelta(days=1)
    tampered = (
        root
        / f"dt={day2:%Y-%m-%d}"
        / f"audit_logs_{day2:%Y%m%dT%H%M%SZ}_{day2 + timedelta(days=1):%Y%m%dT%H%M%SZ}.jsonl.gz"
    )
    assert tampered.exists(), "the backfill test lands the days this test reads"
    lines = gzip.decompress(tampered.read_bytes()).splitlines(keepends=True)
    tampered.write_bytes(gzip.compress(b"".join(lines[1:]), mtime=0))  # a login removed; the manifest kept
    query = urlencode(
        {
            "destination": destination,
            "workspace": "hitchhikers-workspace",
            "start": DAY0.date().isoformat(),
            "end": (DAY0 + timedelta(days=DAYS)).date().isoformat(),
        }
    )
    page = f"{api_url(deployment)}/webflow-audit/coverage?{query}"
    # Nobody logged in: no coverage, from any route of the plugin.
    for url in (page, f"{api_url(deployment)}/webflow-audit/", f"{api_url(deployment)}/webflow-audit/openapi.json"):
        anonymous = httpx.get(url, timeout=60)
        assert anonymous.status_code in (401, 403, 404), url
        assert "data-day" not in anonymous.text
        assert "hitchhikers-workspace" not in anonymous.text
    token = login_token(deployment)
    # A user allowed to post asset events names another folder in an event's extra: the page must not read it.
    (asset_id,) = deployment.query(
        "select id from asset where uri = ?", f"{destination}/workspace=hitchhikers-workspace"
    )[0]
    posted = httpx.post(
        f"{api_url(deployment)}/api/v2/assets/events",
        headers={"Authorization": f"Bearer {token}"},
        json={"asset_id": asset_id, "extra": {"destination": "file:///etc", "workspace": "x"}},
        timeout=60,
    )
    assert posted.status_code == 200, posted.text
    with chromium() as browser:
        browser.get(f"{api_url(deployment)}/webflow-audit/does-not-matter")  # the cookie's origin first
        browser.add_cookie({"name": "_token", "value": token, "path": "/"})
        browser.get(f"{api_url(deployment)}/webflow-audit/")
        index = browser.page_source
        links = [a.get_attribute("href") for a in browser.find_elements("css selector", "li a")]
        browser.get(page)
        assert browser.find_elements("id", "verdict"), browser.page_source[-2000:] + repr(
            deployment.query("select uri, extra from asset")
        )
        cells = day_statuses(browser)
        verdict = browser.find_element("id", "verdict").get_attribute("data-verdict")
        title = browser.find_element("css selector", f"[data-day='{day2:%Y-%m-%d}']").get_attribute("title")
        browser.get(f"{api_url(deployment)}/webflow-audit/coverage?destination=file:///etc&workspace=x")
        unknown = browser.find_element("id", "message").text
    assert {day: cells[day] for day in ("2026-10-01", "2026-10-02", "2026-10-03")} == {
        "2026-10-01": "ok",
        "2026-10-02": "problem",
        "2026-10-03": "ok",
    }
    wanted = api_url(deployment) + Landing(destination, "hitchhikers-workspace").link("/webflow-audit")
    assert any(link.startswith(wanted) for link in links), index[-3000:]
    assert verdict == "incomplete"
    assert "corrupt" in title
    assert "No landing task of this deployment writes workspace 'x'" in unknown
    assert "file:///etc" not in index
    # The UI's navigation links to the page (external_views), listed by the plugins API.
    plugins = httpx.get(
        f"{api_url(deployment)}/api/v2/plugins", headers={"Authorization": f"Bearer {token}"}, timeout=60
    ).json()
    views = [view for plugin in plugins["plugins"] for view in plugin.get("external_views", [])]
    assert {"name": "Webflow audit coverage", "href": "webflow-audit/"}.items() <= next(
        view for view in views if view["name"] == "Webflow audit coverage"
    ).items()
