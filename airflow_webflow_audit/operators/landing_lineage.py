"""The landing operator's OpenLineage facets: the workspace's endpoint in, the landed object out.

The OpenLineage provider is imported only in here, when a listener asks, so the provider works
without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import ObjectStoragePath

from airflow_webflow_audit.lineage import dataset_name, endpoint_dataset_name

if TYPE_CHECKING:
    from airflow_webflow_audit.landing.writer import LandedPart


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
