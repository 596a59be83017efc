"""The landing asset is declared with the DAG, and the scheduler listener links each window alias to it.

Airflow creates an alias's asset and the alias-asset link at the first event through the alias, with no
conflict handling: two first events at once fail a task whose windows landed. The concurrent case runs
against a real scheduler and api-server in ``tests/e2e/test_deployment.py``; these check the parts.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from types import SimpleNamespace

import pytest
from airflow.sdk import Asset, AssetAlias

from airflow_webflow_audit.landing.layout import landing_asset, windows_alias_name, windows_alias_target
from airflow_webflow_audit.operators.audit_logs import WebflowAuditLogsOperator
from airflow_webflow_audit.plugins import WebflowAuditPlugin, alias_links
from airflow_webflow_audit.plugins.alias_links import link_aliases, window_alias_links

DESTINATION = "s3://aws_default@audit/webflow"


def test_a_windowed_landing_declares_its_asset_so_airflow_creates_it_when_the_dag_is_parsed():
    operator = WebflowAuditLogsOperator(
        task_id="land", workspace="ws", destination=DESTINATION, window_size=timedelta(hours=1)
    )
    asset = landing_asset(DESTINATION, "ws")
    assert operator.outlets == [AssetAlias(name=windows_alias_name(asset))]
    assert operator.inlets == [asset]  # an inlet gets no event of its own
    filtered = WebflowAuditLogsOperator(
        task_id="f", workspace="ws", destination=DESTINATION, window_size="PT1H", event_types=["custom_role"]
    )
    (target,) = filtered.inlets
    assert target.uri.endswith("workspace=ws/event_types=custom_role")
    assert filtered.outlets == [AssetAlias(name=windows_alias_name(target))]


def test_one_window_per_run_declares_the_asset_as_its_outlet_and_nothing_else():
    operator = WebflowAuditLogsOperator(task_id="land", workspace="ws", destination=DESTINATION)
    assert operator.outlets == [landing_asset(DESTINATION, "ws")]
    assert operator.inlets == []


def test_a_users_own_alias_and_inlets_are_kept_and_the_asset_is_declared_beside_them():
    mine = AssetAlias(name="my-alias")
    other = Asset(uri="s3://elsewhere/thing")
    operator = WebflowAuditLogsOperator(
        task_id="land", workspace="ws", destination=DESTINATION, window_size="PT1H", outlets=[mine], inlets=[other]
    )
    assert operator.outlets == [mine]
    assert operator.inlets == [other, landing_asset(DESTINATION, "ws")]


def test_a_templated_destination_declares_nothing():
    operator = WebflowAuditLogsOperator(
        task_id="land", workspace="ws", destination="{{ var.value.dest }}", window_size="PT1H"
    )
    assert (operator.outlets, operator.inlets) == ([], [])


def test_the_alias_name_says_its_asset():
    asset = landing_asset(DESTINATION, "ws")
    assert windows_alias_target(windows_alias_name(asset)) == asset.uri
    assert windows_alias_target("my-alias") is None
    assert windows_alias_target("webflow-audit-windows:") is None


def test_the_listener_finds_each_window_alias_with_the_asset_its_task_declares():
    windowed = WebflowAuditLogsOperator(task_id="a", workspace="ws", destination=DESTINATION, window_size="PT1H")
    whole = WebflowAuditLogsOperator(task_id="b", workspace="ws2", destination=DESTINATION)
    own_alias = WebflowAuditLogsOperator(
        task_id="c", workspace="ws3", destination=DESTINATION, window_size="PT1H", outlets=[AssetAlias(name="x")]
    )
    undeclared = SimpleNamespace(outlets=[AssetAlias(name=windows_alias_name(Asset(uri="s3://b/p")))], inlets=[])
    asset = landing_asset(DESTINATION, "ws")
    assert window_alias_links([windowed, whole, own_alias, undeclared]) == {
        (windows_alias_name(asset), asset.name, asset.uri)
    }
    assert window_alias_links([]) == set()


def test_the_plugin_registers_the_listener():
    assert alias_links in WebflowAuditPlugin.listeners


@pytest.fixture
def metadata(tmp_path):
    """The three tables the link touches, as Airflow defines them, in a SQLite database."""
    from airflow.models.asset import AssetAliasModel, AssetModel, alias_association_table
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    engine = create_engine(f"sqlite:///{tmp_path}/airflow.db")
    for table in (AssetModel.__table__, AssetAliasModel.__table__, alias_association_table):
        table.create(engine)
    with Session(engine) as session:
        yield session, engine
    engine.dispose()


def test_links_are_inserted_once_and_only_between_rows_that_exist(metadata):
    from airflow.models.asset import AssetAliasModel, AssetModel

    session, engine = metadata
    asset = landing_asset(DESTINATION, "ws")
    alias = windows_alias_name(asset)
    session.add_all([AssetModel(name=asset.name, uri=asset.uri, group="asset", extra={}), AssetAliasModel(name=alias)])
    session.flush()
    links = {(alias, asset.name, asset.uri), ("webflow-audit-windows:s3://gone", "s3://gone", "s3://gone")}
    assert link_aliases(session, links) == 1
    assert link_aliases(session, links) == 0  # already linked: nothing written
    session.commit()
    with sqlite3.connect(engine.url.database) as db:
        assert db.execute("select count(*) from asset_alias_asset").fetchone() == (1,)


def test_the_coverage_page_reads_the_landings_the_dags_declare():
    """From the serialized DAG: each landing task's asset, windowed (an inlet) or not (an outlet), mapped or
    not; a templated destination declares nothing, and nothing else in a DAG adds a landing."""
    import pendulum
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization

    from airflow_webflow_audit.plugins.coverage import Landing, declared_landings

    with DAG("d", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        WebflowAuditLogsOperator(task_id="daily", workspace="ws", destination=DESTINATION, window_size="PT1H")
        WebflowAuditLogsOperator(task_id="hourly", workspace="ws2", destination="gs://b/p")
        WebflowAuditLogsOperator(task_id="templated", workspace="ws3", destination="{{ var.value.dest }}")
        # A mapped task's constructor runs only at run time: it declares what its partial() names.
        WebflowAuditLogsOperator.partial(
            task_id="mapped",
            workspace="ws4",
            destination="file:///srv/a",
            outlets=[landing_asset("file:///srv/a", "ws4")],
        ).expand(start=["2026-10-01T00:00:00Z"])
        WebflowAuditLogsOperator(task_id="other", workspace="ws5", destination=DESTINATION, outlets=[Asset("x://y")])
    assert declared_landings(DagSerialization.to_dict(dag)) == {
        Landing(DESTINATION, "ws"),
        Landing("gs://b/p", "ws2"),
        Landing("file:///srv/a", "ws4"),
    }
    assert declared_landings({}) == set()


def test_whose_landing_is_said_in_one_flat_hashable_shape_and_older_shapes_are_read():
    """Airflow 3.0 hashes an alias event's extra as the set of its items: no value may be a dict or a list."""
    from airflow_webflow_audit.landing.layout import LandingOwner, landing_extra, landing_owner

    extra = landing_extra(DESTINATION, "ws", ["user_access", "custom_role", "custom_role"])
    assert extra == {"destination": DESTINATION, "workspace": "ws", "event_types": "custom_role,user_access"}
    assert frozenset(extra.items())  # hashable
    assert landing_owner(extra) == LandingOwner(DESTINATION, "ws", ("custom_role", "user_access"))
    assert landing_owner(landing_extra(DESTINATION, "ws")) == LandingOwner(DESTINATION, "ws", None)
    # Earlier versions: the owner nested in definitions; event types as a list in events.
    assert landing_owner({"webflow_audit": {"destination": DESTINATION, "workspace": "ws"}}) == LandingOwner(
        DESTINATION, "ws", None
    )
    legacy = {"destination": DESTINATION, "workspace": "ws", "event_types": ["custom_role"], "uri": "x"}
    assert landing_owner(legacy) == LandingOwner(DESTINATION, "ws", ("custom_role",))
    assert landing_owner({"uri": "x"}) is None
    assert landing_owner("nonsense") is None
