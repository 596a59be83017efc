"""The deployment people run, started on loopback: Postgres, Redis, the CeleryExecutor with two workers that
share nothing but the database and the bucket, the api-server under ``/airflow``, the scheduler, the
dag-processor and the triggerer; moto's S3 and KMS; a StatsD listener. One deployment for these tests,
in order:

* a month's backfill (30 daily runs of 24 hourly windows) created with the scheduler running: every
  window the simulator's, once, KMS-signed, the audit complete; both workers spending one token at once,
  with at most 1% 429s; the provider's metrics from both workers adding up to what happened;
* concurrent first landings through the window alias, on Postgres;
* a worker killed (SIGKILL, as a lost machine) while its task lands windows: the task ends on the other
  worker, every run succeeds, every window lands once, nothing left behind stops a later landing;
* the findings and OCSF operators reading, on the workers, what the workers landed;
* the deferrable sensor and the event-driven trigger, on the triggerer;
* the coverage page served under the prefix, in chromium, every link working.
"""

from __future__ import annotations

import gzip
import json
import shutil
import time
import uuid
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit import metrics
from airflow_webflow_audit.audit.bucket import audit_bucket
from airflow_webflow_audit.signing import signing_from_connection
from airflow_webflow_audit.testing import services
from airflow_webflow_audit.testing.deployment import Deployment, running_production
from airflow_webflow_audit.testing.simulator import SimulatorConfig, WebflowSimulator, generate_events
from tests.browser import chromium, day_statuses, require_browser
from tests.conftest import DAY0, TOKEN
from tests.e2e.conftest import DAGS_FOLDER
from tests.statsd_listener import StatsdListener, statsd_listener
from tests.storage_servers import aws_connection, s3_client, shared_moto_endpoint

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.deployment]
if (_missing := services.missing()) is not None:
    pytestmark.append(pytest.mark.skip(reason=f"the production-shaped deployment needs Postgres and Redis: {_missing}"))

HERE = Path(__file__).parent
WORKSPACE = "hitchhikers-workspace"
DAYS = 30
MONTH = (DAY0, DAY0 + timedelta(days=DAYS))
LOST_DAYS = 2
#: The days the readers (findings, OCSF) read back: the month's last two.
READ = (MONTH[1] - timedelta(days=2), MONTH[1])
LOST = (DAY0 + timedelta(days=DAYS + 1), DAY0 + timedelta(days=DAYS + 1 + LOST_DAYS))
HOUR = timedelta(hours=1)
#: The token's budget: 200 requests per 20-second fixed window (600 a minute). A month's 720 windows need
#: about 820 requests; on a quiet machine the workers want more than that budget in most windows, both
#: racing for each window's last requests (a pacer that does nothing fails the test there; on a machine
#: too busy to spend the budget the test says so). Webflow's windows are a minute long: the benchmark
#: measures that shape at 120 a minute.
RATE_LIMIT, RATE_WINDOW = 200, 20.0
#: Answers for the lost-worker DAG's days are this slow, so a task is still landing when its worker dies.
SLOW_ANSWER_SECONDS = 0.4
RACE_ROUNDS, RACE_TASKS = 2, 2
HEARTBEAT_TIMEOUT = 20
STARTUP_TIMEOUT = 300
BACKFILL_TIMEOUT = 600
RUN_TIMEOUT = 300
#: The recent events the sensor and the trigger wait for lie after this (minutes before the tests start).
BASE = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=3)
ALERTS_DAG_ID = "example_webflow_audit_alerts"
#: The connection this test process reads the bucket with (the workers use ``aws_default``).
READER_CONN_ID = "aws_production_reader"
ALERT_ASSET = "webflow_audit_privilege_changes"


def change(moment: datetime, event_type: str, subtype: str, n: int) -> dict[str, Any]:
    return {
        "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "eventType": event_type,
        "eventSubType": subtype,
        "actor": {"id": "admin-1", "email": "admin@example.com", "type": "person"},
        "workspace": {"id": "6621ccb459b561c69f29d57c", "slug": WORKSPACE},
        "payload": {"n": n, "roleName": "Admin"},
    }


