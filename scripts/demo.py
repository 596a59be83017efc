"""`make demo`: run the local-folder example DAG over three daily windows into ./demo-output.

Starts the bundled Webflow simulator on a free loopback port (with a few injected 500s and a
120/min rate limit, so retries and pacing show), migrates a throwaway SQLite metadata database,
makes a signing key (the ``webflow_audit_signing`` connection, in the environment), then runs
``dags/example_webflow_audit_logs_to_local.py`` with ``dag.test()`` once per window, as ``airflow
dags test`` would, and the first window once more (it finds nothing new and writes nothing). Prints
one line per window: window, records, object path, and whether the records equal the simulator's
own count; then audits the range with the public key alone, as an auditor would. Airflow's task
logs go to ``demo-airflow.log``.

./demo-output is the demo's scratch folder, not an archive: each run starts it afresh (its key is new).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "demo-output"
LOG_FILE = ROOT / "demo-airflow.log"
#: The demo key's public half, for the audit (and for you to run it again): public, so kept beside the output.
PUBLIC_KEY = ROOT / "demo-signing-key.pub.pem"
DAG_FILE = ROOT / "dags" / "example_webflow_audit_logs_to_local.py"
FIRST_DAY = datetime(2026, 10, 1, tzinfo=timezone.utc)
DAYS = 3

# Airflow reads its home when first imported: a throwaway one, removed on exit.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="webflow-audit-demo-airflow-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAG_FILE.parent)
os.environ["WEBFLOW_AUDIT_LOCAL_DESTINATION"] = OUTPUT.as_uri()
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)

from airflow_webflow_audit.testing.simulator import SimulatorConfig, WebflowSimulator, generate_events


def load_dag():
    spec = importlib.util.spec_from_file_location("example_webflow_audit_logs_to_local", DAG_FILE)
    if spec is None or spec.loader is None:
        raise SystemExit(f"Cannot load {DAG_FILE}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def main() -> int:
    events = generate_events(seed=1, start=FIRST_DAY, end=FIRST_DAY + timedelta(days=DAYS), events_per_day=2000)
    config = SimulatorConfig(rate_limit=120, error_rate=0.03, fault_seed=2)
    started = time.monotonic()
    if OUTPUT.exists():
        print(f"Removing the previous demo's {OUTPUT.name}/ (a scratch folder; a real archive is never cleared).")
        shutil.rmtree(OUTPUT)
    with WebflowSimulator(events, config=config) as sim, LOG_FILE.open("w") as log:
        os.environ["AIRFLOW_CONN_WEBFLOW_DEFAULT"] = sim.connection_json()
        print(f"Webflow simulator on {sim.url} with {len(sim)} events.", flush=True)
        print(f"Migrating a throwaway Airflow metadata DB; task logs go to {LOG_FILE.name}.", flush=True)
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], stdout=log, stderr=log, check=True)
        # Airflow sets up its logging when first imported: here, so its lines go to the log file.
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            fingerprint = make_signing_key()
            dag = load_dag()
        print(f"Manifests are signed with a new Ed25519 key, {fingerprint}.", flush=True)
        print(f"Running {dag.dag_id} over {DAYS} daily windows into {OUTPUT}\n", flush=True)
        rows = []
        for day in range(DAYS):
            start, end = FIRST_DAY + timedelta(days=day), FIRST_DAY + timedelta(days=day + 1)
            # A manual run covers the last complete interval ending at its logical date.
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                run = dag.test(logical_date=end)
            xcom = landed_summary(start, end)
            truth = len(sim.events(start, end))
            rows.append((start, end, run.state, xcom, truth))
            print(
                f"  {start:%Y-%m-%d} .. {end:%Y-%m-%d}  {run.state:<8} {xcom['records'] if xcom else '-':>6} records",
                flush=True,
            )
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            again = dag.test(logical_date=FIRST_DAY + timedelta(days=1))
        rerun_wrote = any(p.name.endswith(".part-0002.jsonl.gz") for p in OUTPUT.rglob("*"))
        print(
            f"  {f'{FIRST_DAY:%Y-%m-%d} .. again':<24}  {again.state:<8} the same events: "
            f"{'a second part?!' if rerun_wrote else 'nothing written'}",
            flush=True,
        )
        print()
        print(f"{'window (UTC)':<37} {'records':>7} {'simulator':>9}  object")
        for start, end, _, xcom, truth in rows:
            window = f"[{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M})"
            records = xcom["records"] if xcom else "-"
            path = xcom["uri"].removeprefix(OUTPUT.as_uri() + "/") if xcom else "(not landed)"
            print(f"{window:<37} {records:>7} {truth:>9}  {path}")
        ok = all(state == "success" and xcom and xcom["records"] == truth for _, _, state, xcom, truth in rows)
        ok = ok and again.state == "success" and not rerun_wrote
        print(
            f"\n{sim.request_count} requests to the simulator in {time.monotonic() - started:.0f} s; "
            f"each object has a .manifest.json beside it. {'All windows match.' if ok else 'MISMATCH: see the log.'}"
        )
        audited = run_audit(log)
        return 0 if ok and audited else 1


def run_audit(log) -> bool:
    """The range audit over the demo's days, recounted against the simulator, as a user would run it."""
    command = [
        sys.executable,
        "-m",
        "airflow_webflow_audit.audit",
        OUTPUT.as_uri(),
        "--workspace",
        "hitchhikers-workspace",
        "--start",
        FIRST_DAY.isoformat(),
        "--end",
        (FIRST_DAY + timedelta(days=DAYS)).isoformat(),
        "--recount",
        "--public-key",
        PUBLIC_KEY.name,
    ]
    print(f"\n$ python -m airflow_webflow_audit.audit {' '.join(command[3:])}", flush=True)
    # The auditor's side: no Airflow connection to the key, only its public half.
    env = {key: value for key, value in os.environ.items() if key != "AIRFLOW_CONN_WEBFLOW_AUDIT_SIGNING"}
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=log, text=True, check=False, env=env, cwd=ROOT)
    print(result.stdout, end="", flush=True)
    return result.returncode == 0


def make_signing_key() -> str:
    """A new key as the signing connection (environment only), its public half in demo-signing-key.pub.pem."""
    from airflow_webflow_audit.signing import ManifestSigner, generate_private_key_pem, public_key_pem

    pem = generate_private_key_pem()
    os.environ["AIRFLOW_CONN_WEBFLOW_AUDIT_SIGNING"] = json.dumps({"conn_type": "generic", "password": pem})
    signer = ManifestSigner.from_pem(pem, source="webflow_audit_signing")
    PUBLIC_KEY.write_text(public_key_pem(signer.private_key.public_key()))
    return signer.key_fingerprint


def landed_summary(start: datetime, end: datetime) -> dict | None:
    """What the task landed for the window, read back from its manifest (the XCom holds the same)."""
    from airflow.sdk import ObjectStoragePath

    from airflow_webflow_audit.landing.layout import manifest_path_for, window_object_path

    data = window_object_path(
        ObjectStoragePath(OUTPUT.as_uri()),
        workspace="hitchhikers-workspace",
        start=start,
        end=end,
        file_format="jsonl.gz",
    )
    manifest = manifest_path_for(data)
    if not manifest.exists():
        return None
    body = json.loads(manifest.read_bytes())
    return {"records": body["records"], "uri": body["object"]["uri"]}


if __name__ == "__main__":
    sys.exit(main())
