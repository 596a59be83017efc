"""Lineage: what a task read and wrote, named as OpenLineage's naming spec names datasets.

Airflow's ``ObjectStoragePath.open`` reports every path it opens to the hook-lineage collector, under
a URI that carries Airflow's connection id (``s3://aws_default@bucket/key``). The landing's hidden
temporary keys, its write probe and its manifests are not datasets, so storage is opened untracked
(:func:`~airflow_webflow_audit.landing.storage.open_untracked`) and only the data objects are
reported, by :func:`report_read` and :func:`report_written`, under their plain URIs. The landing
operator's OpenLineage facets are built in ``airflow_webflow_audit.operators.landing_lineage``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.api import API_VERSION_PREFIX
from airflow_webflow_audit.compat import hook_lineage_collector
from airflow_webflow_audit.landing.storage import backend_of


def dataset_name(path: ObjectStoragePath) -> tuple[str, str]:
    """``(namespace, name)`` of a stored object: ``("s3://bucket", "key")`` or ``("file", "/abs/path")``."""
    return backend_of(path).dataset_namespace(path)


def plain_uri(path: ObjectStoragePath) -> str:
    """The object's URI without Airflow's connection id, as lineage consumers and asset converters expect."""
    backend = backend_of(path)
    namespace, name = backend.dataset_namespace(path)
    return f"file://{name}" if backend.local else f"{namespace}/{name}"


def report_read(path: ObjectStoragePath) -> None:
    """Tell the hook-lineage collector a task read the data object at ``path``."""
    hook_lineage_collector().add_input_asset(context=path, uri=plain_uri(path))


def report_written(path: ObjectStoragePath) -> None:
    """Tell the hook-lineage collector a task landed the data object at ``path``."""
    hook_lineage_collector().add_output_asset(context=path, uri=plain_uri(path))


def endpoint_dataset_name(base_url: str, workspace: str) -> tuple[str, str]:
    """``(namespace, name)`` of a workspace's audit-log endpoint: ``("https://api.webflow.com", "/v2/...")``."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host  # never the userinfo of a URL
    path = f"{parts.path.rstrip('/')}{API_VERSION_PREFIX}/workspaces/{workspace}/audit_logs"
    return f"{parts.scheme}://{netloc}", path
