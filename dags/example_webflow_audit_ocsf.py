"""Convert every landed window to OCSF 1.3.0 in Amazon Security Lake's custom-source layout, after each landing.

Scheduled on the asset that ``example_webflow_audit_logs_to_local`` updates each time it lands a
window, so each landed window (several, when a backfill lands them faster than this DAG runs)
becomes OCSF Parquet right after it lands: one file per OCSF class and UTC day, under
``<lake>/ext/<custom source>/region=<region>/accountId=<account>/eventDay=<YYYYMMDD>/``. The range
is audited first (a missing or tampered-with window refuses the run, naming it); a rerun writes
nothing, and a window that gained a late part (the reconcile DAG) gets a file with only that part.

What it needs:
  * ``WEBFLOW_WORKSPACE`` and ``WEBFLOW_AUDIT_LOCAL_DESTINATION``: the same values as the landing DAG;
  * ``WEBFLOW_AUDIT_LAKE_DESTINATION``: the lake root. For Security Lake, its bucket through an aws
    connection that may write there: ``s3://aws_security_lake@aws-security-data-lake-us-east-1-<hash>``
    (default ``file:///tmp/webflow-audit-lake``, to try it locally);
  * ``WEBFLOW_AUDIT_LAKE_REGION`` and ``WEBFLOW_AUDIT_LAKE_ACCOUNT_ID``: the partition values, the Region
    and account the custom sources were created in (defaults ``us-east-1`` and AWS's documentation
    account ``123456789012``);
  * the pyarrow extra: ``pip install 'airflow-webflow-audit[parquet]'``.

Converting history, or a range by hand, is a manual run with the range in its conf::

    airflow dags trigger example_webflow_audit_ocsf \\
        --conf '{"start": "2026-10-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"}'
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG

from airflow_webflow_audit.landing.layout import landing_asset
from airflow_webflow_audit.operators.ocsf import WebflowAuditOCSFOperator

WORKSPACE = os.environ.get("WEBFLOW_WORKSPACE", "hitchhikers-workspace")
LANDING = os.environ.get("WEBFLOW_AUDIT_LOCAL_DESTINATION", "file:///tmp/webflow-audit-logs")
LAKE = os.environ.get("WEBFLOW_AUDIT_LAKE_DESTINATION", "file:///tmp/webflow-audit-lake")
REGION = os.environ.get("WEBFLOW_AUDIT_LAKE_REGION", "us-east-1")
ACCOUNT_ID = os.environ.get("WEBFLOW_AUDIT_LAKE_ACCOUNT_ID", "123456789012")

with DAG(
    dag_id="example_webflow_audit_ocsf",
    description="Landed Webflow audit logs -> OCSF 1.3.0 Parquet in Security Lake's custom-source layout",
    schedule=[landing_asset(LANDING, WORKSPACE)],
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["webflow", "audit", "security", "ocsf", "example"],
) as dag:
    WebflowAuditOCSFOperator(
        task_id="to_security_lake",
        workspace=WORKSPACE,
        source=LANDING,
        destination=LAKE,
        region=REGION,
        account_id=ACCOUNT_ID,
        # Empty unless the run was triggered with a range: then the asset events name the windows.
        start="{{ (dag_run.conf or {}).get('start') }}",
        end="{{ (dag_run.conf or {}).get('end') }}",
        retries=2,
    )
