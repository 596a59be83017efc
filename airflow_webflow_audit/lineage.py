"""Lineage: what a task read and wrote, named as OpenLineage's naming spec names datasets.

Airflow's ``ObjectStoragePath.open`` reports every path it opens to the hook-lineage collector, under
a URI that carries Airflow's connection id (``s3://aws_default@bucket/key``). The landing's hidden
temporary keys, its write probe and its manifests are not datasets, so storage is opened through
:func:`open_untracked` and only the data objects are reported, by :func:`report_read` and
:func:`report_written`, under their plain URIs. The landing operator builds its OpenLineage facets
with :func:`landing_lineage`; the OpenLineage provider is imported only there, so the provider works
without it.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.api import API_VERSION_PREFIX
from airflow_webflow_audit.compat import hook_lineage_collector

if TYPE_CHECKING:
    from airflow_webflow_audit.landing.writer import LandedPart

#: OpenLineage's namespace scheme for each ObjectStoragePath protocol this provider writes to.
_NAMESPACE_SCHEME = {"s3": "s3", "s3a": "s3", "gs": "gs", "gcs": "gs"}


def open_untracked(path: ObjectStoragePath, mode: str) -> IO[bytes]:
    """Open ``path`` without reporting it to the hook-lineage collector (see the module's docstring)."""
    return path.fs.open(path.path, mode=mode)


def read_untracked(path: ObjectStoragePath) -> bytes:
    """The whole object at ``path``, read without reporting it (for manifests and bookkeeping state)."""
    with open_untracked(path, "rb") as raw:
        return raw.read()


def dataset_name(path: ObjectStoragePath) -> tuple[str, str]:
    """``(namespace, name)`` of a stored object: ``("s3://bucket", "key")`` or ``("file", "/abs/path")``."""
    if path.protocol in ("file", "local", ""):
        return "file", "/" + path.path.lstrip("/")
    bucket, _, key = path.path.partition("/")
    return f"{_NAMESPACE_SCHEME.get(path.protocol, path.protocol)}://{bucket}", key or "/"


def plain_uri(path: ObjectStoragePath) -> str:
    """The object's URI without Airflow's connection id, as lineage consumers and asset converters expect."""
    namespace, name = dataset_name(path)
    return f"file://{name}" if namespace == "file" else f"{namespace}/{name}"


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


def landing_lineage(
    *,
    base_url: str,
    workspace: str,
    object_path: ObjectStoragePath | None,
    landed: LandedPart | None,
    file_format: str,
) -> Any:
    """The landing's ``OperatorLineage``: the endpoint in; the landed object out, with its row count and size.

    Without a landing (the task failed), only the input. Parquet objects carry their schema.
    """
    from airflow.providers.common.compat.openlineage.facet import (
        InputDataset,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    namespace, name = endpoint_dataset_name(base_url, workspace)
    outputs = []
    if object_path is not None and landed is not None:
        out_namespace, out_name = dataset_name(object_path)
        facets: dict[str, Any] = {}
        if file_format == "parquet":
            facets["schema"] = _parquet_schema_facet()
        outputs.append(
            OutputDataset(
                namespace=out_namespace,
                name=out_name,
                facets=facets,
                outputFacets={
                    "outputStatistics": OutputStatisticsOutputDatasetFacet(
                        rowCount=landed.records, size=landed.size_bytes
                    )
                },
            )
        )
    return OperatorLineage(inputs=[InputDataset(namespace=namespace, name=name)], outputs=outputs)


def _parquet_schema_facet() -> Any:
    from airflow.providers.common.compat.openlineage.facet import SchemaDatasetFacet, SchemaDatasetFacetFields

    from airflow_webflow_audit.landing.formats import parquet_schema

    return SchemaDatasetFacet(
        fields=[SchemaDatasetFacetFields(name=field.name, type=str(field.type)) for field in parquet_schema()]
    )