class Production:
    """The running deployment and what the tests read beside it."""

    def __init__(
        self, deployment: Deployment, sim: WebflowSimulator, statsd: StatsdListener, bucket: str, root: Path
    ) -> None:
        self.deployment = deployment
        self.sim = sim
        self.statsd = statsd
        self.bucket = bucket
        self.root = root

    def destination(self, folder: str) -> str:
        """Where the workers landed ``folder``, read with this process's own connection to the bucket (another
        test's ``aws_default`` filesystem may be cached here already, pointing elsewhere)."""
        return f"s3://{READER_CONN_ID}@{self.bucket}/{folder}"

    def runs(self, dag_id: str, run_type: str | None = None) -> list[tuple[str, str]]:
        sql = "select run_id, state from dag_run where dag_id = ?"
        params: list[Any] = [dag_id]
        if run_type is not None:
            sql += " and run_type = ?"
            params.append(run_type)
        return self.deployment.query(sql + " order by run_id", *params)

    def wait_for_runs(self, dag_id: str, count: int, timeout: float, run_type: str | None = None) -> list[str]:
        def finished() -> bool:
            runs = self.runs(dag_id, run_type)
            return len(runs) >= count and all(state in ("success", "failed") for _, state in runs)

        self.deployment.wait_for(f"{count} runs of {dag_id} to finish", finished, timeout)
        return [state for _, state in self.runs(dag_id, run_type)]

    def tasks(self, dag_id: str) -> list[tuple[str, str, int, str]]:
        """``(run_id, state, try_number, hostname)`` of each of the DAG's task instances."""
        return self.deployment.query(
            "select run_id, state, try_number, hostname from task_instance where dag_id = ? order by run_id", dag_id
        )

    def logs(self, *names: str) -> str:
        return "\n".join(
            f"--- {name}\n" + (self.root / f"{name}.log").read_text(errors="replace")[-4000:]
            for name in names or ("scheduler", "api-server", "worker-1", "worker-2")
        )

    def backfill(self, dag_id: str, first: datetime, last: datetime) -> None:
        """Unpause ``dag_id`` and backfill the runs from ``first`` to ``last``, both included, while the
        scheduler runs (Postgres takes the writes of both)."""
        self.deployment.cli("dags", "unpause", dag_id)
        self.deployment.cli(
            "backfill", "create", "--dag-id", dag_id, "--from-date", first.isoformat(), "--to-date", last.isoformat()
        )


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    root = tmp_path_factory.mktemp("production")
    events = generate_events(seed=5, start=DAY0, end=LOST[1], events_per_day=240)
    config = SimulatorConfig(rate_limit=RATE_LIMIT, rate_window=RATE_WINDOW, rate_window_phase=0.0)
    sim = WebflowSimulator(events, token=TOKEN, config=config).start()

    def slow_lost_worker_days(path: str, params: dict[str, str]) -> None:
        if params.get("from", "") >= LOST[0].strftime("%Y-%m-%d"):
            time.sleep(SLOW_ANSWER_SECONDS)

    sim.on_request = slow_lost_worker_days
    moto = shared_moto_endpoint()
    bucket = f"webflow-production-{uuid.uuid4().hex[:8]}"
    s3_client(moto).create_bucket(Bucket=bucket)
    signing = json.loads(aws_connection(moto))
    signing["extra"]["kms_key_id"] = _p256_key(moto)
    dags = root / "dags"
    dags.mkdir()
    for dag_file in (
        HERE / "production" / "webflow_production.py",
        HERE / "asset_race" / "e2e_webflow_asset_race.py",
        DAGS_FOLDER / f"{ALERTS_DAG_ID}.py",
    ):
        shutil.copy(dag_file, dags)
    connections = {
        "AIRFLOW_CONN_WEBFLOW_DEFAULT": sim.connection_json(rate_limit_window_seconds=RATE_WINDOW),
        "AIRFLOW_CONN_AWS_DEFAULT": aws_connection(moto),
        "AIRFLOW_CONN_WEBFLOW_AUDIT_SIGNING": json.dumps(signing),
    }
    reader = {f"AIRFLOW_CONN_{READER_CONN_ID.upper()}": aws_connection(moto), **connections}
    with statsd_listener() as statsd, services.postgres() as database, services.redis(root / "redis") as broker:
        env = {
            **connections,
            "WEBFLOW_PROD_BUCKET": f"s3://aws_default@{bucket}",
            "WEBFLOW_PROD_SENSOR_START": BASE.isoformat(),
            "WEBFLOW_E2E_RACE_DESTINATION": f"s3://aws_default@{bucket}/race",
            "WEBFLOW_E2E_RACE_BARRIER": str(root / "race-barrier"),
            "WEBFLOW_E2E_RACE_ROUNDS": str(RACE_ROUNDS),
            "WEBFLOW_E2E_RACE_TASKS": str(RACE_TASKS),
            "WEBFLOW_AUDIT_ALERTS_POLL_SECONDS": "5",
            "WEBFLOW_AUDIT_ALERTS_START_FROM": BASE.isoformat(),
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(statsd.port),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
            # A lost worker's task is noticed within seconds, not the default five minutes.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
        }
        with running_production(
            root,
            dags_folder=dags,
            database_url=database,
            broker_url=broker,
            env=env,
            workers=2,
            concurrency=1,
            pools={"webflow_api": 2},
        ) as deployment:
            dag_ids = (
                "webflow_prod_month",
                "webflow_prod_lost_worker",
                "webflow_prod_readers",
                "webflow_prod_sensor",
                ALERTS_DAG_ID,
                *(f"e2e_webflow_asset_race_{n}" for n in range(RACE_ROUNDS)),
            )
            deployment.wait_for("the DAGs to be serialized", lambda: deployment.dags_parsed(dag_ids), STARTUP_TIMEOUT)
            with pytest.MonkeyPatch.context() as patch:
                for name, value in reader.items():  # the auditor's side: the bucket and the public key
                    patch.setenv(name, value)
                yield Production(deployment, sim, statsd, bucket, root)
    sim.stop()


