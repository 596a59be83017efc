"""A scheduler listener: each window alias is linked to its landing asset when a run starts, before any task ends.

Airflow links an ``AssetAlias`` to an asset the first time an event passes through the alias, inside the
task's success update and without conflict handling. Two tasks whose first events through one alias
reach the api-server at once (the first concurrent landings of a new deployment, destination or
workspace) both insert the link; one insert fails, and the api-server sets that task ``failed``, with
no retry, although every window it landed is in place. Linking them when the run starts, in the
scheduler, leaves nothing for the first event to create: the success update then only reads the link.

The landing operator names its window alias after the asset (:func:`~airflow_webflow_audit.landing.layout.
windows_alias_name`) and declares that asset as an inlet, so the asset exists from the moment the DAG is
parsed; this listener links the two. It writes in the scheduler's own transaction (a second connection
would wait on the SQLite lock the scheduler holds; a savepoint is a commit the scheduler forbids), only
the link, only when it is missing, and with an insert that does nothing if another scheduler made it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from airflow.listeners import hookimpl

from airflow_webflow_audit.landing.layout import windows_alias_target

log = logging.getLogger(__name__)


def window_alias_links(tasks: Iterable[Any]) -> set[tuple[str, str, str]]:
    """``(alias name, asset name, asset uri)`` for each window alias a task emits through and the asset it
    lands on, when the task declares that asset too (as the landing operator does with a static destination)."""
    links = set()
    for task in tasks:
        declared = {
            getattr(asset, "uri", None): getattr(asset, "name", None)
            for asset in (*(getattr(task, "inlets", None) or ()), *(getattr(task, "outlets", None) or ()))
            if getattr(asset, "uri", None)
        }
        for outlet in getattr(task, "outlets", None) or ():
            if getattr(outlet, "uri", None) is not None:
                continue  # an asset, not an alias
            uri = windows_alias_target(str(getattr(outlet, "name", "") or ""))
            if uri is not None and declared.get(uri):
                links.add((str(outlet.name), str(declared[uri]), uri))
    return links


def link_aliases(session: Any, links: Iterable[tuple[str, str, str]]) -> int:
    """Insert each missing alias-asset link; the number inserted. Aliases or assets not in the database yet
    are skipped (the DAG processor creates both when it parses the DAG)."""
    from airflow.models.asset import AssetAliasModel, AssetModel, alias_association_table
    from sqlalchemy import select

    table = alias_association_table
    inserted = 0
    for alias_name, asset_name, asset_uri in sorted(links):
        alias_id = session.scalar(select(AssetAliasModel.id).where(AssetAliasModel.name == alias_name))
        asset_id = session.scalar(
            select(AssetModel.id).where(AssetModel.name == asset_name, AssetModel.uri == asset_uri)
        )
        if alias_id is None or asset_id is None:
            continue
        linked = session.scalar(
            select(table.c.alias_id).where(table.c.alias_id == alias_id, table.c.asset_id == asset_id)
        )
        if linked is None:
            session.execute(_insert_unless_present(session, table).values(alias_id=alias_id, asset_id=asset_id))
            inserted += 1
    return inserted


def _insert_unless_present(session: Any, table: Any) -> Any:
    """An INSERT that does nothing when the row is there already (as Airflow activates assets): it cannot fail
    on a link another scheduler made a moment ago, so the scheduler's transaction is never left broken."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table).on_conflict_do_nothing()
    if dialect == "mysql":
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        return mysql_insert(table).prefix_with("IGNORE")
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


@hookimpl
def on_dag_run_running(dag_run: Any, msg: str) -> None:
    """Link the run's window aliases to their assets (called by the scheduler as it starts the run)."""
    from sqlalchemy.orm import object_session

    dag = getattr(dag_run, "dag", None)
    links = window_alias_links(getattr(dag, "tasks", None) or ())
    session = object_session(dag_run)
    if not links or session is None:
        return
    try:
        inserted = link_aliases(session, links)
    except Exception:  # never the scheduler's problem: the first events would then link them, as before
        log.warning("Could not link the window aliases of %s to their assets", dag_run.dag_id, exc_info=True)
        return
    if inserted:
        log.info("Linked %d window alias(es) of %s to their landing assets.", inserted, dag_run.dag_id)
