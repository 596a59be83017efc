"""DAG shapes a new Airflow user writes, each landing the same window: XComArgs, dynamic task mapping
(``expand``, ``expand_kwargs``, a mapped task group), the connection's default workspace, and Parquet.

Used by ``tests/e2e/test_dag_shapes.py`` through ``airflow dags test``; not an example DAG.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, task, task_group

from airflow_webflow_audit.operators.audit_logs import WebflowAuditLogsOperator
from airflow_webflow_audit.sensors.audit_logs import WebflowAuditLogsSensor

DESTINATION = os.environ.get("WEBFLOW_E2E_DESTINATION", "file:///tmp/webflow-e2e-shapes")
SLUG = "hitchhikers-workspace"
WORKSPACE_ID = "6621ccb459b561c69f29d57c"

with DAG(
    dag_id="e2e_webflow_dag_shapes",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 10, 1, tz="UTC"),
    catchup=False,
):

    @task
    def workspace_from_upstream() -> str:
        return SLUG

    @task
    def destination_from_upstream() -> str:
        return f"{DESTINATION}/xcom"

    @task
    def types_from_upstream() -> list[str]:
        return ["custom_role"]

    workspace = workspace_from_upstream()
    event_types = types_from_upstream()
    WebflowAuditLogsOperator(
        task_id="land_from_xcom",
        workspace=workspace,
        destination=destination_from_upstream(),
        event_types=event_types,
    )
    WebflowAuditLogsSensor(
        task_id="sense_from_xcom", workspace=workspace, event_types=event_types, poke_interval=1, timeout=60
    )

    WebflowAuditLogsOperator.partial(task_id="land_expand", destination=f"{DESTINATION}/expand").expand(
        workspace=[SLUG, WORKSPACE_ID]
    )

    WebflowAuditLogsOperator.partial(task_id="land_expand_kwargs", destination=f"{DESTINATION}/kwargs").expand_kwargs(
        [
            {"workspace": SLUG, "webflow_conn_id": "webflow_default"},
            {"workspace": WORKSPACE_ID, "webflow_conn_id": "webflow_second_token"},
        ]
    )

    @task_group
    def per_workspace(workspace_name: str) -> None:
        WebflowAuditLogsOperator(task_id="land", workspace=workspace_name, destination=f"{DESTINATION}/group")

    per_workspace.expand(workspace_name=[SLUG, WORKSPACE_ID])

    WebflowAuditLogsOperator(task_id="land_default_workspace", destination=f"{DESTINATION}/default")

    # Parquet, so the OpenLineage output carries a schema facet.
    WebflowAuditLogsOperator(
        task_id="land_parquet", workspace=SLUG, destination=f"{DESTINATION}/parquet", file_format="parquet"
    )