def _p256_key(moto: str) -> str:
    import boto3

    kms = boto3.client(
        "kms", endpoint_url=moto, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    return str(key_id)


def parsed(value: Any) -> Any:
    """A JSON column's value: Postgres gives it back parsed, SQLite as text."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def hourly(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    hours = int((end - start) / HOUR)
    return [(start + n * HOUR, start + (n + 1) * HOUR) for n in range(hours)]


def landed_keys(production: Production, folder: str) -> list[str]:
    listing = s3_client(shared_moto_endpoint()).get_paginator("list_objects_v2")
    return sorted(
        item["Key"]
        for page in listing.paginate(Bucket=production.bucket, Prefix=f"{folder}/")
        for item in page.get("Contents", [])
    )


def window_events(production: Production, folder: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    name = f"audit_logs_{start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}.jsonl.gz"
    path = ObjectStoragePath(production.destination(folder)) / f"workspace={WORKSPACE}" / f"dt={start:%Y-%m-%d}" / name
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


def assert_each_window_once(production: Production, folder: str, windows: list[tuple[datetime, datetime]]) -> None:
    """One part per window (object and manifest), nothing else, and each window's events the simulator's."""
    expected = sorted(
        f"{folder}/workspace={WORKSPACE}/dt={start:%Y-%m-%d}/audit_logs_{start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}"
        f".jsonl.gz{suffix}"
        for start, end in windows
        for suffix in ("", ".manifest.json")
    )
    days = {f"/dt={start:%Y-%m-%d}/" for start, _ in windows}
    # The scheduled run of yesterday (the DAG is unpaused to backfill) lands its own day: not these.
    assert [key for key in landed_keys(production, folder) if any(day in key for day in days)] == expected
    union = []
    for start, end in windows:
        events = window_events(production, folder, start, end)
        assert events == production.sim.events(start, end), (start, end)
        union.extend(events)
    assert union == production.sim.events(windows[0][0], windows[-1][1])


def assert_audit_complete(production: Production, folder: str, start: datetime, end: datetime) -> None:
    policy = signing_from_connection("webflow_audit_signing", required=True, to_sign=False).policy
    report = audit_bucket(ObjectStoragePath(production.destination(folder)), WORKSPACE, start, end, signatures=policy)
    assert report.complete, report.render()[-3000:]
    assert {window.signed_parts for window in report.windows} == {1}  # every part KMS-signed, by the workers


@pytest.mark.timeout(STARTUP_TIMEOUT + BACKFILL_TIMEOUT + 120)
def test_a_months_backfill_lands_every_window_once_from_both_workers_at_the_tokens_ceiling(production):
    production.sim.reset_stats()
    began = time.monotonic()
    production.backfill("webflow_prod_month", MONTH[0], MONTH[1] - timedelta(days=1))
    states = production.wait_for_runs("webflow_prod_month", DAYS, BACKFILL_TIMEOUT, run_type="backfill")
    wall = time.monotonic() - began
    assert states == ["success"] * DAYS, production.logs()
    tasks = production.tasks("webflow_prod_month")
    backfilled = [task for task in tasks if task[0].startswith("backfill__")]
    assert {hostname for _, _, _, hostname in backfilled} == {"worker-1", "worker-2"}
    assert_each_window_once(production, "landing", hourly(*MONTH))
    assert_audit_complete(production, "landing", *MONTH)

    # Both workers on one token: the 429s they met, and the provider's metrics from every process.
    stats = production.sim.stats()
    served, refused = stats["statuses"].get("200", 0), stats["statuses"].get("429", 0)
    assert refused <= 0.01 * (served + refused), stats
    if stats["rate_window"]["spent"] == 0:
        # A machine this busy never sent the budget's worth in a window: the bound above held without the
        # pacer's help (on a quiet machine the budget runs out in most windows and, paced, 0.5-0.7% of
        # requests meet a 429; with the pacer turned off 3% do, and the bound fails).
        warnings.warn(f"the token's budget never ran out; the 429 bound was not exercised: {stats}", stacklevel=1)
    statsd = production.statsd
    production.deployment.wait_for(
        "the metrics of the last task",
        lambda: statsd.counter("airflow." + metrics.REQUESTS.full_name) >= served + refused,
        30,
    )
    assert statsd.counter("airflow." + metrics.REQUESTS.full_name) == served + refused
    assert statsd.counter("airflow." + metrics.RATE_LIMITED.full_name) == refused
    assert statsd.counter("airflow." + metrics.WINDOWS_LANDED.full_name) >= DAYS * 24
    assert statsd.counter("airflow." + metrics.EVENTS_LANDED.full_name) >= len(production.sim.events(*MONTH))
    assert len(statsd.timings("airflow." + metrics.WINDOW_PULL.full_name)) >= DAYS * 24
    assert statsd.counter("airflow." + metrics.EVIDENCE_REFUSED.full_name) == 0
    assert "airflow.scheduler_heartbeat" in statsd.names()  # Airflow's own, through the same listener
    print(f"month backfill: {wall:.0f} s, {served} requests, {refused} 429s")


@pytest.mark.timeout(RACE_ROUNDS * RUN_TIMEOUT)
def test_concurrent_first_landings_through_the_window_alias_never_fail_a_task_on_postgres(production):
    for number in range(RACE_ROUNDS):
        dag_id = f"e2e_webflow_asset_race_{number}"
        production.deployment.cli("dags", "unpause", dag_id)
        production.deployment.cli("dags", "trigger", dag_id)
        assert production.wait_for_runs(dag_id, 1, RUN_TIMEOUT) == ["success"], production.logs("api-server")
        assert [state for _, state, _, _ in production.tasks(dag_id)] == ["success"] * RACE_TASKS


@pytest.mark.timeout(BACKFILL_TIMEOUT + 120)
def test_a_worker_lost_mid_task_leaves_every_window_landed_once_by_the_other(production):
    dag_id = "webflow_prod_lost_worker"
    deployment = production.deployment
    production.backfill(dag_id, LOST[0], LOST[1] - timedelta(days=1))

    def landing_with_windows_landed() -> tuple[str, str] | None:
        # The day a run lands is its data interval's start (a daily run's id names the interval's end).
        started = dict(
            production.deployment.query("select run_id, data_interval_start from dag_run where dag_id = ?", dag_id)
        )
        for run_id, state, _, hostname in production.tasks(dag_id):
            if not run_id.startswith("backfill__"):
                continue  # unpausing also starts the latest scheduled run: not one of the lost days
            day = str(started[run_id])[:10]
            landed = [key for key in landed_keys(production, "lost-worker") if f"/dt={day}/" in key]
            if state == "running" and hostname and len(landed) >= 6:  # three windows in, 21 to go
                return run_id, hostname
        return None

    deployment.wait_for("a task halfway through its windows", lambda: landing_with_windows_landed() is not None, 180)
    victim = landing_with_windows_landed()
    assert victim is not None
    run_id, lost = victim
    deployment.kill(lost)  # SIGKILL to the worker and its task: no on_kill, no clean-up, as a machine dying
    states = production.wait_for_runs(dag_id, LOST_DAYS, BACKFILL_TIMEOUT, run_type="backfill")
    deployment.start(lost, production.root)  # the machine comes back
    assert states == ["success"] * LOST_DAYS, production.logs()
    by_run = {task[0]: task for task in production.tasks(dag_id)}
    _, state, try_number, hostname = by_run[run_id]
    assert (state, hostname) == ("success", ({"worker-1", "worker-2"} - {lost}).pop())
    assert try_number >= 2
    assert_each_window_once(production, "lost-worker", hourly(*LOST))
    assert_audit_complete(production, "lost-worker", *LOST)


@pytest.mark.timeout(RUN_TIMEOUT + 60)
def test_the_readers_on_the_workers_read_what_the_workers_landed(production):
    """Findings and OCSF, run on the workers, read days the workers landed, as the audit judges them."""
    conf = json.dumps({"start": READ[0].isoformat(), "end": READ[1].isoformat()})
    production.deployment.cli("dags", "unpause", "webflow_prod_readers")
    production.deployment.cli("dags", "trigger", "webflow_prod_readers", "--conf", conf)
    assert production.wait_for_runs("webflow_prod_readers", 1, RUN_TIMEOUT) == ["success"], production.logs()
    rows = production.deployment.query(
        "select task_id, value from xcom where dag_id = ? and key = 'return_value'", "webflow_prod_readers"
    )
    summaries = {task_id: parsed(value) for task_id, value in rows}
    assert summaries["ocsf"]["events"] == len(production.sim.events(*READ))
    assert summaries["findings"]["applied_through"] == READ[1].isoformat()
    assert landed_keys(production, "lake")  # Security Lake's layout, in the same bucket


@pytest.mark.timeout(RUN_TIMEOUT * 2)
def test_the_deferrable_sensor_and_the_event_trigger_wait_on_the_triggerer(production):
    deployment = production.deployment
    deployment.cli("dags", "unpause", ALERTS_DAG_ID)
    deployment.cli("dags", "unpause", "webflow_prod_sensor")
    end = (datetime.now(timezone.utc) + timedelta(minutes=30)).isoformat()
    deployment.cli("dags", "trigger", "webflow_prod_sensor", "--conf", json.dumps({"end": end}))
    deployment.wait_for(
        "the sensor to defer",
        lambda: [state for _, state, _, _ in production.tasks("webflow_prod_sensor")] == ["deferred"],
        RUN_TIMEOUT,
    )
    role_change = change(BASE + timedelta(seconds=30), "custom_role", "role_updated", 1)
    production.sim.insert_event(role_change)
    assert production.wait_for_runs("webflow_prod_sensor", 1, RUN_TIMEOUT) == ["success"], production.logs("triggerer")

    def delivered() -> list[dict[str, Any]]:
        rows = deployment.query(
            "select e.extra from asset_event e join asset a on a.id = e.asset_id where a.name = ? order by e.id",
            ALERT_ASSET,
        )
        return [item for (extra,) in rows for item in parsed(extra)["payload"]["events"]]

    deployment.wait_for("the role change to reach the watched asset", lambda: delivered() == [role_change], RUN_TIMEOUT)
    assert production.wait_for_runs(ALERTS_DAG_ID, 1, RUN_TIMEOUT) == ["success"], production.logs("triggerer")


def login_token(production: Production) -> str:
    """A JWT for the simple auth manager's admin, as its login form gets one (POST .../auth/token)."""
    deployment = production.deployment
    passwords = json.loads((deployment.home / "simple_auth_manager_passwords.json.generated").read_text())
    answer = httpx.post(
        f"{deployment.base_url}/auth/token", json={"username": "admin", "password": passwords["admin"]}, timeout=30
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


@pytest.mark.timeout(RUN_TIMEOUT)
def test_the_coverage_page_works_behind_the_prefix(production):
    require_browser()
    from selenium.webdriver.support.ui import WebDriverWait

    base = production.deployment.base_url  # http://127.0.0.1:<port>/airflow
    token = login_token(production)
    with chromium() as browser:
        browser.get(f"{base}/webflow-audit/does-not-matter")  # the cookie's origin first
        browser.add_cookie({"name": "_token", "value": token, "path": "/airflow"})
        browser.get(f"{base}/webflow-audit/")
        links = [a.get_attribute("href") for a in browser.find_elements("css selector", "a[href]")]
        assert links, browser.page_source[-2000:]
        assert all(link.startswith(f"{base}/webflow-audit/") for link in links), links
        calendars = [link for link in links if "/coverage?" in link]
        assert [link for link in links if link not in calendars] == [f"{base}/webflow-audit/"]  # the navigation
        cells: dict[str, str] = {}
        for link in calendars:  # each the last 90 days of a landing, the month's first, the small ones last
            browser.get(link)
            assert browser.find_elements("id", "verdict"), (link, browser.page_source[-2000:])
            if "%2Flanding&" in link:
                cells = day_statuses(browser)
        verdict = browser.find_element("id", "verdict").get_attribute("data-verdict")
        form_action = browser.find_element("css selector", "form.range").get_attribute("action")
        nav = browser.find_element("css selector", "nav a").get_attribute("href")
        browser.find_element("css selector", "form.range button").click()
        after_submit = browser.current_url
        # Airflow's own UI shows the page in an iframe from its navigation entry, under the prefix too.
        browser.get(f"{base}/plugin/webflow-audit-coverage")
        frame = WebDriverWait(browser, 60).until(lambda b: b.find_element("css selector", "iframe"))
        framed = frame.get_property("src")
        browser.switch_to.frame(frame)
        WebDriverWait(browser, 60).until(lambda b: b.find_elements("css selector", "li a"))
        framed_links = [a.get_attribute("href") for a in browser.find_elements("css selector", "li a")]
    in_month = {day: status for day, status in cells.items() if f"{MONTH[0]:%Y-%m-%d}" <= day < f"{MONTH[1]:%Y-%m-%d}"}
    assert len(in_month) == DAYS
    assert set(in_month.values()) == {"ok"}, cells
    assert verdict == "incomplete"  # the 90 days hold gaps around the month
    assert form_action == f"{base}/webflow-audit/coverage"
    assert nav == f"{base}/webflow-audit/"
    assert after_submit.startswith(f"{base}/webflow-audit/coverage?")
    assert framed == f"{base}/webflow-audit/"
    assert framed_links == calendars
    # The UI's navigation entry, under the prefix too.
    plugins = httpx.get(f"{base}/api/v2/plugins", headers={"Authorization": f"Bearer {token}"}, timeout=60).json()
    assert any(view["href"] == "webflow-audit/" for plugin in plugins["plugins"] for view in plugin["external_views"])
